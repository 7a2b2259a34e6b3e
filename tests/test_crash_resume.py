"""Crash-proof, proven on small real runs: SIGKILL at five points — inside a commit, mid
evaluation, mid instructor stage (its first call done, the rest not), mid verification, mid
training — each followed by `lfe run` again, and at the end every table holds exactly the rows of
the same config run once without a kill (clocks aside), with no duplicate and no row of an
unfinished stage. Kills land from inside (LFE_KILL_AT, loop/crashpoint.py; LFE_KILL_IN_COMMIT,
store/db.py), so where they land does not depend on this machine's speed; scripts/crashtest.py
does the same on longer runs with kills timed from outside."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from run_helpers import make_tiny_target, query

from lfe_local.config import bundled_model

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from crashtest import orphans, tables  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_target(tmp_path_factory.mktemp("tiny-target"))


def lfe_run(ws: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lfe_local", "run", "-w", str(ws), "--display", "plain"],
                          capture_output=True, text=True, cwd=ROOT, timeout=600, env={**os.environ, **(env or {})})


def crash_and_compare(tmp_path: Path, toml: str, kills: list[dict[str, str]]) -> None:
    ref, crashed = tmp_path / "uninterrupted", tmp_path / "killed"
    for ws in (ref, crashed):
        ws.mkdir()
        (ws / "lfe.toml").write_text(toml)
    done = lfe_run(ref)
    assert done.returncode == 0, done.stderr[-2000:]
    for env in kills:
        proc = lfe_run(crashed, env)
        assert proc.returncode == -9, f"{env}: not killed (exit {proc.returncode})\n{proc.stderr[-2000:]}"
        assert query(crashed, "SELECT status FROM runs") == [("running",)]
    proc = lfe_run(crashed)
    assert proc.returncode == 0, proc.stderr[-2000:]
    want, got = tables(ref), tables(crashed)
    assert sorted(want) == sorted(got)
    for name in want:
        assert got[name] == want[name], f"table {name} differs after the kills"
        assert len(set(got[name])) == len(got[name]), f"table {name} has duplicate rows"
    assert orphans(crashed) == 0


def test_killed_in_a_commit_mid_evaluation_verification_and_training_then_resumed(tiny, tmp_path):
    # sft, two cycles (the second with nothing left to train on): 8 gold solutions, 4 steps of 2.
    toml = (f'[run]\ncycles = 2\nstrategy = "sft"\n[task]\nname = "arith"\ntrain_size = 8\nval_size = 4\n'
            f'test_size = 4\n[target]\nmodel = "{tiny}"\nmax_new_tokens = 8\nbatch_size = 2\nbf16 = "off"\n'
            f'[instructor]\nbudget = 8\n[train]\nepochs = 1\nbatch_size = 2\n')
    crash_and_compare(tmp_path, toml, [
        {"LFE_KILL_IN_COMMIT": "3"},       # inside a transaction: rows written, COMMIT not run
        {"LFE_KILL_AT": "0:eval_val:1"},   # after the first of two evaluation batches
        {"LFE_KILL_AT": "1:verify:3"},     # after 3 of 8 samples verified
        {"LFE_KILL_AT": "1:train:2"},      # after 2 of 4 training steps
    ])


@pytest.mark.model
def test_killed_mid_instructor_stage_then_resumed(tiny, tmp_path):
    # le with the bundled 135M instructor on two of the tiny target's (many) train errors.
    toml = (f'[run]\ncycles = 1\nstrategy = "le"\n[task]\nname = "arith"\ntrain_size = 6\nval_size = 2\n'
            f'test_size = 2\n[target]\nmodel = "{tiny}"\nmax_new_tokens = 8\nbatch_size = 6\nbf16 = "off"\n'
            f'[instructor]\nmodel = "{bundled_model()}"\nmax_errors = 2\nbudget = 2\nmax_new_per_error = 1\n'
            f'max_tokens = 100\nerror_sampling = "random"\n[train]\nepochs = 1\nbatch_size = 2\n')
    crash_and_compare(tmp_path, toml, [{"LFE_KILL_AT": "1:instruct:1"}])  # its first call done, one to go
