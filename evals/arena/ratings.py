"""Bradley-Terry ratings with bootstrap confidence intervals, win rates and latency.

Model: P(a beats b) = 1 / (1 + 10 ** (beta_b - beta_a)), with beta on the log10 scale,
the same scale as Chatbot Arena's Elo-style ratings, so score = 400 * beta + 1000 and
a 400-point gap means 10:1 odds. A tie counts as half a win for each side.

The maximum-likelihood fit is Newton's method on the concave log-likelihood plus a tiny
ridge (RIDGE * |theta|^2 / 2): it pins the otherwise free overall offset and keeps the
estimate finite when one system won every battle. Scores are centred so their mean is 1000.
"""

from dataclasses import dataclass

import numpy as np

from completer.errors import BadInput
from evals.arena.store import Battle

SCORE_FOR_WINNER = {"top": 1.0, "tie": 0.5, "bottom": 0.0}
RIDGE = 1e-3
LN10 = np.log(10.0)


@dataclass(frozen=True)
class Standing:
    system: str
    score: float
    ci_low: float
    ci_high: float
    battles: int
    median_latency_ms: float | None
    on_latency_frontier: bool  # no other system is both at least as good and at least as fast


@dataclass(frozen=True)
class Leaderboard:
    standings: list[Standing]  # best first
    win_rates: dict[tuple[str, str], float]  # (a, b) -> a's share of points against b; absent if never met


def _aggregate(a: np.ndarray, b: np.ndarray, score_a: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """points[i, j]: points i took from j; games[i, j]: battles between i and j."""
    points = np.zeros((n, n))
    games = np.zeros((n, n))
    np.add.at(points, (a, b), score_a)
    np.add.at(points, (b, a), 1.0 - score_a)
    np.add.at(games, (a, b), 1.0)
    np.add.at(games, (b, a), 1.0)
    return points, games


def fit_bradley_terry(a: np.ndarray, b: np.ndarray, score_a: np.ndarray, n: int) -> np.ndarray:
    """Maximum-likelihood beta (log10 scale, mean zero) for n systems from battles a vs b."""
    points, games = _aggregate(a, b, score_a, n)
    theta = np.zeros(n)  # natural-log scale while fitting
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))  # p[i, j] = P(i beats j)
        gradient = (points - games * p).sum(axis=1) - RIDGE * theta
        curvature = games * p * (1.0 - p)
        hessian = curvature - np.diag(curvature.sum(axis=1) + RIDGE)
        step = np.linalg.solve(hessian, gradient)
        theta -= np.clip(step, -2.0, 2.0)  # damped: the first steps on a lopsided record can overshoot
        if np.abs(step).max() < 1e-10:
            break
    beta = theta / LN10
    return beta - beta.mean()


def to_score(beta: np.ndarray) -> np.ndarray:
    return 400.0 * beta + 1000.0


def bootstrap_scores(a: np.ndarray, b: np.ndarray, score_a: np.ndarray, n: int, rounds: int, seed: int) -> np.ndarray:
    """Scores refitted on `rounds` resamples (with replacement) of the battles: shape (rounds, n)."""
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(rounds):
        pick = rng.integers(0, len(a), len(a))
        samples.append(to_score(fit_bradley_terry(a[pick], b[pick], score_a[pick], n)))
    return np.array(samples)


def build_leaderboard(
    battles: list[Battle], latencies: dict[str, list[float]], rounds: int = 1000, seed: int = 0
) -> Leaderboard:
    """Rate every system that took part in a decided battle (skipped and pending ones do not count)."""
    decided = [battle for battle in battles if battle.winner in SCORE_FOR_WINNER]
    if not decided:
        raise BadInput("no decided battles yet: run `arena run` or vote with `arena vote` first")
    systems = sorted({battle.top for battle in decided} | {battle.bottom for battle in decided})
    index = {system: i for i, system in enumerate(systems)}
    a = np.array([index[battle.top] for battle in decided])
    b = np.array([index[battle.bottom] for battle in decided])
    score_a = np.array([SCORE_FOR_WINNER[battle.winner] for battle in decided])
    n = len(systems)

    scores = to_score(fit_bradley_terry(a, b, score_a, n))
    low, high = np.percentile(bootstrap_scores(a, b, score_a, n, rounds, seed), [2.5, 97.5], axis=0)
    points, games = _aggregate(a, b, score_a, n)
    medians = {system: float(np.median(latencies[system])) if latencies.get(system) else None for system in systems}

    def dominated(system: str) -> bool:
        mine, my_latency = scores[index[system]], medians[system]
        if my_latency is None:
            return False
        return any(
            other != system
            and medians[other] is not None
            and scores[index[other]] >= mine
            and medians[other] <= my_latency
            and (scores[index[other]] > mine or medians[other] < my_latency)
            for other in systems
        )

    standings = [
        Standing(
            system=system,
            score=float(scores[i]),
            ci_low=float(low[i]),
            ci_high=float(high[i]),
            battles=int(games[i].sum()),
            median_latency_ms=medians[system],
            on_latency_frontier=not dominated(system),
        )
        for i, system in enumerate(systems)
    ]
    standings.sort(key=lambda standing: -standing.score)
    win_rates = {
        (systems[i], systems[j]): float(points[i, j] / games[i, j])
        for i in range(n)
        for j in range(n)
        if i != j and games[i, j] > 0
    }
    return Leaderboard(standings, win_rates)
