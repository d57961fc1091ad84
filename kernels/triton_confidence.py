"""Confidence of every block position from its logits, in one read of the vocabulary.

A pass needs, per position, the argmax token, its probability, the top1 - top2 margin and the
entropy. Over a 152k vocabulary the torch path materialises a softmax and reads it several times;
here each program streams a slice of one row keeping a running max, sum of exp and sum of
exp * logit (online softmax), plus the top two logits, and a small second kernel merges the
slices. With m the max and s = sum exp(x - m), t = sum exp(x - m) (x - m):
p(top1) = 1 / s, p(top2) = exp(top2 - m) / s, entropy = log s - t / s.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.device import sm_count

BLOCK_V = 2048
STATS = 4  # per slice: top1 (= running max), sum of exp, sum of exp * (x - max), top2


@triton.jit
def _slice_stats_kernel(
    x_ptr, stride_row, V, cols_per_split, num_splits, stats_ptr, index_ptr,
    BLOCK_V: tl.constexpr, STATS: tl.constexpr,
):
    row = tl.program_id(0)
    split = tl.program_id(1)
    base = x_ptr + row.to(tl.int64) * stride_row
    lanes = tl.arange(0, BLOCK_V)
    lo = split * cols_per_split
    hi = tl.minimum(lo + cols_per_split, V)

    top1 = tl.full([], float("-inf"), tl.float32)
    top2 = tl.full([], float("-inf"), tl.float32)
    index = lo
    s = tl.zeros([], tl.float32)
    t = tl.zeros([], tl.float32)
    for start in range(lo, hi, BLOCK_V):
        cols = start + lanes
        x = tl.load(base + cols, mask=cols < hi, other=float("-inf")).to(tl.float32)
        c1 = tl.max(x, 0)
        i1 = tl.argmax(x, 0)  # first of equal maxima, like torch
        c2 = tl.max(tl.where(lanes == i1, float("-inf"), x), 0)
        top2 = tl.maximum(tl.maximum(top2, c2), tl.minimum(top1, c1))
        index = tl.where(c1 > top1, start + i1, index)
        new_max = tl.maximum(top1, c1)
        ref = tl.where(new_max == float("-inf"), 0.0, new_max)  # all -inf so far: sums stay 0
        # -inf logits have e == 0 and contribute nothing; keep them out of the products (-inf * 0)
        e = tl.exp(x - ref)
        gap = tl.where(x == float("-inf"), 0.0, x - ref)
        old_gap = tl.where(top1 == float("-inf"), 0.0, top1 - ref)
        alpha = tl.exp(top1 - ref)
        t = alpha * (t + old_gap * s) + tl.sum(e * gap, 0)
        s = alpha * s + tl.sum(e, 0)
        top1 = new_max

    out = (row * num_splits + split) * STATS
    tl.store(stats_ptr + out, top1)
    tl.store(stats_ptr + out + 1, s)
    tl.store(stats_ptr + out + 2, t)
    tl.store(stats_ptr + out + 3, top2)
    tl.store(index_ptr + row * num_splits + split, index)


@triton.jit
def _merge_slices_kernel(
    stats_ptr, index_ptr, token_ptr, prob_ptr, margin_ptr, entropy_ptr, num_splits,
    BLOCK_SPLITS: tl.constexpr, STATS: tl.constexpr,
):
    row = tl.program_id(0)
    j = tl.arange(0, BLOCK_SPLITS)
    ok = j < num_splits
    part = row * num_splits + j
    top1 = tl.load(stats_ptr + part * STATS, mask=ok, other=float("-inf"))
    s = tl.load(stats_ptr + part * STATS + 1, mask=ok, other=0.0)
    t = tl.load(stats_ptr + part * STATS + 2, mask=ok, other=0.0)
    top2 = tl.load(stats_ptr + part * STATS + 3, mask=ok, other=float("-inf"))
    index = tl.load(index_ptr + part, mask=ok, other=0)

    best = tl.argmax(top1, 0)  # first slice holding the maximum: the lowest token id
    m = tl.max(top1, 0)
    ref = tl.where(m == float("-inf"), 0.0, m)
    w = tl.exp(top1 - ref)
    gap = tl.where(top1 == float("-inf"), 0.0, top1 - ref)  # slices of only -inf have s = t = 0
    total = tl.sum(w * s, 0)
    t_total = tl.sum(w * (t + gap * s), 0)
    second = tl.maximum(tl.max(tl.where(j == best, float("-inf"), top1), 0), tl.max(top2, 0))

    p1 = tl.exp(m - ref) / total
    tl.store(token_ptr + row, tl.sum(tl.where(j == best, index, 0), 0).to(tl.int64))
    tl.store(prob_ptr + row, p1)
    tl.store(margin_ptr + row, p1 - tl.exp(second - ref) / total)
    tl.store(entropy_ptr + row, tl.log(total) - t_total / total)


def confidence_triton(logits: Tensor, num_splits: int | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Triton version of ``confidence_reference``; ``num_splits`` overrides the vocab-split heuristic."""
    if logits.stride(1) != 1:
        logits = logits.contiguous()
    N, V = logits.shape
    block_v = min(BLOCK_V, triton.next_power_of_2(V))
    if num_splits is None:
        num_splits = triton.cdiv(4 * sm_count(logits.device), N)  # about four programs per SM
    cols_per_split = triton.cdiv(triton.cdiv(V, num_splits), block_v) * block_v
    num_splits = triton.cdiv(V, cols_per_split)  # no empty slice

    device = logits.device
    stats = torch.empty(N * num_splits * STATS, dtype=torch.float32, device=device)
    index = torch.empty(N * num_splits, dtype=torch.int32, device=device)
    _slice_stats_kernel[(N, num_splits)](
        logits, logits.stride(0), V, cols_per_split, num_splits, stats, index, BLOCK_V=block_v, STATS=STATS, num_warps=4,
    )
    token = torch.empty(N, dtype=torch.int64, device=device)
    prob, margin, entropy = (torch.empty(N, dtype=torch.float32, device=device) for _ in range(3))
    _merge_slices_kernel[(N,)](
        stats, index, token, prob, margin, entropy, num_splits,
        BLOCK_SPLITS=max(2, triton.next_power_of_2(num_splits)), STATS=STATS, num_warps=1,
    )
    return token, prob, margin, entropy
