"""A KV cache written in place, for the eval engine's greedy loop.

transformers' DynamicCache appends each step's keys and values with `torch.cat`, which copies
every layer's whole cache at every step: on the 2-core dev CPU, 135M target, batch 16, the
profiler put 21% of a decode step in `aten::cat`. Here each layer owns a buffer sized for the
prompt plus the reply cap up front; a step writes one position into it and attention reads a
view of the filled part, so a step copies only the new token's keys and values.

Only the operations the greedy loop uses are supported (update, batch_select_indices,
batch_repeat_interleave for a shared prompt prefix, the length queries); beam search, cropping and offloading raise rather than silently misbehave.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


class PreallocatedLayer(DynamicLayer):
    """One layer's keys and values in a [batch, heads, capacity, dim] buffer, filled left to right."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self.length = 0

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        self.device = key_states.device
        b, h, n, _ = key_states.shape
        size = max(self.capacity, n)
        self._k = key_states.new_empty(b, h, size, key_states.shape[-1])
        self._v = value_states.new_empty(b, h, size, value_states.shape[-1])
        self.is_initialized = True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        end = self.length + key_states.shape[-2]
        if end > self._k.shape[-2]:
            # Past the planned capacity (a caller that under-sized it): grow by doubling, as a list does.
            self._k = _grown(self._k, max(end, 2 * self._k.shape[-2]), self.length)
            self._v = _grown(self._v, max(end, 2 * self._v.shape[-2]), self.length)
        self._k[:, :, self.length:end].copy_(key_states)
        self._v[:, :, self.length:end].copy_(value_states)
        self.length = end
        self.keys, self.values = self._k[:, :, :end], self._v[:, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self.is_initialized:
            self._k, self._v = self._k[indices], self._v[indices]
            self.keys, self.values = self._k[:, :, :self.length], self._v[:, :, :self.length]

    def crop(self, tokens_to_remove: int) -> None:
        raise NotImplementedError("the preallocated KV cache serves greedy decoding only")

    def batch_repeat_interleave(self, repeats: int) -> None:
        # One shared prompt prefix computed once becomes every row's start (TransformersEngine._greedy).
        if self.is_initialized:
            self._k = self._k.repeat_interleave(repeats, dim=0)
            self._v = self._v.repeat_interleave(repeats, dim=0)
            self.keys, self.values = self._k[:, :, :self.length], self._v[:, :, :self.length]

    def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
        raise NotImplementedError("the preallocated KV cache serves greedy decoding only")

    def offload(self):
        raise NotImplementedError("the preallocated KV cache serves greedy decoding only")

    def reset(self) -> None:
        self.length = 0
        self.keys = self.values = None
        self.is_initialized = False


def _grown(buffer: torch.Tensor, size: int, filled: int) -> torch.Tensor:
    new = buffer.new_empty(*buffer.shape[:2], size, buffer.shape[-1])
    new[:, :, :filled].copy_(buffer[:, :, :filled])
    return new


def preallocated_cache(config, capacity: int) -> DynamicCache:
    """A DynamicCache for `config` whose full-attention layers write in place into `capacity` positions.

    Sliding-window or other special layers (none in the bundled targets) keep transformers' own
    classes, so a model that has them still decodes correctly, only without the saving there.
    """
    cache = DynamicCache(config=config)
    cache.layers = [PreallocatedLayer(capacity) if type(layer) is DynamicLayer else layer
                    for layer in cache.layers]
    return cache
