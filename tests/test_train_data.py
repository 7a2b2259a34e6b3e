"""Training plumbing on a tiny randomly initialised Llama with the bundled SmolLM2 tokenizer (no real weights)."""

import json
import math
from pathlib import Path

import pytest
from run_helpers import make_tiny_target

from lfe_local import offline  # noqa: F401  (before transformers)
from lfe_local.config import TrainConfig, models_dir
from lfe_local.train import lora
from lfe_local.train.data import IGNORE, Example, collate, encode

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
torch.set_num_threads(1)

TOKENIZER_DIR = models_dir() / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.hf"
if not (TOKENIZER_DIR / "tokenizer.json").exists():
    pytest.skip(f"bundled tokenizer not found at {TOKENIZER_DIR} (scripts/setup fetches it)", allow_module_level=True)

CONVERSATIONS = [
    ([{"role": "user", "content": "What is 2 + 3?"}], "2 + 3 = 5. The answer is 5."),
    ([{"role": "user", "content": "What is 7 * 6?"}], "7 * 6 = 42. The answer is 42."),
    ([{"role": "user", "content": "Compute 10 - 4."}], "10 - 4 = 6. The answer is 6."),
    ([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 9 + 9?"}],
     "9 + 9 = 18. The answer is 18."),
    ([{"role": "user", "content": "What is 100 / 4? Show your work."}], "100 / 4 = 25. The answer is 25."),
    ([{"role": "user", "content": "What is 3 squared?"}], "3 * 3 = 9. The answer is 9."),
]


@pytest.fixture(scope="module")
def tokenizer():
    from lfe_local.engines.hf_model import load_tokenizer

    return load_tokenizer(TOKENIZER_DIR)


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory) -> Path:
    return make_tiny_target(tmp_path_factory.mktemp("tiny-llama"), max_positions=512)


@pytest.fixture
def one_thread(monkeypatch):
    # train_lora sets torch's thread count from the CPU affinity; keep tests to one thread.
    monkeypatch.setattr(lora, "n_threads", lambda: 1)
    yield
    torch.set_num_threads(1)


def prompt_ids(tokenizer, messages) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)
    return list(ids["input_ids"] if hasattr(ids, "input_ids") else ids)


# -- encode / collate ----------------------------------------------------------------------


@pytest.mark.parametrize("index", range(len(CONVERSATIONS)))
def test_encode_masks_exactly_the_prompt(tokenizer, index):
    messages, response = CONVERSATIONS[index]
    ex = encode(tokenizer, messages, response, max_length=512)
    prompt = prompt_ids(tokenizer, messages)
    assert len(ex.input_ids) == len(ex.labels)
    assert ex.input_ids[: len(prompt)] == prompt
    assert ex.labels[: len(prompt)] == [IGNORE] * len(prompt)
    assert ex.labels[len(prompt):] == ex.input_ids[len(prompt):]
    assert IGNORE not in ex.labels[len(prompt):]

    prompt_text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    full_text = tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": response}], tokenize=False)
    assert full_text.startswith(prompt_text)
    end_of_turn = full_text[len(prompt_text) + len(response):]
    assert tokenizer.eos_token in end_of_turn  # the model must learn to stop
    trained = tokenizer.decode([t for t in ex.labels if t != IGNORE])
    assert trained == response + end_of_turn
    assert trained.startswith(response) and trained.rstrip().endswith("<|im_end|>")


def test_encode_truncates_to_max_length(tokenizer):
    messages, response = CONVERSATIONS[0]
    n_prompt = len(prompt_ids(tokenizer, messages))
    full = encode(tokenizer, messages, response, max_length=512)
    ex = encode(tokenizer, messages, response, max_length=n_prompt + 3)
    assert len(ex.input_ids) == len(ex.labels) == n_prompt + 3
    assert ex.input_ids == full.input_ids[: n_prompt + 3]
    assert ex.labels == [IGNORE] * n_prompt + full.input_ids[n_prompt : n_prompt + 3]
    # cut inside the prompt: nothing left to learn, all masked
    short = encode(tokenizer, messages, response, max_length=n_prompt - 2)
    assert len(short.input_ids) == len(short.labels) == n_prompt - 2
    assert set(short.labels) == {IGNORE}


def test_collate_right_pads(tokenizer):
    a = Example(input_ids=[5, 6, 7, 8], labels=[IGNORE, IGNORE, 7, 8])
    b = Example(input_ids=[9, 10], labels=[IGNORE, 10])
    batch = collate([a, b], pad_id=tokenizer.pad_token_id)
    pad = tokenizer.pad_token_id
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8], [9, 10, pad, pad]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, IGNORE, 7, 8], [IGNORE, 10, IGNORE, IGNORE]]
    assert all(t.dtype == torch.long for t in batch.values())


def test_collate_real_examples(tokenizer):
    examples = [encode(tokenizer, m, r, 512) for m, r in CONVERSATIONS[:3]]
    batch = collate(examples, pad_id=tokenizer.pad_token_id)
    width = max(len(e.input_ids) for e in examples)
    assert batch["input_ids"].shape == (3, width)
    for row, ex in enumerate(examples):
        n = len(ex.input_ids)
        assert batch["attention_mask"][row].tolist() == [1] * n + [0] * (width - n)
        assert batch["input_ids"][row, :n].tolist() == ex.input_ids
        assert batch["labels"][row].tolist() == ex.labels + [IGNORE] * (width - n)


# -- the loss ------------------------------------------------------------------------------


def test_loss_ignores_padding_and_prompt(tokenizer, hf_dir):
    from lfe_local.engines.hf_model import load_model

    model = load_model(hf_dir, "cpu").eval()
    examples = [encode(tokenizer, m, r, 512) for m, r in (CONVERSATIONS[0], CONVERSATIONS[4])]
    assert len(examples[0].input_ids) != len(examples[1].input_ids)
    batch = collate(examples, pad_id=tokenizer.pad_token_id)
    with torch.no_grad():
        out = model(**batch)
        logits = out.logits.float()
        # by hand: token t predicts t+1; mean over unmasked targets of the whole batch
        targets = batch["labels"][:, 1:]
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        keep = targets != IGNORE
        nll = -logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        by_hand = nll[keep].sum() / keep.sum()
        assert abs(out.loss.item() - by_hand.item()) < 1e-4

        # the same from each example run alone, without padding
        total, count = 0.0, 0
        for ex in examples:
            ids = torch.tensor([ex.input_ids])
            lab = torch.tensor(ex.labels[1:])
            lp = torch.log_softmax(model(input_ids=ids).logits.float()[0, :-1], dim=-1)
            mask = lab != IGNORE
            total += -lp[mask].gather(-1, lab[mask].unsqueeze(-1)).sum().item()
            count += int(mask.sum())
        assert count == int(keep.sum())
        assert abs(out.loss.item() - total / count) < 1e-4


# -- train_lora ------------------------------------------------------------------------------


def lora_b_norm(adapter_dir: Path) -> float:
    from safetensors.torch import load_file

    state = load_file(str(adapter_dir / "adapter_model.safetensors"))
    b = [v for k, v in state.items() if "lora_B" in k]
    assert b, list(state)
    return sum(float(v.abs().sum()) for v in b)


def test_train_lora_and_continue(tokenizer, hf_dir, tmp_path, one_thread):
    cfg = TrainConfig(epochs=2, batch_size=2, learning_rate=5e-3, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                      max_length=128, bf16="off")
    out = tmp_path / "adapter-1"
    seen: list[tuple[int, int]] = []
    result = lora.train_lora(hf_dir, CONVERSATIONS, out, cfg, device="cpu", seed=3,
                             on_step=lambda log, total: seen.append((log.step, total)))

    assert result.adapter_dir == out and result.n_examples == len(CONVERSATIONS)
    assert (out / "adapter_config.json").exists()
    assert (out / "adapter_model.safetensors").exists()
    assert not out.with_name(out.name + ".tmp").exists()
    adapter_cfg = json.loads((out / "adapter_config.json").read_text())
    assert adapter_cfg["r"] == 4 and adapter_cfg["lora_alpha"] == 8

    steps_per_epoch = math.ceil(len(CONVERSATIONS) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    assert [s.step for s in result.steps] == list(range(1, total + 1))
    assert seen == [(i, total) for i in range(1, total + 1)]
    assert all(math.isfinite(s.loss) and s.loss > 0 for s in result.steps)
    assert all(s.tokens > 0 for s in result.steps)
    n_response_tokens = sum(
        sum(t != IGNORE for t in encode(tokenizer, m, r, cfg.max_length).labels) for m, r in CONVERSATIONS)
    assert sum(s.tokens for s in result.steps) == n_response_tokens * cfg.epochs
    assert result.steps[-1].epoch == pytest.approx(cfg.epochs)

    first = [s.loss for s in result.steps[:steps_per_epoch]]
    last = [s.loss for s in result.steps[-steps_per_epoch:]]
    assert sum(last) / len(last) < sum(first) / len(first)
    assert lora_b_norm(out) > 0  # B starts at zero: training moved it

    # continue from that adapter into a second directory
    out2 = tmp_path / "adapter-2"
    again = lora.train_lora(hf_dir, CONVERSATIONS[:4], out2, cfg, device="cpu", init_adapter=str(out), seed=4)
    assert (out2 / "adapter_config.json").exists() and (out2 / "adapter_model.safetensors").exists()
    assert len(again.steps) == 2 * cfg.epochs and again.n_examples == 4
    # it started from the trained adapter, so its loss starts below the fresh adapter's first epoch
    assert again.steps[0].loss < sum(first) / len(first)
    assert (out / "adapter_model.safetensors").exists()  # the parent adapter is kept
    assert lora_b_norm(out2) != lora_b_norm(out)


def test_train_lora_replaces_existing_output(tokenizer, hf_dir, tmp_path, one_thread):
    cfg = TrainConfig(epochs=1, batch_size=4, learning_rate=1e-3, lora_r=2, lora_alpha=4, max_length=64, bf16="off")
    out = tmp_path / "adapter"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    result = lora.train_lora(hf_dir, CONVERSATIONS[:2], out, cfg, device="cpu")
    assert len(result.steps) == 1
    assert not (out / "stale.txt").exists()
    assert (out / "adapter_config.json").exists()


def test_logged_learning_rate_is_the_one_applied(tokenizer, hf_dir, tmp_path, one_thread):
    # one step, warm-up of one step: the only update runs at the peak learning rate
    cfg = TrainConfig(epochs=1, batch_size=2, learning_rate=1e-3, lora_r=2, lora_alpha=4, max_length=64, bf16="off")
    result = lora.train_lora(hf_dir, CONVERSATIONS[:2], tmp_path / "a", cfg, device="cpu")
    assert len(result.steps) == 1
    assert lora_b_norm(tmp_path / "a") > 0  # the update happened, so its rate was not 0
    assert result.steps[0].learning_rate == pytest.approx(cfg.learning_rate)
