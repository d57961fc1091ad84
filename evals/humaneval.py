"""HumanEval-infilling (InCoder / FIM papers): load the vendored tasks and check completions.

A completion is the missing middle; it passes when prompt + completion + suffix, followed
by the task's tests, runs to its end in the sandbox (the upstream harness's definition).
"""

import gzip
import json
from dataclasses import dataclass, replace
from pathlib import Path

from completer.errors import BadInput
from evals.sandbox import Limits, run_python

# Upstream's loader names the random-span files without "Infilling"; these are the real names.
BENCHMARK_FILES = {
    "single-line": "HumanEval-SingleLineInfilling.jsonl.gz",
    "multi-line": "HumanEval-MultiLineInfilling.jsonl.gz",
    "random-span": "HumanEval-RandomSpanInfilling.jsonl.gz",
    "random-span-light": "HumanEval-RandomSpanInfillingLight.jsonl.gz",
}
BENCHMARKS = tuple(BENCHMARK_FILES)
DATA_DIR = Path(__file__).parent / "data"
"""The vendored files; training is pointed here to keep these problems out of its corpus."""


@dataclass(frozen=True)
class Task:
    task_id: str
    prompt: str
    suffix: str
    canonical_solution: str
    test: str
    entry_point: str


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    result: str  # "passed", "timed out" or "failed: <why>"


def load_tasks(benchmark: str) -> list[Task]:
    """All tasks of one benchmark, in file order."""
    if benchmark not in BENCHMARK_FILES:
        raise BadInput(f"unknown benchmark {benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
    data = (DATA_DIR / BENCHMARK_FILES[benchmark]).read_bytes()
    records = (json.loads(line) for line in gzip.decompress(data).decode("utf-8").splitlines())
    return [Task(**{field: record[field] for field in Task.__dataclass_fields__}) for record in records]


def editor_document(task: Task) -> tuple[str, int]:
    """The file an editor user has at the hole, and the cursor's offset in it.

    A hole of whole lines is an empty line the user opened, the cursor on it; any other hole is
    the cursor between prompt and suffix.
    """
    if whole_lines(task):
        return task.prompt + "\n" + task.suffix, len(task.prompt)
    return task.prompt + task.suffix, len(task.prompt)


def typed_middle(task: Task) -> str:
    """The middle an editor user types at the hole (`editor_document`): a whole-line hole's without the line end the user opened."""
    return task.canonical_solution[:-1] if whole_lines(task) else task.canonical_solution


def whole_lines(task: Task) -> bool:
    return (not task.prompt or task.prompt.endswith("\n")) and task.canonical_solution.endswith("\n")


def accepted(task: Task, text: str, replace_chars: int) -> tuple[Task, str]:
    """The task and middle after the user accepts a suggestion (`text` replacing `replace_chars` right of the cursor)."""
    if whole_lines(task):  # the opened line ends the middle; nothing was right of the cursor on it
        return task, text + "\n"
    return replace(task, suffix=task.suffix[replace_chars:]), text


def program(task: Task, completion: str) -> str:
    """The program upstream runs: the filled-in function, its tests, then the call to them."""
    return task.prompt + completion + task.suffix + "\n" + task.test + "\n" + f"check({task.entry_point})"


def check(task: Task, completion: str, timeout: float = 3.0) -> CheckResult:
    run = run_python(program(task, completion), Limits(timeout_s=timeout))
    if run.passed:
        return CheckResult(True, "passed")
    if run.timed_out:
        return CheckResult(False, "timed out")
    return CheckResult(False, f"failed: {run.error}")
