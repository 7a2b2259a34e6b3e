"""Multiple-choice text: the question layout (a stem, then one "A. text" line per option), the
letter a free-text response commits to, and the instructor's lesson for multiple-choice tasks.

`extract_letter` refuses to guess: a response that claims two different letters is "ambiguous",
and letters in passing ("A cat sat...", "(B) is wrong because...") are not claims. Only an explicit
answer statement (also with its answer on the line below), a response that is (or starts or ends
with) a bare letter, the one option cited by letter and text, or a final sentence naming exactly
one option's text counts.
"""

from __future__ import annotations

import re

from lfe_local.tasks.base import Demo, Lesson

# One option line: "A. text", also "A) text" and "(A) text", which small instructors often write.
_OPTION_LINE_RE = re.compile(r"^\s*(?:\(([A-Z])\)|([A-Z])[.)])\s+(\S.*?)\s*$")

# "the answer is", "The correct answer would be", "Final answer:", "the best option is", "Answer =",
# "the answer to this question is"
_STATEMENT_RE = re.compile(
    r"\b(?:(?:final|correct|right|best)\s+(?:answer|option|choice)|answer)\b[*_]*"
    r"(?:\s+(?:to|for)\s+(?:this|the)\s+question)?\s*"
    r"(?:is|would\s+be|should\s+be|will\s+be|must\s+be|:|=)\s*:?",
    re.IGNORECASE,
)
# An option cited by its letter *and* its own text inside a sentence ("The most likely diagnosis
# is D. Tetralogy of Fallot.", "agrees with statement B: People's ...") or by its text and then
# its letter ("is most likely a liverwort (B)"). The option text is matched by its first words.
_CITED_WORDS = 6
_CITATION_BEFORE = r"(?:\(({letter})\)|({letter})[.):])[\s*_\"']+"
_CITATION_AFTER = r"[\s*_\"']*\((?i:option\s+)?{letter}\)"
# "If the answer is A, ..." states a hypothesis, not an answer.
_HYPOTHESIS_RE = re.compile(r"\b(?:if|whether|suppose|assuming|assume)\s+(?:the\s+)?(?:\w+\s+)?$", re.IGNORECASE)
# What may stand before a letter: markup, quotes, "option", "either", LaTeX \boxed{.
_LEAD_RE = re.compile(r"[\s*_\"'`$]*(?:\\boxed\{)?[\s*_\"'`]*(?:(?:either|both)\s+)?(?:(?:options?|choices?|letters?)\s+)?",
                      re.IGNORECASE)
_SEPARATOR_RE = re.compile(r"\s*(?:,\s*(?:or|and)\b|,|/|&|\bor\b|\band\b)\s*(?:(?:options?|choices?)\s+)?",
                           re.IGNORECASE)
# Words that may follow a claimed letter in prose: "B because...", "A is correct". Any other word
# after a capital letter makes it an article or initial ("A cat", "B vitamins").
_FOLLOW_WORDS = {"because", "since", "as", "is", "which", "or", "and", "would", "should", "seems"}
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+|\n+")


def format_question(stem: str, options: list[str], letters: str = "ABCDE") -> str:
    """The stem, then one "A. text" line per option: how every multiple-choice item is shown."""
    lines = [stem.strip()]
    lines += [f"{letter}. {' '.join(text.split())}" for letter, text in zip(letters, options, strict=False)]
    return "\n".join(lines)


def parse_question(question: str, letters: str = "ABCDE") -> tuple[str, list[str]] | None:
    """(stem, options) of a question laid out by `format_question`; None unless it has a stem and
    2 to len(letters) option lines lettered in order from A, closing the question."""
    lines = question.strip().splitlines()
    # The option block is the last run of option lines that starts at "A" and reaches the end.
    for start in range(len(lines) - 1, -1, -1):
        found = _OPTION_LINE_RE.match(lines[start])
        if found and (found.group(1) or found.group(2)) == "A":
            break
    else:
        return None
    options = []
    for offset, line in enumerate(lines[start:]):
        found = _OPTION_LINE_RE.match(line)
        if not found or offset >= len(letters) or (found.group(1) or found.group(2)) != letters[offset]:
            return None
        options.append(found.group(3))
    stem = "\n".join(lines[:start]).strip()
    if not stem or len(options) < 2:
        return None
    return stem, options


def extract_letter(response: str, letters: str = "ABCD",
                   options: list[str] | None = None) -> tuple[str | None, str | None]:
    """(letter, failure): the option letter a response commits to, with failure None; else
    (None, "no_answer") or (None, "ambiguous") when it claims more than one letter.

    In order, the first rule that finds a claim decides:
    1. explicit statements ("The answer is (B)", "Answer: B", "the correct option is B"), all of
       them: two statements naming different letters are ambiguous; a statement may put its answer
       on the next line ("The most suitable answer is:\n\nB. Berlin"), but a block of several
       option lines after it is a list, not a choice;
    2. a bare letter opening the response ("B) because...", "(B)", "**B**") or as its last line
       ("...\\n\\nSo, B.");
    2a. the one option line below a line that ends in a colon ("In the long run, a firm:\\n\\nA.
       earns zero profit"), unless a later line opens with another option;
    2b. the one option the response cites by its letter and its own text inside a sentence ("the
       most likely diagnosis is D. Tetralogy of Fallot", "... is most likely a liverwort (B)");
    3. option text: the response is, or its last sentence names, exactly one option's text.
    A response whose sentences open with different letters walks through the options: only
    rules 1 and 2b and a closing bare letter count there.
    """
    text = response.strip()
    announced, after_colon = _announced_claims(text, letters, options)
    claims = _statement_claims(text, letters, options) | announced
    # A response that walks through the options ("A. London is... B. Berlin is...") opens with a
    # letter and ends naming an option without choosing either.
    walks = len(_sentence_openers(text, letters)) > 1
    if not claims:
        claims = _closing_claim(text, letters)
        if not walks:
            claims |= _opening_claim(text, letters)
    if not claims:
        claims = after_colon if len(after_colon) == 1 else set()
    if not claims and options:
        cited = _cited_options(text, letters, options)
        claims = cited if len(cited) == 1 else set()  # citing several options compares them
    if not claims and options and not walks:
        claims = _named_options(text, letters, options)
    if len(claims) > 1:
        return None, "ambiguous"
    if claims:
        return claims.pop(), None
    return None, "no_answer"


def _letter_list(text: str, letters: str, *, lowercase: bool = False) -> list[str] | None:
    """The letters that `text` opens with ("B", "(B)", "A or C", "**B**."), None if it does not
    open with a letter claim."""
    pattern = re.compile(rf"\(([{letters}])\)|\[([{letters}])\]|([{letters}])(?![\w'])",
                         re.IGNORECASE if lowercase else 0)
    pos = _LEAD_RE.match(text).end()
    found, claimed = pattern.match(text, pos), []
    while found:
        letter = next(g for g in found.groups() if g)
        bare = found.group(3) is not None
        if bare and letter.islower() and not re.match(r"[.)\]*_}$!]*\s*$", text[found.end():]):
            return None  # "the answer is a dog": a lone lowercase letter counts only at the very end
        claimed.append(letter.upper())
        pos = found.end()
        sep = _SEPARATOR_RE.match(text, pos)
        nxt = pattern.match(text, sep.end()) if sep else None
        if nxt is None:
            break
        found = nxt
    if not claimed:
        return None
    if len(claimed) == 1 and found.group(3) is not None:
        # A single bare capital must not be an article: "A cat" is prose, "A." or "A because" a claim.
        follow = re.match(r"\s+([A-Za-z]+)", text[pos:])
        if follow and follow.group(1).lower() not in _FOLLOW_WORDS:
            return None
    return claimed


def _statement_claims(text: str, letters: str, options: list[str] | None) -> set[str]:
    claims: set[str] = set()
    for found in _STATEMENT_RE.finditer(text):
        if _HYPOTHESIS_RE.search(text[max(0, found.start() - 40):found.start()]):
            continue
        clause = text[found.end():].split("\n", 1)[0]
        listed = _letter_list(clause, letters, lowercase=True)
        if listed:
            claims.update(listed)
        elif options:
            # "The answer is Paris." names the option instead of its letter.
            sentence = _SENTENCE_END_RE.split(clause.strip(), maxsplit=1)[0]
            claims |= _named_options(sentence, letters, options)
    return claims


# A line that announces its answer on the lines below it: it ends, past markup, in a copula or in
# an answer word and a colon ("Therefore, the answer is:", "the best treatment option would be:",
# "**Answer:**"). A plural noun ("the options:") introduces a list instead.
_ANNOUNCE_RE = re.compile(r"(?:\b(?:is|are|be)[\s*_]*:?|\b(?:answer|option|choice)[\s*_]*:)[\s*_#]*$", re.IGNORECASE)
# Any other line ending in a colon may complete the question's sentence ("In the long run, a
# firm:\n\nA. earns zero profit") or introduce a walk through the options ("Let's see:\n\nA. ...").
_COLON_END_RE = re.compile(r":[\s*_#]*$")
_HYPOTHETICAL_LINE_RE = re.compile(r"^\W*(?:if|whether|suppose|supposing|assuming|assume)\b", re.IGNORECASE)
# An option line in the layout models copy from the question: "A. text", "B) text", "(C) text".
_OPTION_OPENER_RE = re.compile(r"^[\s*_]*(?:[-\u2022][ \t]+)?[*_]*(?:\(([A-Z])\)|([A-Z])[.)])")


def _paragraphs_after(lines: list[str], start: int) -> tuple[list[str], list[str]]:
    """The first paragraph (run of non-blank lines) from line `start` on, and the first line of
    the paragraph after it (as a list: empty when there is none)."""
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    j = i
    while j < len(lines) and lines[j].strip():
        j += 1
    k = j
    while k < len(lines) and not lines[k].strip():
        k += 1
    return lines[i:j], lines[k:k + 1]


def _opener(line: str, letters: str) -> str | None:
    found = _OPTION_OPENER_RE.match(line)
    letter = found and (found.group(1) or found.group(2))
    return letter if letter and letter in letters else None


def _announced_claims(text: str, letters: str, options: list[str] | None) -> tuple[set[str], set[str]]:
    """Letters answered on the line(s) below an announcing line ("the answer is:\n\nA. text"),
    and, apart, those below any other line ending in a colon (weaker: rule 2a)."""
    lines = text.splitlines()
    claims: set[str] = set()
    after_colon: set[str] = set()
    for n, line in enumerate(lines):
        found = _ANNOUNCE_RE.search(line)
        strong = found is not None
        if not strong:
            found = _COLON_END_RE.search(line)
        if found is None or _HYPOTHESIS_RE.search(line[max(0, found.start() - 40):found.start()]) \
                or _HYPOTHETICAL_LINE_RE.match(line):
            continue
        block, following = _paragraphs_after(lines, n + 1)
        if not block:
            continue
        first = re.sub(r"^\s*[-\u2022]\s+", "", block[0])
        listed = _letter_list(first, letters)
        if listed is None:
            # "The answer is:\n\nParis." names the option by its text.
            if options and _STATEMENT_RE.search(line):
                sentence = _SENTENCE_END_RE.split(first.strip(), maxsplit=1)[0]
                named = _named_options(sentence, letters, options)
                claims |= named if len(named) == 1 else set()
            continue
        shown = set(listed) | {x for x in (_opener(b, letters) for b in block[1:]) if x}
        # After an answer statement, only a next paragraph that opens with another option walks
        # on ("Check each choice:\n\nA) ...\n\nB) ..."); an explanation may still discuss the
        # others. After a mere colon, any later option line does.
        later = following if strong else lines[n + 1 + len(block):]
        walks_on = any(x not in shown for x in (_opener(f, letters) for f in later) if x)
        # Several options under the announcement list them ("The options are:").
        if len(shown) == 1 and not walks_on:
            (claims if strong else after_colon).update(shown)
    return claims, after_colon


def _sentence_start(text: str, pos: int) -> bool:
    """Whether `pos` opens the text, a line or a sentence (past markup and quotes)."""
    before = re.sub(r"[\s*_\"'`(\[]+$", "", text[:pos])
    return not before or before[-1] in ".!?:\n" or "\n" in text[len(before):pos]


def _cited_options(text: str, letters: str, options: list[str]) -> set[str]:
    """Letters of the options cited inside a sentence by letter and own text, in either order. A
    citation that opens a sentence or line is a walk through the options, not a choice."""
    cited = set()
    for letter, option in zip(letters, options, strict=False):
        words = re.sub(r"[*_`\"]", " ", option).strip(" .").split()[:_CITED_WORDS]
        if not words:
            continue
        own = "(?i:" + r"[\s*_]+".join(map(re.escape, words)) + ")"
        for found in re.finditer(_CITATION_BEFORE.format(letter=letter) + own, text):
            if not _sentence_start(text, found.start()):
                cited.add(letter)
        if re.search(r"(?<!\w)" + own + _CITATION_AFTER.format(letter=letter), text):
            cited.add(letter)
    return cited


def _sentence_openers(text: str, letters: str) -> set[str]:
    """The letters that open the response's sentences or lines."""
    openers: set[str] = set()
    for piece in _SENTENCE_END_RE.split(text):
        listed = _letter_list(piece, letters)
        if listed and len(listed) == 1:
            openers.update(listed)
    return openers


def _opening_claim(text: str, letters: str) -> set[str]:
    return set(_letter_list(text, letters) or ())


def _closing_claim(text: str, letters: str) -> set[str]:
    """A last line that is only a letter, optionally after "So,": "(C)", "**B**.", "Therefore, D."""
    last = text.splitlines()[-1].strip() if text else ""
    last = re.sub(r"^(?:so|thus|therefore|hence|final(?:ly)?)\b[,:]?\s*", "", last, flags=re.IGNORECASE)
    if not re.fullmatch(rf"[\s*_\"'`(\[]*[{letters}][\s*_\"'`)\].!]*", last):
        return set()
    return set(_letter_list(last, letters) or ())


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[*_`\"]", " ", text).split()).casefold().strip(" .,;:!?'()")


def _named_options(text: str, letters: str, options: list[str]) -> set[str]:
    """Letters of the options that the response (whole) or its last sentence names."""
    whole = _normal(text)
    exact = {letter for letter, option in zip(letters, options, strict=False) if _normal(option) == whole}
    if exact:
        return exact
    sentences = [s for s in _SENTENCE_END_RE.split(text.strip()) if s.strip()]
    if not sentences:
        return set()
    last = _normal(sentences[-1])
    named = {}
    for letter, option in zip(letters, options, strict=False):
        norm = _normal(option)
        if norm and re.search(rf"(?<!\w){re.escape(norm)}(?!\w)", last):
            named[letter] = norm
    # "Paris, Texas" names "Paris" too; only the longer option is meant.
    return {letter for letter, norm in named.items()
            if not any(norm != other and norm in other for other in named.values())}


# -- what the instructor is told ---------------------------------------------------------------------

_DEMO_QUESTION = format_question("Which gas do plants take in from the air to make their food?",
                                 ["Oxygen", "Carbon dioxide", "Nitrogen", "Helium"])
_DEMO = Demo(
    question=_DEMO_QUESTION,
    wrong="People and animals need oxygen from the air, so plants take in oxygen too. The answer is (A).",
    answer="B",
    reference="Plants make food by photosynthesis, which uses carbon dioxide and water and gives off oxygen. "
              "The answer is (B).",
    corrected={"corrected_solution": "Plants make their food by photosynthesis. Photosynthesis uses carbon dioxide "
                                     "from the air and water, and it gives off oxygen. The answer is (B).",
               "final_answer": "B"},
    error_type="confused concepts",
    analysis="The student assumed plants use the same gas as animals. Photosynthesis takes in carbon dioxide and "
             "gives off oxygen, so the student mixed up what plants take in with what they give off.",
    contrast="The student recalls facts about animals and about what plants give off correctly, but when a question "
             "asks what plants take in, it carries over the animal fact instead of recalling photosynthesis.",
    solved=(
        (format_question("What do animals breathe in to stay alive?", ["Oxygen", "Carbon dioxide", "Helium", "Smoke"]),
         "Animals need oxygen for their cells. The answer is (A)."),
        (format_question("Which gas do plants give off in sunlight?", ["Nitrogen", "Helium", "Oxygen", "Neon"]),
         "During photosynthesis plants release oxygen. The answer is (C)."),
        (format_question("What do plants need from the soil?", ["Sand only", "Plastic", "Salt only", "Water"]),
         "Roots take up water from the soil. The answer is (D)."),
    ),
    new=(
        {"question": format_question("Which part of a plant takes in most of the carbon dioxide it uses?",
                                     ["The leaves", "The roots", "The flowers", "The seeds"]),
         "solution": "Carbon dioxide enters through small openings in the leaves. The answer is (A).",
         "answer": "A"},
        {"question": format_question("What does a plant give off as it makes food in sunlight?",
                                     ["Carbon dioxide", "Nitrogen", "Oxygen", "Smoke"]),
         "solution": "Photosynthesis gives off oxygen as the plant makes sugar. The answer is (C).",
         "answer": "C"},
        {"question": format_question("Which two things does photosynthesis use?",
                                     ["Oxygen and salt", "Sand and air", "Nitrogen and sugar",
                                      "Carbon dioxide and water"]),
         "solution": "Plants use carbon dioxide and water, with light, to make sugar. The answer is (D).",
         "answer": "D"},
        {"question": format_question("Where in a plant does photosynthesis mostly happen?",
                                     ["In the roots", "In the leaves", "In the bark", "In the soil"]),
         "solution": "Leaves hold the chlorophyll that captures light. The answer is (B).",
         "answer": "B"},
    ),
)


def choice_lesson(letters: str) -> Lesson:
    """The instructor's lesson for a multiple-choice task with up to len(letters) options."""
    return Lesson(
        system="You are a careful teacher who writes multiple-choice questions. You reply only with JSON.",
        unit="question",
        solve="step by step, briefly, ending with the answer letter",
        vary="on the same topic with different details",
        new_parts=(f"its options written as lines A. to {letters[3] if len(letters) > 3 else letters[-1]}. inside "
                   "the question, a short solution and the answer letter"),
        answer={"type": "string", "enum": list(letters)},
        extra={},
        demo=_DEMO,
        # A stem plus four option lines needs more room than a math word problem.
        max_question=600,
        answer_checks=2,
    )
