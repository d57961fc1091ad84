"""The pipeline's context budget: one owner, room left for the span, never cut a second time by the model."""

from __future__ import annotations

import pytest

from completer.budget import context_budget, keep_nearest, split
from completer.options import Options
from completer.models import open_model
from lsp.pipeline import context, suggest
from tests.helpers import make_tiny_checkpoint

LONG = "".join(f"def f{i}(x):\n    return x * {i} + {i}\n\n" for i in range(300))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    scheduler = open_model(str(make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))))
    yield scheduler
    scheduler.close()


@pytest.mark.parametrize("options", [Options(), Options(max_tokens=1500), Options(context_tokens=200)],
                         ids=["default", "long span", "small budget"])
def test_the_context_fits_the_budget_left_by_the_span_and_the_model_reads_all_of_it(model, options):
    offset = LONG.index("def f150")
    budget = context_budget(model.model.config.max_seq_len, options.max_tokens, options.context_tokens)
    ctx = context(model, LONG, offset, "python", options)
    read = model.count_tokens(ctx.prefix) + model.count_tokens(ctx.suffix)
    assert budget * 0.6 <= read <= budget  # most of the budget (cuts land on statement starts), never more
    result = suggest(model, LONG, offset, "python", options)
    assert result.stats["context_tokens"] == read  # nothing cut again at tokens


def test_raw_text_keeps_the_tokens_nearest_the_cursor_with_the_same_split():
    left, right = split(100)
    assert (left, right) == (75, 25)
    prefix, suffix = keep_nearest(list(range(500)), list(range(1000, 1500)), 100)
    assert prefix == list(range(425, 500)) and suffix == list(range(1000, 1025))
    prefix, suffix = keep_nearest(list(range(10)), list(range(1000, 1500)), 100)  # a short side lends its share
    assert prefix == list(range(10)) and len(suffix) == 90


def test_a_suggestion_tokenizes_its_windows_once_and_each_line_at_most_once(model, monkeypatch):
    """The pipeline encodes the windows it built and hands the ids to every model call (the denoiser, its
    length probe, the ranking): none of them encodes the context again."""
    encoded: list[str] = []
    encode = model.tokenizer.encode
    monkeypatch.setattr(model.tokenizer, "encode", lambda text: encoded.append(text) or encode(text))
    offset = LONG.index("def f150")
    result = suggest(model, LONG, offset, "python", Options(lookup_drafts=0, min_score=0))
    ctx = result.context
    assert ctx.tokens == (encode(ctx.prefix), encode(ctx.suffix))
    assert encoded.count(ctx.prefix) == 1 and encoded.count(ctx.suffix) == 1
    lines = [text for text in encoded if text.endswith("\n") and text.count("\n") == 1]
    assert lines and len(lines) == len(set(lines))
