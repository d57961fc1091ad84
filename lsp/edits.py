"""Edits beyond the cursor, by re-masking code that is already there: next-edit suggestions and rewrites.

A diffusion model reads both sides of a span, so it can judge the code that is there and write a
part of it again. A next edit scores every token of the lines around the cursor and around the
user's recent edits (`completer.likelihood`), re-masks the least likely run of tokens on the worst
line, and denoises it with a variable length (the span ends where the model puts its end token);
a rewrite masks a selection. Either result becomes the few edits that turn the old text into the
new (`minimal_edits`). Nothing is suggested when no token is less likely than the threshold, when
the model writes back what was there, or (for a next edit) when it would only delete.

The LSP server, `completer edit` and `completer eval edits` all call this, so the eval scores
what an editor shows. Context windows come from `lsp.pipeline.context`, decoding settings from the
suggestion's `Options`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from completer.likelihood import TokenScore
from completer.models import Model
from completer.options import DEFAULT_EDIT_THRESHOLD, Options
from lsp import pipeline
from lsp.context import line_bounds

AROUND_CURSOR = 2  # lines scored either side of the cursor's
RECENT_EDITS = 3  # the newest edits whose lines (and one either side) are scored too
MAX_SCORED_LINES = 12
SPAN_SLACK = 4  # masks beyond the old text's tokens: a fix may be longer (a missing argument)
MAX_REWRITE_TOKENS = 256
WORD = re.compile(r"\w+|\s+|[^\w\s]")


@dataclass(frozen=True)
class TextEdit:
    """Replace the document's characters [start, end) with ``text``."""
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class EditSuggestion:
    edits: list[TextEdit]  # empty: nothing to suggest
    unlikeliest: float | None = None  # the lowest probability of a scored token (None: nothing scored)
    masked: tuple[int, int] | None = None  # the characters re-masked and denoised
    stats: dict | None = None  # the denoising's stats


def scored_ranges(document: str, offset: int, recent: Iterable[int] = ()) -> list[tuple[int, int]]:
    """The character ranges to score: lines around the cursor, then lines around the newest edits, whole lines,
    merged, at most `MAX_SCORED_LINES` lines in all."""
    rows: list[int] = []
    for row, around in [(document.count("\n", 0, offset), AROUND_CURSOR)] + \
            [(document.count("\n", 0, min(r, len(document))), 1) for r in list(recent)[-RECENT_EDITS:][::-1]]:
        rows += [r for r in range(row - around, row + around + 1) if r not in rows]
    total = document.count("\n") + 1
    picked = sorted(r for r in rows[:MAX_SCORED_LINES] if 0 <= r < total)
    groups: list[list[int]] = []
    for r in picked:
        if groups and r == groups[-1][-1] + 1:
            groups[-1].append(r)
        else:
            groups.append([r])
    return [(line_bounds(document, g[0])[0], line_bounds(document, g[-1])[1]) for g in groups]


def score(model: Model, document: str, start: int, end: int, language_id: str, options: Options) -> list[TokenScore]:
    """The model's probability of each token of document[start:end], offsets into the document."""
    region = document[start:end]
    ctx = pipeline.context(model, document[:start] + document[end:], start, language_id,
                           replace(options, max_tokens=model.count_tokens(region) + 1))
    return [TokenScore(start + s.start, start + s.end, s.prob) for s in model.score(ctx.prefix, region, ctx.suffix, ctx.tokens).result()]


def infill(model: Model, document: str, start: int, end: int, language_id: str, options: Options, span: str,
           should_stop: Callable[[], bool] | None = None) -> tuple[str, dict]:
    """Mask document[start:end] and denoise it with a variable length: the new text and the decoding's stats."""
    old = model.count_tokens(document[start:end])
    budget = min(2 * old + SPAN_SLACK * 2, MAX_REWRITE_TOKENS)
    sized = replace(options, max_tokens=max(budget, old + SPAN_SLACK))
    ctx = pipeline.context(model, document[:start] + document[end:], start, language_id, sized)
    settings = replace(sized.decoding(span), span_tokens=min(old + SPAN_SLACK, sized.max_tokens))
    completion = model.submit(ctx.prefix, ctx.suffix, settings, should_stop=should_stop, tokens=ctx.tokens).result()
    return completion.text, completion.stats


def next_edit(model: Model, document: str, offset: int, language_id: str, options: Options = Options(),
              recent: Iterable[int] = (), threshold: float = DEFAULT_EDIT_THRESHOLD,
              should_stop: Callable[[], bool] | None = None) -> EditSuggestion:
    """The edit the model would make near the cursor (``offset``) and the ``recent`` edits' offsets, if any."""
    scores = [s for start, end in scored_ranges(document, offset, recent) if document[start:end].strip()
              for s in score(model, document, start, end, language_id, options) if document[s.start:s.end].strip()]
    if not scores:
        return EditSuggestion([])
    worst = min(scores, key=lambda s: s.prob)
    if worst.prob >= threshold:
        return EditSuggestion([], worst.prob)
    start, end = unlikely_run(document, worst, [s for s in scores if s.prob < threshold])
    new, stats = infill(model, document, start, end, language_id, options, "line", should_stop)
    new = new.split("\n", 1)[0]
    edits = minimal_edits(document, start, end, new) if new.strip() else []  # never only delete
    return EditSuggestion(edits, worst.prob, (start, end), stats)


def unlikely_run(document: str, worst: TokenScore, unlikely: list[TokenScore]) -> tuple[int, int]:
    """The characters to re-mask: the unlikely tokens on the worst token's line, first to last, widened to
    whole words and kept off the line's indentation and end."""
    line_start = document.rfind("\n", 0, worst.start) + 1
    line_end = document.find("\n", worst.start)
    line_end = len(document) if line_end < 0 else line_end
    on_line = [s for s in unlikely if line_start <= s.start < line_end] or [worst]
    start, end = max(min(s.start for s in on_line), line_start), min(max(s.end for s in on_line), line_end)
    while start > line_start and word_char(document[start - 1]) and word_char(document[start]):
        start -= 1
    while end < line_end and word_char(document[end - 1]) and word_char(document[end]):
        end += 1
    while start < end and document[start].isspace():
        start += 1
    while end > start and document[end - 1].isspace():
        end -= 1
    return start, end


def word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def rewrite(model: Model, document: str, start: int, end: int, language_id: str, options: Options = Options(),
            should_stop: Callable[[], bool] | None = None) -> EditSuggestion:
    """The selection document[start:end] masked and written again, as edits (none when the text comes back)."""
    span = "line" if "\n" not in document[start:end] else "free"
    new, stats = infill(model, document, start, end, language_id, options, span, should_stop)
    return EditSuggestion(minimal_edits(document, start, end, new), masked=(start, end), stats=stats)


def minimal_edits(document: str, start: int, end: int, new: str) -> list[TextEdit]:
    """The edits, word by word, that turn document[start:end] into ``new``: only what changed."""
    old_words, new_words = WORD.findall(document[start:end]), WORD.findall(new)
    old_at = [start]
    for word in old_words:
        old_at.append(old_at[-1] + len(word))
    matcher = difflib.SequenceMatcher(None, old_words, new_words, autojunk=False)
    return [TextEdit(old_at[i1], old_at[i2], "".join(new_words[j1:j2]))
            for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


def apply_edits(document: str, edits: Iterable[TextEdit]) -> str:
    """The document with non-overlapping edits applied (right to left, so offsets hold)."""
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        document = document[:edit.start] + edit.text + document[edit.end:]
    return document
