"""A trainee's processes may not read or steer another process: one seccomp filter every process of a lab is under.

Why: lab 01's suspect runs as the trainee's own uid (the lab has them read its ``/proc/<pid>/environ``, ``fd`` and
``exe``, which the kernel allows only to the same uid) and keeps its witness key in its registers.  Without Yama
(``kernel.yama.ptrace_scope``, absent from many kernels) a process of the same uid may ``ptrace`` it and read
them, and ``process_vm_readv`` reads another process's memory without attaching; ``perf_event_open`` samples
another process's user registers (``perf_event_paranoid`` 2, the default, allows it for one's own uid).

:func:`deny` loads a filter (libseccomp, through its public C API) that makes exactly those system calls
(:data:`DENIED`) fail with EPERM; every other call is allowed, and any other system-call ABI (i386, x32) kills the
caller, so the 32-bit ``ptrace`` is no way round.  A filter is inherited by every child and cannot be removed.

It must cover *every* process of the trainee's uid, not only their server: a process of one's own uid can be taken
over by writing its code through ``/proc/<pid>/mem`` (no ``ptrace`` needed), and one outside the filter would then
trace for the trainee.  So the command that starts each of them loads it first, ``python -I -m dflab.noptrace
COMMAND...`` (:func:`main`: deny, then become COMMAND): the local backend before it drops to the lab's uid
(``local_backend._as_trainee``: the server and what the lab's hooks run), the trainee image's entrypoint (tini, PID 1,
and all it starts), its lab commands and ``docker_backend.exec`` (``trainee_container.SERVE_ARGV``).  Lab 01's suspect
is under it too and needs nothing it denies; what ``/proc/<pid>/`` still gives its uid without those calls
(``syscall``, ``mem``, core dumps) it guards itself against (dflab/live/elf.py).
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

from dflab.errors import DflabError

DENIED = ("ptrace", "process_vm_readv", "process_vm_writev", "perf_event_open")
LIBSECCOMP = "libseccomp.so.2"  # Debian's libseccomp2 (apt depends on it: on every Debian system and image)
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_FLTATR_CTL_TSYNC = 4  # enum scmp_filter_attr: the filter applies to every thread of the process
PR_SET_NO_NEW_PRIVS = 38
PR_GET_SECCOMP = 21


def scmp_act_errno(code: int) -> int:
    """libseccomp's ``SCMP_ACT_ERRNO(code)``: the call returns -1 with ``errno`` = ``code``."""
    return 0x00050000 | (code & 0xFFFF)


def _library() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(LIBSECCOMP, use_errno=True)
    except OSError as exc:
        raise DflabError(f"cannot load {LIBSECCOMP} ({exc}): install Debian's libseccomp2",
                         "no-ptrace filter") from exc
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.restype = ctypes.c_int
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_attr_set.restype = ctypes.c_int
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_load.restype = ctypes.c_int
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.restype = None
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


def deny() -> None:
    """Make this process, its threads and everything it starts from now on fail :data:`DENIED` with EPERM.

    Sets ``no_new_privs`` first (what lets an unprivileged process load a filter; a set-uid program could no
    longer gain privileges either, which confined labs have already).  Raises :class:`DflabError` when the filter
    cannot be loaded: a lab must not start without it.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise DflabError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}", "no-ptrace filter")
    lib = _library()
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise DflabError("seccomp_init failed", "no-ptrace filter")
    try:
        if (rc := lib.seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) != 0:
            raise DflabError(f"seccomp_attr_set(TSYNC) failed: {os.strerror(-rc)}", "no-ptrace filter")
        for name in DENIED:
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:
                raise DflabError(f"{LIBSECCOMP} does not know the system call {name}", "no-ptrace filter")
            if (rc := lib.seccomp_rule_add(ctx, scmp_act_errno(errno.EPERM), number, 0)) != 0:
                raise DflabError(f"seccomp_rule_add({name}) failed: {os.strerror(-rc)}", "no-ptrace filter")
        if (rc := lib.seccomp_load(ctx)) != 0:
            raise DflabError(f"seccomp_load failed: {os.strerror(-rc)}", "no-ptrace filter")
    finally:
        lib.seccomp_release(ctx)


def filtered(pid: int | str = "self") -> bool:
    """Whether ``pid`` runs under a seccomp filter (``Seccomp: 2`` in its status): what tests and checks read."""
    with open(f"/proc/{pid}/status") as fh:
        return any(line.split() == ["Seccomp:", "2"] for line in fh)


def main(argv: list[str] | None = None) -> None:
    """``python -I -m dflab.noptrace PROGRAM [ARGS...]``: :func:`deny`, then become PROGRAM (looked up in PATH)."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.exit("usage: python -I -m dflab.noptrace PROGRAM [ARGS...]")
    try:
        deny()
    except DflabError as exc:
        sys.exit(f"dflab: error: {exc}")
    try:
        os.execvp(args[0], args)  # noqa: S606 -- the launcher becomes the command it was given
    except OSError as exc:
        sys.exit(f"dflab: error: cannot run {args[0]}: {exc.strerror or exc}")


if __name__ == "__main__":
    main()
