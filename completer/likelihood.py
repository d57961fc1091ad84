"""How likely the model finds each token that is already there: the signal behind next-edit suggestions.

A masked-diffusion denoiser predicts masked positions from both sides, so the probability it
gives the token a position actually holds says how well that token fits its surroundings. A
misspelled name, a wrong operator or a stale identifier reads as an unlikely token. Masking every
token at once would leave nothing to judge by; masking one at a time costs a pass per token. Here
row k of one batch masks every `stride`-th token of the region from its k-th, so each token is
judged with its nearest neighbours in view, and a region of any length costs ``stride`` rows of
one forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .model import Transformer
from .tokenizer import Tokenizer

DEFAULT_STRIDE = 4  # each token judged with the 3 tokens either side of it in view


@dataclass(frozen=True)
class TokenScore:
    """One token of the scored text: its characters [start, end) and the model's probability of it."""
    start: int
    end: int
    prob: float


def token_probs(model: Transformer, tok: Tokenizer, prefix: list[int], region: list[int], suffix: list[int],
                stride: int = DEFAULT_STRIDE) -> list[float]:
    """The probability of each token of ``region`` with it (and every stride-th token around it) masked.

    One forward over ``min(stride, len(region))`` copies of ``prefix + region + suffix``, no cache:
    the copies differ only in which positions are masked.
    """
    if not region:
        return []
    shift = 1 if model.config.shift_logits else 0
    if shift and not prefix:  # a shifted model reads position i's prediction off position i-1
        prefix = [tok.bos_id if tok.bos_id is not None else tok.end_id]
    rows = min(stride, len(region))
    P, R = len(prefix), len(region)
    device = model.embed_tokens.weight.device
    tokens = torch.tensor(prefix + region + suffix, device=device).repeat(rows, 1)
    where = torch.arange(R, device=device)
    tokens[where % rows, P + where] = tok.mask_id
    with torch.inference_mode():
        positions = torch.arange(tokens.shape[1], device=device)
        hidden = model.hidden(tokens, positions, None)
        picked = hidden[where % rows, P - shift + where]  # each token's row is the one that masked it
        logits = model.lm_head(model.norm(picked)).float()
        # a mask is never the answer, and a token that is there is no end: the end tokens' share (a denoiser's
        # way to say "the span may stop here") is left out, so what is compared is real tokens only
        logits[:, [tok.mask_id, *tok.end_ids]] = -torch.inf
        probs = torch.softmax(logits, dim=-1).gather(1, torch.tensor(region, device=device)[:, None])
    return probs.squeeze(1).tolist()


def span_scores(model: Transformer, tok: Tokenizer, prefix: list[int], spans: list[list[int]], suffix: list[int]) -> list[float]:
    """How likely the model finds each candidate filling of the span between ``prefix`` and ``suffix``:
    the mean log-probability of its tokens as the denoiser's first pass over a span of its length
    predicts them, in one forward for every candidate.

    A row is ``prefix + [MASK] * n + [end ...] + suffix``, the span padded with end tokens to the
    longest candidate plus one: the state of a span of n tokens that ends there, every row one length
    (no padding mask). With every span position masked, a row depends only on n, so candidates of one
    length share a row: the forward has a row per distinct length, which keeps it within a keystroke's
    budget on a CPU. An empty candidate scores 0.
    """
    lengths = sorted({len(s) for s in spans if s})
    if not lengths:
        return [0.0] * len(spans)
    shift = 1 if model.config.shift_logits else 0
    if shift and not prefix:
        prefix = [tok.bos_id if tok.bos_id is not None else tok.end_id]
    P, L, device = len(prefix), lengths[-1] + 1, model.embed_tokens.weight.device
    rows = [prefix + [tok.mask_id] * n + [tok.end_id] * (L - n) + suffix for n in lengths]
    row_of = [lengths.index(len(s)) for s in spans for _ in s]
    at = [P - shift + j for s in spans for j in range(len(s))]
    owner = [i for i, s in enumerate(spans) for _ in s]
    with torch.inference_mode():
        tokens = torch.tensor(rows, device=device)
        hidden = model.hidden(tokens, torch.arange(tokens.shape[1], device=device), None)
        logits = model.lm_head(model.norm(hidden[row_of, at])).float()
        logits[:, [tok.mask_id, *tok.end_ids]] = -torch.inf  # what is compared is real tokens only, as in token_probs
        wanted = torch.tensor([t for s in spans for t in s], device=device)
        logp = torch.log_softmax(logits, dim=-1).gather(1, wanted[:, None]).squeeze(1)
        sums = torch.zeros(len(spans), device=device).index_add_(0, torch.tensor(owner, device=device), logp)
    return [total / len(s) if s else 0.0 for total, s in zip(sums.tolist(), spans)]
