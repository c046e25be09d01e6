"""The suspect's running system as it names itself (kernel release and banner, its login session): one definition
for memory and the logs that print it."""

from __future__ import annotations

from dflab.scenario.draw import rng


def kernel_identity(kernel: str, seed: bytes) -> tuple[str, str]:
    """The memory image's kernel release and ``linux_banner`` (with its newline): decided here once, and read by
    every trace that prints them (the kernel log, syslog's boot lines: dflab/scenario/traces)."""
    release = f"{kernel}-dflab{seed[:4].hex()}"
    banner = (f"Linux version {release} (buildd@lcy02-amd64-059) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, "
              f"GNU ld (GNU Binutils for Ubuntu) 2.38) #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023 "
              f"(Ubuntu {release})\n")
    return release, banner


def logind_session(seed: bytes) -> int:
    """systemd-logind's number for the suspect's login: XDG_SESSION_ID in the shell's environment (memory) and
    "New session N" in the logs, drawn once."""
    return rng(seed, "session").randint(1, 9)
