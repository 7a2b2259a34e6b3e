"""Multiple-choice tasks read from local files: MmluTask (4 options) and ArcTask (3 to 5).

Accepted row layouts (JSONL, optionally gzipped, or Parquet), for both tasks:
- {question, choices: [texts], answer: 0-based index or letter}           (HF cais/mmlu)
- {question, A, B, C, D[, E], answer: letter or 0-based index}           (the MMLU CSV columns)
- {id, question, choices: {text: [...], label: [...]}, answerKey: label}  (HF allenai/ai2_arc)
- {id, question: {stem, choices: [{text, label}]}, answerKey: label}      (the original ARC JSONL)
"""

from __future__ import annotations

import re

from lfe_local.tasks.answers import strip_closing
from lfe_local.tasks.base import Item, Lesson, Sample, Score, Verdict
from lfe_local.tasks.choice import choice_lesson, extract_letter, format_question, parse_question
from lfe_local.tasks.file_task import FileTask
from lfe_local.tasks.options import FileOptions
from lfe_local.tasks.paper_scoring import check_scorer, choice_letter
from lfe_local.tasks.records import Record

PROMPT = ("Answer the multiple-choice question. Think briefly, step by step, then end with "
          '"The answer is (X)." where X is the letter of the correct option.\n\n{question}')

# A closing answer statement of a solution: "So the answer is (B).", "Answer: B", a lone "(B)" line.
_TRAILING_STATEMENT_RE = re.compile(
    r"(?:^|(?<=[.!?])[ \t]+|\n)(?P<lead>[^.!?\n]*?)\b(?:(?:final|correct|right|best)\s+(?:answer|option|choice)"
    r"|answer)\b[*_]*\s*(?:is|would\s+be|should\s+be|:)[^\n]*$",
    re.IGNORECASE,
)
_TRAILING_LETTER_RE = re.compile(r"(?:^|\n)[ \t]*(?i:(?:so|thus|therefore|hence),?\s*)?[*_(\[]*[A-E][*_)\]]*\.?[ \t]*$")
_CONNECTIVE_RE = re.compile(r"^\W*(?:(?:so|thus|therefore|hence|then|overall|the|my|i think|i believe|i guess)\W*)*$", re.IGNORECASE)
# What is left of "Since X, so the " once the reason is kept: the connective and article.
_LEAD_TAIL_RE = re.compile(r"[\s,;:*_-]*(?:\b(?:so|thus|therefore|hence|then)\b)?[\s,;:-]*(?:\b(?:the|my)\b)?[\s*_]*$",
                           re.IGNORECASE)


class MultipleChoiceTask(FileTask):
    """Shared by mmlu and arc; subclasses set `name`, `letters` (the most options a row may have)
    and `lesson`."""

    name = "multiple_choice"
    letters = "ABCD"
    lesson: Lesson

    def parse(self, rec: Record) -> Item:
        stem, options, answer = parse_row(rec, self.letters, self.name)
        return Item(rec.own_id(), "all", format_question(stem, options, self.letters), answer)

    # -- target side ----------------------------------------------------------------------------

    def messages(self, question: str) -> list[dict]:
        return [{"role": "user", "content": PROMPT.format(question=question)}]

    def score(self, response: str, item: Item, scorer: str = "strict") -> Score:
        parsed = parse_question(item.question, self.letters)
        letters = self.letters[: len(parsed[1])] if parsed else self.letters
        # Generated questions are scored too (the answer check), with the answer as the instructor wrote it.
        gold = _letter(item.answer) or item.answer
        if check_scorer(scorer) == "paper":
            letter, rule = choice_letter(response, parsed[1] if parsed else [], letters)
            correct = letter is not None and letter == gold
            return Score(letter, correct, None if correct else "wrong_answer" if letter else "no_answer", rule=rule)
        letter, failure = extract_letter(response, letters, parsed[1] if parsed else None)
        correct = letter is not None and letter == gold
        return Score(extracted=letter, correct=correct, failure=None if correct else failure or "wrong_answer")

    def training_response(self, solution: str, answer: str | None) -> str:
        """The solution without its own closing answer statement, plus "The answer is (X)."."""
        body = strip_closing(solution, _strip_statement)
        letter = _letter(answer) or (answer or "").strip()
        return f"{body}\nThe answer is ({letter})." if body else f"The answer is ({letter})."

    # -- generated samples ----------------------------------------------------------------------

    def verify(self, sample: Sample, source: Item | None) -> Verdict:
        parsed = parse_question(sample.question, self.letters)
        if parsed is None:
            return Verdict(False, "bad_options", f"the question needs its stem, then 2 to {len(self.letters)} "
                                                 "option lines A. ... in order, closing the question")
        options = parsed[1]
        if len({" ".join(o.split()).casefold() for o in options}) < len(options):
            return Verdict(False, "bad_options", "two options have the same text")
        letters = self.letters[: len(options)]
        answer = _letter(sample.answer)
        if answer is None or answer not in letters:
            return Verdict(False, "missing_answer", f"answer {sample.answer!r} is not one of the letters {letters}")
        if not (sample.solution or "").strip():
            return Verdict(False, "empty_solution")
        # Only explicit letters count here: a solution may mention several options' texts.
        stated, failure = extract_letter(sample.solution, letters)
        if failure == "ambiguous":
            return Verdict(False, "inconsistent_answer", "the solution states more than one letter")
        if stated is not None and stated != answer:
            return Verdict(False, "inconsistent_answer", f"solution says {stated}, answer field says {answer}")
        if sample.kind in ("corrected", "gold") and source is not None and answer != source.answer:
            return Verdict(False, "wrong_answer", f"answer {answer}, gold {source.answer}")
        return Verdict(True)


def _letter(text: str | None) -> str | None:
    """"B", "(b)", "B." -> "B"; None for anything that is not a single letter."""
    found = re.fullmatch(r"\W*([A-Za-z])\W*", text or "")
    return found.group(1).upper() if found else None


def _strip_statement(text: str) -> str:
    """`text` without its closing answer statement (one pass; the caller repeats)."""
    found = _TRAILING_STATEMENT_RE.search(text)
    if found is None:
        lone = _TRAILING_LETTER_RE.search(text)
        return text[: lone.start()].strip() if lone and lone.start() > 0 else text
    before = text[: found.start()].rstrip()
    # "Since Paris is the capital, the answer is C." keeps its reason, as a sentence of its own.
    reason = _LEAD_TAIL_RE.sub("", found.group("lead")).strip()
    if not re.search(r"\w", reason) or _CONNECTIVE_RE.match(reason):
        return before
    sep = "\n" if found.group(0).startswith("\n") else " "
    return f"{before}{sep}{reason}." if before else f"{reason}."


# -- row layouts ------------------------------------------------------------------------------------

def parse_row(rec: Record, letters: str, task: str) -> tuple[str, list[str], str]:
    """(stem, option texts, gold letter) of one row in any accepted layout; LfeError otherwise."""
    question = rec.data.get("question")
    if isinstance(question, dict):  # original ARC: the options live inside `question`
        stem = rec.as_text("question.stem", question.get("stem"))
        options, labels = _labelled_list(rec, question.get("choices"))
    else:
        stem = rec.text("question")
        options, labels = _options(rec, letters)
    n = len(options)
    if not 2 <= n <= len(letters):
        raise rec.error("choices", f"has {n} options; {task} takes 2 to {len(letters)}")
    field = rec.first("answer", "answerKey")
    return stem.strip(), options, letters[_gold_index(rec, field, letters[:n], labels)]


def _options(rec: Record, letters: str) -> tuple[list[str], list[str] | None]:
    choices = rec.data.get("choices")
    if isinstance(choices, dict):
        texts, labels = choices.get("text"), choices.get("label")
        if not isinstance(texts, list):
            raise rec.error("choices.text", "must be a list of texts")
        if not isinstance(labels, list) or len(labels) != len(texts):
            raise rec.error("choices.label", "must be a list with one label per text")
        return ([rec.as_text(f"choices.text[{i}]", t) for i, t in enumerate(texts)],
                [rec.as_text(f"choices.label[{i}]", x).strip() for i, x in enumerate(labels)])
    if isinstance(choices, list):
        return [rec.as_text(f"choices[{i}]", t) for i, t in enumerate(choices)], None
    if choices is not None:
        raise rec.error("choices", f"must be a list of texts or {{text, label}}, not {type(choices).__name__}")
    options = []
    for letter in letters:  # flat columns A, B, C, ... in order
        if rec.data.get(letter) is None:
            break
        options.append(rec.text(letter))
    extra = [x for x in letters[len(options):] if rec.data.get(x) is not None]
    if extra:
        raise rec.error(letters[len(options)], f"is missing (but {extra[0]} is given)")
    if not options:
        raise rec.error("choices", f"is missing (or columns {', '.join(letters[:4])})")
    return options, None


def _labelled_list(rec: Record, choices) -> tuple[list[str], list[str]]:
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise rec.error("question.choices", "must be a list of {text, label}")
    return ([rec.as_text(f"question.choices[{i}].text", c.get("text")) for i, c in enumerate(choices)],
            [rec.as_text(f"question.choices[{i}].label", c.get("label")).strip() for i, c in enumerate(choices)])


def _gold_index(rec: Record, field: str, letters: str, labels: list[str] | None) -> int:
    value = rec.data[field]
    if labels is not None:  # ARC: the key is one of the row's own labels ("A".."E" or "1".."5")
        key = str(value).strip()
        if isinstance(value, (bool, dict, list)) or key not in labels:
            raise rec.error(field, f"is {value!r}, not one of the labels {', '.join(labels)}")
        return labels.index(key)
    index = None
    if isinstance(value, int) and not isinstance(value, bool):
        index = value
    elif isinstance(value, str) and value.strip().isdigit():
        index = int(value.strip())  # a quoted index, as some JSON exports write it
    elif isinstance(value, str) and value.strip().upper() in tuple(letters):
        index = letters.index(value.strip().upper())
    if index is None or not 0 <= index < len(letters):
        raise rec.error(field, f"is {value!r}; expected an index 0-{len(letters) - 1} or a letter A-{letters[-1]}")
    return index


# -- the tasks ------------------------------------------------------------------------------------------

class MmluTask(MultipleChoiceTask):
    name = "mmlu"
    version = 2  # bump when the prompt, answer extraction or scoring changes: results are keyed by it
    letters = "ABCD"
    lesson = choice_lesson("ABCD")


class ArcTask(MultipleChoiceTask):
    name = "arc"
    version = 2  # bump when the prompt, answer extraction or scoring changes: results are keyed by it
    letters = "ABCDE"
    lesson = choice_lesson("ABCDE")


class MmluOptions(FileOptions):
    pass


class ArcOptions(FileOptions):
    pass
