"""The LE instructor: prompt contents, the budget formula, reply parsing, and — with the real
bundled model — a truncated reply retried and then recorded as a failure, never raised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lfe_local.config import bundled_model
from lfe_local.instruct.calls import Job, _samples
from lfe_local.instruct.calls import parse as _parse
from lfe_local.instruct.le import Failure, analyse, le_messages, new_per_error
from lfe_local.instruct.schema import number_text, reply_model, reply_schema
from lfe_local.tasks.math_lesson import MATH_LESSON as MATH


def le_schema(k):
    return reply_schema(MATH, k)


def parse(text, finish):
    return _parse(text, finish, reply_model(MATH))


def test_new_per_error_follows_the_paper_and_the_cap():
    assert new_per_error(3000, 1000, 10) == 4  # ceil(3000 / 1000) + 1
    assert new_per_error(24, 12, 4) == 3
    assert new_per_error(100, 3, 4) == 4  # capped
    assert new_per_error(10, 0, 4) == 0


def test_prompt_shows_reference_only_when_asked():
    with_ref = le_messages(MATH, Failure("i", "Q?", "wrong", "14", "12 + 2 = 14."), 2)[-1]["content"]
    assert "Reference solution: 12 + 2 = 14." in with_ref and "Correct final answer: 14" in with_ref
    answer_only = le_messages(MATH, Failure("i", "Q?", "wrong", "14", None), 2)[-1]["content"]
    assert "Reference solution" not in answer_only and "Correct final answer: 14" in answer_only
    blind = le_messages(MATH, Failure("i", "Q?", "wrong", None, None), 2)
    assert all("Correct final answer" not in m["content"] and "Reference" not in m["content"] for m in blind)
    # the one-shot demonstration reply has exactly K new problems and matches the schema's keys
    demo = json.loads(blind[2]["content"])
    assert len(demo["new_problems"]) == 2
    assert list(demo) == list(le_schema(2)["properties"])


@pytest.mark.parametrize(
    ("text", "finish", "prefix"),
    [
        ('{"corrected_solution": "1 + 1 = 2", "final_ans', "length", "truncated"),
        ("not json at all", "stop", "invalid_json"),
        ('{"corrected_solution": "x"}', "stop", "schema: final_answer"),
        ('{"corrected_solution": "1 + 1 = 2", "final_answer": "two", "error_type": "e", "analysis": "a", '
         '"new_problems": []}', "stop", "schema: final_answer"),
    ],
)
def test_bad_replies_are_named(text, finish, prefix):
    reply, problem = parse(text, finish)
    assert reply is None and problem.startswith(prefix)


def test_raw_newlines_inside_strings_are_accepted():
    # Python's "\n" puts a real newline (a JSON control character) inside the JSON string.
    text = '{"corrected_solution": "line 1\nline 2\tx", "final_answer": 2, "program": "print(2)", "error_type": "e", "analysis": "a", "new_problems": []}'
    assert "\n" in text
    reply, problem = parse(text, "stop")
    assert problem is None and reply.corrected_solution == "line 1\nline 2\tx"


def test_good_reply_parses():
    text = json.dumps({"corrected_solution": "2 * 3 = 6.", "final_answer": 6.0, "program": "print(2 * 3)",
                       "error_type": "slip",
                       "analysis": "a", "new_problems": [{"question": "q", "solution": "s", "answer": 2.5,
                                                          "program": "print(2.5)"}]})
    reply, problem = parse(text, "stop")
    assert problem is None and number_text(reply.final_answer) == "6"
    assert number_text(reply.new_problems[0].answer) == "2.5"


@pytest.mark.model
def test_truncated_reply_is_retried_then_recorded_as_failure():
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    from lfe_local.engines.llama_cpp_engine import LlamaCppEngine

    engine = LlamaCppEngine(bundled_model(), n_ctx=2048, seed=1)
    try:
        failure = Failure("arith-train-0001", "Mia has 3 apples and buys 4 more. How many?", "3 + 4 = 8.", "7",
                          "3 + 4 = 7. The answer is 7.")
        # 12 tokens cannot hold the required JSON: every attempt is truncated.
        [out] = analyse(engine, MATH, [failure], 1, cycle=1, temperature=0.0, max_tokens=12, retries=2, seed=3)
    finally:
        engine.close()
    row = out.analysis
    assert row["status"] == "failed" and row["failure"] == "truncated"
    assert row["attempts"] == 3 and row["raw_reply"] and out.samples == []


def test_lec_prompt_shows_neighbours_with_responses_and_a_matching_demo():
    from lfe_local.instruct.lec import Neighbour, lec_job

    failure = Failure("f1", "Q wrong?", "bad work", "14", None)
    neighbours = [Neighbour("n1", "Q one?", "1 + 1 = 2. The answer is 2.", 0.9),
                  Neighbour("n2", "Q two?", "x" * 2000, 0.8)]
    job = lec_job(MATH, failure, neighbours, 2)
    demo, real = job.messages[1]["content"], job.messages[3]["content"]
    assert "Solved problem 1: Q one?" in real and "Student's correct answer 1: 1 + 1 = 2." in real
    assert "Solved problem 2: Q two?" in real and "x" * 600 + " ..." in real and "x" * 601 not in real
    assert "Problem the student got wrong: Q wrong?" in real and "Student's wrong answer: bad work" in real
    assert "Correct final answer: 14" in real and "Reference solution" not in real
    # The demonstration shows as many solved problems as the real request, and the same kind of gold.
    assert demo.count("Solved problem") == 2 and "Correct final answer" in demo and "Reference" not in demo
    assert job.strategy == "lec" and job.corrects and job.schema() == le_schema(2)


def test_aug_job_asks_for_new_problems_only():
    from lfe_local.instruct.aug import aug_job
    job = aug_job(MATH, "t1", "Q?", "2 + 2 = 4. The answer is 4.", "4", 3)
    real = job.messages[3]["content"]
    assert "Problem: Q?" in real and "Solution: 2 + 2 = 4." in real and "Write 3 new problems" in real
    assert "wrong" not in real.lower()  # no error information
    assert not job.corrects and set(job.schema()["properties"]) == {"new_problems"}
    assert job.schema()["properties"]["new_problems"]["minItems"] == 3 and job.reply_model() is reply_model(MATH, False)
    demo_reply = json.loads(job.messages[2]["content"])
    assert len(demo_reply["new_problems"]) == 3


def test_lesson_shapes_the_reply_and_the_samples():
    """A code-like lesson (no final answer, an extra `tests` field) and a multiple-choice one (an
    enum answer): the schema, the validation and the samples all follow the lesson."""
    from dataclasses import replace

    code = replace(MATH, unit="problem", answer=None, extra={"tests": {"type": "string", "maxLength": 99}},
                   demo=replace(MATH.demo, answer="", corrected={"corrected_solution": "def f(): return 1"},
                                feedback="AssertionError: f() == 2",
                                new=({"question": "Write g.", "solution": "def g(): return 2",
                                      "tests": "assert g() == 2"},)))
    schema = reply_schema(code, 1)
    assert "final_answer" not in schema["properties"]
    assert list(schema["properties"]["new_problems"]["items"]["properties"]) == ["question", "solution", "tests"]
    failure = Failure("HumanEval/1", "def f():", "return 3", None, "return 1", feedback="AssertionError: f() == 1")
    messages = le_messages(code, failure, 1)
    assert "Result of running the tests: AssertionError: f() == 1" in messages[3]["content"]
    assert "Result of running the tests: AssertionError: f() == 2" in messages[1]["content"]
    assert json.loads(messages[2]["content"])["new_problems"][0]["tests"] == "assert g() == 2"
    job = Job("HumanEval/1", "le", messages, 1, "def f():", code)
    text = json.dumps({"corrected_solution": "def f(): return 1", "error_type": "e", "analysis": "a",
                       "new_problems": [{"question": "q", "solution": "def h(): return 0", "tests": "assert h() == 0"}]})
    reply, problem = _parse(text, "stop", job.reply_model())
    assert problem is None
    corrected, new = _samples(job, reply, 1)
    assert corrected.answer is None and corrected.solution == "def f(): return 1" and corrected.tests is None
    assert new.tests == "assert h() == 0" and new.answer is None and new.program is None

    choice = replace(MATH, answer={"type": "string", "enum": ["A", "B", "C", "D"]}, extra={})
    ok = {"corrected_solution": "s", "final_answer": "B", "error_type": "e", "analysis": "a",
          "new_problems": [{"question": "q", "solution": "s", "answer": "C"}]}
    reply, problem = _parse(json.dumps(ok), "stop", reply_model(choice))
    assert problem is None
    job = Job("m1", "le", [], 1, "Q?", choice)
    assert [s.answer for s in _samples(job, reply, 1)] == ["B", "C"]
    bad = {**ok, "final_answer": "E"}
    assert _parse(json.dumps(bad), "stop", reply_model(choice))[1].startswith("schema: final_answer")


def test_llama_cpp_loads_without_repacked_buffers_where_the_cpu_has_amx():
    """On an AMX CPU the bundled GGUFs crashed llama.cpp at their first decode (segfault) when
    loaded into its AMX buffer; a llama.cpp built with AMX kernels loads there without extra
    buffer types, and answers (scripts/setup builds it without them)."""
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    import llama_cpp.llama as binding

    from lfe_local.engines.llama_cpp_engine import LlamaCppEngine, _without_extra_buffers, llama_amx_active

    with _without_extra_buffers():
        assert binding.llama_cpp.llama_model_default_params().use_extra_bufts is False
    assert binding.llama_cpp.llama_model_default_params().use_extra_bufts is True  # restored
    engine = LlamaCppEngine(bundled_model(), n_ctx=1024, seed=1)
    try:
        assert engine.extra_buffers is not llama_amx_active()
        [gen] = engine.generate([[{"role": "user", "content": "What is 2 + 3?"}]], max_tokens=8)
    finally:
        engine.close()
    assert gen.completion_tokens > 0 and gen.text.strip()
