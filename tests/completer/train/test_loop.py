"""Training loop: it learns, resumes bit-for-bit, exports a loadable model, and rejects bad input."""

import argparse
import csv
import json

import pytest
import torch
import torch._dynamo

from completer.checkpoint import load_checkpoint, load_weights, read_config
from completer.cli import main
from completer.errors import CompleterError
from completer.train.cli import add_train_parser
from completer.train.loop import CHECKPOINT, EXPORT, LOG, Trainer, learning_rate, train
from tests.helpers import make_training_data

def test_short_training_run_lowers_validation_loss(data, tiny, tmp_path):
    trainer = Trainer(tiny(data, tmp_path, steps=40, precision="bf16"))
    before = trainer.validation_loss()
    result = trainer.run()
    assert result.step == 40 and result.tokens == 40 * 4 * 96
    assert result.val_loss < before - 1.0


def test_resumed_run_continues_from_saved_step_with_identical_state(data, tiny, tmp_path):
    straight = train(tiny(data, tmp_path / "straight"))
    interrupted = train(tiny(data, tmp_path / "cut", minutes=0))  # stops after its first step
    assert interrupted.step == 1
    assert torch.load(tmp_path / "cut" / CHECKPOINT, weights_only=True)["step"] == 1
    resumed = train(tiny(data, tmp_path / "cut", resume=True))
    assert resumed.step == straight.step == 4
    a = torch.load(tmp_path / "straight" / CHECKPOINT, weights_only=True)
    b = torch.load(tmp_path / "cut" / CHECKPOINT, weights_only=True)
    for name in a["model"]:
        assert torch.equal(a["model"][name], b["model"][name]), name
    with open(tmp_path / "cut" / LOG) as f:
        assert [int(row["step"]) for row in csv.DictReader(f)] == [1, 2, 3, 4]


def test_export_is_loadable_by_the_engine_with_provenance(data, tiny, tmp_path):
    result = train(tiny(data, tmp_path))
    names = {p.name for p in result.export.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "manifest.json", LOG} <= names
    model, tokenizer, _ = load_checkpoint(str(result.export))
    assert model.config.mask_token_id == tokenizer.mask_id
    logits = model(torch.tensor([tokenizer.encode("def scale_3(values):")]))
    assert logits.shape[-1] == model.config.vocab_size and torch.isfinite(logits).all()


def test_empty_data_folder_is_a_clear_error(tiny, tmp_path):
    with pytest.raises(CompleterError, match="train prepare"):
        Trainer(tiny(tmp_path, tmp_path / "out"))


def test_unwritable_output_folder_is_a_clear_error(data, tiny, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(CompleterError, match="cannot write"):
        Trainer(tiny(data, tmp_path / "file" / "run"))


def test_resume_with_a_different_shape_is_a_clear_error(data, tiny, tmp_path):
    train(tiny(data, tmp_path, steps=1))
    with pytest.raises(CompleterError, match="different model shape"):
        Trainer(tiny(data, tmp_path, resume=True, dim=64))


def test_existing_run_without_resume_is_refused_rather_than_overwritten(data, tiny, tmp_path):
    train(tiny(data, tmp_path, steps=1))
    with pytest.raises(CompleterError, match="--resume"):
        Trainer(tiny(data, tmp_path))


def test_cli_run_trains_and_exports(data, tiny, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="completer")
    add_train_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "run", "--data", str(data), "--out", str(tmp_path), "--steps", "2",
                              "--batch-size", "2", "--seq-len", "96", "--dim", "32", "--layers", "1",
                              "--heads", "2", "--kv-heads", "1", "--intermediate", "64"])
    assert args.func(args) == 0
    assert "exported to" in capsys.readouterr().out
    assert (tmp_path / "model" / "config.json").exists()


def export_weights(folder):
    return load_weights(folder, read_config(folder))


def test_export_records_the_step_reached_and_keeps_files_under_16_mib(data, tiny, tmp_path):
    result = train(tiny(data, tmp_path, steps=3))
    state = json.loads((result.export / "config.json").read_text())["training"]
    assert state == {"step": 3, "steps": 3, "tokens": 3 * 4 * 96, "tokens_total": 3 * 4 * 96, "origin": "scratch"}
    assert all(f.stat().st_size < 16 * 2**20 for f in result.export.iterdir())


def test_init_from_starts_a_new_run_on_the_exports_weights_with_a_fresh_optimizer(data, tiny, tmp_path):
    first = train(tiny(data, tmp_path / "first", steps=2))
    trainer = Trainer(tiny(data, tmp_path / "second", init_from=first.export))
    assert trainer.step == 0 and not trainer.optimizer.state
    shipped = export_weights(first.export)
    for name, tensor in trainer.model.state_dict().items():
        if name != "lm_head.weight":  # tied to the embedding
            assert torch.equal(tensor, shipped[name].float()), name
    result = trainer.run()
    state = json.loads((result.export / "config.json").read_text())["training"]
    assert state["tokens"] == 4 * 4 * 96 and state["tokens_total"] == (2 + 4) * 4 * 96
    assert state["origin"] == str(first.export)


def test_init_from_another_shape_or_vocabulary_is_a_clear_error(data, tiny, tmp_path):
    first = train(tiny(data, tmp_path / "first", steps=1))
    with pytest.raises(CompleterError, match="different model shape"):
        Trainer(tiny(data, tmp_path / "wide", init_from=first.export, dim=64))
    other = make_training_data(tmp_path / "other-data", [f"x{i} = {i} * {i}\n" * 9 for i in range(150)], 280)
    with pytest.raises(CompleterError, match="another vocabulary.*--tokenizer-from"):
        Trainer(tiny(other, tmp_path / "other", init_from=first.export))


def test_resume_without_a_checkpoint_continues_from_the_export(data, tiny, tmp_path, capsys):
    train(tiny(data, tmp_path, minutes=0))  # a segment of one step, then the machine is lost
    (tmp_path / CHECKPOINT).unlink()
    trainer = Trainer(tiny(data, tmp_path, resume=True))
    assert "continuing from its export at step 1" in capsys.readouterr().out
    assert trainer.step == 1 and trainer.fresh_at == 1 and not trainer.optimizer.state
    exported = export_weights(tmp_path / EXPORT)
    assert torch.equal(trainer.model.state_dict()["embed_tokens.weight"], exported["embed_tokens.weight"].float())
    result = trainer.run()
    assert result.step == 4 and result.tokens == 4 * 4 * 96
    with open(tmp_path / LOG) as f:
        assert [int(row["step"]) for row in csv.DictReader(f)] == [1, 2, 3, 4]


def test_an_optimizer_that_joins_mid_schedule_ramps_its_rate_up_again(data, tiny, tmp_path):
    cfg = tiny(data, tmp_path, steps=1000, warmup=10)
    assert learning_rate(cfg, 500, fresh_at=500) == pytest.approx(learning_rate(cfg, 500) / 10)
    assert learning_rate(cfg, 509, fresh_at=500) == learning_rate(cfg, 509)
    assert learning_rate(cfg, 0) == pytest.approx(cfg.lr / 10)


def test_bench_measures_throughput_and_memory_and_writes_nothing(data, tiny, tmp_path):
    result = Trainer(tiny(data, tmp_path / "never", bench_seconds=0.2)).bench()
    assert result.steps >= 1 and result.tokens_per_s > 0 and result.peak_memory_bytes > 0
    assert not (tmp_path / "never").exists()


def test_too_short_windows_for_an_infill_span_are_a_clear_error(data, tiny, tmp_path):
    with pytest.raises(CompleterError, match="--seq-len must be at least 96"):
        Trainer(tiny(data, tmp_path, seq_len=64))


def test_training_forward_compiles_to_one_graph_without_breaks(data, tiny, tmp_path):
    trainer = Trainer(tiny(data, tmp_path, bench_seconds=1))
    explanation = torch._dynamo.explain(trainer.model)(torch.randint(0, 300, (2, 96)))
    assert (explanation.graph_count, explanation.graph_break_count) == (1, 0), explanation.break_reasons


def test_run_help_lists_init_from_and_bench_seconds(capsys):
    with pytest.raises(SystemExit):
        main(["train", "run", "--help"])
    out = capsys.readouterr().out
    assert "--init-from" in out and "--bench-seconds" in out and "--no-compile" in out
