"""Context windows and span detection, without a server."""

import pytest

from lsp.context import MAX_CHARS_PER_TOKEN, build_context, clip_long_lines


def at_cursor(marked: str, language_id: str, budget: int = 1024):
    """Build the context for `marked`, whose cursor is the "|" character."""
    offset = marked.index("|")
    return build_context(marked[:offset] + marked[offset + 1 :], offset, language_id, budget)


def test_cursor_inside_brackets_fills_the_rest_of_the_line_and_keeps_the_closer():
    ctx = at_cursor("import os\nprint(|)\n", "python")
    assert ctx.span == "line"
    assert ctx.prefix.endswith("print(") and ctx.suffix.startswith(")")
    assert ctx.line_suffix == ")" and ctx.open_brackets == "("


@pytest.mark.parametrize(
    ("marked", "language_id", "indent"),
    [
        ("def f(x):\n|\n", "python", "    "),
        ("if ready:\n    |\n", "python", "    "),
        ("class A:\n    def f(self):\n|\n", "python", "        "),
        ("function f(x) {\n|\n}\n", "javascript", "    "),
        ("function f(x: number): number {\n  |\n}\n", "typescript", "  "),
        ("func f() int {\n\t|\n}\n", "go", "\t"),
        ("fn f() -> i32 {\n|\n}\n", "rust", "    "),
        ("class A {\n  void f() {\n|\n  }\n}\n", "java", "    "),
        ("int f(int x) {\n|\n}\n", "c", "    "),
        ("int f(int x) {\n|\n}\n", "cpp", "    "),
    ],
)
def test_empty_line_after_a_block_opener_is_a_block_span(marked: str, language_id: str, indent: str):
    ctx = at_cursor(marked, language_id)
    assert ctx.span == "block"
    assert ctx.indent == indent


@pytest.mark.parametrize(
    ("marked", "language_id"),
    [
        ("x = 1\n|\n", "python"),  # empty line after a plain statement
        ("# note:\n|\n", "python"),  # the colon is in a comment
        ("s = 'a:'\n|\n", "python"),  # ... or in a string
        ("// open {\n|\n", "javascript"),
        ("def f(x):|\n", "python"),  # end of the opener line itself
        ("let x = f(|);\n", "rust"),
    ],
)
def test_other_cursors_are_a_line_span(marked: str, language_id: str):
    assert at_cursor(marked, language_id).span == "line"


def test_unknown_language_falls_back_to_lines_and_indentation():
    ctx = at_cursor("section:\n|\n", "markdown-ish")
    assert ctx.span == "block" and ctx.comment is None
    assert at_cursor("a = 1\nb = |\n", "markdown-ish").prefix == "a = 1\nb = "


def test_window_keeps_enclosing_header_and_imports_when_the_budget_is_tight():
    body = "".join(f"    total += {i}\n" for i in range(200))
    source = f"import math\nfrom os import path\n\n\ndef accumulate(values):\n    total = 0\n{body}    return |\n"
    ctx = at_cursor(source, "python", budget=200)
    assert ctx.prefix.startswith("import math\nfrom os import path\ndef accumulate(values):\n")
    assert ctx.prefix.endswith("    return ")
    assert "total += 0\n" not in ctx.prefix  # the far lines were dropped


def test_windows_stay_within_the_budget_and_cut_at_whole_lines():
    source = "".join(f"value_{i} = {i}\n" for i in range(400))
    offset = source.index("value_200")
    ctx = build_context(source, offset, "python", 120)
    assert len(ctx.prefix) // 3 + 1 <= 120 and len(ctx.suffix) // 3 + 1 <= 120
    assert ctx.prefix.split("\n")[0].startswith("value_") and ctx.prefix.endswith("\n")
    assert ctx.suffix.endswith("\n") or ctx.suffix.split("\n")[-1].startswith("value_")


def test_window_edges_snap_to_statements_not_the_middle_of_a_call():
    call = "result = compute(\n    first,\n    second,\n)\n"
    source = call * 100 + "b = |\n" + call * 100
    ctx = at_cursor(source, "python", budget=300)
    assert ctx.prefix.startswith("result = compute(\n")
    assert ctx.suffix.endswith(")")


def test_tab_indented_documents_get_a_tab_unit():
    assert at_cursor("func f() {\n\tx := 1\n\t|\n}\n", "go").indent_unit == "\t"
    assert at_cursor("def f():\n  x = 1\n  |\n", "python").indent_unit == "  "


def test_long_lines_are_cut_by_characters_before_anything_counts_them():
    """A 1 MB minified line: every string the token counter sees is bounded, and the windows meet at the cursor."""
    line = ";".join(f"x{i}=function(b){{return b+{i}}}" for i in range(40_000))
    source = "import a\n" + line + "\nlast()\n"
    offset = len("import a\n") + len(line) // 2
    seen = []

    def count(text: str) -> int:
        seen.append(len(text))
        return len(text) // 3 + 1

    ctx = build_context(source, offset, "javascript", 256, count)
    assert max(seen) <= 2 * 256 * MAX_CHARS_PER_TOKEN + 1  # the cursor's line, both sides of it
    assert line[: len(line) // 2].endswith(ctx.line_prefix) and line[len(line) // 2 :].startswith(ctx.line_suffix)
    assert ctx.prefix.endswith(ctx.line_prefix) and ctx.suffix.startswith(ctx.line_suffix)


def test_clipping_leaves_short_lines_alone_and_keeps_the_cursor_on_its_character():
    assert clip_long_lines("a\nbc\n", 3, 10) == ("a\nbc\n", 3)
    source, offset = clip_long_lines("x" * 50 + "\n" + "0123456789" * 5 + "\n", 51 + 25, 10)
    assert source == "x" * 10 + "\n" + "56789012345678901234\n" and source[offset] == "5"


def test_lone_surrogates_do_not_break_the_context():
    ctx = at_cursor("name = '\ud800' + |\n", "python")
    assert ctx.prefix.endswith("'\ufffd' + ")
