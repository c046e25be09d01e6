"""The suspect's running system as it names itself (kernel release and banner, its login session): one definition
for memory and the logs that print it.

The workstation's userland is Debian 12 (its logs are Debian 12 rsyslog's, its installed tree
:mod:`dflab.scenario.ostree` is bookworm's), so the kernel it runs is one of bookworm's: release, banner and
package version are those of a real Debian build, never another distribution's. An examiner compares the banner
volatility finds in memory (``banners.Banners``, vmcoreinfo's ``OSRELEASE``) with the disk's ``/boot``,
``/lib/modules/<release>``, dpkg's ``linux-image-<release>`` and the kernel's lines in syslog: all read
:func:`kernel_identity`.
"""

from __future__ import annotations

from dataclasses import dataclass

from dflab.errors import SpecError
from dflab.scenario.draw import rng

DISTRIBUTION = "debian-12"  # the only system dflab installs; the spec's ``memory.kernel`` names it
# What ``memory.kernel`` may say: the distribution (the schema's default), or the schema's old default, an Ubuntu
# release older specs still name, read as "not chosen": the distribution's kernel.
KERNEL_CHOICES = (DISTRIBUTION, "5.15.0-91-generic")


@dataclass(frozen=True)
class DebianKernel:
    """One build of bookworm's ``linux`` source package for amd64, as its changelog and headers record it.

    ``abi`` names the release (``6.1.0-<abi>-amd64``), ``version`` the package (``linux-image-<release>``),
    ``built`` the changelog entry's date the build stamps into ``UTS_VERSION``, ``gcc`` the Debian revision of
    gcc-12 on the buildd that day (12.2.0-14+deb12u1 entered bookworm with the 12.11 point release, May 2025).
    """

    abi: int
    version: str
    built: str  # YYYY-MM-DD
    gcc: str = "12.2.0-14+deb12u1"

    @property
    def release(self) -> str:
        return f"6.1.0-{self.abi}-amd64"

    @property
    def banner(self) -> str:
        """``linux_banner`` with its newline, as ``include/generated/compile.h`` of the build spells it."""
        return (f"Linux version {self.release} (debian-kernel@lists.debian.org) (gcc-12 (Debian {self.gcc}) 12.2.0, "
                f"GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian {self.version} "
                f"({self.built})\n")


# bookworm's kernels of the months the installed catalog (Debian 12.12: firefox-esr 128.14, base-files of 12.12)
# comes from, read from linux's changelog (its "Bump ABI to N" entries; since 6.1.148-1 each upload takes the next
# ABI number: 6.1.176-1 is 6.1.0-50). A fleet's workstations differ in their last kernel upgrade, so each trainee's
# runs one of them: the release is an answer (lab 03) that a neighbour's copy must not give away.
BOOKWORM_KERNELS = (
    DebianKernel(37, "6.1.140-1", "2025-05-22"),  # bookworm-security
    DebianKernel(38, "6.1.147-1", "2025-08-02"),  # bookworm-security
    DebianKernel(39, "6.1.148-1", "2025-08-26"),  # the 12.12 point release
    DebianKernel(40, "6.1.153-1", "2025-09-20"),  # bookworm-security
)


def debian_kernel(seed: bytes) -> DebianKernel:
    """The bookworm kernel the case runs, drawn per case from its seed alone: the installed tree's ``/boot`` and
    ``/lib/modules`` (:mod:`dflab.scenario.ostree.etc`, which knows the seed but not the spec) name the same one."""
    return rng(seed, "kernel", DISTRIBUTION).choice(BOOKWORM_KERNELS)


def kernel_identity(kernel: str, seed: bytes) -> tuple[str, str]:
    """The memory image's kernel release and ``linux_banner`` (with its newline): decided here once, and read by
    every trace that prints them (the kernel log, syslog's boot lines, wtmp's boot records: dflab/scenario/traces)
    and by the installed tree's ``/boot`` and ``/lib/modules``."""
    if kernel not in KERNEL_CHOICES:
        raise SpecError(f"kernel {kernel!r} is not one the case's system runs: its Debian 12 userland (logs, installed "
                        f"tree) runs one of bookworm's kernels, drawn per trainee; write {DISTRIBUTION}",
                        "memory.kernel")
    k = debian_kernel(seed)
    return k.release, k.banner


def logind_session(seed: bytes) -> int:
    """systemd-logind's number for the suspect's login: XDG_SESSION_ID in the shell's environment (memory) and
    "New session N" in the logs, drawn once. Above 2: the greeter's session is c1 and the user's desktop of the
    same morning is 2 (dflab.scenario.traces.story), so the remote login came later."""
    return rng(seed, "session").randint(3, 9)
