"""Program mode's new problems (instructor.new_problems = "program"): the instructor writes one
generator per group of errors of one type, each runs in the sandbox for its share of the budget,
and the ones that failed are sent back for repair."""

from __future__ import annotations

import random

from .context import Context


def write_generators(ctx: Context, engine, cycle: int, failures: list, analyses: list[dict], clusters: list[dict],
                     deadline: float | None = None):
    """One generator per group of errors of one type (aug: of random train items). Returns the
    generators written and how many groups got none because `deadline` had passed."""
    from ..instruct.generators import Example, GeneratorJob, generator_messages, group_by_type
    from ..instruct.generators import write_generators as write

    icfg, lesson = ctx.cfg.instructor, ctx.task.lesson
    per = icfg.errors_per_generator
    if ctx.cfg.run.strategy == "aug":
        # As many generators as the errors would get, about random train items, no error information.
        n = min(icfg.generators, -(-len(failures) // per))
        train = ctx.splits["train"]
        picked = ctx.rng(cycle).sample(train, min(n * per, len(train)))
        groups = [(None, [Example(it.item_id, it.question, it.solution) for it in picked[i * per:(i + 1) * per]])
                  for i in range(n)]
        strategies = ["aug"] * len(groups)
    else:
        analysed = {a["item_id"]: a for a in analyses if a["status"] == "ok"}
        cluster = {c["item_id"]: c["cluster"] for c in clusters}
        typed = [(cluster.get(f.item_id, "unclassified error"),
                  Example(f.item_id, f.question, f.reference, wrong_response=f.wrong_response[:400],
                          analysis=(analysed.get(f.item_id) or {}).get("analysis"))) for f in failures]
        groups = group_by_type(typed, per, icfg.generators)
        strategies = [(analysed.get(g[1][0].item_id) or {}).get("strategy", ctx.cfg.run.strategy) for g in groups]
    jobs = [GeneratorJob(f"c{cycle}-{strategy}-g{j}", strategy, error_type, examples,
                         generator_messages(lesson, error_type, examples))
            for j, ((error_type, examples), strategy) in enumerate(zip(groups, strategies, strict=True))]
    ctx.rep.stage_started(cycle, "instruct: generators", len(jobs))
    engine.purpose = "generator"
    written = write(engine, jobs, temperature=icfg.temperature, max_tokens=icfg.max_tokens, retries=icfg.retries,
                    seed=ctx.cfg.run.seed * 100_000 + cycle * 10_000 + 7_000, on_progress=ctx.advance,
                    deadline=deadline)
    return [o for o in written if o is not None], sum(o is None for o in written)


def practice_samples(ctx: Context, cycle: int, job, instances: list) -> list:
    """A generator's well-formed instances as samples, each with its own solution or, where that
    fails the task's check and `traced_solutions` is on, the one rebuilt from its computation."""
    from ..instruct.generators import instance_samples, rebuild_solutions
    from .verify import verify_sample

    samples = instance_samples(cycle, job, instances)
    if not ctx.cfg.instructor.traced_solutions:
        return samples
    items = ctx.item_map()
    return rebuild_solutions(samples, lambda s: verify_sample(ctx, s, items))


def run_generators(ctx: Context, cycle: int, written: list, n_seeds: int):
    """Each generator's code runs in the sandbox once, for its share of the budget of instances.
    Returns the generators' rows, their instances as sample rows, and each one's run (None: no code)."""
    from ..instruct.generators import generator_row, run_generator
    from .instruct import sample_row

    icfg = ctx.cfg.instructor
    rows, samples, runs = [], [], []
    for outcome in written:
        run = None
        if outcome.code is not None:
            rng = random.Random(f"{ctx.cfg.run.seed}-{cycle}-{outcome.job.generator_id}")
            seeds = sorted(rng.sample(range(1_000_000), n_seeds))
            run = run_generator(outcome.code, seeds, ctx.task.lesson, icfg.generator_timeout_s,
                                traced=icfg.traced_solutions)
        row = generator_row(outcome, run, n_seeds)
        rows.append({"run_id": ctx.run_id, "cycle": cycle, **row})
        runs.append(run)
        if row["status"] == "made":
            samples += [sample_row(ctx, cycle, s) for s in practice_samples(ctx, cycle, outcome.job, run.instances)]
    return rows, samples, runs


def repair_generators(ctx: Context, engine, cycle: int, written: list, runs: list, n_seeds: int,
                      deadline: float | None = None):
    """Up to generator_attempts - 1 more rounds for the groups whose latest generator failed:
    one whose run failed, or whose instances mostly fail the task's check, is repaired (its
    request again, with one failing instance and why); one whose reply had no usable code is
    asked again as it was. Each new generator runs as one of its own, and every earlier one
    stays on record with its instances. No repair starts after `deadline`; returns the new
    generators' rows, their instances, and how many repairs were left unasked for it."""
    from ..instruct.calls import RETRY_TEMPERATURE
    from ..instruct.generators import repair_feedback, repair_job, rewrite_job
    from ..instruct.generators import write_generators as write
    from .verify import verify_sample

    icfg, items = ctx.cfg.instructor, ctx.item_map()
    latest = [(outcome.job, outcome, run) for outcome, run in zip(written, runs, strict=True)]
    rows, samples, unasked = [], [], 0
    for attempt in range(1, icfg.generator_attempts):
        jobs, groups = [], []
        for original, outcome, run in latest:
            if outcome.code is None:
                jobs.append(rewrite_job(original, attempt))
            else:
                made = practice_samples(ctx, cycle, outcome.job, run.instances) if run.ok else []
                feedback = repair_feedback(run, made, [verify_sample(ctx, s, items) for s in made])
                if feedback is None:  # this group has its generator
                    continue
                jobs.append(repair_job(original, feedback, attempt))
            groups.append(original)
        if not jobs:
            break
        ctx.rep.stage_started(cycle, f"instruct: repairs ({attempt + 1}/{icfg.generator_attempts})", len(jobs))
        engine.purpose = "generator_repair"
        # Sampled: at greedy the bundled 1.5B answered 5 of 5 repair requests with its code unchanged.
        # The first round's seeds are those of the single repair round before generator_attempts.
        seed = ctx.cfg.run.seed * 100_000 + cycle * 10_000 + 8_000 + (100 * attempt if attempt > 1 else 0)
        fixed = write(engine, jobs, temperature=max(icfg.temperature, RETRY_TEMPERATURE),
                      max_tokens=icfg.max_tokens, retries=icfg.retries, seed=seed, on_progress=ctx.advance,
                      deadline=deadline)
        unasked += sum(o is None for o in fixed)
        groups = [g for g, o in zip(groups, fixed, strict=True) if o is not None]
        fixed = [o for o in fixed if o is not None]
        new_rows, new_samples, new_runs = run_generators(ctx, cycle, fixed, n_seeds)
        rows, samples = rows + new_rows, samples + new_samples
        latest = list(zip(groups, fixed, new_runs, strict=True))
    return rows, samples, unasked
