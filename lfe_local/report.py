"""`lfe report`: one self-contained HTML file of a run — accuracy per cycle and split with 95%
bootstrap intervals, error types per cycle, the sample funnel, training loss, stage times and,
for a run made by `lfe compare`, the strategies side by side.

Plots are drawn by matplotlib as inline SVG (no script, no CDN: the file opens offline). Each
figure carries the numbers it plots twice: as a table under it, for a reader, and as JSON in its
`data-numbers` attribute, for a program (the tests check them against the database).
"""

from __future__ import annotations

import html
import io
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from .errors import LfeError
from .stats import accuracy_interval
from .store import DB_NAME, open_reader

SPLITS = ("train", "val", "test")


def build_report(workspace: Path, *, run_id: str | None = None, out: Path | None = None,
                 png_dir: Path | None = None) -> tuple[Path, bool]:
    """Write the report; returns its path and whether it was read from the run's snapshot."""
    store, from_snapshot = open_reader(Path(workspace) / DB_NAME)
    with store:
        run = store.run(run_id) if run_id else store.latest_run()
        if run is None:
            raise LfeError(f"{workspace}: no run {run_id}" if run_id else f"{workspace}: no run to report")
        data = store.report_data(run["run_id"])
    figures = [accuracy_figure(data["evaluations"]), error_types_figure(data["error_types"]),
               funnel_figure(data["funnel"]), loss_figure(data["loss"]), stages_figure(data["stages"])]
    if data["comparison"]:
        figures.append(comparison_figure(data["comparison"]))
    out = Path(out) if out else Path(workspace) / f"report-{run['run_id']}.html"
    page = _page(run, [f for f in figures if f is not None], from_snapshot)
    _write_atomically(out, page.encode())
    if png_dir is not None:
        Path(png_dir).mkdir(parents=True, exist_ok=True)
        for fig in figures:
            if fig is not None:
                _write_atomically(Path(png_dir) / f"{fig['name']}.png", fig["png"]())
    return out, from_snapshot


# -- the numbers of each figure -------------------------------------------------------------------

def accuracy_numbers(evaluations: list[dict]) -> list[dict]:
    by: dict[tuple[int, str], list[bool]] = defaultdict(list)
    for e in evaluations:
        by[(e["cycle"], e["split"])].append(bool(e["correct"]))
    rows = []
    for (cycle, split), correct in sorted(by.items()):
        acc, low, high = accuracy_interval(correct)
        rows.append({"cycle": cycle, "split": split, "n_items": len(correct), "accuracy": round(acc, 4),
                     "ci_low": round(low, 4), "ci_high": round(high, 4)})
    return rows


def _figure(name: str, title: str, numbers: list[dict], draw) -> dict[str, Any]:
    """A figure: its numbers, its SVG, and how to make its PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt

    def render(fmt: str) -> bytes:
        fig, ax = plt.subplots(figsize=(7.5, 3.6))
        try:
            draw(ax)
            ax.set_title(title, fontsize=11)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, metadata={"Date": None} if fmt == "svg" else None)
            return buf.getvalue()
        finally:
            plt.close(fig)

    svg = render("svg").decode()
    svg = svg[svg.index("<svg"):]  # the element alone, without the XML prolog and DOCTYPE
    return {"name": name, "title": title, "numbers": numbers, "svg": svg, "png": lambda: render("png")}


def accuracy_figure(evaluations: list[dict]) -> dict | None:
    numbers = accuracy_numbers(evaluations)
    if not numbers:
        return None

    def draw(ax):
        for split in SPLITS:
            pts = [r for r in numbers if r["split"] == split]
            if pts:
                xs = [r["cycle"] for r in pts]
                ys = [100 * r["accuracy"] for r in pts]
                err = [[100 * (r["accuracy"] - r["ci_low"]) for r in pts], [100 * (r["ci_high"] - r["accuracy"]) for r in pts]]
                ax.errorbar(xs, ys, yerr=err, marker="o", capsize=4, label=f"{split} ({pts[0]['n_items']} items)")
        ax.set_xlabel("cycle")
        ax.set_ylabel("accuracy, % (95% bootstrap)")
        ax.set_xticks(sorted({r["cycle"] for r in numbers}))
        ax.legend(fontsize=8)

    return _figure("accuracy", "Accuracy per cycle and split", numbers, draw)


def error_types_figure(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    numbers = [{"cycle": r["cycle"], "cluster": r["cluster"], "n_errors": r["n_errors"]} for r in rows]

    def draw(ax):
        cycles = sorted({r["cycle"] for r in numbers})
        bottom = dict.fromkeys(cycles, 0)
        for cluster in dict.fromkeys(r["cluster"] for r in numbers):
            ys = [next((r["n_errors"] for r in numbers if r["cycle"] == c and r["cluster"] == cluster), 0) for c in cycles]
            ax.bar([str(c) for c in cycles], ys, bottom=[bottom[c] for c in cycles], label=cluster[:40])
            for c, y in zip(cycles, ys, strict=True):
                bottom[c] += y
        ax.set_xlabel("cycle (errors of the previous cycle's target)")
        ax.set_ylabel("errors analysed")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))

    return _figure("error_types", "Error types per cycle", numbers, draw)


def funnel_figure(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    numbers = [{"cycle": r["cycle"], "origin": r["origin"], "status": r["status"], "n": r["n"]} for r in rows]

    def draw(ax):
        keys = sorted({(r["cycle"], r["origin"]) for r in numbers})
        labels = [f"c{c} {o}" for c, o in keys]
        width = 0.27
        for k, status in enumerate(("generated", "accepted", "rejected")):
            ys = [sum(r["n"] for r in numbers if (r["cycle"], r["origin"]) == key and r["status"] == status) for key in keys]
            ax.bar([i + (k - 1) * width for i in range(len(keys))], ys, width, label=status)
        ax.set_xticks(range(len(keys)), labels, fontsize=8)
        ax.set_ylabel("samples")
        ax.legend(fontsize=8)

    return _figure("funnel", "Sample funnel: generated, accepted, rejected", numbers, draw)


def loss_figure(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    numbers = [{"cycle": r["cycle"], "step": r["step"], "loss": round(r["loss"], 5)} for r in rows]

    def draw(ax):
        for cycle in sorted({r["cycle"] for r in numbers}):
            pts = [r for r in numbers if r["cycle"] == cycle]
            ax.plot([r["step"] for r in pts], [r["loss"] for r in pts], label=f"cycle {cycle}")
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=8)

    return _figure("loss", "Training loss", numbers, draw)


def stages_figure(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    numbers = [{"cycle": r["cycle"], "stage": r["stage"], "seconds": round(r["seconds"], 2)} for r in rows]

    def draw(ax):
        labels = [f"{r['cycle']}:{r['stage']}" for r in numbers]
        ax.barh(labels, [r["seconds"] for r in numbers])
        ax.invert_yaxis()  # in the order they ran
        ax.set_xlabel("seconds")
        ax.tick_params(axis="y", labelsize=7)

    return _figure("stages", "Stage times", numbers, draw)


def comparison_figure(rows: list[dict]) -> dict | None:
    numbers = [{"strategy": r["strategy"], "cycle": r["cycle"], "n_seeds": r["n_seeds"],
                "delta": round(r["delta"], 4), "ci_low": round(r["ci_low"], 4), "ci_high": round(r["ci_high"], 4)}
               for r in rows if r["delta"] is not None]
    if not numbers:
        return None

    def draw(ax):
        strategies = list(dict.fromkeys(r["strategy"] for r in numbers))
        for k, strategy in enumerate(strategies):
            pts = [r for r in numbers if r["strategy"] == strategy]
            xs = [r["cycle"] + 0.08 * (k - len(strategies) / 2) for r in pts]
            ys = [100 * r["delta"] for r in pts]
            err = [[100 * (r["delta"] - r["ci_low"]) for r in pts], [100 * (r["ci_high"] - r["delta"]) for r in pts]]
            ax.errorbar(xs, ys, yerr=err, marker="o", capsize=4, linestyle="none", label=strategy)
        ax.axhline(0, color="grey", linewidth=0.8)
        ax.set_xlabel("cycle")
        ax.set_ylabel("test change vs cycle 0, points")
        ax.legend(fontsize=8)

    return _figure("comparison", "Strategies side by side (lfe compare): test change with 95% paired bootstrap",
                   numbers, draw)


# -- the page -----------------------------------------------------------------------------------

def _table(numbers: list[dict]) -> str:
    cols = list(numbers[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>" for r in numbers)
    return f"<details><summary>numbers</summary><table><tr>{head}</tr>{body}</table></details>"


def _page(run: dict, figures: list[dict], from_snapshot: bool) -> str:
    e = html.escape
    facts = [("run", run["run_id"]), ("task", f"{run['task']} (version {run['task_version']})"),
             ("strategy", run["strategy"]), ("cycles", run["n_cycles"]), ("status", run["status"]),
             ("best cycle (val)", run["best_cycle"]), ("target", run["target_model"]),
             ("instructor", run["instructor_model"]), ("lfe-local", run["lfe_version"])]
    if run["test_delta"] is not None:
        facts.append(("test change, best cycle vs 0",
                      f"{100 * run['test_delta']:+.1f} points [{100 * run['test_ci_low']:+.1f}, "
                      f"{100 * run['test_ci_high']:+.1f}] on {run['test_items']} items"))
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts)
    note = "<p><em>Read from lfe.snapshot.duckdb while the run was going: as of its last finished stage.</em></p>" \
        if from_snapshot else ""
    body = "".join(
        f"<figure id=\"plot-{f['name']}\" data-numbers=\"{e(json.dumps(f['numbers']))}\">"
        f"<figcaption>{e(f['title'])}</figcaption>{f['svg']}{_table(f['numbers'])}</figure>"
        for f in figures)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>lfe report {e(run['run_id'])}</title>"
            f"<style>{_CSS}</style></head><body><h1>lfe-local report</h1>{note}<table class=\"facts\">{rows}</table>"
            f"{body}</body></html>\n")


_CSS = ("body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
        "figure{margin:2em 0}figcaption{font-weight:bold;margin-bottom:.5em}"
        "table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}"
        "svg{max-width:100%;height:auto}")


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as err:
        raise LfeError(f"{path}: cannot write ({err.strerror or err})") from None
    finally:
        tmp.unlink(missing_ok=True)
