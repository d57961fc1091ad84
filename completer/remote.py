"""A model behind an OpenAI-compatible completions endpoint, used like a local one.

`http(s)://HOST[:PORT]/v1` sends fill-in-the-middle requests (`prompt` + `suffix`) to
`{url}/completions`: our own `serve --http` on a GPU box, vLLM, llama.cpp's server, OpenAI-style
FIM APIs. A URL that already ends in `/completions` is used as it is, so Mercury's
`https://api.inceptionlabs.ai/v1/fim/completions` works; a `#NAME` fragment is sent as the
request's `model`. The API key comes from `COMPLETER_REMOTE_API_KEY`.

Requests always stream, so a cancelled job (superseded in the editor) closes its connection at
the next event, and drafts reach the editor as they come. Our server streams whole drafts
(`"draft": true`); other servers stream deltas, which are joined.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

import httpx

from .budget import context_budget
from .errors import Cancelled, CompleterError
from .options import DEFAULT_EFFORT, EFFORTS
from .sampler import DenoiseSettings
from .scheduler import Completion, Job, Tokens

API_KEY_VARIABLE = "COMPLETER_REMOTE_API_KEY"
TIMEOUT = httpx.Timeout(30.0, connect=5.0)  # seconds to connect, and between two events
REMOTE_WINDOW = 4096  # context window assumed for a model we cannot ask; its server cuts what is too long


class RemoteModel:
    """Same face as the scheduler (`submit` -> Job, `name`, `count_tokens`, `context_budget`)."""

    can_score = False  # a completions endpoint answers no token probabilities: no next edits, no drafts
    special_texts: tuple[str, ...] = ()  # its tokenizer is not ours to read (`lsp.checks` knows the usual spellings)

    def __init__(self, url: str, api_key: str | None = None, workers: int = 16) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CompleterError(f"remote model must be http(s)://HOST[:PORT]/v1, got {url!r}")
        path = parts.path.rstrip("/")
        if not path.endswith("/completions"):
            path += "/completions"
        self.endpoint = urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
        self.remote_name = parts.fragment or None
        self.name = urlunsplit((parts.scheme, parts.netloc, parts.path, "", parts.fragment))
        api_key = api_key or os.environ.get(API_KEY_VARIABLE)
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=TIMEOUT, headers=self.headers)
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="completer-remote")

    def count_tokens(self, text: str) -> int:
        return len(text) // 3 + 1  # we have not its tokenizer: code averages about three characters a token

    def tokens(self, text: str) -> None:
        return None  # its tokenizer is not ours: the endpoint is sent text

    def context_budget(self, max_tokens: int, wanted: int | None = None) -> int:
        return context_budget(REMOTE_WINDOW, max_tokens, wanted)

    def submit(self, prefix: str, suffix: str, settings: DenoiseSettings,
               on_draft: Callable[[str], None] | None = None,
               should_stop: Callable[[], bool] | None = None, hint: str | None = None,
               tokens: Tokens | None = None) -> Job:
        """``hint`` is not sent: a completions endpoint takes none (the pipeline gives none where `can_score` is
        False); nor ``tokens``, which a remote model never has (`tokens`)."""
        settings.validate()
        job = Job(should_stop)
        body = {"prompt": prefix, "suffix": suffix, "max_tokens": settings.max_tokens,
                "temperature": settings.temperature, "stream": True}
        if settings.seed is not None:
            body["seed"] = settings.seed
        # Only ours knows these, and strict servers refuse extra fields: each is sent where it is not the default.
        if settings.effort not in (None, DEFAULT_EFFORT):
            body["effort"] = settings.effort
        if settings.span != "free":  # the span kind the pipeline chose: a line span must stay one line
            body["span"] = settings.span
        if settings.steps is not None:
            body["steps"] = settings.steps
        elif settings.threshold != EFFORTS[settings.effort or DEFAULT_EFFORT]["threshold"]:
            body["threshold"] = settings.threshold
        if self.remote_name:
            body["model"] = self.remote_name
        self.pool.submit(self.run, job, body, on_draft)
        return job

    def complete(self, prefix: str, suffix: str, settings: DenoiseSettings,
                 on_draft: Callable[[str], None] | None = None) -> Completion:
        return self.submit(prefix, suffix, settings, on_draft).result()

    def score(self, prefix: str, region: str, suffix: str, tokens: Tokens | None = None):
        raise CompleterError(f"remote model {self.name}: next-edit suggestions read the probability of every "
                             "token, which a completions endpoint does not give; use a local model")

    def rank(self, prefix: str, candidates: list[str], suffix: str, tokens: Tokens | None = None):
        raise CompleterError(f"remote model {self.name}: ranking candidates reads token probabilities, "
                             "which a completions endpoint does not give")

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    def run(self, job: Job, body: dict, on_draft: Callable[[str], None] | None) -> None:
        try:
            job.resolve(self.fetch(job, body, on_draft))
        except Exception as error:
            job.fail(error)

    def fetch(self, job: Job, body: dict, on_draft: Callable[[str], None] | None) -> Completion:
        started = time.perf_counter()
        text, final = "", None
        try:
            with self.client.stream("POST", self.endpoint, json=body) as response:
                if response.status_code != 200:
                    raise CompleterError(f"remote model {self.name}: HTTP {response.status_code}: "
                                         f"{error_message(response.read())}")
                for line in response.iter_lines():
                    if job.stopped():
                        raise Cancelled("superseded or cancelled")  # leaving the block closes the connection
                    if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                        continue
                    event = json.loads(line[5:])
                    if "error" in event:
                        raise CompleterError(f"remote model {self.name}: {error_message(line[5:].encode())}")
                    choices = event.get("choices") or [{}]  # a usage-only last chunk has none
                    piece = choices[0].get("text") or ""
                    text = piece if "draft" in event else text + piece  # ours: whole drafts; others: deltas
                    if event.get("draft") is False or "usage" in event:
                        final = event
                    elif on_draft is not None and text:
                        on_draft(text)
        except httpx.TimeoutException:
            raise CompleterError(f"remote model {self.name}: no answer within {TIMEOUT.read:.0f} s") from None
        except httpx.TransportError as error:
            raise CompleterError(f"remote model {self.name}: {error}") from None
        except (json.JSONDecodeError, KeyError, IndexError, TypeError):
            raise CompleterError(f"remote model {self.name}: not an OpenAI-style completion stream") from None
        stats = dict((final or {}).get("completer") or {})
        stats.setdefault("forward_passes", 0)
        stats["remote_ms"] = round((time.perf_counter() - started) * 1000, 2)
        usage = (final or {}).get("usage") or {}
        stats.setdefault("span_tokens", usage.get("completion_tokens", 0))
        stats.setdefault("context_tokens", usage.get("prompt_tokens", 0))
        return Completion(text, stats)


def error_message(raw: bytes) -> str:
    """The `error.message` of an OpenAI-style error body, else the body's start."""
    try:
        return str(json.loads(raw)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return raw[:200].decode("utf-8", "replace") or "(empty body)"
