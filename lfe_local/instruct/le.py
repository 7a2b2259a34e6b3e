"""LE, learning from errors: per failed item, the instructor analyses the error, corrects the
solution and writes K new similar practice problems.

The prompt is one-shot: a worked demonstration turn precedes the real request. A 135M instructor
copies the demonstrated structure far more reliably than it follows a description of it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ..engines.base import ChatEngine
from .calls import Job, Outcome, ask

SYSTEM = "You are a careful math teacher. You reply only with JSON."

_DEMO_PROBLEM = "Sam has 4 boxes with 6 pens in each box. He gives away 5 pens. How many pens does Sam have left?"
_DEMO_WRONG = "Sam has 4 + 6 = 10 pens. He gives away 5: 10 - 5 = 5. The answer is 5."
_DEMO_ANSWER = "19"
_DEMO_REFERENCE = "Sam has 4 boxes of 6 pens: 4 * 6 = 24. He gives away 5: 24 - 5 = 19. The answer is 19."
_DEMO_NEW = [
    {"question": "Lea has 3 bags with 8 marbles in each bag. She loses 4 marbles. How many marbles does Lea have left?",
     "solution": "Lea has 3 * 8 = 24 marbles. She loses 4: 24 - 4 = 20. The answer is 20.",
     "answer": 20, "program": "print(3 * 8 - 4)"},
    {"question": "Omar has 5 shelves with 7 books on each shelf. He sells 9 books. How many books does Omar have left?",
     "solution": "Omar has 5 * 7 = 35 books. He sells 9: 35 - 9 = 26. The answer is 26.",
     "answer": 26, "program": "print(5 * 7 - 9)"},
    {"question": "Ken buys 6 packs with 5 cards in each pack. He trades away 7 cards. How many cards does Ken have now?",
     "solution": "Ken has 6 * 5 = 30 cards. He trades away 7: 30 - 7 = 23. The answer is 23.",
     "answer": 23, "program": "print(6 * 5 - 7)"},
    {"question": "Ivy plants 7 rows with 4 tulips in each row. Rabbits eat 6 tulips. How many tulips are left?",
     "solution": "Ivy plants 7 * 4 = 28 tulips. Rabbits eat 6: 28 - 6 = 22. The answer is 22.",
     "answer": 22, "program": "print(7 * 4 - 6)"},
]


def reference_lines(gold: str | None, reference: str | None) -> list[str]:
    """What the instructor is shown of the gold (see `show_reference`), then a blank line."""
    lines = []
    if reference is not None:
        lines.append(f"Reference solution: {reference}")
    if gold is not None:
        lines.append(f"Correct final answer: {gold}")
    return [*lines, ""]


def request_text(question: str, wrong: str, gold: str | None, reference: str | None, k: int) -> str:
    lines = [f"Problem: {question}", f"Student's wrong answer: {wrong}", *reference_lines(gold, reference)]
    lines.append(
        "Explain the student's error, solve the problem correctly with every calculation written as an "
        f"equation, and write {k} new similar problem{'s' if k != 1 else ''} with different numbers, each with "
        "a solution, its answer and a one-line Python program that prints the answer."
    )
    return "\n".join(lines)


def le_messages(question: str, wrong: str, gold: str | None, reference: str | None, k: int) -> list[dict[str, str]]:
    demo_reply = {
        "corrected_solution": "Sam has 4 * 6 = 24 pens. He gives away 5: 24 - 5 = 19. The answer is 19.",
        "final_answer": 19,
        "error_type": "wrong operation",
        "analysis": "The student added the boxes and the pens per box instead of multiplying them.",
        "new_problems": [_DEMO_NEW[i % len(_DEMO_NEW)] for i in range(k)],
    }
    # The demonstration shows exactly the kinds of reference the real request will show.
    demo_gold = _DEMO_ANSWER if gold is not None else None
    demo_ref = _DEMO_REFERENCE if reference is not None else None
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": request_text(_DEMO_PROBLEM, _DEMO_WRONG, demo_gold, demo_ref, k)},
        {"role": "assistant", "content": json.dumps(demo_reply)},
        {"role": "user", "content": request_text(question, wrong, gold, reference, k)},
    ]


def new_per_error(budget: int, n_errors: int, cap: int) -> int:
    """The paper's N = ceil(budget / errors) + 1, bounded so a small instructor's reply stays short."""
    if n_errors <= 0:
        return 0
    return max(0, min(cap, math.ceil(budget / n_errors) + 1))


@dataclass
class Failure:
    item_id: str
    question: str
    wrong_response: str
    gold: str | None  # shown as "Correct final answer" unless show_reference = "none"
    reference: str | None = None  # the gold worked solution, shown when show_reference = "solution"


def le_job(failure: Failure, k: int) -> Job:
    messages = le_messages(failure.question, failure.wrong_response, failure.gold, failure.reference, k)
    return Job(failure.item_id, "le", messages, k, failure.question)


def analyse(engine: ChatEngine, failures: list[Failure], k: int, **kwargs) -> list[Outcome]:
    """LE on its own: one instructor call per failure (see `calls.ask` for the keyword arguments)."""
    return ask(engine, [le_job(f, k) for f in failures], **kwargs)
