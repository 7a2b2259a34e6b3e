"""End to end on the real bundled model: `lfe compare` runs every strategy for one smoke cycle
into one DuckDB file. The task is a small GSM8K-format file written here, half one-step problems
the 135M target usually gets right, so LEC has correctly answered neighbours to show."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lfe_local.config import bundled_model

pytestmark = pytest.mark.model
STRATEGIES = ["le", "lec", "both", "sft", "aug"]
NAMES = ["Tom", "Mia", "Sam", "Ava", "Leo", "Zoe", "Max", "Ivy"]
THINGS = ["apples", "pens", "cards", "books", "shells", "coins"]


def easy(rng: random.Random) -> dict:
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    return {"question": f"{name} has {a} {thing}. {name} gets {b} more {thing}. How many {thing} does {name} have now?",
            "answer": f"{name} has {a} + {b} = <<{a}+{b}={a + b}>>{a + b} {thing}.\n#### {a + b}"}


def hard(rng: random.Random) -> dict:
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    a, b, c = rng.randint(12, 29), rng.randint(13, 27), rng.randint(15, 90)
    return {"question": f"{name} buys {a} boxes with {b} {thing} in each box and then gives away {c} {thing}. "
                        f"How many {thing} does {name} have left?",
            "answer": f"{name} buys {a} * {b} = <<{a}*{b}={a * b}>>{a * b} {thing}. "
                      f"{name} has {a * b} - {c} = <<{a * b}-{c}={a * b - c}>>{a * b - c} left.\n#### {a * b - c}"}


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    ws = tmp_path_factory.mktemp("compare")
    rng = random.Random(7)
    write_jsonl(ws / "train.jsonl", [easy(rng) if i % 2 else hard(rng) for i in range(28)])
    write_jsonl(ws / "test.jsonl", [easy(rng) if i % 2 else hard(rng) for i in range(8)])
    (ws / "lfe.toml").write_text(
        '[task]\nname = "gsm8k"\npath = "train.jsonl"\ntest_path = "test.jsonl"\nval_size = 4\ntest_size = 8\n'
        "[instructor]\nmax_errors = 2\nbudget = 2\n"
        "[target]\nmax_new_tokens = 64\n")  # a one- or two-step reply fits; fewer steps per eval stage
    env = {**os.environ, "COLUMNS": "160"}
    proc = subprocess.run([sys.executable, "-m", "lfe_local", "compare", "-w", str(ws), "--preset", "smoke",
                           "--display", "plain"], cwd=ws, capture_output=True, text=True, env=env, timeout=2400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return ws, proc


def query(ws: Path, sql: str, params=None):
    con = duckdb.connect(str(ws / "lfe.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_one_finished_run_per_strategy(compared):
    ws, proc = compared
    runs = query(ws, "SELECT strategy, status, best_cycle IS NOT NULL FROM runs ORDER BY strategy")
    assert runs == [(s, "finished", True) for s in sorted(STRATEGIES)]
    [(cid, status)] = query(ws, "SELECT compare_id, status FROM comparisons")
    assert status == "finished" and cid in proc.stdout
    every_stage = query(ws, "SELECT r.strategy, count(*) FROM stages s JOIN runs r USING (run_id) GROUP BY 1")
    assert sorted(every_stage) == [(s, 9) for s in sorted(STRATEGIES)]  # 4 of cycle 0, 5 of cycle 1


def test_cycle_zero_is_evaluated_once_and_copied(compared):
    ws, _ = compared
    copied = query(ws, "SELECT r.strategy, s.stage, s.summary FROM stages s JOIN runs r USING (run_id) "
                       "WHERE s.cycle = 0 AND s.stage LIKE 'eval_%'")
    first = {strategy for strategy, _, summary in copied if "copied from" not in summary}
    assert first == {"le"}  # the first run evaluates, the four others copy
    # Copies are row for row the same answers.
    differing = query(ws, """
        SELECT count(*) FROM evaluations a JOIN evaluations b USING (cycle, split, item_id)
        WHERE a.cycle = 0 AND a.run_id < b.run_id AND (a.response <> b.response OR a.correct <> b.correct)""")
    assert differing == [(0,)]
    per_run = query(ws, "SELECT count(DISTINCT n) FROM (SELECT run_id, count(*) n FROM evaluations "
                        "WHERE cycle = 0 GROUP BY run_id)")
    assert per_run == [(1,)]


def test_lec_prompts_show_correct_neighbours_with_their_responses(compared):
    ws, _ = compared
    rows = query(ws, """
        SELECT a.prompt, n.neighbour_question, n.neighbour_response, n.rank, n.similarity, e.correct,
               n.neighbour_id <> n.item_id
        FROM analyses a JOIN runs r USING (run_id)
        JOIN lec_neighbours n ON n.run_id = a.run_id AND n.cycle = a.cycle AND n.item_id = a.item_id
        JOIN evaluations e ON e.run_id = a.run_id AND e.cycle = a.cycle - 1 AND e.split = 'train'
                          AND e.item_id = n.neighbour_id
        WHERE a.strategy = 'lec' AND r.strategy = 'lec'""")
    assert len(rows) >= 2, "the lec run showed no neighbours"
    for prompt, question, response, rank, sim, correct, other in rows:
        assert correct and other and -1 <= sim <= 1.0001
        assert f"Solved problem {rank}: {question}" in prompt
        assert f"Student's correct answer {rank}: {response.strip()[:200]}" in prompt
    n_calls = query(ws, "SELECT count(*) FROM analyses a JOIN runs r USING (run_id) WHERE r.strategy = 'lec'")
    per_call = query(ws, "SELECT count(*) FROM neighbours n JOIN runs r USING (run_id) WHERE r.strategy = 'lec'")
    assert per_call[0][0] == 2 * n_calls[0][0]  # k = 2 for every call
    # Similarity decreases with rank.
    order = query(ws, "SELECT count(*) FROM neighbours a JOIN neighbours b USING (run_id, cycle, item_id) "
                      "WHERE a.rank < b.rank AND a.similarity < b.similarity - 1e-6")
    assert order == [(0,)]


def test_embeddings_are_computed_once_and_reused(compared):
    ws, _ = compared
    summaries = dict(query(ws, "SELECT r.strategy, s.summary FROM stages s JOIN runs r USING (run_id) "
                               "WHERE s.stage = 'instruct'"))
    assert "new, 0 reused" not in summaries["both"] and "embedded: 0 new," in summaries["both"]
    dup = query(ws, "SELECT count(*) - count(DISTINCT (task, item_id, model)) FROM item_embeddings")
    assert dup == [(0,)]
    dims = query(ws, "SELECT DISTINCT len(vector) FROM item_embeddings")
    assert dims == [(384,)]


def test_each_strategy_made_its_kind_of_samples(compared):
    ws, _ = compared
    kinds = set(query(ws, "SELECT r.strategy, s.strategy, s.kind FROM samples s JOIN runs r USING (run_id)"))
    assert ("sft", "sft", "gold") in kinds and not any(k == "corrected" for r, _, k in kinds if r == "aug")
    assert {s for r, s, _ in kinds if r == "both"} == {"le", "lec"}
    assert {s for r, s, _ in kinds if r == "aug"} == {"aug"}
    # sft trains on gold solutions: all of them pass verification and the cycle trains.
    assert query(ws, "SELECT DISTINCT s.status FROM samples s JOIN runs r USING (run_id) WHERE r.strategy = 'sft'") \
        == [("accepted",)]
    assert query(ws, "SELECT n_samples > 0 FROM adapters a JOIN runs r USING (run_id) WHERE r.strategy = 'sft'") \
        == [(True,)]
    # Every strategy that calls the instructor made the same number of calls (the shared budget).
    calls = query(ws, "SELECT count(DISTINCT n) FROM (SELECT run_id, count(*) n FROM analyses GROUP BY run_id)")
    assert calls == [(1,)]


def test_error_taxonomy_view(compared):
    ws, _ = compared
    rows = query(ws, "SELECT run_id, cycle, task, cluster, n_errors, example_item_id FROM error_types")
    analysed = query(ws, "SELECT count(*) FROM analyses WHERE status = 'ok' AND error_type IS NOT NULL")[0][0]
    assert rows and sum(r[4] for r in rows) == analysed
    assert all(r[3] and r[1] == 1 and r[2] == "gsm8k" for r in rows)
    assert query(ws, "SELECT count(*) FROM error_types WHERE run_id LIKE '%-aug-%'") == [(0,)]


def test_strategy_comparison_table_and_view(compared):
    ws, proc = compared
    rows = query(ws, "SELECT strategy, cycle, n_seeds, n_items, accuracy, base_accuracy, delta, ci_low, ci_high, "
                     "significant FROM strategy_comparison ORDER BY strategy, cycle")
    assert {(r[0], r[1]) for r in rows} == {(s, c) for s in STRATEGIES for c in (0, 1)}
    for _strategy, cycle, seeds, n, acc, base, delta, lo, hi, sig in rows:
        assert seeds == 1 and n == 8
        assert delta == pytest.approx(acc - base) and lo - 1e-9 <= delta <= hi + 1e-9
        assert sig == (lo > 0 or hi < 0)
        if cycle == 0:
            assert delta == 0 and lo == 0 and hi == 0
    bases = {r[5] for r in rows}
    assert len(bases) == 1  # every strategy starts from the same base evaluation
    for strategy in STRATEGIES:
        assert any(line.strip().startswith(f"│ {strategy} ") for line in proc.stdout.splitlines()), proc.stdout
    assert "bootstrap" in proc.stdout  # the title (Rich may wrap it)


def test_rerunning_a_finished_comparison_only_reports_it(compared):
    ws, first = compared
    env = {**os.environ, "COLUMNS": "160"}
    again = subprocess.run([sys.executable, "-m", "lfe_local", "compare", "-w", str(ws), "--preset", "smoke",
                            "--display", "plain"], cwd=ws, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "had already finished" in again.stdout
    assert query(ws, "SELECT count(*) FROM runs") == [(len(STRATEGIES),)]
    table = [line for line in again.stdout.splitlines() if line.strip().startswith("│ le")]
    assert table and table[0] in first.stdout


def test_the_report_of_a_compared_run_shows_the_strategies_side_by_side(compared, tmp_path):
    import html
    import re

    from lfe_local.report import build_report

    ws, _ = compared
    out, _ = build_report(ws, out=tmp_path / "r.html")
    page = out.read_text()
    numbers = json.loads(html.unescape(re.search(r'<figure id="plot-comparison" data-numbers="([^"]*)"', page)[1]))
    want = query(ws, "SELECT strategy, cycle, delta, ci_low, ci_high FROM strategy_comparison ORDER BY strategy, cycle")
    assert [(r["strategy"], r["cycle"], r["delta"], r["ci_low"], r["ci_high"]) for r in numbers] == [
        (s, c, round(d, 4), round(lo, 4), round(hi, 4)) for s, c, d, lo, hi in want]
