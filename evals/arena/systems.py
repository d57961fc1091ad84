"""Systems: named editor configurations read from TOML, and the models that run them.

A system is what a user would pick in their editor settings: a model (a checkpoint, or an
http(s)://.../v1 endpoint to put a hosted model beside ours) plus the pipeline's options, its
keys those of the one table the arena takes (`completer.options`).
Every completion comes through the editor's pipeline (`lsp.pipeline`), so the arena compares
what users would see. Several systems usually share one model (same weights, different
decoding), so models are opened once and shared.
"""

import functools
import time
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from completer.errors import BadInput
from completer.options import ARENA, OPTIONS, BadOption, read, split
from evals.arena.tasks import ArenaTask
from lsp.arena import System

if TYPE_CHECKING:
    from completer.models import Model, ModelHandle

KEYS = sorted(o.name for o in OPTIONS if ARENA in o.takes)


@dataclass(frozen=True)
class Generation:
    """The accepted suggestion: the document becomes prefix + text + suffix[replace:]."""

    text: str
    latency_ms: float
    forward_passes: int
    replace: int = 0


def _system_from_table(name: str, table: object) -> System:
    if not isinstance(table, dict) or any(isinstance(value, dict) for value in table.values()):
        raise BadInput(f"system {name!r}: expected a table of settings; quote names with dots: [systems.\"a.b\"]")
    unknown = set(table) - set(KEYS)
    if unknown:
        raise BadInput(f"system {name!r}: unknown keys {sorted(unknown)}; allowed: {KEYS}")
    try:
        server, options = split(read(table, ARENA))
    except BadOption as error:
        raise BadInput(f"system {name!r}: {error}") from None
    return System(name, server.model, options)


def load_systems(path: Path) -> list[System]:
    """Read `[systems.NAME]` tables; an arena needs at least two systems to pair."""
    try:
        config = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"systems file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise BadInput(f"systems file {path} is not valid TOML: {error}") from None
    tables = config.get("systems", {})
    systems = [_system_from_table(name, table) for name, table in tables.items()]
    if len(systems) < 2:
        raise BadInput(f"{path}: define at least two [systems.NAME] tables to compare, found {len(systems)}")
    return systems


class ModelPool:
    """Opens each model once and runs any system on it, through the editor's pipeline; with
    ``after_keystrokes`` each task is first asked at the characters before its cursor, as typed."""

    def __init__(self, after_keystrokes: int = 0) -> None:
        self.models: dict[str | None, "ModelHandle"] = {}
        self.after_keystrokes = after_keystrokes

    def model_for(self, system: System) -> "Model":
        # Imported here so `arena vote` and `arena report` start without loading torch.
        from completer.models import ModelHandle, open_model

        if system.model not in self.models:
            self.models[system.model] = ModelHandle(functools.partial(open_model, system.model))
        return self.models[system.model].get()

    def generate(self, system: System, task: ArenaTask, seed: int) -> Generation:
        """Complete one task; latency is the wall time a user would wait for the whole suggestion."""
        from evals.humaneval import accepted, editor_document
        from lsp.pipeline import ask_while_typing, suggest

        options = replace(system.options, seed=seed)
        if task.problem is not None:  # a HumanEval hole: the file an editor user would have there
            document, offset = editor_document(task.problem)
        else:
            document, offset = task.prefix + task.suffix, len(task.prefix)
        model = self.model_for(system)
        ask_while_typing(model, document, offset, task.language, options, self.after_keystrokes)
        start = time.perf_counter()
        suggestion = suggest(model, document, offset, task.language, options)
        latency_ms = (time.perf_counter() - start) * 1000.0
        text, replaced = (suggestion.edit.text, suggestion.edit.replace) if suggestion.edit else ("", 0)
        if task.problem is not None:
            scored, text = accepted(task.problem, text, replaced)
            replaced = len(task.problem.suffix) - len(scored.suffix)
        return Generation(text, latency_ms, int(suggestion.stats.get("forward_passes", 0)), replaced)

    def close(self) -> None:
        for model in self.models.values():
            model.close()
