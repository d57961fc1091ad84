"""A tiny prepared training folder and a tiny training shape, shared by the loop and recipe tests."""

from dataclasses import replace
from pathlib import Path

import pytest

from completer.train.loop import TrainConfig
from tests.helpers import make_training_data

TINY_SHAPE = dict(dim=32, layers=2, heads=2, kv_heads=1, intermediate=64)


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> Path:
    return make_training_data(tmp_path_factory.mktemp("data"))


@pytest.fixture
def tiny():
    """TrainConfig of a tiny, fast run; keyword arguments override it."""
    def config(data: Path, out: Path, **overrides) -> TrainConfig:
        cfg = TrainConfig(data=data, out=out, steps=4, batch_size=4, seq_len=96, warmup=2, lr=1e-2, min_lr=1e-3,
                          precision="fp32", eval_every=100, eval_batches=1, log_every=1, **TINY_SHAPE)
        return replace(cfg, **overrides)
    return config
