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
default until a GPU run has measured them.
"""

from __future__ import annotations

import os
from typing import Callable

import torch
from torch import Tensor

from .errors import BadInput
from .model import CacheWindow, ContextCache, Transformer

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

    def forward(self, tokens: Tensor, positions: Tensor, window: CacheWindow, logits_at: Tensor) -> Tensor:
        rows, T = tokens.shape
        size = bucket(T)
        if size is None or window.write is None or window.rows != slice(0, rows):
            return self.model.forward_windows(tokens, positions, window, logits_at)
        if window.cache is not self.cache:  # the pool grew: the graphs point into the old one
            self.cache, self.passes = window.cache, {}
        if (rows, size) not in self.passes:
            self.passes[rows, size] = self.prepare(rows, size)
        static, replay = self.passes[rows, size]
        static.load(tokens, positions, window, logits_at)
        replay()
        return static.logits[:, :logits_at.shape[1]]

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
