"""What a user may set, declared once: every front end's names, defaults, help and checks come from here.

Each option is a field of `Options` (one suggestion: how it is decoded, drafted and shown) or of
`ServerOptions` (the server's own: its model, threads, next edits, drafts, languages), declared with
`option`: its default, one line of help, the values it takes and the front ends that take it. From
that table come the CLI's flags (`--max-tokens`: `add_flags`, `flags`), the language server's settings
(`maxTokens`), the HTTP body's fields and the arena's TOML keys (`max_tokens`: `read`), and README's
table (`python -m completer.options --markdown`). A value is checked the same way whichever front end
it came through, and a bad one is one `BadOption` naming the option as that front end spells it.
A front end sends only what its user set: what it leaves out keeps the default here.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from types import NoneType
from typing import TYPE_CHECKING, Any, get_args, get_type_hints

from .errors import BadInput

if TYPE_CHECKING:
    from .sampler import DenoiseSettings

SPANS = ("free", "line", "block")  # anything; one line (a newline is never committed); a block body
MAX_SEED = 2**64  # torch's generators take 64-bit seeds
# Largest span one request may ask for: the model's passes are shared, so one request must stay short.
MAX_TOKENS_LIMIT = 1024

# The effort knob, the one owner of decoding defaults: how the passes are scheduled at each level.
# Measured on HumanEval single-line (README, "Effort"): with the bundled model pass@1 is the same at
# every threshold from 0.5 to 0.99, while passes per task fall from 22.6 (0.99) and 22.1 (0.9) to
# 8.3 (0.5). Medium keeps Fast-dLLM's default 0.9 (its authors report LLaDA and Dream keep their accuracy);
# low takes the measured 2.7x fewer passes; high commits only what the model is all but sure of.
EFFORTS = {
    "low": dict(threshold=0.5, steps=None),
    "medium": dict(threshold=0.9, steps=None),
    "high": dict(threshold=0.99, steps=None),
}
DEFAULT_EFFORT = "medium"
DEFAULT_MAX_TOKENS = 64
# Recompute the whole cache only when a span grows: on HumanEval single-line the bundled model's output
# is the same as exact decoding's (300/300) at 0.6x its latency; on random weights a refresh every 4
# passes matched 36/100 against 31/100 for 1.4x the latency (README, "Refreshing the cache").
DEFAULT_REFRESH_EVERY = 0
# A request's first pass copies the keys of the prefix it shares with a recent request (`prefix_cache`):
# typing latency 0.66x (bundled) and 0.8x (random weights); completions the same on the bundled model,
# 66/100 on random weights, closer than the cache's own staleness (README, "Reusing keys across keystrokes").
DEFAULT_REUSE_KEYS = True
# On files that fill the window, 1,024 context tokens cost 1.6x the latency of 512 (bundled: 81 against
# 50 ms; random weights: 314 against 252 ms) and 256 saves little more (47 ms) while changing 42 of 100
# HumanEval completions on random weights (512: 9); no model we have tells their quality apart, and the
# GPU recipe trains on 512-token sequences (README, "Context size").
DEFAULT_CONTEXT_TOKENS = 512
DEFAULT_DRAFTS = 6  # drafts asked for per request: each costs a string search over the texts and a check
# Show the best candidate when its estimate reaches this (`lsp.candidates`). A draft matched on one lexeme was
# right 3 % of the time: never shown; two lexemes or more (4.5 %+), or a confident model, are (README).
DEFAULT_MIN_SCORE = 0.04
# A token less likely than this is a candidate for a next edit. Calibrated with the bundled model on the 526
# slipped HumanEval solutions and the same places in the clean code (README, "Next edits"): clean code got a
# suggestion at 4.6 % of places at 1e-3, 1.1 % at 1e-4, none at 1e-5 (where no slip got one either).
DEFAULT_EDIT_THRESHOLD = 1e-4

# The front ends, and how each spells an option.
CLI = "cli"  # a flag (--max-tokens) of every command that decodes: complete, edit, eval humaneval-infill, eval edits
COMPLETE = "complete"  # a flag of `completer complete` alone: the evals sample and seed their own way
EDITS = "edits"  # a flag of the commands that suggest next edits: edit, eval edits
LSP = "lsp"  # a key (maxTokens) of the `completer` settings: initializationOptions, workspace/didChangeConfiguration
HTTP = "http"  # a field (max_tokens) of the request body
ARENA = "arena"  # a key (max_tokens) of the arena's [systems.NAME] tables
FLAGS = {CLI: "", COMPLETE: " (complete)", EDITS: " (edit, eval edits)"}  # the flag front ends, and their commands


class BadOption(BadInput):
    """A value an option does not take; the message names the option as the front end it came through spells it."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name  # snake_case, as the HTTP body has it (its 400's `param`)


@dataclass(frozen=True)
class Option:
    """One row of the table, read off a field declared with `option`."""

    name: str
    type: type  # of a value that is set: int, float, bool or str (object: `fits` says)
    nullable: bool
    default: Any
    help: str
    takes: frozenset[str]
    null: str = ""  # what null means, for an option that may be null
    low: float | None = None
    high: float | None = None
    above_low: bool = False  # the range is (low, high]: low itself is refused
    choices: tuple[str, ...] = ()
    must: str = ""  # what a value must be, where its type and range do not say it
    fits: Callable[[Any], bool] | None = None  # the check of a value of no simple type

    @property
    def key(self) -> str:
        """The language server's camelCase key."""
        head, *rest = self.name.split("_")
        return head + "".join(word.title() for word in rest)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        """What a value must be, in words: errors and README say the same."""
        if self.must:
            return self.must
        if self.type is bool:
            return "true or false"
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type is int:
            return f"a whole number >= {self.low}" if self.high is None else f"a whole number from {self.low} to {self.high}"
        return f"a number in {'(' if self.above_low else '['}{self.low:g}, {self.high:g}]"

    def allows(self, value: Any) -> bool:
        if self.fits is not None:
            return self.fits(value)
        if self.type is bool or isinstance(value, bool):  # a bool is an int to Python, never to a user
            return self.type is bool and isinstance(value, bool)
        if self.type is float:
            return isinstance(value, (int, float)) and self.in_range(value)
        if not isinstance(value, self.type):
            return False
        if self.choices:
            return value in self.choices
        return bool(value.strip()) if self.type is str else self.in_range(value)

    def in_range(self, value: float) -> bool:
        """Compared so that NaN is out of every range."""
        above = self.low is None or (value > self.low if self.above_low else value >= self.low)
        return above and (self.high is None or value <= self.high)

    def check(self, value: Any, spelled: str) -> Any:
        """``value`` as the option holds it (a float option's int as a float); BadOption names it ``spelled``."""
        if value is None and self.nullable:
            return None
        if not self.allows(value):
            raise BadOption(self.name, f"{spelled} must be {self.describe()}, got {value!r}")
        return float(value) if self.type is float else value

    def parse(self, text: str | bool) -> Any:
        """A flag's value (text, or a switch's bool) as the option holds it; BadOption names the flag."""
        try:
            value = self.type(text) if isinstance(text, str) and self.type in (int, float) else text
        except ValueError:
            value = text  # `check` refuses it, naming the flag
        return self.check(value, self.flag)

    def default_words(self) -> str:
        """The default as --help and README show it."""
        return self.null if self.default is None else json.dumps(self.default)


def option(default: Any, help: str, takes: tuple[str, ...], **rules: Any) -> Any:
    """A field of `Options` or `ServerOptions` that is an option: ``rules`` are `Option`'s (low, high, choices, ...)."""
    return field(default=default, metadata={"option": dict(help=help, takes=frozenset(takes), **rules)})


def is_languages(value: Any) -> bool:
    """A list of languageIds (only those on), or a map languageId -> on/off."""
    if isinstance(value, list):
        return all(isinstance(language, str) for language in value)
    return isinstance(value, dict) and all(isinstance(on, bool) for on in value.values())


def is_arena(value: Any) -> bool:
    """Arena mode's files: {"systems": PATH} and, optionally, "db": PATH."""
    return (isinstance(value, dict) and "systems" in value and set(value) <= {"systems", "db"}
            and all(isinstance(path, str) and path.strip() for path in value.values()))


@dataclass(frozen=True)
class Options:
    """What a user may set about one suggestion: how it is decoded, drafted and shown."""

    max_tokens: int = option(DEFAULT_MAX_TOKENS, "longest suggestion, in tokens", (CLI, LSP, HTTP, ARENA),
                             low=1, high=MAX_TOKENS_LIMIT)
    effort: str = option(DEFAULT_EFFORT, "fewer passes or more care", (CLI, LSP, HTTP, ARENA), choices=tuple(EFFORTS))
    threshold: float | None = option(None, "confidence threshold of parallel decoding, overriding the effort's",
                                     (CLI, LSP, HTTP, ARENA), null="the effort's", low=0, high=1, above_low=True)
    steps: int | None = option(None, "fixed schedule: passes per block, overriding the effort and threshold",
                               (CLI, LSP, HTTP, ARENA), null="off", low=1)
    context_tokens: int = option(DEFAULT_CONTEXT_TOKENS, "token budget of the code shown to the model around the cursor",
                                 (CLI, LSP, ARENA), low=1)
    refresh_every: int = option(DEFAULT_REFRESH_EVERY, "recompute the whole context cache every N passes "
                                "(1: exact decoding, 0: never)", (CLI, LSP, ARENA), low=0)
    reuse_keys: bool = option(DEFAULT_REUSE_KEYS, "start a request from the keys of the prefix it shares with a recent "
                              "one (false: a result depends on its request alone)", (CLI, LSP, ARENA))
    temperature: float = option(0.0, "0 decodes greedily (repeatable); above it samples", (COMPLETE, HTTP, ARENA),
                                low=0, high=2)
    seed: int | None = option(None, "seeds sampling", (COMPLETE, HTTP), null="unseeded", low=0, high=MAX_SEED - 1)
    lookup_drafts: int = option(DEFAULT_DRAFTS, "drafts from your own code per request (open document, other open "
                                "documents, workspace folders' files git keeps); 0: none", (CLI, LSP, ARENA), low=0)
    min_score: float = option(DEFAULT_MIN_SCORE, "show nothing unless the best candidate's estimated chance of being "
                              "right reaches this (0: any candidate that passes the checks)", (CLI, LSP, ARENA),
                              low=0, high=1)
    span: str | None = option(None, "what to fill: anything, one line, or a block body", (COMPLETE, HTTP),
                              null="the cursor's context decides; HTTP: free", choices=SPANS)

    def decoding(self, span: str, span_tokens: int | None = None) -> DenoiseSettings:
        """The denoiser's settings for a span of kind ``span`` whose first budget is ``span_tokens``."""
        from .sampler import DenoiseSettings  # the sampler, and torch, load only to decode: it reads its defaults here

        return DenoiseSettings.for_effort(self.effort, threshold=self.threshold, steps=self.steps,
                                          max_tokens=self.max_tokens, span=span, refresh_every=self.refresh_every,
                                          reuse_keys=self.reuse_keys, span_tokens=span_tokens,
                                          temperature=self.temperature, seed=self.seed)


@dataclass(frozen=True)
class ServerOptions:
    """What a user may set about the server rather than one suggestion."""

    model: str | None = option(None, "the model that suggests; the language server reloads on a change",
                               (CLI, LSP, ARENA), null="the bundled model",
                               must="a checkpoint folder, hub id or http(s)://HOST/v1 endpoint")
    threads: int | None = option(None, "torch threads of a local model on CPU; the language server reloads on a change",
                                 (LSP,), null="`serve --threads`, else the engine's default", low=1)
    edit_threshold: float = option(DEFAULT_EDIT_THRESHOLD, "next edits: suggest where a token is less likely than this "
                                   "(0: no next edits)", (EDITS, LSP), low=0, high=1)
    drafts: bool = option(False, "send `completer/draft` notifications while a suggestion is denoised", (LSP,))
    languages: list[str] | dict[str, bool] | None = option(
        None, '`["python", "rust"]` turns only those on (`"*"`: all); `{"go": false}` turns one off', (LSP,),
        null="all on", must="a list of languageIds or a map languageId -> bool", fits=is_languages)
    arena: dict[str, str] | None = option(
        None, "arena mode: two systems of the systems file (the arena's TOML) answer each request, and the one you "
        "accept is a vote kept in the database (default: arena.sqlite in your data folder)", (LSP,), null="off",
        must='{"systems": PATH, "db": PATH} (db optional)', fits=is_arena)
    arena_store_code: bool = option(False, "arena mode: keep the code around each battle in the database (off: only "
                                    "its systems, order, latencies and outcome)", (LSP,))


def rows(table: type) -> tuple[Option, ...]:
    """The table's fields as rows; the type, and whether null is allowed, come from each field's annotation."""
    hints = get_type_hints(table)
    found = []
    for f in fields(table):
        kinds = [kind for kind in get_args(hints[f.name]) or [hints[f.name]] if kind is not NoneType]
        found.append(Option(f.name, kinds[0] if len(kinds) == 1 else object, NoneType in get_args(hints[f.name]),
                            f.default, **f.metadata["option"]))
    return tuple(found)


OPTIONS = rows(Options) + rows(ServerOptions)


def pick(values: Mapping[str, Any], table: type) -> dict[str, Any]:
    """The values of ``table``'s own options among ``values`` (snake_case)."""
    names = {f.name for f in fields(table)}
    return {name: value for name, value in values.items() if name in names}


def split(values: Mapping[str, Any]) -> tuple[ServerOptions, Options]:
    """``values`` (checked, snake_case) as the server's options and one suggestion's; the rest keep their defaults."""
    return ServerOptions(**pick(values, ServerOptions)), Options(**pick(values, Options))


def read(values: Mapping[str, Any], front_end: str) -> dict[str, Any]:
    """The options ``front_end`` (LSP, HTTP, ARENA) takes among ``values``, keyed as it spells them, checked and keyed
    snake_case; keys that are not its options are not ours to judge (an OpenAI field, a client's own setting)."""
    found = {}
    for o in OPTIONS:
        key = o.key if front_end == LSP else o.name
        if front_end in o.takes and key in values:
            found[o.name] = o.check(values[key], f"completer.{key}" if front_end == LSP else key)
    return found


def add_flags(parser: argparse.ArgumentParser, *front_ends: str) -> None:
    """A flag for each option any of ``front_ends`` takes; one not given stays out of the namespace, so the table's
    default holds."""
    for o in OPTIONS:
        if o.takes & set(front_ends):
            help = f"{o.help} ({o.describe()}; default {o.default_words()})"
            if o.type is bool:
                parser.add_argument(o.flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help)
            else:
                metavar = "{" + ",".join(o.choices) + "}" if o.choices else None
                parser.add_argument(o.flag, default=argparse.SUPPRESS, metavar=metavar, help=help)


def flags(args: argparse.Namespace, *front_ends: str) -> dict[str, Any]:
    """The options of ``front_ends`` given as flags (`add_flags`), converted and checked, keyed snake_case."""
    given = vars(args)
    return {o.name: o.parse(given[o.name]) for o in OPTIONS if o.takes & set(front_ends) and o.name in given}


def markdown() -> str:
    """README's table: each option as every front end spells it, its default, the values it takes and what it does."""
    lines = ["| LSP setting | CLI flag | HTTP field | arena key | default | values | meaning |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for o in OPTIONS:
        cli = next((f"`{o.flag}`{commands}" for front_end, commands in FLAGS.items() if front_end in o.takes), "")
        cells = [f"`{o.key}`" if LSP in o.takes else "", cli, f"`{o.name}`" if HTTP in o.takes else "",
                 f"`{o.name}`" if ARENA in o.takes else "", "`null`" if o.default is None else f"`{o.default_words()}`",
                 o.describe() + (", or null" if o.nullable else ""), o.help + (f"; null: {o.null}" if o.nullable else "")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m completer.options", description="Print README's table of options.")
    parser.add_argument("--markdown", action="store_true", required=True, help="as a Markdown table")
    parser.parse_args(argv)
    print(markdown())


if __name__ == "__main__":
    main()
