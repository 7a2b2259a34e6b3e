"""Loop stages on a real DuckDB file: a cycle-0 evaluation is only reused under the same task
version and lfe-local version, and a train stage whose every sample is too long records
"nothing trained" instead of crashing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from lfe_local import __version__
from lfe_local.config import Config, bundled_model
from lfe_local.engines.base import Generation
from lfe_local.loop import Context, base_key, config_differences, fingerprint, run_stage
from lfe_local.loop.evaluate import base_donor
from lfe_local.loop.failures import failures as pick_failures
from lfe_local.loop.results import cycle_gain
from lfe_local.loop.train import train
from lfe_local.store import DB_NAME, Store
from lfe_local.tasks import make_task
from lfe_local.tui import NullReporter

T0 = dt.datetime(2026, 1, 2, 3, 4, 5)


def config(**train) -> Config:
    return Config.model_validate({"task": {"name": "arith", "train_size": 6, "val_size": 2, "test_size": 2},
                                  "train": train})


def test_base_key_holds_the_task_and_lfe_versions():
    cfg = config()
    key = base_key(cfg, "test", 1, "0.1.0", "float32")
    assert key == base_key(cfg, "test", 1, "0.1.0", "float32")
    assert key != base_key(cfg, "test", 2, "0.1.0", "float32")
    assert key != base_key(cfg, "test", 1, "0.2.0", "float32")
    assert key != base_key(cfg, "test", None, None, "float32")  # a run from before task versions existed
    # The resolved precision, not the setting: "auto" on two machines may be two precisions, and
    # an evaluation of unknown precision (before schema 7) matches neither.
    assert key != base_key(cfg, "test", 1, "0.1.0", "bfloat16")
    assert key != base_key(cfg, "test", 1, "0.1.0", None)
    pinned = cfg.model_copy(update={"target": cfg.target.model_copy(update={"bf16": "off"})})
    assert base_key(pinned, "test", 1, "0.1.0", "float32") == key


@pytest.fixture
def open_loop(tmp_path: Path):
    """A stage Context on a real DuckDB file in tmp_path, its run_id set, without running any stage."""
    opened = []

    def make(cfg: Config, run_id: str) -> Context:
        task = make_task(cfg.task["name"], {k: v for k, v in cfg.task.items() if k != "name"}, tmp_path)
        ctx = Context(tmp_path, cfg, task, Store(tmp_path / DB_NAME), run_id, NullReporter())
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()
        ctx.store.close()


@pytest.fixture
def loop(open_loop):
    return open_loop(config(), "new")


def evaluation(run_id: str, cycle: int, split: str, item_id: str, gold: str, correct: bool, response: str = "r") -> dict:
    return {"run_id": run_id, "cycle": cycle, "task": "arith", "split": split, "item_id": item_id, "model": "m",
            "prompt": "p", "response": response, "gold": gold, "correct": correct,
            "prompt_tokens": 1, "completion_tokens": 1, "latency_s": 0.1}


def add_donor(store: Store, cfg: Config, run_id: str, task_version, lfe_version, precision) -> None:
    """A finished cycle-0 test evaluation of two items, made in `precision`."""
    store.create_run({"run_id": run_id, "task": "arith", "strategy": "le", "n_cycles": 1, "fingerprint": "f",
                      "config_json": cfg.model_dump_json(), "target_model": "t", "instructor_model": "i",
                      "task_version": task_version, "lfe_version": lfe_version})
    with store.transaction():
        store.insert("evaluations", [{**evaluation(run_id, 0, "test", i, "1", True), "precision": precision}
                                     for i in ("a", "b")])
        store.mark_stage(run_id, 0, "eval_test", T0, 1.0, "done")


@pytest.mark.parametrize(("versions_back", "lfe_version", "reused"), [
    (0, __version__, True), (None, None, False), (1, __version__, False), (0, "0.0.1", False)])
def test_cycle0_evaluation_is_reused_only_under_the_same_versions(loop, versions_back, lfe_version, reused):
    task_version = None if versions_back is None else loop.task.version - versions_back
    add_donor(loop.store, loop.cfg, "old", task_version, lfe_version, loop.precision())
    assert base_donor(loop, "test") == ("old" if reused else None)


@pytest.mark.parametrize("other", ["other", None])
def test_cycle0_evaluation_is_never_reused_across_precisions(loop, other):
    """A donor evaluated in the other precision (or an unknown one, before schema 7) is no donor,
    though its config, task and lfe-local versions are the same."""
    mine = loop.precision()
    theirs = {"other": "float32" if mine == "bfloat16" else "bfloat16", None: None}[other]
    add_donor(loop.store, loop.cfg, "old", loop.task.version, __version__, theirs)
    assert base_donor(loop, "test") is None
    add_donor(loop.store, loop.cfg, "same", loop.task.version, __version__, mine)
    assert base_donor(loop, "test") == "same"


def scored_config(scorer: str | None) -> Config:
    task = {"name": "arith", "train_size": 6, "val_size": 2, "test_size": 2}
    return Config.model_validate({"task": task if scorer is None else {**task, "scorer": scorer}})


def test_the_scorer_is_part_of_the_base_key_fingerprint_and_resume_check():
    strict, default, paper = scored_config("strict"), scored_config(None), scored_config("paper")
    assert base_key(strict, "test", 2, "0.1.0", "float32") == base_key(default, "test", 2, "0.1.0", "float32")
    assert base_key(paper, "test", 2, "0.1.0", "float32") != base_key(default, "test", 2, "0.1.0", "float32")
    assert base_key(paper, "train", 2, "0.1.0", "float32") != base_key(default, "train", 2, "0.1.0", "float32")
    assert fingerprint(strict) == fingerprint(default) != fingerprint(paper)
    # A run made without the key, continued with scorer = "paper", must not mix the two.
    assert config_differences(default.model_dump_json(), paper) == ["task.scorer"]
    assert config_differences(default.model_dump_json(), strict) == []


@pytest.mark.parametrize(("donor_scorer", "reused"), [(None, True), ("strict", True), ("paper", False)])
def test_a_base_evaluation_scored_one_way_is_never_reused_for_the_other(open_loop, donor_scorer, reused):
    lp = open_loop(scored_config(None), "new")
    add_donor(lp.store, scored_config(donor_scorer), "old", lp.task.version, __version__, lp.precision())
    assert base_donor(lp, "test") == ("old" if reused else None)


class ScriptedTarget:
    """The target's side of an evaluation: one fixed reply per question (the scorer, the stage and
    the store are the real ones)."""

    def __init__(self, reply):
        self.reply = reply

    def generate(self, convs, max_tokens, on_progress=None):
        return [Generation(self.reply(c[-1]["content"]), c[-1]["content"], 5, 7, 0.01, "stop") for c in convs]

    def close(self):
        pass


@pytest.mark.parametrize(("scorer", "correct"), [(None, True), ("paper", False)])
def test_the_eval_stage_scores_with_the_configured_scorer_and_records_it(open_loop, scorer, correct):
    lp = open_loop(scored_config(scorer), "new")
    lp.store.create_run({"run_id": "new", "task": "arith", "strategy": "le", "n_cycles": 1, "fingerprint": "f",
                         "config_json": lp.cfg.model_dump_json(), "target_model": "t", "instructor_model": "i"})
    gold = {it.question: it.answer for it in lp.splits["test"]}
    # Right for the strict scorer; the paper's takes the last number, 3.
    lp.use_target(0, None, ScriptedTarget(
        lambda prompt: f"The answer is {next(a for q, a in gold.items() if q in prompt)}, after 3 steps."))
    run_stage(lp, 0, "eval_test")
    rows = lp.store._all("SELECT scorer, correct, extracted FROM evaluations WHERE run_id = 'new'")
    assert len(rows) == 2 and {(r["scorer"], r["correct"]) for r in rows} == {(scorer or "strict", correct)}
    assert lp.store._all("SELECT scorer, accuracy FROM cycle_metrics WHERE run_id = 'new'") == [
        {"scorer": scorer or "strict", "accuracy": float(correct)}]


def test_a_train_stage_with_every_sample_too_long_trains_nothing(open_loop):
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    lp = open_loop(config(max_length=32), "r")  # the chat-templated prompt alone is longer
    add_donor(lp.store, lp.cfg, "r", 1, __version__, lp.precision())
    item = lp.splits["train"][0]
    with lp.store.transaction():
        lp.store.insert("samples", [{
            "run_id": "r", "cycle": 1, "sample_id": "s", "strategy": "le", "kind": "corrected",
            "source_item_id": item.item_id, "question": item.question, "solution": item.solution,
            "answer": item.answer, "status": "accepted", "training_text": item.solution}])
    out = train(lp, 1)
    assert out.summary == "nothing trained: all 1 samples dropped for length"
    (adapter,) = out.rows["adapters"]
    assert (adapter["path"], adapter["n_steps"], adapter["final_loss"]) == (None, 0, None)
    assert "train_steps" not in out.rows


def test_the_best_cycles_test_gain_is_stored_with_its_interval(loop):
    add_donor(loop.store, loop.cfg, "new", 1, __version__, loop.precision())
    rows = []
    for cycle, n_right in ((0, 2), (1, 14)):
        rows += [evaluation("new", cycle, "test", f"t{i:02d}", "1", i < n_right) for i in range(20)]
    with loop.store.transaction():
        loop.store.insert("evaluations", rows)
    gain = cycle_gain(loop.store, "new", 1, loop.cfg.run.seed)
    assert (gain["test_base"], gain["test_best"], gain["test_items"]) == (0.1, 0.7, 20)
    assert gain["test_delta"] == pytest.approx(0.6) and 0 < gain["test_ci_low"] < 0.6 < gain["test_ci_high"]
    assert cycle_gain(loop.store, "new", 0, 0) is None and cycle_gain(loop.store, "new", None, 0) is None
    loop.store.finish_run("new", 1, gain)
    (row,) = loop.store._all("SELECT * FROM run_results")
    assert (row["best_cycle"], row["significant"]) == (1, True)
    assert row["test_delta"] == pytest.approx(0.6)


KINDS = ["boxes with", "bakes", "costs $", "saves $", "class of", "rows of", "reads", "drives", "friends order",
         "more and then gives"]  # one phrase per arith template


def kind(question: str) -> str:
    return next(k for k in KINDS if k in question)


@pytest.mark.parametrize(("sampling", "most_kinds"), [("spread", 8), ("random", 10)])
def test_the_errors_handed_to_the_instructor_spread_over_the_kinds_of_problem(open_loop, sampling, most_kinds):
    """Every train item failed; 8 are analysed. The spread sample (real MiniLM embeddings) covers 8
    different templates; and its embeddings are handed to the instruct stage's rows, once."""
    lp = open_loop(Config.model_validate({"task": {"name": "arith", "train_size": 60, "val_size": 2, "test_size": 2},
                                          "instructor": {"max_errors": 8, "error_sampling": sampling}}), "r")
    train = lp.splits["train"]
    lp.store.insert("evaluations", [evaluation("r", 0, "train", it.item_id, it.answer, False, "The answer is 0.")
                                    for it in train])
    failures, again = pick_failures(lp, 1), pick_failures(lp, 1)
    assert again == failures  # seeded: the same sample on a resumed run
    assert len(failures) == 8 and failures == sorted(failures, key=lambda f: f.item_id)
    kinds = {kind(f.question) for f in failures}
    assert len({kind(it.question) for it in train}) == 10
    if sampling == "spread":
        assert len(kinds) == most_kinds
        assert len(lp.embeddings.new) == 60 and {r["item_id"] for r in lp.embeddings.new} == {it.item_id for it in train}
    else:
        assert len(kinds) <= most_kinds and lp.embeddings.new == []
