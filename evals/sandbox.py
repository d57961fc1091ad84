"""Run an untrusted Python program in a limited child process.

Model completions are arbitrary code. Each run gets a fresh temporary working directory
(deleted afterwards), a scrubbed environment, no stdin, a wall-clock timeout that kills the
whole process group, kernel resource limits and an audit-hook guard (see sandbox_child.py)
that refuses process creation and filesystem changes outside the working directory.
It is a guard against accidents, not a security boundary against a determined attacker.
"""

import math
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHILD_SCRIPT = Path(__file__).with_name("sandbox_child.py")


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 3.0
    memory_bytes: int = 2 * 1024**3  # address space: a sorted list of 10^7 ints still fits
    file_bytes: int = 16 * 1024**2  # largest file the program (or its output) may write
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
    with tempfile.TemporaryDirectory(prefix="sandbox-") as workdir, \
            tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        program_file = Path(workdir, "program.py")
        program_file.write_text(source, encoding="utf-8")
        result_read, result_write = os.pipe()
        with os.fdopen(result_read, "rb") as reports:
            try:
                process = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-B", str(CHILD_SCRIPT), str(program_file),
                     str(result_write), str(math.ceil(limits.timeout_s) + 1),
                     str(limits.memory_bytes), str(limits.file_bytes)],
                    cwd=workdir,
                    env={"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"},
                    stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                    pass_fds=(result_write,), start_new_session=True,
                )
            finally:
                os.close(result_write)  # the child has its own copy
            timed_out = wait_or_kill(process, limits.timeout_s)
            outcome = read_available(reports.fileno())
        # A reported outcome stands even if the process then hung on its way out.
        if outcome == "passed":
            error = ""
        elif outcome:
            error = outcome.removeprefix("failed: ")
        else:
            error = "timed out" if timed_out else exit_description(process.returncode)
        return RunResult(
            passed=outcome == "passed",
            timed_out=timed_out and not outcome,
            error=error,
            stdout=read_truncated(stdout, limits.output_chars),
            stderr=read_truncated(stderr, limits.output_chars),
        )


def wait_or_kill(process: subprocess.Popen, timeout_s: float) -> bool:
    """Wait for the child; on timeout kill its whole process group. True if it timed out."""
    try:
        process.wait(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    try:  # also reaps anything the program left behind in its session
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
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode} before finishing"


def read_truncated(file, limit: int) -> str:
    file.seek(0)
    text = file.read(limit + 1).decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "\n[output truncated]"
