"""LEC's contrast: for each error, the train items most like it that the target got right."""

from __future__ import annotations

from .context import Context


def neighbours(ctx: Context, cycle: int, failures: list):
    """For each failure, the k nearest train items the target answered correctly in the previous
    cycle. Returns (item_id -> [Neighbour]), neighbour rows, and how many question embeddings were
    computed and how many reused (from the store, or from earlier in this stage)."""
    import numpy as np

    from ..instruct.lec import Neighbour
    from ..vectors import nearest

    correct = [r for r in ctx.store.evaluations(ctx.run_id, cycle - 1, "train") if r["correct"]]
    if not correct or not failures:
        return {}, [], 0, 0
    items = ctx.item_map()
    before = len(ctx.embeddings.new)
    vecs = ctx.embeddings.vectors([items[f.item_id] for f in failures] + [items[r["item_id"]] for r in correct])
    computed = len(ctx.embeddings.new) - before
    queries = np.stack([vecs[f.item_id] for f in failures])
    keys = np.stack([vecs[r["item_id"]] for r in correct])
    found, rows = {}, []
    for f, hits in zip(failures, nearest(queries, keys, ctx.cfg.instructor.lec_neighbours), strict=True):
        found[f.item_id] = []
        for rank, (j, sim) in enumerate(hits, 1):
            r = correct[j]
            found[f.item_id].append(Neighbour(r["item_id"], items[r["item_id"]].question, r["response"], sim))
            rows.append({"run_id": ctx.run_id, "cycle": cycle, "item_id": f.item_id, "rank": rank,
                         "neighbour_id": r["item_id"], "similarity": sim, "neighbour_response": r["response"]})
    return found, rows, computed, len(vecs) - computed
