"""A remote model: our own `serve --http` in another process, used through the same face as a local one."""

from __future__ import annotations

from contextlib import contextmanager

import httpx
import pytest

from completer.errors import CompleterError
from completer.models import is_remote, open_model
from completer.sampler import DenoiseSettings
from tests.helpers import make_tiny_checkpoint
from tests.servers import free_port, running_server

PROMPT, SUFFIX = "def add(a, b):\n    return ", "\n\nprint(add(2, 3))\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_server(str(make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))), []) as (base, _):
        yield base


@contextmanager
def opened(url: str):
    model = open_model(url)
    try:
        yield model
    finally:
        model.close()


def test_a_remote_completion_is_what_the_server_answers_with_its_drafts_on_the_way(server):
    drafts = []
    with opened(f"{server}/v1") as model:
        remote = model.complete(PROMPT, SUFFIX, DenoiseSettings.for_effort(max_tokens=8), on_draft=drafts.append)
    direct = httpx.post(f"{server}/v1/completions", json={"prompt": PROMPT, "suffix": SUFFIX, "max_tokens": 8},
                        timeout=60).json()
    assert remote.text == direct["choices"][0]["text"]
    assert remote.stats["forward_passes"] == direct["completer"]["forward_passes"] == len(drafts)
    assert remote.stats["span_tokens"] == direct["usage"]["completion_tokens"]


def test_a_remote_error_is_one_clear_error(server):
    with opened(f"{server}/v1#gpt-4") as model:  # the fragment names the model: ours serves another
        with pytest.raises(CompleterError, match="HTTP 404.*not served here"):
            model.complete(PROMPT, SUFFIX, DenoiseSettings.for_effort(max_tokens=4))


def test_an_unreachable_remote_model_is_a_clear_error():
    with opened(f"http://127.0.0.1:{free_port()}/v1") as model:  # nobody listens there
        with pytest.raises(CompleterError, match="remote model"):
            model.complete(PROMPT, SUFFIX, DenoiseSettings.for_effort(max_tokens=4))


def test_only_http_urls_are_remote():
    assert is_remote("https://api.example.com/v1") and is_remote("http://gpu-box:8000/v1")
    assert not is_remote(None) and not is_remote("completer/bundled") and not is_remote("org/model")
