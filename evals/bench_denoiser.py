"""Benchmark: block denoising with and without the context cache (and, on CUDA, with CUDA graphs), random weights.

A model of the bundled model's shape (or ``--model``'s) fills a 64-token span in a fixed 16 passes
(2 blocks of 32, 8 passes each) between contexts of 1k and 4k tokens, through the scheduler's own
batch (`completer.scheduler.Batch`, kept across runs as the server keeps it). Naive runs a full
forward over the whole sequence every pass; cached computes the context once and then only the
active block; graphs (CUDA only) replays the block passes from captured CUDA graphs
(`completer.graphs`), its first run capturing them.

    python -m evals.bench_denoiser [--device cpu|cuda] [--contexts 1024 4096] [--runs 5] [--batch 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from completer.checkpoint import load_checkpoint
from completer.graphs import BlockGraphs
from completer.model import Transformer
from completer.sampler import DenoiseSettings, Denoiser
from completer.scheduler import Batch


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
    ap.add_argument("--batch", type=int, default=1, help="requests decoded together (rows of one batch)")
    args = ap.parse_args()
    cuda = args.device.startswith("cuda")
    trained, tok, _ = load_checkpoint(args.model)
    config = trained.config
    config.max_seq_len = max(config.max_seq_len, max(args.contexts) + 128)
    torch.manual_seed(0)
    model = Transformer(config).eval().to(args.device, torch.bfloat16 if cuda else torch.float32)  # random weights
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model: {config.n_layers} layers, dim {config.dim}, heads {config.n_heads}/{config.n_kv_heads}, "
          f"vocab {config.vocab_size}, {params:.1f}M params; device {args.device}; batch {args.batch}"
          + ("" if cuda else f"; threads {torch.get_num_threads()}"))
    header = f"{'context':>8} {'naive ms':>10} {'cached ms':>10} {'speed-up':>9} {'passes':>7}"
    print(header + (f" {'graphs ms':>10} {'vs cached':>9} {'capture run ms':>15}" if cuda else ""))
    g = torch.Generator().manual_seed(0)
    for n in args.contexts:
        prompts = []
        for _ in range(args.batch):
            ids = torch.randint(0, tok.mask_id, (n,), generator=g).tolist()
            ids = [i for i in ids if i not in tok.end_ids]
            prompts.append((ids[: 3 * n // 4], ids[3 * n // 4:]))
        naive, _, p1 = time_requests(model, tok, prompts, False, args.runs)
        cached, _, p2 = time_requests(model, tok, prompts, True, args.runs)
        line = f"{n:>8} {naive:>10.1f} {cached:>10.1f} {naive / cached:>8.2f}x {p1:>3}/{p2:<3}"
        if cuda:
            graphed, first, _ = time_requests(model, tok, prompts, True, args.runs, BlockGraphs(model))
            line += f" {graphed:>10.1f} {cached / graphed:>8.2f}x {first:>15.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
