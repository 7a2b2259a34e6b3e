"""Output and interactive prompt for `lfe sql`."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

FORMATS = ("table", "csv", "json")
PROMPT = "lfe> "
CONTINUATION = "...> "

_TABLES_SQL = """
SELECT table_schema, table_name, table_type
FROM information_schema.tables
WHERE table_schema NOT IN ('information_schema', 'pg_catalog')
ORDER BY table_schema, table_name
"""


def run_query(con: Any, sql: str) -> tuple[list[str], list[tuple]]:
    """Execute `sql` on a DuckDB connection; ([], []) for statements that return no result."""
    con.execute(sql)
    description = con.description
    if not description:
        return [], []
    columns, rows = [d[0] for d in description], con.fetchall()
    if columns in (["Count"], ["Success"]) and not rows:
        # DuckDB describes DDL, SET, BEGIN... as an empty one-column "Count"/"Success" result.
        return [], []
    return columns, rows


def _format_float(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value != 0 and (abs(value) < 1e-4 or abs(value) >= 1e15):
        # Fixed 4 decimals would print tiny values as 0 and huge ones as walls of digits.
        return f"{value:.4g}"
    text = f"{value:.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _cell(value: Any) -> str:
    """Text for a table cell or CSV field (NULL handled by callers, which differ)."""
    if isinstance(value, bool):
        return "true" if value else "false"  # SQL spelling, as DuckDB itself prints them
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def _is_numeric(values: Sequence[Any]) -> bool:
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in present
    )


def build_table(columns: list[str], rows: Sequence[tuple]) -> Table:
    """A Rich table of a result; numeric columns right-aligned so digits line up."""
    table = Table(show_lines=False, header_style="bold")
    for i, name in enumerate(columns):
        numeric = _is_numeric([row[i] for row in rows])
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text("NULL", style="dim") if v is None else Text(_cell(v)) for v in row))
    return table


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)  # dates, times, intervals, decimals, UUIDs


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # strict JSON has no NaN/Infinity, and most parsers reject them
    if isinstance(value, Decimal):
        return str(value)  # a float would silently lose the exact digits
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    return value


def _unique_keys(columns: list[str]) -> list[str]:
    # `SELECT 1 AS a, 2 AS a` is legal SQL; objects need distinct keys or values vanish.
    seen: dict[str, int] = {}
    keys = []
    for name in columns:
        key = name
        while key in seen:
            seen[name] += 1
            key = f"{name}_{seen[name]}"
        seen.setdefault(key, 0)
        keys.append(key)
    return keys


def format_result(columns: list[str], rows: list[tuple], fmt: str, *, color: bool | None = None) -> str:
    """Render a query result as "table", "csv" or "json" text.

    `color` only affects "table"; None means colour only when stdout is a terminal.
    """
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if columns:
            writer.writerow(columns)
        for row in rows:
            # repr keeps full float precision: CSV is for machines, unlike the table.
            writer.writerow("" if v is None else repr(v) if isinstance(v, float) else _cell(v) for v in row)
        return buf.getvalue()
    if fmt == "json":
        keys = _unique_keys(columns)
        objects = [{k: _json_value(v) for k, v in zip(keys, row, strict=True)} for row in rows]
        return json.dumps(objects, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    if fmt == "table":
        if not columns:
            return ""
        tty = sys.stdout.isatty()
        if color is None:
            color = tty
        # Off a terminal nothing should wrap: a huge width lets the table take its natural size.
        width = shutil.get_terminal_size().columns if tty else 100_000
        console = Console(
            file=io.StringIO(),
            width=width,
            force_terminal=color,
            no_color=not color,
            color_system="auto" if color else None,
            highlight=False,
        )
        console.print(build_table(columns, rows))
        return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines()) + "\n"
    raise ValueError(f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")


def _error_line(exc: BaseException) -> str:
    # DuckDB messages continue with a blank line and a caret diagram; keep the part before it
    # (which includes hints like 'Did you mean "items"?') on one line.
    text = str(exc).strip() or type(exc).__name__
    head = text.split("\n\n", 1)[0]
    return " ".join(part.strip() for part in head.splitlines() if part.strip())


def _print_result(console: Console, columns: list[str], rows: list[tuple], max_rows: int) -> None:
    if not columns:
        console.print("ok", style="dim")
        return
    shown = rows[:max_rows] if max_rows > 0 else rows
    console.print(build_table(columns, shown))
    n = len(rows)
    note = f"{n} row{'s' if n != 1 else ''}"
    if len(shown) < n:
        note += f" (showing first {len(shown)})"
    console.print(note, style="dim", highlight=False)


def _run_and_print(con: Any, console: Console, sql: str, max_rows: int) -> None:
    try:
        columns, rows = run_query(con, sql)
    except KeyboardInterrupt:
        console.print("interrupted", style="dim")
        return
    except Exception as exc:  # any failure is the user's query, never a reason to leave the shell
        console.print(Text(f"error: {_error_line(exc)}"))
        return
    _print_result(console, columns, rows, max_rows)


def _dot_command(con: Any, console: Console, command: str, max_rows: int) -> bool:
    """Run a dot command; False means quit."""
    name = command.split()[0].lower()
    if name in (".quit", ".exit"):
        return False
    if name == ".tables":
        try:
            _, rows = run_query(con, _TABLES_SQL)
        except Exception as exc:
            console.print(Text(f"error: {_error_line(exc)}"))
            return True
        if not rows:
            console.print("no tables", style="dim")
            return True
        table = Table(header_style="bold")
        table.add_column("name")
        table.add_column("type")
        for schema, name_, kind in rows:
            label = name_ if schema == "main" else f"{schema}.{name_}"
            table.add_row(label, "view" if kind == "VIEW" else "table")
        console.print(table)
        return True
    if name == ".help":
        console.print(
            "End a statement with ';' (it may span lines). Commands: .tables, .help, .quit",
            highlight=False,
        )
        return True
    console.print(Text(f"error: unknown command {name} (try .help)"))
    return True


def interactive(
    con: Any,
    console: Console,
    input_fn: Callable[[str], str] = input,
    *,
    max_rows: int = 1000,
) -> None:
    """Prompt for SQL until `.quit`, `.exit` or EOF. Statements end with a line ending in ';'."""
    buffer: list[str] = []
    while True:
        try:
            line = input_fn(CONTINUATION if buffer else PROMPT)
        except EOFError:
            # A piped script whose last statement lacks ';' still means "run it".
            if buffer and "\n".join(buffer).strip():
                _run_and_print(con, console, "\n".join(buffer), max_rows)
            return
        except KeyboardInterrupt:
            # Like other shells: Ctrl-C abandons the statement being typed, not the session.
            buffer.clear()
            console.print()
            continue
        if not buffer:
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("."):
                if not _dot_command(con, console, stripped, max_rows):
                    return
                continue
        buffer.append(line)
        if line.rstrip().endswith(";"):
            sql = "\n".join(buffer)
            buffer.clear()
            _run_and_print(con, console, sql, max_rows)
