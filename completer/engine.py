"""The engine: a loaded denoiser plus its tokenizer and name. The scheduler runs it.

It also owns the process's torch thread count on CPU: left to itself torch takes every core, so a
server fights the editor (and other servers) for them; with other processes busy one model call
took 5-25 s. The count is set on purpose, from the cores this process may use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from . import budget, graphs
from .checkpoint import load_checkpoint
from .errors import BadInput
from .model import Transformer
from .tokenizer import Tokenizer


@dataclass
class Completion:
    text: str
    stats: dict


class Engine:
    def __init__(self, model: Transformer, tokenizer: Tokenizer, name: str, cuda_graphs: bool = False,
                 folder: Path | None = None):
        self.model, self.tokenizer, self.name, self.folder = model, tokenizer, name, folder
        self.cuda_graphs = cuda_graphs  # block passes replay CUDA graphs (`completer.graphs`)

    @classmethod
    def load(cls, model: str | None = None, device: str | None = None, threads: int | None = None) -> "Engine":
        """Load a checkpoint folder or hub id (None: the bundled model); bf16 on a GPU, fp32 on CPU
        with ``threads`` torch threads (None: `default_threads`); CUDA graphs as COMPLETER_CUDA_GRAPHS says."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if device != "cpu" and not (device.startswith("cuda") and torch.cuda.is_available()):
            raise BadInput(f"no device '{device}' here: this torch {torch.__version__} runs on "
                           f"{'cpu and cuda' if torch.cuda.is_available() else 'cpu only'}")
        if threads is not None and threads <= 0:
            raise BadInput(f"threads must be a positive number (got {threads})")
        cuda_graphs = graphs.wanted(device)
        if not device.startswith("cuda"):
            torch.set_num_threads(threads or default_threads())
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        net, tokenizer, folder = load_checkpoint(model, dtype=dtype, device=device)
        return cls(net, tokenizer, "bundled" if model is None else folder.name, cuda_graphs, folder)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def context_budget(self, max_tokens: int, wanted: int | None = None) -> int:
        return budget.context_budget(self.model.config.max_seq_len, max_tokens, wanted)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_threads() -> int:
    """Torch threads when none are set: every usable core on a machine of 2 or fewer, one left for the
    editor above that. Measured on 2 cores (README): in process a request took 89 ms p50 on one thread
    and 63-69 ms on two; through a stdio session p50 101-109 ms on one, 88-111 ms on two."""
    cores = usable_cores()
    return cores - 1 if cores > 2 else cores
