"""Benchmark: block denoising with and without the context cache (and, on CUDA, with CUDA graphs), random weights.

A model of the bundled model's shape (or ``--model``'s, or a ``--shape``) fills a 64-token span in a
fixed 16 passes (2 blocks of 32, 8 passes each) between contexts of 1k and 4k tokens, through the
scheduler's own batch (`completer.scheduler.Batch`, kept across runs as the server keeps it). Naive
runs a full forward over the whole sequence every pass; cached computes the context once and then
only the active block; graphs (CUDA only) replays the block passes from captured CUDA graphs
(`completer.graphs`), its first run capturing them. With several ``--batch`` sizes, each row also
gives its requests per second (cached) against the first size's at the same context: what batching
requests together buys.

    python -m evals.bench_denoiser [--device cpu|cuda] [--contexts 1024 4096] [--runs 5] [--batch 1 8 16]
                                   [--shape recipe|qwen2-0.5b]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from completer.checkpoint import load_checkpoint
from completer.graphs import BlockGraphs
from completer.model import ModelConfig, Transformer
from completer.sampler import DenoiseSettings, Denoiser
from completer.scheduler import Batch
from lsp.bench_typing import RECIPE_SHAPE

# Shapes a random-weight model can take instead of the checkpoint's (the tokenizer stays the checkpoint's):
# the GPU recipe's fresh shape, and Qwen2.5-0.5B's (Dream-Coder's small sibling), its 151,936-token head included.
SHAPES = {"recipe": RECIPE_SHAPE,
          "qwen2-0.5b": dict(dim=896, n_layers=24, n_heads=14, n_kv_heads=2, intermediate_size=4864,
                             vocab_size=151936, qkv_bias=True, rope_theta=1e6)}


def time_requests(model, tok, prompts, use_cache: bool, runs: int, graphs: BlockGraphs | None = None
                  ) -> tuple[float, float, int]:
    """Median and first wall ms of decoding ``prompts`` together, and passes per request."""
    settings = DenoiseSettings(max_tokens=64, span_tokens=64, block_size=32, threshold=None, steps=8,
                               use_cache=use_cache, reuse_keys=False)
    batch, times, passes = Batch(model, graphs), [], 0
    for _ in range(runs + 1):  # the first run warms up (compiles, captures) and is dropped
        states = [Denoiser(model, tok, prefix, suffix, settings) for prefix, suffix in prompts]
        t0 = time.perf_counter()
        batch.run(states)  # each pass ends in a host transfer: the clock sees finished work
        times.append(time.perf_counter() - t0)
        passes = states[0].stats.forward_passes
    return statistics.median(times[1:]) * 1000, times[0] * 1000, passes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="checkpoint whose shape and tokenizer to use (default: bundled)")
    ap.add_argument("--device", default="cpu", help="cpu (fp32) or cuda (bf16, and a CUDA-graphs column)")
    ap.add_argument("--contexts", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch", type=int, nargs="+", default=[1], help="requests decoded together (rows of one batch)")
    ap.add_argument("--shape", choices=sorted(SHAPES), help="a model of this shape instead of the checkpoint's")
    args = ap.parse_args()
    cuda = args.device.startswith("cuda")
    trained, tok, _ = load_checkpoint(args.model)
    config = ModelConfig.from_dict({**trained.config.to_dict(), **SHAPES.get(args.shape, {})})
    config.max_seq_len = max(config.max_seq_len, max(args.contexts) + 128)
    torch.manual_seed(0)
    model = Transformer(config).eval().to(args.device, torch.bfloat16 if cuda else torch.float32)  # random weights
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model: {config.n_layers} layers, dim {config.dim}, heads {config.n_heads}/{config.n_kv_heads}, "
          f"vocab {config.vocab_size}, {params:.1f}M params; device {args.device}"
          + ("" if cuda else f"; threads {torch.get_num_threads()}"))
    header = f"{'context':>8} {'batch':>6} {'naive ms':>10} {'cached ms':>10} {'speed-up':>9} {'passes':>7} {'req/s':>8}"
    print(header + (f" {'vs batch ' + str(args.batch[0]):>11}" if len(args.batch) > 1 else "")
          + (f" {'graphs ms':>10} {'vs cached':>9} {'capture run ms':>15}" if cuda else ""))
    g = torch.Generator().manual_seed(0)
    for n in args.contexts:
        first_rate = None
        for batch in args.batch:
            prompts = []
            for _ in range(batch):
                ids = torch.randint(0, tok.mask_id, (n,), generator=g).tolist()
                ids = [i for i in ids if i not in tok.end_ids]
                prompts.append((ids[: 3 * n // 4], ids[3 * n // 4:]))
            naive, _, p1 = time_requests(model, tok, prompts, False, args.runs)
            cached, _, p2 = time_requests(model, tok, prompts, True, args.runs)
            rate = batch * 1000 / cached
            first_rate = first_rate or rate
            line = f"{n:>8} {batch:>6} {naive:>10.1f} {cached:>10.1f} {naive / cached:>8.2f}x {p1:>3}/{p2:<3} {rate:>8.2f}"
            line += f" {rate / first_rate:>10.2f}x" if len(args.batch) > 1 else ""
            if cuda:
                graphed, first, _ = time_requests(model, tok, prompts, True, args.runs, BlockGraphs(model))
                line += f" {graphed:>10.1f} {cached / graphed:>8.2f}x {first:>15.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
