"""The engine's torch threads: set on purpose, from the cores the process may use."""

from __future__ import annotations

import pytest
import torch

from completer import engine
from completer.engine import Engine, default_threads
from completer.errors import BadInput
from tests.helpers import make_tiny_checkpoint


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_cpu_engine_runs_on_the_threads_it_is_given(tmp_path, restore_threads):
    folder = str(make_tiny_checkpoint(tmp_path))
    Engine.load(folder, "cpu", threads=1)
    assert torch.get_num_threads() == 1
    Engine.load(folder, "cpu")
    assert torch.get_num_threads() == default_threads()


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 2), (4, 3), (16, 15)])
def test_default_threads_leave_a_core_for_the_editor_above_two(monkeypatch, cores, threads):
    monkeypatch.setattr(engine, "usable_cores", lambda: cores)
    assert default_threads() == threads


def test_a_thread_count_below_one_is_refused(tmp_path):
    with pytest.raises(BadInput, match="threads must be a positive number"):
        Engine.load(str(make_tiny_checkpoint(tmp_path)), "cpu", threads=0)
