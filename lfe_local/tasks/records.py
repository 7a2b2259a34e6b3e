"""Reading task data files (JSONL, optionally gzipped, or Parquet) through DuckDB, with the file and
line (or row) of every record kept for one-line errors, and the seeded train/val/test split that
every file-based task shares."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from lfe_local.errors import LfeError
from lfe_local.verify.dedup import normalize_text

T = TypeVar("T")


@dataclass(frozen=True)
class Record:
    path: Path
    unit: str  # "line" (JSONL) or "row" (Parquet)
    number: int  # 1-based line or row number
    data: dict[str, Any]

    @property
    def where(self) -> str:
        return f"{self.path} {self.unit} {self.number}"

    def error(self, field: str, problem: str) -> LfeError:
        return LfeError(f"{self.where}: field '{field}' {problem}")

    def text(self, field: str, *, required: bool = True) -> str | None:
        """A non-empty string field (numbers are accepted and turned into text)."""
        return self.as_text(field, self.data.get(field), required=required)

    def as_text(self, field: str, value: Any, *, required: bool = True) -> str | None:
        """`value` (found under `field`, possibly nested: "choices[1]") checked as `text` checks a field."""
        if value is None:
            if required:
                raise self.error(field, "is missing")
            return None
        if isinstance(value, (dict, list, bool)):
            raise self.error(field, f"must be text, not {type(value).__name__}")
        text = str(value)
        if not text.strip():
            raise self.error(field, "is empty")
        return text

    def own_id(self) -> str:
        """The record's `id` (or `task_id`) field where it has one, else its line (or row) number."""
        for field in ("id", "task_id"):
            if self.data.get(field) is not None:
                return self.text(field)
        return str(self.number)

    def first(self, *fields: str) -> str:
        """The first of several alternative field names that is present (e.g. "id" or "task_id")."""
        for name in fields:
            if self.data.get(name) is not None:
                return name
        raise self.error(fields[0], "is missing" if len(fields) == 1 else f"is missing (or {', '.join(fields[1:])})")


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def read_records(path: Path) -> list[Record]:
    """Every record of one file. LfeError names the file and line for anything unreadable."""
    path = Path(path)
    if not path.is_file():
        raise LfeError(f"{path}: no such file")
    return _read_parquet(path) if is_parquet(path) else _read_jsonl(path)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def _read_jsonl(path: Path) -> list[Record]:
    con = duckdb.connect()
    try:
        fetched = con.execute("SELECT json FROM read_json_objects(?, format='newline_delimited')",
                              [str(path)]).fetchall()
    except duckdb.Error as exc:
        raise _json_error(path, exc) from None
    finally:
        con.close()
    # DuckDB skips blank lines and gives no line numbers; map records back to lines ourselves.
    with _open_text(path) as fh:
        lines = [n for n, line in enumerate(fh, start=1) if line.strip()]
    if len(lines) != len(fetched):
        raise LfeError(f"{path}: read {len(fetched)} records from {len(lines)} non-empty lines")
    records = []
    for line, (text,) in zip(lines, fetched, strict=True):
        value = json.loads(text)
        if not isinstance(value, dict):
            raise LfeError(f"{path} line {line}: expected a JSON object")
        records.append(Record(path, "line", line, value))
    return records


def _json_error(path: Path, exc: Exception) -> LfeError:
    # DuckDB's own line number can be off, so find the first bad line with a Python scan.
    with _open_text(path) as fh:
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


def _read_parquet(path: Path) -> list[Record]:
    con = duckdb.connect()
    try:
        cur = con.execute("SELECT * FROM read_parquet(?, file_row_number=true) ORDER BY file_row_number", [str(path)])
        names = [d[0] for d in cur.description]
        fetched = cur.fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise LfeError(f"{path}: could not read Parquet: {first}") from None
    finally:
        con.close()
    records = []
    for values in fetched:
        data = dict(zip(names, values, strict=True))
        number = data.pop("file_row_number") + 1
        records.append(Record(path, "row", number, data))
    return records


def dedupe(rows: list[T], key: Callable[[T], str]) -> list[T]:
    """Rows whose normalised question was not seen before (the first copy wins)."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        k = normalize_text(key(row))
        if k not in seen:
            seen.add(k)
            kept.append(row)
    return kept


def split_rows(rows: list[T], key: Callable[[T], str], *, test_rows: list[T] | None = None,
               val_rows: list[T] | None = None, val_size: int, test_size: int, seed: int,
               limit_train: int | None = None, limit_test: int | None = None) -> dict[str, list[T]]:
    """train / val / test from a main file plus optional test and val files.

    Without a test (val) file, test (val) is carved from the main file by a seeded shuffle. A
    question in test never reaches train or val, whichever file it came from, nor a val question
    train. Carved splits keep the file's order."""
    rows = dedupe(rows, key)
    rng = random.Random(seed)
    if test_rows is not None:
        test = dedupe(test_rows, key)
        carved_test: set[int] = set()
    else:
        order = list(range(len(rows)))
        rng.shuffle(order)
        carved_test = set(order[:test_size])
        test = [r for i, r in enumerate(rows) if i in carved_test]
    if limit_test is not None:
        test = test[:limit_test]
    test_keys = {normalize_text(key(r)) for r in test}
    pool = [i for i in range(len(rows)) if i not in carved_test and normalize_text(key(rows[i])) not in test_keys]
    if val_rows is not None:
        val = [r for r in dedupe(val_rows, key) if normalize_text(key(r)) not in test_keys]
        val_keys = {normalize_text(key(r)) for r in val}
        train = [rows[i] for i in pool if normalize_text(key(rows[i])) not in val_keys]
    else:
        shuffled = pool[:]
        rng.shuffle(shuffled)
        carved_val = set(shuffled[:val_size])
        val = [rows[i] for i in pool if i in carved_val]
        train = [rows[i] for i in pool if i not in carved_val]
    if limit_train is not None:
        train = train[:limit_train]
    return {"train": train, "val": val, "test": test}
