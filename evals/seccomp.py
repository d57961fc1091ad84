"""A seccomp filter that lets a sandboxed program start threads but no processes.

Why a filter: run as root, the sandbox's uid maps to root outside, and the kernel exempts root from
RLIMIT_NPROC; a program that switches the in-process guard off could fork without end. A seccomp
filter binds every uid, and once bubblewrap installs it (with no_new_privs) nothing in the sandbox can
lift it. fork, vfork and clone without CLONE_THREAD fail with EPERM; clone3 fails with ENOSYS, which
makes glibc start threads with clone instead, where the flags can be read (clone3 passes them in
memory a filter cannot see). Syscalls of another ABI than the interpreter's (i386 on x86-64, x32)
kill the program: through them a fork would go unseen.

The program is classic BPF over `struct seccomp_data` {int nr; u32 arch; u64 ip; u64 args[6]}, as
bubblewrap's `--seccomp FD` reads it.
"""

import errno
import platform
import struct

# BPF instruction classes and modes (linux/filter.h) and seccomp return values (linux/seccomp.h)
LOAD_WORD = 0x00 | 0x00 | 0x20  # BPF_LD | BPF_W | BPF_ABS
JUMP_EQUAL, JUMP_AT_LEAST, JUMP_ANY_BIT = 0x05 | 0x10, 0x05 | 0x30, 0x05 | 0x40  # BPF_JMP | BPF_JEQ/JGE/JSET | BPF_K
RETURN = 0x06  # BPF_RET | BPF_K
KILL_PROCESS, ALLOW, ERRNO = 0x80000000, 0x7FFF0000, 0x00050000
NR, ARCH, FIRST_ARG = 0, 4, 16  # offsets into seccomp_data; the first argument's low word (little-endian)
CLONE_THREAD = 0x00010000
X32_BIT = 0x40000000
NO_SYSCALL = 0xFFFFFFFF  # in place of a syscall an architecture lacks: matches nothing

# machine -> (audit arch, clone, clone3, fork, vfork)
SYSCALLS = {
    "x86_64": (0xC000003E, 56, 435, 57, 58),
    "aarch64": (0xC00000B7, 220, 435, NO_SYSCALL, NO_SYSCALL),
}


def instruction(code: int, k: int, true: int = 0, false: int = 0) -> bytes:
    """struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}; jt/jf count instructions skipped."""
    return struct.pack("=HBBI", code, true, false, k)


def no_new_processes() -> bytes | None:
    """The filter for this machine, or None on an architecture it does not know."""
    if (numbers := SYSCALLS.get(platform.machine())) is None:
        return None
    arch, clone, clone3, fork, vfork = numbers
    program = [
        instruction(LOAD_WORD, ARCH),  # 0
        instruction(JUMP_EQUAL, arch, true=1),  # 1: the interpreter's ABI goes on to 3
        instruction(RETURN, KILL_PROCESS),  # 2
        instruction(LOAD_WORD, NR),  # 3
        instruction(JUMP_AT_LEAST, X32_BIT, true=7),  # 4: x32 -> 12
        instruction(JUMP_EQUAL, clone3, true=7),  # 5: -> 13
        instruction(JUMP_EQUAL, fork, true=5),  # 6: -> 12
        instruction(JUMP_EQUAL, vfork, true=4),  # 7: -> 12
        instruction(JUMP_EQUAL, clone, false=2),  # 8: not clone -> 11
        instruction(LOAD_WORD, FIRST_ARG),  # 9: clone's flags
        instruction(JUMP_ANY_BIT, CLONE_THREAD, false=1),  # 10: a thread -> 11, a process -> 12
        instruction(RETURN, ALLOW),  # 11
        instruction(RETURN, ERRNO | errno.EPERM),  # 12
        instruction(RETURN, ERRNO | errno.ENOSYS),  # 13
    ]
    return b"".join(program)
