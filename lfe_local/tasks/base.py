"""What a task is: data splits, a prompt builder, a scorer, a verifier for generated samples and
a lesson (what an instructor is told about the task, with one worked demonstration).

Tasks know nothing of models: they turn questions into chat messages and judge text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Item:
    item_id: str  # stable across runs, unique within the task
    split: str  # one of SPLITS (or "all" for items read to be scored by `lfe score`)
    question: str  # what the target is asked (for code: the prompt it completes)
    answer: str  # gold final answer, already normalised (for code: the function the tests call)
    solution: str | None = None  # gold step-by-step solution (for code: a reference implementation)
    tests: str | None = None  # code tasks: the test program run after the completion


@dataclass(frozen=True)
class Score:
    extracted: str | None  # normalised answer found in the response, None if none
    correct: bool
    failure: str | None = None  # why not correct, as a short kind: no_answer, ambiguous, wrong_answer,
    #                             syntax_error, timeout, an exception name, ...
    detail: str | None = None  # what an instructor is shown about the failure (e.g. the test error)
    rule: str | None = None  # paper scorer: which of its rules found the answer ("standalone letter", ...)


@dataclass
class Sample:
    """A training sample written by the instructor, before and after verification."""

    sample_id: str
    strategy: str  # le | lec | aug (instructor-written) or sft (a gold train solution)
    kind: str  # "corrected" (of a failed train item), "new" (a new practice problem) or "gold" (sft)
    source_item_id: str  # the train item it was written for (failed, for le and lec)
    question: str
    solution: str
    answer: str | None  # stated final answer, as text (normalised by the task's verifier); None for code
    program: str | None = None  # optional Python program computing the answer (math agreement check)
    tests: str | None = None  # code: the instructor's tests for its own solution
    generator_id: str | None = None  # made by a problem generator (new_problems = "program"), not written
    own_solution: str | None = None  # program mode: the generator's own text, when `solution` was rebuilt from its computation
    status: str = "generated"  # generated -> accepted | rejected
    reason: str | None = None  # short machine-friendly reason for a rejection
    detail: str | None = None  # human-readable detail (which equation was false, ...)
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str | None = None  # e.g. "missing_answer", "wrong_answer", "bad_equation", ...
    detail: str | None = None
    program_output: str | None = None  # math: what the sample's answer program printed


@dataclass(frozen=True)
class GeneratorLesson:
    """How the instructor is asked for a problem generator (math tasks; see instruct/generators.py),
    with the demonstration's generator and the demonstration's answer program."""

    request: str
    demo_code: str  # a generate(rng) for the demo's kind of problem
    demo_solver: str  # a program printing the demo question's answer


@dataclass(frozen=True)
class Demo:
    """One worked example of what the instructor should reply, shown before the real request."""

    question: str
    wrong: str  # a wrong student response
    answer: str  # its gold final answer ("" where the task has none apart from the solution)
    reference: str  # its gold worked solution
    corrected: dict  # the reply's first fields: corrected_solution (+ final_answer where the task has one)
    error_type: str
    analysis: str  # the LE analysis
    contrast: str  # the LEC analysis (what the student can do vs. what went wrong)
    solved: tuple[tuple[str, str], ...]  # LEC: similar problems and the student's correct responses
    new: tuple[dict, ...]  # new problems, cycled to the number asked for
    feedback: str | None = None  # what running the wrong response's tests said (code tasks)


@dataclass(frozen=True)
class Lesson:
    """What the instructor is told about a task: wording, reply fields and a demonstration.

    The instructor's reply is {corrected_solution, [final_answer], error_type, analysis,
    new_problems: [{question, solution, [answer], **extra}]}; `answer` None means the solution is
    the answer (code)."""

    system: str
    unit: str  # what one item is called: "problem", "question"
    solve: str  # how a solution is written: "with every calculation written as an equation"
    vary: str  # how new problems differ: "with different numbers"
    new_parts: str  # what each new problem carries: "a solution, its answer and ..."
    answer: dict | None  # JSON schema of a final answer
    extra: dict[str, dict]  # further fields of a new problem -> JSON schema (program, tests)
    demo: Demo
    check: str = ""  # what comes with a corrected solution: ", and give a one-line Python program ..."
    max_question: int = 300
    max_solution: int = 360
    # Generated questions have no gold: the instructor answers each one `answer_checks` more times
    # and the sample is kept only if every answer agrees with its own (multiple choice, bbh).
    answer_checks: int = 0
    # Tasks whose new problems can be made by programs (new_problems = "program"); None elsewhere.
    generator: GeneratorLesson | None = None


class Task(Protocol):
    name: str
    # Bumped whenever what a score means changes (prompt, answer extraction, scoring); stored with
    # every evaluation, and a cycle-0 evaluation is only reused under the same version.
    version: int
    # The scorer the config chose for evaluations (option `scorer`): "strict" or "paper".
    scorer: str
    lesson: Lesson

    def load(self) -> dict[str, list[Item]]:
        """All splits. Raises LfeError (file, line, field) on bad data."""
        ...

    def items_from(self, path: Path | None) -> list[Item]:
        """Every row of one data file (None: the task's bundled data) as items whose ids are the
        file's own ids (or line numbers): what `lfe score` scores against."""
        ...

    def messages(self, question: str) -> list[dict]:
        """Chat messages that ask the target to answer `question`."""
        ...

    def score(self, response: str, item: Item, scorer: str = "strict") -> Score:
        """Judge `response` against `item`'s gold. scorer "strict": lfe-local's own extraction
        (a response must commit to one answer); "paper": the reference implementation's, as
        tasks/paper_scoring.py reproduces it."""
        ...

    def training_response(self, solution: str, answer: str | None) -> str:
        """The assistant text the target is trained to produce for a verified sample."""
        ...

    def verify(self, sample: Sample, source: Item | None) -> Verdict:
        """Check one generated sample. `source` is the train item a corrected (or gold) sample
        answers, None for a new problem."""
        ...
