"""The training loop: same code on CPU and CUDA, time-limited segments that checkpoint and resume.

A GPU is lent for minutes at a time and may vanish between commands, so a run is a series of
segments: each ends with a full checkpoint (model, optimizer, step, random state) on the machine's
own disk, which ``--resume`` continues bit-for-bit, and with a bf16 export small enough to bring
back, which ``--resume`` on a fresh machine continues from (fresh optimizer) when the checkpoint is
gone. ``--init-from`` starts a new run from an exported model's weights, so every run can build on
the shipped one. The token data lives on the device and each batch is sampled and corrupted there.
"""

from __future__ import annotations

import csv
import json
import math
import os
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import build_model, load_weights, read_config, save_native
from ..errors import CompleterError
from ..model import ModelConfig, Transformer
from ..tokenizer import Tokenizer, load_tokenizer
from .objective import BLOCK, MAX_SPAN, Objective, diffusion_loss
from .tokenizer import load_token_arrays

CHECKPOINT = "checkpoint.pt"
EXPORT = "model"
LOG = "train_log.csv"
LOG_FIELDS = ["step", "tokens", "train_loss", "val_loss", "tokens_per_s", "lr"]
BENCH_WARMUP_STEPS = 3  # compilation and allocator warm-up, left out of the measured rate


@dataclass
class TrainConfig:
    data: Path
    out: Path
    device: str = "cpu"
    minutes: float | None = None     # wall-clock limit of this invocation; ends with a checkpoint and an export
    resume: bool = False             # continue OUT's checkpoint, or else OUT's export
    init_from: Path | None = None    # a new run starts from this exported model's weights
    bench_seconds: float | None = None  # measure tokens/s and peak memory this long after warm-up; save nothing
    steps: int = 2000                # length of the whole schedule, across resumed runs
    batch_size: int = 16
    seq_len: int = 256
    accum: int = 1
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100                # also the ramp of a fresh optimizer that joins mid-schedule
    weight_decay: float = 0.1
    infill_fraction: float = 0.5
    span_shapes: str = "random"      # comma-separated, from objective.SPAN_SHAPES
    substitution: float = 0.0
    precision: str = "bf16"          # "bf16" autocast or "fp32"
    eval_every: int = 100
    eval_batches: int = 4
    log_every: int = 10
    checkpoint_minutes: float = 5.0
    seed: int = 0
    threads: int | None = None
    compile: bool | None = None      # torch.compile; None: on CUDA only
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


@dataclass
class BenchResult:
    steps: int
    tokens_per_s: float
    peak_memory_bytes: int
    warmup_seconds: float
    memory_kind: str  # what peak_memory_bytes counts


def model_config(cfg: TrainConfig, vocab_size: int, mask_id: int) -> ModelConfig:
    return ModelConfig(family="native", vocab_size=vocab_size, dim=cfg.dim, n_layers=cfg.layers,
                       n_heads=cfg.heads, n_kv_heads=cfg.kv_heads, intermediate_size=cfg.intermediate,
                       max_seq_len=max(1024, cfg.seq_len), rope_theta=10000.0, norm_eps=1e-5,
                       mask_token_id=mask_id, qkv_bias=False, tie_embeddings=True, shift_logits=False)


def learning_rate(cfg: TrainConfig, step: int, fresh_at: int = 0) -> float:
    """Linear warmup, then cosine decay to min_lr at the end of the schedule.

    An optimizer created at step ``fresh_at`` (a run continued from an export) has no moment
    estimates yet, so its rate ramps up again over ``warmup`` steps.
    """
    ramp = min(1.0, (step - fresh_at + 1) / cfg.warmup)
    progress = min(1.0, max(0, step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return ramp * (cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress)))


def data_tokenizer(data: Path) -> Tokenizer:
    """The prepared folder's tokenizer, read as the engine reads it (its mask, end and newline ids)."""
    if not (data / "tokenizer.json").is_file():
        raise CompleterError(f"{data}: no tokenizer.json; run `completer train prepare --out {data} --decontaminate-from evals/data` first")
    return load_tokenizer(data)


def same_vocabulary(a: Path, b: Path) -> bool:
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(a)).get_vocab() == Tokenizer.from_file(str(b)).get_vocab()


def training_state(folder: Path) -> dict:
    """What an export says about the run that made it (empty for exports without it)."""
    path = folder / "config.json"
    return json.loads(path.read_text()).get("training", {}) if path.is_file() else {}


def trained_tokens(folder: Path) -> int:
    """Tokens an exported model has been trained on in all, from its state or its log's last row."""
    state = training_state(folder)
    if "tokens_total" in state:
        return int(state["tokens_total"])
    log = folder / LOG
    rows = list(csv.DictReader(log.open())) if log.is_file() else []
    return int(rows[-1]["tokens"]) if rows else 0


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise CompleterError(f"cannot write to output folder {out}: {e.strerror or e}") from None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Trainer:
    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.seq_len < MAX_SPAN + BLOCK:
            raise CompleterError(f"--seq-len must be at least {MAX_SPAN + BLOCK} (an infill span and its padding)")
        self.device = torch.device(cfg.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise CompleterError("--device cuda was asked for but no CUDA device is available")
        train_tokens, val_tokens = load_token_arrays(cfg.data)
        if len(val_tokens) <= cfg.seq_len or len(train_tokens) <= cfg.seq_len:
            raise CompleterError(f"{cfg.data}: fewer tokens than one {cfg.seq_len}-token window; lower --seq-len")
        self.train_tokens = torch.from_numpy(train_tokens.astype(np.int32)).to(self.device)
        self.val_tokens = torch.from_numpy(val_tokens.astype(np.int32)).to(self.device)
        self.offsets = torch.arange(cfg.seq_len, device=self.device)
        tokenizer = data_tokenizer(cfg.data)
        vocab_size = tokenizer.backend.get_vocab_size()
        newline = torch.zeros(vocab_size, dtype=torch.bool)
        newline[tokenizer.newline_ids] = True
        try:
            self.objective = Objective(tokenizer.mask_id, tokenizer.end_id, vocab_size, cfg.infill_fraction,
                                       tuple(s.strip() for s in cfg.span_shapes.split(",")), cfg.substitution,
                                       newline.to(self.device))
        except ValueError as e:
            raise CompleterError(str(e)) from None
        torch.manual_seed(cfg.seed)
        self.model_config = model_config(cfg, vocab_size, tokenizer.mask_id)
        self.model = Transformer(self.model_config).to(self.device)
        use_compile = cfg.compile if cfg.compile is not None else self.device.type == "cuda"
        self.forward = torch.compile(self.model) if use_compile else self.model
        self.optimizer = self.new_optimizer()
        self.generator = torch.Generator(self.device).manual_seed(cfg.seed)
        self.step = 0
        self.tokens = 0         # trained in this run (since its step 0)
        self.tokens_before = 0  # trained before this run, by the model it was initialised from
        self.fresh_at = 0       # step at which the optimizer started without moment estimates
        self.origin = "scratch"
        if cfg.bench_seconds is None:
            self.restore()

    def new_optimizer(self) -> torch.optim.Optimizer:
        decay = [p for p in self.model.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.model.parameters() if p.dim() < 2]
        return torch.optim.AdamW([{"params": decay, "weight_decay": self.cfg.weight_decay},
                                  {"params": no_decay, "weight_decay": 0.0}],
                                 lr=self.cfg.lr, betas=(0.9, 0.95), fused=self.device.type == "cuda")

    def restore(self) -> None:
        """Resume the checkpoint, else continue the export (with --resume), else start from --init-from."""
        cfg = self.cfg
        check_writable(cfg.out)
        checkpoint, export = cfg.out / CHECKPOINT, cfg.out / EXPORT
        state = training_state(export)
        if (checkpoint.exists() or state) and not cfg.resume:
            raise CompleterError(f"{cfg.out} already holds a training run; pass --resume or choose another --out")
        if checkpoint.exists():
            self.load(checkpoint)
        elif state:
            self.load_weights(export)
            self.step, self.tokens, self.fresh_at = state["step"], state["tokens"], state["step"]
            self.tokens_before = state["tokens_total"] - state["tokens"]
            self.origin = state.get("origin", "scratch")
            self.generator.manual_seed(cfg.seed + self.step)  # new windows, not a replay of the first ones
            print(f"no checkpoint in {cfg.out}: continuing from its export at step {self.step} "
                  f"with a fresh optimizer", flush=True)
        elif cfg.init_from is not None:
            self.load_weights(cfg.init_from)
            self.tokens_before = trained_tokens(cfg.init_from)
            self.origin = str(cfg.init_from)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.precision == "bf16")

    def windows(self, tokens: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
        return tokens[starts[:, None] + self.offsets].long()

    def batch_loss(self, windows: torch.Tensor, generator: torch.Generator, forward) -> torch.Tensor:
        corruption = self.objective.corrupt(windows, generator)
        with self.autocast():
            logits = forward(corruption.inputs)
        return diffusion_loss(logits, corruption)

    def train_step(self) -> torch.Tensor:
        """One optimizer step; returns the loss as a device tensor, so the host never waits for it."""
        cfg = self.cfg
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(cfg, self.step, self.fresh_at)
        total = torch.zeros((), device=self.device)
        for _ in range(cfg.accum):
            starts = torch.randint(0, len(self.train_tokens) - cfg.seq_len, (cfg.batch_size,),
                                   generator=self.generator, device=self.device)
            loss = self.batch_loss(self.windows(self.train_tokens, starts), self.generator, self.forward) / cfg.accum
            loss.backward()
            total += loss.detach()
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
        generator = torch.Generator(self.device).manual_seed(1234)
        n = cfg.eval_batches * cfg.batch_size
        starts = torch.linspace(0, len(self.val_tokens) - cfg.seq_len - 1, n, device=self.device).long()
        losses = [self.batch_loss(self.windows(self.val_tokens, chunk), generator, self.model)
                  for chunk in starts.split(cfg.batch_size)]
        self.model.train()
        return torch.stack(losses).mean().item()

    def save(self) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "tokens": self.tokens,
            "tokens_before": self.tokens_before,
            "fresh_at": self.fresh_at,
            "origin": self.origin,
            "model_config": self.model_config.to_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        path = self.cfg.out / CHECKPOINT
        temporary = path.with_suffix(".tmp")
        torch.save(state, temporary)
        os.replace(temporary, path)  # a run killed mid-save keeps the previous checkpoint

    def shape_differences(self, other: dict) -> dict:
        """Config entries that differ (other, ours); the RoPE length limit is not part of the weights."""
        ours = self.model_config.to_dict()
        return {k: (v, ours.get(k)) for k, v in other.items() if k != "max_seq_len" and ours.get(k) != v}

    def load(self, path: Path) -> None:
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as e:
            raise CompleterError(f"{path}: cannot read the checkpoint ({e.__class__.__name__})") from None
        differences = self.shape_differences(state["model_config"])
        if differences:
            raise CompleterError(f"{path} has a different model shape (checkpoint, asked): {differences}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.tokens = state["step"], state["tokens"]
        self.tokens_before, self.fresh_at, self.origin = state["tokens_before"], state["fresh_at"], state["origin"]
        self.generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["torch_rng"].cpu())

    def load_weights(self, folder: Path) -> None:
        """Weights of an exported model of the same shape and vocabulary; the optimizer stays fresh."""
        tokenizer = folder / "tokenizer.json"
        if tokenizer.is_file() and not same_vocabulary(tokenizer, self.cfg.data / "tokenizer.json"):
            raise CompleterError(f"{folder} uses another vocabulary than {self.cfg.data}; prepare the data with "
                                 f"`completer train prepare --tokenizer-from {folder}`")
        config = read_config(folder)
        differences = self.shape_differences(config.to_dict())
        if differences:
            raise CompleterError(f"{folder} has a different model shape (export, asked): {differences}; "
                                 "leave the shape options out to take the export's")
        exported = build_model(config, load_weights(folder, config), folder, torch.float32, "cpu")  # checks every tensor
        self.model.load_state_dict(exported.state_dict())

    def export(self) -> Path:
        """Weights in the engine's format, with the run's state, the provenance manifest and the log."""
        folder = self.cfg.out / EXPORT
        save_native(self.model, self.cfg.data, folder, training={
            "step": self.step, "steps": self.cfg.steps, "tokens": self.tokens,
            "tokens_total": self.tokens_before + self.tokens, "origin": self.origin})
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
                train_loss = torch.stack(losses).mean().item()  # the one host sync per log line
                now = time.monotonic()
                val_loss = self.validation_loss() if evaluate else float("nan")
                self.log({"step": self.step, "tokens": self.tokens, "train_loss": f"{train_loss:.4f}",
                          "val_loss": "" if math.isnan(val_loss) else f"{val_loss:.4f}",
                          "tokens_per_s": f"{(self.tokens - tokens_at_log) / max(now - last_log, 1e-9):.0f}",
                          "lr": f"{learning_rate(cfg, self.step - 1, self.fresh_at):.2e}"})
                losses, last_log, tokens_at_log = [], time.monotonic(), self.tokens
            if out_of_time or finished or now - last_save >= cfg.checkpoint_minutes * 60:
                self.save()
                last_save = time.monotonic()
            if out_of_time:
                break
        if math.isnan(val_loss):
            val_loss = self.validation_loss()
        return TrainResult(self.step, self.tokens, train_loss, val_loss, time.monotonic() - started, self.export())

    def bench(self) -> BenchResult:
        """Train ``bench_seconds`` past the warm-up (compilation) and measure; nothing is written."""
        seconds = self.cfg.bench_seconds
        self.model.train()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        started = time.monotonic()
        for _ in range(BENCH_WARMUP_STEPS):
            self.train_step()
        synchronize(self.device)
        warm, steps = time.monotonic(), 0
        while steps == 0 or time.monotonic() - warm < seconds:
            self.train_step()
            steps += 1
            if steps % 10 == 0:
                synchronize(self.device)  # keep the host's clock within a few steps of the device
        synchronize(self.device)
        elapsed = time.monotonic() - warm
        tokens = steps * self.cfg.accum * self.cfg.batch_size * self.cfg.seq_len
        if self.device.type == "cuda":
            peak, kind = torch.cuda.max_memory_allocated(self.device), "GPU memory allocated"
        else:
            peak, kind = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "process RSS"
        return BenchResult(steps, tokens / elapsed, peak, warm - started, kind)


def train(cfg: TrainConfig) -> TrainResult:
    return Trainer(cfg).run()
