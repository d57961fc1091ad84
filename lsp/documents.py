"""The client's open documents: edited as LSP says, found the way they were stored.

pygls's own store converts positions with a Python loop over every character of the line (0.3 s per
keystroke on a 1 MB minified line) and keys documents by the decoded URI while handlers get the raw
one, so a file under `file:///my%20dir/x.py` (or VS Code's `file:///c%3A/...`) never got a
suggestion. Here positions convert through codec calls and every lookup decodes its URI first.
Lines end at "\n" (a "\r" before it belongs to no column), as the rest of the server counts them.
"""

from collections import deque
from dataclasses import dataclass, field
from urllib.parse import unquote

from lsprotocol import types

from lsp.context import line_bounds

CODECS = {  # LSP position encoding -> (Python codec, bytes per code unit)
    types.PositionEncodingKind.Utf8: ("utf-8", 1),
    types.PositionEncodingKind.Utf16: ("utf-16-le", 2),
    types.PositionEncodingKind.Utf32: ("utf-32-le", 4),
}


def document_key(uri: str) -> str:
    """What a document is stored under: its URI percent-decoded, however the client spelled it."""
    return unquote(uri)


def units(text: str, encoding: str) -> int:
    """How many code units of the client's position encoding `text` takes."""
    if text.isascii():
        return len(text)
    codec, width = CODECS.get(encoding, CODECS[types.PositionEncodingKind.Utf16])
    return len(text.encode(codec, "surrogatepass")) // width


def column(line: str, character: int, encoding: str) -> int:
    """Characters of `line` within its first `character` code units (a cut inside a character rounds down)."""
    if line.isascii() or encoding == types.PositionEncodingKind.Utf32:
        return min(max(character, 0), len(line))
    codec, width = CODECS.get(encoding, CODECS[types.PositionEncodingKind.Utf16])
    head = line.encode(codec, "surrogatepass")[: max(character, 0) * width]
    try:
        return len(head.decode(codec, "surrogatepass"))
    except UnicodeDecodeError as cut:
        return len(head[: cut.start].decode(codec, "surrogatepass"))


RECENT_EDITS = 8  # edits a document remembers for next-edit suggestions


@dataclass
class Document:
    uri: str  # as the client opened it
    text: str
    version: int
    language_id: str
    recent: deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_EDITS))  # where the newest edits are, oldest first

    def position(self, offset: int, encoding: str) -> types.Position:
        """The LSP position of an offset."""
        line_start = self.text.rfind("\n", 0, offset) + 1
        return types.Position(self.text.count("\n", 0, offset), units(self.text[line_start:offset], encoding))

    def offset(self, position: types.Position, encoding: str) -> int | None:
        """The offset of an LSP position, its character clamped to the line (as LSP asks); None past the last line."""
        bounds = line_bounds(self.text, position.line)
        if bounds is None:
            return None
        start, end = bounds
        return start + column(self.text[start:end], position.character, encoding)

    def apply(self, change: types.TextDocumentContentChangeEvent, encoding: str) -> None:
        """One content change: a range replaced, or (without a range) the whole text. A range past the end appends."""
        if not isinstance(change, types.TextDocumentContentChangePartial):
            self.text = change.text
            self.recent.clear()  # a whole new text: where earlier edits were says nothing about it
            return
        start = self.offset(change.range.start, encoding)
        end = self.offset(change.range.end, encoding)
        start = len(self.text) if start is None else start
        end = len(self.text) if end is None else max(end, start)
        self.text = self.text[:start] + change.text + self.text[end:]
        self.remember(start, end, len(change.text))

    def remember(self, start: int, end: int, inserted: int) -> None:
        """Record an edit of [start, end) to ``inserted`` characters: earlier ones move with the text after them,
        and one on the same line is replaced (typing a word is one edit, not one per key)."""
        moved = [r + inserted - (end - start) if r >= end else min(r, start + inserted) for r in self.recent]
        line = self.text.rfind("\n", 0, start)
        self.recent.clear()
        self.recent.extend(r for r in moved if self.text.rfind("\n", 0, r) != line)
        self.recent.append(start)


class Documents:
    """Open documents by `document_key`."""

    def __init__(self) -> None:
        self.open: dict[str, Document] = {}

    def get(self, uri: str) -> Document | None:
        return self.open.get(document_key(uri))

    def put(self, item: types.TextDocumentItem) -> None:
        self.open[document_key(item.uri)] = Document(item.uri, item.text, item.version, item.language_id)

    def change(self, params: types.DidChangeTextDocumentParams, encoding: str) -> bool:
        """Apply the changes in order; False when the document is not open (nothing to change)."""
        document = self.get(params.text_document.uri)
        if document is None:
            return False
        for change in params.content_changes:
            document.apply(change, encoding)
        document.version = params.text_document.version
        return True

    def close(self, uri: str) -> None:
        self.open.pop(document_key(uri), None)
