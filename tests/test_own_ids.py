"""`lfe score` keys items by the data file's own `id` / `task_id` field, or by the line number
where a row has none, for every task that reads a file (README, "Scoring outputs made elsewhere")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lfe_local.errors import LfeError
from lfe_local.scoring import Response, score_responses
from lfe_local.tasks import make_task

# One row per task in its public layout, without an id field, and a response that is right.
ROWS = {
    "mmlu": ({"question": "Capital of France?", "choices": ["Berlin", "Madrid", "Paris", "Rome"], "answer": 2},
             "The answer is (C)."),
    "arc": ({"question": "Largest planet?", "answerKey": "B",
             "choices": {"text": ["Mars", "Jupiter", "Venus"], "label": ["A", "B", "C"]}}, "The answer is (B)."),
    "gsm8k": ({"question": "What is 9 times 2?", "answer": "9 * 2 = 18\n#### 18"}, "9 * 2 = 18. The answer is 18."),
    "gsm_plus": ({"question": "What is 9 times 2?", "answer": "18", "solution": "9 * 2 = 18"}, "The answer is 18."),
    "bbh": ({"input": "not ( True and False ) is", "target": "True"}, "So the answer is True."),
}
CODE_ROWS = {  # the code tasks' ids are required: task_id
    "mbpp": ({"text": "Write a function add(a, b).", "code": "def add(a, b):\n    return a + b",
              "test_list": ["assert add(1, 2) == 3"]}, "```python\ndef add(a, b):\n    return a + b\n```"),
    "humaneval": ({"prompt": "def add(a, b):\n", "canonical_solution": "    return a + b\n",
                   "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n", "entry_point": "add"},
                  "    return a + b\n"),
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def variant(row: dict, n: int) -> dict:
    """The row with a question of its own (a data file's questions differ)."""
    key = "input" if "input" in row else "text" if "text" in row else "prompt" if "prompt" in row else "question"
    return {**row, key: f"{row[key]} ({n})" if key != "prompt" else row[key]}


def scored(task_name: str, path: Path, responses: list[tuple[str, str]]) -> list[dict]:
    task = make_task(task_name, {"path": path}, path.parent)
    items = task.items_from(path)
    return list(score_responses(task, items, [Response(i, t, f"r {n}") for n, (i, t) in enumerate(responses)]))


@pytest.mark.parametrize("task_name", sorted(ROWS))
@pytest.mark.parametrize("field", ["id", "task_id"])
def test_a_files_own_ids_key_its_items(tmp_path, task_name, field):
    row, right = ROWS[task_name]
    path = write_jsonl(tmp_path / "data.jsonl", [{field: f"q-{n}", **variant(row, n)} for n in (17, 4)])
    rows = scored(task_name, path, [("q-4", right), ("q-17", right)])
    assert [(r["id"], r["correct"]) for r in rows] == [("q-4", True), ("q-17", True)]
    with pytest.raises(LfeError, match=r"^r 0: id '1' is not an item of"):
        scored(task_name, path, [("1", right)])  # the line number is no id where the file has ids


@pytest.mark.parametrize("task_name", sorted(ROWS))
def test_without_ids_the_line_number_is_the_id(tmp_path, task_name):
    row, right = ROWS[task_name]
    path = write_jsonl(tmp_path / "data.jsonl", [variant(row, n) for n in range(3)])
    rows = scored(task_name, path, [("3", right), ("1", right)])
    assert [(r["id"], r["correct"]) for r in rows] == [("3", True), ("1", True)]


@pytest.mark.parametrize("task_name", sorted(CODE_ROWS))
def test_code_tasks_key_items_by_task_id(tmp_path, task_name):
    row, right = CODE_ROWS[task_name]
    path = write_jsonl(tmp_path / "data.jsonl", [{"task_id": f"Mini/{n}", **variant(row, n)} for n in (9, 2)])
    assert [(r["id"], r["correct"]) for r in scored(task_name, path, [("Mini/2", right)])] == [("Mini/2", True)]


def test_repeated_ids_name_their_field(tmp_path):
    row, _ = ROWS["gsm8k"]
    path = write_jsonl(tmp_path / "data.jsonl", [{"task_id": "x", **variant(row, n)} for n in range(2)])
    with pytest.raises(LfeError, match=r"data.jsonl line 2: field 'task_id' repeats 'x' of line 1"):
        make_task("gsm8k", {"path": path}, tmp_path).items_from(path)


def test_lfe_score_takes_gsm8k_ids(tmp_path):
    """The reported case: responses keyed by a GSM8K file's `id` were refused as unknown ids."""
    row, right = ROWS["gsm8k"]
    write_jsonl(tmp_path / "gsm8k.jsonl", [{"id": f"gsm-{n}", **variant(row, n)} for n in range(2)])
    write_jsonl(tmp_path / "r.jsonl", [{"id": "gsm-1", "response": right}, {"id": "gsm-0", "response": "It is 20."}])
    out = subprocess.run([sys.executable, "-m", "lfe_local", "score", "--task", "gsm8k", "--data", "gsm8k.jsonl",
                          "--responses", "r.jsonl"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "COLUMNS": "200"})
    assert out.returncode == 0, out.stderr
    assert [(r["id"], r["correct"]) for r in map(json.loads, out.stdout.splitlines())] == [("gsm-1", True),
                                                                                        ("gsm-0", False)]
