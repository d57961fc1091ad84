"""Token likelihoods: the batched strided masking gives what masking each token's row alone gives,
and the scheduler maps them back onto the text between its passes."""

from __future__ import annotations

import pytest
import torch

from completer.errors import BadInput
from completer.likelihood import token_probs
from completer.sampler import DenoiseSettings
from completer.scheduler import Scheduler
from tests.helpers import make_tiny_checkpoint

PREFIX, REGION, SUFFIX = "def mean(xs):\n    total = 0\n", "    for x in xs:\n        total += x\n", "    return total / len(xs)\n"


@pytest.fixture(scope="module", params=[False, True], ids=["native", "shifted"])
def scheduler(request, tmp_path_factory):
    folder = make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"), shift_logits=request.param)
    scheduler = Scheduler.load(str(folder), capacity=2)
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
    model, tok = scheduler.engine.model, scheduler.engine.tokenizer
    prefix, region, suffix = tok.encode(PREFIX) if has_prefix else [], tok.encode(REGION), tok.encode(SUFFIX)
    got = token_probs(model, tok, prefix, region, suffix, stride)
    assert got == pytest.approx(reference(model, tok, prefix, region, suffix, stride), rel=1e-4, abs=1e-7)
    assert all(0 < p < 1 for p in got)


def test_the_scheduler_scores_every_token_of_the_region_with_its_characters(scheduler):
    scores = scheduler.score(PREFIX, REGION, SUFFIX).result(timeout=60)
    tok = scheduler.engine.tokenizer
    assert "".join(REGION[s.start:s.end] for s in scores) == REGION
    expected = token_probs(scheduler.engine.model, tok, tok.encode(PREFIX), tok.encode(REGION), tok.encode(SUFFIX))
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
