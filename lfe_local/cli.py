"""The `lfe` command: parses arguments and calls the library. No logic of its own."""

from __future__ import annotations

from pathlib import Path

import typer

from . import offline  # noqa: F401
from .errors import LfeError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="lfe-local: learning from errors, locally. An instructor model studies a small "
                       "model's mistakes and writes verified training data for it; every step lands in DuckDB.")

WORKSPACE = typer.Option(Path("."), "--workspace", "-w", help="Workspace folder: lfe.toml, lfe.duckdb, runs/.")


def _fail(err: Exception) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(2)


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Workspace folder to create (default: here)."),
    workspace: Path | None = typer.Option(None, "--workspace", "-w", help="Same as DIR."),
    preset: str | None = typer.Option(None, "--preset", help="Preset to start from: demo or smoke."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing lfe.toml."),
) -> None:
    """Write a commented lfe.toml into a workspace folder."""
    from .workspace import init_workspace

    try:
        path = init_workspace(workspace or directory, preset, force)
    except LfeError as err:
        _fail(err)
    typer.echo(f"wrote {path}")


@app.command()
def doctor(
    workspace: Path = WORKSPACE,
    preset: str | None = typer.Option(None, "--preset", help="Preset under lfe.toml: demo or smoke."),
) -> None:
    """What this machine has, which engines and trainers it can use, the configured models (with
    checksums) and what is missing; exit 0 only when the configured run can start."""
    from .workspace import doctor_workspace

    raise typer.Exit(doctor_workspace(workspace, preset))


@app.command()
def run(
    workspace: Path = WORKSPACE,
    preset: str | None = typer.Option(None, "--preset", help="Preset under lfe.toml: demo or smoke."),
    cycles: int | None = typer.Option(None, "--cycles", min=0, help="Improvement cycles (overrides run.cycles)."),
    new_run: bool = typer.Option(False, "--new-run", help="Start a new run even if the last one is unfinished."),
    stop_after: str | None = typer.Option(None, "--stop-after", metavar="STAGE",
                                             help="Stop after this stage (e.g. instruct, or 1:train); rerun to continue."),
    display: str = typer.Option("auto", "--display", help="auto, rich or plain."),
    strategy: str | None = typer.Option(None, "--strategy",
                                        help="le, lec, both, sft or aug (overrides run.strategy)."),
) -> None:
    """Run (or continue) the learning-from-errors loop in a workspace."""
    from .loop import StopRequested
    from .workspace import run_workspace

    try:
        run_workspace(workspace, preset=preset, cycles=cycles, new_run=new_run, stop_after=stop_after,
                      display=display, strategy=strategy)
    except LfeError as err:
        _fail(err)
    except StopRequested as stop:
        typer.echo(f"stopped {stop}: finished stages are saved; run `lfe run` again to continue", err=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: finished stages are saved; run `lfe run` again to continue", err=True)
        raise typer.Exit(130) from None


@app.command()
def compare(
    strategies: str = typer.Option("le,lec,both,sft,aug", "--strategies", help="Comma-separated strategies to compare."),
    workspace: Path = WORKSPACE,
    preset: str | None = typer.Option(None, "--preset", help="Preset under lfe.toml: demo or smoke."),
    cycles: int | None = typer.Option(None, "--cycles", min=1, help="Improvement cycles per run (overrides run.cycles)."),
    seeds: str | None = typer.Option(None, "--seeds", help="Comma-separated seeds, one run per strategy and seed "
                                                            "(default: run.seed)."),
    new: bool = typer.Option(False, "--new", help="Start a new comparison even if the last matching one is unfinished."),
    display: str = typer.Option("auto", "--display", help="auto, rich or plain."),
) -> None:
    """Run each strategy from the same base target, budget and seeds; print test accuracy per
    strategy and cycle with 95% paired bootstrap intervals against cycle 0."""
    from .loop import StopRequested
    from .workspace import compare_workspace

    try:
        compare_workspace(workspace, strategies=strategies, seeds=seeds, preset=preset, cycles=cycles, new=new,
                          display=display)
    except LfeError as err:
        _fail(err)
    except StopRequested as stop:
        typer.echo(f"stopped {stop}: finished stages are saved; run the same `lfe compare` again to continue",
                   err=True)
        raise typer.Exit(130) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: finished stages are saved; run the same `lfe compare` again to continue", err=True)
        raise typer.Exit(130) from None


@app.command()
def tasks(workspace: Path = WORKSPACE) -> None:
    """List the tasks, their data files and split sizes (the workspace's lfe.toml options for its task)."""
    from rich.console import Console

    from .workspace import tasks_table

    try:
        Console().print(tasks_table(workspace))
    except LfeError as err:
        _fail(err)


@app.command()
def score(
    task: str = typer.Option(..., "--task", help="Task whose scorer to use (see `lfe tasks`)."),
    responses: Path = typer.Option(..., "--responses", help='JSONL: {"id" or "task_id", "response" or "completion"} per line.'),
    data: Path | None = typer.Option(None, "--data", help="The task's data file with the gold (not needed for humaneval or arith)."),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds per program for code tasks (default 3)."),
    scorer: str = typer.Option("strict", "--scorer",
                               help="strict (lfe-local's: one committed answer), paper (the reference "
                                    "implementation's extraction) or both (both accuracies and the responses "
                                    "they judge differently)."),
) -> None:
    """Score responses made elsewhere: one JSON object per response on stdout (id, extracted, correct,
    failure, detail), the accuracy summary on stderr. No model is loaded."""
    from .workspace import score_file

    try:
        score_file(task, data, responses, timeout, scorer)
    except LfeError as err:
        _fail(err)


@app.command()
def export(
    what: str = typer.Option(..., "--what", help="dataset (accepted samples as chat-messages JSONL), adapter "
                                                 "(the cycle's peft LoRA folder) or merged (the target with it "
                                                 "merged in, an HF model folder)."),
    out: Path = typer.Option(..., "--out", help="Folder to create (must not exist, or be empty)."),
    workspace: Path = WORKSPACE,
    run_id: str | None = typer.Option(None, "--run", help="Run id (default: the workspace's latest run)."),
    cycle: int | None = typer.Option(None, "--cycle", help="Cycle (default: dataset, every cycle; adapter and "
                                                           "merged, the best cycle, or the last one trained)."),
) -> None:
    """Take a run's accepted dataset, its LoRA adapter, or the merged target out of the workspace."""
    from .export import export as export_run

    try:
        done = export_run(workspace, what, out, run_id=run_id, cycle=cycle, log=lambda m: typer.echo(m, err=True))
    except LfeError as err:
        _fail(err)
    which = "every cycle" if done.cycle is None else f"cycle {done.cycle}"
    count = f", {done.n_samples} samples" if done.n_samples is not None else ""
    typer.echo(f"exported the {done.what} of run {done.run_id} ({which}{count}) to {done.out}")


@app.command()
def report(
    workspace: Path = WORKSPACE,
    run_id: str | None = typer.Option(None, "--run", help="Run id (default: the workspace's latest run)."),
    out: Path | None = typer.Option(None, "--out", help="HTML file to write (default: WORKSPACE/report-RUN.html)."),
    png: Path | None = typer.Option(None, "--png", help="Also write each plot as a PNG into this folder."),
) -> None:
    """One self-contained HTML file of a run: accuracy with intervals, error types, the sample
    funnel, training loss, stage times, and the strategies side by side for `lfe compare` runs."""
    from .report import build_report

    try:
        path, from_snapshot = build_report(workspace, run_id=run_id, out=out, png_dir=png)
    except LfeError as err:
        _fail(err)
    typer.echo(f"wrote {path}" + (" (from the running run's snapshot)" if from_snapshot else ""))


@app.command()
def sql(
    query: str | None = typer.Argument(None, help="SQL to run; without it, an interactive prompt."),
    workspace: Path = WORKSPACE,
    fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    write: bool = typer.Option(False, "--write", help="Open the database read-write (default read-only)."),
) -> None:
    """Query the workspace's DuckDB file (tables and the documented views)."""
    from .workspace import sql_workspace

    if fmt not in ("table", "csv", "json"):
        _fail(LfeError(f"--format: must be table, csv or json, not '{fmt}'"))
    try:
        code = sql_workspace(workspace, query, fmt, write)
    except LfeError as err:
        _fail(err)
    raise typer.Exit(code)

