"""`completer complete` prints the infill; every bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from completer.cli import main
from tests.helpers import make_tiny_checkpoint

SOURCE = "def add(a, b):\n    return \n\nprint(add(1, 2))\n"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def source(tmp_path) -> Path:
    path = tmp_path / "add.py"
    path.write_text(SOURCE)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "completer.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_complete_prints_json_with_text_and_stats(model_dir, source):
    r = run_cli("complete", str(source), "--line", "2", "--col", "12", "--model", str(model_dir),
                "--max-tokens", "8", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert isinstance(out["text"], str) and out["stats"]["forward_passes"] >= 1


def test_error_is_one_line_without_traceback(source):
    r = run_cli("complete", str(source), "--line", "99", "--col", "1", "--model", "/nonexistent/model")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert "line 99" in r.stderr


def test_help_lists_every_command():
    r = run_cli("--help")
    for command in ("complete", "serve", "eval", "arena", "train"):
        assert command in r.stdout


def expect_error(capsys, args: list[str], fragment: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_cursor_past_the_end_of_the_file(capsys, source, model_dir):
    expect_error(capsys, ["complete", str(source), "--line", "2", "--col", "40", "--model", str(model_dir)],
                 "column 40 is outside line 2")


def test_empty_file(capsys, tmp_path, model_dir):
    empty = tmp_path / "empty.py"
    empty.write_text("")
    expect_error(capsys, ["complete", str(empty), "--line", "1", "--col", "1", "--model", str(model_dir)], "empty")


def test_binary_file(capsys, tmp_path, model_dir):
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x7fELF\x00\x01\x02")
    expect_error(capsys, ["complete", str(binary), "--line", "1", "--col", "1", "--model", str(model_dir)], "binary")


def test_span_budget_of_zero(capsys, source, model_dir):
    expect_error(capsys, ["complete", str(source), "--line", "2", "--col", "12", "--model", str(model_dir),
                          "--max-tokens", "0"], "at least 1 token")


def test_context_budget_of_zero(capsys, source, model_dir):
    expect_error(capsys, ["complete", str(source), "--line", "2", "--col", "12", "--model", str(model_dir),
                          "--context-tokens", "0"], "--context-tokens must be a positive number")


def copy_checkpoint(model_dir: Path, dest: Path) -> Path:
    dest.mkdir()
    for f in model_dir.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


def test_missing_weights(capsys, source, model_dir, tmp_path):
    broken = copy_checkpoint(model_dir, tmp_path / "broken")
    (broken / "model.safetensors").unlink()
    expect_error(capsys, ["complete", str(source), "--line", "2", "--col", "12", "--model", str(broken)],
                 "no *.safetensors")


def test_truncated_weights(capsys, source, model_dir, tmp_path):
    broken = copy_checkpoint(model_dir, tmp_path / "broken")
    w = broken / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    expect_error(capsys, ["complete", str(source), "--line", "2", "--col", "12", "--model", str(broken)], "truncated")


def test_unknown_model_type(capsys, source, model_dir, tmp_path):
    broken = copy_checkpoint(model_dir, tmp_path / "broken")
    (broken / "config.json").write_text(json.dumps({"model_type": "bert"}))
    expect_error(capsys, ["complete", str(source), "--line", "2", "--col", "12", "--model", str(broken)],
                 "unknown model_type 'bert'")


def test_tokenizer_without_mask_token(capsys, source, model_dir, tmp_path):
    broken = copy_checkpoint(model_dir, tmp_path / "broken")
    config = json.loads((broken / "config.json").read_text())
    config["mask_token_id"] = -1
    (broken / "config.json").write_text(json.dumps(config))
    (broken / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|endoftext|>"}))
    expect_error(capsys, ["complete", str(source), "--line", "2", "--col", "12", "--model", str(broken)],
                 "no mask token")
