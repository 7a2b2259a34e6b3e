"""The run configuration: pydantic models, presets, TOML loading and the commented `lfe.toml` template.

Every key is documented here once (Field descriptions); `lfe init` writes them as comments.
"""

from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Any, Literal, get_args

import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import LfeError

CONFIG_NAME = "lfe.toml"
BUNDLED_GGUF = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"  # the target (and smoke instructor)
BUNDLED_INSTRUCTOR = "qwen2.5-coder-1.5b-instruct/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
BUNDLED_EMBEDDER = "all-minilm-l6-v2"
Strategy = Literal["le", "lec", "both", "sft", "aug"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)


def models_dir() -> Path:
    """Where the bundled models live: $LFE_MODELS_DIR, else the checkout's models/ folder."""
    env = os.environ.get("LFE_MODELS_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "models"


def bundled_model() -> str:
    return str(models_dir() / BUNDLED_GGUF)


def bundled_instructor() -> str:
    return str(models_dir() / BUNDLED_INSTRUCTOR)


def bundled_embedder() -> str:
    return str(models_dir() / BUNDLED_EMBEDDER)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class RunConfig(_Section):
    strategy: Strategy = Field(
        "le",
        description="Where training data comes from: le = learning from errors; lec = from errors by contrast with similar items the target got right; both = half the errors each way; sft = the gold solutions of train items (baseline); aug = instructor-written problems like random train items, no error information (baseline).")
    cycles: int = Field(2, ge=0, le=50, description="Improvement cycles after the cycle-0 evaluation of the base target.")
    seed: int = Field(1234, description="Seed for error sampling, instructor sampling and training.")
    reuse_base_eval: bool = Field(
        True,
        description="Cycle 0 copies the base target's evaluations from an earlier run in this database with the same task, target (and, for train, seed and train_eval_size) instead of evaluating again; greedy decoding gives the same answers.")
    train_eval_size: int = Field(
        0, ge=0,
        description="Train items evaluated each cycle to find errors (a fixed seeded subset, the same every cycle); 0 = the whole train split.")


class TargetConfig(_Section):
    model: str = Field(
        default_factory=bundled_model,
        description="The model being improved: a GGUF file (converted once to HF format beside it) or a HF model directory.",
    )
    batch_size: int = Field(32, ge=1, description="Prompts per batch in evaluation (left-padded, greedy).")
    max_new_tokens: int = Field(128, ge=1, description="Longest response the target may give in evaluation.")
    bf16: Literal["auto", "on", "off"] = Field("auto", description="bf16 autocast: auto = where the CPU/GPU supports it.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the target runs and trains.")
    engine: Literal["transformers", "vllm"] = Field(
        "transformers",
        description="Evaluation engine: transformers (+ peft for the adapter); vllm = vLLM in process with the adapter as a LoRA request (needs vllm: scripts/setup extras on CPU).")


class InstructorConfig(_Section):
    engine: Literal["llama_cpp", "vllm", "openai"] = Field(
        "llama_cpp",
        description="Inference engine for the instructor: llama_cpp = in process (GGUF); vllm = vLLM in process (an HF model directory; needs vllm); openai = any OpenAI-compatible server at base_url (a vLLM deployment, llama.cpp's servers, a hosted endpoint).")
    model: str = Field(default_factory=bundled_instructor,
                       description="llama_cpp: the instructor's GGUF file (default the bundled Qwen2.5-Coder-1.5B-Instruct); vllm: an HF model directory; openai: the model name the server serves.")
    base_url: str = Field("", description="openai: the server's base URL, e.g. http://127.0.0.1:8000/v1.")
    api_key_env: str = Field(
        "OPENAI_API_KEY",
        description="openai: the environment variable holding the API key (read at start, never stored); unset = no key.")
    concurrency: int = Field(4, ge=1, le=256, description="openai: requests in flight at once; vllm: instructor calls gathered into one batch.")
    json_mode: Literal["auto", "json_schema", "json_object", "none"] = Field(
        "auto",
        description="openai: how the reply's JSON schema is sent: json_schema (OpenAI, vLLM), json_object with a schema (llama.cpp's servers), none (validated afterwards only); auto = the first the server accepts.")
    request_timeout_s: float = Field(600.0, gt=0, description="openai: seconds before one request is given up (the client then retries, 3 times).")
    n_ctx: int = Field(4096, ge=512, description="Context window of the instructor.")
    threads: int = Field(0, ge=0, description="CPU threads for the in-process llama.cpp instructor; 0 = the cores other processes leave free, measured before each call.")
    temperature: float = Field(
        0.0, ge=0.0, le=2.0,
        description="Sampling temperature of the instructor's first attempt (greedy copies a reference best); retries use at least 0.7.")
    max_tokens: int = Field(900, ge=64, description="Longest instructor reply; a longer one is truncated and retried.")
    retries: int = Field(2, ge=0, le=10, description="Extra attempts after an invalid or truncated reply; then a recorded failure.")
    show_reference: Literal["solution", "answer", "none"] = Field(
        "solution",
        description="What the instructor sees of each failed item's gold: the worked reference solution (and answer), the final answer only, or nothing.",
    )
    budget: int = Field(48, ge=1, description="Samples wanted per cycle; new problems per error K = ceil(budget / errors) + 1 (the paper used 3000).")
    max_errors: int = Field(24, ge=0, description="Failed train items analysed per cycle (a seeded sample); 0 = all of them.")
    error_sampling: Literal["spread", "random"] = Field(
        "spread",
        description="Which errors make the max_errors sample: spread = far apart in question embedding (greedy farthest-point from a seeded start, so the sample covers the kinds of problem the target fails); random = a seeded random sample.")
    max_new_per_error: int = Field(4, ge=0, le=10, description="Upper bound on K, to keep each reply short enough for a small instructor.")
    lec_neighbours: int = Field(2, ge=1, le=8, description="LEC: correctly answered train items shown beside each error (nearest by embedding).")
    new_problems: Literal["written", "program"] = Field(
        "written",
        description="How new practice problems are made: written = K per instructor reply; program = the instructor writes a generator per group of errors of one type, run in the sandbox for many verified instances (math tasks).")
    generators: int = Field(6, ge=1, le=100, description="program mode: most generators written per cycle.")
    errors_per_generator: int = Field(3, ge=1, le=8, description="program mode: errors of one type shown to the instructor per generator.")
    generator_checks: int = Field(
        2, ge=1, le=10,
        description="program mode: instances per generator solved afresh from the question text (an instructor-written program in the sandbox); any disagreement rejects the generator whole.")
    traced_solutions: bool = Field(
        True,
        description="program mode: generators run with numbers that record how they were computed; an instance whose own solution text fails the task's check (no or a false equation, a missing operation, not ending on its answer) gets its answer's derivation instead, one equation per step of the code (its own text kept in samples.own_solution), and is checked again. false = the generator's own text only.")
    generator_timeout_s: float = Field(10.0, gt=0, description="program mode: wall-clock limit for one generator run (all its instances).")
    generator_time_s: float = Field(
        0.0, ge=0,
        description="program mode: seconds into a cycle's instruct stage after which no further generator or repair is asked for (calls under way finish; the groups left without one are counted in the stage's summary); 0 = no limit. For a run that must end in about the same time on CPUs of different speed, as the demo preset's.")
    repair_generators: bool = Field(
        True,
        description="program mode: a generator whose run fails, or whose instances mostly fail the task's check, is asked for again, sampled, with one failing instance and the reason (not its code, which the bundled 1.5B copied back unchanged); a reply with no usable code is asked again as it was; the new generator's id ends in -r (-r2, -r3, ... for later attempts). false = one attempt per group.")
    generator_attempts: int = Field(
        2, ge=1, le=6,
        description="program mode, with repair_generators: most generators written per group of errors, the first included; a group stops at its first generator that runs and whose instances mostly pass the task's check.")


class EmbedConfig(_Section):
    model: str = Field(default_factory=bundled_embedder,
                       description="Local sentence-transformers folder used for LEC retrieval and the error taxonomy.")
    batch_size: int = Field(64, ge=1, description="Texts per embedding batch.")
    cluster_threshold: float = Field(0.6, gt=-1, le=1, description="Error taxonomy: mean cosine similarity at which error types join one cluster.")
    max_clusters: int = Field(8, ge=1, description="Error taxonomy: most clusters per run.")


class VerifyConfig(_Section):
    dedup_ngram: int = Field(3, ge=1, description="Word n-gram size for near-duplicate detection.")
    dedup_threshold: float = Field(0.8, gt=0, le=1, description="Jaccard similarity at which two samples are near duplicates.")
    contamination_ngram: int = Field(6, ge=1, description="Word n-gram size for the overlap check against val/test items.")
    contamination_threshold: float = Field(0.5, gt=0, le=1, description="Share of a sample's n-grams found in one val/test item that rejects it.")


class TrainConfig(_Section):
    mode: Literal["continue", "from_base"] = Field(
        "continue",
        description="continue: cycle c+1 trains cycle c's adapter on its new samples; from_base: a fresh adapter on everything accepted so far.",
    )
    lora_r: int = Field(16, ge=1, description="LoRA rank.")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha.")
    lora_dropout: float = Field(0.05, ge=0, lt=1, description="LoRA dropout.")
    target_modules: str = Field("all-linear", description="Modules that get LoRA weights (peft syntax, comma-separated or all-linear).")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate (linear warm-up then decay).")
    epochs: int = Field(2, ge=1, description="Passes over the cycle's training samples.")
    batch_size: int = Field(8, ge=1, description="Samples per optimizer step.")
    max_length: int = Field(384, ge=32, description="Prompt + response tokens; longer samples are cut.")
    max_samples: int = Field(
        0, ge=0,
        description="Most samples accepted per cycle (with mode from_base, every cycle's accepted samples are trained together); 0 = every one that passes. Over it, each generator (and the corrected solutions) keeps as even a share as it can, a seeded subset; the rest are rejected as surplus.")
    bf16: Literal["auto", "on", "off"] = Field("auto", description="bf16 autocast in training: auto = where supported.")
    backend: Literal["peft", "unsloth"] = Field(
        "peft",
        description="Who makes the LoRA model trained by lfe-local's loop: peft (transformers), or unsloth (its fast kernels on CUDA; on CPU its fallback to transformers + peft; needs unsloth: scripts/setup extras).")


class Config(_Section):
    run: RunConfig = Field(default_factory=RunConfig)
    task: dict[str, Any] = Field(
        default_factory=lambda: {"name": "arith"},
        description="The task: name plus its own options (`lfe tasks` lists them; see README, Tasks).",
    )
    target: TargetConfig = Field(default_factory=TargetConfig)
    instructor: InstructorConfig = Field(default_factory=InstructorConfig)
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    verify: VerifyConfig = Field(default_factory=VerifyConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @field_validator("task")
    @classmethod
    def _task_has_name(cls, v: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(v.get("name"), str):
            raise ValueError("needs a 'name' (e.g. name = \"arith\")")
        return v


PRESETS: dict[str, dict[str, Any]] = {
    # Tiny, for tests: a few items, one cycle, a dozen short instructor calls, two short epochs.
    "smoke": {
        "run": {"cycles": 1},
        "task": {"name": "arith", "train_size": 24, "val_size": 8, "test_size": 8},
        "target": {"batch_size": 16, "max_new_tokens": 96},
        # 12 short calls (one new problem each): enough corrected solutions pass verification that
        # a cycle reliably has something to train on.
        # The 135M model instructs here: the smoke run tests plumbing, not teaching.
        "instructor": {"model": BUNDLED_GGUF, "budget": 12, "max_errors": 12, "max_new_per_error": 1,
                       "max_tokens": 700},
        "train": {"epochs": 2, "batch_size": 4, "learning_rate": 5e-4},
    },
    # One cycle on the default train/test sizes, meant for about 25 minutes on 2 CPU cores (an AMD
    # EPYC without AVX-512, the slowest kind seen: evaluation ~0.5 s per item, a LoRA step of 4
    # samples ~3.7 s before d220ade, an instructor call 10-45 s). The bundled 1.5B instructor
    # analyses 12 errors and writes one problem generator per error (errors sampled far apart in
    # embedding, one per group, spread the generators over the task's kinds of problem, so the right
    # ones cover more kinds); 120 instances of each, the verified ones (at most 400) trained on for
    # one epoch. About half of its generators are right, and what the target learns grows with the
    # kinds covered (README, "Demo results"). Twelve groups, not eight (2026-12-08): on an EPYC with
    # AVX512-BF16 eight gave +5.0 and +6.5 on test from 5-6 right generators; twelve gave 8 right
    # and +10.5 [+5.5, +15.5] in 21 min 30 s. The instructor is ~1.7x slower on the EPYC without
    # AVX-512, where eight took 26.5-27.5 min, so generator_time_s stops asking for generators and
    # repairs 9 minutes into the instruct stage: on the faster CPU it cut one repair of 6 and left
    # the result as it was; on the slower one it is meant to cut repairs and the last groups (not
    # yet measured there). Learning rate 1e-3: on 320 gold solutions of this task,
    # one epoch at 3e-4 moved test accuracy +9 points, at 1e-3 +27.5.
    # Errors come from a fixed 40-item train subset (the base target gets ~95% of them wrong);
    # responses are capped at 80 tokens (gold solutions need under 60). 200 val items, as many as
    # test: the best cycle is chosen on val, and with 60 items at a few percent (one item = 1.7
    # points) val chose cycle 0 in a run whose cycle 1 gained +10.5 [+6.0, +15.0] on test.
    "demo": {
        "run": {"cycles": 1, "train_eval_size": 40},
        "task": {"name": "arith", "train_size": 400, "val_size": 200, "test_size": 200},
        "target": {"max_new_tokens": 80, "batch_size": 64},
        "instructor": {"new_problems": "program", "budget": 1440, "max_errors": 12, "errors_per_generator": 1,
                       "generators": 12, "generator_time_s": 540},
        "train": {"epochs": 1, "learning_rate": 1e-3, "batch_size": 4, "max_samples": 400},
    },
}


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    # Another task replaces the preset's task wholesale: its options would not fit the new task.
    base_task, over_task = base.get("task"), over.get("task")
    if isinstance(base_task, dict) and isinstance(over_task, dict) and over_task.get("name", base_task.get("name")) \
            != base_task.get("name"):
        out.pop("task")
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _did_you_mean(loc: tuple) -> str:
    """' (did you mean 'section.key'?)' for a misspelt key of a known section, else ''."""
    model: Any = Config
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        model = field.annotation if field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return f" (did you mean '{_where((*loc[:-1], close[0]))}'?)" if close else ""


def _one_line(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    field = _where(first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{source}: unknown key '{field}'{_did_you_mean(tuple(first['loc']))}"
    return f"{source}: {field}: {first['msg']}"


def _gguf_problem(path: Path) -> str | None:
    """Why a file given as a GGUF model cannot be one (checked before a run spends minutes evaluating)."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as err:
        return f"cannot read it ({err.strerror})"
    return None if magic == b"GGUF" else "not a GGUF file (it does not start with the GGUF magic bytes)"


def build_config(data: dict[str, Any], source: str, base_dir: Path) -> Config:
    """Validate `data` (from a TOML file or a preset) and resolve relative model paths against base_dir."""
    try:
        cfg = Config.model_validate(data)
    except ValidationError as err:
        raise LfeError(_one_line(source, err)) from None
    from .tasks import make_task

    try:  # validates the task's own options (unknown keys, missing data files) up front
        task = make_task(cfg.task["name"], {k: v for k, v in cfg.task.items() if k != "name"}, base_dir)
    except LfeError as err:
        raise LfeError(f"{source}: {err}") from None
    if cfg.instructor.new_problems == "program" and task.lesson.generator is None:
        raise LfeError(f"{source}: instructor.new_problems: \"program\" needs a math task (arith, gsm8k, "
                       f"gsm_plus); use \"written\" for {task.name}")
    local_models = [("target", cfg.target), ("instructor", cfg.instructor), ("embed", cfg.embed)]
    if cfg.instructor.engine == "openai":
        local_models.remove(("instructor", cfg.instructor))  # a name the server knows, not a file
        if "model" not in data.get("instructor", {}):
            raise LfeError(f"{source}: instructor.model: give the model name the server serves (engine \"openai\")")
        if not cfg.instructor.base_url:
            raise LfeError(f"{source}: instructor.base_url: required for engine \"openai\" "
                           "(e.g. http://127.0.0.1:8000/v1)")
    for name, section in local_models:
        path = Path(section.model).expanduser()
        if not path.is_absolute():
            # Relative to lfe.toml's folder, else a bundled model's name under models/ (as presets give them).
            local = (base_dir / path).resolve()
            path = local if local.exists() or not (models_dir() / path).exists() else models_dir() / path
        section.model = str(path)
        if not path.exists():
            hint = " (scripts/setup fetches the bundled models)" if str(path).startswith(str(models_dir())) else ""
            raise LfeError(f"{source}: {name}.model: no such file or directory: {path}{hint}")
        if path.is_file() and name in ("target", "instructor") and (problem := _gguf_problem(path)):
            raise LfeError(f"{source}: {name}.model: {path}: {problem}")
    if cfg.instructor.engine == "vllm" and not Path(cfg.instructor.model, "config.json").is_file():
        raise LfeError(f"{source}: instructor.model: engine \"vllm\" needs an HF model directory (config.json and "
                       f"weights), not {cfg.instructor.model}")
    return cfg


def load_config(workspace: Path, preset: str | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """The config of a workspace: preset (if any), then lfe.toml (if present), then CLI overrides."""
    data: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise LfeError(f"unknown preset '{preset}' (known: {', '.join(PRESETS)})")
        data = copy.deepcopy(PRESETS[preset])
    path = workspace / CONFIG_NAME
    source = str(path) if path.exists() else f"preset {preset or 'default'}"
    if path.exists():
        try:
            with open(path, "rb") as f:
                data = _merge(data, tomllib.load(f))
        except tomllib.TOMLDecodeError as err:
            raise LfeError(f"{path}: not valid TOML: {err}") from None
    if overrides:
        data = _merge(data, overrides)
    return build_config(data, source, workspace)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def render_toml(preset: str | None) -> str:
    """A commented lfe.toml: every key with its description and the preset's value."""
    data = _merge({}, PRESETS[preset]) if preset else {}
    cfg = Config.model_validate(data)
    lines = [
        "# lfe-local configuration. Every key is optional: a missing key takes the value shown.",
        f"# Written by `lfe init --preset {preset}`." if preset else "# Written by `lfe init`.",
        "# Relative model paths are resolved against this file's folder, then against the bundled models folder.",
        "",
    ]
    for name, _field in Config.model_fields.items():
        section = getattr(cfg, name)
        lines.append(f"[{name}]")
        if name == "task":
            lines.append("# The task and its options (`lfe tasks` lists the tasks). arith: seed, train_size, val_size,")
            lines.append("# test_size, agreement, program_timeout_s. File tasks (gsm8k, gsm_plus, mmlu, arc, mbpp, humaneval,")
            lines.append("# bbh): path, test_path, val_path, val_size, test_size, limit_train, limit_test, seed; gsm8k and")
            lines.append("# gsm_plus also agreement, program_timeout_s; mbpp and humaneval timeout_s; bbh prompt_path.")
            lines.append("# Every task: scorer = \"strict\" (lfe-local's: a response must commit to one answer) or")
            lines.append("# \"paper\" (the reference implementation's lenient extraction, for numbers next to the paper's).")
            for key, value in section.items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
            continue
        for key, sub in type(section).model_fields.items():
            lines.append(f"# {sub.description}")
            lines.append(f"{key} = {_toml_value(getattr(section, key))}")
        lines.append("")
    return "\n".join(lines)
