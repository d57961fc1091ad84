"""Drafts through the real server and a real client: from the other open documents and the workspace folder,
kept current by didChange and didClose (the model is scripted to say nothing, so what is shown is a draft)."""

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.lsp.conftest import initialize_params, inline_params, open_document, wait_for_log

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT_FILE = Path(tempfile.mkdtemp(prefix="completer-script-")) / "script.json"
SCRIPT_FILE.write_text('{"rules": []}')
WORKSPACE = Path(tempfile.mkdtemp(prefix="completer-workspace-"))
subprocess.run(["git", "init", "-q", str(WORKSPACE)], check=True)
(WORKSPACE / ".gitignore").write_text("secret.py\n")
(WORKSPACE / "settings.py").write_text("connection = open_database(host='db.internal', port=5432)\n")
(WORKSPACE / "secret.py").write_text("session = open_session(token='hidden-token')\n")
SCRIPTED = ClientServerConfig(server_command=[sys.executable, "-m", "tests.editors.scripted_server", str(SCRIPT_FILE)])


@pytest_lsp.fixture(config=SCRIPTED, scope="module")
async def client(lsp_client: LanguageClient):
    params = initialize_params({})
    params.workspace_folders = [types.WorkspaceFolder(uri=WORKSPACE.as_uri(), name="workspace")]
    await lsp_client.initialize_session(params)
    await wait_for_log(lsp_client, "model scripted loaded")
    await wait_for_log(lsp_client, "workspace files")
    yield
    await lsp_client.shutdown_session()


async def suggestion(client: LanguageClient, uri: str, line: int, character: int) -> str | None:
    result = await client.text_document_inline_completion_async(inline_params(uri, line, character))
    return result.items[0].insert_text if result.items else None


async def test_a_draft_comes_from_another_open_document_and_follows_its_edits(client: LanguageClient):
    open_document(client, "file:///other.py", "client = make_client(timeout=30, retries=2)\n")
    open_document(client, "file:///main.py", "client = make_client(\n")
    assert await suggestion(client, "file:///main.py", 0, 21) == "timeout=30, retries=2)"
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri="file:///other.py", version=2),
        [types.TextDocumentContentChangeWholeDocument(text="client = make_client(timeout=5)\n")]))
    open_document(client, "file:///main2.py", "client = make_client(\n")
    assert await suggestion(client, "file:///main2.py", 0, 21) == "timeout=5)"


async def test_a_draft_comes_from_the_workspace_folder_but_never_from_what_git_ignores(client: LanguageClient):
    open_document(client, "file:///new.py", "connection = open_database(\n")
    assert await suggestion(client, "file:///new.py", 0, 27) == "host='db.internal', port=5432)"
    open_document(client, "file:///new2.py", "session = open_session(\n")
    assert await suggestion(client, "file:///new2.py", 0, 23) is None


async def test_a_closed_workspace_document_leaves_its_last_text_behind(client: LanguageClient):
    uri = (WORKSPACE / "settings.py").as_uri()
    open_document(client, uri, "connection = open_database(host='db.staging', port=6543)\n")
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri)))
    open_document(client, "file:///new3.py", "connection = open_database(\n")
    assert await suggestion(client, "file:///new3.py", 0, 27) == "host='db.staging', port=6543)"
