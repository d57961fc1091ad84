"""The editor's arena battles: sampled latency-aware, stored, rated with the offline ones, exported without code."""

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from completer.errors import BadInput
from evals.arena.editor import EditorArena
from evals.arena.pairs import editor_pair
from evals.arena.report import report
from evals.arena.store import ArenaStore, default_db
from lsp.postprocess import Edit

from tests.evals.test_arena_cli import arena

SYSTEMS_TOML = '[systems.quick]\neffort = "low"\n\n[systems.careful]\neffort = "high"\n\n[systems.exact]\nsteps = 32\n'


@pytest.fixture
def editor_arena(tmp_path: Path) -> EditorArena:
    (tmp_path / "systems.toml").write_text(SYSTEMS_TOML)
    return EditorArena(tmp_path / "systems.toml", tmp_path / "votes" / "arena.sqlite", store_code=False)


def show(arena: EditorArena, uri: str, texts: tuple[str | None, str | None], latencies=(40.0, 90.0)) -> tuple:
    pair = arena.pair()
    edits = tuple(None if text is None else Edit(text) for text in texts)
    return pair, arena.record(uri, pair, edits, latencies, "python", "x = ", "\n")


def test_editor_pairs_make_a_slow_system_rarer_and_show_both_orders():
    latencies = {"a": [100.0, 110.0], "b": [120.0, 100.0], "c": [400.0, 500.0]}
    rng = random.Random(0)
    drawn = [editor_pair(["a", "b", "c"], latencies, rng) for _ in range(600)]
    pairs = Counter(frozenset(pair) for pair in drawn)
    assert pairs[frozenset("ab")] > pairs[frozenset("ac")] + pairs[frozenset("bc")]
    assert pairs[frozenset("ac")] > 0 and pairs[frozenset("bc")] > 0  # rarer, never impossible
    assert Counter(first for first, _ in drawn if {first, _} == {"a", "b"}).keys() == {"a", "b"}


def test_a_system_not_measured_yet_is_drawn_as_often_as_the_fastest_pair():
    rng = random.Random(1)
    drawn = Counter(frozenset(editor_pair(["a", "b", "new"], {"a": [10.0], "b": [900.0]}, rng)) for _ in range(900))
    assert drawn[frozenset(("a", "new"))] > drawn[frozenset("ab")] and drawn[frozenset(("b", "new"))] > drawn[frozenset("ab")]


def test_a_shown_battle_is_pending_until_voted_or_dismissed_and_a_late_vote_wins(editor_arena: EditorArena):
    pair, round_ = show(editor_arena, "file:///a.py", ("a + 1", "a - 1"))
    assert [choice for _, choice in round_.items] == ["first", "second"]
    stored = editor_arena.store.editor_battles()[-1]
    assert (stored.first, stored.second, stored.outcome, stored.code) == (pair[0].name, pair[1].name, None, None)
    editor_arena.dismiss("file:///a.py")
    assert editor_arena.store.editor_battles()[-1].outcome == "neither"
    assert editor_arena.vote(round_.battle, "second")  # the accept's command came after the next request
    assert editor_arena.store.editor_battles()[-1].outcome == "second"
    assert not editor_arena.vote(round_.battle, "first")  # one vote a battle
    assert editor_arena.votes() == 1


def test_one_empty_side_shows_one_item_and_two_equal_ones_tie(editor_arena: EditorArena):
    _, only_second = show(editor_arena, "file:///b.py", (None, "b()"))
    assert [(edit.text, choice) for edit, choice in only_second.items] == [("b()", "second")]
    _, equal = show(editor_arena, "file:///c.py", ("c()", "c()"))
    assert [(edit.text, choice) for edit, choice in equal.items] == [("c()", "both")]
    assert show(editor_arena, "file:///d.py", (None, None))[1] is None  # nothing to show: no battle
    assert len(editor_arena.store.editor_battles()) == 2


def test_the_report_rates_editor_votes_with_intervals_acceptance_and_latency(editor_arena: EditorArena):
    for k in range(12):
        pair, round_ = show(editor_arena, f"file:///{k}.py", ("p", "q"), latencies=(30.0 + k, 60.0 + k))
        favourite = "first" if pair[0].name == "quick" else "second" if pair[1].name == "quick" else None
        if favourite:
            editor_arena.vote(round_.battle, favourite)
        else:
            editor_arena.dismiss(f"file:///{k}.py")
    markdown, board = report(editor_arena.store, rounds=50)
    assert board.standings[0].system == "quick" and board.standings[0].ci_low <= board.standings[0].score <= board.standings[0].ci_high
    quick = editor_arena.store.editor_battles()
    shown = sum("quick" in (b.first, b.second) for b in quick)
    assert f"| {shown}/{shown} (100%) |" in markdown  # quick was taken every time it was shown
    assert "voted in the editor" in markdown and "Median latency" in markdown


def test_export_writes_every_battle_as_json_lines_with_code_only_where_it_was_stored(tmp_path: Path):
    (tmp_path / "systems.toml").write_text(SYSTEMS_TOML)
    db = tmp_path / "arena.sqlite"
    private = EditorArena(tmp_path / "systems.toml", db, store_code=False)
    show(private, "file:///secret.py", ("token = 'abc'", "token = None"))
    shared = EditorArena(tmp_path / "systems.toml", db, store_code=True)
    show(shared, "file:///open.py", ("y = 2", "y = 3"))
    assert arena("export", "--db", str(db), "--out", str(tmp_path / "battles.jsonl")) == 0
    records = [json.loads(line) for line in (tmp_path / "battles.jsonl").read_text().splitlines()]
    assert [r["source"] for r in records] == ["editor", "editor"]
    assert "code" not in records[0] and "abc" not in json.dumps(records[0])
    assert records[1]["code"]["prefix"] == "x = " and {records[1]["code"]["first"], records[1]["code"]["second"]} == {"y = 2", "y = 3"}


def test_the_default_database_lives_in_the_users_data_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_db() == tmp_path / "completer" / "arena.sqlite"


def test_a_file_that_is_not_an_arena_database_is_a_clear_error(tmp_path: Path):
    (tmp_path / "systems.toml").write_text(SYSTEMS_TOML)
    (tmp_path / "notes.txt").write_text("not sqlite " * 100)
    with pytest.raises(BadInput, match="not an arena database"):
        EditorArena(tmp_path / "systems.toml", tmp_path / "notes.txt", store_code=False)
    with pytest.raises(BadInput, match="systems file not found"):
        EditorArena(tmp_path / "missing.toml", None, store_code=False)


def test_an_unknown_outcome_is_refused(tmp_path: Path):
    with pytest.raises(BadInput, match="outcome"):
        ArenaStore(tmp_path / "a.sqlite").decide_editor_battle(1, "top")


def test_pair_sampling_reads_the_recent_latencies_kept_in_memory_not_the_database(editor_arena: EditorArena):
    from evals.arena.editor import RECENT_LATENCIES

    battles = 3 * RECENT_LATENCIES  # every system of three is shown in more than RECENT_LATENCIES of them
    for k in range(battles):
        show(editor_arena, f"file:///{k}.py", ("p", "q"), latencies=(float(k), float(k)))
    assert all(len(measured) == RECENT_LATENCIES for measured in editor_arena.latencies.values())
    assert max(editor_arena.latencies["quick"] + editor_arena.latencies["careful"] + editor_arena.latencies["exact"]) == battles - 1
    reopened = EditorArena(editor_arena.store.path.parent.parent / "systems.toml", editor_arena.store.path, store_code=False)
    assert reopened.latencies == editor_arena.latencies  # read back once at open, the recent ones
