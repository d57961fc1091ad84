"""Drafts from the user's code: longest matches first, nearest sources first, n-gram lines, the workspace's files."""

import subprocess
from pathlib import Path
from urllib.parse import unquote

from lsp import drafts
from lsp.drafts import Text, Workspace, grow, key_of, lookup


def test_the_key_is_the_shortest_tail_of_whole_lexemes_with_enough_code():
    assert key_of("return sum(values) / ") == "values) / "
    assert key_of("x = compute(a)") == "compute(a)"
    assert key_of("   \n  ") == ""


def test_lookup_takes_the_longest_match_first_and_never_the_cursor_itself():
    document = "a = load(path)\nb = load(path).strip()\nc = path) or\nd = load(path"
    found = lookup(document, [Text("document", document, len(document))], multiline=False)
    assert found[0].text == ").strip()"  # `load(path` matched, most of the text before the cursor
    assert found[0].order > found[-1].order
    assert all(d.text.strip() for d in found)


def test_among_equal_matches_the_document_comes_before_open_documents_and_the_workspace():
    before = "value = normalise("
    texts = [Text("document", before, len(before)), Text("workspace", "value = normalise(w)\n"),
             Text("open", "value = normalise(o)\n")]
    assert [d.source for d in lookup(before, texts, multiline=False)] == ["open", "workspace"]


def test_a_block_draft_runs_several_lines_a_line_draft_one():
    text = "def f(x):\n    y = x\n    return y\n"
    before = "def g(x):\n"
    texts = [Text("document", before, len(before)), Text("open", text)]
    assert lookup(before, texts, multiline=False)[0].text == "    y = x"  # the cursor opened a line: that line
    block = lookup(before, texts, multiline=True)[0].text
    assert block.startswith("    y = x\n    return y")


def test_grow_writes_a_line_lexeme_by_lexeme_from_the_users_own_code():
    document = "def mean(values):\n    return sum(values) / len(values)\n\ndef total(values):\n"
    texts = [Text("document", document, len(document))]
    found = grow(document, texts, multiline=False, starts=["    "], limit=4)
    assert found[0].text == "    return sum(values) / len(values)"
    assert len({d.text for d in found}) == len(found)


def test_grow_stops_a_loop_instead_of_repeating_it():
    document = "x = [4, 4, 4, 4, 4]\ny = ["
    found = grow(document, [Text("document", document, len(document))], multiline=False, starts=[""], limit=1)
    assert found and found[0].text.count("4") <= 4


def test_the_workspace_reads_what_git_keeps_and_skips_what_it_ignores(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("ignored.py\n")
    (tmp_path / "kept.py").write_text("KEPT = 1\n")
    (tmp_path / "ignored.py").write_text("IGNORED = 1\n")
    (tmp_path / "notes.txt").write_text("not code\n")
    (tmp_path / "huge.py").write_text("x = 1\n" * (drafts.MAX_FILE_BYTES // 5))
    workspace = Workspace()
    workspace.add_folder(tmp_path)
    assert [Path(unquote(key)).name for key in workspace.files] == ["kept.py"]
    key = next(iter(workspace.files))
    assert workspace.texts(skip={key}) == []  # open in the editor: its live text is searched instead
    workspace.refresh(key, "KEPT = 2\n")  # closed with this text
    assert workspace.texts(skip=set())[0].text == "KEPT = 2\n"
    workspace.refresh("file:///elsewhere.py", "x")  # not a workspace file: not added
    assert len(workspace.files) == 1


def test_a_folder_outside_git_is_walked_past_hidden_and_build_folders(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("A = 1\n")
    for folder in (".venv", "node_modules"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "b.py").write_text("B = 1\n")
    assert [p.name for p in drafts.code_files(tmp_path)] == ["a.py"]
