"""Cases that run inside the Triton-interpreter worker process (see conftest.py).

Each returns the Triton result next to the fp32 torch reference on the same fresh random inputs;
the test process does the comparing. Triton is imported here only inside the functions, after
``start_worker`` has set TRITON_INTERPRET.
"""

from __future__ import annotations

import inspect
import os
import sys

import torch

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


triton_imported_by_import_kernels: bool | None = None


def start_worker() -> None:
    """Worker initializer: interpreter on, Triton path forced, every torch.empty filled with NaN."""
    global triton_imported_by_import_kernels
    os.environ["TRITON_INTERPRET"] = "1"
    os.environ["COMPLETER_KERNELS"] = "triton"
    import kernels  # noqa: F401  (first import in a fresh process; torch's deterministic mode imports triton)
    triton_imported_by_import_kernels = "triton" in sys.modules
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = True  # an element the kernel skips stays NaN


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
    if isinstance(kv_len, list):
        kv_len = torch.tensor(kv_len)
    out = attention_triton(q, k, v, kv_len, num_splits=num_splits)
    return out, attention_reference(q.float(), k.float(), v.float(), kv_len)


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
    return logits, confidence_triton(logits, num_splits=num_splits), confidence_reference(logits)


def confidence_tie_case() -> tuple:
    """Two equal maxima in different vocabulary slices."""
    from kernels.triton_confidence import confidence_triton
    logits = torch.zeros(2, 3000)
    logits[:, [1700, 2500]] = 5.0
    return confidence_triton(logits, num_splits=3)


def rms_norm_case(shape: tuple[int, ...], dtype: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    import kernels
    from kernels.reference import rms_norm_reference
    g = torch.Generator().manual_seed(seed)
    x = (3 * torch.randn(shape, generator=g)).to(DTYPES[dtype])
    weight = torch.randn(shape[-1], generator=g).to(DTYPES[dtype])
    return kernels.rms_norm(x, weight, 1e-6), rms_norm_reference(x.float(), weight.float(), 1e-6)


def swiglu_case(shape: tuple[int, ...], dtype: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    import kernels
    from kernels.reference import swiglu_reference
    g = torch.Generator().manual_seed(seed)
    gate = (3 * torch.randn(shape, generator=g)).to(DTYPES[dtype])
    up = torch.randn(shape, generator=g).to(DTYPES[dtype])
    return kernels.swiglu(gate, up), swiglu_reference(gate.float(), up.float())


def model_block_pass_case() -> tuple[torch.Tensor, torch.Tensor]:
    """A tiny model's cached block pass (as the sampler runs it) through Triton and through torch."""
    from completer.model import ModelConfig, Transformer
    torch.manual_seed(0)
    config = ModelConfig(family="native", vocab_size=96, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                         intermediate_size=96, mask_token_id=95, qkv_bias=True)
    model = Transformer(config).eval()
    tokens = torch.randint(0, 96, (1, 40))
    logits = {}
    with torch.inference_mode():
        for mode in ("triton", "torch"):
            os.environ["COMPLETER_KERNELS"] = mode
            cache = model.new_cache(1, 40)
            model(tokens, 0, cache)  # fill the cache with the whole sequence
            logits[mode] = model(tokens[:, 20:29], 20, cache)
    os.environ["COMPLETER_KERNELS"] = "triton"
    return logits["triton"], logits["torch"]
