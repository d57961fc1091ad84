"""CUDA graphs of the cached block pass: on a GPU a small model's pass is bound by launching its
kernels, not by their arithmetic, and replaying a captured graph launches them all at once.

A graph replays fixed shapes at fixed addresses, so a block pass is run at a bucket's size: its
window (and its logit rows) padded up to a multiple of `WINDOW_STEP` tokens, one graph per number
of rows and bucket, captured the first time that shape comes. The padding writes its keys to the
pool's spare column, and keys are read over the whole pool with each row's own length masking the
rest, so one graph serves every sequence length. Graphs belong to one pool: when the scheduler
grows it, they are dropped and captured again. Whole-sequence passes (a request's first, a grown
span, a refresh) stay eager: their lengths vary, and there is one per request.

`COMPLETER_CUDA_GRAPHS=1` turns them on for a model on CUDA (README, "CUDA graphs"); off by
default until a GPU run has measured them. No GPU has run them yet either, so the first replay is
checked against the eager pass on the same inputs: a capture that fails, or a replay that gives
other logits, turns graphs off for that model (one WARNING says why) and its passes run eagerly.
"""

from __future__ import annotations

import logging
import os
from typing import Callable

import torch
from torch import Tensor

from kernels.checked import TOLERANCE, difference, one_line

from .errors import BadInput
from .model import CacheWindow, ContextCache, Transformer

log = logging.getLogger(__name__)

WINDOW_STEP = 16   # windows are padded up to a multiple of this many tokens
MAX_WINDOW = 128   # longer windows (block sizes past 64) run eagerly


def wanted(device: str) -> bool:
    """Whether COMPLETER_CUDA_GRAPHS asks for graphs; BadInput for a value it cannot mean, or graphs off CUDA."""
    value = os.environ.get("COMPLETER_CUDA_GRAPHS", "0") or "0"
    if value not in ("0", "1"):
        raise BadInput(f"COMPLETER_CUDA_GRAPHS must be 0 or 1 (got '{value}')")
    if value == "1" and not device.startswith("cuda"):
        raise BadInput(f"COMPLETER_CUDA_GRAPHS=1 needs a model on CUDA (this one is on {device})")
    return value == "1"


def bucket(window: int) -> int | None:
    """The padded window length a graph is kept for; None past MAX_WINDOW."""
    return None if window > MAX_WINDOW else -(-window // WINDOW_STEP) * WINDOW_STEP


class StaticPass:
    """One shape's block pass over tensors at fixed addresses: `load` copies a pass's inputs in,
    `run` computes it into ``logits`` (or a graph of `run` replays it)."""

    def __init__(self, model: Transformer, cache: ContextCache, rows: int, size: int):
        device, self.spare = cache.k.device, cache.seq_len - 1
        self.model = model
        self.tokens = torch.full((rows, size), model.config.mask_token_id, dtype=torch.long, device=device)
        self.positions = torch.zeros(rows, size, dtype=torch.long, device=device)
        self.write = torch.full((rows, size), self.spare, dtype=torch.long, device=device)  # capture writes no real key
        self.kv_len = torch.ones(rows, dtype=torch.long, device=device)
        self.logits_at = torch.zeros(rows, size, dtype=torch.long, device=device)
        self.window = CacheWindow(cache, slice(0, rows), cache.seq_len, write=self.write, kv_len=self.kv_len)
        self.logits: Tensor | None = None

    def load(self, tokens: Tensor, positions: Tensor, window: CacheWindow, logits_at: Tensor) -> None:
        T, n = tokens.shape[1], logits_at.shape[1]
        self.tokens[:, :T].copy_(tokens)
        self.positions[:, :T].copy_(positions)
        self.write[:, :T].copy_(window.write)
        self.write[:, T:].fill_(self.spare)  # a longer window of this bucket left real columns there
        if window.kv_len is None:
            self.kv_len.fill_(window.keys)
        else:
            self.kv_len.copy_(window.kv_len)
        self.logits_at[:, :n].copy_(logits_at)

    def run(self) -> None:
        self.logits = self.model.forward_windows(self.tokens, self.positions, self.window, self.logits_at)


class BlockGraphs:
    """`forward` is `Transformer.forward_windows` for block passes, replayed from a graph where the
    shape fits one. ``capture=False`` runs the same static passes eagerly (any device: the tests)."""

    def __init__(self, model: Transformer, capture: bool = True):
        self.model, self.capture = model, capture
        self.cache: ContextCache | None = None
        self.passes: dict[tuple[int, int], tuple[StaticPass, Callable[[], None]]] = {}
        self.pool = None  # one memory pool shared by every graph: only one pass runs at a time
        self.checked = False      # the first replay gave the eager pass's logits
        self.off: str | None = None  # why graphs were turned off for this model

    def forward(self, tokens: Tensor, positions: Tensor, window: CacheWindow, logits_at: Tensor) -> Tensor:
        rows, T = tokens.shape
        size = bucket(T)

        def eager() -> Tensor:
            return self.model.forward_windows(tokens, positions, window, logits_at)

        if self.off or size is None or window.write is None or window.rows != slice(0, rows):
            return eager()
        if window.cache is not self.cache:  # the pool grew: the graphs point into the old one
            self.cache, self.passes = window.cache, {}
        if (rows, size) not in self.passes:
            try:
                self.passes[rows, size] = self.prepare(rows, size)
            except Exception as e:  # no CUDA, or a kernel that cannot be captured
                self.turn_off(f"capture failed: {one_line(e)}")
                return eager()
        static, replay = self.passes[rows, size]
        static.load(tokens, positions, window, logits_at)

        def replayed() -> Tensor:
            replay()
            return static.logits[:, :logits_at.shape[1]]

        return replayed() if self.checked else self.check(replayed, eager)

    def check(self, replayed: Callable[[], Tensor], eager: Callable[[], Tensor]) -> Tensor:
        """The first replay against the eager pass on the same inputs (both write the same keys): a replay
        that fails or gives other logits turns graphs off. Either way the pass's logits come back."""
        expected = eager()
        try:
            logits = replayed()
            reason = difference(logits, expected, TOLERANCE.get(self.model.embed_tokens.weight.dtype, 1e-2))
            reason = reason and f"the first replay differs from the eager pass: {reason}"
        except Exception as e:
            reason = f"the first replay failed: {one_line(e)}"
        if reason:
            self.turn_off(reason)
            return expected
        self.checked = True
        return logits

    def turn_off(self, reason: str) -> None:
        self.off, self.passes, self.pool = reason, {}, None
        log.warning("CUDA graphs off for this model, its block passes run eagerly: %s", reason)

    def prepare(self, rows: int, size: int) -> tuple[StaticPass, Callable[[], None]]:
        static = StaticPass(self.model, self.cache, rows, size)
        if not self.capture:
            return static, static.run
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # compiles the Triton kernels and settles the allocator before capture
            for _ in range(2):
                static.run()
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            static.run()
        self.pool = self.pool or graph.pool()
        return static, graph.replay


def check_capture(model: Transformer) -> str | None:
    """Capture one block pass of ``model`` and check its replay as the scheduler's first would: why graphs
    are off for it, None when they work (what `completer doctor` shows on CUDA)."""
    device = model.embed_tokens.weight.device
    keys = 4 * WINDOW_STEP
    positions = torch.arange(WINDOW_STEP, device=device)[None]
    window = CacheWindow(model.new_cache(1, keys + 1), slice(0, 1), keys, write=positions)  # + the spare column
    graphs = BlockGraphs(model)
    with torch.inference_mode():
        graphs.forward(torch.full_like(positions, model.config.mask_token_id), positions, window, positions)
    return graphs.off
