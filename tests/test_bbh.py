import json
import re
from pathlib import Path

import duckdb
import pytest

from lfe_local.errors import LfeError
from lfe_local.tasks.base import Item, Sample
from lfe_local.tasks.bbh import BbhOptions, BbhTask, read_prompt, same_answer, stated_answer

FEWSHOT = ("Evaluate the result of a Boolean expression.\n\n"
           "Q: not True is\nA: Let's think step by step.\nnot True = False. So the answer is False.")


def rows(n: int) -> list[dict]:
    values = ["True", "False"]
    return [{"input": f"not {values[i % 2]} and {'True ' * (i + 1)}is", "target": values[(i + 1) % 2]}
            for i in range(n)]


def write_jsonl(path: Path, data: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in data))
    return path


def write_parquet(path: Path, data: list[dict]) -> Path:
    source = write_jsonl(path.with_suffix(".src.jsonl"), data)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_json_auto('{source}')) TO '{path}' (FORMAT parquet)")
    con.close()
    return path


@pytest.fixture
def prompt(tmp_path) -> Path:
    path = tmp_path / "boolean_expressions.txt"
    path.write_text(f"BIG-Bench Hard style prompt, written for this test.\n\n-----\n{FEWSHOT}\n")
    return path


@pytest.fixture
def task(tmp_path, prompt) -> BbhTask:
    return BbhTask(write_jsonl(tmp_path / "train.jsonl", rows(3)), prompt)


def test_prompt_file(tmp_path, prompt):
    assert read_prompt(prompt) == FEWSHOT
    whole = tmp_path / "plain.txt"
    whole.write_text(FEWSHOT + "\n")
    assert read_prompt(whole) == FEWSHOT  # no line of dashes: the whole file
    empty = tmp_path / "empty.txt"
    empty.write_text("header\n-----\n\n")
    with pytest.raises(LfeError, match="no few-shot text"):
        read_prompt(empty)


def test_messages_are_the_standard_cot_format(task):
    (message,) = task.messages("not False is")
    assert message == {"role": "user", "content": f"{FEWSHOT}\n\nQ: not False is\nA: Let's think step by step."}


def test_options_check_the_prompt_file(tmp_path, prompt):
    write_jsonl(tmp_path / "train.jsonl", rows(3))
    parsed = BbhOptions.model_validate({"path": "train.jsonl", "prompt_path": prompt.name},
                                       context={"base_dir": tmp_path})
    assert parsed.prompt_path == prompt
    assert BbhTask(**parsed.model_dump()).load()["test"]
    # Without a prompt file the prompt is zero-shot chain of thought.
    zero = BbhTask(**BbhOptions.model_validate({"path": "train.jsonl"}, context={"base_dir": tmp_path}).model_dump())
    assert zero.messages("x")[0]["content"] == "Q: x\nA: Let's think step by step."
    with pytest.raises(ValueError, match="no such file"):
        BbhOptions.model_validate({"path": "train.jsonl", "prompt_path": "nope.txt"}, context={"base_dir": tmp_path})


def test_files_and_splits(tmp_path, prompt):
    path = write_jsonl(tmp_path / "train.jsonl", rows(30))
    splits = BbhTask(path, prompt, val_size=5, test_size=10).load()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [15, 5, 10]
    assert splits == BbhTask(path, prompt, val_size=5, test_size=10).load()
    assert splits["test"] != BbhTask(path, prompt, val_size=5, test_size=10, seed=3).load()["test"]
    test = write_parquet(tmp_path / "test.parquet", rows(30)[25:] + [{"input": "True is", "target": "True"}])
    splits = BbhTask(path, prompt, test_path=test, val_size=5).load()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [20, 5, 6]
    items = BbhTask(path, prompt).items_from(test)
    assert [(i.item_id, i.answer) for i in items][-1] == ("6", "True")
    # The public repository's own bbh/<subtask>.json layout.
    public = tmp_path / "boolean_expressions.json"
    public.write_text(json.dumps({"canary": "x", "examples": rows(4)}, indent=2))
    assert [i.item_id for i in BbhTask(path, prompt).items_from(public)] == ["1", "2", "3", "4"]


@pytest.mark.parametrize("row, field", [
    ({"target": "True"}, "input"),
    ({"input": "True is", "target": " "}, "target"),
    ({"input": ["True"], "target": "True"}, "input"),
])
def test_bad_rows(tmp_path, prompt, row, field):
    path = write_jsonl(tmp_path / "bad.jsonl", [*rows(2), row])
    with pytest.raises(LfeError) as err:
        BbhTask(path, prompt).load()
    assert "\n" not in str(err.value)
    assert f"{path} line 3: field '{field}'" in str(err.value)


@pytest.mark.parametrize("response, stated", [
    ("not True = False. So the answer is False.", "False"),
    ("So the answer is **True**.", "True"),
    ("The answer is (A). Wait, the answer is (C).", "(C)"),
    ("So the answer is 3.5.", "3.5"),
    ("So the answer is: valid", "valid"),
    ("So the answer is apple banana cherry.\nMore text", "apple banana cherry"),
    ("So the answer is True.\n\nQ: not False is\nA: Let's think step by step. So the answer is False.", "True"),
    ("I think it is True", None),
    # the statement's line ends: the answer is on the next non-blank line
    ("So the answer is:\n\n(A) Tuesday", "(A) Tuesday"),
    ("So the answer is:\n**valid**.", "valid"),
    ("So the answer is\n\n- True.\n\nBecause not False is True.", "True"),
    ("So the answer is:", None),
])
def test_stated_answer(response, stated):
    assert stated_answer(response) == stated


@pytest.mark.parametrize("answer, target, same", [
    ("False", "False", True),
    ("false", "False", True),
    ("apple  banana", "apple banana", True),
    ("A", "(A)", True),
    ("(a)", "(A)", True),
    ("(A) Tuesday", "(A)", True),
    ("(B)", "(A)", False),
    ("a dog", "(A)", False),
    ("True", "False", False),
    ("12", "12.", True),
])
def test_same_answer(answer, target, same):
    assert same_answer(answer, target) is same


def test_score(task):
    item = Item("1", "test", "not True is", "False")
    assert task.score("not True = False. So the answer is False.", item).correct
    wrong = task.score("So the answer is True.", item)
    assert (wrong.extracted, wrong.correct, wrong.failure) == ("True", False, "wrong_answer")
    missing = task.score("not True = False.", item)
    assert (missing.extracted, missing.failure) == (None, "no_answer")
    assert task.score("So the answer is A.", Item("2", "test", "q", "(A)")).correct


@pytest.mark.parametrize("solution, expected", [
    ("not True = False. So the answer is False.", "not True = False. So the answer is False."),
    ("not True = False.\nThe answer is False", "not True = False. So the answer is False."),
    ("not True = False.", "not True = False. So the answer is False."),
    ("not True = False", "not True = False. So the answer is False."),
    ("So the answer is False.", "So the answer is False."),
])
def test_training_response(task, solution, expected):
    assert task.training_response(solution, "False") == expected


@pytest.mark.parametrize("changes, reason", [
    ({}, None),
    ({"solution": "not True = False."}, None),
    ({"answer": " "}, "missing_answer"),
    ({"answer": None}, "missing_answer"),
    ({"solution": ""}, "empty_solution"),
    ({"solution": "So the answer is True."}, "inconsistent_answer"),
    ({"kind": "corrected"}, None),
    ({"kind": "corrected", "answer": "True", "solution": "So the answer is True."}, "wrong_answer"),
])
def test_verify(task, changes, reason):
    fields = {"solution": "not True = False. So the answer is False.", "answer": "False", "kind": "new", **changes}
    sample = Sample("s", "le", fields["kind"], "src", "not True is", fields["solution"], fields["answer"])
    source = Item("src", "train", "not True is", "False") if fields["kind"] == "corrected" else None
    verdict = task.verify(sample, source)
    assert verdict.reason == reason and verdict.ok == (reason is None)


def test_lesson_and_demo(task):
    lesson = task.lesson
    assert lesson.answer == {"type": "string", "minLength": 1, "maxLength": 60}
    assert lesson.answer_checks == 2 and lesson.unit == "question"
    demo = lesson.demo
    for new in demo.new:
        assert task.verify(Sample("d", "le", "new", "s", new["question"], new["solution"], new["answer"]), None).ok
    gold = Item("demo", "train", demo.question, demo.answer)
    fixed = Sample("d", "le", "corrected", "demo", demo.question, demo.corrected["corrected_solution"],
                   demo.corrected["final_answer"])
    assert task.verify(fixed, gold).ok
    assert task.score(demo.wrong, gold).failure == "wrong_answer"
    assert task.score(demo.reference, gold).correct
    assert all(task.score(r, Item("x", "train", q, stated_answer(r))).correct for q, r in demo.solved)
    assert len(demo.solved) == 3 and len(demo.new) == 4
    assert not re.search(r"\bQ:", demo.question)
