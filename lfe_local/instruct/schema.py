"""The structured reply the instructor must give, built from the task's lesson: as a JSON schema
(for the grammar) and as a pydantic model (to validate what comes back).

LE / LEC reply: {corrected_solution, [final_answer], error_type, analysis, new_problems: [...]};
aug reply: {new_problems: [...]}; a new problem: {question, solution, [answer], **lesson.extra}.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..tasks.base import Lesson

# Bounds keep a small instructor from rambling until max_tokens; llama.cpp's grammar enforces them.
MAX_LABEL = 40
MAX_ANALYSIS = 240


def _text(max_length: int) -> dict:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


def problem_schema(lesson: Lesson, with_extra: bool = True) -> dict:
    props = {"question": _text(lesson.max_question), "solution": _text(lesson.max_solution)}
    if lesson.answer is not None:
        props["answer"] = lesson.answer
    if with_extra:
        props.update(lesson.extra)
    return {"type": "object", "properties": props, "required": list(props)}


def reply_schema(lesson: Lesson, k: int, corrects: bool = True) -> dict:
    problems = {"type": "array", "items": problem_schema(lesson), "minItems": k, "maxItems": k}
    if not corrects:
        return {"type": "object", "properties": {"new_problems": problems}, "required": ["new_problems"]}
    # Key order is generation order. The corrected solution comes first: a small model copies
    # the reference best right after reading it, before its own analysis can derail it.
    props = {"corrected_solution": _text(lesson.max_solution)}
    if lesson.answer is not None:
        props["final_answer"] = lesson.answer
    if "program" in lesson.extra:
        # Math: the corrected solution is program-checked like a new problem.
        props["program"] = lesson.extra["program"]
    props.update({"error_type": _text(MAX_LABEL), "analysis": _text(MAX_ANALYSIS)})
    if k > 0:  # k = 0: the new problems come from generators (new_problems = "program")
        props["new_problems"] = problems
    return {"type": "object", "properties": props, "required": list(props)}


def _field(schema: dict) -> tuple[Any, Any]:
    """A pydantic field for one JSON-schema property (the few shapes lessons use)."""
    if "enum" in schema:
        return Literal[tuple(schema["enum"])], ...
    if schema.get("type") == "number":
        return float, ...
    if schema.get("type") == "string":
        return str, Field(..., min_length=schema.get("minLength", 0))
    raise ValueError(f"unsupported schema in a lesson: {schema}")


def _model(name: str, schema: dict, **nested: Any) -> type[BaseModel]:
    fields = {key: nested[key] if key in nested else _field(sub) for key, sub in schema["properties"].items()}
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


_MODELS: dict[tuple[int, bool], tuple[Lesson, type[BaseModel]]] = {}
_PROBLEMS: dict[tuple[int, bool], tuple[Lesson, type[BaseModel]]] = {}


def problem_model(lesson: Lesson, with_extra: bool = True) -> type[BaseModel]:
    """The pydantic model of one new problem (without the extra fields: a generator's instance)."""
    key = (id(lesson), with_extra)
    if key not in _PROBLEMS or _PROBLEMS[key][0] is not lesson:
        _PROBLEMS[key] = (lesson, _model("NewProblem", problem_schema(lesson, with_extra)))
    return _PROBLEMS[key][1]


def reply_model(lesson: Lesson, corrects: bool = True) -> type[BaseModel]:
    # Lessons hold dicts (not hashable): cache by identity, keeping the lesson alive beside its model.
    key = (id(lesson), corrects)
    if key not in _MODELS or _MODELS[key][0] is not lesson:
        problem = problem_model(lesson)
        schema = reply_schema(lesson, 1, corrects)
        _MODELS[key] = (lesson, _model("Reply" if corrects else "AugReply", schema,
                                       new_problems=(list[problem], [] if corrects else ...)))
    return _MODELS[key][1]


def answer_text(value: Any) -> str | None:
    """A reply's answer as the text tasks compare against: numbers as "14" / "2.5", text stripped."""
    if value is None or isinstance(value, str):
        return (value or "").strip() or None
    return number_text(value)


def number_text(x: float) -> str | None:
    """A JSON number as the answer text tasks compare against ("14", "2.5")."""
    if not math.isfinite(x):
        return None
    if float(x).is_integer():
        return str(int(x))
    return repr(round(float(x), 6)).rstrip("0").rstrip(".")
