"""From a document and a cursor to a suggestion: the one path every front end takes.

Context (`lsp.context`, within the budget `completer.budget` sets), span kind, then candidates
(`lsp.candidates`: the denoiser of a scheduler or a remote model with the effort's settings, drafts
from the user's code, post-processing, right-context checks, scores) and the one shown, if any.
The language server, `completer complete`, the evals and the arena all call this, so every
figure we publish measures what an editor gets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from completer.models import Model
from completer.options import Options
from lsp.candidates import Choice, choose
from lsp.context import Context, build_context
from lsp.drafts import Text
from lsp.postprocess import Edit


@dataclass(frozen=True)
class Suggestion:
    edit: Edit | None  # None: nothing worth showing
    raw: str  # the denoiser's infill before post-processing
    stats: dict
    context: Context
    choice: Choice  # every candidate that passed the checks, scored, and what the checks stopped


def context(model: Model, document: str, offset: int, language_id: str, options: Options) -> Context:
    """The windows the model reads: as many tokens as the budget allows with room for the span, and the span's
    kind: the cursor's context picks it unless the options name one.

    Lines are counted one by one; should the joined windows still tokenize past the budget, they
    are cut again by lines with the excess taken off, so the model never cuts them mid-line.
    """
    budget = model.context_budget(options.max_tokens, options.context_tokens)
    target = budget
    while True:
        ctx = build_context(document, offset, language_id, target, model.count_tokens)
        tokens = model.tokens(ctx.prefix), model.tokens(ctx.suffix)  # once: every model call is handed them
        if tokens[0] is None:  # a remote model: its tokenizer is not ours, its server cuts what is too long
            tokens, used = None, model.count_tokens(ctx.prefix) + model.count_tokens(ctx.suffix)
        else:
            used = len(tokens[0]) + len(tokens[1])
        excess = used - budget
        if excess <= 0 or target <= 0:
            return replace(ctx, span=options.span or ctx.span, tokens=tokens)
        target = max(target - excess, target // 2)  # halving at most: a cut long line converges instead of vanishing


def ask_while_typing(model: Model, document: str, offset: int, language_id: str, options: Options, keystrokes: int) -> None:
    """Ask at each of the last ``keystrokes`` characters before ``offset`` as they are typed, and drop the
    answers: the evals' next request then meets the engine as an editor's requests leave it."""
    for n in range(min(keystrokes, offset), 0, -1):  # the document before its last n characters
        suggest(model, document[:offset - n] + document[offset:], offset - n, language_id, options)


def suggest(model: Model, document: str, offset: int, language_id: str, options: Options = Options(),
            texts: list[Text] = (), oracle_tokens: int | None = None) -> Suggestion:
    """Blocking: the suggestion an editor would show at ``offset``.

    ``texts``: the user's other code drafts may come from (open documents, workspace files).
    ``oracle_tokens`` (evals only): the span's budget is the true length in tokens, no length probes.
    """
    ctx = context(model, document, offset, language_id, options)
    return suggest_in(model, ctx, document, offset, language_id, options, texts, oracle_tokens)


def suggest_in(model: Model, ctx: Context, document: str, offset: int, language_id: str, options: Options,
               texts: list[Text] = (), oracle_tokens: int | None = None, on_draft: Callable[[str], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> Suggestion:
    """`suggest` with its context already built (the language server looks it up in its cache first);
    raises Cancelled once ``should_stop``. ``on_draft`` gets the denoiser's raw drafts as it works."""
    sized = options if oracle_tokens is None else replace(options, max_tokens=oracle_tokens)
    choice = choose(model, ctx, document, offset, language_id, lambda n: sized.decoding(ctx.span, n), list(texts),
                    options.lookup_drafts, options.min_score, oracle_tokens, on_draft, should_stop)
    return Suggestion(choice.shown.edit if choice.shown else None, choice.raw, choice.stats, ctx, choice)
