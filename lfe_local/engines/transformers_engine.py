"""Batched greedy generation with transformers: left padding, the model's own chat template,
bf16 autocast where the hardware supports it."""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable
from pathlib import Path

from .. import offline  # noqa: F401
from ..errors import LfeError
from ..hardware import n_threads, use_bf16
from .base import ADAPTER_PROBE, Generation, Messages
from .hf_model import load_model, load_tokenizer


class TransformersEngine:
    def __init__(self, hf_dir: Path, device: str = "cpu", adapter: str | None = None, bf16: str = "auto",
                 batch_size: int = 32):
        import torch

        torch.set_num_threads(n_threads())
        self.device = device
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(hf_dir)
        self.tokenizer.padding_side = "left"  # decoder-only: new tokens must follow the prompt directly
        self.model = load_model(hf_dir, device, adapter=adapter, merge=False).eval()
        if adapter:
            self._check_adapter_applied(adapter)
            self.model = self.model.merge_and_unload()  # plain weights generate faster than LoRA hooks
        self.autocast = use_bf16(bf16, device)

    def _check_adapter_applied(self, adapter: str) -> None:
        """The probe's next-token logits must move with the adapter, or the run stops here."""
        import torch

        ids = self.tokenizer(self.render(ADAPTER_PROBE), return_tensors="pt", add_special_tokens=False).to(self.device)
        with torch.inference_mode():
            tuned = self.model(**ids).logits[0, -1]
            with self.model.disable_adapter():
                base = self.model(**ids).logits[0, -1]
        if (tuned - base).abs().max().item() < 1e-6:
            raise LfeError(f"{adapter}: the adapter loaded but changes nothing on a probe prompt "
                           "(not applied: check its target modules against the model)")

    def render(self, messages: Messages) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def generate(self, conversations: list[Messages], *, max_tokens: int, temperature: float = 0.0,
                 json_schema: dict | None = None, seed: int | None = None,
                 on_progress: Callable[[int], None] | None = None) -> list[Generation]:
        import torch

        if json_schema is not None:
            raise NotImplementedError("the transformers engine does not constrain output; use llama_cpp")
        if seed is not None:
            torch.manual_seed(seed)
        prompts = [self.render(m) for m in conversations]
        token_ids = [self.tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
        # Similar lengths in one batch waste less compute on padding.
        order = sorted(range(len(prompts)), key=lambda i: len(token_ids[i]))
        out: list[Generation | None] = [None] * len(prompts)
        eos = stop_ids(self.tokenizer, self.model)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            t0 = time.perf_counter()
            ctx = torch.autocast(self.device, dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()
            with torch.inference_mode(), ctx:
                if temperature > 0:
                    enc = self.tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                                         add_special_tokens=False).to(self.device)
                    gen = self.model.generate(
                        **enc, max_new_tokens=max_tokens, do_sample=True, temperature=temperature,
                        top_p=None, top_k=None, pad_token_id=self.tokenizer.pad_token_id, eos_token_id=eos,
                    )
                    new = gen[:, enc.input_ids.shape[1]:].tolist()
                else:
                    new = self._greedy([token_ids[i] for i in idx], max_tokens, eos)
            seconds = (time.perf_counter() - t0) / len(idx)
            for row, i in zip(new, idx, strict=True):
                n = len(row)
                for j, tok in enumerate(row):
                    if tok in eos:
                        n = j
                        break
                finished = n < len(row) or (len(row) < max_tokens)
                text = self.tokenizer.decode(row[:n], skip_special_tokens=True).strip()
                out[i] = Generation(text=text, prompt=prompts[i], prompt_tokens=len(token_ids[i]), completion_tokens=n,
                                    seconds=seconds, finish_reason="stop" if finished else "length")
            if on_progress:
                on_progress(len(idx))
        return [g for g in out if g is not None]

    def _greedy(self, prompts: list[list[int]], max_tokens: int, eos: list[int]) -> list[list[int]]:
        """Greedy decoding of token-id prompts that drops each row from the batch as soon as it has ended.

        `generate` keeps a finished row in the batch, computing padding for it, until the batch's
        longest reply is done. How much this saves depends on the target: the base 135M runs to
        the cap on almost every arith item (5,051 of 5,120 tokens in scripts/bench), so there it
        saves nothing; a target that ends its replies saves the steps of its finished rows.

        The prompts of one task share their start (chat template, system prompt, instruction:
        62 of ~102 tokens on arith), so that prefix is computed once, for one row, and its keys
        and values copied to every row; the rest of each prompt follows it, left-padded. The
        padding then sits between prefix and rest, masked out, and positions are counted over
        real tokens, so every row sees its prompt exactly as `generate` does, and gives the
        same tokens (tests/test_greedy_decode.py, and the answers compared in scripts/bench).
        """
        import torch

        from .kv_cache import preallocated_cache

        # Written in place, not concatenated each step (kv_cache.py): room for prompt + reply cap.
        cache = preallocated_cache(self.model.config, max(map(len, prompts)) + max_tokens)
        # The cache argument was renamed in transformers 5.2x (`past_key_values` -> `cache`).
        kw = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        shared = shared_prefix(prompts) if len(prompts) > 1 else 0
        if shared < MIN_SHARED_PREFIX:
            shared = 0
        else:
            self.model(input_ids=torch.tensor([prompts[0][:shared]], device=self.device),
                       position_ids=torch.arange(shared, device=self.device)[None], use_cache=True,
                       logits_to_keep=1, **{kw: cache})
            cache.batch_repeat_interleave(len(prompts))
        rests = [p[shared:] for p in prompts]
        width = max(map(len, rests))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else eos[0]
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rests], device=self.device)
        mask = torch.tensor([[1] * shared + [0] * (width - len(r)) + [1] * len(r) for r in rests],
                            device=self.device)
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)[:, shared:]
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                            logits_to_keep=1, **{kw: cache}).logits[:, -1]
        rows = torch.arange(ids.shape[0])
        last = positions[:, -1]
        stop = torch.tensor(eos, dtype=torch.long)
        out: list[list[int]] = [[] for _ in range(ids.shape[0])]
        for step in range(max_tokens):
            token = logits.float().argmax(-1)
            for r, t in zip(rows.tolist(), token.tolist(), strict=True):
                out[r].append(t)
            live = ~torch.isin(token, stop)
            if step + 1 == max_tokens or not live.any():
                break
            if not live.all():
                keep = live.nonzero().squeeze(1)
                cache.batch_select_indices(keep)
                rows, mask, token, last = rows[keep], mask[keep], token[keep], last[keep]
            mask = torch.cat([mask, mask.new_ones(len(rows), 1)], dim=1)
            last = last + 1
            logits = self.model(input_ids=token[:, None], attention_mask=mask, position_ids=last[:, None],
                                use_cache=True, **{kw: cache}).logits[:, -1]
        return out

    def close(self) -> None:
        del self.model


# A shared start shorter than this is not given a forward pass of its own (a threshold chosen, not measured).
MIN_SHARED_PREFIX = 8


def shared_prefix(prompts: list[list[int]]) -> int:
    """Tokens every prompt starts with, leaving each at least one of its own (its last position
    gives the first reply token's logits)."""
    n = min(map(len, prompts)) - 1
    first = prompts[0]
    for p in prompts[1:]:
        i = 0
        while i < n and p[i] == first[i]:
            i += 1
        n = i
    return max(n, 0)


def stop_ids(tokenizer, model) -> list[int]:
    """The token ids that end a reply: the tokenizer's EOS and the model's generation config's."""
    ids = {tokenizer.eos_token_id}
    gen_eos = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(gen_eos, int):
        ids.add(gen_eos)
    elif gen_eos:
        ids.update(gen_eos)
    return [i for i in ids if i is not None]
