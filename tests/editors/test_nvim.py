"""completer.nvim in three real Neovims (0.7.2, 0.11.4, 0.12-dev), each in a tmux pane, on the scripted server.

The server is the real language server with a scripted model (tests/editors/scripted_server.py),
so the tests judge the plugin: where ghost text lands on the screen, its colour, every key, drafts,
start-up and :CompleterStatus. Keys go through nvim.input() so they pass the main loop as typed and
the insert-mode autocommands run; the screen is read back from tmux with its colours, as a person
in a terminal without 'termguicolors' (tmux's default) sees it. 0.12 runs Neovim's own
vim.lsp.inline_completion path; the others the plugin's.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynvim
import pytest

from tests.editors.installed import NEOVIMS

PLUGIN = Path(__file__).resolve().parents[2] / "editors" / "nvim"
REPO = Path(__file__).resolve().parents[2]
WAIT_S = 30.0
RULES = [
    {"after": "math.pi", "text": " * r ** 2"},
    {"after": "abs(", "text": "x - 1"},
    {"after": "return ", "text": "a + b"},
    {"after": "total = ", "text": "sum(values) + 1"},
    {"after": "def pair():\n    ", "text": "a = 1\n    return a"},
    {"after": "slow = ", "text": "compute(1, 2)", "drafts": ["compute", "compute(1"], "pause_ms": 700},
    {"after": "effort = ", "text": "{effort}"},
    {"after": "budget = ", "text": "{max_tokens}"},
    {"after": "total += ", "text": "value"},  # the next edit of SLIPPED: the unlikely "valeu" written again
]
UNLIKELY = ["valeu"]
SERVER_OPTIONS = {"lookup_drafts": 0, "max_tokens": 7}  # the server's defaults: no plugin default is 7
SLIPPED = ["def add_all(values):", "    total = 0", "    for value in values:", "        total += valeu", "    return total"]
FIXED_LINE = "        total += value"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed (apt-get install -y tmux)")


def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Editor:
    """One Neovim in a tmux pane: driven through its socket, seen through tmux."""

    nvim: pynvim.Nvim
    session: str
    version: str

    def screen_rows(self) -> list[list[tuple[str, set[str]]]]:
        """The screen's rows as (character, SGR attributes in effect) pairs. tmux writes an attribute where it
        changes, so one set on a row holds on the next ones until reset (a colour running on into a virtual line)."""
        rows: list[list[tuple[str, set[str]]]] = [[]]
        for ch, attrs in parse_sgr(self.tmux("capture-pane", "-p", "-e")):
            if ch == "\n":
                rows.append([])
            else:
                rows[-1].append((ch, attrs))
        return rows

    def screen_line(self, needle: str) -> list[tuple[str, set[str]]]:
        """The screen row holding `needle`, as (character, SGR attributes in effect) pairs."""
        return next((cells for cells in self.screen_rows() if needle in "".join(ch for ch, _ in cells)), [])

    def tmux(self, *command: str) -> str:
        """A tmux command on this editor's own tmux server (-L): no shared server to start or stop under another test."""
        return subprocess.run(["tmux", "-L", self.session, *command], capture_output=True, text=True, check=True).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def screen_text(self, needle: str) -> str:
        return "".join(ch for ch, _ in self.screen_line(needle)).rstrip()

    def buffer_text(self) -> str:
        return "\n".join(self.nvim.current.buffer[:])

    def status(self) -> dict:
        return self.nvim.exec_lua("return require('completer').status()")


def parse_sgr(text: str) -> list[tuple[str, set[str]]]:
    """Characters of captured text with the SGR codes set when each was drawn (reset by 0 or an empty code)."""
    cells, attrs = [], set()
    for escape, chunk in re.findall(r"(\x1b\[[0-9;]*m)?([^\x1b]*)", text):
        if escape:
            codes = escape[2:-1].split(";")
            if codes == [""] or "0" in codes[:1]:
                attrs = set()
                codes = codes[1:]
            attrs |= {code for code in codes if code}
        cells += [(ch, set(attrs)) for ch in chunk]
    return cells


def is_ghost(attrs: set[str]) -> bool:
    """CompleterGhost: italic (3) in a foreground colour of its own."""
    return "3" in attrs and any(code.startswith(("3", "9")) and code != "3" for code in attrs)


def start_editor(folder: Path, version: str, options: dict, script: dict) -> Editor:
    binary = NEOVIMS[version]
    session = f"completer-{uuid.uuid4().hex[:8]}"
    socket = folder / "nvim.sock"
    (folder / "script.json").write_text(json.dumps(script))
    subprocess.run(["tmux", "-L", session, "new-session", "-d", "-s", session, "-x", "200", "-y", "30", "-c", str(folder),
                    f"PYTHONPATH={REPO} {binary} --clean -n --listen {socket}"], check=True)
    wait_for(socket.exists, "the Neovim socket")
    nvim = pynvim.attach("socket", path=str(socket))
    nvim.command(f"set runtimepath^={PLUGIN}")
    nvim.command("filetype on")
    nvim.command("syntax off")  # the only colours on screen are the plugin's
    nvim.command("set cmdheight=2")  # no hit-enter prompt for a long message: it would block the test's commands
    server = [sys.executable, "-m", "tests.editors.scripted_server", str(folder / "script.json")]
    nvim.exec_lua("require('completer').setup(...)", {"cmd": server, "debounce_ms": 20, **options})
    return Editor(nvim, session, version)


def stop_editor(editor: Editor) -> None:
    try:
        editor.nvim.close()
    finally:
        subprocess.run(["tmux", "-L", editor.session, "kill-server"], check=False)


@pytest.fixture(scope="module", params=sorted(NEOVIMS))
def editor(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Editor]:
    if NEOVIMS[request.param] is None:
        pytest.skip(f"Neovim {request.param} is not installed (bash scripts/install_editors.sh)")
    editor = start_editor(tmp_path_factory.mktemp(f"nvim-{request.param}"), request.param, {},
                          {"rules": RULES, "unlikely": UNLIKELY, "options": SERVER_OPTIONS})
    yield editor
    stop_editor(editor)


def open_python(editor: Editor, name: str, lines: list[str]) -> None:
    editor.nvim.input("<Esc>")
    editor.nvim.command(f"edit {name}")
    editor.nvim.current.buffer[:] = lines
    wait_for(lambda: editor.status()["running"], "the server to initialize")


def type_until_ghost(editor: Editor, keys: str, line_start: str, ghost: str) -> list[tuple[str, set[str]]]:
    """Type `keys`, then wait until the row starting `line_start` shows `ghost` in ghost colours."""
    editor.nvim.input(keys)

    def ghost_shown():
        cells = editor.screen_line(line_start)
        shown = "".join(ch for ch, attrs in cells if is_ghost(attrs))
        return cells if shown == ghost else None

    try:
        return wait_for(ghost_shown, f"ghost text {ghost!r} on {line_start!r}")
    except AssertionError as error:
        raise AssertionError(f"{error}; the screen shows:\n{editor.screen()}") from None


@pytest.mark.parametrize(("typed", "keys", "ghost", "screen", "accepted"), [
    ("x = math", "GA.pi", " * r ** 2", "x = math.pi * r ** 2", "x = math.pi * r ** 2"),
    ("y = abs)", "G$i(", "x - 1", "y = abs(x - 1)", "y = abs(x - 1)"),
    ("    return", "GA ", "a + b", "    return a + b", "    return a + b"),
], ids=["after-identifier", "mid-line", "after-space"])
def test_ghost_text_shows_in_place_in_its_colour_and_tab_inserts_exactly_it(editor: Editor, typed, keys, ghost, screen, accepted):
    open_python(editor, f"place_{abs(hash(typed))}.py", ["def f(a, b, r, x):", typed])
    cells = type_until_ghost(editor, keys, screen[:6], ghost)
    assert "".join(ch for ch, _ in cells).rstrip() == screen  # the rest of the line stays right of the ghost text
    assert not any(is_ghost(attrs) for ch, attrs in cells[: screen.index(ghost)])
    editor.nvim.input("<Tab>")
    wait_for(lambda: editor.nvim.current.buffer[1] == accepted, f"the accepted line {accepted!r}")
    assert editor.nvim.api.get_mode()["mode"] == "i"
    assert tuple(editor.nvim.current.window.cursor) == (2, len(screen) - len(screen.split(ghost, 1)[1]))


def test_accept_word_inserts_the_first_word_and_the_rest_stays_shown(editor: Editor):
    open_python(editor, "word.py", ["values = [1, 2]", "total"])
    type_until_ghost(editor, "GA = ", "total", "sum(values) + 1")
    editor.nvim.input("<M-Right>")
    wait_for(lambda: editor.nvim.current.buffer[1] == "total = sum", "the accepted word")
    type_until_ghost(editor, "", "total", "(values) + 1")


def test_accept_line_inserts_one_line_of_a_block(editor: Editor):
    open_python(editor, "line.py", ["def pair():", "    "])
    type_until_ghost(editor, "GA<M-\\>", "a = 1", "a = 1")
    editor.nvim.input("<M-C-Right>")
    wait_for(lambda: editor.nvim.current.buffer[1:3] == ["    a = 1", ""], "the accepted line")
    type_until_ghost(editor, "", "return a", "    return a")
    editor.nvim.input("<Tab>")
    wait_for(lambda: editor.buffer_text() == "def pair():\n    a = 1\n    return a", "the rest of the block")


def test_dismiss_then_trigger_brings_the_suggestion_back(editor: Editor):
    open_python(editor, "keys.py", ["def f(a, b):", "    return"])
    type_until_ghost(editor, "GA ", "    return", "a + b")
    editor.nvim.input("<C-]>")
    wait_for(lambda: editor.screen_text("    return") == "    return", "the ghost text to go")
    assert editor.nvim.current.buffer[1] == "    return "
    editor.nvim.input("<M-\\>")
    type_until_ghost(editor, "", "    return", "a + b")


def test_moving_the_cursor_or_leaving_insert_mode_dismisses(editor: Editor):
    open_python(editor, "move.py", ["def f(a, b):", "    return"])
    type_until_ghost(editor, "GA ", "    return", "a + b")
    editor.nvim.input("<Left>")
    wait_for(lambda: editor.screen_text("    return") == "    return", "the ghost text to go after <Left>")
    type_until_ghost(editor, "<Right>x<BS>", "    return", "a + b")
    editor.nvim.input("<Esc>")
    wait_for(lambda: editor.screen_text("    return") == "    return", "the ghost text to go after <Esc>")
    assert editor.nvim.current.buffer[1] == "    return "


def test_a_draft_refines_in_place_and_the_final_suggestion_replaces_it(editor: Editor):
    open_python(editor, "draft.py", ["slow"])
    seen = []

    def final_shown():
        text = "".join(ch for ch, attrs in editor.screen_line("slow") if is_ghost(attrs))
        if text and (not seen or seen[-1] != text):
            seen.append(text)
        return text == "compute(1, 2)"

    editor.nvim.input("GA = ")
    wait_for(final_shown, f"the final suggestion (seen {seen})")
    assert seen[0] in ("compute", "compute(1") and seen[-1] == "compute(1, 2)", seen
    editor.nvim.input("<Tab>")
    wait_for(lambda: editor.nvim.current.buffer[0] == "slow = compute(1, 2)", "the accepted final suggestion")


def test_the_effort_option_reaches_the_server(editor: Editor):
    open_python(editor, "effort.py", [""])
    editor.nvim.exec_lua("local o = require('completer.config').options\n"
                         "require('completer').setup({ cmd = o.cmd, debounce_ms = o.debounce_ms, effort = 'high' })")
    try:
        type_until_ghost(editor, "ieffort = ", "effort = ", "high")
    finally:
        editor.nvim.input("<Esc>")
        editor.nvim.exec_lua("local o = require('completer.config').options\n"
                             "require('completer').setup({ cmd = o.cmd, debounce_ms = o.debounce_ms })")


def test_an_option_the_user_did_not_set_is_not_sent_so_the_servers_default_holds(editor: Editor):
    open_python(editor, "budget.py", [""])
    try:
        type_until_ghost(editor, "ibudget = ", "budget = ", str(SERVER_OPTIONS["max_tokens"]))
    finally:
        editor.nvim.input("<Esc>")


def test_status_shows_the_latency_and_an_empty_result(editor: Editor):
    open_python(editor, "status.py", ["nothing"])
    editor.nvim.input("GA = ")
    wait_for(lambda: editor.status()["last_result"] == "empty", "an empty result")
    editor.nvim.input("<M-\\>")
    wait_for(lambda: "no suggestion here" in editor.nvim.api.exec("messages", True), "the trigger's message")
    report = editor.nvim.api.exec("CompleterStatus", True)
    assert re.search(r"last latency: \d+ ms", report) and "last result: no suggestion" in report, report


def test_tab_without_a_suggestion_inserts_a_tab(editor: Editor):
    editor.nvim.command("CompleterToggle")
    try:
        open_python(editor, "plain.py", ["x = 1"])
        editor.nvim.command("setlocal noexpandtab softtabstop=0")
        editor.nvim.input("GA<Tab>y")
        wait_for(lambda: editor.nvim.current.buffer[0] == "x = 1\ty", "the typed tab")
    finally:
        editor.nvim.command("CompleterToggle")


def edit_shown(editor: Editor) -> bool:
    """The next edit on screen: "valeu" in CompleterEditOld (red), the line as it would read below in CompleterEditNew (green)."""
    slip = editor.screen_line("total += valeu")
    old = [attrs for ch, attrs in slip[slip and "".join(c for c, _ in slip).index("valeu"):][:5]] if slip else []
    new = editor.screen_line(FIXED_LINE)
    return len(old) == 5 and all("31" in attrs for attrs in old) and any("32" in attrs for ch, attrs in new if ch.strip())


def open_slipped(editor: Editor, name: str) -> None:
    """The slipped file, the cursor on line 4 after a visit to insert mode (leaving it asks for a next edit)."""
    open_python(editor, name, SLIPPED)
    editor.nvim.input("4GA<Esc>")


def test_a_next_edit_shows_the_old_text_struck_and_the_new_line_below_and_tab_applies_it(editor: Editor):
    open_slipped(editor, "next_edit.py")
    try:
        wait_for(lambda: edit_shown(editor), "the next edit")
    except AssertionError as error:
        raise AssertionError(f"{error}; the screen shows:\n{editor.screen()}") from None
    assert editor.nvim.current.buffer[3] == "        total += valeu"  # only shown
    editor.nvim.input("<Tab>")
    wait_for(lambda: editor.nvim.current.buffer[3] == FIXED_LINE, "the applied edit")
    assert editor.buffer_text() == "\n".join(SLIPPED).replace("valeu", "value")
    wait_for(lambda: not editor.screen_line("valeu"), "the edit's marks to go")


def test_esc_dismisses_a_next_edit_and_leaves_the_text_alone(editor: Editor):
    open_slipped(editor, "dismiss_edit.py")
    wait_for(lambda: edit_shown(editor), "the next edit")
    editor.nvim.input("<Esc>")
    wait_for(lambda: not editor.screen_line(FIXED_LINE), "the new line to go")
    assert editor.buffer_text() == "\n".join(SLIPPED)
    editor.nvim.input("<Tab>")  # no edit shown: Tab is Neovim's own again
    assert editor.buffer_text() == "\n".join(SLIPPED)


@contextlib.contextmanager
def next_edits_off(editor: Editor) -> Iterator[None]:
    """No next edit of its own: what shows is the rewrite's."""
    editor.nvim.exec_lua("require('completer.config').options.next_edits = false")
    try:
        yield
    finally:
        editor.nvim.exec_lua("require('completer.config').options.next_edits = true")


def preview_then_tab(editor: Editor, what: str) -> None:
    wait_for(lambda: edit_shown(editor), what)
    editor.nvim.input("<Tab>")
    wait_for(lambda: editor.nvim.current.buffer[3] == FIXED_LINE, "the applied edit")


def test_rewrite_selection_previews_the_rewrite_and_tab_applies_it(editor: Editor):
    with next_edits_off(editor):
        open_slipped(editor, "rewrite.py")
        editor.nvim.input("0fvve:CompleterRewrite<CR>")  # select "valeu"
        preview_then_tab(editor, "the rewrite's preview")


def test_the_servers_rewrite_code_action_runs_through_the_plugin_and_is_previewed(editor: Editor):
    with next_edits_off(editor):
        open_slipped(editor, "action.py")
        title = editor.nvim.exec_lua("""
            local server = require('completer.server')
            local client = server.client()
            local params = vim.lsp.util.make_given_range_params({ 4, 17 }, { 4, 21 }, 0, client.offset_encoding)
            params.context = { diagnostics = {} }
            local reply = server.call(client, 'request_sync', 'textDocument/codeAction', params, 5000, 0)
            local action = reply.result[1]
            vim.lsp.commands[action.command.command](action.command, { bufnr = vim.api.nvim_get_current_buf(), client_id = client.id })
            return action.title
        """)
        assert title == "Rewrite selection (completer)"
        preview_then_tab(editor, "the code action's preview")


def test_no_deprecated_calls(editor: Editor):
    if editor.version == "0.7":
        pytest.skip("0.7 has no vim.deprecated health check")
    editor.nvim.command("checkhealth vim.deprecated")
    report = "\n".join(editor.nvim.current.buffer[:])
    assert "completer" not in report, report
    editor.nvim.command("bwipeout!")


@pytest.mark.parametrize("version", sorted(NEOVIMS))
def test_keystrokes_typed_while_the_server_starts_get_a_suggestion(version: str, tmp_path: Path):
    if NEOVIMS[version] is None:
        pytest.skip(f"Neovim {version} is not installed (bash scripts/install_editors.sh)")
    editor = start_editor(tmp_path, version, {}, {"rules": RULES, "start_delay_ms": 1500, "options": SERVER_OPTIONS})
    try:
        editor.nvim.command("edit early.py")
        editor.nvim.current.buffer[:] = ["def f(a, b):", "    return"]
        editor.nvim.input("GA ")
        assert not editor.status()["running"]
        type_until_ghost(editor, "", "    return", "a + b")
    finally:
        stop_editor(editor)


@pytest.mark.parametrize("version", sorted(NEOVIMS))
def test_missing_server_gives_one_clear_message_and_health_names_it(version: str, tmp_path: Path):
    if NEOVIMS[version] is None:
        pytest.skip(f"Neovim {version} is not installed (bash scripts/install_editors.sh)")
    editor = start_editor(tmp_path, version, {"cmd": ["completer-not-installed", "serve", "--stdio"]}, {})
    try:
        nvim = editor.nvim
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
        stop_editor(editor)


# Arena mode: two systems on the scripted model, told apart by what the rule writes with their effort.
ARENA_RULE = {"after": "arena = ", "text": "{effort}_pick"}
ARENA_SYSTEMS = """\
[systems.quick]
effort = "low"
lookup_drafts = 0

[systems.careful]
effort = "high"
lookup_drafts = 0
"""
WRITER = {"low_pick": "quick", "high_pick": "careful"}  # each suggestion's system


@dataclass
class Arena:
    editor: Editor
    db: Path

    def battles(self) -> list[tuple[str, str, str | None]]:
        with contextlib.closing(sqlite3.connect(self.db)) as db:
            return db.execute("SELECT first, second, outcome FROM editor_battles ORDER BY rowid").fetchall()


@pytest.fixture(scope="module", params=sorted(NEOVIMS))
def arena(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arena]:
    if NEOVIMS[request.param] is None:
        pytest.skip(f"Neovim {request.param} is not installed (bash scripts/install_editors.sh)")
    folder = tmp_path_factory.mktemp(f"arena-{request.param}")
    (folder / "systems.toml").write_text(ARENA_SYSTEMS)
    db = folder / "arena.sqlite"
    editor = start_editor(folder, request.param, {"arena": {"systems": str(folder / "systems.toml"), "db": str(db)}},
                          {"rules": [ARENA_RULE], "options": SERVER_OPTIONS})
    yield Arena(editor, db)
    stop_editor(editor)


def type_until_both_shown(editor: Editor, name: str) -> tuple[str, str]:
    """In a new file type "arena = ", then wait for both suggestions: the first as ghost text at the cursor, the
    second in ghost colours on the line below after the key that accepts it. Returns (first, second)."""
    open_python(editor, name, [""])
    editor.nvim.input("iarena = ")

    def both_shown():
        rows = editor.screen_rows()
        for row, below in zip(rows, rows[1:]):
            if "".join(ch for ch, _ in row).startswith("arena = "):
                first = "".join(ch for ch, attrs in row if is_ghost(attrs))
                text = "".join(ch for ch, _ in below).strip()
                second = text.removeprefix("<S-Tab> ")
                colours = all(is_ghost(attrs) for ch, attrs in below if ch.strip())
                if {first, second} == set(WRITER) and text.startswith("<S-Tab> ") and colours:
                    return first, second
        return None

    try:
        return wait_for(both_shown, "both arena suggestions")
    except AssertionError as error:
        raise AssertionError(f"{error}; the screen shows:\n{editor.screen()}") from None


def test_arena_shows_both_suggestions_and_tab_inserts_the_first_and_votes_for_it(arena: Arena):
    editor = arena.editor
    first, second = type_until_both_shown(editor, "arena_first.py")
    assert not editor.status()["native"]  # 0.12 too: Neovim's own inline completion shows one at a time
    editor.nvim.input("<Tab>")
    wait_for(lambda: editor.buffer_text() == f"arena = {first}", f"the first suggestion {first!r}")
    wait_for(lambda: not editor.screen_line(f"<S-Tab> {second}"), "the second suggestion to go")
    wait_for(lambda: arena.battles()[-1:] == [(WRITER[first], WRITER[second], "first")], "the vote for the first")
    votes = wait_for(lambda: editor.status().get("arena_votes"), "the vote count")  # nil (left out) until a reply
    assert f"arena votes: {votes}" in editor.nvim.api.exec("CompleterStatus", True)


def test_arena_second_key_inserts_the_suggestion_below_and_votes_for_it(arena: Arena):
    editor = arena.editor
    first, second = type_until_both_shown(editor, "arena_second.py")
    editor.nvim.input("<S-Tab>")
    wait_for(lambda: editor.buffer_text() == f"arena = {second}", f"the second suggestion {second!r}")
    assert editor.nvim.api.get_mode()["mode"] == "i"
    assert tuple(editor.nvim.current.window.cursor) == (1, len(f"arena = {second}"))
    wait_for(lambda: arena.battles()[-1:] == [(WRITER[first], WRITER[second], "second")], "the vote for the second")


def test_arena_dismiss_clears_both_suggestions(arena: Arena):
    editor = arena.editor
    _, second = type_until_both_shown(editor, "arena_dismiss.py")
    editor.nvim.input("<C-]>")
    wait_for(lambda: editor.screen_text("arena =") == "arena =" and not editor.screen_line(second), "both to go")
    assert editor.buffer_text() == "arena = "


def test_arena_leaderboard_opens_as_markdown_with_both_systems(arena: Arena):
    editor = arena.editor
    type_until_both_shown(editor, "arena_board.py")
    editor.nvim.input("<Tab><Esc>")  # a vote of its own: both systems are in the database
    wait_for(lambda: arena.battles()[-1][2] == "first", "the vote")
    editor.nvim.command("CompleterArena")
    try:
        report = wait_for(lambda: editor.nvim.current.buffer.options["filetype"] == "markdown" and editor.buffer_text(),
                          "the leaderboard's buffer")
        assert "Arena leaderboard" in report and "quick" in report and "careful" in report, report
        assert editor.nvim.current.buffer.options["buftype"] == "nofile"
    finally:
        editor.nvim.command("silent! close")  # the leaderboard's window, if it opened
