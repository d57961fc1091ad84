"""Calibrate the candidates' scores on code that is not a benchmark: how often the best candidate is right.

Mines holes from a code base (`evals.arena.tasks.mine_tasks`: statements, rest-of-line, block bodies;
by default Python's own standard library), asks the editor's pipeline at each with silence off
(``min_score`` 0), and prints how often the candidate it would show is exactly the text that was
there: by the draft's match length (`lsp.candidates.DRAFT_PRECISION` is this table), and, with a
model that scores, by the model's confidence; then the shown rate and precision at each silence
threshold. Nothing of HumanEval or `evals/data` is read.

    python -m evals.calibrate [--repo PATH] [--limit 600] [--model M]
"""

from __future__ import annotations

import argparse
import sysconfig
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from completer.options import Options
from evals.arena.tasks import mine_tasks
from lsp.candidates import Candidate
from lsp.pipeline import suggest

THRESHOLDS = (0.0, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3)
CONFIDENCE_BINS = (0.0, 0.001, 0.002, 0.005, 0.01, 0.03, 0.1, 0.3)


def right(candidate: Candidate, prefix: str, truth: str, suffix: str) -> bool:
    """The document with the candidate accepted is the document as it was (trailing spaces aside)."""
    edit = candidate.edit
    return (prefix + edit.text + suffix[edit.replace:]).rstrip() == (prefix + truth + suffix).rstrip()


def table(title: str, rows: dict, total: int) -> str:
    lines = [title, f"{'':>12}  {'shown':>6}  {'right':>6}  {'precision':>9}"]
    for key in sorted(rows):
        shown, good = rows[key]
        lines.append(f"{key:>12}  {shown:>6}  {good:>6}  {100 * good / shown:>8.1f}%")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument("--repo", type=Path, default=Path(sysconfig.get_paths()["stdlib"]),
                        help="the code base to mine holes from (default: Python's standard library)")
    parser.add_argument("--limit", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", help="checkpoint folder, hub id or http(s)://.../v1 (default: the bundled model)")
    args = parser.parse_args(argv)

    from completer.models import open_model
    model = open_model(args.model)
    options = replace(Options(), min_score=0.0)
    by_order: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    by_confidence: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    best: list[tuple[float, bool]] = []  # (score, right) of each task's best candidate
    tasks = [t for t in mine_tasks(args.repo, args.limit, args.seed) if t.language == "python"]
    try:
        for task in tqdm(tasks, desc="calibrate", unit="task"):
            choice = suggest(model, task.prefix + task.suffix, len(task.prefix), task.language, options).choice
            if choice.shown is None:
                continue
            shown, good = choice.shown, right(choice.shown, task.prefix, task.truth, task.suffix)
            best.append((shown.score, good))
            if shown.source.startswith("draft"):
                by_order[shown.order][0] += 1
                by_order[shown.order][1] += good
            if shown.confidence is not None:
                low = max(b for b in CONFIDENCE_BINS if b <= shown.confidence)
                by_confidence[f">={low:g}"][0] += 1
                by_confidence[f">={low:g}"][1] += good
    finally:
        model.close()
    print(f"{len(tasks)} holes mined from {args.repo}, model {model.name}")
    print(table("best candidate from a draft, by lexemes matched", by_order, len(tasks)))
    if by_confidence:
        print(table("best candidate, by the model's confidence", by_confidence, len(tasks)))
    print(f"{'min score':>12}  {'shown':>6}  {'precision':>9}  {'right / holes':>13}")
    for threshold in THRESHOLDS:
        kept = [good for score, good in best if score >= threshold]
        precision = f"{100 * sum(kept) / len(kept):.1f}%" if kept else "-"
        print(f"{threshold:>12g}  {100 * len(kept) / len(tasks):>5.1f}%  {precision:>9}  {100 * sum(kept) / len(tasks):>12.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
