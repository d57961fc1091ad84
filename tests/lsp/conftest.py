"""Shared fixtures: one tiny random checkpoint per test session, and LSP client helpers."""

import asyncio
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.helpers import make_tiny_checkpoint

SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "lsp", "--stdio"])


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny-model"))


def initialize_params(options: dict) -> types.InitializeParams:
    """VS Code's capabilities plus inlineCompletion, which the pytest-lsp presets lack."""
    capabilities = client_capabilities("visual-studio-code")
    capabilities.text_document.inline_completion = types.InlineCompletionClientCapabilities()
    return types.InitializeParams(capabilities=capabilities, initialization_options=options)


async def wait_for_log(client: LanguageClient, needle: str) -> types.LogMessageParams:
    """Block (up to a minute) until the server logs a message containing `needle`."""
    for _ in range(1200):
        for message in client.log_messages:
            if needle in message.message:
                return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"the server never logged {needle!r}; it logged {[m.message for m in client.log_messages]}")


def open_document(client: LanguageClient, uri: str, text: str, language_id: str = "python") -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=text)))


def inline_params(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
    )


async def stats(client: LanguageClient) -> dict:
    """The server's counters (pygls hands custom results back as a namedtuple)."""
    return (await client.protocol.send_request_async("completer/stats", {}))._asdict()
