"""LRU cache and typed-ahead reuse, without a server."""

import pytest

from lsp.memory import MISSING, LRUCache, Shown, typed_ahead
from lsp.postprocess import Edit


def test_lru_cache_evicts_the_least_recently_used_and_stores_no_suggestion_too():
    cache = LRUCache(size=2)
    cache.put("a", Edit("1"))
    cache.put("b", None)
    assert cache.get("a") == Edit("1")  # "a" is now the most recent
    cache.put("c", Edit("3"))
    assert cache.get("b") is MISSING
    assert cache.get("a") == Edit("1") and cache.get("c") == Edit("3")


def test_typed_ahead_returns_the_rest_of_the_shown_suggestion():
    shown = Shown("x = ", ")\n", Edit("compute(1) + 2", replace=1))
    assert typed_ahead(shown, "x = comp", ")\n") == Edit("ute(1) + 2", replace=1)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("x = ", "\n"),  # nothing typed: a repeat, which is the cache's job
        ("x = cop", "\n"),  # typed something else
        ("x = compute(1) + 2", "\n"),  # typed it all
        ("x = comp", "\nmore\n"),  # the text after the cursor changed
        ("y = comp", "\n"),  # the text before the shown cursor changed
    ],
)
def test_typed_ahead_declines_when_the_user_left_the_suggestion(before: str, after: str):
    assert typed_ahead(Shown("x = ", "\n", Edit("compute(1) + 2")), before, after) is None
