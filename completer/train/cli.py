"""`completer train prepare` builds a training folder; `completer train run` trains and exports."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from ..checkpoint import read_config
from .loop import TrainConfig, Trainer
from .objective import SPAN_SHAPES
from .prepare import prepare

SHAPE_OPTIONS = {"dim": "dim", "layers": "n_layers", "heads": "n_heads", "kv_heads": "n_kv_heads",
                 "intermediate": "intermediate_size"}


def run_prepare(args: argparse.Namespace) -> int:
    summary = prepare(args.out, args.decontaminate_from, args.max_mb, args.vocab_size, args.tokenizer_mb,
                      tokenizer_from=args.tokenizer_from)
    print(json.dumps({k: v for k, v in summary.items() if k != "sources"}, indent=2))
    return 0


def run_training(args: argparse.Namespace) -> int:
    if args.init_from is not None:  # the shape options left out take the export's shape
        config = read_config(args.init_from)
        for option, key in SHAPE_OPTIONS.items():
            if getattr(args, option) is None:
                setattr(args, option, getattr(config, key))
    names = {f.name for f in fields(TrainConfig)}
    trainer = Trainer(TrainConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None}))
    if args.bench_seconds is not None:
        bench = trainer.bench()
        print(f"bench: {bench.tokens_per_s:.0f} tokens/s over {bench.steps} steps of {trainer.cfg.batch_size} x "
              f"{trainer.cfg.seq_len} tokens after {bench.warmup_seconds:.1f} s of warm-up; "
              f"peak {bench.memory_kind} {bench.peak_memory_bytes / 2**30:.2f} GiB "
              f"({trainer.parameters / 1e6:.2f}M parameters, nothing saved)")
        return 0
    print(f"model: {trainer.parameters / 1e6:.2f}M parameters, starting at step {trainer.step} "
          f"(from {trainer.origin})", flush=True)
    result = trainer.run()
    print(f"step {result.step}, {result.tokens} tokens, train loss {result.train_loss:.4f}, "
          f"val loss {result.val_loss:.4f}, {result.seconds:.0f} s; exported to {result.export}")
    return 0


def add_train_parser(subparsers) -> None:
    parser = subparsers.add_parser("train", help="build the training corpus and train the bundled model")
    commands = parser.add_subparsers(dest="train_command", required=True)

    p = commands.add_parser("prepare", help="corpus + tokenizer + token arrays from installed Python sources")
    p.add_argument("--out", type=Path, required=True, help="training folder to create")
    p.add_argument("--decontaminate-from", type=Path, required=True,
                   help="folder of HumanEval*.jsonl.gz whose problems must not be in the corpus (evals/data)")
    p.add_argument("--max-mb", type=float, default=100.0, help="cap on corpus source text (MB)")
    p.add_argument("--vocab-size", type=int, default=8192)
    p.add_argument("--tokenizer-mb", type=float, default=30.0, help="source text used to learn the vocabulary (MB)")
    p.add_argument("--tokenizer-from", type=Path,
                   help="reuse this model folder's tokenizer.json instead of learning one (to train that model on)")
    p.set_defaults(func=run_prepare)

    r = commands.add_parser("run", help="train (or resume) and export to the engine's format in OUT/model")
    defaults = TrainConfig(data=Path(), out=Path())
    r.add_argument("--data", type=Path, required=True, help="folder written by `completer train prepare`")
    r.add_argument("--out", type=Path, required=True, help="run folder: checkpoint, train_log.csv, model/")
    r.add_argument("--device", choices=["cpu", "cuda"], default=defaults.device)
    r.add_argument("--minutes", type=float, default=None, help="stop after this long, with a checkpoint and an export")
    r.add_argument("--resume", action="store_true",
                   help="continue OUT/checkpoint.pt, or, without one, the export in OUT/model (fresh optimizer)")
    r.add_argument("--init-from", type=Path,
                   help="start a new run from this exported model's weights (fresh optimizer; its shape by default)")
    r.add_argument("--bench-seconds", type=float,
                   help="train this long after warm-up, print tokens/s and peak memory, and save nothing")
    r.add_argument("--precision", choices=["bf16", "fp32"], default=defaults.precision)
    r.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile the model (default: on for CUDA, off for CPU)")
    r.add_argument("--span-shapes", default=defaults.span_shapes,
                   help=f"comma-separated infill span shapes from {', '.join(SPAN_SHAPES)} (default: random)")
    r.add_argument("--substitution", type=float, default=defaults.substitution,
                   help="fraction of visible tokens replaced by random ones, to learn correcting (default 0)")
    for name in ("steps", "batch_size", "seq_len", "accum", "warmup", "eval_every", "eval_batches", "log_every",
                 "seed", "threads"):
        r.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    for name in SHAPE_OPTIONS:  # None: the --init-from export's shape, else TrainConfig's default
        r.add_argument(f"--{name.replace('_', '-')}", type=int, default=None,
                       help=f"model shape (default: the --init-from model's, else {getattr(defaults, name)})")
    for name in ("lr", "min_lr", "weight_decay", "infill_fraction", "checkpoint_minutes"):
        r.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    r.set_defaults(func=run_training)
