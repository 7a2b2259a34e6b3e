"""train.max_samples: the verified samples over the cap are left out as `surplus`, each group
keeping as even a share as it can (lfe_local/loop/surplus.py, the verify stage)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lfe_local.config import Config
from lfe_local.loop import Context
from lfe_local.loop.surplus import even_shares, keep_for_training
from lfe_local.loop.verify import verify
from lfe_local.store import DB_NAME, Store
from lfe_local.tasks import make_task
from lfe_local.tui import NullReporter


def test_small_groups_keep_all_and_the_others_split_the_rest():
    # Seen in a demo run: 7 right generators verified 615 instances.
    sizes = {"g0": 26, "g1": 120, "g2": 14, "g3": 119, "g4": 118, "g6": 119, "g7": 93}
    assert even_shares(sizes, 400) == {"g2": 14, "g0": 26, "g7": 72, "g4": 72, "g3": 72, "g6": 72, "g1": 72}


def test_the_shares_always_fill_the_cap_and_never_exceed_a_group():
    rng = random.Random(0)
    for _ in range(2000):
        sizes = {f"g{i}": rng.randint(0, 130) for i in range(rng.randint(1, 9))}
        cap = rng.randint(1, 900)
        keep = even_shares(sizes, cap)
        assert sum(keep.values()) == min(cap, sum(sizes.values()))
        assert all(0 <= keep[g] <= sizes[g] for g in sizes)
        # even: a group cut below its size never keeps fewer than any other group
        cut = [keep[g] for g in sizes if keep[g] < sizes[g]]
        assert not cut or min(cut) >= max(keep.values()) - 1


def test_no_cap_or_fewer_samples_keeps_everything_and_the_draw_is_seeded():
    groups = {"a": [f"a{i}" for i in range(10)], "b": ["b0", "b1"]}
    assert keep_for_training(groups, 0, seed=1) == keep_for_training(groups, 12, seed=1) == set(groups["a"] + groups["b"])
    kept = keep_for_training(groups, 6, seed=1)
    assert kept == keep_for_training(groups, 6, seed=1) and {"b0", "b1"} <= kept and len(kept) == 6


@pytest.fixture
def ctx(tmp_path: Path):
    cfg = Config.model_validate({"task": {"name": "arith", "train_size": 12, "val_size": 2, "test_size": 2},
                                 "train": {"max_samples": 5}})
    task = make_task("arith", {k: v for k, v in cfg.task.items() if k != "name"}, tmp_path)
    c = Context(tmp_path, cfg, task, Store(tmp_path / DB_NAME), "r", NullReporter())
    c.store.create_run({"run_id": "r", "task": "arith", "strategy": "le", "n_cycles": 1, "fingerprint": "f",
                        "config_json": cfg.model_dump_json(), "target_model": "t", "instructor_model": "i",
                        "task_version": task.version, "lfe_version": "x"})
    yield c
    c.close()
    c.store.close()


def test_the_verify_stage_leaves_the_surplus_out_and_says_so(ctx):
    # 8 gold solutions (sft) and 3 corrected ones with a program that prints the answer: all pass.
    items = ctx.splits["train"]
    rows = []
    for n, it in enumerate(items[:11]):
        kind = "gold" if n < 8 else "corrected"
        rows.append({"run_id": "r", "cycle": 1, "sample_id": f"s{n}", "strategy": "le", "kind": kind,
                     "source_item_id": it.item_id, "question": it.question, "solution": it.solution,
                     "answer": it.answer, "program": f"print({it.answer})" if kind == "corrected" else None,
                     "status": "generated"})
    with ctx.store.transaction():
        ctx.store.insert("samples", rows)
    out = verify(ctx, 1)
    status = {v["sample_id"]: (v["status"], v["reason"]) for v in out.sample_verdicts}
    kept = {s for s, (st, _) in status.items() if st == "accepted"}
    assert len(kept) == 5 and "6 more passed, left out as surplus (train.max_samples 5)" in out.summary
    # even shares of 5 over {gold: 8, corrected: 3}: 2 corrected (the smaller group first), 3 gold
    assert sum(s in kept for s in ("s8", "s9", "s10")) == 2
    assert {r for st, r in status.values() if st == "rejected"} == {"surplus"}
    surplus = next(v for v in out.sample_verdicts if v["reason"] == "surplus")
    assert surplus["training_text"] is None and "passed every check" in surplus["detail"]
