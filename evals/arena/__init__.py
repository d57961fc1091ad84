"""Copilot-Arena-style pairwise evaluation: systems battle on the same infilling tasks,
judges (execution, similarity to the true span, or a human) pick winners, and a
Bradley-Terry fit turns the battles into a leaderboard with confidence intervals."""
