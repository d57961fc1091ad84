"""Parallel block denoising of a masked span between a prefix and a suffix.

The sequence is ``[prefix][MASK x n][suffix]``. Each pass predicts every masked position of the
active block at once and commits the confident ones (threshold schedule) or a fixed number
(fixed schedule), so cost grows with passes, not tokens. Long spans are decoded in
semi-autoregressive blocks. With the context cache, keys/values of the whole sequence are
computed once and a pass only recomputes the active block (plus, on the first pass of a block,
the block before it, whose last commits were still masks when its keys were computed).

A `Denoiser` is one request's decoding state, advanced one pass at a time; `batch_pass` runs one
pass for many of them with one forward per kind of pass (block windows; whole sequences for new,
grown or refreshed ones), each request owning a row of a shared cache. The scheduler decides who
is in the batch.

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

from .errors import BadInput
from .model import CacheWindow, ContextCache, Transformer
from .options import DEFAULT_EFFORT, DEFAULT_MAX_TOKENS, DEFAULT_REFRESH_EVERY, DEFAULT_REUSE_KEYS, EFFORTS, MAX_SEED, SPANS
from .tokenizer import Tokenizer


@dataclass
class DenoiseSettings:
    max_tokens: int = DEFAULT_MAX_TOKENS  # the span may grow up to this many tokens
    span_tokens: int | None = None  # the span's first budget (default: one block)
    block_size: int = 32
    threshold: float | None = EFFORTS[DEFAULT_EFFORT]["threshold"]  # commit every position this confident; None -> fixed
    steps: int | None = None        # fixed schedule: passes per full block
    use_cache: bool = True
    refresh_every: int = DEFAULT_REFRESH_EVERY  # with the cache: full recompute every k passes (0: only when needed)
    reuse_keys: bool = DEFAULT_REUSE_KEYS  # with the cache: start from a recent request's prefix keys (`prefix_cache`)
    temperature: float = 0.0
    seed: int | None = None
    span: str = "free"
    effort: str | None = None       # the level these settings came from (a remote model is sent it)

    @classmethod
    def for_effort(cls, effort: str = DEFAULT_EFFORT, *, threshold: float | None = None, steps: int | None = None,
                   **fields) -> "DenoiseSettings":
        """The settings of an effort level; an explicit threshold or step count overrides its schedule."""
        if effort not in EFFORTS:
            raise BadInput(f"effort must be one of {', '.join(EFFORTS)} (got {effort!r})")
        schedule = dict(EFFORTS[effort])
        if steps is not None:
            schedule = dict(threshold=None, steps=steps)
        elif threshold is not None:
            schedule = dict(threshold=threshold, steps=None)
        return cls(**schedule, effort=effort, **fields)

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
        if self.refresh_every < 0:
            raise BadInput(f"refresh interval must be >= 0 passes, 0 for never (got {self.refresh_every})")
        if self.temperature < 0:
            raise BadInput(f"temperature must be >= 0 (got {self.temperature})")
        if self.seed is not None and not 0 <= self.seed < MAX_SEED:
            raise BadInput(f"seed must be a whole number from 0 to 2**64 - 1 (got {self.seed})")


@dataclass
class DenoiseStats:
    forward_passes: int = 0
    committed_tokens: int = 0
    wall_ms: float = 0.0
    context_tokens: int = 0
    span_tokens: int = 0
    reused_tokens: int = 0  # context tokens whose keys the first pass copied from an earlier request
    accepted_tokens: int = 0  # tokens of a draft (`hint`) committed because the model's pick agreed

    @property
    def tokens_per_forward(self) -> float:
        """Committed tokens per pass, the end tokens filled in included."""
        return self.committed_tokens / self.forward_passes if self.forward_passes else 0.0

    @property
    def useful_tokens_per_forward(self) -> float:
        """Tokens of the result (the suggestion before post-processing) per pass: what the passes bought."""
        return self.span_tokens / self.forward_passes if self.forward_passes else 0.0

    def as_dict(self) -> dict:
        return {"forward_passes": self.forward_passes, "committed_tokens": self.committed_tokens,
                "tokens_per_forward": round(self.tokens_per_forward, 3),
                "useful_tokens_per_forward": round(self.useful_tokens_per_forward, 3), "wall_ms": round(self.wall_ms, 2),
                "context_tokens": self.context_tokens, "span_tokens": self.span_tokens,
                "reused_tokens": self.reused_tokens, "accepted_tokens": self.accepted_tokens}


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
    """One request's decoding state; each `advance` applies one pass's logits, until `finished`.

    ``result`` is then the span's token ids without the end tokens. A ``hint`` (a draft from the user's
    own code, `lsp.drafts`) sets the span's first budget to its length plus its end, and at every pass
    each masked position whose pick is the hint's token there is committed too: the draft's tokens the
    model accepts cost no passes of their own, the rest are denoised as usual.
    """

    def __init__(self, model: Transformer, tok: Tokenizer, prefix: list[int], suffix: list[int],
                 settings: DenoiseSettings, on_draft: Callable[[str], None] | None = None, line_start: str = "",
                 hint: list[int] | None = None):
        settings.validate()
        self.tok, self.s = tok, settings
        self.shift = 1 if model.config.shift_logits else 0
        if self.shift and not prefix:  # a shifted model predicts position i from i-1: give it one
            prefix = [tok.bos_id if tok.bos_id is not None else tok.end_id]
        self.prefix, self.suffix = prefix, suffix
        self.on_draft = on_draft
        self.line_start = line_start  # text of the cursor's line left of the span ("block" spans)
        self.device = model.embed_tokens.weight.device
        self.generator = torch.Generator(device="cpu")
        if settings.seed is not None:
            self.generator.manual_seed(settings.seed)
        self.stats = DenoiseStats(context_tokens=len(prefix) + len(suffix))
        self.banned: Tensor | None = None
        if settings.span == "line" and tok.newline_ids:
            self.banned = torch.tensor(tok.newline_ids, device=self.device)
        self.hint = hint[:settings.max_tokens - 1] + [tok.end_id] if hint else []
        first = min(len(self.hint) or settings.span_tokens or settings.block_size, settings.max_tokens)
        self.span = Span([tok.mask_id] * first, [False] * first)
        self.block_lo, self.block_hi = 0, min(settings.block_size, first)
        self.stale_from = 0  # span position from which the cached keys are stale
        self.passes = 0  # passes spent on the current block
        self.cached = False  # whether this request's cache row holds its sequence's keys
        self.passes_since_refresh = 0
        self.reuse_from = 0  # the next full pass starts here: the keys before it were copied into the row
        self.started = time.perf_counter()
        self.finished = False
        self.result: list[int] = []

    # -- what the next pass must compute ------------------------------------------------------
    def seq_len(self) -> int:
        return len(self.prefix) + len(self.span.ids) + len(self.suffix)

    def tokens(self, start: int, end: int) -> list[int]:
        """The sequence's tokens [start, end), without building the whole sequence."""
        P, N = len(self.prefix), len(self.span.ids)
        return (self.prefix[start:end] + self.span.ids[max(start - P, 0):max(end - P, 0)]
                + self.suffix[max(start - P - N, 0):max(end - P - N, 0)])

    def needs_full_pass(self) -> bool:
        """True when the next pass must recompute the whole sequence: no valid cache, or a refresh is due."""
        s = self.s
        return not s.use_cache or not self.cached or bool(s.refresh_every and self.passes_since_refresh >= s.refresh_every)

    def wants_keys(self) -> bool:
        """Whether the next pass may start from a recent request's prefix keys: only a request's first."""
        return self.s.use_cache and self.s.reuse_keys and not self.stats.forward_passes

    def reuse(self, tokens: int) -> None:
        """The row's first ``tokens`` keys were copied from an earlier request: the next pass starts after them."""
        self.reuse_from = self.stats.reused_tokens = tokens

    def logit_rows(self) -> list[int]:
        """The sequence positions whose hidden states predict the active block's masked positions.

        Only those: the logits of committed positions would be thrown away, and the output layer
        is the largest matrix product of a small model's pass.
        """
        # a shifted model reads position i's prediction off hidden state i-1
        first = len(self.prefix) - self.shift
        return [first + p for p in self.span.masked(self.block_lo, self.block_hi)]

    def window(self, full: bool) -> tuple[int, int]:
        """[start, end) of the sequence the next pass recomputes: all of it (but copied keys) for a full
        pass; for a cached block pass the block, and the stale one before it."""
        if full:
            return self.reuse_from, self.seq_len()
        P = len(self.prefix)
        return P + min(self.block_lo, self.stale_from) - self.shift, P + self.block_hi

    def passed(self, full: bool) -> None:
        """Bookkeeping of a pass whose logits are about to be applied."""
        self.stats.forward_passes += 1
        if full:
            self.cached, self.passes_since_refresh, self.reuse_from = True, 1, 0
        else:
            self.passes_since_refresh += 1
        self.stale_from = self.block_lo

    # -- choosing what to commit ---------------------------------------------------------------
    def sample(self, logits: Tensor) -> tuple[list[int], list[float]]:
        """Sampled token and its probability for every row of logits (temperature > 0; greedy rows
        are picked for the whole batch at once in `apply`)."""
        # In float64, with the max taken off first: every finite temperature > 0 then gives the top token 0 and the
        # rest -inf at worst, never nan (float32 rounds a temperature below ~1e-45 to 0, and 0 / 0 is nan).
        probs = torch.softmax((logits - logits.amax(dim=-1, keepdim=True)).double() / self.s.temperature, dim=-1)
        token = torch.multinomial(probs.cpu(), 1, generator=self.generator).squeeze(1).to(logits.device)
        return token.tolist(), probs.gather(1, token[:, None]).squeeze(1).tolist()

    def commit(self, positions: list[int], token: list[int], conf: list[float], passes_left: int) -> None:
        span = self.span
        if self.s.threshold is not None:
            picked = [i for i, c in enumerate(conf) if c >= self.s.threshold] or [conf.index(max(conf))]
        else:  # the most confident, ties to the leftmost
            k = math.ceil(len(positions) / max(passes_left, 1))
            picked = sorted(range(len(conf)), key=lambda i: -conf[i])[:k]
        accepted: list[int] = []  # positions not picked whose pick is the hint's token there
        if hint := self.hint:
            chosen = set(picked)
            accepted = [i for i, p in enumerate(positions) if p < len(hint) and token[i] == hint[p] and i not in chosen]
        for i in picked + accepted:
            span.ids[positions[i]] = token[i]
            span.done[positions[i]] = True
        self.stats.committed_tokens += len(picked) + len(accepted)
        self.stats.accepted_tokens += len(accepted)

    # -- ending the span -----------------------------------------------------------------------
    def end_at(self, pos: int) -> None:
        span = self.span
        for i in range(pos, len(span.ids)):
            if not span.done[i]:
                self.stats.committed_tokens += 1
            span.ids[i], span.done[i] = self.tok.end_id, True

    def settle_end(self, picks: dict[int, int]) -> int | None:
        """Position of the first committed end token, taken left over the masked positions just before
        it whose pick this pass (``picks``: position -> token) is an end too; everything after it is end.

        An uncertain model is surest of the end tokens furthest right: committed one per pass, on the
        same prediction, an empty suggestion cost 13-22 passes. Ending the run at once makes a span
        that is ending cost one pass.
        """
        span, end_ids = self.span, self.tok.end_ids
        end = next((i for i, t in enumerate(span.ids) if span.done[i] and t in end_ids), None)
        if end is None:
            return None
        while end > 0 and not span.done[end - 1] and picks.get(end - 1) in end_ids:
            end -= 1
        self.end_at(end)
        return end

    def dedent_cut(self) -> None:
        """For "block" spans: end the span where a decided line starts left of the first line."""
        span = self.span
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
                self.end_at(holder if carries else holder + 1)
                return
            line_offset += len(line) + 1

    def draft(self) -> str:
        span = self.span
        return self.tok.decode([t for t, d in zip(span.ids, span.done) if d and t not in self.tok.end_ids])

    # -- one pass ------------------------------------------------------------------------------
    def advance(self, token: list[int], conf: list[float]) -> None:
        """Apply one pass's pick (token, confidence) per masked position of the active block, in
        `logit_rows` order, then move on if the block is done."""
        span, lo, hi = self.span, self.block_lo, self.block_hi
        positions = span.masked(lo, hi)
        self.commit(positions, token, conf, (self.s.steps or 1) - self.passes)
        self.passes += 1
        end = self.settle_end(dict(zip(positions, token)))
        if self.s.span == "block":
            self.dedent_cut()
        if self.on_draft is not None:
            self.on_draft(self.draft())
        if span.masked(lo, hi):
            return
        if end is not None and end < hi:
            self.finish()
            return
        self.next_block()

    def next_block(self) -> None:
        """The active block is decided: end, move to the next block with masks, or grow the span."""
        s, span = self.s, self.span
        while True:
            if any(t in self.tok.end_ids for t in span.ids[:self.block_hi]):
                self.finish()
                return
            if self.block_hi >= len(span.ids):
                break
            self.block_lo, self.block_hi = self.block_hi, min(self.block_hi + s.block_size, len(span.ids))
            self.passes = 0
            if span.masked(self.block_lo, self.block_hi):
                return
        if len(span.ids) >= s.max_tokens:
            self.finish()
            return
        lo = len(span.ids)  # the budget is full and no end yet: grow by a block
        grow = min(s.block_size, s.max_tokens - lo)
        span.ids += [self.tok.mask_id] * grow
        span.done += [False] * grow
        self.block_lo, self.block_hi, self.stale_from, self.passes = lo, lo + grow, lo, 0
        self.cached = False  # the suffix moved: its keys need new positions

    def finish(self) -> None:
        self.finished = True
        self.stats.wall_ms = (time.perf_counter() - self.started) * 1000
        end = next((i for i, t in enumerate(self.span.ids) if t in self.tok.end_ids), len(self.span.ids))
        self.stats.span_tokens = end
        self.result = self.span.ids[:end]


Forward = Callable[[Tensor, Tensor, CacheWindow, Tensor], Tensor]  # `Transformer.forward_windows`'s signature


def batch_pass(model: Transformer, cache: ContextCache, states: list[Denoiser], n_block: int,
               block_forward: Forward | None = None) -> None:
    """One pass for every state: state i owns row i of ``cache``; the first ``n_block`` do cached
    block passes (one forward over their windows, through ``block_forward`` when given: CUDA graphs),
    the rest whole-sequence passes (one more forward, always the model's own).

    The cache must have a spare last column, past every sequence, where window padding is written.
    """
    with torch.inference_mode():
        if n_block:
            window_forward(block_forward or model.forward_windows, cache, states[:n_block], 0, full=False)
        if n_block < len(states):
            window_forward(model.forward_windows, cache, states[n_block:], n_block, full=True)


def window_forward(forward: Forward, cache: ContextCache, states: list[Denoiser], first_row: int, full: bool) -> None:
    """One forward over each state's window (`Denoiser.window`), padded to the longest; state i owns
    row first_row + i. Padding writes its keys to the spare column and reads no keys past its row's."""
    device, spare = cache.k.device, cache.seq_len - 1
    windows = [st.window(full) for st in states]
    T = max(end - start for start, end in windows)
    tokens = torch.full((len(states), T), states[0].tok.mask_id, dtype=torch.long)
    positions = torch.arange(T).repeat(len(states), 1)
    write = torch.full((len(states), T), spare, dtype=torch.long)
    rows = [st.logit_rows() for st in states]
    logits_at = torch.zeros(len(states), max(map(len, rows)), dtype=torch.long)
    for i, (st, (start, end)) in enumerate(zip(states, windows)):
        tokens[i, :end - start] = torch.tensor(st.tokens(start, end))
        positions[i] += start
        write[i, :end - start] = positions[i, :end - start]
        logits_at[i, :len(rows[i])] = torch.tensor(rows[i]) - start
    lengths = [st.seq_len() for st in states]
    window = CacheWindow(cache, slice(first_row, first_row + len(states)), max(lengths), write=write.to(device),
                         kv_len=key_lengths(lengths, device))
    logits = forward(tokens.to(device), positions.to(device), window, logits_at.to(device))
    apply(states, logits, [len(r) for r in rows], full)


def key_lengths(lengths: list[int], device) -> Tensor | None:
    """Per-row key lengths for the attention mask; None when every row is as long (no mask needed)."""
    return None if len(set(lengths)) == 1 else torch.tensor(lengths, device=device)


def apply(states: list[Denoiser], logits: Tensor, counts: list[int], full: bool) -> None:
    """Hand each state its picks from one forward's logits [B, n, V]: its first counts[i] rows, one
    per masked position (`logit_rows`), the rest padding.

    Greedy states are picked in one confidence call and one host transfer for the whole batch.
    """
    logits[..., states[0].tok.mask_id] = -math.inf  # never predict a mask
    for i, st in enumerate(states):
        if st.banned is not None:
            logits[i, :, st.banned] = -math.inf
    greedy = [i for i, st in enumerate(states) if st.s.temperature == 0]
    picks = {}
    if greedy:
        chosen = logits if len(greedy) == len(states) else logits[greedy]
        token, prob = kernels.top_token(chosen.flatten(0, 1))
        n = logits.shape[1]
        tokens, probs = token.view(-1, n).tolist(), prob.view(-1, n).tolist()
        picks = {i: (tokens[k], probs[k]) for k, i in enumerate(greedy)}
    for i, (st, count) in enumerate(zip(states, counts)):
        st.passed(full)
        token, conf = picks[i] if i in picks else st.sample(logits[i, :count])
        st.advance(token[:count], conf[:count])
