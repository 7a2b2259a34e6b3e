#!/usr/bin/env python3
"""lfe-local's speed, side by side, in one run on one machine: every figure next to its baseline.

    scripts/bench [--prompts 64] [--out bench.json] [--parts eval,train,instructor,e2e] [--e2e-from WS]

  eval        the target evaluation as `lfe run` does it (TransformersEngine, the demo preset's
              batch size and response cap, the precision this machine resolves) against the style
              of the reference implementation (HF `generate`, one prompt at a time, fp32, greedy),
              on the same arith test prompts; tokens/s and items/s of each, their ratio, and how
              many extracted answers differ from the reference's. Where the engine resolves bf16,
              it is run again in fp32, so that ratio and the differences are also given at equal
              precision.
  train       one LoRA epoch (lfe-local's trainer, the demo preset's settings) on gold solutions:
              tokens/s, and achieved FLOP/s against the matmul peak measured here in the same
              dtype (below).
  instructor  the configured llama.cpp instructor (the bundled 1.5B) on fixed prompts, with and
              without the JSON schema: prompt processing and generation apart (llama.cpp's own
              counters), and the threads it used.
  e2e         seconds per stage of the `smoke` preset, from its stage_times view (a fresh run, or
              --e2e-from an existing workspace).

FLOPs of training are counted as 6 x N x T (N = the model's parameters outside the embedding,
T = tokens through the model, padding excluded), the usual dense-training count; a LoRA step
computes no weight gradient for the frozen weights, so 4 x N x T is the work actually done and is
reported too. The matmul peak is the best of repeated (512 x K) @ (K x K) products with K = 2048,
in fp32 and bf16, on the threads the trainer uses (fewer rows where a dtype is emulated: matmul_peak).

JSON on stdout (and --out), a table on stderr, with the machine (CPU model, the flags that matter,
threads, versions). Parts run one after another, never together; quote figures only from an
otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PARTS = ("eval", "train", "instructor", "e2e")
GOALS = {"eval_items_per_s_ratio": 20.0, "train_fraction_of_peak": 0.40}  # issue 12


def machine() -> dict:
    from importlib.metadata import version

    import llama_cpp
    import torch

    from lfe_local.engines.llama_cpp_engine import llama_amx_active
    from lfe_local.hardware import cpu_flags, cpu_model, n_threads

    flags = cpu_flags()
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": n_threads(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
            "flags": {f: f in flags for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")},
            "llama_cpp_amx_kernels": llama_amx_active(),
            "versions": {"torch": torch.__version__, "transformers": version("transformers"),
                         "peft": version("peft"), "llama_cpp_python": llama_cpp.__version__}}


def demo_config():
    import copy

    from lfe_local.config import PRESETS, build_config

    return build_config(copy.deepcopy(PRESETS["demo"]), "preset demo", ROOT)


def arith_items(n: int, split: str):
    from lfe_local.tasks import make_task

    task = make_task("arith", {"train_size": max(n, 8), "val_size": 8, "test_size": max(n, 8)}, ROOT)
    return task, task.load()[split][:n]


def rate(tokens: int, seconds: float) -> float:
    return round(tokens / seconds, 1) if seconds > 0 else 0.0


# ---- target evaluation -------------------------------------------------------------------------

def reference_generate(hf_dir: Path, convs: list, max_new: int) -> tuple[list[str], int, float]:
    """The reference implementation's style: one prompt at a time, fp32, greedy, stop at EOS."""
    import torch

    from lfe_local.engines.hf_model import load_model, load_tokenizer
    from lfe_local.engines.transformers_engine import stop_ids

    tok = load_tokenizer(hf_dir)
    model = load_model(hf_dir, "cpu").eval()
    eos = stop_ids(tok, model)  # the eval engine's own stop tokens: the comparison is of decoding only
    texts, tokens, t0 = [], 0, time.perf_counter()
    for messages in convs:
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        with torch.inference_mode():
            out = model.generate(**ids, max_new_tokens=max_new, do_sample=False, top_p=None, top_k=None,
                                 temperature=None, eos_token_id=eos, pad_token_id=tok.pad_token_id)
        new = out[0, ids["input_ids"].shape[1]:].tolist()
        n = next((j for j, t in enumerate(new) if t in eos), len(new))
        tokens += n
        texts.append(tok.decode(new[:n], skip_special_tokens=True).strip())
    return texts, tokens, time.perf_counter() - t0


def engine_generate(hf_dir: Path, convs: list, max_new: int, batch: int, bf16: str) -> tuple[list[str], int, float]:
    from lfe_local.engines.transformers_engine import TransformersEngine

    engine = TransformersEngine(hf_dir, bf16=bf16, batch_size=batch)
    t0 = time.perf_counter()
    gens = engine.generate(convs, max_tokens=max_new)
    seconds = time.perf_counter() - t0
    engine.close()
    return [g.text for g in gens], sum(g.completion_tokens for g in gens), seconds


def part_eval(args) -> dict:
    from lfe_local.config import bundled_model
    from lfe_local.engines.hf_model import ensure_hf
    from lfe_local.hardware import use_bf16

    cfg = demo_config().target
    task, items = arith_items(args.prompts, "test")
    convs = [task.messages(it.question) for it in items]
    hf_dir = ensure_hf(bundled_model(), log=lambda *_: None)
    max_new = args.max_new_tokens or cfg.max_new_tokens

    def answers(texts):
        return [task.score(t, it).extracted for t, it in zip(texts, items, strict=True)]

    def side(texts, tokens, seconds):
        return {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": rate(tokens, seconds),
                "items_per_s": round(len(texts) / seconds, 3),
                "correct": sum(task.score(t, it).correct for t, it in zip(texts, items, strict=True))}

    ref_texts, ref_tok, ref_s = reference_generate(hf_dir, convs, max_new)
    ref_answers = answers(ref_texts)
    out = {"prompts": len(convs), "max_new_tokens": max_new, "batch_size": cfg.batch_size,
           "reference": {**side(ref_texts, ref_tok, ref_s), "style": "HF generate, batch 1, fp32, greedy"}}
    bf16 = use_bf16(cfg.bf16, "cpu")
    runs = [("engine", "on" if bf16 else "off")] + ([("engine_fp32", "off")] if bf16 else [])
    for name, precision in runs:
        texts, tok, s = engine_generate(hf_dir, convs, max_new, cfg.batch_size, precision)
        got = answers(texts)
        out[name] = {**side(texts, tok, s), "precision": "bf16" if precision == "on" else "fp32",
                     "items_per_s_ratio": round((len(texts) / s) / (len(ref_texts) / ref_s), 2),
                     "answers_differing": sum(a != b for a, b in zip(got, ref_answers, strict=True)),
                     "responses_identical": sum(a == b for a, b in zip(texts, ref_texts, strict=True))}
    return out


# ---- LoRA training -----------------------------------------------------------------------------

def matmul_peak(dtype_name: str, seconds: float = 1.5) -> float:
    """GFLOP/s of the best (M x K) @ (K x K) product, K = 2048, repeated for `seconds`. M is 512
    where a product takes under a sixth of `seconds`; where the dtype is emulated (bf16 without
    AVX512-BF16 or AMX: ~0.3 GFLOP/s, 14 s for one 512-row product) M shrinks until it does, down
    to 16 rows — that dtype is then hundreds of times slower either way, and the bench stays short."""
    import torch

    dtype = torch.bfloat16 if dtype_name == "bf16" else torch.float32
    m, k = 16, 2048
    b = torch.randn(k, k, dtype=dtype)
    torch.mm(torch.randn(m, k, dtype=dtype), b)  # warm-up: the first call picks kernels
    while m < 512:  # grow the block while a product of twice its rows still fits the budget
        t0 = time.perf_counter()
        torch.mm(torch.randn(m, k, dtype=dtype), b)
        if 2 * (time.perf_counter() - t0) > seconds / 6:
            break
        m *= 2
    a = torch.randn(m, k, dtype=dtype)
    torch.mm(a, b)
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return round(2 * m * k * k / best / 1e9, 1)


def part_train(args) -> dict:
    import torch

    from lfe_local.config import bundled_model
    from lfe_local.engines.hf_model import ensure_hf, load_model, load_tokenizer
    from lfe_local.hardware import n_threads, use_bf16
    from lfe_local.train.data import IGNORE, encode
    from lfe_local.train.lora import train_lora

    torch.set_num_threads(n_threads())
    cfg = demo_config().train
    task, items = arith_items(args.train, "train")
    pairs = [(task.messages(it.question), task.training_response(it.solution, it.answer)) for it in items]
    hf_dir = ensure_hf(bundled_model(), log=lambda *_: None)
    tok = load_tokenizer(hf_dir)
    encoded = [encode(tok, m, r, cfg.max_length) for m, r in pairs]
    tokens_through = sum(len(e.input_ids) for e in encoded if any(x != IGNORE for x in e.labels))
    base = load_model(hf_dir, "cpu")
    n_params = sum(p.numel() for name, p in base.named_parameters() if "embed" not in name)
    del base
    dtype = "bf16" if use_bf16(cfg.bf16, "cpu") else "fp32"
    peaks = {d: matmul_peak(d) for d in ("fp32", "bf16")}
    with tempfile.TemporaryDirectory() as scratch:
        result = train_lora(hf_dir, pairs, Path(scratch) / "adapter", cfg, seed=0)
    step_s = sum(s.seconds for s in result.steps)
    achieved = 6 * n_params * tokens_through / step_s / 1e9
    return {"examples": result.n_examples, "steps": len(result.steps), "batch_size": cfg.batch_size,
            "dtype": dtype, "step_seconds": round(step_s, 2), "tokens_through": tokens_through,
            "tokens_per_s": rate(tokens_through, step_s),
            "loss_first": round(result.steps[0].loss, 3), "loss_last": round(result.steps[-1].loss, 3),
            "params_counted": n_params, "gflops_6n": round(achieved, 1), "gflops_4n": round(achieved * 4 / 6, 1),
            "matmul_peak_gflops": peaks, "fraction_of_peak_6n": round(achieved / peaks[dtype], 3),
            "fraction_of_peak_4n": round(achieved * 4 / 6 / peaks[dtype], 3)}


# ---- instructor --------------------------------------------------------------------------------

def part_instructor(args) -> dict:
    import llama_cpp

    from lfe_local.engines.llama_cpp_engine import LlamaCppEngine
    from lfe_local.instruct.schema import reply_schema

    icfg = demo_config().instructor
    model = args.instructor or icfg.model
    task, items = arith_items(args.instructor_prompts, "test")
    convs = [[{"role": "user", "content": "Solve this problem step by step, one step per line, then give the "
                                          f"final answer as a number.\n\n{it.question}"}] for it in items]
    t0 = time.perf_counter()
    engine = LlamaCppEngine(model, n_ctx=4096)
    out = {"model": Path(model).name, "load_seconds": round(time.perf_counter() - t0, 1),
           "threads": engine.llm.n_threads, "extra_buffers": engine.extra_buffers, "prompts": len(convs),
           "max_tokens": args.instructor_tokens}
    engine.generate(convs[:1], max_tokens=4)  # warm-up
    for label, schema in (("free", None), ("json_schema", reply_schema(task.lesson, 0, True))):
        pp_ms = gen_ms = pp_n = gen_n = 0
        t0 = time.perf_counter()
        for conv in convs:
            engine.llm.reset()  # every prompt processed in full, none reused from the previous call
            llama_cpp.llama_perf_context_reset(engine.llm.ctx)
            engine.generate([conv], max_tokens=args.instructor_tokens, json_schema=schema)
            perf = llama_cpp.llama_perf_context(engine.llm.ctx)
            pp_ms, pp_n = pp_ms + perf.t_p_eval_ms, pp_n + perf.n_p_eval
            gen_ms, gen_n = gen_ms + perf.t_eval_ms, gen_n + perf.n_eval
        out[label] = {"prompt_tokens": pp_n, "prompt_tokens_per_s": rate(pp_n, pp_ms / 1000),
                      "generated_tokens": gen_n, "generation_tokens_per_s": rate(gen_n, gen_ms / 1000),
                      "wall_seconds": round(time.perf_counter() - t0, 1)}
    engine.close()
    return out


# ---- end to end --------------------------------------------------------------------------------

def stage_seconds(ws: Path) -> dict:
    import duckdb

    db = ws / "lfe.duckdb"
    if not db.exists():
        raise SystemExit(f"error: {db}: no such file (--e2e-from needs a workspace that ran)")
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT cycle, stage, seconds FROM stage_times "
                           "WHERE run_id = (SELECT max(run_id) FROM runs) ORDER BY started_at").fetchall()
    stages = [{"cycle": c, "stage": s, "seconds": round(sec, 1)} for c, s, sec in rows]
    return {"workspace": str(ws), "stages": stages, "total_seconds": round(sum(s["seconds"] for s in stages), 1)}


def part_e2e(args) -> dict:
    if args.e2e_from:
        return stage_seconds(Path(args.e2e_from))
    with tempfile.TemporaryDirectory() as scratch:
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "lfe_local", "run", "-w", scratch, "--preset", "smoke",
                               "--display", "plain"], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            return {"failed": f"lfe run exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-300:]}"}
        return {**stage_seconds(Path(scratch)), "workspace": "(fresh smoke run)",
                "wall_seconds": round(time.perf_counter() - t0, 1)}


# ---- report ------------------------------------------------------------------------------------

def goals(result: dict) -> dict:
    parts, out = result["parts"], {}
    if isinstance(parts.get("eval"), dict) and "reference" in parts["eval"]:
        fp32 = parts["eval"].get("engine_fp32", parts["eval"]["engine"])
        out["eval_items_per_s_ratio"] = {"goal": GOALS["eval_items_per_s_ratio"], "fp32": fp32["items_per_s_ratio"],
                                         "answers_differing_fp32": fp32["answers_differing"],
                                         "met": fp32["items_per_s_ratio"] >= GOALS["eval_items_per_s_ratio"]
                                         and fp32["answers_differing"] == 0}
    if isinstance(parts.get("train"), dict) and "fraction_of_peak_6n" in parts["train"]:
        got = parts["train"]["fraction_of_peak_6n"]
        out["train_fraction_of_peak"] = {"goal": GOALS["train_fraction_of_peak"], "got_6n": got,
                                         "met": got >= GOALS["train_fraction_of_peak"]}
    return out


def table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"lfe-local bench on {result['machine']['cpu']} ({result['machine']['threads']} threads)")
    for col in ("part", "figure", "value", "baseline", "ratio / fraction"):
        t.add_column(col)
    p = result["parts"]
    if "reference" in p.get("eval", {}):
        ref = p["eval"]["reference"]
        for name in ("engine", "engine_fp32"):
            if name in p["eval"]:
                e = p["eval"][name]
                t.add_row(f"eval ({e['precision']})", "items/s", str(e["items_per_s"]), str(ref["items_per_s"]),
                          f"{e['items_per_s_ratio']}x, {e['answers_differing']} answers differ")
    if "tokens_per_s" in p.get("train", {}):
        tr = p["train"]
        t.add_row(f"train ({tr['dtype']})", "GFLOP/s (6N)", str(tr["gflops_6n"]),
                  f"peak {tr['matmul_peak_gflops'][tr['dtype']]}", f"{tr['fraction_of_peak_6n']:.1%}")
    for mode in ("free", "json_schema"):
        if mode in p.get("instructor", {}):
            i = p["instructor"][mode]
            t.add_row(f"instructor ({mode})", "gen tokens/s", str(i["generation_tokens_per_s"]),
                      f"prompt {i['prompt_tokens_per_s']}", f"{p['instructor']['threads']} threads")
    if "stages" in p.get("e2e", {}):
        t.add_row("e2e smoke", "seconds", str(p["e2e"]["total_seconds"]), "",
                  ", ".join(f"{s['stage']} {s['seconds']}" for s in p["e2e"]["stages"]))
    for name, r in p.items():
        if "failed" in r or "skipped" in r:
            t.add_row(name, r.get("failed") or r.get("skipped"), "", "", "")
    Console(stderr=True).print(t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    ap.add_argument("--prompts", type=int, default=64, help="arith test prompts evaluated by both pipelines")
    ap.add_argument("--max-new-tokens", type=int, default=0, help="response cap (default: the demo preset's)")
    ap.add_argument("--train", type=int, default=64, help="gold solutions trained on, one epoch")
    ap.add_argument("--instructor", default="", help="GGUF (default: the demo preset's instructor)")
    ap.add_argument("--instructor-prompts", type=int, default=3)
    ap.add_argument("--instructor-tokens", type=int, default=160)
    ap.add_argument("--e2e-from", default="", help="read stage times from this workspace instead of a fresh smoke run")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()
    chosen = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        raise SystemExit(f"error: --parts: unknown part '{unknown[0]}' (known: {', '.join(PARTS)})")

    t0 = time.perf_counter()
    result = {"machine": machine(), "settings": {k: (str(v) if isinstance(v, Path) else v)
                                                 for k, v in vars(args).items()}, "parts": {}}
    run = {"eval": part_eval, "train": part_train, "instructor": part_instructor, "e2e": part_e2e}
    for name in chosen:
        print(f"== {name}", file=sys.stderr, flush=True)
        t_part = time.perf_counter()
        result["parts"][name] = run[name](args)
        result["parts"][name]["part_seconds"] = round(time.perf_counter() - t_part, 1)
    result["goals"] = goals(result)
    result["total_seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    table(result)


if __name__ == "__main__":
    main()
