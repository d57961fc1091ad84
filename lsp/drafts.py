"""Drafts from the user's own code: what followed the longest earlier match of the text before the cursor.

Code repeats itself, and most of all within a project: a continuation copied from the same file was
right 58-62 % of the time token by token, one from a general code corpus 29-34 % (issue 33). So before
(and beside) the model, the text before the cursor is looked up in the user's code, nearest first: the
open document, the other open documents, then the workspace's files (prompt lookup, REST). Whatever
followed a match is a draft: post-processed and checked like the model's output, and handed to the
denoiser as a hint it may accept token by token.

`Workspace` holds the texts: the open documents are read live (the language server's store, kept by
didOpen/didChange), the workspace folders' files once at start (the files git does not ignore, capped
in number and size), and a closed document's last text replaces its file's.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from completer.options import DEFAULT_DRAFTS
from lsp.context import LANGUAGE_BY_EXTENSION

log = logging.getLogger(__name__)

LEXEME = re.compile(r"\w+|\s+|[^\w\s]")
MIN_KEY_CHARS = 4  # non-space characters a match needs: shorter keys match anywhere and predict nothing
MAX_KEY_CHARS = 256  # how far back a match is measured
MAX_ORDER = 8  # lexemes of context a step of `grow` matches at most
MAX_GROWN = 48  # lexemes a grown draft may take
MAX_OCCURRENCES = 4000  # matches of the shortest key looked at per text (a common key stops here)
MAX_DRAFT_LINES = 8  # a draft for a block span runs at most this many lines (post-processing cuts the block)
MAX_DRAFT_CHARS = 600

# What a workspace may hold: files git does not ignore, code only, each and all capped.
MAX_FILE_BYTES = 256_000
MAX_FILES = 2_000
MAX_TOTAL_BYTES = 16_000_000
SKIPPED_DIRS = {"node_modules", "__pycache__", "venv", "build", "dist", "target", "vendor", "site-packages"}

SOURCES = ("document", "open", "workspace")  # nearest first: a draft's source ranks it among equal matches


@dataclass(frozen=True)
class Draft:
    text: str  # what followed the match, raw: the pipeline post-processes it like the model's output
    order: int  # lexemes before the cursor the match agreed on: the evidence behind it
    source: str  # one of SOURCES


@dataclass(frozen=True)
class Text:
    source: str
    text: str
    cursor: int | None = None  # in the open document: the cursor's offset, where the key trivially matches itself


def key_of(before: str) -> str:
    """The shortest tail of ``before``, whole lexemes, with MIN_KEY_CHARS non-space characters ('' if none)."""
    lexemes = LEXEME.findall(before[-MAX_KEY_CHARS:])
    key, solid = "", 0
    for lexeme in reversed(lexemes):
        key = lexeme + key
        solid += len(lexeme.strip())
        if solid >= MIN_KEY_CHARS:
            return key
    return ""


def matched_chars(before: str, text: str, end: int) -> int:
    """How many characters ``text[:end]`` and ``before`` agree on, counted back from their ends."""
    n, limit = 0, min(len(before), end, MAX_KEY_CHARS)
    while n < limit and text[end - n - 1] == before[-n - 1]:
        n += 1
    return n


def continuation(text: str, start: int, lines: int) -> str:
    """``text`` from ``start`` on: the rest of the line, or ``lines`` lines."""
    stop, end = start, start
    for _ in range(lines):
        end = text.find("\n", stop)
        if end < 0:
            end = len(text)
            break
        stop = end + 1
    return text[start:min(end, start + MAX_DRAFT_CHARS)]


def lookup(before: str, texts: Iterable[Text], multiline: bool, limit: int = DEFAULT_DRAFTS) -> list[Draft]:
    """Up to ``limit`` distinct drafts: the continuations of the longest matches of ``before``'s tail,
    longest first, then nearest source, then nearest the cursor (the open document's)."""
    key = key_of(before)
    if not key or limit <= 0:
        return []
    found: list[tuple[int, int, int, int, Text]] = []  # (-matched, source rank, distance, end, text)
    for rank, item in enumerate(texts):
        source_rank = SOURCES.index(item.source)
        for end in occurrences(item, key):
            distance = abs(end - item.cursor) if item.cursor is not None else rank
            found.append((-matched_chars(before, item.text, end), source_rank, distance, end, item))
    drafts: list[Draft] = []
    seen_texts: set[str] = set()
    for negative, _, _, end, item in sorted(found, key=lambda f: f[:3]):
        draft = continuation(item.text, end, MAX_DRAFT_LINES if multiline else 1)
        if not draft.strip() or draft in seen_texts:
            continue
        seen_texts.add(draft)
        drafts.append(Draft(draft, len(LEXEME.findall(before[len(before) + negative:])), item.source))
        if len(drafts) >= limit:
            break
    return drafts


def occurrences(item: Text, key: str) -> Iterable[int]:
    """Where matches of ``key`` end in ``item``: not at the cursor (the key itself), not inside a longer word,
    not at the end of the text (nothing follows)."""
    text, at, seen = item.text, 0, 0
    while seen < MAX_OCCURRENCES:
        at = text.find(key, at)
        if at < 0:
            return
        end, seen = at + len(key), seen + 1
        inside_word = key[0].isalnum() and at > 0 and text[at - 1].isalnum()
        at += 1
        if end != item.cursor and end < len(text) and not inside_word:
            yield end


def grow(before: str, texts: list[Text], multiline: bool, starts: list[str], limit: int) -> list[Draft]:
    """Drafts written lexeme by lexeme, each next lexeme the one that most often followed the longest
    match (backing off to shorter ones) of the text so far in ``texts``: an n-gram model of the user's
    own code that needs nothing but string search. The first lexeme branches over every distinct one the
    back-off levels offer, longest match first, after each of ``starts`` (the indentations to try).
    """
    drafts: list[Draft] = []
    for start in starts:
        for first, order, source in next_lexemes(before + start, texts, limit):
            pieces = [first]
            while len(pieces) < MAX_GROWN and sum(map(len, pieces)) < MAX_DRAFT_CHARS:
                options = next_lexemes(before + start + "".join(pieces), texts, 1)
                if not options or "\n" in options[0][0] and (not multiline or "".join(pieces).count("\n") >= MAX_DRAFT_LINES - 1):
                    break
                pieces.append(options[0][0])
                if (period := looping(pieces)) is not None:
                    del pieces[-2 * period:]  # a loop ("4, 4, 4, ..."): the n-gram has nothing more to say
                    break
            text = start + "".join(pieces)
            if text.strip() and all(d.text != text for d in drafts):
                drafts.append(Draft(text, order, source))
            if len(drafts) >= limit:
                return drafts
    return drafts


def looping(pieces: list[str], longest: int = 4) -> int | None:
    """The period of a run that ends ``pieces`` three times over, if any (up to ``longest`` lexemes)."""
    for period in range(1, longest + 1):
        if len(pieces) >= 3 * period and pieces[-period:] == pieces[-2 * period:-period] == pieces[-3 * period:-2 * period]:
            return period
    return None


def next_lexemes(context: str, texts: list[Text], branches: int) -> list[tuple[str, int, str]]:
    """Up to ``branches`` distinct lexemes that followed the tail of ``context`` in ``texts``, each with how
    many lexemes of it they matched and the nearest source it followed it in: the longest match first,
    within it the most frequent."""
    lexemes = LEXEME.findall(context[-MAX_KEY_CHARS:])
    options: list[tuple[str, int, str]] = []
    for order in range(min(MAX_ORDER, len(lexemes)), 0, -1):
        key = "".join(lexemes[-order:])
        counts: Counter[str] = Counter()
        sources: dict[str, str] = {}
        for item in texts:
            for end in occurrences(item, key):
                if key[-1].isspace() and item.text[end].isspace():
                    continue  # a shorter run of the same whitespace: not where a lexeme ends
                lexeme = LEXEME.match(item.text, end).group()
                counts[lexeme] += 1
                sources.setdefault(lexeme, item.source)
        for lexeme, _ in counts.most_common():
            if all(lexeme != known for known, _, _ in options):
                options.append((lexeme, order, sources[lexeme]))
                if len(options) >= branches:
                    return options
    return options


class Workspace:
    """The workspace folders' code files, read once and capped; a closed document's last text replaces its file's."""

    def __init__(self) -> None:
        self.files: dict[str, str] = {}  # file URI, percent-decoded as the server keys documents -> text
        self.size = 0
        self.version = 0  # counts changes: what was drawn from an older version may be stale

    def add_folder(self, root: Path) -> None:
        """Read the folder's code files (git's list where it is a repository: .gitignore respected)."""
        for path in code_files(root):
            if len(self.files) >= MAX_FILES or self.size >= MAX_TOTAL_BYTES:
                log.info("workspace %s: stopped at %d files, %d bytes", root, len(self.files), self.size)
                return
            try:
                if path.stat().st_size > MAX_FILE_BYTES:
                    continue
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            self.put(file_key(path), text)

    def put(self, key: str, text: str) -> None:
        if len(text) > MAX_FILE_BYTES:
            return
        self.size += len(text) - len(self.files.get(key, ""))
        self.files[key] = text
        self.version += 1

    def refresh(self, key: str, text: str) -> None:
        """A document of the workspace was closed: its last text is the file's now."""
        if key in self.files:
            self.put(key, text)

    def texts(self, skip: set[str]) -> list[Text]:
        """The files, less those open in the editor (``skip``, by document key: their live text is searched instead)."""
        return [Text("workspace", text) for key, text in self.files.items() if key not in skip]


def file_key(path: Path) -> str:
    """The key of the file at ``path`` as `lsp.documents.document_key` stores the document holding it
    (not imported from there: the eval path, which reads this module, goes without lsprotocol)."""
    return unquote(path.resolve().as_uri())


def code_files(root: Path) -> list[Path]:
    """Code files under ``root``, sorted: those its git repository owns (tracked, or untracked and not
    ignored), else a walk past hidden and build folders (outside git, without git, or in a folder its
    repository ignores: an installed library under a git-managed pyenv, vendored code)."""
    names = git_files(root)
    if names is None:
        names = []
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIPPED_DIRS)
            names += [os.path.relpath(os.path.join(folder, name), root) for name in files]
    return sorted(p for p in (root / name for name in names) if p.suffix in LANGUAGE_BY_EXTENSION and p.is_file())


def git_files(root: Path) -> list[str] | None:
    """The files git lists under ``root`` (relative), None where no repository owns it or git is missing."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=20)

    try:
        if git("rev-parse", "--is-inside-work-tree").stdout.strip() != b"true" or git("check-ignore", "-q", ".").returncode == 0:
            return None
        listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    except (OSError, subprocess.SubprocessError):
        return None
    if listed.returncode != 0:
        return None
    return [name for name in listed.stdout.decode("utf-8", "replace").split("\0") if name]
