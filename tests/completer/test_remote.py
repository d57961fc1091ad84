"""A remote model: our own `serve --http` in another process, used through the same face as a local one."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from completer.errors import CompleterError
from completer.models import is_remote, open_model
from completer.sampler import DenoiseSettings
from tests.helpers import make_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[2]
PROMPT, SUFFIX = "def add(a, b):\n    return ", "\n\nprint(add(2, 3))\n"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    checkpoint = make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "completer", "serve", "--http", f"127.0.0.1:{port}",
                                "--model", str(checkpoint)], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{base}/v1/models", timeout=60).status_code == 200:
                break
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None, "the server did not start"
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=30)


def test_a_remote_completion_is_what_the_server_answers_with_its_drafts_on_the_way(server):
    model = open_model(f"{server}/v1")
    drafts = []
    try:
        remote = model.complete(PROMPT, SUFFIX, DenoiseSettings.for_effort(max_tokens=8), on_draft=drafts.append)
    finally:
        model.close()
    direct = httpx.post(f"{server}/v1/completions", json={"prompt": PROMPT, "suffix": SUFFIX, "max_tokens": 8},
                        timeout=60).json()
    assert remote.text == direct["choices"][0]["text"]
    assert remote.stats["forward_passes"] == direct["completer"]["forward_passes"] == len(drafts)
    assert remote.stats["span_tokens"] == direct["usage"]["completion_tokens"]


def test_a_remote_error_is_one_clear_error(server):
    model = open_model(f"{server}/v1#gpt-4")  # the fragment names the model: ours serves another
    try:
        with pytest.raises(CompleterError, match="HTTP 404.*not served here"):
            model.complete(PROMPT, SUFFIX, DenoiseSettings.for_effort(max_tokens=4))
    finally:
        model.close()


def test_an_unreachable_remote_model_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens once it is closed
    model = open_model(f"http://127.0.0.1:{port}/v1")
    try:
        with pytest.raises(CompleterError, match="remote model"):
            model.complete(PROMPT, SUFFIX, DenoiseSettings.for_effort(max_tokens=4))
    finally:
        model.close()


def test_only_http_urls_are_remote():
    assert is_remote("https://api.example.com/v1") and is_remote("http://gpu-box:8000/v1")
    assert not is_remote(None) and not is_remote("completer/bundled") and not is_remote("org/model")
