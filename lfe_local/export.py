"""`lfe export`: a run's accepted practice data, its LoRA adapter, or the target merged with it,
taken out of the workspace in the formats other tools read unchanged.

- dataset: `train.jsonl`, one {"messages": [...]} per accepted sample — the prompt exactly as the
  target was trained on it (the task's messages) and the training text as the assistant turn, the
  chat layout TRL, axolotl and LLaMA-Factory read; `samples.jsonl` beside it, line for line, says
  where each came from and how it was verified (sample id, cycle, strategy, kind, source item,
  generator, answer, program and its output, the verifier's detail).
- adapter: the cycle's peft directory, as `PeftModel.from_pretrained` loads it.
- merged: the target with the adapter merged in, an HF model directory (safetensors, config,
  tokenizer) that `AutoModelForCausalLM.from_pretrained` loads without peft.

Every export is written to a hidden folder beside `out` and renamed into place when complete, so
`out` is never half-written; `export.json` in it records what was exported from where.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__
from .config import Config
from .errors import LfeError
from .store import DB_NAME, Store

WHAT = ("dataset", "adapter", "merged")
# The sidecar's columns: what a sample is and how it was verified (samples table, same names).
_SIDECAR = ("sample_id", "cycle", "strategy", "kind", "source_item_id", "generator_id", "answer", "program",
            "program_output", "detail")


@dataclass(frozen=True)
class Exported:
    out: Path
    what: str
    run_id: str
    cycle: int | None  # None: a dataset of every cycle
    n_samples: int | None  # dataset only


def export(workspace: Path, what: str, out: Path, *, run_id: str | None = None, cycle: int | None = None,
           log=print) -> Exported:
    if what not in WHAT:
        raise LfeError(f"--what: must be one of {', '.join(WHAT)}, not '{what}'")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LfeError(f"{out}: already exists and is not an empty folder; choose another --out")
    with Store(Path(workspace) / DB_NAME, read_only=True) as store:
        run = store.run(run_id) if run_id else store.latest_run()
        if run is None:
            raise LfeError(f"{workspace}: no run {run_id}" if run_id else f"{workspace}: no run to export")
        if cycle is not None and not 0 <= cycle <= run["n_cycles"]:
            raise LfeError(f"--cycle {cycle}: run {run['run_id']} has cycles 0..{run['n_cycles']}")
        cfg = Config.model_validate_json(run["config_json"])
        if what == "dataset":
            cycles = [cycle] if cycle is not None else list(range(run["n_cycles"] + 1))
            samples = store.samples(run["run_id"], cycles, status="accepted")
            adapter = None
        else:
            cycle = _adapter_cycle(store, run) if cycle is None else cycle
            rows = store.rows("adapters", run["run_id"], cycle=cycle)
            adapter = rows[0]["path"] if rows else None
            if adapter is None or not Path(adapter, "adapter_config.json").exists():
                raise LfeError(f"run {run['run_id']} cycle {cycle}: no trained adapter to export"
                               + (f" ({adapter} is missing)" if adapter else ""))
    meta: dict[str, Any] = {"what": what, "run_id": run["run_id"], "cycle": cycle, "task": run["task"],
                            "task_version": run["task_version"], "strategy": run["strategy"],
                            "target_model": cfg.target.model, "lfe_version": __version__}
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        n = None
        if what == "dataset":
            n = _write_dataset(tmp, cfg, Path(workspace), samples)
            meta["n_samples"] = n
        elif what == "adapter":
            shutil.copytree(adapter, tmp, dirs_exist_ok=True)
            meta["adapter"] = adapter
        else:
            _write_merged(tmp, cfg, adapter, log)
            meta["adapter"] = adapter
        (tmp / "export.json").write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    except OSError as err:
        raise LfeError(f"{out}: cannot write the export ({err.strerror or err})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Exported(out, what, run["run_id"], cycle, n)


def _adapter_cycle(store: Store, run: dict) -> int:
    """The best cycle (chosen on val) when it trained an adapter, else the last cycle that did."""
    trained = {r["cycle"]: r["path"] for r in store.rows("adapters", run["run_id"]) if r["path"]}
    if run["best_cycle"] in trained:
        return run["best_cycle"]
    if not trained:
        raise LfeError(f"run {run['run_id']}: no cycle trained an adapter, nothing to export")
    return max(trained)


def _write_dataset(folder: Path, cfg: Config, workspace: Path, samples: list[dict]) -> int:
    from .tasks import make_task

    task = make_task(cfg.task["name"], {k: v for k, v in cfg.task.items() if k != "name"}, workspace)
    with (folder / "train.jsonl").open("w") as train, (folder / "samples.jsonl").open("w") as sidecar:
        for line, s in enumerate(samples, start=1):
            messages = task.messages(s["question"]) + [{"role": "assistant", "content": s["training_text"]}]
            train.write(json.dumps({"messages": messages}, ensure_ascii=False) + "\n")
            sidecar.write(json.dumps({"line": line, **{k: s.get(k) for k in _SIDECAR}}, ensure_ascii=False,
                                     default=str) + "\n")
    return len(samples)


def _write_merged(folder: Path, cfg: Config, adapter: str, log) -> None:
    from .engines.hf_model import ensure_hf, load_model, load_tokenizer

    hf_dir = ensure_hf(cfg.target.model, log=log)
    model = load_model(hf_dir, "cpu", adapter=adapter, merge=True)  # float32: the base's own weights
    model.save_pretrained(str(folder), safe_serialization=True)
    load_tokenizer(hf_dir).save_pretrained(str(folder))
