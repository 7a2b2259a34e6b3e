"""Run untrusted, model-written Python in a separate, fenced process — never in the orchestrator.

Layers, each one closing what the others might miss:
- a fresh process with its own temporary directory as cwd and HOME, `python -I -S`, and a clean
  environment (none of the parent's variables);
- its own session / process group, killed as a whole at the wall-clock timeout;
- rlimits: CPU seconds, address space, file size, open files, process count, no core dumps;
- a fresh network namespace where the kernel allows it (`unshare(CLONE_NEWNET)`: no interface but
  a down loopback), and in any case an audit hook that refuses socket creation outright when no
  namespace could be made;
- a Python audit hook, installed before the untrusted code runs and impossible to remove from
  Python, that refuses: writing outside the temp dir, reading other processes' /proc entries
  (the parent's environment), fork/exec/spawn/subprocess, signalling any other process, and
  loading ctypes or `_posixsubprocess` (the ways around the hook);
- success is decided by the runner, not by the exit status: the code must run to its end and the
  runner then reports a per-run nonce on a private pipe, so `sys.exit(0)` or `os._exit(0)` before
  the asserts counts as a failure.
"""

from __future__ import annotations

import ctypes
import os
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class Limits:
    wall_s: float = 10.0
    cpu_s: int = 10
    memory_mb: int = 512
    file_mb: int = 16
    nproc: int = 64  # ignored by the kernel for root; the audit hook refuses forks anyway
    nofile: int = 64
    output_chars: int = 20_000  # stdout / stderr kept, each


@dataclass(frozen=True)
class RunResult:
    ok: bool  # the code ran to its end without an exception
    kind: str  # ok | exception | timeout | exit | killed | no_result | refused
    detail: str  # exception name and message, signal, ... ("" when ok)
    stdout: str
    stderr: str
    returncode: int | None
    seconds: float
    network_namespace: bool  # whether the run had its own (empty) network namespace


# The runner executes in the child before any untrusted code. It reads its settings from argv and
# fd 3, installs the audit hook, runs the code, and reports completion on fd 3.
_RUNNER = r'''
import os, sys
_tmp, _nonce, _netns, _report = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4])
_code_path = os.path.join(_tmp, "program.py")
_ppid = os.getppid()
_me = os.getpid()
_REFUSE = {"os.fork", "os.forkpty", "os.posix_spawn", "os.spawn", "os.exec", "os.system", "subprocess.Popen",
           "ctypes.dlopen", "ctypes.dlsym", "os.startfile", "pty.spawn"}
_BLOCKED_MODULES = {"ctypes", "_ctypes", "_posixsubprocess"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def _inside(path):
    try:
        full = os.path.realpath(os.path.join(_tmp, os.fsdecode(path)))
    except (TypeError, ValueError):
        return False
    return full == _tmp or full.startswith(_tmp + os.sep)

def _hook(event, args):
    if event in _REFUSE:
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "import" and args[0] in _BLOCKED_MODULES:
        raise ImportError(f"sandbox: import of {args[0]} is not allowed")
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int):
            return
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE_FLAGS)
        if writing and not _inside(path):
            raise PermissionError(f"sandbox: writing outside the sandbox directory: {path}")
        p = os.fsdecode(path) if isinstance(path, (str, bytes)) else ""
        if p.startswith("/proc/") and not (p.startswith("/proc/self/") or p.startswith(f"/proc/{_me}/")):
            raise PermissionError(f"sandbox: reading other processes is not allowed: {p}")
    if event in ("os.kill", "os.killpg"):
        pid = args[0]
        if event == "os.killpg" or pid != _me:
            raise PermissionError(f"sandbox: signalling other processes is not allowed")
    if event in ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.chmod",
                 "os.chown", "os.truncate", "shutil.rmtree", "os.utime"):
        for p in args[:2]:
            if isinstance(p, (str, bytes, os.PathLike)) and not _inside(p):
                raise PermissionError(f"sandbox: {event} outside the sandbox directory: {p}")
    if event == "socket.__new__" and not _netns:
        raise PermissionError("sandbox: network access is not allowed")

_out = os.fdopen(_report, "w")
with open(_code_path, encoding="utf-8") as f:
    _source = f.read()
sys.addaudithook(_hook)
sys.argv = ["program.py"]
_glb = {"__name__": "__main__", "__file__": _code_path, "__builtins__": __builtins__}
try:
    exec(compile(_source, "program.py", "exec"), _glb)
except SystemExit as e:
    _out.write(f"exit {e.code!r}\n")
except BaseException as e:
    _out.write(f"exception {type(e).__name__}: {' '.join(str(e).split())[:300]}\n")
else:
    _out.write(f"ok {_nonce}\n")
_out.flush()
'''


def _unshare_net() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.unshare(CLONE_NEWNET) == 0
    except (OSError, AttributeError):
        return False


def _netns_available() -> bool:
    """Probe once in a throwaway child whether unshare(CLONE_NEWNET) works here."""
    global _NETNS
    if _NETNS is None:
        pid = os.fork()
        if pid == 0:
            os._exit(0 if _unshare_net() else 1)
        _, status = os.waitpid(pid, 0)
        _NETNS = os.waitstatus_to_exitcode(status) == 0
    return _NETNS


_NETNS: bool | None = None


def _preexec(limits: Limits, netns: bool):
    def apply() -> None:
        mb = 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb * mb, limits.file_mb * mb))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.nofile, limits.nofile))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.nproc, limits.nproc))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if netns and not _unshare_net():
            os._exit(121)  # promised a namespace and could not make one: refuse to run

    return apply


def _read(path: Path, limit: int) -> str:
    data = path.read_bytes()[: limit * 4]
    return data.decode("utf-8", "replace")[:limit]


def run_untrusted(code: str, limits: Limits | None = None) -> RunResult:
    """Run `code` as a program in the sandbox. Never raises for anything the code does."""
    limits = limits or Limits()
    netns = _netns_available()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lfe-sandbox-") as tmp_name:
        tmp = Path(os.path.realpath(tmp_name))
        (tmp / "program.py").write_text(code, encoding="utf-8")
        (tmp / "_runner.py").write_text(_RUNNER, encoding="utf-8")
        nonce = secrets.token_hex(16)
        read_fd, write_fd = os.pipe()
        out_path, err_path = tmp / "_stdout", tmp / "_stderr"
        try:
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", str(tmp / "_runner.py"), str(tmp), nonce, "1" if netns else "0",
                     str(write_fd)],
                    cwd=tmp, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp), "TMPDIR": str(tmp), "LANG": "C.UTF-8"},
                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=(write_fd,),
                    start_new_session=True, preexec_fn=_preexec(limits, netns),
                )
                os.close(write_fd)
                write_fd = -1
                timed_out = False
                try:
                    proc.wait(timeout=limits.wall_s)
                except subprocess.TimeoutExpired:
                    timed_out = True
                _kill_group(proc.pid)
                proc.wait()
            with os.fdopen(read_fd, "r", errors="replace") as report:
                read_fd = -1
                status = report.read(2000).strip()
        finally:
            for fd in (read_fd, write_fd):
                if fd >= 0:
                    os.close(fd)
        stdout, stderr = _read(out_path, limits.output_chars), _read(err_path, limits.output_chars)
    seconds = time.perf_counter() - t0
    rc = proc.returncode
    kind, detail = _verdict(status, nonce, rc, timed_out, limits)
    return RunResult(kind == "ok", kind, detail, stdout, stderr, rc, seconds, netns)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the whole group: children it may have made die too
    except (ProcessLookupError, PermissionError):
        pass


def _verdict(status: str, nonce: str, rc: int | None, timed_out: bool, limits: Limits) -> tuple[str, str]:
    if timed_out:
        return "timeout", f"still running after {limits.wall_s:g} s"
    if rc == 121:
        return "refused", "could not create a network namespace"
    if status == f"ok {nonce}" and rc == 0:
        return "ok", ""
    if status.startswith("exception "):
        return "exception", status[len("exception "):]
    if status.startswith("exit "):
        return "exit", f"sys.exit({status[5:]}) before the end of the program"
    if rc is not None and rc < 0:
        name = signal.Signals(-rc).name if -rc in signal.valid_signals() else str(-rc)
        hint = {"SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)", "SIGKILL": ""}.get(name, "")
        return "killed", f"{name}{hint}"
    return "no_result", f"exited with status {rc} without finishing the program"
