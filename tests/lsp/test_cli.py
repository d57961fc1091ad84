"""`completer complete` and `completer edit`, the language server's commands: they print what an editor would show,
and every bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from completer.cli import main
from tests.helpers import make_newline_checkpoint, make_tiny_checkpoint

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


def test_span_fills_the_kind_it_names_instead_of_the_one_the_cursor_picks(tmp_path):
    model = make_newline_checkpoint(tmp_path / "newlines")  # it writes nothing but newlines where it may
    path = tmp_path / "add.py"
    path.write_text("def add(a, b):\n    \n\nprint(add(1, 2))\n")  # the cursor opens the body: a block

    def complete(*span: str) -> dict:
        r = run_cli("complete", str(path), "--line", "2", "--col", "5", "--model", str(model), "--max-tokens", "8",
                    *span, "--json")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    picked, line = complete(), complete("--span", "line")
    assert picked["span"] == "block" and "\n" in picked["raw"]
    assert line["span"] == "line" and line["raw"] and "\n" not in line["raw"]


def test_error_is_one_line_without_traceback(source):
    r = run_cli("complete", str(source), "--line", "99", "--col", "1", "--model", "/nonexistent/model")
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    assert "line 99" in r.stderr


def test_help_lists_every_command():
    r = run_cli("--help")
    for command in ("complete", "edit", "serve", "eval", "arena", "train", "doctor"):
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
                          "--max-tokens", "0"], "--max-tokens must be a whole number from 1 to 1024, got 0")


def test_a_span_kind_that_is_none_of_ours(capsys, source, model_dir):
    expect_error(capsys, ["complete", str(source), "--line", "2", "--col", "12", "--model", str(model_dir),
                          "--span", "word"], "--span must be one of free, line, block, got 'word'")


def test_context_budget_of_zero(capsys, source, model_dir):
    expect_error(capsys, ["complete", str(source), "--line", "2", "--col", "12", "--model", str(model_dir),
                          "--context-tokens", "0"], "--context-tokens must be a whole number >= 1, got 0")


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


EDIT_SOURCE = "def add_all(values):\n    total = 0\n    for value in values:\n        total += valeu\n    return total\n"


@pytest.fixture
def slipped(tmp_path) -> Path:
    path = tmp_path / "add_all.py"
    path.write_text(EDIT_SOURCE)
    return path


def test_edit_prints_the_next_edit_the_language_server_would_suggest(model_dir, slipped):
    from completer.models import open_model
    from completer.options import Options
    from lsp.edits import next_edit

    r = run_cli("edit", str(slipped), "--line", "4", "--col", "18", "--model", str(model_dir), "--edit-threshold", "1",
                "--no-reuse-keys", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    scheduler = open_model(str(model_dir))
    try:
        expected = next_edit(scheduler, EDIT_SOURCE, EDIT_SOURCE.index("valeu"), "python", Options(reuse_keys=False), threshold=1.0)
    finally:
        scheduler.close()
    assert [e["text"] for e in out["edits"]] == [e.text for e in expected.edits]
    assert [e["old"] for e in out["edits"]] == [EDIT_SOURCE[e.start:e.end] for e in expected.edits]
    assert out["masked"][0]["line"] == 4 and out["stats"]["forward_passes"] >= 1


def test_edit_says_no_edit_when_nothing_is_unlikely_enough_and_rewrites_a_selection(model_dir, slipped):
    r = run_cli("edit", str(slipped), "--line", "4", "--col", "18", "--model", str(model_dir), "--edit-threshold", "0")
    assert (r.returncode, r.stdout) == (0, "no edit\n")
    r = run_cli("edit", str(slipped), "--line", "4", "--col", "9", "--select-to", "4:23", "--model", str(model_dir), "--json")
    assert r.returncode == 0, r.stderr
    assert all(e["start"]["line"] == 4 and e["end"]["line"] == 4 for e in json.loads(r.stdout)["edits"])


@pytest.mark.parametrize(("args", "fragment"), [
    (["--select-to", "four"], "--select-to takes LINE:COL"),
    (["--select-to", "9:1"], "line 9 is outside"),
    (["--edit-threshold", "2"], "--edit-threshold must be a number in [0, 1], got 2.0"),
])
def test_edit_errors_are_one_line(capsys, model_dir, slipped, args, fragment):
    expect_error(capsys, ["edit", str(slipped), "--line", "4", "--col", "9", "--model", str(model_dir), *args], fragment)
