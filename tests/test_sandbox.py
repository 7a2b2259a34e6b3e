"""The sandbox against the attacks model-written code might make: each is contained and reported as
a failure, and the orchestrator (this process) is unharmed."""

from __future__ import annotations

import os
import socket
import textwrap
import threading

import pytest

from lfe_local.sandbox import Limits, run_untrusted

FAST = Limits(wall_s=5, cpu_s=3, memory_mb=256, file_mb=1)


def run(code: str, limits: Limits = FAST):
    return run_untrusted(textwrap.dedent(code), limits)


def test_a_correct_program_passes_and_its_output_is_kept():
    r = run("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('hi')\n")
    assert r.ok and r.kind == "ok" and r.stdout == "hi\n" and r.returncode == 0


def test_a_failing_assert_is_an_exception():
    r = run("assert 1 + 1 == 3, 'bad sum'\n")
    assert not r.ok and r.kind == "exception" and r.detail.startswith("AssertionError: bad sum")


def test_syntax_error():
    r = run("def f(:\n")
    assert not r.ok and r.kind == "exception" and r.detail.startswith("SyntaxError")


def test_infinite_loop_is_killed_by_the_wall_clock():
    r = run("while True:\n    pass\n", Limits(wall_s=1.5, cpu_s=30))
    assert not r.ok and r.kind == "timeout" and r.seconds < 10


def test_cpu_limit():
    r = run("while True:\n    pass\n", Limits(wall_s=20, cpu_s=1))
    assert not r.ok and r.kind == "killed" and "SIGXCPU" in r.detail


def test_fork_bomb_is_refused():
    r = run("import os\nwhile True:\n    os.fork()\n")
    assert not r.ok and r.kind == "exception" and "os.fork" in r.detail
    # subprocess needs _posixsubprocess, whose fork_exec raises no audit event: refused at import.
    r = run("import subprocess\nsubprocess.run(['sh', '-c', ':(){ :|:& };:'])\n")
    assert not r.ok and "import of _posixsubprocess is not allowed" in r.detail
    r = run("import os\nos.system('sh -c \\':(){ :|:& };:\\'')\n")
    assert not r.ok and "os.system" in r.detail
    r = run("import os\nos.posix_spawn('/bin/sh', ['sh'], {})\n")
    assert not r.ok and "os.posix_spawn" in r.detail


def test_memory_bomb():
    r = run("x = bytearray(2 * 1024 ** 3)\n")
    assert not r.ok and r.kind == "exception" and r.detail.startswith("MemoryError")


def test_huge_file_write_hits_the_file_size_limit(tmp_path):
    r = run("with open('big.bin', 'wb') as f:\n    while True:\n        f.write(b'x' * 1024 * 1024)\n")
    assert not r.ok and r.kind in ("killed", "exception") and ("SIGXFSZ" in r.detail or "File too large" in r.detail)


def test_writing_outside_the_sandbox_directory_is_refused(tmp_path):
    target = tmp_path / "escaped.txt"
    for code in (f"open({str(target)!r}, 'w').write('x')",
                 f"import os\nos.open({str(target)!r}, os.O_CREAT | os.O_WRONLY)",
                 "open('../escaped.txt', 'w').write('x')",
                 f"import os\nos.remove({str(tmp_path)!r})"):
        r = run(code)
        assert not r.ok and "PermissionError" in r.detail and "sandbox" in r.detail, (code, r)
    assert not target.exists()
    # Inside its own directory it may write and read back.
    assert run("open('a.txt', 'w').write('ok')\nassert open('a.txt').read() == 'ok'\n").ok


def test_the_parents_environment_is_not_visible(monkeypatch):
    monkeypatch.setenv("LFE_SECRET_FOR_TEST", "s3cret")
    r = run("import os\nassert 'LFE_SECRET_FOR_TEST' not in os.environ\nprint(sorted(os.environ))\n")
    assert r.ok and "LFE_SECRET" not in r.stdout
    r = run("import os\nprint(open(f'/proc/{os.getppid()}/environ', 'rb').read())\n")
    assert not r.ok and "PermissionError" in r.detail and "s3cret" not in r.stdout


def test_a_socket_cannot_reach_the_host():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    server.settimeout(6)
    t = threading.Thread(target=lambda: accepted.append(_accept(server)))
    t.start()
    try:
        r = run(f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\ns.sendall(b'hi')\n")
    finally:
        t.join()
        server.close()
    assert not r.ok and r.kind == "exception"
    assert accepted == [None]  # nothing ever connected
    if not r.network_namespace:
        assert "network access is not allowed" in r.detail


def _accept(server):
    try:
        conn, _ = server.accept()
        conn.close()
        return "connected"
    except OSError:
        return None


def test_killing_the_parent_is_refused():
    r = run("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n")
    assert not r.ok and "signalling other processes" in r.detail
    r = run("import os, signal\nos.killpg(os.getpgid(os.getppid()), signal.SIGKILL)\n")
    assert not r.ok
    assert os.getpid() > 0  # still here


@pytest.mark.parametrize("code", ["import sys\nsys.exit(0)\nassert False\n", "import os\nos._exit(0)\nassert False\n",
                                  "raise SystemExit\n"])
def test_exiting_before_the_asserts_is_a_failure(code):
    r = run(code)
    assert not r.ok and r.kind in ("exit", "no_result")


def test_ctypes_cannot_be_used_to_get_around_the_hook():
    r = run("import ctypes\nctypes.CDLL(None).fork()\n")
    assert not r.ok and "not allowed" in r.detail


def test_without_a_network_namespace_sockets_are_refused_at_creation(monkeypatch):
    import lfe_local.sandbox as sandbox

    monkeypatch.setattr(sandbox, "_NETNS", False)  # as on a kernel that forbids unshare(CLONE_NEWNET)
    r = run("import socket\nsocket.socket()\n")
    assert not r.ok and not r.network_namespace and "network access is not allowed" in r.detail
