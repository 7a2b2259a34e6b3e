"""Which of the previous cycle's train errors the instructor is handed."""

from __future__ import annotations

from .context import Context


def failures(ctx: Context, cycle: int) -> list:
    """The previous cycle's failed train items (at most instructor.max_errors, a seeded sample)."""
    from ..instruct.le import Failure

    icfg = ctx.cfg.instructor
    prev = [r for r in ctx.store.evaluations(ctx.run_id, cycle - 1, "train") if not r["correct"]]
    rng = ctx.rng(cycle)
    items = ctx.item_map()
    if icfg.max_errors and len(prev) > icfg.max_errors:
        if icfg.error_sampling == "random":
            prev = rng.sample(prev, icfg.max_errors)
        else:
            # A random sample of a few errors often repeats one kind of problem; the farthest-point
            # sample covers as many kinds as it has errors, so the data made from them does too.
            import numpy as np

            from ..vectors import spread

            vecs = ctx.embeddings.vectors([items[r["item_id"]] for r in prev])
            matrix = np.stack([vecs[r["item_id"]] for r in prev])
            prev = [prev[i] for i in spread(matrix, icfg.max_errors, first=rng.randrange(len(prev)))]
        prev = sorted(prev, key=lambda r: r["item_id"])
    show = icfg.show_reference
    has_answer = ctx.task.lesson.answer is not None  # code: the solution is the answer
    return [Failure(r["item_id"], items[r["item_id"]].question, r["response"],
                    gold=items[r["item_id"]].answer if show != "none" and has_answer else None,
                    reference=items[r["item_id"]].solution if show == "solution" else None,
                    feedback=r["detail"])
            for r in prev]
