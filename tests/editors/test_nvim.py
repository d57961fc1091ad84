"""completer.nvim in a headless Neovim (0.7.2 in CI) driving the real language server.

Keys go through nvim.input() so they pass the main loop as typed and the
insert-mode autocommands run, as they do for a person at the keyboard.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pynvim
import pytest

from tests.helpers import make_tiny_checkpoint

PLUGIN = Path(__file__).resolve().parents[2] / "editors" / "nvim"
WAIT_S = 120.0

pytestmark = pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim not installed (apt-get install -y neovim)")


def wait_for(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_nvim(folder: Path, options: dict) -> tuple[pynvim.Nvim, subprocess.Popen]:
    socket = folder / "nvim.sock"
    process = subprocess.Popen(["nvim", "--headless", "--clean", "-n", "--listen", str(socket)], cwd=folder,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(socket.exists, "the Neovim socket")
    nvim = pynvim.attach("socket", path=str(socket))
    nvim.command(f"set runtimepath^={PLUGIN}")
    nvim.command("filetype on")
    nvim.exec_lua("require('completer').setup(...)", options)
    return nvim, process


def stop_nvim(nvim: pynvim.Nvim, process: subprocess.Popen) -> None:
    nvim.close()
    process.kill()
    process.wait()


@pytest.fixture(scope="module")
def nvim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pynvim.Nvim]:
    model = make_tiny_checkpoint(tmp_path_factory.mktemp("model"))
    folder = tmp_path_factory.mktemp("nvim")
    options = {"cmd": [sys.executable, "-m", "lsp", "--stdio"], "model": str(model), "max_tokens": 8, "debounce_ms": 20}
    nvim, process = start_nvim(folder, options)
    nvim.command(f"cd {folder}")
    yield nvim
    stop_nvim(nvim, process)


def namespace(nvim: pynvim.Nvim) -> int:
    return nvim.exec_lua("return require('completer.ghost').namespace")


def shown(nvim: pynvim.Nvim) -> str | None:
    """The ghost text on screen: the first line's virtual text, then each virtual line."""
    marks = nvim.api.buf_get_extmarks(0, namespace(nvim), 0, -1, {"details": True})
    if not marks:
        return None
    details = marks[0][3]
    lines = ["".join(chunk[0] for chunk in details["virt_text"])]
    lines += ["".join(chunk[0] for chunk in line) for line in details.get("virt_lines", [])]
    return "\n".join(lines)


def open_python(nvim: pynvim.Nvim, name: str, lines: list[str]) -> None:
    nvim.input("<Esc>")
    nvim.command(f"edit {name}")
    nvim.current.buffer[:] = lines
    wait_for(lambda: nvim.exec_lua("return require('completer').status().running"), "the server to initialize")


def type_until_suggestion(nvim: pynvim.Nvim, keys: str) -> str:
    nvim.input(keys)
    return wait_for(lambda: shown(nvim), "ghost text")


def buffer_text(nvim: pynvim.Nvim) -> str:
    return "\n".join(nvim.current.buffer[:])


def on_screen(nvim: pynvim.Nvim, text: str) -> str:
    """How Neovim displays text (control characters as ^X), which is what the extmark holds."""
    return "\n".join(nvim.funcs.strtrans(line) for line in text.split("\n"))


def test_tab_inserts_exactly_the_shown_suggestion_at_the_cursor(nvim: pynvim.Nvim) -> None:
    open_python(nvim, "accept.py", ["def add(a, b):", "    return"])
    ghost = type_until_suggestion(nvim, "GA a")
    before = buffer_text(nvim)
    nvim.input("<Tab>")
    after = wait_for(lambda: buffer_text(nvim) if buffer_text(nvim) != before else None, "the accepted text")
    assert after.startswith(before)
    assert on_screen(nvim, after[len(before):]) == ghost
    assert nvim.api.get_mode()["mode"] == "i"
    row, col = nvim.current.window.cursor
    assert row == len(nvim.current.buffer)
    assert col == len(nvim.current.buffer[-1].encode())


def test_accept_word_inserts_the_first_word_and_keeps_the_rest_shown(nvim: pynvim.Nvim) -> None:
    open_python(nvim, "word.py", ["def add(a, b):", "    return"])
    ghost = type_until_suggestion(nvim, "GA a")
    before = buffer_text(nvim)
    nvim.input("<M-Right>")
    after = wait_for(lambda: buffer_text(nvim) if buffer_text(nvim) != before else None, "the accepted word")
    word = on_screen(nvim, after[len(before):])
    assert ghost.startswith(word) and word != ghost
    assert shown(nvim) == ghost[len(word):]


def test_moving_the_cursor_dismisses_the_suggestion(nvim: pynvim.Nvim) -> None:
    open_python(nvim, "move.py", ["def add(a, b):", "    return"])
    type_until_suggestion(nvim, "GA a")
    before = buffer_text(nvim)
    nvim.input("<Left>")
    wait_for(lambda: shown(nvim) is None, "the ghost text to go")
    assert buffer_text(nvim) == before


def test_leaving_insert_mode_dismisses_the_suggestion(nvim: pynvim.Nvim) -> None:
    open_python(nvim, "escape.py", ["def add(a, b):", "    return"])
    type_until_suggestion(nvim, "GA a")
    nvim.input("<Esc>")
    wait_for(lambda: shown(nvim) is None, "the ghost text to go")


def test_tab_without_a_suggestion_inserts_a_tab(nvim: pynvim.Nvim) -> None:
    nvim.command("CompleterToggle")
    try:
        open_python(nvim, "plain.py", ["x = 1"])
        nvim.command("setlocal noexpandtab softtabstop=0")
        nvim.input("GA<Tab>y")
        wait_for(lambda: nvim.current.buffer[0] == "x = 1\ty", "the typed tab")
        assert shown(nvim) is None
    finally:
        nvim.command("CompleterToggle")


def test_missing_server_gives_one_clear_message_and_health_names_it(tmp_path: Path) -> None:
    nvim, process = start_nvim(tmp_path, {"cmd": ["completer-not-installed", "serve", "--stdio"]})
    try:
        nvim.command("edit one.py")
        nvim.command("edit two.py")
        nvim.input("ia<Esc>")
        messages = wait_for(lambda: nvim.api.exec("messages", True), "the message")
        assert messages.count('server command "completer-not-installed" not found') == 1
        assert "E5108" not in messages and "Error" not in messages
        nvim.command("checkhealth completer")
        report = "\n".join(nvim.current.buffer[:])
        assert 'server command "completer-not-installed" not found' in report
        assert "last error: completer: server command" in report
    finally:
        stop_nvim(nvim, process)
