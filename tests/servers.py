"""`completer serve` in a process of its own, for the tests that talk to it over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

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
