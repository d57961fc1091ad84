"""`python -m lsp --stdio` or `python -m lsp --tcp HOST:PORT`: run the language server."""

import argparse

from lsp.server import serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m lsp", description="completer language server (inline completion)")
    transport = parser.add_mutually_exclusive_group(required=True)
    transport.add_argument("--stdio", action="store_true", help="speak LSP over stdin/stdout")
    transport.add_argument("--tcp", metavar="HOST:PORT", help="listen for one client on HOST:PORT")
    parser.add_argument("--model", help="checkpoint folder or hub id (default: the bundled model)")
    parser.add_argument("--log-file", help="also write the server log to this file")
    parser.add_argument("--threads", type=int, help="torch threads on CPU (default: the engine's)")
    args = parser.parse_args()
    if args.stdio:
        serve("stdio", model=args.model, log_file=args.log_file, threads=args.threads)
        return
    host, _, port = args.tcp.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--tcp wants HOST:PORT, got {args.tcp!r}")
    serve("tcp", host=host, port=int(port), model=args.model, log_file=args.log_file, threads=args.threads)


if __name__ == "__main__":
    main()
