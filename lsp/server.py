"""The language server: thin LSP handlers over `lsp.service.Completer`.

Speaks LSP 3.18 `textDocument/inlineCompletion` (ghost text) over stdio or TCP, plus edits beyond
the cursor (`lsp.edits`): the `completer/nextEdit` request, and the `completer.rewrite` command
that a "Rewrite selection" code action offers; both answer `{edits: [{range, text}], version}`,
ranges free to span lines (an inline completion's must stay on one). In arena mode (`lsp.arena`) an
inline completion answers two systems' suggestions, each carrying the `completer.arenaVote` command
that accepting it runs.
Everything runs on this machine: the model is loaded once, at `initialized`,
and a model that cannot be loaded is reported to the user while the server
keeps answering (with no suggestions).
"""

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator
from threading import Event
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from lsprotocol import types
from pygls.exceptions import JsonRpcInternalError, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method

from completer.errors import BadInput, Cancelled, CompleterError, ModelLoadError
from lsp.arena import CHOICES, EditorArena, Round
from lsp.documents import Document, Documents, document_key, units
from lsp.edits import EditSuggestion
from lsp.postprocess import Edit
from lsp.service import Completer
from lsp.settings import Settings
from lsp.transport import CHUNK_BYTES, Framer, serve as serve_stream

logger = logging.getLogger("completer.lsp")

# Sent while a request is denoised when the client asked for drafts: {uri, version, position, text}.
DRAFT = "completer/draft"
NEXT_EDIT = "completer/nextEdit"  # {textDocument: {uri, version}, position} -> {edits, version}
REWRITE = "completer.rewrite"  # workspace/executeCommand arguments [{uri, range}] -> {edits, version}
ARENA_VOTE = "completer.arenaVote"  # arguments [{battle, choice}] -> {votes}: an arena item's command (`lsp.arena`)
ARENA_LEADERBOARD = "completer.arenaLeaderboard"  # no arguments -> {markdown, votes}


class CompleterProtocol(LanguageServerProtocol):
    """pygls's protocol with `lsp.documents` as its document store, and no traceback sent to the client
    (a failing handler's error says what failed; the log says the rest)."""

    @property
    def documents(self) -> Documents:
        return self._server.documents

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Iterator:
        self.documents.put(params.text_document)
        yield from self.user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Iterator:
        if not self.documents.change(params, self.workspace.position_encoding):
            self._server.log(logging.WARNING, f"didChange for {params.text_document.uri}, which is not open: ignored")
        yield from self.user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Iterator:
        if (document := self.documents.get(params.text_document.uri)) is not None:
            self._server.completer.workspace.refresh(document_key(document.uri), document.text)
        self.documents.close(params.text_document.uri)
        yield from self.user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def user_handler(self, method: str, params: Any) -> Iterator:
        """pygls's way to run the server's own handler after a built-in one."""
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any, args: Any = None, kwargs: Any = None) -> None:
        """pygls's, except that a handler's future is forgotten when it ends: pygls forgets a request's as it
        answers, but files a notification's under a made-up id forever (one per keystroke)."""
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        if (future := self._request_futures.get(msg_id)) is not None:
            future.add_done_callback(lambda done: self._request_futures.pop(msg_id) if self._request_futures.get(msg_id) is done else None)

    def _send_response(self, msg_id: Any, result: Any = None, error: types.ResponseError | None = None) -> None:
        if error is not None and error.code == JsonRpcInternalError.CODE:
            error = types.ResponseError(code=error.code, message=error.message)
        super()._send_response(msg_id, result, error)


class CompleterServer(LanguageServer):
    def __init__(self) -> None:
        self.documents = Documents()  # before the protocol, which reads it while registering its features
        super().__init__("completer", "0.1.0", protocol_cls=CompleterProtocol)
        self.completer = Completer(Settings())
        self.folders: list[Path] = []  # the client's workspace folders on this machine

    def log(self, level: int, message: str) -> None:
        """To the log file (if any) and the client's output panel."""
        logger.log(level, message)
        kind = {logging.ERROR: types.MessageType.Error, logging.WARNING: types.MessageType.Warning}.get(level, types.MessageType.Info)
        self.window_log_message(types.LogMessageParams(type=kind, message=f"completer: {message}"))

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Unreadable messages and failed handlers: log them and keep serving (no pop-up for a client's bad input)."""
        self.log(logging.ERROR, f"could not handle a message ({source.__name__}): {error!r}; still serving")

    def report_bad_input(self, problem: str) -> None:
        self.log(logging.WARNING, f"bad input from the client: {problem}; still serving")

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        """Serve over stdio with `lsp.transport`'s reader in place of pygls's."""
        stdin = stdin or sys.stdin.buffer
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))

        def read() -> Awaitable[bytes]:
            return asyncio.get_running_loop().run_in_executor(self.thread_pool, stdin.read1, CHUNK_BYTES)

        self.run_until_closed(lambda: self.serve_stream(read))

    def start_tcp(self, host: str, port: int) -> None:
        """Serve one client at a time over TCP with `lsp.transport`'s reader."""

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.protocol.set_writer(writer)
            try:
                await self.serve_stream(lambda: reader.read(CHUNK_BYTES))
            except SystemExit:  # `exit` (pygls leaves by sys.exit): the listener below stops instead
                pass
            finally:
                self.shutdown()

        async def listen() -> None:
            self._server = await asyncio.start_server(connection, host, port)
            async with self._server:
                await self._server.serve_forever()

        self.run_until_closed(listen)

    def run_until_closed(self, main: Callable[[], Awaitable[Any]]) -> None:
        """Run `main` on a fresh event loop; the client leaving or `exit` ends it quietly."""
        self._stop_event = Event()
        try:
            asyncio.run(main())
        except BrokenPipeError:
            logger.error("the client closed the connection; shutting down")
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            pass
        finally:
            self.shutdown()

    async def serve_stream(self, read: Callable[[], Awaitable[bytes]]) -> None:
        await serve_stream(Framer(read, self.report_bad_input), self.protocol, self.report_bad_input,
                           running=lambda: not self._stop_event.is_set())

    def apply_settings(self, options: Any) -> bool:
        """Apply the `completer` settings; returns True when the model must be loaded again (model or threads changed)."""
        if isinstance(options, dict) and isinstance(options.get("completer"), dict):
            options = options["completer"]
        if not isinstance(options, dict):
            return False
        try:
            settings = self.completer.settings.updated(options)
        except BadInput as error:
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"completer: {error}"))
            self.log(logging.ERROR, f"settings not applied: {error}")
            return False
        old = self.completer.settings
        changed = (settings.model, settings.threads) != (old.model, old.threads)
        self.completer.settings = settings
        self.log(logging.INFO, f"settings: {settings}")
        if (settings.arena, settings.arena_store_code) != (old.arena, old.arena_store_code) or (settings.arena and changed):
            self.open_arena()
        return changed

    def open_arena(self) -> None:
        """Turn arena mode on or off as the settings say; a systems file or database it cannot use leaves it off."""
        try:
            self.completer.set_arena()
        except BadInput as error:
            message = f"arena mode is off: {error}"
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"completer: {message}"))
            self.log(logging.ERROR, message)
            return
        if self.completer.arena is not None:
            systems = ", ".join(self.completer.arena.systems)
            self.log(logging.INFO, f"arena mode: systems {systems}; votes go to {self.completer.arena.path}")

    async def read_workspace(self) -> None:
        """Read the workspace folders' code files for drafts, off the event loop (`lsp.drafts.Workspace`)."""
        for folder in self.folders:
            if folder.is_dir():
                await asyncio.to_thread(self.completer.workspace.add_folder, folder)
        if self.folders:
            workspace = self.completer.workspace
            self.log(logging.INFO, f"drafts may come from {len(workspace.files)} workspace files ({workspace.size} characters)")

    async def load_model(self) -> None:
        model = self.completer.settings.model or "the bundled model"
        try:
            loaded = await self.completer.load()
        except ModelLoadError as error:
            message = f"cannot load model {model}: {error}. Suggestions are off until the setting completer.model names a valid checkpoint."
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"completer: {message}"))
            self.log(logging.ERROR, message)
            return
        self.log(logging.INFO, f"model {loaded.name} loaded")
        if not loaded.can_score:
            self.log(logging.WARNING, f"{loaded.name} answers no token probabilities: no next edits (rewrites still work)")


SERVER = CompleterServer()


@SERVER.feature(types.INITIALIZE)
def initialize(ls: CompleterServer, params: types.InitializeParams) -> None:
    ls.apply_settings(params.initialization_options)
    folders = [f.uri for f in params.workspace_folders or []] or ([params.root_uri] if params.root_uri else [])
    ls.folders = [Path(unquote(urlsplit(uri).path)) for uri in folders if urlsplit(uri).scheme == "file"]


@SERVER.feature(types.INITIALIZED)
async def initialized(ls: CompleterServer, params: types.InitializedParams) -> None:
    # load_model marks the model as loading before its first await, so a request already queued behind this
    # notification waits for the model instead of finding none; the workspace is read meanwhile
    reading = asyncio.create_task(ls.read_workspace())
    await ls.load_model()
    await reading


@SERVER.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: CompleterServer, params: types.DidChangeConfigurationParams) -> None:
    if ls.apply_settings(params.settings):
        await ls.load_model()


@SERVER.feature(types.TEXT_DOCUMENT_DID_CLOSE)
async def did_close(ls: CompleterServer, params: types.DidCloseTextDocumentParams) -> None:
    await ls.completer.forget(document_key(params.text_document.uri))


@SERVER.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(ls: CompleterServer, params: types.InlineCompletionParams) -> types.InlineCompletionList | None:
    uri = params.text_document.uri
    document = ls.documents.get(uri)
    if document is None:
        ls.log(logging.WARNING, f"inlineCompletion for {uri}, which is not open: no suggestion")
        return None
    encoding = ls.workspace.position_encoding
    offset, position = cursor(document, params.position, encoding)
    text = document.text

    def send_draft(edit: Edit) -> None:
        draft = {"uri": uri, "version": document.version, "position": {"line": position.line, "character": position.character}, "text": edit.text}
        ls.protocol.notify(DRAFT, draft)

    key = document_key(uri)
    others = {k: d.text for k, d in ls.documents.open.items() if k != key}
    try:
        edit = await ls.completer.complete(key, text, offset, document.language_id or "", on_draft=send_draft, others=others)
    except Cancelled:
        return None
    except CompleterError as error:
        ls.log(logging.WARNING, f"no suggestion at {uri}:{position.line}:{position.character}: {error}")
        return types.InlineCompletionList(items=[])

    def item(edit: Edit, command: types.Command | None = None) -> types.InlineCompletionItem:
        # Always a range: without one VS Code takes the word at the cursor as the range and drops the item
        # unless it starts with that word (after `math.pi|` or before `)`). Zero-width inserts at the cursor.
        end = types.Position(position.line, position.character + units(text[offset : offset + edit.replace], encoding))
        return types.InlineCompletionItem(insert_text=edit.text, range=types.Range(position, end), command=command)

    if edit is None:
        return types.InlineCompletionList(items=[])
    if isinstance(edit, Round):  # arena mode: accepting an item runs its vote
        return types.InlineCompletionList(items=[
            item(shown, types.Command(title="Arena vote", command=ARENA_VOTE, arguments=[{"battle": edit.battle, "choice": choice}]))
            for shown, choice in edit.items])
    return types.InlineCompletionList(items=[item(edit)])


@SERVER.command(ARENA_VOTE)
async def arena_vote(ls: CompleterServer, *arguments: Any) -> dict:
    """The developer accepted an arena item: its system wins the battle. Answers the votes so far."""
    arguments = plain(list(arguments))
    vote = arguments[0] if len(arguments) == 1 and isinstance(arguments[0], dict) else {}
    battle, choice = vote.get("battle"), vote.get("choice")
    if isinstance(battle, bool) or not isinstance(battle, int) or choice not in CHOICES:
        raise JsonRpcInvalidParams(f"{ARENA_VOTE} takes one argument {{battle: a number, choice: {' | '.join(CHOICES)}}}")
    arena = arena_on(ls)
    if not await asyncio.to_thread(arena.vote, battle, choice):
        ls.log(logging.WARNING, f"a vote for battle {battle}, which is not open in {arena.path}: not counted")
    return {"votes": await asyncio.to_thread(arena.votes)}


@SERVER.command(ARENA_LEADERBOARD)
async def arena_leaderboard(ls: CompleterServer, *arguments: Any) -> dict:
    """The arena database's leaderboard (Bradley-Terry scores with bootstrap intervals) as Markdown."""
    arena = arena_on(ls)
    markdown = await asyncio.to_thread(arena.leaderboard)
    return {"markdown": markdown, "votes": await asyncio.to_thread(arena.votes)}


def arena_on(ls: CompleterServer) -> EditorArena:
    if ls.completer.arena is None:
        raise JsonRpcInvalidRequest("arena mode is off: set completer.arena to {\"systems\": PATH} to turn it on")
    return ls.completer.arena


@SERVER.feature(NEXT_EDIT)
async def next_edit(ls: CompleterServer, params: Any) -> dict:
    """The edit the model would make near the cursor and the recent edits; none for a stale version."""
    uri, version, position = document_position(params, NEXT_EDIT)
    document = ls.documents.get(uri)
    if document is None or (version is not None and version != document.version):
        return {"edits": [], "version": version}
    encoding = ls.workspace.position_encoding
    offset, _ = cursor(document, position, encoding)
    return await edits_reply(ls, document, f"next edit at {uri}:{position.line}", lambda stale: ls.completer.next_edit(
        document.text, offset, document.language_id or "", list(document.recent), stale))


@SERVER.command(REWRITE)
async def rewrite(ls: CompleterServer, *arguments: Any) -> dict:
    """The selection masked and written again, returned as edits for the client to preview and apply."""
    arguments = plain(list(arguments))
    if len(arguments) != 1 or not isinstance(arguments[0], dict) or not isinstance(arguments[0].get("uri"), str):
        raise JsonRpcInvalidParams(f"{REWRITE} takes one argument {{uri, range}}")
    uri, selection = arguments[0]["uri"], lsp_range(arguments[0].get("range"), REWRITE)
    document = ls.documents.get(uri)
    if document is None:
        ls.log(logging.WARNING, f"{REWRITE} for {uri}, which is not open: no edit")
        return {"edits": [], "version": None}
    encoding = ls.workspace.position_encoding
    (start, _), (end, _) = cursor(document, selection.start, encoding), cursor(document, selection.end, encoding)
    if end <= start:
        return {"edits": [], "version": document.version}
    return await edits_reply(ls, document, f"rewrite at {uri}:{selection.start.line}", lambda stale: ls.completer.rewrite(
        document.text, start, end, document.language_id or "", stale))


@SERVER.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite]))
def code_action(ls: CompleterServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    """Offer "Rewrite selection" for a selection that is not empty."""
    if params.range.start == params.range.end or ls.documents.get(params.text_document.uri) is None:
        return []
    argument = {"uri": params.text_document.uri, "range": range_json(params.range.start, params.range.end)}
    command = types.Command(title="Rewrite selection", command=REWRITE, arguments=[argument])
    return [types.CodeAction(title="Rewrite selection (completer)", kind=types.CodeActionKind.RefactorRewrite, command=command)]


async def edits_reply(ls: CompleterServer, document: Document, where: str,
                      work: Callable[[Callable[[], bool]], Awaitable[EditSuggestion]]) -> dict:
    """Run edit work while the document stays at its version; its edits as LSP ranges, none once it changed.
    A `$/cancelRequest` stops the model's work at its next pass."""
    version, encoding = document.version, ls.workspace.position_encoding
    cancelled = Event()

    def stale() -> bool:
        return cancelled.is_set() or document.version != version or ls.documents.get(document.uri) is not document

    try:
        suggestion = await work(stale)
    except asyncio.CancelledError:
        cancelled.set()
        raise
    except Cancelled:
        return {"edits": [], "version": version}
    except CompleterError as error:
        ls.log(logging.WARNING, f"no {where}: {error}")
        return {"edits": [], "version": version}
    if stale():
        return {"edits": [], "version": version}
    edits = [{"range": range_json(document.position(edit.start, encoding), document.position(edit.end, encoding)),
              "text": edit.text} for edit in suggestion.edits]
    return {"edits": edits, "version": version}


def range_json(start: types.Position, end: types.Position) -> dict:
    return {"start": {"line": start.line, "character": start.character}, "end": {"line": end.line, "character": end.character}}


def document_position(params: Any, method: str) -> tuple[str, int | None, types.Position]:
    """uri, version (None when not given) and position of {textDocument: {uri, version}, position}."""
    params = plain(params)
    document = params.get("textDocument") if isinstance(params, dict) else None
    if not isinstance(document, dict) or not isinstance(document.get("uri"), str):
        raise JsonRpcInvalidParams(f"{method} needs textDocument.uri")
    version = document.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise JsonRpcInvalidParams(f"{method}: textDocument.version must be an integer")
    return document["uri"], version, lsp_position(params.get("position"), method)


def plain(value: Any) -> Any:
    """Params of a custom method as plain JSON values (pygls hands them over as namedtuples)."""
    if hasattr(value, "_asdict"):
        value = value._asdict()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def lsp_position(value: Any, method: str) -> types.Position:
    if not isinstance(value, dict) or not all(isinstance(value.get(k), int) and not isinstance(value.get(k), bool)
                                              and value[k] >= 0 for k in ("line", "character")):
        raise JsonRpcInvalidParams(f"{method} needs a position {{line, character}} of whole numbers >= 0")
    return types.Position(value["line"], value["character"])


def lsp_range(value: Any, method: str) -> types.Range:
    if not isinstance(value, dict):
        raise JsonRpcInvalidParams(f"{method} needs a range {{start, end}}")
    start, end = lsp_position(value.get("start"), method), lsp_position(value.get("end"), method)
    return types.Range(start, end) if (start.line, start.character) <= (end.line, end.character) else types.Range(end, start)


@SERVER.feature("completer/stats")
def stats(ls: CompleterServer, params: Any) -> dict:
    """Counters for benchmarks and tests: requests, cache hits, reuses, cancellations, model and context time,
    the handlers still running (`in_flight`) and the server's resident memory (`rss_mib`, None off Linux)."""
    return ls.completer.stats() | {"in_flight": len(ls.protocol._request_futures), "rss_mib": resident_mib()}


def resident_mib() -> float | None:
    """This process's resident memory as the kernel counts it now (not the peak `resource` reports)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), None)


def cursor(document: Document, position: types.Position, encoding: str) -> tuple[int, types.Position]:
    """Offset into the document for an LSP position, and the position clamped to its line (as LSP asks).

    A line outside the document is an InvalidParams error.
    """
    offset = document.offset(position, encoding) if position.line >= 0 and position.character >= 0 else None
    if offset is None:
        lines = document.text.count("\n") + 1
        raise JsonRpcInvalidParams(f"position {position.line}:{position.character} is outside {document.uri} ({lines} lines)")
    line_start = document.text.rfind("\n", 0, offset) + 1
    return offset, types.Position(position.line, units(document.text[line_start:offset], encoding))


def serve(transport: str, host: str | None = None, port: int | None = None, model: str | None = None,
          log_file: str | None = None, threads: int | None = None) -> None:
    """Run the server until the client exits. transport: "stdio" or "tcp" (then host and port)."""
    logging.getLogger("pygls").setLevel(logging.CRITICAL + 1)  # it logs a traceback per bad message; ours logs one line
    logger.setLevel(logging.INFO)
    if log_file:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
    SERVER.completer.settings = Settings(model=model, threads=threads)
    if transport == "stdio":
        SERVER.start_io()
    elif transport == "tcp":
        if host is None or port is None:
            raise ValueError("tcp transport needs a host and a port")
        SERVER.start_tcp(host, port)
    else:
        raise ValueError(f"unknown transport {transport!r}: use 'stdio' or 'tcp'")
