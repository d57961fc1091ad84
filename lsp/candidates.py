"""Several candidates, one shown, or none: the choice an editor's ghost text rests on.

One request asks for several candidates at once: the denoiser at two span lengths (a diffusion model
loses much of its infill quality to a wrong span length), drafts from the user's own code
(`lsp.drafts`), and the denoiser again with the best draft as its hint (it keeps the draft's tokens it
agrees with and denoises the rest). The denoiser jobs share the scheduler's batched passes. Every
candidate is post-processed (`lsp.postprocess`) and checked against the code right of the cursor
(`lsp.checks`); one more batched forward scores the survivors in place (`Model.rank`). Each gets a
score, an estimate of how often a suggestion like it is right; the best is shown when its score
reaches ``min_score``, and otherwise nothing is (silence beats a wrong suggestion).

A remote model gets the checks and its own two candidates, no drafts: it cannot score them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace

from completer.errors import Cancelled
from completer.models import Model
from completer.tokenizer import without_lone_surrogates
from lsp import drafts
from lsp.checks import Checker, opens_block, previous_code_line
from lsp.context import Context, leading_whitespace
from lsp.postprocess import Edit, finish

# The denoiser's span lengths besides its default first budget (one block, 32): most lines and many block
# bodies are shorter. A longer probe (64) cost the bundled model 34 passes on a block span.
PROBE_TOKENS = {"line": 12, "block": 16, "free": 12}

# How often the best candidate was the right text, measured with the bundled model on 888 holes mined from
# Python's standard library (not the benchmarks; `python -m evals.calibrate --limit 900`, README
# "Candidates, checks, drafts and silence"), adjacent levels pooled where a smaller sample broke the order:
# by how many lexemes before the cursor a draft's match agreed on (index, 8 and up share the last) ...
DRAFT_PRECISION = (0.0, 0.03, 0.045, 0.057, 0.057, 0.12, 0.12, 0.21, 0.31)
# ... and by the model's confidence in the text (geometric-mean token probability in place): from each
# lower bound up. Another model calibrates with `--model`; its own figures belong in these tables.
CONFIDENCE_PRECISION = ((0.01, 0.5), (0.0, 0.0))


@dataclass(frozen=True)
class Candidate:
    edit: Edit
    source: str  # "denoiser", "denoiser-probe", "denoiser-hinted", "draft:document" | "draft:open" | "draft:workspace"
    order: int = 0  # a draft's match: lexemes before the cursor it agreed on
    fixes: int = 0  # syntax errors near the span it resolves (`lsp.checks`)
    confidence: float | None = None  # the model's geometric-mean token probability in place; None: not scored
    score: float = 0.0  # how often a suggestion like this is right (DRAFT_PRECISION, confidence)


@dataclass(frozen=True)
class Choice:
    shown: Candidate | None  # None: nothing worth showing
    candidates: list[Candidate]  # those that passed the checks, best first
    rejected: dict[str, int]  # failed check -> candidates it stopped
    raw: str  # the denoiser's own infill before post-processing
    stats: dict  # the denoiser's decoding stats, plus passes (all of the request's batched forwards) and drafts


def choose(model: Model, ctx: Context, document: str, offset: int, language_id: str, settings_for: Callable,
           texts: list[drafts.Text], n_drafts: int, min_score: float, span_tokens: int | None = None,
           on_draft: Callable[[str], None] | None = None, should_stop: Callable[[], bool] | None = None) -> Choice:
    """Blocking: ask for every candidate, check, score and pick (raises Cancelled when stopped).

    ``settings_for(span_tokens)`` gives the decoding settings of one denoiser job; ``span_tokens`` set
    (the evals' oracle length) replaces the length probes with that one length.
    """
    checker = Checker(ctx, language_id, model.special_texts)
    rejected: Counter[str] = Counter()
    passed: list[Candidate] = []

    def consider(raw: str, source: str, order: int = 0) -> None:
        edit = finish(raw, ctx)
        if edit is None or any(c.edit == edit for c in passed):
            return
        verdict = checker.check(edit)
        if not verdict.ok:
            rejected[verdict.reason] += 1
            return
        passed.append(Candidate(edit, source, order, verdict.fixes))

    found = []
    if model.can_score and n_drafts > 0:
        document = without_lone_surrogates(document)  # one character for one: the offset holds
        before = document[:offset]
        sources = [drafts.Text("document", document, offset)] + texts
        found = (drafts.grow(before, sources[:1 + sum(t.source == "open" for t in texts)], ctx.span != "line",
                             indent_starts(before, ctx), n_drafts)
                 + drafts.lookup(before, sources, ctx.span != "line", n_drafts))
        for draft in found:
            consider(draft.text, f"draft:{draft.source}", draft.order)
    hint = next((c.edit.text for c in passed), None)
    lengths = [span_tokens] if span_tokens else [None, PROBE_TOKENS[ctx.span]]
    jobs = [(model.submit(ctx.prefix, ctx.suffix, settings_for(n), on_draft=on_draft if i == 0 else None,
                          should_stop=should_stop, tokens=ctx.tokens), "denoiser" if i == 0 else "denoiser-probe")
            for i, n in enumerate(lengths)]
    if hint is not None:
        jobs.append((model.submit(ctx.prefix, ctx.suffix, settings_for(None), should_stop=should_stop, hint=hint,
                                  tokens=ctx.tokens),
                     "denoiser-hinted"))
    try:
        completions = [(job.result(), source) for job, source in jobs]
    finally:
        for job, _ in jobs:
            job.cancel()
    for completion, source in completions:
        consider(completion.text, source)
    stats = dict(completions[0][0].stats)
    stats["passes"] = max(c.stats.get("forward_passes", 0) for c, _ in completions)
    if hint is not None:
        stats["hinted_passes"] = completions[-1][0].stats.get("forward_passes", 0)
        stats["accepted_tokens"] = completions[-1][0].stats.get("accepted_tokens", 0)
    stats["drafts"] = len(found)
    if should_stop is not None and should_stop():
        raise Cancelled("superseded or cancelled")
    scored = rank(model, ctx, passed)
    if model.can_score and passed:
        stats["passes"] += 1
    best = scored[0] if scored and scored[0].score >= min_score else None
    return Choice(best, scored, dict(rejected), completions[0][0].text, stats)


def rank(model: Model, ctx: Context, candidates: list[Candidate]) -> list[Candidate]:
    """Scores (`estimate`), best first; ties go to the one that fixes more of the code around it, then
    keep the order they were asked in (drafts, nearest source first, then the denoiser's)."""
    confidences: list[float | None] = [None] * len(candidates)
    if model.can_score and candidates:
        texts = [in_place(c.edit, ctx) for c in candidates]
        confidences = [math.exp(x) for x in model.rank(ctx.prefix, texts, ctx.suffix, ctx.tokens).result()]
    scored = [replace(c, confidence=conf, score=estimate(c.order, conf)) for c, conf in zip(candidates, confidences)]
    return sorted(scored, key=lambda c: (-c.score, -c.fixes))


def estimate(order: int, confidence: float | None) -> float:
    """How often a candidate like this was right: its draft's match length or the model's confidence, the higher."""
    by_model = next(p for low, p in CONFIDENCE_PRECISION if (confidence or 0.0) >= low)
    return max(DRAFT_PRECISION[min(order, len(DRAFT_PRECISION) - 1)], by_model)


def in_place(edit: Edit, ctx: Context) -> str:
    """What an edit adds between the context's prefix and suffix (the closers it re-types are already there)."""
    if edit.replace and edit.text.endswith(ctx.suffix[:edit.replace]):
        return edit.text[:len(edit.text) - edit.replace]
    return edit.text


def indent_starts(before: str, ctx: Context) -> list[str]:
    """Indentations a draft for a line started at its indentation may take, most likely first: deeper
    after a block opener, else the line above's, then each level out. Empty mid-line."""
    if ctx.line_prefix.strip():
        return [""]
    above = previous_code_line(before[:len(before) - len(ctx.line_prefix)]) or ""
    indent, unit = leading_whitespace(above), ctx.indent_unit
    if opens_block(above):
        levels = [indent + unit]
    else:
        levels = [indent[:len(indent) - k * len(unit)] for k in range(len(indent) // len(unit) + 1)]
    return [level[len(ctx.line_prefix):] for level in levels if level.startswith(ctx.line_prefix)] or [""]
