"""LEC, learning from errors by contrast: each failed item is shown beside the k most similar
train items the target answered correctly, *with the target's own correct responses* (the paper
showed only their questions), so the instructor can see what separates what the target can do
from what it cannot. The reply has the same structure as LE and goes through the same checks."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .calls import Job
from .le import (
    _DEMO_ANSWER,
    _DEMO_NEW,
    _DEMO_PROBLEM,
    _DEMO_REFERENCE,
    _DEMO_WRONG,
    SYSTEM,
    Failure,
    reference_lines,
)

MAX_SHOWN_RESPONSE = 600  # characters of a neighbour's response: enough for a worked solution

_DEMO_NEIGHBOURS = [
    ("Ann has 3 bags with 5 apples in each bag. How many apples does Ann have?",
     "Ann has 3 * 5 = 15 apples. The answer is 15."),
    ("Tom has 20 stickers and gives away 6. How many stickers does Tom have left?",
     "Tom has 20 - 6 = 14 stickers left. The answer is 14."),
    ("Mia buys 4 packs with 3 pens in each pack. How many pens does Mia buy?",
     "Mia buys 4 * 3 = 12 pens. The answer is 12."),
]
_DEMO_ANALYSIS = ("The student multiplies groups correctly and subtracts correctly in one-step problems, but in "
                  "this two-step problem added the boxes and the pens per box instead of multiplying first.")


@dataclass
class Neighbour:
    item_id: str
    question: str
    response: str  # the target's correct response to it
    similarity: float


def _shorten(text: str) -> str:
    text = text.strip()
    return text if len(text) <= MAX_SHOWN_RESPONSE else text[:MAX_SHOWN_RESPONSE].rstrip() + " ..."


def lec_request(question: str, wrong: str, gold: str | None, reference: str | None, k: int,
                neighbours: list[tuple[str, str]]) -> str:
    lines = ["Similar problems the student solved correctly:"]
    for i, (q, r) in enumerate(neighbours, 1):
        lines += [f"Solved problem {i}: {q}", f"Student's correct answer {i}: {_shorten(r)}"]
    lines += ["", f"Problem the student got wrong: {question}", f"Student's wrong answer: {wrong}",
              *reference_lines(gold, reference)]
    lines.append(
        "Compare the wrong answer with the correct ones: say what the student can already do and what "
        "separates this error from the solved problems. Solve the wrong problem correctly with every calculation "
        f"written as an equation, and write {k} new similar problem{'s' if k != 1 else ''} with different numbers "
        "that practise what the student got wrong, each with a solution, its answer and a one-line Python "
        "program that prints the answer."
    )
    return "\n".join(lines)


def lec_messages(failure: Failure, neighbours: list[Neighbour], k: int) -> list[dict[str, str]]:
    demo_reply = {
        "corrected_solution": "Sam has 4 * 6 = 24 pens. He gives away 5: 24 - 5 = 19. The answer is 19.",
        "final_answer": 19,
        "error_type": "wrong operation",
        "analysis": _DEMO_ANALYSIS,
        "new_problems": [_DEMO_NEW[i % len(_DEMO_NEW)] for i in range(k)],
    }
    demo_neighbours = [_DEMO_NEIGHBOURS[i % len(_DEMO_NEIGHBOURS)] for i in range(len(neighbours))]
    demo_gold = _DEMO_ANSWER if failure.gold is not None else None
    demo_ref = _DEMO_REFERENCE if failure.reference is not None else None
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": lec_request(_DEMO_PROBLEM, _DEMO_WRONG, demo_gold, demo_ref, k, demo_neighbours)},
        {"role": "assistant", "content": json.dumps(demo_reply)},
        {"role": "user", "content": lec_request(failure.question, failure.wrong_response, failure.gold,
                                                failure.reference, k, [(n.question, n.response) for n in neighbours])},
    ]


def lec_job(failure: Failure, neighbours: list[Neighbour], k: int) -> Job:
    return Job(failure.item_id, "lec", lec_messages(failure, neighbours, k), k, failure.question)
