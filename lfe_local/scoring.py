"""Scoring responses made elsewhere against a task's gold, without a model: what `lfe score` does,
and how the scorers are checked against other harnesses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .errors import LfeError
from .tasks.base import Item, Score, Task
from .tasks.paper_scoring import SCORERS
from .tasks.records import read_records

SCORE_MODES = (*SCORERS, "both")


@dataclass(frozen=True)
class Response:
    item_id: str
    text: str
    where: str  # file and line, for messages


def read_responses(path: Path) -> list[Response]:
    """Rows {"id" or "task_id", "response" or "completion"} of a JSONL (or Parquet) file."""
    out = []
    for rec in read_records(path):
        id_field = rec.first("id", "task_id")
        text_field = rec.first("response", "completion")
        value = rec.data[text_field]
        if not isinstance(value, str):
            raise rec.error(text_field, f"must be text, not {type(value).__name__}")
        out.append(Response(str(rec.data[id_field]), value, rec.where))
    return out


def _match(items: list[Item], responses: list[Response], data_name: str) -> list[tuple[Item, Response]]:
    by_id = {it.item_id: it for it in items}
    pairs = []
    for r in responses:
        if r.item_id not in by_id:
            raise LfeError(f"{r.where}: id '{r.item_id}' is not an item of {data_name}")
        pairs.append((by_id[r.item_id], r))
    return pairs


def _verdict(s: Score, scorer: str) -> dict:
    out = {"extracted": s.extracted, "correct": s.correct, "failure": s.failure, "detail": s.detail}
    return {**out, "rule": s.rule} if scorer == "paper" else out


def score_responses(task: Task, items: list[Item], responses: list[Response],
                    data_name: str = "the data", scorer: str = "strict") -> Iterator[dict]:
    """One dict per response, in the file's order: id, scorer, extracted, correct, failure, detail
    (paper: and the rule that found the answer). With scorer "both": id, one such verdict under
    "strict" and one under "paper", and whether they agree."""
    if scorer not in SCORE_MODES:
        raise ValueError(f"scorer must be one of {', '.join(SCORE_MODES)}, not {scorer!r}")
    pairs = _match(items, responses, data_name)

    def one(pair: tuple[Item, Response]) -> dict:
        item, r = pair
        if scorer != "both":
            return {"id": item.item_id, "scorer": scorer, **_verdict(task.score(r.text, item, scorer), scorer)}
        both = {name: _verdict(task.score(r.text, item, name), name) for name in SCORERS}
        return {"id": item.item_id, **both, "agree": both["strict"]["correct"] == both["paper"]["correct"]}

    # Code scoring waits on sandboxed subprocesses, so threads overlap them.
    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        yield from pool.map(one, pairs)


def summary_line(rows: list[dict], n_items: int) -> str:
    n = len(rows)
    ok = sum(r["correct"] for r in rows)
    answered = len({r["id"] for r in rows})
    kinds: dict[str, int] = {}
    for r in rows:
        if not r["correct"]:
            kinds[r["failure"] or "wrong"] = kinds.get(r["failure"] or "wrong", 0) + 1
    failures = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    line = f"accuracy {ok}/{n} = {ok / n:.1%}" if n else "no responses"
    line += f"; {answered} of {n_items} items answered"
    return line + (f"; failures: {failures}" if failures else "")


def summary_lines(rows: list[dict], n_items: int, scorer: str) -> list[str]:
    """The summary: one accuracy line, or with "both" one per scorer, then the responses the two
    judge differently, each with what either extracted."""
    if scorer != "both":
        return [summary_line(rows, n_items)]
    lines = [f"{name}: {summary_line([{'id': r['id'], **r[name]} for r in rows], n_items)}" for name in SCORERS]
    differ = [r for r in rows if not r["agree"]]
    lines.append(f"the scorers differ on {len(differ)} of {len(rows)} responses" + (":" if differ else ""))
    return lines + [f"  {r['id']}: " + " | ".join(f"{name} {_judged(r[name])}" for name in SCORERS) for r in differ]


def _judged(v: dict) -> str:
    said = f"extracted {_short(v['extracted'])}" if v["extracted"] is not None else "extracted nothing"
    if v.get("rule"):
        said += f" ({v['rule']})"
    verdict = "right" if v["correct"] else f"wrong ({v['failure'] or 'wrong'})"
    return f"{verdict}, {said}" + (f": {_short(v['detail'], 80)}" if v["detail"] and not v["correct"] else "")


def _short(text: str, limit: int = 60) -> str:
    """One line, quoted, cut: code is long and spans lines."""
    flat = text.replace("\n", "\\n")
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")
