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
