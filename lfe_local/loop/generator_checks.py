"""Program mode's last word on a generator: a few of its instances that passed the sample checks
are solved afresh by the instructor from the question alone; one disagreement rejects the
generator and all its instances (see verify/generator_check.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..tasks.base import Sample, Verdict
from .context import Context

# Rounds of fresh solves per generator. A fresh solve whose program fails or prints no number is
# inconclusive, and the next instance is solved in the next round. Three, not two: on the demo
# (2026-12-06, bd90e4c) a right buy-and-give generator was rejected `unverified` because 2 of its 3
# fresh programs misspelt a variable (NameError) and two rounds had no instance left to try.
SOLVE_ROUNDS = 3


def solve_in_rounds(solve, queue: dict[str, list[Sample]], checks: int, rounds: int = SOLVE_ROUNDS) -> dict[str, list]:
    """Solve each generator's queued instances a round at a time until it is decided: one
    disagreement, or `checks` agreements. `solve(picked, round_)` solves one round's instances
    (all generators in one batch) and returns their checks; the queues are consumed in order."""
    queue = dict(queue)
    by_gen: dict[str, list] = {gid: [] for gid in queue}
    for round_ in range(rounds):
        picked = {}
        for gid, samples in queue.items():
            mine = by_gen[gid]
            wanted = checks - sum(c.agrees for c in mine)
            if any(c.output is not None and not c.agrees for c in mine) or wanted <= 0:
                continue  # decided: a disagreement, or enough agreements
            if samples[:wanted]:
                picked[gid], queue[gid] = samples[:wanted], samples[wanted:]
        if not picked:
            break
        for c in solve(picked, round_):
            by_gen[c.generator_id].append(c)
    return by_gen


@dataclass
class GeneratorChecks:
    checks: list[dict] = field(default_factory=list)  # generator_checks rows: each fresh solve
    verdicts: list[dict] = field(default_factory=list)  # each generator's status, reason, detail
    instance_verdicts: dict[str, Verdict] = field(default_factory=dict)  # the instances of rejected generators


def check_generators(ctx: Context, cycle: int, checked: list) -> GeneratorChecks:
    from ..verify.generator_check import check_generators as solve_afresh

    out = GeneratorChecks()
    made = [g for g in ctx.store.rows("generators", ctx.run_id, cycle=cycle) if g["status"] == "made"]
    if not made:
        return out
    icfg = ctx.cfg.instructor
    passing: dict[str, list[Sample]] = {g["generator_id"]: [] for g in made}
    for sample, verdict in checked:
        if sample.generator_id in passing and verdict.ok:
            passing[sample.generator_id].append(sample)
    # Up to SOLVE_ROUNDS times as many instances as checks, in a seeded order (see solve_in_rounds).
    rng = ctx.rng(cycle)
    queue = {gid: rng.sample(samples, min(SOLVE_ROUNDS * icfg.generator_checks, len(samples)))
             for gid, samples in passing.items() if samples}
    engine = ctx.instructor("generator_check") if queue else None
    timeout_s = getattr(ctx.task, "program_timeout_s", 5.0)

    def solve(picked: dict[str, list[Sample]], round_: int) -> list:
        got = solve_afresh(engine, ctx.task.lesson, picked, max_tokens=icfg.max_tokens, timeout_s=timeout_s,
                           seed=ctx.cfg.run.seed * 100_000 + cycle * 10_000 + 9_000 + round_)
        out.checks += [{"run_id": ctx.run_id, "cycle": cycle, **asdict(c)} for c in got]
        return got

    try:
        by_gen = solve_in_rounds(solve, queue, icfg.generator_checks)
    finally:
        if engine is not None:
            engine.close()
    by_gen = {gid: by_gen.get(gid, []) for gid in passing}
    for g in made:
        gid = g["generator_id"]
        mine = by_gen[gid]
        agreed = sum(c.agrees for c in mine)
        wrong = next((c for c in mine if c.output is not None and not c.agrees), None)
        if not passing[gid]:
            status, reason, detail = "rejected", "no_valid_instance", "no instance passed the sample checks"
        elif wrong is not None:
            status, reason, detail = "rejected", "disagrees", f"{wrong.sample_id}: {wrong.detail}"
        elif agreed < min(icfg.generator_checks, len(passing[gid])):
            status, reason, detail = "rejected", "unverified", \
                f"{agreed} fresh solves agree, {len(mine) - agreed} gave no number"
        else:
            status, reason, detail = "accepted", None, f"{agreed}/{len(mine)} fresh solves agree"
        out.verdicts.append({"generator_id": gid, "status": status, "reason": reason, "detail": detail})
        if status == "rejected":
            for s in passing[gid]:
                out.instance_verdicts[s.sample_id] = Verdict(False, "generator_rejected", f"{gid}: {reason}")
    return out
