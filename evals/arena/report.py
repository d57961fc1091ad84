"""`arena report`: the leaderboard as Markdown and as a PNG plot, from `arena run`'s battles and the editor's.

The editor's battles count like the others (the suggestion accepted wins; one neither taken is not
rated, as a skipped vote), and each system's acceptance rate in the editor is the share of the
battles it was shown in, and that ended, where its suggestion was the one taken.
"""

from pathlib import Path

from evals.arena.ratings import Leaderboard, build_leaderboard
from evals.arena.store import ArenaStore, EditorBattle
from lsp.arena import CHOICES


def ranks(board: Leaderboard) -> list[int]:
    """Chatbot Arena's rank: 1 + the number of systems whose whole CI lies above this one's."""
    return [
        1 + sum(other.ci_low > standing.ci_high for other in board.standings) for standing in board.standings
    ]


def _latency(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def acceptance(battles: list[EditorBattle]) -> dict[str, tuple[int, int]]:
    """Per system, (accepted, shown) over the editor battles that ended: its suggestion taken, or both equal and taken."""
    rates: dict[str, tuple[int, int]] = {}
    for battle in battles:
        if battle.outcome is None:
            continue
        for place, system in (("first", battle.first), ("second", battle.second)):
            taken, shown = rates.get(system, (0, 0))
            rates[system] = (taken + (battle.outcome in (place, "both")), shown + 1)
    return rates


def _accepted(rate: tuple[int, int] | None) -> str:
    return "-" if rate is None else f"{rate[0]}/{rate[1]} ({100 * rate[0] / rate[1]:.0f}%)"


def leaderboard_markdown(board: Leaderboard, battle_counts: dict[str, int], rounds: int, plot_name: str | None,
                         accepted: dict[str, tuple[int, int]]) -> str:
    systems = [standing.system for standing in board.standings]
    lines = [
        "# Arena leaderboard",
        "",
        f"{battle_counts['decided']} decided battles ({battle_counts['tie']} ties, {battle_counts['editor']} voted in the "
        f"editor); {battle_counts['skip']} skipped (in the editor: neither suggestion taken) and "
        f"{battle_counts['pending']} waiting for a vote are not counted.",
        "",
        "Score = 400 * beta + 1000, where beta is the Bradley-Terry strength on the log10 scale "
        "(P(a beats b) = 1 / (1 + 10^(beta_b - beta_a)), as Chatbot Arena's Elo-scale ratings; a tie is half a win). "
        f"95% CI: percentiles of {rounds} bootstrap resamples of the battles. "
        "Rank = 1 + number of systems whose CI lies wholly above.",
        "",
        "Accepted in the editor: how often the system's suggestion was the one taken, of the editor battles it was "
        "shown in.",
        "",
        "| Rank | System | Score | 95% CI | Battles | Accepted in the editor | Median latency (ms) | On latency frontier |",
        "| ---: | --- | ---: | --- | ---: | ---: | ---: | :---: |",
    ]
    for rank, s in zip(ranks(board), board.standings):
        lines.append(
            f"| {rank} | {s.system} | {s.score:.0f} | {s.ci_low:.0f} to {s.ci_high:.0f} | {s.battles} "
            f"| {_accepted(accepted.get(s.system))} | {_latency(s.median_latency_ms)} "
            f"| {'yes' if s.on_latency_frontier else 'no'} |"
        )
    lines += [
        "",
        "## Win rates",
        "",
        "Share of points the row system took from the column system (ties count half); '-' where they never met.",
        "",
        "| | " + " | ".join(systems) + " |",
        "| --- |" + " ---: |" * len(systems),
    ]
    for row in systems:
        cells = [
            "-" if (row, column) not in board.win_rates else f"{board.win_rates[row, column]:.2f}" for column in systems
        ]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Quality vs latency",
        "",
        "A system is on the latency frontier when no other system is both at least as good and at least as fast: "
        "the frontier holds the only sensible choices for a given latency budget.",
        "",
    ]
    if plot_name is not None:
        lines += [f"![scores and median latency]({plot_name})", ""]
    return "\n".join(lines)


def leaderboard_plot(board: Leaderboard, path: Path) -> None:
    """Left: scores with CI bars and median latency on a second axis. Right: score vs latency."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # matplotlib only when plotting (not in the editor)
    from matplotlib.figure import Figure

    standings = board.standings
    names = [s.system for s in standings]
    scores = [s.score for s in standings]
    errors = [[s.score - s.ci_low for s in standings], [s.ci_high - s.score for s in standings]]
    latencies = [float("nan") if s.median_latency_ms is None else s.median_latency_ms for s in standings]

    # A bare Figure on the Agg canvas: no pyplot global state, no display needed (servers, CI).
    figure = Figure(figsize=(12, 4.8))
    FigureCanvasAgg(figure)
    left, right = figure.subplots(1, 2)
    positions = range(len(names))
    left.errorbar(positions, scores, yerr=errors, fmt="o", color="tab:blue", capsize=4)
    left.set_xticks(list(positions), names, rotation=30, ha="right")
    left.set_xlim(-0.5, len(names) - 0.5)
    left.set_ylabel("arena score (95% CI)", color="tab:blue")
    left.set_title("Scores and median latency")
    latency_axis = left.twinx()
    latency_axis.plot(positions, latencies, "s", color="tab:orange")
    latency_axis.set_ylabel("median latency (ms)", color="tab:orange")
    latency_axis.margins(y=0.15)
    latency_axis.set_ylim(bottom=0)

    right.errorbar(latencies, scores, yerr=errors, fmt="o", color="tab:blue", capsize=4)
    for name, latency, score in zip(names, latencies, scores):
        right.annotate(name, (latency, score), textcoords="offset points", xytext=(6, 6), fontsize=8)
    frontier = sorted((lat, s.score) for lat, s in zip(latencies, standings) if s.on_latency_frontier)
    right.plot([lat for lat, _ in frontier], [score for _, score in frontier], "--", color="tab:green",
               label="latency frontier")
    right.set_xlabel("median latency (ms)")
    right.set_ylabel("arena score")
    right.set_title("Quality vs latency")
    right.legend(loc="lower right")

    figure.tight_layout()
    figure.savefig(path, dpi=120)


def report(store: ArenaStore, rounds: int = 1000, seed: int = 0, plot_name: str | None = None) -> tuple[str, Leaderboard]:
    """The leaderboard of every battle in the database, as Markdown (linking ``plot_name`` if given)."""
    editor = store.editor_battles()
    battles = store.battles() + [battle.as_battle() for battle in editor]
    board = build_leaderboard(battles, store.latencies(), rounds, seed)
    winners = [battle.winner for battle in battles]
    counts = {
        "decided": sum(w in ("top", "bottom", "tie") for w in winners),
        "tie": winners.count("tie"),
        "skip": winners.count("skip"),
        "pending": winners.count(None),
        "editor": sum(battle.outcome in CHOICES for battle in editor),
    }
    return leaderboard_markdown(board, counts, rounds, plot_name, acceptance(editor)), board


def write_report(store: ArenaStore, out_dir: Path, rounds: int = 1000, seed: int = 0) -> tuple[Path, Path]:
    """Writes leaderboard.md and leaderboard.png into out_dir; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    markdown_path, plot_path = out_dir / "leaderboard.md", out_dir / "leaderboard.png"
    markdown, board = report(store, rounds, seed, plot_path.name)
    leaderboard_plot(board, plot_path)
    markdown_path.write_text(markdown, encoding="utf-8")
    return markdown_path, plot_path
