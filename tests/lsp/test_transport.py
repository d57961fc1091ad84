"""Framing and envelopes: the reader on its own, then the server through raw stdio."""

import asyncio
import json
import socket
import subprocess
import sys
import time

import pytest

from lsp.transport import MAX_BODY_BYTES, MAX_DEPTH, Framer, TooDeep, Unparsable, envelope_problem
from tests.lsp.raw_client import ROOT, RawClient, frame, notification, request

GOOD = {"jsonrpc": "2.0", "id": 1, "method": "completer/stats", "params": {}}
BODY = json.dumps(GOOD).encode()


def read_all(data: bytes, chunk: int = 1 << 16) -> tuple[list, list[str]]:
    """Every message the framer finds in `data` delivered `chunk` bytes at a time, and what it reported."""
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    problems: list[str] = []

    async def read() -> bytes:
        return chunks.pop(0) if chunks else b""

    async def run() -> list:
        framer, found = Framer(read, problems.append), []
        while (message := await framer.next()) is not None:
            found.append(message)
        return found

    return asyncio.run(run()), problems


@pytest.mark.parametrize("chunk", [1, 7, 1 << 16])
def test_well_formed_frames_come_out_whole_however_the_stream_is_cut(chunk: int):
    data = frame(GOOD) + b"Content-Length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" % len(BODY) + BODY
    assert read_all(data, chunk) == ([GOOD, GOOD], [])


@pytest.mark.parametrize(
    ("broken", "complaint"),
    [
        (b"Content-Length: 100000000000000\r\n\r\n", "over the"),
        (b"x", "stray"),
        (b"Content-Length: %d\r\n\r\n" % (len(BODY) - 9) + BODY, "does not match"),
        (b"Content-Length: %d\r\n\r\n" % (len(BODY) + 40) + BODY, "does not match"),
        (b"Content-Length: -3\r\n\r\n" + BODY, "not a byte count"),
        (b"Content-Length: many\r\n\r\n" + BODY, "not a byte count"),
        (b"Content-Type: text/plain\r\n\r\n" + BODY, "stray"),
        (b"Content-Length: %d\n\n" % len(BODY) + BODY, None),
        (b"\x00\xff junk " * 100, "stray"),
    ],
    ids=["huge", "stray-byte", "short", "long", "negative", "not-a-number", "missing", "lf-only", "garbage"],
)
def test_a_broken_frame_is_reported_once_and_the_next_frame_still_comes_through(broken: bytes, complaint: str | None):
    messages, problems = read_all(broken + frame(GOOD))
    assert messages[-1] == GOOD
    assert all(message == GOOD for message in messages)  # the broken one is recovered or dropped, never garbled
    if complaint is None:
        assert problems == []
    else:
        assert len(problems) == 1 and complaint in problems[0], problems


def test_a_frame_that_overruns_into_the_next_is_cut_at_the_next_header_without_waiting():
    """The declared length exceeds everything sent: waiting for the rest would hang both sides."""
    messages, problems = read_all(b"Content-Length: 5000\r\n\r\n" + BODY + frame(GOOD))
    assert messages == [GOOD, GOOD] and "overruns" in problems[0]


def test_zero_length_and_unparsable_bodies_become_parse_errors():
    messages, _ = read_all(b"Content-Length: 0\r\n\r\n" + frame(b"{not json"))
    assert all(isinstance(message, Unparsable) for message in messages) and len(messages) == 2


def test_a_message_too_deep_to_parse_or_to_handle_keeps_its_envelope_for_the_answer():
    too_deep = b'{"jsonrpc": "2.0", "id": "a\\"]", "method": "m", "params": {"x": ' + b'[{"k": ' * 50_000 + b"1" + b"}]" * 50_000 + b', "s": "}"}}'
    deep: dict = {"jsonrpc": "2.0", "id": 7, "method": "m", "params": {}}
    shallow: dict = {"jsonrpc": "2.0", "id": 8, "method": "m", "params": {}}
    for message, depth in ((deep, MAX_DEPTH), (shallow, MAX_DEPTH - 2)):  # the message and its params are two levels
        for _ in range(depth):
            message["params"] = [message["params"]]
    messages, _ = read_all(frame(too_deep) + frame(deep) + frame(shallow))
    assert messages == [TooDeep({"jsonrpc": "2.0", "id": 'a"]', "method": "m"}), TooDeep({"jsonrpc": "2.0", "id": 7, "method": "m"}), shallow]


def test_the_cap_admits_a_large_document_and_refuses_more():
    big = {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"text": "x" * (8 << 20)}}
    assert read_all(frame(big))[0] == [big]
    assert "over the" in read_all(b"Content-Length: %d\r\n\r\n" % (MAX_BODY_BYTES + 1))[1][0]


def test_a_stream_ending_inside_a_body_ends_cleanly():
    messages, problems = read_all(frame(GOOD) + b"Content-Length: 500\r\n\r\n{\"jsonrpc\"")
    assert messages == [GOOD] and "ended inside" in problems[0]


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ([GOOD], "not list"),
        ({"id": 1, "method": "x"}, '"jsonrpc": "2.0"'),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "x"}, "neither an integer nor a string"),
        ({"jsonrpc": "2.0", "id": True, "method": "x"}, "neither an integer nor a string"),
        ({"jsonrpc": "2.0", "id": 1, "method": 7}, "not a string"),
        ({"jsonrpc": "2.0", "id": 1, "method": "x", "params": 3}, "object or an array"),
        ({"jsonrpc": "2.0", "id": 1, "method": "textDocument/didClose", "params": {}}, "is a notification"),
        ({"jsonrpc": "2.0"}, "needs a method"),
        ({"jsonrpc": "2.0", "id": 1}, "exactly one of result and error"),
    ],
)
def test_envelopes_that_are_not_json_rpc_say_why(message, problem: str):
    assert problem in envelope_problem(message)


@pytest.mark.parametrize("message", [GOOD, notification("initialized", {}), notification("exit", None), {"jsonrpc": "2.0", "id": "a", "result": None}])
def test_requests_notifications_and_responses_pass(message):
    assert envelope_problem(message) is None


@pytest.fixture
def server():
    client = RawClient()
    client.ask(0, "initialize", {"capabilities": {}})
    yield client
    assert client.close() == 0
    assert b"Traceback" not in client.stderr, client.stderr.decode()


def test_every_framing_fault_is_survived_and_every_well_formed_request_answered_once(server: RawClient):
    def stats(message_id: int) -> bytes:
        return frame(request(message_id, "completer/stats"))

    body = json.dumps(request(3, "completer/stats")).encode()
    server.send(b"Content-Length: 100000000000000\r\n\r\n" + stats(1))
    server.send(b"x" + stats(2))
    server.send(b"Content-Length: %d\r\n\r\n" % (len(body) - 5) + body)
    server.send(b"Content-Length: 2000\r\n\r\n" + body.replace(b'"id": 3', b'"id": 4') + stats(5))
    server.send(b"Content-Length: 0\r\n\r\n" + b"Content-Length: nope\n\n" + body.replace(b'"id": 3', b'"id": 6'))
    server.send(b"Content-Type: text/plain\r\n\r\n" + body.replace(b'"id": 3', b'"id": 99') + stats(7))  # no length: lost
    for message_id in range(1, 8):
        assert "result" in server.wait_for(message_id)
    server.ask("last", "completer/stats")
    assert all(len(server.replies_to(message_id)) == 1 for message_id in range(1, 8)) and server.replies_to(99) == []
    assert len([reply for reply in server.replies if reply["id"] is None and reply["error"]["code"] == -32700]) == 1  # the empty body


def test_malformed_messages_get_the_json_rpc_error_they_deserve(server: RawClient):
    nested = request(1, "completer/stats", {"inner": {"jsonrpc": "2.0", "id": 77, "method": "shutdown", "params": None}})
    assert "result" in server.ask(1, "completer/stats", nested["params"])
    assert server.replies_to(77) == []  # an inner object is data, not a message

    server.send(request(2, "textDocument/didClose", {"textDocument": {"uri": "file:///a.py"}}))
    assert server.wait_for(2)["error"]["code"] == -32600

    server.send(frame(b'{"jsonrpc": "2.0", "id": 3, "method": "completer/stats", "params": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"))
    server.send(frame(b"[1, 2]"))
    assert "result" in server.ask(4, "completer/stats")
    assert server.wait_for(3)["error"]["code"] == -32600  # too deep to parse, yet answered by its id
    errors = [reply["error"]["code"] for reply in server.replies if reply["id"] is None]
    assert errors == [-32600]  # a batch, which LSP does not have

    server.send(frame(b"[" * 100_000 + b"]" * 100_000))
    assert "result" in server.ask(7, "completer/stats")
    assert [reply["error"]["code"] for reply in server.replies if reply["id"] is None] == [-32600, -32600]  # no id to answer by

    assert server.ask(5, "no/such/method")["error"]["code"] == -32601
    assert server.ask(6, "textDocument/inlineCompletion", {"textDocument": 3})["error"]["code"] == -32602
    assert all("data" not in reply.get("error", {}) for reply in server.replies)  # no tracebacks to the client


def test_a_second_initialize_is_refused_and_open_documents_are_kept(server: RawClient):
    uri = "file:///kept.py"
    server.send(notification("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "x = \n"}}))
    assert server.ask(1, "initialize", {"capabilities": {}})["error"]["code"] == -32600
    position = {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 4}, "context": {"triggerKind": 2}}
    assert server.ask(2, "textDocument/inlineCompletion", position)["result"] == {"items": []}  # open (no model: no items), not null


@pytest.mark.parametrize("opened, asked", [
    ("file:///my%20dir/a%20b.py", "file:///my%20dir/a%20b.py"),
    ("file:///c%3A/Users/me/x.py", "file:///c%3A/Users/me/x.py"),
    ("file:///c%3A/Users/me/x.py", "file:///c:/Users/me/x.py"),
])
def test_documents_under_percent_encoded_uris_are_found(server: RawClient, opened: str, asked: str):
    server.send(notification("textDocument/didOpen", {"textDocument": {"uri": opened, "languageId": "python", "version": 1, "text": "x = \n"}}))
    position = {"textDocument": {"uri": asked}, "position": {"line": 0, "character": 4}, "context": {"triggerKind": 2}}
    assert server.ask(1, "textDocument/inlineCompletion", position)["result"] == {"items": []}


def test_tcp_serves_through_the_same_reader_and_exits_cleanly():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "lsp", "--tcp", f"127.0.0.1:{port}"], cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = socket.create_connection(("127.0.0.1", port))
            break
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, "the TCP server did not start"
            time.sleep(0.1)
    with connection:
        connection.settimeout(60)
        connection.sendall(frame(request(1, "initialize", {"capabilities": {}})) + b"Content-Length: 5\r\n\r\n{oops" + frame(request(2, "completer/stats")))
        connection.sendall(frame(request(3, "shutdown")) + frame(notification("exit", None)))
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    assert server.wait(timeout=30) == 0
    for message_id in (1, 2, 3):
        assert received.count(b'"id": %d' % message_id) == 1
    assert b"Traceback" not in server.stderr.read()
