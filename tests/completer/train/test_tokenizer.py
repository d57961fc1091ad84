"""The bundled vocabulary: exact round trip, loadable by transformers and the engine, compact arrays."""

import numpy as np
import pytest
from transformers import PreTrainedTokenizerFast

from completer.errors import CompleterError
from completer.tokenizer import load_tokenizer
from completer.train.tokenizer import (END, MASK, bytes_per_token, encode_documents, load_token_arrays,
                                       save_token_arrays, save_tokenizer, train_tokenizer)

SOURCES = [
    "def add(a, b):\n    return a + b\n",
    "class Point:\n\tdef __init__(self, x):\n\t\tself.x = x  \n",
    "name = 'Zoë'  # ünïcode ✓ 名前\nprint(f\"{name!r}\")   \n\n",
] * 20


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(SOURCES, vocab_size=400)


def test_decode_of_encode_is_exact_for_tabs_unicode_and_trailing_spaces(tokenizer):
    for text in SOURCES[:3] + ["\t\t  x\r\n\u00a0y  \t\n", "emoji 🐍 and CJK 漢字 never seen in training"]:
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        assert tokenizer.decode(ids, skip_special_tokens=False) == text


def test_saved_tokenizer_loads_in_transformers_and_engine_with_mask_token(tokenizer, tmp_path):
    save_tokenizer(tokenizer, tmp_path)
    hf = PreTrainedTokenizerFast.from_pretrained(tmp_path)
    assert hf.mask_token == MASK and hf.mask_token_id == tokenizer.token_to_id(MASK)
    assert hf.eos_token_id == hf.pad_token_id == tokenizer.token_to_id(END)
    assert hf.decode(hf(SOURCES[2])["input_ids"]) == SOURCES[2]
    engine_tokenizer = load_tokenizer(tmp_path)
    assert engine_tokenizer.mask_id == hf.mask_token_id
    assert engine_tokenizer.end_id == hf.eos_token_id


def test_documents_are_joined_by_end_tokens_as_uint16(tokenizer):
    stream = encode_documents(tokenizer, SOURCES[:2])
    end = tokenizer.token_to_id(END)
    assert stream.dtype == np.uint16
    assert list(np.flatnonzero(stream == end)) == [len(tokenizer.encode(SOURCES[0]).ids),
                                                   len(stream) - 1]
    assert bytes_per_token(tokenizer, SOURCES) > 1.0


def test_token_arrays_survive_save_and_load(tmp_path):
    train, validation = np.arange(1000, dtype=np.uint16), np.arange(50, dtype=np.uint16)
    save_token_arrays(tmp_path, train, validation)
    loaded_train, loaded_validation = load_token_arrays(tmp_path)
    assert np.array_equal(loaded_train, train) and np.array_equal(loaded_validation, validation)


def test_missing_or_empty_token_arrays_are_a_clear_error(tmp_path):
    with pytest.raises(CompleterError, match="train prepare"):
        load_token_arrays(tmp_path)
    save_token_arrays(tmp_path, np.zeros(0, dtype=np.uint16), np.zeros(0, dtype=np.uint16))
    with pytest.raises(CompleterError, match="empty"):
        load_token_arrays(tmp_path)
