"""`completer arena run | vote | report | export`: argparse wiring only; the work lives in the other modules."""

import argparse
import json
import sys
from pathlib import Path

from completer.errors import BadInput
from evals.arena.runner import JUDGES, SAMPLINGS, run_arena
from evals.arena.store import ArenaStore
from evals.arena.systems import load_systems
from evals.arena.tasks import load_arena_tasks


def run_command(args: argparse.Namespace) -> int:
    systems = load_systems(args.systems)
    tasks = load_arena_tasks(args.tasks, args.limit, args.seed)
    store = ArenaStore(args.db)
    if args.after_keystrokes < 0:
        raise BadInput(f"--after-keystrokes must be a number of characters >= 0 (got {args.after_keystrokes})")
    summary = run_arena(store, systems, tasks, args.pairs, args.sampling, args.judge, args.seed, args.tau,
                        args.after_keystrokes)
    print(
        f"{len(tasks)} tasks, {summary.completions_generated} new completions, "
        f"{summary.battles_added} new battles ({summary.pending_for_humans} waiting for `arena vote`) in {args.db}"
    )
    return 0


def existing_store(path: Path) -> ArenaStore:
    if not path.is_file():
        raise BadInput(f"no arena database at {path}; create it with `completer arena run`")
    return ArenaStore(path)


def vote_command(args: argparse.Namespace) -> int:
    from evals.arena.server import serve  # FastAPI only when serving

    store = existing_store(args.db)
    print(f"{store.pending_count()} battles to judge: open http://{args.host}:{args.port}/ (Ctrl-C to stop)")
    serve(store, args.host, args.port)
    return 0


def report_command(args: argparse.Namespace) -> int:
    from evals.arena.report import write_report  # matplotlib only when plotting

    markdown, plot = write_report(existing_store(args.db), args.out_dir, args.rounds, args.seed)
    print(f"wrote {markdown} and {plot}")
    return 0


def export_command(args: argparse.Namespace) -> int:
    store = existing_store(args.db)
    lines = [json.dumps(record) + "\n" for record in store.records()]
    if str(args.out) == "-":
        sys.stdout.writelines(lines)
    else:
        args.out.write_text("".join(lines), encoding="utf-8")
        print(f"wrote {len(lines)} battles to {args.out}")
    return 0


def add_arena_parser(subparsers: argparse._SubParsersAction) -> None:
    arena = subparsers.add_parser("arena", help="pairwise battles between completion systems, rated Bradley-Terry")
    commands = arena.add_subparsers(dest="arena_command", required=True)

    run = commands.add_parser("run", help="complete tasks with every system, sample battles and judge them")
    run.add_argument("--systems", type=Path, required=True, help="TOML file of [systems.NAME] tables")
    run.add_argument("--tasks", required=True, help="humaneval:single-line|multi-line|random-span|... or mine:PATH")
    run.add_argument("--limit", type=int, default=50, help="number of tasks (default 50)")
    run.add_argument("--pairs", type=int, default=200, help="number of battles to add (default 200)")
    run.add_argument("--sampling", choices=SAMPLINGS, default="uniform",
                     help="uniform, or latency: Copilot-Arena-style, pairs with slow systems are rarer")
    run.add_argument("--tau", type=float, default=1.0, help="latency sampling strength (default 1.0)")
    run.add_argument("--judge", choices=JUDGES, default="auto",
                     help="auto: exec for HumanEval, similarity for mined tasks; human: leave for `arena vote`")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--after-keystrokes", type=int, default=0, metavar="N",
                     help="first ask each system at the N characters before the cursor, as while typing them; "
                          "only the last request is judged and timed (default 0)")
    run.add_argument("--db", type=Path, default=Path("arena.sqlite"))
    run.set_defaults(func=run_command)

    vote = commands.add_parser("vote", help="judge pending battles in a local web page (keys 1, 2, t, s)")
    vote.add_argument("--db", type=Path, default=Path("arena.sqlite"))
    vote.add_argument("--host", default="127.0.0.1")
    vote.add_argument("--port", type=int, default=8765)
    vote.set_defaults(func=vote_command)

    report = commands.add_parser("report", help="write leaderboard.md and leaderboard.png")
    report.add_argument("--db", type=Path, default=Path("arena.sqlite"))
    report.add_argument("--out-dir", type=Path, default=Path("arena-report"))
    report.add_argument("--rounds", type=int, default=1000, help="bootstrap resamples (default 1000)")
    report.add_argument("--seed", type=int, default=0)
    report.set_defaults(func=report_command)

    export = commands.add_parser("export", help="write every battle as JSON lines (code only where it was stored)")
    export.add_argument("--db", type=Path, default=Path("arena.sqlite"))
    export.add_argument("--out", type=Path, default=Path("-"), help="a .jsonl file, or - for standard output (default)")
    export.set_defaults(func=export_command)
