"""The fused confidence kernel matches softmax/topk/entropy in torch (Triton interpreter, CPU)."""

import pytest
import torch

from tests.kernels import kernel_cases

#  N,    V, dtype, num_splits, masked columns
CASES = [
    (5, 300, "fp32", 1, 0),       # one slice, one chunk
    (3, 5000, "bf16", 1, 0),      # one slice streamed in three chunks
    (4, 4099, "fp32", 3, 40),     # three slices, -inf logits, a slice that is all -inf in row 0
    (33, 1000, "fp16", None, 7),  # default split heuristic
]


@pytest.mark.parametrize("N,V,dtype,num_splits,masked", CASES)
def test_confidence_matches_reference(interpreter, N, V, dtype, num_splits, masked):
    logits, (token, prob, margin, entropy), ref = interpreter.apply(
        kernel_cases.confidence_case, (N, V, dtype, num_splits, masked, 0))
    assert token.dtype == torch.int64 and prob.dtype == margin.dtype == entropy.dtype == torch.float32
    # low-precision logits can tie at the top: the token must be a maximum, not a given one of them
    assert torch.equal(logits.gather(1, token[:, None]).squeeze(1), logits.max(dim=1).values)
    torch.testing.assert_close(prob, ref[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(margin, ref[2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(entropy, ref[3], rtol=1e-5, atol=1e-5)


def test_confidence_ties_pick_lowest_token_with_zero_margin(interpreter):
    token, prob, margin, entropy = interpreter.apply(kernel_cases.confidence_tie_case)
    assert token.tolist() == [1700, 1700]
    assert margin.tolist() == [0.0, 0.0]
    torch.testing.assert_close(prob, torch.full((2,), torch.e ** 5 / (2 * torch.e ** 5 + 2998)))


@pytest.mark.parametrize("V, masked", [(300, 0), (8192, 40), (5000, 4999)])
def test_top_token_without_the_softmax_matches_the_reference_token_and_probability(V, masked):
    from kernels.reference import confidence_reference, top_token_reference

    logits = torch.randn(17, V, generator=torch.Generator().manual_seed(V)) * 4
    logits[:, :masked] = -torch.inf  # masked tokens, as the sampler bans them; one case leaves a single one
    token, prob = top_token_reference(logits)
    ref = confidence_reference(logits)
    assert token.dtype == torch.int64 and prob.dtype == torch.float32
    assert torch.equal(token, ref[0])
    torch.testing.assert_close(prob, ref[1], rtol=1e-5, atol=1e-6)


def test_top_token_rejects_logits_that_are_not_rows_of_a_vocabulary():
    import kernels

    with pytest.raises(ValueError, match="top_token wants logits"):
        kernels.top_token(torch.randn(5))


@pytest.mark.parametrize("V", [8192, 8190, 70])
def test_top_token_finds_the_first_of_equal_tops_chunk_by_chunk(V):
    from kernels.reference import top_token_reference

    logits = torch.randn(6, V, generator=torch.Generator().manual_seed(V))
    logits[0, [3, V - 1]] = 9.0  # a tie within a row: the first wins
    logits[1, [V - 2, V - 1]] = 9.0  # in the last (padded) chunk
    logits[2, :] = 1.0  # all equal: token 0
    top = logits.max(dim=-1)
    token, prob = top_token_reference(logits)
    assert token.tolist()[:3] == [3, V - 2, 0]
    assert torch.equal(token, top.indices)
    assert torch.equal(prob, torch.exp(top.values - torch.logsumexp(logits, dim=-1)))  # bit for bit


def test_top_token_on_a_models_wide_logits_is_bit_for_bit_the_logsumexp_formula():
    """Logits a model gives span hundreds of nats: most terms of the sum fall below e^-87, where they are raised."""
    from kernels.reference import top_token_reference

    logits = torch.randn(18, 384, generator=torch.Generator().manual_seed(0)) @ torch.randn(384, 8192, generator=torch.Generator().manual_seed(1))
    token, prob = top_token_reference(logits)
    top = logits.max(dim=-1)
    assert ((logits - top.values[:, None]) < -87).float().mean() > 0.1  # the case at stake
    assert torch.equal(token, top.indices)
    assert torch.equal(prob, torch.exp(top.values - torch.logsumexp(logits, dim=-1)))


@pytest.mark.parametrize("V", [8192, 8190])
def test_top_token_computing_in_the_callers_logits_gives_the_same_bits(V):
    """``scratch`` (the sampler's pass, done with its logits) sums in them instead of a copy: same token, same bits."""
    import kernels

    logits = torch.randn(9, 64, generator=torch.Generator().manual_seed(V)) @ torch.randn(64, V, generator=torch.Generator().manual_seed(2)) * 3
    logits[:, 5] = -torch.inf  # a banned token
    token, prob = kernels.top_token(logits.clone())
    scratch = logits.clone()
    token_in_place, prob_in_place = kernels.top_token(scratch, scratch=True)
    assert torch.equal(token_in_place, token) and torch.equal(prob_in_place, prob)
    assert not torch.equal(scratch, logits)  # the logits were used up, as the caller allowed
