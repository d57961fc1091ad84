"""Neovim (headless, 0.7+) as the client: the server speaks plain LSP, not just pygls to pygls."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("inline_completion.lua")


@pytest.mark.skipif(shutil.which("nvim") is None, reason="needs Neovim: apt-get install -y neovim")
def test_neovim_gets_a_well_formed_inline_completion(tiny_model: Path, tmp_path: Path):
    document = tmp_path / "hello.py"
    document.write_text("print()\n")
    result_file = tmp_path / "result.json"
    env = {**os.environ, "PYTHON": sys.executable, "MODEL": str(tiny_model), "DOCUMENT": str(document), "RESULT_FILE": str(result_file)}
    subprocess.run(["nvim", "--headless", "-u", "NONE", "-c", f"luafile {SCRIPT}"], env=env, cwd=tmp_path, timeout=300, check=True, capture_output=True)

    report = json.loads(result_file.read_text())
    assert report.get("error") is None, report
    assert report["capability"] is True
    response = report["response"]
    assert "err" not in response, response
    items = response["result"]["items"]
    assert isinstance(items, list)
    for item in items:
        assert isinstance(item["insertText"], str) and "\n" not in item["insertText"]
        if "range" in item:
            assert item["range"]["start"] == {"line": 0, "character": 6}
