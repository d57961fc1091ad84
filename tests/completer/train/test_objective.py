"""Masked-diffusion loss: only masked positions count, weighted 1/t; infill spans end in end tokens."""

import math

import pytest
import torch
import torch.nn.functional as F

from completer.train.objective import (BLOCK, MAX_SPAN, Corruption, Objective, diffusion_loss, random_masking)

MASK, END, NEWLINE, VOCAB = 1, 0, 5, 100
NEWLINES = torch.arange(VOCAB) == NEWLINE


def code_like(rows: int, length: int, seed: int = 0) -> torch.Tensor:
    """Token rows with a newline every 3-15 tokens and no special ids."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(6, VOCAB, (rows, length), generator=g)
    tokens[torch.rand(rows, length, generator=g) < 0.12] = NEWLINE
    return tokens


def infill_spans(c: Corruption, tokens: torch.Tensor) -> list[tuple[int, int]]:
    """Check each row is prefix + true middle + end padding + shifted suffix; return (start, middle length)."""
    spans = []
    for row in range(tokens.shape[0]):
        span = (c.inputs[row] == MASK).nonzero().flatten()
        start, length = int(span[0]), len(span)
        assert length % BLOCK == 0 and length == int(span[-1]) - start + 1  # one contiguous block-multiple span
        middle = c.targets[row, start:start + length]
        n_true = int((middle != END).sum())
        assert n_true <= MAX_SPAN and torch.all(middle[n_true:] == END) and length > 0
        assert torch.equal(c.targets[row, :start + n_true], tokens[row, :start + n_true])  # prefix + middle intact
        assert torch.equal(c.targets[row, start + length:], tokens[row, start + n_true:tokens.shape[1] - length + n_true])
        assert math.isclose(float(c.weights[row].sum()), 1.0, rel_tol=1e-5)
        assert torch.all(c.weights[row][c.inputs[row] != MASK] == 0)
        spans.append((start, n_true))
    return spans


def test_random_masking_weights_masked_positions_by_one_over_t_times_length():
    tokens = torch.arange(2, 202).view(4, 50)
    c = random_masking(tokens, MASK, torch.Generator().manual_seed(0))
    masked = c.inputs == MASK
    assert torch.equal(c.targets, tokens)
    assert torch.equal(c.inputs[~masked], tokens[~masked])
    assert torch.all(c.weights[~masked] == 0)
    for row in range(4):
        weights = c.weights[row][masked[row]]
        assert torch.allclose(weights, weights[0].expand_as(weights))  # one t per sequence
        t = 1 / (weights[0] * 50)
        assert 0 < t <= 1


def test_loss_is_a_hand_computed_weighted_sum_over_masked_positions_only():
    targets = torch.tensor([[3, 4, 5], [6, 7, 8]])
    logits = torch.randn(2, 3, 10, generator=torch.Generator().manual_seed(1))
    t = torch.tensor([0.5, 0.25])
    weights = torch.tensor([[1, 0, 1], [0, 1, 0]]) / (t[:, None] * 3)
    corruption = Corruption(torch.where(weights > 0, MASK, targets), targets, weights)
    logp = F.log_softmax(logits, dim=-1)
    by_hand = (-(logp[0, 0, 3] + logp[0, 2, 5]) / (0.5 * 3) - logp[1, 1, 7] / (0.25 * 3)) / 2
    assert torch.allclose(diffusion_loss(logits, corruption), by_hand)
    logits[0, 1] += 100 * torch.randn(10)  # an unmasked position: the loss must not move
    assert torch.allclose(diffusion_loss(logits, corruption), by_hand)


def test_random_infill_span_is_the_true_middle_then_end_tokens_to_a_block_multiple():
    tokens = torch.arange(10, 10 + 64 * 128).view(64, 128)
    c = Objective(MASK, END, VOCAB, infill_fraction=1.0).corrupt(tokens, torch.Generator().manual_seed(3))
    spans = infill_spans(c, tokens)
    lengths = [n for _, n in spans]
    assert min(lengths) >= 1 and max(lengths) > 32 and len(set(lengths)) > 20
    assert max(start for start, _ in spans) > 32  # spans land all over the window


def test_line_spans_run_from_inside_a_line_to_its_end_and_may_be_empty():
    tokens = code_like(64, 160)
    objective = Objective(MASK, END, VOCAB, infill_fraction=1.0, span_shapes=("line",), newline=NEWLINES)
    spans = infill_spans(objective.corrupt(tokens, torch.Generator().manual_seed(4)), tokens)
    for row, (start, n) in enumerate(spans):
        assert NEWLINE not in tokens[row, start:start + n].tolist()  # the newline stays in the suffix
        assert tokens[row, start + n] == NEWLINE or n == MAX_SPAN
    assert any(n == 0 for _, n in spans) and any(n > 3 for _, n in spans)


def test_block_spans_are_whole_lines_from_a_line_start():
    tokens = code_like(64, 160, seed=1)
    objective = Objective(MASK, END, VOCAB, infill_fraction=1.0, span_shapes=("block",), newline=NEWLINES)
    spans = infill_spans(objective.corrupt(tokens, torch.Generator().manual_seed(5)), tokens)
    lines = []
    for row, (start, n) in enumerate(spans):
        assert tokens[row, start - 1] == NEWLINE  # starts a line
        assert tokens[row, start + n] == NEWLINE or n == MAX_SPAN  # ends one, without its newline
        lines.append(tokens[row, start:start + n].tolist().count(NEWLINE) + 1)
    assert max(lines) <= 4 and {1, 2, 3} <= set(lines)


def test_mixed_shapes_each_appear_and_rows_without_lines_fall_back_to_random_spans():
    tokens = code_like(96, 160, seed=2)
    tokens[:8] = torch.randint(6, VOCAB, (8, 160))  # no newline at all: no line start for a block
    tokens[:8][tokens[:8] == NEWLINE] = 6
    objective = Objective(MASK, END, VOCAB, infill_fraction=1.0, span_shapes=("random", "line", "block"),
                          newline=NEWLINES)
    spans = infill_spans(objective.corrupt(tokens, torch.Generator().manual_seed(6)), tokens)
    ends_at_newline = sum(tokens[row, start + n] == NEWLINE for row, (start, n) in enumerate(spans))
    assert 40 < ends_at_newline < 96  # line and block rows end at a newline, random rows mostly do not


def test_corrupt_mixes_infill_and_random_rows():
    tokens = torch.randint(2, 100, (64, 128), generator=torch.Generator().manual_seed(0))
    c = Objective(MASK, END, VOCAB, infill_fraction=0.5).corrupt(tokens, torch.Generator().manual_seed(0))
    infill_rows = (c.targets == END).any(dim=1)
    assert 10 < int(infill_rows.sum()) < 54
    assert torch.equal(c.targets[~infill_rows], tokens[~infill_rows])


def test_substitution_swaps_visible_tokens_and_asks_for_every_visible_token_back():
    tokens = torch.randint(6, VOCAB, (64, 128), generator=torch.Generator().manual_seed(0))
    plain = Objective(MASK, END, VOCAB).corrupt(tokens, torch.Generator().manual_seed(7))
    noisy = Objective(MASK, END, VOCAB, substitution=0.2).corrupt(tokens, torch.Generator().manual_seed(7))
    visible = plain.inputs != MASK
    assert torch.equal(noisy.inputs == MASK, ~visible) and torch.equal(noisy.targets, plain.targets)
    swapped = visible & (noisy.inputs != plain.inputs)
    assert 0.15 < swapped.sum() / visible.sum() < 0.25
    assert torch.all(noisy.weights[visible] == 1 / 128)  # clean and swapped visible tokens alike
    assert torch.equal(noisy.weights[~visible], plain.weights[~visible])


def test_same_generator_state_gives_the_same_corruption():
    tokens = code_like(16, 128)
    objective = Objective(MASK, END, VOCAB, span_shapes=("random", "line", "block"), substitution=0.1,
                          newline=NEWLINES)
    a, b = (objective.corrupt(tokens, torch.Generator().manual_seed(9)) for _ in range(2))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.weights, b.weights)


@pytest.mark.parametrize("options,message", [
    (dict(span_shapes=("lines",)), "span shapes"),
    (dict(span_shapes=("line",)), "newline"),
    (dict(substitution=1.0), "substitution"),
])
def test_bad_objective_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        Objective(MASK, END, VOCAB, **options)
