"""Question embeddings, computed once per (task, item, model, question text): the instruct stage
uses them to spread the errors it picks over kinds of problem and, for LEC, to find each error's
nearest correctly answered train items."""

from __future__ import annotations

import hashlib
from pathlib import Path


class Embeddings:
    def __init__(self, ctx):
        self.ctx = ctx
        self.new: list[dict] = []  # computed in the running stage, stored with its output

    def vectors(self, items: list) -> dict:
        """Unit vectors of the items' questions (item_id -> vector): from the store where already
        computed with the same model and text, else computed now and kept in `new`."""
        import numpy as np

        ctx = self.ctx
        model = Path(ctx.cfg.embed.model).name
        stored = ctx.store.embeddings(ctx.task.name, model)
        stored.update({r["item_id"]: (r["text_sha"], r["vector"]) for r in self.new if r["model"] == model})
        out, missing = {}, []
        for it in items:
            sha = hashlib.sha256(it.question.encode()).hexdigest()
            have = stored.get(it.item_id)
            if have and have[0] == sha:
                out[it.item_id] = np.asarray(have[1], dtype=np.float32)
            else:
                missing.append((it, sha))
        if missing:
            vectors = ctx.embedder().encode([it.question for it, _ in missing])
            for (it, sha), vec in zip(missing, vectors, strict=True):
                out[it.item_id] = vec
                self.new.append({"task": ctx.task.name, "item_id": it.item_id, "model": model, "text_sha": sha,
                                 "vector": vec.tolist()})
        return out

    def take_new(self) -> list[dict]:
        rows, self.new = self.new, []
        return rows
