"""Sentence embeddings from a local sentence-transformers folder, with plain transformers.

A sentence-transformers folder is a transformer plus a pooling module (config in
`1_Pooling/config.json`) and, usually, a normalisation module (`modules.json`). We read those
two files instead of depending on the sentence-transformers package; the result matches its
`encode()` for the mean/CLS pooling models people use for retrieval.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import offline  # noqa: F401  (must precede transformers)
from ..errors import LfeError


class Embedder:
    def __init__(self, model_dir: str | Path, batch_size: int = 64, device: str = "cpu"):
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.path = Path(model_dir)
        if not (self.path / "config.json").exists():
            raise LfeError(f"{self.path}: not a sentence-embedding model folder (no config.json)")
        modules = self._json("modules.json", default=[])
        pooling_dir = next((m["path"] for m in modules if m.get("type", "").endswith("Pooling")), "1_Pooling")
        pooling = self._json(f"{pooling_dir}/config.json", default={"pooling_mode_mean_tokens": True})
        if pooling.get("pooling_mode_cls_token"):
            self.pooling = "cls"
        elif pooling.get("pooling_mode_mean_tokens", True):
            self.pooling = "mean"
        else:
            raise LfeError(f"{self.path}: unsupported pooling {pooling} (mean or CLS pooling models only)")
        # Normalised anyway when the folder has no Normalize module: we only ever use cosine.
        self.max_length = int(self._json("sentence_bert_config.json", default={}).get("max_seq_length", 256))
        self.batch_size = batch_size
        self.device = device
        self._torch = torch
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
            self.model = AutoModel.from_pretrained(str(self.path)).to(device).eval()
        except (OSError, ValueError) as err:
            raise LfeError(f"{self.path}: cannot load embedding model ({str(err).splitlines()[0]})") from None
        self.name = self.path.name

    def _json(self, rel: str, default):
        path = self.path / rel
        if not path.exists():
            return default
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise LfeError(f"{path}: not valid JSON ({err.msg})") from None

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text."""
        torch = self._torch
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(texts[start:start + self.batch_size], padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt").to(self.device)
                hidden = self.model(**batch).last_hidden_state
                if self.pooling == "cls":
                    vec = hidden[:, 0]
                else:
                    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    vec = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vec = torch.nn.functional.normalize(vec.float(), dim=-1)
                out.append(vec.cpu().numpy())
        dim = self.model.config.hidden_size
        return np.concatenate(out) if out else np.zeros((0, dim), dtype=np.float32)
