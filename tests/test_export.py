"""lfe export on a real DuckDB file without a model: the dataset's chat lines and sidecar, and
each refusal a one-line error that leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lfe_local.config import Config
from lfe_local.errors import LfeError
from lfe_local.export import export
from lfe_local.store import DB_NAME, Store
from lfe_local.tasks.arith import ArithTask

CFG = Config.model_validate({"task": {"name": "arith", "train_size": 6, "val_size": 2, "test_size": 2}})


def make_run(ws: Path, adapter: str | None = None) -> None:
    with Store(ws / DB_NAME) as s:
        s.create_run({"run_id": "r1", "task": "arith", "strategy": "le", "n_cycles": 1, "fingerprint": "f",
                      "config_json": CFG.model_dump_json(), "target_model": "t", "instructor_model": "i",
                      "task_version": 2})
        base = {"run_id": "r1", "cycle": 1, "strategy": "le", "kind": "new", "source_item_id": "arith-train-0001",
                "solution": "s", "answer": "7", "program": "print(3 + 4)", "program_output": "7"}
        with s.transaction():
            s.insert("samples", [
                {**base, "sample_id": "a", "question": "Mia has 3 apples and buys 4. How many?", "status": "accepted",
                 "training_text": "3 + 4 = 7. The answer is 7.", "detail": "answer and equations agree"},
                {**base, "sample_id": "b", "question": "Q?", "status": "rejected", "reason": "bad_equation"}])
            s.insert("adapters", [{"run_id": "r1", "cycle": 1, "path": adapter, "parent": None, "n_samples": 1,
                                   "n_steps": 0 if adapter is None else 1, "final_loss": None, "seconds": 0.0}])


def test_the_dataset_is_chat_messages_with_a_sidecar(tmp_path):
    make_run(tmp_path)
    done = export(tmp_path, "dataset", tmp_path / "out")
    assert (done.run_id, done.cycle, done.n_samples) == ("r1", None, 1)
    (line,) = [json.loads(x) for x in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    question = "Mia has 3 apples and buys 4. How many?"
    assert line == {"messages": ArithTask().messages(question) + [
        {"role": "assistant", "content": "3 + 4 = 7. The answer is 7."}]}
    (side,) = [json.loads(x) for x in (tmp_path / "out" / "samples.jsonl").read_text().splitlines()]
    assert side["line"] == 1 and side["sample_id"] == "a" and side["program_output"] == "7"
    assert side["detail"] == "answer and equations agree"
    meta = json.loads((tmp_path / "out" / "export.json").read_text())
    assert meta["run_id"] == "r1" and meta["task_version"] == 2 and meta["n_samples"] == 1


@pytest.mark.parametrize(("what", "kwargs", "message"), [
    ("weights", {}, "--what: must be one of dataset, adapter, merged"),
    ("adapter", {}, "no cycle trained an adapter"),
    ("adapter", {"cycle": 1}, "cycle 1: no trained adapter"),
    ("dataset", {"cycle": 5}, "--cycle 5: run r1 has cycles 0..1"),
    ("dataset", {"run_id": "nope"}, "no run nope"),
])
def test_what_cannot_be_exported_is_a_one_line_error_and_leaves_nothing(tmp_path, what, kwargs, message):
    make_run(tmp_path)
    with pytest.raises(LfeError, match=message) as err:
        export(tmp_path, what, tmp_path / "out", **kwargs)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial*"))


def test_an_adapter_folder_that_went_missing_is_named(tmp_path):
    make_run(tmp_path, adapter=str(tmp_path / "gone"))
    with pytest.raises(LfeError, match=r"no trained adapter to export \(.*gone is missing\)"):
        export(tmp_path, "adapter", tmp_path / "out")


def test_an_export_never_overwrites(tmp_path):
    make_run(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    with pytest.raises(LfeError, match="already exists and is not an empty folder"):
        export(tmp_path, "dataset", tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["mine.txt"]
    (tmp_path / "empty").mkdir()
    assert export(tmp_path, "dataset", tmp_path / "empty").n_samples == 1  # an empty folder is fine


def test_no_database_is_named(tmp_path):
    with pytest.raises(LfeError, match="no such database"):
        export(tmp_path, "dataset", tmp_path / "out")
