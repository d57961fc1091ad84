"""A small byte-level BPE vocabulary for Python source, and the corpus turned into token arrays.

Byte-level BPE round-trips any text exactly (tabs, trailing spaces, unicode), which a completion
engine needs: the infill is spliced back between the user's own bytes. The token arrays are
uint16 and LZMA-compressed so a whole prepared corpus fits in one 64 MiB transfer to a GPU machine.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from ..errors import CompleterError

END = "<|endoftext|>"
BEGIN = "<|beginoftext|>"
MASK = "<|mask|>"
SPECIAL_TOKENS = [END, BEGIN, MASK]
TOKENS_FILE = "tokens.npz"
MAX_TOKENS_FILE_BYTES = 64 * 1024 * 1024


def train_tokenizer(texts: list[str], vocab_size: int = 8192) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def reuse_tokenizer(folder: Path) -> Tokenizer:
    """A model folder's tokenizer.json, checked for the special tokens training needs."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise CompleterError(f"{folder}: no tokenizer.json to reuse")
    tokenizer = Tokenizer.from_file(str(path))
    missing = [t for t in SPECIAL_TOKENS if tokenizer.token_to_id(t) is None]
    if missing:
        raise CompleterError(f"{path}: lacks the special tokens {', '.join(missing)}")
    return tokenizer


def save_tokenizer(tokenizer: Tokenizer, folder: Path, max_seq_len: int = 1024) -> None:
    """tokenizer.json plus the config that lets transformers' PreTrainedTokenizerFast find the specials."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BEGIN, "eos_token": END, "pad_token": END, "mask_token": MASK,
        "model_max_length": max_seq_len,
        "clean_up_tokenization_spaces": False,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")


def encode_documents(tokenizer: Tokenizer, texts: list[str]) -> np.ndarray:
    """All documents as one uint16 stream, each followed by the end token."""
    if tokenizer.get_vocab_size() > 65536:
        raise CompleterError(f"vocabulary of {tokenizer.get_vocab_size()} tokens does not fit in uint16")
    end = tokenizer.token_to_id(END)
    pieces = []
    for encoding in tokenizer.encode_batch(texts, add_special_tokens=False):
        pieces.append(np.asarray(encoding.ids, dtype=np.uint16))
        pieces.append(np.asarray([end], dtype=np.uint16))
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.uint16)


def bytes_per_token(tokenizer: Tokenizer, texts: list[str]) -> float:
    n_bytes = sum(len(t.encode()) for t in texts)
    n_tokens = sum(len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False))
    return n_bytes / max(n_tokens, 1)


def save_token_arrays(folder: Path, train: np.ndarray, validation: np.ndarray) -> Path:
    """An .npz whose members are LZMA-compressed (a third smaller than savez_compressed's deflate); np.load reads it."""
    path = folder / TOKENS_FILE
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_LZMA) as archive:
        for name, array in (("train", train), ("validation", validation)):
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array))
    size = path.stat().st_size
    if size > MAX_TOKENS_FILE_BYTES:
        raise CompleterError(f"{path} is {size / 2**20:.1f} MiB, over the 64 MiB transfer limit; "
                             "prepare again with a smaller --max-mb")
    return path


def load_token_arrays(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    path = folder / TOKENS_FILE
    if not path.is_file():
        raise CompleterError(f"{folder}: no {TOKENS_FILE}; run `completer train prepare --out {folder} --decontaminate-from evals/data` first")
    with np.load(path) as arrays:
        train, validation = arrays["train"], arrays["validation"]
    if len(train) == 0 or len(validation) == 0:
        raise CompleterError(f"{path}: the train or validation token array is empty")
    return train, validation
