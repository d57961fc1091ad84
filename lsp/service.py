"""From a document and a cursor to a suggestion, without blocking the editor.

One model serves every document: the scheduler batches the requests of all documents into
shared denoising passes while the event loop keeps reading messages. In arena mode (`lsp.arena`) two
systems, each a model and its options, answer every request together. A newer request for the same
document supersedes older ones (they leave at the next pass and answer null), repeats come from
an LRU cache, and a suggestion the user is typing through is shortened instead of recomputed.
While the model works, its drafts can be passed on, post-processed like the final suggestion.
"""

import asyncio
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from completer.errors import Cancelled, ModelLoadError
from completer.models import Model, ModelHandle, open_model
from lsp import edits, pipeline
from lsp.arena import EditorArena, Round, System, open_arena
from lsp.context import Context
from lsp.drafts import Text, Workspace
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
        self.handle = ModelHandle()
        self.counters = Counters()
        self.cache = LRUCache()
        self.shown: dict[str, Shown] = {}
        self.latest: dict[str, int] = {}  # uri -> number of the newest request
        self.workspace = Workspace()  # the workspace folders' files drafts may come from
        self.arena: EditorArena | None = None
        self.arena_models: dict[str | None, ModelHandle] = {}  # the arena systems' models but the server's own

    def set_arena(self) -> None:
        """Open the arena the settings name, or none; BadInput when its files cannot be used (arena mode stays off).
        The arena systems' models open at their first request."""
        for handle in self.arena_models.values():
            handle.close()
        self.arena, self.arena_models = None, {}
        if self.settings.arena is not None:
            self.arena = open_arena(self.settings.arena["systems"], self.settings.arena.get("db"),
                                    self.settings.arena_store_code)

    async def load(self) -> Model:
        """Open `settings.model` in the background (the model held until now closes); raises ModelLoadError.
        Requests wait for it."""
        self.cache = LRUCache()
        opening = self.handle.open(functools.partial(open_model, self.settings.model, threads=self.settings.threads))
        return await asyncio.shield(asyncio.wrap_future(opening))  # a cancelled caller must not cancel the load

    async def loaded(self, handle: ModelHandle | None = None) -> Model | None:
        """The model (of ``handle``, else the server's) once the newest load ends; None without one (a failed
        load was reported where it started)."""
        handle = handle or self.handle
        opening = handle.future
        if opening is None:
            return None
        if not opening.done():
            await asyncio.wait([asyncio.wrap_future(opening)])  # not awaited directly: a cancelled request must not cancel the load
            if opening is not handle.future:  # loaded again meanwhile (a settings change): that model closed
                return await self.loaded(handle)
        return None if opening.cancelled() or opening.exception() is not None else opening.result()

    async def model_of(self, system: System | None) -> Model | None:
        """The model a system decodes with: the server's own when it names the same one."""
        if system is None or system.model == self.settings.model:
            return await self.loaded()
        if system.model not in self.arena_models:
            handle = self.arena_models[system.model] = ModelHandle()
            handle.open(functools.partial(open_model, system.model, threads=self.settings.threads))
        return await self.loaded(self.arena_models[system.model])

    def stats(self) -> dict:
        return asdict(self.counters)

    async def forget(self, uri: str) -> None:
        self.shown.pop(uri, None)
        self.latest.pop(uri, None)
        if self.arena is not None:
            await asyncio.to_thread(self.arena.dismiss, uri)

    async def complete(self, uri: str, source: str, offset: int, language_id: str, on_draft: DraftCallback | None = None,
                       others: dict[str, str] | None = None) -> Edit | Round | None:
        """The suggestion at `offset`, None when there is none; raises Cancelled when superseded or cancelled.
        In arena mode, the two systems' suggestions as a `Round`.

        With `settings.drafts`, `on_draft` is called on the event loop with each new draft of a
        suggestion the model is still working on. ``others``: the other open documents' texts by key,
        which (with the workspace's files) drafts may come from.
        """
        self.counters.requests += 1
        number = self.latest[uri] = self.latest.get(uri, 0) + 1
        stop = threading.Event()

        def superseded() -> bool:
            return stop.is_set() or self.latest.get(uri) != number

        arena = self.arena
        if arena is not None:  # a newer request: the battle the document showed was dismissed or typed over
            await asyncio.to_thread(arena.dismiss, uri)
        before, after = source[:offset], source[offset:]
        if arena is None and (shown := self.shown.get(uri)) and (edit := typed_ahead(shown, before, after)):
            self.counters.reuses += 1
            self.shown[uri] = Shown(before, after, edit)
            return edit
        if not self.settings.enabled(language_id):
            return None
        try:
            others = others or {}
            texts = self.texts(others)
            # drafts read the whole document and the other texts: a change to any must not be answered from the cache (a string
            # caches its hash, so only the texts that changed are hashed again)
            drawn_from = (hash(source), hash(tuple(others.items())), self.workspace.version)
            if arena is not None:
                return await self.battle(arena, uri, source, offset, language_id, superseded, texts, drawn_from)
            return await self.compute(uri, source, offset, language_id, superseded, on_draft if self.settings.drafts else None,
                                      texts, drawn_from)
        except asyncio.CancelledError:  # $/cancelRequest: the request leaves at the next pass
            stop.set()
            self.counters.cancellations += 1
            raise
        except Cancelled:
            self.counters.cancellations += 1
            raise

    async def next_edit(self, source: str, offset: int, language_id: str, recent: list[int],
                        stale: Callable[[], bool]) -> edits.EditSuggestion:
        """The next edit near `offset` and the `recent` edits (`lsp.edits.next_edit`); none for a disabled language."""
        if not self.settings.enabled(language_id):
            return edits.EditSuggestion([])
        options, threshold = self.settings.options, self.settings.edit_threshold
        return await self.edit(lambda model: edits.next_edit(model, source, offset, language_id, options, recent,
                                                             threshold, should_stop=stale), scores=True)

    async def rewrite(self, source: str, start: int, end: int, language_id: str,
                      stale: Callable[[], bool]) -> edits.EditSuggestion:
        """The selection [start, end) written again (`lsp.edits.rewrite`)."""
        options = self.settings.options
        return await self.edit(lambda model: edits.rewrite(model, source, start, end, language_id, options, should_stop=stale))

    async def edit(self, work: Callable[[Model], edits.EditSuggestion], scores: bool = False) -> edits.EditSuggestion:
        """Run blocking edit work on the model in a worker thread (it waits for the scheduler's passes);
        nothing when it ``scores`` tokens and the model cannot (the server said so once, at load)."""
        model = await self.loaded()
        if model is None or (scores and not model.can_score):
            return edits.EditSuggestion([])
        return await asyncio.get_running_loop().run_in_executor(None, work, model)

    def texts(self, others: dict[str, str]) -> list[Text]:
        """Where drafts come from besides the document: the other open documents, then the workspace's other files."""
        return [Text("open", text) for text in others.values()] + self.workspace.texts(set(others))

    async def battle(self, arena: EditorArena, uri: str, source: str, offset: int, language_id: str,
                     superseded: Callable[[], bool], texts: list[Text], drawn_from: tuple) -> Round | None:
        """Arena mode: two systems answer at once (their passes share batches where they share a model), each
        timed as the editor waits for it, and the battle is stored before it is shown."""
        pair = arena.pair()
        for system in pair:  # a side that cannot answer would lose every battle it is drawn in: no battle instead
            if await self.model_of(system) is None:
                handle = self.arena_models.get(system.model, self.handle)
                raise ModelLoadError(f"arena system {system.name} has no model ({system.model or 'the bundled model'}: "
                                     f"{handle.error or 'not loaded'}), so no battle")

        async def timed(system: System) -> tuple[Edit | None, float]:
            started = time.perf_counter()
            edit = await self.compute(uri, source, offset, language_id, superseded, None, texts, drawn_from, system)
            return edit, (time.perf_counter() - started) * 1000

        (first, first_ms), (second, second_ms) = await asyncio.gather(timed(pair[0]), timed(pair[1]))
        if superseded():
            raise Cancelled("a newer request for this document arrived")
        return await asyncio.to_thread(arena.record, uri, pair, (first, second), (first_ms, second_ms), language_id,
                                       source[:offset], source[offset:])

    async def compute(self, uri: str, source: str, offset: int, language_id: str, superseded: Callable[[], bool],
                      on_draft: DraftCallback | None, texts: list[Text], drawn_from: tuple,
                      system: System | None = None) -> Edit | None:
        """Context, cache, model: the part of `complete` that can wait; with an arena ``system``, its model and options."""
        model = await self.model_of(system)
        if superseded():
            raise Cancelled("a newer request for this document arrived while the model was loading")
        if model is None:
            return None

        model_id, options = (self.settings.model, self.settings.options) if system is None else (system.model, system.options)
        started = time.perf_counter()
        ctx = pipeline.context(model, source, offset, language_id, options)
        self.counters.context_ms += (time.perf_counter() - started) * 1000
        key = (ctx.prefix, ctx.suffix, ctx.span, model_id, options, drawn_from)
        edit = self.cache.get(key)
        if edit is not MISSING:
            self.counters.cache_hits += 1
        else:
            drafts = draft_relay(ctx, on_draft, superseded) if on_draft else None
            started = time.perf_counter()
            work = functools.partial(pipeline.suggest_in, model, ctx, source, offset, language_id, options, texts,
                                     on_draft=drafts, should_stop=superseded)
            try:  # a cancelled task leaves the work to stop at its next pass (`superseded`)
                edit = (await asyncio.get_running_loop().run_in_executor(None, work)).edit
            finally:
                self.counters.model_calls += 1
                self.counters.model_ms += (time.perf_counter() - started) * 1000
            self.cache.put(key, edit)
        if superseded():
            raise Cancelled("a newer request for this document arrived")
        if edit is not None and system is None:
            self.shown[uri] = Shown(source[:offset], source[offset:], edit)
        return edit


def draft_relay(ctx: Context, on_draft: DraftCallback, superseded: Callable[[], bool]) -> Callable[[str], None]:
    """The model's draft callback (its thread): post-process, drop repeats and bursts, hand over to the loop."""
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
