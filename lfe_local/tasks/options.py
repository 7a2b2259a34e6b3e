"""Config options shared by the file-based tasks (pydantic: an unknown key or a missing file is a
one-line config error naming the field)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


def resolve_file(value: Path | None, info: ValidationInfo) -> Path | None:
    """A data file option resolved against the config's folder; it must exist."""
    # Existence is checked here so a missing file is a config error naming the field; reading waits for load().
    if value is None:
        return None
    base = (info.context or {}).get("base_dir")
    resolved = value if value.is_absolute() or base is None else Path(base) / value
    if not resolved.is_file():
        raise ValueError(f"{value}: no such file")
    return resolved


class ScoringOptions(BaseModel):
    """What every task takes: scorer, how the loop's evaluations judge a response ("strict":
    lfe-local's own extraction; "paper": the reference implementation's, for numbers comparable
    with the paper's tables; see tasks/paper_scoring.py). Generated samples are always checked
    strictly."""

    model_config = ConfigDict(extra="forbid")

    scorer: Literal["strict", "paper"] = "strict"


class FileOptions(ScoringOptions):
    """path: the main (train) file; test_path / val_path: optional files for those splits, carved
    from `path` by a seeded split when absent."""

    path: Path
    test_path: Path | None = None
    val_path: Path | None = None
    val_size: int = Field(100, ge=0)
    test_size: int = Field(200, ge=1)
    limit_train: int | None = Field(None, ge=1)
    limit_test: int | None = Field(None, ge=1)
    seed: int = 1234

    @field_validator("path", "test_path", "val_path")
    @classmethod
    def _existing_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return resolve_file(value, info)
