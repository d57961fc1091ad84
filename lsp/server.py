"""The language server: thin LSP handlers over `lsp.service.Completer`.

Speaks LSP 3.18 `textDocument/inlineCompletion` (ghost text) over stdio or TCP.
Everything runs on this machine: the model is loaded once, at `initialized`,
and a model that cannot be loaded is reported to the user while the server
keeps answering (with no suggestions).
"""

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.workspace import TextDocument

from completer.errors import Cancelled, CompleterError, ModelLoadError
from lsp.postprocess import Edit
from lsp.service import Completer
from lsp.settings import Settings

logger = logging.getLogger("completer.lsp")

# Sent while a request is denoised when the client asked for drafts: {uri, version, position, text}.
DRAFT = "completer/draft"


class CompleterProtocol(LanguageServerProtocol):
    """Answers a request whose params do not parse with InvalidParams, instead of leaving the client waiting."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if "id" in data and "method" in data:
                self._send_response(data["id"], error=JsonRpcInvalidParams(f"bad params for {data['method']}: {error}").to_response_error())
            raise


class CompleterServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("completer", "0.1.0", protocol_cls=CompleterProtocol)
        self.completer = Completer(Settings())

    def log(self, level: int, message: str) -> None:
        """To the log file (if any) and the client's output panel."""
        logger.log(level, message)
        kind = {logging.ERROR: types.MessageType.Error, logging.WARNING: types.MessageType.Warning}.get(level, types.MessageType.Info)
        self.window_log_message(types.LogMessageParams(type=kind, message=f"completer: {message}"))

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Unreadable messages and failed handlers: log them and keep serving (no pop-up for a client's bad input)."""
        self.log(logging.ERROR, f"could not handle a message ({source.__name__}): {error!r}; still serving")

    def apply_settings(self, options: Any) -> bool:
        """Apply the `completer` settings; returns True when the model must be loaded again (model or threads changed)."""
        if isinstance(options, dict) and isinstance(options.get("completer"), dict):
            options = options["completer"]
        if not isinstance(options, dict):
            return False
        try:
            settings = self.completer.settings.updated(options)
        except ValueError as error:
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"completer: {error}"))
            self.log(logging.ERROR, f"settings not applied: {error}")
            return False
        old = self.completer.settings
        changed = (settings.model, settings.threads) != (old.model, old.threads)
        self.completer.settings = settings
        self.log(logging.INFO, f"settings: {settings}")
        return changed

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


SERVER = CompleterServer()


@SERVER.feature(types.INITIALIZE)
def initialize(ls: CompleterServer, params: types.InitializeParams) -> None:
    ls.apply_settings(params.initialization_options)


@SERVER.feature(types.INITIALIZED)
async def initialized(ls: CompleterServer, params: types.InitializedParams) -> None:
    await ls.load_model()


@SERVER.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: CompleterServer, params: types.DidChangeConfigurationParams) -> None:
    if ls.apply_settings(params.settings):
        await ls.load_model()


@SERVER.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: CompleterServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.completer.forget(params.text_document.uri)


@SERVER.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
async def inline_completion(ls: CompleterServer, params: types.InlineCompletionParams) -> types.InlineCompletionList | None:
    uri = params.text_document.uri
    document = ls.workspace.text_documents.get(uri)
    if document is None:
        ls.log(logging.WARNING, f"inlineCompletion for {uri}, which is not open: no suggestion")
        return None
    offset, position = cursor(document, params.position)

    def send_draft(edit: Edit) -> None:
        draft = {"uri": uri, "version": document.version, "position": {"line": position.line, "character": position.character}, "text": edit.text}
        ls.protocol.notify(DRAFT, draft)

    try:
        edit = await ls.completer.complete(uri, document.source, offset, document.language_id or "", on_draft=send_draft)
    except Cancelled:
        return None
    except CompleterError as error:
        ls.log(logging.WARNING, f"no suggestion at {uri}:{position.line}:{position.character}: {error}")
        return types.InlineCompletionList(items=[])
    if edit is None:
        return types.InlineCompletionList(items=[])
    # Always a range: without one VS Code takes the word at the cursor as the range and drops the item
    # unless it starts with that word (after `math.pi|` or before `)`). Zero-width inserts at the cursor.
    replaced = document.source[offset : offset + edit.replace]
    end = types.Position(position.line, position.character + document.position_codec.client_num_units(replaced))
    item = types.InlineCompletionItem(insert_text=edit.text, range=types.Range(position, end))
    return types.InlineCompletionList(items=[item])


@SERVER.feature("completer/stats")
def stats(ls: CompleterServer, params: Any) -> dict:
    """Counters for benchmarks and tests: requests, cache hits, reuses, cancellations, model and context time."""
    return ls.completer.stats()


def cursor(document: TextDocument, position: types.Position) -> tuple[int, types.Position]:
    """Offset into document.source for an LSP position, and the position clamped to its line (as LSP asks).

    A line outside the document is an InvalidParams error.
    """
    lines = document.source.split("\n")
    if not 0 <= position.line < len(lines) or position.character < 0:
        raise JsonRpcInvalidParams(f"position {position.line}:{position.character} is outside {document.uri} ({len(lines)} lines)")
    line = lines[position.line].removesuffix("\r")
    column, units = 0, 0
    while column < len(line) and units < position.character:
        units += document.position_codec.client_num_units(line[column])
        column += 1
    offset = sum(len(text) + 1 for text in lines[: position.line]) + column
    return offset, types.Position(position.line, units)


def serve(transport: str, host: str | None = None, port: int | None = None, model: str | None = None,
          log_file: str | None = None, threads: int | None = None) -> None:
    """Run the server until the client exits. transport: "stdio" or "tcp" (then host and port)."""
    logging.getLogger("pygls").setLevel(logging.WARNING)
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
