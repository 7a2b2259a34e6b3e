"""End to end with the real bundled 1.5B instructor in program mode (kept short): the instructor
analyses two real target errors (corrected solutions with their programs, run in the sandbox),
writes one problem generator, the generator runs in the sandbox, a few of its instances are solved
afresh, and every row — generators, checks, samples, program outputs, the run's test gain — lands
in the database and agrees with itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lfe_local.config import bundled_instructor, bundled_model

pytestmark = pytest.mark.model

CONFIG = """
[run]
cycles = 1

[task]
name = "arith"
train_size = 16
val_size = 4
test_size = 4

[target]
batch_size = 16
max_new_tokens = 80

[instructor]
new_problems = "program"
max_errors = 2
errors_per_generator = 2
generators = 1
generator_checks = 2
budget = 24

[train]
epochs = 1
batch_size = 8
"""


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    if not (Path(bundled_model()).exists() and Path(bundled_instructor()).exists()):
        pytest.skip("bundled models missing: run scripts/setup")
    ws = tmp_path_factory.mktemp("program")
    (ws / "lfe.toml").write_text(CONFIG)
    proc = subprocess.run([sys.executable, "-m", "lfe_local", "run", "-w", str(ws), "--display", "plain"],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "160"}, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    con = duckdb.connect(str(ws / "lfe.duckdb"), read_only=True)
    yield con, proc
    con.close()


def rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def test_the_instructor_is_the_bundled_qwen(workspace):
    con, _ = workspace
    (run,) = rows(con, "SELECT * FROM runs")
    assert run["instructor_model"].endswith("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
    assert (run["task_version"], run["status"]) == (2, "finished")  # arith's version


def test_corrected_solutions_carry_their_program_output(workspace):
    con, _ = workspace
    corrected = rows(con, "SELECT * FROM samples WHERE kind = 'corrected'")
    assert 1 <= len(corrected) <= 2
    for s in corrected:
        assert s["program"]  # the reply's program field
        if s["status"] == "accepted":
            assert s["program_output"] == s["answer"]


def test_one_generator_written_run_and_checked(workspace):
    con, proc = workspace
    gens = rows(con, "SELECT * FROM generators ORDER BY generator_id")
    # the generator, and its repair when most of its instances failed the task's or the skill check
    assert [g["generator_id"] for g in gens] in (["c1-le-g0"], ["c1-le-g0", "c1-le-g0-r"])
    for gen in gens:
        assert gen["code"] and "def generate" in gen["code"]
        assert gen["status"] in ("accepted", "rejected", "failed")
        gid = gen["generator_id"]
        instances = rows(con, f"SELECT * FROM samples WHERE generator_id = '{gid}'")
        assert len(instances) == gen["instances_made"] <= gen["instances_run"] == 24
        checks = rows(con, f"SELECT * FROM generator_checks WHERE generator_id = '{gid}'")
        if gen["status"] == "accepted":
            # a fresh solve whose program failed or printed no number is inconclusive and was
            # retried on another instance: none disagrees, and enough agree
            n_accepted = sum(s["status"] == "accepted" for s in instances)
            assert sum(c["agrees"] for c in checks) >= min(2, n_accepted)  # generator_checks = 2
            assert all(c["agrees"] or c["output"] is None for c in checks)
            assert any(s["status"] == "accepted" for s in instances)
        if gen["status"] == "rejected":
            assert all(s["status"] == "rejected" for s in instances)
        if any(c["output"] is not None and not c["agrees"] for c in checks):
            assert gen["status"] == "rejected" and gen["reason"] == "disagrees"
        (y,) = rows(con, f"SELECT * FROM generator_yield WHERE generator_id = '{gid}'")
        assert y["n_accepted"] + y["n_rejected"] == gen["instances_made"]
    assert "generators written" in proc.stdout


def test_the_run_reports_its_test_gain(workspace):
    con, proc = workspace
    (res,) = rows(con, "SELECT * FROM run_results")
    assert "cycle 1" in proc.stdout and "95% paired bootstrap interval" in proc.stdout
    if res["best_cycle"] == 1:
        assert res["test_ci_low"] <= res["test_delta"] <= res["test_ci_high"]
    else:
        assert res["test_delta"] is None and "val chose cycle 0" in proc.stdout


def test_every_instructor_call_is_on_record(workspace):
    con, _ = workspace
    by_purpose = {r["purpose"]: r for r in rows(con, "SELECT * FROM instructor_usage")}
    (analysis_attempts,) = con.execute("SELECT sum(attempts) FROM analyses").fetchone()
    (generator_attempts,) = con.execute("SELECT sum(attempts) FROM generators").fetchone()
    (fresh_solves,) = con.execute("SELECT count(*) FROM generator_checks").fetchone()
    assert by_purpose["analysis"]["calls"] == analysis_attempts
    assert sum(by_purpose[p]["calls"] for p in ("generator", "generator_repair") if p in by_purpose) == \
        generator_attempts
    assert by_purpose.get("generator_check", {"calls": 0})["calls"] == fresh_solves
    assert all(r["backend"] == "llama_cpp" and r["seconds"] > 0 and r["completion_tokens"] > 0
               for r in by_purpose.values())
    stages = dict(con.execute("SELECT purpose, min(stage) FROM calls GROUP BY purpose").fetchall())
    assert stages["analysis"] == "instruct" and stages.get("generator_check", "verify") == "verify"
