"""OpenAI-compatible HTTP API for fill-in-the-middle code completion.

`POST /v1/completions` (OpenAI's legacy completions with `suffix`) and `POST /v1/fim/completions`
(the path Inception's Mercury serves FIM on) take the code before the cursor as `prompt` and the
code after it as `suffix`, and answer a `text_completion` object. The decoding fields (`max_tokens`,
`temperature`, `seed`, `effort` as Mercury's API has it, `span`, `threshold`, `steps`) are the options
table's (`completer.options`), checked there. Requests are batched by the scheduler: many
clients share each denoising pass, and a client that hangs up (streaming or not) frees its
place at the next pass.

Streaming differs from OpenAI on purpose: a diffusion model refines the whole span in parallel, so
every event carries the *full current draft* of the span (`"draft": true`), not a delta to append.
The last event has `"draft": false`, the final text, `finish_reason`, usage and stats; then
`data: [DONE]`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from completer.errors import BadInput, CompleterError, ModelLoadError
from completer.options import HTTP, BadOption, Options, pick, read
from completer.models import ModelHandle, open_model
from completer.scheduler import Completion, Job, Scheduler

log = logging.getLogger(__name__)

OPEN_PATHS = {"/health"}
"""Paths that answer without the API key, so a supervisor can probe liveness."""

class Body(BaseModel):
    """The body's fields that are not options; the rest come as extras: the options table reads its own, and
    other OpenAI fields (top_p, stop, n, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow", strict=True)

    prompt: str
    suffix: str | None = None
    model: str | None = None
    stream: bool = False


@dataclass(frozen=True)
class CompletionRequest:
    """One request: the code either side of the span, the model it names, and how to decode (`completer.options`)."""

    prompt: str
    suffix: str
    model: str | None
    stream: bool
    options: Options


class ApiError(Exception):
    """An error the client sees as OpenAI's `{"error": {message, type, param, code}}` with this status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


def to_api_error(error: Exception) -> ApiError:
    """Maps anything a request can raise to what the client may see; the full reason goes to the log."""
    if isinstance(error, ApiError):
        log.warning("refused (%d): %s", error.status, error.message)
        return error
    if isinstance(error, HTTPException):
        return ApiError(error.status_code, str(error.detail))
    if isinstance(error, ModelLoadError):
        log.error("model unavailable: %s", error)
        return ApiError(503, f"model unavailable: {error}", type="server_error", code="model_unavailable")
    if isinstance(error, BadInput):
        log.warning("bad input: %s", error)
        return ApiError(400, str(error))
    if isinstance(error, CompleterError):
        log.error("completion failed: %s", error)
        return ApiError(500, str(error), type="server_error")
    log.error("internal error", exc_info=error)
    return ApiError(500, "internal server error; the server log has the details", type="server_error")


async def handle_error(request: Request, error: Exception) -> JSONResponse:
    return to_api_error(error).response()


def parse_request(raw: bytes) -> CompletionRequest:
    """Parses whatever the Content-Type says, so `curl -d '{...}'` works; the first problem names its field."""
    try:
        body = Body.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        param = ".".join(str(part) for part in first["loc"]) or None
        if first["type"] == "json_invalid":
            message = f"request body is not valid JSON: {first['msg'].removeprefix('Invalid JSON: ')}"
        elif first["type"] == "model_type":
            message = "request body must be a JSON object with at least 'prompt'"
        else:
            message = f"{param}: {first['msg']}"
        raise ApiError(400, message, param=param) from None
    try:
        options = Options(**pick(read(body.model_extra or {}, HTTP), Options))
    except BadOption as error:
        raise ApiError(400, str(error), param=error.name) from None
    return CompletionRequest(body.prompt, body.suffix or "", body.model, body.stream, options)


@dataclass
class Filled:
    """One finished request: the infill and what it cost."""

    model: str
    text: str
    finish_reason: str
    usage: dict[str, int]
    stats: dict[str, Any]


def start(scheduler: Scheduler, request: CompletionRequest, on_draft: Callable[[str], None] | None = None) -> Job:
    """Submit one request to the scheduler; raises ApiError for a model this server does not serve."""
    if request.model is not None and request.model != scheduler.name:
        raise ApiError(
            404,
            f"model {request.model!r} is not served here; this server serves {scheduler.name!r} (or omit 'model')",
            param="model",
            code="model_not_found",
        )
    settings = request.options.decoding(request.options.span or "free")  # no context here to pick a span kind
    return scheduler.submit(request.prompt, request.suffix, settings, on_draft=on_draft)


def filled(scheduler: Scheduler, request: CompletionRequest, completion: Completion) -> Filled:
    # The model's own counts: the context it actually read (the scheduler keeps the code nearest
    # the cursor when the text is too long) and the span before its end token.
    prompt_tokens = completion.stats["context_tokens"]
    completion_tokens = completion.stats["span_tokens"]
    return Filled(
        model=scheduler.name,
        text=completion.text,
        finish_reason="length" if completion_tokens >= request.options.max_tokens else "stop",
        usage={
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        stats=completion.stats,
    )


@dataclass
class Reply:
    """The id, timestamp and model that every object answering one request shares."""

    model: str
    id: str
    created: int

    @classmethod
    def new(cls, model: str) -> Reply:
        return cls(model=model, id=f"cmpl-{uuid.uuid4().hex}", created=int(time.time()))

    def text_completion(self, text: str, finish_reason: str | None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"text": text, "index": 0, "finish_reason": finish_reason, "logprobs": None}],
        }

    def final(self, filled: Filled) -> dict[str, Any]:
        return {
            **self.text_completion(filled.text, filled.finish_reason),
            "usage": filled.usage,
            "completer": filled.stats,
        }


def sse(data: dict[str, Any]) -> str:
    return f"data: {json.dumps(data)}\n\n"


async def complete(handle: ModelHandle, request: CompletionRequest, http_request: Request) -> dict[str, Any]:
    """A non-streaming completion; a client that hangs up cancels it at the next pass."""
    scheduler = await asyncio.to_thread(handle.get)
    job = start(scheduler, request)
    watcher = asyncio.create_task(cancel_on_disconnect(http_request, job))
    try:
        completion = await asyncio.wrap_future(job.future)
    finally:
        watcher.cancel()
    return Reply.new(scheduler.name).final(filled(scheduler, request, completion))


async def cancel_on_disconnect(http_request: Request, job: Job) -> None:
    """The body is read: the next ASGI message is the client going away."""
    while (await http_request.receive())["type"] != "http.disconnect":
        pass
    job.cancel()


async def stream(handle: ModelHandle, request: CompletionRequest) -> StreamingResponse:
    """Bridges the scheduler's drafts (its thread) to server-sent events (event loop).

    The request is submitted before the response starts, so a bad request, an unknown model or a
    missing checkpoint still gets its proper status code instead of an error inside a 200 stream.
    """
    loop = asyncio.get_running_loop()
    drafts: asyncio.Queue[str] = asyncio.Queue()
    scheduler = await asyncio.to_thread(handle.get)
    job = start(scheduler, request, on_draft=lambda text: loop.call_soon_threadsafe(drafts.put_nowait, text))
    done = asyncio.wrap_future(job.future)
    reply = Reply.new(scheduler.name)

    async def body() -> AsyncIterator[str]:
        try:
            while True:
                next_draft = asyncio.ensure_future(drafts.get())
                await asyncio.wait([next_draft, done], return_when=asyncio.FIRST_COMPLETED)
                if not next_draft.done():
                    next_draft.cancel()
                    break
                yield sse({**reply.text_completion(next_draft.result(), None), "draft": True})
            while not drafts.empty():  # drafts of the last passes, queued before the result
                yield sse({**reply.text_completion(drafts.get_nowait(), None), "draft": True})
            try:
                yield sse({**reply.final(filled(scheduler, request, done.result())), "draft": False})
            except Exception as error:
                yield sse(to_api_error(error).body())
            yield "data: [DONE]\n\n"
        finally:
            job.cancel()  # stops the request at the next pass when the client hangs up mid-stream

    return StreamingResponse(body(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


class InternalErrors:
    """ASGI middleware: an unexpected exception becomes `to_api_error`'s 500 and the connection serves on.

    Starlette's own handler for Exception answers and then re-raises, and uvicorn then drops the
    keep-alive connection, so the client's next request on it failed.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as error:
            if started or scope["type"] != "http":
                raise  # half an answer is out: only closing the connection tells the client
            await to_api_error(error).response()(scope, receive, send)


class Gatekeeper:
    """ASGI middleware: checks the bearer token and caps the body size before any route reads the body."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope["path"], Headers(scope=scope))
        if refusal is not None:
            await to_api_error(refusal).response()(scope, receive, send)
            return
        await self.app(scope, self.capped(receive), send)

    def refusal(self, path: str, headers: Headers) -> ApiError | None:
        if self.expected is not None and path not in OPEN_PATHS:
            given = headers.get("authorization", "").encode()
            if not hmac.compare_digest(given, self.expected):
                return ApiError(
                    401,
                    "missing or wrong API key: send 'Authorization: Bearer <key>'",
                    code="invalid_api_key",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            return self.too_large()
        return None

    def too_large(self) -> ApiError:
        return ApiError(413, f"request body is larger than {self.max_body_bytes} bytes", code="body_too_large")

    def capped(self, receive: Receive) -> Callable[[], Awaitable[Message]]:
        """Counts the bytes actually received too: a chunked body declares no length."""
        received = 0

        async def receive_capped() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body_bytes:
                raise self.too_large()
            return message

        return receive_capped


def create_app(
    opener: Callable[[], Scheduler], api_key: str | None = None, max_body_bytes: int = 1_000_000
) -> FastAPI:
    """The API around one scheduler, opened in the background when the app starts (a failed open is tried
    again by the next request); with `api_key`, every path but /health needs it."""
    handle = ModelHandle()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        handle.open(opener)
        yield
        handle.close()

    app = FastAPI(title="completer", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.add_middleware(Gatekeeper, api_key=api_key, max_body_bytes=max_body_bytes)
    app.add_middleware(InternalErrors)
    for kind in (ApiError, CompleterError, HTTPException):
        app.add_exception_handler(kind, handle_error)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Never waits for the model: it answers even while the model loads, is missing or busy."""
        scheduler = handle.loaded
        return {
            "status": "model_unavailable" if handle.error else "ok",
            "model": scheduler.name if scheduler else None,
            "loaded": scheduler is not None,
            "error": handle.error,
        }

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        name = (await asyncio.to_thread(handle.get)).name
        return {
            "object": "list",
            "data": [{"id": name, "object": "model", "created": int(time.time()), "owned_by": "completer"}],
        }

    @app.post("/v1/completions", response_model=None)
    @app.post("/v1/fim/completions", response_model=None)
    async def completions(http_request: Request) -> dict[str, Any] | StreamingResponse:
        """Fill the span between `prompt` and `suffix`; see the module docstring for what streaming sends."""
        request = parse_request(await http_request.body())
        if request.stream:
            return await stream(handle, request)
        return await complete(handle, request, http_request)

    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, api_key: str | None) -> None:
    """Refuses to put an unauthenticated model on the network."""
    if api_key is None and not is_loopback(host):
        raise BadInput(
            f"refusing to serve on {host} without an API key: anyone who can reach it could use the model. "
            "Pass --api-key KEY (or set COMPLETER_API_KEY), or bind 127.0.0.1."
        )


def serve(host: str, port: int, model: str | None, api_key: str | None, threads: int | None = None) -> None:
    """Runs the API until interrupted; ``threads``: torch threads on CPU (None: the engine's default)."""
    api_key = api_key or os.environ.get("COMPLETER_API_KEY") or None
    check_exposure(host, api_key)
    app = create_app(lambda: open_model(model, threads=threads), api_key=api_key)
    uvicorn.run(app, host=host, port=port)
