"""Run an instructor-written Python program in a throwaway, resource-limited subprocess.

This is a fence against accidents (endless loops, runaway memory, huge output), not a security
boundary: the program can still read files the user can read.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

MAX_OUTPUT_CHARS = 20_000
_MAX_FILE_BYTES = 10 * 1024 * 1024
_MINIMAL_ENV = {"PATH": "/usr/bin:/bin"}


@dataclass(frozen=True)
class ExecResult:
    ok: bool  # exited with status 0 within the time limit
    stdout: str
    stderr: str
    returncode: int | None  # None when it never started; negative for a signal
    timed_out: bool
    error: str | None  # short one-line reason when not ok


def run_python(code: str, timeout_s: float = 5.0, memory_mb: int = 512) -> ExecResult:
    """Run `code` with `python -I` in a fresh temporary cwd; never raises for anything the code does."""
    try:
        with tempfile.TemporaryDirectory(prefix="lfe-exec-") as tmp:
            return _run_in(Path(tmp), code, timeout_s, memory_mb)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        reason = " ".join(str(exc).split())[:200]
        return ExecResult(False, "", "", None, False, f"could not run python: {reason}")


def _run_in(workdir: Path, code: str, timeout_s: float, memory_mb: int) -> ExecResult:
    script = workdir / "program.py"
    script.write_text(code, encoding="utf-8")
    # Output goes to files, not pipes: RLIMIT_FSIZE then caps it without us buffering gigabytes.
    out_path, err_path = workdir / "stdout.txt", workdir / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-I", script.name],
            cwd=workdir,
            env=dict(_MINIMAL_ENV),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=_limits(timeout_s, memory_mb),
        )
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
    stdout, stderr = _read_bounded(out_path), _read_bounded(err_path)
    ok = not timed_out and proc.returncode == 0
    return ExecResult(ok, stdout, stderr, proc.returncode, timed_out, _reason(ok, timed_out, proc, stderr, timeout_s))


def _limits(timeout_s: float, memory_mb: int):
    cpu_s = max(1, math.ceil(timeout_s)) + 1

    def apply() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s))
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 1024 * 1024,) * 2)
        resource.setrlimit(resource.RLIMIT_FSIZE, (_MAX_FILE_BYTES, _MAX_FILE_BYTES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _kill_group(proc: subprocess.Popen) -> None:
    # The program may have forked; its whole session goes.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _read_bounded(path: Path) -> str:
    with open(path, "rb") as fh:
        data = fh.read(MAX_OUTPUT_CHARS * 4 + 1)
    text = data.decode("utf-8", errors="replace")
    if len(text) > MAX_OUTPUT_CHARS or len(data) > MAX_OUTPUT_CHARS * 4:
        return text[:MAX_OUTPUT_CHARS] + "\n[output truncated]"
    return text


def _reason(ok: bool, timed_out: bool, proc: subprocess.Popen, stderr: str, timeout_s: float) -> str | None:
    if ok:
        return None
    if timed_out:
        return f"timed out after {timeout_s:g}s"
    code = proc.returncode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"killed by signal {name}"
    last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "")
    return f"exit status {code}: {last[:200]}" if last else f"exit status {code}"
