"""Fixtures shared across the test folders.

The Triton kernels are checked on CPU through the Triton interpreter, in a worker process.
TRITON_INTERPRET only takes effect if it is set before triton is imported, so the kernels run in
one spawned worker that sets it first thing (``kernel_cases.start_worker``). The test processes
never see the variable. Here at the top so that the model's tests (tests/completer) can run a
pass through the kernels too.

A tiny prepared training folder and a tiny training shape serve the training loop's tests, the GPU
recipe's and the GPU session's (tests/scripts), which run those scripts here in miniature.
"""

import multiprocessing
from dataclasses import replace
from pathlib import Path

import pytest

from completer.train.loop import TrainConfig
from tests.helpers import make_training_data
from tests.kernels import kernel_cases

TINY_SHAPE = dict(dim=32, layers=2, heads=2, kv_heads=1, intermediate=64)


@pytest.fixture(scope="session")
def interpreter():
    """Run ``interpreter.apply(kernel_cases.some_case, args)`` to get a case's tensors back."""
    pool = multiprocessing.get_context("spawn").Pool(1, initializer=kernel_cases.start_worker)
    yield pool
    pool.close()
    pool.join()


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
