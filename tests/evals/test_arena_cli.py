import argparse
import sqlite3
from pathlib import Path

import pytest

from completer.errors import BadInput
from completer.options import Options
from evals.arena.cli import add_arena_parser
from evals.arena.systems import ModelPool, System, load_systems
from evals.arena.tasks import ArenaTask
from tests.helpers import make_tiny_checkpoint

EXAMPLE = Path(__file__).parents[2] / "evals" / "arena" / "systems.example.toml"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("tiny"))


def arena(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="completer")
    add_arena_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["arena", *argv])
    return args.func(args)


def write_systems(path: Path, checkpoint: Path, fixed_steps: int = 32) -> Path:
    path.write_text(
        f'[systems.parallel]\nmodel = "{checkpoint}"\nthreshold = 0.9\nmax_tokens = 4\n\n'
        f'[systems.one-per-pass]\nmodel = "{checkpoint}"\nsteps = {fixed_steps}\nmax_tokens = 4\n'
    )
    return path


def test_example_systems_file_holds_threshold_and_fixed_schedule():
    systems = {system.name: system for system in load_systems(EXAMPLE)}
    assert systems["threshold-0.9"].options.threshold == 0.9 and systems["threshold-0.9"].model is None
    assert systems["one-token-per-pass"].options.threshold is None and systems["one-token-per-pass"].options.steps == 32


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[systems.a]\nthreshold = 0.9\nbeam = 4\n[systems.b]\nsteps = 8\n", "unknown keys"),
        ("[systems.a]\neffort = \"max\"\n[systems.b]\nsteps = 8\n", "system 'a': effort must be one of low, medium, high"),
        ("[systems.a]\nthreshold = 1.5\n[systems.b]\nsteps = 8\n", r"system 'a': threshold must be a number in \(0, 1\]"),
        ("[systems.a]\nthreshold = 0.9\n", "at least two"),
        ("[systems.a]\nthreshold = 0.9\n[systems.b]\nsteps = \"many\"\n", "system 'b': steps must be a whole number >= 1, got 'many'"),
        ("[systems.a]\nmax_tokens = 2000\n[systems.b]\nsteps = 8\n", "system 'a': max_tokens must be a whole number from 1 to 1024"),
        ("[systems.a]\nseed = 1\n[systems.b]\nsteps = 8\n", "unknown keys"),  # the arena seeds each task itself
        ("[systems.a]\nthreshold = 0.9\n[systems.b-0.5]\nsteps = 8\n", "quote names with dots"),
        ("[systems.a\n", "not valid TOML"),
        ("[systems.a]\nrefresh_every = -1\n[systems.b]\nsteps = 8\n", "refresh_every must be a whole number >= 0"),
        ("[systems.a]\ncontext_tokens = 0\n[systems.b]\nsteps = 8\n", "context_tokens must be a whole number >= 1"),
        ("[systems.a]\nreuse_keys = 1\n[systems.b]\nsteps = 8\n", "reuse_keys must be true or false, got 1"),
    ],
)
def test_bad_systems_files_are_clear_errors(tmp_path: Path, text: str, message: str):
    path = tmp_path / "systems.toml"
    path.write_text(text)
    with pytest.raises(BadInput, match=message):
        load_systems(path)


def test_systems_on_the_same_model_share_one_model(tmp_path: Path, checkpoint: Path):
    parallel, fixed = load_systems(write_systems(tmp_path / "systems.toml", checkpoint))
    pool = ModelPool()
    assert pool.model_for(parallel) is pool.model_for(fixed)
    assert len(pool.models) == 1
    pool.close()


def test_systems_take_the_editors_cache_context_and_candidate_settings(tmp_path: Path):
    path = tmp_path / "systems.toml"
    path.write_text("[systems.exact]\nrefresh_every = 1\nreuse_keys = false\ncontext_tokens = 256\nlookup_drafts = 0\n"
                    "min_score = 0\ntemperature = 1\n[systems.default]\n")
    exact, default = load_systems(path)
    assert exact.options == Options(refresh_every=1, reuse_keys=False, context_tokens=256, lookup_drafts=0, min_score=0.0,
                                    temperature=1.0)
    assert default.options == Options()


def test_after_keystrokes_each_task_is_first_asked_at_the_characters_before_its_cursor(checkpoint: Path):
    system = System("tiny", model=str(checkpoint), options=Options(max_tokens=4))
    task = ArenaTask("t", "walk.py", "python", "def walk(items):\n    total = 0\n    for item in ", "items:\n",
                     "items", "rest-of-line")
    pool = ModelPool(after_keystrokes=3)
    scheduler, prefixes = pool.model_for(system), []
    submit = scheduler.submit
    scheduler.submit = lambda prefix, *rest, **kw: prefixes.append(prefix) or submit(prefix, *rest, **kw)
    try:
        pool.generate(system, task, seed=0)
    finally:
        pool.close()
    # each request submits its denoiser jobs (`lsp.candidates`: the default length and a probe) one after another
    assert list(dict.fromkeys(prefixes)) == [task.prefix[:-3], task.prefix[:-2], task.prefix[:-1], task.prefix]
    assert prefixes == sorted(prefixes, key=len)


def test_run_then_report_end_to_end_on_a_mined_repo(tmp_path: Path, checkpoint: Path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "walk.py").write_text("def walk(items):\n    total = 0\n    for item in items:\n        total += item\n"
                                  "    return total\n")
    systems = write_systems(tmp_path / "systems.toml", checkpoint)
    db = tmp_path / "arena.sqlite"
    run = ("run", "--systems", str(systems), "--tasks", f"mine:{code}", "--limit", "2", "--pairs", "10",
           "--sampling", "latency", "--after-keystrokes", "2", "--db", str(db))

    assert arena(*run) == 0
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM completions").fetchone()[0] == 4  # 2 systems x 2 tasks
        first = connection.execute("SELECT task_id, top, bottom, winner, judge FROM battles").fetchall()
    assert len(first) == 2  # one system pair x 2 tasks: every combination
    assert {row[4] for row in first} == {"similarity"} and all(row[3] in ("top", "bottom", "tie") for row in first)

    assert arena(*run) == 0  # cached completions, no repeated battles
    assert arena(*run[:-2], "--judge", "human", "--db", str(db)) == 0
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM completions").fetchone()[0] == 4
        assert connection.execute("SELECT COUNT(*) FROM battles").fetchone()[0] == 2

    assert arena("report", "--db", str(db), "--out-dir", str(tmp_path / "report"), "--rounds", "50") == 0
    markdown = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "| Rank | System | Score | 95% CI | Battles | Accepted in the editor | Median latency (ms) |" in markdown
    assert "parallel" in markdown and "one-per-pass" in markdown and "## Win rates" in markdown
    assert (tmp_path / "report" / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    changed = write_systems(tmp_path / "changed.toml", checkpoint, fixed_steps=8)
    with pytest.raises(BadInput, match="different settings"):
        arena("run", "--systems", str(changed), "--tasks", f"mine:{code}", "--db", str(db))


def test_human_judge_leaves_battles_pending_and_report_needs_a_db(tmp_path: Path, checkpoint: Path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "add.js").write_text("function add(a, b) {\n  const c = a + b;\n  return c;\n}\n")
    db = tmp_path / "arena.sqlite"
    systems = write_systems(tmp_path / "systems.toml", checkpoint)
    assert arena("run", "--systems", str(systems), "--tasks", f"mine:{code}", "--limit", "1", "--judge", "human",
                 "--db", str(db)) == 0
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT winner, judge FROM battles").fetchall() == [(None, None)]
    with pytest.raises(BadInput, match="no decided battles"):
        arena("report", "--db", str(db), "--out-dir", str(tmp_path / "report"))
    with pytest.raises(BadInput, match="no arena database"):
        arena("report", "--db", str(tmp_path / "missing.sqlite"))
