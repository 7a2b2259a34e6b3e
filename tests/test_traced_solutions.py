"""Solutions rebuilt from a generator's computation (instructor.traced_solutions): real sandbox runs
of generator code, the derivation the harness records, the checks that a derivation fits its
question, and which instances get it instead of their own text."""

from __future__ import annotations

from lfe_local.instruct.generators import (
    REBUILDABLE,
    Example,
    GeneratorJob,
    instance_samples,
    rebuild_solutions,
    run_generator,
)
from lfe_local.instruct.traced_numbers import traced_solution
from lfe_local.tasks.arith import ArithTask
from lfe_local.tasks.base import Item
from lfe_local.tasks.math_lesson import MATH_LESSON
from lfe_local.verify.practice import same_skill

SEEDS = list(range(10))
# Right code, solution text that ends in words: the last step's addition is never an equation.
WORDY = '''def generate(rng):
    rows = rng.randint(2, 9)
    per = rng.randint(3, 12)
    total = rows * per
    lost = rng.randint(1, total - 1)
    new = rng.randint(1, 10)
    q = f"Sofia plants {rows} rows of {per} tulips. She loses {lost} tulips. Then she plants {new} more. How many tulips does she have now?"
    s = f"Sofia plants {rows} * {per} = {total} tulips. After losing {lost}: {total} - {lost} = {total - lost}. Then she plants {new} more: {total - lost + new} tulips."
    return {"question": q, "solution": s, "answer": total - lost + new}
'''
# Right code, a false equation in the text (it prints the final value after the first subtraction).
FALSE_TEXT = WORDY.replace("{total} - {lost} = {total - lost}. Then she plants {new} more: {total - lost + new} tulips.",
                           "{total} - {lost} = {total - lost + new}.")
# The answer as text, and a sum(): the derivation is found from the last number equal to it.
AS_TEXT = '''def generate(rng):
    days = [rng.randint(2, 20) for _ in range(3)]
    q = f"Mia reads {days[0]} pages on Monday, {days[1]} on Tuesday and {days[2]} on Wednesday. How many pages does she read?"
    return {"question": q, "solution": "She reads them all.", "answer": str(sum(days))}
'''
# The code computes a step its question never states: Wednesday is given, yet code multiplies.
HIDDEN_STEP = '''def generate(rng):
    mon = rng.randint(2, 20)
    tue = rng.randint(2, 20)
    wed = 4 * mon
    q = f"Mia reads {mon} pages on Monday, {tue} on Tuesday and {wed} on Wednesday. How many pages does she read?"
    return {"question": q, "solution": f"{mon} + {tue} + {wed} = {mon + tue + wed}", "answer": mon + tue + wed}
'''
# The code drops a number its question gives (the loss).
SKIPS_A_NUMBER = WORDY.replace('"answer": total - lost + new', '"answer": total + new')


def job():
    return GeneratorJob("c1-le-g0", "le", "wrong operation", [Example("arith-train-0001", "q", "ref")])


def test_tracing_changes_no_instance_and_records_the_answers_derivation():
    plain = run_generator(WORDY, SEEDS, MATH_LESSON, timeout_s=10)
    traced = run_generator(WORDY, SEEDS, MATH_LESSON, timeout_s=10, traced=True)
    assert [(i.question, i.solution, i.answer) for i in plain.instances] == \
        [(i.question, i.solution, i.answer) for i in traced.instances]
    assert all(i.trace is None for i in plain.instances)
    for inst in traced.instances:
        lines = traced_solution(inst.trace, inst.question).splitlines()
        assert len(lines) == 3 and lines[0].split(" ")[1] == "*" and lines[1].split(" ")[1] == "-"
        assert lines[2].split(" ")[1] == "+" and lines[2].endswith(f"= {inst.answer}.")


def test_a_text_answer_is_traced_through_sum_without_its_zero_start():
    run = run_generator(AS_TEXT, SEEDS, MATH_LESSON, timeout_s=10, traced=True)
    for inst in run.instances:
        solution = traced_solution(inst.trace, inst.question)
        assert solution is not None and len(solution.splitlines()) == 2, solution
        assert not solution.startswith("0 + ") and solution.endswith(f"= {inst.answer}.")


def test_a_derivation_that_does_not_fit_its_question_is_refused():
    for code in (HIDDEN_STEP, SKIPS_A_NUMBER):
        run = run_generator(code, SEEDS, MATH_LESSON, timeout_s=10, traced=True)
        assert all(i.error is None and i.trace for i in run.instances)
        assert all(traced_solution(i.trace, i.question) is None for i in run.instances), code
    # Numbers said in words count as given: "twice" is the 2 of the code.
    trace = [[2, "*", 7, 14, True, True], [14, "+", 3, 17, False, True]]
    assert traced_solution(trace, "Ann has 7 pens, Bo twice as many plus 3. How many has Bo?") == \
        "2 * 7 = 14.\n14 + 3 = 17."
    assert traced_solution([[2, "*", 7, 14, True, True]], "Ann has 7 pens, Bo has more.") is None
    assert traced_solution([], "Ann has 7 pens.") is None
    assert traced_solution([["x", "+", 1, 2, True, True]], "1 x") is None
    assert traced_solution([[2, "-", 5, -3, True, True], [10, "-", -3, 13, True, False]], "2, 5 and 10") == \
        "2 - 5 = -3.\n10 - (-3) = 13."


def _checker(source: Item):
    task = ArithTask()

    def check(sample):
        verdict = task.verify(sample, None)
        return same_skill(sample.solution, source.solution) if verdict.ok else verdict
    return check


def test_only_instances_whose_own_text_fails_get_the_derivation_and_then_pass():
    source = Item("arith-train-0001", "train", "q", "3", solution="Sofia plants 2 * 5 = 10. 10 - 3 = 7. 7 + 4 = 11.")
    check = _checker(source)
    good = run_generator(GOOD_TEXT, SEEDS, MATH_LESSON, timeout_s=10, traced=True)
    kept = rebuild_solutions(instance_samples(1, job(), good.instances), check)
    assert all(s.own_solution is None and "Sofia plants" in s.solution for s in kept)
    for code, reason in ((WORDY, "other_skill"), (FALSE_TEXT, "bad_equation")):
        run = run_generator(code, SEEDS, MATH_LESSON, timeout_s=10, traced=True)
        samples = instance_samples(1, job(), run.instances)
        assert {check(s).reason for s in samples} == {reason} and reason in REBUILDABLE
        rebuilt = rebuild_solutions(samples, check)
        assert all(check(s).ok for s in rebuilt)
        assert [s.own_solution for s in rebuilt] == [s.solution for s in samples]
        assert all(s.solution.count("=") == 3 and s.question == t.question for s, t in zip(rebuilt, samples, strict=True))
    # Without a derivation that fits (untraced run), nothing changes.
    untraced = instance_samples(1, job(), run_generator(WORDY, SEEDS, MATH_LESSON, timeout_s=10).instances)
    assert rebuild_solutions(untraced, check) == untraced


GOOD_TEXT = WORDY.replace("Then she plants {new} more: {total - lost + new} tulips.",
                          "Then she plants {new} more: {total - lost} + {new} = {total - lost + new} tulips.")
