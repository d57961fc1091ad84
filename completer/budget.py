"""The context budget: how many tokens of code around the cursor the model reads, and how they split.

One owner for every front end. A document's context is cut at whole lines by the language
server's context builder (`lsp.context`), which asks here for the budget and its split; raw
prompt/suffix text (the HTTP API) is cut at tokens by `keep_nearest`, with the same split. The
pipeline's contexts always fit, so nothing cuts them twice.
"""

from __future__ import annotations

LEFT_SHARE = 3 / 4  # the code before the cursor matters more: it gets three quarters


def context_budget(max_seq_len: int, max_tokens: int, wanted: int | None = None) -> int:
    """Context tokens for a span of ``max_tokens``: what the model's window leaves, at most ``wanted``."""
    room = max_seq_len - max_tokens - 1  # one spare position: a shifted model's begin token
    return max(0, room if wanted is None else min(wanted, room))


def split(budget: int) -> tuple[int, int]:
    """(left, right): the shares of the prefix and the suffix."""
    left = int(budget * LEFT_SHARE)
    return left, budget - left


def keep_nearest(prefix: list[int], suffix: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Keep the tokens nearest the cursor: each side its share, a side's unused share goes to the other."""
    left, right = split(budget)
    keep_suffix = min(len(suffix), right + max(left - len(prefix), 0))
    keep_prefix = min(len(prefix), budget - keep_suffix)
    return prefix[len(prefix) - keep_prefix:], suffix[:keep_suffix]
