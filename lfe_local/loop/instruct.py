"""Stage `instruct`: the cycle's candidate samples, by the run's strategy — le / lec / both
(instructor calls about the previous cycle's train errors), aug (calls about random train items)
or sft (gold solutions of train items, no instructor). In program mode the replies analyse and
correct, and new problems come from generators the instructor writes (program_mode.py)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict
from typing import Any

from ..tasks.base import Sample
from .context import Context, StageOutput
from .failures import failures as pick_failures
from .retrieval import neighbours


def instruct(ctx: Context, cycle: int) -> StageOutput:
    from ..instruct.calls import ask
    from ..instruct.le import new_per_error
    from .program_mode import repair_generators, run_generators, write_generators

    if ctx.cfg.run.strategy == "sft":
        return gold_samples(ctx, cycle)
    started = time.monotonic()
    ctx.drop_target()  # the instructor gets the memory
    icfg = ctx.cfg.instructor
    failures = pick_failures(ctx, cycle)
    program = icfg.new_problems == "program"
    k = 0 if program else new_per_error(icfg.budget, len(failures), icfg.max_new_per_error)
    jobs, rows, note = ([], {}, "") if program and ctx.cfg.run.strategy == "aug" else jobs_for(ctx, cycle, failures, k)
    embedded = ctx.embeddings.take_new()
    ctx.rep.stage_started(cycle, "instruct", len(jobs))
    if not failures:
        return StageOutput("no errors to analyse", rows, embeddings=embedded)
    seed = ctx.cfg.run.seed * 100_000 + cycle * 10_000
    engine = ctx.instructor("analysis" if ctx.cfg.run.strategy != "aug" else "new_problems")
    try:
        outcomes = ask(engine, jobs, cycle=cycle, temperature=icfg.temperature, max_tokens=icfg.max_tokens,
                       retries=icfg.retries, seed=seed, on_progress=ctx.advance)
        base = {"run_id": ctx.run_id, "cycle": cycle, "task": ctx.task.name}
        analyses = [{**base, **o.analysis} for o in outcomes]
        clusters = taxonomy(ctx, cycle, analyses)
        if program:
            deadline = started + icfg.generator_time_s if icfg.generator_time_s else None
            written, unwritten = write_generators(ctx, engine, cycle, failures, analyses, clusters, deadline)
            # The budget is the cycle's: groups left unwritten for time give their share to the others.
            n_seeds = -(-icfg.budget // max(1, len(written)))
            generators, instances, runs = run_generators(ctx, cycle, written, n_seeds)
            unrepaired = 0
            if icfg.repair_generators:
                fixed_rows, fixed_instances, unrepaired = repair_generators(ctx, engine, cycle, written, runs,
                                                                            n_seeds, deadline)
                generators, instances = generators + fixed_rows, instances + fixed_instances
    finally:
        engine.close()
    samples = [sample_row(ctx, cycle, s) for o in outcomes for s in o.samples]
    n_fail = sum(a["status"] == "failed" for a in analyses)
    by = ", ".join(f"{n} {s}" for s, n in sorted(Counter(j.strategy for j in jobs).items()))
    summary = f"{len(jobs)} instructor calls ({by}; K={k}), {n_fail} failed, {len(samples)} samples{note}"
    rows = {**rows, "analyses": analyses, "error_clusters": clusters}
    if program:
        samples += instances
        rows["generators"] = generators
        summary += (f"; {len(written)} generators written, {len(generators) - len(written)} sent back for repair, "
                    f"{sum(g['status'] == 'made' for g in generators)} ran, {len(instances)} instances")
        if unwritten or unrepaired:
            summary += (f"; instructor.generator_time_s ({icfg.generator_time_s:g} s) reached: {unwritten} groups "
                        f"without a generator, {unrepaired} repairs not asked")
    return StageOutput(summary, {**rows, "samples": samples}, embeddings=embedded)


def jobs_for(ctx: Context, cycle: int, failures: list, k: int):
    """The instructor calls of this cycle's strategy, rows to store beside them, and a note."""
    from ..instruct.aug import aug_job
    from ..instruct.le import le_job
    from ..instruct.lec import lec_job

    strategy, lesson = ctx.cfg.run.strategy, ctx.task.lesson
    if strategy == "aug":
        # As many calls as LE would make, about random train items instead of errors; K + 1 new
        # problems each, as many samples as LE's corrected solution + K new problems.
        train = ctx.splits["train"]
        picked = sorted(ctx.rng(cycle).sample(range(len(train)), min(len(failures), len(train))))
        return [aug_job(lesson, train[i].item_id, train[i].question, train[i].solution, train[i].answer, k + 1)
                for i in picked], {}, ""
    if strategy == "le":
        return [le_job(lesson, f, k) for f in failures], {}, ""
    # lec, or both: every other error by contrast (the paper's balanced mix)
    contrast = failures if strategy == "lec" else failures[1::2]
    found, neighbour_rows, computed, reused = neighbours(ctx, cycle, contrast)
    wanted = {f.item_id for f in contrast}
    jobs, fallback = [], 0
    for f in failures:
        if found.get(f.item_id):
            jobs.append(lec_job(lesson, f, found[f.item_id], k))
        else:
            fallback += f.item_id in wanted
            jobs.append(le_job(lesson, f, k))
    note = f"; questions embedded: {computed} new, {reused} reused"
    if fallback:
        note += f"; {fallback} LEC calls fell back to LE (no correctly answered train item)"
    return jobs, {"neighbours": neighbour_rows}, note


def taxonomy(ctx: Context, cycle: int, analyses: list[dict]) -> list[dict]:
    """Each analysed error's type joins a named cluster, stable across the run's cycles."""
    from ..taxonomy import assign

    rows = [a for a in analyses if a["error_type"]]
    if not rows:
        return []
    ecfg = ctx.cfg.embed
    known_rows = [r for r in ctx.store.error_clusters(ctx.run_id) if r["cycle"] < cycle]
    model = ctx.embedder()
    labels = [a["error_type"] for a in rows]
    known = {}
    for name in dict.fromkeys(r["cluster"] for r in known_rows):
        known[name] = model.encode(sorted({r["error_type"] for r in known_rows if r["cluster"] == name}))
    names = assign(labels, model.encode(labels), known, ecfg.cluster_threshold, ecfg.max_clusters)
    return [{"run_id": ctx.run_id, "cycle": cycle, "task": ctx.task.name, "item_id": a["item_id"],
             "strategy": a["strategy"], "error_type": a["error_type"], "cluster": name}
            for a, name in zip(rows, names, strict=True)]


def gold_samples(ctx: Context, cycle: int) -> StageOutput:
    """sft baseline: `budget` train items not used in an earlier cycle, trained on their gold solutions."""
    budget = ctx.cfg.instructor.budget
    ctx.rep.stage_started(cycle, "instruct", None)
    used = {s["source_item_id"] for s in ctx.store.samples(ctx.run_id, list(range(1, cycle)))}
    pool = [it for it in ctx.splits["train"] if it.item_id not in used]
    picked = sorted(ctx.rng(cycle).sample(pool, min(budget, len(pool))), key=lambda it: it.item_id)
    samples = [sample_row(ctx, cycle, Sample(
        sample_id=f"c{cycle}-sft-{it.item_id}-gold", strategy="sft", kind="gold", source_item_id=it.item_id,
        question=it.question, solution=it.solution or "", answer=it.answer)) for it in picked]
    return StageOutput(f"{len(samples)} gold train solutions (no instructor)", {"samples": samples})


def sample_row(ctx: Context, cycle: int, s: Sample) -> dict[str, Any]:
    row = {k: v for k, v in asdict(s).items() if k != "meta"}
    return {"run_id": ctx.run_id, "cycle": cycle, **row, "training_text": None}
