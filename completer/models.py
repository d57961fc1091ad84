"""Where a `model` setting leads: a local checkpoint run by our scheduler, or a remote endpoint.

Both have one face: `submit(prefix, suffix, settings, on_draft, should_stop, hint) -> Job`,
`score(prefix, region, suffix) -> Future[list[TokenScore]]` and `rank(prefix, candidates, suffix) ->
Future[list[float]]` (where `can_score`: a remote endpoint answers no probabilities, so both raise
CompleterError and a hint is not sent), `special_texts`, `name`, `count_tokens`, `context_budget`,
`complete`, `close`. Front ends open models only here.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Callable, Protocol

from .engine import Completion
from .likelihood import TokenScore
from .sampler import DenoiseSettings
from .scheduler import Job, Scheduler


class Model(Protocol):
    name: str
    can_score: bool  # whether `score` and `rank` work: next edits and drafts need them
    special_texts: tuple[str, ...]  # the tokenizer's special tokens as text (none known for a remote model)

    def count_tokens(self, text: str) -> int: ...

    def context_budget(self, max_tokens: int, wanted: int | None = None) -> int: ...

    def submit(self, prefix: str, suffix: str, settings: DenoiseSettings,
               on_draft: Callable[[str], None] | None = None,
               should_stop: Callable[[], bool] | None = None, hint: str | None = None) -> Job: ...

    def complete(self, prefix: str, suffix: str, settings: DenoiseSettings,
                 on_draft: Callable[[str], None] | None = None) -> Completion: ...

    def score(self, prefix: str, region: str, suffix: str) -> Future[list[TokenScore]]: ...

    def rank(self, prefix: str, candidates: list[str], suffix: str) -> Future[list[float]]: ...

    def close(self) -> None: ...


def open_model(model: str | None = None, device: str | None = None, threads: int | None = None) -> Model:
    """A checkpoint folder or hub id (None: the bundled model), or an http(s)://.../v1 endpoint;
    ``threads``: a local model's torch threads on CPU (None: the engine's default)."""
    if is_remote(model):
        from .remote import RemoteModel  # httpx only for a remote model: the GPU image has none
        return RemoteModel(model)
    return Scheduler.load(model, device, threads=threads)


def is_remote(model: str | None) -> bool:
    return model is not None and model.startswith(("http://", "https://"))
