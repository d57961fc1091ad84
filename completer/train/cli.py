"""`completer train prepare` builds a training folder; `completer train run` trains and exports."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from .loop import TrainConfig, Trainer
from .prepare import HUMANEVAL_DATA, prepare


def run_prepare(args: argparse.Namespace) -> int:
    summary = prepare(args.out, args.decontaminate_from, args.max_mb, args.vocab_size, args.tokenizer_mb)
    print(json.dumps({k: v for k, v in summary.items() if k != "sources"}, indent=2))
    return 0


def run_training(args: argparse.Namespace) -> int:
    names = {f.name for f in fields(TrainConfig)}
    trainer = Trainer(TrainConfig(**{k: v for k, v in vars(args).items() if k in names}))
    print(f"model: {trainer.parameters / 1e6:.2f}M parameters, starting at step {trainer.step}", flush=True)
    result = trainer.run()
    print(f"step {result.step}, {result.tokens} tokens, train loss {result.train_loss:.4f}, "
          f"val loss {result.val_loss:.4f}, {result.seconds:.0f} s; exported to {result.export}")
    return 0


def add_train_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="build the training corpus and train the bundled model")
    commands = parser.add_subparsers(dest="train_command", required=True)

    p = commands.add_parser("prepare", help="corpus + tokenizer + token arrays from installed Python sources")
    p.add_argument("--out", type=Path, required=True, help="training folder to create")
    p.add_argument("--decontaminate-from", type=Path, default=HUMANEVAL_DATA,
                   help="folder of HumanEval*.jsonl.gz whose problems must not be in the corpus")
    p.add_argument("--max-mb", type=float, default=100.0, help="cap on corpus source text (MB)")
    p.add_argument("--vocab-size", type=int, default=8192)
    p.add_argument("--tokenizer-mb", type=float, default=30.0, help="source text used to learn the vocabulary (MB)")
    p.set_defaults(func=run_prepare)

    r = commands.add_parser("run", help="train (or resume) and export to the engine's format in OUT/model")
    defaults = TrainConfig(data=Path(), out=Path())
    r.add_argument("--data", type=Path, required=True, help="folder written by `completer train prepare`")
    r.add_argument("--out", type=Path, required=True, help="run folder: checkpoint, train_log.csv, model/")
    r.add_argument("--device", choices=["cpu", "cuda"], default=defaults.device)
    r.add_argument("--minutes", type=float, default=None, help="stop after this long, with a checkpoint")
    r.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if there is one")
    r.add_argument("--precision", choices=["bf16", "fp32"], default=defaults.precision)
    r.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA)")
    for name in ("steps", "batch_size", "seq_len", "accum", "warmup", "eval_every", "eval_batches", "log_every",
                 "seed", "threads", "dim", "layers", "heads", "kv_heads", "intermediate"):
        r.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in ("lr", "min_lr", "weight_decay", "infill_fraction", "checkpoint_minutes"):
        r.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    r.set_defaults(func=run_training)
