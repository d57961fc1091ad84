"""The language server's settings: every key an option of the one table, camelCase, checked there; without a server."""

import pytest

from completer.options import BadOption
from lsp.settings import Settings


def test_settings_accept_editor_options_and_language_maps_or_lists():
    settings = Settings().updated({"model": "/models/x", "maxTokens": 32, "threshold": None, "languages": {"go": False},
                                   "threads": 1, "refreshEvery": 4, "contextTokens": 768, "minScore": 0,
                                   "steps": 8, "reuseKeys": False, "lookupDrafts": 2, "editThreshold": 1e-3})
    options = settings.options
    assert (settings.model, settings.threads, settings.edit_threshold) == ("/models/x", 1, 1e-3)
    assert (options.max_tokens, options.threshold, options.steps, options.lookup_drafts, options.min_score) == (32, None, 8, 2, 0.0)
    assert (options.refresh_every, options.context_tokens) == (4, 768)
    assert not options.reuse_keys and options.decoding("free").reuse_keys is False
    assert settings.enabled("python") and not settings.enabled("go")
    listed = settings.updated({"languages": ["python"]})
    assert listed.enabled("python") and not listed.enabled("rust")
    assert settings.updated({"languages": ["*"]}).enabled("rust")  # what the plugins send for every language


def test_a_key_left_out_keeps_its_value_and_a_key_no_option_of_the_server_has_is_not_read():
    settings = Settings().updated({"maxTokens": 16}).updated({"effort": "low", "enable": True, "temperature": 1.5})
    assert (settings.options.max_tokens, settings.options.effort) == (16, "low")
    assert settings.options.temperature == 0.0  # the language server takes no temperature: not its key


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"maxTokens": 0}, "completer.maxTokens must be a whole number from 1 to 1024, got 0"),
        ({"maxTokens": 1025}, "completer.maxTokens must be a whole number from 1 to 1024, got 1025"),
        ({"maxTokens": None}, "completer.maxTokens must be a whole number from 1 to 1024, got None"),
        ({"effort": "max"}, "completer.effort must be one of low, medium, high, got 'max'"),
        ({"threshold": 2}, "completer.threshold must be a number in (0, 1], got 2"),
        ({"threshold": 0}, "completer.threshold must be a number in (0, 1], got 0"),
        ({"languages": "python"}, "completer.languages must be a list of languageIds or a map languageId -> bool, got 'python'"),
        ({"languages": {"go": "off"}}, "completer.languages must be a list of languageIds or a map languageId -> bool, "
                                     "got {'go': 'off'}"),
        ({"model": ""}, "completer.model must be a checkpoint folder, hub id or http(s)://HOST/v1 endpoint, got ''"),
        ({"threads": 0}, "completer.threads must be a whole number >= 1, got 0"),
        ({"steps": 0}, "completer.steps must be a whole number >= 1, got 0"),
        ({"refreshEvery": -1}, "completer.refreshEvery must be a whole number >= 0, got -1"),
        ({"refreshEvery": 1.5}, "completer.refreshEvery must be a whole number >= 0, got 1.5"),
        ({"reuseKeys": "yes"}, "completer.reuseKeys must be true or false, got 'yes'"),
        ({"drafts": 1}, "completer.drafts must be true or false, got 1"),
        ({"lookupDrafts": -1}, "completer.lookupDrafts must be a whole number >= 0, got -1"),
        ({"lookupDrafts": True}, "completer.lookupDrafts must be a whole number >= 0, got True"),
        ({"minScore": 1.5}, "completer.minScore must be a number in [0, 1], got 1.5"),
        ({"minScore": "high"}, "completer.minScore must be a number in [0, 1], got 'high'"),
        ({"editThreshold": float("nan")}, "completer.editThreshold must be a number in [0, 1], got nan"),
    ],
)
def test_bad_settings_name_the_key_and_the_value(options: dict, message: str):
    with pytest.raises(BadOption) as error:
        Settings().updated(options)
    assert str(error.value) == message
