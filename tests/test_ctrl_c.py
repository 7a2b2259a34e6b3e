"""Ctrl-C during `lfe run`: once stops cleanly after the current item (the unfinished stage writes
nothing and is redone on resume), twice stops now; both exit 130 with one line saying so, and the
database keeps every finished stage. Real runs in a subprocess (tiny random target: the stage
must take a few seconds, not teach)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_helpers import make_tiny_target, query

from lfe_local.loop.stopping import watch_ctrl_c

ROOT = Path(__file__).resolve().parent.parent


def test_the_first_sigint_sets_the_flag_the_second_interrupts_and_the_handler_is_put_back():
    before = signal.getsignal(signal.SIGINT)
    with watch_ctrl_c() as stop:
        assert not stop.requested
        signal.raise_signal(signal.SIGINT)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


@pytest.fixture(scope="module")
def workspace_toml(tmp_path_factory) -> str:
    tiny = make_tiny_target(tmp_path_factory.mktemp("tiny-target"))
    # eval_train: 8 items one at a time, 500 tokens each (the random model never ends early): each item
    # takes long enough (about 3 s here) that both presses land inside the same one, on a faster CPU too.
    return (f'[run]\ncycles = 1\nstrategy = "sft"\n[task]\nname = "arith"\ntrain_size = 8\nval_size = 2\n'
            f'test_size = 2\n[target]\nmodel = "{tiny}"\nmax_new_tokens = 500\nbatch_size = 1\nbf16 = "off"\n')


def interrupt(ws: Path, presses: int) -> tuple[int, str]:
    """Start `lfe run` and press Ctrl-C `presses` times (to its process group, as a terminal does) a
    second into eval_train; return its exit code and stderr. The second press comes once the run has
    said it took the first: two signals arriving before Python's handler runs count as one."""
    proc = subprocess.Popen([sys.executable, "-m", "lfe_local", "run", "-w", str(ws), "--display", "plain"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    try:
        for line in proc.stdout:
            if "eval_train started" in line:
                break
        time.sleep(1.0)
        os.killpg(proc.pid, signal.SIGINT)
        seen = ""
        if presses == 2:
            for line in proc.stderr:
                seen += line
                if "stopping after the current item" in line:
                    break
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        return proc.returncode, seen + err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("presses", [1, 2], ids=["once", "twice"])
def test_ctrl_c_stops_the_run_keeping_finished_stages_and_a_rerun_continues(workspace_toml, tmp_path, presses):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "lfe.toml").write_text(workspace_toml)
    rc, err = interrupt(ws, presses)
    # 130, or death by SIGINT (-2) after the message: once in a run here the second press's
    # KeyboardInterrupt surfaced again at interpreter exit (not yet explained; a shell reads both
    # as interrupted). Everything below, what was saved, is checked either way.
    assert rc == 130 or (presses == 2 and rc == -signal.SIGINT), err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    if presses == 1:
        assert "stopping after the current item (Ctrl-C again to stop now)" in err
        assert last == ("stopped during 0:eval_train (its unfinished work is redone on resume): finished stages "
                        "are saved; run `lfe run` again to continue")
    else:
        assert last == "interrupted: finished stages are saved; run `lfe run` again to continue"
    # Only the finished stage is there; the one interrupted left nothing.
    assert query(ws, "SELECT cycle, stage FROM stages") == [(0, "prepare")]
    assert query(ws, "SELECT count(*) FROM evaluations") == [(0,)]
    assert query(ws, "SELECT status FROM runs") == [("running",)]
    if presses == 2:
        return  # resuming is the same after either
    done = subprocess.run([sys.executable, "-m", "lfe_local", "run", "-w", str(ws), "--display", "plain",
                           "--stop-after", "eval_train"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert query(ws, "SELECT count(*) FROM runs") == [(1,)]
    assert query(ws, "SELECT stage, count(*) FROM evaluations e JOIN stages s ON s.run_id = e.run_id AND "
                    "s.stage = 'eval_' || e.split GROUP BY ALL") == [("eval_train", 8)]
