"""The masked-diffusion training objective, plus infill-shaped corruption.

Random masking (LLaDA): per sequence t ~ U(eps, 1), each token masked with probability t, and
cross-entropy on masked positions weighted 1/t and normalised by sequence length, which makes the
loss an upper bound on the negative log-likelihood. Infill corruption matches what the engine asks
at completion time: an intact prefix and suffix around one fully masked span whose true middle is
followed by end tokens up to a block multiple, so the model learns where a span stops.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

MAX_SPAN = 64
BLOCK = 32


@dataclass
class Corruption:
    inputs: Tensor   # [B, T] tokens with some replaced by the mask id
    targets: Tensor  # [B, T] the clean tokens the model must recover
    weights: Tensor  # [B, T] loss weight per position, zero where nothing is masked


def random_masking(tokens: Tensor, mask_id: int, generator: torch.Generator, eps: float = 1e-3) -> Corruption:
    B, T = tokens.shape
    t = eps + (1 - eps) * torch.rand(B, 1, generator=generator)
    masked = torch.rand(B, T, generator=generator) < t
    inputs = torch.where(masked, mask_id, tokens)
    weights = masked.float() / (t * T)
    return Corruption(inputs, tokens.clone(), weights)


def infill_masking(tokens: Tensor, mask_id: int, end_id: int, generator: torch.Generator) -> Corruption:
    """Rebuild each row as prefix + middle + end padding + suffix, with middle and padding masked."""
    B, T = tokens.shape
    targets = torch.empty_like(tokens)
    weights = torch.zeros(B, T)
    for row in range(B):
        span = int(torch.randint(1, MAX_SPAN + 1, (1,), generator=generator))
        padding = -span % BLOCK
        start = int(torch.randint(0, T - span - padding + 1, (1,), generator=generator))
        middle_end = start + span
        pad = torch.full((padding,), end_id, dtype=tokens.dtype)
        targets[row] = torch.cat([tokens[row, :middle_end], pad, tokens[row, middle_end:T - padding]])
        weights[row, start:middle_end + padding] = 1.0 / (span + padding)
    inputs = torch.where(weights > 0, mask_id, targets)
    return Corruption(inputs, targets, weights)


def corrupt(tokens: Tensor, mask_id: int, end_id: int, infill_fraction: float, generator: torch.Generator) -> Corruption:
    """Random masking for some rows and infill spans for the others (chosen per row)."""
    random = random_masking(tokens, mask_id, generator)
    infill_rows = torch.rand(tokens.shape[0], generator=generator) < infill_fraction
    if infill_rows.any():
        infill = infill_masking(tokens[infill_rows], mask_id, end_id, generator)
        random.inputs[infill_rows] = infill.inputs
        random.targets[infill_rows] = infill.targets
        random.weights[infill_rows] = infill.weights
    return random


def diffusion_loss(logits: Tensor, corruption: Corruption) -> Tensor:
    """Weighted cross-entropy summed over positions and averaged over the batch."""
    ce = F.cross_entropy(logits.float().flatten(0, 1), corruption.targets.flatten(), reduction="none")
    weights = corruption.weights.to(ce.device).flatten()
    return (ce * weights).sum() / logits.shape[0]
