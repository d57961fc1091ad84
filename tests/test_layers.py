"""The layers stay clean: kernels < engine < language server < evals; a lower layer imports no higher one.

Read from the source (every import statement, at any depth, lazy ones included), so a front end
wired into the engine, or a benchmark that builds models inside `kernels/`, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["kernels", "completer", "lsp", "evals"]  # each may import the ones before it, never those after


def imported_packages(path: Path) -> set[str]:
    """Top-level names of every absolute import in one file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_no_layer_above_it(layer):
    above = set(LAYERS[LAYERS.index(layer) + 1:])
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & above)
        for path in sorted((ROOT / layer).rglob("*.py"))
        if imported_packages(path) & above
    }
    assert offenders == {}


def test_the_check_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from evals.cli import main\n    import lsp.server\n", encoding="utf-8")
    assert imported_packages(module) == {"evals", "lsp"}
