"""`completer train prepare`: a training folder from installed sources, optionally in a shipped model's vocabulary."""

import json

import numpy as np
import pytest
from tokenizers import Tokenizer, models

from completer.errors import CompleterError
from completer.train.corpus import is_validation
from completer.train.prepare import prepare
from completer.train.tokenizer import load_token_arrays
from tests.helpers import HUMANEVAL_DATA, make_tokenizer

CODE = "\n".join(f"def function_{i}(value):\n    return value * {i} + {i * 7}\n" for i in range(12))


@pytest.fixture
def stdlib(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    for i in range(300):  # enough that the 2 % validation split by path is not empty
        (folder / f"module_{i}.py").write_text(CODE.replace("value", f"name_{i}"))
    assert any(is_validation(str(path)) for path in folder.iterdir())
    return folder


def test_prepare_with_tokenizer_from_keeps_that_models_vocabulary(stdlib, tmp_path):
    shipped = make_tokenizer(tmp_path / "shipped")
    summary = prepare(tmp_path / "data", HUMANEVAL_DATA, site_dirs=[], stdlib=stdlib, tokenizer_from=shipped)
    vocabulary = Tokenizer.from_file(str(shipped / "tokenizer.json")).get_vocab()
    assert Tokenizer.from_file(str(tmp_path / "data" / "tokenizer.json")).get_vocab() == vocabulary
    train, validation = load_token_arrays(tmp_path / "data")
    assert summary["train_tokens"] == len(train) and int(np.max(train)) < len(vocabulary)
    assert json.loads((tmp_path / "data" / "manifest.json").read_text())["train_tokens"] == len(train)


def test_tokenizer_from_a_folder_without_the_special_tokens_is_a_clear_error(stdlib, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    tokenizer = Tokenizer.from_file(str(make_tokenizer(tmp_path / "full") / "tokenizer.json"))
    vocabulary = {t: i for t, i in tokenizer.get_vocab().items() if t != "<|mask|>"}
    Tokenizer(models.BPE(vocabulary, [])).save(str(folder / "tokenizer.json"))
    with pytest.raises(CompleterError, match="lacks the special tokens <\\|mask\\|>"):
        prepare(tmp_path / "data", HUMANEVAL_DATA, site_dirs=[], stdlib=stdlib, tokenizer_from=folder)
    with pytest.raises(CompleterError, match="no tokenizer.json"):
        prepare(tmp_path / "data", HUMANEVAL_DATA, site_dirs=[], stdlib=stdlib, tokenizer_from=tmp_path)
