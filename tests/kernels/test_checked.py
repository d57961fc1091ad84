"""Each Triton kernel is checked against its torch reference before its first call: the real kernels
pass, and one that fails to compile or computes something else serves its reference from then on,
said in one warning (Triton interpreter, CPU)."""

import pytest
import torch

from kernels.checked import KERNELS, difference
from tests.kernels import kernel_cases

KERNEL_OF = {"attention": "attention", "confidence": "confidence", "top_token": "confidence", "rms_norm": "rms_norm",
             "swiglu": "swiglu"}


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_every_real_kernel_passes_its_check_and_serves_its_calls(interpreter, dtype):
    state = interpreter.apply(kernel_cases.checked_paths_case, (dtype,))
    assert state == {"paths": {name: ("triton", "passed its check against the torch reference") for name in KERNELS},
                     "warnings": []}


@pytest.mark.parametrize("breakage", ["compile error", "wrong numbers"])
@pytest.mark.parametrize("function", list(KERNEL_OF))
def test_a_broken_kernel_falls_back_to_its_reference_with_one_warning(interpreter, function, breakage):
    out = interpreter.apply(kernel_cases.broken_kernel_case, (function, breakage))
    for result in out["results"]:
        for got, expected in zip(*(r if isinstance(r, tuple) else (r,) for r in (result, out["expected"]))):
            assert torch.equal(got, expected)
    kernel = KERNEL_OF[function]
    reason = "RuntimeError: PassManager::run failed" if breakage == "compile error" else "values off by more than"
    [warning] = out["warnings"]
    assert warning.startswith(f"kernel {kernel} falls back to its torch reference for this process: ")
    assert reason in warning and "\n" not in warning
    assert out["path"][0] == "torch" and out["path"][1].startswith("failed its check: ") and reason in out["path"][1]


def test_token_ids_must_match_exactly_not_within_tolerance():
    probs = torch.tensor([0.5, 0.5])
    assert difference((torch.tensor([7, 9]), probs), (torch.tensor([7, 9]), probs), 0.05) is None
    assert "1 of 2 values off" in difference((torch.tensor([7, 10]), probs), (torch.tensor([7, 9]), probs), 0.05)


def test_a_result_of_another_dtype_or_with_nan_fails_its_check():
    assert difference(torch.ones(3), torch.ones(3, dtype=torch.bfloat16), 0.05) == (
        "gave torch.float32 (3,) where torch.bfloat16 (3,) was expected")
    assert difference(torch.tensor([float("nan"), 1.0]), torch.ones(2), 0.05) == (
        "1 of 2 values off by more than 0.05 (largest difference inf)")
