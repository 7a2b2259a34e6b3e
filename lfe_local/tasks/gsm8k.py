"""Gsm8kTask: GSM8K-format rows ({"question", "answer": "... #### N"}) read from local JSONL or
Parquet via DuckDB; GsmPlusTask: the same, as GSM-Plus exports it (a plain number in `answer`, the
worked solution in `solution`)."""

from __future__ import annotations

import re
from pathlib import Path

from lfe_local.tasks.answers import normalize_number
from lfe_local.tasks.base import Item
from lfe_local.tasks.file_task import FileTask
from lfe_local.tasks.math_task import MathTask
from lfe_local.tasks.records import Record

_FINAL_RE = re.compile(r"####\s*([^\n]*?)\s*$")
_ANNOTATION_RE = re.compile(r"<<[^<>]*>>")


class Gsm8kTask(FileTask, MathTask):
    name = "gsm8k"
    version = 2  # bump when the prompt, answer extraction or scoring changes: results are keyed by it

    def __init__(self, path: str | Path, agreement: str = "program", program_timeout_s: float = 5.0, **files):
        MathTask.__init__(self, agreement=agreement, program_timeout_s=program_timeout_s)
        FileTask.__init__(self, path, **files)


    def parse(self, rec: Record) -> Item | None:
        question, answer = rec.text("question"), rec.text("answer")
        final = _FINAL_RE.search(answer)
        gold = normalize_number(final.group(1)) if final else None
        if gold is None:
            raise rec.error("answer", "has no final '#### <number>'")
        solution = _ANNOTATION_RE.sub("", answer[: final.start()]).strip()
        return Item(rec.own_id(), "all", question.strip(), gold, solution)


class GsmPlusTask(Gsm8kTask):
    """GSM-Plus: GSM8K's problems perturbed; `answer` is either GSM8K-style or a bare number with the
    worked solution in `solution` (the public export's layout)."""

    name = "gsm_plus"
    version = 2  # bump when the prompt, answer extraction or scoring changes: results are keyed by it

    def parse(self, rec: Record) -> Item | None:
        answer = rec.text("answer")
        if answer.strip() == "None":  # its "critical thinking" items: no numeric answer to score by
            return None
        if _FINAL_RE.search(answer):
            return super().parse(rec)
        gold = normalize_number(answer)
        if gold is None:
            raise rec.error("answer", "is not a number (nor '... #### <number>')")
        solution = rec.text("solution", required=False) or ""
        return Item(rec.own_id(), "all", rec.text("question").strip(), gold, _ANNOTATION_RE.sub("", solution).strip())
