"""Servers for the tests that talk HTTP: `completer serve` in a process of its own, or an app on uvicorn in a thread."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(model: str | None, extra: list[str], mode: str = "http") -> Iterator[tuple[str, subprocess.Popen]]:
    """`completer serve --http` (or `--ray`) in another process, up and with its model loaded: (its URL, the process)."""
    port = free_port()
    command = [sys.executable, "-m", "completer", "serve", f"--{mode}", f"127.0.0.1:{port}", *extra]
    if model:
        command += ["--model", model]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/v1/models", timeout=60).status_code == 200:  # loads the model
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not come up within 120 s")
        yield base, server
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def running(app: FastAPI) -> Iterator[httpx.Client]:
    """A real uvicorn on a free loopback port in a thread, and a client for it; shut down on exit."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join()
