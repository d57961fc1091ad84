"""`completer eval humaneval-infill` and `completer eval edits`: ask for suggestions on a benchmark and score them.

`eval edits` asks the editor's next-edit path (`lsp.edits`) on slipped HumanEval solutions or on
small fixes mined from a repository's history (`evals.edits`), and also asks at the same place
in the clean text to count false suggestions.

A model's suggestions come through the editor's pipeline (`lsp.pipeline`): the task is the file
an editor user would have at the hole, and what is scored is the suggestion they would accept,
post-processed as the language server does; `--after-keystrokes` asks first as the user types up to
the cursor, as an editor would. `--concurrency` keeps that many requests in flight,
batched by the scheduler as a shared server would; each finished suggestion is handed at once
to a pool of workers that run the tests in the sandbox, so checking overlaps with generating.
"""

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from collections import Counter, defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from completer.errors import BadInput
from completer.options import CLI, EDITS, add_flags, flags, split
from evals.edits import EDIT_SYSTEMS, humaneval_edit_tasks, mine_edit_tasks, model_proposal, oracle, record
from evals.edits import summary as edit_summary
from evals.humaneval import BENCHMARKS, Task, accepted, check, editor_document, load_tasks, typed_middle
from evals.metrics import mean_pass_at_k

SYSTEMS = ("model", "canonical", "empty")
PASS_AT = (1, 10, 100)


@dataclass(frozen=True)
class Generation:
    task: Task  # the task as the suggestion leaves it (a suggestion may replace text right of the cursor)
    text: str
    latency_ms: float
    forward_passes: int
    tokens_per_forward: float | None  # None for systems without a model
    useful_tokens_per_forward: float | None  # tokens of the infill per pass (end tokens not counted)
    reused_tokens: int = 0  # context tokens whose keys came from the keystrokes before (`--after-keystrokes`)
    source: str | None = None  # the candidate shown (`lsp.candidates`), None when nothing was
    score: float | None = None  # its score
    passes: int | None = None  # every batched forward of the request: the denoiser's, the hinted one's, ranking
    host_syncs: int | None = None  # times the denoiser's host waited for the device (`DenoiseStats.host_syncs`)


Generate = Callable[[Task, int], Callable[[], Generation]]  # (task, sample index) -> wait for its generation


def positive(convert: Callable[[str], float]) -> Callable[[str], float]:
    """An argparse type that also rejects zero and negative numbers."""
    def parse(text: str) -> float:
        value = convert(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    parse.__name__ = convert.__name__  # argparse names the type in its messages
    return parse


def add_eval_parser(subparsers) -> None:
    """Register `eval humaneval-infill` on the top-level CLI's subparsers."""
    eval_parser = subparsers.add_parser("eval", help="score a completion system on a benchmark")
    benchmarks = eval_parser.add_subparsers(dest="eval_benchmark", required=True)
    parser = benchmarks.add_parser("humaneval-infill", help="HumanEval infilling, scored by running its tests")
    parser.add_argument("--benchmark", choices=BENCHMARKS, required=True)
    parser.add_argument("--system", choices=SYSTEMS, default="model",
                        help="model: the engine; canonical: the reference middle; empty: an empty middle")
    add_flags(parser, CLI)
    parser.add_argument("--concurrency", type=positive(int), default=1,
                        help="requests in flight at once, batched by the scheduler (default 1)")
    parser.add_argument("--oracle-length", action="store_true",
                        help="set the span budget to the true middle's length in tokens (no length probes): "
                             "measures how much of a model's quality its span length costs")
    parser.add_argument("--after-keystrokes", type=int, default=0, metavar="N",
                        help="first ask at each of the N characters before the cursor, as while typing them; "
                             "only the last request is scored and timed (default 0)")
    parser.add_argument("--limit", type=positive(int), help="evaluate a seeded random subset of this many tasks")
    parser.add_argument("--seed", type=int, default=0, help="picks the subset and seeds sampling")
    parser.add_argument("--workers", type=positive(int), default=2, help="parallel test executions")
    parser.add_argument("--out", type=Path, help="write one JSON line per task and sample here")
    parser.add_argument("--agree-with", type=Path, metavar="RESULTS",
                        help="another run's --out file: also report how often this run's completion is the same")
    parser.add_argument("--samples", type=positive(int), default=1, help="samples per task; >1 samples with temperature")
    parser.add_argument("--temperature", type=float, help="default: 0 with one sample, 0.8 with more")
    parser.add_argument("--timeout", type=positive(float), default=3.0, help="seconds each test run may take")
    parser.set_defaults(func=run_humaneval_infill)
    add_edits_parser(benchmarks)


def add_edits_parser(benchmarks) -> None:
    parser = benchmarks.add_parser("edits", help="next edits: slipped HumanEval solutions (their tests judge) "
                                                 "or small fixes from a git history")
    parser.add_argument("--repo", type=Path, help="mine tasks from this git repository's commits instead")
    parser.add_argument("--system", choices=EDIT_SYSTEMS, default="model",
                        help="model: the engine; fix: the true fix (checks the harness: 100%%); none: no edit (the baseline)")
    add_flags(parser, CLI, EDITS)
    parser.add_argument("--limit", type=positive(int), help="evaluate a seeded random subset of this many tasks")
    parser.add_argument("--seed", type=int, default=0, help="picks the subset")
    parser.add_argument("--workers", type=positive(int), default=2, help="parallel test executions")
    parser.add_argument("--timeout", type=positive(float), default=3.0, help="seconds each test run may take")
    parser.add_argument("--out", type=Path, help="write one JSON line per task here")
    parser.set_defaults(func=run_edits)


def run_edits(args: argparse.Namespace) -> int:
    tasks = mine_edit_tasks(args.repo) if args.repo is not None else humaneval_edit_tasks()
    if not tasks:
        raise BadInput(f"{args.repo}: no commit changes a few lines of one source file in one place")
    tasks = select_tasks(tasks, args.limit, args.seed)
    check_writable(args.out)
    server, options = split(flags(args, CLI, EDITS))
    system, propose, model = args.system, lambda task: oracle(task, args.system), None
    if args.system == "model":
        from completer.models import open_model
        model = open_model(server.model)
        system = f"model ({model.name}, threshold {server.edit_threshold:g})"
        propose = lambda task: model_proposal(model, task, options, server.edit_threshold)
    try:
        with ThreadPoolExecutor(args.workers) as pool:
            futures = [pool.submit(record, task, propose(task), args.timeout)
                       for task in tqdm(tasks, desc="edits", unit="task", file=sys.stderr)]
            records = [future.result() for future in futures]
    finally:
        if model is not None:
            model.close()
    if args.out is not None:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    print(edit_summary(str(args.repo) if args.repo else "HumanEval slips", system, records))
    return 0


def select_tasks(tasks: list[Task], limit: int | None, seed: int) -> list[Task]:
    """A deterministic subset (same seed, same tasks), kept in benchmark order."""
    if limit is None or limit >= len(tasks):
        return tasks
    return [tasks[i] for i in sorted(random.Random(seed).sample(range(len(tasks)), limit))]


def reference_system(pick: Callable[[Task], str]) -> Generate:
    return lambda task, sample: lambda: Generation(task, pick(task), 0.0, 0, None, None)


def model_system(args: argparse.Namespace) -> tuple[str, Generate]:
    from completer.models import open_model  # imported here so canonical/empty runs import no checkpoint code
    from lsp.pipeline import ask_while_typing, suggest

    if args.after_keystrokes < 0:
        raise BadInput(f"--after-keystrokes must be a number of characters >= 0 (got {args.after_keystrokes})")
    server, options = split(flags(args, CLI))
    model = open_model(server.model)
    temperature = args.temperature if args.temperature is not None else (0.8 if args.samples > 1 else 0.0)
    options = replace(options, temperature=temperature)
    typists = ThreadPoolExecutor(args.concurrency)  # one per request in flight: its keystrokes come one by one

    def generate(task: Task, sample: int) -> Callable[[], Generation]:
        document, offset = editor_document(task)
        task_options = replace(options, seed=args.seed + sample)

        def typed() -> Generation:
            ask_while_typing(model, document, offset, "python", task_options, args.after_keystrokes)
            oracle = model.count_tokens(typed_middle(task)) or 1 if args.oracle_length else None
            start = time.perf_counter()
            suggestion = suggest(model, document, offset, "python", task_options, oracle_tokens=oracle)
            latency_ms = (time.perf_counter() - start) * 1000
            edit, shown = suggestion.edit, suggestion.choice.shown
            scored, text = accepted(task, edit.text if edit else "", edit.replace if edit else 0)
            stats = suggestion.stats
            return Generation(scored, text, latency_ms, stats["forward_passes"], stats.get("tokens_per_forward"),
                              stats.get("useful_tokens_per_forward"), stats.get("reused_tokens", 0),
                              shown.source if shown else None, round(shown.score, 4) if shown else None,
                              stats.get("passes"), stats.get("host_syncs"))

        return typists.submit(typed).result

    return f"model ({model.name})", generate


def make_system(args: argparse.Namespace) -> tuple[str, Generate]:
    if args.system == "canonical":
        return "canonical", reference_system(lambda task: task.canonical_solution)
    if args.system == "empty":
        return "empty", reference_system(lambda task: "")
    return model_system(args)


def run_humaneval_infill(args: argparse.Namespace) -> int:
    tasks = select_tasks(load_tasks(args.benchmark), args.limit, args.seed)
    check_writable(args.out)
    reference = read_completions(args.agree_with) if args.agree_with else None
    system, generate = make_system(args)
    records = []
    with ThreadPoolExecutor(args.workers) as pool, \
            tqdm(total=len(tasks) * args.samples, desc=args.benchmark, unit="run", file=sys.stderr) as progress:
        lock = threading.Lock()  # checks finish on worker threads

        def advance(_) -> None:
            with lock:
                progress.update()

        pending, in_flight = [], deque()

        def collect() -> None:
            task, sample, waiting = in_flight.popleft()
            generation = waiting()
            future = pool.submit(check, generation.task, generation.text, args.timeout)
            future.add_done_callback(advance)
            pending.append((task, sample, generation, future))

        for task in tasks:
            for sample in range(args.samples):
                in_flight.append((task, sample, generate(task, sample)))
                if len(in_flight) >= args.concurrency:
                    collect()
        while in_flight:
            collect()
        for task, sample, generation, future in pending:
            outcome = future.result()
            records.append({
                "task_id": task.task_id, "sample": sample, "completion": generation.text,
                "passed": outcome.passed, "result": outcome.result, "latency_ms": round(generation.latency_ms, 1),
                "forward_passes": generation.forward_passes, "tokens_per_forward": generation.tokens_per_forward,
                "useful_tokens_per_forward": generation.useful_tokens_per_forward,
                "reused_tokens": generation.reused_tokens, "shown": generation.source is not None,
                "exact": generation.text.strip() == task.canonical_solution.strip(), "source": generation.source,
                "score": generation.score, "passes": generation.passes, "host_syncs": generation.host_syncs,
            })
    if args.out is not None:
        args.out.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    print(summary_table(args.benchmark, system, records, args.samples, reference))
    return 0


def read_completions(path: Path) -> dict[tuple[str, int], str]:
    """(task_id, sample) -> completion of a results file, read before the run so a bad one fails at once."""
    try:
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return {(r["task_id"], r["sample"]): r["completion"] for r in records}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BadInput(f"cannot read results to agree with from {path}: {error}") from None


def check_writable(path: Path | None) -> None:
    """Fail before the long run, without truncating an existing results file."""
    if path is not None and (path.is_dir() or not os.access(path.parent, os.W_OK)):
        raise BadInput(f"cannot write results to {path}: not a writable file location")


def summary_table(benchmark: str, system: str, records: list[dict], samples: int,
                  reference: dict[tuple[str, int], str] | None = None) -> str:
    """One header row and one result row, columns aligned; with a reference run, the share of
    completions (of the tasks both runs have) that are the same."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # task_id -> [samples, passed]
    for record in records:
        counts[record["task_id"]][0] += 1
        counts[record["task_id"]][1] += record["passed"]
    per_task = [tuple(count) for count in counts.values()]
    speeds = [r["tokens_per_forward"] for r in records if r["tokens_per_forward"] is not None]
    row = {"benchmark": benchmark, "system": system, "tasks": str(len(per_task))}
    for k in (k for k in PASS_AT if k <= samples):
        row[f"pass@{k}"] = f"{100 * mean_pass_at_k(per_task, k):.2f}%"
    row["median latency"] = f"{statistics.median(r['latency_ms'] for r in records):.1f} ms"
    row["passes/task"] = f"{statistics.mean(r['forward_passes'] for r in records):.2f}" if speeds else "-"
    row["tokens/forward"] = f"{statistics.mean(speeds):.2f}" if speeds else "-"
    useful = [r["useful_tokens_per_forward"] for r in records if r.get("useful_tokens_per_forward") is not None]
    row["useful tokens/forward"] = f"{statistics.mean(useful):.2f}" if useful else "-"
    row["exact"] = f"{100 * statistics.mean(r['exact'] for r in records):.2f}%"
    if any(r.get("passes") is not None for r in records):
        shown = [r for r in records if r["shown"]]
        row["shown"] = f"{100 * len(shown) / len(records):.1f}%"
        row["precision"] = f"{100 * sum(r['passed'] for r in shown) / len(shown):.1f}%" if shown else "-"
        row["all passes/task"] = f"{statistics.mean(r['passes'] for r in records):.2f}"
        wins = Counter(r["source"] for r in shown)
        row["shown from"] = ", ".join(f"{source} {count}" for source, count in wins.most_common()) or "-"
    if reference is not None:
        shared = [r for r in records if (r["task_id"], r["sample"]) in reference]
        same = sum(r["completion"] == reference[r["task_id"], r["sample"]] for r in shared)
        row["agreement"] = f"{same}/{len(shared)}"
    widths = [max(len(name), len(value)) for name, value in row.items()]
    header = "  ".join(name.ljust(width) for name, width in zip(row, widths))
    values = "  ".join(value.ljust(width) for value, width in zip(row.values(), widths))
    return header + "\n" + values
