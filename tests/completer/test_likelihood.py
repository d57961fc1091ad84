"""Token likelihoods: the batched strided masking gives what masking each token's row alone gives,
and the scheduler maps them back onto the text between its passes."""

from __future__ import annotations

import pytest
import torch

from completer.errors import BadInput
from completer.likelihood import span_scores, token_probs
from completer.sampler import DenoiseSettings
from completer.models import open_model
from tests.helpers import make_tiny_checkpoint

PREFIX, REGION, SUFFIX = "def mean(xs):\n    total = 0\n", "    for x in xs:\n        total += x\n", "    return total / len(xs)\n"


@pytest.fixture(scope="module", params=[False, True], ids=["native", "shifted"])
def scheduler(request, tmp_path_factory):
    folder = make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"), shift_logits=request.param)
    scheduler = open_model(str(folder), capacity=2)
    yield scheduler
    scheduler.close()


def reference(model, tok, prefix, region, suffix, stride):
    """Each token's probability from a plain forward over the copy that masks it, one copy at a time."""
    shift = int(model.config.shift_logits)
    if shift and not prefix:
        prefix = [tok.bos_id]
    probs = []
    for j, token in enumerate(region):
        row = j % min(stride, len(region))
        masked = [tok.mask_id if k % min(stride, len(region)) == row else t for k, t in enumerate(region)]
        with torch.inference_mode():
            logits = model(torch.tensor([prefix + masked + suffix]))[0, len(prefix) + j - shift]
            logits[[tok.mask_id, *tok.end_ids]] = -torch.inf
            probs.append(torch.softmax(logits, -1)[token].item())
    return probs


@pytest.mark.parametrize("stride", [1, 4])
@pytest.mark.parametrize("has_prefix", [True, False])
def test_batched_strided_masking_matches_masking_each_row_alone(scheduler, stride, has_prefix):
    model, tok = scheduler.model, scheduler.tokenizer
    prefix, region, suffix = tok.encode(PREFIX) if has_prefix else [], tok.encode(REGION), tok.encode(SUFFIX)
    got = token_probs(model, tok, prefix, region, suffix, stride)
    assert got == pytest.approx(reference(model, tok, prefix, region, suffix, stride), rel=1e-4, abs=1e-7)
    assert all(0 < p < 1 for p in got)


def test_the_scheduler_scores_every_token_of_the_region_with_its_characters(scheduler):
    scores = scheduler.score(PREFIX, REGION, SUFFIX).result(timeout=60)
    tok = scheduler.tokenizer
    assert "".join(REGION[s.start:s.end] for s in scores) == REGION
    expected = token_probs(scheduler.model, tok, tok.encode(PREFIX), tok.encode(REGION), tok.encode(SUFFIX))
    assert [s.prob for s in scores] == pytest.approx(expected, rel=1e-5)


def test_scoring_runs_between_the_passes_of_requests_in_flight_and_changes_none_of_them(scheduler):
    settings = DenoiseSettings(max_tokens=24, block_size=8, reuse_keys=False)
    alone = scheduler.complete(PREFIX, SUFFIX, settings).text
    jobs = [scheduler.submit(PREFIX, SUFFIX, settings) for _ in range(2)]
    scored = [scheduler.score(PREFIX, REGION, SUFFIX) for _ in range(3)]
    assert [job.result(timeout=60).text for job in jobs] == [alone, alone]
    assert len({tuple(s.prob for s in future.result(timeout=60)) for future in scored}) == 1


def test_an_empty_region_scores_nothing_and_one_past_the_window_is_refused_at_once(scheduler):
    assert scheduler.score(PREFIX, "", SUFFIX).result(timeout=60) == []
    with pytest.raises(BadInput, match="window"):
        scheduler.score("", "x = 1\n" * 5000, "")  # the sides can be cut, the region cannot
    assert scheduler.score(PREFIX, REGION, SUFFIX).result(timeout=60)


def span_reference(model, tok, prefix, span, suffix, length):
    """A candidate's mean log-probability from a plain forward over its own row: its positions masked,
    then end tokens to ``length`` + 1."""
    shift = int(model.config.shift_logits)
    if shift and not prefix:
        prefix = [tok.bos_id]
    row = prefix + [tok.mask_id] * len(span) + [tok.end_id] * (length + 1 - len(span)) + suffix
    with torch.inference_mode():
        logits = model(torch.tensor([row]))[0, len(prefix) - shift:len(prefix) - shift + len(span)]
        logits[:, [tok.mask_id, *tok.end_ids]] = -torch.inf
        logp = torch.log_softmax(logits, -1)[range(len(span)), span]
    return logp.mean().item()


@pytest.mark.parametrize("has_prefix", [True, False])
def test_span_scores_match_a_forward_over_each_candidates_own_row(scheduler, has_prefix):
    model, tok = scheduler.model, scheduler.tokenizer
    prefix, suffix = tok.encode(PREFIX) if has_prefix else [], tok.encode(SUFFIX)
    spans = [tok.encode("    x = 1"), tok.encode("    pass"), tok.encode("    y = 2"), []]
    got = span_scores(model, tok, prefix, spans, suffix)
    longest = max(map(len, spans))
    want = [span_reference(model, tok, prefix, s, suffix, longest) for s in spans[:3]]
    assert got[:3] == pytest.approx(want, rel=1e-4) and got[3] == 0.0
    assert all(x < 0 for x in got[:3])


def test_the_scheduler_ranks_candidates_in_one_call_between_passes(scheduler):
    job = scheduler.submit(PREFIX, SUFFIX, DenoiseSettings(max_tokens=64, span_tokens=64, threshold=None, steps=32))
    ranked = scheduler.rank(PREFIX, [REGION, "    pass\n", ""], SUFFIX).result(timeout=60)
    tok = scheduler.tokenizer
    spans = [tok.encode(REGION), tok.encode("    pass\n"), []]
    assert ranked == pytest.approx(span_scores(scheduler.model, tok, tok.encode(PREFIX), spans, tok.encode(SUFFIX)), rel=1e-5)
    job.result(timeout=120)
    with pytest.raises(BadInput):
        scheduler.rank(PREFIX, ["x " * 2000], SUFFIX)
