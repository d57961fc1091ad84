"""The denoiser benchmark runs through the scheduler's batch and prints one row per context and batch size,
each against the first batch size's requests per second, in the shape asked for."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_denoiser_prints_naive_cached_and_batching_figures_for_each_context_and_batch():
    out = subprocess.run([sys.executable, "-m", "evals.bench_denoiser", "--contexts", "64", "96", "--runs", "1",
                          "--batch", "1", "2", "--shape", "recipe"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True).stdout
    lines = out.splitlines()
    assert "8 layers, dim 384" in lines[0]  # the recipe's shape, not the bundled checkpoint's
    assert lines[1].split() == ["context", "batch", "naive", "ms", "cached", "ms", "speed-up", "passes", "req/s",
                                "vs", "batch", "1"]
    rows = [line.split() for line in lines[2:]]
    assert [(row[0], row[1]) for row in rows] == [("64", "1"), ("64", "2"), ("96", "1"), ("96", "2")]
    for row in rows:
        naive, cached, rate = float(row[2]), float(row[3]), float(row[6])
        assert naive > 0 and cached > 0 and row[5] == "16/16"
        assert abs(rate - int(row[1]) * 1000 / cached) <= 0.01 * rate + 0.01
    assert rows[0][7] == rows[2][7] == "1.00x"
    assert abs(float(rows[1][7].rstrip("x")) - float(rows[1][6]) / float(rows[0][6])) < 0.02  # of printed figures
