"""Next edits and rewrites (`lsp.edits`): what is scored, what is re-masked, and the edits that come back.

The scripted model (tests.editors.scripted_server) pins the logic: which words are unlikely and
what the model writes. The tiny random checkpoint runs the same path on a real model.
"""

from __future__ import annotations

import pytest

from completer.models import open_model
from lsp.edits import (MAX_SCORED_LINES, TextEdit, apply_edits, minimal_edits, next_edit, rewrite, scored_ranges,
                       unlikely_run)
from completer.likelihood import TokenScore
from completer.options import Options
from tests.editors.scripted_server import ScriptedModel

SOURCE = "def add_all(values):\n    total = 0\n    for value in values:\n        total += valeu\n    return total\n"
TYPO = SOURCE.index("valeu")


@pytest.fixture(scope="module")
def tiny(tiny_model):
    scheduler = open_model(str(tiny_model), capacity=2)
    yield scheduler
    scheduler.close()


def scripted(text: str, after: str = "total += ") -> ScriptedModel:
    return ScriptedModel([{"after": after, "text": text}], unlikely=["valeu"])


def test_minimal_edits_change_only_the_words_that_differ():
    line = "print(total, valeu)"
    assert minimal_edits(line, 0, len(line), "print(total, value)") == [TextEdit(13, 18, "value")]
    assert minimal_edits("f(a)", 0, 4, "f(a, b)") == [TextEdit(3, 3, ", b")]
    assert minimal_edits("x = a - b", 4, 9, "a + b") == [TextEdit(6, 7, "+")]
    assert minimal_edits("same", 0, 4, "same") == []


def test_applying_edits_keeps_every_offset_right():
    edits = [TextEdit(0, 1, "X"), TextEdit(4, 4, "++"), TextEdit(6, 8, "")]
    assert apply_edits("abcdefgh", edits) == "Xbcd++ef"


def test_scored_lines_are_around_the_cursor_and_the_recent_edits_and_capped():
    text = "".join(f"line{i}\n" for i in range(40))
    row_of = lambda offset: text.count("\n", 0, offset)
    ranges = scored_ranges(text, text.index("line10"), recent=[text.index("line30")])
    assert [(row_of(a), row_of(b)) for a, b in ranges] == [(8, 12), (29, 31)]
    assert all(text[b] == "\n" and (a == 0 or text[a - 1] == "\n") for a, b in ranges)  # whole lines
    many = [text.index(f"line{i}") for i in range(0, 40, 3)]
    assert sum(row_of(b) - row_of(a) + 1 for a, b in scored_ranges(text, 0, many)) <= MAX_SCORED_LINES
    assert scored_ranges(text, 0) == [(0, text.index("\nline3"))]  # clamped at the first line


def test_the_run_re_masked_is_the_unlikely_words_on_the_worst_line_without_indentation():
    worst = TokenScore(TYPO + 2, TYPO + 4, 1e-6)  # a piece of the misspelled word
    assert SOURCE[slice(*unlikely_run(SOURCE, worst, [worst]))] == "valeu"
    indent = SOURCE.index("        total +=")
    pieces = [TokenScore(indent, indent + 13, 1e-6), worst]
    assert SOURCE[slice(*unlikely_run(SOURCE, worst, pieces))] == "total += valeu"


def test_an_unlikely_word_is_rewritten_as_the_model_writes_it():
    suggestion = next_edit(scripted("value"), SOURCE, TYPO, "python", threshold=1e-3)
    assert suggestion.edits == [TextEdit(TYPO, TYPO + 5, "value")]
    assert apply_edits(SOURCE, suggestion.edits) == SOURCE.replace("valeu", "value")
    assert suggestion.unlikeliest == 1e-6


def test_a_recent_edit_far_from_the_cursor_is_scored_too():
    text = SOURCE + "\n" * 20 + "print(add_all([1]))\n"
    cursor = text.index("print")
    assert next_edit(scripted("value"), text, cursor, "python", threshold=1e-3).edits == []
    assert next_edit(scripted("value"), text, cursor, "python", recent=[TYPO], threshold=1e-3).edits == [TextEdit(TYPO, TYPO + 5, "value")]


@pytest.mark.parametrize("written", ["valeu", "", "   "], ids=["same-text", "deletes", "blank"])
def test_no_edit_when_the_model_writes_it_back_or_would_only_delete(written):
    assert next_edit(scripted(written), SOURCE, TYPO, "python", threshold=1e-3).edits == []


def test_no_edit_when_no_token_is_less_likely_than_the_threshold():
    suggestion = next_edit(scripted("value"), SOURCE, TYPO, "python", threshold=1e-7)
    assert suggestion.edits == [] and suggestion.masked is None


def test_a_rewrite_masks_the_selection_and_returns_the_words_that_changed():
    start, end = SOURCE.index("total += valeu"), SOURCE.index("valeu") + 5
    suggestion = rewrite(scripted("total += value", after="for value in values:\n        "), SOURCE, start, end, "python")
    assert suggestion.edits == [TextEdit(TYPO, TYPO + 5, "value")]


def test_on_a_real_checkpoint_a_next_edit_changes_only_the_masked_line(tiny):
    options = Options(reuse_keys=False)
    assert next_edit(tiny, SOURCE, TYPO, "python", options, threshold=0.0).edits == []
    suggestion = next_edit(tiny, SOURCE, TYPO, "python", options, threshold=1.0)
    start, end = suggestion.masked
    assert "\n" not in SOURCE[start:end] and SOURCE[start:end].strip() == SOURCE[start:end]
    assert all(start <= e.start <= e.end <= end and "\n" not in e.text for e in suggestion.edits)
    assert suggestion.stats["forward_passes"] >= 1
    again = next_edit(tiny, SOURCE, TYPO, "python", options, threshold=1.0)  # greedy: the same again
    assert (again.edits, again.masked) == (suggestion.edits, suggestion.masked)


def test_on_a_real_checkpoint_a_rewrite_stays_inside_the_selection(tiny):
    start, end = SOURCE.index("    for"), SOURCE.index("    return")
    suggestion = rewrite(tiny, SOURCE, start, end, "python", Options(reuse_keys=False))
    assert suggestion.masked == (start, end)
    assert all(start <= e.start <= e.end <= end for e in suggestion.edits)
    changed = apply_edits(SOURCE, suggestion.edits)
    assert changed.startswith(SOURCE[:start]) and changed.endswith(SOURCE[end:])
