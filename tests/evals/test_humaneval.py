"""HumanEval-infilling: vendored data, the checking oracles, pass@k and the eval command."""

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from math import comb

import pytest

from completer.errors import BadInput
from completer.prefix_cache import MIN_REUSE
from evals.cli import add_eval_parser, select_tasks
from evals.humaneval import BENCHMARKS, CheckResult, check, load_tasks
from evals.metrics import mean_pass_at_k, pass_at_k

# Upstream file sizes (FORMAT.md): the loader must find every file under its real name.
TASK_COUNTS = {"single-line": 1033, "multi-line": 5815, "random-span": 1640, "random-span-light": 164}
SUBSET = 40  # tasks per benchmark for the oracles, picked with seed 0
# How many tasks of that subset an empty middle passes (the whole-benchmark counts are in the report).
EMPTY_PASSES_ON_SUBSET = {"single-line": 1, "multi-line": 2, "random-span": 0, "random-span-light": 0}


def count_passes(tasks, completion_of) -> int:
    with ThreadPoolExecutor(2) as pool:
        return sum(result.passed for result in pool.map(lambda task: check(task, completion_of(task)), tasks))


def single_line_task(name: str):
    """E.g. "1/L0": the first line of HumanEval/1's body, at the function's top level."""
    return next(task for task in load_tasks("single-line") if task.task_id == f"SingleLineInfilling/HumanEval/{name}")


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_every_benchmark_loads_all_its_tasks_from_the_package(benchmark):
    tasks = load_tasks(benchmark)
    assert len(tasks) == TASK_COUNTS[benchmark]
    assert len({task.task_id for task in tasks}) == len(tasks)


def test_unknown_benchmark_is_a_clear_error():
    with pytest.raises(BadInput, match="unknown benchmark 'random'.*single-line"):
        load_tasks("random")


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_oracles_canonical_passes_all_and_empty_passes_the_pinned_few(benchmark):
    tasks = select_tasks(load_tasks(benchmark), SUBSET, seed=0)
    assert count_passes(tasks, lambda task: task.canonical_solution) == SUBSET
    assert count_passes(tasks, lambda task: "") == EMPTY_PASSES_ON_SUBSET[benchmark]


def test_infinite_loop_completion_times_out_and_the_next_task_still_runs():
    first, second = single_line_task("1/L0"), single_line_task("1/L1")
    looping = check(first, "    while True: pass\n", timeout=1.0)
    assert looping == CheckResult(False, "timed out")
    assert check(second, second.canonical_solution, timeout=1.0).passed


def test_failing_completion_reports_the_exception():
    result = check(single_line_task("1/L0"), "    raise ValueError('nope')\n")
    assert not result.passed and result.result == "failed: ValueError: nope"


def test_subset_is_deterministic_and_in_benchmark_order():
    tasks = load_tasks("random-span")
    subset = select_tasks(tasks, 10, seed=3)
    assert subset == select_tasks(tasks, 10, seed=3) != select_tasks(tasks, 10, seed=4)
    positions = [tasks.index(task) for task in subset]
    assert positions == sorted(positions)


def test_pass_at_k_matches_hand_computed_values():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 2) == pytest.approx(1 - 21 / 45)  # 1 - C(7,2)/C(10,2)
    assert pass_at_k(4, 2, 2) == pytest.approx(5 / 6)  # 1 - C(2,2)/C(4,2)
    assert pass_at_k(5, 1, 5) == 1.0  # every draw of 5 contains the passing sample
    exact = 1 - Fraction(comb(187, 100), comb(200, 100))
    assert pass_at_k(200, 13, 100) == pytest.approx(float(exact), rel=1e-12)
    assert mean_pass_at_k([(10, 3), (10, 0)], 1) == pytest.approx(0.15)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 1, 10)


def parse(argv: list[str]) -> argparse.Namespace:
    """The eval command as completer/cli.py registers it, to call its handler in-process."""
    parser = argparse.ArgumentParser(prog="completer")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_eval_command_end_to_end_with_canonical_system(tmp_path):
    out = tmp_path / "results.jsonl"
    run = subprocess.run([sys.executable, "-m", "completer.cli", "eval", "humaneval-infill",
                          "--benchmark", "multi-line", "--system", "canonical", "--limit", "5",
                          "--workers", "2", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 5 and all(record["passed"] for record in records)
    assert set(records[0]) >= {"task_id", "completion", "passed", "result", "latency_ms",
                               "forward_passes", "tokens_per_forward"}
    assert "multi-line" in run.stdout and "canonical" in run.stdout and "100.00%" in run.stdout


def test_eval_command_reports_pass_at_k_for_several_samples(capsys):
    args = parse(["eval", "humaneval-infill", "--benchmark", "single-line", "--system", "empty",
                  "--limit", "3", "--samples", "10"])
    assert args.func(args) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "pass@1" in header and "pass@10" in header and "pass@100" not in header


def test_agreement_counts_the_tasks_whose_completion_matches_the_other_run(tmp_path, capsys):
    canonical = tmp_path / "canonical.jsonl"
    args = parse(["eval", "humaneval-infill", "--benchmark", "single-line", "--system", "canonical",
                  "--limit", "4", "--out", str(canonical)])
    assert args.func(args) == 0
    records = [json.loads(line) for line in canonical.read_text().splitlines()]
    records[0]["completion"] += "  # changed"
    canonical.write_text("".join(json.dumps(r) + "\n" for r in records[:3]))  # the fourth task is missing
    capsys.readouterr()
    args = parse(["eval", "humaneval-infill", "--benchmark", "single-line", "--system", "canonical",
                  "--limit", "4", "--agree-with", str(canonical)])
    assert args.func(args) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[-1] == "agreement" and row.split()[-1] == "2/3"


def test_agreement_with_an_unreadable_results_file_fails_before_running(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    args = parse(["eval", "humaneval-infill", "--benchmark", "single-line", "--system", "canonical",
                  "--agree-with", str(bad)])
    with pytest.raises(BadInput, match="cannot read results to agree with"):
        args.func(args)


def test_eval_command_with_unwritable_output_fails_before_running(tmp_path):
    args = parse(["eval", "humaneval-infill", "--benchmark", "single-line", "--system", "canonical",
                  "--out", str(tmp_path / "missing" / "results.jsonl")])
    with pytest.raises(BadInput, match="cannot write results"):
        args.func(args)


def test_eval_command_runs_a_real_model(tmp_path, capsys):
    from tests.helpers import make_tiny_checkpoint

    checkpoint = make_tiny_checkpoint(tmp_path / "tiny")
    out = tmp_path / "results.jsonl"
    args = parse(["eval", "humaneval-infill", "--benchmark", "single-line", "--model", str(checkpoint),
                  "--limit", "1", "--max-tokens", "4", "--out", str(out)])
    assert args.func(args) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 1
    assert records[0]["forward_passes"] > 0 and records[0]["completion"].endswith("\n")
    assert "model (tiny)" in capsys.readouterr().out


def test_after_keystrokes_the_scored_request_starts_from_the_keys_typing_left(tmp_path):
    from tests.helpers import make_tiny_checkpoint

    checkpoint = make_tiny_checkpoint(tmp_path / "tiny")
    reused = {}
    for flag in ("--reuse-keys", "--no-reuse-keys"):
        out = tmp_path / f"{flag}.jsonl"
        args = parse(["eval", "humaneval-infill", "--benchmark", "single-line", "--model", str(checkpoint),
                      "--limit", "2", "--max-tokens", "4", "--after-keystrokes", "3", "--concurrency", "2",
                      flag, "--out", str(out)])
        assert args.func(args) == 0
        reused[flag] = [json.loads(line)["reused_tokens"] for line in out.read_text().splitlines()]
    assert len(reused["--reuse-keys"]) == 2 and min(reused["--reuse-keys"]) >= MIN_REUSE
    assert reused["--no-reuse-keys"] == [0, 0]


def test_a_negative_number_of_keystrokes_is_a_clear_error():
    args = parse(["eval", "humaneval-infill", "--benchmark", "single-line", "--after-keystrokes", "-1"])
    with pytest.raises(BadInput, match="--after-keystrokes must be"):
        args.func(args)


def test_the_oracle_length_run_reports_what_was_shown_and_where_it_came_from(tmp_path, capsys):
    from tests.helpers import make_tiny_checkpoint

    checkpoint = make_tiny_checkpoint(tmp_path / "tiny")
    out = tmp_path / "results.jsonl"
    args = parse(["eval", "humaneval-infill", "--benchmark", "single-line", "--model", str(checkpoint),
                  "--limit", "3", "--oracle-length", "--min-score", "0", "--out", str(out)])
    assert args.func(args) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all({"shown", "exact", "source", "score", "passes", "host_syncs"} <= set(r) for r in records)
    assert all((r["source"] is None) == (not r["shown"]) and r["passes"] >= r["forward_passes"] for r in records)
    assert all(r["host_syncs"] == r["forward_passes"] for r in records)  # one wait for the device per pass
    header = capsys.readouterr().out.splitlines()[0]
    for column in ("exact", "shown", "precision", "all passes/task", "shown from"):
        assert column in header
