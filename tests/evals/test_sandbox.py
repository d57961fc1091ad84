"""The sandbox runs ordinary programs faithfully and contains runaway ones; its in-process guard on its own.

Hostile programs against the namespace boundary: test_sandbox_escapes.py.
"""

import logging
import os
import textwrap

import pytest

from evals import sandbox
from evals.sandbox import Limits, run_python

QUICK = Limits(timeout_s=1.0)


@pytest.fixture
def guard_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fallback: the guard is all there is, so these tests pin what the guard itself refuses."""
    monkeypatch.setattr(sandbox, "bubblewrap_problem", lambda: "testing the guard alone")


def test_program_that_runs_to_its_end_passes_with_output_captured():
    run = run_python("import math\nprint(math.factorial(5))\n")
    assert run.passed and not run.timed_out and run.error == ""
    assert run.stdout == "120\n"


def test_exception_is_reported_with_type_and_message():
    run = run_python("assert 1 == 2, 'one is not two'\n")
    assert not run.passed
    assert run.error == "AssertionError: one is not two"


def test_program_that_exits_early_does_not_pass():
    assert run_python("import sys\nsys.exit(0)\n").error == "SystemExit: 0"
    hard_exit = run_python("import os\nos._exit(0)\n")
    assert not hard_exit.passed and "before finishing" in hard_exit.error


def test_infinite_loop_times_out_and_the_next_run_still_works():
    run = run_python("while True:\n    pass\n", QUICK)
    assert run.timed_out and not run.passed and run.error == "timed out"
    assert run_python("print('next')\n", QUICK).passed


@pytest.mark.usefixtures("guard_only")
def test_fork_bomb_is_refused():
    run = run_python("import os\nwhile True:\n    os.fork()\n", QUICK)
    assert not run.passed and not run.timed_out
    assert "os.fork is not allowed" in run.error


@pytest.mark.usefixtures("guard_only")
def test_fork_through_the_low_level_subprocess_module_is_refused():
    """_posixsubprocess forks without raising an audit event, so importing it is refused."""
    run = run_python("import _posixsubprocess\n", QUICK)
    assert "import _posixsubprocess is not allowed" in run.error


@pytest.mark.usefixtures("guard_only")
def test_shell_commands_are_refused():
    assert "os.system is not allowed" in run_python("import os\nos.system('true')\n", QUICK).error
    assert not run_python("import subprocess\nsubprocess.run(['true'])\n", QUICK).passed


def test_huge_allocation_fails_inside_the_child():
    assert run_python("block = bytearray(2**36)\n").error == "MemoryError"


def test_growing_allocation_hits_the_memory_limit():
    program = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 * 2**20))\n"
    run = run_python(program, Limits(memory_bytes=256 * 2**20))
    assert run.error == "MemoryError"


@pytest.mark.usefixtures("guard_only")
def test_write_outside_the_working_directory_is_refused(tmp_path):
    outside = tmp_path / "escaped.txt"
    run = run_python(f"open({str(outside)!r}, 'w').write('x')\n")
    assert "PermissionError" in run.error
    assert not outside.exists()


@pytest.mark.usefixtures("guard_only")
def test_deleting_or_moving_a_host_file_is_refused(tmp_path):
    keep = tmp_path / "keep.txt"
    keep.write_text("precious")
    for call in (f"os.remove({str(keep)!r})", f"os.rename({str(keep)!r}, 'stolen.txt')",
                 f"shutil.rmtree({str(tmp_path)!r})"):
        run = run_python(f"import os, shutil\n{call}\n")
        assert "is not allowed" in run.error, call
    assert keep.read_text() == "precious"


@pytest.mark.usefixtures("guard_only")
def test_symlink_and_directory_descriptor_escapes_are_refused(tmp_path):
    symlink = run_python(f"import os\nos.symlink({str(tmp_path)!r}, 'link')\nopen('link/x', 'w')\n")
    assert "os.symlink" in symlink.error
    dir_fd = run_python(f"import os\nfd = os.open({str(tmp_path)!r}, os.O_RDONLY)\n"
                        "os.close(os.open('x', os.O_WRONLY | os.O_CREAT, dir_fd=fd))\n")
    assert "opening directory" in dir_fd.error
    assert list(tmp_path.iterdir()) == []


def test_files_inside_the_working_directory_work_and_are_deleted_afterwards():
    program = textwrap.dedent("""
        import os, shutil
        os.makedirs('a/b')
        with open('a/b/f.txt', 'w') as f:
            f.write('data')
        assert open('a/b/f.txt').read() == 'data'
        os.rename('a/b/f.txt', 'g.txt')
        shutil.rmtree('a')
        print(os.getcwd())
    """)
    run = run_python(program)
    assert run.passed, run.error
    assert not os.path.exists(run.stdout.strip())


def test_stdin_is_closed_and_environment_scrubbed(monkeypatch):
    monkeypatch.setenv("SANDBOX_TEST_SECRET", "leak")
    assert run_python("input()\n").error.startswith("EOFError")
    assert run_python("import os\nassert 'SANDBOX_TEST_SECRET' not in os.environ\n").passed


def test_output_is_truncated():
    run = run_python("print('x' * 100_000)\n", Limits(output_chars=1000))
    assert run.passed
    assert run.stdout.startswith("x" * 1000) and run.stdout.endswith("[output truncated]")


def test_without_bubblewrap_the_fallback_is_announced_with_a_warning(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="evals.sandbox"):
        problem = sandbox.bubblewrap_problem.__wrapped__()
    assert "not installed" in problem
    assert "in-process guard alone" in caplog.text


def test_the_fallback_still_runs_programs_and_judges_them(guard_only):
    assert run_python("print('fine')\n").passed
    assert run_python("raise ValueError('no')\n").error == "ValueError: no"
