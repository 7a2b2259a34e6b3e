"""Tokenise chat samples for causal-LM training with the loss on response tokens only."""

from __future__ import annotations

from dataclasses import dataclass

IGNORE = -100


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORE on prompt tokens


def encode(tokenizer, messages: list[dict], response: str, max_length: int) -> Example:
    """The prompt rendered exactly as at inference (chat template + generation prompt), then the
    response and the template's end-of-turn tokens, which the model must learn to emit."""
    prompt_ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    full_ids = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": response}], tokenize=True)
    if hasattr(prompt_ids, "input_ids"):  # newer transformers return a BatchEncoding
        prompt_ids, full_ids = prompt_ids["input_ids"], full_ids["input_ids"]
    prompt_ids, full_ids = list(prompt_ids), list(full_ids)
    if full_ids[: len(prompt_ids)] != prompt_ids:
        # A template that renders the prompt differently once an answer follows: fall back to
        # concatenation, which still masks exactly the tokens the model saw as prompt.
        resp = tokenizer(response + (tokenizer.eos_token or ""), add_special_tokens=False).input_ids
        full_ids = prompt_ids + list(resp)
    full_ids = full_ids[:max_length]
    n_prompt = min(len(prompt_ids), len(full_ids))
    labels = [IGNORE] * n_prompt + full_ids[n_prompt:]
    return Example(input_ids=full_ids, labels=labels)


def collate(batch: list[Example], pad_id: int):
    """Right-pad; padding is masked in attention and ignored in the loss."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, e in enumerate(batch):
        n = len(e.input_ids)
        ids[r, :n] = torch.tensor(e.input_ids)
        labels[r, :n] = torch.tensor(e.labels)
        mask[r, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
