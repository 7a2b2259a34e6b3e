"""The `openai` instructor engine against a real OpenAI-compatible server started on 127.0.0.1 by
the test: llama-cpp-python's own server, started through the entry point the README gives
(`python -m lfe_local.engines.llama_server`, the same server made safe on AMX CPUs), serving the
bundled 135M GGUF, behind an API key. Then a whole `lfe run` whose instructor is that server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest
from pydantic import BaseModel

from lfe_local.config import bundled_instructor, bundled_model
from lfe_local.engines.llama_cpp_engine import llama_amx_active
from lfe_local.engines.openai_engine import OpenAIEngine, render
from lfe_local.errors import LfeError

pytestmark = pytest.mark.model

KEY = "test-key-5b1e-never-stored"
ALIAS = "smol-served"
SCHEMA = {"type": "object", "properties": {"total": {"type": "integer"}, "why": {"type": "string"}},
          "required": ["total", "why"]}


class Reply(BaseModel):
    total: int
    why: str


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, key: str, model: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    """Until the server lists `model` on /models; its log when it dies or takes longer than timeout_s."""
    deadline = time.time() + timeout_s
    while True:
        try:
            req = urllib.request.Request(f"{url}/models", headers={"Authorization": f"Bearer {key}"})
            with urllib.request.urlopen(req, timeout=2) as r:
                if model in r.read().decode():
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")
        time.sleep(1)


server_log: dict[str, Path] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    pytest.importorskip("llama_cpp.server.app", reason="llama_cpp server extras missing: scripts/setup dev")
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "lfe_local.engines.llama_server", "--model", bundled_model(),
                                 "--model_alias", ALIAS, "--host", "127.0.0.1", "--port", str(port),
                                 "--api_key", KEY, "--n_ctx", "4096", "--n_threads", "2"],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_serving(url, KEY, ALIAS, proc, log, timeout_s=120)
        server_log[url] = log
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("LFE_TEST_INSTRUCTOR_KEY", KEY)
    return "LFE_TEST_INSTRUCTOR_KEY"


def conversations(n: int) -> list[list[dict]]:
    return [[{"role": "user", "content": f"Tom has {i + 2} apples and buys 3 more. Reply in JSON with the total "
                                         "and why."}] for i in range(n)]


def test_schema_replies_in_order_with_the_format_this_server_takes(server, key_env):
    engine = OpenAIEngine(server, ALIAS, api_key_env=key_env, concurrency=3)
    convs = conversations(4)
    gens = engine.generate(convs, max_tokens=60, json_schema=SCHEMA, seed=5)
    # llama_cpp.server refuses OpenAI's json_schema format and takes json_object with a schema.
    assert engine.json_mode == "json_object"
    assert [g.prompt for g in gens] == [render(c) for c in convs]  # in order, whatever finished first
    for g in gens:
        assert Reply.model_validate(json.loads(g.text))  # the schema was enforced, not hoped for
        assert g.prompt_tokens > 20 and 0 < g.completion_tokens <= 60 and g.seconds > 0
    # Greedy with a seed: the same request, the same reply (what resumable runs rely on).
    again = engine.generate(convs[:1], max_tokens=60, json_schema=SCHEMA, seed=5)
    assert again[0].text == gens[0].text
    engine.close()


def test_a_cut_off_reply_says_so(server, key_env):
    engine = OpenAIEngine(server, ALIAS, api_key_env=key_env, json_mode="json_object")
    (gen,) = engine.generate(conversations(1), max_tokens=3, json_schema=SCHEMA)
    assert gen.finish_reason == "length" and gen.completion_tokens == 3


def test_the_server_loads_without_extra_buffers_where_amx_would_run(server, key_env):
    # The plain llama_cpp.server died on its first request on a CPU with AMX (the CI machine,
    # 2026-12-02); the entry point turns llama.cpp's extra buffers off there, and only there.
    engine = OpenAIEngine(server, ALIAS, api_key_env=key_env, json_mode="json_object")
    (gen,) = engine.generate(conversations(1), max_tokens=8)
    assert gen.completion_tokens > 0  # it answered, and is still up
    log = server_log[server].read_text(errors="replace")
    if llama_amx_active():
        assert "extra buffers off" in log and "AMX model buffer" not in log and "CPU_REPACK model buffer" not in log
    else:
        assert "extra buffers off" not in log


def test_extra_buffers_off_for_a_whole_process():
    # What the server entry point relies on: every later load in the process goes without
    # repacked weights. The 1.5B's Q4_K_M is repacked on AVX2 and AMX CPUs alike.
    model = Path(bundled_instructor())
    if not model.exists():
        pytest.skip("bundled instructor missing: run scripts/setup")
    code = ("from lfe_local.engines.llama_cpp_engine import extra_buffers_off_for_this_process as off; off(); "
            f"import llama_cpp; llama_cpp.Llama({str(model)!r}, n_ctx=256, verbose=True)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "CPU_Mapped model buffer" in out.stderr  # the load log we read is there
    assert "REPACK model buffer" not in out.stderr and "AMX model buffer" not in out.stderr


@pytest.mark.parametrize("case, expected", [
    ("no key", "refused the API key read from $LFE_TEST_UNSET_KEY"),
    ("closed port", "cannot reach the server"),
])
def test_server_trouble_is_one_clear_line(server, case, expected, monkeypatch):
    monkeypatch.delenv("LFE_TEST_UNSET_KEY", raising=False)
    url = server if case == "no key" else f"http://127.0.0.1:{free_port()}/v1"
    engine = OpenAIEngine(url, ALIAS, api_key_env="LFE_TEST_UNSET_KEY", max_retries=0, json_mode="json_object")
    with pytest.raises(LfeError) as err:
        engine.generate(conversations(1), max_tokens=5)
    message = str(err.value)
    assert expected in message and "\n" not in message and url in message


RUN_CONFIG = """
[run]
cycles = 1

[task]
name = "arith"
train_size = 8
val_size = 4
test_size = 4

[target]
batch_size = 16
max_new_tokens = 64

[instructor]
engine = "openai"
base_url = "{url}"
model = "{alias}"
api_key_env = "LFE_TEST_INSTRUCTOR_KEY"
concurrency = 3
budget = 3
max_errors = 3
max_new_per_error = 1
max_tokens = 600

[train]
epochs = 1
batch_size = 4
"""


def test_a_whole_run_with_the_served_instructor(server, key_env, tmp_path):
    (tmp_path / "lfe.toml").write_text(RUN_CONFIG.format(url=server, alias=ALIAS))
    proc = subprocess.run([sys.executable, "-m", "lfe_local", "run", "-w", str(tmp_path), "--display", "plain"],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "160"}, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    con = duckdb.connect(str(tmp_path / "lfe.duckdb"), read_only=True)
    (model,) = con.execute("SELECT instructor_model FROM runs").fetchone()
    assert model == ALIAS
    analyses = con.execute("SELECT status, attempts, completion_tokens, raw_reply FROM analyses").fetchall()
    calls = con.execute("SELECT backend, model, endpoint, count(*), sum(completion_tokens), min(latency_s) "
                        "FROM instructor_calls GROUP BY ALL").fetchall()
    con.close()
    # every call on record with the server it went to
    assert calls == [("openai", ALIAS, server, sum(a[1] for a in analyses), sum(a[2] for a in analyses), calls[0][5])]
    assert calls[0][5] > 0
    assert len(analyses) == 3 and all(a[1] >= 1 and a[2] > 0 for a in analyses)
    assert any(status == "ok" for status, *_ in analyses)  # schema-constrained replies parse
    # The key was only ever in the environment: not in the database, not in the config.
    for path in (tmp_path / "lfe.duckdb", tmp_path / "lfe.toml"):
        assert KEY.encode() not in path.read_bytes()


def test_config_for_the_openai_engine_needs_a_server_and_a_model_name(tmp_path):
    from lfe_local.config import build_config

    with pytest.raises(LfeError, match=r"instructor\.base_url: required"):
        build_config({"instructor": {"engine": "openai", "model": "m"}}, "lfe.toml", tmp_path)
    with pytest.raises(LfeError, match=r"instructor\.model: give the model name"):
        build_config({"instructor": {"engine": "openai", "base_url": "http://127.0.0.1:1/v1"}}, "lfe.toml", tmp_path)
    cfg = build_config({"instructor": {"engine": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"}},
                       "lfe.toml", tmp_path)
    assert cfg.instructor.model == "m"  # a served name, not resolved as a file


@pytest.mark.parametrize("model, ready", [(ALIAS, True), ("not-served", False)])
def test_doctor_asks_the_configured_server(server, key_env, tmp_path, model, ready):
    (tmp_path / "lfe.toml").write_text(f'[instructor]\nengine = "openai"\nbase_url = "{server}"\nmodel = "{model}"\n'
                                       f'api_key_env = "{key_env}"\n')
    proc = subprocess.run([sys.executable, "-m", "lfe_local", "doctor", "-w", str(tmp_path)], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"}, timeout=300)
    line = next(ln for ln in proc.stdout.splitlines() if f"instructor server {server}" in ln)
    assert proc.returncode == (0 if ready else 1)
    if ready:
        assert line.split()[0] == "ok" and f"serves '{ALIAS}'" in line
    else:
        assert line.split()[0] == "MISSING" and "does not list model 'not-served'" in line
