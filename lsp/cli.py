"""`completer complete`, `completer edit` and `completer serve`: the commands whose work is the language server's.

`complete` prints what an editor would show at a cursor (the pipeline: context, span, effort,
post-processing); `edit` the next edit it would suggest there, or the rewrite of a selection
(`lsp.edits`); `serve` runs the language server (stdio, TCP) or the HTTP API.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from completer.errors import BadInput
from completer.options import CLI, COMPLETE, EDITS, add_flags, flags, split


def split_at_cursor(path: Path, line: int, col: int) -> tuple[str, str]:
    """The file's text left and right of a 1-based line/column cursor."""
    text = read_text(path)
    offset = cursor_offset(path, text, line, col)
    return text[:offset], text[offset:]


def read_text(path: Path) -> str:
    """A source file's text; BadInput when it is missing, empty, binary or not UTF-8."""
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    data = path.read_bytes()
    if not data:
        raise BadInput(f"{path}: the file is empty (nothing to complete around)")
    if b"\0" in data:
        raise BadInput(f"{path}: looks like a binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{path}: not UTF-8 text") from None


def cursor_offset(path: Path, text: str, line: int, col: int) -> int:
    """The offset of a 1-based line/column in ``text``; BadInput outside it."""
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        raise BadInput(f"{path}: line {line} is outside the file (it has {len(lines)} lines)")
    if not 1 <= col <= len(lines[line - 1]) + 1:
        raise BadInput(f"{path}: column {col} is outside line {line} (it has {len(lines[line - 1])} characters)")
    return sum(len(s) + 1 for s in lines[:line - 1]) + col - 1


def line_col(text: str, offset: int) -> dict:
    """1-based line and column of an offset, as the commands take them."""
    return {"line": text.count("\n", 0, offset) + 1, "col": offset - (text.rfind("\n", 0, offset) + 1) + 1}


def cmd_complete(args: argparse.Namespace) -> int:
    from completer.models import open_model
    from lsp.context import LANGUAGE_BY_EXTENSION
    from lsp.drafts import Workspace, file_key
    from lsp.pipeline import suggest

    path = Path(args.file)
    prefix, suffix = split_at_cursor(path, args.line, args.col)
    server, options = split(flags(args, CLI, COMPLETE))
    workspace = Workspace()
    if args.workspace is not None:
        if not args.workspace.is_dir():
            raise BadInput(f"--workspace {args.workspace}: not a folder")
        workspace.add_folder(args.workspace)
    texts = workspace.texts({file_key(path)})
    model = open_model(server.model)
    try:
        result = suggest(model, prefix + suffix, len(prefix), LANGUAGE_BY_EXTENSION.get(path.suffix, "plaintext"), options, texts)
    finally:
        model.close()
    text, replace = (result.edit.text, result.edit.replace) if result.edit else ("", 0)
    if args.json:
        candidates = [{"text": c.edit.text, "replace": c.edit.replace, "source": c.source, "score": round(c.score, 4),
                       "confidence": c.confidence} for c in result.choice.candidates]
        print(json.dumps({"text": text, "replace": replace, "raw": result.raw, "span": result.context.span,
                          "model": model.name, "candidates": candidates, "rejected": result.choice.rejected,
                          "stats": result.stats}))
    else:
        sys.stdout.write(text + ("" if text.endswith("\n") else "\n"))
    return 0


def cmd_edit(args: argparse.Namespace) -> int:
    from completer.models import open_model
    from lsp.context import LANGUAGE_BY_EXTENSION
    from lsp.edits import next_edit, rewrite

    path = Path(args.file)
    text = read_text(path)
    cursor = cursor_offset(path, text, args.line, args.col)
    language = LANGUAGE_BY_EXTENSION.get(path.suffix, "plaintext")
    server, options = split(flags(args, CLI, EDITS))
    end = None
    if args.select_to is not None:
        line, _, col = args.select_to.partition(":")
        if not (line.isdigit() and col.isdigit()):
            raise BadInput(f"--select-to takes LINE:COL, got {args.select_to!r}")
        end = cursor_offset(path, text, int(line), int(col))
        cursor, end = min(cursor, end), max(cursor, end)
    model = open_model(server.model)
    try:
        if end is not None:
            result = rewrite(model, text, cursor, end, language, options)
        else:
            result = next_edit(model, text, cursor, language, options, threshold=server.edit_threshold)
    finally:
        model.close()
    edits = [{"start": line_col(text, e.start), "end": line_col(text, e.end), "old": text[e.start:e.end], "text": e.text}
             for e in result.edits]
    if args.json:
        print(json.dumps({"edits": edits, "unlikeliest": result.unlikeliest, "model": model.name,
                          "masked": None if result.masked is None else [line_col(text, o) for o in result.masked],
                          "stats": result.stats}))
    elif not edits:
        print("no edit")
    for e in [] if args.json else edits:
        print(f"{e['start']['line']}:{e['start']['col']}-{e['end']['line']}:{e['end']['col']}: "
              f"{json.dumps(e['old'])} -> {json.dumps(e['text'])}")
    return 0


def parse_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise BadInput(f"expected HOST:PORT, got '{value}'")
    return host, int(port)


def cmd_serve(args: argparse.Namespace) -> int:
    if args.http:
        from completer.http import serve as serve_http
        host, port = parse_host_port(args.http)
        serve_http(host, port, args.model, args.api_key, args.threads)
    elif args.ray:
        from dataclasses import fields

        from completer.ray_serve import ReplicaOptions, run
        host, port = parse_host_port(args.ray)
        names = {field.name for field in fields(ReplicaOptions)}  # options left unset keep its defaults
        run(host, port, ReplicaOptions(**{name: value for name, value in vars(args).items() if name in names}))
    else:
        from lsp.server import serve as serve_lsp
        host, port = parse_host_port(args.tcp) if args.tcp else (None, None)
        serve_lsp("tcp" if args.tcp else "stdio", host, port, model=args.model, log_file=args.log_file, threads=args.threads)
    return 0


def add_complete_parser(sub) -> None:
    p = sub.add_parser("complete", help="print the suggestion an editor would show at a cursor in a file")
    p.add_argument("file")
    p.add_argument("--line", type=int, required=True, help="1-based line of the cursor")
    p.add_argument("--col", type=int, required=True, help="1-based column of the cursor")
    add_flags(p, CLI, COMPLETE)
    p.add_argument("--workspace", type=Path, help="a folder whose code files drafts may also come from")
    p.add_argument("--json", action="store_true",
                   help="print JSON with the text, the raw infill, the candidates and the stats")
    p.set_defaults(func=cmd_complete)


def add_edit_parser(sub) -> None:
    p = sub.add_parser("edit", help="print the next edit an editor would suggest at a cursor, or rewrite a selection")
    p.add_argument("file")
    p.add_argument("--line", type=int, required=True, help="1-based line of the cursor")
    p.add_argument("--col", type=int, required=True, help="1-based column of the cursor")
    p.add_argument("--select-to", metavar="LINE:COL", help="rewrite the selection from the cursor to here instead")
    add_flags(p, CLI, EDITS)
    p.add_argument("--json", action="store_true", help="print JSON with the edits, the masked range and the stats")
    p.set_defaults(func=cmd_edit)


def add_serve_parser(sub) -> None:
    p = sub.add_parser("serve", help="language server (stdio/tcp) or OpenAI-style HTTP API")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--stdio", action="store_true", help="LSP over stdin/stdout (what editors start)")
    mode.add_argument("--tcp", metavar="HOST:PORT", help="LSP over TCP")
    mode.add_argument("--http", metavar="HOST:PORT", help="OpenAI-style HTTP API")
    mode.add_argument("--ray", metavar="HOST:PORT",
                      help="the HTTP API on Ray Serve: autoscaled replicas on the cluster RAY_ADDRESS names, or a local one")
    p.add_argument("--model", help="checkpoint folder or hub id (default: the bundled model); "
                                   "--stdio/--tcp also take an http(s)://HOST/v1 endpoint")
    p.add_argument("--api-key", help="HTTP, Ray: require this bearer token (or set COMPLETER_API_KEY)")
    p.add_argument("--threads", type=int, help="stdio, TCP, HTTP: torch threads on CPU (default: the cores this "
                                              "process may use, less one for the editor above 2; Ray: --cpus-per-replica)")
    # Unset options are absent, so completer.ray_serve.ReplicaOptions' defaults hold (one owner).
    ray = p.add_argument_group("Ray Serve (--ray); defaults: 1 replica of 1 CPU, a target queue of 8",
                               argument_default=argparse.SUPPRESS)
    ray.add_argument("--min-replicas", type=int)
    ray.add_argument("--max-replicas", type=int, help="the autoscaler adds replicas up to this many")
    ray.add_argument("--target-queue", type=float, help="requests queued or in flight per replica it aims at")
    ray.add_argument("--cpus-per-replica", type=float)
    ray.add_argument("--gpus-per-replica", type=float)
    p.add_argument("--log-file", help="LSP: also write the log here")
    p.set_defaults(func=cmd_serve)
