"""Human judging: a local web page that shows two completions in their context, side by side.

Keys: 1 = left (top) is better, 2 = right (bottom) is better, t = tie, s = skip.
System names stay hidden until the vote is stored (blind judging); every vote is
committed to SQLite before the reply, so closing the tab or the server loses nothing.
"""

import uvicorn
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from evals.arena.store import ArenaStore

CHOICES = {"1": "top", "2": "bottom", "t": "tie", "s": "skip"}
CONTEXT_LINES_BEFORE = 40
CONTEXT_LINES_AFTER = 15

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>completer arena: vote</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1rem 2rem; background: #fafafa; }
  #columns { display: flex; gap: 1rem; }
  .side { flex: 1; min-width: 0; }
  pre { background: #fff; border: 1px solid #ccc; padding: .5rem; overflow-x: auto; font-size: 13px; }
  .context { color: #777; }
  mark { background: #d8f5d0; color: #000; }
  .empty { background: #f5d0d0; }
  kbd { border: 1px solid #999; border-radius: 3px; padding: 0 .3rem; background: #fff; }
  #status { min-height: 1.5rem; color: #333; }
</style>
</head>
<body>
<h1>Which completion is better?</h1>
<p>Press <kbd>1</kbd> left, <kbd>2</kbd> right, <kbd>t</kbd> tie, <kbd>s</kbd> skip.
   <span id="where"></span> &middot; <span id="remaining"></span></p>
<p id="status"></p>
<div id="columns">
  <div class="side"><h2>1</h2><pre id="side-1"></pre></div>
  <div class="side"><h2>2</h2><pre id="side-2"></pre></div>
</div>
<script>
let battle = null;
let busy = false;

function render(pre, data, completion, suffix) {
  pre.replaceChildren();
  const before = document.createElement("span");
  before.className = "context";
  before.textContent = data.prefix;
  const middle = document.createElement("mark");
  middle.textContent = completion;
  if (completion === "") { middle.className = "empty"; middle.textContent = "(empty)"; }
  const after = document.createElement("span");
  after.className = "context";
  after.textContent = suffix;
  pre.append(before, middle, after);
}

async function loadNext() {
  const response = await fetch("/api/next");
  const data = await response.json();
  document.getElementById("remaining").textContent = data.remaining + " left";
  if (data.done) {
    battle = null;
    document.getElementById("where").textContent = "";
    document.getElementById("side-1").textContent = "All battles are judged.";
    document.getElementById("side-2").textContent = "";
    return;
  }
  battle = data;
  document.getElementById("where").textContent = data.file + " (" + data.kind + ")";
  render(document.getElementById("side-1"), data, data.completions[0], data.suffixes[0]);
  render(document.getElementById("side-2"), data, data.completions[1], data.suffixes[1]);
}

async function vote(choice) {
  if (battle === null || busy) return;
  busy = true;
  try {
    const response = await fetch("/api/vote", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({battle_id: battle.battle_id, choice: choice}),
    });
    const data = await response.json();
    const status = document.getElementById("status");
    if (!response.ok) {
      status.textContent = "Not stored: " + data.detail;
    } else {
      status.textContent = "Stored '" + data.winner + "'. 1 was " + data.top + ", 2 was " + data.bottom + ".";
    }
    await loadNext();
  } finally {
    busy = false;
  }
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (["1", "2", "t", "s"].includes(event.key)) vote(event.key);
});
loadNext();
</script>
</body>
</html>
"""


class Vote(BaseModel):
    battle_id: int
    choice: str


def _tail_lines(text: str, count: int) -> str:
    return "".join(text.splitlines(keepends=True)[-count:])


def _head_lines(text: str, count: int) -> str:
    return "".join(text.splitlines(keepends=True)[:count])


def create_app(store: ArenaStore) -> FastAPI:
    app = FastAPI(title="completer arena")

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.get("/api/next")
    def next_battle() -> dict:
        remaining = store.pending_count()
        battle = store.next_pending()
        if battle is None:
            return {"done": True, "remaining": 0}
        task = store.task(battle.task_id)
        completions = [store.completion(system, task.id) for system in (battle.top, battle.bottom)]
        return {
            "done": False,
            "remaining": remaining,
            "battle_id": battle.id,
            "file": task.file,
            "kind": task.kind,
            "prefix": _tail_lines(task.prefix, CONTEXT_LINES_BEFORE),
            "suffix": _head_lines(task.suffix, CONTEXT_LINES_AFTER),
            "completions": ["" if c is None else c.text for c in completions],
            # what follows each suggestion once accepted: it may replace closers right of the cursor
            "suffixes": [_head_lines(task.suffix[c.replace if c else 0:], CONTEXT_LINES_AFTER) for c in completions],
        }

    @app.post("/api/vote")
    def vote(body: Vote) -> dict:
        winner = CHOICES.get(body.choice)
        if winner is None:
            raise HTTPException(400, f"choice must be one of {sorted(CHOICES)}, got {body.choice!r}")
        battle = store.battle(body.battle_id)
        if battle is None:
            raise HTTPException(404, f"no battle {body.battle_id}")
        if not store.record_vote(body.battle_id, winner):
            raise HTTPException(409, f"battle {body.battle_id} was already judged ({battle.winner})")
        return {"battle_id": battle.id, "winner": winner, "top": battle.top, "bottom": battle.bottom}

    return app


def serve(store: ArenaStore, host: str, port: int) -> None:
    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")
