"""Two tiny static x86-64 Linux programs, assembled here in Python, for the live-response suspect.

Why not copy the Python interpreter or /bin/sleep?  The recovered executable is a graded trait: its
SHA-256 must be computable by the grader from the trainee's seed alone, on any machine.  A copy of a
system binary hashes differently on every image; a program whose bytes we generate does not.  And a
process running our own ELF shows no trace of Python in ``comm``, ``cmdline`` or ``exe``.  The trainee
image has no compiler, so the machine code is written out here (each instruction with its mnemonic) and
laid out into a minimal ELF64 file: one read+execute PT_LOAD segment, no sections, no libc.

Both programs only use file descriptors handed over by the launcher (:mod:`dflab.live.suspect`), so
they need no argument parsing, no address and no port of their own:

* the **suspect** first moves out of reach of the trainee's ``/proc/<pid>/mem`` (see :func:`suspect_program`),
  then reads a 16-byte key from fd 6 (a pipe) and closes it.  Then, forever: it writes the
  current live witness into its first environment string (SipHash-2-4 of the key and the real-time clock's
  slot, see :mod:`dflab.live.witness`), writes its beacon to fd 3 (a connected TCP socket), accepts and
  immediately closes a pending connection on fd 4 (a non-blocking listening socket), and sleeps; fd 5 (a
  deleted file) is merely held open.  If the beacon cannot be written (the sink died) it exits.
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
KEY_FD = 6          # read once at start, then closed: the fd table shows exactly the traits (0-5)
KEY_BYTES = 16
SINK_LISTENER_FD = 3

SYS_READ, SYS_WRITE, SYS_CLOSE, SYS_NANOSLEEP, SYS_ACCEPT, SYS_EXIT, SYS_CLOCK_GETTIME = 0, 1, 3, 35, 43, 60, 228
SYS_OPEN, SYS_MMAP, SYS_FTRUNCATE, SYS_SETRLIMIT, SYS_MEMFD_SECRET = 2, 9, 77, 160, 447
CLOCK_REALTIME = 0
RLIMIT_CORE = 4
PROT_READ, PROT_WRITE, PROT_EXEC = 1, 2, 4
MAP_SHARED = 1
PAGE = 4096  # the whole suspect fits in one page (checked when it is assembled): one page of code, one of stack


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

    def call(self, target: str) -> None:
        self.rip32(b"\xe8", target)                 # call rel32

    def offset32(self, prefix: bytes, target: str, base: int = 0) -> None:
        """``prefix`` then ``base`` + ``target``'s offset in the code, as a 32-bit immediate or displacement."""
        self.code += prefix + b"\0\0\0\0"
        self.fixups.append((len(self.code) - 4, target, -base, "abs32"))

    def assemble(self) -> bytes:
        for field, target, nxt, kind in self.fixups:
            rel = self.labels[target] - nxt
            if kind == "rel8":
                if not -128 <= rel <= 127:
                    raise AssertionError(f"jump to {target} out of rel8 range")
                self.code[field] = rel & 0xFF
            elif kind == "abs32":
                self.code[field:field + 4] = struct.pack("<i", self.labels[target] - nxt)
            else:
                self.code[field:field + 4] = struct.pack("<i", rel)
        return bytes(self.code)


def _mov_eax(n: int) -> bytes:
    return b"\xb8" + struct.pack("<I", n)          # mov eax, imm32


def _mov_edi(n: int) -> bytes:
    return b"\xbf" + struct.pack("<I", n)          # mov edi, imm32


def _mov_edx(n: int) -> bytes:
    return b"\xba" + struct.pack("<I", n)          # mov edx, imm32


def _mov_esi(n: int) -> bytes:
    return b"\xbe" + struct.pack("<I", n)          # mov esi, imm32


def _mmap_fd_r14(flags: int) -> bytes:
    """mmap's last three arguments and the call: flags, the fd in r14, offset 0."""
    return (b"\x41\xba" + struct.pack("<I", flags)      # mov r10d, flags
            + b"\x45\x89\xf0" + b"\x45\x31\xc9" + SYSCALL)   # mov r8d, r14d; xor r9d, r9d; syscall


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
JS, JG, JMP, JNE = 0x78, 0x7F, 0xEB, 0x75
RET = b"\xc3"
MOV_R14D_EAX = b"\x41\x89\xc6"
MOV_EDI_R14D = b"\x44\x89\xf7"
MOV_RBP_RAX = b"\x48\x89\xc5"
CMP_RBP_MINUS_4096 = b"\x48\x81\xfd\x00\xf0\xff\xff"   # cmp rbp, -4096: mmap's errors are -4095..-1
JA = 0x77

# 64-bit register numbers (r8-r15 need a REX bit), for the SipHash rounds.
RAX, RCX, RDX, R8, R9, R10, R11 = 0, 1, 2, 8, 9, 10, 11


def _rex(reg: int, rm: int) -> bytes:
    return bytes((0x48 | (reg >> 3) << 2 | rm >> 3,))


def _rr(opcode: int, dst: int, src: int) -> bytes:
    """``op dst, src`` on 64-bit registers (add 0x01, xor 0x31, mov 0x89: the r/m, reg form)."""
    return _rex(src, dst) + bytes((opcode, 0xC0 | (src & 7) << 3 | dst & 7))


def _rol(dst: int, n: int) -> bytes:
    return _rex(0, dst) + bytes((0xC1, 0xC0 | dst & 7, n))          # rol r64, imm8


def _movabs(dst: int, value: int) -> bytes:
    return _rex(0, dst) + bytes((0xB8 | dst & 7,)) + struct.pack("<Q", value)   # mov r64, imm64


def _xor_imm32(dst: int, value: int) -> bytes:
    return _rex(0, dst) + bytes((0x81, 0xF0 | dst & 7)) + struct.pack("<I", value)   # xor r64, imm32


def _sipround() -> bytes:
    """One SipRound on v0..v3 = r8..r11 (the reference's order, see dflab.live.witness.siphash24)."""
    v0, v1, v2, v3 = R8, R9, R10, R11
    add, xor = 0x01, 0x31
    return b"".join((
        _rr(add, v0, v1), _rol(v1, 13), _rr(xor, v1, v0), _rol(v0, 32),
        _rr(add, v2, v3), _rol(v3, 16), _rr(xor, v3, v2),
        _rr(add, v0, v3), _rol(v3, 21), _rr(xor, v3, v0),
        _rr(add, v2, v1), _rol(v1, 17), _rr(xor, v1, v2), _rol(v2, 32),
    ))


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


def suspect_program(beacon: bytes, interval_s: int, slot_s: int, witness_at: int) -> bytes:
    """The suspect: take the witness key from fd 6; then refresh the witness, beacon on fd 3, drain fd 4's
    accept queue, sleep ``interval_s``, forever.

    The witness is written in place into the first environment string, ``witness_at`` bytes in (after
    ``NAME=``): 16 hex digits of SipHash-2-4(key, floor(realtime / ``slot_s``)).  The key lives in r12/r13
    only (its stack copy is zeroed), so neither the executable nor any file or fd holds it.

    The trainee's own uid runs it (they must read its ``/proc/<pid>/environ``, ``fd`` and ``exe``), and without
    Yama a process of the same uid may use the rest of ``/proc/<pid>/`` too.  Their lab's processes cannot trace it
    (dflab/noptrace.py); what is left, it guards itself:

    * ``/proc/<pid>/syscall`` shows six argument registers whenever it sleeps: the SipHash state (r8-r11), from which
      the key follows by running the rounds backwards, is cleared after every token;
    * ``/proc/<pid>/mem`` writes even read-only private pages (its code, patched to hand the key out): it runs from
      a second mapping of its own executable, shared and read-only (writes to it fail, and the file of a running
      program cannot be opened for writing), on a stack in secret memory (``memfd_secret``: no other process reads
      or writes it, so no return address can be replaced).  Where either is missing (an old kernel, a seccomp
      profile refusing ``memfd_secret``) it runs as before, in place;
    * a core dump (``prlimit`` its core limit up, then ``kill -QUIT``) would hold the registers: its hard core limit
      is 0 from the start, which no unprivileged process can raise again.
    """
    a = _Asm()
    a.label("start")
    a.raw(b"\x48\x8b\x04\x24")                    # mov rax, [rsp]            (argc)
    a.raw(b"\x48\x8d\x5c\xc4\x10")                # lea rbx, [rsp+rax*8+16]   (&envp[0])
    a.raw(b"\x4c\x8b\x3b")                        # mov r15, [rbx]            (envp[0])
    a.raw(b"\x49\x83\xc7" + bytes((witness_at,)))  # add r15, witness_at       (its value)
    # No core dump, ever: setrlimit(RLIMIT_CORE, {0, 0}).
    a.raw(b"\x31\xc0\x50\x50")                    # xor eax, eax; push rax; push rax
    a.raw(_mov_eax(SYS_SETRLIMIT) + _mov_edi(RLIMIT_CORE) + MOV_RSI_RSP + SYSCALL)
    a.raw(b"\x58\x58")                            # pop rax; pop rax
    # The code: run on from a shared, read-only mapping of the executable (open("/proc/self/exe") + mmap).
    a.raw(_mov_eax(SYS_OPEN))
    a.rip32(LEA_RDI_RIP, "self_exe")
    a.raw(XOR_ESI_ESI + XOR_EDX_EDX + SYSCALL)     # O_RDONLY
    a.raw(TEST_EAX_EAX)
    a.jump8(JS, "stack")                           # no such file: stay here
    a.raw(MOV_R14D_EAX)
    a.raw(_mov_eax(SYS_MMAP) + XOR_EDI_EDI + _mov_esi(PAGE) + _mov_edx(PROT_READ | PROT_EXEC)
          + _mmap_fd_r14(MAP_SHARED))
    a.raw(MOV_RBP_RAX + _mov_eax(SYS_CLOSE) + MOV_EDI_R14D + SYSCALL)
    a.raw(CMP_RBP_MINUS_4096)
    a.jump8(JA, "stack")                           # mmap failed: stay here
    a.offset32(b"\x48\x8d\x85", "stack", CODE_OFFSET)   # lea rax, [rbp + CODE_OFFSET + stack]
    a.raw(b"\xff\xe0")                            # jmp rax                   (the same code, in the new mapping)
    a.label("stack")
    # The stack: one page of secret memory (memfd_secret + ftruncate + mmap), else the process's own.
    a.raw(_mov_eax(SYS_MEMFD_SECRET) + XOR_EDI_EDI + SYSCALL)
    a.raw(TEST_EAX_EAX)
    a.jump8(JS, "main")
    a.raw(MOV_R14D_EAX)
    a.raw(_mov_eax(SYS_FTRUNCATE) + MOV_EDI_R14D + _mov_esi(PAGE) + SYSCALL)
    a.raw(b"\x48\x89\xc3")                        # mov rbx, rax              (0, or the error)
    a.raw(_mov_eax(SYS_MMAP) + XOR_EDI_EDI + _mov_esi(PAGE) + _mov_edx(PROT_READ | PROT_WRITE)
          + _mmap_fd_r14(MAP_SHARED))
    a.raw(MOV_RBP_RAX + _mov_eax(SYS_CLOSE) + MOV_EDI_R14D + SYSCALL)
    a.raw(b"\x48\x85\xdb")                        # test rbx, rbx
    a.jump8(JNE, "main")                           # no room for the page: keep the process's stack
    a.raw(CMP_RBP_MINUS_4096)
    a.jump8(JA, "main")
    a.raw(b"\x48\x8d\xa5" + struct.pack("<I", PAGE))   # lea rsp, [rbp + PAGE]     (its top)
    a.label("main")
    a.raw(b"\x48\x83\xec\x10")                    # sub rsp, 16
    a.raw(_mov_eax(SYS_READ) + _mov_edi(KEY_FD) + MOV_RSI_RSP + _mov_edx(KEY_BYTES) + SYSCALL)
    a.raw(b"\x48\x83\xf8" + bytes((KEY_BYTES,)))   # cmp rax, 16
    a.jump8(JNE, "exit")                           # no key: no witness, no suspect
    a.raw(_mov_eax(SYS_CLOSE) + _mov_edi(KEY_FD) + SYSCALL)
    a.raw(b"\x4c\x8b\x24\x24")                    # mov r12, [rsp]            (k0)
    a.raw(b"\x4c\x8b\x6c\x24\x08")                # mov r13, [rsp+8]          (k1)
    a.raw(b"\x31\xc0\x48\x89\x04\x24\x48\x89\x44\x24\x08")   # xor eax, eax; zero both stack copies
    a.label("loop")
    a.call("witness")
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

    a.label("witness")                             # the slot's token into the environment string
    a.raw(b"\x48\x83\xec\x10")                    # sub rsp, 16
    a.raw(_mov_eax(SYS_CLOCK_GETTIME) + _mov_edi(CLOCK_REALTIME) + MOV_RSI_RSP + SYSCALL)
    a.raw(b"\x48\x8b\x04\x24")                    # mov rax, [rsp]            (tv_sec)
    a.raw(b"\x48\x83\xc4\x10")                    # add rsp, 16
    a.raw(XOR_EDX_EDX + b"\xb9" + struct.pack("<I", slot_s) + b"\x48\xf7\xf1")   # rax = tv_sec / slot_s
    a.raw(_movabs(R8, 0x736F6D6570736575) + _rr(0x31, R8, 12))     # v0 = k0 ^ "somepseu"
    a.raw(_movabs(R9, 0x646F72616E646F6D) + _rr(0x31, R9, 13))     # v1 = k1 ^ "dorandom"
    a.raw(_movabs(R10, 0x6C7967656E657261) + _rr(0x31, R10, 12))   # v2 = k0 ^ "lygenera"
    a.raw(_movabs(R11, 0x7465646279746573) + _rr(0x31, R11, 13))   # v3 = k1 ^ "tedbytes"
    a.raw(_rr(0x31, R11, RAX) + _sipround() * 2 + _rr(0x31, R8, RAX))            # the message: the slot
    a.raw(_movabs(RDX, 8 << 56))                   # the final block: length 8, no tail bytes
    a.raw(_rr(0x31, R11, RDX) + _sipround() * 2 + _rr(0x31, R8, RDX))
    a.raw(_xor_imm32(R10, 0xFF) + _sipround() * 4)
    a.raw(_rr(0x89, RAX, R8) + _rr(0x31, RAX, R9) + _rr(0x31, RAX, R10) + _rr(0x31, RAX, R11))
    a.raw(b"".join(_rr(0x31, r, r) for r in (R8, R9, R10, R11)))   # the state goes: /proc/<pid>/syscall shows r8-r10
    a.raw(b"\x4c\x89\xff")                        # mov rdi, r15
    a.rip32(LEA_RSI_RIP, "hexdigits")
    a.raw(b"\xb9" + struct.pack("<I", 16))          # mov ecx, 16
    a.label("hex")                                 # most significant nibble first, as f"{x:016x}"
    a.raw(_rol(RAX, 4) + b"\x89\xc2" + b"\x83\xe2\x0f")   # rol rax, 4; mov edx, eax; and edx, 15
    a.raw(b"\x0f\xb6\x14\x16" + b"\x88\x17")       # movzx edx, byte [rsi+rdx]; mov [rdi], dl
    a.raw(b"\x48\xff\xc7" + b"\xff\xc9")           # inc rdi; dec ecx
    a.jump8(JNE, "hex")
    a.raw(RET)
    a.label("hexdigits")                           # before the timespec: not one printable run with the beacon
    a.raw(b"0123456789abcdef")
    a.label("timespec")
    a.raw(struct.pack("<qq", interval_s, 0))
    a.label("self_exe")
    a.raw(b"/proc/self/exe\0")
    a.label("beacon")
    a.raw(beacon)
    program = _elf(a.assemble())
    if len(program) > PAGE:
        raise AssertionError("the suspect must fit in one page (it maps one page of itself)")
    return program


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
