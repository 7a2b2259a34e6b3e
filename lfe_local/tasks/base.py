"""What a task is: data splits, a prompt builder, a scorer and a verifier for generated samples.

Tasks know nothing of models: they turn questions into chat messages and judge text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Item:
    item_id: str  # stable across runs, unique within the task
    split: str  # one of SPLITS
    question: str
    answer: str  # gold final answer, already normalised by the task
    solution: str | None = None  # gold step-by-step solution where the task has one


@dataclass(frozen=True)
class Score:
    extracted: str | None  # normalised answer found in the response, None if none
    correct: bool


@dataclass
class Sample:
    """A training sample written by the instructor, before and after verification."""

    sample_id: str
    strategy: str  # le | lec | aug (instructor-written) or sft (a gold train solution)
    kind: str  # "corrected" (of a failed train item), "new" (a new practice problem) or "gold" (sft)
    source_item_id: str  # the train item it was written for (failed, for le and lec)
    question: str
    solution: str
    answer: str | None  # stated final answer, as text (normalised by the task's verifier)
    program: str | None = None  # optional Python program computing the answer (agreement check)
    status: str = "generated"  # generated -> accepted | rejected
    reason: str | None = None  # short machine-friendly reason for a rejection
    detail: str | None = None  # human-readable detail (which equation was false, ...)
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None = None  # e.g. "missing_answer", "wrong_answer", "bad_equation", ...
    detail: str | None = None


class Task(Protocol):
    name: str

    def load(self) -> dict[str, list[Item]]:
        """All splits. Raises LfeError (file, line, field) on bad data."""
        ...

    def messages(self, question: str) -> list[dict]:
        """Chat messages that ask the target to answer `question`."""
        ...

    def score(self, response: str, item: Item) -> Score: ...

    def training_response(self, solution: str, answer: str) -> str:
        """The assistant text the target is trained to produce for a verified sample."""
        ...

    def verify(self, sample: Sample, gold_answer: str | None) -> Verdict:
        """Check one generated sample. `gold_answer` is known for corrected solutions only."""
        ...
