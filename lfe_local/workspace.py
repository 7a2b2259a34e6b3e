"""What each CLI command does, as plain functions (the CLI only parses arguments)."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import sys
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config import CONFIG_NAME, PRESETS, STRATEGIES, load_config, render_toml
from .errors import WRITE_REFUSED_HINT, LfeError
from .store import DB_NAME, SNAPSHOT_NAME, Store, open_reader


def init_workspace(directory: Path, preset: str | None, force: bool) -> Path:
    if preset is not None and preset not in PRESETS:
        raise LfeError(f"--preset: unknown preset '{preset}' (known: {', '.join(PRESETS)})")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CONFIG_NAME
    if path.exists() and not force:
        raise LfeError(f"{path}: already exists (pass --force to overwrite)")
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(render_toml(preset))
    tmp.replace(path)
    return path


def accuracy_table(summary) -> Table:
    table = Table(title=f"run {summary.run_id}: accuracy per cycle")
    splits = ["train", "val", "test"]
    table.add_column("cycle", justify="right")
    for s in splits:
        table.add_column(s, justify="right")
    by_cycle: dict[int, dict[str, dict]] = {}
    for row in summary.accuracies:
        by_cycle.setdefault(row["cycle"], {})[row["split"]] = row
    for cycle in sorted(by_cycle):
        cells = []
        for s in splits:
            r = by_cycle[cycle].get(s)
            cells.append(f"{r['accuracy']:.1%} (n={r['n_items']})" if r else "-")
        label = f"{cycle} (best on val)" if cycle == summary.best_cycle else str(cycle)
        table.add_row(label, *cells)
    return table


# The file system refusing a write: a full disk, a read-only workspace, a quota, a size limit.
_DISK_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.EFBIG}


@contextlib.contextmanager
def disk_errors(workspace: Path) -> Iterator[None]:
    """A write the file system refuses (an adapter's weights, a run folder) ends the command with
    one line naming the file; the database keeps every stage committed before it."""
    try:
        yield
    except OSError as err:
        if err.errno not in _DISK_ERRNOS:
            raise
        where = err.filename or workspace
        raise LfeError(f"{where}: {err.strerror}; {WRITE_REFUSED_HINT}") from None


def _check_display(display: str) -> None:
    if display not in ("auto", "rich", "plain"):
        raise LfeError(f"--display: must be auto, rich or plain, not '{display}'")


def _overrides(cycles: int | None, strategy: str | None) -> dict:
    run = {k: v for k, v in (("cycles", cycles), ("strategy", strategy)) if v is not None}
    return {"run": run} if run else {}


def run_workspace(workspace: Path, *, preset: str | None, cycles: int | None, new_run: bool,
                  stop_after: str | None, display: str, strategy: str | None = None) -> None:
    from .loop import Loop, plan
    from .tui import make_reporter

    _check_display(display)
    if strategy is not None and strategy not in STRATEGIES:
        raise LfeError(f"--strategy: unknown strategy '{strategy}' (known: {', '.join(STRATEGIES)})")
    cfg = load_config(workspace, preset, _overrides(cycles, strategy))
    if stop_after is not None:
        names = {s for _, s in plan(cfg.run.cycles)} | {f"{c}:{s}" for c, s in plan(cfg.run.cycles)}
        if stop_after not in names:
            raise LfeError(f"--stop-after: unknown stage '{stop_after}' (stages: {', '.join(sorted({s for _, s in plan(cfg.run.cycles)}))})")
    with disk_errors(workspace), make_reporter(None if display == "auto" else display) as reporter:
        summary = Loop(workspace, cfg, reporter, stop_after=stop_after, new_run=new_run).run()
    console = Console()
    console.print(accuracy_table(summary))
    for cycle, g in (summary.test_gains or {}).items():
        verdict = "the interval excludes 0" if g["test_ci_low"] > 0 or g["test_ci_high"] < 0 else \
            "the interval includes 0: not distinguishable from no change"
        label = f"cycle {cycle}" + (" (best on val)" if cycle == summary.best_cycle else "")
        console.print(f"{label}: test {g['test_base']:.1%} -> {g['test_best']:.1%}, {g['test_delta'] * 100:+.1f} "
                      f"points vs cycle 0, 95% paired bootstrap interval [{g['test_ci_low'] * 100:+.1f}, "
                      f"{g['test_ci_high'] * 100:+.1f}] over {g['test_items']} test items; {verdict}")
    if summary.best_cycle == 0 and summary.stopped_after is None:
        console.print("val chose cycle 0: no cycle improved on the base target (run_results has no gain)")
    if summary.stopped_after:
        console.print(f"stopped after stage {summary.stopped_after}; run `lfe run` again to continue")
    console.print(f"database: {summary.db_path.resolve()}   (try: lfe sql -w {workspace} \"SELECT * FROM run_results\")")


def comparison_table(summary) -> Table:
    cycles = sorted({r["cycle"] for r in summary.results})
    seeds = ", ".join(map(str, summary.seeds))
    table = Table(title=f"{summary.compare_id}: test accuracy per strategy and cycle (seeds {seeds}); "
                        "change vs cycle 0 with 95% paired bootstrap interval")
    table.add_column("strategy")
    for c in cycles:
        table.add_column(f"cycle {c}", justify="right")
    for strategy in summary.strategies:
        cells = []
        for c in cycles:
            r = next((r for r in summary.results if r["strategy"] == strategy and r["cycle"] == c), None)
            if r is None:
                cells.append("-")
            elif c == 0:
                cells.append(f"{r['accuracy']:.1%}")
            else:
                mark = " *" if r["significant"] else ""
                cells.append(f"{r['accuracy']:.1%} ({r['delta'] * 100:+.1f} [{r['ci_low'] * 100:+.1f}, "
                             f"{r['ci_high'] * 100:+.1f}]){mark}")
        table.add_row(strategy, *cells)
    n = summary.results[0]["n_items"] if summary.results else 0
    table.caption = (f"n = {n} test items; changes in points; * = the interval excludes 0. "
                     f"Query: SELECT * FROM strategy_comparison WHERE compare_id = '{summary.compare_id}'")
    return table


def compare_workspace(workspace: Path, *, strategies: str, seeds: str | None, preset: str | None,
                      cycles: int | None, new: bool, display: str) -> None:
    from .compare import compare, parse_seeds, parse_strategies
    from .tui import make_reporter

    _check_display(display)
    names = parse_strategies(strategies)
    seed_list = parse_seeds(seeds) if seeds is not None else None
    cfg = load_config(workspace, preset, _overrides(cycles, None))
    console = Console()

    def announce(strategy: str, seed: int, run_id: str, i: int, n: int) -> None:
        console.print(f"[bold]compare {i}/{n}[/bold]: strategy {strategy}, seed {seed} -> run {run_id}")

    with disk_errors(workspace):
        summary = compare(workspace, cfg, names, seed_list, new=new,
                          reporter=lambda: make_reporter(None if display == "auto" else display), on_run=announce)
    if summary.reused:
        console.print(f"comparison {summary.compare_id} had already finished with this config; its results "
                      "(pass --new to run it again):")
    console.print(comparison_table(summary))
    console.print(f"{len(summary.runs)} runs, {summary.seconds / 60:.1f} min; database: {summary.db_path.resolve()}")


def snapshot_note(snapshot: Path) -> str:
    when = dt.datetime.fromtimestamp(snapshot.stat().st_mtime).strftime("%H:%M:%S")
    return (f"note: {DB_NAME} is held by a running `lfe run`; reading {SNAPSHOT_NAME}, "
            f"as of its last finished stage ({when})")


def sql_workspace(workspace: Path, query: str | None, fmt: str, write: bool) -> int:
    from .sqlshell import format_result, interactive, run_query

    if write:
        store = Store(workspace / DB_NAME)
    else:
        store, snapshot = open_reader(workspace / DB_NAME)
        if snapshot:
            print(snapshot_note(store.path), file=sys.stderr)
    try:
        if query is None:
            interactive(store.con, Console())
            return 0
        try:
            columns, rows = run_query(store.con, query)
        except Exception as err:  # a SQL error is the user's input, not a crash
            raise LfeError(str(err).splitlines()[0]) from None
        out = format_result(columns, rows, fmt)
        if out:
            print(out)
        return 0
    finally:
        store.close()


def tasks_table(workspace: Path) -> Table:
    """Every task with its data files and split sizes: the workspace's configured options for its
    own task, the defaults for the others (a task that needs a file it was not given says so)."""
    from .config import CONFIG_NAME
    from .tasks import DESCRIPTIONS, TASKS, task_and_files

    configured: dict = {}
    if (workspace / CONFIG_NAME).exists():
        configured = load_config(workspace).task
    table = Table(title="tasks (choose one in lfe.toml: \\[task] name = ...)")
    for column in ("task", "version", "description", "files", "train", "val", "test"):
        table.add_column(column, justify="right" if column in ("version", "train", "val", "test") else "left")
    for name in TASKS:
        options = {k: v for k, v in configured.items() if k != "name"} if configured.get("name") == name else {}
        try:
            task, files = task_and_files(name, options, workspace)
            splits = task.load()
        except LfeError as err:
            table.add_row(name, str(TASKS[name][0].version), DESCRIPTIONS.get(name, ""), escape(str(err)), "-", "-", "-")
            continue
        shown = "\n".join(f"{k} = {v}" for k, v in files.items()) or "(generated)"
        table.add_row(name, str(task.version), DESCRIPTIONS.get(name, ""), shown,
                      *(str(len(splits[s])) for s in ("train", "val", "test")))
    return table


def score_file(task_name: str, data: Path | None, responses: Path, timeout_s: float | None = None,
               scorer: str = "strict") -> None:
    """`lfe score`: one JSON object per response on stdout, the summary on stderr."""
    import json
    import sys

    from .scoring import SCORE_MODES, read_responses, score_responses, summary_lines
    from .tasks import TASKS, make_task

    if task_name not in TASKS:
        raise LfeError(f"--task: unknown task '{task_name}' (known: {', '.join(TASKS)})")
    if scorer not in SCORE_MODES:
        raise LfeError(f"--scorer: must be {', '.join(SCORE_MODES[:-1])} or {SCORE_MODES[-1]}, not '{scorer}'")
    options_model = TASKS[task_name][1]
    path_field = options_model.model_fields.get("path")
    if data is None and path_field is not None and path_field.is_required():
        raise LfeError(f"--data: task {task_name} has no bundled data; pass --data FILE")
    options = {"path": data} if data is not None and path_field is not None else {}
    if timeout_s is not None:
        if "timeout_s" not in options_model.model_fields:
            raise LfeError(f"--timeout: task {task_name} runs no code")
        options["timeout_s"] = timeout_s
    task = make_task(task_name, options, Path.cwd())
    items = task.items_from(data)
    rows = []
    for row in score_responses(task, items, read_responses(responses), str(data or f"the bundled {task_name} data"),
                               scorer):
        print(json.dumps(row))
        rows.append(row)
    sys.stdout.flush()  # the JSON lines before the summary, when both go to one terminal
    print("\n".join(summary_lines(rows, len(items), scorer)), file=sys.stderr)


def doctor_workspace(workspace: Path, preset: str | None) -> int:
    """Print what the machine has and what the configured run needs; 0 when that run can start."""
    from .doctor import diagnose, ready

    facts, checks = diagnose(lambda: load_config(workspace, preset))
    console = Console()
    table = Table(title="this machine", show_header=False)
    for key, value in facts:
        table.add_row(key, escape(value))
    console.print(table)
    # One line per check, never cut: a user copies paths, checksums and the fix command from here.
    console.print(f"the run configured in {escape(str(workspace / CONFIG_NAME))}:")
    for c in checks:
        mark = "ok" if c.ok else ("MISSING" if c.required else "optional")
        console.print(f"  {mark:<8} {escape(c.what)}: {escape(c.detail)}", soft_wrap=True, crop=False)
        if c.fix and not c.ok:
            console.print(f"  {'':<8} fix: {escape(c.fix)}", soft_wrap=True, crop=False)
    good = ready(checks)
    console.print("ready: the configured run can start" if good else "not ready: see the rows marked MISSING")
    return 0 if good else 1
