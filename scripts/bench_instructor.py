#!/usr/bin/env python3
"""Benchmark the instructor model alone: how well it solves, and how many verified training samples
it yields per minute of its own time, on a fixed set of arith problems and real target errors.

Run it with the project's venv (it imports lfe_local, llama_cpp and torch from there):

    .venv/bin/python scripts/bench_instructor.py --out bench-instructor.json
    .venv/bin/python scripts/bench_instructor.py --problems 2 --errors 3 --k 1 --generators 1 --instances 8

Sections (each can be left out with --skip NAME; `written` and `program` need `errors`):
  solve    the first --problems arith TEST items, answered (a) in prose with the target's own prompt,
           scored like the target, and (b) as a Python program (the generator check's prompt), run
           in the sandbox, its last printed number compared with the gold answer.
  errors   the bundled 135M target answers arith TRAIN items (batch 32, greedy, 80 tokens) until
           --errors wrong answers are found: the input of the next two sections.
  written  new_problems = "written": one LE call per error asking for --k new problems; corrected
           solutions and new problems verified by task.verify (equations + program check).
  program  new_problems = "program": LE calls with k = 0 (corrected solutions only), plus one
           generator per group of 3 errors, run for --instances seeds, instances verified, then
           2 verified instances per generator solved afresh; a generator counts only if all agree.
  summary  accepted samples per instructor minute, written vs program.

Decoding is greedy (retries after an invalid reply sample at 0.7, seeded), prompts and items are
the same every run, and the JSON (stdout, and --out) records the machine. The loop's dedup and
contamination checks are not applied here: counts are task.verify (and generator check) passes.
Instructor seconds are the summed wall time of its generations (prompt + completion); sandbox runs
are not included. llama.cpp slows down badly when other processes share the cores: the JSON keeps
the load average at the start, and figures are only worth quoting from an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import random
import sys
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path

from rich.console import Console
from rich.table import Table

import lfe_local
from lfe_local.config import bundled_instructor, bundled_model
from lfe_local.hardware import cpu_flags, cpu_model, n_threads
from lfe_local.instruct.calls import ask, parse
from lfe_local.instruct.generators import (
    Example,
    GeneratorJob,
    generator_messages,
    instance_samples,
    run_generator,
    write_generators,
)
from lfe_local.instruct.le import Failure, le_job
from lfe_local.sandbox import Limits, run_untrusted
from lfe_local.tasks.answers import last_number, normalize_number
from lfe_local.tasks.arith import ArithTask
from lfe_local.verify.generator_check import PROGRAM_SCHEMA, ProgramReply, check_generators, solve_messages

SECTIONS = ("solve", "errors", "written", "program")
MAX_TOKENS, RETRIES = 900, 2  # the instructor's defaults in lfe.toml
PER_GENERATOR, CHECKS = 3, 2  # errors shown per generator, instances solved afresh per generator
console = Console(stderr=True)
T0 = time.perf_counter()


def say(msg: str) -> None:
    console.print(f"[{time.perf_counter() - T0:6.0f} s] {msg}", highlight=False)


# -- options ------------------------------------------------------------------------------------------
p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--model", default=bundled_instructor(), help="instructor GGUF (default: the bundled one)")
p.add_argument("--threads", type=int, default=n_threads(), help="instructor threads (default: all cores)")
p.add_argument("--problems", type=int, default=20, help="arith test items in the solve section")
p.add_argument("--errors", type=int, default=12, help="target errors fed to written and program")
p.add_argument("--k", type=int, default=2, help="written: new problems asked for per error")
p.add_argument("--generators", type=int, default=4, help="program: most generators (groups of 3 errors)")
p.add_argument("--instances", type=int, default=50, help="program: seeds each generator runs for")
p.add_argument("--seed", type=int, default=1234, help="instructor seed (retries, check picks)")
p.add_argument("--out", type=Path, help="also write the JSON here")
p.add_argument("--skip", action="append", default=[], choices=SECTIONS, help="leave a section out (repeatable)")


class Meter:
    """The instructor engine, adding up what every generation cost (check_generators returns no costs)."""

    def __init__(self, engine):
        self.engine, self.gens, self.tokens, self.seconds = engine, 0, 0, 0.0

    def generate(self, conversations, **kwargs):
        out = self.engine.generate(conversations, **kwargs)
        self.gens += len(out)
        self.tokens += sum(g.completion_tokens for g in out)
        self.seconds += sum(g.seconds for g in out)
        return out

    def take(self) -> dict:
        """The cost since the last take()."""
        cost = {"generations": self.gens, "completion_tokens": self.tokens, "seconds": self.seconds}
        self.gens, self.tokens, self.seconds = 0, 0, 0.0
        return cost


def total(*costs: dict) -> dict:
    out = {key: sum(c[key] for c in costs) for key in ("generations", "completion_tokens", "seconds")}
    out["seconds"] = round(out["seconds"], 2)
    out["tokens_per_s"] = round(out["completion_tokens"] / out["seconds"], 2) if out["seconds"] else None
    return out


def per_minute(accepted: int, seconds: float) -> float | None:
    return round(accepted / (seconds / 60), 2) if seconds else None


def rate(n: int, of: int) -> float | None:
    return round(n / of, 3) if of else None


def verify_all(task, samples, items) -> tuple[list, Counter]:
    """Samples passing task.verify (a corrected one against its train item), and why the rest failed."""
    verdicts = [(s, task.verify(s, items[s.source_item_id] if s.kind == "corrected" else None)) for s in samples]
    return [s for s, v in verdicts if v.ok], Counter(v.reason for _, v in verdicts if not v.ok)


def machine(args) -> dict:
    import llama_cpp

    model = Path(args.model)
    return {"cpu": cpu_model(), "flags": {f: f in cpu_flags() for f in ("avx512f", "avx512_bf16", "amx_bf16", "avx2")},
            "threads": args.threads, "llama_cpp": llama_cpp.__version__, "torch": version("torch"),
            "lfe_local": lfe_local.__version__, "python": sys.version.split()[0], "model": model.name,
            "model_bytes": model.stat().st_size, "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "load_avg_1m": round(os.getloadavg()[0], 2)}  # other work on the machine skews every timing



# -- sections ---------------------------------------------------------------------------------------------
def find_errors(args, task, train: list) -> tuple[list[Failure], dict]:
    """The bundled target on train items, 32 at a time, greedy, until --errors wrong answers."""
    from lfe_local.engines.hf_model import ensure_hf, resolve_device
    from lfe_local.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(ensure_hf(bundled_model(), log=console.print), device=resolve_device("auto"),
                                batch_size=32)
    t0, found, evaluated = time.perf_counter(), [], 0
    for start in range(0, len(train), 32):
        chunk = train[start:start + 32]
        gens = engine.generate([task.messages(it.question) for it in chunk], max_tokens=80)
        evaluated += len(chunk)
        for it, g in zip(chunk, gens, strict=True):
            score = task.score(g.text, it)
            if not score.correct:
                found.append(Failure(it.item_id, it.question, g.text, gold=it.answer, reference=it.solution,
                                     feedback=score.detail))
        if len(found) >= args.errors:
            break
    found = found[:args.errors]
    report = {"evaluated": evaluated, "wrong": len(found), "seconds": round(time.perf_counter() - t0, 2),
              "device": engine.device, "bf16_autocast": engine.autocast, "item_ids": [f.item_id for f in found]}
    engine.close()
    return found, report


def solve(meter: Meter, task, test: list, seed: int) -> dict:
    """(a) prose with the target's prompt, scored like the target; (b) a program, run in the sandbox."""
    prose = meter.generate([task.messages(it.question) for it in test], max_tokens=256, temperature=0.0, seed=seed)
    prose_ok = sum(task.score(g.text, it).correct for g, it in zip(prose, test, strict=True))
    prose_cost = total(meter.take())
    programs = meter.generate([solve_messages(task.lesson, it.question) for it in test], max_tokens=MAX_TOKENS,
                              temperature=0.0, json_schema=PROGRAM_SCHEMA, seed=seed)
    program_cost = total(meter.take())
    limits = Limits(wall_s=task.program_timeout_s, cpu_s=int(task.program_timeout_s) + 1)
    program_ok, why = 0, Counter()
    for g, it in zip(programs, test, strict=True):
        reply, _ = parse(g.text, g.finish_reason, ProgramReply)
        run = run_untrusted(reply.program, limits) if reply is not None else None
        printed = last_number(run.stdout) if run is not None and run.ok else None
        if printed is not None and printed == normalize_number(it.answer):
            program_ok += 1
        else:
            why.update(["no_program" if run is None else run.kind if not run.ok else
                        "no_number" if printed is None else "wrong_number"])
    return {"problems": len(test),
            "prose": {"correct": prose_ok, "rate": rate(prose_ok, len(test)), **prose_cost},
            "program": {"correct": program_ok, "rate": rate(program_ok, len(test)), "failures": dict(why),
                        **program_cost}}


def written(meter: Meter, task, failures: list[Failure], items: dict, k: int, seed: int) -> dict:
    """new_problems = "written": one LE call per error, asking for k new problems."""
    outcomes = ask(meter, [le_job(task.lesson, f, k) for f in failures], cycle=1, temperature=0.0,
                   max_tokens=MAX_TOKENS, retries=RETRIES, seed=seed)
    cost = total(meter.take())
    corrected, why_c = verify_all(task, [s for o in outcomes for s in o.samples if s.kind == "corrected"], items)
    new = [s for o in outcomes for s in o.samples if s.kind == "new"]
    new_ok, why_n = verify_all(task, new, items)
    ok = [o for o in outcomes if o.analysis["status"] == "ok"]
    accepted = len(corrected) + len(new_ok)
    return {
        "calls": len(outcomes), "k": k,
        "valid_json_first_attempt": rate(sum(o.analysis["attempts"] == 1 for o in ok), len(outcomes)),
        "valid_json_after_retries": rate(len(ok), len(outcomes)),
        "reply_failures": dict(Counter(o.analysis["failure"] for o in outcomes if o.analysis["status"] != "ok")),
        "corrected_accepted": len(corrected), "corrected_rate": rate(len(corrected), len(outcomes)),
        "corrected_rejections": dict(why_c),
        "new_generated": len(new), "new_accepted": len(new_ok), "new_rejections": dict(why_n),
        "distinct_accepted_questions": len({s.question for s in corrected + new_ok}),
        "instructor": cost, "accepted": accepted,
        "accepted_per_instructor_minute": per_minute(accepted, cost["seconds"])}


def program(meter: Meter, task, failures: list[Failure], items: dict, args, seed: int) -> dict:
    """new_problems = "program": LE calls with k = 0, then one checked generator per group of errors."""
    lesson = task.lesson
    outcomes = ask(meter, [le_job(lesson, f, 0) for f in failures], cycle=1, temperature=0.0,
                   max_tokens=MAX_TOKENS, retries=RETRIES, seed=seed)
    le_cost = meter.take()
    corrected, why_c = verify_all(task, [s for o in outcomes for s in o.samples], items)

    groups = [failures[i:i + PER_GENERATOR] for i in range(0, len(failures), PER_GENERATOR)][:args.generators]
    jobs = []
    for j, group in enumerate(groups):
        examples = [Example(f.item_id, f.question, f.reference, wrong_response=f.wrong_response[:400]) for f in group]
        jobs.append(GeneratorJob(f"c1-le-g{j}", "le", "arithmetic error", examples,
                                 generator_messages(lesson, "arithmetic error", examples)))
    outs = write_generators(meter, jobs, temperature=0.0, max_tokens=MAX_TOKENS, retries=RETRIES, seed=seed + 7_000)
    write_cost = meter.take()

    rows, passing, sandbox_s = [], {}, 0.0
    for out in outs:
        gid = out.job.generator_id
        run = run_generator(out.code, list(range(args.instances)), lesson, timeout_s=10) if out.code else None
        made = instance_samples(1, out.job, run.instances) if run is not None and run.ok else []
        sandbox_s += run.seconds if run is not None else 0.0
        passing[gid] = [s for s in made if task.verify(s, None).ok]
        rows.append({"id": gid, "valid_code": out.code is not None, "failure": out.failure, "attempts": out.attempts,
                     "run_kind": run.kind if run is not None else None, "instances_made": len(made),
                     "verified": len(passing[gid])})
    rng = random.Random(args.seed)
    picked = {gid: rng.sample(ss, min(CHECKS, len(ss))) for gid, ss in passing.items() if ss}
    checks = check_generators(meter, lesson, picked, max_tokens=MAX_TOKENS, timeout_s=5.0, seed=seed + 9_000)
    check_cost = meter.take()

    instances = []
    for row in rows:
        mine = [c for c in checks if c.generator_id == row["id"]]
        row.update(checks_agreed=sum(c.agrees for c in mine), checks=len(mine),
                   accepted=bool(mine) and all(c.agrees for c in mine))
        instances += passing[row["id"]] if row["accepted"] else []
    cost = total(le_cost, write_cost, check_cost)
    accepted = len(corrected) + len(instances)
    return {
        "le_calls": len(outcomes), "corrected_accepted": len(corrected), "corrected_rejections": dict(why_c),
        "generators": rows, "generators_valid": sum(r["valid_code"] for r in rows),
        "generators_accepted": sum(r["accepted"] for r in rows), "instances_made": sum(r["instances_made"] for r in rows),
        "instances_verified": sum(r["verified"] for r in rows), "instances_accepted": len(instances),
        "distinct_accepted_questions": len({s.question for s in instances}),
        "generator_runs_sandbox_s": round(sandbox_s, 2),  # not instructor time, so not in the yield
        "instructor": {**cost, "le_k0": total(le_cost), "writing": total(write_cost), "checks": total(check_cost)},
        "accepted": accepted, "accepted_per_instructor_minute": per_minute(accepted, cost["seconds"])}


def summary(result: dict) -> dict:
    w, g = result.get("written", {}), result.get("program", {})
    wy, gy = w.get("accepted_per_instructor_minute"), g.get("accepted_per_instructor_minute")
    side = {name: {"accepted": r.get("accepted"), "instructor_s": r.get("instructor", {}).get("seconds"),
                   "accepted_per_instructor_minute": r.get("accepted_per_instructor_minute")}
            for name, r in (("written", w), ("program", g))}
    return {**side, "program_over_written": round(gy / wy, 2) if wy and gy is not None else None}


def table(result: dict) -> Table:
    t = Table(title=f"instructor {result['machine']['model']}, {result['machine']['threads']} threads")
    for col in ("section", "result", "instructor s", "tokens/s", "accepted/min"):
        t.add_column(col, justify="left" if col in ("section", "result") else "right")
    if "solve" in result:
        for mode in ("prose", "program"):
            s = result["solve"][mode]
            t.add_row(f"solve ({mode})", f"{s['correct']}/{result['solve']['problems']} correct",
                      str(s["seconds"]), str(s["tokens_per_s"]), "")
    if "errors" in result:
        e = result["errors"]
        t.add_row("errors (target)", f"{e['wrong']} wrong of {e['evaluated']} train items ({e['seconds']} s)",
                  "", "", "")
    if "written" in result:
        w = result["written"]
        t.add_row("written", f"{w['corrected_accepted']} corrected + {w['new_accepted']}/{w['new_generated']} new",
                  str(w["instructor"]["seconds"]), str(w["instructor"]["tokens_per_s"]),
                  str(w["accepted_per_instructor_minute"]))
    if "program" in result:
        g = result["program"]
        t.add_row("program", f"{g['corrected_accepted']} corrected + {g['instances_accepted']} instances "
                  f"({g['generators_accepted']}/{len(g['generators'])} generators)",
                  str(g["instructor"]["seconds"]), str(g["instructor"]["tokens_per_s"]),
                  str(g["accepted_per_instructor_minute"]))
    return t


# -- main ---------------------------------------------------------------------------------------------------
def main() -> None:
    args = p.parse_args()
    skip = set(args.skip) | ({"written", "program"} if "errors" in args.skip else set())
    task = ArithTask()  # seed 1234, default sizes: the same items every run
    splits = task.load()
    items = {it.item_id: it for it in splits["train"]}
    seed = args.seed * 100_000 + 10_000  # the call seeds the loop uses in cycle 1
    options = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    result: dict = {"machine": machine(args), "options": options}

    failures: list[Failure] = []
    if "errors" not in skip:
        say(f"errors: the target answers train items until {args.errors} are wrong")
        failures, result["errors"] = find_errors(args, task, splits["train"])
        gc.collect()  # the target's memory goes back before the instructor loads

    from lfe_local.engines.llama_cpp_engine import LlamaCppEngine

    t0 = time.perf_counter()
    meter = Meter(LlamaCppEngine(args.model, n_ctx=4096, threads=args.threads, seed=args.seed))
    result["machine"]["instructor_load_s"] = round(time.perf_counter() - t0, 2)
    try:
        if "solve" not in skip:
            test = splits["test"][:args.problems]
            say(f"solve: {len(test)} test problems, in prose and as programs")
            result["solve"] = solve(meter, task, test, seed)
        if "written" not in skip:
            say(f"written: {len(failures)} LE calls, k = {args.k}")
            result["written"] = written(meter, task, failures, items, args.k, seed)
        if "program" not in skip:
            n_gen = min(args.generators, -(-len(failures) // PER_GENERATOR))
            say(f"program: {len(failures)} LE calls (k = 0), {n_gen} generators x {args.instances} seeds")
            result["program"] = program(meter, task, failures, items, args, seed)
    finally:
        meter.engine.close()
    result["summary"] = summary(result)
    result["wall_s"] = round(time.perf_counter() - T0, 1)

    if not console.is_terminal:
        console.width = 120  # a log file: one table row per line
    console.print(table(result))
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
