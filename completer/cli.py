"""The `completer` command: its subcommands come from the packages that own them.

Each front end registers its commands under the entry-point group `completer.commands`
(pyproject.toml), so this engine package names none of them: `complete` and `serve` come from
the language server, `eval` and `arena` from the evals, `train` from the training code, `doctor`
from the engine's own module. Only the command being run has its module imported: on a GPU image
`completer train run` needs neither tree-sitter nor anything else the other front ends import. Run
from a source tree (the GPU image, an editable install), the table is read from pyproject.toml.

Every error a user can cause ends as one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

from .errors import CompleterError

GROUP = "completer.commands"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def commands() -> dict[str, EntryPoint]:
    """Command name -> the entry point of the function that adds its parser."""
    return registered(GROUP)


def registered(group: str) -> dict[str, EntryPoint]:
    """Name -> entry point of ``group``: the installed metadata's table, and over it the source tree's where this
    package runs from one (an editable install keeps the table of its last `pip install` until it is installed
    again)."""
    found = {ep.name: ep for ep in entry_points(group=group)}
    if PYPROJECT.is_file():
        table = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"].get(group, {})
        found.update({name: EntryPoint(name, value, group) for name, value in table.items()})
    return found


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI for --help; given the command being run, only its front end's module is imported."""
    parser = argparse.ArgumentParser(prog="completer", description="Code completion with a diffusion LLM.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    registered = commands()
    for name, ep in registered.items():
        if command in registered and name != command:
            sub.add_parser(name, help=f"(see completer {name} --help)")
            continue
        ep.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        return args.func(args)
    except CompleterError as e:
        print(f"completer: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
