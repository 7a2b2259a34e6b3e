"""LE, learning from errors: per failed item, the instructor analyses the error, corrects the
solution and writes K new similar practice problems.

The prompt is one-shot: a worked demonstration turn precedes the real request. A 135M instructor
copies the demonstrated structure far more reliably than it follows a description of it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from ..engines.base import ChatEngine
from ..tasks.base import Sample
from .schema import LEReply, le_schema, number_text

SYSTEM = "You are a careful math teacher. You reply only with JSON."
RETRY_TEMPERATURE = 0.7

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


def request_text(question: str, wrong: str, gold: str | None, reference: str | None, k: int) -> str:
    lines = [f"Problem: {question}", f"Student's wrong answer: {wrong}"]
    if reference is not None:
        lines.append(f"Reference solution: {reference}")
    if gold is not None:
        lines.append(f"Correct final answer: {gold}")
    lines.append("")
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


@dataclass
class Outcome:
    analysis: dict  # one `analyses` row (without run/cycle/task)
    samples: list[Sample] = field(default_factory=list)


def _parse(text: str, finish: str) -> tuple[LEReply | None, str | None]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return None, ("truncated" if finish == "length" else f"invalid_json: {err.msg}")
    try:
        return LEReply.model_validate(data), None
    except ValidationError as err:
        first = err.errors()[0]
        return None, f"schema: {'.'.join(map(str, first['loc']))}: {first['msg']}"


def analyse(engine: ChatEngine, failures: list[Failure], k: int, *, cycle: int, temperature: float,
            max_tokens: int, retries: int, seed: int, on_progress: Callable[[int], None] | None = None,
            strategy: str = "le") -> list[Outcome]:
    """One instructor call (plus bounded retries) per failure; never raises for a bad reply."""
    schema = le_schema(k)
    outcomes = []
    for n, failure in enumerate(failures):
        messages = le_messages(failure.question, failure.wrong_response, failure.gold, failure.reference, k)
        reply, problem, gen = None, None, None
        attempts = prompt_tokens = completion_tokens = 0
        seconds = 0.0
        for attempt in range(retries + 1):
            attempts += 1
            # A retry at the same greedy setting would repeat the same reply: retries sample.
            temp = temperature if attempt == 0 else max(temperature, RETRY_TEMPERATURE)
            gen = engine.generate([messages], max_tokens=max_tokens, temperature=temp,
                                  json_schema=schema, seed=seed + 1000 * n + attempt)[0]
            prompt_tokens += gen.prompt_tokens
            completion_tokens += gen.completion_tokens
            seconds += gen.seconds
            reply, problem = _parse(gen.text, gen.finish_reason)
            if reply is not None:
                break
        row = {
            "item_id": failure.item_id, "strategy": strategy, "status": "ok" if reply else "failed",
            "failure": problem, "attempts": attempts,
            "error_type": reply.error_type.strip() if reply else None,
            "analysis": reply.analysis.strip() if reply else None,
            "prompt": messages[-1]["content"], "raw_reply": gen.text if gen else None,
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "seconds": seconds,
        }
        outcome = Outcome(analysis=row)
        if reply is not None:
            base = f"c{cycle}-{strategy}-{failure.item_id}"
            outcome.samples.append(Sample(
                sample_id=f"{base}-corrected", strategy=strategy, kind="corrected", source_item_id=failure.item_id,
                question=failure.question, solution=reply.corrected_solution.strip(),
                answer=number_text(reply.final_answer),
            ))
            for j, p in enumerate(reply.new_problems):
                outcome.samples.append(Sample(
                    sample_id=f"{base}-new{j}", strategy=strategy, kind="new", source_item_id=failure.item_id,
                    question=p.question.strip(), solution=p.solution.strip(), answer=number_text(p.answer),
                    program=p.program.strip() or None,
                ))
        outcomes.append(outcome)
        if on_progress:
            on_progress(1)
    return outcomes
