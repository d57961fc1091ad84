"""Fresh servers: what happens instead of a loaded model."""

import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.lsp.conftest import SERVER, initialize_params, inline_params, open_document, wait_for_log


@pytest_lsp.fixture(config=SERVER)
async def missing_model_client(lsp_client: LanguageClient, tmp_path):
    await lsp_client.initialize_session(initialize_params({"model": str(tmp_path / "no-such-checkpoint")}))
    yield
    await lsp_client.shutdown_session()


async def test_missing_model_is_shown_to_the_user_and_completions_are_empty(missing_model_client: LanguageClient):
    client = missing_model_client
    await wait_for_log(client, "cannot load model")
    assert any(m.type == types.MessageType.Error and "no-such-checkpoint" in m.message for m in client.messages)
    open_document(client, "file:///a.py", "x = \n")
    result = await client.text_document_inline_completion_async(inline_params("file:///a.py", 0, 4))
    assert list(result.items) == []
