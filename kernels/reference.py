"""Plain-torch versions of every kernel: the CPU path, and the definition the Triton kernels must match."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def attention_reference(q: Tensor, k: Tensor, v: Tensor, kv_len: int | Tensor | None = None) -> Tensor:
    """Grouped-query attention of q [B, Hq, T, D] over k, v [B, Hkv, S, D]: the first kv_len keys.

    ``kv_len`` is one length for every row or a tensor [B] of per-row lengths (a batch of
    sequences of different lengths, padded to S); keys past a row's length are masked out.
    """
    mask = None
    if isinstance(kv_len, Tensor):
        mask = (torch.arange(k.shape[2], device=k.device)[None, :] < kv_len[:, None])[:, None, None, :]
    elif kv_len is not None:
        k, v = k[:, :, :kv_len], v[:, :, :kv_len]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=q.shape[1] != k.shape[1])


def confidence_reference(logits: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Top token [N] int64, its probability, top1 - top2 probability and entropy (nats), all fp32 [N]."""
    probs = torch.softmax(logits.float(), dim=-1)
    top = probs.topk(2, dim=-1)
    entropy = torch.special.entr(probs).sum(dim=-1)  # entr(0) = 0, so -inf logits are fine
    return top.indices[:, 0], top.values[:, 0], top.values[:, 0] - top.values[:, 1], entropy


def top_token_reference(logits: Tensor, scratch: bool = False) -> tuple[Tensor, Tensor]:
    """Top token [N] int64 (the first of equal ones) and its probability exp(max - logsumexp) (fp32 [N]).

    Two CPU slow paths are stepped around (README, "Kernels"): an argmax over the vocabulary is not
    vectorized (14x an amax), so the top is found chunk by chunk, the first chunk holding the row's
    maximum, then its place in that chunk; and exp takes a slow path 8x the fast one below e^-87, where
    most of a model's logits land once the max is taken off, so those terms are raised to e^-87: below
    float32's normal range, they cannot move a sum that holds the max's 1 (the result is bit for bit
    torch.logsumexp's). With ``scratch`` (the caller is done with float32 logits) the sum is taken in them
    instead of in a new tensor: the logits of a batch's pass are megabytes, and a new tensor as large costs
    more to fault in than the arithmetic.
    """
    logits = logits.float()
    N, V = logits.shape
    padded = F.pad(logits, (0, -V % ARGMAX_CHUNK), value=float("-inf")) if V % ARGMAX_CHUNK else logits
    chunks = padded.view(N, -1, ARGMAX_CHUNK)
    highest = chunks.amax(dim=-1)
    top, best = highest.max(dim=-1)  # the first of equal maxima
    inside = chunks.gather(1, best[:, None, None].expand(N, 1, ARGMAX_CHUNK)).squeeze(1).argmax(dim=-1)
    shifted = logits.sub_(top[:, None]) if scratch else logits - top[:, None]
    total = shifted.clamp_(min=-87.0).exp_().sum(dim=-1)
    return best * ARGMAX_CHUNK + inside, torch.exp(top - (total.log() + top))


ARGMAX_CHUNK = 64


def rms_norm_reference(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """x / rms(x) * weight over the last dimension, computed in fp32 and rounded once."""
    x32 = x.float()
    scale = torch.rsqrt(x32.pow(2).mean(dim=-1, keepdim=True) + eps)
    return (x32 * scale * weight.float()).to(x.dtype)


def swiglu_reference(gate: Tensor, up: Tensor) -> Tensor:
    """silu(gate) * up, computed in fp32 and rounded once."""
    return (F.silu(gate.float()) * up.float()).to(gate.dtype)
