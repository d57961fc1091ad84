"""Several candidates, one shown or none: length probes, drafts and the hinted denoiser, checks, scores, silence."""

from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from completer.models import open_model
from completer.options import DEFAULT_MIN_SCORE, Options
from lsp.candidates import PROBE_TOKENS, estimate, indent_starts
from lsp.context import build_context
from lsp.drafts import Text
from lsp.pipeline import suggest
from tests.editors.scripted_server import ScriptedModel

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "stats.py"


@dataclass
class SpyModel(ScriptedModel):
    """The scripted model, keeping what each request asked of it."""
    asked: list = field(default_factory=list)  # (span_tokens, max_tokens, hint) per submit

    def submit(self, prefix, suffix, settings, on_draft=None, should_stop=None, hint=None, tokens=None):
        self.asked.append((settings.span_tokens, settings.max_tokens, hint))
        return super().submit(prefix, suffix, settings, on_draft, should_stop)


@pytest.fixture(scope="module")
def bundled():
    model = open_model(None)
    yield model
    model.close()


def test_the_quick_start_suggests_the_line_the_file_itself_shows(bundled):
    source = EXAMPLE.read_text()
    offset = source.index("sum(values) / ") + len("sum(values) / ")
    suggestion = suggest(bundled, source, offset, "python")
    assert suggestion.edit is not None and suggestion.edit.text == "len(values)"
    assert suggestion.choice.shown.source == "draft:document"
    assert suggestion.stats["passes"] <= suggestion.stats["forward_passes"] + 1  # one forward more than the denoiser's


def test_with_nothing_to_go_on_the_bundled_model_stays_silent(bundled):
    source = "import os\n\nresult = \n"
    suggestion = suggest(bundled, source, len("import os\n\nresult = "), "python")
    assert suggestion.edit is None


def test_a_candidate_the_model_is_sure_of_beats_drafts_and_one_with_a_special_token_is_never_shown():
    source = "total = count(items)\nvalue = \n"
    offset = source.index("value = ") + len("value = ")
    sure = SpyModel([{"after": "value = ", "text": "count(items) + 1"}])
    assert suggest(sure, source, offset, "python").edit.text == "count(items) + 1"
    leaking = SpyModel([{"after": "value = ", "text": "count<|endoftext|>"}])
    choice = suggest(leaking, source, offset, "python").choice
    assert choice.rejected.get("special token", 0) >= 1
    assert all("<|" not in c.edit.text for c in choice.candidates)


def test_the_denoiser_runs_at_two_lengths_and_again_with_the_best_draft_as_its_hint():
    source = "def mean(values):\n    return sum(values) / len(values)\n\ndef ratio(values):\n    return sum(values) / \n"
    model = SpyModel([])
    suggestion = suggest(model, source, len(source) - 1, "python")
    lengths = [span for span, _, _ in model.asked]
    assert lengths[:2] == [None, PROBE_TOKENS["line"]]
    assert model.asked[2][2] == suggestion.edit.text == "len(values)"
    assert suggestion.stats["drafts"] > 0


def test_a_model_that_cannot_score_gets_the_checks_and_its_own_candidates_but_no_drafts():
    source = "def mean(values):\n    return sum(values) / len(values)\n\ndef ratio(values):\n    return sum(values) / \n"
    remote = replace(SpyModel([{"after": "/ ", "text": "len(values)"}]), can_score=False)
    suggestion = suggest(remote, source, len(source) - 1, "python", Options(min_score=0))
    assert [c.source for c in suggestion.choice.candidates] == ["denoiser"]  # the probe gave the same text
    assert all(hint is None for _, _, hint in remote.asked) and suggestion.stats["drafts"] == 0
    assert suggestion.edit is not None and suggestion.edit.text == "len(values)"  # no score: min score 0 shows it
    assert suggest(remote, source, len(source) - 1, "python").edit is None  # unscored is unsure: silent by default


def test_the_oracle_length_replaces_the_probes_with_the_true_length():
    model = SpyModel([])
    suggest(model, "x = \n", 4, "python", Options(lookup_drafts=0), oracle_tokens=5)
    assert model.asked == [(5, 5, None)]


def test_drafts_come_from_the_other_texts_given():
    model = SpyModel([])
    source = "client = make_client(\n"
    other = [Text("open", "client = make_client(timeout=30, retries=2)\n")]
    suggestion = suggest(model, source, len(source) - 1, "python", Options(), other)
    assert suggestion.edit is not None and suggestion.edit.text == "timeout=30, retries=2)"  # nothing closes the call
    assert suggestion.choice.shown.source == "draft:open"


def test_scores_rise_with_the_evidence_and_the_default_keeps_one_lexeme_matches_silent():
    assert estimate(1, None) < DEFAULT_MIN_SCORE <= estimate(2, None) < estimate(8, None) == estimate(30, None)
    assert estimate(0, 0.5) > estimate(8, None) and estimate(0, 0.0) == 0.0


@pytest.mark.parametrize(("document", "starts"), [
    ("def f(x):\n|", ["    "]),
    ("def f(x):\n    if x:\n        y = 1\n|", ["        ", "    ", ""]),
    ("def f(x):\n    y = |", [""]),
    ("def f(x):\n  |", ["  "]),
])
def test_a_line_started_at_its_indentation_tries_the_levels_that_can_follow(document, starts):
    offset = document.index("|")
    source = document.replace("|", "")
    ctx = build_context(source, offset, "python", 200)
    assert indent_starts(source[:offset], ctx) == starts
