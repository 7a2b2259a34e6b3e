#!/usr/bin/env python3
"""Crash-proof, measured: one small run killed with SIGKILL at several points — inside a commit,
mid evaluation, mid instructor call, mid verification, mid training — resumed with `lfe run`
after each kill, then compared table by table with the same config run once without a kill.

    .venv/bin/python scripts/crashtest.py [--preset smoke] [--cycles 1] [--instructor bundled] [--out crash.json]

Every table must hold the same rows (columns that time things aside; run ids and workspace paths
normalised), with no duplicate and no row of a stage that has no done-marker. Kills from outside
land where the run is when a stage's "started" line has been printed plus a delay; a commit takes
milliseconds, so that kill comes from inside (LFE_KILL_IN_COMMIT, store/db.py). JSON on stdout
(and --out): each kill point, where the run was, and each table's verdict; exit 1 on a difference.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
# (name, the log line the kill waits for, seconds after it). In plain display every stage logs
# "cycle C/N STAGE started"; the delays put each kill inside the stage's heavy work.
KILLS = [
    ("mid evaluation", "eval_val started", 2.0),
    ("mid instructor call", "instruct started", 4.0),
    ("mid verification", "verify started", 0.3),
    ("mid training step", "train started", 4.0),
]
# What differs between two runs of the same config by nature: clocks, what is measured by them,
# and the threads an instructor call got (the cores free at that moment).
TIMING = {"created_at", "started_at", "finished_at", "applied_at", "seconds", "latency_s", "tokens_per_s", "threads"}


def lfe(ws: Path, args: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lfe_local", "run", "-w", str(ws), "--display", "plain", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
                            # unbuffered: the kills wait for log lines, which a pipe would hold back
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, start_new_session=True)


def run_to_end(ws: Path, args: list[str]) -> None:
    proc = lfe(ws, args)
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"lfe run in {ws} failed ({proc.returncode}):\n{out[-3000:]}")


def kill_when(ws: Path, args: list[str], trigger: str, delay: float) -> dict:
    """Run until `trigger` is logged, wait `delay`, SIGKILL the run's process group; say what stage
    was in progress (the last "started" line before the kill)."""
    proc = lfe(ws, args)
    in_progress = None
    for line in proc.stdout:
        if " started" in line:
            in_progress = line.split("] ", 1)[-1].strip()
        if trigger in line:
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    proc.stdout.close()
    return {"killed": proc.returncode == -signal.SIGKILL, "in_progress": in_progress}


def kill_in_commit(ws: Path, args: list[str], n: int) -> dict:
    proc = lfe(ws, args, env={"LFE_KILL_IN_COMMIT": str(n)})
    out, _ = proc.communicate()
    started = [ln.split("] ", 1)[-1].strip() for ln in out.splitlines() if " started" in ln]
    return {"killed": proc.returncode == -signal.SIGKILL, "in_progress": started[-1] if started else None}


def tables(ws: Path) -> dict[str, list[tuple]]:
    """Every table's rows, timing columns dropped, run id and workspace path normalised, sorted."""
    con = duckdb.connect(str(ws / "lfe.duckdb"), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'main' AND table_type = 'BASE TABLE'").fetchall()]
        run_ids = [r[0] for r in con.execute("SELECT run_id FROM runs").fetchall()]
        out = {}
        for name in sorted(names):
            cur = con.execute(f'SELECT * FROM "{name}"')
            cols = [d[0] for d in cur.description]
            keep = [i for i, c in enumerate(cols) if c not in TIMING]
            rows = []
            for row in cur.fetchall():
                values = []
                for i in keep:
                    v = row[i]
                    if isinstance(v, list):  # embedding vectors: hashable, to count duplicates
                        v = tuple(v)
                    if isinstance(v, str):
                        v = v.replace(str(ws), "<ws>")
                        for rid in run_ids:
                            v = v.replace(rid, "<run>")
                    values.append(v)
                rows.append(tuple(values))
            out[name] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


def orphans(ws: Path) -> int:
    """Evaluations of a (cycle, split) whose stage has no done-marker: what a half-written stage leaves."""
    con = duckdb.connect(str(ws / "lfe.duckdb"), read_only=True)
    try:
        return con.execute("""SELECT count(*) FROM evaluations e WHERE NOT EXISTS (
            SELECT 1 FROM stages s WHERE s.run_id = e.run_id AND s.cycle = e.cycle
            AND s.stage = 'eval_' || e.split)""").fetchone()[0]
    finally:
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="smoke")
    ap.add_argument("--cycles", type=int, default=1)
    ap.add_argument("--commit", type=int, default=3, help="kill inside this process's N-th transaction")
    ap.add_argument("--instructor", default="bundled",
                    help="instructor GGUF: 'bundled' (the 1.5B, whose samples pass, so a training stage "
                         "runs to be killed in) or a path; 'preset' keeps the preset's")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    run_args = ["--preset", args.preset, "--cycles", str(args.cycles)]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lfe-crash-") as tmp:
        ref, crashed = Path(tmp, "uninterrupted"), Path(tmp, "killed")
        if args.instructor != "preset":
            from lfe_local.config import bundled_instructor

            model = bundled_instructor() if args.instructor == "bundled" else args.instructor
            for ws in (ref, crashed):
                ws.mkdir()
                (ws / "lfe.toml").write_text(f'[instructor]\nmodel = "{model}"\n')
        run_to_end(ref, run_args)
        kills = [{"point": f"inside commit {args.commit}", **kill_in_commit(crashed, run_args, args.commit)}]
        if not kills[0]["killed"]:
            raise SystemExit(f"no kill inside commit {args.commit}: the run made fewer transactions")
        for name, trigger, delay in KILLS:
            kills.append({"point": name, **kill_when(crashed, run_args, trigger, delay)})
            if not kills[-1]["killed"]:  # the run finished first: a later `lfe run` would start anew
                raise SystemExit(f"no kill {name}: '{trigger}' never came, or the run ended first ({kills})")
        run_to_end(crashed, run_args)
        want, got = tables(ref), tables(crashed)
        verdicts = {}
        for name in sorted(set(want) | set(got)):
            a, b = want.get(name, []), got.get(name, [])
            verdicts[name] = {"rows": len(a), "same": a == b, "duplicates": len(b) - len(set(b)),
                              "missing": len(set(a) - set(b)), "extra": len(set(b) - set(a))}
        result = {"preset": args.preset, "cycles": args.cycles, "kills": kills, "orphan_evaluations": orphans(crashed),
                  "tables": verdicts, "seconds": round(time.perf_counter() - t0, 1),
                  "ok": all(v["same"] for v in verdicts.values()) and all(k["killed"] for k in kills)
                  and orphans(crashed) == 0}
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
