"""The arena database: tasks, cached completions and battles in one SQLite file.

Every write commits at once, so a vote survives a crash or a server restart, and
`arena run` can be stopped and resumed without recomputing completions. Battles come from
`arena run` (on tasks, judged by tests, similarity or `arena vote`) and from the editor
(`editor_battles`: two systems answered one request, and the suggestion the developer accepted is
the vote; their code is kept only when the developer asked for it).
"""

import dataclasses
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from completer.errors import BadInput
from evals.arena.systems import Generation, System
from evals.arena.tasks import ArenaTask
from lsp.arena import CHOICES

SCHEMA = """
CREATE TABLE IF NOT EXISTS systems (name TEXT PRIMARY KEY, config TEXT);
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY, file TEXT, language TEXT, kind TEXT, prefix TEXT, suffix TEXT, truth TEXT
);
CREATE TABLE IF NOT EXISTS completions (
    system TEXT, task_id TEXT REFERENCES tasks(id), text TEXT, latency_ms REAL, forward_passes INTEGER,
    replace_chars INTEGER NOT NULL DEFAULT 0,  -- characters right of the cursor the text replaces
    PRIMARY KEY (system, task_id)
);
CREATE TABLE IF NOT EXISTS battles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT REFERENCES tasks(id), top TEXT, bottom TEXT,
    winner TEXT CHECK (winner IN ('top', 'bottom', 'tie', 'skip')),  -- NULL: waiting for a human
    judge TEXT, created REAL, judged REAL
);
CREATE TABLE IF NOT EXISTS editor_battles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first TEXT, second TEXT,  -- the systems, in the order their suggestions were shown
    first_ms REAL, second_ms REAL,  -- each one's latency as the editor waited for it
    outcome TEXT CHECK (outcome IN ('first', 'second', 'both', 'neither')),  -- NULL: still shown
    language TEXT, created REAL, decided REAL,
    code TEXT  -- JSON {prefix, suffix, first, second}, only with the setting arenaStoreCode
);
"""

EDITOR_WINNERS = {"first": "top", "second": "bottom", "both": "tie", "neither": "skip"}  # as a `Battle`'s winner
VOTES_SQL = ", ".join(f"'{choice}'" for choice in CHOICES)  # the outcomes that are votes


def default_db() -> Path:
    """Where the editor's arena votes go unless the setting names a file: the user's data folder."""
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "completer" / "arena.sqlite"


@dataclass(frozen=True)
class Battle:
    id: int
    task_id: str | None  # None: an editor battle
    top: str
    bottom: str
    winner: str | None
    judge: str | None


@dataclass(frozen=True)
class EditorBattle:
    id: int
    first: str
    second: str
    first_ms: float
    second_ms: float
    outcome: str | None
    language: str
    created: float
    decided: float | None
    code: str | None

    def as_battle(self) -> Battle:
        """As a rated battle: the first shown on top; 'neither' is skipped, as a human's skip."""
        return Battle(self.id, None, self.first, self.second, EDITOR_WINNERS.get(self.outcome), "editor")


class ArenaStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.connect() as db:
                db.executescript(SCHEMA)
                columns = {row["name"] for row in db.execute("PRAGMA table_info(completions)")}
                if "replace_chars" not in columns:  # a database from before suggestions could replace text
                    db.execute("ALTER TABLE completions ADD COLUMN replace_chars INTEGER NOT NULL DEFAULT 0")
        except sqlite3.DatabaseError as error:
            raise BadInput(f"{self.path} is not an arena database: {error}") from None

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """One short-lived connection per operation: safe from any server thread, committed on exit."""
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()

    def register_system(self, system: System) -> None:
        """Remember a system's settings; cached completions are only valid for the same settings."""
        config = json.dumps(dataclasses.asdict(system), sort_keys=True)
        with self.connect() as db:
            row = db.execute("SELECT config FROM systems WHERE name = ?", (system.name,)).fetchone()
            if row is not None and row["config"] != config:
                raise BadInput(
                    f"system {system.name!r} has different settings than when {self.path} cached its completions "
                    f"({row['config']}); give the changed system a new name or use a new --db"
                )
            db.execute("INSERT OR IGNORE INTO systems VALUES (?, ?)", (system.name, config))

    def add_tasks(self, tasks: list[ArenaTask]) -> None:
        with self.connect() as db:
            db.executemany(
                "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(t.id, t.file, t.language, t.kind, t.prefix, t.suffix, t.truth) for t in tasks],
            )

    def task(self, task_id: str) -> ArenaTask:
        with self.connect() as db:
            row = db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise KeyError(task_id)
        return ArenaTask(**dict(row))

    def completion(self, system: str, task_id: str) -> Generation | None:
        with self.connect() as db:
            row = db.execute(
                "SELECT text, latency_ms, forward_passes, replace_chars FROM completions WHERE system = ? AND task_id = ?",
                (system, task_id),
            ).fetchone()
        return None if row is None else Generation(row["text"], row["latency_ms"], row["forward_passes"],
                                                   row["replace_chars"])

    def add_completion(self, system: str, task_id: str, generation: Generation) -> None:
        with self.connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO completions VALUES (?, ?, ?, ?, ?, ?)",
                (system, task_id, generation.text, generation.latency_ms, generation.forward_passes,
                 generation.replace),
            )

    def latencies(self) -> dict[str, list[float]]:
        """Every measured completion latency, per system, oldest first: `arena run`'s, then the editor's."""
        with self.connect() as db:
            rows = db.execute(
                "SELECT system, latency_ms, 0 AS battle FROM completions "
                "UNION ALL SELECT first, first_ms, id FROM editor_battles "
                "UNION ALL SELECT second, second_ms, id FROM editor_battles ORDER BY battle"
            ).fetchall()
        by_system: dict[str, list[float]] = {}
        for row in rows:
            by_system.setdefault(row["system"], []).append(row["latency_ms"])
        return by_system

    def add_battle(self, task_id: str, top: str, bottom: str, winner: str | None, judge: str | None) -> int:
        now = time.time()
        with self.connect() as db:
            cursor = db.execute(
                "INSERT INTO battles (task_id, top, bottom, winner, judge, created, judged) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (task_id, top, bottom, winner, judge, now, None if winner is None else now),
            )
        return int(cursor.lastrowid)

    def battles(self) -> list[Battle]:
        with self.connect() as db:
            rows = db.execute("SELECT id, task_id, top, bottom, winner, judge FROM battles ORDER BY id").fetchall()
        return [Battle(**dict(row)) for row in rows]

    def battle(self, battle_id: int) -> Battle | None:
        with self.connect() as db:
            row = db.execute(
                "SELECT id, task_id, top, bottom, winner, judge FROM battles WHERE id = ?", (battle_id,)
            ).fetchone()
        return None if row is None else Battle(**dict(row))

    def next_pending(self) -> Battle | None:
        """The oldest battle still waiting for a human vote."""
        with self.connect() as db:
            row = db.execute(
                "SELECT id, task_id, top, bottom, winner, judge FROM battles WHERE winner IS NULL ORDER BY id LIMIT 1"
            ).fetchone()
        return None if row is None else Battle(**dict(row))

    def pending_count(self) -> int:
        with self.connect() as db:
            return db.execute("SELECT COUNT(*) FROM battles WHERE winner IS NULL").fetchone()[0]

    def record_vote(self, battle_id: int, winner: str) -> bool:
        """Store a human verdict; False when the battle does not exist or was already decided."""
        with self.connect() as db:
            cursor = db.execute(
                "UPDATE battles SET winner = ?, judge = 'human', judged = ? WHERE id = ? AND winner IS NULL",
                (winner, time.time(), battle_id),
            )
        return cursor.rowcount == 1

    def add_editor_battle(self, first: str, second: str, first_ms: float, second_ms: float, language: str,
                          code: dict | None = None) -> int:
        """A battle the editor is showing; its outcome comes with the vote, or 'neither' once it is gone."""
        with self.connect() as db:
            cursor = db.execute(
                "INSERT INTO editor_battles (first, second, first_ms, second_ms, language, created, code) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (first, second, first_ms, second_ms, language, time.time(), None if code is None else json.dumps(code)),
            )
        return int(cursor.lastrowid)

    def decide_editor_battle(self, battle_id: int, outcome: str) -> bool:
        """Record an accepted suggestion (a vote); a battle already taken for 'neither' (the editor's next request
        came before the vote) takes the vote. False for an unknown battle or one already voted on."""
        if outcome not in EDITOR_WINNERS:
            raise BadInput(f"an editor battle's outcome is one of {', '.join(EDITOR_WINNERS)} (got {outcome!r})")
        with self.connect() as db:
            cursor = db.execute(
                "UPDATE editor_battles SET outcome = ?, decided = ? WHERE id = ? AND (outcome IS NULL OR outcome = 'neither')",
                (outcome, time.time(), battle_id),
            )
        return cursor.rowcount == 1

    def dismiss_editor_battle(self, battle_id: int) -> None:
        """The suggestions were dismissed or typed over: neither was taken (unless a vote came first)."""
        with self.connect() as db:
            db.execute("UPDATE editor_battles SET outcome = 'neither', decided = ? WHERE id = ? AND outcome IS NULL",
                       (time.time(), battle_id))

    def editor_battles(self) -> list[EditorBattle]:
        with self.connect() as db:
            rows = db.execute("SELECT * FROM editor_battles ORDER BY id").fetchall()
        return [EditorBattle(**dict(row)) for row in rows]

    def editor_votes(self) -> int:
        """Battles the developer voted on by accepting a suggestion."""
        with self.connect() as db:
            return db.execute(f"SELECT COUNT(*) FROM editor_battles WHERE outcome IN ({VOTES_SQL})").fetchone()[0]

    def records(self) -> Iterator[dict]:
        """Every battle as a JSON object, `arena run`'s then the editor's: no code but what was stored with it
        (an editor battle's only under arenaStoreCode; a task's text stays in the tasks table)."""
        with self.connect() as db:
            offline = db.execute("SELECT * FROM battles ORDER BY id").fetchall()
        for row in offline:
            yield {"source": "run", **dict(row)}
        for battle in self.editor_battles():
            record = {"source": "editor", **dataclasses.asdict(battle)}
            code = record.pop("code")
            if code is not None:
                record["code"] = json.loads(code)
            yield record
