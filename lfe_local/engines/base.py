"""The one small interface every engine implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

Messages = list[dict[str, str]]

# A fixed prompt whose next-token distribution must move when an engine applies a LoRA adapter:
# adapters that load but are silently not applied are a known failure of several tools.
ADAPTER_PROBE: Messages = [{"role": "user", "content": "Name a colour and a number."}]


@dataclass(frozen=True)
class Generation:
    text: str
    prompt: str  # the exact prompt text after the chat template
    prompt_tokens: int
    completion_tokens: int
    seconds: float  # wall time attributed to this generation
    finish_reason: str  # "stop" or "length"
    retries: int = 0  # transport retries the engine's client made before this reply (HTTP engines)
    threads: int | None = None  # CPU threads the engine ran this generation on (in-process CPU engines)


class ChatEngine(Protocol):
    def generate(
        self,
        conversations: list[Messages],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict | None = None,
        seed: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[Generation]:
        """One generation per conversation, in order. `on_progress(n)` after each n finished."""
        ...

    def close(self) -> None: ...
