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
