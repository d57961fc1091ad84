"""The Triton block-attention kernel matches the fp32 torch reference (Triton interpreter, CPU)."""

import pytest
import torch

from tests.kernels import kernel_cases

TOLERANCE = {"fp32": 1e-5, "fp16": 2e-3, "bf16": 1e-2}

#  B, Hq, Hkv,  T,   S,   D, dtype, kv_len, num_splits
CASES = [
    (1, 4, 4, 1, 77, 32, "fp32", None, 1),        # one-token block, no grouping, S not a tile multiple
    (1, 2, 1, 33, 200, 64, "bf16", None, 3),      # GQA 2, T=33, key range split in 3
    (2, 8, 2, 3, 130, 128, "fp16", 100, 1),       # GQA 4, batch 2, only the first kv_len keys
    (1, 7, 1, 64, 150, 64, "fp32", None, 1),      # GQA 7, T=64: 448 stacked rows over 7 row tiles
    (1, 14, 2, 5, 90, 128, "bf16", 61, 100),      # more splits asked than key tiles exist
    (3, 4, 2, 7, 300, 32, "fp32", [300, 1, 129], 1),    # per-row lengths: a padded batch of sequences
    (3, 4, 2, 7, 600, 32, "bf16", [600, 70, 257], 4),   # ... with splits past the short rows' keys
]


@pytest.mark.parametrize("B,Hq,Hkv,T,S,D,dtype,kv_len,num_splits", CASES)
def test_attention_matches_reference(interpreter, B, Hq, Hkv, T, S, D, dtype, kv_len, num_splits):
    out, ref = interpreter.apply(kernel_cases.attention_case, (B, Hq, Hkv, T, S, D, dtype, kv_len, num_splits, 0))
    assert out.shape == (B, Hq, T, D) and out.dtype == kernel_cases.DTYPES[dtype]
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(out.float(), ref, rtol=tol, atol=tol)


def test_attention_split_and_unsplit_agree(interpreter):
    one, _ = interpreter.apply(kernel_cases.attention_case, (1, 4, 2, 9, 300, 32, "fp32", None, 1, 1))
    split, _ = interpreter.apply(kernel_cases.attention_case, (1, 4, 2, 9, 300, 32, "fp32", None, 4, 1))
    torch.testing.assert_close(split, one, rtol=1e-5, atol=1e-6)


def test_per_row_lengths_give_each_row_its_own_unpadded_attention():
    """The reference's mask: a padded row attends exactly as the same sequence alone, unpadded."""
    from kernels.reference import attention_reference
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 4, 5, 16, generator=g), torch.randn(2, 2, 40, 16, generator=g), torch.randn(2, 2, 40, 16, generator=g))
    out = attention_reference(q, k, v, torch.tensor([40, 9]))
    torch.testing.assert_close(out[1:], attention_reference(q[1:], k[1:, :, :9], v[1:, :, :9]))
    torch.testing.assert_close(out[:1], attention_reference(q[:1], k[:1], v[:1]))
