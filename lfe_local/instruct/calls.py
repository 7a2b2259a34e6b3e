"""Instructor calls: one call (plus bounded retries) per job, every reply validated against its
schema, never an exception for a bad reply — a failure is recorded in the `analyses` row."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ..engines.base import ChatEngine, Generation
from ..tasks.base import Lesson, Sample
from .schema import answer_text, reply_model, reply_schema

RETRY_TEMPERATURE = 0.7


@dataclass
class Job:
    item_id: str  # the train item the call is about (a failed one for le/lec, a random one for aug)
    strategy: str  # le | lec | aug
    messages: list[dict[str, str]]
    k: int  # new problems asked for
    question: str  # the item's question: a corrected solution is trained against it
    lesson: Lesson  # the task's wording, reply fields and demonstration

    @property
    def corrects(self) -> bool:
        """le and lec replies analyse an error and correct it; aug replies only add problems."""
        return self.strategy != "aug"

    def schema(self) -> dict:
        return reply_schema(self.lesson, self.k, self.corrects)

    def reply_model(self) -> type[BaseModel]:
        return reply_model(self.lesson, self.corrects)


@dataclass
class Outcome:
    analysis: dict  # one `analyses` row (without run/cycle/task)
    samples: list[Sample] = field(default_factory=list)


def parse(text: str, finish: str, model: type[BaseModel]) -> tuple[BaseModel | None, str | None]:
    try:
        # strict=False: a raw newline or tab inside a string (code, mostly) means what it says.
        data = json.loads(text, strict=False)
    except json.JSONDecodeError as err:
        return None, ("truncated" if finish == "length" else f"invalid_json: {err.msg}")
    try:
        return model.model_validate(data), None
    except ValidationError as err:
        first = err.errors()[0]
        return None, f"schema: {'.'.join(map(str, first['loc']))}: {first['msg']}"


def _samples(job: Job, reply: BaseModel, cycle: int) -> list[Sample]:
    base = f"c{cycle}-{job.strategy}-{job.item_id}"
    common = {"strategy": job.strategy, "source_item_id": job.item_id}
    out = []
    if job.corrects:
        program = getattr(reply, "program", None)
        out.append(Sample(sample_id=f"{base}-corrected", kind="corrected", question=job.question,
                          solution=reply.corrected_solution.strip(),
                          answer=answer_text(getattr(reply, "final_answer", None)),
                          program=(program or "").strip() or None, **common))
    for j, p in enumerate(reply.new_problems):
        # The lesson's extra fields (program, tests) are Sample fields of the same name.
        extra = {name: (getattr(p, name).strip() or None) for name in job.lesson.extra}
        out.append(Sample(sample_id=f"{base}-new{j}", kind="new", question=p.question.strip(),
                          solution=p.solution.strip(), answer=answer_text(getattr(p, "answer", None)),
                          **extra, **common))
    return out


@dataclass
class Call:
    """One instructor call with its retries: the usable reply (or None and why not) and the cost."""

    reply: BaseModel | None
    problem: str | None
    last: Generation | None  # the last attempt's generation
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


def call(engine: ChatEngine, messages: list[dict[str, str]], schema: dict, model: type[BaseModel], *,
         temperature: float, max_tokens: int, retries: int, seed: int,
         check: Callable[[BaseModel], str | None] | None = None) -> Call:
    """Ask until a reply parses, validates and passes `check` (None = fine), at most retries + 1 times."""
    out = Call(None, None, None)
    for attempt in range(retries + 1):
        # A retry at the same greedy setting would repeat the same reply: retries sample.
        temp = temperature if attempt == 0 else max(temperature, RETRY_TEMPERATURE)
        gen = engine.generate([messages], max_tokens=max_tokens, temperature=temp, json_schema=schema,
                              seed=seed + attempt)[0]
        out.last = gen
        out.attempts += 1
        out.prompt_tokens += gen.prompt_tokens
        out.completion_tokens += gen.completion_tokens
        out.seconds += gen.seconds
        reply, out.problem = parse(gen.text, gen.finish_reason, model)
        if reply is not None and check is not None:
            out.problem = check(reply)
        if reply is not None and out.problem is None:
            out.reply = reply
            break
    return out


def each(engine: ChatEngine, jobs: list, one: Callable[[int, Any], Any],
         on_progress: Callable[[int], None] | None = None) -> list:
    """`one(n, job)` for every job, in order of the jobs. An engine that serves requests concurrently
    (a server: `engine.concurrency` > 1) gets that many jobs at a time, each with its own retries and
    seeds, so the results do not depend on which finishes first."""
    def run(n_job):
        result = one(*n_job)
        if on_progress:
            with lock:
                on_progress(1)
        return result

    lock = threading.Lock()
    workers = min(getattr(engine, "concurrency", 1), len(jobs))
    if workers <= 1:
        return [run(nj) for nj in enumerate(jobs)]
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = [pool.submit(run, nj) for nj in enumerate(jobs)]
        return [f.result() for f in futures]
    finally:
        # On an error (or a stop asked for with Ctrl-C) the jobs not started are dropped; the
        # ones in flight finish.
        pool.shutdown(wait=True, cancel_futures=True)


def ask(engine: ChatEngine, jobs: list[Job], *, cycle: int, temperature: float, max_tokens: int, retries: int,
        seed: int, on_progress: Callable[[int], None] | None = None) -> list[Outcome]:
    def one(n: int, job: Job) -> Outcome:
        c = call(engine, job.messages, job.schema(), job.reply_model(), temperature=temperature,
                 max_tokens=max_tokens, retries=retries, seed=seed + 1000 * n)
        reply, problem, gen = c.reply, c.problem, c.last
        error_type = getattr(reply, "error_type", None)
        analysis = getattr(reply, "analysis", None)
        row = {
            "item_id": job.item_id, "strategy": job.strategy, "status": "ok" if reply else "failed",
            "failure": problem, "attempts": c.attempts,
            "error_type": error_type.strip() if error_type else None,
            "analysis": analysis.strip() if analysis else None,
            "prompt": job.messages[-1]["content"], "raw_reply": gen.text if gen else None,
            "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens, "seconds": c.seconds,
        }
        return Outcome(row, _samples(job, reply, cycle) if reply is not None else [])

    return each(engine, jobs, one, on_progress)
