"""Masked-diffusion loss: only masked positions count, weighted 1/t; infill spans end in end tokens."""

import math

import torch
import torch.nn.functional as F

from completer.train.objective import BLOCK, Corruption, corrupt, diffusion_loss, infill_masking, random_masking

MASK, END = 1, 0


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


def test_infill_span_is_the_true_middle_then_end_tokens_to_a_block_multiple():
    tokens = torch.arange(10, 10 + 8 * 128).view(8, 128)
    c = infill_masking(tokens, MASK, END, torch.Generator().manual_seed(3))
    for row in range(8):
        span = (c.inputs[row] == MASK).nonzero().flatten()
        start, length = int(span[0]), len(span)
        assert length % BLOCK == 0 and length == int(span[-1]) - start + 1  # one contiguous block-multiple span
        middle = c.targets[row, start:start + length]
        n_true = int((middle != END).sum())
        assert 1 <= n_true <= 64 and torch.all(middle[n_true:] == END)
        assert torch.equal(c.targets[row, :start + n_true], tokens[row, :start + n_true])  # prefix + middle intact
        assert torch.equal(c.targets[row, start + length:], tokens[row, start + n_true:128 - length + n_true])
        assert math.isclose(float(c.weights[row].sum()), 1.0, rel_tol=1e-5)


def test_corrupt_mixes_infill_and_random_rows():
    tokens = torch.randint(2, 100, (64, 128), generator=torch.Generator().manual_seed(0))
    c = corrupt(tokens, MASK, END, 0.5, torch.Generator().manual_seed(0))
    infill_rows = (c.targets == END).any(dim=1)
    assert 10 < int(infill_rows.sum()) < 54
    assert torch.equal(c.targets[~infill_rows], tokens[~infill_rows])
