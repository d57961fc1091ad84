"""Which path each kernel call takes, and the clear errors for bad input."""

import pytest
import torch

from tests.kernels import kernel_cases
import kernels
from kernels.reference import attention_reference


def test_cpu_tensors_take_the_torch_path_by_default(monkeypatch):
    monkeypatch.delenv("COMPLETER_KERNELS", raising=False)
    assert not kernels.use_triton(torch.ones(1))


def test_the_path_says_why_torch_serves_a_call(monkeypatch):
    monkeypatch.delenv("COMPLETER_KERNELS", raising=False)
    assert kernels.path("attention", torch.ones(1)) == ("torch", "cpu tensors: Triton runs on CUDA")
    assert kernels.path("swiglu", torch.ones(1, requires_grad=True))[1].startswith("autograd records the call")
    monkeypatch.setenv("COMPLETER_KERNELS", "torch")
    assert kernels.path("rms_norm", torch.ones(1)) == ("torch", "COMPLETER_KERNELS=torch")


def test_torch_mode_gives_the_reference(monkeypatch):
    monkeypatch.setenv("COMPLETER_KERNELS", "torch")
    q, k, v = torch.randn(1, 4, 3, 16), torch.randn(1, 2, 10, 16), torch.randn(1, 2, 10, 16)
    assert torch.equal(kernels.attention(q, k, v, kv_len=7), attention_reference(q, k, v, 7))


def test_triton_mode_on_cpu_without_interpreter_says_what_is_missing(monkeypatch):
    monkeypatch.setenv("COMPLETER_KERNELS", "triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        kernels.swiglu(torch.ones(3), torch.ones(3))


def test_calls_recorded_by_autograd_take_the_reference_even_when_triton_is_forced(monkeypatch):
    monkeypatch.setenv("COMPLETER_KERNELS", "triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    gate = torch.randn(3, 4, requires_grad=True)
    kernels.swiglu(gate, torch.ones(3, 4)).sum().backward()  # the Triton kernels have no backward
    assert gate.grad is not None
    with torch.no_grad(), pytest.raises(RuntimeError, match="TRITON_INTERPRET=1"):
        kernels.swiglu(gate, torch.ones(3, 4))


def test_unknown_mode_is_rejected(monkeypatch):
    monkeypatch.setenv("COMPLETER_KERNELS", "cuda")
    with pytest.raises(ValueError, match="COMPLETER_KERNELS"):
        kernels.use_triton(torch.ones(1))


def test_import_is_light_and_forced_triton_keeps_the_public_functions(interpreter):
    state = interpreter.apply(kernel_cases.dispatch_state)
    assert state == {"triton_imported_by_import_kernels": False, "uses_triton": True, "public_functions": True}


@pytest.mark.parametrize("call,message", [
    (lambda: kernels.attention(torch.ones(1, 3, 2, 8), torch.ones(1, 2, 5, 8), torch.ones(1, 2, 5, 8)), "multiple of Hkv"),
    (lambda: kernels.attention(torch.ones(1, 2, 2, 8), torch.ones(1, 2, 5, 8), torch.ones(1, 2, 5, 8), kv_len=6), "kv_len"),
    (lambda: kernels.attention(torch.ones(2, 8), torch.ones(1, 2, 5, 8), torch.ones(1, 2, 5, 8)), "q \\[B, Hq, T, D\\]"),
    (lambda: kernels.confidence(torch.ones(3, 1)), "V >= 2"),
    (lambda: kernels.rms_norm(torch.ones(3, 4), torch.ones(5), 1e-6), "weight"),
    (lambda: kernels.swiglu(torch.ones(3, 4), torch.ones(4, 3)), "differ"),
])
def test_bad_shapes_get_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
