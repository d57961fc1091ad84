"""The `completer` command: complete, serve, eval, arena, train.

Every error a user can cause ends as one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import BadInput, CompleterError


def split_at_cursor(path: Path, line: int, col: int) -> tuple[str, str]:
    """The file's text left and right of a 1-based line/column cursor."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    data = path.read_bytes()
    if not data:
        raise BadInput(f"{path}: the file is empty (nothing to complete around)")
    if b"\0" in data:
        raise BadInput(f"{path}: looks like a binary file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        raise BadInput(f"{path}: line {line} is outside the file (it has {len(lines)} lines)")
    if not 1 <= col <= len(lines[line - 1]) + 1:
        raise BadInput(f"{path}: column {col} is outside line {line} (it has {len(lines[line - 1])} characters)")
    offset = sum(len(s) + 1 for s in lines[:line - 1]) + col - 1
    return text[:offset], text[offset:]


def cmd_complete(args: argparse.Namespace) -> int:
    from lsp.context import LANGUAGE_BY_EXTENSION, build_context
    from lsp.postprocess import finish

    from .engine import Engine

    path = Path(args.file)
    prefix, suffix = split_at_cursor(path, args.line, args.col)
    engine = Engine.load(args.model)
    options = dict(max_tokens=args.max_tokens, threshold=args.threshold, steps=args.steps,
                   temperature=args.temperature, seed=args.seed)
    if args.span == "auto":  # what an editor would get: the language server's context and clean-up
        language = LANGUAGE_BY_EXTENSION.get(path.suffix, "plaintext")
        ctx = build_context(prefix + suffix, len(prefix), language, engine.context_budget(args.max_tokens),
                            engine.count_tokens)
        result = engine.complete(ctx.prefix, ctx.suffix, span=ctx.span, **options)
        edit = finish(result.text, ctx)
        text, replace = (edit.text, edit.replace) if edit else ("", 0)
    else:
        result = engine.complete(prefix, suffix, span=args.span, **options)
        text, replace = result.text, 0
    if args.json:
        print(json.dumps({"text": text, "replace": replace, "raw": result.text, "model": engine.name,
                          "stats": result.stats}))
    else:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
    return 0


def parse_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise BadInput(f"expected HOST:PORT, got '{value}'")
    return host, int(port)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.http:
        from .http import serve as serve_http
        host, port = parse_host_port(args.http)
        serve_http(host, port, args.model, args.api_key)
    else:
        from lsp.server import serve as serve_lsp
        host, port = parse_host_port(args.tcp) if args.tcp else (None, None)
        serve_lsp("tcp" if args.tcp else "stdio", host, port, model=args.model, log_file=args.log_file)
    return 0


def add_sampler_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="checkpoint folder or hub id (default: the bundled model)")
    p.add_argument("--max-tokens", type=int, default=64, help="span budget in tokens (default 64)")
    p.add_argument("--threshold", type=float, default=0.9, help="confidence threshold per pass (default 0.9)")
    p.add_argument("--steps", type=int, help="fixed schedule: passes per 32-token block (sets --threshold off)")


# Commands whose parsers live with their front ends: command -> (module, function that adds the parser).
FRONT_ENDS = {"eval": ("evals.cli", "add_eval_parser"), "arena": ("evals.arena.cli", "add_arena_parser"),
              "train": ("completer.train.cli", "add_train_parser")}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole CLI; given the command being run, only that front end's module is imported.

    So `completer train run` loads the training code alone: on a GPU image it needs neither
    tree-sitter (the arena's mining) nor anything else the other front ends import.
    """
    parser = argparse.ArgumentParser(prog="completer", description="Code completion with a diffusion LLM.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("complete", help="print the infill at a cursor in a file")
    p.add_argument("file")
    p.add_argument("--line", type=int, required=True, help="1-based line of the cursor")
    p.add_argument("--col", type=int, required=True, help="1-based column of the cursor")
    add_sampler_options(p)
    p.add_argument("--span", choices=["auto", "free", "line", "block"], default="auto",
                   help="auto (default): pick the span and clean the result as the language server does")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--seed", type=int)
    p.add_argument("--json", action="store_true", help="print JSON with the text and the stats")
    p.set_defaults(func=cmd_complete)

    p = sub.add_parser("serve", help="language server (stdio/tcp) or HTTP API")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--stdio", action="store_true", help="LSP over stdin/stdout (what editors start)")
    mode.add_argument("--tcp", metavar="HOST:PORT", help="LSP over TCP")
    mode.add_argument("--http", metavar="HOST:PORT", help="OpenAI-style HTTP API")
    p.add_argument("--model", help="checkpoint folder or hub id (default: the bundled model)")
    p.add_argument("--api-key", help="HTTP: require this bearer token (or set COMPLETER_API_KEY)")
    p.add_argument("--log-file", help="LSP: also write the log here")
    p.set_defaults(func=cmd_serve)

    for name, (module, adder) in FRONT_ENDS.items():
        if command in (None, name):
            getattr(__import__(module, fromlist=[adder]), adder)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command if command in FRONT_ENDS else None).parse_args(argv)
    if getattr(args, "steps", None):
        args.threshold = None
    try:
        return args.func(args)
    except CompleterError as e:
        print(f"completer: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
