"""Fresh servers: what happens before and instead of a loaded model.

Requests sent right after `initialized` wait for the model to load, which
makes supersession and cancellation observable without timing tricks.
"""

import asyncio

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled
from pytest_lsp import LanguageClient

from tests.lsp.conftest import SERVER, initialize_params, inline_params, open_document, stats, wait_for_log


@pytest_lsp.fixture(config=SERVER)
async def missing_model_client(lsp_client: LanguageClient, tmp_path):
    await lsp_client.initialize_session(initialize_params({"model": str(tmp_path / "no-such-checkpoint")}))
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def loading_client(lsp_client: LanguageClient, tiny_model):
    await lsp_client.initialize_session(initialize_params({"model": str(tiny_model), "maxTokens": 8}))
    yield
    await lsp_client.shutdown_session()


async def test_missing_model_is_shown_to_the_user_and_completions_are_empty(missing_model_client: LanguageClient):
    client = missing_model_client
    await wait_for_log(client, "cannot load model")
    assert any(m.type == types.MessageType.Error and "no-such-checkpoint" in m.message for m in client.messages)
    open_document(client, "file:///a.py", "x = \n")
    result = await client.text_document_inline_completion_async(inline_params("file:///a.py", 0, 4))
    assert list(result.items) == []


async def test_newer_request_supersedes_older_and_cancel_request_is_honoured(loading_client: LanguageClient):
    client = loading_client
    open_document(client, "file:///a.py", "total = \n")
    open_document(client, "file:///b.py", "count = \n")
    older = client.text_document_inline_completion_async(inline_params("file:///a.py", 0, 8))
    newer = client.text_document_inline_completion_async(inline_params("file:///a.py", 0, 8))
    cancelled = client.protocol.send_request(types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params("file:///b.py", 0, 8), msg_id="to-cancel")
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="to-cancel"))

    older_result, newer_result = await asyncio.gather(older, newer)
    assert older_result is None
    assert isinstance(newer_result, types.InlineCompletionList)
    with pytest.raises(JsonRpcException) as error:
        await asyncio.wrap_future(cancelled)
    assert error.value.code == JsonRpcRequestCancelled.CODE
    counters = await stats(client)
    # once the model has loaded (a fraction of a second), the older and the cancelled request may have
    # reached the model before they were superseded or cancelled: they stop at the next pass
    assert counters["cancellations"] == 2 and 1 <= counters["model_calls"] <= 3
