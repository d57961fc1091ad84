"""User settings (section `completer`), from initializationOptions or workspace/didChangeConfiguration.

Every key is an option of the one table (`completer.options`), spelled camelCase and checked there.
"""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from completer.options import LSP, Options, ServerOptions, pick, read


@dataclass(frozen=True)
class Settings(ServerOptions):
    """The server's options and one suggestion's."""

    options: Options = Options()

    def enabled(self, language_id: str) -> bool:
        if isinstance(self.languages, list):
            return "*" in self.languages or language_id in self.languages
        return (self.languages or {}).get(language_id, True)

    def updated(self, changes: Mapping[str, Any]) -> "Settings":
        """A copy with ``changes`` (camelCase keys, as editors send them) applied; a key left out keeps its value.
        BadOption names the first bad key as `completer.<key>`."""
        values = read(changes, LSP)
        return replace(self, **pick(values, ServerOptions), options=replace(self.options, **pick(values, Options)))
