"""Gsm8kTask: GSM8K-format rows ({"question", "answer": "... #### N"}) read from local JSONL or Parquet via DuckDB."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from lfe_local.errors import LfeError
from lfe_local.tasks.answers import normalize_number
from lfe_local.tasks.base import Item
from lfe_local.tasks.math_task import MathTask
from lfe_local.verify.dedup import normalize_text

_FINAL_RE = re.compile(r"####\s*([^\n]*?)\s*$")
_ANNOTATION_RE = re.compile(r"<<[^<>]*>>")


@dataclass(frozen=True)
class _Row:
    index: int  # 0-based position in its source file
    question: str
    answer: str
    solution: str


class Gsm8kTask(MathTask):
    name = "gsm8k"

    def __init__(
        self,
        path: str | Path,
        test_path: str | Path | None = None,
        val_size: int = 100,
        test_size: int = 200,
        limit_train: int | None = None,
        limit_test: int | None = None,
        seed: int = 1234,
        agreement: str = "program",
        program_timeout_s: float = 5.0,
    ):
        super().__init__(agreement=agreement, program_timeout_s=program_timeout_s)
        self.path = Path(path)
        self.test_path = Path(test_path) if test_path is not None else None
        self.val_size = val_size
        self.test_size = test_size
        self.limit_train = limit_train
        self.limit_test = limit_test
        self.seed = seed

    def load(self) -> dict[str, list[Item]]:
        rows = _dedupe(read_rows(self.path))
        rng = random.Random(self.seed)
        if self.test_path is not None:
            test = _dedupe(read_rows(self.test_path))
        else:
            shuffled = rows[:]
            rng.shuffle(shuffled)
            test = sorted(shuffled[: self.test_size], key=lambda r: r.index)
        if self.limit_test is not None:
            test = test[: self.limit_test]
        # Questions in test never reach train or val, whichever file they came from.
        test_keys = {normalize_text(r.question) for r in test}
        test_ids = {r.index for r in test} if self.test_path is None else set()
        pool = [r for r in rows if r.index not in test_ids and normalize_text(r.question) not in test_keys]
        shuffled = pool[:]
        rng.shuffle(shuffled)
        val = sorted(shuffled[: self.val_size], key=lambda r: r.index)
        train = sorted(shuffled[self.val_size :], key=lambda r: r.index)
        if self.limit_train is not None:
            train = train[: self.limit_train]
        return {"train": _items("train", train), "val": _items("val", val), "test": _items("test", test)}


def _items(split: str, rows: list[_Row]) -> list[Item]:
    return [Item(f"gsm8k-{split}-{r.index:04d}", split, r.question, r.answer, r.solution) for r in rows]


def _dedupe(rows: list[_Row]) -> list[_Row]:
    seen: set[str] = set()
    kept = []
    for row in rows:
        key = normalize_text(row.question)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def read_rows(path: Path) -> list[_Row]:
    """Every row of one GSM8K file, validated; LfeError names the file, line (or row) and field."""
    if not path.is_file():
        raise LfeError(f"{path}: no such file")
    is_parquet = path.suffix.lower() in (".parquet", ".pq")
    raw = _read_parquet(path) if is_parquet else _read_jsonl(path)
    return [_parse(path, "row" if is_parquet else "line", where, q, a, i) for i, (where, q, a) in enumerate(raw)]


def _read_jsonl(path: Path) -> list[tuple[int, object, object]]:
    con = duckdb.connect()
    try:
        fetched = con.execute(
            "SELECT question, answer FROM read_json(?, format='newline_delimited', "
            "columns={'question': 'VARCHAR', 'answer': 'VARCHAR'})",
            [str(path)],
        ).fetchall()
    except duckdb.Error as exc:
        raise _json_error(path, exc) from None
    finally:
        con.close()
    # DuckDB skips blank lines and gives no line numbers; map rows back to lines ourselves.
    with open(path, "rb") as fh:
        lines = [n for n, line in enumerate(fh, start=1) if line.strip()]
    if len(lines) != len(fetched):
        raise LfeError(f"{path}: read {len(fetched)} rows from {len(lines)} non-empty lines")
    return [(line, q, a) for line, (q, a) in zip(lines, fetched, strict=True)]


def _json_error(path: Path, exc: Exception) -> LfeError:
    # DuckDB's own line number can be off, so find the first bad line with a Python scan.
    with open(path, encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                return LfeError(f"{path} line {n}: malformed JSON ({err.msg})")
            if not isinstance(value, dict):
                return LfeError(f"{path} line {n}: expected a JSON object")
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return LfeError(f"{path}: could not read JSON lines: {first}")


def _read_parquet(path: Path) -> list[tuple[int, object, object]]:
    con = duckdb.connect()
    try:
        columns = {r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()}
        for field in ("question", "answer"):
            if field not in columns:
                raise LfeError(f"{path} row 1: field '{field}' is missing")
        fetched = con.execute(
            "SELECT file_row_number, CAST(question AS VARCHAR), CAST(answer AS VARCHAR) "
            "FROM read_parquet(?, file_row_number=true) ORDER BY file_row_number",
            [str(path)],
        ).fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise LfeError(f"{path}: could not read Parquet: {first}") from None
    finally:
        con.close()
    return [(row + 1, q, a) for row, q, a in fetched]


def _parse(path: Path, unit: str, where: int, question: object, answer: object, index: int) -> _Row:
    def bad(field: str, problem: str) -> LfeError:
        return LfeError(f"{path} {unit} {where}: field '{field}' {problem}")

    for field, value in (("question", question), ("answer", answer)):
        if value is None:
            raise bad(field, "is missing")
        if not str(value).strip():
            raise bad(field, "is empty")
    final = _FINAL_RE.search(str(answer))
    gold = normalize_number(final.group(1)) if final else None
    if gold is None:
        raise bad("answer", "has no final '#### <number>'")
    solution = _ANNOTATION_RE.sub("", str(answer)[: final.start()]).strip()
    return _Row(index=index, question=str(question).strip(), answer=gold, solution=solution)
