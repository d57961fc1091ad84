"""Parallel block denoising of a masked span between a prefix and a suffix.

The sequence is ``[prefix][MASK x n][suffix]``. Each pass predicts every masked position of the
active block at once and commits the confident ones (threshold schedule) or a fixed number
(fixed schedule), so cost grows with passes, not tokens. Long spans are decoded in
semi-autoregressive blocks. With the context cache, keys/values of the whole sequence are
computed once and a pass only recomputes the active block (plus, on the first pass of a block,
the block before it, whose last commits were still masks when its keys were computed).

A `Denoiser` is one request's decoding, advanced one pass at a time; `batch_pass` runs one pass for
many of them with one forward per kind of pass (block windows; whole sequences for new, grown or
refreshed ones), each request owning a row of a shared cache and a row of `SpanRows`, its tokens on
the model's device. Windows are gathered, picks committed and ends settled there; the host sends
each forward one small tensor (window bounds and the positions the pass decides) and reads one tensor
back per pass, so on a GPU a pass waits for the device once. The scheduler decides who is in the batch.

A span ends at its first end/pad token; a span that fills its budget without one grows by a block
up to ``max_tokens``. The span kind constrains decoding: a "line" span never commits a newline,
a "block" span is cut where a line dedents below the span's first line.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy
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
    host_syncs: int = 0  # times the host waited to read the device: one per pass (`SpanRows.report`)

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
                "reused_tokens": self.reused_tokens, "accepted_tokens": self.accepted_tokens,
                "host_syncs": self.host_syncs}


@dataclass
class Span:
    """The host's copy of the span, read back from the device once per pass: its tokens, the mask where
    undecided (a mask is never picked, so any other token is committed)."""
    ids: list[int]
    mask: int

    def masked(self, lo: int = 0, hi: int | None = None) -> int:
        """How many positions of [lo, hi) are undecided."""
        return self.ids[lo:hi].count(self.mask)


def indent_width(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip(" "))


class Denoiser:
    """One request's decoding, the host's side of it: which window the next pass computes, when a block is
    decided, when the span grows or ends.

    Its tokens live on the model's device, in its row of the batch's `SpanRows`, where each pass picks,
    commits and ends them; the host reads them back once per pass into ``span``. ``result`` is then the
    span's token ids without the end tokens. A ``hint`` (a draft from the user's own code, `lsp.drafts`)
    sets the span's first budget to its length plus its end, and at every pass each masked position whose
    pick is the hint's token there is committed too: the draft's tokens the model accepts cost no passes
    of their own, the rest are denoised as usual.
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
        self.generator = torch.Generator(device=model.embed_tokens.weight.device)  # samples where the logits are
        if settings.seed is not None:
            self.generator.manual_seed(settings.seed)
        self.stats = DenoiseStats(context_tokens=len(prefix) + len(suffix))
        self.hint = hint[:settings.max_tokens - 1] + [tok.end_id] if hint else []
        first = min(len(self.hint) or settings.span_tokens or settings.block_size, settings.max_tokens)
        self.span = Span([tok.mask_id] * first, tok.mask_id)
        self.block_lo, self.block_hi = 0, min(settings.block_size, first)
        self.stale_from = 0  # span position from which the cached keys are stale
        self.passes = 0  # passes spent on the current block
        self.cached = False  # whether this request's cache row holds its sequence's keys
        self.passes_since_refresh = 0
        self.reuse_from = 0  # the next full pass starts here: the keys before it were copied into the row
        self.row = -1  # its row of the batch (cache and `SpanRows`), set by the batch before each pass
        self.on_device = 0  # span tokens its row of `SpanRows` holds: 0 until loaded, then grown with the span
        self.started = time.perf_counter()
        self.finished = False
        self.result: list[int] = []

    # -- what the next pass must compute ------------------------------------------------------
    def seq_len(self) -> int:
        return len(self.prefix) + len(self.span.ids) + len(self.suffix)

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

    def window(self, full: bool) -> tuple[int, int]:
        """[start, end) of the sequence the next pass recomputes: all of it (but copied keys) for a full
        pass; for a cached block pass the block, and the stale one before it."""
        if full:
            return self.reuse_from, self.seq_len()
        P = len(self.prefix)
        return P + min(self.block_lo, self.stale_from) - self.shift, P + self.block_hi

    def masked_in_block(self) -> int:
        """How many positions the next pass predicts: the active block's undecided ones."""
        return self.span.masked(self.block_lo, self.block_hi)

    def undecided(self) -> list[int]:
        """The sequence positions the next pass predicts, left to right: the active block's undecided ones."""
        P, ids, mask = len(self.prefix), self.span.ids, self.tok.mask_id
        return [P + i for i in range(self.block_lo, self.block_hi) if ids[i] == mask]

    def picks_per_pass(self) -> int:
        """Fixed schedule: how many positions the next pass commits, so the block is done in `steps`; 0 with a threshold."""
        if self.s.threshold is not None:
            return 0
        return math.ceil(self.masked_in_block() / max(self.s.steps - self.passes, 1))

    def passed(self, full: bool) -> None:
        """Bookkeeping of a pass whose picks were just committed."""
        self.stats.forward_passes += 1
        if full:
            self.cached, self.passes_since_refresh, self.reuse_from = True, 1, 0
        else:
            self.passes_since_refresh += 1
        self.stale_from = self.block_lo

    def sample(self, logits: Tensor) -> tuple[Tensor, Tensor]:
        """A sampled token and its probability for every row of logits (temperature > 0), on their device."""
        # In float64, with the max taken off first: every finite temperature > 0 then gives the top token 0 and the
        # rest -inf at worst, never nan (float32 rounds a temperature below ~1e-45 to 0, and 0 / 0 is nan).
        probs = torch.softmax((logits - logits.amax(dim=-1, keepdim=True)).double() / self.s.temperature, dim=-1)
        token = torch.multinomial(probs, 1, generator=self.generator)
        return token.squeeze(1), probs.gather(1, token).squeeze(1).float()

    # -- after a pass --------------------------------------------------------------------------
    def advance(self, report: list[int], rows: "SpanRows") -> None:
        """Take this pass's outcome as the device reported it (`SpanRows.report`), apply the host's rules
        (the dedent cut, drafts) and move on if the block is decided."""
        self.span = Span(report[1:1 + len(self.span.ids)], self.tok.mask_id)
        # every position is committed once, the end tokens filled in included: the decided ones count them
        self.stats.committed_tokens, self.stats.accepted_tokens = len(self.span.ids) - self.span.masked(), report[0]
        self.passes += 1
        if self.s.span == "block":
            self.dedent_cut(rows)
        if self.on_draft is not None:
            self.on_draft(self.draft())
        if self.masked_in_block():
            return
        end = self.end()
        if end is not None and end < self.block_hi:
            self.finish()
            return
        self.next_block()

    def end(self) -> int | None:
        """Position of the span's first (committed) end token."""
        return next((i for i, t in enumerate(self.span.ids) if t in self.tok.end_ids), None)

    def end_at(self, pos: int, rows: "SpanRows") -> None:
        """End the span at ``pos``: here and on the device."""
        span, stop = self.span, len(self.span.ids)
        self.stats.committed_tokens += span.masked(pos)
        span.ids[pos:] = [self.tok.end_id] * (stop - pos)
        rows.end_at(self.row, len(self.prefix) + pos, len(self.prefix) + stop)

    def dedent_cut(self, rows: "SpanRows") -> None:
        """For "block" spans: end the span where a decided line starts left of the first line."""
        span = self.span
        texts, pos = [], 0
        while pos < len(span.ids) and span.ids[pos] != span.mask and span.ids[pos] not in self.tok.end_ids:
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
                self.end_at(holder if carries else holder + 1, rows)
                return
            line_offset += len(line) + 1

    def draft(self) -> str:
        span = self.span
        return self.tok.decode([t for t in span.ids if t != span.mask and t not in self.tok.end_ids])

    def next_block(self) -> None:
        """The active block is decided: end, move to the next block with masks, or grow the span (its row on the
        device grows before the next pass, `SpanRows.prepare`)."""
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
        self.block_lo, self.block_hi, self.stale_from, self.passes = lo, lo + grow, lo, 0
        self.cached = False  # the suffix moved: its keys need new positions

    def finish(self) -> None:
        self.finished = True
        self.stats.wall_ms = (time.perf_counter() - self.started) * 1000
        end = self.end()
        self.stats.span_tokens = len(self.span.ids) if end is None else end
        self.result = self.span.ids[:self.stats.span_tokens]


def to_device(values: list, device: torch.device) -> Tensor:
    """A host list as a long tensor on ``device`` without waiting for it: on CUDA pinned, then copied asynchronously."""
    tensor = torch.tensor(values, dtype=torch.long)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


class SpanRows:
    """The decode state of a batch's requests on the model's device, one row per request as in the cache.

    Per row: the whole sequence (prefix, span, suffix), the span's undecided positions holding the mask
    (never picked, so a mask in the span is undecided), the draft the request may accept (-1 elsewhere),
    its prefix length, threshold, line flag and accepted-draft count. Passes build their windows from it
    and commit into it in place; the host reads it once per pass (`report`). The last column is the spare
    one the cache has too, where padding writes: it always holds the mask, which padding reads.
    """

    def __init__(self, tok: Tokenizer, rows: int, length: int, device: torch.device):
        self.tok, self.device = tok, device
        self.tokens = torch.full((rows, length), tok.mask_id, dtype=torch.long, device=device)
        self.hint = torch.full((rows, length), -1, dtype=torch.long, device=device)
        self.prefix_len = torch.zeros(rows, dtype=torch.long, device=device)
        self.accepted = torch.zeros(rows, dtype=torch.long, device=device)
        self.threshold = torch.zeros(rows, dtype=torch.float32, device=device)  # `float32_at_least`
        self.line = torch.zeros(rows, dtype=torch.bool, device=device)
        self.columns = torch.arange(length, device=device)
        self.end_ids = torch.tensor(sorted(tok.end_ids), device=device)
        self.banned = torch.tensor(tok.banned_ids, device=device)  # never picked: the mask, special tokens but the ends
        self.newlines = torch.tensor(tok.newline_ids, dtype=torch.long, device=device)

    @property
    def spare(self) -> int:
        return self.tokens.shape[1] - 1

    def per_row(self) -> list[Tensor]:
        return [self.tokens, self.hint, self.prefix_len, self.accepted, self.threshold, self.line]

    def grown(self, rows: int, length: int) -> "SpanRows":
        """A pool of more rows or longer rows holding these."""
        new = SpanRows(self.tok, rows, length, self.device)
        for old, grown in zip(self.per_row(), new.per_row()):
            grown[tuple(slice(0, n) for n in old.shape)] = old
        return new

    def prepare(self, state: Denoiser) -> None:
        """Before a pass: load a new request into its row, or move a grown span's suffix right."""
        if not state.on_device:
            self.load(state)
        elif len(state.span.ids) > state.on_device:
            self.grow(state)
        state.on_device = len(state.span.ids)

    def load(self, state: Denoiser) -> None:
        row, P = state.row, len(state.prefix)
        sequence = state.prefix + state.span.ids + state.suffix
        self.tokens[row, :len(sequence)] = to_device(sequence, self.device)
        self.hint[row].fill_(-1)
        if state.hint:
            self.hint[row, P:P + len(state.hint)] = to_device(state.hint, self.device)
        self.prefix_len[row] = P
        self.accepted[row] = 0
        self.threshold[row] = float32_at_least(state.s.threshold or 0.0)
        self.line[row] = state.s.span == "line"

    def grow(self, state: Denoiser) -> None:
        row, S = state.row, len(state.suffix)
        old, new = len(state.prefix) + state.on_device, len(state.prefix) + len(state.span.ids)
        for tensor, fill in ((self.tokens, self.tok.mask_id), (self.hint, -1)):
            tensor[row, new:new + S] = tensor[row, old:old + S].clone()
            tensor[row, old:new] = fill

    def end_at(self, row: int, start: int, stop: int) -> None:
        self.tokens[row, start:stop] = self.tok.end_id

    def move_row(self, src: int, dst: int) -> None:
        for tensor in self.per_row():
            tensor[dst] = tensor[src]

    def swap(self, i: int, j: int) -> None:
        for tensor in self.per_row():
            tensor[i], tensor[j] = tensor[j].clone(), tensor[i].clone()

    def report(self, count: int, span: int) -> list[list[int]]:
        """The pass's one read of the device: per row its accepted draft tokens so far, then its first ``span``
        span tokens (the mask where undecided)."""
        at = (self.prefix_len[:count, None] + self.columns[:span]).clamp(max=self.spare)
        return torch.cat([self.accepted[:count, None], self.tokens[:count].gather(1, at)], 1).tolist()


def float32_at_least(threshold: float) -> float:
    """The least float32 at or above ``threshold``: a float32 confidence reaches it exactly when it reaches
    ``threshold`` itself, so the device compares in float32 as the host did in float64."""
    value = numpy.float32(threshold)
    if float(value) < threshold:  # compared in float64: numpy would round the threshold to float32 first
        value = numpy.nextafter(value, numpy.float32(math.inf))
    return float(value)


Forward = Callable[[Tensor, Tensor, CacheWindow, Tensor], Tensor]  # `Transformer.forward_windows`'s signature


def batch_pass(model: Transformer, cache: ContextCache, rows: SpanRows, states: list[Denoiser], n_block: int,
               block_forward: Forward | None = None) -> None:
    """One pass for every state: state i owns row i of ``cache`` and ``rows``; the first ``n_block`` do cached
    block passes (one forward over their windows, through ``block_forward`` when given: CUDA graphs),
    the rest whole-sequence passes (one more forward, always the model's own). Then one read of the
    device tells every state what its pass decided.

    The cache and rows must have a spare last column, past every sequence, where window padding is written.
    """
    with torch.inference_mode():
        if n_block:
            window_pass(block_forward or model.forward_windows, cache, rows, states[:n_block], 0, full=False)
        if n_block < len(states):
            window_pass(model.forward_windows, cache, rows, states[n_block:], n_block, full=True)
        report = rows.report(len(states), max(len(st.span.ids) for st in states))
    for i, (st, line) in enumerate(zip(states, report)):
        st.passed(full=i >= n_block)
        st.stats.host_syncs += 1
        st.advance(line, rows)


def window_pass(forward: Forward, cache: ContextCache, rows: SpanRows, states: list[Denoiser], first: int,
                full: bool) -> None:
    """One forward over each state's window (`Denoiser.window`), padded to the longest (state i owns row
    first + i), then its picks committed and its span's end settled, all on the device: the host sends one
    small tensor of window bounds and the positions to decide, and reads nothing. Padding writes its keys to
    the spare column, reads no keys past its row's and decides the spare column (which holds the mask)."""
    windows = [st.window(full) for st in states]
    targets = [st.undecided() for st in states]
    n, spare, never, shift = max(map(len, targets)), rows.spare, rows.tokens.shape[1], states[0].shift
    lengths = [st.seq_len() for st in states]
    # per row: its window, length and schedule, where the span ends (`never`: no end yet), then the sequence
    # positions this pass decides, left to right, and the window column each one's logits are read at
    info = to_device([[start, end - start, length, st.picks_per_pass(), len(st.prefix) + len(st.span.ids),
                       never if st.end() is None else len(st.prefix) + st.end(),
                       *at, *[spare] * (n - len(at)), *[p - start - shift for p in at], *[0] * (n - len(at))]
                      for st, (start, end), length, at in zip(states, windows, lengths, targets)], rows.device)
    start, width, length, picks, span_end, ended = info[:, :6, None].unbind(1)
    target, logits_at = info[:, 6:6 + n], info[:, 6 + n:]
    r = slice(first, first + len(states))
    cols = rows.columns[:max(end - begin for begin, end in windows)]
    positions = start + cols
    write = positions.masked_fill(cols >= width, spare)
    window = CacheWindow(cache, r, max(lengths), write=write, kv_len=None if len(set(lengths)) == 1 else length[:, 0])
    logits = forward(rows.tokens[r].gather(1, write), positions, window, logits_at)
    token, conf = pick(logits, states, rows, r, [len(at) for at in targets])
    valid = target != spare
    fixed = [st.s.threshold is None for st in states]
    chosen = commit(rows, r, target, valid, token, conf, picks, thresholded=not all(fixed), fixed=any(fixed),
                    hinted=any(st.hint for st in states))
    settle_end(rows, r, target, valid, token, chosen, span_end, ended)


def pick(logits: Tensor, states: list[Denoiser], rows: SpanRows, r: slice, counts: list[int]) -> tuple[Tensor, Tensor]:
    """Each logit row's pick and its probability [B, n]: the top token, or for a request with a temperature a
    sample from its own generator. A mask or another special token is never picked (an end token may be: it
    ends the span), nor a newline in a "line" span. The logits are used up (`kernels.top_token` may work in
    them)."""
    logits.index_fill_(-1, rows.banned, -math.inf)
    if any(st.s.span == "line" for st in states) and len(rows.newlines):
        logits[..., rows.newlines] = logits[..., rows.newlines].masked_fill(rows.line[r, None, None], -math.inf)
    samples = [(i, count, st.sample(logits[i, :count]))
               for i, (st, count) in enumerate(zip(states, counts)) if st.s.temperature > 0]
    token, conf = kernels.top_token(logits.flatten(0, 1), scratch=True)
    token, conf = token.view(logits.shape[:2]), conf.view(logits.shape[:2])
    for i, count, (sampled, probability) in samples:
        token[i, :count], conf[i, :count] = sampled, probability
    return token, conf


def commit(rows: SpanRows, r: slice, target: Tensor, valid: Tensor, token: Tensor, conf: Tensor, picks: Tensor,
           thresholded: bool, fixed: bool, hinted: bool) -> Tensor:
    """Commit each row's positions at least as confident as its threshold (its surest one when none is), or its
    ``picks`` surest, ties to the leftmost (fixed schedule), and those whose pick is its draft's token there;
    returns which logit rows were committed. The flags say whether any row has a threshold, a fixed schedule,
    a draft: what no row needs is not computed."""
    conf = torch.where(valid, conf, -1.0)  # padding is never chosen
    if thresholded:
        chosen = (conf >= rows.threshold[r, None]).scatter_(1, conf.argmax(1, keepdim=True), True)
    if fixed:
        surest = conf.sort(dim=1, descending=True, stable=True).indices.argsort(1) < picks
        chosen = torch.where(picks > 0, surest, chosen) if thresholded else surest
    if hinted:
        accepted = valid & ~chosen & (token == rows.hint[r].gather(1, target))
        chosen |= accepted
        rows.accepted[r].add_(accepted.sum(1))
    # every position a logit row decides holds the mask: those not chosen keep it
    rows.tokens[r].scatter_(1, target, torch.where(chosen, token, rows.tok.mask_id))
    return chosen


def settle_end(rows: SpanRows, r: slice, target: Tensor, valid: Tensor, token: Tensor, chosen: Tensor,
               span_end: Tensor, ended: Tensor) -> None:
    """End each span at its first committed end token (``ended`` before this pass), taken left over the
    undecided positions just before it whose pick this pass is an end too; everything after it is end.

    An uncertain model is surest of the end tokens furthest right: committed one per pass, on the same
    prediction, an empty suggestion cost 13-22 passes. Ending the run at once makes a span that is ending
    cost one pass.
    """
    cols = rows.columns
    is_end = torch.isin(token, rows.end_ids)
    first = torch.minimum(ended, torch.where(chosen & is_end, target, rows.tokens.shape[1]).amin(1, keepdim=True))
    # the run of undecided positions left of it that picked an end; everything else before it stays
    runs = torch.zeros(first.shape[0], cols.shape[0], dtype=torch.bool, device=cols.device)
    runs.scatter_(1, target, valid & ~chosen & is_end)
    end = cols.masked_fill(runs | (cols >= first), -1).amax(1, keepdim=True) + 1
    rows.tokens[r].masked_fill_((cols >= end) & (cols < span_end), rows.tok.end_id)
