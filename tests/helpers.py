"""Tiny real checkpoints and training folders the tests build on the fly (no hub, no downloads)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from completer.checkpoint import save_native
from completer.model import ModelConfig, Transformer
from completer.tokenizer import load_tokenizer
from completer.train.tokenizer import encode_documents, save_token_arrays, save_tokenizer, train_tokenizer

SPECIALS = ["<|endoftext|>", "<|beginoftext|>", "<|mask|>"]
# The folder `completer train prepare --decontaminate-from` is given (README): the evals' data, read as files.
HUMANEVAL_DATA = Path(__file__).resolve().parent.parent / "evals" / "data"


def tiny_corpus() -> list[str]:
    """A little Python, enough for a byte-level BPE with real merges."""
    import inspect
    import json as json_module
    import textwrap as textwrap_module
    return [inspect.getsource(textwrap_module), inspect.getsource(json_module)]


def make_tokenizer(folder: Path, vocab_size: int = 400) -> Path:
    """Byte-level BPE with end, begin and mask tokens, saved as tokenizer.json + tokenizer_config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(tiny_corpus(), trainer)
    tok.save(str(folder / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
              "bos_token": "<|beginoftext|>", "mask_token": "<|mask|>"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def tiny_config(vocab_size: int, mask_id: int, **overrides) -> ModelConfig:
    base = dict(family="native", vocab_size=vocab_size, dim=64, n_layers=2, n_heads=4, n_kv_heads=2,
                intermediate_size=128, mask_token_id=mask_id, max_seq_len=2048, tie_embeddings=True)
    return ModelConfig(**{**base, **overrides})


def make_tiny_checkpoint(folder: Path, seed: int = 0, **overrides) -> Path:
    """A random-weight native checkpoint: real files, gibberish output."""
    folder = Path(folder)
    make_tokenizer(folder)
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    torch.manual_seed(seed)
    model = Transformer(tiny_config(tok.get_vocab_size(), tok.token_to_id("<|mask|>"), **overrides))
    save_native(model, folder, folder)
    return folder


def make_newline_checkpoint(folder: Path) -> Path:
    """A tiny checkpoint all but sure that every masked position is a newline: a span kind that forbids one
    must overrule it."""
    make_tiny_checkpoint(folder, tie_embeddings=False)
    weights = load_file(folder / "model.safetensors")
    for k, token in enumerate(load_tokenizer(folder).newline_ids):
        weights["lm_head.weight"][token] = 1000.0 if k % 2 else -1000.0  # one sign or the other meets the hidden state's
    save_file(weights, str(folder / "model.safetensors"))
    return folder


TRAINING_DOCUMENTS = [f"def scale_{i}(values):\n    return [v * {i} for v in values]\n\n\nprint(scale_{i}([1, 2, 3]))\n"
                      for i in range(200)]


def make_training_data(folder: Path, documents: list[str] = TRAINING_DOCUMENTS, vocab_size: int = 300) -> Path:
    """What `completer train prepare` writes, from a few synthetic documents."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(documents, vocab_size=vocab_size)
    save_tokenizer(tokenizer, folder)
    split = len(documents) * 9 // 10
    save_token_arrays(folder, encode_documents(tokenizer, documents[:split]), encode_documents(tokenizer, documents[split:]))
    (folder / "manifest.json").write_text(json.dumps({"sources": []}))
    return folder


def rss_kib(pid: int) -> int:
    """A live process's resident memory, as the kernel counts it."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
