import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from completer.errors import BadInput
from evals.arena.server import create_app
from evals.arena.store import ArenaStore
from evals.arena.systems import Generation
from evals.arena.tasks import ArenaTask

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-quic"]


def seeded_store(path: Path, pending: int) -> ArenaStore:
    """`pending` battles waiting for a human, each on its own task, plus one already judged."""
    store = ArenaStore(path)
    tasks = [
        ArenaTask(f"t{i}", f"file{i}.py", "python", f"def f{i}(x):\n    return ", "\n", f"x + {i}", "rest-of-line")
        for i in range(pending + 1)
    ]
    store.add_tasks(tasks)
    for task in tasks:
        store.add_completion("left-sys", task.id, Generation(f"x + {task.id} # from left", 10.0, 2))
        store.add_completion("right-sys", task.id, Generation(f"x * {task.id} # from right", 20.0, 4))
    store.add_battle(tasks[0].id, "left-sys", "right-sys", "top", "similarity")
    for task in tasks[1:]:
        store.add_battle(task.id, "left-sys", "right-sys", winner=None, judge=None)
    return store


def winners(path: Path) -> list[tuple[int, str | None, str | None]]:
    """Read straight from the file, as a fresh process would."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, winner, judge FROM battles ORDER BY id").fetchall()


@contextmanager
def running_server(db: Path) -> Iterator[str]:
    """A real uvicorn server on a free 127.0.0.1 port, stopped on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(ArenaStore(db)), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_vote_round_trip_is_stored_and_reveals_the_systems(tmp_path: Path):
    db = tmp_path / "arena.sqlite"
    seeded_store(db, pending=2)
    with running_server(db) as url:
        page = httpx.get(url + "/")
        assert page.status_code == 200 and "Which completion is better?" in page.text
        battle = httpx.get(url + "/api/next").json()
        assert battle["remaining"] == 2 and battle["file"] == "file1.py"
        assert battle["completions"] == ["x + t1 # from left", "x * t1 # from right"]
        assert "left-sys" not in str(battle)  # blind until the vote is in
        reply = httpx.post(url + "/api/vote", json={"battle_id": battle["battle_id"], "choice": "2"})
        assert reply.status_code == 200
        assert reply.json() == {"battle_id": battle["battle_id"], "winner": "bottom", "top": "left-sys",
                                "bottom": "right-sys"}
        assert winners(db)[1] == (battle["battle_id"], "bottom", "human")  # committed before the reply
        assert httpx.get(url + "/api/next").json()["file"] == "file2.py"


def test_bad_votes_get_clear_errors_and_the_server_keeps_serving(tmp_path: Path):
    db = tmp_path / "arena.sqlite"
    seeded_store(db, pending=1)
    with running_server(db) as url:
        judged_id, pending_id = winners(db)[0][0], winners(db)[1][0]
        bad_choice = httpx.post(url + "/api/vote", json={"battle_id": pending_id, "choice": "3"})
        assert bad_choice.status_code == 400 and "choice must be one of" in bad_choice.json()["detail"]
        missing = httpx.post(url + "/api/vote", json={"battle_id": 999, "choice": "1"})
        assert missing.status_code == 404
        twice = httpx.post(url + "/api/vote", json={"battle_id": judged_id, "choice": "1"})
        assert twice.status_code == 409 and "already judged" in twice.json()["detail"]
        malformed = httpx.post(url + "/api/vote", content=b"not json", headers={"Content-Type": "application/json"})
        assert malformed.status_code == 422
        assert httpx.post(url + "/api/vote", json={"battle_id": pending_id, "choice": "t"}).status_code == 200
        assert httpx.get(url + "/api/next").json() == {"done": True, "remaining": 0}
    assert [w[1] for w in winners(db)] == ["top", "tie"]


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path):
    notes = tmp_path / "notes.txt"
    notes.write_text("these are my notes, not a database" * 100)
    with pytest.raises(BadInput, match="not an arena database"):
        ArenaStore(notes)
    assert notes.read_text().startswith("these are my notes")


def test_votes_survive_a_server_restart_on_the_same_db(tmp_path: Path):
    db = tmp_path / "arena.sqlite"
    seeded_store(db, pending=2)
    with running_server(db) as url:
        first = httpx.get(url + "/api/next").json()["battle_id"]
        assert httpx.post(url + "/api/vote", json={"battle_id": first, "choice": "1"}).status_code == 200
    with running_server(db) as url:
        battle = httpx.get(url + "/api/next").json()
        assert battle["battle_id"] != first and battle["remaining"] == 1
        assert httpx.post(url + "/api/vote", json={"battle_id": first, "choice": "2"}).status_code == 409
        assert httpx.post(url + "/api/vote", json={"battle_id": battle["battle_id"], "choice": "s"}).status_code == 200
    assert [w[1:] for w in winners(db)] == [("top", "similarity"), ("top", "human"), ("skip", "human")]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's /usr/bin/chromium: apt-get install -y chromium")
def test_vote_page_in_headless_chromium_stores_keyboard_votes(tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    db = tmp_path / "arena.sqlite"
    seeded_store(db, pending=3)
    with running_server(db) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url + "/")
        expect(page.locator("#side-1 mark")).to_have_text("x + t1 # from left")
        expect(page.locator("#side-2 mark")).to_have_text("x * t1 # from right")
        expect(page.locator("#side-1")).to_contain_text("def f1(x):")
        for key, next_file in (("1", "file2.py"), ("t", "file3.py")):
            page.keyboard.press(key)
            expect(page.locator("#where")).to_contain_text(next_file)
        expect(page.locator("#status")).to_contain_text("1 was left-sys, 2 was right-sys")
        page.keyboard.press("s")
        expect(page.locator("#side-1")).to_have_text("All battles are judged.")
        browser.close()
    assert [w[1:] for w in winners(db)] == [("top", "similarity"), ("top", "human"), ("tie", "human"),
                                            ("skip", "human")]
