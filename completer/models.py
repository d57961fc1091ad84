"""Where a `model` setting leads, and the one place that opens and holds models.

A model is a local checkpoint run by our scheduler or a remote endpoint. Both have one face:
`submit(prefix, suffix, settings, on_draft, should_stop, hint) -> Job`, `score(prefix, region, suffix)
-> Future[list[TokenScore]]` and `rank(prefix, candidates, suffix) -> Future[list[float]]` (where
`can_score`: a remote endpoint answers no probabilities, so both raise CompleterError and a hint is not
sent), `special_texts`, `name`, `count_tokens`, `tokens`, `context_budget`, `complete`, `close`. The
pipeline encodes a context once (`tokens`) and hands the ids to `submit`, `score` and `rank`.

`open_model` is the only constructor; `ModelHandle` is how a front end holds one (the language
server, the HTTP API and its Ray replicas, the arena): opened in the background, waited for where
it is used, its load error kept for a health check, opened again, closed.

Opening a local model also sets the process's torch thread count on CPU: left to itself torch takes
every core, so a server fights the editor (and other servers) for them; with other processes busy one
model call took 5-25 s. The count is set on purpose, from the cores this process may use.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future
from typing import Callable, Protocol

import torch

from . import graphs
from .checkpoint import load_checkpoint
from .errors import BadInput, CompleterError, ModelLoadError
from .likelihood import TokenScore
from .sampler import DenoiseSettings
from .scheduler import DEFAULT_CAPACITY, Completion, Job, Scheduler, Tokens

log = logging.getLogger(__name__)


class Model(Protocol):
    name: str
    can_score: bool  # whether `score` and `rank` work: next edits and drafts need them
    special_texts: tuple[str, ...]  # the tokenizer's special tokens as text (none known for a remote model)

    def count_tokens(self, text: str) -> int: ...

    def tokens(self, text: str) -> list[int] | None: ...  # our tokenizer's ids; None for a remote model's

    def context_budget(self, max_tokens: int, wanted: int | None = None) -> int: ...

    def submit(self, prefix: str, suffix: str, settings: DenoiseSettings,
               on_draft: Callable[[str], None] | None = None,
               should_stop: Callable[[], bool] | None = None, hint: str | None = None,
               tokens: Tokens | None = None) -> Job: ...

    def complete(self, prefix: str, suffix: str, settings: DenoiseSettings,
                 on_draft: Callable[[str], None] | None = None) -> Completion: ...

    def score(self, prefix: str, region: str, suffix: str, tokens: Tokens | None = None) -> Future[list[TokenScore]]: ...

    def rank(self, prefix: str, candidates: list[str], suffix: str, tokens: Tokens | None = None) -> Future[list[float]]: ...

    def close(self) -> None: ...


def open_model(model: str | None = None, device: str | None = None, threads: int | None = None,
               capacity: int = DEFAULT_CAPACITY) -> Model:
    """A checkpoint folder or hub id (None: the bundled model), or an http(s)://.../v1 endpoint.

    A local model: bf16 on a GPU, fp32 on CPU with ``threads`` torch threads (None: `default_threads`),
    CUDA graphs as COMPLETER_CUDA_GRAPHS says, ``capacity`` requests in flight at once.
    """
    if is_remote(model):
        from .remote import RemoteModel  # httpx only for a remote model: the GPU image has none
        return RemoteModel(model)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu" and not (device.startswith("cuda") and torch.cuda.is_available()):
        raise BadInput(f"no device '{device}' here: this torch {torch.__version__} runs on "
                       f"{'cpu and cuda' if torch.cuda.is_available() else 'cpu only'}")
    if threads is not None and threads <= 0:
        raise BadInput(f"threads must be a positive number (got {threads})")
    cuda_graphs = graphs.wanted(device)
    if not device.startswith("cuda"):
        torch.set_num_threads(threads or default_threads())
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    net, tokenizer, folder = load_checkpoint(model, dtype=dtype, device=device)
    return Scheduler(net, tokenizer, "bundled" if model is None else folder.name, folder, cuda_graphs, capacity)


def is_remote(model: str | None) -> bool:
    return model is not None and model.startswith(("http://", "https://"))


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_threads() -> int:
    """Torch threads when none are set: every usable core on a machine of 2 or fewer, one left for the
    editor above that. Measured on 2 cores (README): in process a request took 89 ms p50 on one thread
    and 63-69 ms on two; through a stdio session p50 101-109 ms on one, 88-111 ms on two."""
    cores = usable_cores()
    return cores - 1 if cores > 2 else cores


Opener = Callable[[], Model]


class ModelHandle:
    """A front end's hold on its model: `open` loads one in a background thread (closing the one held), `get`
    waits for it, `error` says why the last load failed (a health check reads it without waiting), `close`
    lets it go.

    A failed load is not kept: the next `get` tries again, so fixing the checkpoint needs no restart.
    """

    def __init__(self, opener: Opener | None = None) -> None:
        self.lock = threading.Lock()
        self.opener: Opener | None = None
        self.future: Future[Model] | None = None
        if opener is not None:
            self.open(opener)

    def open(self, opener: Opener) -> Future[Model]:
        """Start opening a model with ``opener``; the model held until now is closed."""
        with self.lock:
            old, self.opener = self.future, opener
            self.future = self.start(opener)
        if old is not None:
            old.add_done_callback(close_loaded)
        return self.future

    def start(self, opener: Opener) -> Future[Model]:
        future: Future[Model] = Future()

        def load() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(opener())
            except Exception as error:  # every failure is the one kind front ends report: the model is unavailable
                if not isinstance(error, CompleterError):
                    log.error("loading the model crashed", exc_info=error)
                future.set_exception(error if isinstance(error, ModelLoadError) else ModelLoadError(str(error)))

        threading.Thread(target=load, name="completer-model-load", daemon=True).start()
        return future

    def current(self) -> Future[Model]:
        """The newest load's future; a failed load is started again."""
        with self.lock:
            if self.opener is None:
                raise ModelLoadError("no model was opened")
            if self.future.done() and self.future.exception() is not None:
                self.future = self.start(self.opener)
            return self.future

    def get(self, timeout: float | None = None) -> Model:
        """Blocking: the model once loaded (call from a worker thread); raises its load error."""
        return self.current().result(timeout)

    @property
    def loaded(self) -> Model | None:
        """The model if it is loaded now, without waiting."""
        future = self.future
        return future.result() if future is not None and future.done() and future.exception() is None else None

    @property
    def error(self) -> str | None:
        """Why the last load failed, without waiting; None while it loads or once it has."""
        future = self.future
        return str(future.exception()) if future is not None and future.done() and future.exception() else None

    def close(self) -> None:
        with self.lock:
            future, self.future, self.opener = self.future, None, None
        if future is not None:
            future.add_done_callback(close_loaded)


def close_loaded(future: Future[Model]) -> None:
    """Close a model once its load ends (at once if it has); a failed load has nothing to close."""
    if not future.cancelled() and future.exception() is None:
        future.result().close()
