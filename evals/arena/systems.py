"""Systems: named sampler configurations read from TOML, and the engines that run them.

A system is what a user would pick in their editor settings: a model plus the knobs of
`Engine.complete`. Several systems usually share one model (same weights, different
decoding), so engines are loaded once per model and shared.
"""

import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from completer.errors import BadInput

if TYPE_CHECKING:
    from completer.engine import Engine

SETTING_TYPES = {"model": str, "threshold": (int, float), "steps": int, "max_tokens": int, "temperature": (int, float)}

# The editor-side span hint for each task kind: a rest-of-line never spans a newline,
# a block body stops at the dedent; everything else is free-form.
SPAN_FOR_KIND = {"rest-of-line": "line", "single-line": "line", "block-body": "block"}


@dataclass(frozen=True)
class System:
    name: str
    model: str | None = None  # None -> the bundled default model
    threshold: float | None = None  # None -> fixed schedule with `steps` passes per block
    steps: int | None = None
    max_tokens: int = 64
    temperature: float = 0.0


@dataclass(frozen=True)
class Generation:
    text: str
    latency_ms: float
    forward_passes: int


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
    if system.threshold is None and system.steps is None:
        raise BadInput(f"system {name!r}: set `threshold` (parallel decoding) or `steps` (fixed schedule)")
    if system.threshold is not None and not 0.0 < system.threshold <= 1.0:
        raise BadInput(f"system {name!r}: threshold must be in (0, 1], got {system.threshold}")
    if system.steps is not None and system.steps < 1:
        raise BadInput(f"system {name!r}: steps must be >= 1, got {system.steps}")
    if system.max_tokens < 1:
        raise BadInput(f"system {name!r}: max_tokens must be >= 1, got {system.max_tokens}")
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


class EnginePool:
    """Loads each model once and runs any system on it."""

    def __init__(self) -> None:
        self.engines: dict[str | None, "Engine"] = {}

    def engine_for(self, system: System) -> "Engine":
        # Imported here so `arena vote` and `arena report` start without loading torch.
        from completer.engine import Engine

        if system.model not in self.engines:
            self.engines[system.model] = Engine.load(system.model)
        return self.engines[system.model]

    def generate(self, system: System, prefix: str, suffix: str, kind: str, seed: int) -> Generation:
        """Complete one task; latency is the wall time a user would wait for the whole span."""
        engine = self.engine_for(system)
        start = time.perf_counter()
        completion = engine.complete(
            prefix,
            suffix,
            max_tokens=system.max_tokens,
            threshold=system.threshold,
            steps=system.steps,
            span=SPAN_FOR_KIND.get(kind, "free"),
            temperature=system.temperature,
            seed=seed,
        )
        latency_ms = (time.perf_counter() - start) * 1000.0
        return Generation(completion.text, latency_ms, int(completion.stats.get("forward_passes", 0)))
