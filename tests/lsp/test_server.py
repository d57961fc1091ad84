"""The language server through a real client over stdio, with a tiny random-weight model.

The model's text is gibberish, so these tests pin protocol facts: shapes,
ranges, brackets, counters.
"""

import asyncio
import json
import sqlite3
from concurrent.futures import Future

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from lsp.context import scan_brackets

from tests.lsp.conftest import SERVER, initialize_params, inline_params, open_document, stats, wait_for_log

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient, tiny_model):
    # these tests pin the shape of what the model's output becomes: minScore 0 shows it although the random
    # model is never sure, and no drafts from the other documents the tests open stand in for it
    result = await lsp_client.initialize_session(initialize_params(
        {"model": str(tiny_model), "maxTokens": 8, "minScore": 0, "lookupDrafts": 0}))
    lsp_client.capabilities_result = result.capabilities
    await wait_for_log(lsp_client, "loaded")
    yield
    await lsp_client.shutdown_session()


def write_raw(client: LanguageClient, body: bytes) -> None:
    """Put one framed message on the server's stdin, bypassing the client's serialisation."""
    client._server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)


async def complete(client: LanguageClient, uri: str, line: int, character: int) -> types.InlineCompletionList | None:
    return await client.text_document_inline_completion_async(inline_params(uri, line, character))


async def test_inline_completion_and_incremental_sync_are_advertised(client: LanguageClient):
    capabilities = client.capabilities_result
    assert capabilities.inline_completion_provider is not None
    assert capabilities.text_document_sync.change == types.TextDocumentSyncKind.Incremental


async def test_mid_line_fill_is_one_line_inserted_at_the_cursor(client: LanguageClient):
    uri = "file:///mid_line.py"
    open_document(client, uri, "import os\n\nprint(os.path.join(, 'x'))\n")
    result = await complete(client, uri, 2, 19)
    assert isinstance(result, types.InlineCompletionList)
    for item in result.items:
        assert "\n" not in item.insert_text and item.insert_text.strip()
        assert item.range.start == types.Position(2, 19) and item.range.end.line == 2


async def test_block_after_def_stays_inside_the_body(client: LanguageClient):
    # the random model's blocks do not parse, so the checks hide them: this block comes from a draft
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams({"completer": {"lookupDrafts": 6}}))
    uri = "file:///block.py"
    open_document(client, uri, "def add(a, b):\n    \n\nprint(add(1, 2))\n\n\ndef sub(a, b):\n    c = a - b\n    return c\n")
    try:
        result = await complete(client, uri, 1, 4)
    finally:
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams({"completer": {"lookupDrafts": 0}}))
    assert isinstance(result, types.InlineCompletionList) and len(result.items) == 1
    item = result.items[0]
    assert item.range == types.Range(types.Position(1, 4), types.Position(1, 4)) and item.insert_text.strip()
    for line in item.insert_text.split("\n")[1:]:
        assert not line.strip() or line.startswith("    "), "a block line left the body's indentation"
        assert "\t" not in line[: len(line) - len(line.lstrip())], "the document indents with spaces"


@pytest.mark.parametrize(("text", "line", "character"), [("print()\n", 0, 6), ("x = [1, ]\n", 0, 8), ("f(g())\n", 0, 4), ("s = ''\n", 0, 5)])
async def test_closing_brackets_right_of_the_cursor_are_never_doubled(client: LanguageClient, text: str, line: int, character: int):
    uri = f"file:///closers_{abs(hash(text))}.py"
    open_document(client, uri, text)
    result = await complete(client, uri, line, character)
    original = text.split("\n")[line]
    for item in result.items:
        end = item.range.end.character
        applied = original[:character] + item.insert_text + original[end:]
        assert scan_brackets(applied, "", "#")[2] is None, f"{applied!r} closes a bracket nothing opened"
        assert not applied.endswith(original[character:] * 2)


async def test_repeated_request_is_answered_from_the_cache(client: LanguageClient):
    uri = "file:///cache.py"
    open_document(client, uri, "def square(x):\n    return x * \n")
    first = await complete(client, uri, 1, 15)
    before = await stats(client)
    second = await complete(client, uri, 1, 15)
    after = await stats(client)
    assert second == first
    assert after["cache_hits"] == before["cache_hits"] + 1
    assert after["model_calls"] == before["model_calls"]


async def test_typing_the_suggestion_reuses_its_remainder_without_the_model(client: LanguageClient):
    uri = "file:///typed_ahead.py"
    text = "values = [1, 2, 3]\ntotal = \n"
    open_document(client, uri, text)
    result = await complete(client, uri, 1, 8)
    assert result is not None and len(result.items) == 1
    suggestion = result.items[0].insert_text
    assert len(suggestion.strip()) >= 2, f"the tiny model gave too short a suggestion to type through: {suggestion!r}"
    typed = suggestion[0]
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(types.Position(1, 8), types.Position(1, 8)), text=typed)],
        )
    )
    before = await stats(client)
    result = await complete(client, uri, 1, 9)
    after = await stats(client)
    assert [item.insert_text for item in result.items] == [suggestion[1:]]
    assert after["reuses"] == before["reuses"] + 1
    assert after["model_calls"] == before["model_calls"]


async def test_position_outside_the_document_is_an_invalid_params_error(client: LanguageClient):
    uri = "file:///short.py"
    open_document(client, uri, "x = 1\n")
    with pytest.raises(JsonRpcException) as error:
        await complete(client, uri, 40, 0)
    assert error.value.code == JsonRpcInvalidParams.CODE
    assert "outside" in str(error.value.message)
    assert isinstance(await complete(client, uri, 0, 4), types.InlineCompletionList)


async def test_unknown_document_gets_null(client: LanguageClient):
    assert await complete(client, "file:///never_opened.py", 0, 0) is None
    await wait_for_log(client, "never_opened.py, which is not open")


async def test_garbage_json_is_logged_and_the_server_keeps_serving(client: LanguageClient):
    write_raw(client, b"{this is not json")
    await wait_for_log(client, "parse error")
    uri = "file:///after_garbage.py"
    open_document(client, uri, "name = \n")
    assert isinstance(await complete(client, uri, 0, 7), types.InlineCompletionList)


async def test_request_with_malformed_params_gets_an_error_response(client: LanguageClient):
    """Sent raw, as no typed client can build it; the reply is matched through the client's own bookkeeping."""
    reply: Future = Future()
    client.protocol._request_futures["malformed-1"] = reply
    message = {"jsonrpc": "2.0", "id": "malformed-1", "method": types.TEXT_DOCUMENT_INLINE_COMPLETION,
               "params": {"textDocument": {"uri": "file:///x.py"}, "position": "nowhere"}}
    write_raw(client, json.dumps(message).encode())
    with pytest.raises(JsonRpcException) as error:
        await asyncio.wrap_future(reply)
    assert error.value.code == JsonRpcInvalidParams.CODE
    assert (await stats(client))["requests"] > 0


async def test_disabled_language_gets_no_suggestion_and_bad_settings_are_reported(client: LanguageClient):
    uri = "file:///disabled.py"
    open_document(client, uri, "answer = \n")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"completer": {"languages": {"python": False}}}))
    await wait_for_log(client, "languages={'python': False}")
    before = await stats(client)
    assert list((await complete(client, uri, 0, 9)).items) == []
    assert (await stats(client))["model_calls"] == before["model_calls"]

    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"completer": {"maxTokens": -3}}))
    await wait_for_log(client, "completer.maxTokens must be a whole number from 1 to 1024, got -3")
    assert any("maxTokens" in message.message for message in client.messages)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"completer": {"languages": ["python"]}}))
    await wait_for_log(client, "languages=['python']")


async def test_lone_surrogates_and_a_one_megabyte_line_still_get_an_answer(client: LanguageClient):
    """A broken paste leaves lone UTF-16 halves; minified code is one enormous line."""
    uri = "file:///odd_text.py"
    open_document(client, uri, "name = '\ud800' + \n")
    assert isinstance(await complete(client, uri, 0, 17), types.InlineCompletionList)
    uri = "file:///minified.js"
    line = ";".join(f"x{i}=function(b){{return b+{i}}}" for i in range(40_000))
    open_document(client, uri, line + "\n", "javascript")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(types.Position(0, 600_000), types.Position(0, 600_000)), text="y=")]))
    assert isinstance(await complete(client, uri, 0, 600_002), types.InlineCompletionList)


async def test_an_arena_system_whose_model_cannot_load_holds_no_battle_and_says_why(client: LanguageClient, tiny_model, tmp_path):
    """A side that cannot answer would lose every battle it is drawn in: no suggestion and one warning instead."""
    systems = tmp_path / "systems.toml"
    systems.write_text(f'[systems.working]\nmodel = "{tiny_model}"\n\n[systems.broken]\nmodel = "{tmp_path / "missing"}"\n')
    arena = {"systems": str(systems), "db": str(tmp_path / "arena.sqlite")}
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"completer": {"arena": arena}}))
    try:
        await wait_for_log(client, "arena mode: systems working, broken")
        uri = "file:///arena_broken.py"
        open_document(client, uri, "def f(x):\n    return \n")
        assert not (await complete(client, uri, 1, 11)).items
        warning = await wait_for_log(client, "arena system broken has no model")
        assert str(tmp_path / "missing") in warning.message
        with sqlite3.connect(arena["db"]) as db:
            assert db.execute("SELECT COUNT(*) FROM editor_battles").fetchone()[0] == 0
    finally:
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"completer": {"arena": None}}))
