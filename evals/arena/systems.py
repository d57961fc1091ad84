"""Systems: named editor configurations read from TOML, and the models that run them.

A system is what a user would pick in their editor settings: a model (a checkpoint, or an
http(s)://.../v1 endpoint to put a hosted model beside ours) plus the pipeline's options.
Every completion comes through the editor's pipeline (`lsp.pipeline`), so the arena compares
what users would see. Several systems usually share one model (same weights, different
decoding), so models are opened once and shared.
"""

import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from completer.errors import BadInput
from completer.sampler import DEFAULT_EFFORT, DEFAULT_REFRESH_EVERY, DEFAULT_REUSE_KEYS, EFFORTS
from evals.arena.tasks import ArenaTask
from lsp.pipeline import DEFAULT_CONTEXT_TOKENS

if TYPE_CHECKING:
    from completer.models import Model

SETTING_TYPES = {"model": str, "effort": str, "threshold": (int, float), "steps": int, "max_tokens": int,
                 "temperature": (int, float), "context_tokens": int, "refresh_every": int, "reuse_keys": bool}


@dataclass(frozen=True)
class System:
    name: str
    model: str | None = None  # None -> the bundled default model
    effort: str = DEFAULT_EFFORT
    threshold: float | None = None  # overrides the effort's schedule
    steps: int | None = None  # fixed schedule: passes per block (overrides the effort and threshold)
    max_tokens: int = 64
    temperature: float = 0.0
    context_tokens: int = DEFAULT_CONTEXT_TOKENS
    refresh_every: int = DEFAULT_REFRESH_EVERY
    reuse_keys: bool = DEFAULT_REUSE_KEYS


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
    unknown = set(table) - set(SETTING_TYPES)
    if unknown:
        raise BadInput(f"system {name!r}: unknown keys {sorted(unknown)}; allowed: {sorted(SETTING_TYPES)}")
    for key, value in table.items():
        if not isinstance(value, SETTING_TYPES[key]):
            raise BadInput(f"system {name!r}: {key} = {value!r} has the wrong type")
    system = System(name=name, **table)
    if system.effort not in EFFORTS:
        raise BadInput(f"system {name!r}: effort must be one of {', '.join(EFFORTS)}, got {system.effort!r}")
    if system.threshold is not None and not 0.0 < system.threshold <= 1.0:
        raise BadInput(f"system {name!r}: threshold must be in (0, 1], got {system.threshold}")
    if system.steps is not None and system.steps < 1:
        raise BadInput(f"system {name!r}: steps must be >= 1, got {system.steps}")
    if system.max_tokens < 1:
        raise BadInput(f"system {name!r}: max_tokens must be >= 1, got {system.max_tokens}")
    if system.context_tokens < 1:
        raise BadInput(f"system {name!r}: context_tokens must be >= 1, got {system.context_tokens}")
    if system.refresh_every < 0:
        raise BadInput(f"system {name!r}: refresh_every must be >= 0 (0: never), got {system.refresh_every}")
    return system


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
        self.models: dict[str | None, "Model"] = {}
        self.after_keystrokes = after_keystrokes

    def model_for(self, system: System) -> "Model":
        # Imported here so `arena vote` and `arena report` start without loading torch.
        from completer.models import open_model

        if system.model not in self.models:
            self.models[system.model] = open_model(system.model)
        return self.models[system.model]

    def generate(self, system: System, task: ArenaTask, seed: int) -> Generation:
        """Complete one task; latency is the wall time a user would wait for the whole suggestion."""
        from evals.humaneval import accepted, editor_document
        from lsp.pipeline import Options, ask_while_typing, suggest

        options = Options(max_tokens=system.max_tokens, effort=system.effort, threshold=system.threshold,
                          steps=system.steps, context_tokens=system.context_tokens,
                          refresh_every=system.refresh_every, reuse_keys=system.reuse_keys,
                          temperature=system.temperature, seed=seed)
        if task.problem is not None:  # a HumanEval hole: the file an editor user would have there
            document, offset = editor_document(task.problem)
        else:
            document, offset = task.prefix + task.suffix, len(task.prefix)
        model = self.model_for(system)
        ask_while_typing(model, document, offset, task.language, options, self.after_keystrokes)
        start = time.perf_counter()
        suggestion = suggest(model, document, offset, task.language, options)
        latency_ms = (time.perf_counter() - start) * 1000.0
        text, replace = (suggestion.edit.text, suggestion.edit.replace) if suggestion.edit else ("", 0)
        if task.problem is not None:
            scored, text = accepted(task.problem, text, replace)
            replace = len(task.problem.suffix) - len(scored.suffix)
        return Generation(text, latency_ms, int(suggestion.stats.get("forward_passes", 0)), replace)

    def close(self) -> None:
        for model in self.models.values():
            model.close()
