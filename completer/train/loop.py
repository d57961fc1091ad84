"""The training loop: same code on CPU and CUDA, time-limited runs that checkpoint and resume.

A run may be cut at any moment (a 10-minute GPU lease, a killed process), so the loop saves
model, optimizer, step and random state atomically every few minutes and at the end of a
time-limited run, and ``--resume`` continues bit-for-bit from the last save. Every run ends by
exporting the weights in the engine's own format.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import save_native
from ..errors import CompleterError
from ..model import ModelConfig, Transformer
from .objective import corrupt, diffusion_loss
from .tokenizer import BEGIN, END, MASK, load_token_arrays

CHECKPOINT = "checkpoint.pt"
LOG = "train_log.csv"
LOG_FIELDS = ["step", "tokens", "train_loss", "val_loss", "tokens_per_s", "lr"]


@dataclass
class TrainConfig:
    data: Path
    out: Path
    device: str = "cpu"
    minutes: float | None = None     # wall-clock limit of this invocation; ends with a checkpoint
    resume: bool = False
    steps: int = 2000                # length of the whole schedule, across resumed runs
    batch_size: int = 16
    seq_len: int = 256
    accum: int = 1
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100
    weight_decay: float = 0.1
    infill_fraction: float = 0.5
    precision: str = "bf16"          # "bf16" autocast or "fp32"
    eval_every: int = 100
    eval_batches: int = 4
    log_every: int = 10
    checkpoint_minutes: float = 5.0
    seed: int = 0
    threads: int | None = None
    compile: bool = False
    dim: int = 256
    layers: int = 6
    heads: int = 8
    kv_heads: int = 4
    intermediate: int = 704


@dataclass
class TrainResult:
    step: int
    tokens: int
    train_loss: float
    val_loss: float
    seconds: float
    export: Path


def model_config(cfg: TrainConfig, vocab_size: int, mask_id: int) -> ModelConfig:
    return ModelConfig(family="native", vocab_size=vocab_size, dim=cfg.dim, n_layers=cfg.layers,
                       n_heads=cfg.heads, n_kv_heads=cfg.kv_heads, intermediate_size=cfg.intermediate,
                       max_seq_len=max(1024, cfg.seq_len), rope_theta=10000.0, norm_eps=1e-5,
                       mask_token_id=mask_id, qkv_bias=False, tie_embeddings=True, shift_logits=False)


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warmup, then cosine decay to min_lr at the end of the schedule."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def special_ids(data: Path) -> tuple[int, int, int]:
    """Vocabulary size, mask id and end id from the prepared tokenizer."""
    from tokenizers import Tokenizer
    path = data / "tokenizer.json"
    if not path.is_file():
        raise CompleterError(f"{data}: no tokenizer.json; run `completer train prepare --out {data}` first")
    tokenizer = Tokenizer.from_file(str(path))
    ids = [tokenizer.token_to_id(t) for t in (MASK, END, BEGIN)]
    if None in ids:
        raise CompleterError(f"{path}: missing one of the special tokens {MASK}, {END}, {BEGIN}")
    return tokenizer.get_vocab_size(), ids[0], ids[1]


def sample_windows(tokens: np.ndarray, starts: torch.Tensor, seq_len: int) -> torch.Tensor:
    index = starts.numpy()[:, None] + np.arange(seq_len)[None, :]
    return torch.from_numpy(tokens[index].astype(np.int64))


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise CompleterError(f"cannot write to output folder {out}: {e.strerror or e}") from None


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.train_tokens, self.val_tokens = load_token_arrays(cfg.data)
        if len(self.val_tokens) <= cfg.seq_len or len(self.train_tokens) <= cfg.seq_len:
            raise CompleterError(f"{cfg.data}: fewer tokens than one {cfg.seq_len}-token window; lower --seq-len")
        vocab_size, self.mask_id, self.end_id = special_ids(cfg.data)
        check_writable(cfg.out)
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise CompleterError("--device cuda was asked for but no CUDA device is available")
        torch.manual_seed(cfg.seed)
        self.model_config = model_config(cfg, vocab_size, self.mask_id)
        self.model = Transformer(self.model_config).to(self.device)
        self.forward = torch.compile(self.model) if cfg.compile else self.model
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        self.optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                            {"params": no_decay, "weight_decay": 0.0}],
                                           lr=cfg.lr, betas=(0.9, 0.95), fused=self.device.type == "cuda")
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.step = 0
        self.tokens = 0
        checkpoint = cfg.out / CHECKPOINT
        if checkpoint.exists() and not cfg.resume:
            raise CompleterError(f"{cfg.out} already holds a training run; pass --resume or choose another --out")
        if checkpoint.exists():
            self.load(checkpoint)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.precision == "bf16")

    def batch_loss(self, windows: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        corruption = corrupt(windows, self.mask_id, self.end_id, self.cfg.infill_fraction, generator)
        with self.autocast():
            logits = self.forward(corruption.inputs.to(self.device))
        return diffusion_loss(logits, corruption)

    def train_step(self) -> float:
        cfg = self.cfg
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg, self.step)
        total = 0.0
        for _ in range(cfg.accum):
            starts = torch.randint(0, len(self.train_tokens) - cfg.seq_len, (cfg.batch_size,), generator=self.generator)
            loss = self.batch_loss(sample_windows(self.train_tokens, starts, cfg.seq_len), self.generator) / cfg.accum
            loss.backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens += cfg.accum * cfg.batch_size * cfg.seq_len
        return total

    @torch.no_grad()
    def validation_loss(self) -> float:
        """The same held-out windows and masks every time, so values are comparable across steps."""
        cfg = self.cfg
        self.model.eval()
        generator = torch.Generator().manual_seed(1234)
        n = cfg.eval_batches * cfg.batch_size
        starts = torch.linspace(0, len(self.val_tokens) - cfg.seq_len - 1, n).long()
        losses = [self.batch_loss(sample_windows(self.val_tokens, chunk, cfg.seq_len), generator).item()
                  for chunk in starts.split(cfg.batch_size)]
        self.model.train()
        return sum(losses) / len(losses)

    def save(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "tokens": self.tokens,
            "model_config": self.model_config.to_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        path = self.cfg.out / CHECKPOINT
        temporary = path.with_suffix(".tmp")
        torch.save(state, temporary)
        os.replace(temporary, path)  # a run killed mid-save keeps the previous checkpoint

    def load(self, path: Path) -> None:
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as e:
            raise CompleterError(f"{path}: cannot read the checkpoint ({e.__class__.__name__})") from None
        if state["model_config"] != self.model_config.to_dict():
            differences = {k: (v, self.model_config.to_dict()[k]) for k, v in state["model_config"].items()
                           if self.model_config.to_dict().get(k) != v}
            raise CompleterError(f"{path} has a different model shape (checkpoint, asked): {differences}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.tokens = state["step"], state["tokens"]
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])

    def export(self) -> Path:
        """Weights in the engine's format, with the provenance manifest and the training log."""
        folder = self.cfg.out / "model"
        save_native(self.model, self.cfg.data, folder)
        for name, source in (("manifest.json", self.cfg.data / "manifest.json"), (LOG, self.cfg.out / LOG)):
            if source.exists():
                shutil.copyfile(source, folder / name)
        return folder

    def log(self, row: dict) -> None:
        path = self.cfg.out / LOG
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)

    def run(self) -> TrainResult:
        cfg = self.cfg
        started = last_save = last_log = time.monotonic()
        tokens_at_log, losses, train_loss, val_loss = self.tokens, [], float("nan"), float("nan")
        self.model.train()
        while self.step < cfg.steps:
            losses.append(self.train_step())
            now = time.monotonic()
            out_of_time = cfg.minutes is not None and now - started >= cfg.minutes * 60
            finished = self.step >= cfg.steps
            evaluate = self.step % cfg.eval_every == 0 or finished or out_of_time
            if self.step % cfg.log_every == 0 or evaluate:
                train_loss = sum(losses) / len(losses)
                val_loss = self.validation_loss() if evaluate else float("nan")
                self.log({"step": self.step, "tokens": self.tokens, "train_loss": f"{train_loss:.4f}",
                          "val_loss": "" if math.isnan(val_loss) else f"{val_loss:.4f}",
                          "tokens_per_s": f"{(self.tokens - tokens_at_log) / max(now - last_log, 1e-9):.0f}",
                          "lr": f"{learning_rate(cfg, self.step - 1):.2e}"})
                losses, last_log, tokens_at_log = [], time.monotonic(), self.tokens
            if out_of_time or finished or now - last_save >= cfg.checkpoint_minutes * 60:
                self.save()
                last_save = time.monotonic()
            if out_of_time:
                break
        if math.isnan(val_loss):
            val_loss = self.validation_loss()
        return TrainResult(self.step, self.tokens, train_loss, val_loss, time.monotonic() - started, self.export())


def train(cfg: TrainConfig) -> TrainResult:
    return Trainer(cfg).run()
