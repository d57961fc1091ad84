"""What the server remembers between requests, so repeats and typed-ahead cost no model call."""

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from lsp.postprocess import Edit

MISSING = object()


class LRUCache:
    """Edits (or None: nothing to suggest) keyed on the exact context and settings."""

    def __init__(self, size: int = 256):
        self.size = size
        self.entries: OrderedDict[Hashable, Edit | None] = OrderedDict()

    def get(self, key: Hashable) -> Edit | None | object:
        """The stored edit, or MISSING."""
        if key not in self.entries:
            return MISSING
        self.entries.move_to_end(key)
        return self.entries[key]

    def put(self, key: Hashable, edit: Edit | None) -> None:
        self.entries[key] = edit
        self.entries.move_to_end(key)
        if len(self.entries) > self.size:
            self.entries.popitem(last=False)


@dataclass(frozen=True)
class Shown:
    """The last suggestion for a document, with the full text around the cursor when it was made."""

    before: str
    after: str
    edit: Edit


def typed_ahead(shown: Shown, before: str, after: str) -> Edit | None:
    """The rest of `shown` when the user has since typed its first characters, else None."""
    if after != shown.after or len(before) <= len(shown.before) or not before.startswith(shown.before):
        return None
    typed = before[len(shown.before):]
    if not shown.edit.text.startswith(typed):
        return None
    rest = shown.edit.text[len(typed):]
    return Edit(rest, shown.edit.replace) if rest.strip() else None
