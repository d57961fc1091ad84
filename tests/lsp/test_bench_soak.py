import subprocess
import sys
from pathlib import Path

from lsp.bench_soak import word_start

ROOT = Path(__file__).resolve().parents[2]


def test_a_short_soak_prints_a_row_per_window_with_memory_and_leaves_no_request_unanswered(tiny_model):
    result = subprocess.run([sys.executable, "-m", "lsp.bench_soak", "--model", str(tiny_model), "--minutes", "0.2",
                             "--window-s", "4", "--keystroke-ms", "20", "--max-tokens", "6"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["minute", "asked"])
    rows = [line.split() for line in lines[header + 1:] if line.strip()[:1].isdigit()]
    assert len(rows) >= 3 and all(len(row) == 11 and float(row[-1]) > 10 for row in rows), result.stdout
    assert sum(int(row[1]) for row in rows) > 10
    assert "unanswered requests: 0; server in flight at the end: 0" in result.stdout
    assert "last window vs window 1 (the first): RSS" in result.stdout


def test_a_typo_takes_back_the_whole_word_before_the_pause():
    source = "x = self.width\n"
    assert source[word_start(source, 13) : 14] == "width"
    assert word_start(source, 0) == 0
