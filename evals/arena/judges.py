"""Automatic judges: score each completion against the task, then the higher score wins.

A completion's score depends only on its own task, so a system's score on a task is
computed once and reused for every battle it takes part in. Equal scores are a tie,
which is real information: Bradley-Terry counts it as half a win for each side.
"""

from dataclasses import replace

from evals.arena.systems import Generation
from evals.arena.tasks import ArenaTask
from evals.humaneval import Task, check


def prefer(top_score: float, bottom_score: float) -> str:
    """The battle's outcome: "top", "bottom" or "tie"."""
    if top_score == bottom_score:
        return "tie"
    return "top" if top_score > bottom_score else "bottom"


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance in characters (two-row dynamic programme)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def edit_similarity(completion: str, truth: str) -> float:
    """1 - distance / longer length: 1.0 is an exact match, 0.0 shares nothing."""
    longest = max(len(completion), len(truth))
    return 1.0 if longest == 0 else 1.0 - edit_distance(completion, truth) / longest


def similarity_score(task: ArenaTask, completion: Generation) -> float:
    """Edit similarity to the true span (1.0 = exact match); trailing whitespace is ignored,
    since an editor trims it and it says nothing about quality. A suggestion that replaces text
    right of the cursor is compared with the truth plus that text."""
    truth = task.truth + task.suffix[:completion.replace]
    return edit_similarity(completion.text.rstrip(), truth.rstrip())


def execution_score(problem: Task, completion: Generation, timeout: float = 3.0) -> float:
    """HumanEval tasks: 1.0 when the program, the suggestion accepted, passes its unit tests, else 0.0."""
    return float(check(replace(problem, suffix=problem.suffix[completion.replace:]), completion.text, timeout).passed)
