"""A remote model: our own `serve --http` in another process, used through the same face as a local one."""

from __future__ import annotations

import functools
import json
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from completer.errors import CompleterError
from completer.http import create_app
from completer.models import is_remote, open_model
from completer.sampler import DenoiseSettings
from tests.helpers import make_newline_checkpoint, make_tiny_checkpoint
from tests.servers import free_port, running, running_server

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


def test_a_threshold_or_steps_reach_our_server(server):
    with opened(f"{server}/v1") as model:
        default, *scheduled = (model.complete(PROMPT, SUFFIX, DenoiseSettings.for_effort(max_tokens=8, **schedule))
                               for schedule in ({}, {"threshold": 1e-9}, {"steps": 1}))
    assert default.stats["forward_passes"] > 1  # the effort's threshold commits a few tokens a pass
    assert [completion.stats["forward_passes"] for completion in scheduled] == [1, 1]  # every token in one pass


def test_the_span_kind_reaches_our_server_so_a_line_stays_one_line(tmp_path: Path):
    with running(create_app(functools.partial(open_model, str(make_newline_checkpoint(tmp_path / "newlines"))))) as client:
        with opened(f"{client.base_url}/v1") as model:
            free, line = (model.complete(PROMPT, SUFFIX, DenoiseSettings.for_effort(max_tokens=8, span=span)).text
                          for span in ("free", "line"))
    assert "\n" in free  # the model writes nothing but newlines
    assert line and "\n" not in line


def test_a_request_at_the_defaults_carries_only_openai_fields_which_strict_servers_take():
    bodies = []
    app = FastAPI()

    @app.post("/v1/completions")
    async def strict(request: Request) -> PlainTextResponse:
        bodies.append(json.loads(await request.body()))
        return PlainTextResponse('data: {"choices": [{"text": "x"}], "usage": {}}\n\ndata: [DONE]\n\n')

    with running(app) as client, opened(f"{client.base_url}/v1") as model:
        for settings in ({}, {"effort": "high", "span": "line", "steps": 4}, {"threshold": 0.5}):
            model.complete(PROMPT, SUFFIX, DenoiseSettings.for_effort(max_tokens=8, **settings))
    openai = {"prompt", "suffix", "max_tokens", "temperature", "stream"}
    assert set(bodies[0]) == openai
    assert [{key: body[key] for key in set(body) - openai} for body in bodies[1:]] == [
        {"effort": "high", "span": "line", "steps": 4}, {"threshold": 0.5}]


def test_only_http_urls_are_remote():
    assert is_remote("https://api.example.com/v1") and is_remote("http://gpu-box:8000/v1")
    assert not is_remote(None) and not is_remote("completer/bundled") and not is_remote("org/model")
