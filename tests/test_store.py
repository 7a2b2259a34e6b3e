"""The DuckDB store on a real file: schema, transactions, views, locking and `lfe sql`."""

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from lfe_local.cli import app
from lfe_local.errors import LfeError
from lfe_local.store import DB_NAME, SCHEMA_VERSION, Store

TABLES = {"schema_version", "runs", "stages", "items", "evaluations", "analyses", "samples", "train_steps", "adapters",
          "item_embeddings", "neighbours", "error_clusters", "comparisons", "comparison_runs", "comparison_results",
          "generators", "generator_checks", "calls", "migrations"}
VIEWS = {"cycle_metrics", "error_analyses", "sample_funnel", "instructor_calls", "stage_times", "error_types",
         "lec_neighbours", "strategy_comparison", "generator_yield", "generator_rejections", "run_results",
         "instructor_usage"}
RUN = "r1"
T0 = dt.datetime(2024, 5, 6, 7, 8, 9)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / DB_NAME


@pytest.fixture
def store(db: Path):
    s = Store(db)
    yield s
    s.close()


def run_row(run_id: str = RUN) -> dict:
    return {"run_id": run_id, "task": "arith", "strategy": "le", "n_cycles": 2, "fingerprint": "fp",
            "config_json": "{}", "target_model": "t.gguf", "instructor_model": "i.gguf"}


def eval_row(cycle: int, split: str, item: str, correct: bool, run_id: str = RUN) -> dict:
    return {"run_id": run_id, "cycle": cycle, "task": "arith", "split": split, "item_id": item, "model": "t",
            "adapter": None, "prompt": "p", "response": "r", "extracted": "1", "gold": "1", "correct": correct,
            "prompt_tokens": 3, "completion_tokens": 4, "latency_s": 0.5}


def sample_row(sid: str, cycle: int = 1, strategy: str = "le", run_id: str = RUN) -> dict:
    return {"run_id": run_id, "cycle": cycle, "sample_id": sid, "strategy": strategy, "kind": "new",
            "source_item_id": "i1", "question": f"q {sid}", "solution": "s", "answer": "1", "program": None,
            "status": "generated", "reason": None, "detail": None, "training_text": None}


def names(con, kind: str) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = ?", [kind]
    ).fetchall()
    return {r[0] for r in rows}


def test_schema_tables_views_and_version(store):
    assert names(store.con, "BASE TABLE") == TABLES
    assert names(store.con, "VIEW") == VIEWS
    assert store.con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    assert SCHEMA_VERSION == 9
    # A new database records every named migration as applied, in order.
    assert [r[0] for r in store.con.execute("SELECT version FROM migrations ORDER BY 1").fetchall()] == [2, 3, 4, 5, 6, 7, 8, 9]
    for view in VIEWS:  # every view is queryable on an empty database
        assert store.con.execute(f"SELECT count(*) FROM {view}").fetchone() == (0,)


def test_version_1_database_is_migrated_in_place(db):
    with Store(db) as s:
        s.create_run(run_row())
        with s.transaction():
            s.insert("evaluations", [eval_row(0, "test", "a", True)])
        # Make it look like a database written by schema version 1.
        for view in ("error_types", "lec_neighbours", "strategy_comparison", "generator_yield",
                     "generator_rejections", "sample_funnel", "run_results", "instructor_usage"):
            s.con.execute(f"DROP VIEW {view}")
        for table in ("item_embeddings", "neighbours", "error_clusters", "comparison_results", "comparison_runs",
                      "comparisons", "generator_checks", "generators", "calls", "migrations"):
            s.con.execute(f"DROP TABLE {table}")
        for table, column in (("items", "tests"), ("samples", "tests"), ("evaluations", "failure"),
                              ("evaluations", "detail"),  # added by version 3
                              ("evaluations", "task_version"), ("runs", "task_version"), ("runs", "lfe_version"),
                              *(("runs", c) for c in ("test_base", "test_best", "test_delta", "test_ci_low",
                                                      "test_ci_high", "test_items")),
                              ("samples", "generator_id"), ("samples", "program_output"),  # by version 4
                              ("evaluations", "scorer"),  # by version 6
                              ("evaluations", "precision"),  # by version 7
                              ("samples", "own_solution")):  # by version 9
            s.con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        s.con.execute("DELETE FROM schema_version; INSERT INTO schema_version VALUES (1)")
    with Store(db) as s:
        assert names(s.con, "BASE TABLE") == TABLES and names(s.con, "VIEW") == VIEWS
        assert s.con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall() == [(1,), (9,)]
        assert s.con.execute("SELECT version, name FROM migrations ORDER BY 1").fetchall() == [
            (2, "lec_taxonomy_comparisons"), (3, "code_tests_failure_kinds"), (4, "task_versions_programs_generators"),
            (5, "instructor_calls"), (6, "evaluations_scorer"), (7, "evaluations_precision"), (8, "calls_threads"),
            (9, "samples_own_solution")]
        # Rows written before task versions existed carry none: they are never reused as current.
        assert s.con.execute("SELECT task_version FROM evaluations WHERE item_id = 'a'").fetchone() == (None,)
        assert s.run(RUN)["task_version"] is None
        assert s.evaluations(RUN, 0, "test")[0]["item_id"] == "a"
        s.insert("evaluations", [{**eval_row(0, "test", "b", False), "failure": "timeout", "detail": "d"}])
        assert s.con.execute("SELECT failure FROM evaluations WHERE item_id = 'b'").fetchone() == ("timeout",)


def _version_5_database(db: Path) -> None:
    """A database as schema 5 wrote it: no evaluations.scorer, cycle_metrics without it, and
    two evaluations of a finished run."""
    with Store(db) as s:
        s.create_run(run_row())
        s.con.execute("DROP VIEW cycle_metrics")
        s.con.execute("ALTER TABLE evaluations DROP COLUMN scorer")
        s.con.execute("ALTER TABLE evaluations DROP COLUMN precision")
        s.con.execute("DROP VIEW instructor_calls")
        s.con.execute("ALTER TABLE calls DROP COLUMN threads")
        s.con.execute("DROP TABLE migrations")
        s.con.execute("""CREATE VIEW cycle_metrics AS SELECT run_id, cycle, task, split, count(*)::INTEGER AS n_items,
                         avg(correct::INTEGER)::DOUBLE AS accuracy FROM evaluations GROUP BY run_id, cycle, task, split""")
        with s.transaction():
            s.insert("evaluations", [eval_row(0, "test", "a", True), eval_row(0, "test", "b", False)])
        s.con.execute("DELETE FROM schema_version; INSERT INTO schema_version VALUES (5)")
    con = duckdb.connect(str(db), read_only=True)
    assert "scorer" not in {c[0] for c in con.execute("DESCRIBE evaluations").fetchall()}
    con.close()


def test_version_5_database_gains_the_scorer_in_place(db):
    _version_5_database(db)
    with Store(db, read_only=True) as s:  # read-only opens never migrate: the old view still answers
        assert s.con.execute("SELECT * FROM cycle_metrics").fetchall() == [(RUN, 0, "arith", "test", 2, 0.5)]
    with Store(db) as s:
        assert s.con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall() == [(5,), (9,)]
        assert [r[0] for r in s.con.execute("SELECT version FROM migrations ORDER BY 1").fetchall()] == [6, 7, 8, 9]
        # Their precision is unknown, so eval_precision (the cycle-0 reuse check) says None.
        assert s.con.execute("SELECT DISTINCT precision FROM evaluations").fetchall() == [(None,)]
        assert s.eval_precision(RUN, 0, "test") is None
        # Every evaluation before schema 6 was judged by the strict scorer.
        assert s.con.execute("SELECT item_id, scorer FROM evaluations ORDER BY 1").fetchall() == [
            ("a", "strict"), ("b", "strict")]
        assert s.accuracies(RUN) == [{"cycle": 0, "split": "test", "n_items": 2, "accuracy": 0.5}]
        assert s.con.execute("SELECT * FROM cycle_metrics").fetchall() == [(RUN, 0, "arith", "test", 2, 0.5, "strict")]
        with s.transaction():
            s.insert("evaluations", [{**eval_row(1, "test", "a", True), "scorer": "paper"}])
        assert s.con.execute("SELECT cycle, scorer, accuracy FROM cycle_metrics ORDER BY 1").fetchall() == [
            (0, "strict", 0.5), (1, "paper", 1.0)]
    with Store(db) as s:  # opening again changes nothing
        assert s.con.execute("SELECT count(*), max(version) FROM schema_version").fetchone() == (2, 9)
        assert s.con.execute("SELECT count(*) FROM migrations").fetchone() == (4,)


def test_the_named_migration_fills_a_scorer_column_without_values(db):
    """What rows written before schema 6 say is decided by migration 6, not by the column's
    default alone: here the column exists without values, as a hand-made database may have it."""
    _version_5_database(db)
    con = duckdb.connect(str(db))
    con.execute("ALTER TABLE evaluations ADD COLUMN scorer VARCHAR")  # no default: both rows NULL
    assert con.execute("SELECT count(*) FROM evaluations WHERE scorer IS NULL").fetchone() == (2,)
    con.close()
    with Store(db) as s:
        assert s.con.execute("SELECT DISTINCT scorer FROM evaluations").fetchall() == [("strict",)]


def test_eval_precision_is_the_one_precision_of_an_evaluation(store):
    store.create_run(run_row())
    with store.transaction():
        store.insert("evaluations", [{**eval_row(0, "test", i, True), "precision": "bfloat16"} for i in "ab"])
        store.insert("evaluations", [{**eval_row(0, "val", "a", True), "precision": "bfloat16"},
                                     {**eval_row(0, "val", "b", True), "precision": "float32"}])
    assert store.eval_precision(RUN, 0, "test") == "bfloat16"
    assert store.eval_precision(RUN, 0, "val") is None  # mixed: a resume on another machine
    assert store.eval_precision(RUN, 1, "test") is None  # no evaluation


def test_embeddings_are_replaced_when_the_text_changes(store):
    row = {"task": "arith", "item_id": "a", "model": "m", "text_sha": "old", "vector": [1.0, 0.0]}
    store.put_embeddings([row, {**row, "item_id": "b"}])
    store.put_embeddings([{**row, "text_sha": "new", "vector": [0.0, 1.0]}])
    got = store.embeddings("arith", "m")
    assert got["a"] == ("new", [0.0, 1.0]) and got["b"] == ("old", [1.0, 0.0])
    assert store.embeddings("arith", "other") == {}


def test_reopen_keeps_data_and_one_version_row(db):
    with Store(db) as s:
        s.create_run(run_row())
        with s.transaction():
            s.insert("evaluations", [eval_row(0, "test", "a", True)])
    with Store(db) as s:  # migrating again must not duplicate or drop anything
        assert s.con.execute("SELECT count(*), max(version) FROM schema_version").fetchone() == (1, SCHEMA_VERSION)
        run = s.latest_run()
        assert run["run_id"] == RUN and run["status"] == "running"
        assert s.evaluations(RUN, 0, "test") == [{"item_id": "a", "response": "r", "extracted": "1", "correct": True,
                                                "detail": None}]
    with Store(db, read_only=True) as s:
        assert s.run(RUN)["task"] == "arith"


def test_newer_schema_version_is_refused(db):
    Store(db).close()
    con = duckdb.connect(str(db))
    con.execute("INSERT INTO schema_version VALUES (99)")
    con.close()
    with pytest.raises(LfeError) as info:
        Store(db)
    assert "schema version 99" in str(info.value) and "\n" not in str(info.value)


def test_transaction_rolls_back_rows_and_stage_marker(store):
    store.create_run(run_row())
    with pytest.raises(RuntimeError, match="boom"):
        with store.transaction():
            store.insert("evaluations", [eval_row(0, "train", "a", True), eval_row(0, "train", "b", False)])
            store.mark_stage(RUN, 0, "evaluate", T0, 1.5, "2 items")
            # visible inside the transaction...
            assert store.con.execute("SELECT count(*) FROM evaluations").fetchone() == (2,)
            raise RuntimeError("boom")
    # ...and gone afterwards, marker included
    assert store.con.execute("SELECT count(*) FROM evaluations").fetchone() == (0,)
    assert store.done_stages(RUN) == set()
    # the connection is usable and a committed transaction persists
    with store.transaction():
        store.insert("evaluations", [eval_row(0, "train", "a", True)])
        store.mark_stage(RUN, 0, "evaluate", T0, 1.5, "1 item")
    assert store.done_stages(RUN) == {(0, "evaluate")}
    assert store.con.execute("SELECT stage, seconds, summary FROM stage_times").fetchall() == [
        ("evaluate", 1.5, "1 item")
    ]


def test_insert_rejects_unknown_table_and_ignores_empty(store):
    with pytest.raises(ValueError):
        store.insert("schema_version; DROP TABLE runs", [{"x": 1}])
    store.insert("runs", [])
    assert store.con.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_cycle_metrics_per_split(store):
    rows = [eval_row(0, "train", f"t{i}", i < 3) for i in range(4)]  # 3/4
    rows += [eval_row(0, "val", f"v{i}", i == 0) for i in range(5)]  # 1/5
    rows += [eval_row(1, "val", f"v{i}", True) for i in range(5)]  # 5/5
    rows += [eval_row(0, "test", "x", False, run_id="other")]
    with store.transaction():
        store.insert("evaluations", rows)
    got = {(r["cycle"], r["split"]): (r["n_items"], r["accuracy"]) for r in store.accuracies(RUN)}
    assert got == {(0, "train"): (4, 0.75), (0, "val"): (5, 0.2), (1, "val"): (5, 1.0)}
    assert store.accuracies("other") == [{"cycle": 0, "split": "test", "n_items": 1, "accuracy": 0.0}]


def test_sample_funnel_after_verdicts(store):
    store.insert("samples", [sample_row(f"s{i}") for i in range(6)] + [sample_row("z", strategy="other")])
    before = store.con.execute("SELECT strategy, status, reason, n FROM sample_funnel ORDER BY strategy").fetchall()
    assert before == [("le", "generated", None, 6), ("other", "generated", None, 1)]

    verdicts = [
        {"sample_id": "s0", "status": "accepted", "reason": None, "detail": None, "training_text": "t0"},
        {"sample_id": "s1", "status": "accepted", "reason": None, "detail": None, "training_text": "t1"},
        {"sample_id": "s2", "status": "rejected", "reason": "duplicate", "detail": "of s0", "training_text": None},
        {"sample_id": "s3", "status": "rejected", "reason": "duplicate", "detail": "of s1", "training_text": None},
        {"sample_id": "s4", "status": "rejected", "reason": "wrong_answer", "detail": "2 != 1", "training_text": None},
    ]
    store.update_sample_verdicts(RUN, verdicts)
    funnel = store.con.execute(
        "SELECT status, reason, n FROM sample_funnel WHERE run_id = ? AND strategy = 'le' "
        "ORDER BY status, reason NULLS FIRST", [RUN]
    ).fetchall()
    assert funnel == [
        ("accepted", None, 2),
        ("generated", None, 6),
        ("rejected", "duplicate", 2),
        ("rejected", "wrong_answer", 1),
    ]
    accepted = store.samples(RUN, [1], status="accepted")
    assert [(s["sample_id"], s["training_text"]) for s in accepted] == [("s0", "t0"), ("s1", "t1")]
    assert store.samples(RUN, [1], status="generated")[0]["sample_id"] == "s5"  # untouched
    assert store.samples(RUN, [2]) == []


def test_update_sample_verdicts_all_null_reasons(store):
    # a batch where every reason is None gives Arrow null-typed columns
    store.insert("samples", [sample_row("a"), sample_row("b")])
    store.update_sample_verdicts(RUN, [
        {"sample_id": "a", "status": "accepted", "reason": None, "detail": None, "training_text": "ta"},
    ])
    rows = store.con.execute("SELECT sample_id, status, reason, training_text FROM samples ORDER BY 1").fetchall()
    assert rows == [("a", "accepted", None, "ta"), ("b", "generated", None, None)]


def test_read_only_on_missing_file(db):
    with pytest.raises(LfeError) as info:
        Store(db, read_only=True)
    assert "lfe run" in str(info.value) and "\n" not in str(info.value)
    assert not db.exists()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from lfe_local.store import Store
    s = Store(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()  # hold the file until the test says so (or 20 s at most via timeout)
    s.close()
    """
)


def test_open_while_another_process_writes(db):
    Store(db).close()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        for read_only in (True, False):
            with pytest.raises(LfeError) as info:
                Store(db, read_only=read_only)
            msg = str(info.value)
            assert "\n" not in msg
            assert "lfe run" in msg and str(db) in msg
        result = CliRunner().invoke(app, ["sql", "-w", str(db.parent), "SELECT 1"])
        assert result.exit_code != 0
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    finally:
        proc.communicate("\n", timeout=20)
    assert proc.returncode == 0
    with Store(db, read_only=True) as s:  # free again once the writer is gone
        assert s.con.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)


PUBLISHER = textwrap.dedent(
    """
    import sys
    from lfe_local.store import Store
    s = Store(sys.argv[1])
    s.insert("runs", [{"run_id": "r1", "created_at": "2024-05-06 07:08:09", "status": "running", "task": "arith",
                       "strategy": "le", "n_cycles": 1, "fingerprint": "f", "config_json": "{}",
                       "target_model": "t", "instructor_model": "i"}])
    s.publish_snapshot()  # as after a finished stage
    s.con.execute("UPDATE runs SET status = 'finished'")  # committed, not yet published
    print("ready", flush=True)
    sys.stdin.readline()
    s.insert("runs", [{"run_id": "r2", "created_at": "2024-05-06 07:08:09", "status": "running", "task": "arith",
                       "strategy": "le", "n_cycles": 1, "fingerprint": "f", "config_json": "{}",
                       "target_model": "t", "instructor_model": "i"}])  # the reader never blocked it
    s.close()
    print("wrote", flush=True)
    """
)


def test_sql_reads_the_published_snapshot_while_a_run_holds_the_file(db):
    proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(db)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        result = CliRunner().invoke(app, ["sql", "-w", str(db.parent), "SELECT run_id, status FROM runs", "-f", "csv"])
        assert result.exit_code == 0, result.stderr
        assert result.stdout.split() == ["run_id,status", "r1,running"]  # as of the snapshot
        assert "reading lfe.snapshot.duckdb" in result.stderr and result.stderr.count("\n") == 1
        with pytest.raises(LfeError, match="still using it"):  # publishing left the run's lock in place
            Store(db, read_only=True)
        # --write needs the real file: refused, in one line
        result = CliRunner().invoke(app, ["sql", "-w", str(db.parent), "--write", "SELECT 1"])
        assert result.exit_code != 0 and result.stderr.count("\n") == 1
        out, _ = proc.communicate("\n", timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and out.strip() == "wrote"
    with Store(db, read_only=True) as s:
        assert s.con.execute("SELECT count(*) FROM runs").fetchone() == (2,)


def test_a_snapshot_is_replaced_whole(db, tmp_path):
    with Store(db) as s:
        s.create_run(run_row())
        first = s.publish_snapshot()
        s.create_run(run_row("r2"))
        assert s.publish_snapshot() == first
    assert [p.name for p in db.parent.iterdir() if "snapshot" in p.name] == ["lfe.snapshot.duckdb"]
    with Store(first, read_only=True) as snap:
        assert snap.con.execute("SELECT count(*) FROM runs").fetchone() == (2,)
        assert names(snap.con, "BASE TABLE") == TABLES and names(snap.con, "VIEW") == VIEWS  # the documented API


# -- lfe sql ------------------------------------------------------------------------------


@pytest.fixture
def workspace(db: Path) -> Path:
    with Store(db) as s:
        s.create_run(run_row())
        s.insert("evaluations", [eval_row(0, "test", "a", True), eval_row(0, "test", "b", False)])
    return db.parent


runner = CliRunner()


def test_sql_csv(workspace):
    result = runner.invoke(app, ["sql", "-w", str(workspace), "SELECT split, n_items, accuracy FROM cycle_metrics",
                                 "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "split,n_items,accuracy"
    assert lines[1] == "test,2,0.5"


def test_sql_json(workspace):
    result = runner.invoke(app, ["sql", "-w", str(workspace), "SELECT item_id, correct FROM evaluations ORDER BY 1",
                                 "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"item_id": "a", "correct": True}, {"item_id": "b", "correct": False}]


def test_sql_table(workspace):
    result = runner.invoke(app, ["sql", "-w", str(workspace), "SELECT run_id, status FROM runs"])
    assert result.exit_code == 0
    assert "run_id" in result.stdout and RUN in result.stdout and "running" in result.stdout


@pytest.mark.parametrize("query", ["SELECT * FROM no_such_table", "SELEC 1", "SELECT 1 +"])
def test_sql_bad_query(workspace, query):
    result = runner.invoke(app, ["sql", "-w", str(workspace), query, "--format", "csv"])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""


def test_sql_bad_format(workspace):
    result = runner.invoke(app, ["sql", "-w", str(workspace), "SELECT 1", "--format", "xml"])
    assert result.exit_code != 0 and result.stderr.startswith("error: --format")


def test_sql_write_needs_flag(workspace, db):
    result = runner.invoke(app, ["sql", "-w", str(workspace), "CREATE TABLE x(a INT)"])
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "read-only" in result.stderr or "read only" in result.stderr
    with Store(db, read_only=True) as s:
        assert "x" not in names(s.con, "BASE TABLE")

    ok = runner.invoke(app, ["sql", "-w", str(workspace), "CREATE TABLE x(a INT)", "--write"])
    assert ok.exit_code == 0, ok.output
    with Store(db, read_only=True) as s:
        assert "x" in names(s.con, "BASE TABLE")


def test_sql_without_database(tmp_path):
    result = runner.invoke(app, ["sql", "-w", str(tmp_path), "SELECT 1"])
    assert result.exit_code != 0
    assert result.stderr.startswith("error: ") and "lfe run" in result.stderr
    assert not (tmp_path / DB_NAME).exists()


def test_generator_yield_and_funnel_origin(store):
    store.create_run(run_row())
    gen = {"run_id": RUN, "cycle": 1, "generator_id": "c1-le-g0", "strategy": "le", "error_type": "wrong operation",
           "source_item_ids": "i1,i2", "code": "def generate(rng): ...", "attempts": 1, "prompt_tokens": 10,
           "completion_tokens": 20, "seconds": 3.0, "raw_reply": "{}", "run_kind": "ok", "instances_run": 4,
           "instances_made": 3, "instance_failures": "raised: ZeroDivisionError x1", "status": "made",
           "reason": None, "detail": None}
    with store.transaction():
        store.insert("generators", [gen])
        store.insert("samples", [{**sample_row(f"g{i}"), "generator_id": "c1-le-g0"} for i in range(3)]
                     + [sample_row("w0"), {**sample_row("c0"), "kind": "corrected"}])
        store.insert("generator_checks", [{"run_id": RUN, "cycle": 1, "generator_id": "c1-le-g0", "sample_id": "g0",
                                           "program": "print(1)", "output": "1", "agrees": True, "detail": "agrees"}])
    store.update_sample_verdicts(RUN, [
        {"sample_id": "g0", "status": "accepted", "reason": None, "detail": None, "training_text": "t"},
        {"sample_id": "g1", "status": "accepted", "reason": None, "detail": None, "training_text": "t"},
        {"sample_id": "g2", "status": "rejected", "reason": "near_duplicate", "detail": "same as g1",
         "training_text": None},
        {"sample_id": "w0", "status": "rejected", "reason": "bad_equation", "detail": "2 + 2 = 5",
         "training_text": None, "program_output": "4"},
    ])
    store.update_generator_verdicts(RUN, [{"generator_id": "c1-le-g0", "status": "accepted", "reason": None,
                                           "detail": "1/1 fresh solves agree"}])
    (row,) = store._all("SELECT * FROM generator_yield")
    assert (row["status"], row["instances_made"], row["n_accepted"], row["n_rejected"]) == ("accepted", 3, 2, 1)
    assert (row["checks_agreed"], row["checks"], row["error_type"]) == (1, 1, "wrong operation")
    assert store._all("SELECT reason, n FROM generator_rejections") == [{"reason": "near_duplicate", "n": 1}]
    funnel = {(r["origin"], r["status"], r["reason"]): r["n"] for r in store._all("SELECT * FROM sample_funnel")}
    assert funnel[("generator", "generated", None)] == 3 and funnel[("generator", "accepted", None)] == 2
    assert funnel[("written", "rejected", "bad_equation")] == 1 and funnel[("corrected", "generated", None)] == 1
    assert store._all("SELECT program_output FROM samples WHERE sample_id = 'w0'") == [{"program_output": "4"}]
