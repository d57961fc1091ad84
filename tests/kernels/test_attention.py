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
