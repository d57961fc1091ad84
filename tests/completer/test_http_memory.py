"""Memory that comes back: `completer serve --http` on the bundled model, after a burst and bad input.

The burst fills the scheduler's pool to 16 rows of the longest context (126 MB for the bundled model);
once no request is in flight the pool goes back to its resting rows, and the prefix cache stays at its
cap. What is left above warm-up is the prefix cache (50 MB at its cap) and pages glibc's allocator keeps.
"""

import random
import threading
from pathlib import Path

import httpx

from tests.completer.test_http import fuzzed_body
from tests.helpers import rss_kib
from tests.servers import running_server

CODE = (Path(__file__).parents[2] / "completer" / "scheduler.py").read_text()


def typing_request(client: httpx.Client, base: str) -> None:
    body = {"prompt": CODE[:2000], "suffix": CODE[2000:3000], "max_tokens": 16}
    assert client.post(f"{base}/v1/completions", json=body).status_code == 200


def test_rss_is_back_within_one_and_a_half_times_warm_up_after_a_burst_and_bad_input():
    rng = random.Random(34)
    with running_server(None, []) as (base, server), httpx.Client(timeout=600) as client:
        for _ in range(3):
            typing_request(client, base)
        warm = rss_kib(server.pid)

        statuses: list[int] = []

        def long_request(start: int) -> None:
            body = {"prompt": CODE[start : start + 6000], "suffix": CODE[start + 6000 : start + 9000], "max_tokens": 16}
            statuses.append(httpx.post(f"{base}/v1/completions", json=body, timeout=600).status_code)

        burst = [threading.Thread(target=long_request, args=(rng.randint(0, len(CODE) - 9000),)) for _ in range(50)]
        for thread in burst:
            thread.start()
        for thread in burst:
            thread.join()
        assert statuses == [200] * 50
        peak = rss_kib(server.pid)
        for _ in range(100):
            status = client.post(f"{base}/v1/completions", content=fuzzed_body(rng), headers={"Content-Type": "application/json"}).status_code
            assert status < 500
        typing_request(client, base)
        after = rss_kib(server.pid)
    assert after <= 1.5 * warm, f"warm-up {warm // 1024} MiB, after the burst {peak // 1024} MiB, after it all {after // 1024} MiB"
