"""The crash test's hook into stages (tests/test_crash_resume.py): LFE_KILL_AT=C:STAGE:N sends
this process SIGKILL when stage C:STAGE reports its N-th finished item — mid-stage, wherever the
machine's speed would put a kill timed from outside. Unset, it costs one lookup per item."""

from __future__ import annotations

import os
import signal


def maybe_kill(cycle: int, stage: str, n_items: int) -> None:
    wanted = os.environ.get("LFE_KILL_AT")
    if wanted and wanted == f"{cycle}:{stage}:{n_items}":
        os.kill(os.getpid(), signal.SIGKILL)
