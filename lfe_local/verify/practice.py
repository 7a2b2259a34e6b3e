"""Does a generator's instance practise the skill of the error it was written for?

A generator repeats one choice 60 times, so a generator that drifts from the error's kind of
problem fills a cycle with practice of something else. Seen in a demo run with the bundled 1.5B
instructor: for "On Wednesday she reads 2 times as many pages as on Monday" it wrote problems where
Wednesday's pages are simply given (every solution one addition), and for "packed equally into 8
bags" solutions that state each bag's share without dividing. Both passed every other check (their
equations are right, their answers agree with fresh solves), and the target trained on them went
from 1 to 0 right on those kinds. Here the operations a solution's equations use must include those
of the source item's reference solution: an instance may add a step, not drop the error's skill.
"""

from __future__ import annotations

from ..tasks.base import Verdict
from .equations import operations

_NAMES = {"+": "addition", "-": "subtraction", "*": "multiplication", "/": "division", "**": "a power"}


def _words(ops: frozenset[str] | set[str]) -> str:
    return " and ".join(_NAMES[op] for op in sorted(ops, key=list(_NAMES).index)) or "no calculation"


def same_skill(solution: str, reference: str | None) -> Verdict:
    """Verdict(True) unless the reference uses an operation the solution never does ("other_skill")."""
    if not reference:
        return Verdict(True)
    needed = operations(reference)
    missing = needed - operations(solution)
    if not missing:
        return Verdict(True)
    return Verdict(False, "other_skill",
                   f"the problem it was made for needs {_words(needed)}; this solution has no {_words(missing)}")
