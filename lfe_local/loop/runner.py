"""The loop, top to bottom: open (or continue) a run, then each stage of the plan not done yet —
its work (a function of its own module, handed a Context, returning a StageOutput), then its rows
and done-marker in one transaction — then the run's result."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Config
from ..errors import LfeError
from ..store import DB_NAME, Store
from ..tasks import make_task
from ..tui import NullReporter, Reporter
from .context import Context, StageOutput, StopRequested
from .evaluate import evaluate
from .identity import config_differences, fingerprint
from .instruct import instruct
from .prepare import prepare
from .results import best_cycle, cycle_gain
from .stopping import watch_ctrl_c
from .train import train
from .verify import verify

STAGES = {
    "prepare": prepare,
    "eval_train": partial(evaluate, split="train"),
    "eval_val": partial(evaluate, split="val"),
    "eval_test": partial(evaluate, split="test"),
    "instruct": instruct,
    "verify": verify,
    "train": train,
}


def plan(n_cycles: int) -> list[tuple[int, str]]:
    stages = [(0, "prepare"), (0, "eval_train"), (0, "eval_val"), (0, "eval_test")]
    for c in range(1, n_cycles + 1):
        stages += [(c, "instruct"), (c, "verify"), (c, "train"), (c, "eval_val"), (c, "eval_test")]
        if c < n_cycles:
            stages.append((c, "eval_train"))  # the next cycle's errors come from here
    return stages


def run_stage(ctx: Context, cycle: int, stage: str) -> None:
    """One stage: its work outside any transaction, then everything it made in one, with its
    done-marker; then the snapshot readers see, and the display."""
    started = dt.datetime.now().replace(microsecond=0)
    t0 = time.perf_counter()
    ctx.begin(cycle, stage)  # its instructor calls are recorded in ctx.calls by the engines ctx.instructor makes
    try:
        out: StageOutput = STAGES[stage](ctx, cycle)
    except StopRequested:
        raise StopRequested(f"during {cycle}:{stage} (its unfinished work is redone on resume)") from None
    seconds = time.perf_counter() - t0
    store, run_id = ctx.store, ctx.run_id
    calls = [{"run_id": run_id, "cycle": cycle, "stage": stage, "seq": i, **c} for i, c in enumerate(ctx.calls)]
    with store.transaction():
        for table, rows in out.rows.items():
            store.insert(table, rows)
        store.update_sample_verdicts(run_id, out.sample_verdicts)
        store.update_generator_verdicts(run_id, out.generator_verdicts)
        store.put_embeddings(out.embeddings)
        store.insert("calls", calls)
        store.mark_stage(run_id, cycle, stage, started, seconds, out.summary)
    publish(store, ctx.rep)
    ctx.rep.stage_finished(cycle, stage, seconds, out.summary)
    if stage.startswith("eval_"):
        evals = out.rows["evaluations"]
        acc = sum(r["correct"] for r in evals) / max(1, len(evals))
        ctx.rep.metric(cycle, stage.removeprefix("eval_"), acc, len(evals))


def publish(store: Store, rep: Reporter) -> None:
    """The snapshot `lfe sql` reads while this run holds the database. Losing it (a full disk)
    costs readers freshness, not the run its results: said, not raised."""
    try:
        store.publish_snapshot()
    except LfeError as err:
        rep.message(f"readers keep the previous snapshot: {err}")


@dataclass
class RunSummary:
    run_id: str
    db_path: Path
    best_cycle: int | None
    accuracies: list[dict[str, Any]]  # cycle, split, n_items, accuracy
    seconds: float
    stopped_after: str | None = None
    test_gains: dict[int, dict[str, Any]] | None = None  # each cycle's test accuracy vs cycle 0 (results.cycle_gain)


class Loop:
    def __init__(self, workspace: Path, cfg: Config, reporter: Reporter | None = None,
                 stop_after: str | None = None, new_run: bool = False, run_id: str | None = None):
        self.workspace = workspace
        self.wanted_run_id = run_id  # `lfe compare` names its runs; None = the latest run or a new one
        self.cfg = cfg
        self.rep = reporter or NullReporter()
        self.stop_after = stop_after
        self.new_run = new_run
        self.task = make_task(cfg.task["name"], {k: v for k, v in cfg.task.items() if k != "name"}, workspace)

    def run(self) -> RunSummary:
        t0 = time.perf_counter()
        self.workspace.mkdir(parents=True, exist_ok=True)
        items = self.task.load()  # a bad dataset row fails here, before any run row is written
        if self.cfg.train.backend == "unsloth":
            from ..train.unsloth_backend import import_unsloth

            import_unsloth()  # its patches must precede the first model load (evaluation's)
        self.store = Store(self.workspace / DB_NAME)
        ctx = None
        try:
            with watch_ctrl_c() as stop:
                self.run_id = self._open_run()
                ctx = Context(self.workspace, self.cfg, self.task, self.store, self.run_id, self.rep, stop, items)
                self.rep.run_started(self.run_id, self.cfg.run.cycles, self.task.name, str(self.workspace))
                publish(self.store, self.rep)
                done = self.store.done_stages(self.run_id)
                stopped = None
                for cycle, stage in plan(self.cfg.run.cycles):
                    if (cycle, stage) in done:
                        self.rep.stage_skipped(cycle, stage, "done earlier")
                        continue
                    run_stage(ctx, cycle, stage)
                    if self.stop_after in (stage, f"{cycle}:{stage}"):
                        stopped = f"{cycle}:{stage}"
                        break
                    if stop.requested:
                        raise StopRequested(f"after {cycle}:{stage}")
            best = best_cycle(self.store, self.run_id)
            gains = {c: g for c in range(1, self.cfg.run.cycles + 1)
                     if (g := cycle_gain(self.store, self.run_id, c, self.cfg.run.seed)) is not None}
            if stopped is None:
                self.store.finish_run(self.run_id, best, gains.get(best))
                publish(self.store, self.rep)
            self.rep.run_finished(time.perf_counter() - t0, best)
            return RunSummary(self.run_id, self.store.path, best, self.store.accuracies(self.run_id),
                              time.perf_counter() - t0, stopped, gains)
        finally:
            if ctx is not None:
                ctx.close()
            self.store.close()

    # -- which run -------------------------------------------------------------------------------
    def _open_run(self) -> str:
        fp = fingerprint(self.cfg)
        if self.wanted_run_id is not None:
            last = self.store.run(self.wanted_run_id)
            if last is None:
                return self._create_run(self.wanted_run_id, fp)
            diff = config_differences(last["config_json"], self.cfg)
            if diff:
                raise LfeError(f"{self.store.path}: run {last['run_id']} was made with a different config "
                               f"({', '.join(diff)})")
            if self.cfg.run.cycles != last["n_cycles"]:
                self.store.set_run_cycles(last["run_id"], self.cfg.run.cycles)
            return last["run_id"]
        last = self.store.latest_run()
        if last and not self.new_run:
            diff = config_differences(last["config_json"], self.cfg)
            if not diff and (last["status"] != "finished" or self.cfg.run.cycles > last["n_cycles"]):
                if self.cfg.run.cycles != last["n_cycles"]:
                    self.store.set_run_cycles(last["run_id"], self.cfg.run.cycles)
                self.rep.message(f"continuing run {last['run_id']}")
                return last["run_id"]
            if last["status"] != "finished":
                raise LfeError(
                    f"{self.store.path}: run {last['run_id']} is unfinished and its config differs in "
                    f"{', '.join(diff)}; rerun with that config to continue it, or pass --new-run")
        run_id = "run-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        while self.store.run(run_id):
            run_id += "x"
        return self._create_run(run_id, fp)

    def _create_run(self, run_id: str, fp: str) -> str:
        self.store.create_run({
            "run_id": run_id, "task": self.task.name, "strategy": self.cfg.run.strategy,
            "n_cycles": self.cfg.run.cycles,
            "fingerprint": fp, "config_json": self.cfg.model_dump_json(), "target_model": self.cfg.target.model,
            "instructor_model": self.cfg.instructor.model, "task_version": self.task.version,
            "lfe_version": __version__,
        })
        return run_id
