"""llama.cpp in process (llama-cpp-python): the default instructor engine.

Output is constrained by a JSON schema (llama.cpp turns it into a grammar), which is what makes a
small instructor's replies parseable at all.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..errors import LfeError
from ..hardware import cpu_has_amx, free_cores, n_threads
from .base import Generation, Messages

_PARAMS_LOCK = threading.Lock()


def llama_amx_active() -> bool:
    """Whether the installed llama.cpp has AMX kernels and this CPU would run them."""
    import llama_cpp

    return cpu_has_amx() and "AMX_INT8 = 1" in llama_cpp.llama_print_system_info().decode(errors="replace")


def _defaults_without_extra_buffers(original):
    def defaults():
        params = original()
        params.use_extra_bufts = False
        return params

    return defaults


def extra_buffers_off_for_this_process() -> None:
    """Every later model load in this process goes without extra buffers (for a server process,
    which loads its models itself; see `_without_extra_buffers` for why)."""
    import llama_cpp.llama as binding

    with _PARAMS_LOCK:
        binding.llama_cpp.llama_model_default_params = _defaults_without_extra_buffers(
            binding.llama_cpp.llama_model_default_params)


@contextlib.contextmanager
def _without_extra_buffers():
    """Load with llama.cpp's extra buffer types (weight repacking: AMX, CPU_REPACK) off.

    On a 2-core Xeon with AMX (2026-12-02) the first decode after loading into the AMX buffer
    segfaulted for both bundled GGUFs (Q4_K_M and Q4_1); with the extra buffers off both answered.
    What that costs was measured against a build without AMX kernels, which keeps the other
    repacked buffer (CPU_REPACK): the 1.5B on a 1,053-token prompt and 200 new tokens, 2 threads,
    24.9 s without extra buffers, 23.9 s with CPU_REPACK — 4%, not worth a build of our own.
    Upstream: ggml-org/llama.cpp#20824 (segfault in ggml_backend_amx_mul_mat) and #16315 (wrong
    results from the AMX kernels for Q4_0/Q4_1). llama-cpp-python has no argument for
    `use_extra_bufts`, so the defaults it starts from are patched for the one load, under a lock.
    """
    import llama_cpp.llama as binding

    with _PARAMS_LOCK:
        original = binding.llama_cpp.llama_model_default_params
        binding.llama_cpp.llama_model_default_params = _defaults_without_extra_buffers(original)
        try:
            yield
        finally:
            binding.llama_cpp.llama_model_default_params = original


@contextlib.contextmanager
def _quiet_stderr():
    # llama.cpp prints load logs straight to fd 2 from C, around Rich's live display.
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class LlamaCppEngine:
    def __init__(self, model_path: str, n_ctx: int = 4096, threads: int = 0, seed: int = 0):
        if not Path(model_path).is_file():
            raise LfeError(f"instructor.model: no such file: {model_path}")
        from llama_cpp import Llama

        # llama.cpp's AMX buffers crash it (below): a build with AMX kernels on a CPU with AMX
        # loads without extra buffers.
        self.extra_buffers = not llama_amx_active()
        loading = contextlib.nullcontext() if self.extra_buffers else _without_extra_buffers()
        # threads = 0: as many as the cores other processes leave free, measured before each
        # conversation: llama.cpp with more threads than free cores collapsed from ~18 to 2-5
        # tokens/s on a 2-core machine (issue 12).
        self.fixed_threads = threads
        self.threads = threads or n_threads()
        with _quiet_stderr(), loading:
            try:
                self.llm = Llama(model_path=model_path, n_ctx=n_ctx, n_threads=self.threads,
                                 n_threads_batch=self.threads, seed=seed, verbose=False)
            except ValueError as err:  # llama-cpp-python's word for a file llama.cpp cannot load
                raise LfeError(f"instructor.model: {model_path}: llama.cpp cannot load it ({err})") from None
        self.model_path = model_path

    def _set_threads(self) -> int:
        wanted = self.fixed_threads or free_cores()
        if wanted != self.threads:
            import llama_cpp

            llama_cpp.llama_set_n_threads(self.llm.ctx, wanted, wanted)
            self.threads = wanted
        return wanted

    def render(self, messages: Messages) -> str:
        # The GGUF carries its own chat template; llama-cpp-python applies it. We keep the
        # user-visible part for the record.
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)

    def generate(self, conversations: list[Messages], *, max_tokens: int, temperature: float = 0.0,
                 json_schema: dict | None = None, seed: int | None = None,
                 on_progress: Callable[[int], None] | None = None) -> list[Generation]:
        out = []
        fmt = {"type": "json_object", "schema": json_schema} if json_schema is not None else None
        for i, messages in enumerate(conversations):
            threads = self._set_threads()
            t0 = time.perf_counter()
            reply = self.llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature,
                response_format=fmt, seed=None if seed is None else seed + i,
            )
            choice = reply["choices"][0]
            usage = reply.get("usage") or {}
            out.append(Generation(
                text=choice["message"]["content"] or "", prompt=self.render(messages),
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                seconds=time.perf_counter() - t0, finish_reason=choice.get("finish_reason") or "stop",
                threads=threads,
            ))
            if on_progress:
                on_progress(1)
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.llm.close()
