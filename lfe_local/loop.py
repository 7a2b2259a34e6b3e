"""The loop: the only module that knows what a cycle is.

cycle 0:  prepare -> eval_train -> eval_val -> eval_test            (the base target)
cycle c:  instruct -> verify -> train -> eval_val -> eval_test [-> eval_train, if a cycle follows]

`instruct` makes the cycle's candidate samples by the run's strategy: le / lec / both (instructor
calls about the previous cycle's train errors), aug (instructor calls about random train items)
or sft (gold solutions of train items, no instructor). Every strategy then goes through the same
verify, train and eval stages.

Each stage writes its rows and its marker in `stages` in one transaction, so a rerun of `lfe run`
skips every finished stage and continues with the first unfinished one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import __version__, offline  # noqa: F401
from .config import Config
from .errors import LfeError
from .store import DB_NAME, Store
from .tasks import make_task, scorer_of
from .tasks.base import Item, Sample, Verdict
from .tui import NullReporter, Reporter


def plan(n_cycles: int) -> list[tuple[int, str]]:
    stages = [(0, "prepare"), (0, "eval_train"), (0, "eval_val"), (0, "eval_test")]
    for c in range(1, n_cycles + 1):
        stages += [(c, "instruct"), (c, "verify"), (c, "train"), (c, "eval_val"), (c, "eval_test")]
        if c < n_cycles:
            stages.append((c, "eval_train"))  # the next cycle's errors come from here
    return stages


def _flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_differences(old_json: str, cfg: Config) -> list[str]:
    """Keys whose value differs between a stored run's config and `cfg`. run.cycles may change
    (more cycles continue a run), and keys a newer lfe-local added are not differences."""
    old, new = _flatten(json.loads(old_json)), _flatten(cfg.model_dump())
    # A config without task.scorer scores strictly: switching to "paper" mid-run is a difference.
    for flat in (old, new):
        flat.setdefault("task.scorer", scorer_of({}))
    return sorted(k for k in old if k != "run.cycles" and k in new and old[k] != new[k])


def _digest(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def base_key(cfg: Config, split: str, task_version: int | None, lfe_version: str | None,
             precision: str | None) -> str:
    """What a cycle-0 evaluation of `split` depends on: runs with the same key share it. The task's
    version (its prompt and scorer) and lfe-local's (its generation code) are part of it: a change
    to either must never reuse stale results. So is the precision the target resolved to (bfloat16
    or float32, never "auto"): bf16 changes greedy answers, and `target.bf16 = "auto"` resolves
    differently on another machine reading the same database."""
    # The scorer on its own key, so that leaving it out and writing the default are the same key.
    target = {k: v for k, v in cfg.target.model_dump().items() if k != "bf16"}
    data = {"task": {k: v for k, v in cfg.task.items() if k != "scorer"}, "scorer": scorer_of(cfg.task),
            "task_version": task_version, "lfe_version": lfe_version, "target": target, "precision": precision}
    if split == "train":
        data["run"] = {"seed": cfg.run.seed, "train_eval_size": cfg.run.train_eval_size}
    return _digest(data)


def fingerprint(cfg: Config, ignore: tuple[str, ...] = ("cycles",)) -> str:
    """A hash of the config without the `run` keys in `ignore`. By default only run.cycles is
    left out: more cycles on the same run is a continuation, not a new run."""
    data = cfg.model_dump()
    for key in ignore:
        data["run"].pop(key)
    if data["task"].get("scorer") == scorer_of({}):
        data["task"].pop("scorer")  # the default written out is the default left out
    return _digest(data)


@dataclass
class RunSummary:
    run_id: str
    db_path: Path
    best_cycle: int | None
    accuracies: list[dict[str, Any]]  # cycle, split, n_items, accuracy
    seconds: float
    stopped_after: str | None = None
    test_gains: dict[int, dict[str, Any]] | None = None  # each cycle's test accuracy vs cycle 0 (see _test_gain)


class StopRequested(Exception):
    pass


class Loop:
    def __init__(self, workspace: Path, cfg: Config, reporter: Reporter | None = None,
                 stop_after: str | None = None, new_run: bool = False, run_id: str | None = None):
        self.workspace = workspace
        self.wanted_run_id = run_id  # `lfe compare` names its runs; None = the latest run or a new one
        self.cfg = cfg
        self.rep = reporter or NullReporter()
        self.stop_after = stop_after
        self.new_run = new_run
        self.task = make_task(cfg.task["name"], {k: v for k, v in cfg.task.items() if k != "name"}, workspace)
        self._engine = None  # (adapter path, TransformersEngine) kept across a cycle's evaluations
        self._calls: list[dict[str, Any]] = []  # the running stage's instructor calls (RecordedEngine's sink)
        self._splits: dict[str, list[Item]] | None = None
        self._embedder = None
        self._new_embeddings: list[dict] = []  # computed this stage, not yet stored

    # -- entry point -------------------------------------------------------------------------
    def run(self) -> RunSummary:
        t0 = time.perf_counter()
        self.workspace.mkdir(parents=True, exist_ok=True)
        _ = self.splits  # a bad dataset row fails here, before any run row is written
        if self.cfg.train.backend == "unsloth":
            from .train.unsloth_backend import import_unsloth

            import_unsloth()  # its patches must precede the first model load (evaluation's)
        self.store = Store(self.workspace / DB_NAME)
        try:
            self.run_id = self._open_run()
            self.rep.run_started(self.run_id, self.cfg.run.cycles, self.task.name, str(self.workspace))
            self._publish()
            done = self.store.done_stages(self.run_id)
            stopped = None
            for cycle, stage in plan(self.cfg.run.cycles):
                if (cycle, stage) in done:
                    self.rep.stage_skipped(cycle, stage, "done earlier")
                    continue
                self._run_stage(cycle, stage)
                if self.stop_after in (stage, f"{cycle}:{stage}"):
                    stopped = f"{cycle}:{stage}"
                    break
            best = self._best_cycle()
            gains = {c: g for c in range(1, self.cfg.run.cycles + 1) if (g := self._test_gain(c)) is not None}
            if stopped is None:
                self.store.finish_run(self.run_id, best, gains.get(best))
                self._publish()
            self.rep.run_finished(time.perf_counter() - t0, best)
            return RunSummary(self.run_id, self.store.path, best, self.store.accuracies(self.run_id),
                              time.perf_counter() - t0, stopped, gains)
        finally:
            self._drop_engine()
            self._embedder = None
            self.store.close()

    def _open_run(self) -> str:
        fp = fingerprint(self.cfg)
        if self.wanted_run_id is not None:
            last = self.store.run(self.wanted_run_id)
            if last is None:
                return self._create_run(self.wanted_run_id, fp)
            diff = config_differences(last["config_json"], self.cfg)
            if diff:
                raise LfeError(f"{self.store.path}: run {last['run_id']} was made with a different config "
                               f"({', '.join(diff)})")
            if self.cfg.run.cycles != last["n_cycles"]:
                self.store.set_run_cycles(last["run_id"], self.cfg.run.cycles)
            return last["run_id"]
        last = self.store.latest_run()
        if last and not self.new_run:
            diff = config_differences(last["config_json"], self.cfg)
            if not diff and (last["status"] != "finished" or self.cfg.run.cycles > last["n_cycles"]):
                if self.cfg.run.cycles != last["n_cycles"]:
                    self.store.set_run_cycles(last["run_id"], self.cfg.run.cycles)
                self.rep.message(f"continuing run {last['run_id']}")
                return last["run_id"]
            if last["status"] != "finished":
                raise LfeError(
                    f"{self.store.path}: run {last['run_id']} is unfinished and its config differs in "
                    f"{', '.join(diff)}; rerun with that config to continue it, or pass --new-run")
        run_id = "run-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        while self.store.run(run_id):
            run_id += "x"
        return self._create_run(run_id, fp)

    def _create_run(self, run_id: str, fp: str) -> str:
        self.store.create_run({
            "run_id": run_id, "task": self.task.name, "strategy": self.cfg.run.strategy,
            "n_cycles": self.cfg.run.cycles,
            "fingerprint": fp, "config_json": self.cfg.model_dump_json(), "target_model": self.cfg.target.model,
            "instructor_model": self.cfg.instructor.model, "task_version": self.task.version,
            "lfe_version": __version__,
        })
        return run_id

    def _run_stage(self, cycle: int, stage: str) -> None:
        started = dt.datetime.now().replace(microsecond=0)
        t0 = time.perf_counter()
        name = stage.split("_")[0]
        work = getattr(self, f"_stage_{name}")
        args = (cycle, stage.split("_")[1]) if name == "eval" else (cycle,)
        self._calls = []  # every instructor call of the stage, filled by the engines _instructor makes
        rows, summary = work(*args)  # heavy work happens here, outside any transaction
        seconds = time.perf_counter() - t0
        if self._calls:
            rows = {**rows, "calls": [{"run_id": self.run_id, "cycle": cycle, "stage": stage, "seq": i, **c}
                                      for i, c in enumerate(self._calls)]}
        with self.store.transaction():
            for table, table_rows in rows.items():
                if table == "sample_verdicts":
                    self.store.update_sample_verdicts(self.run_id, table_rows)
                elif table == "generator_verdicts":
                    self.store.update_generator_verdicts(self.run_id, table_rows)
                elif table == "item_embeddings":
                    self.store.put_embeddings(table_rows)
                else:
                    self.store.insert(table, table_rows)
            self.store.mark_stage(self.run_id, cycle, stage, started, seconds, summary)
        self._publish()
        self.rep.stage_finished(cycle, stage, seconds, summary)
        if name == "eval":
            split = stage.split("_")[1]
            evals = rows["evaluations"]
            acc = sum(r["correct"] for r in evals) / max(1, len(evals))
            self.rep.metric(cycle, split, acc, len(evals))

    def _publish(self) -> None:
        """The snapshot `lfe sql` reads while this run holds the database. Losing it (a full disk)
        costs readers freshness, not the run its results: said, not raised."""
        try:
            self.store.publish_snapshot()
        except LfeError as err:
            self.rep.message(f"readers keep the previous snapshot: {err}")

    # -- helpers -------------------------------------------------------------------------------
    @property
    def splits(self) -> dict[str, list[Item]]:
        if self._splits is None:
            self._splits = self.task.load()
        return self._splits

    def _item_map(self) -> dict[str, Item]:
        return {it.item_id: it for items in self.splits.values() for it in items}

    def _hf_dir(self) -> Path:
        from .engines.hf_model import ensure_hf

        return ensure_hf(self.cfg.target.model, log=self.rep.message)

    def _device(self) -> str:
        from .engines.hf_model import resolve_device

        return resolve_device(self.cfg.target.device)

    def _adapter_path(self, cycle: int) -> str | None:
        if cycle == 0:
            return None
        row = self.store.adapter(self.run_id, cycle)
        if row is None:
            raise LfeError(f"run {self.run_id}: cycle {cycle} has no train stage result")
        return row["path"]

    def _precision(self) -> str:
        """The dtype the target evaluates in on this machine: target.bf16 resolved."""
        from .hardware import use_bf16

        return "bfloat16" if use_bf16(self.cfg.target.bf16, self._device()) else "float32"

    def _target(self, cycle: int):
        tcfg = self.cfg.target
        adapter = self._adapter_path(cycle)
        if self._engine is None or self._engine[0] != (cycle, adapter):
            self._drop_engine()
            if tcfg.engine == "vllm":
                from .engines.vllm_engine import VllmEngine

                engine = VllmEngine(str(self._hf_dir()), adapter=adapter, dtype=self._precision(),
                                    seed=self.cfg.run.seed)
            else:
                from .engines.transformers_engine import TransformersEngine

                engine = TransformersEngine(self._hf_dir(), device=self._device(), adapter=adapter,
                                            bf16=tcfg.bf16, batch_size=tcfg.batch_size)
            self._engine = ((cycle, adapter), engine)
        return self._engine[1]

    def _instructor(self, purpose: str):
        """The configured instructor engine, every call of it recorded for the stage's `calls` rows."""
        from .engines.recorded import RecordedEngine

        icfg = self.cfg.instructor
        if icfg.engine == "openai":
            from .engines.openai_engine import OpenAIEngine

            engine = OpenAIEngine(icfg.base_url, icfg.model, api_key_env=icfg.api_key_env,
                                  concurrency=icfg.concurrency, json_mode=icfg.json_mode,
                                  timeout_s=icfg.request_timeout_s)
        elif icfg.engine == "vllm":
            from .engines.vllm_engine import VllmEngine

            engine = VllmEngine(icfg.model, max_model_len=icfg.n_ctx, seed=self.cfg.run.seed,
                                concurrency=icfg.concurrency)
        else:
            from .engines.llama_cpp_engine import LlamaCppEngine

            engine = LlamaCppEngine(icfg.model, n_ctx=icfg.n_ctx, threads=icfg.threads, seed=self.cfg.run.seed)
        recorded = RecordedEngine(engine, self._calls, backend=icfg.engine, model=icfg.model,
                                  endpoint=icfg.base_url if icfg.engine == "openai" else "in-process")
        recorded.purpose = purpose
        return recorded

    def _drop_engine(self) -> None:
        if self._engine is not None:
            self._engine[1].close()
            self._engine = None

    # -- stages ----------------------------------------------------------------------------------
    def _stage_prepare(self, cycle: int):
        self.rep.stage_started(cycle, "prepare", None)
        self._hf_dir()  # convert a GGUF target once, before any timing-sensitive stage
        rows = [{"run_id": self.run_id, "task": self.task.name, "item_id": it.item_id, "split": it.split,
                 "question": it.question, "answer": it.answer, "solution": it.solution, "tests": it.tests}
                for split in ("train", "val", "test") for it in self.splits[split]]
        sizes = ", ".join(f"{s} {len(self.splits[s])}" for s in ("train", "val", "test"))
        return {"items": rows}, sizes

    def _eval_items(self, split: str) -> list[Item]:
        items = self.splits[split]
        size = self.cfg.run.train_eval_size
        if split != "train" or not size or size >= len(items):
            return items
        # The same subset every cycle, so train accuracy is comparable across cycles.
        picked = set(random.Random(self.cfg.run.seed).sample(range(len(items)), size))
        return [it for i, it in enumerate(items) if i in picked]

    def _base_donor(self, split: str) -> str | None:
        """An earlier run in this database whose cycle-0 evaluation of `split` this run can copy."""
        if not self.cfg.run.reuse_base_eval:
            return None
        key = base_key(self.cfg, split, self.task.version, __version__, self._precision())
        for run in reversed(self.store.runs()):
            if run["run_id"] == self.run_id or (0, f"eval_{split}") not in self.store.done_stages(run["run_id"]):
                continue
            try:
                other = Config.model_validate_json(run["config_json"])
            except ValueError:  # made by another version of lfe-local: don't guess
                continue
            precision = self.store.eval_precision(run["run_id"], 0, split)  # None: unknown or mixed
            if base_key(other, split, run["task_version"], run["lfe_version"], precision) == key:
                return run["run_id"]
        return None

    def _stage_eval(self, cycle: int, split: str):
        items = self._eval_items(split)
        self.rep.stage_started(cycle, f"eval_{split}", len(items))
        donor = self._base_donor(split) if cycle == 0 else None
        if donor is not None:
            rows = [{**r, "run_id": self.run_id} for r in self.store.rows("evaluations", donor, cycle=0, split=split)]
            if sorted(r["item_id"] for r in rows) == sorted(it.item_id for it in items):
                self.rep.advance(len(rows))
                n_ok = sum(r["correct"] for r in rows)
                return {"evaluations": rows}, f"{n_ok}/{len(rows)} correct (copied from {donor})"
        engine = self._target(cycle)
        gens = engine.generate([self.task.messages(it.question) for it in items],
                               max_tokens=self.cfg.target.max_new_tokens, on_progress=self.rep.advance)
        adapter = self._adapter_path(cycle)
        precision = self._precision()
        rows = []
        for it, g in zip(items, gens, strict=True):
            score = self.task.score(g.text, it, self.task.scorer)
            rows.append({
                "run_id": self.run_id, "cycle": cycle, "task": self.task.name, "split": split,
                "item_id": it.item_id, "model": self.cfg.target.model, "adapter": adapter, "prompt": g.prompt,
                "response": g.text, "extracted": score.extracted, "gold": it.answer, "correct": score.correct,
                "prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens,
                "latency_s": g.seconds, "failure": score.failure, "detail": score.detail,
                "task_version": self.task.version, "scorer": self.task.scorer, "precision": precision,
            })
        n_ok = sum(r["correct"] for r in rows)
        return {"evaluations": rows}, f"{n_ok}/{len(rows)} correct"

    def _failures(self, cycle: int):
        """The previous cycle's failed train items handed to the instructor (a seeded sample)."""
        from .instruct.le import Failure

        icfg = self.cfg.instructor
        prev = [r for r in self.store.evaluations(self.run_id, cycle - 1, "train") if not r["correct"]]
        rng = random.Random(self.cfg.run.seed * 1000 + cycle)
        items = self._item_map()
        if icfg.max_errors and len(prev) > icfg.max_errors:
            if icfg.error_sampling == "random":
                prev = rng.sample(prev, icfg.max_errors)
            else:
                # A random sample of a few errors often repeats one kind of problem; the farthest-point
                # sample covers as many kinds as it has errors, so the data made from them does too.
                import numpy as np

                from .vectors import spread

                vecs, rows = self._embed([items[r["item_id"]] for r in prev])
                self._new_embeddings += rows
                matrix = np.stack([vecs[r["item_id"]] for r in prev])
                prev = [prev[i] for i in spread(matrix, icfg.max_errors, first=rng.randrange(len(prev)))]
            prev = sorted(prev, key=lambda r: r["item_id"])
        show = icfg.show_reference
        has_answer = self.task.lesson.answer is not None  # code: the solution is the answer
        return [Failure(r["item_id"], items[r["item_id"]].question, r["response"],
                        gold=items[r["item_id"]].answer if show != "none" and has_answer else None,
                        reference=items[r["item_id"]].solution if show == "solution" else None,
                        feedback=r["detail"])
                for r in prev]

    def _embed(self, items: list[Item]):
        """Unit vectors of the items' questions (item_id -> vector), from the store where already
        computed with the same model and text; the new ones are returned as rows to store."""
        import numpy as np

        model = Path(self.cfg.embed.model).name
        stored = self.store.embeddings(self.task.name, model)
        stored.update({r["item_id"]: (r["text_sha"], r["vector"]) for r in self._new_embeddings if r["model"] == model})
        out, missing = {}, []
        for it in items:
            sha = hashlib.sha256(it.question.encode()).hexdigest()
            have = stored.get(it.item_id)
            if have and have[0] == sha:
                out[it.item_id] = np.asarray(have[1], dtype=np.float32)
            else:
                missing.append((it, sha))
        rows = []
        if missing:
            vectors = self._embedder_model().encode([it.question for it, _ in missing])
            for (it, sha), vec in zip(missing, vectors, strict=True):
                out[it.item_id] = vec
                rows.append({"task": self.task.name, "item_id": it.item_id, "model": model, "text_sha": sha,
                             "vector": vec.tolist()})
        return out, rows

    def _embedder_model(self):
        from .engines.embedder import Embedder

        if self._embedder is None:
            self._embedder = Embedder(self.cfg.embed.model, batch_size=self.cfg.embed.batch_size)
        return self._embedder

    def _neighbours(self, cycle: int, failures: list):
        """LEC: for each failure, the k nearest train items the target answered correctly in the
        previous cycle. Returns (item_id -> [Neighbour]), neighbour rows, new embedding rows, and
        how many embeddings were reused from the store."""
        import numpy as np

        from .instruct.lec import Neighbour
        from .vectors import nearest

        correct = [r for r in self.store.evaluations(self.run_id, cycle - 1, "train") if r["correct"]]
        if not correct or not failures:
            return {}, [], [], 0
        items = self._item_map()
        vecs, emb_rows = self._embed([items[f.item_id] for f in failures] + [items[r["item_id"]] for r in correct])
        queries = np.stack([vecs[f.item_id] for f in failures])
        keys = np.stack([vecs[r["item_id"]] for r in correct])
        found, rows = {}, []
        for f, hits in zip(failures, nearest(queries, keys, self.cfg.instructor.lec_neighbours), strict=True):
            found[f.item_id] = []
            for rank, (j, sim) in enumerate(hits, 1):
                r = correct[j]
                found[f.item_id].append(Neighbour(r["item_id"], items[r["item_id"]].question, r["response"], sim))
                rows.append({"run_id": self.run_id, "cycle": cycle, "item_id": f.item_id, "rank": rank,
                             "neighbour_id": r["item_id"], "similarity": sim, "neighbour_response": r["response"]})
        return found, rows, emb_rows, len(vecs) - len(emb_rows)

    def _jobs(self, cycle: int, failures: list, k: int):
        """The instructor calls of this cycle's strategy, plus rows to store beside them."""
        from .instruct.aug import aug_job
        from .instruct.le import le_job
        from .instruct.lec import lec_job

        strategy, lesson = self.cfg.run.strategy, self.task.lesson
        if strategy == "aug":
            # As many calls as LE would make, about random train items instead of errors; K + 1 new
            # problems each, as many samples as LE's corrected solution + K new problems.
            rng = random.Random(self.cfg.run.seed * 1000 + cycle)
            train = self.splits["train"]
            picked = sorted(rng.sample(range(len(train)), min(len(failures), len(train))))
            return [aug_job(lesson, train[i].item_id, train[i].question, train[i].solution, train[i].answer, k + 1)
                    for i in picked], {}, ""
        if strategy == "le":
            return [le_job(lesson, f, k) for f in failures], {}, ""
        # lec, or both: every other error by contrast (the paper's balanced mix)
        contrast = failures if strategy == "lec" else failures[1::2]
        found, neighbour_rows, emb_rows, reused = self._neighbours(cycle, contrast)
        wanted = {f.item_id for f in contrast}
        jobs, fallback = [], 0
        for f in failures:
            if found.get(f.item_id):
                jobs.append(lec_job(lesson, f, found[f.item_id], k))
            else:
                fallback += f.item_id in wanted
                jobs.append(le_job(lesson, f, k))
        note = f"; questions embedded: {len(emb_rows)} new, {reused} reused"
        if fallback:
            note += f"; {fallback} LEC calls fell back to LE (no correctly answered train item)"
        return jobs, {"neighbours": neighbour_rows, "item_embeddings": emb_rows}, note

    def _stage_instruct(self, cycle: int):
        from .instruct.calls import ask
        from .instruct.le import new_per_error

        if self.cfg.run.strategy == "sft":
            return self._gold_samples(cycle)
        self._drop_engine()  # the instructor gets the memory
        icfg = self.cfg.instructor
        failures = self._failures(cycle)
        # program mode: replies analyse and correct (K = 0); new problems come from generators.
        program = icfg.new_problems == "program"
        k = 0 if program else new_per_error(icfg.budget, len(failures), icfg.max_new_per_error)
        jobs, extra, note = ([], {}, "") if program and self.cfg.run.strategy == "aug" else \
            self._jobs(cycle, failures, k)
        if self._new_embeddings:
            extra["item_embeddings"] = self._new_embeddings + extra.get("item_embeddings", [])
            self._new_embeddings = []
        self.rep.stage_started(cycle, "instruct", len(jobs))
        if not failures:
            return extra, "no errors to analyse"
        seed = self.cfg.run.seed * 100_000 + cycle * 10_000
        engine = self._instructor("analysis" if self.cfg.run.strategy != "aug" else "new_problems")
        try:
            outcomes = ask(engine, jobs, cycle=cycle, temperature=icfg.temperature, max_tokens=icfg.max_tokens,
                           retries=icfg.retries, seed=seed, on_progress=self.rep.advance)
            base = {"run_id": self.run_id, "cycle": cycle, "task": self.task.name}
            analyses = [{**base, **o.analysis} for o in outcomes]
            clusters = self._taxonomy(cycle, analyses)
            if program:
                written = self._write_generators(engine, cycle, failures, analyses, clusters)
                n_seeds = -(-icfg.budget // max(1, len(written)))
                generators, instances, runs = self._run_generators(cycle, written, n_seeds)
                if icfg.repair_generators:
                    fixed_rows, fixed_instances = self._repair_generators(engine, cycle, written, runs, n_seeds)
                    generators, instances = generators + fixed_rows, instances + fixed_instances
        finally:
            engine.close()
        samples = [self._sample_row(cycle, s) for o in outcomes for s in o.samples]
        n_fail = sum(a["status"] == "failed" for a in analyses)
        by = ", ".join(f"{n} {s}" for s, n in sorted(Counter(j.strategy for j in jobs).items()))
        summary = f"{len(jobs)} instructor calls ({by}; K={k}), {n_fail} failed, {len(samples)} samples{note}"
        rows = {**extra, "analyses": analyses, "error_clusters": clusters}
        if program:
            samples += instances
            rows["generators"] = generators
            summary += (f"; {len(written)} generators written, {len(generators) - len(written)} sent back for repair, "
                        f"{sum(g['status'] == 'made' for g in generators)} ran, {len(instances)} instances")
        return {**rows, "samples": samples}, summary

    def _write_generators(self, engine, cycle: int, failures: list, analyses: list[dict], clusters: list[dict]):
        """program mode: one generator per group of errors of one type (aug: of random train items)."""
        from .instruct.generators import (
            Example,
            GeneratorJob,
            generator_messages,
            group_by_type,
            write_generators,
        )

        icfg, lesson = self.cfg.instructor, self.task.lesson
        per = icfg.errors_per_generator
        if self.cfg.run.strategy == "aug":
            # As many generators as the errors would get, about random train items, no error information.
            n = min(icfg.generators, -(-len(failures) // per))
            train = self.splits["train"]
            picked = random.Random(self.cfg.run.seed * 1000 + cycle).sample(train, min(n * per, len(train)))
            groups = [(None, [Example(it.item_id, it.question, it.solution) for it in picked[i * per:(i + 1) * per]])
                      for i in range(n)]
            strategies = ["aug"] * len(groups)
        else:
            analysed = {a["item_id"]: a for a in analyses if a["status"] == "ok"}
            cluster = {c["item_id"]: c["cluster"] for c in clusters}
            typed = [(cluster.get(f.item_id, "unclassified error"),
                      Example(f.item_id, f.question, f.reference, wrong_response=f.wrong_response[:400],
                              analysis=(analysed.get(f.item_id) or {}).get("analysis"))) for f in failures]
            groups = group_by_type(typed, per, icfg.generators)
            strategies = [(analysed.get(g[1][0].item_id) or {}).get("strategy", self.cfg.run.strategy) for g in groups]
        jobs = [GeneratorJob(f"c{cycle}-{strategy}-g{j}", strategy, error_type, examples,
                             generator_messages(lesson, error_type, examples))
                for j, ((error_type, examples), strategy) in enumerate(zip(groups, strategies, strict=True))]
        self.rep.stage_started(cycle, "instruct: generators", len(jobs))
        engine.purpose = "generator"
        return write_generators(engine, jobs, temperature=icfg.temperature, max_tokens=icfg.max_tokens,
                                retries=icfg.retries, seed=self.cfg.run.seed * 100_000 + cycle * 10_000 + 7_000,
                                on_progress=self.rep.advance)

    def _run_generators(self, cycle: int, written: list, n_seeds: int):
        """Each generator's code runs in the sandbox once, for its share of the budget of instances.
        Returns the generators' rows, their instances as sample rows, and each one's run (None: no code)."""
        from .instruct.generators import generator_row, instance_samples, run_generator

        icfg = self.cfg.instructor
        rows, samples, runs = [], [], []
        for outcome in written:
            run = None
            if outcome.code is not None:
                rng = random.Random(f"{self.cfg.run.seed}-{cycle}-{outcome.job.generator_id}")
                seeds = sorted(rng.sample(range(1_000_000), n_seeds))
                run = run_generator(outcome.code, seeds, self.task.lesson, icfg.generator_timeout_s)
            row = generator_row(outcome, run, n_seeds)
            rows.append({"run_id": self.run_id, "cycle": cycle, **row})
            runs.append(run)
            if row["status"] == "made":
                samples += [self._sample_row(cycle, s) for s in instance_samples(cycle, outcome.job, run.instances)]
        return rows, samples, runs

    def _repair_generators(self, engine, cycle: int, written: list, runs: list, n_seeds: int):
        """Up to generator_attempts - 1 more rounds for the groups whose latest generator failed:
        one whose run failed, or whose instances mostly fail the task's check, is repaired (its
        request again, with one failing instance and why); one whose reply had no usable code is
        asked again as it was. Each new generator runs as one of its own, and every earlier one
        stays on record with its instances."""
        from .instruct.calls import RETRY_TEMPERATURE
        from .instruct.generators import (
            instance_samples,
            repair_feedback,
            repair_job,
            rewrite_job,
            write_generators,
        )

        icfg, items = self.cfg.instructor, self._item_map()
        latest = [(outcome.job, outcome, run) for outcome, run in zip(written, runs, strict=True)]
        rows, samples = [], []
        for attempt in range(1, icfg.generator_attempts):
            jobs, groups = [], []
            for original, outcome, run in latest:
                if outcome.code is None:
                    jobs.append(rewrite_job(original, attempt))
                else:
                    made = instance_samples(cycle, outcome.job, run.instances) if run.ok else []
                    feedback = repair_feedback(run, made, [self._verify_sample(s, items) for s in made])
                    if feedback is None:  # this group has its generator
                        continue
                    jobs.append(repair_job(original, feedback, attempt))
                groups.append(original)
            if not jobs:
                break
            self.rep.stage_started(cycle, f"instruct: repairs ({attempt + 1}/{icfg.generator_attempts})", len(jobs))
            engine.purpose = "generator_repair"
            # Sampled: at greedy the bundled 1.5B answered 5 of 5 repair requests with its code unchanged.
            # The first round's seeds are those of the single repair round before generator_attempts.
            seed = self.cfg.run.seed * 100_000 + cycle * 10_000 + 8_000 + (100 * attempt if attempt > 1 else 0)
            fixed = write_generators(engine, jobs, temperature=max(icfg.temperature, RETRY_TEMPERATURE),
                                     max_tokens=icfg.max_tokens, retries=icfg.retries, seed=seed,
                                     on_progress=self.rep.advance)
            new_rows, new_samples, new_runs = self._run_generators(cycle, fixed, n_seeds)
            rows, samples = rows + new_rows, samples + new_samples
            latest = list(zip(groups, fixed, new_runs, strict=True))
        return rows, samples

    def _taxonomy(self, cycle: int, analyses: list[dict]) -> list[dict]:
        """Each analysed error's type joins a named cluster, stable across the run's cycles."""
        from .taxonomy import assign

        rows = [a for a in analyses if a["error_type"]]
        if not rows:
            return []
        ecfg = self.cfg.embed
        known_rows = [r for r in self.store.error_clusters(self.run_id) if r["cycle"] < cycle]
        model = self._embedder_model()
        labels = [a["error_type"] for a in rows]
        known = {}
        for name in dict.fromkeys(r["cluster"] for r in known_rows):
            known[name] = model.encode(sorted({r["error_type"] for r in known_rows if r["cluster"] == name}))
        names = assign(labels, model.encode(labels), known, ecfg.cluster_threshold, ecfg.max_clusters)
        return [{"run_id": self.run_id, "cycle": cycle, "task": self.task.name, "item_id": a["item_id"],
                 "strategy": a["strategy"], "error_type": a["error_type"], "cluster": name}
                for a, name in zip(rows, names, strict=True)]

    def _gold_samples(self, cycle: int):
        """sft baseline: `budget` train items not used in an earlier cycle, trained on their gold solutions."""
        budget = self.cfg.instructor.budget
        self.rep.stage_started(cycle, "instruct", None)
        used = {s["source_item_id"] for s in self.store.samples(self.run_id, list(range(1, cycle)))}
        pool = [it for it in self.splits["train"] if it.item_id not in used]
        rng = random.Random(self.cfg.run.seed * 1000 + cycle)
        picked = sorted(rng.sample(pool, min(budget, len(pool))), key=lambda it: it.item_id)
        samples = [self._sample_row(cycle, Sample(
            sample_id=f"c{cycle}-sft-{it.item_id}-gold", strategy="sft", kind="gold", source_item_id=it.item_id,
            question=it.question, solution=it.solution or "", answer=it.answer)) for it in picked]
        return {"samples": samples}, f"{len(samples)} gold train solutions (no instructor)"

    def _sample_row(self, cycle: int, s: Sample) -> dict[str, Any]:
        row = {k: v for k, v in asdict(s).items() if k != "meta"}
        return {"run_id": self.run_id, "cycle": cycle, **row, "training_text": None}

    def _stage_verify(self, cycle: int):
        from .verify.contamination import ContaminationIndex
        from .verify.dedup import Deduper

        vcfg = self.cfg.verify
        pending = self.store.samples(self.run_id, [cycle], status="generated")
        self.rep.stage_started(cycle, "verify", len(pending))
        held_out = [(it.item_id, it.question) for s in ("val", "test") for it in self.splits[s]]
        contamination = ContaminationIndex(held_out, n=vcfg.contamination_ngram, threshold=vcfg.contamination_threshold)
        dedup = Deduper(n=vcfg.dedup_ngram, threshold=vcfg.dedup_threshold)
        for old in self.store.samples(self.run_id, list(range(1, cycle)), status="accepted"):
            dedup.add(old["sample_id"], old["question"])
        # A "new" problem that near-copies a train item teaches nothing new.
        train_copies = Deduper(n=vcfg.dedup_ngram, threshold=vcfg.dedup_threshold)
        for it in self.splits["train"]:
            train_copies.add(it.item_id, it.question)
        items = self._item_map()
        checked = []
        for row in pending:
            sample = Sample(**{k: row[k] for k in ("sample_id", "strategy", "kind", "source_item_id", "question",
                                                    "solution", "answer", "program", "tests", "generator_id")})
            checked.append((sample, self._verify_sample(sample, items)))
        second = self._answer_checks(cycle, [s for s, v in checked if v.ok and s.kind == "new"])
        generator_rows = self._check_generators(cycle, checked)
        second.update(generator_rows.pop("instance_verdicts"))
        verdicts = []
        for sample, verdict in checked:
            verdict = second.get(sample.sample_id, verdict)
            reason, detail = verdict.reason, verdict.detail
            if reason is None:
                hit = contamination.check(sample.question)
                if hit:
                    reason, detail = "contamination", f"overlaps {hit[0]} ({hit[1]:.0%} of n-grams)"
            if reason is None:
                dup = dedup.check(sample.question) or (
                    train_copies.check(sample.question) if sample.kind == "new" else None)
                if dup:
                    reason, detail = dup[0], f"same as {dup[1]}"
            ok = verdict.ok and reason is None
            if ok:
                dedup.add(sample.sample_id, sample.question)
            verdicts.append({
                "sample_id": sample.sample_id, "status": "accepted" if ok else "rejected",
                "reason": None if ok else reason, "detail": None if ok else detail,
                "training_text": self.task.training_response(sample.solution, sample.answer) if ok else None,
                "program_output": verdict.program_output,
            })
            self.rep.advance(1)
        n_ok = sum(v["status"] == "accepted" for v in verdicts)
        note = f" ({len(second)} new questions answered again by the instructor)" if second and \
            not generator_rows["generator_verdicts"] else ""
        if generator_rows["generator_verdicts"]:
            gv = generator_rows["generator_verdicts"]
            note += (f"; generators: {sum(v['status'] == 'accepted' for v in gv)}/{len(gv)} accepted, "
                     f"{sum(c['agrees'] for c in generator_rows['generator_checks'])}/"
                     f"{len(generator_rows['generator_checks'])} fresh solves agreed")
        return {"sample_verdicts": verdicts, **generator_rows}, f"{n_ok}/{len(verdicts)} accepted{note}"

    def _verify_sample(self, sample: Sample, items: dict[str, Item]) -> Verdict:
        """The task's check; a generator's instance must also practise its source error's skill."""
        from .verify.practice import same_skill

        gold_source = items[sample.source_item_id] if sample.kind in ("corrected", "gold") else None
        verdict = self.task.verify(sample, gold_source)
        source = items.get(sample.source_item_id)
        if verdict.ok and sample.generator_id is not None and source is not None:
            return same_skill(sample.solution, source.solution)
        return verdict

    def _check_generators(self, cycle: int, checked: list) -> dict:
        """program mode: a few instances of each generator that ran are solved afresh by the
        instructor from the question alone; one disagreement rejects the generator and all its
        instances (see verify/generator_check.py)."""
        from .verify.generator_check import check_generators

        out: dict = {"generator_checks": [], "generator_verdicts": [], "instance_verdicts": {}}
        made = [g for g in self.store.rows("generators", self.run_id, cycle=cycle) if g["status"] == "made"]
        if not made:
            return out
        icfg = self.cfg.instructor
        passing: dict[str, list[Sample]] = {g["generator_id"]: [] for g in made}
        for sample, verdict in checked:
            if sample.generator_id in passing and verdict.ok:
                passing[sample.generator_id].append(sample)
        # Up to twice as many instances as checks, in a seeded order: a fresh solve that gives no
        # number (its program failed) is inconclusive and the next instance is solved instead.
        rng = random.Random(self.cfg.run.seed * 1000 + cycle)
        queue = {gid: rng.sample(samples, min(2 * icfg.generator_checks, len(samples)))
                 for gid, samples in passing.items() if samples}
        by_gen: dict[str, list] = {gid: [] for gid in passing}
        engine = self._instructor("generator_check") if queue else None
        try:
            for round_ in range(2):
                picked = {}
                for gid, samples in queue.items():
                    mine = by_gen[gid]
                    wanted = icfg.generator_checks - sum(c.agrees for c in mine)
                    if any(c.output is not None and not c.agrees for c in mine) or wanted <= 0:
                        continue  # decided: a disagreement, or enough agreements
                    picked[gid], queue[gid] = samples[:wanted], samples[wanted:]
                picked = {gid: s for gid, s in picked.items() if s}
                if not picked:
                    break
                for c in check_generators(engine, self.task.lesson, picked, max_tokens=icfg.max_tokens,
                                          timeout_s=getattr(self.task, "program_timeout_s", 5.0),
                                          seed=self.cfg.run.seed * 100_000 + cycle * 10_000 + 9_000 + round_):
                    by_gen[c.generator_id].append(c)
                    out["generator_checks"].append({"run_id": self.run_id, "cycle": cycle, **asdict(c)})
        finally:
            if engine is not None:
                engine.close()
        for g in made:
            gid = g["generator_id"]
            mine = by_gen[gid]
            agreed = sum(c.agrees for c in mine)
            wrong = next((c for c in mine if c.output is not None and not c.agrees), None)
            if not passing[gid]:
                status, reason, detail = "rejected", "no_valid_instance", "no instance passed the sample checks"
            elif wrong is not None:
                status, reason, detail = "rejected", "disagrees", f"{wrong.sample_id}: {wrong.detail}"
            elif agreed < min(icfg.generator_checks, len(passing[gid])):
                status, reason, detail = "rejected", "unverified", \
                    f"{agreed} fresh solves agree, {len(mine) - agreed} gave no number"
            else:
                status, reason, detail = "accepted", None, f"{agreed}/{len(mine)} fresh solves agree"
            out["generator_verdicts"].append({"generator_id": gid, "status": status, "reason": reason, "detail": detail})
            if status == "rejected":
                for s in passing[gid]:
                    out["instance_verdicts"][s.sample_id] = Verdict(False, "generator_rejected", f"{gid}: {reason}")
        return out

    def _answer_checks(self, cycle: int, samples: list[Sample]) -> dict:
        """Generated questions without gold (multiple choice, bbh): the instructor must give the same
        answer `lesson.answer_checks` more times (see verify/answer_check.py)."""
        n = self.task.lesson.answer_checks
        if not n or not samples:
            return {}
        from .verify.answer_check import check_answers

        engine = self._instructor("answer_check")
        try:
            # The same prompt and token budget the target gets for a question.
            return check_answers(engine, samples, n, messages=self.task.messages, score=self.task.score,
                                 max_tokens=self.cfg.target.max_new_tokens,
                                 seed=self.cfg.run.seed * 100_000 + cycle * 10_000 + 5_000)
        finally:
            engine.close()

    def _stage_train(self, cycle: int):
        from .train.lora import train_lora

        self._drop_engine()
        tcfg = self.cfg.train
        cycles = [cycle] if tcfg.mode == "continue" else list(range(1, cycle + 1))
        accepted = self.store.samples(self.run_id, cycles, status="accepted")
        parent = self._adapter_path(cycle - 1) if tcfg.mode == "continue" else None
        if not accepted:
            self.rep.stage_started(cycle, "train", None)
            return self._untrained(cycle, 0.0, "no accepted samples"), "nothing to train on"
        convs = [(self.task.messages(s["question"]), s["training_text"]) for s in accepted]
        total_steps = -(-len(convs) // tcfg.batch_size) * tcfg.epochs
        self.rep.stage_started(cycle, "train", total_steps)
        out = self.workspace / "runs" / self.run_id / f"cycle-{cycle}" / "adapter"
        out.parent.mkdir(parents=True, exist_ok=True)
        result = train_lora(self._hf_dir(), convs, out, tcfg, device=self._device(), init_adapter=parent,
                            seed=self.cfg.run.seed + cycle, on_step=lambda log, total: self.rep.advance(1))
        steps = [{"run_id": self.run_id, "cycle": cycle, **asdict(s)} for s in result.steps]
        if not result.steps:
            # Every sample was dropped (e.g. its prompt alone filled max_length).
            why = f"all {len(convs)} samples were too long to train on (train.max_length {tcfg.max_length})"
            return (self._untrained(cycle, result.seconds, why),
                    f"nothing trained: all {len(convs)} samples dropped for length")
        last = result.steps[-1].loss
        row = {"run_id": self.run_id, "cycle": cycle, "path": str(result.adapter_dir), "parent": parent,
               "n_samples": result.n_examples, "n_steps": len(result.steps), "final_loss": last,
               "seconds": result.seconds}
        return ({"train_steps": steps, "adapters": [row]},
                f"{result.n_examples} samples, {len(result.steps)} steps, final loss {last:.3f}")

    def _untrained(self, cycle: int, seconds: float, why: str) -> dict[str, list[dict]]:
        """A cycle that trained nothing keeps the previous cycle's adapter: the target stays as it was."""
        inherited = self._adapter_path(cycle - 1)
        self.rep.message(f"cycle {cycle}: {why}; the target stays as it was")
        return {"adapters": [{"run_id": self.run_id, "cycle": cycle, "path": inherited, "parent": inherited,
                              "n_samples": 0, "n_steps": 0, "final_loss": None, "seconds": seconds}]}

    def _test_gain(self, best: int | None) -> dict[str, Any] | None:
        """A cycle's (the best one's, chosen on val, in `run_results`) test accuracy against cycle 0's,
        on the same items, with a 95% paired bootstrap interval: what the run bought, and whether it
        is more than noise."""
        from .stats import paired_bootstrap

        outcomes = self.store.test_outcomes(self.run_id)
        if best is None or best == 0 or 0 not in outcomes or best not in outcomes:
            return None
        items = sorted(set(outcomes[0]) & set(outcomes[best]))
        if not items:
            return None
        d = paired_bootstrap([[outcomes[best][i] for i in items]], [[outcomes[0][i] for i in items]],
                             seed=self.cfg.run.seed)
        return {"test_base": d.base, "test_best": d.accuracy, "test_delta": d.delta, "test_ci_low": d.low,
                "test_ci_high": d.high, "test_items": len(items)}

    def _best_cycle(self) -> int | None:
        val = [r for r in self.store.accuracies(self.run_id) if r["split"] == "val"]
        if not val:
            return None
        return max(val, key=lambda r: (r["accuracy"], -r["cycle"]))["cycle"]
