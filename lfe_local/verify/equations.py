"""Explicit arithmetic equations in free text, found and checked without eval.

API:
    check_equations(text) -> list[Equation]   every equation, in order of appearance, with its verdict
    find_equations(text)  -> list[str]        their texts
    false_equations(text) -> list[str]        texts of the equations that do not hold
    operations(text)      -> frozenset[str]   the binary operators ("+", "-", "*", "/", "**") its equations use

An equation is a chain of two or more sides joined by "=" (`3 * 4 = 12 = 6 + 6`) where at least one
side has an operator between numbers, so "x = 5", "Step 1." and "2024" are not equations. A GSM8K
annotation `<<48/2=24>>` is an equation of its own; the number written after it is the visible
result, not an extra term. Chains we cannot parse are skipped rather than judged: a sample is only
rejected for an equation we understood.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

_ANNOTATION_RE = re.compile(r"<<([^<>]*)>>")
_TOKEN_RE = re.compile(
    r"""
    (?P<num>(?:[$€£]\s?)?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?%?|[$€£]?\.\d+%?)
    |(?P<op>\*\*|//|[-+*/^÷−–])
    |(?P<times>(?<![A-Za-z])[xX](?![A-Za-z])|[×·])
    |(?P<eq>==?)
    |(?P<lp>[(\[])
    |(?P<rp>[)\]])
    |(?P<space>[ \t]+)
    |(?P<other>[A-Za-z_]+|.)
    """,
    re.VERBOSE | re.DOTALL,
)
_OP_ALIASES = {"÷": "/", "−": "-", "–": "-", "^": "**", "×": "*", "·": "*", "x": "*", "X": "*"}
# Bounds keep a hostile "9 ** 9 ** 9" from hanging the verifier.
_MAX_EXPONENT = 64
_MAX_MAGNITUDE = Fraction(10) ** 30
_REL_TOL = Fraction(1, 10**6)


@dataclass(frozen=True)
class Equation:
    text: str  # the chain as written, e.g. "3 * 4 = 12 = 6 + 6"
    ok: bool
    reason: str | None = None  # None, "false", "division_by_zero" or "dropped_remainder"
    values: tuple[float, ...] = ()  # value of each side (empty when a division by zero stopped us)
    ops: frozenset[str] = frozenset()  # binary operators used on its sides: "+", "-", "*", "/", "**"


@dataclass(frozen=True)
class _Tok:
    kind: str  # num, op, eq, lp, rp
    text: str
    start: int
    end: int


class _Unparsable(Exception):
    pass


class _DivisionByZero(Exception):
    pass


def check_equations(text: str) -> list[Equation]:
    found: list[tuple[int, Equation]] = []
    for match in _ANNOTATION_RE.finditer(text):
        for offset, eq in _chains(match.group(1)):
            found.append((match.start(1) + offset, eq))
    # Blank out annotations (same length) so "48/2 = <<48/2=24>>24" reads as "48/2 = 24".
    plain = _ANNOTATION_RE.sub(lambda m: " " * len(m.group(0)), text)
    found.extend(_chains(plain))
    found.sort(key=lambda pair: pair[0])
    return [eq for _, eq in found]


def find_equations(text: str) -> list[str]:
    return [eq.text for eq in check_equations(text)]


def false_equations(text: str) -> list[str]:
    return [eq.text for eq in check_equations(text) if not eq.ok]


def operations(text: str) -> frozenset[str]:
    """The binary operators the text's equations use (unary minus is not one): what kind of
    calculation a worked solution practises."""
    return frozenset().union(*(eq.ops for eq in check_equations(text)))


def _chains(text: str) -> list[tuple[int, Equation]]:
    out = []
    for run in _math_runs(text):
        sides = _split_sides(run)
        if sides is None:
            continue
        start, end = sides[0][0].start, sides[-1][-1].end
        eq = _judge(" ".join(text[start:end].split()), sides)
        if eq is not None:
            out.append((start, eq))
    return out


def _math_runs(text: str) -> list[list[_Tok]]:
    """Maximal stretches of math tokens; words, punctuation and line breaks end a stretch."""
    raw = [(m.lastgroup, m.group(0), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]
    raw = [t for t in raw if t[0] != "space"]
    runs: list[list[_Tok]] = [[]]
    for i, (kind, tok, start, end) in enumerate(raw):
        if kind == "times":
            # "x" is a multiplication sign only between numbers, never a variable or a word.
            before = raw[i - 1][0] if i > 0 else None
            after = raw[i + 1][0] if i + 1 < len(raw) else None
            kind = "op" if before in ("num", "rp") and after in ("num", "lp") else "other"
        if kind == "other":
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append(_Tok(kind, tok, start, end))
    return [run for run in runs if any(t.kind == "eq" for t in run)]


def _split_sides(run: list[_Tok]) -> list[list[_Tok]] | None:
    sides: list[list[_Tok]] = [[]]
    for tok in run:
        if tok.kind == "eq":
            sides.append([])
        else:
            sides[-1].append(tok)
    # "Total = 3 * 4 = 12": the word before the first "=" leaves an empty side to drop.
    while sides and not sides[0]:
        sides.pop(0)
    while sides and not sides[-1]:
        sides.pop()
    if len(sides) < 2 or any(not side for side in sides):
        return None
    # Sentence punctuation around a chain: "(so 3 + 4 = 7)" or "= 17 - then".
    while sides[-1] and sides[-1][-1].kind == "op":
        sides[-1].pop()
    while sides[0] and sides[0][0].kind == "op" and sides[0][0].text not in "-−–":
        sides[0].pop(0)
    _trim_unbalanced(sides[0], from_left=True)
    _trim_unbalanced(sides[-1], from_left=False)
    return sides if all(sides) else None


def _trim_unbalanced(side: list[_Tok], from_left: bool) -> None:
    excess = sum(t.kind == "lp" for t in side) - sum(t.kind == "rp" for t in side)
    if from_left:
        while excess > 0 and side and side[0].kind == "lp":
            side.pop(0)
            excess -= 1
    else:
        while excess < 0 and side and side[-1].kind == "rp":
            side.pop()
            excess += 1


def _judge(text: str, sides: list[list[_Tok]]) -> Equation | None:
    has_percent = any(t.kind == "num" and t.text.endswith("%") for side in sides for t in side)
    # "50 * 20% = 10" and "15 / 60 * 100 = 25%" both occur; accept either reading of "%".
    readings = (True, False) if has_percent else (False,)
    verdict = None
    for percent_is_fraction in readings:
        try:
            parsers = [_Parser(side, percent_is_fraction) for side in sides]
            parsed = [p.parse() for p in parsers]
        except _Unparsable:
            return None
        except _DivisionByZero:
            verdict = verdict or Equation(text, ok=False, reason="division_by_zero")
            continue
        if not any(has_op for _, has_op, _ in parsed):
            return None
        values = tuple(float(v) for v, _, _ in parsed)
        holds = all(_equal(parsed[i], parsed[i + 1]) for i in range(len(parsed) - 1))
        ops = frozenset().union(*(p.ops for p in parsers))
        # A "//" that drops a remainder is false in a worked solution: sharing 21 among 17 bags
        # equally leaves no whole answer, and a generator seen in a demo run hid exactly that
        # behind "21 // 17 = 1". Exact floor divisions ("12 // 4 = 3") hold.
        if holds and any(p.dropped_remainder for p in parsers):
            return Equation(text, ok=False, reason="dropped_remainder", values=values, ops=ops)
        if holds:
            return Equation(text, ok=True, values=values, ops=ops)
        if verdict is None or verdict.reason == "division_by_zero":
            verdict = Equation(text, ok=False, reason="false", values=values, ops=ops)
    return verdict


def _equal(left: tuple[Fraction, bool, int | None], right: tuple[Fraction, bool, int | None]) -> bool:
    a, _, _ = left
    b, _, _ = right
    if abs(a - b) <= _REL_TOL * max(abs(a), abs(b)):
        return True
    # A bare number with decimals may be the other side rounded ("10 / 3 = 3.33"). Whole numbers get
    # no such slack, or "7 / 2 = 4" would pass.
    for (value, _, decimals), (other, _, _) in ((right, left), (left, right)):
        if decimals:
            if abs(other - value) <= Fraction(1, 2 * 10**decimals) * (1 + Fraction(1, 10**9)):
                return True
    return False


class _Parser:
    """Recursive descent over one side: sum := product (('+'|'-') product)*, with unary minus and '**'.

    parse() returns (value, has_binary_operator, decimals when the side is one bare number else None).
    """

    def __init__(self, toks: list[_Tok], percent_is_fraction: bool):
        self.toks = toks
        self.pos = 0
        self.percent_is_fraction = percent_is_fraction
        self.binary_ops = 0
        self.ops: set[str] = set()
        self.dropped_remainder = False  # a "//" whose division was not exact

    def parse(self) -> tuple[Fraction, bool, int | None]:
        value = self._sum()
        if self.pos != len(self.toks):
            raise _Unparsable
        decimals = None
        if len(self.toks) == 1:
            digits = self.toks[0].text.rstrip("%")
            decimals = len(digits.split(".")[1]) if "." in digits else 0
        return value, self.binary_ops > 0, decimals

    def _peek_op(self) -> str | None:
        if self.pos < len(self.toks) and self.toks[self.pos].kind == "op":
            return _OP_ALIASES.get(self.toks[self.pos].text, self.toks[self.pos].text)
        return None

    def _sum(self) -> Fraction:
        value = self._product()
        while self._peek_op() in ("+", "-"):
            op = self._peek_op()
            self.pos += 1
            self.binary_ops += 1
            self.ops.add(op)
            rhs = self._product()
            value = value + rhs if op == "+" else value - rhs
            _bound(value)
        return value

    def _product(self) -> Fraction:
        value = self._unary()
        while self._peek_op() in ("*", "/", "//"):
            op = self._peek_op()
            self.pos += 1
            self.binary_ops += 1
            # "//" (floor division, as code-minded instructors write it) is a division too.
            self.ops.add("/" if op == "//" else op)
            rhs = self._unary()
            if op in ("/", "//"):
                if rhs == 0:
                    raise _DivisionByZero
                if op == "//" and (value / rhs).denominator != 1:
                    self.dropped_remainder = True
                value = value / rhs if op == "/" else Fraction(math.floor(value / rhs))
            else:
                value = value * rhs
            _bound(value)
        return value

    def _unary(self) -> Fraction:
        if self._peek_op() in ("-", "+"):
            negate = self._peek_op() == "-"
            self.pos += 1
            value = self._unary()
            return -value if negate else value
        return self._power()

    def _power(self) -> Fraction:
        base = self._atom()
        if self._peek_op() == "**":
            self.pos += 1
            self.binary_ops += 1
            self.ops.add("**")
            exponent = self._unary()
            if exponent.denominator != 1 or abs(exponent) > _MAX_EXPONENT:
                raise _Unparsable
            if base == 0 and exponent < 0:
                raise _DivisionByZero
            base = base**exponent.numerator
            _bound(base)
        return base

    def _atom(self) -> Fraction:
        if self.pos >= len(self.toks):
            raise _Unparsable
        tok = self.toks[self.pos]
        self.pos += 1
        if tok.kind == "num":
            digits = re.sub(r"[$€£,\s]", "", tok.text)
            if digits.endswith("%"):
                value = Fraction(digits[:-1])
                return value / 100 if self.percent_is_fraction else value
            return Fraction(digits)
        if tok.kind == "lp":
            value = self._sum()
            if self.pos >= len(self.toks) or self.toks[self.pos].kind != "rp":
                raise _Unparsable
            self.pos += 1
            return value
        raise _Unparsable


def _bound(value: Fraction) -> None:
    if abs(value) > _MAX_MAGNITUDE:
        raise _Unparsable
