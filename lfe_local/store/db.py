"""DuckDB store: schema, transactional writes per stage, and the reads the loop needs.

Writes go through Arrow tables (`INSERT ... BY NAME SELECT * FROM arrow`), which is orders of
magnitude faster in DuckDB than executemany.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..errors import WRITE_REFUSED_HINT, LfeError

DB_NAME = "lfe.duckdb"
# A copy of the database that `lfe run` publishes after each finished stage: DuckDB lets one
# process open a file while another writes it, so readers (lfe sql, a notebook) open this one then.
SNAPSHOT_NAME = "lfe.snapshot.duckdb"
SCHEMA_VERSION = 9

# Every schema version after 1, in order: (version, name, statements). schema.sql adds the tables
# and columns; a migration's statements do what adding cannot (fill a new column for the rows
# written before it), run once, after schema.sql, on a database last written below that version.
# Each one applied is recorded by name in the `migrations` table.
MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (2, "lec_taxonomy_comparisons", ()),
    (3, "code_tests_failure_kinds", ()),
    (4, "task_versions_programs_generators", ()),
    (5, "instructor_calls", ()),
    # Every evaluation before schema 6 was judged by lfe-local's own scorer.
    (6, "evaluations_scorer", ("UPDATE evaluations SET scorer = 'strict' WHERE scorer IS NULL",)),
    # The precision of an evaluation before schema 7 is unknown: left NULL, so never reused.
    (7, "evaluations_precision", ()),
    # Threads of a call before schema 8 were not recorded: NULL.
    (8, "calls_threads", ()),
    # Samples before schema 9 carry their generator's own solution: NULL.
    (9, "samples_own_solution", ()),
)

_TABLES = ("runs", "stages", "items", "evaluations", "analyses", "samples", "train_steps", "adapters",
           "item_embeddings", "neighbours", "error_clusters", "comparisons", "comparison_runs", "comparison_results",
           "generators", "generator_checks", "calls")


def _now() -> dt.datetime:
    return dt.datetime.now().replace(microsecond=0)


def _is_lock_error(msg: str) -> bool:
    return "lock" in msg.lower()


# What DuckDB says when the file system refuses a write (full, read-only, over a size limit).
_WRITE_ERRORS = ("could not write", "no space left", "read-only file system", "file too large",
                 "permission denied", "disk quota")


def _is_write_error(msg: str) -> bool:
    return any(w in msg.lower() for w in _WRITE_ERRORS)


class StoreBusy(LfeError):
    """The file is held by another process (a running `lfe run`)."""


_transactions = 0


def _kill_in_commit() -> None:
    """The crash test's one hook (scripts/crashtest.py): LFE_KILL_IN_COMMIT=N sends this process
    SIGKILL inside its N-th transaction, every row written and COMMIT not yet run — a moment too
    short to hit from outside. Unset, it costs one dictionary lookup per commit."""
    global _transactions
    wanted = os.environ.get("LFE_KILL_IN_COMMIT")
    if wanted:
        _transactions += 1
        if _transactions == int(wanted):
            os.kill(os.getpid(), signal.SIGKILL)


def open_reader(path: Path) -> tuple[Store, bool]:
    """A read-only Store on `path`, or, while a running `lfe run` holds it, on the snapshot that
    run publishes beside it. Returns (store, whether it is the snapshot)."""
    try:
        return Store(path, read_only=True), False
    except StoreBusy:
        snapshot = Path(path).with_name(SNAPSHOT_NAME)
        if not snapshot.exists():
            raise
        return Store(snapshot, read_only=True), True


class Store:
    def __init__(self, path: Path, read_only: bool = False):
        self.path = Path(path)
        if read_only and not self.path.exists():
            raise LfeError(f"{self.path}: no such database (run `lfe run` in this workspace first)")
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as err:
            msg = str(err).splitlines()[0]
            if not _is_lock_error(msg):  # a read-only or full file system, a permission
                raise LfeError(f"{self.path}: cannot open the database ({msg})") from None
            # DuckDB allows one writer per file; a running `lfe run` holds it.
            raise StoreBusy(f"{self.path}: cannot open ({msg}); is an `lfe run` still using it?") from None
        if not read_only:
            self._migrate()

    def close(self) -> None:
        try:
            self.con.close()
        except duckdb.Error:  # after a failed write (a full disk) the connection may be unusable
            pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ------------------------------------------------------------------------
    def _migrate(self) -> None:
        have = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        ).fetchone()[0]
        if have:
            row = self.con.execute("SELECT max(version) FROM schema_version").fetchone()
            if row[0] is not None and row[0] > SCHEMA_VERSION:
                raise LfeError(f"{self.path}: schema version {row[0]} is newer than this lfe-local ({SCHEMA_VERSION})")
        sql = resources.files("lfe_local.store").joinpath("schema.sql").read_text()
        with self.transaction():
            self.con.execute(sql)
            have = self.con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
            if have is None or have < SCHEMA_VERSION:
                for version, name, statements in MIGRATIONS:
                    if have is None or have < version:
                        if have is not None:  # a new database has no rows to fix
                            for statement in statements:
                                self.con.execute(statement)
                        self.con.execute("INSERT OR IGNORE INTO migrations VALUES (?, ?, ?)", [version, name, _now()])
                self.con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])

    # -- the snapshot readers open while a run holds the file ----------------------------------
    def publish_snapshot(self) -> Path:
        """Copy the database as it is now (every committed stage, nothing in flight: call it
        between transactions) to SNAPSHOT_NAME beside it, replacing the last copy atomically, so
        a reader sees one whole snapshot or the one before."""
        snap = self.path.with_name(SNAPSHOT_NAME)
        tmp = snap.with_name(f".{snap.name}.{os.getpid()}.tmp")
        # DuckDB writes the copy: never open the live file by another descriptor of this process,
        # since closing it would drop the process's POSIX lock on the file (seen: a reader then
        # opened it while the run held it).
        own = self.con.execute("SELECT current_database()").fetchone()[0]
        try:
            tmp.unlink(missing_ok=True)
            quoted = str(tmp).replace("'", "''")
            self.con.execute(f"ATTACH '{quoted}' AS lfe_snapshot")
            try:
                self.con.execute(f'COPY FROM DATABASE "{own}" TO lfe_snapshot')
            finally:
                self.con.execute("DETACH lfe_snapshot")
            os.replace(tmp, snap)
        except (OSError, duckdb.Error) as err:
            raise LfeError(f"{snap}: not published ({str(err).splitlines()[0]})") from None
        finally:
            tmp.unlink(missing_ok=True)
            tmp.with_name(tmp.name + ".wal").unlink(missing_ok=True)
        return snap

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            self.con.execute("BEGIN TRANSACTION")
            try:
                yield
                _kill_in_commit()
            except BaseException:
                with contextlib.suppress(duckdb.Error):  # a failed write may have ended it already
                    self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT")
        except duckdb.Error as err:
            msg = str(err).splitlines()[0]
            if not _is_write_error(msg):
                raise
            # Nothing of the transaction is in the file: the work it held is redone on resume.
            raise LfeError(f"{self.path}: could not write ({msg}); {WRITE_REFUSED_HINT}") from None

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        if table not in _TABLES:
            raise ValueError(f"unknown table {table}")
        if not rows:
            return
        arrow = pa.Table.from_pylist(rows)  # noqa: F841 - read by DuckDB through the local name
        self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM arrow")

    # -- runs and stages -------------------------------------------------------------------
    def latest_run(self) -> dict[str, Any] | None:
        return self._one("SELECT * FROM runs ORDER BY created_at DESC, run_id DESC LIMIT 1")

    def run(self, run_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM runs WHERE run_id = ?", [run_id])

    def create_run(self, row: dict[str, Any]) -> None:
        with self.transaction():
            self.insert("runs", [{**row, "created_at": _now(), "status": "running"}])

    def set_run_cycles(self, run_id: str, n_cycles: int) -> None:
        self.con.execute("UPDATE runs SET n_cycles = ?, status = 'running' WHERE run_id = ?", [n_cycles, run_id])

    def finish_run(self, run_id: str, best_cycle: int | None, gain: dict[str, Any] | None = None) -> None:
        gain = gain or {}
        keys = ("test_base", "test_best", "test_delta", "test_ci_low", "test_ci_high", "test_items")
        self.con.execute(
            "UPDATE runs SET status = 'finished', best_cycle = ?, finished_at = ?, "
            + ", ".join(f"{k} = ?" for k in keys) + " WHERE run_id = ?",
            [best_cycle, _now(), *(gain.get(k) for k in keys), run_id],
        )

    def done_stages(self, run_id: str) -> set[tuple[int, str]]:
        rows = self.con.execute("SELECT cycle, stage FROM stages WHERE run_id = ?", [run_id]).fetchall()
        return {(c, s) for c, s in rows}

    def mark_stage(self, run_id: str, cycle: int, stage: str, started: dt.datetime, seconds: float, summary: str) -> None:
        """Call inside the stage's transaction, so rows and marker land together."""
        self.insert("stages", [{"run_id": run_id, "cycle": cycle, "stage": stage, "started_at": started,
                                "seconds": seconds, "summary": summary}])

    # -- reads for the loop ----------------------------------------------------------------
    def has_items(self, run_id: str) -> bool:
        return bool(self.con.execute("SELECT count(*) FROM items WHERE run_id = ?", [run_id]).fetchone()[0])

    def evaluations(self, run_id: str, cycle: int, split: str) -> list[dict[str, Any]]:
        return self._all(
            "SELECT item_id, response, extracted, correct, detail FROM evaluations WHERE run_id = ? AND cycle = ? AND split = ? ORDER BY item_id",
            [run_id, cycle, split],
        )

    def eval_precision(self, run_id: str, cycle: int, split: str) -> str | None:
        """The one precision a cycle's evaluation of `split` ran in; None when unrecorded (made
        before schema 7) or mixed (a resume on another machine)."""
        rows = self.con.execute(
            "SELECT DISTINCT precision FROM evaluations WHERE run_id = ? AND cycle = ? AND split = ?",
            [run_id, cycle, split]).fetchall()
        return rows[0][0] if len(rows) == 1 else None

    def samples(self, run_id: str, cycles: list[int], status: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM samples WHERE run_id = ? AND list_contains(?, cycle)"
        params: list[Any] = [run_id, cycles]
        if status:
            sql += " AND status = ?"
            params.append(status)
        return self._all(sql + " ORDER BY cycle, sample_id", params)

    def update_sample_verdicts(self, run_id: str, verdicts: list[dict[str, Any]]) -> None:
        if not verdicts:
            return
        arrow = pa.Table.from_pylist([{"program_output": None, **v} for v in verdicts])  # noqa: F841
        self.con.execute(
            """UPDATE samples SET status = v.status, reason = v.reason, detail = v.detail,
                      training_text = v.training_text, program_output = v.program_output
               FROM arrow v WHERE samples.run_id = ? AND samples.sample_id = v.sample_id""",
            [run_id],
        )

    def update_generator_verdicts(self, run_id: str, verdicts: list[dict[str, Any]]) -> None:
        if not verdicts:
            return
        arrow = pa.Table.from_pylist(verdicts)  # noqa: F841
        self.con.execute(
            """UPDATE generators SET status = v.status, reason = v.reason, detail = v.detail
               FROM arrow v WHERE generators.run_id = ? AND generators.generator_id = v.generator_id""",
            [run_id],
        )

    def adapter(self, run_id: str, cycle: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM adapters WHERE run_id = ? AND cycle = ?", [run_id, cycle])

    def accuracies(self, run_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT cycle, split, n_items, accuracy FROM cycle_metrics WHERE run_id = ? ORDER BY cycle, split", [run_id])

    def runs(self) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM runs ORDER BY created_at, run_id")

    def rows(self, table: str, run_id: str, **where: Any) -> list[dict[str, Any]]:
        """Every row of a run's table matching `where` (column = value)."""
        if table not in _TABLES:
            raise ValueError(f"unknown table {table}")
        sql = f"SELECT * FROM {table} WHERE run_id = ?"
        params: list[Any] = [run_id]
        for column, value in where.items():
            sql += f" AND {column} = ?"
            params.append(value)
        return self._all(sql, params)

    # -- embeddings, taxonomy ------------------------------------------------------------------
    def embeddings(self, task: str, model: str) -> dict[str, tuple[str, list[float]]]:
        rows = self.con.execute("SELECT item_id, text_sha, vector FROM item_embeddings WHERE task = ? AND model = ?",
                                [task, model]).fetchall()
        return {item: (sha, vec) for item, sha, vec in rows}

    def put_embeddings(self, rows: list[dict[str, Any]]) -> None:
        """Insert or replace (an item whose question changed is embedded again)."""
        if not rows:
            return
        keys = pa.Table.from_pylist([{k: r[k] for k in ("task", "item_id", "model")} for r in rows])  # noqa: F841
        self.con.execute("DELETE FROM item_embeddings e USING keys k WHERE e.task = k.task AND "
                         "e.item_id = k.item_id AND e.model = k.model")
        self.insert("item_embeddings", rows)

    def error_clusters(self, run_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM error_clusters WHERE run_id = ? ORDER BY cycle, item_id", [run_id])

    # -- comparisons -----------------------------------------------------------------------------
    def latest_comparison(self, fingerprint: str, strategies: str, seeds: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM comparisons WHERE fingerprint = ? AND strategies = ? AND seeds = ? "
                         "ORDER BY created_at DESC, compare_id DESC LIMIT 1", [fingerprint, strategies, seeds])

    def create_comparison(self, row: dict[str, Any]) -> None:
        with self.transaction():
            self.insert("comparisons", [{**row, "created_at": _now(), "status": "running"}])

    def comparison_runs(self, compare_id: str) -> dict[tuple[str, int], str]:
        rows = self.con.execute("SELECT strategy, seed, run_id FROM comparison_runs WHERE compare_id = ?",
                                [compare_id]).fetchall()
        return {(s, seed): run for s, seed, run in rows}

    def add_comparison_run(self, compare_id: str, strategy: str, seed: int, run_id: str) -> None:
        with self.transaction():
            self.insert("comparison_runs", [{"compare_id": compare_id, "strategy": strategy, "seed": seed,
                                             "run_id": run_id}])

    def report_data(self, run_id: str) -> dict[str, list[dict[str, Any]]]:
        """What `lfe report` plots of one run, from the documented views and tables."""
        one = [run_id]
        compare = self._one("SELECT compare_id FROM comparison_runs WHERE run_id = ? LIMIT 1", one)
        return {
            "evaluations": self._all("SELECT cycle, split, item_id, correct FROM evaluations WHERE run_id = ? "
                                     "ORDER BY cycle, split, item_id", one),
            "error_types": self._all("SELECT cycle, cluster, n_errors FROM error_types WHERE run_id = ? "
                                     "ORDER BY cycle, n_errors DESC, cluster", one),
            "funnel": self._all("SELECT cycle, origin, status, sum(n)::INTEGER AS n FROM sample_funnel "
                                "WHERE run_id = ? GROUP BY ALL ORDER BY cycle, origin, status", one),
            "loss": self._all("SELECT cycle, step, loss FROM train_steps WHERE run_id = ? ORDER BY cycle, step", one),
            "stages": self._all("SELECT cycle, stage, seconds FROM stage_times WHERE run_id = ? "
                                "ORDER BY started_at, cycle, stage", one),
            "comparison": [] if compare is None else self._all(
                "SELECT compare_id, strategy, cycle, n_seeds, n_items, accuracy, base_accuracy, delta, ci_low, ci_high "
                "FROM strategy_comparison WHERE compare_id = ? ORDER BY strategy, cycle", [compare["compare_id"]]),
        }

    def test_outcomes(self, run_id: str) -> dict[int, dict[str, bool]]:
        """cycle -> item_id -> correct, on the test split."""
        out: dict[int, dict[str, bool]] = {}
        for cycle, item, ok in self.con.execute(
                "SELECT cycle, item_id, correct FROM evaluations WHERE run_id = ? AND split = 'test'", [run_id]
        ).fetchall():
            out.setdefault(cycle, {})[item] = ok
        return out

    def finish_comparison(self, compare_id: str, results: list[dict[str, Any]], n_cycles: int) -> None:
        with self.transaction():
            self.con.execute("DELETE FROM comparison_results WHERE compare_id = ?", [compare_id])
            self.insert("comparison_results", results)
            self.con.execute("UPDATE comparisons SET status = 'finished', finished_at = ?, n_cycles = ? "
                             "WHERE compare_id = ?", [_now(), n_cycles, compare_id])

    def comparison_results(self, compare_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM strategy_comparison WHERE compare_id = ? ORDER BY cycle", [compare_id])

    def _one(self, sql: str, params: list[Any] | None = None) -> dict[str, Any] | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def _all(self, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
        cur = self.con.execute(sql, params or [])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
