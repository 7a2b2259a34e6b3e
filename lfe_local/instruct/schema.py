"""The structured reply the instructor must give, as a JSON schema (for the grammar) and as
pydantic models (to validate what comes back)."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field

# Bounds keep a small instructor from rambling until max_tokens; llama.cpp's grammar enforces them.
MAX_LABEL = 40
MAX_ANALYSIS = 240
MAX_SOLUTION = 360
MAX_QUESTION = 300
MAX_PROGRAM = 160


class NewProblem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1)
    solution: str = Field(min_length=1)
    answer: float
    program: str


class LEReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    corrected_solution: str = Field(min_length=1)
    final_answer: float
    error_type: str = Field(min_length=1)
    analysis: str = Field(min_length=1)
    new_problems: list[NewProblem]


def le_schema(k: int) -> dict:
    problem = {
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 1, "maxLength": MAX_QUESTION},
            "solution": {"type": "string", "minLength": 1, "maxLength": MAX_SOLUTION},
            "answer": {"type": "number"},
            "program": {"type": "string", "maxLength": MAX_PROGRAM},
        },
        "required": ["question", "solution", "answer", "program"],
    }
    # Key order is generation order. The corrected solution comes first: a small model copies
    # the reference best right after reading it, before its own analysis can derail it.
    return {
        "type": "object",
        "properties": {
            "corrected_solution": {"type": "string", "minLength": 1, "maxLength": MAX_SOLUTION},
            "final_answer": {"type": "number"},
            "error_type": {"type": "string", "minLength": 1, "maxLength": MAX_LABEL},
            "analysis": {"type": "string", "minLength": 1, "maxLength": MAX_ANALYSIS},
            "new_problems": {"type": "array", "items": problem, "minItems": k, "maxItems": k},
        },
        "required": ["corrected_solution", "final_answer", "error_type", "analysis", "new_problems"],
    }


def number_text(x: float) -> str | None:
    """A JSON number as the answer text tasks compare against ("14", "2.5")."""
    if not math.isfinite(x):
        return None
    if float(x).is_integer():
        return str(int(x))
    return repr(round(float(x), 6)).rstrip("0").rstrip(".")


class AugReply(BaseModel):
    """The augmentation baseline asks for new problems only: there is no error to analyse."""

    model_config = ConfigDict(extra="forbid")
    new_problems: list[NewProblem]


def aug_schema(k: int) -> dict:
    problems = le_schema(k)["properties"]["new_problems"]
    return {"type": "object", "properties": {"new_problems": problems}, "required": ["new_problems"]}
