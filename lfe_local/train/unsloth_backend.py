"""The LoRA model made by Unsloth (train.backend = "unsloth"), trained by lfe-local's own loop.

Unsloth's speed on CUDA is in the model it returns (fused LoRA, RoPE and cross-entropy kernels,
its gradient checkpointing), so the loop, the data and the schedule stay those of the peft
backend and the two are compared step for step. Without CUDA, Unsloth falls back to transformers
+ peft. It patches transformers when imported, so `import_unsloth` runs before any model loads.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import LfeError


def import_unsloth():
    try:
        import unsloth  # noqa: F401 - its patches apply on import
        from unsloth import FastLanguageModel
    except ImportError as err:
        raise LfeError(f"train.backend \"unsloth\": unsloth does not import here ({err}); run `scripts/setup extras` "
                       "and use .venv-unsloth (README, Unsloth)") from None
    return FastLanguageModel


def _linear_names(model) -> list[str]:
    """peft's "all-linear" for Unsloth, which wants names: every Linear in the blocks, not the head."""
    import torch

    return sorted({name.rsplit(".", 1)[-1] for name, mod in model.named_modules()
                   if isinstance(mod, torch.nn.Linear) and "lm_head" not in name})


def unsloth_lora_model(hf_dir: Path, cfg, modules, *, device: str, bf16: bool, init_adapter: str | None, seed: int):
    import torch
    from peft import PeftModel

    FastLanguageModel = import_unsloth()
    dtype = torch.bfloat16 if (bf16 and device == "cuda") else torch.float32
    model, _ = FastLanguageModel.from_pretrained(model_name=str(hf_dir), max_seq_length=cfg.max_length, dtype=dtype,
                                                 load_in_4bit=False)
    model.config.use_cache = False
    if init_adapter:
        return PeftModel.from_pretrained(model, init_adapter, is_trainable=True)
    return FastLanguageModel.get_peft_model(
        model, r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
        target_modules=_linear_names(model) if modules == "all-linear" else modules,
        use_gradient_checkpointing="unsloth" if device == "cuda" else False, random_state=seed)
