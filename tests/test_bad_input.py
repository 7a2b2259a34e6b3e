"""Bad input, one table: each case is one line naming the file or field, a non-zero exit, and
nothing written to the workspace. (Malformed dataset rows: test_bad_data_cli.py and each task's
tests; instructor replies that are not JSON: test_instruct.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lfe_local.config import bundled_model
from lfe_local.errors import LfeError

GGUF_HEAD = b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 56  # right magic and version, then nothing


def _write(ws: Path, toml: str, files: dict[str, bytes]) -> None:
    ws.mkdir()
    (ws / "lfe.toml").write_text(toml)
    for name, data in files.items():
        (ws / name).write_bytes(data)


@pytest.mark.parametrize("toml, files, expected", [
    ("[instructor]\nbudgte = 3\n", {},
     "lfe.toml: unknown key 'instructor.budgte' (did you mean 'instructor.budget'?)"),
    ("[run]\ncyclez = 3\n", {}, "lfe.toml: unknown key 'run.cyclez' (did you mean 'run.cycles'?)"),
    ("[nonsense]\nx = 1\n", {}, "lfe.toml: unknown key 'nonsense'"),
    ("[target]\nbatch_size = \"many\"\n", {}, "lfe.toml: target.batch_size: Input should be a valid integer"),
    ("[instructor]\nmodel = \"/nonexistent/x.gguf\"\n", {},
     "lfe.toml: instructor.model: no such file or directory: /nonexistent/x.gguf"),
    ("[instructor]\nmodel = \"noise.gguf\"\n", {"noise.gguf": b"\x00not a model" * 100},
     "noise.gguf: not a GGUF file (it does not start with the GGUF magic bytes)"),
    ("[target]\nmodel = \"noise.gguf\"\n", {"noise.gguf": b"PK\x03\x04" * 100}, "target.model: "),
    ("[task]\nname = \"arith\"\n[instructor]\nnew_problems = \"program\"\n[run\n", {}, "lfe.toml: not valid TOML"),
], ids=["misspelt key", "misspelt run key", "unknown section", "wrong type", "missing model", "noise as gguf",
        "zip as target", "broken toml"])
def test_bad_input_is_one_line_a_failing_exit_and_nothing_written(tmp_path, toml, files, expected):
    ws = tmp_path / "ws"
    _write(ws, toml, files)
    before = sorted(p.name for p in ws.iterdir())
    proc = subprocess.run([sys.executable, "-m", "lfe_local", "run", "-w", str(ws), "--display", "plain"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert sorted(p.name for p in ws.iterdir()) == before  # no database, no snapshot, no run folder


def test_a_truncated_gguf_is_one_line_from_the_engine(tmp_path):
    # The right magic passes the config check; llama.cpp then refuses the file at load.
    from lfe_local.engines.llama_cpp_engine import LlamaCppEngine

    bad = tmp_path / "cut.gguf"
    whole = Path(bundled_model())
    if whole.exists():
        with open(whole, "rb") as f:
            bad.write_bytes(f.read(1 << 20))  # the first MiB of a real model
    else:
        bad.write_bytes(GGUF_HEAD)
    with pytest.raises(LfeError, match=r"^instructor\.model: .*cut\.gguf: llama\.cpp cannot load it"):
        LlamaCppEngine(str(bad), n_ctx=256)
