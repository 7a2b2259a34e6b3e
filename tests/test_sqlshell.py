import csv
import io
import json

import duckdb
import pytest
from rich.console import Console

from lfe_local.sqlshell import format_result, interactive, run_query


@pytest.fixture
def con():
    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE items (id INTEGER, name VARCHAR, score DOUBLE, seen TIMESTAMP)")
    con.execute(
        """INSERT INTO items VALUES
           (1, 'alpha', 0.123456, TIMESTAMP '2024-01-02 03:04:05'),
           (2, NULL, NULL, NULL),
           (3, 'has,comma "q"', 2.0, TIMESTAMP '2024-02-03 00:00:00')"""
    )
    con.execute("CREATE VIEW good AS SELECT * FROM items WHERE score > 1")
    yield con
    con.close()


def query(con):
    return run_query(con, "SELECT * FROM items ORDER BY id")


def test_run_query_columns_rows_and_no_result(con):
    columns, rows = query(con)
    assert columns == ["id", "name", "score", "seen"]
    assert len(rows) == 3 and rows[1] == (2, None, None, None)
    assert run_query(con, "CREATE TABLE other (x INTEGER)") == ([], [])
    assert run_query(con, "SET threads = 1") == ([], [])
    assert run_query(con, "SELECT * FROM items WHERE false") == (columns, [])


def test_csv_exact(con):
    out = format_result(*query(con), "csv")
    assert out == (
        "id,name,score,seen\n"
        "1,alpha,0.123456,2024-01-02 03:04:05\n"
        "2,,,\n"
        '3,"has,comma ""q""",2.0,2024-02-03 00:00:00\n'
    )
    parsed = list(csv.reader(io.StringIO(out)))
    assert parsed[3][1] == 'has,comma "q"'


def test_json_parses_back(con):
    out = format_result(*query(con), "json")
    data = json.loads(out)
    assert data == [
        {"id": 1, "name": "alpha", "score": 0.123456, "seen": "2024-01-02 03:04:05"},
        {"id": 2, "name": None, "score": None, "seen": None},
        {"id": 3, "name": 'has,comma "q"', "score": 2.0, "seen": "2024-02-03 00:00:00"},
    ]
    assert isinstance(data[0]["score"], float)


def test_json_decimal_uuid_nan_and_duplicate_columns(con):
    columns, rows = run_query(
        con,
        "SELECT 1.50::DECIMAL(5,2) AS d, '00000000-0000-0000-0000-000000000001'::UUID AS u, "
        "'nan'::DOUBLE AS n, 1 AS a, 2 AS a",
    )
    (obj,) = json.loads(format_result(columns, rows, "json"))
    assert obj == {"d": "1.50", "u": "00000000-0000-0000-0000-000000000001", "n": None, "a": 1, "a_1": 2}


def test_table_values_null_and_float_rounding(con):
    out = format_result(*query(con), "table", color=False)
    assert "\x1b[" not in out
    lines = out.splitlines()
    header = next(line for line in lines if "id" in line)
    for name in ("id", "name", "score", "seen"):
        assert name in header
    assert "0.1235" in out and "0.123456" not in out
    assert "2024-01-02 03:04:05" in out
    assert 'has,comma "q"' in out
    null_row = next(line for line in lines if " 2 " in line)
    assert null_row.count("NULL") == 3
    # Non-terminal output is never wrapped, whatever the table width.
    wide = format_result(["c"], [("x" * 300,)], "table", color=False)
    assert "x" * 300 in wide


def test_float_formatting_edges():
    out = format_result(["v"], [(3.0,), (0.5,), (1.23e-7,), (2.0 / 3,)], "table", color=False)
    assert " 3.0 " in out and " 0.5 " in out and "1.23e-07" in out and "0.6667" in out


def test_empty_and_unknown_format():
    assert format_result([], [], "csv") == ""
    assert json.loads(format_result([], [], "json")) == []
    with pytest.raises(ValueError, match="unknown format"):
        format_result(["a"], [(1,)], "xml")


def scripted(lines):
    prompts = []
    it = iter(lines)

    def input_fn(prompt):
        prompts.append(prompt)
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None

    return input_fn, prompts


def make_console():
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=120), buf


def test_interactive_session(con):
    console, buf = make_console()
    input_fn, prompts = scripted(
        [
            "",
            "SELECT name, score",
            "  FROM items",
            "  WHERE id = 1;",
            "SELEC nonsense;",
            "SELECT * FROM missing_table;",
            ".tables",
            ".quit",
            "SELECT 'never reached';",
        ]
    )
    interactive(con, console, input_fn=input_fn)
    out = buf.getvalue()
    assert prompts == ["lfe> ", "lfe> ", "...> ", "...> ", "lfe> ", "lfe> ", "lfe> ", "lfe> "]
    assert "alpha" in out and "0.1235" in out and "1 row" in out
    error_lines = [line for line in out.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 2
    assert "syntax error" in error_lines[0]
    assert "missing_table" in error_lines[1]
    assert "Traceback" not in out and "LINE 1" not in out
    assert "items" in out and "good" in out and "view" in out
    assert "never reached" not in out


def test_interactive_eof_runs_pending_statement_and_ddl(con):
    console, buf = make_console()
    input_fn, _ = scripted(
        ["CREATE TABLE z (x INTEGER);", "INSERT INTO z VALUES (41), (42);", "SELECT max(x) AS top", "FROM z"]
    )
    interactive(con, console, input_fn=input_fn)
    out = buf.getvalue()
    assert "ok" in out
    assert "top" in out and "42" in out
    assert con.execute("SELECT count(*) FROM z").fetchone() == (2,)


def test_interactive_unknown_dot_command_and_exit(con):
    console, buf = make_console()
    input_fn, prompts = scripted([".nope", ".exit", ".tables"])
    interactive(con, console, input_fn=input_fn)
    out = buf.getvalue()
    assert "error: unknown command .nope" in out
    assert len(prompts) == 2
