"""Arena mode as the language server sees it: two systems answer a request, the accepted suggestion is a vote.

The arena itself (its systems, pair sampling, database and ratings) belongs to the evals, a layer
above this one; the server reaches it through the `completer.plugins` entry point `editor_arena`
(`evals.arena.editor.EditorArena`), which does what `EditorArena` here says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from completer.cli import registered
from completer.options import Options
from lsp.postprocess import Edit

CHOICES = ("first", "second", "both")  # the accepted item: the first system's, the second's, the one of two equal


@dataclass(frozen=True)
class System:
    """A named configuration a user could pick in their editor: a model and the options it decodes with (the
    arena's `[systems.NAME]` tables, `evals.arena.systems`)."""

    name: str
    model: str | None = None  # None -> the bundled default model
    options: Options = Options()


@dataclass(frozen=True)
class Round:
    """What the editor shows for one arena request: each suggestion with the choice that accepting it votes."""

    battle: int
    items: list[tuple[Edit, str]]


class EditorArena(Protocol):
    systems: dict[str, System]
    path: Path  # its database

    def pair(self) -> tuple[System, System]:
        """The two systems for the next request, in the order they are shown (from memory: no database read)."""

    def record(self, uri: str, pair: tuple[System, System], edits: tuple[Edit | None, Edit | None],
               latencies: tuple[float, float], language_id: str, before: str, after: str) -> Round | None:
        """Store the battle about to be shown (None: neither system had a suggestion)."""

    def dismiss(self, uri: str) -> None:
        """The document's battle on screen left it without a vote."""

    def vote(self, battle: int, choice: str) -> bool:
        """The developer accepted ``choice``; False for a battle not open in the database."""

    def votes(self) -> int:
        """Votes in the database so far."""

    def leaderboard(self) -> str:
        """The database's leaderboard as Markdown."""


def open_arena(systems: str, db: str | None, store_code: bool) -> EditorArena:
    """The arena of the `arena` setting; BadInput for a systems file or database it cannot use."""
    arena = registered("completer.plugins")["editor_arena"].load()
    return arena(Path(systems).expanduser(), Path(db).expanduser() if db else None, store_code)
