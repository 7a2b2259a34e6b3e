"""Progress reporting for the learning loop.

The loop only ever calls a `Reporter`; reporters never call back into the loop, so a display
problem can't change what gets trained or recorded. `make_reporter` picks a live Rich display
for terminals and timestamped plain lines for everything else (CI logs, pipes, files).
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from .errors import LfeError

# Splits always shown first, in this order; any other split name gets a column after them.
SPLITS = ("train", "val", "test")


def format_duration(seconds: float) -> str:
    """Compact human duration: 4.2s, 1m05s, 2h03m."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f}s"
    total = int(round(seconds))
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _pct(accuracy: float) -> str:
    return f"{accuracy * 100:.1f}%"


class Reporter:
    """What the loop calls. Every method is a no-op here, so subclasses override only what they show."""

    def run_started(self, run_id: str, n_cycles: int, task: str, workspace: str) -> None:
        pass

    def stage_started(self, cycle: int, stage: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass

    def stage_finished(self, cycle: int, stage: str, seconds: float, summary: str = "") -> None:
        pass

    def stage_skipped(self, cycle: int, stage: str, reason: str) -> None:
        pass

    def metric(self, cycle: int, split: str, accuracy: float, n_items: int) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def run_finished(self, seconds: float, best_cycle: int | None) -> None:
        pass

    def start(self) -> None:
        """Start any live display. Called by `__enter__`."""

    def stop(self) -> None:
        """Stop any live display; must be safe to call twice. Called by `__exit__`."""

    def aborted(self, exc: BaseException) -> None:
        """The run died with `exc` while the reporter was active; called before `stop`."""

    def __enter__(self) -> Reporter:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        try:
            # A user error (LfeError) is printed once, as one line, by the CLI; repeating it here
            # would break the one-line promise.
            if exc is not None and not isinstance(exc, LfeError):
                self.aborted(exc)
        finally:
            # Always restore the terminal, even if reporting the failure itself failed.
            self.stop()
        return False


class NullReporter(Reporter):
    """Reports nothing; for library use and tests."""


class _StageState:
    """Shared bookkeeping for the current stage, so both reporters agree on rate and ETA."""

    def __init__(self, cycle: int, stage: str, total: int | None, started: float) -> None:
        self.cycle = cycle
        self.stage = stage
        self.total = total if total is None or total >= 0 else None
        self.started = started
        self.done = 0

    def rate(self, now: float) -> float | None:
        elapsed = now - self.started
        if elapsed <= 0 or self.done <= 0:
            return None
        return self.done / elapsed

    def eta(self, now: float) -> float | None:
        rate = self.rate(now)
        if rate is None or self.total is None:
            return None
        return max(self.total - self.done, 0) / rate


class PlainReporter(Reporter):
    """Timestamped plain lines, no ANSI codes; for CI logs and pipes.

    Progress lines appear when a stage crosses a 10% boundary or 30 s after the last progress
    line, whichever comes first. There is no timer thread: the check runs on `advance`, so a
    stage that stops advancing also stops printing, which is what a log reader wants.
    """

    PROGRESS_FRACTION = 0.10
    PROGRESS_SECONDS = 30.0

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        timestamp: Callable[[], str] | None = None,
    ) -> None:
        self._stream = stream if stream is not None else sys.stdout
        self._clock = clock
        self._timestamp = timestamp or (lambda: datetime.now().strftime("%H:%M:%S"))
        self._n_cycles: int | None = None
        self._stage: _StageState | None = None
        self._last_step = 0  # index of the last 10% step reported
        self._last_line_at = 0.0

    def _emit(self, text: str) -> None:
        self._stream.write(f"[{self._timestamp()}] {text}\n")
        # Flush per line: CI runners and `| tee` otherwise show nothing until the buffer fills.
        self._stream.flush()

    def _cycle(self, cycle: int) -> str:
        return f"cycle {cycle}/{self._n_cycles}" if self._n_cycles else f"cycle {cycle}"

    def run_started(self, run_id: str, n_cycles: int, task: str, workspace: str) -> None:
        self._n_cycles = n_cycles
        self._emit(f"run {run_id} started: task {task}, {n_cycles} cycles, workspace {workspace}")

    def stage_started(self, cycle: int, stage: str, total: int | None = None) -> None:
        now = self._clock()
        self._stage = _StageState(cycle, stage, total, now)
        self._last_step = 0
        self._last_line_at = now
        units = f" ({total} items)" if total is not None else ""
        self._emit(f"{self._cycle(cycle)} {stage} started{units}")

    def advance(self, n: int = 1) -> None:
        st = self._stage
        if st is None:
            return
        st.done += n
        now = self._clock()
        if st.total:
            if st.done >= st.total:
                return  # the stage_finished line says it all
            step = int(st.done / st.total / self.PROGRESS_FRACTION)
            if step > self._last_step:
                self._progress_line(st, now, step)
                return
        if now - self._last_line_at >= self.PROGRESS_SECONDS:
            step = int(st.done / st.total / self.PROGRESS_FRACTION) if st.total else 0
            self._progress_line(st, now, step)

    def _progress_line(self, st: _StageState, now: float, step: int) -> None:
        self._last_step = step
        self._last_line_at = now
        rate = st.rate(now)
        rate_s = f"{rate:.1f}/s" if rate is not None else "?/s"
        if st.total:
            eta = st.eta(now)
            pct = int(100 * st.done / st.total)
            self._emit(
                f"{self._cycle(st.cycle)} {st.stage} {st.done}/{st.total} ({pct}%) "
                f"{rate_s} eta {format_duration(eta) if eta is not None else '?'}"
            )
        else:
            self._emit(f"{self._cycle(st.cycle)} {st.stage} {st.done} done {rate_s}")

    def stage_finished(self, cycle: int, stage: str, seconds: float, summary: str = "") -> None:
        self._stage = None
        tail = f": {summary}" if summary else ""
        self._emit(f"{self._cycle(cycle)} {stage} finished in {format_duration(seconds)}{tail}")

    def stage_skipped(self, cycle: int, stage: str, reason: str) -> None:
        self._emit(f"{self._cycle(cycle)} {stage} skipped: {reason}")

    def metric(self, cycle: int, split: str, accuracy: float, n_items: int) -> None:
        self._emit(f"{self._cycle(cycle)} {split} accuracy {_pct(accuracy)} ({n_items} items)")

    def message(self, text: str) -> None:
        self._emit(text)

    def run_finished(self, seconds: float, best_cycle: int | None) -> None:
        best = f"best cycle {best_cycle}" if best_cycle is not None else "no best cycle"
        self._emit(f"run finished in {format_duration(seconds)}, {best}")

    def aborted(self, exc: BaseException) -> None:
        st = self._stage
        where = f"{self._cycle(st.cycle)} {st.stage}" if st else "run"
        detail = f": {exc}" if str(exc) else ""
        self._emit(f"{where} aborted: {type(exc).__name__}{detail}")


class _RateColumn(ProgressColumn):
    """Items per second; Rich's own speed column assumes bytes."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("-/s", style="progress.data.speed")
        return Text(f"{speed:.1f}/s", style="progress.data.speed")


class _EtaColumn(ProgressColumn):
    """ "eta 1m05s"; blank for indeterminate stages, where no estimate is possible."""

    def render(self, task: Task) -> Text:
        if task.total is None or task.finished:
            return Text("")
        remaining = task.time_remaining
        return Text(
            f"eta {format_duration(remaining) if remaining is not None else '?'}", style="progress.remaining"
        )


class RichReporter(Reporter):
    """One Rich `Live` area: header, current-stage progress bar, accuracy table.

    Finished and skipped stages, metrics and messages are printed above the live area so the
    run's history scrolls up normally while the live part stays at the bottom.
    """

    def __init__(self, console: Console | None = None, *, refresh_per_second: float = 8) -> None:
        self.console = console or Console()
        self._lock = threading.RLock()
        self._run_id = ""
        self._task_name = ""
        self._n_cycles: int | None = None
        self._cycle: int | None = None
        self._stage = ""
        self._accuracy: dict[int, dict[str, float]] = {}
        self._splits: list[str] = list(SPLITS)
        self._stage_started = 0.0
        # auto_refresh=False: the Progress must never start its own Live, since Rich allows only
        # one per console; ours renders it as part of the group.
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _RateColumn(),
            TimeElapsedColumn(),
            _EtaColumn(),
            console=self.console,
            auto_refresh=False,
        )
        self._task_id: TaskID | None = None
        self._live: Live | None = None
        self._refresh_per_second = refresh_per_second

    # live display

    def start(self) -> None:
        with self._lock:
            if self._live is not None:
                return
            self._live = Live(
                console=self.console,
                get_renderable=self._render,
                refresh_per_second=self._refresh_per_second,
                transient=False,
            )
            self._live.start()

    def stop(self) -> None:
        with self._lock:
            live, self._live = self._live, None
        if live is not None:
            live.stop()

    def _refresh(self) -> None:
        live = self._live
        if live is not None:
            live.refresh()

    def _header(self) -> Text:
        parts = ["lfe"]
        if self._run_id:
            parts.append(f"run {self._run_id}")
        if self._task_name:
            parts.append(f"task {self._task_name}")
        if self._cycle is not None:
            parts.append(
                f"cycle {self._cycle}/{self._n_cycles}" if self._n_cycles else f"cycle {self._cycle}"
            )
        if self._stage:
            parts.append(self._stage)
        return Text(" · ".join(parts), style="bold")

    def _accuracy_table(self) -> Table:
        table = Table(box=None, padding=(0, 2), show_edge=False, header_style="bold dim")
        table.add_column("cycle", justify="right")
        for split in self._splits:
            table.add_column(split, justify="right")
        for cycle in sorted(self._accuracy):
            row = self._accuracy[cycle]
            table.add_row(str(cycle), *(_pct(row[s]) if s in row else "" for s in self._splits))
        return table

    def _render(self) -> RenderableType:
        # Called from Live's refresh thread too, hence the lock around reading shared state.
        with self._lock:
            parts: list[RenderableType] = [self._header()]
            if self._task_id is not None:
                parts.append(self._progress.get_renderable())
            if self._accuracy:
                parts.append(self._accuracy_table())
            return Group(*parts)

    def _log(self, text: Text | str) -> None:
        line = Text(datetime.now().strftime("%H:%M:%S "), style="dim")
        line.append(text if isinstance(text, Text) else Text(text))
        # Printing through the console while Live runs places the line above the live area.
        self.console.print(line, highlight=False)

    def _where(self, cycle: int, stage: str) -> str:
        return f"cycle {cycle}/{self._n_cycles} {stage}" if self._n_cycles else f"cycle {cycle} {stage}"

    def _drop_task(self) -> None:
        if self._task_id is not None:
            self._progress.remove_task(self._task_id)
            self._task_id = None

    # events

    def run_started(self, run_id: str, n_cycles: int, task: str, workspace: str) -> None:
        with self._lock:
            self._run_id, self._n_cycles, self._task_name = run_id, n_cycles, task
        self._log(
            Text.assemble(
                ("run ", "bold"), (run_id, "bold cyan"), f" · task {task} · {n_cycles} cycles · {workspace}"
            )
        )
        self._refresh()

    def stage_started(self, cycle: int, stage: str, total: int | None = None) -> None:
        with self._lock:
            self._drop_task()
            self._cycle, self._stage = cycle, stage
            self._stage_started = time.monotonic()
            self._task_id = self._progress.add_task(
                stage, total=total if total is None or total >= 0 else None
            )
        self._refresh()

    def advance(self, n: int = 1) -> None:
        with self._lock:
            if self._task_id is not None:
                self._progress.advance(self._task_id, n)

    def stage_finished(self, cycle: int, stage: str, seconds: float, summary: str = "") -> None:
        with self._lock:
            self._drop_task()
            self._stage = ""
        line = Text.assemble(
            ("✓ ", "green"), self._where(cycle, stage), (f"  {format_duration(seconds)}", "dim")
        )
        if summary:
            line.append(f"  {summary}")
        self._log(line)
        self._refresh()

    def stage_skipped(self, cycle: int, stage: str, reason: str) -> None:
        self._log(Text.assemble(("- ", "yellow"), self._where(cycle, stage), (f"  skipped: {reason}", "dim")))

    def metric(self, cycle: int, split: str, accuracy: float, n_items: int) -> None:
        with self._lock:
            self._accuracy.setdefault(cycle, {})[split] = accuracy
            if split not in self._splits:
                self._splits.append(split)
        self._log(f"  cycle {cycle} {split} accuracy {_pct(accuracy)} ({n_items} items)")
        self._refresh()

    def message(self, text: str) -> None:
        self._log(text)

    def run_finished(self, seconds: float, best_cycle: int | None) -> None:
        with self._lock:
            self._drop_task()
            self._stage = "done"
        best = f"best cycle {best_cycle}" if best_cycle is not None else "no best cycle"
        self._log(Text.assemble(("run finished", "bold"), f" in {format_duration(seconds)}, {best}"))
        self._refresh()

    def aborted(self, exc: BaseException) -> None:
        with self._lock:
            where = (
                self._where(self._cycle, self._stage) if self._stage and self._cycle is not None else "run"
            )
            elapsed = time.monotonic() - self._stage_started if self._stage else None
            self._drop_task()
            self._stage = "aborted"
        took = f" after {format_duration(elapsed)}" if elapsed is not None else ""
        self._log(
            Text.assemble(
                ("✗ ", "red"), where, f" aborted{took}: {type(exc).__name__}", (f" {exc}" if str(exc) else "")
            )
        )


def make_reporter(force: str | None = None) -> Reporter:
    """Rich display on a terminal, plain lines otherwise; `force` is "rich" or "plain"."""
    if force is not None and force not in ("rich", "plain"):
        raise ValueError(f"unknown reporter {force!r} (expected 'rich' or 'plain')")
    kind = force
    if kind is None:
        isatty = getattr(sys.stdout, "isatty", None)
        kind = "rich" if isatty is not None and isatty() else "plain"
    if kind == "rich":
        return RichReporter(Console())
    return PlainReporter(sys.stdout)
