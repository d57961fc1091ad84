"""lsp.service.Completer on its own event loop: the model's life cycle as requests see it."""

import asyncio
import threading
import time

import lsp.service
from completer.options import Options
from lsp.service import Completer
from lsp.settings import Settings


def test_a_request_waking_as_the_load_finishes_gets_the_model(tiny_model, monkeypatch):
    """The load's result reaches the loop before `load` resumes to store it; a request already queued
    in that step must use the model, not answer nothing (Neovim's first keystroke hit this window)."""
    opened = threading.Event()
    open_model = lsp.service.open_model

    def open_and_signal(*args, **kwargs):
        model = open_model(*args, **kwargs)
        opened.set()
        return model

    monkeypatch.setattr(lsp.service, "open_model", open_and_signal)

    async def scenario() -> int:
        completer = Completer(Settings(model=str(tiny_model), options=Options(max_tokens=4)))
        loading = asyncio.create_task(completer.load())
        await asyncio.sleep(0)  # the load runs in its worker thread
        assert opened.wait(60)
        time.sleep(0.2)  # the loop stays blocked while the worker queues the result, ahead of this task
        await asyncio.sleep(0)  # the result lands; `load`, which stores it, runs after this task
        assert completer.handle.future.done() and not loading.done()  # loaded, and `load` has not resumed
        await completer.complete("file:///a.py", "x = \n", 4, "python")
        await loading
        return completer.counters.model_calls

    assert asyncio.run(scenario()) == 1
