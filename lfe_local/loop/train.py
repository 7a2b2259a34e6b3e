"""Stage `train`: a LoRA adapter on the cycle's accepted samples (train.mode "continue": this
cycle's, on top of the previous adapter; otherwise every cycle's so far, from the base target)."""

from __future__ import annotations

from dataclasses import asdict

from .context import Context, StageOutput


def train(ctx: Context, cycle: int) -> StageOutput:
    from ..train.lora import train_lora

    ctx.drop_target()
    tcfg = ctx.cfg.train
    cycles = [cycle] if tcfg.mode == "continue" else list(range(1, cycle + 1))
    accepted = ctx.store.samples(ctx.run_id, cycles, status="accepted")
    parent = ctx.adapter_path(cycle - 1) if tcfg.mode == "continue" else None
    if not accepted:
        ctx.rep.stage_started(cycle, "train", None)
        return StageOutput("nothing to train on", untrained(ctx, cycle, 0.0, "no accepted samples"))
    convs = [(ctx.task.messages(s["question"]), s["training_text"]) for s in accepted]
    total_steps = -(-len(convs) // tcfg.batch_size) * tcfg.epochs
    ctx.rep.stage_started(cycle, "train", total_steps)
    out = ctx.workspace / "runs" / ctx.run_id / f"cycle-{cycle}" / "adapter"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = train_lora(ctx.hf_dir(), convs, out, tcfg, device=ctx.device(), init_adapter=parent,
                        seed=ctx.cfg.run.seed + cycle, on_step=lambda log, total: ctx.advance(1))
    if not result.steps:
        # Every sample was dropped (e.g. its prompt alone filled max_length).
        why = f"all {len(convs)} samples were too long to train on (train.max_length {tcfg.max_length})"
        return StageOutput(f"nothing trained: all {len(convs)} samples dropped for length",
                           untrained(ctx, cycle, result.seconds, why))
    steps = [{"run_id": ctx.run_id, "cycle": cycle, **asdict(s)} for s in result.steps]
    last = result.steps[-1].loss
    row = {"run_id": ctx.run_id, "cycle": cycle, "path": str(result.adapter_dir), "parent": parent,
           "n_samples": result.n_examples, "n_steps": len(result.steps), "final_loss": last,
           "seconds": result.seconds}
    return StageOutput(f"{result.n_examples} samples, {len(result.steps)} steps, final loss {last:.3f}",
                       {"train_steps": steps, "adapters": [row]})


def untrained(ctx: Context, cycle: int, seconds: float, why: str) -> dict[str, list[dict]]:
    """A cycle that trained nothing keeps the previous cycle's adapter: the target stays as it was."""
    inherited = ctx.adapter_path(cycle - 1)
    ctx.rep.message(f"cycle {cycle}: {why}; the target stays as it was")
    return {"adapters": [{"run_id": ctx.run_id, "cycle": cycle, "path": inherited, "parent": inherited,
                          "n_samples": 0, "n_steps": 0, "final_loss": None, "seconds": seconds}]}
