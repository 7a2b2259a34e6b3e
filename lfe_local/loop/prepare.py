"""Stage `prepare` (cycle 0): the task's items, stored once per run."""

from __future__ import annotations

from .context import Context, StageOutput


def prepare(ctx: Context, cycle: int) -> StageOutput:
    ctx.rep.stage_started(cycle, "prepare", None)
    ctx.hf_dir()  # convert a GGUF target once, before any timing-sensitive stage
    rows = [{"run_id": ctx.run_id, "task": ctx.task.name, "item_id": it.item_id, "split": it.split,
             "question": it.question, "answer": it.answer, "solution": it.solution, "tests": it.tests}
            for split in ("train", "val", "test") for it in ctx.splits[split]]
    sizes = ", ".join(f"{s} {len(ctx.splits[s])}" for s in ("train", "val", "test"))
    return StageOutput(sizes, {"items": rows})
