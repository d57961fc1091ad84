"""`completer eval edits`: the slipped HumanEval tasks, tasks mined from git history, and the harness's oracles."""

from __future__ import annotations

import ast
import collections
import json
import subprocess
from pathlib import Path

import pytest

from completer.cli import main
from evals.edits import SLIPS, EditTask, humaneval_edit_tasks, mine_edit_tasks, oracle, record
from lsp.edits import apply_edits, minimal_edits
from tests.helpers import make_tiny_checkpoint

SUBSET = 30  # tasks, seed 0: the pinned baseline below is this subset's


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tasks() -> list[EditTask]:
    return humaneval_edit_tasks()


def test_every_problem_gets_the_slips_it_has_a_place_for_deterministically(tasks):
    assert collections.Counter(t.kind for t in tasks) == {
        "stale-name": 141, "operator": 139, "typo": 103, "swapped-pair": 96, "missing-argument": 47}
    assert [t.document for t in humaneval_edit_tasks()[:20]] == [t.document for t in tasks[:20]]


@pytest.mark.parametrize("kind", SLIPS)
def test_a_slip_is_one_small_change_in_the_body_with_the_cursor_on_it_or_at_its_line_end(tasks, kind):
    for task in [t for t in tasks if t.kind == kind]:
        fix = minimal_edits(task.document, 0, len(task.document), task.fixed)
        assert fix and apply_edits(task.document, fix) == task.fixed
        line_start = task.document.rfind("\n", 0, fix[0].start) + 1
        line_end = task.document.find("\n", fix[-1].end)
        assert line_start <= task.cursor <= line_end, task.id  # on the slip's line
        assert task.cursor == line_end or task.cursor <= fix[0].end
        if kind != "missing-argument":
            ast.parse(task.document)  # a slip, not a syntax error
        assert task.document.count("\n") == task.fixed.count("\n")


def test_the_true_fix_scores_every_task_and_no_edit_scores_the_pinned_baseline(capsys):
    assert main(["eval", "edits", "--system", "fix", "--limit", str(SUBSET)]) == 0
    out = capsys.readouterr().out
    assert f"all ({SUBSET})" in out and out.split(f"all ({SUBSET})")[1].split()[:3] == ["100.0%", "3.3%", "100.0%"]
    assert main(["eval", "edits", "--system", "none", "--limit", str(SUBSET)]) == 0
    # one slip of the 30 (a swapped pair inside abs()) leaves a program its tests still pass
    assert capsys.readouterr().out.split(f"all ({SUBSET})")[1].split()[:4] == ["3.3%", "3.3%", "0.0%", "0.0%"]


def commit(repo: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (repo / name).write_text(text)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], check=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    body = "".join(f"    x{i} = {i}\n" for i in range(12))
    commit(tmp_path, {"a.py": "def f(a, b):\n" + body + "    return a - b\n", "notes.txt": "hello\n"}, "add")
    commit(tmp_path, {"a.py": "def f(a, b):\n" + body + "    return a + b\n"}, "fix the operator")  # mined
    commit(tmp_path, {"a.py": "def f(a, b):\n" + body.replace("= ", "= 10 * ") + "    return a + b\n"}, "big change")
    commit(tmp_path, {"a.py": "def f(a, b):\n" + body + "    return a + b\n", "b.py": "y = 1\n"}, "two files")
    commit(tmp_path, {"a.py": "def f(a, b):\n" + body + "    return a + b\n\n\nz = 2\n"}, "only adds")
    commit(tmp_path, {"notes.txt": "hello, world\n"}, "not code")
    return tmp_path


def test_mining_takes_only_commits_that_change_a_few_lines_of_one_source_file(repo):
    [task] = mine_edit_tasks(repo)
    assert task.kind == "commit" and task.id.endswith(":a.py")
    assert "return a - b" in task.document and "return a + b" in task.fixed
    assert task.document[task.cursor:].startswith("return a - b")
    fixed, unedited = record(task, oracle(task, "fix"), 3.0), record(task, oracle(task, "none"), 3.0)
    assert (fixed["passed"], fixed["exact"], unedited["passed"]) == (True, True, False)


def test_a_folder_that_is_not_a_repository_is_one_clear_error(tmp_path, capsys):
    assert main(["eval", "edits", "--repo", str(tmp_path), "--system", "fix"]) == 2
    assert "not a git repository" in capsys.readouterr().err


def test_the_model_runs_the_editors_next_edit_path_on_slips_and_clean_code(tiny_model, tmp_path, capsys):
    out = tmp_path / "edits.jsonl"
    assert main(["eval", "edits", "--model", str(tiny_model), "--limit", "6", "--edit-threshold", "1", "--no-reuse-keys",
                 "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 6 and all(r["forward_passes"] >= 1 for r in records)
    assert "calibration:" in capsys.readouterr().out
    assert main(["eval", "edits", "--model", str(tiny_model), "--limit", "6", "--edit-threshold", "0", "--out", str(out)]) == 0
    assert not any(r["suggested"] or r["clean_suggested"] for r in map(json.loads, out.read_text().splitlines()))
