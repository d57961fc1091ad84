"""The engine: a loaded denoiser plus its tokenizer and name. The scheduler runs it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import budget
from .checkpoint import load_checkpoint
from .model import Transformer
from .tokenizer import Tokenizer


@dataclass
class Completion:
    text: str
    stats: dict


class Engine:
    def __init__(self, model: Transformer, tokenizer: Tokenizer, name: str):
        self.model, self.tokenizer, self.name = model, tokenizer, name

    @classmethod
    def load(cls, model: str | None = None, device: str | None = None) -> "Engine":
        """Load a checkpoint folder or hub id (None: the bundled model); bf16 on a GPU, fp32 on CPU."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        net, tokenizer, folder = load_checkpoint(model, dtype=dtype, device=device)
        return cls(net, tokenizer, "bundled" if model is None else folder.name)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def context_budget(self, max_tokens: int, wanted: int | None = None) -> int:
        return budget.context_budget(self.model.config.max_seq_len, max_tokens, wanted)
