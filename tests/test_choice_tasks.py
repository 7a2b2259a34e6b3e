import json
import re
from pathlib import Path

import duckdb
import pytest

from lfe_local.errors import LfeError
from lfe_local.tasks.base import Item, Sample
from lfe_local.tasks.choice import extract_letter, format_question, parse_question
from lfe_local.tasks.multiple_choice import ArcOptions, ArcTask, MmluOptions, MmluTask

OPTIONS = ["London", "Berlin", "Paris", "Rome"]


@pytest.mark.parametrize("response, expected", [
    # explicit statements
    ("The answer is (B)", "B"),
    ("Some thinking first. The answer is B.", "B"),
    ("Answer: B", "B"),
    ("**Answer:** (C)", "C"),
    ("The correct option is D", "D"),
    ("Final answer: A", "A"),
    ("the answer is c", "C"),
    ("The answer is (b).", "B"),
    ("The answer is \\boxed{C}", "C"),
    ("The answer is A, not C.", "A"),
    ("The answer is B, and the reason is simple.", "B"),
    ("The answer is (B). The answer is (B).", "B"),
    # a hypothesis or a negation is no claim
    ("If the answer is A, the city would be London. So the answer is C.", "C"),
    ("The answer is not A. The answer is B.", "B"),
    # the explicit statement wins over a letter in passing
    ("A cat sat on the mat. The answer is (D).", "D"),
    ("(A) is wrong since London is in England. The answer is (C).", "C"),
    ("Answer: Let's think. Paris is the capital. The answer is (C).", "C"),
    # bare letters opening or closing the response
    ("B.", "B"),
    ("(B)", "B"),
    ("**B**", "B"),
    ("B) because Berlin is the capital of Germany", "B"),
    ("Option C is correct.", "C"),
    ("Paris is the capital of France.\n\nSo, C.", "C"),
    ("Thinking it over.\n**(D)**", "D"),
    ("A. London is in England.\nC. Paris is in France.\nSo, C.", "C"),
    ("A. London is wrong. B. Berlin is wrong. The answer is (C).", "C"),
    # option text
    ("Paris", "C"),
    ("The capital of France is Paris.", "C"),
    ("The answer is Paris.", "C"),
    # a statement, line break(s), then the option's line (what 7B instruct models write)
    ("Therefore, the answer is:\n\nC. Paris is the capital of France.", "C"),
    ("Therefore, the answer is:\nC. Paris", "C"),
    ("The answer is\n\nC. Paris", "C"),
    ("The correct answer is:\n\n**C. Paris**", "C"),
    ("The correct answer is:\n\n**C.** Paris", "C"),
    ("The answer is:\n\n(C) Paris", "C"),
    ("The answer is:\n\nC) Paris\n\nParis has been the capital since 987.", "C"),
    ("**Answer:**\n\nC. Paris", "C"),
    ("Answer:\n- C. Paris", "C"),
    ("The answer is:\n\nC", "C"),
    ("The answer is:\n\nParis.", "C"),
    ("Based on the information provided, the most suitable answer would be:\n\nC. Paris", "C"),
    ("The best treatment option for this patient would be:\n\nC. Paris", "C"),
    ("Therefore, the answer to this question is:\n\nC. Paris.", "C"),
    ("The incorrect options are:\nA. London\nB. Berlin\n\nThe correct answer is:\nC. Paris", "C"),
    ("The correct answer is:\n\nC. Paris\n\nExplanation:\nA. London is in England.\nB. Berlin is in Germany.", "C"),
    # a line completing the question's sentence, then the option
    ("The capital of France is:\n\nC. Paris", "C"),
    ("In the end, the seat of the French government is in:\n\nC. Paris\n\nIt has been since 987.", "C"),
    # an option discussed after a colon does not outvote a statement
    ("Let me rule one option out:\n\nA. London is in England.\n\nSo the answer is C.", "C"),
    ("**Explanation:**\nA. London is in England, so it is wrong.\n\nC", "C"),
    # an option cited by its letter and its own text inside a sentence
    ("The most suitable answer to the question is C. Paris.", "C"),
    ("The capital of France is C. Paris, which is also its largest city.", "C"),
    ("Based on the map, the capital is most likely Paris (C).", "C"),
    ("The capital is Paris (option C), on the Seine.", "C"),
    ("The city that best fits is C: Paris.", "C"),
])
def test_extract_letter_finds_the_claim(response, expected):
    assert extract_letter(response, "ABCD", OPTIONS) == (expected, None)


@pytest.mark.parametrize("response, failure", [
    ("The answer is A or C", "ambiguous"),
    ("A and B are both correct.", "ambiguous"),
    ("The answer is (A). On second thought, the answer is (C).", "ambiguous"),
    ("Both A and D", "ambiguous"),
    ("The answer is either B or D.", "ambiguous"),
    ("It is Paris, not London.", "ambiguous"),  # names two options: no guess
    ("A cat sat on the mat.", "no_answer"),
    ("A person who lives in France knows this.", "no_answer"),
    ("B vitamins are good for you.", "no_answer"),
    ("The answer is a dog.", "no_answer"),
    ("The answer is E.", "no_answer"),  # not one of the letters
    ("I think it is B because", "no_answer"),  # a letter in passing is no claim
    ("I don't know.", "no_answer"),
    # walking through the options is no choice, however it ends
    ("A. London is in England.\nB. Berlin is in Germany.\nC. Paris is in France.\nD. Rome is in Italy.", "no_answer"),
    ("(A) London is in England. (C) Paris is in France.", "no_answer"),
    ("", "no_answer"),
    # below a statement: several options are a list, not a choice
    ("So, the answer is:\n\nB. Berlin\nor\nC. Paris", "no_answer"),
    ("The options are:\nA. London\nB. Berlin\nC. Paris\nD. Rome", "no_answer"),
    ("The answer is:\n\nParis or Rome", "ambiguous"),
    # a statement that walks on through the options
    ("Let's check each answer choice:\n\nA. London is in England.\n\nB. Berlin is in Germany.", "no_answer"),
    ("Let's look at it:\n\nA. London is in England.\n\nIt is not in France.\n\nB. Berlin is not either.",
     "no_answer"),
    ("If the answer were:\n\nA. the first one, we would need a map.", "no_answer"),
    ("Suppose the answer is:\n\nA. the first one. Then we would need a map.", "no_answer"),
    # citing several options by letter and text compares them
    ("London (A) is in England, Paris (C) is in France.", "ambiguous"),
    ("Muscle weakness (A) is not a side effect, and loss of memory (B) is not either.", "no_answer"),
])
def test_extract_letter_refuses_to_guess(response, failure):
    assert extract_letter(response, "ABCD", OPTIONS) == (None, failure)


def test_extract_letter_follows_the_letters_and_options():
    assert extract_letter("The answer is E.", "ABCDE") == ("E", None)
    assert extract_letter("Paris") == (None, "no_answer")  # without options, text names nothing
    # "Paris, Texas" also contains "Paris": only the longer option is named.
    assert extract_letter("It is Paris, Texas.", "ABC", ["Paris", "Paris, Texas", "Rome"]) == ("B", None)


def test_question_layout_round_trips():
    question = format_question("What is the capital of France?  ", OPTIONS)
    assert question == "What is the capital of France?\nA. London\nB. Berlin\nC. Paris\nD. Rome"
    assert parse_question(question) == ("What is the capital of France?", OPTIONS)
    assert parse_question("Stem\n(A) x\n(B) y") == ("Stem", ["x", "y"])
    assert parse_question("Stem\nA) x\nB) y\nC) z") == ("Stem", ["x", "y", "z"])
    for bad in ["Stem only", "A. x\nB. y",  # no stem
                "Stem\nA. x",  # one option
                "Stem\nA. x\nC. y",  # out of order
                "Stem\nA. x\nB. y\nAnswer below",  # text after the options
                "Stem A. x B. y C. z"]:  # options inline
        assert parse_question(bad) is None, bad
    assert parse_question("Stem\nA. a\nB. b\nC. c\nD. d\nE. e", "ABCD") is None  # too many for mmlu


# -- files -----------------------------------------------------------------------------------------

def mmlu_row(i: int, layout: str = "hf") -> dict:
    question = f"What is {i} + {i}?"
    choices = [str(2 * i + d) for d in (-1, 0, 1, 2)]
    if layout == "hf":
        return {"question": question, "subject": "math", "choices": choices, "answer": 1}
    return {"question": question, "A": choices[0], "B": choices[1], "C": choices[2], "D": choices[3], "answer": "B"}


def arc_row(i: int, numeric: bool = False, n: int = 4) -> dict:
    labels = [str(k + 1) for k in range(n)] if numeric else list("ABCDE"[:n])
    return {"id": f"Mercury_{i}", "question": f"Which planet is number {i}?",
            "choices": {"text": [f"planet {i}-{k}" for k in range(n)], "label": labels}, "answerKey": labels[2]}


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def write_parquet(path: Path, rows: list[dict]) -> Path:
    # DuckDB reads the rows back as a JSON file and writes them as Parquet with real LIST/STRUCT columns.
    source = write_jsonl(path.with_suffix(".src.jsonl"), rows)
    con = duckdb.connect()
    con.execute(f"COPY (SELECT * FROM read_json_auto('{source}')) TO '{path}' (FORMAT parquet)")
    con.close()
    return path


def test_mmlu_layouts_jsonl_and_parquet(tmp_path):
    hf = MmluTask(write_jsonl(tmp_path / "hf.jsonl", [mmlu_row(i) for i in range(5)])).items_from(tmp_path / "hf.jsonl")
    flat_path = write_parquet(tmp_path / "flat.parquet", [mmlu_row(i, "flat") for i in range(5)])
    flat = MmluTask(flat_path).items_from(flat_path)
    assert [i.item_id for i in hf] == ["1", "2", "3", "4", "5"]
    assert hf[3].question == "What is 3 + 3?\nA. 5\nB. 6\nC. 7\nD. 8"
    assert hf[3].answer == "B"
    assert [(i.question, i.answer) for i in flat] == [(i.question, i.answer) for i in hf]
    hf_parquet = write_parquet(tmp_path / "hf.parquet", [mmlu_row(i) for i in range(5)])
    assert MmluTask(hf_parquet).items_from(hf_parquet) == hf


def test_arc_layouts_and_option_counts(tmp_path):
    rows = [arc_row(0), arc_row(1, numeric=True), arc_row(2, n=3), arc_row(3, numeric=True, n=5),
            {"id": "orig", "question": {"stem": "Which is a liquid?", "choices": [
                {"text": "Ice", "label": "A"}, {"text": "Water", "label": "B"}, {"text": "Steam", "label": "C"}]},
             "answerKey": "B"},
            {"question": "Flat row?", "A": "yes", "B": "no", "C": "maybe", "answer": 2}]
    path = write_jsonl(tmp_path / "arc.jsonl", rows)
    items = ArcTask(path).items_from(path)
    assert [i.item_id for i in items] == ["Mercury_0", "Mercury_1", "Mercury_2", "Mercury_3", "orig", "6"]
    assert [i.answer for i in items] == ["C", "C", "C", "C", "B", "C"]
    assert items[3].question.splitlines()[-1] == "E. planet 3-4"
    assert items[4].question == "Which is a liquid?\nA. Ice\nB. Water\nC. Steam"
    parquet = write_parquet(tmp_path / "arc.parquet", [arc_row(i, numeric=i % 2 == 1) for i in range(4)])
    assert [i.answer for i in ArcTask(parquet).items_from(parquet)] == ["C"] * 4


@pytest.mark.parametrize("row, field", [
    ({"choices": ["a", "b", "c", "d"], "answer": 0}, "question"),
    ({"question": "  ", "choices": ["a", "b", "c", "d"], "answer": 0}, "question"),
    ({"question": "Q?", "answer": 0}, "choices"),
    ({"question": "Q?", "choices": "a b c d", "answer": 0}, "choices"),
    ({"question": "Q?", "choices": ["a", "", "c", "d"], "answer": 0}, "choices[1]"),
    ({"question": "Q?", "choices": ["a", "b", "c", "d", "e"], "answer": 0}, "choices"),
    ({"question": "Q?", "choices": ["a", "b", "c", "d"]}, "answer"),
    ({"question": "Q?", "choices": ["a", "b", "c", "d"], "answer": 4}, "answer"),
    ({"question": "Q?", "choices": ["a", "b", "c", "d"], "answer": "E"}, "answer"),
    ({"question": "Q?", "choices": ["a", "b", "c", "d"], "answer": True}, "answer"),
    ({"question": "Q?", "A": "a", "B": "b", "D": "d", "answer": "A"}, "C"),
])
def test_mmlu_bad_rows_name_file_line_and_field(tmp_path, row, field):
    good = mmlu_row(1)
    path = write_jsonl(tmp_path / "bad.jsonl", [good, row])
    with pytest.raises(LfeError) as err:
        MmluTask(path).load()
    message = str(err.value)
    assert "\n" not in message
    assert f"{path} line 2: field '{field}'" in message


@pytest.mark.parametrize("row, field", [
    ({**arc_row(0), "answerKey": "F"}, "answerKey"),
    ({**arc_row(0), "choices": {"text": ["a", "b", "c"], "label": ["A", "B"]}}, "choices.label"),
    ({**arc_row(0), "choices": {"text": ["a"], "label": ["A"]}}, "choices"),
    ({"id": "x", "question": {"stem": "Q?", "choices": [{"text": "a"}]}, "answerKey": "A"}, "question.choices[0].label"),
])
def test_arc_bad_rows(tmp_path, row, field):
    path = write_jsonl(tmp_path / "bad.jsonl", [arc_row(1), row])
    with pytest.raises(LfeError, match=re.escape(f"line 2: field '{field}'")):
        ArcTask(path).load()


def test_repeated_ids_are_an_error(tmp_path):
    path = write_jsonl(tmp_path / "dup.jsonl", [arc_row(1), arc_row(1)])
    with pytest.raises(LfeError, match="line 2: field 'id' repeats"):
        ArcTask(path).items_from(path)


def test_seeded_splits_and_test_file(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [mmlu_row(i) for i in range(40)])
    splits = MmluTask(path, val_size=5, test_size=10).load()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [25, 5, 10]
    assert splits["val"][0].item_id.startswith("mmlu-val-")
    assert MmluTask(path, val_size=5, test_size=10).load() == splits
    assert MmluTask(path, val_size=5, test_size=10, seed=7).load()["test"] != splits["test"]
    # A test file is honoured, and its questions leave train and val.
    test = write_parquet(tmp_path / "test.parquet", [mmlu_row(i, "flat") for i in range(35, 45)])
    splits = MmluTask(path, test_path=test, val_size=5).load()
    assert [len(splits[s]) for s in ("train", "val", "test")] == [30, 5, 10]
    assert not {i.question for i in splits["test"]} & {i.question for i in splits["train"] + splits["val"]}


def test_options_models(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [mmlu_row(1)])
    parsed = MmluOptions.model_validate({"path": "train.jsonl"}, context={"base_dir": tmp_path})
    assert parsed.path == path and parsed.val_size == 100 and parsed.seed == 1234
    MmluTask(**parsed.model_dump()).load()
    with pytest.raises(ValueError, match="no such file"):
        ArcOptions.model_validate({"path": "missing.jsonl"}, context={"base_dir": tmp_path})


# -- target side -------------------------------------------------------------------------------------

QUESTION = format_question("What is the capital of France?", OPTIONS)
ITEM = Item("1", "test", QUESTION, "C")


def make(task_class, tmp_path):
    return task_class(write_jsonl(tmp_path / "train.jsonl", [mmlu_row(1)]))


@pytest.fixture
def mmlu(tmp_path):
    return make(MmluTask, tmp_path)


def test_messages_and_score(mmlu):
    content = mmlu.messages(QUESTION)[0]["content"]
    assert QUESTION in content and "The answer is (X)." in content
    task = mmlu
    assert task.score("Paris is the capital. The answer is (C).", ITEM).correct
    assert task.score("Paris", ITEM).correct
    wrong = task.score("The answer is (A).", ITEM)
    assert (wrong.extracted, wrong.correct, wrong.failure, wrong.detail) == ("A", False, "wrong_answer", None)
    assert task.score("The answer is A or C.", ITEM).failure == "ambiguous"
    assert task.score("I am not sure.", ITEM).failure == "no_answer"
    # The instructor's own answer, as written, is the gold of an answer check.
    assert task.score("The answer is (C).", Item("s", "train", QUESTION, "(c)")).correct


@pytest.mark.parametrize("solution, expected", [
    ("Paris is the capital. So the answer is (C).", "Paris is the capital.\nThe answer is (C)."),
    ("Paris is the capital.\n**Answer:** C", "Paris is the capital.\nThe answer is (C)."),
    ("Paris is the capital.\n(C)", "Paris is the capital.\nThe answer is (C)."),
    ("Since Paris is the capital, the answer is C.", "Since Paris is the capital.\nThe answer is (C)."),
    ("Paris is the capital. The answer is C. The answer is (C).", "Paris is the capital.\nThe answer is (C)."),
    ("The answer is C.", "The answer is (C)."),
    ("Paris is the capital.", "Paris is the capital.\nThe answer is (C)."),
])
def test_training_response(mmlu, solution, expected):
    assert mmlu.training_response(solution, "C") == expected


def sample(question=QUESTION, solution="Paris is the capital of France. The answer is (C).", answer="C",
           kind="new") -> Sample:
    return Sample("s1", "le", kind, "src", question, solution, answer)


@pytest.mark.parametrize("changes, reason", [
    ({}, None),
    ({"answer": "(c)"}, None),
    ({"solution": "Paris is the capital of France."}, None),  # no stated letter: nothing to contradict
    ({"question": "What is the capital of France? A. London B. Berlin C. Paris"}, "bad_options"),
    ({"question": "What is the capital of France?\nA. London"}, "bad_options"),
    ({"question": "What is the capital?\nA. Paris\nB. Paris\nC. Rome"}, "bad_options"),
    ({"question": "A. London\nB. Paris"}, "bad_options"),
    ({"answer": "E"}, "missing_answer"),
    ({"answer": None}, "missing_answer"),
    ({"answer": "Paris"}, "missing_answer"),
    ({"solution": "  "}, "empty_solution"),
    ({"solution": "The answer is (B)."}, "inconsistent_answer"),
    ({"solution": "The answer is (A) or (C)."}, "inconsistent_answer"),
    ({"kind": "corrected", "answer": "B", "solution": "The answer is (B)."}, "wrong_answer"),
    ({"kind": "corrected"}, None),
])
def test_verify(mmlu, changes, reason):
    verdict = mmlu.verify(sample(**changes), ITEM if changes.get("kind") == "corrected" else None)
    assert verdict.reason == reason and verdict.ok == (reason is None)


def test_verify_question_needs_the_tasks_letters(mmlu, tmp_path):
    five = format_question("Which is largest?", ["1", "2", "3", "4", "5"])
    s = sample(question=five, solution="5 is largest. The answer is (E).", answer="E")
    assert mmlu.verify(s, None).reason == "bad_options"
    assert make(ArcTask, tmp_path).verify(s, None).ok


@pytest.mark.parametrize("task", [MmluTask, ArcTask])
def test_lesson_and_demo_pass_verify(task, tmp_path):
    lesson = task.lesson
    assert lesson.answer == {"type": "string", "enum": list(task.letters)}
    assert lesson.answer_checks == 2 and lesson.unit == "question" and lesson.extra == {}
    demo, t = lesson.demo, make(task, tmp_path)
    assert len(demo.new) == 4 and len(demo.solved) == 3
    for new in demo.new:
        verdict = t.verify(Sample("d", "le", "new", "src", new["question"], new["solution"], new["answer"]), None)
        assert verdict.ok, (new, verdict)
        assert len(new["question"]) <= lesson.max_question and len(new["solution"]) <= lesson.max_solution
    gold = Item("demo", "train", demo.question, demo.answer)
    corrected = Sample("d", "le", "corrected", "demo", demo.question, demo.corrected["corrected_solution"],
                       demo.corrected["final_answer"])
    assert t.verify(corrected, gold).ok
    assert t.score(demo.wrong, gold).failure == "wrong_answer"
    assert t.score(demo.reference, gold).correct
    assert all(t.score(r, Item("x", "train", q, extract_letter(r)[0])).correct for q, r in demo.solved)
