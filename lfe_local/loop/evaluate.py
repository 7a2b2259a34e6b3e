"""Stages `eval_train`, `eval_val`, `eval_test`: the target answers a split, the task scores it.
A cycle-0 evaluation is copied from an earlier run in the same database when nothing it depends
on differs (identity.base_key)."""

from __future__ import annotations

import random

from .. import __version__
from ..config import Config
from ..tasks.base import Item
from .context import Context, StageOutput
from .identity import base_key


def eval_items(ctx: Context, split: str) -> list[Item]:
    items = ctx.splits[split]
    size = ctx.cfg.run.train_eval_size
    if split != "train" or not size or size >= len(items):
        return items
    # The same subset every cycle, so train accuracy is comparable across cycles.
    picked = set(random.Random(ctx.cfg.run.seed).sample(range(len(items)), size))
    return [it for i, it in enumerate(items) if i in picked]


def base_donor(ctx: Context, split: str) -> str | None:
    """An earlier run in this database whose cycle-0 evaluation of `split` this run can copy."""
    if not ctx.cfg.run.reuse_base_eval:
        return None
    key = base_key(ctx.cfg, split, ctx.task.version, __version__, ctx.precision())
    for run in reversed(ctx.store.runs()):
        if run["run_id"] == ctx.run_id or (0, f"eval_{split}") not in ctx.store.done_stages(run["run_id"]):
            continue
        try:
            other = Config.model_validate_json(run["config_json"])
        except ValueError:  # made by another version of lfe-local: don't guess
            continue
        precision = ctx.store.eval_precision(run["run_id"], 0, split)  # None: unknown or mixed
        if base_key(other, split, run["task_version"], run["lfe_version"], precision) == key:
            return run["run_id"]
    return None


def evaluate(ctx: Context, cycle: int, split: str) -> StageOutput:
    items = eval_items(ctx, split)
    ctx.rep.stage_started(cycle, f"eval_{split}", len(items))
    donor = base_donor(ctx, split) if cycle == 0 else None
    if donor is not None:
        rows = [{**r, "run_id": ctx.run_id} for r in ctx.store.rows("evaluations", donor, cycle=0, split=split)]
        if sorted(r["item_id"] for r in rows) == sorted(it.item_id for it in items):
            ctx.advance(len(rows))
            n_ok = sum(r["correct"] for r in rows)
            return StageOutput(f"{n_ok}/{len(rows)} correct (copied from {donor})", {"evaluations": rows})
    engine = ctx.target(cycle)
    gens = engine.generate([ctx.task.messages(it.question) for it in items],
                           max_tokens=ctx.cfg.target.max_new_tokens, on_progress=ctx.advance)
    adapter = ctx.adapter_path(cycle)
    precision = ctx.precision()
    rows = []
    for it, g in zip(items, gens, strict=True):
        score = ctx.task.score(g.text, it, ctx.task.scorer)
        rows.append({
            "run_id": ctx.run_id, "cycle": cycle, "task": ctx.task.name, "split": split,
            "item_id": it.item_id, "model": ctx.cfg.target.model, "adapter": adapter, "prompt": g.prompt,
            "response": g.text, "extracted": score.extracted, "gold": it.answer, "correct": score.correct,
            "prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens,
            "latency_s": g.seconds, "failure": score.failure, "detail": score.detail,
            "task_version": ctx.task.version, "scorer": ctx.task.scorer, "precision": precision,
        })
    n_ok = sum(r["correct"] for r in rows)
    return StageOutput(f"{n_ok}/{len(rows)} correct", {"evaluations": rows})
