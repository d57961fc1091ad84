"""Kernel and denoising-pass figures on the shape of a 7B Dream/DiffuCoder model (random bf16 weights).

    python -m evals.bench_kernels            # on an H100/H200: prints every table below
    python -m evals.bench_kernels --smoke    # tiny shapes on CPU, to check the script itself
    TRITON_INTERPRET=1 python -m evals.bench_kernels --smoke   # ... with the Triton kernels interpreted

Tables: each kernel against the best torch path; one denoising pass over a 32-token block with
1k and 4k of context against its memory floor (weight bytes / measured copy bandwidth: a batch-1
pass must read every weight once); tokens per second for a fixed number of tokens committed per
pass, with and without CUDA graphs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from typing import Callable, Iterator

import torch
import torch.nn.functional as F

import kernels
from completer.model import ModelConfig, Transformer
from kernels.reference import attention_reference, confidence_reference

SEVEN_B = dict(vocab_size=152064, dim=3584, n_layers=28, n_heads=28, n_kv_heads=4, intermediate_size=18944,
               mask_token_id=151666, qkv_bias=True, rope_theta=1e6, max_seq_len=8192)
TINY = dict(vocab_size=512, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, intermediate_size=128,
            mask_token_id=511, qkv_bias=True, max_seq_len=256)


def median_ms(fn: Callable[[], object], device: torch.device, warmup: int, iters: int) -> float:
    """Median time of one call: CUDA events on the GPU, wall clock on CPU."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def kernel_mode(mode: str) -> Iterator[None]:
    """Run the model's kernel calls through one path (COMPLETER_KERNELS)."""
    saved = os.environ.get("COMPLETER_KERNELS")
    os.environ["COMPLETER_KERNELS"] = mode
    try:
        yield
    finally:
        if saved is None:
            del os.environ["COMPLETER_KERNELS"]
        else:
            os.environ["COMPLETER_KERNELS"] = saved


def triton_usable(device: torch.device) -> bool:
    return kernels.HAVE_TRITON and (device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1")


def graphed(fn: Callable[[], object]) -> Callable[[], None]:
    """Capture fn (warmed up on a side stream, as CUDA graphs need) and return its replay."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    print(f"\n{title}")
    for line in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(x).rjust(w) for x, w in zip(line, widths)))


def fmt(ms: float | None) -> str:
    return "-" if ms is None else f"{ms:.3f}"


def kernel_table(c: ModelConfig, block: int, contexts: list[int], dtype: torch.dtype, device: torch.device,
                 warmup: int, iters: int) -> None:
    """Each kernel on the pass's shapes: best torch path vs the Triton kernel."""
    from_triton = triton_usable(device)
    if from_triton:
        from kernels.triton_attention import attention_triton
        from kernels.triton_confidence import confidence_triton
        from kernels.triton_rmsnorm import rms_norm_triton
        from kernels.triton_swiglu import swiglu_triton

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(shape, dtype=dtype, device=device)

    cases = []  # name, shape, torch call, triton call
    q = randn(1, c.n_heads, block, c.head_dim)
    for ctx in contexts:
        k, v = randn(1, c.n_kv_heads, ctx + block, c.head_dim), randn(1, c.n_kv_heads, ctx + block, c.head_dim)
        cases.append((f"attention (SDPA) ctx {ctx}", f"q {tuple(q.shape)} kv {tuple(k.shape)}",
                      lambda k=k, v=v: attention_reference(q, k, v),
                      lambda k=k, v=v: attention_triton(q, k, v)))
    logits = torch.randn(block, c.vocab_size, device=device)  # the model returns fp32 logits
    cases.append(("confidence (softmax+topk+entr)", f"logits {tuple(logits.shape)} fp32",
                  lambda: confidence_reference(logits), lambda: confidence_triton(logits)))
    x, weight = randn(1, block, c.dim), randn(c.dim)
    cases.append(("rms_norm (F.rms_norm)", f"x {tuple(x.shape)}",
                  lambda: F.rms_norm(x, (c.dim,), weight, c.norm_eps), lambda: rms_norm_triton(x, weight, c.norm_eps)))
    gate, up = randn(1, block, c.intermediate_size), randn(1, block, c.intermediate_size)
    cases.append(("swiglu (F.silu(g) * u)", f"gate {tuple(gate.shape)}",
                  lambda: F.silu(gate) * up, lambda: swiglu_triton(gate, up)))

    rows = []
    for name, shape, torch_call, triton_call in cases:
        torch_ms = median_ms(torch_call, device, warmup, iters)
        triton_ms = median_ms(triton_call, device, warmup, iters) if from_triton else None
        speedup = f"{torch_ms / triton_ms:.2f}x" if triton_ms else "-"
        rows.append([name, shape, fmt(torch_ms), fmt(triton_ms), speedup])
    print_table(f"Kernels ({dtype}, median ms)", ["kernel", "shape", "torch", "triton", "speedup"], rows)


def copy_bandwidth(nbytes: int, device: torch.device, warmup: int, iters: int) -> float:
    """Device-to-device copy bandwidth in bytes/s, counting the read and the write."""
    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), device, warmup, iters)
    return 2 * nbytes / (ms / 1000)


def build_model(c: ModelConfig, dtype: torch.dtype, device: torch.device) -> Transformer:
    torch.manual_seed(0)
    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            return Transformer(c).eval()
    finally:
        torch.set_default_dtype(saved)


def weight_bytes_per_pass(model: Transformer) -> int:
    """Bytes of the weights a pass reads: all of them, except the embedding table (only the block's rows)."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    if model.lm_head.weight is not model.embed_tokens.weight:
        total -= model.embed_tokens.weight.numel() * model.embed_tokens.weight.element_size()
    return total


class BlockPass:
    """One denoising pass over the active block, as the sampler makes it with the context cache.

    The block sits after ``context`` cached tokens; ``step(k)`` is a pass plus a fixed-schedule
    commit of the k most confident positions (on the device, so it can be graphed).
    """

    def __init__(self, model: Transformer, context: int, block: int):
        c = model.config
        device = model.embed_tokens.weight.device
        self.model, self.start = model, context
        self.cache = model.new_cache(1, context + block)
        self.tokens = torch.full((1, block), c.mask_token_id, device=device)
        self.picked: torch.Tensor | None = None

    def forward(self) -> torch.Tensor:
        return self.model(self.tokens, self.start, self.cache)

    def step(self, k: int) -> torch.Tensor:
        logits = self.forward()[0]
        token, prob = kernels.top_token(logits)
        self.picked = prob.topk(k).indices
        self.tokens[0, self.picked] = token[self.picked]
        return self.picked


def pass_tables(c: ModelConfig, block: int, contexts: list[int], dtype: torch.dtype, device: torch.device,
                warmup: int, iters: int, copy_bytes: int) -> None:
    model = build_model(c, dtype, device)
    bandwidth = copy_bandwidth(copy_bytes, device, warmup, iters)
    floor_ms = 1000 * weight_bytes_per_pass(model) / bandwidth
    print(f"\nweights read per pass: {weight_bytes_per_pass(model) / 1e6:.1f} MB; copy bandwidth "
          f"{bandwidth / 1e9:.1f} GB/s (read + write); memory floor {floor_ms:.3f} ms per pass")
    modes = ["torch"] + (["triton"] if triton_usable(device) else [])
    use_graphs = device.type == "cuda"

    rows, speed_rows = [], []
    with torch.inference_mode():
        for ctx in contexts:
            for mode in modes:
                with kernel_mode(mode):
                    bp = BlockPass(model, ctx, block)
                    eager_ms = median_ms(bp.forward, device, warmup, iters)
                    graph_ms = median_ms(graphed(bp.forward), device, warmup, iters) if use_graphs else None
                    rows.append([ctx, mode, fmt(eager_ms), fmt(graph_ms), fmt(floor_ms), f"{eager_ms / floor_ms:.2f}",
                                 "-" if graph_ms is None else f"{graph_ms / floor_ms:.2f}"])
                    for k in (1, 2, 4, 8):
                        eager = tokens_per_second(lambda: bp.step(k), bp, k, block, warmup, iters, device)
                        graph = (tokens_per_second(graphed(lambda: bp.step(k)), bp, k, block, warmup, iters, device)
                                 if use_graphs else None)
                        speed_rows.append([ctx, mode, k, f"{eager:.1f}", "-" if graph is None else f"{graph:.1f}"])
    print_table(f"Denoising pass, block {block}, batch 1 (median ms)",
                ["context", "kernels", "eager", "cuda graph", "floor", "eager/floor", "graph/floor"], rows)
    print_table("Tokens per second, batch 1, fixed schedule (pass + confidence + commit + host read per pass)",
                ["context", "kernels", "tokens/pass", "eager tok/s", "graph tok/s"], speed_rows)


def tokens_per_second(step: Callable[[], object], bp: BlockPass, k: int, block: int,
                      warmup: int, iters: int, device: torch.device) -> float:
    """Decode whole blocks of block/k passes, reading the committed positions back after each (as the sampler does)."""
    passes = -(-block // k)

    def one_block() -> None:
        for _ in range(passes):
            step()
            bp.picked.tolist()

    for _ in range(warmup):
        one_block()
    times = []
    for _ in range(max(1, iters // 4)):
        sync(device)
        t0 = time.perf_counter()
        one_block()
        sync(device)
        times.append(time.perf_counter() - t0)
    return passes * k / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny shapes on CPU (checks the script, no real figures)")
    parser.add_argument("--block", type=int, default=32)
    parser.add_argument("--contexts", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--iters", type=int, default=20)
    args = parser.parse_args()

    if args.smoke:
        config, dtype, device = ModelConfig(family="native", **TINY), torch.float32, torch.device("cpu")
        block, contexts, warmup, iters, copy_bytes = 8, [32, 64], 1, 3, 16 << 20
    else:
        if not torch.cuda.is_available():
            parser.error("needs a CUDA GPU (use --smoke to check the script on CPU)")
        config, dtype, device = ModelConfig(family="dream", **SEVEN_B), torch.bfloat16, torch.device("cuda")
        block, contexts, warmup, iters, copy_bytes = args.block, args.contexts, args.warmup, args.iters, 2 << 30
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (smoke: figures mean nothing)"
    print(f"device: {name}; torch {torch.__version__}; {config.n_layers} layers, dim {config.dim}, "
          f"{config.n_heads}/{config.n_kv_heads} heads, vocab {config.vocab_size}")
    kernel_table(config, block, contexts, dtype, device, warmup, iters)
    pass_tables(config, block, contexts, dtype, device, warmup, iters, copy_bytes)


if __name__ == "__main__":
    main()
