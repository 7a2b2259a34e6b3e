"""Any OpenAI-compatible chat server (vLLM, llama.cpp's servers, a hosted endpoint) as the instructor.

This is the scale-out path: the instructor runs wherever the server runs (a multi-GPU vLLM
deployment, another machine) and lfe-local only sends requests. The official `openai` client does
the HTTP, its retries with backoff and the timeouts. The API key is read from an environment
variable at start and never written anywhere (not to the config, not to the database).

Structured output: servers differ in how they take a JSON schema. `json_mode = "auto"` tries
OpenAI's `json_schema` response format, then llama.cpp's `json_object` with a schema, then none
(the reply is validated afterwards, like any reply), and keeps the first the server accepts.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..errors import LfeError
from .base import Generation, Messages

JSON_MODES = ("auto", "json_schema", "json_object", "none")
_AUTO_ORDER = ("json_schema", "json_object", "none")


def _response_format(mode: str, schema: dict | None) -> dict | None:
    if schema is None or mode == "none":
        return None
    if mode == "json_object":  # llama.cpp's servers: json_object with the schema beside it
        return {"type": "json_object", "schema": schema}
    return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema}}


def render(messages: Messages) -> str:
    """The conversation as recorded: the server applies its own chat template, which we do not see."""
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


class OpenAIEngine:
    backend = "openai"

    def __init__(self, base_url: str, model: str, *, api_key_env: str = "OPENAI_API_KEY", concurrency: int = 4,
                 json_mode: str = "auto", timeout_s: float = 600.0, max_retries: int = 3):
        import openai

        if not base_url:
            raise LfeError("instructor.base_url: required for engine \"openai\" (e.g. http://127.0.0.1:8000/v1)")
        if json_mode not in JSON_MODES:
            raise LfeError(f"instructor.json_mode: one of {', '.join(JSON_MODES)}, not {json_mode!r}")
        # Local servers usually take any key; the client needs a non-empty one.
        key = os.environ.get(api_key_env) or "no-key"
        self.client = openai.OpenAI(base_url=base_url, api_key=key, timeout=timeout_s, max_retries=max_retries)
        self._errors = openai
        self.endpoint = base_url
        self.model = model
        self.concurrency = max(1, concurrency)
        self.api_key_env = api_key_env
        self.json_mode = json_mode  # "auto" until a request settles it
        self._mode_lock = threading.Lock()

    def _create(self, messages: Messages, *, max_tokens: int, temperature: float, schema: dict | None,
                seed: int | None):
        kwargs = {"model": self.model, "messages": messages, "max_tokens": max_tokens, "temperature": temperature}
        if seed is not None:
            kwargs["seed"] = seed
        mode = "none" if schema is None else self.json_mode
        if mode == "auto":
            mode = "none"  # unless a candidate is taken, or fails for another reason
            for candidate in _AUTO_ORDER[:-1]:
                # A probe is not retried: llama_cpp.server answers an unknown response format with
                # HTTP 500, which the client would otherwise retry with backoff.
                try:
                    reply = self.client.with_options(max_retries=0).chat.completions.create(
                        **kwargs, response_format=_response_format(candidate, schema))
                except self._errors.APIStatusError as err:
                    if _refuses_format(err):
                        continue
                    mode = candidate  # other trouble: the request below retries and reports it
                    break
                except self._errors.APIConnectionError:
                    mode = candidate
                    break
                self._settle(candidate)
                return reply, 0
            else:
                self._settle("none")
        fmt = _response_format(mode, schema)
        try:
            # The raw response says how many times the client retried (timeouts, 429, 5xx).
            raw = self.client.chat.completions.with_raw_response.create(
                **kwargs, **({"response_format": fmt} if fmt else {}))
            return raw.parse(), raw.retries_taken
        except self._errors.AuthenticationError as err:
            raise LfeError(f"instructor ({self.endpoint}): the server refused the API key read from "
                           f"${self.api_key_env}: {_short(err)}") from None
        except self._errors.NotFoundError as err:
            raise LfeError(f"instructor ({self.endpoint}): not found (is instructor.model {self.model!r} "
                           f"served there?): {_short(err)}") from None
        except self._errors.APIConnectionError as err:
            raise LfeError(f"instructor ({self.endpoint}): cannot reach the server: {_short(err)}") from None
        except self._errors.APIStatusError as err:
            raise LfeError(f"instructor ({self.endpoint}): HTTP {err.status_code}: {_short(err)}") from None

    def _settle(self, mode: str) -> None:
        with self._mode_lock:
            self.json_mode = mode

    def _one(self, messages: Messages, max_tokens: int, temperature: float, schema: dict | None,
             seed: int | None) -> Generation:
        t0 = time.perf_counter()
        reply, retries = self._create(messages, max_tokens=max_tokens, temperature=temperature, schema=schema,
                                      seed=seed)
        choice = reply.choices[0]
        usage = reply.usage
        return Generation(
            text=choice.message.content or "", prompt=render(messages),
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
            seconds=time.perf_counter() - t0,
            finish_reason="length" if choice.finish_reason == "length" else "stop", retries=retries,
        )

    def generate(self, conversations: list[Messages], *, max_tokens: int, temperature: float = 0.0,
                 json_schema: dict | None = None, seed: int | None = None,
                 on_progress: Callable[[int], None] | None = None) -> list[Generation]:
        """`concurrency` requests in flight; results in the conversations' order."""
        def run(i_messages):
            i, messages = i_messages
            gen = self._one(messages, max_tokens, temperature, json_schema, None if seed is None else seed + i)
            if on_progress:
                on_progress(1)
            return gen

        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(conversations)))) as pool:
            return list(pool.map(run, enumerate(conversations)))

    def close(self) -> None:
        self.client.close()


def _refuses_format(err) -> bool:
    """The server does not take this response format (a 400/422, or llama_cpp.server's 500 that
    names the field)."""
    return err.status_code in (400, 422) or (err.status_code >= 500 and "response_format" in str(err))


def _short(err: Exception) -> str:
    return " ".join(str(err).split())[:300]
