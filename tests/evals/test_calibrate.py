"""The calibration of candidate scores mines a folder, asks the pipeline with silence off, and prints its tables."""

from evals import calibrate
from tests.helpers import make_tiny_checkpoint


def test_calibration_mines_a_folder_and_prints_precision_by_evidence_and_threshold(tmp_path, capsys):
    code = tmp_path / "code"
    code.mkdir()
    body = "def area(width, height):\n    return width * height\n\n\ndef volume(width, height, depth):\n    return width * height * depth\n"
    for name in ("shapes.py", "more_shapes.py"):
        (code / name).write_text(body)
    checkpoint = make_tiny_checkpoint(tmp_path / "tiny")
    assert calibrate.main(["--repo", str(code), "--limit", "6", "--model", str(checkpoint)]) == 0
    out = capsys.readouterr().out
    assert "holes mined from" in out and "by lexemes matched" in out
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0] in {f"{t:g}" for t in calibrate.THRESHOLDS}]
    assert len(rows) == len(calibrate.THRESHOLDS)
    shown = [float(row[1].rstrip("%")) for row in rows]
    assert shown == sorted(shown, reverse=True)  # a higher bar never shows more

