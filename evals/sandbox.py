"""Run an untrusted Python program in a throwaway Linux-namespace sandbox.

Model completions are arbitrary code, and a guard inside the interpreter it guards cannot hold: a
program can patch the guard's helpers, clear its state, race it, or load native code that raises
no audit events. So each program runs under bubblewrap, where the kernel draws the line:

- its own user, PID, network, IPC, UTS and cgroup namespaces: uid 65534 with every capability
  dropped and no further user namespaces; no network but a loopback of its own; every process it
  starts dies with the sandbox, and nothing outside it can be seen or signalled;
- a read-only view of only what Python needs (/usr, the system libraries, the interpreter's home),
  and a private tmpfs (64 MiB) as its working directory and the only writable place;
- a seccomp filter (`evals.seccomp`) that lets it start threads but no processes, and kernel limits
  on its address space and CPU time (`sandbox_child.py`): all three bind root, which RLIMIT_NPROC
  does not, so one process holds at most `Limits.memory_bytes` whatever the program does;
- die-with-parent, a wall-clock timeout, and the audit-hook guard of `sandbox_child.py` as a
  second layer.

The verdict is the child's exit status, which bubblewrap reads from outside: a pass is the one exit
code the harness gives only after the program ran to its end; no file, pipe or output the program
can write decides it. Where bubblewrap is missing or cannot create namespaces, the program runs
under the second layer alone, with a warning: that guards against accidents, not against a program
that sets out to escape.
"""

import logging
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO

from evals.sandbox_child import PASSED_EXIT
from evals.seccomp import no_new_processes

log = logging.getLogger(__name__)

CHILD_SCRIPT = Path(__file__).with_name("sandbox_child.py")
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/libx32")
UNPRIVILEGED = "65534"  # nobody
WORKDIR = "/sandbox"


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 3.0
    cpu_seconds: int | None = None  # CPU time (RLIMIT_CPU); None: the timeout rounded up, plus 1
    memory_bytes: int = 2 * 1024**3  # address space (RLIMIT_AS): a sorted list of 10^7 ints still fits
    file_bytes: int = 16 * 1024**2  # largest file the program (or its output) may write
    workdir_bytes: int = 64 * 1024**2  # the tmpfs that is the only writable place
    output_chars: int = 10_000  # how much of stdout/stderr we keep


@dataclass(frozen=True)
class RunResult:
    passed: bool  # the program ran to its end without raising
    timed_out: bool
    error: str  # "AssertionError: ..." or how the process died; "" when passed
    stdout: str
    stderr: str


def run_python(source: str, limits: Limits = Limits()) -> RunResult:
    """Execute `source` as a Python program in the sandbox and say how it ended."""
    with tempfile.TemporaryDirectory(prefix="sandbox-") as host_dir, tempfile.TemporaryFile() as program, \
            tempfile.TemporaryFile() as seccomp, tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        program.write(source.encode("utf-8", "surrogatepass"))
        program.seek(0)
        reports_read, reports_write = os.pipe()
        with os.fdopen(reports_read, "rb") as reports:
            try:
                cpu_seconds = limits.cpu_seconds or math.ceil(limits.timeout_s) + 1
                child_args = [str(reports_write), str(cpu_seconds), str(limits.memory_bytes), str(limits.file_bytes)]
                if bubblewrap_problem() is None:
                    inner = ["-I", "-S", "-B", "/harness/sandbox_child.py", f"{WORKDIR}/program.py", *child_args]
                    command, cwd = namespaced(program.fileno(), seccomp, inner, limits), None
                else:
                    Path(host_dir, "program.py").write_bytes(program.read())
                    command, cwd = guarded(str(Path(host_dir, "program.py")), child_args), host_dir
                process = subprocess.Popen(
                    command, cwd=cwd,
                    env={"PATH": "/usr/bin:/bin", "HOME": host_dir, "TMPDIR": host_dir, "LANG": "C.UTF-8"},
                    stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                    pass_fds=(reports_write, program.fileno(), seccomp.fileno()), start_new_session=True,
                )
            finally:
                os.close(reports_write)  # the child has its own copy
            timed_out = wait_or_kill(process, limits.timeout_s)
            report = read_available(reports.fileno())
        passed = process.returncode == PASSED_EXIT
        if passed:
            error = ""
        elif timed_out:
            error = "timed out"
        else:  # what the program said about its failure: words only, never the verdict
            error = report.rpartition("failed: ")[2] if "failed: " in report else exit_description(process.returncode)
        return RunResult(
            passed=passed,
            timed_out=timed_out and not passed,
            error=error,
            stdout=read_truncated(stdout, limits.output_chars),
            stderr=read_truncated(stderr, limits.output_chars),
        )


def python_dirs() -> list[str]:
    """What the interpreter needs besides the system: its home (stdlib, lib-dynload) and its binary's folder."""
    executable = os.path.realpath(sys.executable)
    dirs = {os.path.realpath(sys.base_prefix), os.path.dirname(executable)}
    return sorted(d for d in dirs if not any(d == s or d.startswith(s + "/") for s in SYSTEM_DIRS))


def namespaced(program_fd: int, seccomp: BinaryIO, python_args: list[str], limits: Limits) -> list[str]:
    """The bubblewrap command that runs the interpreter with `python_args`, the program (read from
    `program_fd`) at /sandbox/program.py and sandbox_child.py at /harness/sandbox_child.py.

    `seccomp`: an empty file the filter is written to, for bubblewrap to read from its descriptor.
    """
    if (program := no_new_processes()) is not None:
        seccomp.write(program)
        seccomp.seek(0)
        filtered = ["--seccomp", str(seccomp.fileno())]
    else:
        filtered = []
        warn_unfiltered()
    view: list[str] = []
    for top in SYSTEM_DIRS:
        if os.path.islink(top):
            view += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            view += ["--ro-bind", top, top]
    for folder in python_dirs():
        view += ["--ro-bind", folder, folder]
    if os.path.exists("/etc/ld.so.cache"):
        view += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return [
        shutil.which("bwrap") or "bwrap",
        "--unshare-all", "--unshare-user", "--disable-userns", "--uid", UNPRIVILEGED, "--gid", UNPRIVILEGED,
        "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", "sandbox", *filtered,
        *view,
        "--ro-bind", str(CHILD_SCRIPT), "/harness/sandbox_child.py",
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(limits.workdir_bytes), "--tmpfs", WORKDIR,
        "--ro-bind-data", str(program_fd), f"{WORKDIR}/program.py",
        "--remount-ro", "/", "--chdir", WORKDIR, "--clearenv",
        "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", WORKDIR, "--setenv", "TMPDIR", WORKDIR, "--setenv", "LANG", "C.UTF-8",
        "--", os.path.realpath(sys.executable), *python_args,
    ]


def guarded(program_file: str, child_args: list[str]) -> list[str]:
    """The fallback: sandbox_child.py's limits and guard alone, in a host temporary directory."""
    return [sys.executable, "-I", "-S", "-B", str(CHILD_SCRIPT), program_file, *child_args]


@cache
def bubblewrap_problem() -> str | None:
    """Why programs cannot run under bubblewrap here (warned once), or None when they can."""
    problem = None
    if shutil.which("bwrap") is None:
        problem = "bubblewrap is not installed (apt-get install bubblewrap)"
    else:
        with tempfile.TemporaryFile() as empty, tempfile.TemporaryFile() as seccomp:
            probe = namespaced(empty.fileno(), seccomp, ["-I", "-S", "-c", "pass"], Limits())
            try:
                result = subprocess.run(probe, pass_fds=(empty.fileno(), seccomp.fileno()), capture_output=True, timeout=30)
                if result.returncode != 0:
                    problem = f"bubblewrap cannot make a sandbox here: {result.stderr.decode(errors='replace').strip()}"
            except (OSError, subprocess.TimeoutExpired) as error:
                problem = f"bubblewrap cannot make a sandbox here: {error}"
    if problem:
        log.warning("%s. Evaluated code runs under the in-process guard alone, which stops accidents, "
                    "not a program that sets out to escape.", problem)
    return problem


@cache
def warn_unfiltered() -> None:
    log.warning("no seccomp filter for %s: a program that switches the guard off can start processes, "
                "and as root no process limit binds", platform.machine())


def wait_or_kill(process: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for the child; on timeout kill its whole process group. True if it timed out."""
    try:
        process.wait(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    try:  # also reaps anything the program left behind in its session (bubblewrap: its PID namespace dies)
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
    return timed_out


def read_available(fd: int) -> str:
    """What the child reported, without blocking if it reported nothing."""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 4096).decode("utf-8", "replace")
    except BlockingIOError:
        return ""


def exit_description(returncode: int) -> str:
    """Popen's negative codes and bubblewrap's 128 + signal both mean a signal killed the program."""
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else None
    try:
        return f"killed by {signal.Signals(number).name}"
    except ValueError:
        return f"exited with code {returncode} before finishing"


def read_truncated(file, limit: int) -> str:
    file.seek(0)
    text = file.read(limit + 1).decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "\n[output truncated]"
