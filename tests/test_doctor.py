"""`lfe doctor` on this machine: the facts it reports, the bundled models' checksums, and exit 1 with
the fix when the configured run cannot start (a bad config, an instructor server that is down)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lfe_local.config import bundled_instructor, bundled_model
from lfe_local.engines.llama_cpp_engine import llama_amx_active
from lfe_local.hardware import n_threads

pytestmark = pytest.mark.model

# The bundled instructor GGUF as scripts/fetch_models.py verifies it.
INSTRUCTOR_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def doctor(ws: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lfe_local", "doctor", "-w", str(ws)], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"}, timeout=300)


@pytest.fixture(autouse=True)
def bundled():
    if not (Path(bundled_model()).exists() and Path(bundled_instructor()).exists()):
        pytest.skip("bundled models missing: run scripts/setup")


def test_a_default_workspace_is_ready_and_the_models_are_the_bundled_ones(tmp_path):
    import torch

    proc = doctor(tmp_path)  # no lfe.toml: the defaults
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "ready: the configured run can start" in out
    facts = {ln.split("│")[1].strip(): ln.split("│")[2].strip() for ln in out.splitlines() if ln.count("│") == 3}
    assert facts["torch"] == torch.__version__ and facts["threads"] == str(n_threads())
    assert "avx512_bf16=" in out and "amx_bf16=" in out
    assert facts["llama.cpp weight repacking"].startswith("off" if llama_amx_active() else "on")
    line = next(ln for ln in out.splitlines() if "instructor.model:" in ln)
    assert line.split()[0] == "ok" and bundled_instructor() in line and f"sha256 {INSTRUCTOR_SHA256}" in line
    assert "MISSING" not in out


def test_a_bad_config_is_not_ready_and_says_which_key(tmp_path):
    (tmp_path / "lfe.toml").write_text("[run]\ncyclez = 2\n")
    proc = doctor(tmp_path)
    assert proc.returncode == 1
    assert "MISSING  config:" in proc.stdout and "unknown key 'run.cyclez'" in proc.stdout
    assert "torch" in proc.stdout  # the machine facts still come


def test_an_instructor_server_that_is_down_is_named_with_its_fix(tmp_path):
    (tmp_path / "lfe.toml").write_text('[instructor]\nengine = "openai"\nbase_url = "http://127.0.0.1:9/v1"\n'
                                       'model = "served"\n')
    proc = doctor(tmp_path)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    i = next(i for i, ln in enumerate(lines) if "instructor server http://127.0.0.1:9/v1" in ln)
    assert lines[i].split()[0] == "MISSING" and "cannot reach it" in lines[i]
    assert "fix: start the server, or fix instructor.base_url" in lines[i + 1]
    assert not any("instructor.model:" in ln for ln in lines)  # a served name, no file to hash
