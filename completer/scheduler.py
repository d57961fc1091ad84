"""The one owner of a loaded model: continuous batching of denoising passes across requests.

Requests are submitted from any thread and come back as a `Job` (a future, drafts on the way, a
way to cancel). One worker thread runs the passes: at every pass boundary it admits waiting
requests, drops cancelled ones, and runs ONE forward over the active blocks of all requests in
flight (plus one over the whole sequences of those that need a full pass: new, grown or due a
refresh). Each request commits its own tokens and leaves when its span is decided, so a long
request never holds up a short one and N editors share each pass instead of queueing for a lock.

Every request owns a row of one pooled context cache; rows stay packed (request i, row i), so a
pass reads the cache in place. A request leaving hands its prefix's keys to the prefix cache, where
the next keystroke's request finds them.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
from collections import deque
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import budget
from .errors import BadInput, Cancelled
from .graphs import BlockGraphs
from .likelihood import TokenScore, span_scores, token_probs
from .model import ContextCache, Transformer
from .tokenizer import Tokenizer
from .prefix_cache import PrefixCache
from .sampler import DenoiseSettings, Denoiser, SpanRows, batch_pass

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 16  # requests in flight at once; more wait for a free row
Tokens = tuple[list[int], list[int]]  # a context's prefix and suffix ids
RESTING_ROWS = 4  # rows the pool keeps when no request is in flight: a burst's extra rows go back, typing's stay
SEQ_ROUNDING = 256  # the pool's sequence length grows in steps of this many positions


@dataclass
class Completion:
    text: str
    stats: dict


class Job:
    """A submitted request: `result()` waits for its Completion; `cancel()` frees its row at the next pass."""

    def __init__(self, should_stop: Callable[[], bool] | None = None) -> None:
        self.future: Future[Completion] = Future()
        self.should_stop = should_stop
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        self.cancelled.set()

    def stopped(self) -> bool:
        """Cancelled, superseded, or its future cancelled (an awaiting asyncio task was)."""
        return self.cancelled.is_set() or self.future.cancelled() or (self.should_stop is not None and self.should_stop())

    def resolve(self, completion: Completion) -> None:
        with contextlib.suppress(InvalidStateError):  # cancelled meanwhile: nobody waits for it
            self.future.set_result(completion)

    def fail(self, error: BaseException) -> None:
        with contextlib.suppress(InvalidStateError):
            self.future.set_exception(error)

    def result(self, timeout: float | None = None) -> Completion:
        return self.future.result(timeout)


class Batch:
    """The requests in flight and their rows of one pooled cache and of their decode state on the device
    (`SpanRows`); `step` runs one pass for all of them."""

    def __init__(self, model: Transformer, graphs: BlockGraphs | None = None) -> None:
        self.model, self.graphs = model, graphs
        self.states: list[Denoiser] = []
        self.cache: ContextCache | None = None
        self.rows: SpanRows | None = None
        self.prefixes = PrefixCache()

    def add(self, state: Denoiser) -> None:
        self.states.append(state)

    def remove(self, index: int) -> Denoiser:
        """Take a request out; the last one moves into its row so the rows stay packed."""
        last = len(self.states) - 1
        state = self.states[index]
        if state.cached and state.s.reuse_keys:  # keys past P - shift were rewritten by block passes
            P = len(state.prefix) - state.shift
            self.prefixes.put(state.prefix[:P], self.cache.k[:, index, :, :P], self.cache.v[:, index, :, :P])
        if index != last:
            self.states[index] = self.states[last]
            if self.states[index].cached:
                self.cache.move_row(last, index)
            if self.states[index].on_device:
                self.rows.move_row(last, index)
        self.states.pop()
        if not self.states and self.cache is not None and self.cache.k.shape[1] > RESTING_ROWS:
            self.cache = self.rows = None  # after a burst: the next request gets a pool its size (CUDA graphs are captured again)
            return_free_pages()
        return state

    def fit_cache(self) -> None:
        """Grow the pool (cache and decode state) to every row and the longest sequence, plus the spare column
        for padding."""
        rows, length = len(self.states), max(st.seq_len() for st in self.states) + 1
        cache = self.cache
        if cache is not None and cache.k.shape[1] >= rows and cache.seq_len >= length:
            return
        rows = max(rows, cache.k.shape[1] if cache else 0)
        length = max(length, cache.seq_len if cache else 0)
        length = -(-length // SEQ_ROUNDING) * SEQ_ROUNDING
        weight = self.model.embed_tokens.weight
        grown = ContextCache(self.model.config, rows, length, weight.dtype, weight.device)
        if cache is not None:
            old_rows, old_len = cache.k.shape[1], cache.seq_len - 1  # the old spare column holds padding
            grown.k[:, :old_rows, :, :old_len] = cache.k[:, :, :, :old_len]
            grown.v[:, :old_rows, :, :old_len] = cache.v[:, :, :, :old_len]
        self.cache = grown
        tok = self.states[0].tok
        self.rows = SpanRows(tok, rows, length, weight.device) if self.rows is None else self.rows.grown(rows, length)

    def copy_keys(self, row: int) -> None:
        """Before a request's first pass: copy the keys of the prefix it shares with a recent request."""
        state = self.states[row]
        if not state.wants_keys():
            return
        entry, shared = self.prefixes.match(state.prefix)
        shared = min(shared, len(state.prefix) - state.shift)  # the pass must still compute the first logit row
        if entry is None or shared <= 0:
            return
        self.cache.k[:, row, :, :shared] = entry.k[:, :, :shared]
        self.cache.v[:, row, :, :shared] = entry.v[:, :, :shared]
        state.reuse(shared)

    def step(self) -> list[Denoiser]:
        """One pass for every request in flight; returns (and removes) those whose span is decided."""
        if not self.states:
            return []
        self.fit_cache()
        # block passes first, whole-sequence passes last: each kind is one slice of rows
        states, full, i, j = self.states, [st.needs_full_pass() for st in self.states], 0, len(self.states) - 1
        while True:
            while i < j and not full[i]:
                i += 1
            while j > i and full[j]:
                j -= 1
            if i >= j:
                break
            if states[j].cached:  # the full-pass request's row is about to be rewritten: no need to keep it
                self.cache.move_row(j, i)
            self.rows.swap(i, j)
            states[i], states[j], full[i], full[j] = states[j], states[i], full[j], full[i]
        for row, state in enumerate(states):
            state.row = row
            self.rows.prepare(state)
        n_block = sum(not f for f in full)
        for row in range(n_block, len(states)):
            self.copy_keys(row)
        batch_pass(self.model, self.cache, self.rows, states, n_block, self.graphs.forward if self.graphs else None)
        done = [k for k, st in enumerate(states) if st.finished]
        return [self.remove(k) for k in reversed(done)]

    def run(self, states: list[Denoiser]) -> list[list[int]]:
        """Run states to their end together, without a thread (tests, benchmarks); results in order."""
        for st in states:
            self.add(st)
        while self.states:
            self.step()
        return [st.result for st in states]


def decode(model: Transformer, states: list[Denoiser], graphs: BlockGraphs | None = None) -> list[list[int]]:
    """Run states to their end in a batch of their own; results in order."""
    return Batch(model, graphs).run(states)


class Scheduler:
    """A loaded model and its tokenizer, and the one worker thread that runs every pass on it; every front end
    submits here, from any thread. Opened by `completer.models.open_model`."""

    can_score = True

    def __init__(self, model: Transformer, tokenizer: Tokenizer, name: str, folder: Path | None = None,
                 cuda_graphs: bool = False, capacity: int = DEFAULT_CAPACITY) -> None:
        self.model, self.tokenizer, self.name, self.folder = model, tokenizer, name, folder
        self.cuda_graphs = cuda_graphs  # block passes replay CUDA graphs (`completer.graphs`)
        self.capacity = capacity
        self.batch = Batch(model, BlockGraphs(model) if cuda_graphs else None)
        self.jobs: dict[int, Job] = {}  # id(state) -> its job
        self.waiting: deque[tuple[Job, Callable[[], Denoiser]]] = deque()
        self.calls: deque[tuple[Future, Callable[[], object]]] = deque()  # other model work, run between passes
        self.wakeup = threading.Condition()
        self.closed = False
        self.passes = 0  # batched passes run: the benchmark and tests read it
        self.worker = threading.Thread(target=self.run, name="completer-scheduler", daemon=True)
        self.worker.start()

    @property
    def special_texts(self) -> tuple[str, ...]:
        return self.tokenizer.special_texts

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def context_budget(self, max_tokens: int, wanted: int | None = None) -> int:
        return budget.context_budget(self.model.config.max_seq_len, max_tokens, wanted)

    def tokens(self, text: str) -> list[int]:
        """``text``'s token ids: the pipeline encodes its windows once and hands them to every call here."""
        return self.tokenizer.encode(text)

    def context_ids(self, prefix: str, suffix: str, tokens: Tokens | None, span: int) -> Tokens:
        """The context's ids (``tokens`` when the caller has them, else encoded: raw HTTP text), cut to the
        budget that leaves room for ``span`` tokens, nearest the cursor kept (`budget.keep_nearest`)."""
        prefix_ids, suffix_ids = tokens or (self.tokens(prefix), self.tokens(suffix))
        return budget.keep_nearest(list(prefix_ids), list(suffix_ids), self.context_budget(span))

    def submit(self, prefix: str, suffix: str, settings: DenoiseSettings,
               on_draft: Callable[[str], None] | None = None,
               should_stop: Callable[[], bool] | None = None, hint: str | None = None,
               tokens: Tokens | None = None) -> Job:
        """Queue a fill of the span between ``prefix`` and ``suffix`` (``tokens``: their ids, when the caller
        has them); raises BadInput on bad settings.

        ``on_draft`` gets each pass's draft on the scheduler's thread: keep it short. ``hint``: a draft
        the denoiser may accept token by token (`Denoiser`).
        """
        settings.validate()
        tok = self.tokenizer
        prefix_ids, suffix_ids = self.context_ids(prefix, suffix, tokens, settings.max_tokens)
        line_start = prefix[prefix.rfind("\n") + 1:]
        hint_ids = tok.encode(hint) if hint else None
        job = Job(should_stop)
        drafts = None if on_draft is None else guarded(on_draft)

        def make() -> Denoiser:
            return Denoiser(self.model, tok, prefix_ids, suffix_ids, settings, on_draft=drafts,
                            line_start=line_start, hint=hint_ids)

        self.enqueue(self.waiting, (job, make))
        return job

    def complete(self, prefix: str, suffix: str, settings: DenoiseSettings,
                 on_draft: Callable[[str], None] | None = None) -> Completion:
        """Blocking: submit and wait (the CLI, scripts)."""
        return self.submit(prefix, suffix, settings, on_draft).result()

    def score(self, prefix: str, region: str, suffix: str, tokens: Tokens | None = None) -> Future[list[TokenScore]]:
        """How likely each token of ``region`` is between ``prefix`` and ``suffix`` (`completer.likelihood`),
        with character offsets into ``region``; run on the worker thread between two passes."""
        tok = self.tokenizer
        ids, offsets = tok.encode_offsets(region)
        window = self.model.config.max_seq_len
        if len(ids) >= window:
            raise BadInput(f"cannot score {len(ids)} tokens at once: the model's window is {window}")
        prefix_ids, suffix_ids = self.context_ids(prefix, suffix, tokens, len(ids))

        def run() -> list[TokenScore]:
            probs = token_probs(self.model, tok, prefix_ids, ids, suffix_ids)
            return [TokenScore(start, end, prob) for (start, end), prob in zip(offsets, probs)]

        future: Future[list[TokenScore]] = Future()
        self.enqueue(self.calls, (future, run))
        return future

    def rank(self, prefix: str, candidates: list[str], suffix: str, tokens: Tokens | None = None) -> Future[list[float]]:
        """How likely the model finds each candidate text between ``prefix`` and ``suffix``
        (`completer.likelihood.span_scores`: mean log-probability per token), one forward for all of
        them, run on the worker thread between two passes."""
        tok = self.tokenizer
        spans = [tok.encode(text) for text in candidates]
        longest = max(map(len, spans), default=0) + 1
        window = self.model.config.max_seq_len
        if longest >= window:
            raise BadInput(f"cannot rank a {longest}-token candidate: the model's window is {window}")
        prefix_ids, suffix_ids = self.context_ids(prefix, suffix, tokens, longest)
        future: Future[list[float]] = Future()
        self.enqueue(self.calls, (future, lambda: span_scores(self.model, tok, prefix_ids, spans, suffix_ids)))
        return future

    def enqueue(self, queue: deque, item: tuple) -> None:
        """Hand work to the worker thread; Cancelled once the scheduler is closed (its model was loaded again, or
        the server is shutting down), as for the work it held when it closed."""
        with self.wakeup:
            if self.closed:
                raise Cancelled("the model was closed: loaded again or shutting down")
            queue.append(item)
            self.wakeup.notify()

    def close(self) -> None:
        with self.wakeup:
            self.closed = True
            self.wakeup.notify()
        self.worker.join(timeout=30)

    # -- the worker thread ---------------------------------------------------------------------
    def run(self) -> None:
        while True:
            with self.wakeup:
                while not self.waiting and not self.calls and not self.batch.states and not self.closed:
                    self.wakeup.wait()
                if self.closed:
                    self.fail_all(Cancelled("the server is shutting down"))
                    return
                admitted = []
                while self.waiting and len(self.batch.states) + len(admitted) < self.capacity:
                    admitted.append(self.waiting.popleft())
                # emptied in place, never replaced: `enqueue` is handed the queue itself before it takes the lock,
                # and an item appended to a queue swapped out meanwhile would never run (its caller waiting for ever)
                calls = list(self.calls)
                self.calls.clear()
            for future, call in calls:
                run_call(future, call)
            for job, make in admitted:
                if job.stopped():
                    job.fail(Cancelled("cancelled before it started"))
                    continue
                try:
                    state = make()
                except Exception as error:  # a request that cannot start fails alone, never the worker
                    log.error("a request could not start", exc_info=error)
                    job.fail(error)
                    continue
                self.jobs[id(state)] = job
                self.batch.add(state)
            self.drop_stopped()
            if not self.batch.states:
                continue
            try:
                finished = self.batch.step()
                self.passes += 1
            except Exception as error:  # a failed pass fails its requests, never the scheduler
                log.error("a denoising pass failed; its %d requests fail with it", len(self.batch.states), exc_info=error)
                self.fail_all(error)
                continue
            for state in finished:
                job = self.jobs.pop(id(state))
                job.resolve(Completion(self.tokenizer.decode(state.result), state.stats.as_dict()))

    def drop_stopped(self) -> None:
        for k in reversed(range(len(self.batch.states))):
            if self.jobs[id(self.batch.states[k])].stopped():
                state = self.batch.remove(k)
                self.jobs.pop(id(state)).fail(Cancelled("superseded or cancelled"))

    def fail_all(self, error: Exception) -> None:
        while self.batch.states:
            state = self.batch.remove(len(self.batch.states) - 1)
            self.jobs.pop(id(state)).fail(error)
        for job, _ in self.waiting:
            job.fail(error)
        self.waiting.clear()
        for future, _ in self.calls:
            with contextlib.suppress(InvalidStateError):
                future.set_exception(error)
        self.calls.clear()


def return_free_pages() -> None:
    """Hand the C allocator's free pages back to the system. glibc keeps freed memory for reuse, and a pool
    grown row by row in a burst leaves tens of MB of it; called only when a burst's pool goes."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # glibc only
    except (AttributeError, OSError, TypeError):  # another C library, or no dlopen(NULL) (Windows)
        return
    trim(0)


def run_call(future: Future, call: Callable[[], object]) -> None:
    """Run one piece of model work for its future; a failure fails that future alone."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(call())
    except Exception as error:
        log.error("a model call failed", exc_info=error)
        future.set_exception(error)


def guarded(on_draft: Callable[[str], None]) -> Callable[[str], None]:
    """A draft callback that cannot break the pass it is called from."""
    def call(text: str) -> None:
        try:
            on_draft(text)
        except Exception as error:
            log.error("a draft callback failed: %r", error)
    return call
