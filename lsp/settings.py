"""User settings (section `completer`), from initializationOptions or workspace/didChangeConfiguration."""

from dataclasses import dataclass, field, replace
from typing import Any

from completer.sampler import DEFAULT_EFFORT, DEFAULT_MAX_TOKENS, DEFAULT_REFRESH_EVERY, DEFAULT_REUSE_KEYS, EFFORTS
from lsp.candidates import DEFAULT_MIN_SCORE
from lsp.drafts import DEFAULT_DRAFTS
from lsp.edits import DEFAULT_EDIT_THRESHOLD
from lsp.pipeline import DEFAULT_CONTEXT_TOKENS, Options


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # None: the bundled model; http(s)://HOST/v1: a remote endpoint
    max_tokens: int = DEFAULT_MAX_TOKENS  # longest suggestion, in tokens
    effort: str = DEFAULT_EFFORT  # low | medium | high: fewer passes or more care
    threshold: float | None = None  # confidence threshold of parallel decoding; None: the effort's
    steps: int | None = None  # fixed schedule: passes per block, overriding effort and threshold; None: off
    context_tokens: int = DEFAULT_CONTEXT_TOKENS  # prefix + suffix window budget
    refresh_every: int = DEFAULT_REFRESH_EVERY  # recompute the context cache every N passes; 1 exact, 0 never
    reuse_keys: bool = DEFAULT_REUSE_KEYS  # copy the keys of a prefix a recent request shared
    languages: dict[str, bool] = field(default_factory=dict)  # languageId -> on/off
    listed_only: bool = False  # True when `languages` came as a list: unlisted ids are off
    drafts: bool = False  # send `completer/draft` notifications; off unless the client says it shows them
    threads: int | None = None  # torch threads of a local model on CPU; None: the engine's default
    edit_threshold: float = DEFAULT_EDIT_THRESHOLD  # next edits: a token less likely than this may be rewritten
    lookup_drafts: int = DEFAULT_DRAFTS  # drafts from the user's code per request (`lsp.drafts`); 0: none
    min_score: float = DEFAULT_MIN_SCORE  # show nothing when the best candidate's score is below this

    def options(self) -> Options:
        return Options(max_tokens=self.max_tokens, effort=self.effort, threshold=self.threshold, steps=self.steps,
                       context_tokens=self.context_tokens, refresh_every=self.refresh_every,
                       reuse_keys=self.reuse_keys, lookup_drafts=self.lookup_drafts, min_score=self.min_score)

    def enabled(self, language_id: str) -> bool:
        return self.languages.get(language_id, not self.listed_only)

    def updated(self, options: dict[str, Any]) -> "Settings":
        """A copy with `options` (camelCase keys, as editors send them) applied; ValueError names the bad key."""
        changes: dict[str, Any] = {}
        if "model" in options:
            model = options["model"]
            if model is not None and not (isinstance(model, str) and model.strip()):
                raise ValueError(f"completer.model must be a checkpoint path or hub id, got {model!r}")
            changes["model"] = model
        if "maxTokens" in options:
            changes["max_tokens"] = positive_int("maxTokens", options["maxTokens"])
        if "contextTokens" in options:
            changes["context_tokens"] = positive_int("contextTokens", options["contextTokens"])
        if "refreshEvery" in options:
            changes["refresh_every"] = whole("refreshEvery", options["refreshEvery"], "passes", "never")
        if "effort" in options:
            if options["effort"] not in EFFORTS:
                raise ValueError(f"completer.effort must be one of {', '.join(EFFORTS)}, got {options['effort']!r}")
            changes["effort"] = options["effort"]
        if "threshold" in options:
            threshold = options["threshold"]
            if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold <= 1):
                raise ValueError(f"completer.threshold must be a number in (0, 1] or null (the effort's), got {threshold!r}")
            changes["threshold"] = threshold
        if "editThreshold" in options:
            changes["edit_threshold"] = unit_interval("editThreshold", options["editThreshold"], "a probability", "no next edits")
        if "lookupDrafts" in options:
            changes["lookup_drafts"] = whole("lookupDrafts", options["lookupDrafts"], "drafts", "none")
        if "minScore" in options:
            changes["min_score"] = unit_interval("minScore", options["minScore"], "a number",
                                                 "show any candidate that passes the checks")
        if "steps" in options:
            changes["steps"] = None if options["steps"] is None else positive_int("steps", options["steps"])
        if "threads" in options:
            changes["threads"] = None if options["threads"] is None else positive_int("threads", options["threads"])
        if "drafts" in options:
            changes["drafts"] = boolean("drafts", options["drafts"])
        if "reuseKeys" in options:
            changes["reuse_keys"] = boolean("reuseKeys", options["reuseKeys"])
        if "languages" in options:
            languages = options["languages"]
            if isinstance(languages, list) and all(isinstance(x, str) for x in languages):
                changes["languages"], changes["listed_only"] = {x: True for x in languages}, True
            elif isinstance(languages, dict) and all(isinstance(v, bool) for v in languages.values()):
                changes["languages"], changes["listed_only"] = dict(languages), False
            else:
                raise ValueError(f"completer.languages must be a list of languageIds or a map languageId -> bool, got {languages!r}")
        return replace(self, **changes)


def whole(name: str, value: Any, unit: str, zero: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"completer.{name} must be a whole number of {unit} >= 0 (0: {zero}), got {value!r}")
    return value


def unit_interval(name: str, value: Any, what: str, zero: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"completer.{name} must be {what} in [0, 1] (0: {zero}), got {value!r}")
    return float(value)


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"completer.{name} must be true or false, got {value!r}")
    return value


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"completer.{name} must be a positive integer, got {value!r}")
    return value
