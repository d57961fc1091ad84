"""LSP messages off a byte stream that may be broken or hostile.

pygls's own reader trusts its stream: a huge Content-Length kills it (MemoryError), a wrong one
desynchronises it for good, and it structures every nested object with a "jsonrpc" key as a message
of its own, so a request whose params hold one is never answered. Here a body is framed by its
header with a cap, framing is regained at the next `Content-Length:` header, the body is parsed as
plain JSON, and only its envelope is checked before pygls structures it. Every well-formed request
gets one answer, a malformed one the JSON-RPC error it deserves, and input with no id to answer
one log line. A message nested deeper than any LSP message is (`MAX_DEPTH`) is refused before
anything recursive touches it, and answered by its id even when it is too deep to parse.
"""

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.protocol import JsonRPCProtocol

MAX_BODY_BYTES = 64 << 20  # a 20 MB source file fits, JSON-escaped, with room to spare
MAX_HEADER_BYTES = 4096
MAX_DEPTH = 64  # LSP's deepest messages (initialize's capabilities) nest about 10 levels; user settings a few more
CHUNK_BYTES = 1 << 16

PARSE_ERROR, INVALID_REQUEST, INVALID_PARAMS = -32700, -32600, -32602

HEADER = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
HEADER_END = re.compile(rb"\r?\n\r?\n")
LENGTH_LINE = re.compile(rb"content-length[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
HEADER_LINES = re.compile(rb"(?:[!-9;-~]+:[^\r\n]*\r?\n|[ \t\r\n])*")  # other headers and blank lines: not stray
DECODER = json.JSONDecoder()
HEADER_TAIL_BYTES = 64  # bytes kept while looking for a header, in case one is split across reads
JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:,]|[^\s\[\]{}:,"]+')


@dataclass(frozen=True)
class Unparsable:
    """A framed body that is not JSON: answered with a parse error."""

    why: str


@dataclass(frozen=True)
class TooDeep:
    """A message nested deeper than `MAX_DEPTH`: refused, by its id when it is a request.

    `envelope` holds its top-level members whose values are not objects or arrays (id, method, jsonrpc).
    """

    envelope: dict


def parse(body: bytes) -> Any:
    """The body's JSON, TooDeep, or Unparsable (bad UTF-8, bad JSON)."""
    try:
        message = json.loads(body)
    except RecursionError:
        return TooDeep(shallow_members(body.decode("utf-8", "replace")))
    except ValueError as error:
        return Unparsable(str(error))
    return TooDeep({k: v for k, v in message.items() if not isinstance(v, (dict, list))}) \
        if isinstance(message, dict) and nested_deeper(message, MAX_DEPTH) else message


def nested_deeper(value: Any, limit: int) -> bool:
    """Whether `value` nests containers more than `limit` levels deep (without recursing itself)."""
    stack = [(value, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def shallow_members(text: str) -> dict:
    """The top-level members of the JSON object `text` whose values are scalars, read token by token
    without a parser's recursion: enough to answer a message too deep to parse by its id."""
    members: dict = {}
    depth, previous, key = 0, None, None
    for match in JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("{", "["):
            depth, key = depth + 1, None
        elif token in ("}", "]"):
            depth -= 1
        elif depth == 1 and token == ":":
            key = previous
        elif depth == 1 and key is not None and token != ",":
            try:
                members[json.loads(key)] = json.loads(token)
            except ValueError:
                pass
            key = None
        previous = token
    return members


def declared_length(block: bytes) -> int | str:
    """The Content-Length a header block declares, or why it cannot be used."""
    match = LENGTH_LINE.search(block)
    value = match.group(1) if match else b""
    if not value.isdigit():
        return f"Content-Length {value.decode('latin-1')!r} is not a byte count"
    if int(value) > MAX_BODY_BYTES:
        return f"Content-Length {int(value)} is over the {MAX_BODY_BYTES}-byte cap"
    return int(value)


class Framer:
    """Cuts a byte stream into parsed messages, regaining framing after any fault.

    `report` gets one line per fault: stray bytes skipped, a header it cannot use, a length that
    does not match its body (then the body is the bytes up to the next header, if they parse).
    """

    def __init__(self, read: Callable[[], Awaitable[bytes]], report: Callable[[str], None]):
        self.read, self.report = read, report
        self.buffer = bytearray()
        self.skipped = 0
        self.eof = False

    async def next(self) -> Any:
        """The next message's JSON, Unparsable, or None at the end of the stream."""
        while True:
            header = HEADER.search(self.buffer)
            if header is None:
                self.skip(max(0, len(self.buffer) - HEADER_TAIL_BYTES))
                if not await self.fill():
                    return self.finish()
                continue
            self.skip(header.start())
            self.flush_skipped()
            end = HEADER_END.search(self.buffer)
            if end is None:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    self.report(f"a header without an end in {MAX_HEADER_BYTES} bytes: skipped")
                    del self.buffer[: header.end()]
                elif not await self.fill():
                    return self.finish()
                continue
            message = await self.body(end.end(), declared_length(bytes(self.buffer[: end.start()])))
            if message is not None:
                return message
            if self.eof and not HEADER.search(self.buffer):
                return self.finish()

    async def body(self, start: int, length: int | str) -> Any:
        """The message whose body starts at `start`; None when there is none (its header is dropped)."""
        if isinstance(length, str):
            if (guess := self.guess(start)) is not None:
                self.report(f"{length}; took the message up to the next header")
                return guess
            self.report(f"{length}: header skipped")
            del self.buffer[:start]
            return None
        tried = -1
        while len(self.buffer) < start + length:
            # A following header before the body is complete: the declared length overruns this message.
            following = HEADER.search(self.buffer, start)
            if following is not None and following.start() != tried:
                tried = following.start()
                if (guess := self.guess(start)) is not None:
                    self.report(f"Content-Length {length} overruns its message; took it up to the next header")
                    return guess
            if not await self.fill():
                self.report(f"the stream ended inside a {length}-byte body")
                self.buffer.clear()
                return None
        message = parse(bytes(self.buffer[start : start + length]))
        if isinstance(message, Unparsable) and (guess := self.guess(start)) is not None:
            self.report(f"Content-Length {length} does not match its message; took it up to the next header")
            return guess
        del self.buffer[: start + length]
        return message

    def guess(self, start: int) -> Any:
        """The first JSON value between `start` and the next header (or the end of what has arrived),
        taken off the buffer; None when there is none. What follows it is left to be skipped as stray."""
        following = HEADER.search(self.buffer, start)
        stop = following.start() if following else len(self.buffer)
        try:
            text = bytes(self.buffer[start:stop]).decode()
            message, end = DECODER.raw_decode(text, len(text) - len(text.lstrip()))
        except (ValueError, RecursionError):
            return None
        del self.buffer[: start + len(text[:end].encode())]
        return message

    async def fill(self) -> bool:
        if not self.eof:
            chunk = await self.read()
            self.eof = not chunk
            self.buffer += chunk
        return not self.eof

    def skip(self, count: int) -> None:
        """Drop `count` leading bytes; anything but other headers counts as stray."""
        if count:
            dropped = bytes(self.buffer[:count])
            del self.buffer[:count]
            if not HEADER_LINES.fullmatch(dropped):
                self.skipped += count

    def flush_skipped(self) -> None:
        if self.skipped:
            self.report(f"skipped {self.skipped} stray bytes before a header")
            self.skipped = 0

    def finish(self) -> None:
        """At the end of the stream: report what was left over."""
        self.skip(len(self.buffer))
        self.flush_skipped()
        return None


def envelope_problem(message: Any) -> str | None:
    """Why a parsed message is not a JSON-RPC 2.0 request, notification or response; None when it is one."""
    if not isinstance(message, dict):
        return f"a message must be a JSON object, not {type(message).__name__} (LSP has no batches)"
    if message.get("jsonrpc") != "2.0":
        return 'a message must carry "jsonrpc": "2.0"'
    if "id" in message and not valid_id(message["id"]):
        return f"id {message['id']!r} is neither an integer nor a string"
    if "method" in message:
        method = message["method"]
        if not isinstance(method, str):
            return f"method {method!r} is not a string"
        if message.get("params") is not None and not isinstance(message["params"], (dict, list)):
            return "params must be an object or an array"  # null is taken as absent, as clients send it
        if "id" in message and is_notification(method):
            return f"{method} is a notification: it is sent without an id"
        return None
    if "id" not in message:
        return "a message needs a method (request, notification) or an id (response)"
    if ("result" in message) == ("error" in message):
        return "a response carries exactly one of result and error"
    return None


def is_response(message: Any) -> bool:
    return isinstance(message, dict) and "id" in message and "method" not in message


def valid_id(value: Any) -> bool:
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def is_notification(method: str) -> bool:
    """An LSP notification method (answering one sent with an id would invent a result type)."""
    entry = types.METHOD_TO_TYPES.get(method)
    return entry is not None and entry[1] is None


def reply_error(protocol: JsonRPCProtocol, message_id: Any, code: int, text: str) -> None:
    protocol._send_data({"jsonrpc": "2.0", "id": message_id, "error": {"code": code, "message": text}})


async def serve(framer: Framer, protocol: JsonRPCProtocol, report: Callable[[str], None], running: Callable[[], bool]) -> None:
    """Hand each well-formed message to pygls and answer the rest, until the stream ends or `running` says stop.

    A second `initialize` is refused: pygls would start a new workspace and forget every open document.
    """
    initialized = False
    while running() and (message := await framer.next()) is not None:
        if isinstance(message, Unparsable):
            report(f"parse error: {message.why}")
            reply_error(protocol, None, PARSE_ERROR, f"Parse error: {message.why}")
            continue
        if isinstance(message, TooDeep):
            problem = f"a message may nest at most {MAX_DEPTH} levels deep"
            report(f"invalid request: {problem}")
            envelope = message.envelope
            if not is_response(envelope):  # a client's broken reply to us gets no reply of its own
                reply_error(protocol, envelope.get("id") if valid_id(envelope.get("id")) else None, INVALID_REQUEST, f"Invalid request: {problem}")
            continue
        if (problem := envelope_problem(message)) is not None:
            report(f"invalid request: {problem}")
            if not is_response(message):  # a client's broken reply to us gets no reply of its own
                message_id = message.get("id") if isinstance(message, dict) and valid_id(message.get("id")) else None
                reply_error(protocol, message_id, INVALID_REQUEST, f"Invalid request: {problem}")
            continue
        request = "method" in message and "id" in message
        if message.get("method") == types.INITIALIZE and request:
            if initialized:
                report("a second initialize was refused")
                reply_error(protocol, message["id"], INVALID_REQUEST, "Invalid request: initialize was already received")
                continue
            initialized = True
        try:
            structured = protocol.structure_message(message)
        except Exception as error:
            report(f"bad params for {message.get('method', 'a response')}: {error.__cause__ or error}")
            if request:
                reply_error(protocol, message["id"], INVALID_PARAMS, f"Invalid params for {message['method']}: {error.__cause__ or error}")
            continue
        try:
            protocol.handle_message(structured)
        except Exception as error:  # pygls answers a failing request itself; this is its own failure
            report(f"could not handle {message.get('method', 'a response')}: {error!r}")
        await asyncio.sleep(0)  # let this message's handler start before the next buffered one is read
