"""Arena mode in the editor (`lsp.arena`): two systems answer each request, the suggestion accepted is the vote.

The systems are the arena's (`evals.arena.systems`: the TOML `completer arena run` reads), each
request's pair is drawn latency-aware (`evals.arena.pairs.editor_pair`) and shown in random order,
and battles and votes go to the arena's SQLite (`evals.arena.store`), where `completer arena report`
rates them with any offline battles. A battle still shown when the next request for its document
comes (its suggestions were dismissed or typed over), or when the document closes, is taken for
neither; a vote that comes after that (the editor asked again before it ran the accepted item's
command) still counts. Code is stored only with the setting arenaStoreCode; nothing leaves the machine.
"""

from __future__ import annotations

import random
from pathlib import Path

from completer.errors import BadInput
from evals.arena.pairs import editor_pair
from evals.arena.report import report
from evals.arena.store import ArenaStore, default_db
from evals.arena.systems import load_systems
from lsp.arena import CHOICES, Round, System
from lsp.postprocess import Edit

CODE_AROUND = 2000  # characters kept each side of the cursor when the code is stored
RECENT_LATENCIES = 100  # per system: what pair sampling estimates its waits from (each request reads them)
REPORT_ROUNDS = 1000  # bootstrap resamples of the leaderboard, as `arena report`'s default


class EditorArena:
    """The systems, the database and the battle each document shows."""

    def __init__(self, systems: Path, db: Path | None, store_code: bool) -> None:
        self.systems = {system.name: system for system in load_systems(systems)}
        self.store = ArenaStore(db or default_db())
        self.path = self.store.path
        self.store_code = store_code
        self.rng = random.Random()
        self.shown: dict[str, int] = {}  # document -> its battle on screen
        # read once, then kept as requests are timed: a request never reads the whole database
        self.latencies = {system: measured[-RECENT_LATENCIES:] for system, measured in self.store.latencies().items()}

    def pair(self) -> tuple[System, System]:
        first, second = editor_pair(list(self.systems), self.latencies, self.rng)
        return self.systems[first], self.systems[second]

    def record(self, uri: str, pair: tuple[System, System], edits: tuple[Edit | None, Edit | None],
               latencies: tuple[float, float], language_id: str, before: str, after: str) -> Round | None:
        """A system with no suggestion loses to the other's if that one is taken; two equal suggestions are one
        item, and taking it is a tie."""
        first, second = edits
        if first is None and second is None:
            return None
        if first == second:
            items = [(first, "both")]
        else:
            items = [(edit, choice) for edit, choice in zip(edits, CHOICES) if edit is not None]
        code = None
        if self.store_code:
            code = {"prefix": before[-CODE_AROUND:], "suffix": after[:CODE_AROUND],
                    "first": first.text if first else None, "second": second.text if second else None}
        battle = self.store.add_editor_battle(pair[0].name, pair[1].name, latencies[0], latencies[1], language_id, code)
        for system, latency in zip(pair, latencies):
            self.latencies[system.name] = (self.latencies.get(system.name, []) + [latency])[-RECENT_LATENCIES:]
        self.shown[uri] = battle
        return Round(battle, items)

    def dismiss(self, uri: str) -> None:
        if (battle := self.shown.pop(uri, None)) is not None:
            self.store.dismiss_editor_battle(battle)

    def vote(self, battle: int, choice: str) -> bool:
        self.shown = {uri: shown for uri, shown in self.shown.items() if shown != battle}
        return self.store.decide_editor_battle(battle, choice)

    def votes(self) -> int:
        return self.store.editor_votes()

    def leaderboard(self) -> str:
        try:
            return report(self.store, REPORT_ROUNDS)[0]
        except BadInput:  # no decided battle yet
            return (f"# Arena leaderboard\n\nNo votes yet in {self.store.path}: accept one of the two suggestions "
                    f"to vote for its system ({', '.join(self.systems)}).\n")
