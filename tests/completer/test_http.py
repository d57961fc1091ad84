"""The HTTP API, driven over real sockets: uvicorn on 127.0.0.1 with a tiny real checkpoint."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from completer.errors import BadInput, Cancelled
from completer.http import create_app, is_loopback, serve
from completer.options import EFFORTS, MAX_TOKENS_LIMIT
from completer.sampler import DenoiseSettings
from completer.models import open_model
from completer.scheduler import Scheduler
from tests.helpers import make_newline_checkpoint, make_tiny_checkpoint
from tests.servers import running

PROMPT = "def add(a, b):\n    return "
SUFFIX = "\n\nprint(add(2, 3))\n"
REQUEST = {"prompt": PROMPT, "suffix": SUFFIX, "max_tokens": 8}


def loader(folder: Path) -> Callable[[], Scheduler]:
    return lambda: open_model(str(folder))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def engine(checkpoint: Path) -> Iterator[Scheduler]:
    """The same checkpoint in the test process: what the server answers must be what the scheduler gives."""
    scheduler = open_model(str(checkpoint))
    yield scheduler
    scheduler.close()


def expected(scheduler: Scheduler, max_tokens: int = 8, effort: str = "medium", on_draft=None, **fields):
    return scheduler.complete(PROMPT, SUFFIX, DenoiseSettings.for_effort(effort, max_tokens=max_tokens, **fields), on_draft)


@pytest.fixture(scope="module")
def client(checkpoint: Path) -> Iterator[httpx.Client]:
    with running(create_app(loader(checkpoint))) as client:
        yield client


def assert_openai_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert error["code"] == code
    return error


def sse_data(response: httpx.Response) -> list[str]:
    """The `data:` payloads of a server-sent event stream, checking its framing on the way."""
    payloads = []
    for line in response.iter_lines():
        if line:
            assert line.startswith("data: "), line
            payloads.append(line.removeprefix("data: "))
    return payloads


def test_completion_is_an_openai_text_completion_with_usage_and_stats(client: httpx.Client, engine: Scheduler):
    response = client.post("/v1/completions", json=REQUEST)

    assert response.status_code == 200, response.text
    body = response.json()
    expected = globals()["expected"](engine)
    assert body["object"] == "text_completion"
    assert body["id"].startswith("cmpl-")
    assert isinstance(body["created"], int)
    assert body["model"] == engine.name
    assert body["choices"] == [{
        "text": expected.text,
        "index": 0,
        "finish_reason": "length" if expected.stats["span_tokens"] >= 8 else "stop",
        "logprobs": None,
    }]
    prompt_tokens = engine.count_tokens(PROMPT) + engine.count_tokens(SUFFIX)
    assert body["usage"] == {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": expected.stats["span_tokens"],
        "total_tokens": prompt_tokens + expected.stats["span_tokens"],
    }
    assert {"forward_passes", "committed_tokens", "tokens_per_forward", "wall_ms"} <= set(body["completer"])


def test_mercury_fim_path_serves_the_same_completion(client: httpx.Client):
    openai = client.post("/v1/completions", json=REQUEST).json()
    mercury = client.post("/v1/fim/completions", json=REQUEST).json()

    assert mercury["object"] == "text_completion"
    assert mercury["choices"] == openai["choices"]


def test_stream_sends_each_whole_draft_then_the_final_text_then_done(client: httpx.Client, engine: Scheduler):
    with client.stream("POST", "/v1/completions", json={**REQUEST, "stream": True}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        payloads = sse_data(response)

    assert payloads[-1] == "[DONE]"
    *drafts, final = [json.loads(payload) for payload in payloads[:-1]]
    assert drafts
    seen: list[str] = []
    expected = globals()["expected"](engine, on_draft=seen.append)
    assert [draft["choices"][0]["text"] for draft in drafts] == seen
    assert all(draft["draft"] is True and draft["choices"][0]["finish_reason"] is None for draft in drafts)
    assert final["draft"] is False
    assert final["choices"][0]["text"] == expected.text
    assert final["choices"][0]["finish_reason"] in ("stop", "length")
    assert final["usage"]["completion_tokens"] == expected.stats["span_tokens"]
    assert final["completer"]["forward_passes"] == len(seen)
    assert len({chunk["id"] for chunk in [*drafts, final]}) == 1


class WatchedScheduler(Scheduler):
    """The real scheduler, keeping the jobs it was given: a cancelled job is the only sign of a hang-up.

    Each pass waits PASS_DELAY_S first, so a long request outlasts the client's patience on any machine
    (on a fast one the tiny model's 256 tokens took 0.32 s, under the 0.5 s the client waits)."""

    PASS_DELAY_S = 0.1

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.submitted = []
        step = self.batch.step

        def slow_step():
            time.sleep(self.PASS_DELAY_S)
            return step()

        self.batch.step = slow_step

    def submit(self, *args, **kwargs):
        job = super().submit(*args, **kwargs)
        self.submitted.append(job)
        return job


def cancelled(job) -> bool:
    try:
        job.result(timeout=120)
    except Cancelled:
        return True
    return False


@pytest.mark.parametrize("streaming", [True, False], ids=["streaming", "not streaming"])
def test_client_hanging_up_cancels_the_completion_at_the_next_pass(engine: Scheduler, streaming: bool):
    watched = WatchedScheduler(engine.model, engine.tokenizer, engine.name)
    slow = {**REQUEST, "max_tokens": 256, "effort": "high", "stream": streaming}
    with running(create_app(lambda: watched)) as client:
        if streaming:
            with client.stream("POST", "/v1/completions", json=slow) as response:
                next(line for line in response.iter_lines() if line)  # one draft, then hang up
        else:
            with pytest.raises(httpx.ReadTimeout):
                client.post("/v1/completions", json=slow, timeout=0.5)  # gives up, closing the connection
        assert cancelled(watched.submitted[0])
        assert client.post("/v1/completions", json=REQUEST).status_code == 200
    watched.close()


@pytest.mark.parametrize("effort", list(EFFORTS))
def test_effort_is_accepted_and_decodes_as_the_scheduler_does_at_that_level(client: httpx.Client, engine: Scheduler,
                                                                            effort: str):
    body = client.post("/v1/completions", json={**REQUEST, "effort": effort}).json()

    want = expected(engine, effort=effort)
    assert body["choices"][0]["text"] == want.text
    assert body["completer"]["forward_passes"] == want.stats["forward_passes"]


@pytest.mark.parametrize("fields", [{"threshold": 0.5}, {"steps": 2}, {"span": "line"}, {"span": "block", "effort": "low"}])
def test_span_threshold_and_steps_decode_as_the_scheduler_does_with_them(client: httpx.Client, engine: Scheduler,
                                                                         fields: dict):
    body = client.post("/v1/completions", json={**REQUEST, **fields}).json()

    want = expected(engine, **fields)
    assert body["choices"][0]["text"] == want.text
    assert body["completer"]["forward_passes"] == want.stats["forward_passes"]


def test_a_line_span_never_holds_a_newline_though_the_model_writes_nothing_else(tmp_path: Path):
    with running(create_app(loader(make_newline_checkpoint(tmp_path / "newlines")))) as client:
        free, line = (client.post("/v1/completions", json={**REQUEST, **span}).json()["choices"][0]["text"]
                      for span in ({}, {"span": "line"}))

    assert "\n" in free
    assert line and "\n" not in line


def test_models_lists_the_served_model(client: httpx.Client, engine: Scheduler):
    body = client.get("/v1/models").json()

    assert body["object"] == "list"
    assert [(model["id"], model["object"]) for model in body["data"]] == [(engine.name, "model")]


def test_health_answers_while_the_model_loads_and_names_it_after(checkpoint: Path, engine: Scheduler):
    release = threading.Event()

    def slow_open() -> Scheduler:
        release.wait(60)
        return loader(checkpoint)()

    with running(create_app(slow_open)) as client:
        before = client.get("/health").json()
        release.set()
        client.post("/v1/completions", json=REQUEST)
        after = client.get("/health").json()

    assert before == {"status": "ok", "model": None, "loaded": False, "error": None}
    assert after == {"status": "ok", "model": engine.name, "loaded": True, "error": None}


def test_model_named_as_served_is_accepted_and_another_is_404(client: httpx.Client, engine: Scheduler):
    assert client.post("/v1/completions", json={**REQUEST, "model": engine.name}).status_code == 200

    response = client.post("/v1/completions", json={**REQUEST, "model": "gpt-4"})
    error = assert_openai_error(response, 404, code="model_not_found")
    assert error["param"] == "model"
    assert engine.name in error["message"]


def test_stream_for_an_unknown_model_is_a_plain_404_not_an_event_stream(client: httpx.Client):
    response = client.post("/v1/completions", json={**REQUEST, "model": "gpt-4", "stream": True})

    assert_openai_error(response, 404, code="model_not_found")
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize(("content", "param"), [
    (b"{not json", None),
    (b"", None),
    (b'["def f():"]', None),
    (b'{"suffix": "x"}', "prompt"),
    (b'{"prompt": 5}', "prompt"),
    (b'{"prompt": ["a", "b"]}', "prompt"),
    (b'{"prompt": "a", "suffix": 3}', "suffix"),
    (b'{"prompt": "a", "max_tokens": 0}', "max_tokens"),
    (b'{"prompt": "a", "max_tokens": -4}', "max_tokens"),
    (f'{{"prompt": "a", "max_tokens": {MAX_TOKENS_LIMIT + 1}}}'.encode(), "max_tokens"),
    (b'{"prompt": "a", "max_tokens": "8"}', "max_tokens"),
    (b'{"prompt": "a", "temperature": -1}', "temperature"),
    (b'{"prompt": "a", "seed": 18446744073709551616}', "seed"),
    (b'{"prompt": "a", "seed": -1}', "seed"),
    (b'{"prompt": "a", "stream": "yes"}', "stream"),
    (b'{"prompt": "a", "effort": "max"}', "effort"),
    (b'{"prompt": "a", "effort": null}', "effort"),
    (b'{"prompt": "a", "span": "word"}', "span"),
    (b'{"prompt": "a", "threshold": 0}', "threshold"),
    (b'{"prompt": "a", "threshold": 1.5}', "threshold"),
    (b'{"prompt": "a", "steps": 0}', "steps"),
    (b'{"prompt": "a", "steps": 1.5}', "steps"),
])
def test_bad_input_is_400_in_openai_error_shape_naming_the_field(client: httpx.Client, content: bytes,
                                                                 param: str | None):
    response = client.post("/v1/completions", content=content, headers={"Content-Type": "application/json"})

    error = assert_openai_error(response, 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_server_keeps_serving_after_bad_input(client: httpx.Client):
    assert client.post("/v1/completions", content=b"{").status_code == 400
    assert client.post("/v1/completions", json=REQUEST).status_code == 200


def test_a_vanishing_temperature_is_served_and_the_connection_serves_the_next_request(client: httpx.Client):
    assert client.post("/v1/completions", json={**REQUEST, "temperature": 1e-39, "seed": 1}).status_code == 200
    assert client.post("/v1/completions", json=REQUEST).status_code == 200


@pytest.mark.parametrize("temperature", [5e-324, 1e-300, 1e-45, 1e-39, 1e-8, 0.5, 1.0, 2.0, 2.0000001, 1e300])
@pytest.mark.parametrize("seed", [0, 2**63, 2**64 - 1])
def test_any_finite_temperature_and_seed_in_range_is_served_or_refused_by_name(client: httpx.Client, temperature: float, seed: int):
    response = client.post("/v1/completions", json={**REQUEST, "temperature": temperature, "seed": seed, "max_tokens": 4})
    if temperature <= 2.0:
        assert response.status_code == 200, response.text
        assert isinstance(response.json()["choices"][0]["text"], str)
    else:
        assert assert_openai_error(response, 400)["param"] == "temperature"


def test_json_body_is_read_whatever_content_type_curl_sends(client: httpx.Client):
    response = client.post("/v1/completions", content=json.dumps(REQUEST).encode(),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})

    assert response.status_code == 200, response.text


def test_concurrent_requests_all_complete_on_the_one_model(client: httpx.Client):
    results: list[httpx.Response] = []
    threads = [threading.Thread(target=lambda: results.append(client.post("/v1/completions", json=REQUEST)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [response.status_code for response in results] == [200, 200, 200]
    assert len({response.json()["choices"][0]["text"] for response in results}) == 1


def test_unknown_path_answers_in_openai_error_shape(client: httpx.Client):
    assert_openai_error(client.get("/v1/nothing"), 404)


@pytest.fixture(scope="module")
def keyed(checkpoint: Path) -> Iterator[httpx.Client]:
    with running(create_app(loader(checkpoint), api_key="s3cret")) as client:
        yield client


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}])
def test_missing_or_wrong_api_key_is_401(keyed: httpx.Client, headers: dict[str, str]):
    response = keyed.post("/v1/completions", json=REQUEST, headers=headers)

    assert_openai_error(response, 401, code="invalid_api_key")
    assert response.headers["www-authenticate"] == "Bearer"


def test_right_api_key_is_served(keyed: httpx.Client):
    headers = {"Authorization": "Bearer s3cret"}

    assert keyed.post("/v1/completions", json=REQUEST, headers=headers).status_code == 200
    assert keyed.get("/v1/models", headers=headers).status_code == 200


def test_api_key_is_checked_before_the_body_is_parsed(keyed: httpx.Client):
    assert_openai_error(keyed.post("/v1/completions", content=b"{"), 401, code="invalid_api_key")


def test_health_needs_no_api_key_but_models_does(keyed: httpx.Client):
    assert keyed.get("/health").status_code == 200
    assert_openai_error(keyed.get("/v1/models"), 401, code="invalid_api_key")


@pytest.fixture(scope="module")
def capped(checkpoint: Path) -> Iterator[httpx.Client]:
    with running(create_app(loader(checkpoint), max_body_bytes=1000)) as client:
        yield client


def test_body_over_the_limit_is_413(capped: httpx.Client):
    response = capped.post("/v1/completions", json={**REQUEST, "prompt": "x" * 2000})

    assert_openai_error(response, 413, code="body_too_large")


def test_chunked_body_over_the_limit_is_413_though_it_declares_no_length(capped: httpx.Client):
    body = json.dumps({**REQUEST, "prompt": "x" * 2000}).encode()
    chunks = (body[i:i + 256] for i in range(0, len(body), 256))

    response = capped.post("/v1/completions", content=chunks, headers={"Content-Type": "application/json"})

    assert "content-length" not in response.request.headers
    assert_openai_error(response, 413, code="body_too_large")


def test_body_under_the_limit_is_served(capped: httpx.Client):
    assert capped.post("/v1/completions", json=REQUEST).status_code == 200


@pytest.mark.parametrize("make_folder", [
    lambda tmp: tmp / "no-such-model",
    lambda tmp: (tmp / "empty").mkdir() or tmp / "empty",
], ids=["missing", "empty"])
def test_missing_model_is_503_while_health_keeps_answering(tmp_path: Path, make_folder):
    with running(create_app(loader(make_folder(tmp_path)))) as client:
        first = client.post("/v1/completions", json=REQUEST)
        streamed = client.post("/v1/completions", json={**REQUEST, "stream": True})
        models = client.get("/v1/models")
        health = client.get("/health")

    error = assert_openai_error(first, 503, code="model_unavailable")
    assert error["type"] == "server_error"
    assert_openai_error(streamed, 503, code="model_unavailable")
    assert_openai_error(models, 503, code="model_unavailable")
    assert health.status_code == 200
    assert health.json()["status"] == "model_unavailable"
    assert health.json()["loaded"] is False
    assert health.json()["error"]


def test_model_that_appears_later_is_loaded_without_a_restart(tmp_path: Path):
    folder = tmp_path / "later"
    with running(create_app(loader(folder))) as client:
        before = client.post("/v1/completions", json=REQUEST)
        make_tiny_checkpoint(folder)
        after = client.post("/v1/completions", json=REQUEST)

    assert before.status_code == 503
    assert after.status_code == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "build-box.lan"])
def test_serve_refuses_a_non_loopback_host_without_an_api_key(monkeypatch: pytest.MonkeyPatch, host: str):
    monkeypatch.delenv("COMPLETER_API_KEY", raising=False)

    with pytest.raises(BadInput, match="without an API key"):
        serve(host, 0, model=None, api_key=None)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True), ("127.0.0.2", True),
    ("0.0.0.0", False), ("::", False), ("10.0.0.1", False), ("", False), ("example.com", False),
])
def test_is_loopback_tells_which_hosts_only_this_machine_reaches(host: str, loopback: bool):
    assert is_loopback(host) is loopback


class BrokenScheduler(Scheduler):
    """The real scheduler with a bug that fires on one prompt: what an unexpected failure does to the connection."""

    def submit(self, prompt, *args, **kwargs):
        if prompt == "crash":
            raise RuntimeError("a bug in the server")
        return super().submit(prompt, *args, **kwargs)


def exchange(connection: socket.socket, body: dict) -> tuple[int, dict[str, str], bytes]:
    """One request and its whole response over an open keep-alive socket."""
    payload = json.dumps(body).encode()
    connection.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection; got {received!r}"
        received += chunk
    head, _, body_bytes = received.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    while len(body_bytes) < int(headers["content-length"]):
        chunk = connection.recv(65536)
        assert chunk, "the server closed the connection mid-body"
        body_bytes += chunk
    return int(lines[0].split()[1]), headers, body_bytes


@pytest.mark.parametrize("streaming", [False, True], ids=["not streaming", "streaming"])
def test_an_internal_error_is_a_500_that_leaves_the_keep_alive_connection_serving(engine: Scheduler, streaming: bool):
    broken = BrokenScheduler(engine.model, engine.tokenizer, engine.name)
    with running(create_app(lambda: broken)) as client:
        host, port = client.base_url.host, client.base_url.port
        with socket.create_connection((host, port), timeout=120) as connection:
            for _ in range(2):
                status, headers, body = exchange(connection, {**REQUEST, "prompt": "crash", "stream": streaming})
                assert status == 500 and headers.get("connection") != "close"
                assert json.loads(body)["error"]["type"] == "server_error"
                assert "a bug" not in body.decode()  # the reason goes to the log, not to the client
            status, _, body = exchange(connection, REQUEST)
            assert status == 200 and json.loads(body)["object"] == "text_completion"
    broken.close()


def fuzzed_body(rng) -> bytes:
    """A request body as a careless or hostile client might send it: mostly JSON, fields of any type."""
    values = [None, True, 0, -1, 7, 2**64, 2**70, 1e-39, 1e308, -0.0, 2.5, "", "x", "\ud800", "😋" * 50, [], {}, [1, "a"], {"a": {"b": []}}]
    body = {"prompt": rng.choice(["def f(x):\n    return ", "", "\ud800 = ", "x" * 5000])}
    for field in rng.sample(["suffix", "max_tokens", "temperature", "seed", "model", "stream", "effort", "top_p", "prompt"], rng.randint(0, 2)):
        body[field] = rng.choice(values + {"max_tokens": [1, 4], "temperature": [0.0, 0.7], "effort": ["low", "high"]}.get(field, []))
    if rng.random() < 0.3:
        body["max_tokens"] = rng.choice([1, 2, 4])
    raw = json.dumps(body).encode()
    return rng.choice([raw, raw, raw, raw[: rng.randint(0, len(raw))], b"NaN", b'{"prompt": "a", "temperature": NaN}',
                       b"[" * 5000 + b"]" * 5000, b'{"prompt": "a", "max_tokens": 1e400}', raw + b"garbage"])


def test_fuzzed_bodies_never_get_a_5xx_and_the_connection_keeps_serving(client: httpx.Client):
    rng = random.Random(7)
    statuses = {}
    for _ in range(300):
        body = fuzzed_body(rng)
        response = client.post(rng.choice(["/v1/completions", "/v1/fim/completions"]), content=body,
                               headers={"Content-Type": rng.choice(["application/json", "text/plain", "application/x-www-form-urlencoded"])})
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        assert response.status_code < 500, (body[:200], response.text[:300])
    assert set(statuses) <= {200, 400, 404} and statuses.get(200, 0) > 20 and statuses.get(400, 0) > 20, statuses
    assert client.post("/v1/completions", json=REQUEST).status_code == 200
