"""A long simulated typing session through the real stdio server: is it flat over time?

Types standard-library modules into the editor one keystroke at a time, as `lsp.bench_typing` does,
for `--minutes` (20 by default), and behaves like an editor meanwhile: an inline completion at every
pause, the previous one cancelled when a new one is asked (VS Code cancels a stale request), a next
edit at some line ends, typos deleted and typed again, and every few minutes the next file opened and
the one before closed. Each window (a minute by default) prints a row: requests, answers, cancels,
latency percentiles of the answered completions and next edits, and the server's resident memory.
At the end it says how many requests got no answer (there should be none) and how the last window
compares with the one a cycle of files earlier (the first, in a session shorter than a cycle).

    python -m lsp.bench_soak [--model PATH] [--minutes 20] [--window-s 60] [--keystroke-ms 80] [--seed 0]
"""

import argparse
import asyncio
import inspect
import json.decoder
import random
import statistics
import string
import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pygls.lsp.client import LanguageClient

from lsp.bench_typing import is_pause, is_word_char, start, utf16_len

SOURCES = [inspect.getsource(module) for module in (textwrap, json.decoder, string, statistics)]
FILE_MINUTES = 3.0  # how long the typist stays in one file before opening the next
TYPO_CHANCE = 0.03  # after a word: delete it and type it again
NEXT_EDIT_CHANCE = 0.2  # at a line end: ask for the next edit too


@dataclass
class Window:
    """What happened in one window of the session."""

    completions: int = 0
    cancelled: int = 0
    empty: int = 0  # answered null or with no item (superseded, nothing worth showing)
    latencies: list[float] = field(default_factory=list)  # ms, completions answered with an item
    edit_latencies: list[float] = field(default_factory=list)  # ms, next edits
    rss_mib: float | None = None


def percentile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


class Session:
    """One editor's session against one server, counting answers per window."""

    def __init__(self, client: LanguageClient, seed: int, window_s: float):
        self.client, self.rng, self.window_s = client, random.Random(seed), window_s
        self.windows: list[Window] = [Window()]
        self.started = time.perf_counter()
        self.next_id = 0
        self.unanswered: set[str] = set()
        self.pending: set[asyncio.Task] = set()
        self.live_completion: str | None = None

    @property
    def window(self) -> Window:
        return self.windows[-1]

    def request(self, method: str, params: Any, record) -> str:
        """Send a request without waiting; `record(window, ms, result)` is called with its answer."""
        self.next_id += 1
        message_id = f"soak-{self.next_id}"
        self.unanswered.add(message_id)
        sent, window = time.perf_counter(), self.window
        future = asyncio.wrap_future(self.client.protocol.send_request(method, params, msg_id=message_id))

        async def wait() -> None:
            try:
                result = await future
            except JsonRpcRequestCancelled:
                window.cancelled += 1
            else:
                record(window, (time.perf_counter() - sent) * 1000, result)
            self.unanswered.discard(message_id)

        task = asyncio.create_task(wait())
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)
        return message_id

    def complete(self, uri: str, line: int, character: int) -> None:
        if self.live_completion in self.unanswered:  # typed on: the editor cancels the stale request
            self.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=self.live_completion))
        self.window.completions += 1
        params = types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, character))

        def record(window: Window, ms: float, result: Any) -> None:
            if result is None or not result.items:
                window.empty += 1
            else:
                window.latencies.append(ms)

        self.live_completion = self.request(types.TEXT_DOCUMENT_INLINE_COMPLETION, params, record)

    def next_edit(self, uri: str, version: int, line: int, character: int) -> None:
        params = {"textDocument": {"uri": uri, "version": version}, "position": {"line": line, "character": character}}
        self.request("completer/nextEdit", params, lambda window, ms, result: window.edit_latencies.append(ms))

    async def close_window_if_due(self) -> None:
        if time.perf_counter() - self.started >= self.window_s * len(self.windows):
            self.window.rss_mib = (await self.stats())["rss_mib"]
            self.print_row(len(self.windows), self.window)
            self.windows.append(Window())

    async def stats(self) -> dict:
        return (await self.client.protocol.send_request_async("completer/stats", {}))._asdict()

    def print_row(self, number: int, window: Window) -> None:
        minute = number * self.window_s / 60
        print(f"{minute:7.1f} {window.completions:6d} {len(window.latencies):6d} {window.empty:6d} {window.cancelled:6d} "
              f"{cell(percentile(window.latencies, 50)):>7} {cell(percentile(window.latencies, 95)):>7} "
              f"{cell(percentile(window.latencies, 99)):>7} {len(window.edit_latencies):6d} {cell(percentile(window.edit_latencies, 50)):>7} "
              f"{cell(window.rss_mib):>8}", flush=True)


def word_start(source: str, index: int) -> int:
    """Where the word that ends at `index` starts."""
    start = index
    while start > 0 and is_word_char(source[start - 1]):
        start -= 1
    return start


def edit(client: LanguageClient, uri: str, version: int, start: types.Position, end: types.Position, text: str) -> None:
    change = types.TextDocumentContentChangePartial(range=types.Range(start, end), text=text)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=[change]))


async def type_files(session: Session, minutes: float, keystroke_ms: float) -> None:
    """Type the sources one after another until `minutes` have passed, keeping two files open."""
    client, rng = session.client, session.rng
    deadline = session.started + minutes * 60
    opened: list[str] = []
    for number in range(10**6):
        uri = f"file:///soak/file{number}.py"
        client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=0, text="")))
        opened.append(uri)
        if len(opened) > 2:
            client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=opened.pop(0))))
        source = SOURCES[number % len(SOURCES)]
        leave_at = min(deadline, time.perf_counter() + FILE_MINUTES * 60)
        version, line, character = 0, 0, 0
        for index, char in enumerate(source):
            if time.perf_counter() >= leave_at:
                break
            version += 1
            here = types.Position(line, character)
            edit(client, uri, version, here, here, char)
            line, character = (line + 1, 0) if char == "\n" else (line, character + utf16_len(char))
            if is_pause(char, source[index + 1 : index + 2]):
                if char != "\n" and rng.random() < TYPO_CHANCE:  # a typo: the word goes and comes back (as a paste would)
                    word = source[word_start(source, index) : index + 1]
                    start = types.Position(line, character - utf16_len(word))
                    edit(client, uri, version + 1, start, types.Position(line, character), "")
                    edit(client, uri, version + 2, start, start, word)
                    version += 2
                session.complete(uri, line, character)
                if char == "\n" and rng.random() < NEXT_EDIT_CHANCE:
                    session.next_edit(uri, version, line, character)
            await session.close_window_if_due()
            await asyncio.sleep(keystroke_ms / 1000)
        if time.perf_counter() >= deadline:
            return


async def soak(model: str | None, minutes: float, window_s: float, keystroke_ms: float, seed: int, max_tokens: int) -> int:
    """Run the session and print its table; returns how many requests got no answer."""
    client = LanguageClient("bench-soak", "0.1.0")
    await start(client, ["--model", model] if model else [], {"maxTokens": max_tokens})
    session = Session(client, seed, window_s)
    print(f"soak: {minutes:g} min of typing at {keystroke_ms:g} ms/keystroke, maxTokens={max_tokens}, "
          f"model {model or 'bundled'}; latencies in ms, RSS in MiB at each window's end")
    print(f"{'minute':>7} {'asked':>6} {'shown':>6} {'empty':>6} {'cancel':>6} {'p50':>7} {'p95':>7} {'p99':>7} "
          f"{'edits':>6} {'edit50':>7} {'rss':>8}")
    await type_files(session, minutes, keystroke_ms)
    await asyncio.wait_for(asyncio.gather(*session.pending), timeout=300)
    last = session.window
    last.rss_mib = (await session.stats())["rss_mib"]
    if last.completions:
        session.print_row(len(session.windows), last)
    counters = await session.stats()
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()

    print(f"unanswered requests: {len(session.unanswered)}; server in flight at the end: {counters['in_flight']}")
    # Latency follows where the typist is in a file (a longer document, a longer context): the fair baseline for the last
    # window is the one a whole cycle of files earlier, at the same point of the same file; RSS is compared with it too.
    cycle = round(len(SOURCES) * FILE_MINUTES * 60 / window_s)
    windows = session.windows if session.windows[-1].completions else session.windows[:-1]
    base_index = len(windows) - 1 - cycle if len(windows) > cycle else 0
    base, final = windows[base_index], windows[-1]
    if base.rss_mib and final.rss_mib and base is not final:
        print(f"last window vs window {base_index + 1} ({'a cycle of files earlier' if base_index else 'the first'}): "
              f"RSS {final.rss_mib / base.rss_mib:.2f}x, p50 {ratio(percentile(final.latencies, 50), percentile(base.latencies, 50))}, "
              f"p95 {ratio(percentile(final.latencies, 95), percentile(base.latencies, 95))}")
    return len(session.unanswered)


def ratio(a: float | None, b: float | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint folder or hub id (default: the bundled model)")
    parser.add_argument("--minutes", type=float, default=20.0, help="how long to type")
    parser.add_argument("--window-s", type=float, default=60.0, help="seconds per row of the table")
    parser.add_argument("--keystroke-ms", type=float, default=80.0, help="delay between keystrokes")
    parser.add_argument("--max-tokens", type=int, default=32, help="completer.maxTokens for the session")
    parser.add_argument("--seed", type=int, default=0, help="where typos and next edits fall")
    args = parser.parse_args()
    unanswered = asyncio.run(soak(args.model, args.minutes, args.window_s, args.keystroke_ms, args.seed, args.max_tokens))
    sys.exit(1 if unanswered else 0)


if __name__ == "__main__":
    main()
