"""`completer/nextEdit`, the `completer.rewrite` command and its code action, through a real stdio session.

The server runs the tiny random checkpoint; what it answers must be exactly what `lsp.edits` gives
in process on the same checkpoint (greedy decoding, no keys shared across requests), carried in
the client's UTF-16 positions, with ranges free to span lines.
"""

from __future__ import annotations

import pytest

from completer.models import open_model
from lsp.edits import apply_edits, next_edit, rewrite
from completer.options import Options
from tests.lsp.raw_client import RawClient, notification
from tests.servers import running_server

URI = "file:///work/add%20all.py"
SOURCE = ("def add_all(values):\n    \"\"\"Sum 😋 values.\"\"\"\n    total = 0\n    for value in values:\n"
          "        total += valeu\n    return total\n")
OPTIONS = Options(reuse_keys=False)


@pytest.fixture(scope="module")
def local(tiny_model):
    scheduler = open_model(str(tiny_model), capacity=2)
    yield scheduler
    scheduler.close()


def start(tiny_model, **settings) -> RawClient:
    client = RawClient().start({"model": str(tiny_model), "reuseKeys": False, **settings}, {"general": {"positionEncodings": ["utf-16"]}})
    client.send(notification("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": SOURCE}}))
    return client


@pytest.fixture(scope="module")
def server(tiny_model):
    client = start(tiny_model, editThreshold=1.0)
    yield client
    assert client.close() == 0
    assert b"Traceback" not in client.stderr, client.stderr.decode()


def offset(text: str, position: dict) -> int:
    """A UTF-16 LSP position as an offset, counted the client's way."""
    lines = text.split("\n")
    line = lines[position["line"]]
    units, column = 0, 0
    while column < len(line) and units < position["character"]:
        units += 2 if ord(line[column]) > 0xFFFF else 1
        column += 1
    return sum(len(s) + 1 for s in lines[:position["line"]]) + column


def applied(text: str, edits: list[dict]) -> str:
    spans = [(offset(text, e["range"]["start"]), offset(text, e["range"]["end"]), e["text"]) for e in edits]
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def ask_next_edit(client: RawClient, message_id: int, line: int, character: int, version: int | None = 1) -> dict:
    document = {"uri": URI} if version is None else {"uri": URI, "version": version}
    reply = client.ask(message_id, "completer/nextEdit", {"textDocument": document, "position": {"line": line, "character": character}})
    return reply["result"]


def test_a_next_edit_is_what_the_library_gives_in_the_clients_positions(server: RawClient, local):
    cursor = SOURCE.index("valeu")
    expected = next_edit(local, SOURCE, cursor, "python", OPTIONS, threshold=1.0)
    assert expected.edits  # the random model writes something else there
    result = ask_next_edit(server, 1, 4, 17)
    assert result["version"] == 1
    assert applied(SOURCE, result["edits"]) == apply_edits(SOURCE, expected.edits)
    assert ask_next_edit(server, 2, 4, 17, version=None) == result  # no version: not checked


def test_a_stale_version_or_a_document_not_open_gets_no_edits(server: RawClient):
    assert ask_next_edit(server, 10, 4, 17, version=7) == {"edits": [], "version": 7}
    reply = server.ask(11, "completer/nextEdit", {"textDocument": {"uri": "file:///nowhere.py"}, "position": {"line": 0, "character": 0}})
    assert reply["result"]["edits"] == []


@pytest.mark.parametrize("params", [
    {}, {"textDocument": {"uri": URI}}, {"textDocument": {"uri": 5}, "position": {"line": 0, "character": 0}},
    {"textDocument": {"uri": URI, "version": "1"}, "position": {"line": 0, "character": 0}},
    {"textDocument": {"uri": URI}, "position": {"line": -1, "character": 0}},
    {"textDocument": {"uri": URI}, "position": {"line": 99, "character": 0}},
], ids=["empty", "no-position", "bad-uri", "bad-version", "negative", "past-the-end"])
def test_bad_params_are_invalid_params_and_the_server_keeps_serving(server: RawClient, params):
    reply = server.ask(f"bad-{len(server.replies)}", "completer/nextEdit", params)
    message = reply["error"]["message"]
    assert reply["error"]["code"] == -32602 and ("completer/nextEdit" in message or "outside" in message), reply
    assert "result" in server.ask(f"after-{len(server.replies)}", "completer/stats")


def test_edits_made_far_away_are_scored_too(tiny_model, local):
    client = start(tiny_model, editThreshold=1.0)
    try:
        far = SOURCE + "\n" * 12 + "print(add_all([1, 2]))\n"
        client.send(notification("textDocument/didChange", {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 6, "character": 0}, "end": {"line": 6, "character": 0}}, "text": "\n" * 12 + "print(add_all([1, 2]))\n"},
            {"range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 9}}, "text": "total"}]}))
        expected = next_edit(local, far, far.index("print"), "python", OPTIONS, recent=[far.index("total = 0")], threshold=1.0)
        result = ask_next_edit(client, 1, 18, 0, version=2)
        assert applied(far, result["edits"]) == apply_edits(far, expected.edits)
        assert expected.masked[0] < far.index("print")  # the edit is where the user last typed, not at the cursor
    finally:
        client.close()


def test_a_zero_threshold_turns_next_edits_off(tiny_model):
    client = start(tiny_model, editThreshold=0)
    try:
        assert ask_next_edit(client, 1, 4, 17) == {"edits": [], "version": 1}
        client.send(notification("workspace/didChangeConfiguration", {"settings": {"completer": {"editThreshold": 2}}}))
        assert "completer.editThreshold must be a number in [0, 1], got 2" in client.wait_for_log("editThreshold")
    finally:
        client.close()


def test_a_selection_gets_the_rewrite_code_action_and_its_command_returns_the_rewrite(server: RawClient, local):
    selection = {"start": {"line": 3, "character": 4}, "end": {"line": 5, "character": 16}}  # spans lines
    empty = {"start": {"line": 3, "character": 4}, "end": {"line": 3, "character": 4}}
    ask = lambda i, r: server.ask(i, "textDocument/codeAction", {"textDocument": {"uri": URI}, "range": r, "context": {"diagnostics": []}})
    assert ask(20, empty)["result"] == []
    [action] = ask(21, selection)["result"]
    assert action["kind"] == "refactor.rewrite" and action["command"]["command"] == "completer.rewrite"
    reply = server.ask(22, "workspace/executeCommand", {"command": action["command"]["command"], "arguments": action["command"]["arguments"]})
    start, end = SOURCE.index("for value"), SOURCE.index("    return total") + len("    return total")
    expected = rewrite(local, SOURCE, start, end, "python", OPTIONS)
    assert reply["result"]["version"] == 1
    assert applied(SOURCE, reply["result"]["edits"]) == apply_edits(SOURCE, expected.edits)


@pytest.mark.parametrize("arguments", [[], [5], [{"uri": URI}], [{"uri": URI, "range": {"start": {}}}]],
                         ids=["none", "not-an-object", "no-range", "bad-range"])
def test_a_bad_rewrite_argument_is_invalid_params(server: RawClient, arguments):
    reply = server.ask(f"rw-{len(server.replies)}", "workspace/executeCommand", {"command": "completer.rewrite", "arguments": arguments})
    assert reply["error"]["code"] == -32602


def test_a_remote_model_gets_no_next_edits_said_once_but_still_rewrites(tiny_model):
    with running_server(str(tiny_model), []) as (base, _):
        client = RawClient()
        try:
            client.start({"model": f"{base}/v1", "editThreshold": 1.0}, ready="no next edits")
            client.send(notification("textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": SOURCE}}))
            assert ask_next_edit(client, 1, 4, 17) == {"edits": [], "version": 1}
            assert ask_next_edit(client, 2, 4, 17) == {"edits": [], "version": 1}
            assert sum("next edits" in line for line in client.logs) == 1
            selection = {"start": {"line": 4, "character": 17}, "end": {"line": 4, "character": 22}}
            reply = client.ask(3, "workspace/executeCommand", {"command": "completer.rewrite", "arguments": [{"uri": URI, "range": selection}]})
            assert reply["result"]["version"] == 1 and isinstance(reply["result"]["edits"], list)
        finally:
            client.close()
