"""The sandbox's limits bind whoever runs it, root included (CI runs as root), with the guard switched off.

One test per limit: memory (RLIMIT_AS, which a program cannot raise), processes (the seccomp filter:
root is exempt from RLIMIT_NPROC), CPU time (RLIMIT_CPU, its warning signal ignored).
"""

import platform
import textwrap

import pytest

from evals.sandbox import Limits, bubblewrap_problem, run_python
from tests.evals.test_sandbox_escapes import GUARD_OFF

pytestmark = pytest.mark.skipif(bubblewrap_problem() is not None, reason=f"needs bubblewrap: {bubblewrap_problem()}")


def test_a_50_gb_allocation_fails_inside_and_the_limit_cannot_be_raised():
    program = GUARD_OFF + textwrap.dedent("""
        import resource
        try:
            resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        except (ValueError, OSError):
            pass
        else:
            raise AssertionError("raised its own memory limit")
        try:
            block = bytearray(50 * 10**9)
        except MemoryError:
            pass
        else:
            raise AssertionError("allocated 50 GB")
    """)
    run = run_python(program, Limits(timeout_s=20))
    assert run.passed, run.error + run.stderr


def test_no_process_can_be_started_but_threads_can():
    program = GUARD_OFF + textwrap.dedent("""
        import os, subprocess, threading
        for start in (os.fork, lambda: os.posix_spawn("/bin/true", ["true"], {}), lambda: subprocess.run(["/bin/true"])):
            try:
                start()
            except PermissionError:
                pass
            else:
                os._exit(3)  # a child must not get this far either
        results = []
        threads = [threading.Thread(target=results.append, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == list(range(8))
    """)
    run = run_python(program, Limits(timeout_s=20))
    assert run.passed, run.error + run.stderr


@pytest.mark.skipif(platform.machine() != "x86_64", reason="raw x86-64 syscall numbers")
def test_raw_clone_fork_and_x32_syscalls_from_native_code_are_refused():
    program = GUARD_OFF + textwrap.dedent("""
        import ctypes, errno, signal
        libc = ctypes.CDLL(None, use_errno=True)
        for number, args in ((57, ()), (58, ()), (56, (signal.SIGCHLD, 0, 0, 0, 0)), (57 | 0x40000000, ())):
            assert libc.syscall(number, *args) == -1 and ctypes.get_errno() == errno.EPERM, number
        assert libc.syscall(435, 0, 0) == -1 and ctypes.get_errno() == errno.ENOSYS  # clone3: glibc falls back to clone
    """)
    run = run_python(program, Limits(timeout_s=20))
    assert run.passed, run.error + run.stderr


def test_a_program_that_ignores_its_cpu_warning_is_killed_at_its_cpu_limit_not_its_timeout():
    program = "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass\n"
    run = run_python(program, Limits(timeout_s=60, cpu_seconds=1))
    assert not run.passed and not run.timed_out and run.error == "killed by SIGKILL"
