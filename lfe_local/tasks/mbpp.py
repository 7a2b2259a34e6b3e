"""MbppTask: MBPP rows in either public layout, scored by running the row's asserts after the code.

- original mbpp.jsonl: {task_id, text, code, test_list, test_setup_code, challenge_test_list}
- "sanitized": {task_id, prompt, code, test_list, test_imports}

The question is the standard MBPP prompt: the description, then the asserts the code must pass
(challenge_test_list is not used, as in the usual MBPP evaluation)."""

from __future__ import annotations

from pydantic import Field

from lfe_local.tasks.base import Item
from lfe_local.tasks.code import CodeTask, Problem, called_function, code_lesson, mbpp_question, parse_python
from lfe_local.tasks.options import FileOptions
from lfe_local.tasks.records import Record

PROMPT = "{question}\n\nWrite the Python function and reply with it in one ```python code block."


def mbpp_tests(p: Problem) -> str:
    return p.tests


class MbppOptions(FileOptions):
    timeout_s: float = Field(3.0, gt=0)


class MbppTask(CodeTask):
    name = "mbpp"
    version = 2  # bump when the prompt, answer extraction or scoring changes: results are keyed by it
    lesson = code_lesson(mbpp_question, 'AssertionError: count_vowels("AEIOU") == 5')

    def messages(self, question: str) -> list[dict]:
        return [{"role": "user", "content": PROMPT.format(question=question)}]

    def parse(self, rec: Record) -> Item:
        task_id = rec.text("task_id")
        description = rec.text(rec.first("text", "prompt")).strip()
        code = rec.text("code").replace("\r\n", "\n")  # the original file has Windows line ends
        asserts = _string_list(rec, "test_list", required=True)
        for i, line in enumerate(asserts):
            try:
                parse_python(line)
            except (SyntaxError, ValueError):
                raise rec.error("test_list", f"item {i} is not valid Python: {' '.join(line.split())[:80]}") from None
        entry_point = called_function(asserts)
        if entry_point is None:
            raise rec.error("test_list", "has no assert that calls a function")
        setup = _string_list(rec, "test_imports")
        if isinstance(rec.data.get("test_setup_code"), str):
            setup.append(rec.data["test_setup_code"].replace("\r\n", "\n"))
        elif rec.data.get("test_setup_code") is not None:
            raise rec.error("test_setup_code", "must be text")
        tests = "\n".join(part for part in [*setup, *asserts] if part.strip())
        question = f"{description}\nYour code should pass these tests:\n\n" + "\n".join(asserts)
        return Item(task_id, "all", question, entry_point, code, tests)


def _string_list(rec: Record, field: str, required: bool = False) -> list[str]:
    value = rec.data.get(field)
    if value is None:
        if required:
            raise rec.error(field, "is missing")
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise rec.error(field, "must be a list of strings")
    value = [v.replace("\r\n", "\n").strip() for v in value]
    if required and not any(value):
        raise rec.error(field, "is empty")
    return [v for v in value if v]
