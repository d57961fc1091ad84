"""What the server sends around the model's text, pinned with a scripted model (tests/editors/scripted_server.py).

With a known infill the tests can say exactly which range and which drafts an editor gets.
"""

import asyncio
import json
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.lsp.conftest import initialize_params, inline_params, open_document, stats, wait_for_log

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCRIPT = {"rules": [
    {"after": "math.pi", "text": " * r ** 2"},
    {"after": "abs(", "text": "x - 1)", "drafts": ["x", "x - 1)\nprint(y)"], "pause_ms": 80},
    {"after": "burst = ", "text": "3", "drafts": ["1", "2", "3"]},
    {"after": "closers = f(", "text": "a) + 1"},
    {"after": "total = ", "text": "1", "pause_ms": 300},  # slow enough for a newer request or a cancel to arrive
    {"after": "count = ", "text": "2", "pause_ms": 300},
    {"after": "slow_rewrite = ", "text": "3", "pause_ms": 300},
]}
SCRIPT_FILE = Path(tempfile.mkdtemp(prefix="completer-script-")) / "script.json"
SCRIPT_FILE.write_text(json.dumps(SCRIPT))
SCRIPTED = ClientServerConfig(server_command=[sys.executable, "-m", "tests.editors.scripted_server", str(SCRIPT_FILE)])


@pytest_lsp.fixture(config=SCRIPTED, scope="module")
async def client(lsp_client: LanguageClient):
    lsp_client.drafts = []
    lsp_client.feature("completer/draft")(lambda params: lsp_client.drafts.append(plain(params)))
    await lsp_client.initialize_session(initialize_params({"drafts": True}))
    await wait_for_log(lsp_client, "model scripted loaded")
    yield
    await lsp_client.shutdown_session()


def plain(value):
    """pygls hands custom params over as namedtuples: back to JSON-like dicts."""
    if hasattr(value, "_asdict"):
        return {key: plain(item) for key, item in value._asdict().items()}
    return value


async def complete(client: LanguageClient, uri: str, text: str, line: int, character: int) -> types.InlineCompletionItem | None:
    open_document(client, uri, text)
    client.drafts.clear()
    result = await client.text_document_inline_completion_async(inline_params(uri, line, character))
    return result.items[0] if result.items else None


@pytest.mark.parametrize(("text", "character", "expected"), [("x = math.pi\n", 11, " * r ** 2"), ("y = abs()\n", 8, "x - 1")])
async def test_an_insertion_carries_a_zero_width_range_at_the_cursor(client: LanguageClient, text: str, character: int, expected: str):
    """Without a range VS Code drops items that do not start with the word at the cursor."""
    item = await complete(client, f"file:///range_{character}.py", text, 0, character)
    assert item.insert_text == expected
    assert item.range == types.Range(types.Position(0, character), types.Position(0, character))


async def test_a_suggestion_that_rewrites_closers_ranges_over_them(client: LanguageClient):
    item = await complete(client, "file:///closers.py", "closers = f()\n", 0, 12)
    assert item.insert_text == "a) + 1"
    assert item.range == types.Range(types.Position(0, 12), types.Position(0, 13))


async def test_drafts_arrive_before_the_result_post_processed_like_it(client: LanguageClient):
    uri = "file:///drafts.py"
    item = await complete(client, uri, "z = abs()\n", 0, 8)
    assert item.insert_text == "x - 1"
    assert [d["text"] for d in client.drafts] == ["x", "x - 1"]  # cut at the line end and before the ")" already there
    for draft in client.drafts:
        assert draft["uri"] == uri and draft["version"] == 1 and draft["position"] == {"line": 0, "character": 8}


async def test_drafts_come_at_most_every_50_ms_and_never_repeat(client: LanguageClient):
    item = await complete(client, "file:///burst.py", "burst = \n", 0, 8)
    assert item.insert_text == "3"
    assert [d["text"] for d in client.drafts] == ["1"]  # the next two came within microseconds


async def test_no_drafts_when_the_client_turns_them_off(client: LanguageClient):
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"completer": {"drafts": False}}))
    await wait_for_log(client, "drafts=False")
    item = await complete(client, "file:///quiet.py", "w = abs()\n", 0, 8)
    assert item.insert_text == "x - 1" and client.drafts == []
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"completer": {"drafts": "yes"}}))
    await wait_for_log(client, "completer.drafts must be true or false")


async def test_newer_request_supersedes_older_and_cancel_request_is_honoured(client: LanguageClient):
    open_document(client, "file:///a.py", "total = \n")
    open_document(client, "file:///b.py", "count = \n")
    before = await stats(client)
    older = client.text_document_inline_completion_async(inline_params("file:///a.py", 0, 8))
    newer = client.text_document_inline_completion_async(inline_params("file:///a.py", 0, 8))
    cancelled = client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params("file:///b.py", 0, 8), msg_id="to-cancel")
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="to-cancel"))

    older_result, newer_result = await asyncio.gather(older, newer)
    assert older_result is None
    assert isinstance(newer_result, types.InlineCompletionList)
    with pytest.raises(JsonRpcException) as error:
        await asyncio.wrap_future(cancelled)
    assert error.value.code == JsonRpcRequestCancelled.CODE
    after = await stats(client)
    # the older and the cancelled request may have reached the model before they were superseded or
    # cancelled: they stop at its next pass
    assert after["cancellations"] - before["cancellations"] == 2
    assert 1 <= after["model_calls"] - before["model_calls"] <= 3


async def test_a_cancelled_rewrite_is_answered_as_cancelled_and_the_server_goes_on(client: LanguageClient):
    open_document(client, "file:///rewrite.py", "slow_rewrite = 1\n")
    arguments = [{"uri": "file:///rewrite.py", "range": {"start": {"line": 0, "character": 15}, "end": {"line": 0, "character": 16}}}]
    params = types.ExecuteCommandParams(command="completer.rewrite", arguments=arguments)
    cancelled = client.protocol.send_request(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="rewrite-to-cancel")
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="rewrite-to-cancel"))
    with pytest.raises(JsonRpcException) as error:
        await asyncio.wrap_future(cancelled)
    assert error.value.code == JsonRpcRequestCancelled.CODE
    result = await client.workspace_execute_command_async(params)
    assert plain(result) == {"edits": [{"range": arguments[0]["range"], "text": "3"}], "version": 1}
