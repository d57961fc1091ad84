"""A client that writes raw bytes to `python -m lsp --stdio` and reads every frame it answers with.

pytest-lsp's client can only send what it can serialise; these tests need broken frames and
envelopes, and need to see every reply (including those with an id it never sent).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

from tests.helpers import rss_kib

ROOT = Path(__file__).resolve().parents[2]


def frame(message: Any) -> bytes:
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def request(message_id: Any, method: str, params: Any = None) -> dict:
    return {"jsonrpc": "2.0", "id": message_id, "method": method, "params": {} if params is None else params}


def notification(method: str, params: Any) -> dict:
    return {"jsonrpc": "2.0", "method": method, "params": params}


class RawClient:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "lsp", "--stdio", *args], cwd=ROOT,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.replies: list[dict] = []
        self.logs: list[str] = []
        self.stderr = b""
        self.lock = threading.Condition()
        threading.Thread(target=self.read_frames, daemon=True).start()
        threading.Thread(target=self.read_stderr, daemon=True).start()

    def read_frames(self) -> None:
        stdout = self.process.stdout
        while header := stdout.readline():
            length = int(header.split(b":")[1])
            while stdout.readline().strip():
                pass
            message = json.loads(stdout.read(length))
            with self.lock:
                if message.get("method") == "window/logMessage":
                    self.logs.append(message["params"]["message"])
                elif "method" not in message:
                    self.replies.append(message)
                self.lock.notify_all()

    def read_stderr(self) -> None:
        while line := self.process.stderr.readline():
            self.stderr += line

    def start(self, options: dict, capabilities: dict | None = None, ready: str = "loaded") -> RawClient:
        """Initialize with `options` as initializationOptions, send initialized, and wait for the log line `ready`."""
        self.ask("init", "initialize", {"capabilities": capabilities or {}, "initializationOptions": options})
        self.send(notification("initialized", {}))
        self.wait_for_log(ready)
        return self

    def send(self, data: bytes | dict) -> None:
        self.process.stdin.write(data if isinstance(data, bytes) else frame(data))
        self.process.stdin.flush()

    def replies_to(self, message_id: Any) -> list[dict]:
        with self.lock:
            return [reply for reply in self.replies if reply.get("id") == message_id]

    def wait_for(self, message_id: Any, timeout: float = 60) -> dict:
        """The first reply to `message_id`, waiting up to `timeout` seconds for it."""
        return self.first(lambda: [reply for reply in self.replies if reply.get("id") == message_id], timeout, f"no reply to {message_id!r}")

    def wait_for_log(self, needle: str, timeout: float = 60) -> str:
        """The first window/logMessage containing `needle`."""
        return self.first(lambda: [line for line in self.logs if needle in line], timeout, f"the server never logged {needle!r}")

    def first(self, found: Callable[[], list], timeout: float, failure: str) -> Any:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not (items := found()):
                if (left := deadline - time.monotonic()) <= 0:
                    raise AssertionError(f"{failure}; last replies: {self.replies[-5:]}, logs: {self.logs[-5:]}")
                self.lock.wait(left)
            return items[0]

    def ask(self, message_id: Any, method: str, params: Any = None) -> dict:
        self.send(request(message_id, method, params))
        return self.wait_for(message_id)

    def rss_kib(self) -> int:
        return rss_kib(self.process.pid)

    def close(self) -> int:
        """Shut down and exit as a client should; the server's exit code."""
        if self.process.poll() is None:
            self.ask("close-shutdown", "shutdown")
            self.send({"jsonrpc": "2.0", "method": "exit"})
        try:
            return self.process.wait(timeout=30)
        finally:
            self.process.kill()
