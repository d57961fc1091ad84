"""Concurrent clients against `completer serve --http`: throughput and latency against one-at-a-time.

A benchmark, not a test: it starts the real server in another process (the bundled model unless
--model), sends HumanEval-infilling prompts with 32-token spans from 1, 4, 8 and 16 client
threads, and prints a table. Every level sends the same requests; "sequential" sends them one
after another from one client, the baseline every other row is compared against.

    python -m evals.bench_serving [--model PATH] [--requests 16] [--levels 1,4,8,16] [--on ray]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

from evals.humaneval import load_tasks

ROOT = Path(__file__).resolve().parent.parent
START_S = 120  # for the server to come up and load its model


@contextmanager
def measured_server(model: str | None, extra: list[str], mode: str) -> Iterator[str]:
    """The server under measurement, in a process of its own with its log on this terminal: its URL once
    its model answers (loaded before any timing starts). A server that exits or hangs ends the run."""
    with socket.socket() as probe:  # a port free now, for the server to take
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    command = [sys.executable, "-m", "completer", "serve", f"--{mode}", address, *extra, *(["--model", model] if model else [])]
    server = subprocess.Popen(command, cwd=ROOT)
    try:
        started = time.monotonic()
        while not answers(f"http://{address}/v1/models"):
            if server.poll() is not None or time.monotonic() - started > START_S:
                raise SystemExit(f"bench_serving: `{' '.join(command[1:])}` did not come up (exit code {server.poll()})")
            time.sleep(0.2)
        yield f"http://{address}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=START_S).status_code == 200
    except httpx.TransportError:
        return False


def one_request(client: httpx.Client, base: str, body: dict) -> float:
    started = time.perf_counter()
    response = client.post(f"{base}/v1/completions", json=body, timeout=600)
    response.raise_for_status()
    return (time.perf_counter() - started) * 1000


def run_level(base: str, bodies: list[dict], clients: int) -> tuple[float, list[float]]:
    """Wall seconds for all bodies from `clients` threads (each with its own connection), and each latency."""
    local = [httpx.Client() for _ in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(lambda i: one_request(local[i % clients], base, bodies[i]), range(len(bodies))))
    wall = time.perf_counter() - started
    for client in local:
        client.close()
    return wall, latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint folder (default: the bundled model)")
    parser.add_argument("--requests", type=int, default=16, help="requests per level (default 16)")
    parser.add_argument("--levels", default="1,4,8,16", help="concurrent clients per level")
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--on", choices=["http", "ray"], default="http",
                        help="serve --http, or serve --ray (Ray Serve replicas; pass --server-arg=--max-replicas=2)")
    parser.add_argument("--server-arg", action="append", default=[], help="passed on to `serve` (repeatable)")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    tasks = load_tasks("single-line")[: args.requests]
    bodies = [{"prompt": t.prompt, "suffix": t.suffix, "max_tokens": args.max_tokens} for t in tasks]
    print(f"server: completer serve --{args.on} {' '.join(args.server_arg)} ({args.model or 'bundled model'}), "
          f"{len(bodies)} requests per row, "
          f"{args.max_tokens}-token spans, {os.cpu_count()} cores")
    with measured_server(args.model, args.server_arg, args.on) as base:
        run_level(base, bodies[:2], 1)  # warm-up
        seq_wall, seq_lat = run_level(base, bodies, 1)
        rows = [("sequential", seq_wall, seq_lat)]
        for clients in levels:
            wall, latencies = run_level(base, bodies, clients)
            rows.append((f"{clients} concurrent", wall, latencies))
        eight = bodies[:8]
        eight_seq, _ = run_level(base, eight, 1)
        eight_conc, _ = run_level(base, eight, 8)
    print(f"{'clients':<14}{'wall s':>8}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'speed-up':>10}")
    for name, wall, latencies in rows:
        print(f"{name:<14}{wall:>8.2f}{len(latencies) / wall:>8.2f}{statistics.median(latencies):>9.0f}"
              f"{percentile(latencies, 0.95):>9.0f}{seq_wall / wall:>9.2f}x")
    print(f"8 requests: sequential {eight_seq:.2f} s, 8 concurrent {eight_conc:.2f} s, "
          f"{eight_seq / eight_conc:.2f}x faster; lone request p50 {statistics.median(seq_lat):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
