"""Block attention over the context cache: a few dozen queries against thousands of keys.

A denoising pass has few query rows (the active block, T <= ~65) but a long cache, so this is
flash-decoding: the queries of one grouped-query group (all query heads sharing a KV head) are
stacked into one tile of G*T rows, so each K/V tile is read once for the whole group, and the key
range is split across programs to fill the GPU. Each split keeps its own running max and sum;
a second small kernel merges the splits. No causal mask: every query sees every key.
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor

from kernels.device import sm_count

BLOCK_N = 64               # keys per tile
MIN_KEYS_PER_SPLIT = 256   # below this a split's partial results cost more than its parallelism buys


@triton.jit
def _attention_kernel(
    q_ptr, k_ptr, v_ptr, o_ptr, part_o_ptr, part_m_ptr, part_l_ptr,
    sq_b, sq_h, sq_t, sq_d, sk_b, sk_h, sk_s, sk_d, sv_b, sv_h, sv_s, sv_d, so_b, so_h, so_t, so_d,
    n_kv_heads, group, T, kv_len, kv_lens_ptr, keys_per_split, num_splits, qk_scale,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    SPLIT: tl.constexpr, UPCAST: tl.constexpr, PRECISION: tl.constexpr, PER_ROW: tl.constexpr,
):
    pid_bh = tl.program_id(0)  # batch * kv head
    pid_m = tl.program_id(1)   # tile of the group's stacked query rows
    pid_s = tl.program_id(2)   # key split
    b = pid_bh // n_kv_heads
    kv_head = pid_bh % n_kv_heads
    n_rows = group * T
    if PER_ROW:  # each batch row is a sequence of its own length
        kv_len = tl.load(kv_lens_ptr + b)

    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < n_rows
    head = kv_head * group + rows // T
    t = rows % T
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM

    q_ptrs = q_ptr + b * sq_b + head[:, None] * sq_h + t[:, None] * sq_t + d[None, :] * sq_d
    q = tl.load(q_ptrs, mask=row_ok[:, None] & d_ok[None, :], other=0.0)
    if UPCAST:
        q = q.to(tl.float32)
    k_base = k_ptr + b * sk_b + kv_head * sk_h
    v_base = v_ptr + b * sv_b + kv_head * sv_h

    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)  # running max, log2 units
    l_i = tl.zeros([BLOCK_M], tl.float32)                 # running sum of exp2
    acc = tl.zeros([BLOCK_M, BLOCK_D], tl.float32)
    first = pid_s * keys_per_split
    last = tl.minimum(first + keys_per_split, kv_len)
    for start in range(first, last, BLOCK_N):
        n = start + tl.arange(0, BLOCK_N)
        n_ok = n < last
        k = tl.load(k_base + n[None, :] * sk_s + d[:, None] * sk_d, mask=d_ok[:, None] & n_ok[None, :], other=0.0)
        v = tl.load(v_base + n[:, None] * sv_s + d[None, :] * sv_d, mask=n_ok[:, None] & d_ok[None, :], other=0.0)
        if UPCAST:
            k = k.to(tl.float32)
            v = v.to(tl.float32)
        scores = tl.dot(q, k, input_precision=PRECISION) * qk_scale
        scores = tl.where(n_ok[None, :], scores, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(scores, 1))  # finite: every tile run holds at least one key
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(scores - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision=PRECISION)
        m_i = m_new

    if SPLIT:  # a split past a short row's keys ran no tile: m = -inf, l = 0 weigh it out in the merge
        part = (pid_bh * num_splits + pid_s) * n_rows + rows
        tl.store(part_m_ptr + part, m_i, mask=row_ok)
        tl.store(part_l_ptr + part, l_i, mask=row_ok)
        tl.store(part_o_ptr + part[:, None] * HEAD_DIM + d[None, :], acc, mask=row_ok[:, None] & d_ok[None, :])
    else:
        o_ptrs = o_ptr + b * so_b + head[:, None] * so_h + t[:, None] * so_t + d[None, :] * so_d
        out = acc / l_i[:, None]
        tl.store(o_ptrs, out.to(o_ptr.dtype.element_ty), mask=row_ok[:, None] & d_ok[None, :])


@triton.jit
def _merge_splits_kernel(
    o_ptr, part_o_ptr, part_m_ptr, part_l_ptr,
    so_b, so_h, so_t, so_d, n_kv_heads, group, T, num_splits,
    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_SPLITS: tl.constexpr,
):
    pid_bh = tl.program_id(0)
    row = tl.program_id(1)
    n_rows = group * T
    s = tl.arange(0, BLOCK_SPLITS)
    s_ok = s < num_splits
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM

    part = (pid_bh * num_splits + s) * n_rows + row
    m = tl.load(part_m_ptr + part, mask=s_ok, other=float("-inf"))
    sums = tl.load(part_l_ptr + part, mask=s_ok, other=0.0)
    acc = tl.load(part_o_ptr + part[:, None] * HEAD_DIM + d[None, :], mask=s_ok[:, None] & d_ok[None, :], other=0.0)
    weight = tl.exp2(m - tl.max(m, 0))  # 0 for the padding lanes
    out = tl.sum(acc * weight[:, None], 0) / tl.sum(sums * weight, 0)

    b = pid_bh // n_kv_heads
    head = (pid_bh % n_kv_heads) * group + row // T
    o_ptrs = o_ptr + b * so_b + head * so_h + (row % T) * so_t + d * so_d
    tl.store(o_ptrs, out.to(o_ptr.dtype.element_ty), mask=d_ok)


def default_splits(programs: int, kv_len: int, device: torch.device) -> int:
    """Enough splits to give every SM about two programs, none shorter than MIN_KEYS_PER_SPLIT."""
    wanted = triton.cdiv(2 * sm_count(device), programs)
    return max(1, min(wanted, kv_len // MIN_KEYS_PER_SPLIT))


def attention_triton(q: Tensor, k: Tensor, v: Tensor, kv_len: int | Tensor | None = None,
                     num_splits: int | None = None) -> Tensor:
    """Triton version of ``attention_reference``; ``num_splits`` overrides the key-split heuristic."""
    B, Hq, T, D = q.shape
    Hkv, S = k.shape[1], k.shape[2]
    kv_lens = kv_len.to(device=q.device, dtype=torch.int32) if isinstance(kv_len, Tensor) else None
    kv_len = S if kv_len is None or kv_lens is not None else kv_len  # splits cover the longest row
    group = Hq // Hkv
    n_rows = group * T
    block_m = max(16, min(64, triton.next_power_of_2(n_rows)))
    block_d = max(16, triton.next_power_of_2(D))
    row_tiles = triton.cdiv(n_rows, block_m)
    if num_splits is None:
        num_splits = default_splits(B * Hkv * row_tiles, kv_len, q.device)
    # Whole tiles per split, and no empty split: every split then sees at least one key.
    keys_per_split = triton.cdiv(triton.cdiv(kv_len, num_splits), BLOCK_N) * BLOCK_N
    num_splits = triton.cdiv(kv_len, keys_per_split)

    interpreted = q.device.type != "cuda"  # the interpreter's bf16/fp16 tl.dot is wrong: go fp32
    precision = "ieee" if interpreted or q.dtype == torch.float32 else "tf32"
    out = torch.empty_like(q)
    split = num_splits > 1
    if split:
        part_o = torch.empty(B * Hkv * num_splits * n_rows * D, dtype=torch.float32, device=q.device)
        part_m = torch.empty(B * Hkv * num_splits * n_rows, dtype=torch.float32, device=q.device)
        part_l = torch.empty_like(part_m)
    else:
        part_o = part_m = part_l = out  # unused
    _attention_kernel[(B * Hkv, row_tiles, num_splits)](
        q, k, v, out, part_o, part_m, part_l,
        *q.stride(), *k.stride(), *v.stride(), *out.stride(),
        Hkv, group, T, kv_len, out if kv_lens is None else kv_lens, keys_per_split, num_splits,
        math.log2(math.e) / math.sqrt(D),
        HEAD_DIM=D, BLOCK_M=block_m, BLOCK_N=BLOCK_N, BLOCK_D=block_d,
        SPLIT=split, UPCAST=interpreted, PRECISION=precision, PER_ROW=kv_lens is not None,
        num_warps=4, num_stages=2,
    )
    if split:
        _merge_splits_kernel[(B * Hkv, n_rows)](
            out, part_o, part_m, part_l, *out.stride(), Hkv, group, T, num_splits,
            HEAD_DIM=D, BLOCK_D=block_d, BLOCK_SPLITS=max(2, triton.next_power_of_2(num_splits)),
            num_warps=4,
        )
    return out
