"""The eval engine's own greedy loop (rows leave the batch as they end) gives, token for token,
what HF `generate` gives one prompt at a time: the real bundled target, fp32."""

from __future__ import annotations

from pathlib import Path

import pytest

from lfe_local.config import bundled_model

pytestmark = pytest.mark.model

PROMPTS = ["Reply with only the word yes.", "Say hi.", "What is 2 + 2? Answer with one number.",
           "Tom has 3 apples and buys 4 more. Solve step by step.",
           "Write a long story about a cat who learns to count to one hundred."]


def test_rows_that_end_early_leave_the_batch_and_nothing_changes():
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    import torch

    from lfe_local.engines.hf_model import ensure_hf, load_model, load_tokenizer
    from lfe_local.engines.transformers_engine import TransformersEngine

    hf = ensure_hf(bundled_model())
    convs = [[{"role": "user", "content": p}] for p in PROMPTS]
    engine = TransformersEngine(hf, bf16="off", batch_size=len(convs))
    gens = engine.generate(convs, max_tokens=48)
    engine.close()
    lengths = [g.completion_tokens for g in gens]
    assert min(lengths) < 48 and max(lengths) == 48  # some rows ended early, one ran to the cap
    tok, model = load_tokenizer(hf), load_model(hf, "cpu").eval()
    for conv, gen in zip(convs, gens, strict=True):
        ids = tok.apply_chat_template(conv, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=48, do_sample=False, top_p=None, top_k=None, temperature=None)
        assert gen.text == tok.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        assert gen.finish_reason == ("length" if gen.completion_tokens == 48 else "stop")
