"""Threads from the cores other processes leave free: real busy processes, real /proc."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from lfe_local.config import bundled_model
from lfe_local.hardware import free_cores, n_threads


@pytest.fixture
def every_core_busy():
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n_threads())]
    time.sleep(0.5)  # let them start spinning
    yield
    for p in procs:
        p.kill()
        p.wait()


def test_cores_taken_by_other_processes_are_not_free(every_core_busy):
    # Every core spun by another process: one thread left, never zero.
    assert free_cores() == 1


@pytest.mark.model
def test_the_instructor_runs_on_the_free_cores_and_says_so(every_core_busy):
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    from lfe_local.engines.llama_cpp_engine import LlamaCppEngine

    engine = LlamaCppEngine(bundled_model(), n_ctx=512)
    (gen,) = engine.generate([[{"role": "user", "content": "Say hi."}]], max_tokens=4)
    assert gen.threads == 1 and gen.completion_tokens > 0
    engine.close()
    fixed = LlamaCppEngine(bundled_model(), n_ctx=512, threads=2)  # instructor.threads set: kept
    (gen,) = fixed.generate([[{"role": "user", "content": "Say hi."}]], max_tokens=4)
    assert gen.threads == 2
    fixed.close()
