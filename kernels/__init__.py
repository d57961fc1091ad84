"""Fused kernels of the denoising hot path, with one entry point per kernel.

Each call runs the Triton kernel when its tensors are on CUDA and triton is installed, and the
plain-torch reference otherwise, so CPU-only installs (and machines without triton) work
unchanged. ``COMPLETER_KERNELS=torch`` forces the references everywhere; ``COMPLETER_KERNELS=triton``
forces Triton (on CPU tensors that needs ``TRITON_INTERPRET=1``, set before triton is imported).
Triton itself is imported on the first Triton call, never at ``import kernels``. The Triton
kernels have no backward, so a call that autograd records (training) always takes the reference.
Before its first Triton call each kernel is checked against its reference (`kernels.checked`): one
that fails runs its reference for the rest of the process.
"""

from __future__ import annotations

import os
from importlib.util import find_spec

import torch
from torch import Tensor

from kernels import checked
from kernels.reference import (attention_reference, confidence_reference, rms_norm_reference, swiglu_reference,
                               top_token_reference)

MODES = ("auto", "torch", "triton")
HAVE_TRITON = find_spec("triton") is not None

__all__ = ["attention", "confidence", "path", "rms_norm", "swiglu", "top_token", "use_triton"]


def use_triton(x: Tensor) -> bool:
    """Whether a kernel called on ``x`` takes the Triton path under the current COMPLETER_KERNELS."""
    return torch_reason(x) is None


def torch_reason(x: Tensor) -> str | None:
    """Why a kernel called on ``x`` takes the torch reference under the current COMPLETER_KERNELS (None: Triton)."""
    if x.requires_grad and torch.is_grad_enabled():
        return "autograd records the call (the Triton kernels have no backward)"
    mode = os.environ.get("COMPLETER_KERNELS", "auto") or "auto"
    if mode not in MODES:
        raise ValueError(f"COMPLETER_KERNELS must be one of {', '.join(MODES)} (got '{mode}')")
    if mode == "torch":
        return "COMPLETER_KERNELS=torch"
    if mode == "auto" and not x.is_cuda:
        return f"{x.device.type} tensors: Triton runs on CUDA"
    if mode == "auto":
        return None if HAVE_TRITON else "triton is not installed"
    if not HAVE_TRITON:
        raise RuntimeError("COMPLETER_KERNELS=triton, but triton is not installed")
    if not x.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError("COMPLETER_KERNELS=triton on CPU tensors needs TRITON_INTERPRET=1 (the Triton interpreter)")
    return None


def path(name: str, x: Tensor) -> tuple[str, str]:
    """("triton" or "torch", why) for kernel ``name`` called on tensors like ``x``: what `completer doctor` shows."""
    reason = torch_reason(x)
    return ("torch", reason) if reason else checked.verdict(name)


def attention(q: Tensor, k: Tensor, v: Tensor, kv_len: int | Tensor | None = None) -> Tensor:
    """Grouped-query attention of q [B, Hq, T, D] over the first kv_len keys of k, v [B, Hkv, S, D].

    ``kv_len``: one length for all rows, or an integer tensor [B] with each row's own length.
    """
    if q.dim() != 4 or k.dim() != 4 or k.shape != v.shape:
        raise ValueError(f"attention wants q [B, Hq, T, D] and k, v [B, Hkv, S, D] (got q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}, v {tuple(v.shape)})")
    (B, Hq, _, D), (Bk, Hkv, S, Dk) = q.shape, k.shape
    if B != Bk or D != Dk or Hq % Hkv or not q.dtype == k.dtype == v.dtype:
        raise ValueError(f"attention: batch, head dim and dtype must match and Hq must be a multiple of Hkv "
                         f"(got q {tuple(q.shape)} {q.dtype}, k {tuple(k.shape)} {k.dtype}, v {v.dtype})")
    if isinstance(kv_len, Tensor):
        if kv_len.shape != (B,) or kv_len.dtype.is_floating_point:
            raise ValueError(f"attention: per-row kv_len must be an integer tensor of shape ({B},) (got {tuple(kv_len.shape)} {kv_len.dtype})")
    elif kv_len is not None and not 1 <= kv_len <= S:
        raise ValueError(f"attention: kv_len must be in 1..{S} (got {kv_len})")
    if use_triton(q) and checked.ready("attention", q, k, v, kv_len):
        return checked.triton("attention")(q, k, v, kv_len)
    return attention_reference(q, k, v, kv_len)


def confidence(logits: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """For logits [N, V]: top token [N] int64, its probability, top1 - top2 margin and entropy (fp32 [N])."""
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"confidence wants logits [N, V] with V >= 2 (got {tuple(logits.shape)})")
    if use_triton(logits) and checked.ready("confidence", logits):
        return checked.triton("confidence")(logits)
    return confidence_reference(logits)


def top_token(logits: Tensor, scratch: bool = False) -> tuple[Tensor, Tensor]:
    """For logits [N, V]: top token [N] int64 and its probability (fp32 [N]), all greedy decoding needs.

    On CPU it takes a quarter to a half of `confidence`'s time (README, "Kernels"); with Triton the
    fused confidence kernel already reads the logits once. ``scratch``: the caller is done with the
    logits, and the reference may compute in them instead of in a copy as large.
    """
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"top_token wants logits [N, V] with V >= 2 (got {tuple(logits.shape)})")
    if use_triton(logits) and checked.ready("confidence", logits):
        return checked.triton("confidence")(logits)[:2]
    return top_token_reference(logits, scratch)


def rms_norm(x: Tensor, weight: Tensor, eps: float) -> Tensor:
    """RMSNorm over the last dimension with fp32 math; the result has x's dtype."""
    if weight.shape != x.shape[-1:]:
        raise ValueError(f"rms_norm: weight {tuple(weight.shape)} does not match x {tuple(x.shape)}")
    if use_triton(x) and checked.ready("rms_norm", x, weight, eps):
        return checked.triton("rms_norm")(x, weight, eps)
    return rms_norm_reference(x, weight, eps)


def swiglu(gate: Tensor, up: Tensor) -> Tensor:
    """silu(gate) * up with fp32 math; the result has gate's dtype."""
    if gate.shape != up.shape:
        raise ValueError(f"swiglu: gate {tuple(gate.shape)} and up {tuple(up.shape)} differ")
    if use_triton(gate) and checked.ready("swiglu", gate, up):
        return checked.triton("swiglu")(gate, up)
    return swiglu_reference(gate, up)
