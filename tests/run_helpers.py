"""Helpers of the tests that run the loop: a tiny randomly initialised Llama with the bundled
SmolLM2 tokenizer, saved as a HF directory — a target for tests about plumbing (training data,
stages, bookkeeping, resume, crashes, Ctrl-C), where what the model answers does not matter, only
that a real model answers it — and a read-only query of a workspace's database."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from lfe_local import offline  # noqa: F401  (before transformers)
from lfe_local.config import models_dir
from lfe_local.store import DB_NAME

TOKENIZER_DIR = models_dir() / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.hf"


def make_tiny_target(out: Path, max_positions: int = 1024) -> Path:
    if not (TOKENIZER_DIR / "tokenizer.json").exists():
        pytest.skip(f"bundled tokenizer not found at {TOKENIZER_DIR} (scripts/setup fetches it)")
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from lfe_local.engines.hf_model import load_tokenizer

    tokenizer = load_tokenizer(TOKENIZER_DIR)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    LlamaForCausalLM(cfg).save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def query(ws: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(ws / DB_NAME), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
