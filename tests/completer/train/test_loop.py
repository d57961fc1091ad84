"""Training loop: it learns, resumes bit-for-bit, exports a loadable model, and rejects bad input."""

import argparse
import csv
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from completer.checkpoint import load_checkpoint
from completer.errors import CompleterError
from completer.train.cli import add_train_parser
from completer.train.loop import CHECKPOINT, LOG, TrainConfig, Trainer, train
from completer.train.tokenizer import encode_documents, save_token_arrays, save_tokenizer, train_tokenizer

DOCUMENTS = [f"def scale_{i}(values):\n    return [v * {i} for v in values]\n\n\nprint(scale_{i}([1, 2, 3]))\n"
             for i in range(200)]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    tokenizer = train_tokenizer(DOCUMENTS, vocab_size=300)
    save_tokenizer(tokenizer, folder)
    save_token_arrays(folder, encode_documents(tokenizer, DOCUMENTS[:180]), encode_documents(tokenizer, DOCUMENTS[180:]))
    (folder / "manifest.json").write_text(json.dumps({"sources": []}))
    return folder


def tiny(data: Path, out: Path, **overrides) -> TrainConfig:
    cfg = TrainConfig(data=data, out=out, steps=4, batch_size=4, seq_len=96, warmup=2, lr=1e-2, min_lr=1e-3,
                      precision="fp32", eval_every=100, eval_batches=1, log_every=1,
                      dim=32, layers=2, heads=2, kv_heads=1, intermediate=64)
    return replace(cfg, **overrides)


def test_short_training_run_lowers_validation_loss(data, tmp_path):
    trainer = Trainer(tiny(data, tmp_path, steps=40, precision="bf16"))
    before = trainer.validation_loss()
    result = trainer.run()
    assert result.step == 40 and result.tokens == 40 * 4 * 96
    assert result.val_loss < before - 1.0


def test_resumed_run_continues_from_saved_step_with_identical_state(data, tmp_path):
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


def test_export_is_loadable_by_the_engine_with_provenance(data, tmp_path):
    result = train(tiny(data, tmp_path))
    names = {p.name for p in result.export.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "manifest.json", LOG} <= names
    model, tokenizer, _ = load_checkpoint(str(result.export))
    assert model.config.mask_token_id == tokenizer.mask_id
    logits = model(torch.tensor([tokenizer.encode("def scale_3(values):")]))
    assert logits.shape[-1] == model.config.vocab_size and torch.isfinite(logits).all()


def test_empty_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CompleterError, match="train prepare"):
        Trainer(tiny(tmp_path, tmp_path / "out"))


def test_unwritable_output_folder_is_a_clear_error(data, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(CompleterError, match="cannot write"):
        Trainer(tiny(data, tmp_path / "file" / "run"))


def test_resume_with_a_different_shape_is_a_clear_error(data, tmp_path):
    train(tiny(data, tmp_path, steps=1))
    with pytest.raises(CompleterError, match="different model shape"):
        Trainer(tiny(data, tmp_path, resume=True, dim=64))


def test_existing_run_without_resume_is_refused_rather_than_overwritten(data, tmp_path):
    train(tiny(data, tmp_path, steps=1))
    with pytest.raises(CompleterError, match="--resume"):
        Trainer(tiny(data, tmp_path))


def test_cli_run_trains_and_exports(data, tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="completer")
    add_train_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "run", "--data", str(data), "--out", str(tmp_path), "--steps", "2",
                              "--batch-size", "2", "--seq-len", "96", "--dim", "32", "--layers", "1",
                              "--heads", "2", "--kv-heads", "1", "--intermediate", "64"])
    assert args.func(args) == 0
    assert "exported to" in capsys.readouterr().out
    assert (tmp_path / "model" / "config.json").exists()
