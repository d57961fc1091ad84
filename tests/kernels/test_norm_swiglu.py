"""The RMSNorm and SwiGLU kernels match their fp32 torch references (Triton interpreter, CPU)."""

import pytest
import torch

from tests.kernels import kernel_cases

TOLERANCE = {"fp32": 1e-5, "fp16": 2e-3, "bf16": 1e-2}


@pytest.mark.parametrize("shape,dtype", [((7, 64), "fp32"), ((3, 5, 100), "bf16"), ((2, 3584), "fp16")])
def test_rms_norm_matches_reference(interpreter, shape, dtype):
    out, ref = interpreter.apply(kernel_cases.rms_norm_case, (shape, dtype, 0))
    assert out.shape == shape and out.dtype == kernel_cases.DTYPES[dtype]
    torch.testing.assert_close(out.float(), ref, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@pytest.mark.parametrize("shape,dtype", [((1,), "fp32"), ((5, 333), "fp16"), ((2, 3, 1500), "bf16")])
def test_swiglu_matches_reference(interpreter, shape, dtype):
    out, ref = interpreter.apply(kernel_cases.swiglu_case, (shape, dtype, 0))
    assert out.shape == shape and out.dtype == kernel_cases.DTYPES[dtype]
    torch.testing.assert_close(out.float(), ref, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])
