"""Parallel block denoising of a masked span between a prefix and a suffix.

The sequence is ``[prefix][MASK x n][suffix]``. Each pass predicts every masked position of the
active block at once and commits the confident ones (threshold schedule) or a fixed number
(fixed schedule), so cost grows with passes, not tokens. Long spans are decoded in
semi-autoregressive blocks. With the context cache, keys/values of the whole sequence are
computed once and a pass only recomputes the active block (plus, on the first pass of a block,
the block before it, whose last commits were still masks when its keys were computed).

A span ends at its first end/pad token; a span that fills its budget without one grows by a block
up to ``max_tokens``. The span kind constrains decoding: a "line" span never commits a newline,
a "block" span is cut where a line dedents below the span's first line.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor

import kernels

from .errors import BadInput, Cancelled
from .model import ContextCache, Transformer
from .tokenizer import Tokenizer

SPANS = ("free", "line", "block")


@dataclass
class DenoiseSettings:
    max_tokens: int = 64            # the span may grow up to this many tokens
    span_tokens: int | None = None  # the span's first budget (default: one block)
    block_size: int = 32
    threshold: float | None = 0.9   # commit every position this confident; None -> fixed schedule
    steps: int | None = None        # fixed schedule: passes per full block
    use_cache: bool = True
    refresh_every: int = 0          # with the cache: full recompute every k passes (0: only when needed)
    temperature: float = 0.0
    seed: int | None = None
    span: str = "free"

    def validate(self) -> None:
        if self.max_tokens <= 0:
            raise BadInput(f"the span budget must be at least 1 token (got max_tokens={self.max_tokens})")
        if self.block_size <= 0:
            raise BadInput(f"block size must be positive (got {self.block_size})")
        if self.threshold is None and not self.steps:
            raise BadInput("give a confidence threshold or a number of steps per block")
        if self.threshold is not None and not 0.0 < self.threshold <= 1.0:
            raise BadInput(f"threshold must be in (0, 1] (got {self.threshold})")
        if self.steps is not None and self.steps <= 0:
            raise BadInput(f"steps must be positive (got {self.steps})")
        if self.span not in SPANS:
            raise BadInput(f"span kind must be one of {', '.join(SPANS)} (got '{self.span}')")
        if self.temperature < 0:
            raise BadInput(f"temperature must be >= 0 (got {self.temperature})")


@dataclass
class DenoiseStats:
    forward_passes: int = 0
    committed_tokens: int = 0
    wall_ms: float = 0.0
    context_tokens: int = 0
    span_tokens: int = 0

    @property
    def tokens_per_forward(self) -> float:
        return self.committed_tokens / self.forward_passes if self.forward_passes else 0.0

    def as_dict(self) -> dict:
        return {"forward_passes": self.forward_passes, "committed_tokens": self.committed_tokens,
                "tokens_per_forward": round(self.tokens_per_forward, 3), "wall_ms": round(self.wall_ms, 2),
                "context_tokens": self.context_tokens, "span_tokens": self.span_tokens}


@dataclass
class Span:
    """The span's tokens and which of them are committed (decided)."""
    ids: list[int]
    done: list[bool] = field(default_factory=list)

    def masked(self, lo: int, hi: int) -> list[int]:
        return [i for i in range(lo, hi) if not self.done[i]]


def indent_width(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip(" "))


class Denoiser:
    """One request's decoding state; ``run`` returns the span's token ids without the end tokens."""

    def __init__(self, model: Transformer, tok: Tokenizer, prefix: list[int], suffix: list[int],
                 settings: DenoiseSettings, should_stop: Callable[[], bool] | None = None,
                 on_draft: Callable[[str], None] | None = None, line_start: str = ""):
        settings.validate()
        self.model, self.tok, self.s = model, tok, settings
        self.shift = 1 if model.config.shift_logits else 0
        if self.shift and not prefix:  # a shifted model predicts position i from i-1: give it one
            prefix = [tok.bos_id if tok.bos_id is not None else tok.end_id]
        self.prefix, self.suffix = prefix, suffix
        self.should_stop, self.on_draft = should_stop, on_draft
        self.line_start = line_start  # text of the cursor's line left of the span ("block" spans)
        self.device = model.embed_tokens.weight.device
        self.generator = torch.Generator(device="cpu")
        if settings.seed is not None:
            self.generator.manual_seed(settings.seed)
        self.stats = DenoiseStats(context_tokens=len(prefix) + len(suffix))
        self.cache: ContextCache | None = None
        self.passes_since_refresh = 0
        self.banned: Tensor | None = None
        if settings.span == "line" and tok.newline_ids:
            self.banned = torch.tensor(tok.newline_ids, device=self.device)

    # -- the sequence -------------------------------------------------------------------------
    def sequence(self, span: Span) -> Tensor:
        return torch.tensor([self.prefix + span.ids + self.suffix], device=self.device)

    def block_logits(self, span: Span, lo: int, hi: int, stale_from: int) -> Tensor:
        """Logits [hi-lo, V] predicting span positions lo..hi, from one forward pass."""
        P, n = len(self.prefix), hi - lo
        x = self.sequence(span)
        w0 = P + lo - self.shift  # a shifted model reads position i's prediction off hidden state i-1
        self.stats.forward_passes += 1
        if not self.s.use_cache:
            return self.model(x, logits_range=(w0, w0 + n))[0]
        refresh = self.cache is None or (self.s.refresh_every and self.passes_since_refresh >= self.s.refresh_every)
        if refresh:
            self.cache = self.model.new_cache(1, x.shape[1])
            self.passes_since_refresh = 1
            return self.model(x, 0, self.cache, logits_range=(w0, w0 + n))[0]
        self.passes_since_refresh += 1
        start = P + min(lo, stale_from) - self.shift
        out = self.model(x[:, start:P + hi], start, self.cache, logits_range=(w0 - start, w0 - start + n))
        return out[0]

    # -- choosing what to commit ---------------------------------------------------------------
    def choose(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        """Token and confidence for every row of logits."""
        logits[:, self.tok.mask_id] = -math.inf
        if self.banned is not None:
            logits[:, self.banned] = -math.inf
        if self.s.temperature > 0:
            probs = torch.softmax(logits / self.s.temperature, dim=-1)
            token = torch.multinomial(probs.cpu(), 1, generator=self.generator).squeeze(1).to(logits.device)
            return token, probs.gather(1, token[:, None]).squeeze(1)
        token, prob, _, _ = kernels.confidence(logits)
        return token, prob

    def commit(self, span: Span, positions: list[int], token: Tensor, conf: Tensor, passes_left: int) -> None:
        if self.s.threshold is not None:
            picked = [i for i, c in enumerate(conf.tolist()) if c >= self.s.threshold]
            if not picked:
                picked = [int(conf.argmax())]
        else:
            k = math.ceil(len(positions) / max(passes_left, 1))
            picked = conf.topk(min(k, len(positions))).indices.tolist()
        token = token.tolist()
        for i in picked:
            span.ids[positions[i]] = token[i]
            span.done[positions[i]] = True
        self.stats.committed_tokens += len(picked)

    # -- ending the span -----------------------------------------------------------------------
    def end_at(self, span: Span, pos: int) -> None:
        for i in range(pos, len(span.ids)):
            if not span.done[i]:
                self.stats.committed_tokens += 1
            span.ids[i], span.done[i] = self.tok.end_id, True

    def settle_end(self, span: Span) -> int | None:
        """Position of the first committed end token; everything after it is end too."""
        ends = [i for i, t in enumerate(span.ids) if span.done[i] and t in self.tok.end_ids]
        if not ends:
            return None
        self.end_at(span, ends[0] + 1)
        return ends[0]

    def dedent_cut(self, span: Span) -> None:
        """For "block" spans: end the span where a decided line starts left of the first line."""
        texts, pos = [], 0
        while pos < len(span.ids) and span.done[pos] and span.ids[pos] not in self.tok.end_ids:
            texts.append(self.tok.token_texts[span.ids[pos]])
            pos += 1
        offsets, text = [], self.line_start
        for t in texts:
            offsets.append(len(text))
            text += t
        lines = text.split("\n")
        base = indent_width(lines[0]) if lines[0].strip() else None
        line_offset = len(lines[0]) + 1
        for line in lines[1:]:
            if line.strip() and base is None:
                base = indent_width(line)
            elif line.strip() and indent_width(line) < base:
                # keep the newline's token unless it also carries the dedented line's text
                holder = max((i for i, o in enumerate(offsets) if o < line_offset), default=-1)
                carries = holder >= 0 and text[line_offset:offsets[holder] + len(texts[holder])].strip()
                self.end_at(span, holder if carries else holder + 1)
                return
            line_offset += len(line) + 1

    def draft(self, span: Span) -> str:
        return self.tok.decode([t for t, d in zip(span.ids, span.done) if d and t not in self.tok.end_ids])

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> list[int]:
        t0 = time.perf_counter()
        s = self.s
        first = min(s.span_tokens or s.block_size, s.max_tokens)
        span = Span([self.tok.mask_id] * first, [False] * first)
        lo = 0
        with torch.inference_mode():
            while True:
                ended = self.decode_blocks(span, lo)
                if ended or len(span.ids) >= s.max_tokens:
                    break
                lo = len(span.ids)  # the budget is full and no end yet: grow by a block
                grow = min(s.block_size, s.max_tokens - lo)
                span.ids += [self.tok.mask_id] * grow
                span.done += [False] * grow
                self.cache = None  # the suffix moved: its keys need new positions
        self.stats.wall_ms = (time.perf_counter() - t0) * 1000
        end = next((i for i, t in enumerate(span.ids) if t in self.tok.end_ids), len(span.ids))
        self.stats.span_tokens = end
        return span.ids[:end]

    def decode_blocks(self, span: Span, lo: int) -> bool:
        """Decode blocks from ``lo`` to the span's end; True when the span has ended."""
        stale_from = lo
        for block_lo in range(lo, len(span.ids), self.s.block_size):
            block_hi = min(block_lo + self.s.block_size, len(span.ids))
            passes = 0
            while positions := span.masked(block_lo, block_hi):
                if self.should_stop is not None and self.should_stop():
                    raise Cancelled("superseded by a newer request")
                logits = self.block_logits(span, block_lo, block_hi, stale_from)
                stale_from = block_lo
                rows = torch.tensor([p - block_lo for p in positions], device=logits.device)
                token, conf = self.choose(logits[rows])
                passes_left = (self.s.steps or 1) - passes
                self.commit(span, positions, token, conf, passes_left)
                passes += 1
                end = self.settle_end(span)
                if self.s.span == "block":
                    self.dedent_cut(span)
                if self.on_draft is not None:
                    self.on_draft(self.draft(span))
                if end is not None and end < block_hi and not span.masked(block_lo, block_hi):
                    return True
            if any(t in self.tok.end_ids for t in span.ids[:block_hi]):
                return True
        return False
