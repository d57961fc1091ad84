"""`arena run`: complete every task with every system, sample battles, judge them, store them."""

from dataclasses import dataclass

from tqdm import tqdm

from completer.errors import BadInput
from evals.arena.judges import execution_score, prefer, similarity_score
from evals.arena.pairs import latency_pair_weights, sample_pairs
from evals.arena.store import ArenaStore
from evals.arena.systems import ModelPool, System
from evals.arena.tasks import ArenaTask

JUDGES = ("auto", "exec", "similarity", "human")
SAMPLINGS = ("uniform", "latency")


@dataclass(frozen=True)
class RunSummary:
    completions_generated: int
    battles_added: int
    pending_for_humans: int


def generate_completions(
    store: ArenaStore, pool: ModelPool, systems: list[System], tasks: list[ArenaTask], seed: int
) -> int:
    """Fill the (system, task) completion cache; returns how many were newly generated."""
    missing = [(s, t) for s in systems for t in tasks if store.completion(s.name, t.id) is None]
    for system, task in tqdm(missing, desc="completions", unit="completion", disable=not missing):
        store.add_completion(system.name, task.id, pool.generate(system, task, seed))
    return len(missing)


def run_arena(
    store: ArenaStore,
    systems: list[System],
    tasks: list[ArenaTask],
    pairs: int,
    sampling: str,
    judge: str,
    seed: int,
    tau: float = 1.0,
    after_keystrokes: int = 0,
) -> RunSummary:
    """Idempotent on a database: cached completions are reused and battles already fought are not repeated."""
    if judge not in JUDGES:
        raise BadInput(f"--judge must be one of {', '.join(JUDGES)}, got {judge!r}")
    if sampling not in SAMPLINGS:
        raise BadInput(f"--sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
    if judge == "exec" and any(task.problem is None for task in tasks):
        raise BadInput("--judge exec needs HumanEval tasks (--tasks humaneval:...); mined tasks have no tests")
    for system in systems:
        store.register_system(system)
    store.add_tasks(tasks)
    pool = ModelPool(after_keystrokes)
    try:
        generated = generate_completions(store, pool, systems, tasks, seed)
    finally:
        pool.close()

    names = [system.name for system in systems]
    task_ids = [task.id for task in tasks]
    weights = None
    if sampling == "latency":
        latency = {(s, t): store.completion(s, t).latency_ms for s in names for t in task_ids}
        weights = latency_pair_weights(names, task_ids, latency, tau)
    fought = {(battle.task_id, frozenset((battle.top, battle.bottom))) for battle in store.battles()}
    chosen = sample_pairs(names, task_ids, pairs, seed, weights, fought)

    by_id = {task.id: task for task in tasks}
    scores: dict[tuple[str, str], float] = {}

    def judge_of(task_id: str) -> str:
        has_tests = by_id[task_id].problem is not None
        return "exec" if judge != "similarity" and has_tests else "similarity"

    def score(system: str, task_id: str) -> float:
        if (system, task_id) not in scores:
            generation = store.completion(system, task_id)
            if judge_of(task_id) == "exec":
                scores[system, task_id] = execution_score(by_id[task_id].problem, generation)
            else:
                scores[system, task_id] = similarity_score(by_id[task_id], generation)
        return scores[system, task_id]

    for pair in tqdm(chosen, desc="battles", unit="battle", disable=not chosen):
        if judge == "human":
            store.add_battle(pair.task_id, pair.top, pair.bottom, winner=None, judge=None)
            continue
        winner = prefer(score(pair.top, pair.task_id), score(pair.bottom, pair.task_id))
        store.add_battle(pair.task_id, pair.top, pair.bottom, winner, judge_of(pair.task_id))
    return RunSummary(generated, len(chosen), len(chosen) if judge == "human" else 0)
