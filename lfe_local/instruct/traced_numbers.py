"""Worked solutions rebuilt from a generator's own computation (program mode, `traced_solutions`).

The bundled 1.5B instructor's generators are more often right in their code than in the solution
text they format: seen in one demo run, `left = total - died + new` computed the right answer
while the solution's f-string ended "Then she plants 9 more: 34 tulips." (no equation: the
instance lacks the addition its error needs, `other_skill`), or printed `{total} - {lost} =
{left}` where `left` had the 9 more added already (`bad_equation`, 60 instances of 60). Both
generators' answers were what their questions ask.

So the sandbox runs `generate(rng)` with an `rng` whose numbers remember how they were made: every
`+ - * / // **` between them (and with literals) yields a number carrying its operation and
operands. From the returned answer (or, when the answer was turned into text, the last number
computed that equals it) the harness walks back through the operations that produced it and
writes each as one equation, `a op b = c`, in the order computed: the answer's derivation, exact by
construction. Nothing else about the run changes: the traced numbers are `int` and `float`
subclasses drawn in the same order from the same seeds, so a generator makes the same instances.
What is lost is only provenance: an operation the tracer does not follow (`%`, `round`, `abs`,
`int()`, a float literal on the left of a traced int) leaves a plain number, which the derivation
shows as a given value.

This module holds the harness's source text (it runs inside the sandbox, appended to the model's
code, so it is Python source, not an import) and turns a derivation into solution text.
"""

from __future__ import annotations

import math
import re
from collections import Counter

from ..tasks.answers import numbers

# Runs in the sandbox after the generator's code. Names start with "_" so they do not collide with
# the model's. {seeds!r} and {mark!r} are filled in by run_generator; braces are doubled.
HARNESS = '''

import json as _json, random as _random, operator as _operator

_NODES = []  # numbers computed during one generate() call, in order


class _TInt(int):
    _src = None


class _TFloat(float):
    _src = None


def _traced(value, src):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    out = _TInt(value) if isinstance(value, int) else _TFloat(value)
    out._src = src
    if src is not None:
        _NODES.append(out)
    return out


def _plain(x):
    return int(x) if isinstance(x, int) else float(x)


def _number(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _ops(sym, fn):
    def forward(a, b):
        if not _number(b):
            return NotImplemented
        return _traced(fn(_plain(a), _plain(b)), (sym, a, b))

    def reflected(a, b):
        if not _number(b):
            return NotImplemented
        return _traced(fn(_plain(b), _plain(a)), (sym, b, a))
    return forward, reflected


for _sym, _name, _fn in (("+", "add", _operator.add), ("-", "sub", _operator.sub), ("*", "mul", _operator.mul),
                         ("/", "truediv", _operator.truediv), ("//", "floordiv", _operator.floordiv),
                         ("**", "pow", _operator.pow)):
    _f, _r = _ops(_sym, _fn)
    for _cls in (_TInt, _TFloat):
        setattr(_cls, "__" + _name + "__", _f)
        setattr(_cls, "__r" + _name + "__", _r)


class _TracedRandom(_random.Random):
    # randint calls randrange; neither random() nor getrandbits is overridden, so the draws are
    # exactly those of random.Random with the same seed.
    def randrange(self, *args, **kwargs):
        return _traced(super().randrange(*args, **kwargs), None)

    def choice(self, seq):
        return _traced(super().choice(seq), None)

    def uniform(self, a, b):
        return _traced(super().uniform(a, b), None)

    def sample(self, population, k, **kwargs):
        return [_traced(x, None) for x in super().sample(population, k, **kwargs)]


def _identity(sym, a, b):
    return (sym == "+" and (a == 0 or b == 0)) or (sym == "-" and b == 0) or \\
        (sym == "*" and (a == 1 or b == 1)) or (sym in ("/", "//") and b == 1)


def _resolve(x):
    # x + 0, 1 * x, x / 1, ... (sum() starts from 0) are the other operand itself.
    src = getattr(x, "_src", None)
    while src is not None and _identity(*src):
        sym, a, b = src
        x = b if (sym == "+" and a == 0) or (sym == "*" and a == 1) else a
        src = getattr(x, "_src", None)
    return x


def _derivation(answer):
    node = answer if getattr(answer, "_src", None) is not None else None
    if node is None and not _number(answer):
        try:
            wanted = float(str(answer).replace(",", "").replace("$", "").strip())
        except ValueError:
            return []
        node = next((n for n in reversed(_NODES) if abs(float(n) - wanted) <= 1e-9 * max(1.0, abs(wanted))), None)
    if node is None:
        return []
    steps, seen = [], set()

    def visit(x, depth):
        src = getattr(x, "_src", None)
        if src is None or id(x) in seen or depth > 40:
            return
        seen.add(id(x))
        sym, a, b = src
        a, b = _resolve(a), _resolve(b)
        visit(a, depth + 1)
        visit(b, depth + 1)
        steps.append([_plain(a), sym, _plain(b), _plain(x),
                      getattr(a, "_src", None) is None, getattr(b, "_src", None) is None])
    visit(_resolve(node), 0)
    return steps


for _seed in {seeds!r}:
    _NODES.clear()
    try:
        _value = generate(_TracedRandom(_seed))
        _trace = _derivation(_value.get("answer")) if isinstance(_value, dict) else []
        _line = _json.dumps({{"seed": _seed, "value": _value, "trace": _trace}}, default=str)
    except BaseException as _e:
        _line = _json.dumps({{"seed": _seed, "error": type(_e).__name__ + ": " + " ".join(str(_e).split())[:200]}})
    print({mark!r} + _line, flush=True)
'''

# A derivation longer than this is not a worked solution a small target can learn from.
MAX_STEPS = 12


def number_text(value: float | int) -> str:
    """12, 13.5, 0.3333333333 (10 significant digits, as the equation check reads them)."""
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(value, ".10g")
    return str(value)


# Numbers a question may give in words; a literal 2 in the code for "twice" is a given number.
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
          "ten": 10, "eleven": 11, "twelve": 12, "twice": 2, "double": 2, "doubles": 2, "half": 2, "halves": 2,
          "triple": 3, "triples": 3, "thrice": 3, "dozen": 12, "dozens": 12, "hundred": 100}


def question_numbers(question: str) -> tuple[Counter[float], set[float]]:
    """(numbers written in digits, with how often each is written; numbers said in words)."""
    digits = Counter(float(n) for n in numbers(question))
    words = {float(_WORDS[w]) for w in re.findall(r"[a-z]+", question.lower()) if w in _WORDS}
    return digits, words


def traced_solution(trace: list, question: str) -> str | None:
    """One equation per line, `a op b = c.`, from a harness derivation; None when there is none
    (the answer was given, not computed), it is too long or malformed, or it does not fit the
    question: every given number it starts from must be in the question (in digits or words),
    and every number the question writes in digits must be used (as often as written). A generator whose code computes
    a step its question does not state ("4 * 9 = 36" for "36 pages on Wednesday") or skips one
    the question does ("6 * 13 = 78; 78 + 10 = 88" for a question that also loses 67) would
    otherwise get a solution that teaches its mistake."""
    if not trace or len(trace) > MAX_STEPS:
        return None
    digits, words = question_numbers(question)
    used, lines = Counter(), []
    for step in trace:
        if not (isinstance(step, list) and len(step) == 6 and isinstance(step[1], str)):
            return None
        a, sym, b, c, a_given, b_given = step
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (a, b, c)):
            return None
        for value, given in ((a, a_given), (b, b_given)):
            if given:
                if float(value) not in digits and float(value) not in words:
                    return None
                used[float(value)] += 1
        right = number_text(b)
        lines.append(f"{number_text(a)} {sym} {f'({right})' if b < 0 else right} = {number_text(c)}.")
    if any(used[v] < n for v, n in digits.items()):  # a number the question gives twice is used twice
        return None
    return "\n".join(lines)
