from collections import Counter

import pytest

from completer.errors import BadInput
from evals.arena.pairs import latency_pair_weights, sample_pairs

SYSTEMS = ["a", "b", "c"]
TASKS = [f"t{i}" for i in range(40)]


def test_uniform_pairs_are_distinct_cover_every_pair_and_randomise_order():
    pairs = sample_pairs(SYSTEMS, TASKS, count=90, seed=0)
    keys = [(p.task_id, frozenset((p.top, p.bottom))) for p in pairs]
    assert len(keys) == len(set(keys)) == 90
    assert all(p.top != p.bottom for p in pairs)
    unordered = Counter(frozenset((p.top, p.bottom)) for p in pairs)
    assert len(unordered) == 3 and min(unordered.values()) >= 15
    tops = Counter(p.top for p in pairs if {p.top, p.bottom} == {"a", "b"})
    assert tops["a"] > 0 and tops["b"] > 0


def test_sampling_is_seeded_and_stops_when_every_combination_is_used():
    assert sample_pairs(SYSTEMS, TASKS, 10, seed=3) == sample_pairs(SYSTEMS, TASKS, 10, seed=3)
    assert len(sample_pairs(SYSTEMS, ["t0", "t1"], count=100, seed=0)) == 6


def test_battles_already_fought_are_not_repeated():
    fought = {("t0", frozenset(("a", "b"))), ("t0", frozenset(("a", "c")))}
    pairs = sample_pairs(SYSTEMS, ["t0"], count=5, seed=0, already_fought=fought)
    assert [frozenset((p.top, p.bottom)) for p in pairs] == [frozenset(("b", "c"))]


def test_latency_sampling_makes_pairs_with_a_slow_system_rarer():
    latency = {(s, t): {"a": 100.0, "b": 120.0, "c": 400.0}[s] for s in SYSTEMS for t in TASKS}
    weights = latency_pair_weights(SYSTEMS, TASKS, latency, tau=1.0)
    assert weights["a", "b"] > weights["a", "c"] == weights["b", "c"] > 0  # users wait for the slower one
    pairs = sample_pairs(SYSTEMS, TASKS, count=40, seed=0, pair_weights=weights)
    counts = Counter(frozenset((p.top, p.bottom)) for p in pairs)
    assert counts[frozenset("ab")] > counts[frozenset("ac")] + counts[frozenset("bc")]
    assert counts[frozenset("ac")] + counts[frozenset("bc")] > 0  # every pair keeps some coverage


def test_pair_sampling_rejects_what_cannot_make_a_battle():
    with pytest.raises(BadInput, match="two systems"):
        sample_pairs(["a"], TASKS, 5, seed=0)
    with pytest.raises(BadInput, match="--pairs"):
        sample_pairs(SYSTEMS, TASKS, 0, seed=0)
