"""The denoiser benchmark runs through the scheduler's batch and prints one row per context."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_denoiser_prints_naive_and_cached_figures_for_each_context():
    out = subprocess.run([sys.executable, "-m", "evals.bench_denoiser", "--contexts", "64", "96", "--runs", "1",
                          "--batch", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    lines = out.splitlines()
    assert "batch 2" in lines[0] and lines[1].split() == ["context", "naive", "ms", "cached", "ms", "speed-up", "passes"]
    rows = [line.split() for line in lines[2:]]
    assert [row[0] for row in rows] == ["64", "96"]
    for row in rows:
        assert float(row[1]) > 0 and float(row[2]) > 0 and row[4] == "16/16"
