"""LEC, learning from errors by contrast: each failed item is shown beside the k most similar
train items the target answered correctly, *with the target's own correct responses* (the paper
showed only their questions), so the instructor can see what separates what the target can do
from what it cannot. The reply has the same structure as LE and goes through the same checks."""

from __future__ import annotations

from dataclasses import dataclass

from ..tasks.base import Lesson
from .calls import Job
from .le import Failure, demo_failure, demo_reply, new_clause, wrong_lines

MAX_SHOWN_RESPONSE = 600  # characters of a neighbour's response: enough for a worked solution


@dataclass
class Neighbour:
    item_id: str
    question: str
    response: str  # the target's correct response to it
    similarity: float


def _shorten(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_SHOWN_RESPONSE else text[:MAX_SHOWN_RESPONSE].rstrip() + " ..."


def lec_request(lesson: Lesson, failure: Failure, k: int, neighbours: list[tuple[str, str]]) -> str:
    unit = lesson.unit
    lines = [f"Similar {unit}s the student solved correctly:"]
    for i, (q, r) in enumerate(neighbours, 1):
        lines += [f"Solved {unit} {i}: {q}", f"Student's correct answer {i}: {_shorten(r)}"]
    lines += ["", f"{unit.capitalize()} the student got wrong: {failure.question}", *wrong_lines(failure)]
    lines.append(
        "Compare the wrong answer with the correct ones: say what the student can already do and what "
        f"separates this error from the solved {unit}s. Solve the wrong {unit} correctly {lesson.solve}{lesson.check}"
        + new_clause(lesson, k, " that practise what the student got wrong")
    )
    return "\n".join(lines)


def lec_messages(lesson: Lesson, failure: Failure, neighbours: list[Neighbour], k: int) -> list[dict[str, str]]:
    demo = lesson.demo
    solved = [demo.solved[i % len(demo.solved)] for i in range(len(neighbours))]
    return [
        {"role": "system", "content": lesson.system},
        {"role": "user", "content": lec_request(lesson, demo_failure(demo, failure), k, solved)},
        {"role": "assistant", "content": demo_reply(demo, k, analysis=demo.contrast)},
        {"role": "user", "content": lec_request(lesson, failure, k, [(n.question, n.response) for n in neighbours])},
    ]


def lec_job(lesson: Lesson, failure: Failure, neighbours: list[Neighbour], k: int) -> Job:
    return Job(failure.item_id, "lec", lec_messages(lesson, failure, neighbours, k), k, failure.question, lesson)
