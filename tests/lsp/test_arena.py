"""Arena mode over a real stdio session: two systems answer, the accepted item is the vote, in the arena's database.

The server is the real one with a scripted model (tests/editors/scripted_server.py); the two systems
differ in effort, which the script writes into the text, so each item says which system wrote it.
"""

import json
import sqlite3
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.lsp.conftest import initialize_params, inline_params, open_document, stats, wait_for_log

pytestmark = pytest.mark.asyncio(loop_scope="module")

FOLDER = Path(tempfile.mkdtemp(prefix="completer-arena-"))
SCRIPT_FILE, SYSTEMS, DB = FOLDER / "script.json", FOLDER / "systems.toml", FOLDER / "arena.sqlite"
SCRIPT_FILE.write_text(json.dumps({"rules": [
    {"after": "arena = ", "text": "{effort}_pick"},
    {"after": "same = ", "text": "shared"},
    {"after": "slow = ", "text": "{effort}_late", "pause_ms": 300},
]}))
SYSTEMS.write_text('[systems.quick]\neffort = "low"\nlookup_drafts = 0\n\n[systems.careful]\neffort = "high"\nlookup_drafts = 0\n')
SCRIPTED = ClientServerConfig(server_command=[sys.executable, "-m", "tests.editors.scripted_server", str(SCRIPT_FILE)])
WRITER = {"low_pick": "quick", "high_pick": "careful"}


@pytest_lsp.fixture(config=SCRIPTED, scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(initialize_params({"arena": {"systems": str(SYSTEMS), "db": str(DB)},
                                                           "arenaStoreCode": True}))
    await wait_for_log(lsp_client, "model scripted loaded")
    yield
    await lsp_client.shutdown_session()


def battles() -> list[tuple]:
    with sqlite3.connect(DB) as db:
        return db.execute("SELECT id, first, second, outcome, code FROM editor_battles ORDER BY id").fetchall()


async def ask(client: LanguageClient, uri: str, text: str) -> list[types.InlineCompletionItem]:
    open_document(client, uri, text)
    result = await client.text_document_inline_completion_async(inline_params(uri, 0, len(text)))
    return result.items


async def command(client: LanguageClient, name: str, *arguments) -> dict:
    result = await client.workspace_execute_command_async(types.ExecuteCommandParams(command=name, arguments=list(arguments)))
    return result._asdict() if hasattr(result, "_asdict") else result


async def test_both_systems_answer_in_the_order_stored_and_each_item_votes_for_its_own(client: LanguageClient):
    items = await ask(client, "file:///arena_one.py", "arena = ")
    assert sorted(item.insert_text for item in items) == ["high_pick", "low_pick"]
    battle, first, second, outcome, _ = battles()[-1]
    assert [WRITER[item.insert_text] for item in items] == [first, second] and outcome is None  # shown, not yet voted
    for item, choice in zip(items, ["first", "second"]):
        assert item.command.command == "completer.arenaVote"
        assert list(item.command.arguments) == [{"battle": battle, "choice": choice}]

    reply = await command(client, "completer.arenaVote", *items[1].command.arguments)  # the developer took the second
    assert battles()[-1][3] == "second" and reply["votes"] >= 1


async def test_a_battle_dismissed_by_the_next_request_is_neither_and_a_late_vote_still_counts(client: LanguageClient):
    await ask(client, "file:///arena_two.py", "arena = ")
    shown = battles()[-1][0]
    hits = (await stats(client))["cache_hits"]
    await ask(client, "file:///arena_two.py", "arena = ")  # typed over: the editor asked again
    assert (await stats(client))["cache_hits"] == hits + 2  # each system's answer, cached like any other
    assert [b[3] for b in battles() if b[0] == shown] == ["neither"]
    await command(client, "completer.arenaVote", {"battle": shown, "choice": "first"})  # the accept's command came late
    assert [b[3] for b in battles() if b[0] == shown] == ["first"]


async def test_two_equal_suggestions_are_one_item_and_taking_it_is_a_tie(client: LanguageClient):
    items = await ask(client, "file:///arena_same.py", "same = ")
    assert [item.insert_text for item in items] == ["shared"]
    assert items[0].command.arguments[0]["choice"] == "both"
    await command(client, "completer.arenaVote", *items[0].command.arguments)
    assert battles()[-1][3] == "both"


async def test_the_code_is_stored_only_because_the_setting_asked(client: LanguageClient):
    await ask(client, "file:///arena_code.py", "arena = ")
    code = json.loads(battles()[-1][4])
    assert code["prefix"] == "arena = " and {code["first"], code["second"]} == {"low_pick", "high_pick"}


async def test_the_leaderboard_rates_the_votes_with_intervals(client: LanguageClient):
    reply = await command(client, "completer.arenaLeaderboard")
    assert reply["markdown"].startswith("# Arena leaderboard")
    assert "quick" in reply["markdown"] and "careful" in reply["markdown"] and "95% CI" in reply["markdown"]
    assert reply["votes"] == sum(b[3] in ("first", "second", "both") for b in battles())


async def test_a_bad_vote_is_a_clear_error_and_the_server_keeps_serving(client: LanguageClient):
    with pytest.raises(JsonRpcException, match="battle"):
        await command(client, "completer.arenaVote", {"battle": "one", "choice": "first"})
    assert len(await ask(client, "file:///arena_after.py", "arena = ")) == 2


async def test_a_request_superseded_while_both_systems_work_stores_no_battle(client: LanguageClient):
    import asyncio

    before = len(battles())
    uri = "file:///arena_slow.py"
    open_document(client, uri, "slow = ")
    first = asyncio.ensure_future(client.text_document_inline_completion_async(inline_params(uri, 0, 7)))
    await asyncio.sleep(0.1)
    second = await client.text_document_inline_completion_async(inline_params(uri, 0, 7))
    assert (await first) is None  # superseded: answers null, as outside arena mode
    assert sorted(item.insert_text for item in second.items) == ["high_late", "low_late"]
    assert len(battles()) == before + 1


async def test_turning_arena_mode_off_gives_one_plain_suggestion(client: LanguageClient):
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"completer": {"arena": None}}))
    await wait_for_log(client, "settings: ")
    with pytest.raises(JsonRpcException, match="arena mode is off"):
        await command(client, "completer.arenaLeaderboard")
    items = await ask(client, "file:///arena_off.py", "arena = ")
    assert [(item.insert_text, item.command) for item in items] == [("medium_pick", None)]
