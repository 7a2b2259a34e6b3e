"""Task registry: a task name maps to its class and the pydantic model that validates its options."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from lfe_local.errors import LfeError
from lfe_local.tasks.arith import ArithTask
from lfe_local.tasks.base import Task
from lfe_local.tasks.gsm8k import Gsm8kTask


class ArithOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 1234
    train_size: int = Field(400, ge=1)
    val_size: int = Field(100, ge=0)
    test_size: int = Field(200, ge=1)
    agreement: Literal["program", "none"] = "program"
    program_timeout_s: float = Field(5.0, gt=0)


class Gsm8kOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path
    test_path: Path | None = None
    val_size: int = Field(100, ge=0)
    test_size: int = Field(200, ge=1)
    limit_train: int | None = Field(None, ge=1)
    limit_test: int | None = Field(None, ge=1)
    seed: int = 1234
    agreement: Literal["program", "none"] = "program"
    program_timeout_s: float = Field(5.0, gt=0)

    @field_validator("path", "test_path")
    @classmethod
    def _existing_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        # Existence is checked here so a missing file is a config error naming the field;
        # reading waits for load().
        if value is None:
            return None
        base = (info.context or {}).get("base_dir")
        resolved = value if value.is_absolute() or base is None else Path(base) / value
        if not resolved.is_file():
            raise ValueError(f"{value}: no such file")
        return resolved


TASKS: dict[str, tuple[type, type[BaseModel]]] = {
    "arith": (ArithTask, ArithOptions),
    "gsm8k": (Gsm8kTask, Gsm8kOptions),
}


def make_task(name: str, options: dict, base_dir: Path) -> Task:
    """Build a task from config options; relative paths resolve against `base_dir` (the config's folder)."""
    if name not in TASKS:
        raise LfeError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    cls, options_model = TASKS[name]
    try:
        parsed = options_model.model_validate(options or {}, context={"base_dir": Path(base_dir)})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(part) for part in err["loc"]) or "options"
        message = err["msg"].removeprefix("Value error, ")
        raise LfeError(f"task.{field}: {message}") from None
    return cls(**parsed.model_dump())
