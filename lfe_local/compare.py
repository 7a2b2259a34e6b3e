"""`lfe compare`: the same base target, budget and seeds under several strategies, one run each in
the workspace's DuckDB file, then test accuracy per strategy and cycle with paired bootstrap
intervals against cycle 0 (stored in `comparison_results`, shown by the `strategy_comparison` view).

Cycle 0 is evaluated once: the other runs copy it (`run.reuse_base_eval`), so a comparison costs
one base evaluation plus each strategy's cycles.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import STRATEGIES, Config
from .errors import LfeError
from .loop import Loop, fingerprint
from .stats import paired_bootstrap
from .store import DB_NAME, Store
from .tui import Reporter


def parse_strategies(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in STRATEGIES]
    if bad or not names:
        raise LfeError(f"--strategies: unknown strategy '{bad[0] if bad else text}' (known: {', '.join(STRATEGIES)})")
    if len(set(names)) != len(names):
        raise LfeError(f"--strategies: a strategy is named twice in '{text}'")
    return names


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise LfeError(f"--seeds: expected comma-separated integers, not '{text}'") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise LfeError(f"--seeds: expected distinct comma-separated integers, not '{text}'")
    return seeds


def shared_fingerprint(cfg: Config) -> str:
    """The config every run of a comparison shares (all but strategy, seed and cycles)."""
    return fingerprint(cfg, ignore=("strategy", "seed", "cycles"))


@dataclass
class CompareSummary:
    compare_id: str
    db_path: Path
    strategies: list[str]
    seeds: list[int]
    results: list[dict]  # rows of strategy_comparison
    runs: dict[tuple[str, int], str]
    seconds: float
    reused: bool = False  # an identical comparison had already finished: its results, nothing rerun


def _open(store: Store, cfg: Config, strategies: list[str], seeds: list[int], new: bool) -> tuple[str, bool]:
    """The comparison to work on, and whether it is already complete: an unfinished matching one
    is continued, a finished one with as many cycles is only reported (unless `new`)."""
    fp, strat_text, seed_text = shared_fingerprint(cfg), ",".join(strategies), ",".join(map(str, seeds))
    last = store.latest_comparison(fp, strat_text, seed_text)
    if last and not new:
        if last["status"] != "finished" or cfg.run.cycles > last["n_cycles"]:
            return last["compare_id"], False
        if cfg.run.cycles == last["n_cycles"]:
            return last["compare_id"], True
    compare_id = "cmp-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    store.create_comparison({"compare_id": compare_id, "task": cfg.task["name"], "strategies": strat_text,
                             "seeds": seed_text, "n_cycles": cfg.run.cycles, "fingerprint": fp})
    return compare_id, False


def results(store: Store, compare_id: str, strategies: list[str], seeds: list[int], n_cycles: int,
            runs: dict[tuple[str, int], str]) -> list[dict]:
    """One row per strategy and cycle: mean test accuracy over seeds, and the paired bootstrap
    interval of its difference to cycle 0 (the same runs' base evaluation, item by item)."""
    rows = []
    for strategy in strategies:
        outcomes = [store.test_outcomes(runs[(strategy, seed)]) for seed in seeds]
        if any(0 not in o for o in outcomes):
            continue
        items = sorted(set.intersection(*(set(o[0]) for o in outcomes)))
        base = np.array([[o[0][i] for i in items] for o in outcomes])
        for cycle in range(n_cycles + 1):
            if any(cycle not in o or set(o[cycle]) != set(o[0]) for o in outcomes):
                continue
            treat = np.array([[o[cycle][i] for i in items] for o in outcomes])
            d = paired_bootstrap(treat, base, seed=cycle)
            rows.append({"compare_id": compare_id, "strategy": strategy, "cycle": cycle, "n_seeds": len(seeds),
                         "n_items": len(items), "accuracy": d.accuracy, "base_accuracy": d.base, "delta": d.delta,
                         "ci_low": d.low, "ci_high": d.high})
    return rows


def compare(workspace: Path, cfg: Config, strategies: list[str], seeds: list[int] | None, *,
            new: bool = False, reporter: Callable[[], Reporter] | None = None,
            on_run: Callable[[str, int, str, int, int], None] | None = None) -> CompareSummary:
    """Run (or continue) every (strategy, seed) run, then compute and store the comparison.
    `reporter` makes a fresh display per run; `on_run(strategy, seed, run_id, i, n)` announces each."""
    t0 = time.perf_counter()
    seeds = seeds or [cfg.run.seed]
    workspace.mkdir(parents=True, exist_ok=True)
    with Store(workspace / DB_NAME) as store:
        compare_id, complete = _open(store, cfg, strategies, seeds, new)
        runs = store.comparison_runs(compare_id)
        if complete:
            table = store.comparison_results(compare_id)
            return CompareSummary(compare_id, store.path, strategies, seeds, table, runs, time.perf_counter() - t0,
                                  reused=True)
    plan = [(s, seed) for seed in seeds for s in strategies]
    for i, (strategy, seed) in enumerate(plan, 1):
        run_id = runs.get((strategy, seed)) or f"{compare_id}-{strategy}-s{seed}"
        if (strategy, seed) not in runs:
            with Store(workspace / DB_NAME) as store:  # recorded before the run starts, so a resume finds it
                store.add_comparison_run(compare_id, strategy, seed, run_id)
            runs[(strategy, seed)] = run_id
        run_cfg = cfg.model_copy(deep=True)
        run_cfg.run.strategy = strategy
        run_cfg.run.seed = seed
        if on_run:
            on_run(strategy, seed, run_id, i, len(plan))
        if reporter is None:
            Loop(workspace, run_cfg, run_id=run_id).run()
        else:
            with reporter() as rep:
                Loop(workspace, run_cfg, rep, run_id=run_id).run()
    with Store(workspace / DB_NAME) as store:
        rows = results(store, compare_id, strategies, seeds, cfg.run.cycles, runs)
        store.finish_comparison(compare_id, rows, cfg.run.cycles)
        table = store.comparison_results(compare_id)
    return CompareSummary(compare_id, workspace / DB_NAME, strategies, seeds, table, runs, time.perf_counter() - t0)
