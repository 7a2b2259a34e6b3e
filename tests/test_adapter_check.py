"""An adapter that loads but changes nothing stops the run with one clear line (the transformers
engine; the vLLM engine's check is in tests/test_extras_vllm.py)."""

from pathlib import Path

import pytest

from lfe_local.config import bundled_model
from lfe_local.errors import LfeError


@pytest.fixture(scope="module")
def hf_dir():
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    from lfe_local.engines.hf_model import ensure_hf

    return ensure_hf(bundled_model())


def untrained_adapter(hf_dir, out: Path, nudge: bool) -> str:
    """peft's fresh LoRA has B = 0: loaded, it is a no-op. `nudge` moves one B matrix off zero."""
    import torch
    from peft import LoraConfig, get_peft_model

    from lfe_local.engines.hf_model import load_model

    model = get_peft_model(load_model(hf_dir, "cpu"), LoraConfig(r=8, target_modules=["q_proj", "v_proj"],
                                                                  task_type="CAUSAL_LM"))
    if nudge:
        with torch.no_grad():
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.05)
    model.save_pretrained(str(out))
    return str(out)


def test_an_adapter_that_changes_nothing_is_refused(hf_dir, tmp_path):
    from lfe_local.engines.transformers_engine import TransformersEngine

    path = untrained_adapter(hf_dir, tmp_path / "noop", nudge=False)
    with pytest.raises(LfeError, match="changes nothing on a probe prompt"):
        TransformersEngine(hf_dir, adapter=path)


def test_an_adapter_that_changes_the_model_is_applied(hf_dir, tmp_path):
    from lfe_local.engines.transformers_engine import TransformersEngine

    path = untrained_adapter(hf_dir, tmp_path / "nudged", nudge=True)
    engine = TransformersEngine(hf_dir, adapter=path, bf16="off")
    assert not hasattr(engine.model, "disable_adapter")  # merged into plain weights for speed
    engine.close()
