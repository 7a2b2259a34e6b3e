import io
import re
import sys

import pytest
from rich.console import Console

from lfe_local.tui import (
    NullReporter,
    PlainReporter,
    Reporter,
    RichReporter,
    format_duration,
    make_reporter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def plain():
    buf = io.StringIO()
    clock = FakeClock()
    return PlainReporter(buf, clock=clock, timestamp=lambda: "12:00:00"), buf, clock


def lines_of(buf):
    return buf.getvalue().splitlines()


def test_format_duration():
    assert format_duration(4.24) == "4.2s"
    assert format_duration(65) == "1m05s"
    assert format_duration(7380) == "2h03m"
    assert format_duration(float("inf")) == "?"


def test_plain_scripted_run():
    r, buf, clock = plain()
    with r:
        r.run_started("r1", 2, "arith", "/tmp/ws")
        r.stage_skipped(1, "eval", "done in an earlier run")
        r.stage_started(1, "analyse", total=None)
        r.advance(3)
        r.stage_finished(1, "analyse", 12.5, "3 errors analysed")
        r.metric(1, "val", 0.6123, 80)
        r.message("warning: instructor returned 2 unparsable samples")
        r.run_finished(125.0, best_cycle=1)
    assert lines_of(buf) == [
        "[12:00:00] run r1 started: task arith, 2 cycles, workspace /tmp/ws",
        "[12:00:00] cycle 1/2 eval skipped: done in an earlier run",
        "[12:00:00] cycle 1/2 analyse started",
        "[12:00:00] cycle 1/2 analyse finished in 12.5s: 3 errors analysed",
        "[12:00:00] cycle 1/2 val accuracy 61.2% (80 items)",
        "[12:00:00] warning: instructor returned 2 unparsable samples",
        "[12:00:00] run finished in 2m05s, best cycle 1",
    ]
    assert "\x1b" not in buf.getvalue()


def test_plain_progress_throttled_every_ten_percent_with_eta():
    r, buf, clock = plain()
    r.run_started("r1", 1, "arith", "ws")
    r.stage_started(1, "eval", total=200)
    for _ in range(200):
        clock.now += 0.5  # 2 items/s
        r.advance()
    r.stage_finished(1, "eval", 100.0)
    progress = [line for line in lines_of(buf) if re.search(r"eval \d+/200", line)]
    # one line per 10% step, none at 100% (the finish line covers it)
    assert len(progress) == 9
    assert progress[0] == "[12:00:00] cycle 1/1 eval 20/200 (10%) 2.0/s eta 1m30s"
    assert progress[4] == "[12:00:00] cycle 1/1 eval 100/200 (50%) 2.0/s eta 50.0s"
    assert progress[-1].startswith("[12:00:00] cycle 1/1 eval 180/200 (90%)")
    assert lines_of(buf)[-1] == "[12:00:00] cycle 1/1 eval finished in 1m40s"


def test_plain_progress_time_based_for_slow_stages():
    r, buf, clock = plain()
    r.stage_started(2, "train", total=1000)
    for _ in range(50):  # 50 steps of 10 s each: 5% of the stage, well under a 10% step
        clock.now += 10
        r.advance()
    progress = [line for line in lines_of(buf) if "/1000" in line]
    # every 30 s: after 30, 60, ... 480 s -> 16 lines
    assert len(progress) == 16
    assert progress[0] == "[12:00:00] cycle 2 train 3/1000 (0%) 0.1/s eta 2h46m"


def test_plain_progress_indeterminate_stage_and_bulk_advance():
    r, buf, clock = plain()
    r.stage_started(1, "verify")
    clock.now += 31
    r.advance(62)
    assert lines_of(buf)[-1] == "[12:00:00] cycle 1 verify 62 done 2.0/s"
    r.stage_started(1, "eval", total=10)
    clock.now += 1
    r.advance(5)  # jumping several steps at once prints one line, not five
    assert [line for line in lines_of(buf) if "5/10" in line] == [
        "[12:00:00] cycle 1 eval 5/10 (50%) 5.0/s eta 1.0s"
    ]


def test_plain_reports_abort_and_reraises():
    r, buf, _ = plain()
    with pytest.raises(RuntimeError):
        with r:
            r.stage_started(3, "train", total=10)
            raise RuntimeError("out of memory")
    assert lines_of(buf)[-1] == "[12:00:00] cycle 3 train aborted: RuntimeError: out of memory"


def scripted_run(r: Reporter) -> None:
    with r:
        r.run_started("abc123", 2, "arith", "/tmp/ws")
        r.stage_started(0, "eval", total=20)
        for _ in range(20):
            r.advance()
        r.stage_finished(0, "eval", 1.5, "acc 40.0%")
        r.metric(0, "train", 0.40, 20)
        r.metric(0, "val", 0.35, 20)
        r.stage_started(1, "analyse")
        r.advance(3)
        r.stage_finished(1, "analyse", 3.0)
        r.stage_skipped(1, "verify", "already done")
        r.metric(1, "val", 0.55, 20)
        r.metric(1, "test", 0.5125, 40)
        r.message("note: [bold] brackets are not markup")
        r.run_finished(9.0, best_cycle=1)


def test_rich_reporter_whole_run():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    scripted_run(RichReporter(console))
    out = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())
    for text in ("abc123", "eval", "analyse", "verify", "already done", "acc 40.0%"):
        assert text in out
    for acc in ("40.0%", "35.0%", "55.0%", "51.2%"):
        assert acc in out
    assert "lfe · run abc123 · task arith" in out
    assert "[bold] brackets" in out
    assert "best cycle 1" in out


def test_rich_reporter_stops_live_on_exception():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=100)
    r = RichReporter(console)
    with pytest.raises(KeyError):
        with r:
            r.run_started("x", 1, "t", "w")
            r.stage_started(1, "train", total=5)
            raise KeyError("boom")
    assert r._live is None
    assert "aborted" in buf.getvalue()
    # the console is free again: a second reporter can take the one allowed Live
    with RichReporter(console) as r2:
        r2.message("second live ok")
    assert "second live ok" in buf.getvalue()


def test_null_reporter_accepts_everything():
    scripted_run(NullReporter())


def test_make_reporter(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert isinstance(make_reporter(), PlainReporter)
    assert isinstance(make_reporter("rich"), RichReporter)
    assert isinstance(make_reporter("plain"), PlainReporter)

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Tty())
    assert isinstance(make_reporter(), RichReporter)
    with pytest.raises(ValueError):
        make_reporter("fancy")
