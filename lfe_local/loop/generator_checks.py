"""Program mode's last word on a generator: a few of its instances that passed the sample checks
are solved afresh by the instructor from the question alone; one disagreement rejects the
generator and all its instances (see verify/generator_check.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..tasks.base import Sample, Verdict
from .context import Context


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
    # Up to twice as many instances as checks, in a seeded order: a fresh solve that gives no
    # number (its program failed) is inconclusive and the next instance is solved instead.
    rng = ctx.rng(cycle)
    queue = {gid: rng.sample(samples, min(2 * icfg.generator_checks, len(samples)))
             for gid, samples in passing.items() if samples}
    by_gen: dict[str, list] = {gid: [] for gid in passing}
    engine = ctx.instructor("generator_check") if queue else None
    try:
        for round_ in range(2):
            picked = {}
            for gid, samples in queue.items():
                mine = by_gen[gid]
                wanted = icfg.generator_checks - sum(c.agrees for c in mine)
                if any(c.output is not None and not c.agrees for c in mine) or wanted <= 0:
                    continue  # decided: a disagreement, or enough agreements
                picked[gid], queue[gid] = samples[:wanted], samples[wanted:]
            picked = {gid: s for gid, s in picked.items() if s}
            if not picked:
                break
            for c in solve_afresh(engine, ctx.task.lesson, picked, max_tokens=icfg.max_tokens,
                                  timeout_s=getattr(ctx.task, "program_timeout_s", 5.0),
                                  seed=ctx.cfg.run.seed * 100_000 + cycle * 10_000 + 9_000 + round_):
                by_gen[c.generator_id].append(c)
                out.checks.append({"run_id": ctx.run_id, "cycle": cycle, **asdict(c)})
    finally:
        if engine is not None:
            engine.close()
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
