"""What every stage is handed: the run (config, task, store, run id), its items, and the models it
may load — the target for a cycle, the instructor for a purpose, the embedder — each loaded on
first use and kept only as long as it should be. A stage returns a StageOutput; only the loop
writes it (one transaction, with the stage's done-marker)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import LfeError
from ..store import Store
from ..tasks.base import Item
from ..tui import Reporter
from .crashpoint import maybe_kill
from .embeddings import Embeddings


class StopRequested(Exception):
    """Ctrl-C was pressed once: the run stops at the next item boundary (see stopping.py)."""


@dataclass
class StageOutput:
    summary: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table -> rows to insert
    sample_verdicts: list[dict[str, Any]] = field(default_factory=list)  # verify: each sample's status
    generator_verdicts: list[dict[str, Any]] = field(default_factory=list)  # verify: each generator's
    embeddings: list[dict[str, Any]] = field(default_factory=list)  # item_embeddings computed this stage


class Context:
    def __init__(self, workspace: Path, cfg: Config, task, store: Store, run_id: str, reporter: Reporter,
                 stop=None, splits: dict[str, list[Item]] | None = None):
        self.workspace, self.cfg, self.task, self.store, self.run_id = workspace, cfg, task, store, run_id
        self.rep = reporter
        self.stop = stop  # a stopping.StopFlag, or None: Ctrl-C is not watched
        self.calls: list[dict[str, Any]] = []  # the running stage's instructor calls (RecordedEngine's sink)
        self.stage: tuple[int, str] = (0, "")  # the running stage, and how many of its items are done
        self.items_done = 0
        self.embeddings = Embeddings(self)
        self._splits = splits  # the task's items, loaded on first use when not given
        self._engine = None  # ((cycle, adapter path), target engine) kept across a cycle's evaluations
        self._embedder = None

    # -- items -----------------------------------------------------------------------------------
    @property
    def splits(self) -> dict[str, list[Item]]:
        if self._splits is None:
            self._splits = self.task.load()
        return self._splits

    def item_map(self) -> dict[str, Item]:
        return {it.item_id: it for items in self.splits.values() for it in items}

    def rng(self, cycle: int) -> random.Random:
        """The cycle's seeded choices (which errors, which train items, which instances to check)."""
        return random.Random(self.cfg.run.seed * 1000 + cycle)

    def begin(self, cycle: int, stage: str) -> None:
        """A stage starts: its instructor calls and its progress count from zero."""
        self.stage, self.items_done, self.calls = (cycle, stage), 0, []

    def advance(self, n: int = 1) -> None:
        """Progress of the running stage; where a stop was asked for (Ctrl-C once), the stage ends
        here, after the item that just finished."""
        self.rep.advance(n)
        self.items_done += 1
        maybe_kill(*self.stage, self.items_done)
        if self.stop is not None and self.stop.requested:
            raise StopRequested

    # -- the target --------------------------------------------------------------------------------
    def hf_dir(self) -> Path:
        from ..engines.hf_model import ensure_hf

        return ensure_hf(self.cfg.target.model, log=self.rep.message)

    def device(self) -> str:
        from ..engines.hf_model import resolve_device

        return resolve_device(self.cfg.target.device)

    def precision(self) -> str:
        """The dtype the target evaluates in on this machine: target.bf16 resolved."""
        from ..hardware import use_bf16

        return "bfloat16" if use_bf16(self.cfg.target.bf16, self.device()) else "float32"

    def adapter_path(self, cycle: int) -> str | None:
        if cycle == 0:
            return None
        row = self.store.adapter(self.run_id, cycle)
        if row is None:
            raise LfeError(f"run {self.run_id}: cycle {cycle} has no train stage result")
        return row["path"]

    def target(self, cycle: int):
        """The target with cycle `cycle`'s adapter, loaded once for all of the cycle's evaluations."""
        tcfg = self.cfg.target
        adapter = self.adapter_path(cycle)
        if self._engine is None or self._engine[0] != (cycle, adapter):
            self.drop_target()
            if tcfg.engine == "vllm":
                from ..engines.vllm_engine import VllmEngine

                engine = VllmEngine(str(self.hf_dir()), adapter=adapter, dtype=self.precision(),
                                    seed=self.cfg.run.seed)
            else:
                from ..engines.transformers_engine import TransformersEngine

                engine = TransformersEngine(self.hf_dir(), device=self.device(), adapter=adapter,
                                            bf16=tcfg.bf16, batch_size=tcfg.batch_size)
            self._engine = ((cycle, adapter), engine)
        return self._engine[1]

    def use_target(self, cycle: int, adapter: str | None, engine) -> None:
        """Put an already made target engine in place (tests script the target this way)."""
        self.drop_target()
        self._engine = ((cycle, adapter), engine)

    def drop_target(self) -> None:
        """Free the target's memory (before the instructor or training needs it)."""
        if self._engine is not None:
            self._engine[1].close()
            self._engine = None

    # -- the instructor and the embedder -----------------------------------------------------------
    def instructor(self, purpose: str):
        """The configured instructor engine, every call of it recorded for the stage's `calls` rows."""
        from ..engines.recorded import RecordedEngine

        icfg = self.cfg.instructor
        if icfg.engine == "openai":
            from ..engines.openai_engine import OpenAIEngine

            engine = OpenAIEngine(icfg.base_url, icfg.model, api_key_env=icfg.api_key_env,
                                  concurrency=icfg.concurrency, json_mode=icfg.json_mode,
                                  timeout_s=icfg.request_timeout_s)
        elif icfg.engine == "vllm":
            from ..engines.vllm_engine import VllmEngine

            engine = VllmEngine(icfg.model, max_model_len=icfg.n_ctx, seed=self.cfg.run.seed,
                                concurrency=icfg.concurrency)
        else:
            from ..engines.llama_cpp_engine import LlamaCppEngine

            engine = LlamaCppEngine(icfg.model, n_ctx=icfg.n_ctx, threads=icfg.threads, seed=self.cfg.run.seed)
        recorded = RecordedEngine(engine, self.calls, backend=icfg.engine, model=icfg.model,
                                  endpoint=icfg.base_url if icfg.engine == "openai" else "in-process")
        recorded.purpose = purpose
        return recorded

    def embedder(self):
        from ..engines.embedder import Embedder

        if self._embedder is None:
            self._embedder = Embedder(self.cfg.embed.model, batch_size=self.cfg.embed.batch_size)
        return self._embedder

    def close(self) -> None:
        self.drop_target()
        self._embedder = None
