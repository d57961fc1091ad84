"""Benchmark: what a denoising pass costs besides its forward, and how often it waits for the device.

Cursors in a real file (the standard library's textwrap) are decoded together through the
scheduler's own batch (`completer.scheduler.Batch`), at batch 1 and 8, on the bundled model (its
default effort) and on a random-weight model of the GPU recipe's shape (8 passes per block). A
pass's overhead is its wall time minus the time spent inside the model's forwards and growing the
batch's pool (allocation, the same whatever the decode loop does): building the windows, picking,
committing and ending spans. Host syncs are the reads of device data the decode loop made
(`DenoiseStats.host_syncs`), per pass of a request.

    python -m evals.bench_passes [--runs 5] [--batches 1 8] [--context 512]
"""

from __future__ import annotations

import argparse
import statistics
import textwrap
import time
from pathlib import Path

import torch

from completer.checkpoint import BUNDLED_DIR, load_checkpoint, read_config
from completer.model import ModelConfig, Transformer
from completer.sampler import DenoiseSettings, Denoiser
from completer.scheduler import Batch
from lsp.bench_typing import RECIPE_SHAPE


def prompts(tok, count: int, context: int) -> list[tuple[list[int], list[int]]]:
    """``count`` cursors spread over textwrap's source, each with ``context`` tokens around it, 3/4 of them before."""
    ids = tok.encode(Path(textwrap.__file__).read_text())
    before, after = 3 * context // 4, context - 3 * context // 4
    cursors = [before + k * (len(ids) - context) // max(count, 1) for k in range(count)]
    return [(ids[c - before:c], ids[c:c + after]) for c in cursors]


def measure(model: Transformer, tok, cases, settings: DenoiseSettings, runs: int) -> dict:
    """Median over runs of the per-pass overhead (ms), forward time (ms) and host syncs per request pass."""
    batch = Batch(model)
    forward, fit = model.forward_windows, batch.fit_cache
    inside = growing = 0.0

    def timed(*args, **kwargs):
        nonlocal inside
        t0 = time.perf_counter()
        out = forward(*args, **kwargs)
        inside += time.perf_counter() - t0
        return out

    def timed_fit() -> None:
        nonlocal growing
        t0 = time.perf_counter()
        fit()
        growing += time.perf_counter() - t0

    model.forward_windows, batch.fit_cache = timed, timed_fit
    overheads, forwards, syncs = [], [], []
    try:
        for run in range(runs + 1):  # the first run warms up and is dropped
            states = [Denoiser(model, tok, prefix, suffix, settings) for prefix, suffix in cases]
            for st in states:
                batch.add(st)
            inside, growing, passes, wall = 0.0, 0.0, 0, 0.0
            while batch.states:
                t0 = time.perf_counter()
                batch.step()
                wall += time.perf_counter() - t0
                passes += 1
            if run:
                overheads.append((wall - inside - growing) / passes * 1000)
                forwards.append(inside / passes * 1000)
                request_passes = sum(st.stats.forward_passes for st in states)
                synced = [getattr(st.stats, "host_syncs", None) for st in states]
                syncs.append(None if None in synced else sum(synced) / request_passes)
    finally:
        del model.forward_windows
    return {"overhead": statistics.median(overheads), "forward": statistics.median(forwards),
            "syncs": syncs[0], "passes": passes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--context", type=int, default=512, help="context tokens around each cursor")
    args = ap.parse_args()
    bundled, tok, _ = load_checkpoint(None)
    torch.manual_seed(0)
    random = Transformer(ModelConfig.from_dict({**read_config(BUNDLED_DIR).to_dict(), **RECIPE_SHAPE})).eval()
    models = [("bundled", bundled, DenoiseSettings(reuse_keys=False)),
              ("recipe shape", random, DenoiseSettings(threshold=None, steps=8, reuse_keys=False))]
    print(f"threads {torch.get_num_threads()}; context {args.context} tokens; median of {args.runs} runs")
    print(f"{'model':<13} {'batch':>5} {'passes':>6} {'forward ms':>10} {'overhead ms':>11} {'syncs/pass':>10}")
    for name, model, settings in models:
        for batch in args.batches:
            r = measure(model, tok, prompts(tok, batch, args.context), settings, args.runs)
            syncs = "-" if r["syncs"] is None else f"{r['syncs']:.2f}"
            print(f"{name:<13} {batch:>5} {r['passes']:>6} {r['forward']:>10.2f} {r['overhead']:>11.3f} {syncs:>10}",
                  flush=True)


if __name__ == "__main__":
    main()
