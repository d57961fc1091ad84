"""What the model sees around the cursor, and which span it is asked to fill.

The model has a small context budget, so the windows keep what matters most for
an infill: the lines right around the cursor, the header of the enclosing
function or class, and (budget permitting) the file's imports. Windows are cut
at whole lines, and where a tree-sitter grammar exists at statement starts, so
the model never sees half a statement at the window's edge.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from tree_sitter import Language, Node, Parser, Tree

from completer.budget import split
from completer.tokenizer import without_lone_surrogates

# LSP languageId -> tree-sitter-language-pack grammar name.
GRAMMARS = {
    "python": "python",
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "tsx": "tsx",
    "go": "go",
    "rust": "rust",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
}

# File extension -> tree-sitter grammar (also a language id for GRAMMARS), for callers without an editor.
LANGUAGE_BY_EXTENSION = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "tsx", ".go": "go", ".rs": "rust", ".java": "java",
    ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp",
    ".rb": "ruby", ".lua": "lua", ".php": "php", ".kt": "kotlin", ".swift": "swift",
    ".scala": "scala", ".sh": "bash",
}

LINE_COMMENT = {"python": "#"}  # every other grammar above uses "//"

# Node types whose header the model should see even when the window starts below it.
DEFINITION_WORDS = ("function", "method", "class", "impl", "trait", "interface", "struct", "constructor", "enum", "namespace")

# Top-level nodes that bring names into scope.
IMPORT_TYPES = {
    "import_statement", "import_from_statement", "future_import_statement",  # python, js/ts
    "import_declaration", "package_declaration",  # go, java
    "use_declaration", "extern_crate_declaration",  # rust
    "preproc_include", "using_declaration",  # c/c++
}

# Node types that hold a sequence of statements: a line starting one of their children is a clean cut.
STATEMENT_CONTAINERS = {
    "module", "program", "source_file", "translation_unit", "block", "statement_block",
    "compound_statement", "class_body", "declaration_list", "field_declaration_list",
    "interface_body", "enum_body", "switch_body", "constructor_body",
}

# No token of a code tokenizer spans more characters than this (runs of spaces aside), so a window of
# `budget` tokens never holds more than budget * MAX_CHARS_PER_TOKEN characters.
MAX_CHARS_PER_TOKEN = 16

SNAP_ROWS = 8  # how many rows a window edge may give up to land on a statement start

OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {")": "(", "]": "[", "}": "{"}
QUOTES = "\"'`"


def line_bounds(text: str, line: int) -> tuple[int, int] | None:
    """Start and end (before "\r\n" or "\n") of `line`, or None past the last line."""
    start = 0
    for _ in range(line):
        start = text.find("\n", start) + 1
        if start == 0:
            return None
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    return start, end - 1 if end > start and text[end - 1] == "\r" else end


def estimate_tokens(text: str) -> int:
    """Cheap stand-in for a tokenizer: code averages about three characters a token."""
    return len(text) // 3 + 1


@dataclass(frozen=True)
class Context:
    prefix: str  # window left of the cursor, ends at the cursor
    suffix: str  # window right of the cursor, starts at the cursor
    span: str  # "line" | "block" (or "free", where the options name it): what the model fills
    line_prefix: str  # cursor line, left of the cursor
    line_suffix: str  # cursor line, right of the cursor (no newline)
    indent: str  # indentation a block body must keep; lines left of it end the block
    indent_unit: str  # the document's indentation step: "\t" or some spaces
    open_brackets: str  # brackets and quotes still open at the cursor, innermost last
    comment: str | None  # line-comment marker, None when the language is unknown
    tokens: tuple[list[int], list[int]] | None = None  # prefix and suffix ids, encoded once (`lsp.pipeline.context`)


def build_context(
    source: str,
    offset: int,
    language_id: str,
    budget: int,
    count_tokens: Callable[[str], int] = estimate_tokens,
) -> Context:
    """Cut prefix/suffix windows around `offset` within `budget` tokens, split as `completer.budget` says."""
    count_tokens = cache(count_tokens)  # each line counted once however often the windows weigh it
    grammar = GRAMMARS.get(language_id)
    source, offset = clip_long_lines(without_lone_surrogates(source), offset, max(budget, 1) * MAX_CHARS_PER_TOKEN)
    tree = parser_for(grammar).parse(source.encode()) if grammar else None
    lines = source.split("\n")
    row = source.count("\n", 0, offset)
    column = offset - (source.rfind("\n", 0, offset) + 1)
    line_prefix, line_suffix = lines[row][:column], lines[row][column:]
    reach = range(max(row - budget - SNAP_ROWS, 0), min(row + budget + SNAP_ROWS + 1, len(lines)))  # each row costs a token
    boundaries = statement_rows(tree, lines, reach) if tree else set(reach)

    left_share, right_share = split(budget)
    prefix_budget = left_share - count_tokens(line_prefix)
    headers = header_rows(tree, source, offset) if tree else []
    header_cost = sum(count_tokens(lines[r] + "\n") for r in headers)
    imports = import_rows(tree) if tree else []
    import_cost = sum(count_tokens(lines[r] + "\n") for r in imports)
    reserve = header_cost + (import_cost if import_cost <= prefix_budget // 4 else 0)
    start = window_start(lines, row, prefix_budget - reserve, count_tokens, boundaries)
    left = prefix_budget - header_cost - sum(count_tokens(lines[r] + "\n") for r in range(start, row))
    kept = [r for r in imports if r < start] if import_cost <= left else []
    kept += [r for r in headers if r < start and r not in kept]
    prefix = "".join(lines[r] + "\n" for r in kept + list(range(start, row))) + line_prefix

    suffix_budget = right_share - count_tokens(line_suffix)
    end = window_end(lines, row, suffix_budget, count_tokens, boundaries)
    suffix = "\n".join([line_suffix] + lines[row + 1 : end])

    comment = LINE_COMMENT.get(grammar, "//") if grammar else None
    span, indent = span_kind(source, lines, row, line_prefix, line_suffix, tree)
    return Context(
        prefix=prefix,
        suffix=suffix,
        span=span,
        line_prefix=line_prefix,
        line_suffix=line_suffix,
        indent=indent,
        indent_unit=indent_unit(lines),
        open_brackets=open_brackets(prefix, comment),
        comment=comment,
    )


def clip_long_lines(source: str, offset: int, limit: int) -> tuple[str, int]:
    """`source` with every line cut to `limit` characters (the cursor's line to `limit` each side of the
    cursor) and the cursor's new offset.

    No window can hold more than `limit` characters, so nothing is lost to the model, while a 1 MB
    minified line would otherwise be tokenized, scanned and parsed whole on every keystroke.
    """
    lines = source.split("\n")
    if max(map(len, lines)) <= limit:
        return source, offset
    row = source.count("\n", 0, offset)
    column = offset - (source.rfind("\n", 0, offset) + 1)
    left = max(column - limit, 0)
    lines = [line[:limit] for line in lines[:row]] + [lines[row][left : column + limit]] + [line[:limit] for line in lines[row + 1 :]]
    return "\n".join(lines), sum(len(line) + 1 for line in lines[:row]) + column - left


@cache
def parser_for(grammar: str) -> Parser:
    """Python from its own small grammar package (all the GPU image's evals carry); the rest from the language pack."""
    if grammar == "python":
        import tree_sitter_python
        return Parser(Language(tree_sitter_python.language()))
    from tree_sitter_language_pack import get_parser
    return get_parser(grammar)


def window_start(lines: list[str], row: int, budget: int, count_tokens: Callable[[str], int], boundaries: set[int]) -> int:
    """First row of the left window: as far up as the budget goes, then down to a nearby statement start."""
    start = row
    while start > 0 and budget - count_tokens(lines[start - 1] + "\n") >= 0:
        budget -= count_tokens(lines[start - 1] + "\n")
        start -= 1
    if start == 0:
        return 0
    return min((r for r in boundaries if start <= r < min(row, start + SNAP_ROWS)), default=start)


def window_end(lines: list[str], row: int, budget: int, count_tokens: Callable[[str], int], boundaries: set[int]) -> int:
    """Row after the right window: as far down as the budget goes, then back to before a statement start."""
    end = row + 1
    while end < len(lines) and budget - count_tokens(lines[end] + "\n") >= 0:
        budget -= count_tokens(lines[end] + "\n")
        end += 1
    if end == len(lines):
        return end
    return max((r for r in boundaries if max(row + 1, end - SNAP_ROWS) < r <= end), default=end)


def statement_rows(tree: Tree, lines: list[str], reach: range) -> set[int]:
    """Rows in `reach` whose first token starts a statement (a child of a statement container)."""
    rows = set()
    for row in reach:
        line = lines[row]
        stripped = line.lstrip()
        if not stripped:
            continue
        point = (row, len(line.encode()) - len(stripped.encode()))
        node = tree.root_node.descendant_for_point_range(point, point)
        while node.parent is not None and node.parent.start_point == node.start_point:
            node = node.parent
        if node.start_point != point:
            continue
        if node.parent is None or node.parent.parent is None or node.parent.type in STATEMENT_CONTAINERS:
            rows.add(row)
    return rows


def enclosing_definitions(tree: Tree, source: str, offset: int) -> list[Node]:
    """Function/class-like nodes that contain the cursor, outermost first.

    Looks at the last non-blank character before the cursor: the cursor itself
    often sits in whitespace that belongs to no node yet.
    """
    byte = max(len(source[:offset].rstrip().encode()) - 1, 0)
    node = tree.root_node.descendant_for_byte_range(byte, byte)
    found = []
    while node is not None:
        if any(word in node.type for word in DEFINITION_WORDS) and node.child_by_field_name("body") is not None:
            found.append(node)
        node = node.parent
    return found[::-1]


def header_rows(tree: Tree, source: str, offset: int) -> list[int]:
    """Rows of the headers (signature lines) of the definitions enclosing the cursor."""
    rows = []
    for node in enclosing_definitions(tree, source, offset):
        body = node.child_by_field_name("body")
        last = body.start_point[0] if body.start_point[0] == node.start_point[0] or body.text[:1] == b"{" else body.start_point[0] - 1
        rows += range(node.start_point[0], last + 1)
    return sorted(set(rows))


def import_rows(tree: Tree) -> list[int]:
    """Rows of the file's top-level import-like statements."""
    rows = []
    for node in tree.root_node.children:
        if node.type in IMPORT_TYPES:
            rows += range(node.start_point[0], node.end_point[0] + 1)
    return rows


def span_kind(source: str, lines: list[str], row: int, line_prefix: str, line_suffix: str, tree: Tree | None) -> tuple[str, str]:
    """("block", body indentation) on an empty line right after a block opener, else ("line", line indentation)."""
    line_indent = leading_whitespace(lines[row])
    if line_suffix.strip() or line_prefix.strip():
        return "line", line_indent
    above = next((r for r in range(row - 1, -1, -1) if lines[r].strip()), None)
    if above is None:
        return "line", line_indent
    opener_line = lines[above].rstrip()
    if not opener_line.endswith((":", "{")) or not is_code_at(tree, source, lines, above, len(opener_line) - 1):
        return "line", line_indent
    if line_prefix:
        return "block", line_prefix
    return "block", leading_whitespace(opener_line) + indent_unit(lines)


def is_code_at(tree: Tree | None, source: str, lines: list[str], row: int, column: int) -> bool:
    """False when the character at (row, column) sits in a comment or a string."""
    if tree is None:
        return True
    point = (row, len(lines[row][:column].encode()))
    node = tree.root_node.descendant_for_point_range(point, point)
    while node is not None:
        if "comment" in node.type or "string" in node.type:
            return False
        node = node.parent
    return True


def leading_whitespace(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def indent_unit(lines: list[str]) -> str:
    """The document's indentation step: a tab if most indented lines use tabs, else the smallest space indent."""
    tabbed = sum(1 for line in lines if line.startswith("\t"))
    widths = [len(leading_whitespace(line)) for line in lines if line.startswith(" ") and line.strip()]
    if tabbed > len(widths):
        return "\t"
    return " " * min(max(min(widths, default=4), 2), 8)


def open_brackets(text: str, comment: str | None) -> str:
    """Brackets (and a quote, if any) still open at the end of `text`, innermost last."""
    return scan_brackets(text, "", comment)[0]


def scan_brackets(text: str, already_open: str, comment: str | None) -> tuple[str, list[int], int | None]:
    """Walk `text` with `already_open` brackets open before it.

    Returns (brackets still open, positions of closers that close one of
    `already_open`, position of the first closer that closes nothing or the wrong
    bracket). Strings end at a line end, so a stray apostrophe cannot swallow a file.
    """
    stack = list(already_open)
    outer_depth = len(stack)
    closes_outer: list[int] = []
    i = 0
    while i < len(text):
        ch = text[i]
        top = stack[-1] if stack else ""
        if top and top in QUOTES:
            if ch == "\\":
                i += 1
            elif ch == top or ch == "\n":
                stack.pop()
                if ch == top and len(stack) < outer_depth:
                    outer_depth = len(stack)
                    closes_outer.append(i)
        elif comment and text.startswith(comment, i):
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        elif ch in OPENERS or ch in QUOTES:
            stack.append(ch)
        elif ch in CLOSERS:
            if top != CLOSERS[ch]:
                return "".join(stack), closes_outer, i
            stack.pop()
            if len(stack) < outer_depth:
                outer_depth = len(stack)
                closes_outer.append(i)
        i += 1
    return "".join(stack), closes_outer, None
