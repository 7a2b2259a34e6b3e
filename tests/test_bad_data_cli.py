"""A malformed dataset row stops `lfe run` with one line naming file, line and field, before
anything is written to the workspace's database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lfe_local.cli import app
from lfe_local.config import bundled_model


def test_bad_gsm8k_row_is_one_line_and_writes_nothing(tmp_path):
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    data = tmp_path / "train.jsonl"
    data.write_text(
        '{"question": "Ann has 2 pens and buys 3. How many?", "answer": "2 + 3 = 5\\n#### 5"}\n'
        '{"question": "Bo has 4 cups.", "answer": "no final answer here"}\n'
    )
    (tmp_path / "lfe.toml").write_text('[task]\nname = "gsm8k"\npath = "train.jsonl"\nval_size = 0\ntest_size = 1\n')
    result = CliRunner().invoke(app, ["run", "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "train.jsonl line 2" in lines[0] and "answer" in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "lfe.duckdb").exists()


@pytest.mark.parametrize("args, expected", [
    (["run", "--strategy", "lecc"], "--strategy: unknown strategy 'lecc'"),
    (["compare", "--strategies", "le,sftt"], "--strategies: unknown strategy 'sftt'"),
    (["compare", "--strategies", "le,le"], "named twice"),
    (["compare", "--seeds", "1,x"], "--seeds: expected comma-separated integers"),
    (["compare", "--display", "fancy"], "--display: must be auto, rich or plain"),
])
def test_bad_strategy_arguments_are_one_line(tmp_path, args, expected):
    if not Path(bundled_model()).exists():
        pytest.skip("bundled model missing: run scripts/setup")
    result = CliRunner().invoke(app, [*args, "--workspace", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], result.output
    assert not (tmp_path / "lfe.duckdb").exists()
