"""A seeded storm through real stdio: every well-formed request gets exactly one answer, matched id by id.

Unlike `test_fuzz.py` (bad bytes and bad params), this storm is about timing: completions, next edits
and rewrites on open and unopened documents, cancels sent before, during and after the work (for
live ids and random ones), didChange and didClose while the model works, settings changes that load
the model again, bursts, deeply nested params and unknown methods.
`STORM_MESSAGES=20000 pytest tests/lsp/test_storm.py` runs a longer one.
"""

import os
import random
import time
from typing import Any

import pytest

from tests.lsp.raw_client import RawClient, frame, notification, request

MESSAGES = int(os.environ.get("STORM_MESSAGES", "4000"))
URIS = [f"file:///storm/doc{i}.py" for i in range(6)]
TEXT = "def total(values):\n    result = 0\n    for v in values:\n        result += v\n    return result\n\nprint(total([1, 2]))\n"
CANCELLED = -32800


def position(rng: random.Random) -> dict:
    return {"line": rng.randint(0, 6), "character": rng.randint(0, 12)}


def nested(depth: int) -> str:
    """JSON nested `depth` levels deep (as text: json.dumps itself gives up near 1,000)."""
    return '{"a": [' * (depth // 2) + "1" + "]}" * (depth // 2)


def deep_request(message_id: str, method: str, params: str) -> bytes:
    return frame(f'{{"jsonrpc": "2.0", "id": "{message_id}", "method": "{method}", "params": {params}}}'.encode())


class Storm:
    """The messages of one seeded storm, and the ids of the well-formed requests among them."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.expected: list[Any] = []
        self.versions = {uri: 0 for uri in URIS}

    def ask(self, message_id: Any, method: str, params: Any) -> dict:
        self.expected.append(message_id)
        return request(message_id, method, params)

    def document_message(self) -> dict:
        rng, uri = self.rng, self.rng.choice(URIS)
        self.versions[uri] += 1
        kind = rng.choice(["open", "change", "change", "change", "close"])
        if kind == "open":
            item = {"uri": uri, "languageId": "python", "version": self.versions[uri], "text": TEXT}
            return notification("textDocument/didOpen", {"textDocument": item})
        if kind == "close":
            return notification("textDocument/didClose", {"textDocument": {"uri": uri}})
        start = position(rng)
        change = {"range": {"start": start, "end": start}, "text": rng.choice(["x", "\n", "(", "    ", ""])}
        return notification("textDocument/didChange", {"textDocument": {"uri": uri, "version": self.versions[uri]},
                                                       "contentChanges": [change]})

    def work_request(self, message_id: Any) -> dict:
        rng, uri = self.rng, self.rng.choice(URIS + ["file:///storm/never-opened.py"])
        document = {"uri": uri}
        kind = rng.random()
        if kind < 0.7:
            return self.ask(message_id, "textDocument/inlineCompletion",
                            {"textDocument": document, "position": position(rng), "context": {"triggerKind": rng.choice([1, 2])}})
        if kind < 0.85:
            return self.ask(message_id, "completer/nextEdit", {"textDocument": document, "position": position(rng)})
        argument = {"uri": uri, "range": {"start": position(rng), "end": position(rng)}}
        return self.ask(message_id, "workspace/executeCommand", {"command": "completer.rewrite", "arguments": [argument]})

    def odd_request(self, message_id: str) -> dict | bytes:
        rng = self.rng
        if rng.random() < 0.3:
            return self.ask(message_id, rng.choice(["no/such/method", "$/unknownRequest", "textDocument/hover"]), {})
        self.expected.append(message_id)
        method, params = rng.choice([
            ("completer/stats", f'{{"deep": {nested(rng.choice([20, 100, 900, 3000, 100_000]))}}}'),
            ("textDocument/inlineCompletion", f'{{"textDocument": {{"uri": "{URIS[0]}"}}, "position": {nested(rng.choice([40, 990]))}}}'),
            ("completer/nextEdit", nested(rng.choice([10, 600]))),
            ("no/such/method", nested(rng.choice([10, 1200]))),
        ])
        return deep_request(message_id, method, params)

    def settings_change(self) -> dict:
        """New settings mid-storm; a new thread count loads the model again under the requests in flight."""
        settings = self.rng.choice([{"maxTokens": self.rng.choice([4, 6, 8])}, {"threads": self.rng.choice([1, 2])}])
        return notification("workspace/didChangeConfiguration", {"settings": {"completer": settings}})

    def cancel(self) -> dict:
        live = self.expected[-4:] or [0]
        return notification("$/cancelRequest", {"id": self.rng.choice(live + [self.rng.randint(0, 10**6), "nobody"])})

    def malformed(self) -> bytes:
        return self.rng.choice([b"Content-Length: 5\r\n\r\n{nope", frame(b"[1, 2]"), b"stray bytes\r\n",
                                frame({"jsonrpc": "2.0", "method": "completer/stats", "id": 1.5})])

    def messages(self, count: int):
        """(bytes or message, pause in seconds after it) for `count` messages; bursts come without pauses."""
        rng = self.rng
        for n in range(count):
            roll = rng.random()
            if roll < 0.3:
                message = self.document_message()
            elif roll < 0.65:
                message = self.work_request(rng.choice([n, f"s{n}"]))
            elif roll < 0.72:
                message = self.odd_request(f"o{n}")
            elif roll < 0.915:
                message = self.cancel()
            elif roll < 0.92:
                message = self.settings_change()
            else:
                message = self.malformed()
            yield message, rng.choice([0, 0, 0, 0.001, 0.005]) if rng.random() < 0.2 else 0


@pytest.fixture
def server(tiny_model):
    client = RawClient().start({"model": str(tiny_model), "maxTokens": 6})
    yield client
    client.process.kill()


def test_every_well_formed_request_in_a_storm_gets_exactly_one_answer(server: RawClient):
    storm = Storm(seed=34)
    for message, pause in storm.messages(MESSAGES):
        server.send(message)
        if pause:
            time.sleep(pause)
    server.ask("last", "completer/stats")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len({r.get("id") for r in server.replies} & set(storm.expected)) < len(set(storm.expected)):
        time.sleep(0.2)
    time.sleep(0.5)  # a second answer to any id would come by now
    counts: dict[Any, int] = {}
    for reply in server.replies:
        counts[reply.get("id")] = counts.get(reply.get("id"), 0) + 1
    unanswered = [message_id for message_id in storm.expected if message_id not in counts]
    twice = [message_id for message_id in storm.expected if counts.get(message_id, 0) > 1]
    assert server.process.poll() is None, server.stderr.decode()[-2000:]
    assert not unanswered and not twice, (f"{len(unanswered)} of {len(storm.expected)} unanswered: {unanswered[:10]}; "
                                          f"answered twice: {twice[:10]}")
    cancelled = [r for r in server.replies if r.get("error", {}).get("code") == CANCELLED]
    assert cancelled, "the storm cancels live requests: some must answer RequestCancelled"
    assert b"Traceback" not in server.stderr, server.stderr.decode()[-3000:]
    after = server.ask("after", "completer/stats")["result"]
    assert after["in_flight"] == 0  # no handler's future is kept once it ended
    assert after["rss_mib"] > 10
