"""The training loss computed on response positions only (train/lora.py: response_loss) is the
model's own causal-LM loss, value and LoRA gradients, with right padding and prompt masking as the
collate function makes them. Plumbing on a tiny random Llama with peft LoRA on every linear layer."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")


def lora_model():
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=97, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=128)
    model = get_peft_model(LlamaForCausalLM(cfg), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear",
                                                             task_type="CAUSAL_LM"))
    # LoRA's B starts at zero, which would leave A's gradients zero on both sides: move it.
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.1)
    return model


def batch():
    from lfe_local.train.data import Example, collate

    # prompts of different lengths, responses of different lengths, one row much shorter (padding)
    examples = [
        Example(input_ids=list(range(3, 20)), labels=[-100] * 12 + list(range(15, 20))),
        Example(input_ids=list(range(30, 38)), labels=[-100] * 3 + list(range(33, 38))),
        Example(input_ids=list(range(50, 62)), labels=[-100] * 10 + [60, 61]),
    ]
    return collate(examples, pad_id=0)


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_response_loss_is_the_models_loss_with_the_same_gradients():
    from lfe_local.train.lora import response_loss

    model, inputs = lora_model(), batch()
    model.eval()  # no dropout: the two losses must see the same network
    ref = model(**inputs).loss
    ref.backward()
    ref_grads = grads(model)
    model.zero_grad()
    got = response_loss(model, inputs)
    got.backward()
    assert abs(float(got.detach()) - float(ref.detach())) < 1e-5
    got_grads = grads(model)
    assert got_grads.keys() == ref_grads.keys() and len(got_grads) > 0
    for name, g in got_grads.items():
        assert torch.allclose(g, ref_grads[name], atol=1e-6, rtol=1e-4), name
    assert any(float(g.abs().sum()) > 0 for g in got_grads.values())


def test_a_model_with_scaled_logits_gets_its_own_loss():
    from lfe_local.train.lora import response_loss

    model, inputs = lora_model(), batch()
    model.get_base_model().config.logit_scale = 0.5  # as Cohere's models carry it
    model.eval()
    calls = []
    original = model.forward
    model.forward = lambda **kw: calls.append(1) or original(**kw)
    response_loss(model, inputs)
    assert calls == [1]
