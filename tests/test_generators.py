"""Problem generators (new_problems = "program"): real sandbox runs of generator code that works,
loops, raises, returns the wrong shape or a consistently wrong answer — each contained and counted —
and the fresh-solve check that rejects a generator whose code disagrees with its question."""

from __future__ import annotations

import json
import time

from lfe_local.engines.base import Generation
from lfe_local.instruct.generators import (
    Example,
    GeneratorJob,
    GeneratorOutcome,
    generator_messages,
    generator_row,
    group_by_type,
    instance_samples,
    repair_feedback,
    repair_job,
    run_generator,
)
from lfe_local.loop.generator_checks import SOLVE_ROUNDS, solve_in_rounds
from lfe_local.tasks.arith import ArithTask
from lfe_local.tasks.math_lesson import MATH_LESSON
from lfe_local.verify.generator_check import check_generators
from lfe_local.verify.practice import same_skill

GOOD = '''def generate(rng):
    a = rng.randint(2, 9)
    b = rng.randint(3, 12)
    c = rng.randint(1, a * b - 1)
    q = f"Ann has {a} bags with {b} beads in each bag. She loses {c} beads. How many beads are left?"
    s = f"Ann has {a} * {b} = {a * b} beads. After losing {c}: {a * b} - {c} = {a * b - c}."
    return {"question": q, "solution": s, "answer": a * b - c}
'''
# The question says "loses", the code adds: every instance agrees with itself, and is wrong.
CONSISTENTLY_WRONG = GOOD.replace("{a * b} - {c} = {a * b - c}", "{a * b} + {c} = {a * b + c}").replace(
    '"answer": a * b - c', '"answer": a * b + c')
LOOPS = "def generate(rng):\n    while True:\n        pass\n"
RAISES_SOMETIMES = '''def generate(rng):
    a = rng.randint(0, 1)
    q = f"Tom has {10 // a} apples and eats 1. How many are left?"
    return {"question": q, "solution": f"{10 // a} - 1 = {10 // a - 1}.", "answer": 10 // a - 1}
'''
WRONG_SHAPE = '''def generate(rng):
    return ["not", "a", "dict"] if rng.random() < 0.5 else {"question": "Q?", "solution": "1 + 1 = 2."}
'''
SEEDS = list(range(12))


def job(gid="c1-le-g0"):
    return GeneratorJob(gid, "le", "wrong operation", [Example("arith-train-0001", "q", "ref")])


def outcome(code):
    return GeneratorOutcome(job(), code, None, 1, 100, 50, 1.0, json.dumps({"code": code}))


def test_a_good_generator_makes_verifiable_instances():
    run = run_generator(GOOD, SEEDS, MATH_LESSON, timeout_s=10)
    assert run.ok and all(i.error is None for i in run.instances)
    assert len({i.question for i in run.instances}) > 8  # different numbers per seed
    samples = instance_samples(1, job(), run.instances)
    task = ArithTask()
    assert all(task.verify(s, None).ok for s in samples)  # equations right, answer stated, no program needed
    assert {s.generator_id for s in samples} == {"c1-le-g0"}
    assert generator_row(outcome(GOOD), run, len(SEEDS))["status"] == "made"


def test_a_generator_that_loops_is_stopped_and_counted():
    run = run_generator(LOOPS, SEEDS, MATH_LESSON, timeout_s=1.5)
    assert not run.ok and run.kind == "timeout"
    row = generator_row(outcome(LOOPS), run, len(SEEDS))
    assert (row["status"], row["reason"], row["instances_made"]) == ("failed", "run_failed", 0)


def test_raising_instances_are_counted_the_rest_kept():
    run = run_generator(RAISES_SOMETIMES, SEEDS, MATH_LESSON, timeout_s=10)
    assert run.ok
    failed = [i for i in run.instances if i.error]
    kept = [i for i in run.instances if not i.error]
    assert failed and kept
    row = generator_row(outcome(RAISES_SOMETIMES), run, len(SEEDS))
    assert row["instances_made"] == len(kept)
    assert row["instance_failures"] == f"raised: ZeroDivisionError x{len(failed)}"


def test_wrong_shapes_become_no_samples():
    run = run_generator(WRONG_SHAPE, SEEDS, MATH_LESSON, timeout_s=10)
    assert all(i.error and i.error.startswith("bad_shape") for i in run.instances)
    row = generator_row(outcome(WRONG_SHAPE), run, len(SEEDS))
    assert (row["status"], row["reason"]) == ("failed", "no_instances")
    assert instance_samples(1, job(), run.instances) == []


def test_fake_instance_lines_printed_by_the_generator_are_ignored():
    sneaky = GOOD.replace("def generate(rng):", 'print(\'@@instance {"seed": 999, "value": {}}\')\ndef generate(rng):')
    run = run_generator(sneaky, SEEDS, MATH_LESSON, timeout_s=10)
    assert [i.seed for i in run.instances] == SEEDS


def test_a_generator_without_code_is_recorded_as_failed():
    row = generator_row(GeneratorOutcome(job(), None, "truncated", 3, 300, 900, 9.0, "{\"code\": \"def"), None, 12)
    assert (row["status"], row["reason"], row["detail"], row["instances_run"]) == ("failed", "no_code", "truncated", 0)


class ScriptedSolver:
    """Answers every fresh-solve request with the same program: the engine is not under test here,
    the check (sandbox run, comparison, verdict) is."""

    def __init__(self, program: str):
        self.program = program
        self.prompts = []

    def generate(self, conversations, *, max_tokens, temperature=0.0, json_schema=None, seed=None, on_progress=None):
        self.prompts += [c[-1]["content"] for c in conversations]
        return [Generation(json.dumps({"program": self.program}), "", 10, 10, 0.1, "stop") for _ in conversations]

    def close(self):
        pass


def test_fresh_solves_reject_a_consistently_wrong_generator():
    task = ArithTask()
    run = run_generator(CONSISTENTLY_WRONG, SEEDS, MATH_LESSON, timeout_s=10)
    samples = instance_samples(1, job(), run.instances)
    assert all(task.verify(s, None).ok for s in samples)  # self-consistent: only a fresh solve can tell
    # A solver that reads the question: bags * beads - lost, parsed from the text itself.
    solver = ScriptedSolver("")
    picked = {"c1-le-g0": samples[:2]}
    program = ("q = {q!r}\nimport re\na, b, c = map(int, re.findall(r'\\d+', q))\nprint(a * b - c)\n")
    checks = []
    for s in picked["c1-le-g0"]:
        solver.program = program.format(q=s.question)
        checks += check_generators(solver, MATH_LESSON, {"c1-le-g0": [s]}, max_tokens=200, timeout_s=5, seed=0)
    assert len(checks) == 2 and not any(c.agrees for c in checks)
    assert "generator says" in checks[0].detail
    # The same solver agrees with the honest generator.
    good = instance_samples(1, job(), run_generator(GOOD, SEEDS, MATH_LESSON, timeout_s=10).instances)
    solver.program = program.format(q=good[0].question)
    (check,) = check_generators(solver, MATH_LESSON, {"c1-le-g0": good[:1]}, max_tokens=200, timeout_s=5, seed=0)
    assert check.agrees and check.output == good[0].answer
    # The solver was shown the question text only.
    assert good[0].question in solver.prompts[-1] and good[0].solution not in solver.prompts[-1]


def test_a_failing_fresh_solve_does_not_count_as_agreement():
    good = instance_samples(1, job(), run_generator(GOOD, SEEDS, MATH_LESSON, timeout_s=10).instances)
    (check,) = check_generators(ScriptedSolver("raise ValueError('no')"), MATH_LESSON, {"g": good[:1]},
                                max_tokens=200, timeout_s=5, seed=0)
    assert not check.agrees and check.output is None and "ValueError" in check.detail


class CrashFirstSolver(ScriptedSolver):
    """Its first `crashes` programs fail (a misspelt name, as the 1.5B's did); the rest solve the
    question read from the prompt (bags * beads - lost, its numbers parsed from the text)."""

    def __init__(self, crashes: int, wrong: bool = False):
        super().__init__("")
        self.crashes, self.wrong = crashes, wrong

    def generate(self, conversations, **kw):
        out = []
        for c in conversations:
            q = c[-1]["content"]
            self.prompts.append(q)
            program = ("print(aples)" if len(self.prompts) <= self.crashes else
                       f"import re\na, b, c = [int(x) for x in re.findall(r'\\d+', {q!r})][-3:]\n"
                       f"print(a * b {'+' if self.wrong else '-'} c)")
            out.append(Generation(json.dumps({"program": program}), "", 10, 10, 0.1, "stop"))
        return out


def test_inconclusive_fresh_solves_are_retried_for_three_rounds():
    good = instance_samples(1, job(), run_generator(GOOD, SEEDS, MATH_LESSON, timeout_s=10).instances)
    assert len(good) >= 6

    def rounds_with(solver, n_rounds):
        calls = []

        def solve(picked, round_):
            calls.append(sum(map(len, picked.values())))
            return check_generators(solver, MATH_LESSON, picked, max_tokens=200, timeout_s=5, seed=round_)
        return solve_in_rounds(solve, {"g": good[:3 * 2]}, 2, rounds=n_rounds)["g"], calls

    # 3 crashes: round 1 asks 2 (both crash), round 2 asks 2 (1 crash, 1 agrees), round 3 asks the 1 still wanted.
    checks, calls = rounds_with(CrashFirstSolver(3), SOLVE_ROUNDS)
    assert SOLVE_ROUNDS == 3 and calls == [2, 2, 1]
    assert [c.output is None for c in checks] == [True, True, True, False, False]
    assert sum(c.agrees for c in checks) == 2  # decided: two agreements, the generator is verified
    # Two rounds would have left it one agreement short (unverified).
    checks, calls = rounds_with(CrashFirstSolver(3), 2)
    assert calls == [2, 2] and sum(c.agrees for c in checks) == 1
    # A disagreement decides at once: nothing more is asked for that generator.
    checks, calls = rounds_with(CrashFirstSolver(0, wrong=True), SOLVE_ROUNDS)
    assert calls == [2] and not any(c.agrees for c in checks) and checks[0].output is not None


def test_groups_give_every_error_type_a_generator_first():
    ex = [Example(f"i{n}", "q", "r") for n in range(9)]
    typed = [("a", e) for e in ex[:6]] + [("b", ex[6]), ("b", ex[7]), ("c", ex[8])]
    groups = group_by_type(typed, per_group=3, max_groups=4)
    assert [(t, len(g)) for t, g in groups] == [("a", 3), ("b", 2), ("c", 1), ("a", 3)]
    assert [t for t, _ in group_by_type(typed, per_group=3, max_groups=2)] == ["a", "b"]


def test_generator_prompt_shows_the_errors_and_a_demonstration():
    examples = [Example("arith-train-0001", "Zoe has 3 boxes of 4 pens...", "3 * 4 = 12.",
                        wrong_response="3 + 4 = 7", analysis="added instead of multiplying")]
    msgs = generator_messages(MATH_LESSON, "wrong operation", examples)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert "def generate(rng)" in json.loads(msgs[2]["content"])["code"]
    for text in ("Zoe has 3 boxes", "3 + 4 = 7", "added instead of multiplying", "error type: wrong operation"):
        assert text in msgs[3]["content"]
    aug = generator_messages(MATH_LESSON, None, [Example("x", "Zoe has 3 boxes", "3 * 4 = 12.")])
    assert "wrong" not in aug[3]["content"].lower().split("write a python")[0]


class ScriptedWriter:
    """Replies with the given texts in turn: the retry logic is under test, not the model."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.temperatures = []

    def generate(self, conversations, *, max_tokens, temperature=0.0, json_schema=None, seed=None, on_progress=None):
        self.temperatures.append(temperature)
        return [Generation(self.replies.pop(0), "", 10, 10, 0.1, "stop")]

    def close(self):
        pass


def test_code_that_does_not_parse_is_retried_without_running_it():
    from lfe_local.instruct.generators import write_generators

    broken = 'def generate(rng):\n    s = f"one line\n    two"\n    return {}\n'
    writer = ScriptedWriter([json.dumps({"code": broken}), json.dumps({"code": "x = 1"}), json.dumps({"code": GOOD})])
    (out,) = write_generators(writer, [job()], temperature=0.0, max_tokens=100, retries=2, seed=0)
    assert out.code == GOOD.strip() and out.attempts == 3 and writer.temperatures == [0.0, 0.7, 0.7]
    writer = ScriptedWriter([json.dumps({"code": broken})] * 2)
    (out,) = write_generators(writer, [job()], temperature=0.0, max_tokens=100, retries=1, seed=0)
    assert out.code is None and out.failure.startswith("syntax_error")



# The bundled 1.5B's recurring slip (9 of 9 unparsable generator replies in the demo runs): a line
# break meant inside an f-string, written as a real one, and the closing quote lost.
OPEN_STRING = (
    'def generate(rng):\n'
    '    a = rng.randint(5, 20)\n'
    '    b = rng.randint(1, 9)\n'
    '    q = f"Ivy has {a} pens. She buys {b} more. How many pens does she have?"\n'
    '    s = (f"Ivy starts with {a} pens. "\n'
    '         f"She buys {b}: {a} + {b} = {a + b}.\n'
    '         f"The answer is {a + b}.")\n'
    '    return {"question": q, "solution": s, "answer": a + b}\n'
)


def test_a_string_left_open_at_the_end_of_its_line_is_closed_with_the_line_break_it_meant():
    from lfe_local.instruct.open_strings import close_open_strings

    mended = close_open_strings(OPEN_STRING)
    assert 'f"She buys {b}: {a} + {b} = {a + b}.\\n"' in mended.splitlines()[5]
    (instance, *_) = run_generator(mended, [3], MATH_LESSON, timeout_s=10).instances
    assert instance.error is None and instance.solution.splitlines()[1].startswith("The answer is")
    # Closed with a bare quote when no string follows; left alone when code parses or fails otherwise.
    assert close_open_strings('x = "abc\ny = 1\n') == 'x = "abc"\ny = 1\n'
    assert close_open_strings(GOOD) == GOOD
    for other in ('def generate(rng:\n    return 1\n', 'x = """never closed\n', 'x = (1 +\n'):
        assert close_open_strings(other) == other


def test_the_mended_code_is_the_generator_and_the_reply_as_written_is_kept():
    from lfe_local.instruct.generators import write_generators

    reply = json.dumps({"code": OPEN_STRING})
    (out,) = write_generators(ScriptedWriter([reply]), [job()], temperature=0.0, max_tokens=100, retries=2, seed=0)
    assert out.attempts == 1 and out.failure is None and out.raw_reply == reply
    assert out.code != OPEN_STRING.strip() and run_generator(out.code, SEEDS, MATH_LESSON, timeout_s=10).ok

# The last step's equation is off by one: every instance fails the equation check.
OFF_BY_ONE = GOOD.replace("= {a * b - c}.", "= {a * b - c + 1}.").replace('"answer": a * b - c', '"answer": a * b - c + 1')


def test_a_generator_is_only_sent_back_for_repair_when_most_of_its_instances_fail():
    task = ArithTask()
    for code, repair in ((GOOD, False), (OFF_BY_ONE, True), (CONSISTENTLY_WRONG, False)):
        run = run_generator(code, SEEDS, MATH_LESSON, timeout_s=10)
        samples = instance_samples(1, job(), run.instances)
        feedback = repair_feedback(run, samples, [task.verify(s, None) for s in samples])
        # (a consistently wrong generator passes the task's check: only the fresh solve catches it)
        assert (feedback is not None) == repair, code
    assert feedback is None
    run = run_generator(OFF_BY_ONE, SEEDS, MATH_LESSON, timeout_s=10)
    samples = instance_samples(1, job(), run.instances)
    feedback = repair_feedback(run, samples, [task.verify(s, None) for s in samples])
    assert feedback.startswith(f"{len(SEEDS)} of the {len(SEEDS)} problems it made fail the check (")
    assert samples[0].question in feedback and samples[0].solution in feedback


def test_a_generator_that_crashes_or_loops_is_sent_back_with_the_error():
    run = run_generator(LOOPS, SEEDS, MATH_LESSON, timeout_s=1)
    assert repair_feedback(run, [], []).startswith(f"Running generate(rng) failed ({run.kind})")
    always = RAISES_SOMETIMES.replace("rng.randint(0, 1)", "0")
    run = run_generator(always, SEEDS, MATH_LESSON, timeout_s=10)
    feedback = repair_feedback(run, instance_samples(1, job(), run.instances), [])
    assert feedback.startswith("Every call of generate(rng) failed (raised: ZeroDivisionError x12)")


def test_a_repair_asks_again_with_the_failure_and_without_the_failed_code():
    original = GeneratorJob("c1-le-g3", "le", "wrong operation", [Example("arith-train-0001", "q", "ref")],
                            generator_messages(MATH_LESSON, "wrong operation", [Example("arith-train-0001", "q", "ref")]))
    fixed = repair_job(original, "12 of the 12 problems it made fail the check (bad_equation: 3 * 4 = 13).")
    assert fixed.generator_id == "c1-le-g3-r" and fixed.examples == original.examples
    # Same one-shot demonstration, same request, now followed by what went wrong ...
    assert fixed.messages[:-1] == original.messages[:-1]
    last = fixed.messages[-1]
    assert last["role"] == "user" and last["content"].startswith(original.messages[-1]["content"])
    # ... with the check's reason in words as well as its code.
    assert "(an equation in its solution is false; bad_equation: 3 * 4 = 13)" in last["content"]
    assert "def generate" not in last["content"].removeprefix(original.messages[-1]["content"])


# Two drifts seen in a demo run (bundled 1.5B): "2 times as many pages as on Monday" became a given
# number of pages (one addition), and "packed equally into 8 bags" lost its division. Right
# equations, self-consistent answers: only the skill check tells them from practice of the error.
READING_REFERENCE = "On Wednesday Zoe reads 2 * 21 = 42 pages. In total: 21 + 21 + 42 = 84 pages."
DRIFTED_READING = '''def generate(rng):
    a, b, c = rng.randint(5, 40), rng.randint(5, 40), rng.randint(10, 80)
    q = f"Lily reads {a} pages on Monday and {b} pages on Tuesday. On Wednesday she reads {c} pages. How many pages does Lily read in the three days?"
    return {"question": q, "solution": f"Lily reads {a} + {b} + {c} = {a + b + c} pages.", "answer": a + b + c}
'''
KEPT_READING = '''def generate(rng):
    a, b, k = rng.randint(5, 40), rng.randint(5, 40), rng.randint(2, 4)
    q = f"Lily reads {a} pages on Monday and {b} pages on Tuesday. On Wednesday she reads {k} times as many pages as on Monday. How many pages does Lily read in the three days?"
    s = f"On Wednesday she reads {k} * {a} = {k * a} pages. In total: {a} + {b} + {k * a} = {a + b + k * a} pages."
    return {"question": q, "solution": s, "answer": a + b + k * a}
'''
PACKING_REFERENCE = "Total rolls: 7 * 16 = 112. Shared among 8 bags: 112 / 8 = 14. The answer is 14."
NO_DIVISION = '''def generate(rng):
    trays, bags, per = rng.randint(2, 9), rng.randint(2, 8), rng.randint(1, 6)
    q = f"Mia bakes {trays} trays with {bags * per} muffins on each tray, packed equally into {bags} bags. How many muffins are in each bag?"
    s = f"Mia bakes {trays} * {bags * per} = {trays * bags * per} muffins. Each bag has {trays * per} muffins."
    return {"question": q, "solution": s, "answer": trays * per}
'''


def test_instances_that_drop_the_errors_calculation_fail_the_skill_check():
    task = ArithTask()
    for code, reference, ok, missing in ((DRIFTED_READING, READING_REFERENCE, False, "multiplication"),
                                        (KEPT_READING, READING_REFERENCE, True, None),
                                        (NO_DIVISION, PACKING_REFERENCE, False, "division")):
        run = run_generator(code, SEEDS, MATH_LESSON, timeout_s=10)
        samples = instance_samples(1, job(), run.instances)
        assert len(samples) == len(SEEDS) and all(task.verify(s, None).ok for s in samples)  # every other check passes
        verdicts = [same_skill(s.solution, reference) for s in samples]
        assert all(v.ok == ok for v in verdicts), code
        if not ok:
            assert {v.reason for v in verdicts} == {"other_skill"}
            assert verdicts[0].detail.endswith(f"this solution has no {missing}")
            # ... and the generator goes back for repair with the reason in words.
            feedback = repair_feedback(run, samples, verdicts)
            examples = [Example("arith-train-0001", "q", reference)]
            original = GeneratorJob("c1-le-g0", "le", "wrong operation", examples,
                                    generator_messages(MATH_LESSON, "wrong operation", examples))
            asked = repair_job(original, feedback).messages[-1]["content"]
            assert "(its problems do not practise the calculation the problems above need; other_skill:" in asked
    assert same_skill("3 + 4 = 7.", None).ok  # nothing to compare with: no verdict against it


class RecordingWriter(ScriptedWriter):
    """ScriptedWriter that also keeps each request: the attempts' bookkeeping is under test."""

    def __init__(self, replies):
        super().__init__(replies)
        self.requests = []

    def generate(self, conversations, **kw):
        self.requests += conversations
        return super().generate(conversations, **kw)


def program_context(tmp_path, **instructor):
    """A loop context on a small arith task in program mode; no stage output is stored through it."""
    from lfe_local.config import Config
    from lfe_local.loop import Context
    from lfe_local.tasks import make_task
    from lfe_local.tui import NullReporter

    cfg = Config.model_validate({"task": {"name": "arith", "train_size": 6, "val_size": 2, "test_size": 2},
                                 "instructor": {"new_problems": "program", **instructor}})
    task = make_task("arith", {k: v for k, v in cfg.task.items() if k != "name"}, tmp_path)
    return Context(tmp_path, cfg, task, None, "r", NullReporter())


def test_a_group_gets_up_to_generator_attempts_generators(tmp_path):
    """g0's reply had no code: asked again as it was; g1 fails the equation check: repaired, and
    repaired again when the repair fails too; g2 is right: left alone. Each new generator runs."""
    from lfe_local.loop.program_mode import repair_generators

    lp = program_context(tmp_path, generator_attempts=3)
    cfg = lp.cfg
    examples = [Example("elsewhere-0001", "q", "ref")]  # no source item: the skill check is not under test
    jobs = [GeneratorJob(f"c1-le-g{i}", "le", "wrong operation", examples,
                         generator_messages(MATH_LESSON, "wrong operation", examples)) for i in range(3)]
    written = [GeneratorOutcome(jobs[0], None, "truncated", 3, 1, 1, 1.0, "{\"code\": \"def"),
               GeneratorOutcome(jobs[1], OFF_BY_ONE, None, 1, 1, 1, 1.0, ""),
               GeneratorOutcome(jobs[2], GOOD, None, 1, 1, 1, 1.0, "")]
    runs = [None, run_generator(OFF_BY_ONE, SEEDS, MATH_LESSON, timeout_s=10),
            run_generator(GOOD, SEEDS, MATH_LESSON, timeout_s=10)]
    writer = RecordingWriter([json.dumps({"code": c}) for c in (GOOD, OFF_BY_ONE, GOOD)])
    rows, samples, unasked = repair_generators(lp, writer, 1, written, runs, len(SEEDS))
    assert unasked == 0
    assert [(r["generator_id"], r["status"]) for r in rows] == [
        ("c1-le-g0-r", "made"), ("c1-le-g1-r", "made"), ("c1-le-g1-r2", "made")]
    assert writer.temperatures == [0.7, 0.7, 0.7] and writer.replies == []
    assert writer.requests[0] == jobs[0].messages  # the rewrite: the request as it was
    assert "fail the check" in writer.requests[1][-1]["content"]  # the repairs: with what went wrong
    assert "fail the check" in writer.requests[2][-1]["content"]
    assert {s["generator_id"] for s in samples} == {"c1-le-g0-r", "c1-le-g1-r", "c1-le-g1-r2"}
    assert all(len([s for s in samples if s["generator_id"] == r["generator_id"]]) == r["instances_made"] == len(SEEDS)
               for r in rows)
    # Two attempts in all: one round, as before generator_attempts.
    lp.cfg = cfg.model_copy(update={"instructor": cfg.instructor.model_copy(update={"generator_attempts": 2})})
    writer = RecordingWriter([json.dumps({"code": c}) for c in (GOOD, OFF_BY_ONE)])
    rows, _, _ = repair_generators(lp, writer, 1, written, runs, len(SEEDS))
    assert [r["generator_id"] for r in rows] == ["c1-le-g0-r", "c1-le-g1-r"]


class SlowWriter(RecordingWriter):
    """RecordingWriter whose every call takes `seconds`: the deadline's bookkeeping is under test."""

    def __init__(self, replies, seconds):
        super().__init__(replies)
        self.seconds = seconds

    def generate(self, conversations, **kw):
        time.sleep(self.seconds)
        return super().generate(conversations, **kw)


def test_no_generator_or_repair_is_asked_for_after_the_deadline(tmp_path):
    """generator_time_s: the first job starts before the deadline and finishes; the jobs after it
    are not asked (None in their place), and a repair round past the deadline asks nothing."""
    from lfe_local.instruct.generators import write_generators
    from lfe_local.loop.program_mode import repair_generators

    writer = SlowWriter([json.dumps({"code": GOOD})] * 3, seconds=0.5)
    examples = [Example("elsewhere-0001", "q", "ref")]
    jobs = [GeneratorJob(f"c1-le-g{i}", "le", "wrong operation", examples,
                         generator_messages(MATH_LESSON, "wrong operation", examples)) for i in range(3)]
    outs = write_generators(writer, jobs, temperature=0.0, max_tokens=100, retries=0, seed=0,
                            deadline=time.monotonic() + 0.25)
    assert outs[0] is not None and outs[0].code == GOOD.strip() and outs[1:] == [None, None]
    assert len(writer.requests) == 1

    lp = program_context(tmp_path)
    written = [GeneratorOutcome(jobs[0], None, "truncated", 3, 1, 1, 1.0, "{\"code\": \"def"),
               GeneratorOutcome(jobs[1], LOOPS, None, 1, 1, 1, 1.0, "")]
    runs = [None, run_generator(LOOPS, SEEDS, MATH_LESSON, timeout_s=1)]
    writer = RecordingWriter([json.dumps({"code": GOOD})] * 2)
    rows, samples, unasked = repair_generators(lp, writer, 1, written, runs, len(SEEDS),
                                               deadline=time.monotonic() - 1)
    assert (rows, samples, unasked, writer.requests) == ([], [], 2, [])
    # Without a deadline both are asked again.
    rows, _, unasked = repair_generators(lp, writer, 1, written, runs, len(SEEDS))
    assert [r["generator_id"] for r in rows] == ["c1-le-g0-r", "c1-le-g1-r"] and unasked == 0
