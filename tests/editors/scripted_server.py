"""The real language server with a scripted model, so editor tests judge the plugins, not a model's guesses.

Everything a plugin talks to is the product: pygls, the handlers, ranges, post-processing, the
cache, cancellation and `completer/draft` notifications. Only the model is replaced: it answers
from a JSON script instead of a checkpoint, with the scheduler's face (submit -> Job).

    python -m tests.editors.scripted_server SCRIPT.json

The script: {"start_delay_ms": 0, "exit_at_start": false, "options": {...}, "rules": [RULE, ...]}, where
"options" (optional) are the server's defaults under what the client sets (`completer.options.Options`,
snake_case; "lookup_drafts": 0 lets the rules alone say what is shown, as the editor tests want), and
a RULE is {"after": "text the prefix ends with", "text": "the infill", "drafts": ["...", ...], "pause_ms": 0}.
The first rule whose `after` ends the prefix answers: each draft is handed to the server's draft
callback `pause_ms` apart, then `text` is returned, with `{effort}` and `{max_tokens}` replaced by what
the request was decoded with (so a test sees an editor's setting arrive, or the server's default
where the editor sent none). No rule: an empty infill.
`"unlikely": ["word", ...]` scores those words (whole words) as all but impossible and every other
token as likely, so a next edit re-masks them and the rules say what it writes there. Ranking
candidates (`lsp.candidates`), the model is sure of the texts it gave for that prefix (post-processing
aside) and of nothing else, so what a rule says is what is shown.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from completer.scheduler import Completion
from completer.errors import Cancelled
from completer.likelihood import TokenScore
from completer.sampler import DenoiseSettings
from completer.scheduler import Job


@dataclass
class ScriptedModel:
    rules: list[dict]
    unlikely: list[str] = field(default_factory=list)
    name: str = "scripted"
    can_score: bool = True
    special_texts: tuple[str, ...] = ("<|mask|>",)
    answered: dict[str, set[str]] = field(default_factory=dict)  # prefix -> the texts it gave there: what it is sure of

    def count_tokens(self, text: str) -> int:
        return len(text) // 4 + 1

    def tokens(self, text: str) -> None:
        return None  # a script has no tokenizer: it reads the text, as a remote model does

    def context_budget(self, max_tokens: int, wanted: int | None = None) -> int:
        return wanted or 1024

    def submit(self, prefix: str, suffix: str, settings: DenoiseSettings, on_draft: Callable[[str], None] | None = None,
               should_stop: Callable[[], bool] | None = None, hint: str | None = None, tokens=None) -> Job:
        job = Job(should_stop)
        threading.Thread(target=self.run, args=(job, prefix, settings, on_draft), daemon=True).start()
        return job

    def run(self, job: Job, prefix: str, settings: DenoiseSettings, on_draft: Callable[[str], None] | None) -> None:
        rule = next((r for r in self.rules if prefix.endswith(r["after"])), None)
        if rule is None:
            job.resolve(Completion("", {"forward_passes": 1}))
            return
        for draft in rule.get("drafts", []) + [None]:
            time.sleep(rule.get("pause_ms", 0) / 1000)
            if job.stopped():
                job.fail(Cancelled("superseded by a newer request"))
                return
            if draft is not None and on_draft is not None:
                on_draft(draft)
        text = rule["text"].replace("{effort}", settings.effort).replace("{max_tokens}", str(settings.max_tokens))
        self.answered.setdefault(prefix, set()).add(text)  # an arena's two systems may each give one
        job.resolve(Completion(text, {"forward_passes": len(rule.get("drafts", [])) + 1}))

    def score(self, prefix: str, region: str, suffix: str, tokens=None) -> Future[list[TokenScore]]:
        future: Future[list[TokenScore]] = Future()
        future.set_result([TokenScore(m.start(), m.end(), 1e-6 if m.group() in self.unlikely else 0.9)
                           for m in re.finditer(r"\w+|\s+|[^\w\s]+", region)])
        return future

    def rank(self, prefix: str, candidates: list[str], suffix: str, tokens=None) -> Future[list[float]]:
        future: Future[list[float]] = Future()
        answered = self.answered.get(prefix, set())
        future.set_result([0.0 if any(said(c, text) for text in answered) else -math.inf for c in candidates])
        return future

    def close(self) -> None:
        pass


def said(candidate: str, text: str) -> bool:
    """Whether a post-processed candidate is a text the model gave: the same up to a line end or closers."""
    candidate, text = candidate.strip(), text.strip()
    short, long = sorted((candidate, text), key=len)
    rest = long[len(short):]
    return bool(short) and long.startswith(short) and (rest.startswith("\n") or not any(ch.isalnum() for ch in rest))


def main() -> None:
    script = json.loads(Path(sys.argv[1]).read_text())
    if script.get("exit_at_start"):
        sys.exit(3)
    time.sleep(script.get("start_delay_ms", 0) / 1000)
    import lsp.service
    import lsp.server
    from lsp.server import serve
    from completer.options import Options
    from lsp.settings import Settings

    model = ScriptedModel(script.get("rules", []), script.get("unlikely", []))
    lsp.service.open_model = lambda spec=None, threads=None: model  # the one seam: no checkpoint to load
    if "options" in script:  # the server's defaults, under what the client sets (`serve` makes the settings)
        lsp.server.Settings = functools.partial(Settings, options=Options(**script["options"]))
    serve("stdio")


if __name__ == "__main__":
    main()
