"""LRU cache, typed-ahead reuse and settings parsing, without a server."""

import pytest

from lsp.memory import MISSING, LRUCache, Shown, typed_ahead
from lsp.postprocess import Edit
from lsp.settings import Settings


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


def test_settings_accept_editor_options_and_language_maps_or_lists():
    settings = Settings().updated({"model": "/models/x", "maxTokens": 32, "threshold": None, "languages": {"go": False},
                                   "threads": 1, "refreshEvery": 4, "contextTokens": 768,
                                   "steps": 8, "reuseKeys": False, "lookupDrafts": 2, "minScore": 0.2})
    assert (settings.options().lookup_drafts, settings.options().min_score) == (2, 0.2)
    assert (settings.model, settings.max_tokens, settings.threshold, settings.threads) == ("/models/x", 32, None, 1)
    assert (settings.options().refresh_every, settings.options().context_tokens, settings.options().steps) == (4, 768, 8)
    assert not settings.options().reuse_keys and settings.options().decoding("free").reuse_keys is False
    assert settings.enabled("python") and not settings.enabled("go")
    listed = settings.updated({"languages": ["python"]})
    assert listed.enabled("python") and not listed.enabled("rust")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"maxTokens": 0}, "maxTokens must be a positive integer"),
        ({"threshold": 2}, "threshold must be a number in (0, 1]"),
        ({"languages": "python"}, "languages must be a list"),
        ({"model": ""}, "model must be a checkpoint path"),
        ({"threads": 0}, "threads must be a positive integer"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"refreshEvery": -1}, "refreshEvery must be a whole number of passes >= 0"),
        ({"refreshEvery": 1.5}, "refreshEvery must be a whole number of passes >= 0"),
        ({"reuseKeys": "yes"}, "reuseKeys must be true or false"),
        ({"lookupDrafts": -1}, "lookupDrafts must be a whole number of drafts >= 0"),
        ({"lookupDrafts": True}, "lookupDrafts must be a whole number of drafts >= 0"),
        ({"minScore": 1.5}, "minScore must be a number in .0, 1."),
        ({"minScore": "high"}, "minScore must be a number in .0, 1."),
    ],
)
def test_bad_settings_name_the_key_and_the_value(options: dict, message: str):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("]", r"\]")):
        Settings().updated(options)
