"""Right-context checks: each check stops the candidates it is for and lets the right one through."""

import pytest

from lsp.checks import Checker
from lsp.context import build_context
from lsp.postprocess import Edit


def checker(document: str, language: str = "python", special: tuple[str, ...] = ()) -> Checker:
    offset = document.index("|")
    source = document.replace("|", "")
    return Checker(build_context(source, offset, language, 400), language, special)


def test_a_special_token_is_never_shown_whether_the_model_names_it_or_not():
    check = checker("x = |\n", special=("<|mask|>",))
    assert check.check(Edit("a<|mask|>b")).reason == "special token"
    assert check.check(Edit("y <|fim_middle|>")).reason == "special token"  # a FIM sentinel of another tokenizer
    assert check.check(Edit("1 + </s>")).reason == "special token"
    assert check.check(Edit("y + 1")).ok


def test_the_line_after_the_cursor_or_the_rest_of_the_line_is_not_repeated():
    check = checker("def f(x):\n    |\n    return x\n")
    assert check.check(Edit("    return x")).reason == "repeats the code after it"
    mid = checker("print(|, end='')\n")
    assert mid.check(Edit("x, end='')")).reason == "repeats the code after it"
    assert mid.check(Edit("x")).ok


@pytest.mark.parametrize(("document", "text", "fits"), [
    ("def f(x):\n|\n", "    return x", True),  # deeper after a block opener
    ("def f(x):\n|\n", "return x", False),  # not deeper after one
    ("def f(x):\n    y = x\n|\n    return y\n", "        z = y", False),  # deeper after a plain line
    ("def f(x):\n    y = x\n|\n    return y\n", "    y += 1", True),
    ("def f(x):\n    y = x\n|\n    return y\n", "    if y:", False),  # opens a block the next line is not in
    ("def f(x):\n    y = x\n|\n        return y\n", "    if y:", True),
])
def test_indentation_must_fit_the_line_above_and_the_line_below(document, text, fits):
    verdict = checker(document).check(Edit(text))
    assert verdict.ok == fits and (fits or verdict.reason == "indentation")


def test_a_candidate_with_a_new_syntax_error_near_the_span_is_stopped():
    check = checker("total = |\nprint(total)\n")
    assert check.check(Edit("(1 + ")).reason == "syntax"
    assert check.check(Edit("1 + 2")).ok


def test_a_candidate_that_resolves_an_error_counts_it_as_fixed():
    check = checker("if ready|\n    go()\n")
    verdict = check.check(Edit(":"))
    assert verdict.ok and verdict.fixes > 0
    assert check.check(Edit(" and set")).fixes == 0


def test_errors_far_from_the_span_are_not_the_candidates():
    check = checker("def broken(:\n    pass\n\n\n\n\n\nvalue = |\n")
    assert check.check(Edit("42")).ok


def test_without_a_grammar_only_the_text_checks_apply():
    check = checker("x = |\n", language="plaintext")
    assert check.check(Edit("((((")).ok
    assert check.check(Edit("<|endoftext|>")).reason == "special token"
