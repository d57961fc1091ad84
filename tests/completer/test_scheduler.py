"""The scheduler: batched passes give one-at-a-time results, a repeated prefix is not recomputed,
cancellation frees rows, failures stay contained."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import replace

import pytest

from completer.errors import Cancelled
from completer.prefix_cache import MIN_REUSE
from completer.sampler import DenoiseSettings, Denoiser
from completer.models import open_model
from completer.scheduler import RESTING_ROWS, Batch, decode
from tests.helpers import make_tiny_checkpoint

PROMPTS = [
    ("def mean(xs):\n    total = 0\n", "\n    return total / len(xs)\n"),
    ("import ", "\n"),
    ("for i in range(", "):\n    pass\n"),
    ("class Point:\n    def __init__(self, x, y):\n        self.x = x\n" * 3, ""),
    ("", "print(x)\n"),
    ("x = [" * 30, "]\n"),
]
SETTINGS = [
    dict(max_tokens=24, block_size=8),  # grows past its first block
    dict(max_tokens=16, threshold=None, steps=4, block_size=8),
    dict(max_tokens=12, span="line"),
    dict(max_tokens=16, span="block", block_size=8),
    dict(max_tokens=10, use_cache=False),
    dict(max_tokens=20, refresh_every=3, block_size=8),
]


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    scheduler = open_model(str(make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))), capacity=4)
    yield scheduler
    scheduler.close()


def test_concurrent_greedy_requests_get_exactly_their_one_at_a_time_results(scheduler):
    # without copied keys a result depends on its request alone, not on which requests went before
    cases = [(p, s, DenoiseSettings(reuse_keys=False, **kw)) for p, s in PROMPTS for kw in SETTINGS]
    alone = [scheduler.complete(p, s, settings) for p, s, settings in cases]
    passes_before = scheduler.passes
    jobs = [scheduler.submit(p, s, settings) for p, s, settings in cases]  # more than its 4 rows: some wait
    together = [job.result(timeout=120) for job in jobs]
    assert [c.text for c in together] == [c.text for c in alone]
    assert [c.stats["forward_passes"] for c in together] == [c.stats["forward_passes"] for c in alone]
    # they shared passes: far fewer batched passes than the requests' passes added up
    assert scheduler.passes - passes_before < sum(c.stats["forward_passes"] for c in alone) / 2


def test_decoding_a_batch_in_one_thread_matches_decoding_each_alone(scheduler):
    engine = scheduler
    tok = engine.tokenizer

    def states():
        return [Denoiser(engine.model, tok, tok.encode(p), tok.encode(s), DenoiseSettings(**kw))
                for (p, s), kw in zip(PROMPTS, SETTINGS)]

    assert decode(engine.model, states()) == [decode(engine.model, [st])[0] for st in states()]


def test_a_bursts_pool_goes_when_its_last_request_ends_and_a_typing_sized_pool_stays(scheduler):
    engine = scheduler
    tok = engine.tokenizer
    for count, kept in ((RESTING_ROWS + 2, False), (RESTING_ROWS, True)):
        batch = Batch(engine.model)
        batch.run([Denoiser(engine.model, tok, tok.encode(p), tok.encode(s), DenoiseSettings(max_tokens=8))
                   for p, s in (PROMPTS * 2)[:count]])
        assert (batch.cache is not None) == kept


@pytest.mark.parametrize("shift", [False, True])
def test_a_repeated_request_copies_its_prefix_keys_and_gets_the_same_completion(tmp_path, shift):
    scheduler = open_model(str(make_tiny_checkpoint(tmp_path, shift_logits=shift)))
    try:
        prefix, suffix = PROMPTS[3]
        settings = DenoiseSettings(max_tokens=16, block_size=8)
        first = scheduler.complete(prefix, suffix, settings)
        again = scheduler.complete(prefix, suffix, settings)
        off = scheduler.complete(prefix, suffix, replace(settings, reuse_keys=False))
    finally:
        scheduler.close()
    assert first.stats["reused_tokens"] == 0 and again.stats["reused_tokens"] >= MIN_REUSE
    assert off.stats["reused_tokens"] == 0
    assert again.text == first.text == off.text


def slow_settings() -> DenoiseSettings:
    return DenoiseSettings(max_tokens=32, block_size=32, threshold=None, steps=32)  # one token per pass


def test_a_cancelled_request_leaves_at_the_next_pass_and_the_others_finish(scheduler):
    first_draft, drafts = threading.Event(), []

    def on_draft(text):
        drafts.append(text)
        first_draft.set()

    doomed = scheduler.submit("def f(x):\n", "\n", slow_settings(), on_draft=on_draft)
    other = scheduler.submit("import ", "\n", slow_settings())
    assert first_draft.wait(30)
    doomed.cancel()
    with pytest.raises(Cancelled):
        doomed.result(timeout=30)
    assert len(drafts) <= 2  # at most the pass already running when it was cancelled
    assert other.result(timeout=60).stats["forward_passes"] == 32  # the other one ran to its end


def test_a_superseded_request_stops_and_frees_its_row(scheduler):
    passes = []
    job = scheduler.submit("x = ", "\n", slow_settings(), on_draft=passes.append, should_stop=lambda: len(passes) >= 3)
    with pytest.raises(Cancelled):
        job.result(timeout=30)
    assert 3 <= len(passes) <= 4
    scheduler.complete("y = ", "\n", DenoiseSettings(max_tokens=4))  # the row is free again
    assert not scheduler.batch.states


def test_a_failing_draft_callback_breaks_neither_its_request_nor_the_scheduler(scheduler):
    def explode(_):
        raise RuntimeError("the client went away")

    assert scheduler.submit("a = ", "\n", DenoiseSettings(max_tokens=6), on_draft=explode).result(timeout=30)
    assert scheduler.complete("b = ", "\n", DenoiseSettings(max_tokens=6))


def test_a_request_that_cannot_start_fails_alone_and_the_worker_keeps_serving(scheduler, monkeypatch):
    import completer.scheduler as module

    real, calls = module.Denoiser, []

    def broken(*args, **kwargs):
        if not calls:
            calls.append(1)
            raise ValueError("Overflow when unpacking long long")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "Denoiser", broken)
    with pytest.raises(ValueError, match="Overflow"):
        scheduler.complete("a = ", "\n", DenoiseSettings(max_tokens=6))
    assert scheduler.worker.is_alive()
    assert scheduler.complete("a = ", "\n", DenoiseSettings(max_tokens=6)).stats["forward_passes"] >= 1


def test_a_failing_pass_fails_its_requests_and_the_next_request_is_served(scheduler, monkeypatch):
    original = scheduler.batch.step
    calls = []

    def broken():
        if not calls:
            calls.append(1)
            raise RuntimeError("out of memory")
        return original()

    monkeypatch.setattr(scheduler.batch, "step", broken)
    with pytest.raises(RuntimeError, match="out of memory"):
        scheduler.complete("a = ", "\n", DenoiseSettings(max_tokens=6))
    assert scheduler.complete("a = ", "\n", DenoiseSettings(max_tokens=6)).stats["forward_passes"] >= 1


def test_work_sent_to_a_closed_scheduler_is_cancelled_like_the_work_it_held(tmp_path):
    """A settings change loads the model again and closes the old one under requests still on their way to it."""
    closed = open_model(str(make_tiny_checkpoint(tmp_path)), capacity=2)
    closed.close()
    with pytest.raises(Cancelled, match="closed"):
        closed.submit("a = ", "\n", DenoiseSettings(max_tokens=4))
    with pytest.raises(Cancelled, match="closed"):
        closed.score("a = ", "1", "\n")


def test_model_calls_handed_over_while_the_worker_takes_the_queue_all_run(scheduler):
    """`score` hands `enqueue` the calls queue before the lock; the worker must not swap that queue for a new one
    (the call then went to a queue nobody read, and its next edit waited for ever)."""
    for _ in range(20):
        with scheduler.wakeup:  # the worker and the caller both wait for this lock: either may get it first
            scheduler.calls.append((Future(), lambda: None))
            scheduler.wakeup.notify()
            scored: list = []
            caller = threading.Thread(target=lambda: scored.append(scheduler.score("a = ", "1", "\n")))
            caller.start()
            time.sleep(0.02)  # the caller holds the queue and waits for the lock
        caller.join()
        assert scored[0].result(timeout=10)
