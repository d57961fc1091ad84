"""Turn the model's raw infill into the edit an editor shows.

The model fills a span blindly; this is where the suggestion learns where to
stop (end of line, end of the block; a free span keeps its lines), what not to repeat (the lines and closing
brackets already right of the cursor) and how the document indents.
"""

from dataclasses import dataclass

from lsp.context import Context, leading_whitespace, scan_brackets

CLOSING_RUN_CHARS = ")]}\"'`"


@dataclass(frozen=True)
class Edit:
    text: str  # inserted at the cursor
    replace: int = 0  # characters right of the cursor (on its line) that `text` replaces


def finish(text: str, ctx: Context) -> Edit | None:
    """The edit to suggest for raw model output `text`, or None when nothing useful is left."""
    text = match_indentation(text.replace("\r\n", "\n"), ctx.indent_unit)
    if ctx.span == "block":
        text = cut_block(text, ctx)
        if not text.strip():
            return None
        return Edit(text)
    if ctx.span == "free" and "\n" in text.strip():  # asked for by name (`Options.span`): every line the model wrote
        return Edit(text.rstrip())
    text = text.split("\n", 1)[0]
    if not ctx.line_suffix.strip():
        text = text.rstrip()
        if repeats_next_line(ctx.line_prefix + text, ctx):
            return None
    return line_edit(text, ctx)


def line_edit(text: str, ctx: Context) -> Edit | None:
    """Fit a one-line completion to the closers already right of the cursor."""
    rest = ctx.line_suffix.strip()
    run = closing_run(ctx.line_suffix)
    if rest and not run and text.rstrip().endswith(rest):  # repeats the rest of the line
        text = text.rstrip()[: -len(rest)]
    _, closes_outer, stray = scan_brackets(text, ctx.open_brackets, ctx.comment)
    if stray is not None:  # closes nothing that is open: the unit ended before it
        text = text[:stray]
        closes_outer = [i for i in closes_outer if i < stray]
    matched = 0
    while matched < min(len(closes_outer), len(run)) and text[closes_outer[matched]] == run[matched]:
        matched += 1
    if not text.strip():
        return None
    if matched == 0:
        return Edit(text)
    first = closes_outer[0]
    if text[first:].rstrip() in (run[:matched], rest):  # suggestion just re-closes what the suffix closes
        return Edit(text[:first]) if text[:first].strip() else None
    return Edit(text, replace=matched)


def closing_run(line_suffix: str) -> str:
    """The closing brackets and quotes that start the text right of the cursor."""
    run = ""
    for ch in line_suffix:
        if ch not in CLOSING_RUN_CHARS:
            break
        run += ch
    return run


def cut_block(text: str, ctx: Context) -> str:
    """Keep the block body: stop at the first line left of the body's indentation or repeating the suffix."""
    lines = text.split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if not line.strip():
            kept.append(line)
            continue
        if repeats_next_line(line, ctx):
            break
        indent = (ctx.line_prefix if i == 0 else "") + leading_whitespace(line)
        if len(indent) < len(ctx.indent):
            if line.strip()[:1] in ")]}" and not next_suffix_line(ctx).startswith(line.strip()[:1]):
                kept.append(line)  # the block's own closer, which the suffix lacks
            break
        kept.append(line)
    return "\n".join(kept).rstrip()


def next_suffix_line(ctx: Context) -> str:
    """First non-blank line after the cursor line, stripped."""
    return next((line.strip() for line in ctx.suffix.split("\n")[1:] if line.strip()), "")


def repeats_next_line(line: str, ctx: Context) -> bool:
    """True when `line` is the line that already follows the cursor."""
    return bool(line.strip()) and line.strip() == next_suffix_line(ctx)


def match_indentation(text: str, unit: str) -> str:
    """Re-indent lines so they use the document's tabs or spaces."""
    lines = []
    for line in text.split("\n"):
        indent = leading_whitespace(line)
        body = line[len(indent):]
        if unit == "\t":
            indent = indent.replace("    ", "\t")
        else:
            indent = indent.replace("\t", unit)
        lines.append(indent + body)
    return "\n".join(lines)
