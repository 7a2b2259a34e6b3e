"""LE, learning from errors: per failed item, the instructor analyses the error, corrects the
solution and writes K new similar practice problems.

The prompt is one-shot: the task lesson's worked demonstration precedes the real request. A 135M
instructor copies the demonstrated structure far more reliably than it follows a description of it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ..engines.base import ChatEngine
from ..tasks.base import Demo, Lesson
from .calls import Job, Outcome, ask


@dataclass
class Failure:
    item_id: str
    question: str
    wrong_response: str
    gold: str | None  # shown as "Correct final answer" unless show_reference = "none" (or the task has none)
    reference: str | None = None  # the gold worked solution, shown when show_reference = "solution"
    feedback: str | None = None  # what scoring found, e.g. the failing test of a code answer


def plural(lesson: Lesson, k: int) -> str:
    return f"{k} new similar {lesson.unit}{'s' if k != 1 else ''}"


def reference_lines(gold: str | None, reference: str | None) -> list[str]:
    """What the instructor is shown of the gold (see `show_reference`), then a blank line."""
    lines = []
    if reference is not None:
        lines.append(f"Reference solution: {reference}")
    if gold is not None:
        lines.append(f"Correct final answer: {gold}")
    return [*lines, ""]


def wrong_lines(failure: Failure) -> list[str]:
    """The student's wrong response, what scoring found, and the reference lines."""
    lines = [f"Student's wrong answer: {failure.wrong_response}"]
    if failure.feedback:
        lines.append(f"Result of running the tests: {failure.feedback}")
    return lines + reference_lines(failure.gold, failure.reference)


def demo_failure(demo: Demo, real: Failure) -> Failure:
    """The demonstration's failure, showing exactly the kinds of information the real one shows."""
    return Failure("demo", demo.question, demo.wrong,
                   gold=demo.answer if real.gold is not None else None,
                   reference=demo.reference if real.reference is not None else None,
                   feedback=demo.feedback if real.feedback else None)


def demo_reply(demo: Demo, k: int, analysis: str | None = None, corrects: bool = True) -> str:
    new = [demo.new[i % len(demo.new)] for i in range(k)]
    if not corrects:
        return json.dumps({"new_problems": new})
    reply = {**demo.corrected, "error_type": demo.error_type, "analysis": analysis or demo.analysis}
    return json.dumps({**reply, "new_problems": new} if k > 0 else reply)


def new_clause(lesson: Lesson, k: int, purpose: str = "") -> str:
    """The request for new problems (none when they come from generators: k = 0)."""
    if k <= 0:
        return "."
    return f", and write {plural(lesson, k)} {lesson.vary}{purpose}, each with {lesson.new_parts}."


def request_text(lesson: Lesson, failure: Failure, k: int) -> str:
    unit = lesson.unit
    return "\n".join([
        f"{unit.capitalize()}: {failure.question}", *wrong_lines(failure),
        f"Explain the student's error, solve the {unit} correctly {lesson.solve}{lesson.check}"
        + new_clause(lesson, k),
    ])


def le_messages(lesson: Lesson, failure: Failure, k: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": lesson.system},
        {"role": "user", "content": request_text(lesson, demo_failure(lesson.demo, failure), k)},
        {"role": "assistant", "content": demo_reply(lesson.demo, k)},
        {"role": "user", "content": request_text(lesson, failure, k)},
    ]


def new_per_error(budget: int, n_errors: int, cap: int) -> int:
    """The paper's N = ceil(budget / errors) + 1, bounded so a small instructor's reply stays short."""
    if n_errors <= 0:
        return 0
    return max(0, min(cap, math.ceil(budget / n_errors) + 1))


def le_job(lesson: Lesson, failure: Failure, k: int) -> Job:
    return Job(failure.item_id, "le", le_messages(lesson, failure, k), k, failure.question, lesson)


def analyse(engine: ChatEngine, lesson: Lesson, failures: list[Failure], k: int, **kwargs) -> list[Outcome]:
    """LE on its own: one instructor call per failure (see `calls.ask` for the keyword arguments)."""
    return ask(engine, [le_job(lesson, f, k) for f in failures], **kwargs)
