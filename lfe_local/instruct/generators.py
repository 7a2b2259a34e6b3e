"""Program-made practice problems (`instructor.new_problems = "program"`).

Instead of writing K problems by hand in each reply, the instructor is shown a group of errors of
one type (or, for the aug baseline, a group of random train items) and writes a *generator*:

    def generate(rng):  # rng is a random.Random
        ...
        return {"question": ..., "solution": ..., "answer": ...}

The generator runs in the sandbox with many seeds, so one instructor call yields many samples.
Every instance then goes through the same verification, dedup and decontamination as a written
sample, and a few instances per generator are solved afresh from their question text alone (see
verify/generator_check.py): a generator whose code computes something other than what its
question says is rejected whole. A generator whose run fails, or whose instances mostly fail the
task's check, is shown what went wrong and asked for a fix (a repair: a new generator whose id
ends in "-r", then "-r2", ... up to `generator_attempts` in all); the small bundled instructor's
wrong generators are mostly one-line mistakes. A reply with no usable code is asked again as it was.
"""

from __future__ import annotations

import ast
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ValidationError, field_validator

from ..engines.base import ChatEngine
from ..sandbox import Limits, run_untrusted
from ..tasks.base import Lesson, Sample, Verdict
from .calls import call, each
from .open_strings import close_open_strings
from .schema import answer_text, problem_model
from .traced_numbers import HARNESS as TRACED_HARNESS
from .traced_numbers import traced_solution

# Marks the harness's own output lines, so text the generator prints itself is never taken for an instance.
_MARK = "@@instance "


@dataclass
class Example:
    """One item a generator is asked to imitate: a failed train item (with the error) or, for aug,
    a random train item (no error information)."""

    item_id: str
    question: str
    reference: str | None  # the gold worked solution
    wrong_response: str | None = None
    analysis: str | None = None  # the instructor's own analysis of the error, from the LE/LEC call


@dataclass
class GeneratorJob:
    generator_id: str
    strategy: str  # le | lec | both's share | aug: the strategy whose samples the instances become
    error_type: str | None  # the group's error type (its taxonomy cluster); None for aug
    examples: list[Example]
    messages: list[dict[str, str]] = field(default_factory=list)


def _example_lines(ex: Example) -> list[str]:
    lines = [f"Problem: {ex.question}"]
    if ex.wrong_response is not None:
        lines.append(f"Student's wrong answer: {ex.wrong_response}")
    if ex.reference:
        lines.append(f"Reference solution: {ex.reference}")
    if ex.analysis:
        lines.append(f"Analysis: {ex.analysis}")
    return [*lines, ""]


def request_text(lesson: Lesson, error_type: str | None, examples: list[Example]) -> str:
    head = (f"A student got these {lesson.unit}s wrong (error type: {error_type})." if error_type is not None
            else f"Here are {lesson.unit}s from the course.")
    body = [line for ex in examples for line in _example_lines(ex)]
    return "\n".join([head, "", *body, lesson.generator.request])


def generator_messages(lesson: Lesson, error_type: str | None, examples: list[Example]) -> list[dict[str, str]]:
    """One-shot: the lesson's demonstration group and generator, then the real group."""
    demo = lesson.demo
    shown = Example("demo", demo.question, demo.reference,
                    wrong_response=demo.wrong if error_type is not None else None,
                    analysis=demo.analysis if error_type is not None else None)
    demo_type = demo.error_type if error_type is not None else None
    return [
        {"role": "system", "content": lesson.system},
        {"role": "user", "content": request_text(lesson, demo_type, [shown])},
        {"role": "assistant", "content": json.dumps({"code": lesson.generator.demo_code})},
        {"role": "user", "content": request_text(lesson, error_type, examples)},
    ]


# No maxLength: llama.cpp's grammar for a long bounded string explodes; max_tokens bounds the reply.
CODE_SCHEMA = {"type": "object", "properties": {"code": {"type": "string", "minLength": 20}}, "required": ["code"]}


class CodeReply(BaseModel):
    code: str

    @field_validator("code")
    @classmethod
    def _mend(cls, code: str) -> str:
        # Mended once, here, so the check and the stored generator see the same code (open_strings.py).
        return close_open_strings(code)


@dataclass
class GeneratorOutcome:
    job: GeneratorJob
    code: str | None  # None when no attempt gave a usable reply
    failure: str | None
    attempts: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    raw_reply: str | None


def write_generators(engine: ChatEngine, jobs: list[GeneratorJob], *, temperature: float, max_tokens: int,
                     retries: int, seed: int, on_progress: Callable[[int], None] | None = None,
                     deadline: float | None = None) -> list[GeneratorOutcome | None]:
    """One instructor call (plus bounded retries on an unusable reply) per generator job. A string
    left open at the end of a line is closed before the code is judged (open_strings.py). A job
    that would start after `deadline` (time.monotonic()) is not asked: None in its place."""
    def one(n: int, job: GeneratorJob) -> GeneratorOutcome | None:
        if deadline is not None and time.monotonic() >= deadline:
            return None
        c = call(engine, job.messages, CODE_SCHEMA, CodeReply, temperature=temperature, max_tokens=max_tokens,
                 retries=retries, seed=seed + 1000 * n, check=lambda reply: _code_problem(reply.code))
        return GeneratorOutcome(job, c.reply.code.strip() if c.reply else None, c.problem, c.attempts,
                                c.prompt_tokens, c.completion_tokens, c.seconds, c.last.text if c.last else None)

    return each(engine, jobs, one, on_progress)


def _code_problem(code: str) -> str | None:
    """Why a reply's code cannot be a generator, found without running it (ast.parse only reads
    the text), so an unusable reply is retried like an invalid one."""
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        return f"syntax_error: {err.msg} (line {err.lineno})"
    if not any(isinstance(n, ast.FunctionDef) and n.name == "generate" for n in tree.body):
        return "no_generate_function"
    return None


# -- running a generator ----------------------------------------------------------------------------

# Appended after the model's code, inside the sandbox: call generate() once per seed, each call
# fenced on its own, and print one marked JSON line per call. Shape checks happen outside.
_HARNESS = '''

import json as _json, random as _random
for _seed in {seeds!r}:
    try:
        _value = generate(_random.Random(_seed))
        _line = _json.dumps({{"seed": _seed, "value": _value}}, default=str)
    except BaseException as _e:
        _line = _json.dumps({{"seed": _seed, "error": type(_e).__name__ + ": " + " ".join(str(_e).split())[:200]}})
    print({mark!r} + _line, flush=True)
'''


@dataclass
class Instance:
    seed: int
    question: str | None = None
    solution: str | None = None
    answer: str | None = None
    error: str | None = None  # why this instance is unusable: raised, bad_shape, ...
    trace: list | None = None  # the answer's derivation, [a, op, b, c, a_given, b_given] per step (traced runs; traced_numbers.py)


@dataclass
class GeneratorRun:
    ok: bool  # the program ran to its end (a timeout or crash loses every instance)
    kind: str  # the sandbox's verdict: ok | timeout | exception | killed | ...
    detail: str
    instances: list[Instance]
    seconds: float


def run_generator(code: str, seeds: list[int], lesson: Lesson, timeout_s: float, traced: bool = False) -> GeneratorRun:
    """Run `generate(rng)` once per seed in the sandbox and check each result's shape; `traced`:
    with numbers that record how they were computed, so each instance carries its answer's
    derivation (traced_numbers.py)."""
    program = code + (TRACED_HARNESS if traced else _HARNESS).format(seeds=list(seeds), mark=_MARK)
    # Many instances print more than one program's usual output.
    limits = Limits(wall_s=timeout_s, cpu_s=math.ceil(timeout_s) + 1, output_chars=max(20_000, 1500 * len(seeds)))
    result = run_untrusted(program, limits)
    model = problem_model(lesson, with_extra=False)
    by_seed: dict[int, Instance] = {}
    for line in result.stdout.splitlines():
        if not line.startswith(_MARK):
            continue
        try:
            data = json.loads(line[len(_MARK):])
        except json.JSONDecodeError:
            continue
        seed = data.get("seed")
        if seed not in seeds or seed in by_seed:
            continue
        by_seed[seed] = _instance(seed, data, model)
    instances = [by_seed.get(s) or Instance(s, error=f"not_run: {result.kind}") for s in seeds]
    return GeneratorRun(result.ok, result.kind, result.detail, instances, result.seconds)


def _instance(seed: int, data: dict, model: type[BaseModel]) -> Instance:
    if "error" in data:
        return Instance(seed, error=f"raised: {data['error']}")
    value = data.get("value")
    if not isinstance(value, dict):
        return Instance(seed, error=f"bad_shape: returned {type(value).__name__}, not a dict")
    try:
        p = model.model_validate(value)
    except ValidationError as err:
        first = err.errors()[0]
        return Instance(seed, error=f"bad_shape: {'.'.join(map(str, first['loc']))}: {first['msg']}")
    answer = answer_text(getattr(p, "answer", None))
    trace = data.get("trace") if isinstance(data.get("trace"), list) else None
    return Instance(seed, question=p.question.strip(), solution=p.solution.strip(), answer=answer, trace=trace)


def instance_samples(cycle: int, job: GeneratorJob, instances: list[Instance]) -> list[Sample]:
    """Well-formed instances as samples to verify; their generator is their provenance. A traced
    instance's derivation rides along in `meta["traced_solution"]` (see rebuild_solutions)."""
    samples = []
    for inst in instances:
        if inst.error is None:
            traced = traced_solution(inst.trace, inst.question) if inst.trace else None
            samples.append(Sample(sample_id=f"{job.generator_id}-s{inst.seed}", strategy=job.strategy, kind="new",
                                  source_item_id=job.examples[0].item_id, question=inst.question,
                                  solution=inst.solution, answer=inst.answer, generator_id=job.generator_id,
                                  meta={"traced_solution": traced} if traced else {}))
    return samples


# The check's reasons that a solution rebuilt from the generator's computation can cure: they are
# about the solution text, not the question or the answer.
REBUILDABLE = frozenset({"empty_solution", "inconsistent_answer", "no_equations", "bad_equation", "other_skill"})


def rebuild_solutions(samples: list[Sample], check: Callable[[Sample], Verdict]) -> list[Sample]:
    """Each instance whose own solution fails `check` for a reason in REBUILDABLE, and whose traced
    derivation passes it, gets the derivation as its solution (its own text kept in
    `own_solution`); every other instance is returned as it was."""
    out = []
    for s in samples:
        traced = s.meta.get("traced_solution")
        if traced and check(s).reason in REBUILDABLE:
            rebuilt = replace(s, solution=traced, own_solution=s.solution)
            if check(rebuilt).ok:
                s = rebuilt
        out.append(s)
    return out


# -- grouping errors and recording generators ----------------------------------------------------------

def group_by_type(typed: list[tuple[str, Example]], per_group: int, max_groups: int) -> list[tuple[str, list[Example]]]:
    """Errors of one type, in chunks of at most `per_group`; every type gets a generator before
    any type gets a second one (largest types first), at most `max_groups` in all."""
    by_type: dict[str, list[Example]] = {}
    for error_type, ex in typed:
        by_type.setdefault(error_type, []).append(ex)
    ordered = sorted(by_type.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    chunked = [[(t, exs[i:i + per_group]) for i in range(0, len(exs), per_group)] for t, exs in ordered]
    groups = []
    for round_ in range(max((len(c) for c in chunked), default=0)):
        groups += [c[round_] for c in chunked if round_ < len(c)]
    return groups[:max_groups]


def summarize_failures(instances: list[Instance]) -> str | None:
    """"raised: ZeroDivisionError x2; bad_shape x1" for the instances that did not become samples."""
    counts: dict[str, int] = {}
    for inst in instances:
        if inst.error is not None:
            head, _, rest = inst.error.partition(": ")
            key = f"{head}: {rest.split(':')[0]}" if head == "raised" else head
            counts[key] = counts.get(key, 0) + 1
    return "; ".join(f"{k} x{n}" for k, n in sorted(counts.items())) or None


def generator_row(outcome: GeneratorOutcome, run: GeneratorRun | None, n_seeds: int) -> dict:
    """The `generators` row of one outcome (without run_id and cycle), before the checks."""
    job = outcome.job
    made = [i for i in run.instances if i.error is None] if run is not None else []
    if outcome.code is None:
        status, reason, detail = "failed", "no_code", outcome.failure
    elif not run.ok:
        status, reason, detail = "failed", "run_failed", f"{run.kind}: {run.detail}"
    elif not made:
        status, reason, detail = "failed", "no_instances", summarize_failures(run.instances)
    else:
        status, reason, detail = "made", None, None
    return {
        "generator_id": job.generator_id, "strategy": job.strategy, "error_type": job.error_type,
        "source_item_ids": ",".join(ex.item_id for ex in job.examples), "code": outcome.code,
        "attempts": outcome.attempts, "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens, "seconds": outcome.seconds, "raw_reply": outcome.raw_reply,
        "run_kind": run.kind if run is not None else None, "instances_run": n_seeds if run is not None else 0,
        "instances_made": len(made) if run is not None and run.ok else 0,
        "instance_failures": summarize_failures(run.instances) if run is not None else None,
        "status": status, "reason": reason, "detail": detail,
    }


# -- repairs ---------------------------------------------------------------------------------------

REPAIR_SUFFIX = "-r"


def repair_feedback(run: GeneratorRun, samples: list[Sample], verdicts: list[Verdict]) -> str | None:
    """What was wrong with a generator, in words the instructor can act on, with one failing
    instance; None when at least half of its instances pass the task's check."""
    if not run.ok:
        return f"Running generate(rng) failed ({run.kind}): {run.detail[:300]}"
    if not samples:
        first = next(i.error for i in run.instances if i.error is not None)
        return f"Every call of generate(rng) failed ({summarize_failures(run.instances)}); the first: {first[:300]}"
    bad = [(s, v) for s, v in zip(samples, verdicts, strict=True) if not v.ok]
    if 2 * len(bad) <= len(samples):
        return None
    sample, verdict = bad[0]
    why = f"{verdict.reason}: {verdict.detail}" if verdict.detail else str(verdict.reason)
    return (f"{len(bad)} of the {len(samples)} problems it made fail the check ({why[:300]}). One of them:\n"
            f"Question: {sample.question}\nSolution: {sample.solution}\nAnswer: {sample.answer}")


# The check's reasons in words the instructor can act on (it does not know the codes).
_REASON_WORDS = {
    "no_equations": "its solution writes no calculation as an equation with the numbers, like 3 * 8 = 24",
    "bad_equation": "an equation in its solution is false",
    "inconsistent_answer": "its solution does not end on the answer it returns",
    "missing_answer": "its answer is not a number",
    "empty_solution": "its solution is empty",
    "solved_in_question": "its question already contains the solution's calculation",
    "other_skill": "its problems do not practise the calculation the problems above need",
}


def attempt_id(generator_id: str, attempt: int) -> str:
    """The id of a group's attempt after its first: "-r", then "-r2", "-r3", ..."""
    return generator_id + REPAIR_SUFFIX + (str(attempt) if attempt > 1 else "")


def rewrite_job(job: GeneratorJob, attempt: int) -> GeneratorJob:
    """The same request once more (its last reply had no usable code; sampled, it may now)."""
    return GeneratorJob(attempt_id(job.generator_id, attempt), job.strategy, job.error_type, job.examples, job.messages)


def repair_job(job: GeneratorJob, feedback: str, attempt: int = 1) -> GeneratorJob:
    """The generator's request again with what went wrong (one failing problem and why), asked
    afresh. The failed code is not shown: shown it (as its own earlier turn), the bundled 1.5B
    returned it unchanged in 8 of 8 repairs, greedy or sampled; asked afresh, it fixed 3 of 13."""
    for reason, words in _REASON_WORDS.items():
        feedback = feedback.replace(f"({reason}", f"({words}; {reason}", 1)
    request = job.messages[-1]["content"]
    messages = job.messages[:-1] + [{"role": "user", "content": (
        f"{request}\n\nA generator written earlier for these problems was wrong. {feedback}\n\n"
        "Write a new generate(rng) that does not make this mistake: the question, every equation of the "
        "solution, and the answer must be right.")}]
    return GeneratorJob(attempt_id(job.generator_id, attempt), job.strategy, job.error_type, job.examples, messages)
