import numpy as np
import pytest

from completer.errors import BadInput
from evals.arena.ratings import bootstrap_scores, build_leaderboard, fit_bradley_terry
from evals.arena.store import Battle

TRUE_BETA = np.array([0.0, 0.15, 0.3, 0.45])  # log10 scale: 400 * beta = 0, 60, 120, 180 points
TIE_RATE = 0.2


def simulate(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Battles whose expected score matches Bradley-Terry exactly, with 20% ties.

    A tie is worth half, so the decisive outcomes are drawn with q such that
    TIE_RATE / 2 + (1 - TIE_RATE) * q = P(a beats b): the half-win fit must then recover TRUE_BETA.
    """
    rng = np.random.default_rng(seed)
    n = len(TRUE_BETA)
    a = rng.integers(0, n, count)
    b = (a + rng.integers(1, n, count)) % n
    p = 1.0 / (1.0 + 10.0 ** (TRUE_BETA[b] - TRUE_BETA[a]))
    q = (p - TIE_RATE / 2) / (1 - TIE_RATE)
    ties = rng.random(count) < TIE_RATE
    score_a = np.where(ties, 0.5, (rng.random(count) < q).astype(float))
    return a, b, score_a


def test_bradley_terry_recovers_known_strengths_from_votes_with_ties():
    a, b, score_a = simulate(8000, seed=1)
    beta = fit_bradley_terry(a, b, score_a, len(TRUE_BETA))
    np.testing.assert_allclose(beta, TRUE_BETA - TRUE_BETA.mean(), atol=0.04)
    assert list(np.argsort(beta)) == [0, 1, 2, 3]


def test_bootstrap_confidence_intervals_shrink_as_votes_grow():
    widths = []
    for count in (200, 3200):
        a, b, score_a = simulate(count, seed=2)
        low, high = np.percentile(bootstrap_scores(a, b, score_a, len(TRUE_BETA), 200, seed=0), [2.5, 97.5], axis=0)
        widths.append(high - low)
    assert np.all(widths[1] < widths[0] / 2)  # 16x the votes: about 1/4 the width


def test_all_ties_give_equal_scores_and_a_lopsided_record_stays_finite():
    ties = fit_bradley_terry(np.array([0, 1, 0]), np.array([1, 0, 1]), np.full(3, 0.5), 2)
    np.testing.assert_allclose(ties, [0.0, 0.0], atol=1e-9)
    sweep = fit_bradley_terry(np.zeros(10, int), np.ones(10, int), np.ones(10), 2)
    assert np.all(np.isfinite(sweep)) and sweep[0] > sweep[1] + 1.0


def battle(top: str, bottom: str, winner: str | None) -> Battle:
    return Battle(id=0, task_id="t", top=top, bottom=bottom, winner=winner, judge="human")


def test_leaderboard_scores_win_rates_latency_and_frontier():
    battles = (
        [battle("good", "bad", "top")] * 6
        + [battle("bad", "good", "tie")] * 2
        + [battle("good", "bad", "skip"), battle("good", "bad", None)]  # neither counts
        + [battle("quick", "bad", "bottom")] * 2
    )
    latencies = {"good": [300.0, 100.0, 200.0], "bad": [50.0], "quick": [10.0]}
    board = build_leaderboard(battles, latencies, rounds=50, seed=0)
    by_name = {s.system: s for s in board.standings}

    assert [s.system for s in board.standings][0] == "good"
    assert board.win_rates["good", "bad"] == pytest.approx(7 / 8)  # 6 wins + 2 half-wins out of 8
    assert board.win_rates["bad", "good"] == pytest.approx(1 / 8)
    assert ("good", "quick") not in board.win_rates
    assert by_name["good"].battles == 8
    assert by_name["good"].median_latency_ms == 200.0
    assert np.mean([s.score for s in board.standings]) == pytest.approx(1000.0)
    assert all(s.ci_low <= s.score <= s.ci_high for s in board.standings)
    # bad beats quick but is slower; good is best: nobody dominates them. quick loses to bad yet is fastest.
    assert [by_name[n].on_latency_frontier for n in ("good", "bad", "quick")] == [True, True, True]


def test_a_slower_worse_system_is_off_the_latency_frontier():
    battles = [battle("fast", "slow", "top")] * 4 + [battle("fast", "slow", "bottom")]
    board = build_leaderboard(battles, {"fast": [10.0], "slow": [90.0]}, rounds=20, seed=0)
    assert {s.system: s.on_latency_frontier for s in board.standings} == {"fast": True, "slow": False}


def test_leaderboard_without_decided_battles_is_a_clear_error():
    with pytest.raises(BadInput, match="no decided battles"):
        build_leaderboard([battle("a", "b", None), battle("a", "b", "skip")], {}, rounds=10)
