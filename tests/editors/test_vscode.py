"""The packaged VS Code extension (editors/vscode/completer.vsix) in a real VS Code: code-server in headless Chromium.

One code-server and one browser serve the whole module. Each test writes its own model script and points the
extension at it (tests.editors.scripted_server: the real language server, scripted model), which restarts the
server; then it types with real key events, reads the ghost text from the DOM, accepts it with Tab, saves with
Ctrl+S and reads the file on disk, so the whole path from keystroke to file is the product's.

code-server comes from scripts/install_code_server.sh (COMPLETER_CODE_SERVER names its launcher, else the default
cache folder); the vsix from `cd editors/vscode && npm ci && npm run package`. Without either, or without Debian's
chromium, the module is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.servers import free_port

REPO = Path(__file__).resolve().parents[2]
# COMPLETER_VSIX: a vsix packaged elsewhere (e.g. from a copy of editors/vscode while its source is being edited).
VSIX = Path(os.environ.get("COMPLETER_VSIX") or REPO / "editors" / "vscode" / "completer.vsix")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]
WAIT_S = 30.0
STATUS_ITEM = "[id='completer.completer'] .statusbar-item-label"  # the extension's status bar item (id = extension id)
GHOST_INLINE = ".part.editor .monaco-editor .view-line .ghost-text-decoration"  # ghost text on the cursor's line
GHOST_LINES = ".part.editor .monaco-editor .suggest-preview-text .view-line"  # its further lines (a view zone)
READY = "$(sparkle)"  # how the status bar item starts in every "ready" state (editors/vscode/src/status.ts)
ARENA_ITEM = "[id='completer.completer.arena'] .statusbar-item-label"  # arena mode's vote count (id: extension id.item id)


def code_server_launcher() -> Path | None:
    """Where scripts/install_code_server.sh put code-server (test.sh exports its path), if it did."""
    named = os.environ.get("COMPLETER_CODE_SERVER")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = Path(named) if named else cache / "completer-editors" / "code-server" / "bin" / "code-server"
    return path if path.is_file() else None


CODE_SERVER = code_server_launcher()

pytestmark = [
    pytest.mark.skipif(CODE_SERVER is None, reason="code-server not installed: run scripts/install_code_server.sh"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium: apt-get install -y chromium"),
    pytest.mark.skipif(not VSIX.exists(), reason=f"no {VSIX}: cd editors/vscode && npm ci && npm run package"),
]

# Everything that would pop up, steal focus or insert text besides the extension is off.
USER_SETTINGS = {
    "completer.effort": "high",
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.welcomePage.walkthroughs.openOnInstall": False,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "workbench.enableExperiments": False,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "extensions.ignoreRecommendations": True,
    "security.workspace.trust.enabled": False,
    "git.enabled": False,
    "files.autoSave": "off",
    "files.insertFinalNewline": False,
    "files.trimTrailingWhitespace": False,
    "editor.inlineSuggest.enabled": True,
    "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
    "editor.suggestOnTriggerCharacters": False,
    "editor.wordBasedSuggestions": "off",
    "editor.parameterHints.enabled": False,
    "editor.hover.enabled": False,
    "editor.autoClosingBrackets": "never",
    "editor.autoClosingQuotes": "never",
    "editor.autoSurround": "never",
    "editor.autoIndent": "none",
    "editor.formatOnType": False,
    "editor.minimap.enabled": False,
    "completer.trace.server": "verbose",  # the LSP traffic in the extension's output (logged at trace level, see URL)
}
# Not "chat.disableAIFeatures": in VS Code 1.139 it silences every inline completion provider, this one too.


@dataclass
class CodeServer:
    """A running code-server with its folders; `url` opens the workspace."""
    process: subprocess.Popen
    root: Path
    workspace: Path
    url: str

    @property
    def machine_settings(self) -> Path:
        """Remote settings: code-server ignores machine-scoped settings (serverPath, serverArgs) in User settings."""
        return self.root / "data" / "Machine" / "settings.json"

    def log_tail(self, lines: int = 40) -> str:
        text = (self.root / "code-server.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def extension_log(self) -> str:
        """The extension's "Completer" output channel (a log channel, so VS Code also writes it to a file)."""
        logs = sorted((self.root / "data" / "logs").glob("*/exthost*/completer.completer/Completer.log"),
                      key=lambda path: path.stat().st_mtime)
        return logs[-1].read_text(errors="replace") if logs else ""


def write_script(path: Path, rules: list[dict], **options: Any) -> Path:
    """A scripted model for tests.editors.scripted_server: the first rule whose `after` ends the prefix answers."""
    path.write_text(json.dumps({"rules": rules, **options}))
    return path


def point_at_script(machine_settings: Path, script: Path, settings: dict[str, Any] | None = None) -> None:
    """Run the scripted server on `script`: changing completer.serverArgs makes the extension restart it.
    `settings`: more of the extension's, which the new server starts with."""
    command = {"completer.serverPath": sys.executable,
               "completer.serverArgs": ["-m", "tests.editors.scripted_server", str(script)]}
    machine_settings.write_text(json.dumps({**command, **(settings or {})}, indent=1))


def server_loaded(server: CodeServer, script: Path) -> bool:
    """The extension started the server on `script` and that server loaded its model (logged after `initialized`)."""
    log = server.extension_log()
    start = log.rfind(f"Starting the server: {sys.executable} -m tests.editors.scripted_server {script}\n")
    return start >= 0 and "completer: model scripted loaded" in log[start:]


def healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def code_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CodeServer]:
    """Fresh user data, extensions and workspace folders; the vsix installed first, as a user would (its own invocation)."""
    root = tmp_path_factory.mktemp("vscode")
    workspace, data = root / "workspace", root / "data"
    for folder in (workspace, data / "User", data / "Machine", root / "xdg"):
        folder.mkdir(parents=True)
    (data / "User" / "settings.json").write_text(json.dumps(USER_SETTINGS, indent=1))
    (root / "config.yaml").write_text("auth: none\n")
    # PYTHONPATH: the extension starts the server with code-server's cwd, and `tests` must import there.
    # XDG_*: code-server keeps state there; none of it goes to the real home.
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CONFIG_HOME": str(root / "xdg"), "XDG_DATA_HOME": str(root / "xdg")}
    common = [str(CODE_SERVER), "--config", str(root / "config.yaml"), "--user-data-dir", str(data),
              "--extensions-dir", str(root / "extensions")]
    point_at_script(data / "Machine" / "settings.json", write_script(root / "start.json", []))
    installed = subprocess.run([*common, "--install-extension", str(VSIX)], env=env, capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, f"installing {VSIX} failed:\n{installed.stdout}\n{installed.stderr}"
    port = free_port()
    with open(root / "code-server.log", "w") as log:
        process = subprocess.Popen([*common, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}", "--disable-telemetry",
                                    "--disable-update-check", "--disable-workspace-trust", "--disable-getting-started-override",
                                    str(workspace)], cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    # The web workbench takes log levels from the URL payload: the extension's log channel at trace shows the LSP traffic.
    payload = urllib.parse.quote(json.dumps([["logLevel", "info,completer.completer:trace"]]))
    server = CodeServer(process, root, workspace, f"http://127.0.0.1:{port}/?folder={workspace}&payload={payload}")
    try:
        deadline = time.monotonic() + WAIT_S
        while not healthy(port):
            assert process.poll() is None and time.monotonic() < deadline, f"code-server did not start:\n{server.log_tail()}"
            time.sleep(0.1)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the extension host and language server go with it
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def workbench(code_server: CodeServer, browser: Browser) -> Iterator[Page]:
    """The workbench on the workspace folder, with the extension's server running."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(code_server.url)
    deadline = time.monotonic() + 2 * WAIT_S  # a cold start: the workbench, the extension host, then the server
    while not (server_loaded(code_server, code_server.root / "start.json") and status_text(page).startswith(READY)):
        if time.monotonic() > deadline:
            page.screenshot(path=code_server.root / "startup.png")
            raise AssertionError(f"the extension's server never got ready (screenshot {code_server.root / 'startup.png'})\n"
                                 f"code-server:\n{code_server.log_tail()}\nextension:\n{code_server.extension_log()}")
        time.sleep(0.1)
    yield page
    page.close()


def status_text(page: Page) -> str:
    """The extension's status bar item as the extension set it, icons as `$(name)`: e.g. "$(sparkle) Completer 9 ms".

    "" while the item is not shown.
    """
    return page.evaluate("""(selector) => {
        const label = document.querySelector(selector);
        if (!label) return "";
        return [...label.childNodes].map((node) => {
            if (node.nodeType === Node.TEXT_NODE) return node.textContent;
            const classes = [...(node.classList || [])];
            const icon = classes.find((c) => c.startsWith("codicon-") && !c.startsWith("codicon-modifier-"));
            if (!icon) return node.textContent;
            const modifier = classes.find((c) => c.startsWith("codicon-modifier-"));
            const suffix = modifier ? "~" + modifier.slice("codicon-modifier-".length) : "";
            return "$(" + icon.slice("codicon-".length) + suffix + ")";
        }).join("");
    }""", STATUS_ITEM)


def draft_text(page: Page) -> str:
    """The draft the extension shows after the cursor ("" when none): its decoration's CSS ::after content."""
    content = page.evaluate("""() => [...document.querySelectorAll(".part.editor .monaco-editor .view-line span[class^='ced-']")]
        .map((e) => getComputedStyle(e, "::after").content).find((c) => c && c !== "none" && c !== "normal") || ""
    """)
    return content[1:-1].replace('\\"', '"').replace("\\\\", "\\") if content else ""


def ghost_text(page: Page) -> str:
    """The inline suggestion VS Code shows in the editor ("" when none): the rest of the cursor's line, then any further lines."""
    parts = page.evaluate("""([inline, lines]) => [
        [...document.querySelectorAll(inline)].map((e) => e.textContent).join(""),
        ...[...document.querySelectorAll(lines)].map((e) => e.textContent),
    ]""", [GHOST_INLINE, GHOST_LINES])
    return "\n".join(parts).replace("\u00a0", " ") if any(parts) else ""


@dataclass
class Editor:
    """One test's view of the shared workbench; failures carry a screenshot and the logs."""
    page: Page
    server: CodeServer
    tmp_path: Path

    def explain(self, what: str) -> str:
        """The assertion message: what failed, where the screenshot is, code-server's log tail and the extension's output."""
        shot = self.tmp_path / "failure.png"
        try:
            self.page.screenshot(path=shot)
        except Exception as error:  # the page may be gone; the logs still help
            shot = Path(f"(no screenshot: {error})")
        return (f"{what}\nscreenshot: {shot}\nstatus bar: {status_text(self.page)!r}, ghost text: {ghost_text(self.page)!r}\n"
                f"--- code-server log (tail) ---\n{self.server.log_tail()}\n"
                f"--- extension output ---\n{self.server.extension_log()[-6000:]}")

    def wait_for(self, check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(self.explain(f"timed out after {timeout:.0f} s waiting for {what}"))
            time.sleep(0.05)

    def wait_for_ghost_text(self, expected: str) -> None:
        """Until the editor shows exactly `expected`: a multi-line suggestion renders its further lines a frame later."""
        self.wait_for(lambda: ghost_text(self.page) == expected, f"the ghost text {expected!r}")

    def use_script(self, rules: list[dict], settings: dict[str, Any] | None = None, **options: Any) -> None:
        """Restart the extension's server on this test's own script (and `settings`) and wait until it is ready."""
        script = write_script(self.tmp_path / "script.json", rules, **options)
        point_at_script(self.server.machine_settings, script, settings)
        self.wait_for(lambda: server_loaded(self.server, script), f"the server to restart on {script}")
        self.wait_for(lambda: status_text(self.page).startswith(READY), "the status bar to say the server is ready")

    def open(self, name: str, text: str) -> Path:
        """Write `name` into the workspace, open it with Quick Open and put the cursor at its end."""
        path = self.server.workspace / name
        path.write_text(text)
        self.page.keyboard.press("Control+P")
        self.wait_for(lambda: self.page.query_selector(".quick-input-widget input:focus"), "Quick Open")
        self.page.keyboard.type(str(path))  # an absolute path: Quick Open lists it without waiting for the file search
        self.wait_for(lambda: self.page.query_selector(f".quick-input-list .monaco-list-row[aria-label^='{name}']"),
                      f"Quick Open to list {name}")
        self.page.keyboard.press("Enter")
        self.wait_for(lambda: self.page.title().startswith(f"{name} "), f"{name} to be the active editor")
        self.wait_for(lambda: self.page.query_selector(".part.editor .monaco-editor.focused"), "the editor to have focus")
        self.page.keyboard.press("Control+End")
        return path

    def type(self, keys: str) -> None:
        """Real key events, one per character, as a person types."""
        self.page.keyboard.type(keys)

    def accept_and_save(self, path: Path, expected: str) -> str:
        """Tab, Ctrl+S, and the file on disk once it changed: VS Code saves asynchronously."""
        before = path.read_text()
        self.page.keyboard.press("Tab")
        self.wait_for(lambda: ghost_text(self.page) == "", "the ghost text to go after Tab")
        self.page.keyboard.press("Control+S")
        self.wait_for(lambda: path.read_text() != before, f"{path.name} to be saved")
        saved = path.read_text()
        assert saved == expected, self.explain(f"{path.name} on disk after Tab and Ctrl+S: {saved!r}, expected {expected!r}")
        return saved


@pytest.fixture
def editor(workbench: Page, code_server: CodeServer, tmp_path: Path) -> Editor:
    return Editor(workbench, code_server, tmp_path)


@pytest.mark.parametrize(("name", "rule", "text", "keys", "ghost", "saved"), [
    ("after_identifier.py", {"after": "math.pi", "text": " * r ** 2"}, "import math\n\nr = 2\n", ["x = math.pi"], " * r ** 2",
     "import math\n\nr = 2\nx = math.pi * r ** 2"),
    # brackets never auto-close here: typing `y = abs)`, Left and `(` gives `y = abs(|)`
    ("mid_line.py", {"after": "abs(", "text": "x - 1"}, "x = 3\n", ["y = abs)", "ArrowLeft", "("], "x - 1", "x = 3\ny = abs(x - 1)"),
    ("after_space.py", {"after": "return ", "text": "a + b"}, "def add(a, b):\n    ", ["return "], "a + b", "def add(a, b):\n    return a + b"),
], ids=["after-identifier", "mid-line", "after-space"])
def test_ghost_text_shows_where_people_type_and_tab_writes_exactly_it(editor: Editor, name, rule, text, keys, ghost, saved) -> None:
    editor.use_script([rule])
    path = editor.open(name, text)
    for key in keys:
        editor.page.keyboard.press(key) if key == "ArrowLeft" else editor.type(key)
    editor.wait_for_ghost_text(ghost)
    editor.accept_and_save(path, saved)


def test_a_draft_shows_while_the_model_works_and_the_final_suggestion_replaces_it(editor: Editor) -> None:
    editor.use_script([{"after": "slow = ", "text": "compute(1, 2)", "drafts": ["compute", "compute(1"], "pause_ms": 700}])
    path = editor.open("draft.py", "")
    editor.type("slow = ")
    editor.wait_for(lambda: draft_text(editor.page) == "compute", "the first draft")
    editor.wait_for(lambda: draft_text(editor.page) == "compute(1", "the draft to refine in place")
    editor.wait_for_ghost_text("compute(1, 2)")
    assert draft_text(editor.page) == "", editor.explain("the draft stayed beside the final suggestion")
    editor.accept_and_save(path, "slow = compute(1, 2)")


def test_the_effort_setting_reaches_the_server(editor: Editor) -> None:
    editor.use_script([{"after": "effort = ", "text": "{effort}"}])  # the scripted model answers with the effort
    path = editor.open("effort.py", "")
    editor.type("effort = ")
    editor.wait_for_ghost_text("high")  # USER_SETTINGS sets it; the default is medium
    editor.accept_and_save(path, "effort = high")


def test_a_setting_the_user_left_unset_is_not_sent_so_the_servers_default_holds(editor: Editor) -> None:
    # the scripted model answers with the request's max_tokens; the server's default here is 7, which no editor has
    editor.use_script([{"after": "budget = ", "text": "{max_tokens}"}], options={"max_tokens": 7})
    path = editor.open("budget.py", "")
    editor.type("budget = ")
    editor.wait_for_ghost_text("7")
    editor.accept_and_save(path, "budget = 7")


def test_an_empty_result_says_no_suggestion_in_the_status_bar(editor: Editor) -> None:
    editor.use_script([])
    editor.open("empty.py", "")
    editor.type("nothing = ")
    editor.wait_for(lambda: status_text(editor.page).startswith("$(sparkle) Completer: no suggestion ("), "the status bar to say so")


def test_keys_typed_while_the_server_starts_get_a_suggestion_once_it_is_ready(editor: Editor) -> None:
    editor.use_script([])
    path = editor.open("early.py", "def add(a, b):\n    ")
    script = write_script(editor.tmp_path / "slow-start.json", [{"after": "return ", "text": "a + b"}], start_delay_ms=3000)
    point_at_script(editor.server.machine_settings, script)
    editor.wait_for(lambda: status_text(editor.page).startswith("$(sync~spin)"), "the server to restart")
    editor.type("return ")
    editor.wait_for_ghost_text("a + b")
    editor.accept_and_save(path, "def add(a, b):\n    return a + b")


def test_a_server_that_dies_at_start_up_is_retried_with_back_off_then_left_stopped(editor: Editor) -> None:
    script = write_script(editor.tmp_path / "dies.json", [], exit_at_start=True)
    point_at_script(editor.server.machine_settings, script)
    starts = f"Starting the server: {sys.executable} -m tests.editors.scripted_server {script}\n"
    editor.wait_for(lambda: status_text(editor.page) == "$(error) Completer", "the extension to give up", timeout=90)
    assert editor.server.extension_log().count(starts) == 6, editor.explain("not one start and five restarts (1, 2, 4, 8, 16 s)")
    assert not editor.page.query_selector(".notification-toast:has-text('EPIPE')"), editor.explain("a raw EPIPE pop-up")


SLIPPED = "def add_all(values):\n    total = 0\n    for value in values:\n        total += valeu\n    return total\n"
FIX_RULES = [{"after": "total += ", "text": "value"}]  # the scripted model writes "value" where "valeu" was


def edit_preview(page: Page) -> tuple[str, str]:
    """The suggested edit on screen: (the text struck through, the new text beside it); ("", "") when none."""
    struck, beside = page.evaluate("""() => {
        const spans = [...document.querySelectorAll(".part.editor .monaco-editor .view-line span")];
        const struck = spans.filter((e) => e.children.length === 0 && getComputedStyle(e).textDecorationLine.includes("line-through"));
        const beside = spans.filter((e) => (e.className || "").startsWith("ced-"))
            .map((e) => getComputedStyle(e, "::after").content).filter((c) => c && c !== "none" && c !== "normal");
        return [struck.map((e) => e.textContent).join(""), beside.join("")];
    }""")
    return struck.replace("\u00a0", " "), beside[1:-1] if beside else ""


def run_command(editor: Editor, title: str) -> None:
    """"Completer: `title`" from the command palette (F1)."""
    editor.page.keyboard.press("F1")
    editor.wait_for(lambda: editor.page.query_selector(".quick-input-widget input:focus"), "the command palette")
    editor.type(f"Completer: {title}")
    editor.wait_for(lambda: editor.page.query_selector(f".quick-input-list .monaco-list-row[aria-label*='{title}']"), f"the command {title}")
    editor.page.keyboard.press("Enter")


def select_word_left_of_line_end(editor: Editor, up: int) -> None:
    for _ in range(up):
        editor.page.keyboard.press("ArrowUp")
    editor.page.keyboard.press("End")
    editor.page.keyboard.press("Control+Shift+ArrowLeft")


def apply_and_save(editor: Editor, path: Path, expected: str) -> None:
    """Tab applies the edit on screen; Ctrl+S; the file on disk must be `expected`."""
    before = path.read_text()
    editor.page.keyboard.press("Tab")
    editor.wait_for(lambda: edit_preview(editor.page) == ("", ""), "the edit's preview to go after Tab")
    editor.page.keyboard.press("Control+S")
    editor.wait_for(lambda: path.read_text() != before, f"{path.name} to be saved")
    assert path.read_text() == expected, editor.explain(f"{path.name} on disk: {path.read_text()!r}, expected {expected!r}")


def test_a_next_edit_shows_struck_through_with_the_new_text_beside_and_tab_applies_it(editor: Editor) -> None:
    editor.use_script(FIX_RULES, unlikely=["valeu"])
    path = editor.open("next_edit.py", SLIPPED)
    editor.type(" ")
    editor.page.keyboard.press("Backspace")  # an edit, then a pause in typing: the extension asks for a next edit
    editor.wait_for(lambda: edit_preview(editor.page) == ("valeu", "value"), "the next edit's preview")
    apply_and_save(editor, path, SLIPPED.replace("valeu", "value"))


def test_esc_dismisses_a_next_edit(editor: Editor) -> None:
    editor.use_script(FIX_RULES, unlikely=["valeu"])
    editor.open("dismissed.py", SLIPPED)
    editor.type(" ")
    editor.page.keyboard.press("Backspace")
    editor.wait_for(lambda: edit_preview(editor.page) == ("valeu", "value"), "the next edit's preview")
    editor.page.keyboard.press("Escape")
    editor.wait_for(lambda: edit_preview(editor.page) == ("", ""), "the preview to go after Esc")


def test_rewrite_selection_from_the_command_palette_previews_and_tab_applies(editor: Editor) -> None:
    editor.use_script(FIX_RULES)
    path = editor.open("rewrite.py", SLIPPED)
    select_word_left_of_line_end(editor, up=2)
    run_command(editor, "Rewrite Selection")
    editor.wait_for(lambda: edit_preview(editor.page) == ("valeu", "value"), "the rewrite's preview")
    apply_and_save(editor, path, SLIPPED.replace("valeu", "value"))


def test_the_servers_rewrite_code_action_is_offered_on_a_selection_and_previewed(editor: Editor) -> None:
    editor.use_script(FIX_RULES)
    path = editor.open("action.py", SLIPPED)
    select_word_left_of_line_end(editor, up=2)
    editor.page.keyboard.press("Control+.")
    action = ".action-widget .monaco-list-row:has-text('Rewrite selection (completer)')"
    editor.wait_for(lambda: editor.page.query_selector(action), "the code action in the menu")
    editor.page.click(action)
    editor.wait_for(lambda: edit_preview(editor.page) == ("valeu", "value"), "the code action's preview")
    apply_and_save(editor, path, SLIPPED.replace("valeu", "value"))


# Arena mode: both systems run on the scripted model, each with its own effort, so the text says who wrote it.
ARENA_SYSTEMS = """[systems.quick]
effort = "low"
lookup_drafts = 0

[systems.careful]
effort = "high"
lookup_drafts = 0
"""
ARENA_RULES = [{"after": "arena = ", "text": "{effort}_pick"}]
WROTE = {"low_pick": "quick", "high_pick": "careful"}
OTHER = {"low_pick": "high_pick", "high_pick": "low_pick"}


def use_arena(editor: Editor) -> Path:
    """Restart the server in arena mode on this test's systems file and database; the database's path."""
    systems, db = editor.tmp_path / "systems.toml", editor.tmp_path / "arena.sqlite"
    systems.write_text(ARENA_SYSTEMS)
    editor.use_script(ARENA_RULES, settings={"completer.arena": {"systems": str(systems), "db": str(db)}})
    return db


def arena_second_text(page: Page) -> str:
    """The arena's second suggestion as the extension draws it ("" when none): a decoration's CSS content naming its key."""
    content = page.evaluate("""() => [...document.querySelectorAll(".part.editor .monaco-editor .view-line span[class*='ced-']")]
        .flatMap((e) => [getComputedStyle(e, "::before").content, getComputedStyle(e, "::after").content])
        .find((c) => c && c.startsWith('"Shift+Tab')) || ""
    """)
    return content[1:-1].replace('\\"', '"').replace("\\\\", "\\") if content else ""


def arena_status(page: Page) -> str:
    label = page.query_selector(ARENA_ITEM)
    return label.text_content() if label else ""


def wait_for_pair(editor: Editor) -> tuple[str, str]:
    """Both suggestions on screen: (the ghost text, the second below it), in the random order the server chose."""
    shown = editor.wait_for(lambda: ghost_text(editor.page) in WROTE and ghost_text(editor.page), "the first suggestion as ghost text")
    second = OTHER[shown]
    editor.wait_for(lambda: arena_second_text(editor.page) == f"Shift+Tab: {second}", f"the second suggestion {second!r} drawn below")
    return shown, second


def pair_in_new_file(editor: Editor, name: str) -> tuple[str, str]:
    """Arena mode on, `name` opened empty and `arena = ` typed: both suggestions on screen, as wait_for_pair gives them."""
    use_arena(editor)
    editor.open(name, "")
    editor.type("arena = ")
    return wait_for_pair(editor)


def votes(db: Path) -> list[tuple[str, str, str]]:
    """The battles the user decided, in order: (system shown first, system shown second, outcome)."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT first, second, outcome FROM editor_battles WHERE outcome IN ('first', 'second') "
                                  "ORDER BY rowid").fetchall()


def test_arena_shows_both_suggestions_and_tab_or_shift_tab_writes_that_one_and_votes_for_it(editor: Editor) -> None:
    db = use_arena(editor)
    path = editor.open("arena.py", "\nprint(arena)\n")
    editor.page.keyboard.press("Control+Home")
    editor.type("arena = ")  # a line below: the second is drawn at its start
    first_shown, first_other = wait_for_pair(editor)
    editor.page.keyboard.press("Tab")
    editor.wait_for(lambda: arena_second_text(editor.page) == "", "the second suggestion to go after Tab")
    editor.wait_for(lambda: arena_status(editor.page) == "arena: 1 vote", "the status bar to count the vote")
    editor.page.keyboard.press("Control+End")
    editor.type("arena = ")  # the last line: the second is drawn after it
    second_shown, second_other = wait_for_pair(editor)
    editor.page.keyboard.press("Shift+Tab")
    editor.wait_for(lambda: ghost_text(editor.page) == "" and arena_second_text(editor.page) == "", "both suggestions to go after Shift+Tab")
    editor.wait_for(lambda: arena_status(editor.page) == "arena: 2 votes", "the status bar to count the second vote")
    editor.page.keyboard.press("Control+S")
    expected = f"arena = {first_shown}\nprint(arena)\narena = {second_other}"
    editor.wait_for(lambda: path.read_text() == expected, f"{path.name} to be saved as {expected!r}")
    assert votes(db) == [(WROTE[first_shown], WROTE[first_other], "first"), (WROTE[second_shown], WROTE[second_other], "second")], \
        editor.explain(f"the votes in {db}: {votes(db)}")


def test_the_arena_leaderboard_command_opens_the_servers_report(editor: Editor) -> None:
    pair_in_new_file(editor, "leaderboard.py")
    editor.page.keyboard.press("Tab")
    editor.wait_for(lambda: arena_status(editor.page) == "arena: 1 vote", "the status bar to count the vote")
    run_command(editor, "Arena Leaderboard")
    editor.wait_for(lambda: editor.page.title().startswith("Arena leaderboard.md"), "the leaderboard to be the active editor")
    text = editor.page.evaluate("""() => [...document.querySelectorAll(".part.editor .monaco-editor .view-line")]
        .map((e) => e.textContent).join("\\n")""").replace("\u00a0", " ")
    assert "Arena leaderboard" in text and "quick" in text and "careful" in text, editor.explain(f"the leaderboard: {text!r}")


def test_esc_hides_both_arena_suggestions(editor: Editor) -> None:
    pair_in_new_file(editor, "arena_esc.py")
    editor.page.keyboard.press("Escape")
    editor.wait_for(lambda: ghost_text(editor.page) == "" and arena_second_text(editor.page) == "", "both suggestions to go after Esc")
