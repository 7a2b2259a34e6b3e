"""Every call to an engine, on record: a wrapper that notes backend, model, endpoint, latency,
tokens and transport retries of each generation, whatever the engine behind it.

The caller says what the calls are for (`purpose`) and owns the list the rows go to (`sink`), to
store them; the wrapper knows nothing of runs or cycles.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

from .base import ChatEngine, Generation, Messages


class RecordedEngine:
    def __init__(self, inner: ChatEngine, sink: list[dict[str, Any]], *, backend: str, model: str, endpoint: str):
        self.inner = inner
        self.sink = sink
        self.backend, self.model, self.endpoint = backend, model, endpoint
        self.purpose = "call"
        self._lock = threading.Lock()  # a server engine's jobs call in from several threads

    @property
    def concurrency(self) -> int:
        return getattr(self.inner, "concurrency", 1)

    def generate(self, conversations: list[Messages], *, max_tokens: int, temperature: float = 0.0,
                 json_schema: dict | None = None, seed: int | None = None,
                 on_progress: Callable[[int], None] | None = None) -> list[Generation]:
        purpose = self.purpose
        started = dt.datetime.now()
        gens = self.inner.generate(conversations, max_tokens=max_tokens, temperature=temperature,
                                   json_schema=json_schema, seed=seed, on_progress=on_progress)
        with self._lock:
            for gen in gens:
                self.sink.append({
                    "purpose": purpose, "backend": self.backend, "model": self.model,
                    "endpoint": self.endpoint, "started_at": started, "seconds": gen.seconds,
                    "prompt_tokens": gen.prompt_tokens, "completion_tokens": gen.completion_tokens,
                    "retries": gen.retries, "threads": gen.threads, "finish_reason": gen.finish_reason, "temperature": temperature,
                    "json_schema": json_schema is not None, "max_tokens": max_tokens,
                })
        return gens

    def close(self) -> None:
        self.inner.close()
