"""Benchmark: block denoising with and without the context cache, on CPU, random weights.

A model of the bundled model's shape fills a 64-token span in a fixed 16 passes (2 blocks of 32,
8 passes each) between contexts of 1k and 4k tokens. Naive runs a full forward over the whole
sequence every pass; cached computes the context once and then only the active block.

    python -m evals.bench_denoiser [--contexts 1024 4096] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from completer.checkpoint import load_checkpoint
from completer.model import Transformer
from completer.sampler import DenoiseSettings, Denoiser
from completer.scheduler import decode


def time_request(model, tok, prefix, suffix, use_cache: bool, runs: int) -> tuple[float, int]:
    settings = DenoiseSettings(max_tokens=64, span_tokens=64, block_size=32, threshold=None, steps=8,
                               use_cache=use_cache)
    times, passes = [], 0
    for _ in range(runs + 1):  # the first run warms up and is dropped
        d = Denoiser(model, tok, prefix, suffix, settings)
        t0 = time.perf_counter()
        decode(model, [d])
        times.append(time.perf_counter() - t0)
        passes = d.stats.forward_passes
    return statistics.median(times[1:]) * 1000, passes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="checkpoint whose shape and tokenizer to use (default: bundled)")
    ap.add_argument("--contexts", type=int, nargs="+", default=[1024, 4096])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    trained, tok, _ = load_checkpoint(args.model)
    config = trained.config
    config.max_seq_len = max(config.max_seq_len, max(args.contexts) + 128)
    torch.manual_seed(0)
    model = Transformer(config).eval()  # random weights of the same shape
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"model: {config.n_layers} layers, dim {config.dim}, heads {config.n_heads}/{config.n_kv_heads}, "
          f"vocab {config.vocab_size}, {params:.1f}M params; threads {torch.get_num_threads()}")
    print(f"{'context':>8} {'naive ms':>10} {'cached ms':>10} {'speed-up':>9} {'passes':>7}")
    g = torch.Generator().manual_seed(0)
    for n in args.contexts:
        ids = torch.randint(0, tok.mask_id, (n,), generator=g).tolist()
        ids = [i for i in ids if i not in tok.end_ids]
        prefix, suffix = ids[: 3 * n // 4], ids[3 * n // 4:]
        naive, p1 = time_request(model, tok, prefix, suffix, False, args.runs)
        cached, p2 = time_request(model, tok, prefix, suffix, True, args.runs)
        print(f"{n:>8} {naive:>10.1f} {cached:>10.1f} {naive / cached:>8.2f}x {p1:>3}/{p2:<3}")


if __name__ == "__main__":
    main()
