"""Next-edit tasks: HumanEval solutions with the slips people make, and small fixes mined from git history.

A HumanEval task is a canonical solution (prompt + middle + suffix of the random-span-light file,
which holds each problem once) with one slip in the function's body, the cursor on it or at the
end of its line:
  * typo:             a name with two letters swapped (``valeu``),
  * stale-name:       a use of one local name where another was meant,
  * operator:         a comparison or arithmetic operator turned into its neighbour (``<`` -> ``<=``),
  * missing-argument: a call with its last argument dropped,
  * swapped-pair:     a call's first two arguments, or a subtraction's operands, swapped.
It is fixed when the program passes its tests after the suggested edits. A mined task is a commit
that changes a few lines of one file: the file before it, the cursor on the first changed line; it
is fixed when the edits give the file after it.
"""

from __future__ import annotations

import ast
import difflib
import io
import keyword
import random
import statistics
import subprocess
import time
import tokenize
from dataclasses import dataclass, replace
from pathlib import Path

from completer.errors import BadInput
from completer.models import Model
from completer.options import Options
from evals.humaneval import Task, check, load_tasks
from lsp.context import LANGUAGE_BY_EXTENSION
from lsp.edits import TextEdit, apply_edits, minimal_edits, next_edit

SLIPS = ("typo", "stale-name", "operator", "missing-argument", "swapped-pair")
NEIGHBOUR_OPERATORS = {"+": "-", "-": "+", "<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==",
                       "*": "/", "//": "/", "%": "//", "and": "or", "or": "and"}
MAX_CHANGED_LINES = 3  # a mined commit changes at most this many lines, in one place
MAX_MINED_FILE_BYTES = 200_000
MINED_COMMITS = 2000  # how far back a repository's history is read


@dataclass(frozen=True)
class EditTask:
    id: str
    kind: str  # one of SLIPS, or "commit"
    language: str
    document: str  # the text with the slip
    cursor: int
    fixed: str  # the text as it should be
    clean_cursor: int  # the same place in `fixed`: asking there measures false suggestions
    problem: Task | None = None  # the HumanEval problem whose tests judge; None: judged by matching `fixed`


def passes(task: EditTask, document: str, timeout: float = 3.0) -> bool:
    """Whether ``document`` is a fix: its program passes the problem's tests, or it is the commit's text."""
    if task.problem is None:
        return same_text(document, task.fixed)
    return check(replace(task.problem, prompt=document, suffix=""), "", timeout).passed


def same_text(a: str, b: str) -> bool:
    """Equal but for whitespace at line ends (an editor's setting, not the fix)."""
    return [line.rstrip() for line in a.rstrip().split("\n")] == [line.rstrip() for line in b.rstrip().split("\n")]


# -- HumanEval slips ------------------------------------------------------------------------------
def humaneval_edit_tasks() -> list[EditTask]:
    """Every slip of every HumanEval problem that has a place for it, in problem order."""
    tasks = []
    for problem in load_tasks("random-span-light"):
        source = problem.prompt + problem.canonical_solution + problem.suffix
        name = problem.task_id.split("/")[1:3]
        for kind in SLIPS:
            slip = make_slip(source, problem.entry_point, kind, random.Random(f"{problem.task_id}:{kind}"))
            if slip is None:
                continue
            start, end, text = slip
            document = source[:start] + text + source[end:]
            rng = random.Random(f"{problem.task_id}:{kind}:cursor")
            after = rng.random() < 0.5  # the cursor on the slip, or at the end of its line
            cursor = line_end(document, start) if after else start
            clean_cursor = line_end(source, start) if after else start
            problem_task = replace(problem, task_id="/".join(name))
            tasks.append(EditTask(f"{'/'.join(name)}/{kind}", kind, "python", document, cursor, source, clean_cursor,
                                  problem_task))
    return tasks


def line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    return len(text) if end < 0 else end


def entry_body(tree: ast.Module, entry_point: str) -> tuple[ast.FunctionDef, int, int] | None:
    """The entry point's definition and the first and last line (1-based) of its body after the docstring."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            docstring = node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
            body = node.body[1:] if docstring else node.body
            return (node, body[0].lineno, node.end_lineno) if body else None
    return None


def make_slip(source: str, entry_point: str, kind: str, rng: random.Random) -> tuple[int, int, str] | None:
    """(start, end, text): source[start:end] becomes text; None when the body has no place for this slip."""
    tree = ast.parse(source)
    found = entry_body(tree, entry_point)
    if found is None:
        return None
    function, first, last = found
    rows = source.split("\n")
    starts = [0]
    for row in rows:
        starts.append(starts[-1] + len(row) + 1)

    def at(row: int, col: int) -> int:
        """The offset of a tokenize position (a character column)."""
        return starts[row - 1] + col

    def node_at(row: int, col: int) -> int:
        """The offset of an ast position (a UTF-8 byte column)."""
        return at(row, len(rows[row - 1].encode()[:col].decode(errors="ignore")))

    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if first <= t.start[0] <= last]
    nodes = [n for n in ast.walk(function) if first <= getattr(n, "lineno", 0) and getattr(n, "end_lineno", last + 1) <= last]
    local_names = sorted({n.id for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
                         | {a.arg for a in function.args.args})
    names = [t for t in tokens if t.type == tokenize.NAME and not keyword.iskeyword(t.string)]
    candidates: list[tuple[int, int, str]] = []
    if kind == "typo":
        for t in names:
            word = t.string
            if len(word) >= 4 and t.string in local_names:
                i = rng.randrange(1, len(word) - 2)
                typo = word[:i] + word[i + 1] + word[i] + word[i + 2:]
                if typo != word:
                    candidates.append((at(*t.start), at(*t.end), typo))
    elif kind == "stale-name":
        for t in names:
            others = [n for n in local_names if n != t.string]
            if t.string in local_names and others:
                candidates.append((at(*t.start), at(*t.end), rng.choice(others)))
    elif kind == "operator":
        for t in tokens:
            if t.string in NEIGHBOUR_OPERATORS and t.type in (tokenize.OP, tokenize.NAME):
                candidates.append((at(*t.start), at(*t.end), NEIGHBOUR_OPERATORS[t.string]))
    elif kind == "missing-argument":
        for n in nodes:
            if isinstance(n, ast.Call) and len(n.args) >= 2 and not n.keywords and n.args[-2].end_lineno == n.args[-1].end_lineno:
                a, b = n.args[-2], n.args[-1]
                candidates.append((node_at(a.end_lineno, a.end_col_offset), node_at(b.end_lineno, b.end_col_offset), ""))
    elif kind == "swapped-pair":
        for n in nodes:
            pair = (n.args[0], n.args[1]) if isinstance(n, ast.Call) and len(n.args) >= 2 else \
                (n.left, n.right) if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod)) else None
            if pair is None or pair[0].lineno != pair[1].end_lineno:
                continue
            a, b = pair
            first, second = ast.get_source_segment(source, a), ast.get_source_segment(source, b)
            if first is None or second is None or first == second:
                continue
            start, end = node_at(a.lineno, a.col_offset), node_at(b.end_lineno, b.end_col_offset)
            middle = source[node_at(a.end_lineno, a.end_col_offset):node_at(b.lineno, b.col_offset)]
            candidates.append((start, end, second + middle + first))
    else:
        raise BadInput(f"unknown slip {kind!r}; choose one of {', '.join(SLIPS)}")
    return rng.choice(candidates) if candidates else None


# -- mined from git history -----------------------------------------------------------------------
def git(repo: Path, *args: str) -> str:
    run = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, errors="replace")
    if run.returncode != 0:
        raise BadInput(f"git {' '.join(args[:2])} failed in {repo}: {run.stderr.strip()[:200]}")
    return run.stdout


def mine_edit_tasks(repo: Path) -> list[EditTask]:
    """Commits that change a few lines of one source file, in one place, newest first."""
    if not (repo / ".git").exists() and git(repo, "rev-parse", "--is-inside-work-tree").strip() != "true":
        raise BadInput(f"{repo}: not a git repository")
    tasks = []
    for line in git(repo, "log", "--no-merges", f"-n{MINED_COMMITS}", "--format=%H %P").splitlines():
        commit, *parents = line.split()
        if not parents:  # the first commit adds files: nothing is fixed in it
            continue
        numstat = git(repo, "diff-tree", "--no-commit-id", "-r", "--numstat", parents[0], commit).splitlines()
        changed = [row.split("\t") for row in numstat if row.count("\t") == 2]
        if len(changed) != 1:
            continue
        added, deleted, path = changed[0]
        language = LANGUAGE_BY_EXTENSION.get(Path(path).suffix)
        if language is None or not (added.isdigit() and deleted.isdigit()) or not 0 < int(deleted) <= MAX_CHANGED_LINES \
                or not 0 < int(added) <= MAX_CHANGED_LINES:
            continue
        before, after = git(repo, "show", f"{parents[0]}:{path}"), git(repo, "show", f"{commit}:{path}")
        if len(before) > MAX_MINED_FILE_BYTES or same_text(before, after):
            continue
        place = changed_place(before, after)
        if place is None:
            continue
        cursor, clean_cursor = place
        tasks.append(EditTask(f"{commit[:12]}:{path}", "commit", language, before, cursor, after, clean_cursor))
    return tasks


def changed_place(before: str, after: str) -> tuple[int, int] | None:
    """Offsets of the first changed line in both texts, when the change is one run of lines."""
    old, new = before.split("\n"), after.split("\n")
    blocks = [op for op in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes() if op[0] != "equal"]
    if len(blocks) != 1 or blocks[0][0] != "replace":
        return None
    _, i1, _, j1, _ = blocks[0]
    indent = lambda line: len(line) - len(line.lstrip())
    return (sum(len(s) + 1 for s in old[:i1]) + indent(old[i1]), sum(len(s) + 1 for s in new[:j1]) + indent(new[j1]))


# -- scoring --------------------------------------------------------------------------------------
EDIT_SYSTEMS = ("model", "fix", "none")
FALSE_RATE_TARGET = 0.05  # the calibration line: the threshold at which this share of clean code gets a suggestion


@dataclass(frozen=True)
class Proposal:
    """What a system suggests for one task, and for the same place in the clean text."""
    edits: list[TextEdit]
    clean_edits: list[TextEdit]
    unlikeliest: float | None = None
    clean_unlikeliest: float | None = None
    latency_ms: float = 0.0
    forward_passes: int = 0


def oracle(task: EditTask, system: str) -> Proposal:
    """The harness's checks: "fix" applies the true fix (scores 100 %), "none" applies nothing (the baseline)."""
    edits = minimal_edits(task.document, 0, len(task.document), task.fixed) if system == "fix" else []
    return Proposal(edits, [])


def model_proposal(model: Model, task: EditTask, options: Options, threshold: float) -> Proposal:
    """The editor's next edit (`lsp.edits.next_edit`) at the task's cursor and at the same place in the clean text."""
    started = time.perf_counter()
    slip = next_edit(model, task.document, task.cursor, task.language, options, threshold=threshold)
    latency_ms = (time.perf_counter() - started) * 1000
    clean = next_edit(model, task.fixed, task.clean_cursor, task.language, options, threshold=threshold)
    return Proposal(slip.edits, clean.edits, slip.unlikeliest, clean.unlikeliest, latency_ms,
                    (slip.stats or {}).get("forward_passes", 0))


def record(task: EditTask, proposal: Proposal, timeout: float) -> dict:
    """One task's result: whether the suggested edits fix it, and whether clean code got a suggestion."""
    document = apply_edits(task.document, proposal.edits)
    unedited = task.problem is not None and passes(task, task.document, timeout)  # a slip the tests miss
    return {"id": task.id, "kind": task.kind, "edits": [[e.start, e.end, e.text] for e in proposal.edits],
            "suggested": bool(proposal.edits), "passed": passes(task, document, timeout), "unedited_passes": unedited,
            "exact": same_text(document, task.fixed), "clean_suggested": bool(proposal.clean_edits),
            "unlikeliest": proposal.unlikeliest, "clean_unlikeliest": proposal.clean_unlikeliest,
            "latency_ms": round(proposal.latency_ms, 1), "forward_passes": proposal.forward_passes}


def summary(source: str, system: str, records: list[dict]) -> str:
    """The overall row, one row per kind of task, and the threshold that would keep false suggestions rare."""
    def row(name: str, rows: list[dict]) -> dict:
        share = lambda key: f"{100 * sum(r[key] for r in rows) / len(rows):.1f}%"
        return {"tasks": f"{name} ({len(rows)})", "fixed": share("passed"), "passes unedited": share("unedited_passes"),
                "exact fix": share("exact"),
                "suggested": share("suggested"), "false suggestions": share("clean_suggested"),
                "median latency": f"{statistics.median(r['latency_ms'] for r in rows):.1f} ms",
                "passes": f"{statistics.mean(r['forward_passes'] for r in rows):.2f}"}

    kinds = sorted({r["kind"] for r in records})
    rows = [row("all", records)] + ([row(kind, [r for r in records if r["kind"] == kind]) for kind in kinds] if len(kinds) > 1 else [])
    widths = {key: max(len(key), *(len(r[key]) for r in rows)) for key in rows[0]}
    lines = [f"next edits on {source}, system {system}", "  ".join(key.ljust(w) for key, w in widths.items())]
    lines += ["  ".join(r[key].ljust(w) for key, w in widths.items()) for r in rows]
    clean = sorted(r["clean_unlikeliest"] for r in records if r["clean_unlikeliest"] is not None)
    if clean:
        at = clean[int(FALSE_RATE_TARGET * (len(clean) - 1))]
        lines.append(f"calibration: clean code scores a token below {at:.3g} in {100 * FALSE_RATE_TARGET:.0f}% of "
                     "places: an edit threshold at or under it keeps false suggestions at most that rare")
    return "\n".join(lines)
