"""The paper's scorer: answers extracted as the reference implementation's evaluation scripts
extract them (SkyworkAI/LLMs-as-Instructors, `evaluation/get_performance_*.py`), so that a score
can be put next to the paper's tables.

It is lenient on purpose, as those scripts are: a multiple-choice response always yields a letter
(any standalone A-D in the end, failing that the option whose text is most like the whole
response), a math response its last number, a code response whatever follows `def <entry_point>`
(imports and helpers above it dropped). lfe-local's own scorers ("strict") live with each task;
`lfe score --scorer both` shows the responses on which the two disagree.

Written from reading those scripts, not copied from them: tests/test_paper_scoring.py pins the
behaviour, and scripts/paper_agreement.py measures it against the verdicts the reference published.
"""

from __future__ import annotations

import math
import re
import textwrap

from rapidfuzz import fuzz, process

SCORERS = ("strict", "paper")

# The scripts' expressions look for these four letters whatever the number of options (ARC's
# fifth option can only be reached through the option text).
_LETTERS = "ABCD"
_KEYWORD_RE = re.compile(r"[Cc]hoose|[Aa]nswer|[Cc]hoice")
_NEGATIONS = ("n't", "not")
_AFFIRMATIONS = ("correct", "right")


def check_scorer(scorer: str) -> str:
    if scorer not in SCORERS:
        raise ValueError(f"scorer must be one of {', '.join(SCORERS)}, not {scorer!r}")
    return scorer


# -- multiple choice ------------------------------------------------------------------------------

def _word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # what Python's \w matches


def _boundary(text: str, i: int) -> bool:
    """Whether a word starts or ends at `i` (a regex \\b)."""
    before = i > 0 and _word(text[i - 1])
    after = i < len(text) and _word(text[i])
    return before != after


def _standalone(text: str, j: int) -> bool:
    return _boundary(text, j) and _boundary(text, j + 1)


def _next_letter(text: str, start: int) -> int | None:
    """The first capital A-D at or after `start`: the scripts' gaps ([^ABCD]) cannot pass one."""
    found = [i for i in (text.find(c, start) for c in _LETTERS) if i >= 0]
    return min(found) if found else None


def _starts_within(text: str, start: int, limit: int, words: tuple[str, ...], end: int) -> list[int]:
    """Offsets k <= limit at which one of `words` starts at start + k, before index `end`."""
    return [k for k in range(limit + 1) if start + k < end and text.startswith(words, start + k)]


def _stated_letter(text: str) -> str | None:
    """Rule 1: "answer"/"choice" (not followed closely by a negation) or "choose", then within a
    few characters a standalone letter: "the answer is B", "Answer: (C)", "I choose D"."""
    for kw in _KEYWORD_RE.finditer(text):
        e = kw.end()
        j = _next_letter(text, e)
        if j is None or not _standalone(text, j):
            continue
        d = j - e
        if kw.group(0).lower() == "choose":
            if d <= 20:
                return text[j]
            continue
        if _starts_within(text, e, 20, _NEGATIONS, len(text) if j is None else j):
            continue
        for k in range(min(10, d) + 1):
            if not _boundary(text, e + k):
                continue
            # what may stand at e + k: nothing, "is", "be" or ":" (each a whole word piece)
            for piece in ("", "is", "be", ":"):
                if piece and not (text.startswith(piece, e + k) and _boundary(text, e + k + len(piece))):
                    continue
                if 0 <= d - k - len(piece) <= 20:
                    return text[j]
    return None


def _affirmed_letter(text: str) -> str | None:
    """Rule 2: a standalone letter closely followed by "correct" or "right" ("B is correct"), not
    by a negation of it ("B is not correct")."""
    for j, ch in enumerate(text):
        if ch not in _LETTERS or not _standalone(text, j):
            continue
        s = j + 1
        stop = _next_letter(text, s)
        stop = len(text) if stop is None else stop
        negated = False
        for a in _starts_within(text, s, 8, _NEGATIONS, stop):
            after = s + a + 3
            if _starts_within(text, after, 5, _AFFIRMATIONS, stop):
                negated = True
                break
        if negated:
            continue
        for c in _starts_within(text, s, 10, _AFFIRMATIONS, stop):
            at = s + c
            word = next(w for w in _AFFIRMATIONS if text.startswith(w, at))
            if _boundary(text, at) and _boundary(text, at + len(word)):
                return ch
            # "correctly" is no affirmation; "right" cannot start where "correct" does
    return None


def _opening_letter(text: str) -> str | None:
    """Rule 3: the response opens with "B.", "B,", "B:" or is "B"."""
    if text[:1] in tuple(_LETTERS) and (len(text) == 1 or text[1] in ".,:" or text[1:] == "\n"):
        return text[0]
    return None


def _any_letter(text: str) -> str | None:
    """Rule 4: the first A-D with no ASCII letter on either side and no "=" after it."""
    for j, ch in enumerate(text):
        if ch not in _LETTERS:
            continue
        before = text[j - 1] if j > 0 else ""
        after = text[j + 1] if j + 1 < len(text) else ""
        if not (before.isascii() and before.isalpha()) and not (after.isascii() and after.isalpha()) and after != "=":
            return ch
    return None


_LATIN1 = {i: None for i in range(128, 256)}


def _fuzz_text(text: str) -> str:
    """thefuzz's default processing, which the scripts used: drop the characters 128-255, every
    non-word character to a space, lower case, trimmed."""
    return re.sub(r"\W", " ", text.translate(_LATIN1)).lower().strip()


RULES = ("answer statement", "letter called correct", "opening letter", "standalone letter", "closest option text")


def choice_letter(response: str, options: list[str], letters: str = "ABCDE") -> tuple[str | None, str | None]:
    """(letter, the rule that found it): the letter the scripts' cascade reads in `response`,
    else the letter of the option text closest to the whole response (rapidfuzz's WRatio, as
    thefuzz's extractOne computes it). None only when there are no options to fall back on."""
    for rule, find in zip(RULES, (_stated_letter, _affirmed_letter, _opening_letter, _any_letter), strict=False):
        letter = find(response)
        if letter is not None:
            return letter, rule
    if not options:
        return None, None
    best = process.extractOne(_fuzz_text(response), options, scorer=fuzz.WRatio, processor=_fuzz_text,
                              score_cutoff=0)
    return letters[best[2]], RULES[-1]


# -- math ----------------------------------------------------------------------------------------

# A number as the scripts tokenise it: a sign directly before it counts ("48-24" ends on -24),
# thousands groups only when exact, a leading or trailing decimal point allowed (".5", "5.").
_NUMBER_RE = re.compile(r"[+-]?(?=\.?\d)(?:(?:[1-9]\d{0,2}(?:,\d{3})*|0)(?!\d)|\d+)?(?:\.\d*)?")
_LITERAL_RE = re.compile(r"-?(?:(?P<int>\d+)|\d*\.\d*)")


def last_number(text: str) -> str | None:
    """The response's last number without commas and plus signs; None when it has none."""
    found = _NUMBER_RE.findall(text)
    return found[-1].replace(",", "").replace("+", "").strip() if found else None


def _value(token: str | None) -> float | None:
    """The number a token stands for as a Python literal: "05" is none (Python refuses it)."""
    found = _LITERAL_RE.fullmatch(token or "")
    if found is None or token.lstrip("-") in ("", "."):
        return None
    digits = found.group("int")
    if digits is not None and len(digits) > 1 and digits.startswith("0") and digits.strip("0"):
        return None
    return float(token)


def same_number(response: str, gold: str) -> tuple[str | None, bool]:
    """(the response's last number, whether it equals the gold's last number within 1e-4)."""
    pred, truth = last_number(response), _value(last_number(gold))
    value = _value(pred)
    return pred, value is not None and truth is not None and math.isclose(value, truth, rel_tol=0, abs_tol=1e-4)


# -- bbh -----------------------------------------------------------------------------------------

_BBH_STATEMENT_RE = re.compile(r"[Tt]he answer is (?P<answer>[^\n]*?)\.")


def bbh_answer(response: str) -> tuple[str, str]:
    """(answer, rule): what the first "the answer is ..." says up to its first period, else the
    whole response (the script meant that; as written it kept the previous item's prediction)."""
    found = _BBH_STATEMENT_RE.search(response)
    if found is None:
        return response.strip(), "whole response"
    return found.group("answer").strip(), "the answer is"


# -- code ----------------------------------------------------------------------------------------

def _not_indented_after(text: str, pos: int) -> bool:
    """Whether the line break at `pos` ends a body: what follows it (past blank lines) is not
    indented by two spaces or a tab."""
    rest = text[pos + 1:].lstrip("\n")
    return not rest.startswith(("  ", "\t"))


def _body_end(text: str, start: int) -> int:
    """Where an unfenced body that starts at `start` ends: at the first line break before an
    unindented line, or at the end (before a final line break)."""
    for pos in range(start, len(text)):
        if text[pos] == "\n" and _not_indented_after(text, pos):
            return pos
    return len(text)


CODE_RULES = ("fenced def of the entry point", "def of the entry point", "first def", "whole response")


def code_after_def(response: str, entry_point: str, with_def: bool) -> tuple[str, str]:
    """(code, the rule that found it): what the scripts keep. From a fenced block, the first
    `def <entry_point>`, then any `def` at all, to the block's end (else to the first unindented
    line); with `with_def` from the def line on (the MBPP script), else only the body below it (the
    HumanEval script, which runs it after the prompt). No def at all: the whole response indented
    as a body."""
    defs = re.compile(rf"def\s+{re.escape(entry_point)}")
    fence = response.find("```")
    if fence >= 0:
        named = defs.search(response, fence + 3)
        if named is not None:
            colon = response.find(":\n", named.end())
            end = response.find("\n```", colon + 2) if colon >= 0 else -1
            if end >= 0:
                return response[named.start() if with_def else colon + 2: end], CODE_RULES[0]
    for pattern, rule in ((defs, CODE_RULES[1]), (re.compile("def"), CODE_RULES[2])):
        found = pattern.search(response)
        if found is None:
            continue
        colon = response.find(":\n", found.end())
        if colon < 0:
            continue
        return response[found.start() if with_def else colon + 2: _body_end(response, colon + 2)], rule
    return textwrap.indent(response, " " * 4), CODE_RULES[3]
