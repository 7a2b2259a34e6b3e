"""Final answers in free text: pull the number a response commits to, and put numbers in one canonical form.

Gold answers and extracted answers both go through `normalize_number`, so "$1,200.00", "1200" and
"1200." compare equal as plain strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Thousands groups must be exact ("1,200") so a list like "3,4" reads as two numbers, not 34.
_DIGITS = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
# A minus counts as a sign only when it does not follow a word or number ("48-2" is a subtraction).
NUMBER = rf"(?:(?<![\w)])-)?\$?{_DIGITS}"
_NUMBER_RE = re.compile(NUMBER)

_HASHES_RE = re.compile(rf"####\s*\**\s*({NUMBER})")
# What may stand between a statement and its number, on its line or the lines below: markup, a
# bullet and LaTeX openers ("The answer is:" + a blank line + "\\[ \\boxed{42} \\]", "is: $$42$$").
_OPENERS = r"(?:\s|[*_$]|^[ \t]*[-\u2022][ \t]|\\[(\[]|\\boxed\s*\{|\\text(?:bf)?\s*\{)*"
# "The final answer is $1,200." / "answer is: 42" / "the answer is **42**"
_ANSWER_IS_RE = re.compile(rf"answer\s+is\s*:?{_OPENERS}({NUMBER})", re.IGNORECASE | re.MULTILINE)
_BOXED_RE = re.compile(rf"\\boxed\s*\{{{_OPENERS}({NUMBER})", re.MULTILINE)

_CANON_RE = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)")


def normalize_number(text: str | None) -> str | None:
    """Canonical text of a number ("1,200.50" -> "1200.5", "$5" -> "5", "3.0" -> "3"); None if not a number."""
    if text is None:
        return None
    s = re.sub(r"[\s,$]", "", text).removesuffix("%")
    s = s[:-1] if s.endswith(".") else s
    s = s[1:] if s.startswith("+") else s
    if not _CANON_RE.fullmatch(s):
        return None
    negative = s.startswith("-")
    s = s.lstrip("-")
    whole, _, frac = s.partition(".")
    whole = whole.lstrip("0") or "0"
    frac = frac.rstrip("0")
    out = f"{whole}.{frac}" if frac else whole
    return f"-{out}" if negative and out != "0" else out


def marked_answer(text: str) -> str | None:
    """The answer stated with an explicit marker ("#### N", then "the answer is N", then
    "\\boxed{N}"), normalised; else None."""
    for pattern in (_HASHES_RE, _ANSWER_IS_RE, _BOXED_RE):
        found = pattern.findall(text)
        if found:
            return normalize_number(found[-1])
    return None


def last_number(text: str) -> str | None:
    """The last number in the text, normalised; None if there is none."""
    found = _NUMBER_RE.findall(text)
    return normalize_number(found[-1]) if found else None


def numbers(text: str) -> list[str]:
    """Every number in the text, in order, normalised."""
    return [n for n in map(normalize_number, _NUMBER_RE.findall(text)) if n is not None]


def extract_answer(response: str) -> str | None:
    """The response's final answer: "#### N", else "the answer is N", else "\\boxed{N}", else the
    last number in the text."""
    return marked_answer(response) or last_number(response)


def strip_closing(text: str, strip_once: Callable[[str], str]) -> str:
    """`text` without any of its closing answer statements: `strip_once` removes the last one, and
    solutions often repeat it ("So the answer is 7. The answer is 7.")."""
    body = text.strip()
    while (trimmed := strip_once(body).strip()) != body:
        body = trimmed
    return body
