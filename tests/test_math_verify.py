import pytest

from lfe_local.tasks.base import Item, Sample
from lfe_local.tasks.math_task import PROMPT, MathTask

GOOD_SOLUTION = "Mia starts with 12 apples. She buys 5 more: 12 + 5 = 17. She gives away 3: 17 - 3 = 14."
GOOD_PROGRAM = "apples = 12 + 5\napples -= 3\nprint(apples)\n"


def sample(kind="corrected", solution=GOOD_SOLUTION, answer="14", program=GOOD_PROGRAM):
    return Sample(
        sample_id="s1",
        strategy="le",
        kind=kind,
        source_item_id="arith-train-0001",
        question="Mia has 12 apples...",
        solution=solution,
        answer=answer,
        program=program,
    )


@pytest.fixture
def task():
    return MathTask(program_timeout_s=2.0)


def test_messages_use_the_prompt(task):
    (msg,) = task.messages("What is 2 + 2?")
    assert msg["role"] == "user"
    assert msg["content"] == PROMPT.format(question="What is 2 + 2?")
    assert msg["content"].endswith("Problem: What is 2 + 2?")


def test_score(task):
    item = Item("arith-test-0000", "test", "q", "1200")
    assert task.score("... The answer is $1,200.00.", item).correct
    wrong = task.score("so 3 + 4 = 7. The answer is 7.", item)
    assert (wrong.extracted, wrong.correct) == ("7", False)
    assert task.score("no idea", item).extracted is None


def test_training_response_has_one_canonical_ending(task):
    out = task.training_response(GOOD_SOLUTION + " So the answer is 14.\n#### 14", "14.0")
    assert out == GOOD_SOLUTION + "\nThe answer is 14."
    assert task.training_response(GOOD_SOLUTION, "14") == GOOD_SOLUTION + "\nThe answer is 14."
    # Working in the answer sentence is kept; only the answer clause goes.
    assert task.training_response("Since 3.5 * 2 = 7, the answer is 7.", "7") == "Since 3.5 * 2 = 7.\nThe answer is 7."


def test_accepts_a_correct_sample(task):
    assert task.verify(sample(), source=Item("s", "train", "q", "14")).ok
    assert task.verify(sample(solution=GOOD_SOLUTION + " The answer is 14."), source=Item("s", "train", "q", "14.00")).ok


@pytest.mark.parametrize(
    "kwargs, gold, reason, detail",
    [
        ({"answer": None}, "14", "missing_answer", None),
        ({"answer": "fourteen"}, "14", "missing_answer", None),
        ({"solution": "   "}, "14", "empty_solution", None),
        ({"answer": "15"}, "14", "wrong_answer", "answer 15, gold 14"),
        ({"solution": GOOD_SOLUTION + " The answer is 15."}, "14", "inconsistent_answer", None),
        ({"solution": "Mia has twelve apples, buys five and gives three away."}, "14", "no_equations", None),
        ({"solution": "12 + 5 = 17. Then 17 - 3 = 15. Oops, 17 - 3 = 14."}, "14", "bad_equation", "17 - 3 = 15"),
        ({"solution": "Each gets 10 / 0 = 0 apples, so 12 + 2 = 14."}, "14", "bad_equation", "10 / 0 = 0"),
    ],
)
def test_rejections(task, kwargs, gold, reason, detail):
    verdict = task.verify(sample(**kwargs), source=Item("s", "train", "q", gold))
    assert not verdict.ok
    assert verdict.reason == reason
    if detail is not None:
        assert verdict.detail == detail


def test_first_failure_wins(task):
    # Wrong answer and a false equation: the answer check comes first.
    verdict = task.verify(sample(solution="2 + 2 = 5", answer="9"), source=Item("s", "train", "q", "14"))
    assert verdict.reason == "wrong_answer"


def test_explicit_answer_wins_over_last_equation(task):
    # An explicit "answer is" is what the solution states, even if an aside follows it.
    text = GOOD_SOLUTION + " The answer is 14. Before giving any away she had 12 + 5 = 17."
    assert task.verify(sample(solution=text), source=Item("s", "train", "q", "14")).ok


def test_unmarked_solution_must_end_on_its_answer(task):
    # True equations that never reach the stated answer do not solve the problem.
    verdict = task.verify(sample(solution="She drives 11 + 28 = 39 km."), source=Item("s", "train", "q", "14"))
    assert verdict.reason == "inconsistent_answer"
    assert task.verify(sample(solution="12 + 5 = 17. 17 - 3 = 14."), source=Item("s", "train", "q", "14")).ok


def test_unmarked_solution_may_say_its_last_step_in_words(task):
    # The last number, not only the last equation's result, may be the answer ...
    words = "Mia buys 5 more: 12 + 5 = 17 apples. After giving away 3, she has 14 apples."
    assert task.verify(sample(solution=words), source=Item("s", "train", "q", "14")).ok
    # ... but a last number that is not the answer, and a last equation that is not, still fail.
    verdict = task.verify(sample(solution=words.replace("has 14", "has 15")), source=Item("s", "train", "q", "14"))
    assert (verdict.reason, verdict.detail) == ("inconsistent_answer", "solution reaches 17, answer field says 14")
    # The words do not excuse a false equation.
    verdict = task.verify(sample(solution=words.replace("= 17", "= 18")), source=Item("s", "train", "q", "14"))
    assert verdict.reason == "bad_equation"


def test_new_sample_agreement_by_program(task):
    assert task.verify(sample(kind="new", program=GOOD_PROGRAM), source=None).ok


def test_new_sample_program_rejections(task):
    v = task.verify(sample(kind="new", program=None), None)
    assert v.reason == "no_program"
    v = task.verify(sample(kind="new", program="print(12 + 5 - 2)"), None)
    assert (v.reason, v.detail) == ("program_disagrees", "program printed 15, answer 14")
    v = task.verify(sample(kind="new", program="print('done')"), None)
    assert v.reason == "program_disagrees"
    v = task.verify(sample(kind="new", program="x = 1 / 0"), None)
    assert v.reason == "program_failed"
    assert "ZeroDivisionError" in v.detail and "\n" not in v.detail


def test_program_that_loops_forever_is_stopped():
    task = MathTask(program_timeout_s=1.0)
    v = task.verify(sample(kind="new", program="while True:\n    pass\n"), None)
    assert (v.reason, v.detail) == ("program_failed", "timeout: still running after 1 s")


def test_agreement_none_skips_the_program():
    task = MathTask(agreement="none")
    assert task.verify(sample(kind="new", program=None), None).ok


def test_corrected_samples_are_program_checked(task):
    gold = Item("s", "train", "q", "14")
    ok = task.verify(sample(kind="corrected", program=GOOD_PROGRAM), gold)
    assert ok.ok and ok.program_output == "14"
    assert task.verify(sample(kind="corrected", program=None), gold).reason == "no_program"
    wrong = task.verify(sample(kind="corrected", program="print(12 + 5 + 3)"), gold)
    assert (wrong.ok, wrong.reason, wrong.program_output) == (False, "program_disagrees", "20")
    failed = task.verify(sample(kind="corrected", program="print(1 / 0)"), gold)
    assert failed.reason == "program_failed" and "ZeroDivisionError" in failed.detail
    # The program cannot rescue a corrected answer that differs from the gold.
    assert task.verify(sample(kind="corrected", answer="20", program="print(20)"), gold).reason == "wrong_answer"


def test_without_agreement_no_program_is_needed():
    task = MathTask(agreement="none")
    assert task.verify(sample(kind="corrected", program=None), Item("s", "train", "q", "14")).ok


def test_gold_and_generator_samples_skip_the_per_sample_program(task):
    gold = Item("s", "train", "q", "14")
    assert task.verify(sample(kind="gold", program=None), gold).ok
    made = sample(kind="new", program=None)
    made.generator_id = "c1-le-g0"  # checked per generator, by fresh solves
    assert task.verify(made, None).ok


def test_bad_agreement_mode():
    with pytest.raises(ValueError):
        MathTask(agreement="vote")


def test_a_new_question_that_carries_its_solution_is_rejected(task):
    """Seen from a generator: every question ended with its worked calculation."""
    leaky = Sample(sample_id="s2", strategy="le", kind="new", source_item_id="arith-train-0001",
                   question="Omar bakes 3 trays with 7 buttons on each tray. How many buttons? Omar bakes 3 * 7 = 21.",
                   solution="Omar bakes 3 * 7 = 21 buttons.", answer="21", program="print(3 * 7)", generator_id="g")
    verdict = task.verify(leaky, source=None)
    assert (verdict.ok, verdict.reason, verdict.detail) == (False, "solved_in_question", "3 * 7 = 21")
    clean = Sample(**{**leaky.__dict__, "question": "Omar bakes 3 trays with 7 buttons on each tray. How many buttons?"})
    assert task.verify(clean, source=None).ok
    # A corrected item's question is the task's own: not subject to this check.
    assert task.verify(sample(), source=Item("s", "train", "q", "14")).ok


def test_a_floor_division_that_drops_a_remainder_is_a_bad_equation(task):
    verdict = task.verify(sample(solution="21 muffins into 17 bags: 21 // 17 = 1.", answer="1", kind="new"), source=None)
    assert (verdict.ok, verdict.reason, verdict.detail) == (False, "bad_equation", "21 // 17 = 1")
