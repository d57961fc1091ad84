import pytest

from evals.arena.judges import edit_distance, edit_similarity, execution_score, prefer, similarity_score
from evals.arena.systems import Generation
from evals.arena.tasks import ArenaTask, load_arena_tasks


def mined(truth: str, suffix: str = "\n") -> ArenaTask:
    return ArenaTask("f.py:statement:0", "f.py", "python", "", suffix, truth, "statement")


def accepted(text: str, replace: int = 0) -> Generation:
    return Generation(text, 10.0, 2, replace)


def test_edit_distance_and_similarity():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert edit_similarity("abc", "abc") == 1.0
    assert edit_similarity("", "") == 1.0
    assert edit_similarity("xyz", "abc") == 0.0
    assert edit_similarity("return x", "return y") == pytest.approx(7 / 8)


def test_similarity_judge_prefers_exact_then_closer_and_ties_equal():
    task = mined("return total")
    exact, close, far = (similarity_score(task, accepted(text)) for text in ("return total  \n", "return totl", "pass"))
    assert exact == 1.0 > close > far
    assert prefer(exact, close) == "top"
    assert prefer(far, close) == "bottom"
    assert prefer(similarity_score(task, accepted("return x")), similarity_score(task, accepted("return y"))) == "tie"


def test_similarity_judge_counts_the_closers_a_suggestion_replaces():
    task = mined("x + 1", suffix=")\n")
    assert similarity_score(task, accepted("x + 1)", replace=1)) == 1.0
    assert similarity_score(task, accepted("x + 1)")) < 1.0  # inserted before ")": one ")" too many


def test_execution_judge_runs_the_humaneval_tests():
    task = load_arena_tasks("humaneval:single-line", limit=1, seed=0)[0]
    passed = execution_score(task.problem, accepted(task.truth))
    failed = execution_score(task.problem, accepted("    raise ValueError('wrong')\n"))
    assert (passed, failed) == (1.0, 0.0)
    assert prefer(failed, passed) == "bottom"
    assert prefer(failed, failed) == "tie"
