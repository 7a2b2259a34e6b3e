"""`lfe score` and `lfe tasks` as a user runs them (real subprocesses, no model): JSON lines on
stdout, the summary on stderr, one-line errors for bad input."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lfe_local.tasks.humaneval import bundled_path

LFE = [sys.executable, "-m", "lfe_local"]


def lfe(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*LFE, *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200"})


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_multiple_choice_by_line_number(tmp_path):
    write_jsonl(tmp_path / "mmlu.jsonl", [
        {"question": "Capital of France?", "choices": ["Berlin", "Madrid", "Paris", "Rome"], "answer": 2},
        {"question": "Legs of a spider?", "choices": ["Six", "Eight", "Ten", "Four"], "answer": "B"},
        {"question": "7 times 8?", "choices": ["56", "54", "48", "64"], "answer": 0},
    ])
    write_jsonl(tmp_path / "answers.jsonl", [
        {"id": 1, "response": "The answer is (C)."},
        {"id": "2", "response": "The answer is A or B."},
        {"id": 3, "response": "54"},
        {"id": 1, "response": "Paris"},  # a second response for the same item
    ])
    out = lfe("score", "--task", "mmlu", "--data", "mmlu.jsonl", "--responses", "answers.jsonl", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["id"], r["extracted"], r["correct"], r["failure"]) for r in rows] == [
        ("1", "C", True, None), ("2", None, False, "ambiguous"), ("3", "B", False, "wrong_answer"),
        ("1", "C", True, None)]
    assert out.stderr.strip() == "accuracy 2/4 = 50.0%; 3 of 3 items answered; failures: ambiguous 1, wrong_answer 1"


def test_score_both_shows_the_responses_the_scorers_judge_differently(tmp_path):
    write_jsonl(tmp_path / "mmlu.jsonl", [
        {"id": "capital", "question": "Capital of France?", "choices": ["London", "Berlin", "Paris", "Rome"],
         "answer": 2}])
    write_jsonl(tmp_path / "answers.jsonl", [
        {"id": "capital", "response": "Therefore, the answer is:\n\nC. Paris"},
        {"id": "capital", "response": "The answer is C or B."},
        {"id": "capital", "response": "A city on the Seine, Paris, is the capital."},
    ])
    out = lfe("score", "--task", "mmlu", "--data", "mmlu.jsonl", "--responses", "answers.jsonl", "--scorer", "both",
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["strict"]["extracted"], r["paper"]["extracted"], r["agree"]) for r in rows] == [
        ("C", "C", True), (None, "C", False), ("C", "A", False)]
    assert rows[1]["paper"]["rule"] == "answer statement" and "rule" not in rows[1]["strict"]
    assert out.stderr.splitlines() == [
        "strict: accuracy 2/3 = 66.7%; 1 of 1 items answered; failures: ambiguous 1",
        "paper: accuracy 2/3 = 66.7%; 1 of 1 items answered; failures: wrong_answer 1",
        "the scorers differ on 2 of 3 responses:",
        "  capital: strict wrong (ambiguous), extracted nothing | paper right, extracted 'C' (answer statement)",
        "  capital: strict right, extracted 'C' | paper wrong (wrong_answer), extracted 'A' (standalone letter)",
    ]


def test_score_paper_alone(tmp_path):
    write_jsonl(tmp_path / "gsm8k.jsonl", [{"question": "9 eggs at $2?", "answer": "9 * 2 = 18\n#### 18"}])
    write_jsonl(tmp_path / "r.jsonl", [{"id": 1, "response": "The answer is 18 dollars, for 9 eggs."}])
    out = lfe("score", "--task", "gsm8k", "--data", "gsm8k.jsonl", "--responses", "r.jsonl", "--scorer", "paper",
              cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"id": "1", "scorer": "paper", "extracted": "9", "correct": False,
                                      "failure": "wrong_answer", "detail": None, "rule": "last number"}
    assert out.stderr.strip() == "accuracy 0/1 = 0.0%; 1 of 1 items answered; failures: wrong_answer 1"


def test_score_humaneval_bundled_with_failure_kinds(tmp_path):
    if not bundled_path().exists():
        pytest.skip("bundled HumanEval missing: run scripts/setup")
    with gzip.open(bundled_path(), "rt") as fh:
        first = json.loads(fh.readline())
    good = first["prompt"] + first["canonical_solution"]
    write_jsonl(tmp_path / "samples.jsonl", [
        {"task_id": first["task_id"], "completion": f"Here you go:\n```python\n{good}```"},
        {"task_id": first["task_id"], "completion": "    return True\n"},
        {"task_id": first["task_id"], "completion": "    return undefined_name\n"},
        {"task_id": first["task_id"], "completion": "    while True:\n        pass\n"},
        {"task_id": first["task_id"], "completion": "    return (\n"},
    ])
    out = lfe("score", "--task", "humaneval", "--responses", "samples.jsonl", "--timeout", "1", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["failure"] for r in rows] == [None, "wrong_answer", "NameError", "timeout", "syntax_error"]
    assert rows[0]["correct"] and rows[0]["extracted"].startswith("from typing import List")
    assert "1 of 164 items answered" in out.stderr


@pytest.mark.parametrize(("args", "files", "message"), [
    (["--task", "gsm8k"], {}, "error: --data: task gsm8k has no bundled data; pass --data FILE"),
    (["--task", "nope"], {}, "error: --task: unknown task 'nope' (known: arith, gsm8k"),
    (["--task", "arith"], {"r.jsonl": '{"id": "arith-test-9999", "response": "5"}\n'},
     "error: r.jsonl line 1: id 'arith-test-9999' is not an item of the bundled arith data"),
    (["--task", "arith"], {"r.jsonl": '{"id": "arith-test-0001"}\n'},
     "error: r.jsonl line 1: field 'response' is missing (or completion)"),
    (["--task", "arith"], {"r.jsonl": '{"id": "arith-test-0001", "response": 5}\n'},
     "error: r.jsonl line 1: field 'response' must be text, not int"),
    (["--task", "arith"], {"r.jsonl": '{"id": "arith-test-0001", "response": "5"}\n{"id": \n'},
     "error: r.jsonl line 2: malformed JSON"),
    (["--task", "arith", "--timeout", "2"], {"r.jsonl": ""}, "error: --timeout: task arith runs no code"),
    (["--task", "arith", "--data", "x.jsonl"], {"r.jsonl": "", "x.jsonl": ""},
     "error: task arith generates its items and reads no data file: leave out --data"),
    (["--task", "arith", "--scorer", "lenient"], {"r.jsonl": ""},
     "error: --scorer: must be strict, paper or both, not 'lenient'"),
])
def test_score_bad_input_is_one_line(tmp_path, args, files, message):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    out = lfe("score", *args, "--responses", "r.jsonl", cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.startswith(message) and out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr


def test_tasks_lists_files_and_split_sizes(tmp_path):
    write_jsonl(tmp_path / "arc.jsonl", [
        {"id": f"a{i}", "question": f"Question {i}?", "answerKey": "A",
         "choices": {"text": ["yes", "no", "maybe"], "label": ["A", "B", "C"]}} for i in range(10)])
    (tmp_path / "lfe.toml").write_text('[task]\nname = "arc"\npath = "arc.jsonl"\nval_size = 2\ntest_size = 3\n')
    out = lfe("tasks", "-w", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("│ arc "))
    arc = lines[i]
    assert "arc.jsonl" in "".join(lines[i:i + 3])  # the files cell may wrap onto the next line
    assert arc.split("│")[-4:-1] == ["     5 ", "   2 ", "    3 "] and arc.split("│")[2].strip() == "2"  # version
    assert any(line.startswith("│ humaneval ") and "    66 " in line for line in lines)
    assert any(line.startswith("│ mmlu ") and "task.path: missing (required)" in line for line in lines)
