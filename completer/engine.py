"""The engine: a loaded denoiser plus tokenizer, turning (prefix, suffix) text into an infill."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .checkpoint import load_checkpoint
from .model import Transformer
from .sampler import DenoiseSettings, Denoiser
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

    def context_budget(self, max_tokens: int) -> int:
        return self.model.config.max_seq_len - max_tokens - 1

    def complete(self, prefix: str, suffix: str, *, max_tokens: int = 64, threshold: float | None = 0.9,
                 steps: int | None = None, span: str = "free", temperature: float = 0.0, seed: int | None = None,
                 block_size: int = 32, use_cache: bool = True, refresh_every: int = 0,
                 should_stop: Callable[[], bool] | None = None,
                 on_draft: Callable[[str], None] | None = None) -> Completion:
        if threshold is None and steps is None:
            steps = block_size  # the classic fixed schedule: one token per pass
        settings = DenoiseSettings(max_tokens=max_tokens, block_size=block_size, threshold=threshold, steps=steps,
                                   use_cache=use_cache, refresh_every=refresh_every, temperature=temperature,
                                   seed=seed, span=span)
        settings.validate()
        prefix_ids, suffix_ids = self.tokenizer.encode(prefix), self.tokenizer.encode(suffix)
        budget = self.context_budget(max_tokens)  # keep the text nearest the cursor
        keep_suffix = min(len(suffix_ids), budget // 4 if len(prefix_ids) > budget // 2 else budget - len(prefix_ids))
        suffix_ids = suffix_ids[:max(keep_suffix, 0)]
        prefix_ids = prefix_ids[max(len(prefix_ids) - (budget - len(suffix_ids)), 0):]
        line_start = prefix[prefix.rfind("\n") + 1:]
        denoiser = Denoiser(self.model, self.tokenizer, prefix_ids, suffix_ids, settings,
                            should_stop=should_stop, on_draft=on_draft, line_start=line_start)
        ids = denoiser.run()
        return Completion(self.tokenizer.decode(ids), denoiser.stats.as_dict())
