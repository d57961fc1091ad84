"""The inside of the sandbox: limits itself, installs a guard, runs one program, reports.

`evals.sandbox` starts this file as a script (`python -I -S -B sandbox_child.py ...`) in a
fresh process. It imports only what it needs so that the program cannot reach modules the
guard has to keep out (`_posixsubprocess` in particular) through `sys.modules`.

Usage: sandbox_child.py PROGRAM_FILE RESULT_FD CPU_SECONDS MEMORY_BYTES FILE_BYTES
The verdict is the exit status: PASSED_EXIT once the program ran to its end, 1 after it raised
(then "failed: <exception>" goes to RESULT_FD, for the report only). Exiting skips the program's
atexit handlers and finalizers, so none of its code runs after the verdict.
"""

import os
import resource
import sys

# Audit events that start or signal processes, load native code that can bypass this
# guard, or open network connections: the program never needs them.
BLOCKED_EVENTS = {
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "subprocess.Popen", "os.kill", "os.killpg", "ctypes.dlopen",
    "socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg",
}
# Extension modules that start processes or call C directly without raising audit events.
BLOCKED_IMPORTS = {"_posixsubprocess", "_ctypes"}
# Audit events that change the filesystem; all their path arguments must stay inside.
MUTATING_EVENTS = {
    "os.remove", "os.rmdir", "os.mkdir", "os.rename", "os.link", "os.symlink",
    "os.truncate", "os.chmod", "os.chown", "os.utime", "os.chflags", "os.lchflags",
    "os.setxattr", "os.removexattr", "shutil.rmtree",
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
PASSED_EXIT = 97  # not 0: a completion that calls os._exit(0) before its tests must not pass


def set_limits(cpu_seconds: int, memory_bytes: int, file_bytes: int) -> None:
    """Kernel limits, so a runaway program fails inside the child instead of hurting the host.

    RLIMIT_NPROC=0 forbids any new process or thread for an unprivileged user; root is
    exempt from it, which is why the guard below also refuses forks.
    """
    limits = {
        resource.RLIMIT_CPU: cpu_seconds,
        resource.RLIMIT_AS: memory_bytes,
        resource.RLIMIT_FSIZE: file_bytes,
        resource.RLIMIT_NPROC: 0,
        resource.RLIMIT_CORE: 0,
    }
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))


def make_guard(root: str):
    """An audit hook (PEP 578) that refuses escaping operations; hooks cannot be removed."""

    def resolve(path, dir_fd) -> str:
        path = os.fsdecode(path)
        if dir_fd is not None and dir_fd != -1 and not os.path.isabs(path):
            path = os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)
        return os.path.realpath(path)

    def inside(path: str) -> bool:
        return path == root or path.startswith(root + os.sep)

    def refuse(what: str):
        raise PermissionError(f"sandbox: {what} is not allowed")

    def guard(event: str, args: tuple) -> None:
        if event in BLOCKED_EVENTS:
            refuse(event)
        elif event == "import" and args[0] in BLOCKED_IMPORTS:
            refuse(f"import {args[0]}")
        elif event == "open":
            path, _, flags = args
            if isinstance(path, int):
                return
            real = resolve(path, None)
            if inside(real):
                return
            if flags & WRITE_FLAGS:
                refuse(f"writing {real}")
            if os.path.isdir(real):  # a directory fd would allow dir_fd-relative writes
                refuse(f"opening directory {real}")
        elif event in MUTATING_EVENTS:
            dir_fd = args[-1] if isinstance(args[-1], int) else None
            for arg in args:
                if isinstance(arg, (str, bytes, os.PathLike)) and not inside(resolve(arg, dir_fd)):
                    refuse(f"{event} on {os.fsdecode(arg)}")

    return guard


def describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def main() -> None:
    program_file, result_fd, cpu, memory, file_size = sys.argv[1:]
    with open(program_file, encoding="utf-8") as f:
        source = f.read()
    set_limits(int(cpu), int(memory), int(file_size))
    sys.addaudithook(make_guard(os.path.realpath(os.getcwd())))
    try:
        exec(compile(source, "program.py", "exec"), {"__name__": "__main__"})
    except BaseException as error:  # SystemExit too: the program must run to its end
        os.write(int(result_fd), f"failed: {describe(error)}"[:1000].encode("utf-8", "replace"))
        finish(1)
    finish(PASSED_EXIT)


def finish(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # the program closed or replaced it
            pass
    os._exit(code)


if __name__ == "__main__":
    main()
