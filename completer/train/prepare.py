"""One step from installed sources to a training folder: corpus, tokenizer, token arrays, manifest."""

from __future__ import annotations

import json
from pathlib import Path

from .corpus import build_corpus, manifest
from .tokenizer import (bytes_per_token, encode_documents, reuse_tokenizer, save_token_arrays, save_tokenizer,
                        train_tokenizer)


def prepare(out: Path, decontaminate_from: Path, max_mb: float = 100.0,
            vocab_size: int = 8192, tokenizer_mb: float = 30.0,
            site_dirs: list[Path] | None = None, stdlib: Path | None = None,
            tokenizer_from: Path | None = None) -> dict:
    """Build everything `completer train run` needs in ``out``; returns the manifest written there.

    ``decontaminate_from`` is a folder of HumanEval*.jsonl.gz (the evals' `evals/data`) whose problems
    the corpus must not contain: the caller names it, so training depends on no front end.
    ``tokenizer_from`` reuses a model's vocabulary, so that model can be trained further on the data.
    """
    tokenizer = reuse_tokenizer(tokenizer_from) if tokenizer_from is not None else None
    corpus = build_corpus(decontaminate_from, int(max_mb * 1e6), site_dirs, stdlib)
    out.mkdir(parents=True, exist_ok=True)
    if tokenizer is None:
        sample, size = [], 0
        for file in corpus.train:
            if size > tokenizer_mb * 1e6:
                break
            sample.append(file.text)
            size += len(file.text)
        tokenizer = train_tokenizer(sample, vocab_size)
    save_tokenizer(tokenizer, out)
    train = encode_documents(tokenizer, [f.text for f in corpus.train])
    validation = encode_documents(tokenizer, [f.text for f in corpus.validation])
    tokens_path = save_token_arrays(out, train, validation)
    summary = manifest(corpus) | {
        "train_tokens": int(len(train)),
        "validation_tokens": int(len(validation)),
        "vocab_size": tokenizer.get_vocab_size(),
        "validation_bytes_per_token": round(bytes_per_token(tokenizer, [f.text for f in corpus.validation]), 3),
        "tokens_file_mib": round(tokens_path.stat().st_size / 2**20, 2),
    }
    (out / "manifest.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
