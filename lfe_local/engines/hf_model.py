"""Find or make the HF-format copy of a target model, and load it (plus an adapter) with transformers.

A GGUF target is dequantised by transformers once (20-50 s on 2 cores) and cached beside the
GGUF as safetensors + config + tokenizer. transformers refuses `save_pretrained` on a model
loaded from GGUF, so the state dict and config are written by hand.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from .. import offline  # noqa: F401  (must precede transformers)
from ..errors import LfeError


def hf_dir_for(model: str) -> Path:
    path = Path(model)
    if path.is_dir():
        return path
    return path.parent / (path.stem + ".hf")


def ensure_hf(model: str, log=print) -> Path:
    """The HF directory for `model`, converting a GGUF file on first use."""
    path = Path(model)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise LfeError(f"{path}: not a HF model directory (no config.json)")
        return path
    if path.suffix != ".gguf":
        raise LfeError(f"{path}: target.model must be a .gguf file or a HF model directory")
    out = hf_dir_for(model)
    if (out / "model.safetensors").exists() and (out / "config.json").exists():
        return out
    log(f"converting {path.name} to HF format in {out} (once)")
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model_ = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    cfg = model_.config.to_dict()
    cfg.pop("quantization_config", None)
    state = model_.state_dict()
    if cfg.get("tie_word_embeddings"):
        state.pop("lm_head.weight", None)  # tied: safetensors refuses shared tensors
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=out.name + ".tmp"))
    try:
        (tmp / "config.json").write_text(json.dumps(cfg, indent=1))
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tok.save_pretrained(str(tmp))
        if model_.generation_config is not None:
            model_.generation_config.save_pretrained(str(tmp))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)  # atomic: a crash never leaves a half-written cache
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def load_tokenizer(hf_dir: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if tok.chat_template is None:
        raise LfeError(f"{hf_dir}: the tokenizer has no chat template; lfe-local uses each model's own template")
    return tok


def load_model(hf_dir: Path, device: str, adapter: str | None = None, merge: bool = True):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
        if merge:
            model = model.merge_and_unload()  # plain weights generate faster than LoRA hooks
    return model.to(device)


def resolve_device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise LfeError("target.device: 'cuda' asked for, but no CUDA device is available")
    return choice
