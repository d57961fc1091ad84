"""From a document and a cursor to a suggestion, without blocking the editor.

One model serves every document: calls to it are serialised by a lock and run
in worker threads so the event loop keeps reading messages. A newer request for
the same document supersedes older ones (they stop at the next denoising pass
and answer null), repeats come from an LRU cache, and a suggestion the user
is typing through is shortened instead of recomputed. While the model works,
its drafts can be passed on, post-processed like the final suggestion.
"""

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from completer.engine import Engine
from completer.errors import Cancelled
from lsp.context import Context, build_context
from lsp.memory import MISSING, LRUCache, Shown, typed_ahead
from lsp.postprocess import Edit, finish
from lsp.settings import Settings

DRAFT_INTERVAL_S = 0.05  # at most one draft per 50 ms: enough to watch it refine, little traffic

DraftCallback = Callable[[Edit], None]


@dataclass
class Counters:
    requests: int = 0
    cache_hits: int = 0
    reuses: int = 0
    cancellations: int = 0
    model_calls: int = 0
    model_ms: float = 0.0
    context_ms: float = 0.0


class Completer:
    """Suggestions for every open document of one client, from one model."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.engine: Engine | None = None
        self.counters = Counters()
        self.cache = LRUCache()
        self.shown: dict[str, Shown] = {}
        self.latest: dict[str, int] = {}  # uri -> number of the newest request
        self.model_lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="completer")
        self.loading: asyncio.Future | None = None

    async def load(self) -> Engine:
        """Load `settings.model` in a worker thread; raises ModelLoadError. Requests wait for it."""
        self.engine = None
        self.cache = LRUCache()
        self.loading = asyncio.get_running_loop().run_in_executor(self.executor, Engine.load, self.settings.model)
        self.engine = await self.loading
        return self.engine

    def stats(self) -> dict:
        return asdict(self.counters)

    def forget(self, uri: str) -> None:
        self.shown.pop(uri, None)
        self.latest.pop(uri, None)

    async def complete(self, uri: str, source: str, offset: int, language_id: str, on_draft: DraftCallback | None = None) -> Edit | None:
        """The suggestion at `offset`, None when there is none; raises Cancelled when superseded or cancelled.

        With `settings.drafts`, `on_draft` is called on the event loop with each new draft of a
        suggestion the model is still working on.
        """
        self.counters.requests += 1
        number = self.latest[uri] = self.latest.get(uri, 0) + 1
        stop = threading.Event()

        def superseded() -> bool:
            return stop.is_set() or self.latest.get(uri) != number

        before, after = source[:offset], source[offset:]
        if (shown := self.shown.get(uri)) and (edit := typed_ahead(shown, before, after)):
            self.counters.reuses += 1
            self.shown[uri] = Shown(before, after, edit)
            return edit
        if not self.settings.enabled(language_id):
            return None
        try:
            return await self.compute(uri, source, offset, language_id, superseded, on_draft if self.settings.drafts else None)
        except asyncio.CancelledError:  # $/cancelRequest: let the worker stop at its next pass
            stop.set()
            self.counters.cancellations += 1
            raise
        except Cancelled:
            self.counters.cancellations += 1
            raise

    async def compute(self, uri: str, source: str, offset: int, language_id: str, superseded: Callable[[], bool],
                      on_draft: DraftCallback | None) -> Edit | None:
        """Context, cache, model: the part of `complete` that can wait."""
        if self.loading is not None and not self.loading.done():
            await asyncio.wait([self.loading])
        if superseded():
            raise Cancelled("a newer request for this document arrived while the model was loading")
        engine = self.engine
        if engine is None:
            return None

        started = time.perf_counter()
        ctx = build_context(source, offset, language_id, self.settings.context_tokens, engine.count_tokens)
        self.counters.context_ms += (time.perf_counter() - started) * 1000
        settings = self.settings
        key = (ctx.prefix, ctx.suffix, ctx.span, settings.model, settings.max_tokens, settings.threshold)
        edit = self.cache.get(key)
        if edit is not MISSING:
            self.counters.cache_hits += 1
        else:
            drafts = draft_relay(ctx, on_draft, superseded) if on_draft else None
            text = await asyncio.get_running_loop().run_in_executor(self.executor, self.denoise, engine, ctx, superseded, drafts)
            edit = finish(text, ctx)
            self.cache.put(key, edit)
        if superseded():
            raise Cancelled("a newer request for this document arrived")
        if edit is not None:
            self.shown[uri] = Shown(source[:offset], source[offset:], edit)
        return edit

    def denoise(self, engine: Engine, ctx: Context, should_stop: Callable[[], bool], on_draft: Callable[[str], None] | None) -> str:
        """Run the model (worker thread, one at a time)."""
        with self.model_lock:
            if should_stop():
                raise Cancelled("superseded before the model started")
            started = time.perf_counter()
            try:
                completion = engine.complete(
                    ctx.prefix,
                    ctx.suffix,
                    max_tokens=self.settings.max_tokens,
                    threshold=self.settings.threshold,
                    span=ctx.span,
                    should_stop=should_stop,
                    on_draft=on_draft,
                )
            finally:
                self.counters.model_calls += 1
                self.counters.model_ms += (time.perf_counter() - started) * 1000
            return completion.text


def draft_relay(ctx: Context, on_draft: DraftCallback, superseded: Callable[[], bool]) -> Callable[[str], None]:
    """The engine's draft callback (worker thread): post-process, drop repeats and bursts, hand over to the loop."""
    loop = asyncio.get_running_loop()
    last_sent, last_edit = float("-inf"), None

    def relay(text: str) -> None:
        nonlocal last_sent, last_edit
        now = time.monotonic()
        if now - last_sent < DRAFT_INTERVAL_S or superseded():
            return
        edit = finish(text, ctx)
        if edit is None or edit == last_edit:
            return
        last_sent, last_edit = now, edit
        loop.call_soon_threadsafe(on_draft, edit)

    return relay
