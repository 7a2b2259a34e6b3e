"""BbhTask: one BIG-Bench Hard subtask, asked with the user's 3-shot chain-of-thought prompt and
scored by exact match of what follows the last "the answer is".

Rows are {input, target} (JSONL or Parquet, as the HF exports have them); the public repository's
own `bbh/<subtask>.json` ({"examples": [...]}) is read too. The prompt file is the public
`cot-prompts/<subtask>.txt` layout: optional header lines, a line of dashes, then the few-shot text.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from pydantic import ValidationInfo, field_validator

from lfe_local.errors import LfeError
from lfe_local.tasks.answers import strip_closing
from lfe_local.tasks.base import Demo, Item, Lesson, Sample, Score, Verdict
from lfe_local.tasks.file_task import FileTask
from lfe_local.tasks.options import FileOptions, resolve_file
from lfe_local.tasks.paper_scoring import bbh_answer, check_scorer
from lfe_local.tasks.records import Record, read_records

_ANSWER_IS_RE = re.compile(r"the answer is", re.IGNORECASE)
# A model that keeps going after its answer often starts the next few-shot question itself; what
# it writes there is not its answer (the standard BBH harnesses stop generating at "Q:").
_NEXT_QUESTION_RE = re.compile(r"\n\s*Q:")
_OPTION_LETTER_RE = re.compile(r"\(([a-z])\)")
# The closing "So the answer is X." sentence of a solution (a new line or after a sentence end).
_TRAILING_ANSWER_RE = re.compile(r"(?:^|(?<=[.!?])[ \t]+|\n)[^.!?\n]*\bthe answer is\b[^\n]*$", re.IGNORECASE)


class BbhOptions(FileOptions):
    """prompt_path: the subtask's few-shot chain-of-thought prompt file. Without it the prompt is
    zero-shot chain of thought (enough for `lfe score`, which never prompts; weaker for a run)."""

    prompt_path: Path | None = None

    @field_validator("prompt_path")
    @classmethod
    def _existing_prompt(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return resolve_file(value, info)


def read_prompt(path: Path) -> str:
    """The few-shot text of a cot-prompts file: everything after the first line of dashes, or the
    whole file when it has none."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    dashes = next((i for i, line in enumerate(lines) if re.fullmatch(r"\s*-{3,}\s*", line)), None)
    fewshot = "\n".join(lines[dashes + 1:] if dashes is not None else lines).strip()
    if not fewshot:
        raise LfeError(f"{path}: no few-shot text" + (" after the line of dashes" if dashes is not None else ""))
    return fewshot


def stated_answer(text: str) -> str | None:
    """What follows the last "the answer is" (up to the end of its line and sentence), without
    markdown and the closing period; None if there is none. A statement whose line ends there
    ("So the answer is:\n\n(A) Tuesday") answers on the next non-blank line."""
    text = _NEXT_QUESTION_RE.split(text, maxsplit=1)[0]
    found = list(_ANSWER_IS_RE.finditer(text))
    if not found:
        return None
    line, *below = text[found[-1].end():].split("\n")
    if not _bare(line):
        line = next((b for b in below if b.strip()), "")
    rest = re.split(r"\.(?=\s|$)", line, maxsplit=1)[0]  # a sentence ends; "3.5" does not end one
    return _bare(rest) or None


def _bare(text: str) -> str:
    """`text` without markdown emphasis, a bullet and the statement's colon."""
    return re.sub(r"^[-\u2022]\s+", "", text.replace("**", "").strip().lstrip(":").strip()).strip()


def normalize(text: str) -> str:
    """Casefolded, whitespace collapsed, markdown and the closing period dropped."""
    return " ".join(text.replace("**", "").split()).rstrip(".").strip().casefold()


def same_answer(answer: str, target: str) -> bool:
    """Exact match after `normalize`; when either side is an option letter in parentheses, only
    the letters are compared ("A", "(A)" and "(A) Tuesday" all answer "(A)")."""
    a, t = normalize(answer), normalize(target)
    if _OPTION_LETTER_RE.fullmatch(a) or _OPTION_LETTER_RE.fullmatch(t):
        return _leading_letter(a) is not None and _leading_letter(a) == _leading_letter(t)
    return a == t


def _leading_letter(norm: str) -> str | None:
    # "(a)" may be followed by the option's text; a bare letter must stand alone ("a dog" is no letter).
    found = re.match(r"\(([a-z])\)(?!\w)", norm) or re.fullmatch(r"([a-z])", norm)
    return found.group(1) if found else None


_DEMO_NEW = (
    {"question": "not ( False or True ) and True is",
     "solution": "False or True = True. not True = False. False and True = False. So the answer is False.",
     "answer": "False"},
    {"question": "( not False ) and ( True or False ) is",
     "solution": "not False = True. True or False = True. True and True = True. So the answer is True.",
     "answer": "True"},
    {"question": "not ( True and False ) and not True is",
     "solution": "True and False = False. not False = True. not True = False. True and False = False. "
                 "So the answer is False.",
     "answer": "False"},
    {"question": "not not ( False or False ) or True is",
     "solution": "False or False = False. not not False = False. False or True = True. So the answer is True.",
     "answer": "True"},
)

_DEMO = Demo(
    question="not ( True or False ) or not False is",
    wrong="True or False = True. not True = False. False or not False: the first part is False, so the whole "
          "expression is False. So the answer is False.",
    answer="True",
    reference="True or False = True. not True = False. not False = True. False or True = True. "
              "So the answer is True.",
    corrected={"corrected_solution": "True or False = True, so not ( True or False ) = False. not False = True. "
                                     "False or True = True. So the answer is True.",
               "final_answer": "True"},
    error_type="incomplete evaluation",
    analysis="The student stopped at the first part of the 'or': one False part does not make an 'or' False. "
             "The second part, not False, is True, so the whole expression is True.",
    contrast="The student evaluates 'not' and single 'and'/'or' steps correctly, but with two parts joined by "
             "'or' it decided from the first part alone instead of evaluating both.",
    solved=(
        ("not ( False ) and True is", "not False = True. True and True = True. So the answer is True."),
        ("True and not True is", "not True = False. True and False = False. So the answer is False."),
        ("( True or False ) and False is", "True or False = True. True and False = False. So the answer is False."),
    ),
    new=_DEMO_NEW,
)

LESSON = Lesson(
    system="You are a careful teacher of reasoning puzzles. You reply only with JSON.",
    unit="question",
    solve="step by step, ending with \"So the answer is X.\"",
    vary="of the same kind with different details",
    new_parts="a step-by-step solution and its short final answer",
    answer={"type": "string", "minLength": 1, "maxLength": 60},
    extra={},
    demo=_DEMO,
    # BBH inputs (logical deduction, tables) are longer than math word problems.
    max_question=700,
    max_solution=500,
    answer_checks=2,
)


class BbhTask(FileTask):
    name = "bbh"
    version = 2  # bump when the prompt, answer extraction or scoring changes: results are keyed by it
    lesson = LESSON

    def __init__(self, path: str | Path, prompt_path: str | Path | None = None, **files):
        super().__init__(path, **files)
        self.prompt_path = Path(prompt_path) if prompt_path is not None else None
        self.fewshot = read_prompt(self.prompt_path) if self.prompt_path is not None else ""

    def records(self, path: Path) -> list[Record]:
        return _records(path)

    def parse(self, rec: Record) -> Item:
        return Item(rec.own_id(), "all", rec.text("input").strip(), rec.text("target").strip())

    def messages(self, question: str) -> list[dict]:
        shots = f"{self.fewshot}\n\n" if self.fewshot else ""
        return [{"role": "user", "content": f"{shots}Q: {question}\nA: Let's think step by step."}]

    def score(self, response: str, item: Item, scorer: str = "strict") -> Score:
        if check_scorer(scorer) == "paper":
            said, rule = bbh_answer(response)
            correct = said.lower() == item.answer.lower()
            return Score(said, correct, None if correct else "wrong_answer", rule=rule)
        extracted = stated_answer(response)
        if extracted is None:
            return Score(extracted=None, correct=False, failure="no_answer")
        correct = same_answer(extracted, item.answer)
        return Score(extracted=extracted, correct=correct, failure=None if correct else "wrong_answer")

    def training_response(self, solution: str, answer: str | None) -> str:
        body = strip_closing(solution, lambda text: _TRAILING_ANSWER_RE.sub("", text))
        final = " ".join((answer or "").split()).rstrip(".")
        if body and body[-1] not in ".!?":
            body += "."
        return f"{body} So the answer is {final}." if body else f"So the answer is {final}."

    def verify(self, sample: Sample, source: Item | None) -> Verdict:
        answer = " ".join((sample.answer or "").split())
        if not answer:
            return Verdict(False, "missing_answer")
        if not (sample.solution or "").strip():
            return Verdict(False, "empty_solution")
        stated = stated_answer(sample.solution)
        if stated is not None and not same_answer(stated, answer):
            return Verdict(False, "inconsistent_answer", f"solution says {stated!r}, answer field says {answer!r}")
        if sample.kind in ("corrected", "gold") and source is not None and not same_answer(answer, source.answer):
            return Verdict(False, "wrong_answer", f"answer {answer!r}, gold {source.answer!r}")
        return Verdict(True)


def _records(path: Path) -> list[Record]:
    """JSONL / Parquet through read_records, or the public {"examples": [...]} JSON file."""
    if path.suffix.lower() == ".json" and path.is_file():
        try:
            whole = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except json.JSONDecodeError:
            whole = None  # JSON lines named .json
        if isinstance(whole, dict) and isinstance(whole.get("examples"), list):
            records = []
            for n, example in enumerate(whole["examples"], start=1):
                if not isinstance(example, dict):
                    raise LfeError(f"{path} example {n}: expected a JSON object")
                records.append(Record(path, "example", n, example))
            return records
    return read_records(path)
