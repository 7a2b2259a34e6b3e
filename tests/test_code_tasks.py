"""The code tasks (humaneval, mbpp): finding code in replies, scoring by really running the tests in
the sandbox, verifying instructor samples, the lesson's demo, and reading data files."""

from __future__ import annotations

import json

import duckdb
import pytest

from lfe_local.errors import LfeError
from lfe_local.tasks.base import Item, Sample
from lfe_local.tasks.code import _NEW, _SOLVED, demo_item, extract_code, humaneval_question, mbpp_question
from lfe_local.tasks.humaneval import HumanEvalOptions, HumanEvalTask, bundled_path, humaneval_tests
from lfe_local.tasks.mbpp import MbppOptions, MbppTask, mbpp_tests

PROMPT = 'def add(a: int, b: int) -> int:\n    """Return the sum of a and b.\n    >>> add(2, 3)\n    5\n    """\n'
TESTS = "\n\ndef check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n\ncheck(add)"
ADD = Item("T/0", "all", PROMPT, "add", PROMPT + "    return a + b\n", TESTS)
MBPP_ADD = Item("1", "all", "Write a function add(a, b).", "add", "def add(a, b):\n    return a + b\n",
                "import math\nassert add(1, 2) == 3\nassert math.isclose(add(0.5, 0.25), 0.75)")

HE = HumanEvalTask(timeout_s=1.0)
MBPP = MbppTask(timeout_s=1.0)


def sample(solution: str, tests: str | None = None, kind: str = "new") -> Sample:
    return Sample("s1", "le", kind, "T/0", "a question", solution, None, tests=tests)


# --- extraction ---------------------------------------------------------------------------------


def test_fenced_code_is_taken_from_the_prose_around_it():
    reply = "Sure! Here it is:\n\n```python\ndef add(a, b):\n    return a + b\n```\n\nThis adds the numbers."
    assert extract_code(reply, "add") == "def add(a, b):\n    return a + b\n"
    assert extract_code("```py\nx = 1\n```", None) == "x = 1\n"
    assert extract_code("```\ndef add(a, b):\n    return a+b\n```", "add") == "def add(a, b):\n    return a+b\n"


def test_the_block_defining_the_entry_point_wins():
    reply = ("Usage:\n```python\nprint(add(1, 2))\n```\nRun it with:\n```bash\npython x.py\n```\n"
             "The function:\n```python\ndef add(a, b):\n    return a + b\n```\n")
    assert extract_code(reply, "add") == "def add(a, b):\n    return a + b\n"
    # Without a block defining it, the first Python block.
    assert extract_code(reply, "sub") == "print(add(1, 2))\n"


def test_list_indented_fence_is_dedented_and_unclosed_fence_runs_to_the_end():
    reply = "1. Write it:\n   ```python\n   def add(a, b):\n       return a + b\n   ```\n"
    assert extract_code(reply, "add") == "def add(a, b):\n    return a + b\n"
    assert extract_code("```python\ndef add(a, b):\n    return a +", "add") == "def add(a, b):\n    return a +\n"


def test_raw_body_continuing_the_prompt_keeps_its_indentation():
    body = "    total = a + b\n    return total\n"
    assert extract_code(body, "add") == body
    assert extract_code("```python\n    return a + b\n```", "add") == "    return a + b\n"


def test_raw_full_function_without_the_chat_around_it():
    reply = "Here is the function:\ndef add(a, b):\n    # plain sum\n\n    return a + b\nThis returns the sum of both.\n"
    assert extract_code(reply, "add") == "def add(a, b):\n    # plain sum\n\n    return a + b\n"


def test_indented_code_block_after_a_statement_is_a_whole_function():
    reply = "Here is the function:\n\n    def add(a: int, b: int) -> int:\n        return a + b\n\nIt adds them."
    assert extract_code(reply, "add") == "def add(a: int, b: int) -> int:\n    return a + b\n"
    assert HE.score(reply, ADD).correct and MBPP.score(reply.replace(": int", "").replace(" -> int", ""), MBPP_ADD).correct
    # a body continuing the prompt keeps its indentation, even with an import in it
    assert extract_code("    import math\n    return a + b\n", "add") == "    import math\n    return a + b\n"


def test_no_code():
    assert extract_code("", "add") is None
    assert extract_code("I am not sure how to solve this.", "add") is None
    assert extract_code("```text\nno idea\n```", "add") is None


# --- scoring --------------------------------------------------------------------------------------


def test_right_answers_pass_as_body_or_whole_function():
    assert HE.score("    return a + b\n", ADD).correct
    full = HE.score("Here:\n```python\ndef add(a: int, b: int) -> int:\n    return b + a\n```", ADD)
    assert full.correct and full.failure is None and full.extracted.startswith("def add")
    # Example usage under a main guard is never run (input() would fail in the sandbox).
    guarded = "```python\ndef add(a, b):\n    return a + b\n\nif __name__ == '__main__':\n    print(add(int(input()), 1))\n```"
    assert HE.score(guarded, ADD).correct
    assert MBPP.score("```python\ndef add(a, b):\n    return a + b\n```", MBPP_ADD).correct


def test_failure_kinds_and_details():
    wrong = HE.score("    return a - b\n", ADD)
    assert (wrong.correct, wrong.failure, wrong.detail) == (False, "wrong_answer", "AssertionError: candidate(1, 2) == 3")
    syntax = HE.score("    return a +* b\n", ADD)
    assert syntax.failure == "syntax_error" and syntax.detail.startswith("SyntaxError: invalid syntax at `return a +* b`")
    indent = HE.score("```python\ndef add(a, b):\nreturn a + b\n```", ADD)
    assert indent.failure == "syntax_error" and indent.detail.startswith("IndentationError")
    name = HE.score("    return a + c\n", ADD)
    assert name.failure == "NameError" and "'c' is not defined" in name.detail
    typed = MBPP.score("def add(a, b):\n    return a + str(b)\n", MBPP_ADD)
    assert typed.failure == "TypeError"
    assert HE.score("    while True:\n        pass\n", ADD).failure == "timeout"
    exits = HE.score("```python\nimport sys\ndef add(a, b):\n    return a + b\nsys.exit(0)\n```", ADD)
    assert exits.failure == "exit" and not exits.correct
    none = HE.score("I cannot do this.", ADD)
    assert (none.extracted, none.correct, none.failure) == (None, False, "no_code")
    assert len(wrong.detail) <= 300 and "\n" not in syntax.detail


def test_training_response_is_the_code_in_a_python_fence():
    assert HE.training_response("def f():\n    return 1\n", None) == "```python\ndef f():\n    return 1\n```"
    assert HE.training_response("Fixed:\n```python\ndef f():\n    return 1\n```", "f") == "```python\ndef f():\n    return 1\n```"


# --- verification -------------------------------------------------------------------------------


def test_corrected_solution_must_pass_the_source_items_tests():
    assert HE.verify(sample("def add(a, b):\n    return a + b\n", kind="corrected"), ADD).ok
    assert MBPP.verify(sample("```python\ndef add(a, b):\n    return a + b\n```", kind="gold"), MBPP_ADD).ok
    bad = HE.verify(sample("def add(a, b):\n    return a * b\n", kind="corrected"), ADD)
    assert (bad.ok, bad.reason, bad.detail) == (False, "wrong_answer", "AssertionError: candidate(1, 2) == 3")
    body = HE.verify(sample("    return a + b\n", kind="corrected"), ADD)
    assert (body.ok, body.reason) == (False, "no_function")
    assert HE.verify(sample("no code at all", kind="corrected"), ADD).reason == "no_code"


def test_new_problems_need_two_asserts_calling_the_solution():
    solution = "def double(x):\n    return 2 * x\n"
    assert HE.verify(sample(solution, "assert double(2) == 4\nassert double(0) == 0"), None).ok
    one = HE.verify(sample(solution, "assert double(2) == 4\nassert 1 == 1"), None)
    assert (one.ok, one.reason) == (False, "trivial_tests")
    other = HE.verify(sample(solution, "assert len('ab') == 2\nassert abs(-1) == 1\nx = double(3)"), None)
    assert other.reason == "trivial_tests"
    assert HE.verify(sample(solution, None), None).reason == "trivial_tests"
    fails = HE.verify(sample(solution, "assert double(2) == 4\nassert double(3) == 7"), None)
    assert (fails.ok, fails.reason) == (False, "tests_fail")
    assert fails.detail == "wrong_answer: AssertionError: double(3) == 7"
    assert HE.verify(sample("def double(x:\n", "assert double(1) == 2"), None).reason == "syntax_error"
    assert HE.verify(sample(solution, "assert double(1 == 2\n"), None).reason == "syntax_error"
    slow = HE.verify(sample("def double(x):\n    while True:\n        pass\n", "assert double(1) == 2\nassert double(2) == 4"), None)
    assert slow.reason == "tests_fail" and slow.detail.startswith("timeout")


@pytest.mark.parametrize("task, question, tests", [(HE, humaneval_question, humaneval_tests),
                                                    (MBPP, mbpp_question, mbpp_tests)])
def test_the_lesson_demo_is_true(task, question, tests):
    lesson, demo = task.lesson, task.lesson.demo
    item = demo_item(question, tests)
    wrong = task.score(demo.wrong, item)
    assert not wrong.correct and wrong.detail == demo.feedback
    assert task.verify(sample(demo.corrected["corrected_solution"], kind="corrected"), item).ok
    assert task.score(demo.reference, item).correct
    for problem, (q, response) in zip(_SOLVED, demo.solved, strict=True):
        solved = Item("s", "all", q, problem.name, problem.solution, tests(problem))
        assert task.score(response, solved).correct, q
    assert len(demo.new) == 4
    for new in demo.new:
        assert task.verify(sample(new["solution"], new["tests"]), None).ok, new["question"]
        assert len(new["question"]) <= lesson.max_question and len(new["solution"]) <= lesson.max_solution
        assert len(new["tests"]) <= lesson.extra["tests"]["maxLength"]
    assert [n["question"] for n in demo.new] == [question(p) for p in _NEW]
    assert lesson.answer is None and demo.answer == ""


# --- data files -----------------------------------------------------------------------------------

HE_ROWS = [
    {"task_id": "Mini/0", "prompt": PROMPT, "canonical_solution": "    return a + b\n", "test": TESTS[: -len("\n\ncheck(add)")],
     "entry_point": "add"},
    {"task_id": "Mini/1", "prompt": 'def neg(x: int) -> int:\n    """Return -x."""\n', "canonical_solution": "    return -x\n",
     "test": "\ndef check(candidate):\n    assert candidate(2) == -2\n", "entry_point": "neg"},
]
MBPP_ROWS = [
    {"task_id": 11, "text": "Write a function to triple a number.", "code": "def triple(n):\r\n  return 3 * n",
     "test_list": ["assert triple(2) == 6", "assert set([triple(1)]) == {3}"], "test_setup_code": "",
     "challenge_test_list": []},
    {"task_id": 12, "prompt": "Write a function to square a number.", "code": "def square(n):\n    return n * n",
     "test_list": ["assert math.isclose(square(1.5), 2.25)", "assert square(3) == 9"], "test_imports": ["import math"]},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def to_parquet(jsonl, name):
    out = jsonl.with_name(name)
    duckdb.sql(f"COPY (SELECT * FROM read_json_auto('{jsonl}')) TO '{out}' (FORMAT parquet)")
    return out


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_humaneval_rows(tmp_path, fmt):
    path = write_jsonl(tmp_path / "he.jsonl", HE_ROWS)
    if fmt == "parquet":
        path = to_parquet(path, "he.parquet")
    task = HumanEvalTask(path)
    items = task.items_from(path)
    assert [i.item_id for i in items] == ["Mini/0", "Mini/1"]
    first = items[0]
    assert (first.question, first.answer, first.tests) == (PROMPT, "add", HE_ROWS[0]["test"] + "\ncheck(add)")
    assert first.solution == PROMPT + "    return a + b\n"
    assert all(task.score(task.training_response(i.solution, i.answer), i).correct for i in items)
    splits = HumanEvalTask(path, val_size=0, test_size=1).load()
    assert sorted(len(v) for v in splits.values()) == [0, 1, 1]
    assert {i.split for i in splits["test"]} == {"test"}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_mbpp_rows_in_both_layouts(tmp_path, fmt):
    path = write_jsonl(tmp_path / "mbpp.jsonl", MBPP_ROWS)
    if fmt == "parquet":
        path = to_parquet(path, "mbpp.parquet")
    items = MBPP.items_from(path)
    assert [(i.item_id, i.answer) for i in items] == [("11", "triple"), ("12", "square")]
    assert items[0].question == ("Write a function to triple a number.\nYour code should pass these tests:\n\n"
                                 "assert triple(2) == 6\nassert set([triple(1)]) == {3}")
    assert items[1].tests.startswith("import math\n")
    assert "\r" not in items[0].solution
    assert all(MBPP.score(MBPP.training_response(i.solution, i.answer), i).correct for i in items)


def bad_row_error(tmp_path, rows, task, fmt="jsonl"):
    path = write_jsonl(tmp_path / "bad.jsonl", rows)
    if fmt == "parquet":
        path = to_parquet(path, "bad.parquet")
    with pytest.raises(LfeError) as exc:
        task.items_from(path)
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_bad_rows_give_one_line_errors(tmp_path):
    missing = [HE_ROWS[0], {k: v for k, v in HE_ROWS[1].items() if k != "entry_point"}]
    assert bad_row_error(tmp_path, missing, HE).endswith("bad.jsonl line 2: field 'entry_point' is missing")
    not_name = [{**HE_ROWS[0], "entry_point": "add it"}]
    assert "line 1: field 'entry_point' is not a Python name" in bad_row_error(tmp_path, not_name, HE)
    empty_code = [MBPP_ROWS[0], {**MBPP_ROWS[1], "code": "  "}]
    assert bad_row_error(tmp_path, empty_code, MBPP).endswith("line 2: field 'code' is empty")
    no_call = [{**MBPP_ROWS[0], "test_list": ["assert 1 + 1 == 2"]}]
    assert "line 1: field 'test_list' has no assert that calls a function" in bad_row_error(tmp_path, no_call, MBPP)
    not_list = [{**MBPP_ROWS[0], "test_list": "assert triple(2) == 6"}]
    assert "field 'test_list' must be a list of strings" in bad_row_error(tmp_path, not_list, MBPP)
    no_text = [{k: v for k, v in MBPP_ROWS[0].items() if k != "text"}]
    assert "field 'text' is missing (or prompt)" in bad_row_error(tmp_path, no_text, MBPP)
    parquet = bad_row_error(tmp_path, [MBPP_ROWS[1], {**MBPP_ROWS[1], "code": ""}], MBPP, "parquet")
    assert parquet.endswith("bad.parquet row 2: field 'code' is empty")


def test_options(tmp_path):
    assert HumanEvalOptions.model_validate({}).path is None
    assert (HumanEvalOptions().test_size, HumanEvalOptions().val_size, HumanEvalOptions().timeout_s) == (82, 16, 3.0)
    with pytest.raises(ValueError, match="no such file"):
        HumanEvalOptions.model_validate({"path": str(tmp_path / "missing.jsonl")})
    path = write_jsonl(tmp_path / "m.jsonl", MBPP_ROWS)
    options = MbppOptions.model_validate({"path": "m.jsonl", "timeout_s": 2}, context={"base_dir": tmp_path})
    task = MbppTask(**options.model_dump())
    assert task.path == path and task.timeout_s == 2


def test_humaneval_reads_its_bundled_data():
    if not bundled_path().is_file():
        pytest.skip("run scripts/fetch_models.py to get the bundled HumanEval data")
    splits = HumanEvalTask().load()
    assert {k: len(v) for k, v in splits.items()} == {"train": 66, "val": 16, "test": 82}
    items = HumanEvalTask().items_from(None)
    assert len(items) == 164 and items[0].item_id == "HumanEval/0"
    assert "```python\nfrom typing import List" in HE.messages(items[0].question)[0]["content"]
