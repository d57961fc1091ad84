"""Opening models: a local model's torch threads set on purpose, from the cores the process may use; the handle
front ends hold a model by."""

from __future__ import annotations

import functools
import threading

import pytest
import torch

from completer import models
from completer.models import ModelHandle, default_threads, open_model
from completer.errors import BadInput, ModelLoadError
from tests.helpers import make_tiny_checkpoint


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_cpu_model_runs_on_the_threads_it_is_given(tmp_path, restore_threads):
    folder = str(make_tiny_checkpoint(tmp_path))
    open_model(folder, "cpu", threads=1)
    assert torch.get_num_threads() == 1
    open_model(folder, "cpu")
    assert torch.get_num_threads() == default_threads()


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 2), (4, 3), (16, 15)])
def test_default_threads_leave_a_core_for_the_editor_above_two(monkeypatch, cores, threads):
    monkeypatch.setattr(models, "usable_cores", lambda: cores)
    assert default_threads() == threads


def test_a_thread_count_below_one_is_refused(tmp_path):
    with pytest.raises(BadInput, match="threads must be a positive number"):
        open_model(str(make_tiny_checkpoint(tmp_path)), "cpu", threads=0)


class Opened:
    """A model's stand-in that knows whether it was closed (the handle holds any `Model`)."""

    def __init__(self, name: str) -> None:
        self.name, self.closed = name, False

    def close(self) -> None:
        self.closed = True


def test_a_handle_opens_in_the_background_and_closes_what_it_held_when_opened_again():
    release = threading.Event()

    def slow() -> Opened:
        release.wait(30)
        return Opened("first")

    handle = ModelHandle(slow)
    assert handle.loaded is None and handle.error is None  # still loading: a health check does not wait
    release.set()
    first = handle.get(timeout=30)
    assert handle.loaded is first and first.name == "first"
    handle.open(lambda: Opened("second"))
    assert handle.get(timeout=30).name == "second" and first.closed
    second = handle.loaded
    handle.close()
    assert second.closed and handle.loaded is None


def test_a_failed_load_is_reported_and_tried_again_by_the_next_get(tmp_path):
    folder = tmp_path / "later"
    handle = ModelHandle(functools.partial(open_model, str(folder)))
    with pytest.raises(ModelLoadError):
        handle.get(timeout=60)
    assert handle.error and str(folder) in handle.error
    make_tiny_checkpoint(folder)
    model = handle.get(timeout=60)
    assert model.name == "later" and handle.error is None
    handle.close()


def test_a_crash_while_loading_is_a_load_error_not_a_traceback_for_the_caller():
    handle = ModelHandle(lambda: 1 / 0)
    with pytest.raises(ModelLoadError, match="division by zero"):
        handle.get(timeout=30)
