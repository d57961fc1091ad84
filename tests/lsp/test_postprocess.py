"""Where a suggestion stops and what it must not repeat, without a server."""

from dataclasses import replace

import pytest

from lsp.context import build_context
from lsp.postprocess import Edit, finish


def finish_at(marked: str, raw: str, language_id: str = "python") -> Edit | None:
    """finish() for model output `raw` at the "|" of `marked`."""
    offset = marked.index("|")
    return finish(raw, build_context(marked[:offset] + marked[offset + 1 :], offset, language_id, 1024))


@pytest.mark.parametrize(
    ("marked", "raw", "expected"),
    [
        ("print(|)\n", "x)", Edit("x")),  # re-closes what the suffix closes
        ("print(|)\n", "x)\n", Edit("x")),
        ("if ok(|):\n", "a, b):", Edit("a, b")),  # repeats the whole rest of the line
        ("print(|)\n", "x) + 1", Edit("x) + 1", replace=1)),  # goes past the closer: replace it
        ("print(|)\n", "f(x)", Edit("f(x)")),  # its own brackets are balanced
        ("print(|)\n", "a)b)c", Edit("a)b", replace=1)),  # a closer that closes nothing ends the unit
        ("x = [1, |]\n", "2, 3]", Edit("2, 3")),
        ("s = '|'\n", "hello'", Edit("hello")),  # quotes too
        ("f(g(|))\n", "x))", Edit("x")),
        ("total = |\n", "a + b\nprint(total)", Edit("a + b")),  # a line span stops at the line end
    ],
)
def test_line_fill_never_doubles_what_is_right_of_the_cursor(marked: str, raw: str, expected: Edit):
    assert finish_at(marked, raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "\n\n", ")"])
def test_empty_or_whitespace_or_only_the_closer_gives_no_edit(raw: str):
    assert finish_at("print(|)\n", raw) is None


def test_a_free_span_keeps_every_line_and_a_one_line_one_still_fits_the_closers():
    free = replace(build_context("total = \nprint(total)\n", 8, "python", 1024), span="free")
    assert finish("a + b\nprint(total)\n", free) == Edit("a + b\nprint(total)")  # a line span stops at "a + b"
    closed = replace(build_context("print()\n", 6, "python", 1024), span="free")
    assert finish("x)", closed) == Edit("x")


def test_block_is_cut_at_the_first_dedent():
    raw = "total = a + b\n    return total\nprint(add(1, 2))"
    assert finish_at("def add(a, b):\n    |\n", raw) == Edit("total = a + b\n    return total")


def test_block_starting_at_column_zero_keeps_its_own_indentation():
    raw = "    return a + b\n\nx = 1"
    assert finish_at("def add(a, b):\n|\n", raw) == Edit("    return a + b")


def test_block_drops_lines_that_repeat_the_suffix():
    raw = "value = compute()\n    return value\n"
    assert finish_at("def f():\n    |\n    return value\n", raw) == Edit("value = compute()")


def test_brace_block_keeps_its_closer_only_when_the_suffix_lacks_it():
    raw = "    return x;\n}\nint g() {"
    assert finish_at("int f(int x) {\n|\n}\n", raw, "c") == Edit("    return x;")
    assert finish_at("int f(int x) {\n|\n", raw, "c") == Edit("    return x;\n}")


def test_line_that_repeats_the_next_line_is_dropped():
    assert finish_at("x = 1\n|\ny = 2\n", "y = 2") is None


def test_indentation_follows_the_document_tabs_or_spaces():
    tabbed = "func f() {\n\tx := 1\n\tif x > 0 {\n|\n\t}\n}\n"
    assert finish_at(tabbed, "        y := 2\n        x = y", "go") == Edit("\t\ty := 2\n\t\tx = y")
    spaced = "def f(x):\n    if x:\n|\n"
    assert finish_at(spaced, "\t\ty = 1\n\t\treturn y") == Edit("        y = 1\n        return y")
