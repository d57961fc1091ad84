"""The Triton kernels are checked on CPU through the Triton interpreter, in a worker process.

TRITON_INTERPRET only takes effect if it is set before triton is imported, so the kernels run in
one spawned worker that sets it first thing (``kernel_cases.start_worker``). The test processes
never see the variable. Here at the top so that the model's tests (tests/completer) can run a
pass through the kernels too.
"""

import multiprocessing

import pytest

from tests.kernels import kernel_cases


@pytest.fixture(scope="session")
def interpreter():
    """Run ``interpreter.apply(kernel_cases.some_case, args)`` to get a case's tensors back."""
    pool = multiprocessing.get_context("spawn").Pool(1, initializer=kernel_cases.start_worker)
    yield pool
    pool.close()
    pool.join()
