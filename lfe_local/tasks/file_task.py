"""The base of every task that reads data files: the options they all take, the seeded
train/val/test split, and the items `lfe score` scores against. A subclass says how one record
becomes an Item (`parse`) and how the target is asked and judged."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from lfe_local.errors import LfeError
from lfe_local.tasks.base import Item
from lfe_local.tasks.paper_scoring import check_scorer
from lfe_local.tasks.records import Record, read_records, split_rows


class FileTask:
    name = "file"
    # Code benchmarks name their items (HumanEval/0, MBPP 601) and users quote those ids; other
    # tasks number them per split ("gsm8k-test-0007": the item's position in its file).
    own_ids = False

    def __init__(self, path: str | Path | None = None, test_path: str | Path | None = None,
                 val_path: str | Path | None = None, val_size: int = 100, test_size: int = 200,
                 limit_train: int | None = None, limit_test: int | None = None, seed: int = 1234,
                 scorer: str = "strict"):
        self.scorer = check_scorer(scorer)
        self.path = Path(path) if path is not None else None
        self.test_path = Path(test_path) if test_path is not None else None
        self.val_path = Path(val_path) if val_path is not None else None
        self.val_size, self.test_size = val_size, test_size
        self.limit_train, self.limit_test = limit_train, limit_test
        self.seed = seed

    def default_path(self) -> Path | None:
        """The bundled data file, None where the task has none."""
        return None

    def parse(self, rec: Record) -> Item | None:
        """One record as an Item with the file's own id (or its line number) and split "all";
        None skips a record the task cannot use. Raises rec.error(...) for a bad one."""
        raise NotImplementedError

    def records(self, path: Path) -> list[Record]:
        return read_records(path)

    def read(self, path: Path) -> list[Item]:
        items, seen = [], {}
        for rec in self.records(Path(path)):
            item = self.parse(rec)
            if item is None:
                continue
            if item.item_id in seen:
                field = next((f for f in ("id", "task_id") if rec.data.get(f) is not None), "id")
                raise LfeError(f"{rec.where}: field '{field}' repeats {item.item_id!r} of {rec.unit} {seen[item.item_id]}")
            seen[item.item_id] = rec.number
            items.append(item)
        return items

    def items_from(self, path: Path | None) -> list[Item]:
        path = path or self.default_path()
        if path is None:
            raise LfeError(f"task {self.name} has no bundled data: pass --data FILE")
        return self.read(path)

    def load(self) -> dict[str, list[Item]]:
        main = self.path or self.default_path()
        if main is None:
            raise LfeError(f"task {self.name} needs a data file: set task.path")
        files = {"main": self.read(main)}
        for name, path in (("test", self.test_path), ("val", self.val_path)):
            if path is not None:
                files[name] = self.read(path)
        # Positions within each item's own file: the items are the same objects after splitting.
        position = {id(it): i for items in files.values() for i, it in enumerate(items)}
        splits = split_rows(files["main"], lambda it: it.question, test_rows=files.get("test"),
                            val_rows=files.get("val"), val_size=self.val_size, test_size=self.test_size,
                            seed=self.seed, limit_train=self.limit_train, limit_test=self.limit_test)
        seen: set[str] = set()
        out: dict[str, list[Item]] = {}
        for split, items in splits.items():
            out[split] = []
            for it in items:
                if self.own_ids:  # a test or val file may reuse one of the main file's ids
                    item_id = it.item_id if it.item_id not in seen else f"{split}:{it.item_id}"
                else:
                    item_id = f"{self.name}-{split}-{position[id(it)]:04d}"
                seen.add(item_id)
                out[split].append(replace(it, item_id=item_id, split=split))
        return out
