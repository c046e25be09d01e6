"""Two tiny static x86-64 Linux programs, assembled here in Python, for the live-response suspect.

Why not copy the Python interpreter or /bin/sleep?  The recovered executable is a graded trait: its
SHA-256 must be computable by the grader from the trainee's seed alone, on any machine.  A copy of a
system binary hashes differently on every image; a program whose bytes we generate does not.  And a
process running our own ELF shows no trace of Python in ``comm``, ``cmdline`` or ``exe``.  The trainee
image has no compiler, so the machine code is written out here (each instruction with its mnemonic) and
laid out into a minimal ELF64 file: one read+execute PT_LOAD segment, no sections, no libc.

Both programs only use file descriptors handed over by the launcher (:mod:`dflab.live.suspect`), so
they need no argument parsing, no address and no port of their own:

* the **suspect** writes its beacon to fd 3 (a connected TCP socket), accepts and immediately closes a
  pending connection on fd 4 (a non-blocking listening socket), sleeps, and repeats; fd 5 (a deleted
  file) is merely held open.  If the beacon cannot be written (the sink died) it exits.
* the **sink** accepts connections on fd 3 (a blocking listening socket) and reads them until EOF,
  discarding the data, so the suspect's beacons never fill a socket buffer.
"""

from __future__ import annotations

import platform
import struct

from dflab.errors import DflabError

BASE = 0x400000
_EHDR = 64
_PHDR = 56
CODE_OFFSET = _EHDR + _PHDR

# The descriptors the launcher hands over (dflab.live.suspect) and the programs use.
CONN_FD, LISTENER_FD, HELD_FD = 3, 4, 5
SINK_LISTENER_FD = 3

SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_NANOSLEEP, SYS_ACCEPT, SYS_EXIT = 0, 1, 3, 35, 43, 60


class _Asm:
    """Just enough of an assembler: raw bytes, labels, rel8 jumps and rip-relative disp32 fixups."""

    def __init__(self) -> None:
        self.code = bytearray()
        self.labels: dict[str, int] = {}
        self.fixups: list[tuple[int, str, int, str]] = []  # (field offset, label, next-instr offset, kind)

    def raw(self, data: bytes) -> None:
        self.code += data

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def jump8(self, opcode: int, target: str) -> None:
        self.code += bytes((opcode, 0))
        self.fixups.append((len(self.code) - 1, target, len(self.code), "rel8"))

    def rip32(self, prefix: bytes, target: str) -> None:
        self.code += prefix + b"\0\0\0\0"
        self.fixups.append((len(self.code) - 4, target, len(self.code), "rel32"))

    def assemble(self) -> bytes:
        for field, target, nxt, kind in self.fixups:
            rel = self.labels[target] - nxt
            if kind == "rel8":
                if not -128 <= rel <= 127:
                    raise AssertionError(f"jump to {target} out of rel8 range")
                self.code[field] = rel & 0xFF
            else:
                self.code[field:field + 4] = struct.pack("<i", rel)
        return bytes(self.code)


def _mov_eax(n: int) -> bytes:
    return b"\xb8" + struct.pack("<I", n)          # mov eax, imm32


def _mov_edi(n: int) -> bytes:
    return b"\xbf" + struct.pack("<I", n)          # mov edi, imm32


def _mov_edx(n: int) -> bytes:
    return b"\xba" + struct.pack("<I", n)          # mov edx, imm32


SYSCALL = b"\x0f\x05"
XOR_ESI_ESI = b"\x31\xf6"
XOR_EDX_EDX = b"\x31\xd2"
XOR_EDI_EDI = b"\x31\xff"
TEST_RAX_RAX = b"\x48\x85\xc0"
TEST_EAX_EAX = b"\x85\xc0"
MOV_EDI_EAX = b"\x89\xc7"
MOV_R12D_EAX = b"\x41\x89\xc4"
MOV_EDI_R12D = b"\x44\x89\xe7"
MOV_RSI_RSP = b"\x48\x89\xe6"
LEA_RSI_RIP = b"\x48\x8d\x35"                      # lea rsi, [rip+disp32]
LEA_RDI_RIP = b"\x48\x8d\x3d"                      # lea rdi, [rip+disp32]
JS, JG, JMP = 0x78, 0x7F, 0xEB


def _elf(code: bytes) -> bytes:
    """Wrap position-dependent code (loaded at BASE + CODE_OFFSET) in a minimal ELF64 executable."""
    size = CODE_OFFSET + len(code)
    ehdr = struct.pack(
        "<4sBBBBB7sHHIQQQIHHHHHH",
        b"\x7fELF", 2, 1, 1, 0, 0, b"\0" * 7,      # 64-bit, little-endian, version 1, SysV ABI
        2, 0x3E, 1,                                # ET_EXEC, EM_X86_64, EV_CURRENT
        BASE + CODE_OFFSET, _EHDR, 0,              # entry, program headers at 64, no section headers
        0, _EHDR, _PHDR, 1, 0, 0, 0,               # flags, sizes, one program header, no sections
    )
    phdr = struct.pack(
        "<IIQQQQQQ",
        1, 5, 0, BASE, BASE,                       # PT_LOAD, PF_R|PF_X, whole file at BASE
        size, size, 0x1000,
    )
    return ehdr + phdr + code


def suspect_program(beacon: bytes, interval_s: int) -> bytes:
    """The suspect: beacon on fd 3, drain fd 4's accept queue, sleep ``interval_s``, forever."""
    a = _Asm()
    a.label("loop")
    a.raw(_mov_eax(SYS_WRITE) + _mov_edi(CONN_FD))  # write(CONN_FD, beacon, len)
    a.rip32(LEA_RSI_RIP, "beacon")
    a.raw(_mov_edx(len(beacon)) + SYSCALL)
    a.raw(TEST_RAX_RAX)
    a.jump8(JS, "exit")                            # the sink is gone: stop
    a.raw(_mov_eax(SYS_ACCEPT) + _mov_edi(LISTENER_FD) + XOR_ESI_ESI + XOR_EDX_EDX + SYSCALL)
    a.raw(TEST_EAX_EAX)
    a.jump8(JS, "sleep")                           # EAGAIN: nobody knocked
    a.raw(MOV_EDI_EAX + _mov_eax(SYS_CLOSE) + SYSCALL)
    a.label("sleep")
    a.raw(_mov_eax(SYS_NANOSLEEP))                 # nanosleep(&timespec, NULL)
    a.rip32(LEA_RDI_RIP, "timespec")
    a.raw(XOR_ESI_ESI + SYSCALL)
    a.jump8(JMP, "loop")
    a.label("exit")
    a.raw(_mov_eax(SYS_EXIT) + _mov_edi(1) + SYSCALL)
    a.label("timespec")
    a.raw(struct.pack("<qq", interval_s, 0))
    a.label("beacon")
    a.raw(beacon)
    return _elf(a.assemble())


def sink_program() -> bytes:
    """The sink: accept on fd 3, read each connection to EOF into a stack buffer, repeat."""
    a = _Asm()
    a.raw(b"\x48\x81\xec" + struct.pack("<I", 4096))  # sub rsp, 4096
    a.label("accept")
    a.raw(_mov_eax(SYS_ACCEPT) + _mov_edi(SINK_LISTENER_FD) + XOR_ESI_ESI + XOR_EDX_EDX + SYSCALL)
    a.raw(TEST_EAX_EAX)
    a.jump8(JS, "exit")
    a.raw(MOV_R12D_EAX)
    a.label("read")
    a.raw(_mov_eax(SYS_READ) + MOV_EDI_R12D + MOV_RSI_RSP + _mov_edx(4096) + SYSCALL)
    a.raw(TEST_RAX_RAX)
    a.jump8(JG, "read")
    a.raw(MOV_EDI_R12D + _mov_eax(SYS_CLOSE) + SYSCALL)
    a.jump8(JMP, "accept")
    a.label("exit")
    a.raw(_mov_eax(SYS_EXIT) + XOR_EDI_EDI + SYSCALL)
    return _elf(a.assemble())


def require_x86_64() -> None:
    """Fail with a clear message on other CPUs: the programs above are x86-64 machine code."""
    machine = platform.machine()
    if machine not in ("x86_64", "AMD64"):
        raise DflabError(f"the live-response suspect runs on x86-64 Linux only, this machine is {machine}")
