"""What makes two runs the same run, and two cycle-0 evaluations the same evaluation."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..config import Config
from ..tasks import scorer_of


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(old_json: str, cfg: Config) -> list[str]:
    """Keys whose value differs between a stored run's config and `cfg`. run.cycles may change
    (more cycles continue a run), and keys a newer lfe-local added are not differences."""
    old, new = _flatten(json.loads(old_json)), _flatten(cfg.model_dump())
    # A config without task.scorer scores strictly: switching to "paper" mid-run is a difference.
    for flat in (old, new):
        flat.setdefault("task.scorer", scorer_of({}))
    return sorted(k for k in old if k != "run.cycles" and k in new and old[k] != new[k])


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def base_key(cfg: Config, split: str, task_version: int | None, lfe_version: str | None,
             precision: str | None) -> str:
    """What a cycle-0 evaluation of `split` depends on: runs with the same key share it. The task's
    version (its prompt and scorer) and lfe-local's (its generation code) are part of it: a change
    to either must never reuse stale results. So is the precision the target resolved to (bfloat16
    or float32, never "auto"): bf16 changes greedy answers, and `target.bf16 = "auto"` resolves
    differently on another machine reading the same database."""
    # The scorer on its own key, so that leaving it out and writing the default are the same key.
    target = {k: v for k, v in cfg.target.model_dump().items() if k != "bf16"}
    data = {"task": {k: v for k, v in cfg.task.items() if k != "scorer"}, "scorer": scorer_of(cfg.task),
            "task_version": task_version, "lfe_version": lfe_version, "target": target, "precision": precision}
    if split == "train":
        data["run"] = {"seed": cfg.run.seed, "train_eval_size": cfg.run.train_eval_size}
    return _digest(data)


def fingerprint(cfg: Config, ignore: tuple[str, ...] = ("cycles",)) -> str:
    """A hash of the config without the `run` keys in `ignore`. By default only run.cycles is
    left out: more cycles on the same run is a continuation, not a new run."""
    data = cfg.model_dump()
    for key in ignore:
        data["run"].pop(key)
    if data["task"].get("scorer") == scorer_of({}):
        data["task"].pop("scorer")  # the default written out is the default left out
    return _digest(data)
