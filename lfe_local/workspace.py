"""What each CLI command does, as plain functions (the CLI only parses arguments)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from .config import CONFIG_NAME, PRESETS, load_config, render_toml
from .errors import LfeError
from .store import DB_NAME, Store


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


def run_workspace(workspace: Path, *, preset: str | None, cycles: int | None, new_run: bool,
                  stop_after: str | None, display: str) -> None:
    from .loop import Loop, plan
    from .tui import make_reporter

    if display not in ("auto", "rich", "plain"):
        raise LfeError(f"--display: must be auto, rich or plain, not '{display}'")
    overrides = {"run": {"cycles": cycles}} if cycles is not None else None
    cfg = load_config(workspace, preset, overrides)
    if stop_after is not None:
        names = {s for _, s in plan(cfg.run.cycles)} | {f"{c}:{s}" for c, s in plan(cfg.run.cycles)}
        if stop_after not in names:
            raise LfeError(f"--stop-after: unknown stage '{stop_after}' (stages: {', '.join(sorted({s for _, s in plan(cfg.run.cycles)}))})")
    with make_reporter(None if display == "auto" else display) as reporter:
        summary = Loop(workspace, cfg, reporter, stop_after=stop_after, new_run=new_run).run()
    console = Console()
    console.print(accuracy_table(summary))
    if summary.stopped_after:
        console.print(f"stopped after stage {summary.stopped_after}; run `lfe run` again to continue")
    console.print(f"database: {summary.db_path.resolve()}   (try: lfe sql -w {workspace} \"SELECT * FROM cycle_metrics\")")


def sql_workspace(workspace: Path, query: str | None, fmt: str, write: bool) -> int:
    from .sqlshell import format_result, interactive, run_query

    store = Store(workspace / DB_NAME, read_only=not write)
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
