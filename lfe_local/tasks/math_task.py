"""Behaviour shared by math word-problem tasks: prompt, scoring, training text and sample verification."""

from __future__ import annotations

import math
import re

from lfe_local.sandbox import Limits, run_untrusted
from lfe_local.tasks.answers import (
    extract_answer,
    last_number,
    marked_answer,
    normalize_number,
    strip_closing,
)
from lfe_local.tasks.base import Item, Sample, Score, Verdict
from lfe_local.tasks.math_lesson import MATH_LESSON
from lfe_local.tasks.paper_scoring import check_scorer, same_number
from lfe_local.verify.equations import check_equations, find_equations

PROMPT = (
    "Solve the problem step by step. Write every calculation as an equation, like 3 + 4 = 7, "
    'and end with "The answer is N."\n\nProblem: {question}'
)
AGREEMENT_MODES = ("program", "none")

# A final-answer sentence at the very end: "So the answer is $1,200." or a "#### 1200" line.
_SENTENCE_CHAR = r"(?:[^.!?\n]|(?<=\d)\.(?=\d))"  # a decimal point does not end a sentence
_TRAILING_ANSWER_RE = re.compile(
    rf"(?:(?<=[.!?:])\s+|\n|^){_SENTENCE_CHAR}*?(?:answer\s+is|####){_SENTENCE_CHAR}*[.!?]?[*_]*\s*$",
    re.IGNORECASE,
)
# Only the answer clause, for sentences that also carry working: "Since 3.5 * 2 = 7, the answer is 7."
_TRAILING_CLAUSE_RE = re.compile(
    rf"(?:(?:so|thus|therefore|hence),?\s+)?(?:the\s+)?(?:final\s+)?(?:answer\s+is|####){_SENTENCE_CHAR}*[.!?]?[*_]*\s*$",
    re.IGNORECASE,
)


class MathTask:
    """Base for arith and gsm8k; subclasses set `name` and implement `load()`."""

    name = "math"
    lesson = MATH_LESSON

    def __init__(self, agreement: str = "program", program_timeout_s: float = 5.0):
        if agreement not in AGREEMENT_MODES:
            raise ValueError(f"agreement must be one of {AGREEMENT_MODES}, not {agreement!r}")
        self.agreement = agreement
        self.program_timeout_s = program_timeout_s

    def load(self) -> dict[str, list[Item]]:
        raise NotImplementedError

    def items_from(self, path):
        raise NotImplementedError

    def messages(self, question: str) -> list[dict]:
        return [{"role": "user", "content": PROMPT.format(question=question)}]

    def score(self, response: str, item: Item, scorer: str = "strict") -> Score:
        if check_scorer(scorer) == "paper":
            last, correct = same_number(response, item.answer)
            failure = None if correct else "wrong_answer" if last is not None else "no_answer"
            return Score(last, correct, failure, rule="last number")
        extracted = extract_answer(response)
        if extracted is None:
            return Score(None, False, "no_answer")
        correct = extracted == normalize_number(item.answer)
        return Score(extracted, correct, None if correct else "wrong_answer")

    def training_response(self, solution: str, answer: str) -> str:
        """The solution without its own closing answer line, plus one canonical "The answer is N." ending."""
        body = strip_closing(solution, _strip_final_answer)
        final = normalize_number(answer) or answer.strip()
        return f"{body}\nThe answer is {final}." if body else f"The answer is {final}."

    def verify(self, sample: Sample, source: Item | None) -> Verdict:
        gold_answer = source.answer if source is not None else None
        answer = normalize_number(sample.answer)
        if answer is None:
            return Verdict(False, "missing_answer", f"stated answer {sample.answer!r} is not a number")
        solution = sample.solution or ""
        if not solution.strip():
            return Verdict(False, "empty_solution")
        if sample.kind == "new" and (given := find_equations(sample.question)):
            # A practice question that carries its own worked calculation teaches copying: seen in a
            # demo run, a generator appended "Omar bakes 3 * 7 = 21 buttons. ..." to every question.
            return Verdict(False, "solved_in_question", given[0])
        if gold_answer is not None:
            gold = normalize_number(gold_answer)
            if gold != answer:
                return Verdict(False, "wrong_answer", f"answer {answer}, gold {gold or gold_answer}")
        equations = check_equations(solution)
        stated = marked_answer(solution)
        if stated is None and equations and equations[-1].values:
            # Without an explicit "the answer is", the solution must end on its answer: the result
            # of its last equation, or its last number ("... 12 + 5 = 17 apples. She gives 3 away,
            # so 14 are left." — the last step said in words; the answer itself is checked against
            # the gold, the program or a generator's fresh solves). Before, a generator that wrote its
            # last step that way lost every instance: 60 right tulip problems in one demo run.
            reached = normalize_number(_number_text(equations[-1].values[-1]))
            stated = answer if answer in (reached, last_number(solution)) else reached
        if stated is not None and stated != answer:
            return Verdict(False, "inconsistent_answer", f"solution reaches {stated}, answer field says {answer}")
        if not equations:
            return Verdict(False, "no_equations")
        bad = next((eq for eq in equations if not eq.ok), None)
        if bad is not None:
            return Verdict(False, "bad_equation", bad.text)
        # Program check: the instructor's program, run in the sandbox, must print the same answer.
        # A generator's instances are checked per generator instead (verify/generator_check.py), and
        # gold solutions need no check.
        if self.agreement == "program" and sample.kind in ("corrected", "new") and sample.generator_id is None:
            return self._program_agrees(sample.program, answer)
        return Verdict(True)

    def _program_agrees(self, program: str | None, answer: str) -> Verdict:
        if not program or not program.strip():
            return Verdict(False, "no_program")
        # Model-written code: only ever run in the sandbox.
        limits = Limits(wall_s=self.program_timeout_s, cpu_s=math.ceil(self.program_timeout_s) + 1)
        result = run_untrusted(program, limits)
        if not result.ok:
            return Verdict(False, "program_failed", f"{result.kind}: {result.detail}" if result.detail else result.kind)
        printed = last_number(result.stdout)
        if printed != answer:
            shown = printed if printed is not None else "no number"
            return Verdict(False, "program_disagrees", f"program printed {shown}, answer {answer}", printed)
        return Verdict(True, program_output=printed)


def _number_text(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else f"{value:.6f}"


def _strip_final_answer(text: str) -> str:
    match = _TRAILING_ANSWER_RE.search(text)
    if match is None:
        return text
    if "=" not in match.group(0):
        return text[: match.start()].strip()
    clause = _TRAILING_CLAUSE_RE.search(text, match.start())
    if clause is None:
        return text
    kept = text[: clause.start()].rstrip(" ,;:-")
    return kept + "." if kept and kept[-1] not in ".!?\n" else kept.strip()
