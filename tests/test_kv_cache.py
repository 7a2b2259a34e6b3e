"""The in-place KV cache (engines/kv_cache.py) gives the logits transformers' DynamicCache gives:
prefill with left padding, decode steps, rows dropped from the batch, and a capacity too small
(it must grow, not break). Plumbing on a tiny random Llama with grouped KV heads like the 135M."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=97, hidden_size=48, intermediate_size=96, num_hidden_layers=3,
                      num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=128)
    return LlamaForCausalLM(cfg).eval()


def decode(model, cache, ids, mask, steps: int, drop_at: int):
    """Greedy steps as TransformersEngine._greedy takes them; drops row 0 at step `drop_at`."""
    import inspect

    kw = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                   **{kw: cache}).logits[:, -1]
    seen, last = [logits], positions[:, -1]
    for step in range(steps):
        token = logits.argmax(-1)
        if step == drop_at:
            keep = torch.arange(1, len(token))
            cache.batch_select_indices(keep)
            mask, token, last = mask[keep], token[keep], last[keep]
        mask = torch.cat([mask, mask.new_ones(len(token), 1)], dim=1)
        last = last + 1
        logits = model(input_ids=token[:, None], attention_mask=mask, position_ids=last[:, None],
                       use_cache=True, **{kw: cache}).logits[:, -1]
        seen.append(logits)
    return seen, cache


@pytest.mark.parametrize("capacity", [40, 9])  # room for all, and less than the prompt: must grow
def test_same_logits_as_dynamic_cache(capacity):
    from transformers import DynamicCache

    from lfe_local.engines.kv_cache import PreallocatedLayer, preallocated_cache

    model = tiny_llama()
    ids = torch.randint(0, 97, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, :4] = 0  # left padding, as the engine pads
    mask[2, :7] = 0
    with torch.inference_mode():
        want, _ = decode(model, DynamicCache(config=model.config), ids, mask, steps=20, drop_at=5)
        got, cache = decode(model, preallocated_cache(model.config, capacity), ids, mask, steps=20, drop_at=5)
    assert all(isinstance(layer, PreallocatedLayer) for layer in cache.layers)
    assert cache.get_seq_length() == 12 + 20
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_unsupported_operations_refuse():
    from lfe_local.engines.kv_cache import preallocated_cache

    model = tiny_llama()
    cache = preallocated_cache(model.config, 8)
    with pytest.raises(NotImplementedError, match="greedy"):
        cache.layers[0].crop(-1)


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory):
    """A tiny random Llama behind the bundled tokenizer, untied and with large weights: the
    project's usual tiny target only repeats its last input token, which would hide a wrong
    position or mask; this one's greedy tokens depend on the whole context."""
    from run_helpers import TOKENIZER_DIR
    from transformers import LlamaConfig, LlamaForCausalLM

    from lfe_local.engines.hf_model import load_tokenizer
    from lfe_local.engines.transformers_engine import TransformersEngine

    if not (TOKENIZER_DIR / "tokenizer.json").exists():
        pytest.skip(f"bundled tokenizer not found at {TOKENIZER_DIR} (scripts/setup fetches it)")
    out = tmp_path_factory.mktemp("tiny")
    tok = load_tokenizer(TOKENIZER_DIR)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                      initializer_range=0.5, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(cfg).save_pretrained(str(out))
    tok.save_pretrained(str(out))
    engine = TransformersEngine(out, bf16="off", batch_size=8)
    engine.model.double()  # float64: batched and one-at-a-time sums agree far below any argmax tie
    return engine


@pytest.mark.parametrize("rests", [
    [[5, 6, 7], [8], [9, 10, 11, 12, 13]],   # rests of different lengths: padding between prefix and rest
    [[5, 6], [7, 8], [9, 10]],               # same lengths: no padding at all
])
@pytest.mark.parametrize("prefix", [list(range(100, 120)), [100, 101]])  # shared, and too short to share
def test_greedy_with_shared_prefix_gives_what_generate_gives(tiny_engine, prefix, rests):
    from lfe_local.engines.transformers_engine import MIN_SHARED_PREFIX, shared_prefix

    prompts = [prefix + r for r in rests]
    assert (shared_prefix(prompts) >= MIN_SHARED_PREFIX) == (len(prefix) >= MIN_SHARED_PREFIX)
    with torch.inference_mode():
        got = tiny_engine._greedy(prompts, max_tokens=12, eos=[-1])  # no stop token: every row runs 12
        for p, tokens in zip(prompts, got, strict=True):
            ids = torch.tensor([p])
            want = tiny_engine.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=12,
                                              do_sample=False, top_p=None, top_k=None, temperature=None,
                                              eos_token_id=None, pad_token_id=0)
            assert tokens == want[0, len(p):].tolist()


def test_shared_prefix_leaves_every_prompt_a_token():
    from lfe_local.engines.transformers_engine import shared_prefix

    assert shared_prefix([[1, 2, 3], [1, 2, 3]]) == 2
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 9]]) == 2
    assert shared_prefix([[7, 2], [1, 2]]) == 0
