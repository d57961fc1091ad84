"""The pass benchmark prints, per model and batch, the forward time, the overhead around it and the host syncs."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_passes_prints_one_row_per_model_and_batch_with_one_sync_per_pass():
    out = subprocess.run([sys.executable, "-m", "evals.bench_passes", "--runs", "1", "--batches", "1", "2",
                          "--context", "64"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [line.split() for line in out.splitlines()[2:]]
    assert [row[-5] for row in rows] == ["1", "2", "1", "2"]  # batch column, bundled then the recipe's shape
    for row in rows:
        assert int(row[-4]) >= 1 and float(row[-3]) > 0 and float(row[-2]) >= 0 and row[-1] == "1.00"
