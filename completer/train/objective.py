"""The masked-diffusion training objective, plus infill-shaped corruption and substitution noise.

Random masking (LLaDA): per sequence t ~ U(eps, 1), each token masked with probability t, and
cross-entropy on masked positions weighted 1/t and normalised by sequence length, which makes the
loss an upper bound on the negative log-likelihood. Infill corruption matches what the engine asks
at completion time: an intact prefix and suffix around one fully masked span whose true middle is
followed by end tokens up to a block multiple, so the model learns where a span stops. The span's
shape is drawn from ``random`` (1-64 tokens anywhere), ``line`` (from inside a line to its end, the
language server's rest-of-line request) and ``block`` (1-4 whole lines from a line start).
Substitution noise replaces a fraction of the visible tokens by random ones and puts a loss on
every visible token, so the model learns to tell right tokens from wrong ones and correct them.

Everything is batched tensor arithmetic on the tokens' device: no per-row Python loop, no host sync.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

MAX_SPAN = 64
BLOCK = 32
MAX_BLOCK_LINES = 4
SPAN_SHAPES = ("random", "line", "block")


@dataclass
class Corruption:
    inputs: Tensor   # [B, T] tokens with some replaced by the mask id (or, with substitution, random ids)
    targets: Tensor  # [B, T] the clean tokens the model must recover
    weights: Tensor  # [B, T] loss weight per position, zero where nothing is asked


def uniform_int(low: Tensor | int, high: Tensor | int, shape: tuple[int, ...], generator: torch.Generator,
                device: torch.device) -> Tensor:
    """Integers uniform in [low, high] (inclusive, per element), from one batched draw."""
    u = torch.rand(shape, generator=generator, device=device)
    return low + (u * (torch.as_tensor(high, device=device) - low + 1)).long().clamp(min=0)


def random_masking(tokens: Tensor, mask_id: int, generator: torch.Generator, eps: float = 1e-3) -> Corruption:
    B, T = tokens.shape
    t = eps + (1 - eps) * torch.rand(B, 1, generator=generator, device=tokens.device)
    masked = torch.rand(B, T, generator=generator, device=tokens.device) < t
    inputs = torch.where(masked, mask_id, tokens)
    weights = masked.float() / (t * T)
    return Corruption(inputs, tokens, weights)


def random_spans(T: int, B: int, generator: torch.Generator, device: torch.device) -> tuple[Tensor, Tensor]:
    """Start and length of a 1-64 token middle anywhere it fits with its end padding."""
    length = uniform_int(1, MAX_SPAN, (B,), generator, device)
    start = uniform_int(0, T - length - (-length % BLOCK), (B,), generator, device)
    return start, length


def line_spans(newline: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """From a random point to the end of its line (the newline token stays in the suffix); may be empty."""
    B, T = newline.shape
    positions = torch.arange(T, device=newline.device).expand(B, T)
    start = uniform_int(0, T - MAX_SPAN - BLOCK, (B,), generator, newline.device)
    after = newline & (positions >= start[:, None])
    next_newline = torch.where(after, positions, T).min(dim=1).values
    return start, (next_newline - start).clamp(max=MAX_SPAN)


def block_spans(newline: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """1-4 whole lines from a line start, without the last newline; rows with no line start are flagged."""
    B, T = newline.shape
    device = newline.device
    positions = torch.arange(T, device=device).expand(B, T)
    latest = T - MAX_SPAN - BLOCK
    starts_ok = newline & (positions < latest)  # the token after a newline begins a line
    score = torch.where(starts_ok, torch.rand(B, T, generator=generator, device=device), -1.0)
    start = score.argmax(dim=1) + 1
    has_start = starts_ok.any(dim=1)
    lines = uniform_int(1, MAX_BLOCK_LINES, (B,), generator, device)
    before = torch.cumsum(newline, dim=1) - newline.long()  # newlines strictly before each position
    wanted = before.gather(1, start[:, None]) + lines[:, None] - 1
    ends = newline & (positions >= start[:, None])
    kth = torch.where(ends & (before == wanted), positions, T).min(dim=1).values
    window = ends & (positions <= start[:, None] + MAX_SPAN)
    last_in_window = torch.where(window, positions, -1).max(dim=1).values
    end = torch.where(kth - start <= MAX_SPAN, kth,
                      torch.where(last_in_window > start, last_in_window, start + MAX_SPAN))
    return start, end - start, has_start


def infill_masking(tokens: Tensor, start: Tensor, length: Tensor, mask_id: int, end_id: int) -> Corruption:
    """Rebuild each row as prefix + middle + end padding + suffix, with middle and padding masked.

    The padding fills the span to a block multiple, with at least one end token when the middle
    is empty; the suffix shifts right by the padding and its tail falls off the window.
    """
    B, T = tokens.shape
    padding = -length % BLOCK
    padding = torch.where(length + padding == 0, BLOCK, padding)
    j = torch.arange(T, device=tokens.device)[None, :]
    middle_end = (start + length)[:, None]
    pad_end = middle_end + padding[:, None]
    source = torch.where(j < middle_end, j, j - padding[:, None]).clamp(min=0)
    targets = torch.where((j >= middle_end) & (j < pad_end), end_id, tokens.gather(1, source))
    masked = (j >= start[:, None]) & (j < pad_end)
    weights = masked.float() / (length + padding)[:, None].float()
    return Corruption(torch.where(masked, mask_id, targets), targets, weights)


def substitute(c: Corruption, fraction: float, vocab_size: int, mask_id: int, generator: torch.Generator) -> Corruption:
    """Replace visible tokens by random ones with probability ``fraction``; every visible token gets a loss."""
    B, T = c.inputs.shape
    visible = c.weights == 0
    noise = torch.randint(0, vocab_size, (B, T), generator=generator, device=c.inputs.device)
    swap = visible & (torch.rand(B, T, generator=generator, device=c.inputs.device) < fraction) & (noise != mask_id)
    weights = torch.where(visible, 1.0 / T, c.weights)
    return Corruption(torch.where(swap, noise, c.inputs), c.targets, weights)


@dataclass(frozen=True)
class Objective:
    """How a batch of clean windows is corrupted; ``newline`` ([vocab] bool) is needed by line/block spans."""
    mask_id: int
    end_id: int
    vocab_size: int
    infill_fraction: float = 0.5
    span_shapes: tuple[str, ...] = ("random",)
    substitution: float = 0.0
    newline: Tensor | None = None

    def __post_init__(self):
        unknown = [s for s in self.span_shapes if s not in SPAN_SHAPES]
        if not self.span_shapes or unknown:
            raise ValueError(f"span shapes must be some of {', '.join(SPAN_SHAPES)} (got {list(self.span_shapes)})")
        if set(self.span_shapes) - {"random"} and self.newline is None:
            raise ValueError("line and block spans need the newline token table")
        if not 0 <= self.substitution < 1 or not 0 <= self.infill_fraction <= 1:
            raise ValueError("substitution must be in [0, 1) and infill_fraction in [0, 1]")

    def spans(self, tokens: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """One infill span per row, its shape drawn uniformly from ``span_shapes``."""
        B, T = tokens.shape
        start, length = random_spans(T, B, generator, tokens.device)
        if self.span_shapes == ("random",):
            return start, length
        newline = self.newline.to(tokens.device)[tokens]
        shape = uniform_int(0, len(self.span_shapes) - 1, (B,), generator, tokens.device)
        for index, name in enumerate(self.span_shapes):
            if name == "line":
                shaped_start, shaped_length = line_spans(newline, generator)
            elif name == "block":  # rows without a line start keep their random span
                shaped_start, shaped_length, has_start = block_spans(newline, generator)
                shaped_start = torch.where(has_start, shaped_start, start)
                shaped_length = torch.where(has_start, shaped_length, length)
            else:
                continue
            start = torch.where(shape == index, shaped_start, start)
            length = torch.where(shape == index, shaped_length, length)
        return start, length

    def corrupt(self, tokens: Tensor, generator: torch.Generator) -> Corruption:
        """Random masking for some rows and infill spans for the others (chosen per row)."""
        random = random_masking(tokens, self.mask_id, generator)
        infill = infill_masking(tokens, *self.spans(tokens, generator), self.mask_id, self.end_id)
        rows = (torch.rand(tokens.shape[0], generator=generator, device=tokens.device) < self.infill_fraction)[:, None]
        mixed = Corruption(torch.where(rows, infill.inputs, random.inputs), torch.where(rows, infill.targets, tokens),
                           torch.where(rows, infill.weights, random.weights))
        if self.substitution > 0:
            mixed = substitute(mixed, self.substitution, self.vocab_size, self.mask_id, generator)
        return mixed


def diffusion_loss(logits: Tensor, corruption: Corruption) -> Tensor:
    """Weighted cross-entropy summed over positions and averaged over the batch."""
    ce = F.cross_entropy(logits.float().flatten(0, 1), corruption.targets.flatten(), reduction="none")
    weights = corruption.weights.to(ce.device).flatten()
    return (ce * weights).sum() / logits.shape[0]
