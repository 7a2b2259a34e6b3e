"""End to end on every benchmark task with the real bundled models: `lfe run --preset smoke` for
one cycle on small fixture files written here (hand-written rows in each benchmark's public
layout, never copies of the benchmarks) and on HumanEval's bundled data out of the box. Checks
that every stage ran, failures carry their kinds, code errors reach the instructor, every
generated sample has a recorded verdict, and `lfe score` agrees with the loop's own scoring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from lfe_local.config import bundled_model

pytestmark = pytest.mark.model
LFE = [sys.executable, "-m", "lfe_local"]

MMLU = [
    ("What is the capital of France?", ["Berlin", "Madrid", "Paris", "Rome"], 2),
    ("How many legs does a spider have?", ["Six", "Eight", "Ten", "Four"], 1),
    ("Which gas do plants take in for photosynthesis?", ["Oxygen", "Nitrogen", "Helium", "Carbon dioxide"], 3),
    ("What is 7 times 8?", ["56", "54", "48", "64"], 0),
    ("Which planet is closest to the Sun?", ["Venus", "Mercury", "Earth", "Mars"], 1),
    ("What is the boiling point of water at sea level in Celsius?", ["90", "80", "100", "120"], 2),
    ("Which organ pumps blood through the body?", ["Liver", "Lung", "Kidney", "Heart"], 3),
    ("Which is a prime number?", ["9", "15", "13", "21"], 2),
]
BBH_SHOTS = """Evaluate the result of a random Boolean expression.
-----
Q: not ( True ) and ( True ) is
A: Let's think step by step.
not ( True ) = False. False and True = False. So the answer is False.

Q: True and not not ( not False ) is
A: Let's think step by step.
not False = True. not not True = True. True and True = True. So the answer is True.

Q: not True or ( False and True ) is
A: Let's think step by step.
not True = False. False and True = False. False or False = False. So the answer is False.
"""
BBH = [("True and False is", "False"), ("not False is", "True"), ("True or False is", "True"),
       ("False or False is", "False"), ("not True and True is", "False"), ("not ( False ) or False is", "True"),
       ("True and not False is", "True"), ("False and False is", "False")]
MBPP = [
    ("Write a function to add two numbers.", "add", "def add(a, b):\n    return a + b",
     ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"]),
    ("Write a function to return the square of a number.", "square", "def square(x):\n    return x * x",
     ["assert square(3) == 9", "assert square(0) == 0", "assert square(-2) == 4"]),
    ("Write a function to reverse a string.", "reverse", "def reverse(s):\n    return s[::-1]",
     ["assert reverse('abc') == 'cba'", "assert reverse('') == ''", "assert reverse('a') == 'a'"]),
    ("Write a function to find the largest number in a list.", "largest", "def largest(xs):\n    return max(xs)",
     ["assert largest([1, 5, 2]) == 5", "assert largest([-3, -1]) == -1", "assert largest([7]) == 7"]),
    ("Write a function to count the vowels in a string.", "vowels",
     "def vowels(s):\n    return sum(c in 'aeiou' for c in s.lower())",
     ["assert vowels('hello') == 2", "assert vowels('xyz') == 0", "assert vowels('AEIOU') == 5"]),
    ("Write a function to check whether a number is even.", "is_even", "def is_even(n):\n    return n % 2 == 0",
     ["assert is_even(4) == True", "assert is_even(7) == False", "assert is_even(0) == True"]),
    ("Write a function to sum the digits of a non-negative integer.", "digit_sum",
     "def digit_sum(n):\n    return sum(int(d) for d in str(n))",
     ["assert digit_sum(123) == 6", "assert digit_sum(0) == 0", "assert digit_sum(99) == 18"]),
    ("Write a function to return the first element of a list, or None when it is empty.", "first",
     "def first(xs):\n    return xs[0] if xs else None",
     ["assert first([3, 4]) == 3", "assert first([]) is None", "assert first(['a']) == 'a'"]),
]
GSM_PLUS = [
    ("Tom has 3 boxes with 4 apples each. He eats 2 apples. How many apples are left?", "10",
     "Tom has 3 * 4 = 12 apples. He eats 2: 12 - 2 = 10."),
    ("A shop sells 5 pens for 2 dollars each and 3 books for 6 dollars each. How much money does it make?", "28",
     "Pens: 5 * 2 = 10. Books: 3 * 6 = 18. Total: 10 + 18 = 28."),
    ("Ana reads 12 pages a day for 5 days, then 8 pages. How many pages does she read?", "68",
     "12 * 5 = 60. 60 + 8 = 68."),
    ("A farmer has 20 cows and sells a quarter of them. How many cows are left?", "15",
     "20 / 4 = 5. 20 - 5 = 15."),
    ("Ben saves 7 dollars a week for 6 weeks and spends 10 dollars. How much does he have?", "32",
     "7 * 6 = 42. 42 - 10 = 32."),
    ("A class has 6 rows of 5 desks and 4 more desks. How many desks are there?", "34",
     "6 * 5 = 30. 30 + 4 = 34."),
    ("Mia buys 3 packs of 8 stickers and gives away 9. How many stickers are left?", "15",
     "3 * 8 = 24. 24 - 9 = 15."),
    ("A train travels 60 km each hour for 3 hours and then 25 km. How far does it travel?", "205",
     "60 * 3 = 180. 180 + 25 = 205."),
]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def fixture(task: str, ws: Path) -> dict:
    """The [task] options for a fixture workspace: 8 rows, 2 for val, 2 for test, 4 for train."""
    sizes = {"val_size": 2, "test_size": 2}
    if task == "humaneval":  # the bundled data, out of the box: only the split sizes shrink
        return {**sizes, "limit_train": 4}
    if task == "mmlu":
        write_jsonl(ws / "mmlu.jsonl", [{"question": q, "choices": c, "answer": a, "subject": "misc"}
                                        for q, c, a in MMLU])
    elif task == "arc":
        write_jsonl(ws / "arc.jsonl", [{"id": f"arc-{i}", "question": q, "answerKey": "ABCD"[a],
                                        "choices": {"text": c, "label": list("ABCD")}}
                                       for i, (q, c, a) in enumerate(MMLU)])
    elif task == "bbh":
        write_jsonl(ws / "bbh.jsonl", [{"input": q, "target": t} for q, t in BBH])
        (ws / "boolean_expressions.txt").write_text(BBH_SHOTS)
        return {**sizes, "path": "bbh.jsonl", "prompt_path": "boolean_expressions.txt"}
    elif task == "mbpp":
        write_jsonl(ws / "mbpp.jsonl", [{"task_id": 600 + i, "text": t, "code": c, "test_list": tests,
                                         "test_setup_code": "", "challenge_test_list": []}
                                        for i, (t, _, c, tests) in enumerate(MBPP)])
    elif task == "gsm_plus":
        write_jsonl(ws / "gsm_plus.jsonl", [{"question": q, "answer": a, "solution": s,
                                             "perturbation_type": "numerical substitution"}
                                            for q, a, s in GSM_PLUS])
    return {**sizes, "path": f"{task}.jsonl"}


def toml_value(v) -> str:
    return json.dumps(v) if isinstance(v, str) else str(v)


def lfe(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "120"}
    return subprocess.run([*LFE, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=1200)


def query(ws: Path, sql: str):
    con = duckdb.connect(str(ws / "lfe.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


CODE_FAILURES = {"no_code", "syntax_error", "wrong_answer", "timeout", "exit", "killed", "no_result"}


@pytest.mark.parametrize("task", ["humaneval", "mbpp", "mmlu", "arc", "bbh", "gsm_plus"])
def test_one_cycle_on_each_task(task, tmp_path):
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    ws = tmp_path
    options = fixture(task, ws)
    lines = ["[task]", f'name = "{task}"', *(f"{k} = {toml_value(v)}" for k, v in options.items()),
             # One error analysed, two samples (corrected + one new): the smallest cycle that
             # exercises every stage; the suite runs it for six tasks.
             "[instructor]", "max_errors = 1", "budget = 1",
             # 64 new tokens, not the preset's 96: a decode step costs the same for 2 rows as for
             # 16 (memory-bound), so the cap is what an evaluation of these tiny splits costs.
             "[target]", "max_new_tokens = 64"]
    (ws / "lfe.toml").write_text("\n".join(lines) + "\n")
    out = lfe("run", "-w", str(ws), "--preset", "smoke", "--display", "plain", cwd=ws)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stderr

    assert query(ws, "SELECT task, status FROM runs") == [(task, "finished")]
    stages = {(c, s) for c, s in query(ws, "SELECT cycle, stage FROM stages")}
    assert {(1, "instruct"), (1, "verify"), (1, "train"), (1, "eval_test")} <= stages
    evals = query(ws, "SELECT cycle, split, correct, failure, detail FROM evaluations")
    assert {(c, s) for c, s, *_ in evals} == {(0, "train"), (0, "val"), (0, "test"), (1, "val"), (1, "test")}
    assert len([e for e in evals if e[0] == 0]) == 8
    for _, _, correct, failure, _ in evals:
        assert (failure is None) == correct  # every wrong answer says why
    if task in ("humaneval", "mbpp"):
        assert query(ws, "SELECT count(*) FROM items WHERE tests IS NULL") == [(0,)]
        assert {e[3] for e in evals if not e[2]} <= CODE_FAILURES | {e[3] for e in evals if e[3] and e[3][0].isupper()}

    # The instructor saw the errors (with the failing test for code) and every sample has a verdict.
    n_wrong_train = sum(1 for c, s, ok, *_ in evals if c == 0 and s == "train" and not ok)
    analyses = query(ws, "SELECT item_id, status, prompt FROM analyses")
    assert len(analyses) == min(1, n_wrong_train)
    details = dict(query(ws, "SELECT item_id, detail FROM evaluations WHERE cycle = 0 AND split = 'train'"))
    for item_id, _, prompt in analyses:
        assert "Student's wrong answer:" in prompt
        if details[item_id]:
            assert f"Result of running the tests: {details[item_id]}" in prompt
    samples = query(ws, "SELECT kind, status, reason FROM samples")
    assert all(status in ("accepted", "rejected") for _, status, _ in samples)
    assert all(reason for _, status, reason in samples if status == "rejected")

    if task == "humaneval":  # lfe score on the loop's own responses gives the loop's verdicts
        rows = query(ws, "SELECT item_id, response, correct FROM evaluations WHERE cycle = 0")
        write_jsonl(ws / "responses.jsonl", [{"task_id": i, "completion": r} for i, r, _ in rows])
        scored = lfe("score", "--task", "humaneval", "--responses", "responses.jsonl", cwd=ws)
        assert scored.returncode == 0, scored.stderr
        got = {json.loads(line)["id"]: json.loads(line)["correct"] for line in scored.stdout.splitlines()}
        assert got == {i: ok for i, _, ok in rows}
        assert scored.stderr.startswith("accuracy ")
