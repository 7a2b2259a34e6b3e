"""The loop's bookkeeping, fast: whole runs of the real loop on a real DuckDB file with a tiny
randomly initialised target and the sft strategy (no instructor to load) — what the model
answers does not matter here, only which stages ran, once each, in order, and what they left.
Two cycles (the second with nothing left to train on), a stop and resume that ends exactly like
an uninterrupted run, a changed config refused, --new-run, and a cycle whose every sample is too
long to train on."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from run_helpers import make_tiny_target, query

from lfe_local.config import Config
from lfe_local.errors import LfeError
from lfe_local.loop import Loop, plan

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from crashtest import orphans, tables  # noqa: E402  (the crash test's table comparison)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_target(tmp_path_factory.mktemp("tiny-target"))


def config(tiny: Path, cycles: int = 2, budget: int = 6, **train) -> Config:
    # 6 train items and a budget of 6 gold solutions: cycle 1 uses them all, cycle 2 has none left.
    return Config.model_validate({
        "run": {"cycles": cycles, "strategy": "sft"},
        "task": {"name": "arith", "train_size": 6, "val_size": 4, "test_size": 4},
        "target": {"model": str(tiny), "max_new_tokens": 8, "batch_size": 4, "bf16": "off"},
        "instructor": {"budget": budget},
        "train": {"epochs": 1, "batch_size": 2, **train},
    })



@pytest.fixture(scope="module")
def uninterrupted(tiny, tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("uninterrupted")
    Loop(ws, config(tiny)).run()
    return ws


def test_two_cycles_run_every_stage_once_in_order_and_an_empty_training_set_keeps_the_adapter(uninterrupted):
    ws = uninterrupted
    stages = query(ws, "SELECT cycle, stage FROM stages ORDER BY rowid")
    assert stages == plan(2)
    evals = dict(((c, s), n) for c, s, n in query(ws, "SELECT cycle, split, count(*) FROM evaluations GROUP BY ALL"))
    assert evals == {(0, "train"): 6, (0, "val"): 4, (0, "test"): 4, (1, "val"): 4, (1, "test"): 4,
                     (1, "train"): 6, (2, "val"): 4, (2, "test"): 4}
    (c1, c2) = query(ws, "SELECT cycle, path, parent, n_samples, n_steps, final_loss IS NULL FROM adapters ORDER BY cycle")
    assert c1[0] == 1 and c1[1].endswith("cycle-1/adapter") and c1[3:] == (6, 3, False)
    assert c2 == (2, c1[1], c1[1], 0, 0, True)  # nothing left to train on: the target stays as it was
    summary = dict(query(ws, "SELECT cycle || ':' || stage, summary FROM stages"))
    assert summary["2:instruct"] == "0 gold train solutions (no instructor)"
    assert summary["2:train"] == "nothing to train on"
    assert query(ws, "SELECT status FROM runs") == [("finished",)]
    assert len(query(ws, "SELECT * FROM run_results")) == 1
    assert orphans(ws) == 0


def test_a_stopped_run_resumed_ends_exactly_like_an_uninterrupted_one(tiny, uninterrupted, tmp_path):
    ws = tmp_path / "stopped"
    first = Loop(ws, config(tiny), stop_after="1:verify").run()
    assert first.stopped_after == "1:verify" and first.best_cycle is not None
    assert query(ws, "SELECT status FROM runs") == [("running",)]
    assert query(ws, "SELECT count(*) FROM stages") == [(6,)]
    again = Loop(ws, config(tiny), stop_after="1:eval_test").run()
    assert again.run_id == first.run_id
    last = Loop(ws, config(tiny)).run()
    assert last.run_id == first.run_id and last.stopped_after is None
    assert tables(ws) == tables(uninterrupted)  # every table, row for row, clocks aside


def test_a_changed_config_is_refused_for_an_unfinished_run_and_new_run_starts_another(tiny, tmp_path):
    ws = tmp_path / "ws"
    first = Loop(ws, config(tiny), stop_after="0:eval_test").run()
    with pytest.raises(LfeError, match=r"unfinished and its config differs in instructor\.budget.*--new-run"):
        Loop(ws, config(tiny, budget=4)).run()
    assert query(ws, "SELECT count(*) FROM runs") == [(1,)]  # the refusal wrote nothing
    other = Loop(ws, config(tiny, budget=4, cycles=1), new_run=True).run()
    assert other.run_id != first.run_id and other.stopped_after is None
    # Its cycle-0 evaluations are the first run's, copied: the same target, task and precision.
    copied = query(ws, f"SELECT stage FROM stages WHERE run_id = '{other.run_id}' AND summary LIKE "
                       f"'%(copied from {first.run_id})'")
    assert sorted(s for (s,) in copied) == ["eval_test", "eval_train", "eval_val"]
    assert dict(query(ws, "SELECT run_id, status FROM runs")) == {first.run_id: "running", other.run_id: "finished"}
    assert query(ws, f"SELECT count(*) FROM samples WHERE run_id = '{other.run_id}'") == [(4,)]


def test_a_cycle_whose_every_sample_is_too_long_trains_nothing_and_the_run_goes_on(tiny, tmp_path):
    ws = tmp_path / "ws"
    summary = Loop(ws, config(tiny, cycles=1, max_length=32)).run()  # the chat-templated prompt alone is longer
    assert summary.stopped_after is None
    assert query(ws, "SELECT path, n_samples, n_steps, final_loss FROM adapters") == [(None, 0, 0, None)]
    assert query(ws, "SELECT summary FROM stages WHERE stage = 'train'") == [
        ("nothing trained: all 6 samples dropped for length",)]
    assert query(ws, "SELECT DISTINCT adapter FROM evaluations WHERE cycle = 1") == [(None,)]
    assert query(ws, "SELECT count(*) FROM train_steps") == [(0,)]
    assert query(ws, "SELECT status FROM runs") == [("finished",)]
