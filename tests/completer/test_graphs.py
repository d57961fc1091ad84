"""CUDA graphs of the block pass: the static, padded pass a graph captures gives the eager pass's
results (on any device), its padding never touches a real key, a replayed graph on CUDA gives
exactly the static pass's results, and a capture or first replay that fails turns graphs off."""

from __future__ import annotations

import logging

import pytest
import torch

from completer.checkpoint import load_checkpoint
from completer.errors import BadInput
from completer.graphs import MAX_WINDOW, BlockGraphs, bucket, check_capture, wanted
from completer.model import CacheWindow
from completer.models import open_model
from completer.sampler import DenoiseSettings, Denoiser
from completer.scheduler import decode
from tests.helpers import make_tiny_checkpoint

PROMPTS = [
    ("def mean(xs):\n    total = 0\n", "\n    return total / len(xs)\n"),
    ("import ", "\n"),
    ("x = [" * 30, "]\n"),
    ("class Point:\n    def __init__(self, x, y):\n        self.x = x\n" * 3, ""),
]
SETTINGS = [
    dict(max_tokens=40, threshold=None, steps=4, block_size=24),  # windows of 24 and 48: two buckets
    dict(max_tokens=24, block_size=8, threshold=0.3),             # grows by blocks past its first
    dict(max_tokens=16, span="line"),
    dict(max_tokens=20, refresh_every=3, block_size=8),
]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return str(make_tiny_checkpoint(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def tiny(tiny_folder):
    model, tok, _ = load_checkpoint(tiny_folder, dtype=torch.float32)
    return model, tok


def states(model, tok, settings):
    return [Denoiser(model, tok, tok.encode(p), tok.encode(s), DenoiseSettings(reuse_keys=False, **settings))
            for p, s in PROMPTS]


@pytest.mark.parametrize("settings", SETTINGS)
def test_static_padded_block_passes_decode_exactly_as_the_eager_passes(tiny, settings):
    model, tok = tiny
    graphs = BlockGraphs(model, capture=False)
    eager = decode(model, states(model, tok, settings))
    assert decode(model, states(model, tok, settings), graphs) == eager
    assert graphs.passes, "no block pass went through the static path"
    assert graphs.checked and graphs.off is None


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=CUDA)])
def test_a_shorter_window_in_the_same_bucket_writes_only_its_own_keys(tiny_folder, device):
    model, _, _ = load_checkpoint(tiny_folder, dtype=torch.float32, device=device)
    rows, length = 2, 200
    graphs = BlockGraphs(model, capture=device == "cuda")
    gen = torch.Generator().manual_seed(0)
    caches = [model.new_cache(rows, length + 1) for _ in range(2)]
    for name in ("k", "v"):
        keys = torch.randn(getattr(caches[0], name).shape, generator=gen)
        getattr(caches[0], name).copy_(keys), getattr(caches[1], name).copy_(keys)
    logits = []
    with torch.inference_mode():
        for T, start in [(40, 100), (34, 150)]:  # both in bucket 48: the second leaves 6 stale columns behind
            tokens = torch.randint(3, model.config.vocab_size, (rows, T), generator=gen).to(device)
            positions = torch.arange(start, start + T, device=device).repeat(rows, 1)
            logits_at = torch.arange(8, device=device).repeat(rows, 1)
            for cache, forward in zip(caches, (model.forward_windows, graphs.forward)):
                window = CacheWindow(cache, slice(0, rows), length, write=positions.clone())
                logits.append(forward(tokens, positions, window, logits_at).clone())
    assert sorted(graphs.passes) == [(rows, 48)]
    torch.testing.assert_close(logits[1], logits[0], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(logits[3], logits[2], atol=1e-4, rtol=1e-4)
    # every real column as the eager passes left it; only the spare column took the padding
    for name in ("k", "v"):
        torch.testing.assert_close(getattr(caches[1], name)[..., :length, :], getattr(caches[0], name)[..., :length, :],
                                   atol=1e-4, rtol=1e-4)


def test_windows_are_padded_to_buckets_and_long_ones_stay_eager(tiny):
    assert [bucket(t) for t in (1, 16, 17, 33, 64, 65, MAX_WINDOW)] == [16, 16, 32, 48, 64, 80, MAX_WINDOW]
    assert bucket(MAX_WINDOW + 1) is None
    model, tok = tiny
    graphs = BlockGraphs(model, capture=False)
    settings = dict(max_tokens=MAX_WINDOW + 8, span_tokens=MAX_WINDOW + 8, block_size=MAX_WINDOW + 8,
                    threshold=None, steps=2)
    assert decode(model, states(model, tok, settings), graphs) == decode(model, states(model, tok, settings))
    assert not graphs.passes


def test_cuda_graphs_are_off_unless_asked_and_only_on_cuda(monkeypatch, tiny_folder):
    monkeypatch.delenv("COMPLETER_CUDA_GRAPHS", raising=False)
    assert not wanted("cuda") and not wanted("cpu")
    monkeypatch.setenv("COMPLETER_CUDA_GRAPHS", "1")
    assert wanted("cuda:0")
    with pytest.raises(BadInput, match="needs a model on CUDA"):
        open_model(tiny_folder, "cpu")
    monkeypatch.setenv("COMPLETER_CUDA_GRAPHS", "yes")
    with pytest.raises(BadInput, match="must be 0 or 1"):
        wanted("cuda")


@CUDA
@pytest.mark.parametrize("settings", SETTINGS)
def test_replayed_graphs_decode_exactly_as_the_same_static_passes_run_eagerly(tiny_folder, settings):
    model, tok, _ = load_checkpoint(tiny_folder, dtype=torch.bfloat16, device="cuda")
    graphs = BlockGraphs(model)
    static = decode(model, states(model, tok, settings), BlockGraphs(model, capture=False))
    assert decode(model, states(model, tok, settings), graphs) == static
    assert graphs.passes and graphs.pool is not None and graphs.checked and graphs.off is None


@CUDA
def test_the_scheduler_replays_graphs_when_asked(monkeypatch, tiny_folder):
    monkeypatch.setenv("COMPLETER_CUDA_GRAPHS", "1")
    scheduler = open_model(tiny_folder, "cuda", capacity=4)
    try:
        assert scheduler.cuda_graphs
        model, tok = scheduler.model, scheduler.tokenizer
        (prefix, suffix), settings = PROMPTS[0], SETTINGS[0]
        alone = scheduler.complete(prefix, suffix, DenoiseSettings(reuse_keys=False, **settings))
        assert scheduler.batch.graphs.passes, "no graph was captured"
        expected = decode(model, states(model, tok, settings)[:1], BlockGraphs(model, capture=False))[0]
        assert alone.text == tok.decode(expected)
        jobs = [scheduler.submit(p, s, DenoiseSettings(**kw)) for p, s in PROMPTS for kw in SETTINGS]
        assert all(isinstance(job.result(timeout=120).text, str) for job in jobs)
    finally:
        scheduler.close()


def test_graphs_follow_the_pool_when_it_grows(tiny):
    model, tok = tiny
    prefix = "def f(values):\n    return [v * 2 for v in values]\n" * 8
    ids = tok.encode(prefix)
    assert 200 < len(ids) < 250  # a span growing by blocks crosses the pool's first 256 columns
    settings = DenoiseSettings(max_tokens=64, block_size=8, threshold=1.0, reuse_keys=False)
    graphs = BlockGraphs(model, capture=False)
    caches = []
    original = graphs.forward

    def forward(tokens, positions, window, logits_at):
        caches.append(window.cache)
        return original(tokens, positions, window, logits_at)

    graphs.forward = forward
    eager = decode(model, [Denoiser(model, tok, ids, [], settings)])
    assert decode(model, [Denoiser(model, tok, ids, [], settings)], graphs) == eager
    assert len({id(c) for c in caches}) > 1, "the pool never grew"
    assert graphs.cache is caches[-1]


def fails() -> torch.Tensor:
    raise RuntimeError("operation not permitted when stream is capturing\n(more)")


@pytest.mark.parametrize("replay,reason", [
    (lambda: torch.ones(2, 3) + 1, "the first replay differs from the eager pass: 6 of 6 values off by more than 0.01"),
    (fails, "the first replay failed: RuntimeError: operation not permitted when stream is capturing"),
])
def test_a_first_replay_that_differs_or_fails_turns_graphs_off_with_one_warning(tiny, caplog, replay, reason):
    model, tok = tiny
    graphs = BlockGraphs(model, capture=False)
    with caplog.at_level(logging.WARNING, logger="completer.graphs"):
        assert torch.equal(graphs.check(replay, lambda: torch.ones(2, 3)), torch.ones(2, 3))  # the eager logits
        assert graphs.off.startswith(reason) and not graphs.checked
        eager = decode(model, states(model, tok, SETTINGS[0]))
        assert decode(model, states(model, tok, SETTINGS[0]), graphs) == eager
    assert not graphs.passes, "a block pass went through the graphs after they were turned off"
    assert [r.getMessage() for r in caplog.records] == [f"CUDA graphs off for this model, its block passes run eagerly: {graphs.off}"]


def test_a_capture_that_fails_turns_graphs_off_and_the_passes_run_eagerly(tiny, caplog):
    model, tok = tiny
    graphs = BlockGraphs(model)  # capture on CPU: torch.cuda fails, as a capture error on a GPU would
    with caplog.at_level(logging.WARNING, logger="completer.graphs"):
        assert decode(model, states(model, tok, SETTINGS[1]), graphs) == decode(model, states(model, tok, SETTINGS[1]))
    assert graphs.off.startswith("capture failed: ") and "\n" not in graphs.off
    assert len(caplog.records) == 1
    assert check_capture(model).startswith("capture failed: ")
