"""The augmentation baseline ("AugGPT" in the paper): the instructor writes problems similar to
random train items, with no information about the target's errors. Same budget, same checks."""

from __future__ import annotations

import json

from .calls import Job
from .le import _DEMO_ANSWER, _DEMO_NEW, _DEMO_PROBLEM, _DEMO_REFERENCE, SYSTEM


def aug_request(question: str, solution: str | None, answer: str, k: int) -> str:
    lines = [f"Problem: {question}"]
    if solution:
        lines.append(f"Solution: {solution}")
    lines += [f"Correct final answer: {answer}", ""]
    lines.append(
        f"Write {k} new problem{'s' if k != 1 else ''} similar to this one with different numbers, each with a "
        "solution with every calculation written as an equation, its answer and a one-line Python program that "
        "prints the answer."
    )
    return "\n".join(lines)


def aug_job(item_id: str, question: str, solution: str | None, answer: str, k: int) -> Job:
    demo_reply = {"new_problems": [_DEMO_NEW[i % len(_DEMO_NEW)] for i in range(k)]}
    messages = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": aug_request(_DEMO_PROBLEM, _DEMO_REFERENCE if solution else None, _DEMO_ANSWER, k)},
        {"role": "assistant", "content": json.dumps(demo_reply)},
        {"role": "user", "content": aug_request(question, solution, answer, k)},
    ]
    return Job(item_id, "aug", messages, k, question)
