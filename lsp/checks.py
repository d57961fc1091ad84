"""Right-context checks: a candidate that does not fit the code around the cursor is not shown.

A denoiser (or a draft copied from elsewhere) proposes text blind to whether it joins what is already
right of the cursor. These checks see the whole window with the candidate in place: no special token
(BOS, pad, mask, FIM sentinels) in the text, no repeat of the line or closers that follow, indentation
the next line can live with, and no new tree-sitter ERROR/MISSING node near the span. On HumanEval
single-line such checks roughly doubled an n-gram guesser's pass@1 (issue 33); they need no model, so a
remote model's candidates get them too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tree_sitter import Node

from lsp.context import GRAMMARS, Context, leading_whitespace, parser_for
from lsp.postprocess import Edit, next_suffix_line

# Special-token spellings of the common code tokenizers, for models whose own list we cannot read (remote).
SPECIAL_PATTERN = re.compile(r"<\|[A-Za-z0-9_]+\|>|<(?:fim|FIM)[_-]?[A-Za-z]+>|</?s>|<(?:pad|mask|unk|eos|bos)>|\[MASK\]")
INDENTED = {"python"}  # languages where indentation is syntax
NEAR_LINES = 2  # an error counts when it touches the span or this many lines either side


@dataclass(frozen=True)
class Verdict:
    reason: str  # "" when the candidate may be shown, else the failed check
    fixes: int = 0  # syntax errors near the span the candidate resolves: it joins the right context

    @property
    def ok(self) -> bool:
        return not self.reason


class Checker:
    """The checks of one request: the window without a candidate is parsed once, as the baseline."""

    def __init__(self, ctx: Context, language_id: str, special_texts: tuple[str, ...] = ()) -> None:
        self.ctx, self.special = ctx, tuple(t for t in special_texts if t)
        grammar = GRAMMARS.get(language_id)
        self.parser = parser_for(grammar) if grammar else None
        self.indented = grammar in INDENTED
        self.baseline = self.errors(ctx.prefix + ctx.suffix, len(ctx.prefix), len(ctx.prefix))

    def check(self, edit: Edit) -> Verdict:
        ctx, text = self.ctx, edit.text
        if any(t in text for t in self.special) or SPECIAL_PATTERN.search(text):
            return Verdict("special token")
        if repeats_suffix(edit, ctx):
            return Verdict("repeats the code after it")
        if self.indented and not indentation_fits(edit, ctx):
            return Verdict("indentation")
        start = len(ctx.prefix)
        errors = self.errors(ctx.prefix + text + ctx.suffix[edit.replace:], start, start + len(text))
        if errors > self.baseline:
            return Verdict("syntax")
        return Verdict("", fixes=self.baseline - errors)

    def errors(self, source: str, start: int, end: int) -> int:
        """ERROR and MISSING nodes within NEAR_LINES lines of [start, end) of ``source`` (0 without a grammar)."""
        if self.parser is None:
            return 0
        lo = start
        for _ in range(NEAR_LINES + 1):
            lo = source.rfind("\n", 0, max(lo - 1, 0)) + 1 if lo > 0 else 0
        hi = end
        for _ in range(NEAR_LINES + 1):
            nl = source.find("\n", hi)
            hi = len(source) if nl < 0 else nl + 1
        data = source.encode()
        lo_byte, hi_byte = len(source[:lo].encode()), len(data) - len(source[hi:].encode())
        tree = self.parser.parse(data)
        return count_errors(tree.root_node, lo_byte, hi_byte)


def count_errors(node: Node, lo: int, hi: int) -> int:
    """Error nodes that overlap bytes [lo, hi), looking only into subtrees that hold errors."""
    if node.end_byte < lo or node.start_byte > hi or not (node.has_error or node.is_missing):
        return 0
    own = 1 if node.is_error or node.is_missing else 0
    return own + sum(count_errors(child, lo, hi) for child in node.children)


def repeats_suffix(edit: Edit, ctx: Context) -> bool:
    """The candidate ends with the line that follows it, or with the rest of its line it does not replace."""
    text = edit.text.rstrip()
    if not text.strip():
        return False
    rest = ctx.line_suffix[edit.replace:].strip()
    if rest:
        return len(text.strip()) > 0 and text.endswith(rest) and len(rest) > 1
    last = text.split("\n")[-1].strip()
    return last == next_suffix_line(ctx)


def indentation_fits(edit: Edit, ctx: Context) -> bool:
    """In an indentation-syntax language: the candidate's first line fits the line above, its last line the line below.

    After a line that opens a block the first line must be deeper; elsewhere no deeper than the line
    above. A last line that opens a block needs a deeper line after it; one that does not, none deeper.
    """
    lines = (ctx.line_prefix + edit.text).split("\n")
    first_at_line_start = not ctx.line_prefix.strip()
    above = previous_code_line(ctx.prefix[:len(ctx.prefix) - len(ctx.line_prefix)])
    if first_at_line_start and lines[0].strip() and above is not None:
        width, above_width = indent_width(lines[0]), indent_width(above)
        if opens_block(above) and width <= above_width:
            return False
        if not opens_block(above) and width > above_width:
            return False
    if ctx.line_suffix[edit.replace:].strip():
        return True  # the candidate's last line goes on with the rest of the cursor's line
    last = next((line for line in reversed(lines) if line.strip()), None)
    below = next((line for line in ctx.suffix.split("\n")[1:] if line.strip()), None)
    if last is None or below is None:
        return True
    if opens_block(last):
        return indent_width(below) > indent_width(last)
    return indent_width(below) <= indent_width(last)


def previous_code_line(text: str) -> str | None:
    """The last non-blank, non-comment line of ``text``."""
    for line in reversed(text.split("\n")):
        if line.strip() and not line.strip().startswith("#"):
            return line
    return None


def opens_block(line: str) -> bool:
    return line.split("#", 1)[0].rstrip().endswith(":")


def indent_width(line: str) -> int:
    return len(leading_whitespace(line).expandtabs(4))
