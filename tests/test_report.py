"""lfe report on a real DuckDB file: the HTML opens offline, and every plot carries the numbers
of the database (checked here against SQL on the same file, not against the report's own code)."""

from __future__ import annotations

import datetime as dt
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lfe_local.cli import app
from lfe_local.errors import LfeError
from lfe_local.report import build_report
from lfe_local.store import DB_NAME, Store

T0 = dt.datetime(2024, 5, 6, 7, 8, 9)


def evaluation(cycle, split, item, correct):
    return {"run_id": "r1", "cycle": cycle, "task": "arith", "split": split, "item_id": item, "model": "m",
            "prompt": "p", "response": "r", "gold": "1", "correct": correct, "prompt_tokens": 1,
            "completion_tokens": 1, "latency_s": 0.1}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    with Store(tmp_path / DB_NAME) as s:
        s.create_run({"run_id": "r1", "task": "arith", "strategy": "le", "n_cycles": 1, "fingerprint": "f",
                      "config_json": "{}", "target_model": "t", "instructor_model": "i", "task_version": 2})
        with s.transaction():
            s.insert("evaluations", [evaluation(c, sp, f"{sp}{i}", i < right)
                                     for c, sp, right in ((0, "val", 1), (0, "test", 2), (1, "val", 5), (1, "test", 7))
                                     for i in range(20)])
            s.insert("error_clusters", [{"run_id": "r1", "cycle": 1, "task": "arith", "item_id": f"t{i}", "strategy": "le",
                                         "error_type": "slip", "cluster": "arithmetic slip" if i < 3 else "wrong operation"}
                                        for i in range(5)])
            base = {"run_id": "r1", "cycle": 1, "strategy": "le", "source_item_id": "t0", "question": "q",
                    "solution": "s", "answer": "1"}
            s.insert("samples", [{**base, "sample_id": "a", "kind": "corrected", "status": "accepted"},
                                 {**base, "sample_id": "b", "kind": "new", "status": "rejected", "reason": "bad_equation"},
                                 {**base, "sample_id": "c", "kind": "new", "generator_id": "g", "status": "accepted"}])
            s.insert("train_steps", [{"run_id": "r1", "cycle": 1, "step": k, "epoch": 1.0, "loss": 2.0 / k,
                                      "learning_rate": 1e-3, "tokens": 100, "seconds": 0.5} for k in range(1, 4)])
            for k, (cycle, stage) in enumerate(((0, "eval_val"), (0, "eval_test"), (1, "instruct"), (1, "train"))):
                s.mark_stage("r1", cycle, stage, T0 + dt.timedelta(minutes=k), 10.0 + k, "done")
    return tmp_path


class Figures(HTMLParser):
    """Each <figure>'s data-numbers, and anything that would need the network."""

    def __init__(self):
        super().__init__()
        self.figures: dict[str, list[dict]] = {}
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "figure":
            self.figures[a["id"].removeprefix("plot-")] = json.loads(a["data-numbers"])
        if tag in ("script", "link", "img", "iframe") or (tag == "image" and "href" in a):
            self.external.append(tag)


def sql(ws: Path, query: str) -> list[tuple]:
    with Store(ws / DB_NAME, read_only=True) as s:
        return s.con.execute(query).fetchall()


def test_every_plot_carries_the_databases_numbers(workspace, tmp_path):
    out, from_snapshot = build_report(workspace, out=tmp_path / "r.html", png_dir=tmp_path / "png")
    assert not from_snapshot
    parser = Figures()
    parser.feed(out.read_text())
    assert parser.external == []  # self-contained: no scripts, styles, images or frames from elsewhere
    figs = parser.figures
    assert set(figs) == {"accuracy", "error_types", "funnel", "loss", "stages"}
    acc = {(r["cycle"], r["split"]): r for r in figs["accuracy"]}
    for cycle, split, n, accuracy in sql(workspace, "SELECT cycle, split, n_items, accuracy FROM cycle_metrics"):
        r = acc.pop((cycle, split))
        assert (r["n_items"], r["accuracy"]) == (n, round(accuracy, 4))
        assert r["ci_low"] <= r["accuracy"] <= r["ci_high"] and r["ci_high"] > r["ci_low"]
    assert acc == {}
    assert {(r["cluster"], r["n_errors"]) for r in figs["error_types"]} == set(
        sql(workspace, "SELECT cluster, n_errors FROM error_types"))
    assert sorted((r["origin"], r["status"], r["n"]) for r in figs["funnel"]) == sorted(
        sql(workspace, "SELECT origin, status, sum(n)::INTEGER FROM sample_funnel GROUP BY ALL"))
    assert [(r["step"], r["loss"]) for r in figs["loss"]] == [
        (k, round(loss, 5)) for k, loss in sql(workspace, "SELECT step, loss FROM train_steps ORDER BY step")]
    assert [(r["stage"], r["seconds"]) for r in figs["stages"]] == sql(
        workspace, "SELECT stage, seconds FROM stage_times ORDER BY started_at")
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == [
        "accuracy.png", "error_types.png", "funnel.png", "loss.png", "stages.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in (tmp_path / "png").iterdir())


def test_report_cli_and_its_errors(workspace, tmp_path):
    result = CliRunner().invoke(app, ["report", "-w", str(workspace)])
    assert result.exit_code == 0 and (workspace / "report-r1.html").exists()
    result = CliRunner().invoke(app, ["report", "-w", str(workspace), "--run", "nope"])
    assert result.exit_code == 2 and result.stderr.strip() == f"error: {workspace}: no run nope"
    with pytest.raises(LfeError, match="no such database"):
        build_report(tmp_path / "empty")
