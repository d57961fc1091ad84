"""pass@k: the chance that at least one of k samples passes (Chen et al. 2021, "Codex")."""

import math


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimate from n samples of which c passed: 1 - C(n-c, k) / C(n, k).

    Computed as a product of ratios, which stays exact where the binomials overflow floats.
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(counts: list[tuple[int, int]], k: int) -> float:
    """pass@k averaged over tasks, given (samples, passed) per task, as upstream reports it."""
    return sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)
