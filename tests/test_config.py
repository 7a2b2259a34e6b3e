"""Config validation: one-line LfeError messages naming file and field; presets; the lfe.toml template; CLI."""

from pathlib import Path

import pytest
import tomllib
from typer.testing import CliRunner

from lfe_local.cli import app
from lfe_local.config import (
    BUNDLED_EMBEDDER,
    BUNDLED_GGUF,
    BUNDLED_INSTRUCTOR,
    CONFIG_NAME,
    PRESETS,
    Config,
    build_config,
    load_config,
    models_dir,
    render_toml,
)
from lfe_local.errors import LfeError
from lfe_local.tasks import make_task

MODELS = '[target]\nmodel = "m.gguf"\n\n[instructor]\nmodel = "m.gguf"\n'


def toml_with(section: str, line: str) -> str:
    """MODELS plus one more key, in its own section or inside [target]/[instructor]."""
    if section in ("target", "instructor"):
        return MODELS.replace(f'[{section}]\nmodel = "m.gguf"\n', f'[{section}]\nmodel = "m.gguf"\n{line}\n')
    return MODELS + f"[{section}]\n{line}\n"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / "m.gguf").write_bytes(b"GGUF\x00\x01")
    return tmp_path


@pytest.fixture
def bundled(tmp_path: Path, monkeypatch) -> Path:
    """A dummy bundled model, so the default model paths exist without the real download."""
    models = tmp_path / "bundled-models"
    path = models / BUNDLED_GGUF
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF")
    (models / BUNDLED_INSTRUCTOR).parent.mkdir(parents=True)
    (models / BUNDLED_INSTRUCTOR).write_bytes(b"GGUF")
    (models / BUNDLED_EMBEDDER).mkdir()
    monkeypatch.setenv("LFE_MODELS_DIR", str(models))
    return path


def write(ws: Path, text: str) -> Path:
    path = ws / CONFIG_NAME
    path.write_text(text)
    return path


def config_error(ws: Path, text: str) -> str:
    path = write(ws, text)
    before = sorted(p.name for p in ws.iterdir())
    with pytest.raises(LfeError) as info:
        load_config(ws)
    message = str(info.value)
    assert "\n" not in message, message
    assert message.startswith(str(path)), message  # names the file
    assert sorted(p.name for p in ws.iterdir()) == before  # nothing written
    return message


def test_valid_file_loads_and_resolves_relative_model_paths(ws):
    write(ws, MODELS + "[train]\nepochs = 3\n\n[task]\nname = \"arith\"\ntrain_size = 10\n")
    cfg = load_config(ws)
    assert cfg.train.epochs == 3
    assert cfg.task == {"name": "arith", "train_size": 10}
    assert cfg.target.model == str((ws / "m.gguf").resolve())
    assert cfg.instructor.model == str((ws / "m.gguf").resolve())


def test_unknown_top_level_section(ws):
    msg = config_error(ws, MODELS + "[bogus]\nx = 1\n")
    assert "unknown key 'bogus'" in msg


def test_unknown_key_in_train(ws):
    msg = config_error(ws, MODELS + "[train]\nxyz = 1\n")
    assert "unknown key 'train.xyz'" in msg


def test_wrong_type(ws):
    msg = config_error(ws, MODELS + '[train]\nepochs = "two"\n')
    assert "train.epochs" in msg and "integer" in msg


@pytest.mark.parametrize(
    ("section", "line", "field"),
    [
        ("run", "cycles = 99", "run.cycles"),
        ("train", "epochs = 0", "train.epochs"),
        ("instructor", "temperature = 3.5", "instructor.temperature"),
        ("verify", "dedup_threshold = 0", "verify.dedup_threshold"),
        ("target", 'device = "tpu"', "target.device"),
    ],
)
def test_out_of_range_or_not_allowed_value(ws, section, line, field):
    msg = config_error(ws, toml_with(section, line))
    assert f": {field}: " in msg


def test_missing_model_file(ws):
    msg = config_error(ws, '[target]\nmodel = "nope.gguf"\n\n[instructor]\nmodel = "m.gguf"\n')
    assert "target.model" in msg
    assert str(ws / "nope.gguf") in msg


def test_missing_instructor_model_file(ws):
    msg = config_error(ws, '[target]\nmodel = "m.gguf"\n\n[instructor]\nmodel = "/nonexistent/i.gguf"\n')
    assert "instructor.model" in msg and "/nonexistent/i.gguf" in msg


def test_unknown_task_name(ws):
    msg = config_error(ws, MODELS + '[task]\nname = "nope"\n')
    assert "unknown task 'nope'" in msg and "arith" in msg


def test_task_without_name(ws):
    msg = config_error(ws, MODELS + "[task]\ntrain_size = 3\n")
    assert "task" in msg and "name" in msg


def test_unknown_task_option(ws):
    msg = config_error(ws, MODELS + '[task]\nname = "arith"\nfoo = 1\n')
    assert "task.foo" in msg


def test_bad_task_option_value(ws):
    msg = config_error(ws, MODELS + '[task]\nname = "arith"\ntrain_size = 0\n')
    assert "task.train_size" in msg


def test_task_scorer(ws):
    msg = config_error(ws, MODELS + '[task]\nname = "arith"\nscorer = "lenient"\n')
    assert "task.scorer" in msg and "'strict' or 'paper'" in msg
    (ws / "train.jsonl").write_text('{"question": "1+1?", "answer": "2 #### 2"}\n')
    write(ws, MODELS + '[task]\nname = "gsm8k"\npath = "train.jsonl"\nscorer = "paper"\n')
    assert load_config(ws).task["scorer"] == "paper"
    assert make_task("gsm8k", {"path": "train.jsonl", "scorer": "paper"}, ws).scorer == "paper"
    assert make_task("arith", {}, ws).scorer == "strict"


def test_gsm8k_missing_path(ws):
    msg = config_error(ws, MODELS + '[task]\nname = "gsm8k"\npath = "missing.jsonl"\n')
    assert "task.path" in msg and "missing.jsonl" in msg


def test_gsm8k_existing_path_is_accepted(ws):
    (ws / "train.jsonl").write_text('{"question": "1+1?", "answer": "2 #### 2"}\n')
    write(ws, MODELS + '[task]\nname = "gsm8k"\npath = "train.jsonl"\n')
    cfg = load_config(ws)
    assert cfg.task["name"] == "gsm8k"


def test_invalid_toml_syntax(ws):
    msg = config_error(ws, MODELS + "[train\nepochs = 2\n")
    assert "not valid TOML" in msg


def test_overrides_are_validated_too(ws):
    write(ws, MODELS)
    assert load_config(ws, overrides={"run": {"cycles": 5}}).run.cycles == 5
    with pytest.raises(LfeError) as info:
        load_config(ws, overrides={"run": {"cycles": -1}})
    assert "run.cycles" in str(info.value) and "\n" not in str(info.value)


# -- presets ------------------------------------------------------------------------------


def assert_matches_preset(cfg: Config, preset: str, skip: dict | None = None) -> None:
    skip = skip or {}
    for section, values in PRESETS[preset].items():
        for key, value in values.items():
            if key in skip.get(section, ()):
                continue
            got = cfg.task[key] if section == "task" else getattr(getattr(cfg, section), key)
            if key == "model":  # a preset names a bundled model; the config holds its resolved path
                value = str(models_dir() / value)
            assert got == value, (section, key)


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_without_lfe_toml(tmp_path, bundled, preset):
    cfg = load_config(tmp_path, preset=preset)
    assert_matches_preset(cfg, preset)
    assert cfg.target.model == str(bundled)
    assert not (tmp_path / CONFIG_NAME).exists()


def test_preset_missing_bundled_model_names_field(tmp_path, monkeypatch):
    monkeypatch.setenv("LFE_MODELS_DIR", str(tmp_path / "empty"))
    with pytest.raises(LfeError) as info:
        load_config(tmp_path, preset="smoke")
    msg = str(info.value)
    assert "target.model" in msg and "\n" not in msg


def test_unknown_preset(tmp_path, bundled):
    with pytest.raises(LfeError) as info:
        load_config(tmp_path, preset="nope")
    msg = str(info.value)
    assert "unknown preset 'nope'" in msg and "smoke" in msg and "\n" not in msg


def test_lfe_toml_overrides_preset(tmp_path, bundled):
    smoke = PRESETS["smoke"]
    epochs = smoke["train"]["epochs"] + 3
    write(tmp_path, f"[train]\nepochs = {epochs}\n\n[task]\nname = \"arith\"\ntrain_size = 7\n")
    cfg = load_config(tmp_path, preset="smoke")
    assert cfg.train.epochs == epochs
    assert cfg.task["train_size"] == 7
    # keys the file does not set keep the preset's values (merge, not replace)
    assert_matches_preset(cfg, "smoke", skip={"train": {"epochs"}, "task": {"train_size"}})


# -- the lfe.toml template ----------------------------------------------------------------


@pytest.mark.parametrize("preset", [None, *sorted(PRESETS)])
def test_render_toml_round_trip(tmp_path, bundled, preset):
    text = render_toml(preset)
    data = tomllib.loads(text)
    rendered = build_config(data, "rendered", tmp_path)
    expected = load_config(tmp_path, preset=preset)
    assert rendered.model_dump() == expected.model_dump()
    if preset:
        assert_matches_preset(rendered, preset)
    # every section of the config appears in the file
    assert set(data) == set(Config.model_fields)


@pytest.mark.parametrize("preset", [None, "smoke"])
def test_render_toml_every_key_is_commented(preset):
    lines = render_toml(preset).splitlines()
    section = None
    n_keys = 0
    for i, line in enumerate(lines):
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if not line or line.startswith("#"):
            continue
        assert " = " in line, line
        n_keys += 1
        key = line.split(" = ")[0]
        if section == "task":
            # the task's options share one comment block above the first key, which names them
            j = i - 1
            while not lines[j].startswith("#"):
                assert " = " in lines[j]
                j -= 1
            assert lines[j - 1].startswith("#") or lines[j - 1].startswith("[")
            if key != "name":
                block = " ".join(x for x in lines[: i] if x.startswith("#"))
                assert key in block, key
        else:
            assert lines[i - 1].startswith("# "), f"{section}.{key} has no comment"
            field = type(getattr(Config(), section)).model_fields[key]
            assert lines[i - 1] == f"# {field.description}"
    total = sum(len(type(getattr(Config(), name)).model_fields) for name in Config.model_fields if name != "task")
    assert n_keys >= total


# -- CLI ----------------------------------------------------------------------------------


runner = CliRunner()


def test_cli_init_writes_and_refuses_overwrite(tmp_path, bundled):
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["init", str(ws), "--preset", "smoke"])
    assert result.exit_code == 0, result.output
    path = ws / CONFIG_NAME
    assert path.read_text() == render_toml("smoke")
    assert_matches_preset(load_config(ws), "smoke")

    path.write_text(path.read_text() + "\n# mine\n")
    again = runner.invoke(app, ["init", str(ws), "--preset", "smoke"])
    assert again.exit_code != 0
    err_lines = [x for x in again.stderr.splitlines() if x.strip()]
    assert len(err_lines) == 1 and err_lines[0].startswith("error: ")
    assert "--force" in err_lines[0]
    assert path.read_text().endswith("# mine\n")  # untouched

    forced = runner.invoke(app, ["init", str(ws), "--preset", "smoke", "--force"])
    assert forced.exit_code == 0
    assert path.read_text() == render_toml("smoke")


def test_cli_init_unknown_preset(tmp_path):
    result = runner.invoke(app, ["init", str(tmp_path / "ws"), "--preset", "nope"])
    assert result.exit_code != 0
    assert result.stderr.strip().startswith("error: ") and "\n" not in result.stderr.strip()
    assert not (tmp_path / "ws" / CONFIG_NAME).exists()


@pytest.mark.parametrize(
    "bad",
    [
        "[train]\nxyz = 1\n",
        '[train]\nepochs = "two"\n',
        "[train\n",
        '[task]\nname = "nope"\n',
    ],
)
def test_cli_run_with_bad_config(ws, bad):
    write(ws, MODELS + bad)
    result = runner.invoke(app, ["run", "-w", str(ws), "--display", "plain"])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # a clean exit, not a crash
    text = result.stderr.strip()
    assert text.startswith("error: ") and "\n" not in text, text
    assert "Traceback" not in result.output and result.stdout == ""
    assert str(ws / CONFIG_NAME) in text
    assert not (ws / "lfe.duckdb").exists()
    assert sorted(p.name for p in ws.iterdir()) == [CONFIG_NAME, "m.gguf"]


@pytest.mark.parametrize("command", ["init", "run", "sql"])
def test_cli_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.stdout and command in result.stdout


def test_cli_top_level_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("init", "run", "sql"):
        assert command in result.stdout


@pytest.mark.parametrize(
    "text",
    [
        '[target]\nmodel = "no\\nsuch.gguf"\n\n[instructor]\nmodel = "m.gguf"\n',
        MODELS + '[task]\nname = "gsm8k"\npath = "no\\nsuch.jsonl"\n',
    ],
)
def test_error_stays_one_line_for_paths_with_newlines(ws, text):
    config_error(ws, text)


def test_another_task_in_lfe_toml_replaces_the_presets_task(tmp_path, bundled):
    (tmp_path / "train.jsonl").write_text('{"question": "Ann has 2 pens and buys 3. How many?", "answer": "#### 5"}\n')
    write(tmp_path, '[task]\nname = "gsm8k"\npath = "train.jsonl"\nval_size = 0\ntest_size = 1\n')
    cfg = load_config(tmp_path, "smoke")
    assert cfg.task == {"name": "gsm8k", "path": "train.jsonl", "val_size": 0, "test_size": 1}
    assert cfg.instructor.budget == PRESETS["smoke"]["instructor"]["budget"]  # the rest of the preset stays
    write(tmp_path, "[task]\ntest_size = 5\n")  # same task: options merge as before
    assert load_config(tmp_path, "smoke").task["train_size"] == PRESETS["smoke"]["task"]["train_size"]
