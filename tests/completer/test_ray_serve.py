"""The HTTP API on a local Ray Serve instance: same routes and answers as `serve --http`, scaled on queues."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

ray = pytest.importorskip("ray")
import yaml  # noqa: E402  (Ray's own dependency)
from ray import serve  # noqa: E402
from ray.serve.schema import ServeDeploySchema  # noqa: E402

from completer.errors import BadInput  # noqa: E402
from completer.ray_serve import APP_NAME, ReplicaOptions, build, deploy  # noqa: E402
from completer.sampler import DenoiseSettings  # noqa: E402
from completer.models import open_model
from tests.completer.test_http import assert_openai_error, sse_data  # noqa: E402
from tests.helpers import make_tiny_checkpoint  # noqa: E402
from tests.servers import free_port, running_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROMPT, SUFFIX = "def add(a, b):\n    return ", "\n\nprint(add(2, 3))\n"
KEY = {"Authorization": "Bearer secret"}
# Replicas report their queues every second (Ray's default is 10 s), so a scale-up shows within the test.
FAST_METRICS = {"RAY_SERVE_REPLICA_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "1",
                "RAY_SERVE_HANDLE_AUTOSCALING_METRIC_PUSH_INTERVAL_S": "1"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return str(make_tiny_checkpoint(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def cluster(checkpoint):
    saved = {name: os.environ.get(name) for name in FAST_METRICS}
    os.environ.update(FAST_METRICS)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    port = free_port()
    options = ReplicaOptions(model=checkpoint, api_key="secret", max_replicas=2, target_queue=1,
                             cpus_per_replica=0.5, upscale_delay_s=0)
    try:
        deploy("127.0.0.1", port, options)
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def test_serve_ray_serves_the_api_until_stopped_and_takes_ray_down_with_it(checkpoint):
    # First in this file: the module's own Ray instance (below) is not up yet.
    with running_server(checkpoint, [], mode="ray") as (base, _):
        answer = httpx.post(f"{base}/v1/completions", json={"prompt": PROMPT, "suffix": SUFFIX, "max_tokens": 4},
                            timeout=120)
        assert answer.status_code == 200 and answer.json()["model"] == Path(checkpoint).name
    with pytest.raises(httpx.TransportError):  # Ray's proxy, a process of its own, stopped too
        httpx.get(f"{base}/health", timeout=10)


def running_replicas() -> int:
    deployment = serve.status().applications[APP_NAME].deployments["completer"]
    return deployment.replica_states.get("RUNNING", 0)


def test_a_replica_answers_what_the_scheduler_computes(cluster, checkpoint):
    body = {"prompt": PROMPT, "suffix": SUFFIX, "max_tokens": 8}
    answer = httpx.post(f"{cluster}/v1/completions", json=body, headers=KEY, timeout=120).json()
    scheduler = open_model(checkpoint)
    try:
        direct = scheduler.complete(PROMPT, SUFFIX, DenoiseSettings.for_effort(max_tokens=8))
    finally:
        scheduler.close()
    assert answer["object"] == "text_completion"
    assert answer["choices"][0]["text"] == direct.text
    assert answer["completer"]["forward_passes"] == direct.stats["forward_passes"]


def test_a_replica_streams_drafts_then_the_final_text_on_the_fim_route(cluster):
    body = {"prompt": PROMPT, "suffix": SUFFIX, "max_tokens": 8, "stream": True}
    with httpx.stream("POST", f"{cluster}/v1/fim/completions", json=body, headers=KEY, timeout=120) as response:
        assert response.status_code == 200
        events = sse_data(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["draft"] for chunk in chunks[:-1]) and chunks[-1]["draft"] is False
    assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_replicas_keep_the_api_key_and_the_open_health_route(cluster):
    assert_openai_error(httpx.post(f"{cluster}/v1/completions", json={"prompt": PROMPT}, timeout=60),
                        401, "invalid_api_key")
    assert httpx.get(f"{cluster}/health", timeout=60).json()["status"] == "ok"


def test_a_queue_above_the_target_adds_a_replica(cluster):
    assert running_replicas() == 1
    stop = threading.Event()

    def client() -> None:  # long spans: a random model never ends them early
        while not stop.is_set():
            httpx.post(f"{cluster}/v1/completions", json={"prompt": PROMPT, "suffix": SUFFIX, "max_tokens": 256},
                       headers=KEY, timeout=120)

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        deadline = time.monotonic() + 90
        while running_replicas() < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert running_replicas() == 2
    finally:
        stop.set()
        for thread in clients:
            thread.join()


def test_the_ray_builder_takes_string_arguments_and_rejects_unknown_or_bad_ones():
    assert ReplicaOptions.from_args({"max_replicas": "4", "target_queue": "2", "model": "m"}) == \
        ReplicaOptions(model="m", max_replicas=4, target_queue=2.0)
    with pytest.raises(BadInput, match="unknown option.*replicas"):
        build({"replicas": "4"})
    with pytest.raises(BadInput, match="max_replicas must be a number"):
        build({"max_replicas": "many"})
    with pytest.raises(BadInput, match="min <= max"):
        ReplicaOptions(min_replicas=3, max_replicas=2)


def test_the_example_cluster_config_is_a_valid_serve_config_for_the_builder():
    config = yaml.safe_load((ROOT / "examples" / "ray_serve.yaml").read_text())
    ServeDeploySchema.model_validate(config)
    (app,) = config["applications"]
    assert app["import_path"] == "completer.ray_serve:build"
    options = ReplicaOptions.from_args(app["args"])  # `serve deploy` passes the YAML's typed values
    assert options.gpus_per_replica == 1.0 and options.max_replicas == 8


@pytest.mark.parametrize(("arguments", "message"), [
    (["--ray", "0.0.0.0:8000"], "without an API key"),
    (["--ray", "127.0.0.1:8000", "--max-replicas", "0"], "max >= 1"),
], ids=["network-without-key", "no-replicas"])
def test_a_bad_ray_deployment_is_one_clear_line_before_ray_starts(arguments, message):
    env = {key: value for key, value in os.environ.items() if key != "COMPLETER_API_KEY"}
    result = subprocess.run([sys.executable, "-m", "completer", "serve", *arguments],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
