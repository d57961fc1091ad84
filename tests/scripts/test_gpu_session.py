"""The GPU session (scripts/gpu_session.sh), run here on CPU in miniature exactly as a lent machine runs it:
every step's command works and brings back its files before a device minute is spent on it, a step
that overruns its cap is stopped and the next one still runs, and a session out of time skips the rest."""

import os
import subprocess
import sys
from pathlib import Path

from completer.train.loop import train

ROOT = Path(__file__).resolve().parents[2]
SESSION = ROOT / "scripts" / "gpu_session.sh"


def session(tmp_path: Path, *steps: str, **env: str) -> subprocess.CompletedProcess:
    """Run the session in miniature on CPU; $OUT is tmp_path/out."""
    small = {"PYTHON": sys.executable, "DEVICE": "cpu", "OUT": str(tmp_path / "out"), "RUN": str(tmp_path / "run"),
             "PRECISION": "fp32", "BATCH": "4", "SEQ_LEN": "96", "BENCH_SECONDS": "0.2", "EVAL_LIMIT": "2",
             "WORKERS": "2", "CONTEXTS": "64", "RUNS": "1", "SERVING_SHAPE": ""}
    return subprocess.run(["bash", str(SESSION), *steps], env={**os.environ, **small, **env}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=900)


def summary(tmp_path: Path) -> dict[str, str]:
    rows = (tmp_path / "out" / "summary.md").read_text().splitlines()[2:]
    return {cells[1].strip(): cells[2].strip() for cells in (row.split("|") for row in rows)}


def test_every_step_runs_in_miniature_and_brings_back_its_files(tmp_path, data, tiny):
    shipped = train(tiny(data, tmp_path / "shipped", steps=2)).export  # stands in for completer/bundled
    result = session(tmp_path, DATA=str(data), INIT_FROM=str(shipped), CAP_TRAIN="30",
                     TRAIN_MARGIN_S="27")  # a segment of a second or so
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(tmp_path) == {step: "ok" for step in
                                 ("check", "kernels", "train", "eval", "serving", "graphs", "kernelbench")}
    out = tmp_path / "out"
    back = sorted(p.name for p in out.iterdir())
    assert back == ["config.json", "model.safetensors", "session.log", "single-line.jsonl", "single-line.txt",
                    "summary.md", "train_log.csv"]  # at most 8 files come back from a call
    log = (out / "session.log").read_text()
    assert "a schedule of" in log and "tokens/s" in log  # the segment was sized from the bench
    assert f"eval: {tmp_path / 'run' / 'model'}" in log  # what train exported is evaluated
    assert len((out / "single-line.jsonl").read_text().splitlines()) == 2
    assert "vs batch 1" in log  # serving compares batch sizes


def test_a_step_over_its_cap_is_stopped_and_the_next_still_runs(tmp_path):
    result = session(tmp_path, "check", "graphs", CAP_CHECK="1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary(tmp_path) == {"check": "timed out after 1 s", "graphs": "ok"}


def test_a_session_out_of_time_skips_what_is_left_and_an_unknown_step_runs_nothing(tmp_path):
    result = session(tmp_path, "graphs", SESSION_SECONDS="5")
    assert result.returncode == 0 and summary(tmp_path)["graphs"].startswith("skipped")
    (tmp_path / "other").mkdir()
    result = session(tmp_path / "other", "graphs", "gpu")
    assert result.returncode == 2 and "unknown step 'gpu'" in result.stderr and not (tmp_path / "other" / "out").exists()
