"""Seeded, bounded fuzzing through real stdio: every well-formed request gets exactly one answer, the
server never dies or prints a traceback, and its memory stays flat.

`FUZZ_MESSAGES=10000 pytest tests/lsp/test_fuzz.py` runs the issue's full count; CI runs fewer.
"""

import json
import os
import random
from typing import Any

import pytest

from lsp.transport import is_notification
from tests.lsp.raw_client import RawClient, frame, notification, request

MESSAGES = int(os.environ.get("FUZZ_MESSAGES", "3000"))
URIS = [f"file:///fuzz/doc{i}.py" for i in range(8)] + ["file:///fuzz/my%20dir/x.py", "file:///c%3A/fuzz/y.js"]
TEXTS = ["", "x = \n", "def f(a):\n    return a\n", "é😋\r\nz = '\ud800'\n", "y" * 20_000, "\n" * 300, "a\tb\x00c\n"]
JUNK: list[Any] = [None, True, 0, -1, 2**70, 1.5, "", "x" * 300, [], {}, [1, [2, [3]]], {"jsonrpc": "2.0", "id": 5, "method": "shutdown"}]
METHODS = ["completer/stats", "textDocument/inlineCompletion", "no/such/method", "$/unknown", "workspace/executeCommand"]


def position(rng: random.Random) -> dict:
    return {"line": rng.choice([0, 1, 2, 5, 400, -1, 2**40]), "character": rng.choice([0, 1, 3, 9, 10**6, -2])}


def junk(rng: random.Random, depth: int = 0) -> Any:
    if depth < 3 and rng.random() < 0.3:
        return {rng.choice(["uri", "textDocument", "position", "x", "jsonrpc", "id"]): junk(rng, depth + 1) for _ in range(rng.randint(1, 3))}
    return rng.choice(JUNK)


def completion_params(rng: random.Random) -> Any:
    params = {"textDocument": {"uri": rng.choice(URIS)}, "position": position(rng), "context": {"triggerKind": rng.choice([1, 2])}}
    if rng.random() < 0.2:
        params[rng.choice(list(params))] = junk(rng)
    return params


def document_notification(rng: random.Random) -> dict:
    uri = rng.choice(URIS)
    kind = rng.choice(["open", "change", "change", "close"])
    if kind == "open":
        return notification("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": rng.choice(["python", "javascript", "", "x"]),
                                                                     "version": 1, "text": rng.choice(TEXTS)}})
    if kind == "close":
        return notification("textDocument/didClose", {"textDocument": {"uri": uri}})
    change = {"range": {"start": position(rng), "end": position(rng)}, "text": rng.choice(["a", "\n", "", "😋", "\ud800"])}
    if rng.random() < 0.1:
        change = {"text": rng.choice(TEXTS)}
    return notification("textDocument/didChange", {"textDocument": {"uri": uri, "version": rng.randint(2, 99)}, "contentChanges": [change]})


def broken(rng: random.Random, message_id: str) -> bytes:
    """A message no well-formed request count depends on: a broken envelope, body or frame."""
    body = json.dumps(request(message_id, "completer/stats")).encode()
    return rng.choice([
        lambda: frame({"id": message_id, "method": "completer/stats"}),
        lambda: frame(request(rng.choice([1.5, True, None, [1]]), "completer/stats")),
        lambda: frame(request(message_id, "textDocument/didClose", {"textDocument": {"uri": URIS[0]}})),
        lambda: frame(request(message_id, "completer/stats") | {"params": rng.choice([3, "x", None])}),
        lambda: frame(rng.choice([b"{not json", b"", b"[1, 2]", b"\xff\xfe", b'"text"', b"[" * 50_000 + b"]" * 50_000])),
        lambda: b"Content-Length: %d\r\n\r\n" % rng.choice([0, len(body) - 3, len(body) + 30, 10**14]) + body,
        lambda: b"Content-Length: %s\r\n\r\n" % rng.choice([b"-4", b"many", b""]) + body,
        lambda: rng.choice([b"x", b"\r\n", b"garbage garbage", b"Content-Type: text/plain\r\n\r\n"]),
    ])()


@pytest.fixture
def server(tiny_model):
    client = RawClient().start({"model": str(tiny_model), "maxTokens": 4})
    yield client
    client.process.kill()


def test_fuzzed_messages_get_one_answer_each_and_the_server_stays_up_and_flat(server: RawClient):
    rng = random.Random(17)
    expected: list[Any] = []
    warm_rss = None
    for n in range(MESSAGES):
        roll = rng.random()
        if roll < 0.35:
            server.send(document_notification(rng))
        elif roll < 0.75:
            message_id: Any = rng.choice([n, f"r{n}"])
            method = rng.choice(METHODS)
            params = completion_params(rng) if method == "textDocument/inlineCompletion" else rng.choice([{}, junk(rng)])
            message = request(message_id, method, params)
            if not isinstance(params, (dict, list)):
                message.pop("params")  # params must be structured; an absent one is fine
            assert not is_notification(method)
            expected.append(message_id)
            server.send(message)
        elif roll < 0.8:
            server.send(notification("$/cancelRequest", {"id": rng.choice(expected[-5:] or [0])}))
        else:
            server.send(broken(rng, f"b{n}"))
        if n == MESSAGES // 5:
            server.ask("warm", "completer/stats")
            warm_rss = server.rss_kib()

    server.ask("last", "completer/stats")
    for message_id in expected:
        server.wait_for(message_id)
    assert server.process.poll() is None, server.stderr.decode()[-2000:]
    counts: dict[Any, int] = {}
    for reply in server.replies:
        counts[reply["id"]] = counts.get(reply["id"], 0) + 1
        assert "data" not in reply.get("error", {}), reply  # no tracebacks to the client
    assert all(counts[message_id] == 1 for message_id in expected), [m for m in expected if counts[m] != 1][:10]
    assert set(counts) - set(expected) - {None, "init", "warm", "last"} <= {key for key in counts if str(key).startswith("b")}
    assert b"Traceback" not in server.stderr, server.stderr.decode()[-3000:]
    assert server.rss_kib() <= 1.5 * warm_rss
