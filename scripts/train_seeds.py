#!/usr/bin/env python3
"""How much of a cycle's gain is the data, and how much the training run: retrain a finished run's
cycle on exactly the samples it accepted, with other training seeds, and evaluate each adapter on
val and test as the loop does. Nothing is written to the workspace's database; adapters go to a
temporary folder.

Run it with the project's venv on a workspace whose run finished (e.g. the demo's):

    .venv/bin/python scripts/train_seeds.py -w workspace-demo --seeds 1,2,3 --out seeds.json

The training seed is the only thing that changes between adapters (it sets LoRA's initial weights,
dropout and the order of batches); the samples, the config and the evaluation are the run's own.
`--train KEY=VALUE` (repeatable) changes one [train] setting for all of them, e.g. `--train epochs=2`:
a training setting compared on exactly the same data, over several seeds.
The JSON (stdout, and --out) gives, per seed, val and test accuracy and the change against the run's
cycle 0 with a 95% paired bootstrap interval; the same over all seeds together (`pooled`: items
resampled, each item's accuracy averaged over the adapters); and the run's own adapter for reference.
Pass the run's own training seed (run.seed + cycle) among --seeds to check that the loop's training
is reproduced.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lfe_local.config import Config, TrainConfig  # noqa: E402
from lfe_local.errors import LfeError  # noqa: E402
from lfe_local.hardware import cpu_bf16_supported, cpu_has_amx, cpu_model, n_threads  # noqa: E402
from lfe_local.loop.context import Context  # noqa: E402
from lfe_local.loop.evaluate import eval_items  # noqa: E402
from lfe_local.stats import paired_bootstrap  # noqa: E402
from lfe_local.store import DB_NAME, open_reader  # noqa: E402
from lfe_local.tasks import make_task  # noqa: E402
from lfe_local.tui import NullReporter  # noqa: E402


def evaluate(ctx: Context, adapter: str, split: str) -> dict[str, bool]:
    """item_id -> correct for one adapter on one split, with the run's target settings."""
    from lfe_local.engines.transformers_engine import TransformersEngine

    tcfg = ctx.cfg.target
    engine = TransformersEngine(ctx.hf_dir(), device=ctx.device(), adapter=adapter, bf16=tcfg.bf16,
                                batch_size=tcfg.batch_size)
    try:
        items = eval_items(ctx, split)
        gens = engine.generate([ctx.task.messages(it.question) for it in items], max_tokens=tcfg.max_new_tokens)
        return {it.item_id: ctx.task.score(g.text, it, ctx.task.scorer).correct
                for it, g in zip(items, gens, strict=True)}
    finally:
        engine.close()


def change(treated: dict[str, bool], base: dict[str, bool], seed: int) -> dict[str, float]:
    """One adapter's accuracy and change against cycle 0, with its 95% paired bootstrap interval."""
    one = pooled([treated], base, seed)
    del one["adapters"]
    return one


def with_train_settings(train: TrainConfig, settings: list[str]) -> TrainConfig:
    """The run's [train] section with KEY=VALUE settings applied, validated as lfe.toml would be."""
    values = train.model_dump()
    for kv in settings:
        key, sep, text = kv.partition("=")
        if not sep or key not in values:
            raise LfeError(f"--train {kv}: expected KEY=VALUE with KEY one of {', '.join(values)}")
        values[key] = text
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as err:
        first = err.errors()[0]
        raise LfeError(f"--train {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def pooled(treated: list[dict[str, bool]], base: dict[str, bool], seed: int) -> dict[str, float]:
    items = sorted(set(base).intersection(*treated))
    d = paired_bootstrap([[t[i] for i in items] for t in treated], [[base[i] for i in items]], seed=seed)
    return {"accuracy": d.accuracy, "delta": d.delta, "ci_low": d.low, "ci_high": d.high, "items": len(items),
            "adapters": len(treated)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-w", "--workspace", type=Path, required=True)
    ap.add_argument("--run", help="run id (default: the latest run)")
    ap.add_argument("--cycle", type=int, default=1)
    ap.add_argument("--seeds", default="1,2,3", help="training seeds, comma-separated")
    ap.add_argument("--train", action="append", default=[], metavar="KEY=VALUE",
                    help="retrain with this [train] setting changed (repeatable), e.g. --train epochs=2")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    store, _ = open_reader(args.workspace / DB_NAME)
    run = store.run(args.run) if args.run else store.latest_run()
    if run is None:
        raise LfeError(f"{args.workspace / DB_NAME}: no run {args.run or ''}".rstrip())
    cfg = Config.model_validate_json(run["config_json"])  # the run's own settings, not today's lfe.toml
    train_cfg = with_train_settings(cfg.train, args.train)
    task = make_task(cfg.task["name"], {k: v for k, v in cfg.task.items() if k != "name"}, args.workspace)
    ctx = Context(args.workspace, cfg, task, store, run["run_id"], NullReporter())
    accepted = store.samples(run["run_id"], [args.cycle], status="accepted")
    if not accepted:
        raise LfeError(f"run {run['run_id']}: cycle {args.cycle} accepted no samples")
    base = {split: {r["item_id"]: r["correct"] for r in store.rows("evaluations", run["run_id"], cycle=0, split=split)}
            for split in ("val", "test")}
    own = {split: {r["item_id"]: r["correct"]
                   for r in store.rows("evaluations", run["run_id"], cycle=args.cycle, split=split)}
           for split in ("val", "test")}
    parent = ctx.adapter_path(args.cycle - 1) if cfg.train.mode == "continue" else None
    if cfg.train.mode != "continue" and args.cycle > 1:
        accepted = store.samples(run["run_id"], list(range(1, args.cycle + 1)), status="accepted")
    convs = [(task.messages(s["question"]), s["training_text"]) for s in accepted]

    from lfe_local.train.lora import train_lora

    result = {"machine": {"cpu": cpu_model(), "avx512_bf16": cpu_bf16_supported(), "amx": cpu_has_amx(),
                          "threads": n_threads(), "python": platform.python_version()}, "run_id": run["run_id"],
              "cycle": args.cycle, "samples": len(convs), "train": train_cfg.model_dump(),
              "train_changed": dict(kv.split("=", 1) for kv in args.train),
              "base": {s: sum(v.values()) / max(1, len(v)) for s, v in base.items()},
              "run_adapter": {"seed": cfg.run.seed + args.cycle,
                              "val": change(own["val"], base["val"], cfg.run.seed),
                              "test": change(own["test"], base["test"], cfg.run.seed)},
              "seeds": []}
    per_seed: dict[str, list[dict[str, bool]]] = {"val": [], "test": []}
    with tempfile.TemporaryDirectory(prefix="lfe-seeds-") as tmp:
        for seed in seeds:
            t0 = time.perf_counter()
            trained = train_lora(ctx.hf_dir(), convs, Path(tmp) / f"seed-{seed}", train_cfg, device=ctx.device(),
                                 init_adapter=parent, seed=seed)
            t_train = time.perf_counter() - t0
            if trained.adapter_dir is None:
                raise LfeError(f"train.max_length {train_cfg.max_length}: every sample was cut away, nothing trained")
            row = {"seed": seed, "train_s": round(t_train, 1), "final_loss": trained.steps[-1].loss}
            for split in ("val", "test"):
                per_seed[split].append(evaluate(ctx, str(trained.adapter_dir), split))
                row[split] = change(per_seed[split][-1], base[split], cfg.run.seed)
            row["seconds"] = round(time.perf_counter() - t0, 1)
            result["seeds"].append(row)
            print(f"seed {seed}: val {row['val']['accuracy']:.3f} test {row['test']['accuracy']:.3f} "
                  f"({row['test']['delta']:+.3f} [{row['test']['ci_low']:+.3f}, {row['test']['ci_high']:+.3f}]) "
                  f"{row['seconds']:.0f} s", file=sys.stderr, flush=True)
    # All seeds together: each item's accuracy averaged over the adapters, paired with cycle 0 — what
    # this data teaches, with the training run's luck averaged out.
    result["pooled"] = {split: pooled(per_seed[split], base[split], cfg.run.seed) for split in ("val", "test")}
    store.close()
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LfeError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
