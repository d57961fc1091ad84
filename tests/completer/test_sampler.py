"""Parallel block denoising: schedules, blocks, cache exactness, variable length, constraints, determinism."""

from __future__ import annotations

import pytest
import torch

from completer.errors import BadInput
from completer.model import Transformer
from completer.sampler import EFFORTS, DenoiseSettings, Denoiser
from completer.prefix_cache import MIN_REUSE, shared_length
from completer.models import open_model
from completer.scheduler import Batch, decode
from tests.helpers import make_tiny_checkpoint, tiny_config


class ScriptedModel(Transformer):
    """A denoiser whose predictions are written down: span position i -> (token, confidence logit).

    It keeps the real model's interface (windows, cache, shifted logits) so the sampler's
    bookkeeping is what is tested; positions past the script predict the end token.
    """

    def __init__(self, tok, prefix_len: int, script: list[tuple[int, float]], shift: bool = False):
        super().__init__(tiny_config(tok.backend.get_vocab_size(), tok.mask_id, n_layers=1, shift_logits=shift))
        self.tok, self.prefix_len, self.script = tok, prefix_len, script
        self.windows: list[tuple[int, int]] = []

    def forward_windows(self, tokens, positions, window, logits_at):
        assert tokens.shape[0] == 1, "one request at a time"
        self.windows.append((int(positions[0, 0]), tokens.shape[1]))
        out = torch.zeros(1, logits_at.shape[1], self.config.vocab_size)
        for row, at in enumerate(logits_at[0].tolist()):
            i = int(positions[0, at]) + (1 if self.config.shift_logits else 0) - self.prefix_len
            token, strength = self.script[i] if 0 <= i < len(self.script) else (self.tok.end_id, 12.0)
            out[0, row, token] = strength
        return out


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    scheduler = open_model(str(make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))))
    yield scheduler
    scheduler.close()


@pytest.fixture(scope="module")
def engine(scheduler):
    return scheduler


def complete(scheduler, prefix, suffix, **settings):
    return scheduler.complete(prefix, suffix, DenoiseSettings(**settings))


def run(engine, script, shift=False, prefix="def f(x):\n    return", suffix="\n", **settings):
    tok = engine.tokenizer
    prefix_ids, suffix_ids = tok.encode(prefix), tok.encode(suffix)
    model = ScriptedModel(tok, len(prefix_ids), script, shift=shift)
    d = Denoiser(model, tok, prefix_ids, suffix_ids, DenoiseSettings(**settings), line_start=prefix.split("\n")[-1])
    return decode(model, [d])[0], d.stats, model


def word_ids(tok, text):
    return tok.encode(text)


def test_threshold_commits_every_confident_position_in_one_pass(engine):
    ids = word_ids(engine.tokenizer, " x + 1")
    script = [(t, 12.0) for t in ids]
    out, stats, _ = run(engine, script, threshold=0.9)
    assert out == ids and stats.forward_passes == 1


def test_threshold_commits_at_least_one_when_nothing_is_confident(engine):
    ids = word_ids(engine.tokenizer, " x + 1")
    script = [(t, 1.0) for t in ids]  # probability ~e/(e+V) per position: never above 0.9
    out, stats, _ = run(engine, script, threshold=0.9, max_tokens=len(ids) + 1)
    assert out == ids
    assert stats.forward_passes == len(ids) + 1  # one commit per pass, the end token last


def test_an_empty_span_costs_one_pass_even_when_nothing_is_confident(engine):
    tok = engine.tokenizer
    script = [(tok.end_id, 1.0)] * 32  # every position guesses "end", none confidently
    out, stats, _ = run(engine, script, threshold=0.9, max_tokens=32)
    assert out == [] and stats.forward_passes == 1
    assert stats.useful_tokens_per_forward == 0 and stats.tokens_per_forward == 32


def test_an_ending_span_commits_its_end_tokens_in_one_pass(engine):
    ids = word_ids(engine.tokenizer, " x + 1")
    script = [(t, 1.0) for t in ids] + [(engine.tokenizer.end_id, 1.0)] * (32 - len(ids))
    out, stats, _ = run(engine, script, threshold=0.9, max_tokens=32)
    assert out == ids
    assert stats.forward_passes == len(ids) + 1  # the ends together, then the tokens one per pass
    assert stats.useful_tokens_per_forward == pytest.approx(len(ids) / (len(ids) + 1))


def test_a_lower_effort_never_takes_more_passes_than_a_higher_one(engine):
    ids = word_ids(engine.tokenizer, " x * x - 2 * x + 1 if x else 0")
    # Probabilities from ~0.3 to ~0.999 over a 400-token vocabulary: each level commits a different share per pass.
    script = [(t, 5.0 + (i * 7) % 10) for i, t in enumerate(ids)]
    passes = {effort: run(engine, script, max_tokens=32, **EFFORTS[effort])[1].forward_passes for effort in EFFORTS}
    assert passes["low"] < passes["medium"] < passes["high"], passes


def test_fixed_schedule_takes_exactly_the_given_passes_per_block(engine):
    ids = word_ids(engine.tokenizer, " x * x - 2 * x + 1 if x else 0")
    script = [(t, 1.0) for t in ids]
    out, stats, _ = run(engine, script, threshold=None, steps=4, max_tokens=32, block_size=32)
    assert out == ids and stats.forward_passes == 4


def test_long_spans_are_decoded_in_semi_autoregressive_blocks(engine):
    tok = engine.tokenizer
    ids = (word_ids(tok, " value") * 40)[:40]
    script = [(t, 12.0) for t in ids]
    out, stats, model = run(engine, script, max_tokens=64, block_size=16, use_cache=False)
    assert out == ids
    # the span starts as one 16-token block and grows a block at a time until the end shows
    lengths = [length for _, length in model.windows]
    assert stats.forward_passes == 3 and lengths[1] - lengths[0] == lengths[2] - lengths[1] == 16


def test_span_without_end_grows_by_a_block_up_to_the_cap(engine):
    ids = word_ids(engine.tokenizer, " a") * 50
    script = [(t, 12.0) for t in ids]
    out, stats, _ = run(engine, script, max_tokens=40, block_size=16)
    assert len(out) == 40  # 16 -> 32 -> 40 tokens, never an end
    assert stats.span_tokens == 40


def test_trailing_end_tokens_are_trimmed(engine):
    ids = word_ids(engine.tokenizer, " y")
    out, stats, _ = run(engine, [(t, 12.0) for t in ids], max_tokens=32)
    assert out == ids and stats.span_tokens == len(ids)


def test_shifted_model_reads_predictions_from_the_previous_position(engine):
    ids = word_ids(engine.tokenizer, " x + 1")
    out, _, _ = run(engine, [(t, 12.0) for t in ids], shift=True)
    assert out == ids


def test_shifted_model_with_empty_prefix_gets_a_begin_token(engine):
    ids = word_ids(engine.tokenizer, "import os")
    tok = engine.tokenizer
    model = ScriptedModel(tok, 1, [(t, 12.0) for t in ids], shift=True)
    d = Denoiser(model, tok, [], tok.encode("\n"), DenoiseSettings())
    assert decode(model, [d]) == [ids] and d.prefix == [tok.bos_id]


def test_line_span_never_commits_a_newline(engine):
    tok = engine.tokenizer
    newline = tok.encode("\n")[0]
    text_ids = word_ids(tok, " x")
    script = [(newline, 20.0)] + [(t, 12.0) for t in text_ids]
    out, _, _ = run(engine, script, span="line")
    assert "\n" not in tok.decode(out)
    free, _, _ = run(engine, script, span="free")
    assert tok.decode(free).startswith("\n")


def test_block_span_stops_at_a_dedent(engine):
    tok = engine.tokenizer
    body = "    y = x\n    return y\nprint(1)\n"
    script = [(t, 12.0) for t in tok.encode(body)]
    out, _, _ = run(engine, script, prefix="def f(x):\n", span="block", max_tokens=64)
    assert tok.decode(out).rstrip() == "    y = x\n    return y"


def test_cache_refreshed_every_pass_gives_exactly_the_uncached_result(scheduler):
    prefix, suffix = "def mean(xs):\n    total = 0\n", "\n    return total / len(xs)\n"
    for steps in (None, 8):
        kw = dict(max_tokens=48, block_size=16, threshold=0.05 if steps is None else None, steps=steps)
        naive = complete(scheduler, prefix, suffix, use_cache=False, **kw)
        cached = complete(scheduler, prefix, suffix, use_cache=True, refresh_every=1, reuse_keys=False, **kw)
        assert cached.text == naive.text and cached.stats["forward_passes"] == naive.stats["forward_passes"]


def test_cached_block_passes_only_recompute_the_active_block(engine):
    tok = engine.tokenizer
    script = [(t, 1.0) for t in word_ids(tok, " a b c d")]
    prefix_ids = tok.encode("x = [" * 20)
    model = ScriptedModel(tok, len(prefix_ids), script)
    decode(model, [Denoiser(model, tok, prefix_ids, tok.encode("]\n"), DenoiseSettings(block_size=8, max_tokens=8))])
    full = len(prefix_ids) + 8 + len(tok.encode("]\n"))
    assert model.windows[0] == (0, full)  # the first pass fills the cache
    assert all(w == (len(prefix_ids), 8) for w in model.windows[1:])


def keystrokes(engine, prefixes, shift=False, **settings) -> tuple[ScriptedModel, list[Denoiser]]:
    """Requests through one batch one after another, as on consecutive keystrokes; one pass each."""
    tok = engine.tokenizer
    model = ScriptedModel(tok, 0, [], shift=shift)  # predicts the end token everywhere
    batch, states = Batch(model), []
    for prefix in prefixes:
        states.append(Denoiser(model, tok, tok.encode(prefix), tok.encode("]\n"), DenoiseSettings(max_tokens=8, **settings)))
        batch.add(states[-1])
        while batch.states:
            batch.step()
    return model, states


@pytest.mark.parametrize("shift", [False, True])
def test_the_next_keystrokes_first_pass_starts_after_the_prefix_it_shares(engine, shift):
    model, (first, second) = keystrokes(engine, ["x = [" * 20, "x = [" * 20 + "1, 2"], shift=shift)
    shared = shared_length(torch.tensor(first.prefix[:len(first.prefix) - first.shift]), torch.tensor(second.prefix))
    assert shared >= MIN_REUSE
    assert model.windows[0][0] == 0 and model.windows[1] == (shared, second.seq_len() - shared)
    assert (first.stats.reused_tokens, second.stats.reused_tokens) == (0, shared)


def test_without_reuse_every_request_recomputes_its_whole_sequence(engine):
    model, states = keystrokes(engine, ["x = [" * 20, "x = [" * 20 + "1, 2"], reuse_keys=False)
    assert [w[0] for w in model.windows] == [0, 0] and states[1].stats.reused_tokens == 0


def test_seeded_sampling_is_deterministic(scheduler):
    kw = dict(temperature=1.0, max_tokens=16, threshold=0.5)
    a = complete(scheduler, "import ", "\n", seed=7, **kw)
    b = complete(scheduler, "import ", "\n", seed=7, **kw)
    c = complete(scheduler, "import ", "\n", seed=8, **kw)
    assert a.text == b.text and a.text != c.text


def test_a_vanishing_temperature_samples_the_top_token_instead_of_failing(scheduler):
    out = complete(scheduler, "for i in range(", "):\n    pass\n", temperature=1e-39, seed=1, max_tokens=8)
    assert out.stats["forward_passes"] >= 1 and out.stats["committed_tokens"] >= 1


def test_greedy_is_deterministic_and_reports_stats(scheduler):
    a = complete(scheduler, "for i in range(", "):\n    pass\n", max_tokens=16)
    b = complete(scheduler, "for i in range(", "):\n    pass\n", max_tokens=16)
    assert a.text == b.text and a.stats["forward_passes"] == b.stats["forward_passes"]
    s = a.stats
    assert s["forward_passes"] >= 1 and s["committed_tokens"] >= 1 and s["wall_ms"] > 0
    assert s["tokens_per_forward"] == pytest.approx(s["committed_tokens"] / s["forward_passes"], abs=1e-3)


@pytest.mark.parametrize("settings, message", [
    (dict(max_tokens=0), "at least 1 token"),
    (dict(threshold=1.5), "threshold"),
    (dict(span="paragraph"), "span kind"),
    (dict(threshold=None, steps=0), "steps"),
    (dict(refresh_every=-1), "refresh interval"),
    (dict(temperature=1.0, seed=2**64), "seed must be a whole number"),
    (dict(temperature=1.0, seed=-1), "seed must be a whole number"),
])
def test_bad_settings_are_rejected(scheduler, settings, message):
    with pytest.raises(BadInput, match=message):
        complete(scheduler, "a", "b", **settings)


def hinted(engine, script, hint, **settings):
    tok = engine.tokenizer
    prefix, suffix = tok.encode("def f(x):\n    return"), tok.encode("\n")
    model = ScriptedModel(tok, len(prefix), script)
    d = Denoiser(model, tok, prefix, suffix, DenoiseSettings(**settings), hint=hint)
    return decode(model, [d])[0], d.stats


def test_a_hint_the_model_agrees_with_is_committed_in_one_pass(engine):
    ids = word_ids(engine.tokenizer, " x + 1 - y")
    unsure = [(t, 1.0) for t in ids]  # the right picks, none of them confident
    alone, alone_stats = hinted(engine, unsure, None, threshold=0.9)
    out, stats = hinted(engine, unsure, ids, threshold=0.9)
    assert out == alone == ids
    assert stats.forward_passes == 1 < alone_stats.forward_passes and stats.accepted_tokens == len(ids)


def test_the_hints_tokens_the_model_rejects_are_denoised_as_usual(engine):
    tok = engine.tokenizer
    ids = word_ids(tok, " x + 1 - y")
    wrong = list(ids)
    wrong[1] = word_ids(tok, " *")[0]
    out, stats = hinted(engine, [(t, 1.0) for t in ids], wrong, threshold=0.9)
    assert out == ids  # the model's own pick where it disagreed
    assert stats.accepted_tokens == len(ids) - 1 and stats.forward_passes == 2


BATCH_PROMPTS = [("def mean(xs):\n    total = 0\n", "\n    return total / len(xs)\n"), ("import ", "\n"),
                 ("for i in range(", "):\n    pass\n"), ("def f(x):\n    if x:\n", "\n    return x\n"),
                 ("", "print(x)\n"), ("x = [" * 30, "]\n"), ("class A:\n    def g(self):\n", "\n"), ("y = ", "\n")]


def test_a_batch_of_eight_reads_the_device_once_per_pass(engine):
    """Every kind of request at once (threshold, fixed schedule, line, block, draft, sampled, grown spans):
    the host waits for the device once per pass, however many requests share it; the padding of their
    windows, decided into the spare column, leaves the mask there for the next pass to read."""
    tok = engine.tokenizer
    kinds = [dict(), dict(threshold=None, steps=3, block_size=4, max_tokens=12), dict(span="line"),
             dict(span="block", threshold=0.5), dict(temperature=0.8, seed=3), dict(block_size=4, max_tokens=16),
             dict(refresh_every=2), dict(use_cache=False, max_tokens=8)]
    states = [Denoiser(engine.model, tok, tok.encode(prefix), tok.encode(suffix), DenoiseSettings(**settings),
                       hint=tok.encode(" total") if i == 3 else None)
              for i, ((prefix, suffix), settings) in enumerate(zip(BATCH_PROMPTS, kinds))]
    batch = Batch(engine.model)
    for st in states:
        batch.add(st)
    passes = 0
    while batch.states:
        batch.step()
        passes += 1
        if batch.rows is not None:
            assert batch.rows.tokens[:, batch.rows.spare].eq(tok.mask_id).all()
    assert passes > 1
    assert [st.stats.host_syncs for st in states] == [st.stats.forward_passes for st in states]


def test_the_decode_loop_reads_the_device_only_in_the_report():
    """Reads of device data (`.tolist()`, `.item()`, `.cpu()`...) each wait for the device: the pass has one."""
    import ast
    import inspect

    import completer.sampler as sampler

    readers = {"tolist", "item", "cpu", "numpy", "__bool__", "nonzero"}
    found = {}
    for node in ast.walk(ast.parse(inspect.getsource(sampler))):
        if isinstance(node, ast.FunctionDef):
            calls = {call.func.attr for call in ast.walk(node)
                     if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr in readers}
            if calls:
                found[node.name] = calls
    assert found == {"report": {"tolist"}}


@pytest.mark.parametrize("threshold", [0.9, 0.99, 0.5, 0.1, 1.0, 1e-30])
def test_the_devices_float32_threshold_admits_exactly_the_confidences_the_float64_one_does(threshold):
    import numpy

    from completer.sampler import float32_at_least

    at = numpy.float32(float32_at_least(threshold))
    below = numpy.nextafter(at, numpy.float32(-1))
    assert float(at) >= threshold > float(below)  # the float32 just under it falls short of the threshold
