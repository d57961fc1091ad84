"""Each Triton kernel is checked against its torch reference once per process, before it serves a call.

No GPU has run these kernels yet, and one that fails to compile or launch on a real device, or that
computes something else there, must not take completions down with it. So on a kernel's first
Triton call it first runs on small random inputs like that call's (same dtype, device and sizes
that pick its tiles) next to its reference; an error, or a result off by more than the dtype's
tolerance, switches that kernel to its reference for the rest of the process, with one WARNING
saying which and why. `substitute` puts another implementation in a kernel's place, checked afresh:
how the tests show a wrong kernel falling back.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from kernels.reference import attention_reference, confidence_reference, rms_norm_reference, swiglu_reference

log = logging.getLogger("kernels")

# Loose enough for TF32 matmuls and one rounding of bf16 on either side; a wrong kernel is off by far more.
TOLERANCE = {torch.float32: 1e-2, torch.float16: 2e-2, torch.bfloat16: 5e-2}
CHECK_QUERIES = 40   # query rows per head: the largest query tile (64 rows) whatever the group size
CHECK_KEYS = 520     # past two splits of MIN_KEYS_PER_SPLIT: a GPU splits the keys and merges them


def randn(shape: tuple[int, ...], like: Tensor, generator: torch.Generator, scale: float = 1.0) -> Tensor:
    return (scale * torch.randn(shape, generator=generator, device=like.device)).to(like.dtype)


def generator(like: Tensor) -> torch.Generator:
    """Fixed check inputs, without touching the global random state the sampler seeds."""
    return torch.Generator(device=like.device).manual_seed(0)


def attention_inputs(q: Tensor, k: Tensor, v: Tensor, kv_len: int | Tensor | None) -> list[tuple]:
    """Both length forms the model passes: a length per row (block passes) and one for all (whole passes)."""
    g = generator(q)
    queries = randn((2, CHECK_QUERIES, q.shape[1], q.shape[3]), q, g).transpose(1, 2)  # as the model lays q out
    keys, values = (randn((2, k.shape[1], CHECK_KEYS, k.shape[3]), k, g) for _ in range(2))
    lengths = torch.tensor([CHECK_KEYS, CHECK_KEYS // 3], device=q.device)
    return [(queries, keys, values, lengths), (queries, keys, values, CHECK_KEYS - 7)]


def confidence_inputs(logits: Tensor) -> list[tuple]:
    x = randn((3, logits.shape[1]), logits, generator(logits), scale=4.0)
    x[:, 0] = x.float().amax(dim=1) + 1  # one clear top token: with a tie any of them would be right
    x[:, -1] = float("-inf")             # a banned token, as the sampler bans them
    return [(x,)]


def rms_norm_inputs(x: Tensor, weight: Tensor, eps: float) -> list[tuple]:
    g = generator(x)
    return [(randn((3, x.shape[-1]), x, g, scale=3.0), randn(tuple(weight.shape), weight, g), eps)]


def swiglu_inputs(gate: Tensor, up: Tensor) -> list[tuple]:
    g = generator(gate)
    return [(randn((3, gate.shape[-1]), gate, g, scale=3.0), randn((3, up.shape[-1]), up, g))]


@dataclass(frozen=True)
class Kernel:
    module: str                            # the Triton version's module, imported on first use (triton is slow to import)
    function: str
    reference: Callable                    # what it must match
    inputs: Callable[..., list[tuple]]     # check inputs like a real call's arguments


KERNELS = {
    "attention": Kernel("kernels.triton_attention", "attention_triton", attention_reference, attention_inputs),
    "confidence": Kernel("kernels.triton_confidence", "confidence_triton", confidence_reference, confidence_inputs),
    "rms_norm": Kernel("kernels.triton_rmsnorm", "rms_norm_triton", rms_norm_reference, rms_norm_inputs),
    "swiglu": Kernel("kernels.triton_swiglu", "swiglu_triton", swiglu_reference, swiglu_inputs),
}

implementations: dict[str, Callable] = {}  # kernel -> what its Triton calls run
verdicts: dict[str, str | None] = {}       # kernel -> None once it passed its check, else why it runs its reference
lock = threading.Lock()                    # one check per kernel, whichever thread calls first


def triton(name: str) -> Callable:
    """The Triton implementation of kernel ``name`` (or what `substitute` put in its place)."""
    if name not in implementations:
        kernel = KERNELS[name]
        implementations[name] = getattr(importlib.import_module(kernel.module), kernel.function)
    return implementations[name]


def ready(name: str, *args) -> bool:
    """Whether kernel ``name`` may serve a call with ``args``: its check, run now on its first call, passed."""
    if name not in verdicts:
        with lock:
            if name not in verdicts:
                verdicts[name] = check(name, args)
                if verdicts[name] is not None:
                    log.warning("kernel %s falls back to its torch reference for this process: %s", name, verdicts[name])
    return verdicts[name] is None


def check(name: str, args: tuple) -> str | None:
    """Why kernel ``name`` cannot serve calls like ``args`` (None: it can), in one line."""
    kernel = KERNELS[name]
    try:
        with torch.no_grad():
            for inputs in kernel.inputs(*args):
                reason = difference(triton(name)(*inputs), kernel.reference(*inputs), TOLERANCE.get(inputs[0].dtype, 1e-2))
                if reason is not None:
                    return reason
    except Exception as e:  # a compile or launch error: the reference serves instead
        return one_line(e)
    return None


def difference(out: Tensor | tuple, ref: Tensor | tuple, tolerance: float) -> str | None:
    """How ``out`` differs from ``ref`` beyond ``tolerance`` (None: it does not), in one line."""
    outs, refs = (out, ref) if isinstance(ref, tuple) else ((out,), (ref,))
    if len(outs) != len(refs):
        return f"gave {len(outs)} results where {len(refs)} were expected"
    for a, b in zip(outs, refs):
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"gave {a.dtype} {tuple(a.shape)} where {b.dtype} {tuple(b.shape)} was expected"
        close = torch.isclose(a.float(), b.float(), rtol=tolerance, atol=tolerance) if b.is_floating_point() else a == b
        if not close.all():
            largest = (a.float() - b.float()).abs().nan_to_num(float("inf")).max().item()
            return f"{(~close).sum().item()} of {close.numel()} values off by more than {tolerance:g} (largest difference {largest:.3g})"
    return None


def one_line(error: BaseException) -> str:
    """An exception as one log line: Triton's compile errors run to many."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def verdict(name: str) -> tuple[str, str]:
    """("triton" or "torch", why) for kernel ``name`` where its mode would take Triton: what `completer doctor` shows."""
    if name not in verdicts:
        return "triton", "not checked yet: it is checked on its first call"
    if verdicts[name] is None:
        return "triton", "passed its check against the torch reference"
    return "torch", f"failed its check: {verdicts[name]}"


def substitute(name: str, implementation: Callable | None) -> None:
    """Run ``implementation`` for kernel ``name``'s Triton calls (None: the real kernel again); it is checked afresh."""
    with lock:
        implementations.pop(name, None)
        if implementation is not None:
            implementations[name] = implementation
        verdicts.pop(name, None)
