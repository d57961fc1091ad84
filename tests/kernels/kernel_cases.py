"""Cases that run inside the Triton-interpreter worker process (see conftest.py).

Each returns the Triton result next to the fp32 torch reference on the same fresh random inputs,
or what the dispatch did; the test process does the comparing. Triton is imported here only inside
the functions, after ``start_worker`` has set TRITON_INTERPRET. The kernel cases call the Triton
functions themselves, not the dispatch: a kernel that failed its check would serve the reference.

On a lent GPU, ``COMPLETER_TEST_DEVICE=cuda`` runs the kernel cases compiled for it instead of
interpreted (scripts/gpu_session.sh): the same inputs, made on the CPU and moved there, and the
same tolerances, with the results brought back to the test process.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from contextlib import contextmanager
from typing import Callable, Iterator

import torch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DEVICE = os.environ.get("COMPLETER_TEST_DEVICE", "cpu")


triton_imported_by_import_kernels: bool | None = None


def start_worker() -> None:
    """Worker initializer: interpreter on (on CPU), Triton path forced, every torch.empty filled with NaN."""
    global triton_imported_by_import_kernels
    if DEVICE == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"
    os.environ["COMPLETER_KERNELS"] = "triton"
    import kernels  # noqa: F401  (first import in a fresh process; torch's deterministic mode imports triton)
    triton_imported_by_import_kernels = "triton" in sys.modules
    if DEVICE != "cpu":  # cuBLAS needs this workspace to be deterministic; anything else that isn't only warns
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=DEVICE != "cpu")
    torch.utils.deterministic.fill_uninitialized_memory = True  # an element the kernel skips stays NaN


def on_device(*tensors: torch.Tensor) -> list[torch.Tensor]:
    """Inputs made on the CPU (the same numbers everywhere), moved to the device the cases run on."""
    return [t.to(DEVICE) for t in tensors]


def to_host(result):
    """A case's tensors (alone or in tuples) back on the CPU, for the test process to compare."""
    if isinstance(result, tuple):
        return tuple(to_host(r) for r in result)
    return result.cpu()


def dispatch_state() -> dict:
    """What ``import kernels`` gave, and gives once the Triton path has run in this process."""
    import kernels
    x = torch.ones(2, 4)
    kernels.swiglu(x, x)  # imports the Triton modules
    return {"triton_imported_by_import_kernels": triton_imported_by_import_kernels,
            "uses_triton": kernels.use_triton(x),
            "public_functions": all(inspect.isfunction(getattr(kernels, name))
                                    for name in ("attention", "confidence", "rms_norm", "swiglu"))}


def attention_case(B: int, Hq: int, Hkv: int, T: int, S: int, D: int, dtype: str, kv_len: int | list[int] | None,
                   num_splits: int | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Block attention; q is a transposed view [B, T, Hq, D] -> [B, Hq, T, D], as the model makes it.

    A list ``kv_len`` gives every batch row its own length (a padded batch of sequences).
    """
    from kernels.reference import attention_reference
    from kernels.triton_attention import attention_triton
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, Hq, D, generator=g).to(DTYPES[dtype]).transpose(1, 2)
    k = torch.randn(B, Hkv, S, D, generator=g).to(DTYPES[dtype])
    v = torch.randn(B, Hkv, S, D, generator=g).to(DTYPES[dtype])
    q, k, v = on_device(q, k, v)
    if isinstance(kv_len, list):
        kv_len, = on_device(torch.tensor(kv_len))
    out = attention_triton(q, k, v, kv_len, num_splits=num_splits)
    return to_host((out, attention_reference(q.float(), k.float(), v.float(), kv_len)))


def confidence_case(N: int, V: int, dtype: str, num_splits: int | None, masked: int,
                    seed: int) -> tuple[torch.Tensor, tuple, tuple]:
    """Logits, Triton and reference confidence; ``masked`` columns (and row 0's second half) are -inf."""
    from kernels.reference import confidence_reference
    from kernels.triton_confidence import confidence_triton
    g = torch.Generator().manual_seed(seed)
    logits = (4 * torch.randn(N, V, generator=g)).to(DTYPES[dtype])
    if masked:
        logits[:, torch.randperm(V, generator=g)[:masked]] = float("-inf")
        logits[0, V // 2:] = float("-inf")
    logits, = on_device(logits)
    return to_host((logits, confidence_triton(logits, num_splits=num_splits), confidence_reference(logits)))


def confidence_tie_case() -> tuple:
    """Two equal maxima in different vocabulary slices."""
    from kernels.triton_confidence import confidence_triton
    logits = torch.zeros(2, 3000)
    logits[:, [1700, 2500]] = 5.0
    return to_host(confidence_triton(*on_device(logits), num_splits=3))


def rms_norm_case(shape: tuple[int, ...], dtype: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from kernels.reference import rms_norm_reference
    from kernels.triton_rmsnorm import rms_norm_triton
    g = torch.Generator().manual_seed(seed)
    x = (3 * torch.randn(shape, generator=g)).to(DTYPES[dtype])
    weight = torch.randn(shape[-1], generator=g).to(DTYPES[dtype])
    x, weight = on_device(x, weight)
    return to_host((rms_norm_triton(x, weight, 1e-6), rms_norm_reference(x.float(), weight.float(), 1e-6)))


def swiglu_case(shape: tuple[int, ...], dtype: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    from kernels.reference import swiglu_reference
    from kernels.triton_swiglu import swiglu_triton
    g = torch.Generator().manual_seed(seed)
    gate = (3 * torch.randn(shape, generator=g)).to(DTYPES[dtype])
    up = torch.randn(shape, generator=g).to(DTYPES[dtype])
    gate, up = on_device(gate, up)
    return to_host((swiglu_triton(gate, up), swiglu_reference(gate.float(), up.float())))


def public_calls(dtype: torch.dtype) -> dict[str, tuple[str, Callable, Callable, tuple]]:
    """Each public kernel function -> (the kernel it runs, the function, its torch reference, small arguments)."""
    import kernels
    from kernels import reference as r
    g = torch.Generator().manual_seed(0)

    def x(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=g).to(dtype)

    q, k, v, logits = x(1, 4, 8, 16), x(1, 2, 30, 16), x(1, 2, 30, 16), 4 * x(3, 500)
    return {"attention": ("attention", kernels.attention, r.attention_reference, (q, k, v, 20)),
            "confidence": ("confidence", kernels.confidence, r.confidence_reference, (logits,)),
            "top_token": ("confidence", kernels.top_token, r.top_token_reference, (logits,)),
            "rms_norm": ("rms_norm", kernels.rms_norm, r.rms_norm_reference, (x(3, 64), x(64), 1e-6)),
            "swiglu": ("swiglu", kernels.swiglu, r.swiglu_reference, (x(3, 96), x(3, 96)))}


@contextmanager
def kernel_warnings() -> Iterator[list[str]]:
    """The messages the ``kernels`` logger writes inside the block."""
    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("kernels").addHandler(handler)
    try:
        yield messages
    finally:
        logging.getLogger("kernels").removeHandler(handler)


def checked_paths_case(dtype: str) -> dict:
    """Every public kernel called afresh on ``dtype`` tensors: the path each kernel then takes, and any warning."""
    import kernels
    from kernels import checked
    with kernel_warnings() as messages:
        for kernel, function, _, args in public_calls(DTYPES[dtype]).values():
            checked.substitute(kernel, None)  # its real kernel, checked again on this dtype
            function(*args)
    return {"paths": {kernel: kernels.path(kernel, torch.ones(1)) for kernel in checked.KERNELS}, "warnings": messages}


def compile_error(*args):
    raise RuntimeError("PassManager::run failed\n(the many lines of a Triton compile error)")


def broken_kernel_case(function: str, breakage: str) -> dict:
    """``function``'s kernel replaced by one that fails to compile or computes something else, then two
    calls: their results next to the reference's, the warnings logged and the path the kernel then takes."""
    import kernels
    from kernels import checked
    kernel, call, reference, args = public_calls(torch.float32)[function]
    kernel_reference = checked.KERNELS[kernel].reference

    def wrong(*inputs):
        out = kernel_reference(*inputs)
        return (out[0], out[1] / 2, *out[2:]) if isinstance(out, tuple) else 2 * out + 1

    checked.substitute(kernel, compile_error if breakage == "compile error" else wrong)
    try:
        with kernel_warnings() as messages:
            results = [call(*args), call(*args)]
        return {"results": results, "expected": reference(*args), "warnings": messages,
                "path": kernels.path(kernel, args[0])}
    finally:
        checked.substitute(kernel, None)
