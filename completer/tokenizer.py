"""Text <-> token ids for the engine, with the special ids a denoiser needs (mask, end, begin).

We use the `tokenizers` library directly rather than `transformers` so that loading a model
stays well under a second; the files are the ordinary Hugging Face ones.
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path

from tokenizers import Regex, Tokenizer as HFTokenizer, decoders, models, pre_tokenizers

from .errors import ModelLoadError

# Qwen2's pre-tokenisation split, needed only for checkpoints that ship vocab.json + merges.txt.
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
END_TOKEN_NAMES = ("<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "</s>", "<|eos|>")


class Tokenizer:
    def __init__(self, backend: HFTokenizer, mask_id: int, end_ids: set[int], bos_id: int | None):
        self.backend = backend
        self.mask_id = mask_id
        self.end_ids = end_ids
        self.end_id = min(end_ids)
        self.bos_id = bos_id

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(without_lone_surrogates(text), add_special_tokens=False).ids

    def encode_offsets(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Token ids and the characters [start, end) of ``text`` each one covers."""
        encoding = self.backend.encode(without_lone_surrogates(text), add_special_tokens=False)
        return encoding.ids, encoding.offsets

    def decode(self, ids: list[int]) -> str:
        return self.backend.decode(ids, skip_special_tokens=False)

    @cached_property
    def token_texts(self) -> list[str]:
        """Decoded text of every token id, for the span constraints."""
        return [self.backend.decode([i], skip_special_tokens=False) for i in range(self.backend.get_vocab_size())]

    @cached_property
    def special_ids(self) -> list[int]:
        """The special tokens (mask, end, begin, FIM sentinels, chat markers...): never part of a suggestion."""
        special = {i for i, t in self.backend.get_added_tokens_decoder().items() if t.special}
        return sorted(special | {i for i in (self.mask_id, self.bos_id, *self.end_ids) if i is not None})

    @cached_property
    def banned_ids(self) -> list[int]:
        """What a denoiser never commits: every special token but the ends, which end the span."""
        return [i for i in self.special_ids if i not in self.end_ids]

    @cached_property
    def special_texts(self) -> tuple[str, ...]:
        return tuple(sorted({t for t in map(self.decode, ([i] for i in self.special_ids)) if t.strip()}))

    @cached_property
    def newline_ids(self) -> list[int]:
        return [i for i, t in enumerate(self.token_texts) if "\n" in t and i not in self.end_ids]


def without_lone_surrogates(text: str) -> str:
    """Lone UTF-16 halves (a broken paste, a bad client) as U+FFFD: tokenizers and tree-sitter take only real text.

    One character for one keeps every offset.
    """
    return LONE_SURROGATE.sub("\ufffd", text)


def _special(config: dict, key: str) -> str | None:
    value = config.get(key)
    return value.get("content") if isinstance(value, dict) else value


def load_tokenizer(folder: Path, mask_token_id: int | None = None) -> Tokenizer:
    """Load tokenizer.json (or vocab.json + merges.txt) plus the special tokens of tokenizer_config.json."""
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    if (folder / "tokenizer.json").exists():
        backend = HFTokenizer.from_file(str(folder / "tokenizer.json"))
    elif (folder / "vocab.json").exists() and (folder / "merges.txt").exists():
        backend = HFTokenizer(models.BPE.from_file(str(folder / "vocab.json"), str(folder / "merges.txt")))
        backend.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        backend.decoder = decoders.ByteLevel()
        added = sorted(config.get("added_tokens_decoder", {}).items(), key=lambda kv: int(kv[0]))
        backend.add_special_tokens([t["content"] for _, t in added])
    else:
        raise ModelLoadError(f"{folder}: no tokenizer (expected tokenizer.json, or vocab.json and merges.txt)")

    def token_id(name: str | None) -> int | None:
        return backend.token_to_id(name) if name else None

    mask_id = mask_token_id if mask_token_id is not None else token_id(_special(config, "mask_token"))
    if mask_id is None:
        raise ModelLoadError(f"{folder}: the tokenizer has no mask token and the config names no mask_token_id")
    end_ids = {i for i in (token_id(_special(config, "eos_token")), token_id(_special(config, "pad_token"))) if i is not None}
    end_ids |= {i for i in map(backend.token_to_id, END_TOKEN_NAMES) if i is not None}
    end_ids.discard(mask_id)
    if not end_ids:
        raise ModelLoadError(f"{folder}: the tokenizer has no end-of-text or pad token")
    return Tokenizer(backend, mask_id, end_ids, token_id(_special(config, "bos_token")))
