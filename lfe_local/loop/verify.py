"""Stage `verify`: every generated sample of the cycle is accepted or rejected, with the reason.
The chain, in order: the task's own check (answers, equations, programs, tests), the instructor's
second answers for questions without gold, the fresh solves of program mode's generators
(generator_checks.py), contamination with val/test, and duplicates (of accepted samples and, for
new problems, of train items)."""

from __future__ import annotations

from ..tasks.base import Item, Sample, Verdict
from .context import Context, StageOutput
from .generator_checks import check_generators

SAMPLE_FIELDS = ("sample_id", "strategy", "kind", "source_item_id", "question", "solution", "answer", "program",
                 "tests", "generator_id")


def verify(ctx: Context, cycle: int) -> StageOutput:
    from ..verify.contamination import ContaminationIndex
    from ..verify.dedup import Deduper

    vcfg = ctx.cfg.verify
    pending = ctx.store.samples(ctx.run_id, [cycle], status="generated")
    ctx.rep.stage_started(cycle, "verify", len(pending))
    held_out = [(it.item_id, it.question) for s in ("val", "test") for it in ctx.splits[s]]
    contamination = ContaminationIndex(held_out, n=vcfg.contamination_ngram, threshold=vcfg.contamination_threshold)
    dedup = Deduper(n=vcfg.dedup_ngram, threshold=vcfg.dedup_threshold)
    for old in ctx.store.samples(ctx.run_id, list(range(1, cycle)), status="accepted"):
        dedup.add(old["sample_id"], old["question"])
    # A "new" problem that near-copies a train item teaches nothing new.
    train_copies = Deduper(n=vcfg.dedup_ngram, threshold=vcfg.dedup_threshold)
    for it in ctx.splits["train"]:
        train_copies.add(it.item_id, it.question)
    items = ctx.item_map()
    checked = []
    for row in pending:
        sample = Sample(**{k: row[k] for k in SAMPLE_FIELDS})
        checked.append((sample, verify_sample(ctx, sample, items)))
    second = answer_checks(ctx, cycle, [s for s, v in checked if v.ok and s.kind == "new"])
    gen = check_generators(ctx, cycle, checked)
    second.update(gen.instance_verdicts)
    verdicts = []
    for sample, verdict in checked:
        verdict = second.get(sample.sample_id, verdict)
        reason, detail = verdict.reason, verdict.detail
        if reason is None:
            hit = contamination.check(sample.question)
            if hit:
                reason, detail = "contamination", f"overlaps {hit[0]} ({hit[1]:.0%} of n-grams)"
        if reason is None:
            dup = dedup.check(sample.question) or (
                train_copies.check(sample.question) if sample.kind == "new" else None)
            if dup:
                reason, detail = dup[0], f"same as {dup[1]}"
        ok = verdict.ok and reason is None
        if ok:
            dedup.add(sample.sample_id, sample.question)
        verdicts.append({
            "sample_id": sample.sample_id, "status": "accepted" if ok else "rejected",
            "reason": None if ok else reason, "detail": None if ok else detail,
            "training_text": ctx.task.training_response(sample.solution, sample.answer) if ok else None,
            "program_output": verdict.program_output,
        })
        ctx.advance(1)
    surplus = drop_surplus(ctx, cycle, verdicts, pending)
    n_ok = sum(v["status"] == "accepted" for v in verdicts)
    note = f" ({len(second)} new questions answered again by the instructor)" if second and \
        not gen.verdicts else ""
    if gen.verdicts:
        note += (f"; generators: {sum(v['status'] == 'accepted' for v in gen.verdicts)}/{len(gen.verdicts)} "
                 f"accepted, {sum(c['agrees'] for c in gen.checks)}/{len(gen.checks)} fresh solves agreed")
    if surplus:
        note += f"; {surplus} more passed, left out as surplus (train.max_samples {ctx.cfg.train.max_samples})"
    return StageOutput(f"{n_ok}/{len(verdicts)} accepted{note}", {"generator_checks": gen.checks},
                       sample_verdicts=verdicts, generator_verdicts=gen.verdicts)


def drop_surplus(ctx: Context, cycle: int, verdicts: list[dict], pending: list[dict]) -> int:
    """Over `train.max_samples`, the accepted samples beyond each group's even share become
    rejected `surplus` (surplus.py); returns how many."""
    from .surplus import keep_for_training

    group = {r["sample_id"]: r["generator_id"] or r["kind"] for r in pending}
    groups: dict[str, list[str]] = {}
    for v in verdicts:
        if v["status"] == "accepted":
            groups.setdefault(group[v["sample_id"]], []).append(v["sample_id"])
    keep = keep_for_training(groups, ctx.cfg.train.max_samples, seed=ctx.cfg.run.seed * 1000 + cycle)
    n = 0
    for v in verdicts:
        if v["status"] == "accepted" and v["sample_id"] not in keep:
            v.update(status="rejected", reason="surplus", training_text=None,
                     detail=f"passed every check; over train.max_samples ({ctx.cfg.train.max_samples})")
            n += 1
    return n


def verify_sample(ctx: Context, sample: Sample, items: dict[str, Item]) -> Verdict:
    """The task's check; a generator's instance must also practise its source error's skill."""
    from ..verify.practice import same_skill

    gold_source = items[sample.source_item_id] if sample.kind in ("corrected", "gold") else None
    verdict = ctx.task.verify(sample, gold_source)
    source = items.get(sample.source_item_id)
    if verdict.ok and sample.generator_id is not None and source is not None:
        return same_skill(sample.solution, source.solution)
    return verdict


def answer_checks(ctx: Context, cycle: int, samples: list[Sample]) -> dict:
    """Generated questions without gold (multiple choice, bbh): the instructor must give the same
    answer `lesson.answer_checks` more times (see verify/answer_check.py)."""
    n = ctx.task.lesson.answer_checks
    if not n or not samples:
        return {}
    from ..verify.answer_check import check_answers

    engine = ctx.instructor("answer_check")
    try:
        # The same prompt and token budget the target gets for a question.
        return check_answers(engine, samples, n, messages=ctx.task.messages, score=ctx.task.score,
                             max_tokens=ctx.cfg.target.max_new_tokens,
                             seed=ctx.cfg.run.seed * 100_000 + cycle * 10_000 + 5_000)
    finally:
        engine.close()
