"""The layers stay clean: kernels < engine < language server < evals; a lower layer imports no higher one.

Read from the source (every import statement, at any depth, lazy ones included), so a front end
wired into the engine, or a benchmark that builds models inside `kernels/`, fails here.

The tests keep the same layers, so each layer's tests run with the layers below it alone:
- no product package imports `tests`: what a benchmark needs to run is its own;
- a test module under tests/<layer>/ imports no product layer above its own, itself or through the
  tests modules it imports (tests/kernels: kernels; tests/completer: kernels and the engine;
  tests/lsp: up to the language server; tests/evals: every layer);
- tests/editors drive the editor plugins against the language server: up to lsp;
- tests/scripts run the repository's scripts (the GPU session runs every layer): every layer;
- the top-level modules of tests/ (conftest.py, the helpers, these checks) serve every folder but
  tests/kernels: at most kernels and the engine. A test that imports one takes on its imports, so
  tests/kernels cannot reach the engine through them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["kernels", "completer", "lsp", "evals"]  # each may import the ones before it, never those after
TEST_FOLDERS = {"kernels": "kernels", "completer": "completer", "lsp": "lsp", "evals": "evals", "editors": "lsp",
                "scripts": "evals"}
TOP_LEVEL = "completer"  # the highest layer the top-level modules of tests/ may import


def imported_modules(path: Path) -> set[str]:
    """Every absolute import in one file, dotted; `from a.b import c` gives a.b and a.b.c (c may be a module)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every absolute import in one file."""
    return {name.split(".")[0] for name in imported_modules(path)}


def helper_file(name: str) -> Path | None:
    """The file of a `tests.…` module; None for any other name (a function imported from one, say)."""
    if name.split(".")[0] != "tests":
        return None
    base = ROOT.joinpath(*name.split("."))
    return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)


def pulled_in(path: Path, seen: set[Path] | None = None) -> set[str]:
    """Top-level packages a file imports, itself or through the tests modules it imports."""
    seen = set() if seen is None else seen
    seen.add(path)
    packages = imported_packages(path)
    for name in imported_modules(path):
        helper = helper_file(name)
        if helper is not None and helper not in seen:
            packages |= pulled_in(helper, seen)
    return packages


def offenders(paths: list[Path], highest: str) -> dict[Path, list[str]]:
    """The files that pull in a product layer above ``highest``, with those layers."""
    above = set(LAYERS[LAYERS.index(highest) + 1:])
    found = {path: sorted(pulled_in(path) & above) for path in paths}
    return {path: layers for path, layers in found.items() if layers}


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_no_layer_above_it_nor_the_tests(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1:]) | {"tests"}
    found = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & above)
        for path in sorted((ROOT / layer).rglob("*.py"))
        if imported_packages(path) & above
    }
    assert found == {}


@pytest.mark.parametrize("folder", TEST_FOLDERS)
def test_a_layers_tests_import_no_layer_above_it(folder):
    assert offenders(sorted((ROOT / "tests" / folder).rglob("*.py")), TEST_FOLDERS[folder]) == {}


def test_the_top_level_test_modules_import_at_most_the_engine():
    assert offenders(sorted((ROOT / "tests").glob("*.py")), TOP_LEVEL) == {}


def test_every_test_folder_has_its_layer():
    folders = {path.name for path in (ROOT / "tests").iterdir() if (path / "__init__.py").is_file()}
    assert folders == set(TEST_FOLDERS)


def test_the_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from evals.cli import main\n    import lsp.server\n", encoding="utf-8")
    assert imported_packages(module) == {"evals", "lsp"}


def test_a_kernels_test_that_reaches_the_engine_through_a_helper_fails_the_check(tmp_path):
    test = tmp_path / "test_reach.py"
    test.write_text("def test_reach():\n    from tests.helpers import make_tiny_checkpoint\n", encoding="utf-8")
    assert offenders([test], "kernels") == {test: ["completer"]}
    assert offenders([test], "completer") == {}
