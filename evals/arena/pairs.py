"""Which two systems battle on which task, and which of them is shown on top.

Uniform sampling gives every (task, system pair) the same chance.

Latency-aware sampling follows Copilot Arena (Chi et al. 2025, arXiv:2502.09328): both
completions are shown together, so the user waits for the *slower* of the two. Copilot
Arena samples a pair with probability proportional to exp(-tau * E[max(latency_a, latency_b)]),
which keeps every pair possible (coverage for the ratings) while making pairs that contain a
slow system rarer. They estimate E[max] from fitted per-model log-normal latency
distributions; here both systems have already completed every task, so E[max] is measured
directly as the mean over tasks of max(latency_a, latency_b). We divide it by the
fastest pair's value so `tau` does not depend on the machine's speed: tau = 1 makes a
pair that makes users wait twice as long e times rarer.

The top/bottom order is a fair coin per battle (position bias), and is recorded. In the editor
(`editor_pair`) each request draws its pair the same way, from the latencies measured so far.
"""

import itertools
import math
import random
from dataclasses import dataclass

import numpy as np

from completer.errors import BadInput


@dataclass(frozen=True)
class Pair:
    task_id: str
    top: str
    bottom: str


def latency_pair_weights(
    systems: list[str], task_ids: list[str], latency_ms: dict[tuple[str, str], float], tau: float
) -> dict[tuple[str, str], float]:
    """exp(-tau * E[max latency] / fastest pair's E[max latency]) for each unordered pair."""
    expected_wait = {
        (a, b): float(np.mean([max(latency_ms[a, task], latency_ms[b, task]) for task in task_ids]))
        for a, b in itertools.combinations(systems, 2)
    }
    return wait_weights(expected_wait, tau)


def wait_weights(expected_wait: dict[tuple[str, str], float], tau: float) -> dict[tuple[str, str], float]:
    fastest = max(min(expected_wait.values()), 1e-9)
    return {pair: math.exp(-tau * wait / fastest) for pair, wait in expected_wait.items()}


def editor_pair(systems: list[str], latencies: dict[str, list[float]], rng: random.Random,
                tau: float = 1.0) -> tuple[str, str]:
    """The two systems that answer one editor request, in the order shown: pairs drawn as `latency_pair_weights`
    draws them, E[max latency] estimated from each system's measured latencies as if independent (Copilot
    Arena fits a distribution per model; these are its samples). A system not measured yet makes its pairs
    as likely as the fastest pair, so every system gets measured."""
    pairs = list(itertools.combinations(systems, 2))
    measured = {pair: float(np.mean(np.maximum.outer(latencies[pair[0]], latencies[pair[1]])))
                for pair in pairs if latencies.get(pair[0]) and latencies.get(pair[1])}
    weights = wait_weights(measured, tau) if measured else {}
    chosen = rng.choices(pairs, [weights.get(pair, 1.0) for pair in pairs])[0]
    return chosen if rng.random() < 0.5 else chosen[::-1]


def sample_pairs(
    systems: list[str],
    task_ids: list[str],
    count: int,
    seed: int,
    pair_weights: dict[tuple[str, str], float] | None = None,
    already_fought: set[tuple[str, frozenset[str]]] = frozenset(),
) -> list[Pair]:
    """Up to `count` new (task, unordered system pair) battles, without replacement.

    A repeated battle would add no information for the automatic judges (they are
    deterministic) and would fake confidence, so combinations in `already_fought`
    (e.g. from an earlier run on the same database) are left out, and once every
    combination is used sampling stops.
    """
    if len(systems) < 2:
        raise BadInput("an arena needs at least two systems")
    if count < 1:
        raise BadInput(f"--pairs must be >= 1, got {count}")
    system_pairs = list(itertools.combinations(systems, 2))
    combos = [
        (task, pair) for task in task_ids for pair in system_pairs if (task, frozenset(pair)) not in already_fought
    ]
    if not combos:
        return []
    weights = np.array([1.0 if pair_weights is None else pair_weights[pair] for _, pair in combos])
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(combos), size=min(count, len(combos)), replace=False, p=weights / weights.sum())
    pairs = []
    for index in chosen:
        task, (a, b) = combos[index]
        top, bottom = (a, b) if rng.random() < 0.5 else (b, a)
        pairs.append(Pair(task, top, bottom))
    return pairs
