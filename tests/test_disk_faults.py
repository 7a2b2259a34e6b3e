"""A full disk and a read-only workspace, for real: the workspace on a small tmpfs filled to the
last kilobytes, or remounted read-only (skipped where this process may not mount), and a file
size limit (RLIMIT_FSIZE, which always runs). Each ends `lfe run` with one line naming the file,
exit 2 and no traceback; nothing half-written stays (no adapter directory, no uncommitted stage),
the database still opens, and once the space is back `lfe run` ends exactly like a run that never
hit the wall."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from run_helpers import make_tiny_target, query

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from crashtest import orphans, tables  # noqa: E402


@pytest.fixture(scope="module")
def toml(tmp_path_factory) -> str:
    tiny = make_tiny_target(tmp_path_factory.mktemp("tiny-target"))
    return (f'[run]\ncycles = 1\nstrategy = "sft"\n[task]\nname = "arith"\ntrain_size = 6\nval_size = 4\n'
            f'test_size = 4\n[target]\nmodel = "{tiny}"\nmax_new_tokens = 8\nbatch_size = 4\nbf16 = "off"\n'
            f'[instructor]\nbudget = 6\n[train]\nepochs = 1\nbatch_size = 2\n')


def lfe(*args: str, preexec=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lfe_local", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, preexec_fn=preexec)


def workspace(parent: Path, toml: str, name: str = "ws") -> Path:
    ws = parent / name
    ws.mkdir()
    (ws / "lfe.toml").write_text(toml)
    return ws


@pytest.fixture(scope="module")
def reference(toml, tmp_path_factory) -> Path:
    ws = workspace(tmp_path_factory.mktemp("reference"), toml)
    done = lfe("run", "-w", str(ws), "--display", "plain")
    assert done.returncode == 0, done.stderr[-2000:]
    return ws


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()[:100]})")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    return lines[0]


def started(ws: Path) -> None:
    """cycle 0 done: the database exists and holds finished stages."""
    proc = lfe("run", "-w", str(ws), "--display", "plain", "--stop-after", "0:eval_test")
    assert proc.returncode == 0, proc.stderr[-2000:]


def resumed_like(ws: Path, reference: Path) -> None:
    proc = lfe("run", "-w", str(ws), "--display", "plain")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert tables(ws) == tables(reference)
    assert orphans(ws) == 0


def test_a_full_disk_mid_run_is_one_line_and_the_run_resumes_once_space_is_back(toml, reference, tmpfs):
    ws = workspace(tmpfs, toml)
    started(ws)
    stat = os.statvfs(tmpfs)
    filler = tmpfs / "filler"
    # Leave 64 KiB: enough for the stage rows, not for the adapter's weights.
    with open(filler, "wb") as f:
        f.truncate(0)
        f.write(b"\0" * (stat.f_bavail * stat.f_frsize - 64 * 1024))
    line = one_line_error(lfe("run", "-w", str(ws), "--display", "plain"))
    assert "No space left on device" in line and str(ws) in line
    assert not list(ws.glob("runs/*/cycle-1/adapter*"))  # no half-written adapter
    assert ("train",) not in query(ws, "SELECT stage FROM stages")
    assert orphans(ws) == 0
    filler.unlink()
    resumed_like(ws, reference)


def test_a_read_only_workspace_is_one_line_and_sql_still_reads_it(toml, tmpfs):
    ws = workspace(tmpfs, toml)
    started(ws)
    fresh = workspace(tmpfs, toml, "fresh")
    before = {p: sorted(q.name for q in p.iterdir()) for p in (ws, fresh)}
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    try:
        for w in (ws, fresh):
            line = one_line_error(lfe("run", "-w", str(w), "--display", "plain"))
            assert "Read-only file system" in line and str(w / "lfe.duckdb") in line
        assert {p: sorted(q.name for q in p.iterdir()) for p in (ws, fresh)} == before
        read = lfe("sql", "-w", str(ws), "SELECT count(*) AS n FROM stages")
        assert read.returncode == 0 and " 4 " in read.stdout, read.stderr
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmpfs)], check=False)


def _file_size_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_file_size_limit_mid_run_is_one_line_and_the_run_resumes_without_it(toml, reference, tmp_path):
    ws = workspace(tmp_path, toml)
    started(ws)
    line = one_line_error(lfe("run", "-w", str(ws), "--display", "plain", preexec=_file_size_limit(16 * 1024)))
    assert "File too large" in line and str(ws) in line, line
    assert orphans(ws) == 0
    assert not list(ws.glob("runs/*/cycle-1/adapter*"))
    resumed_like(ws, reference)
