"""Ctrl-C during a run: once stops cleanly at the next item boundary (an evaluation batch, an
instructor call, a verified sample, a training step) — the unfinished stage writes nothing and is
redone on resume; twice stops now (KeyboardInterrupt), which is as safe: every stage commits in
one transaction (the crash test kills runs with SIGKILL)."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator


class StopFlag:
    def __init__(self) -> None:
        self.requested = False

    def _on_sigint(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        # A signal handler must not take locks a display may hold: a plain write, not the reporter.
        sys.stderr.write("\nstopping after the current item (Ctrl-C again to stop now)\n")
        sys.stderr.flush()


@contextlib.contextmanager
def watch_ctrl_c() -> Iterator[StopFlag]:
    """A StopFlag that SIGINT sets while the block runs (the previous handler back after it). Off the
    main thread, where Python delivers no signals, the flag is never set."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, flag._on_sigint)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)
