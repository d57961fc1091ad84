"""The document store: positions in the client's code units, edits, and URIs however they are spelled."""

import pytest
from lsprotocol import types

from lsp.documents import Document, Documents, column, units

UTF8, UTF16, UTF32 = types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16, types.PositionEncodingKind.Utf32


def edit(start: tuple[int, int], end: tuple[int, int], text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(range=types.Range(types.Position(*start), types.Position(*end)), text=text)


@pytest.mark.parametrize(("encoding", "units_before_x"), [(UTF8, 7), (UTF16, 5), (UTF32, 4)])
def test_columns_count_the_clients_code_units(encoding: str, units_before_x: int):
    line = 'a="😋"x'  # the emoji is 4 UTF-8 bytes, 2 UTF-16 units, 1 character
    assert column(line, units_before_x, encoding) == 4
    assert units(line[:4], encoding) == units_before_x


def test_a_position_inside_a_character_or_past_the_line_is_clamped():
    assert column("😋x", 1, UTF16) in (0, 1)
    document = Document("file:///a.py", "ab\r\ncd\n", 1, "python")
    assert document.offset(types.Position(0, 99), UTF16) == 2  # before the "\r\n"
    assert document.offset(types.Position(2, 0), UTF16) == len(document.text)
    assert document.offset(types.Position(3, 0), UTF16) is None


def test_edits_apply_in_order_and_a_range_past_the_end_appends():
    documents = Documents()
    documents.put(types.TextDocumentItem(uri="file:///a.py", language_id="python", version=1, text="def f():\n    pass\n"))
    changes = [edit((1, 4), (1, 8), "return 1"), edit((0, 4), (0, 5), "g"), edit((9, 0), (9, 0), "# end\n")]
    params = types.DidChangeTextDocumentParams(types.VersionedTextDocumentIdentifier(uri="file:///a.py", version=2), changes)
    assert documents.change(params, UTF16)
    document = documents.get("file:///a.py")
    assert (document.text, document.version) == ("def g():\n    return 1\n# end\n", 2)
    whole = types.DidChangeTextDocumentParams(types.VersionedTextDocumentIdentifier(uri="file:///a.py", version=3),
                                              [types.TextDocumentContentChangeWholeDocument(text="x = 1\n")])
    documents.change(whole, UTF16)
    assert document.text == "x = 1\n"


def test_a_document_is_found_under_any_spelling_of_its_uri_and_changes_to_unknown_ones_are_refused():
    documents = Documents()
    documents.put(types.TextDocumentItem(uri="file:///c%3A/my%20dir/x.py", language_id="python", version=1, text=""))
    assert documents.get("file:///c:/my dir/x.py") is documents.get("file:///c%3A/my%20dir/x.py") is not None
    documents.close("file:///c:/my%20dir/x.py")
    assert documents.open == {}
    params = types.DidChangeTextDocumentParams(types.VersionedTextDocumentIdentifier(uri="file:///never.py", version=2), [])
    assert documents.change(params, UTF16) is False


def test_recent_edits_are_remembered_where_they_now_are_newest_last():
    document = Document("file:///a.py", "aaaa\nbbbb\ncccc\n", 1, "python")
    document.apply(edit((2, 0), (2, 0), "X"), UTF16)  # offset 10
    document.apply(edit((0, 0), (0, 4), ""), UTF16)  # deletes "aaaa": the first edit moves 4 left
    assert list(document.recent) == [6, 0]
    document.apply(edit((1, 1), (2, 3), "yy"), UTF16)  # over the text of the first: that one lands at its end
    assert document.text == "\nbyycc\n" and list(document.recent) == [0, 2]  # ... on the new edit's line: replaced
    for k in range(20):
        document.apply(edit((2, k), (2, k), " "), UTF16)  # typing on a line is one edit
    assert list(document.recent) == [0, 2, 7 + 19]
    for row in range(3, 20):
        document.apply(edit((row, 0), (row, 0), "\n"), UTF16)
    assert len(document.recent) == 8
    document.apply(types.TextDocumentContentChangeWholeDocument(text="new\n"), UTF16)
    assert not document.recent
