"""The trainee container: the one definition of how the trainee image runs a trainee's code.

Three consumers start it, each through a renderer here, none with a confinement value of its own:

* a session's lab (docker_backend.py): ``TRAINEE.docker_kwargs(limits)``, docker-py ``containers.run``;
* a submission's grading run (dflab/grading/sandbox/docker_sandbox.py): ``TRAINEE.for_grading().docker_kwargs``,
  docker-py ``containers.create``;
* a hub's lab (dflab/hub/config.py): ``TRAINEE.for_hub().spawner_settings(limits)``, DockerSpawner settings.

What :data:`TRAINEE` says: uid/gid 1000 (the image's ``trainee`` account), every capability dropped,
no-new-privileges, a read-only root file system; writable only the tmpfs below and what the consumer mounts;
a lab's processes started through :data:`SERVE_ARGV` (no ``ptrace``, no reading another process's memory);
no network at all (a lab is reached through a Unix socket, a grading run needs none; the hub's labs are the
one exception, explained where it is rendered: dflab/hub/config.py). What it may use is a :class:`Limits`,
the one kind of limit every consumer takes, the local grading sandbox's rlimits included.

A consumer that needs another value gets a named variation (``for_grading``, ``for_hub``, ``LAB_LIMITS``),
never a copy. Each variation reads :data:`TRAINEE` when it is asked for, so a change here reaches all three
(tests/test_trainee_container.py changes one and inspects what the engine made of each).

The workspace's seeding script (:func:`seed_then`) is here too, the one a session's lab and a hub's lab run.

Only the standard library, dflab.errors and dflab.provision.seed's mark: the hub's config and the session CLI import
this module, and must not pay for the docker SDK or nbgrader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from dflab.errors import DflabError
from dflab.provision.seed import SEEDED_MARK

TRAINEE_UID = 1000  # the image's `trainee` account (Dockerfile): it owns the home, the workspace, the sockets
# What starts every process of a trainee container, followed by its command: the no-ptrace filter
# (dflab/noptrace.py), then the command under it with all it starts. The image's entrypoint starts so (tini, PID 1,
# and so everything it starts), a lab's server command (a session's, a hub's) and what a lab's hooks run in it
# (docker_backend.exec) too: no process of the trainee's uid is outside it, to be taken over (/proc/<pid>/mem) and
# trace from there. -I keeps the current folder (the trainee's workspace) off sys.path, where a planted dflab/ would
# stand in for the real one.
SERVE_ARGV = ("python", "-I", "-m", "dflab.noptrace")
SERVE = " ".join(SERVE_ARGV)
HOME = "/home/trainee"
WORKSPACE = f"{HOME}/work"  # the trainee's work volume (a session's, a hub's)
LAB_SEED_TARGET = "/srv/lab"  # where a lab container sees its seed (read-only), copied into the workspace once
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
# All the files of one submission, together (dflab grade refuses more; a lab's lab.yaml may allow more:
# grading.hand_in_mib)
HAND_IN_BYTES = 50 * MiB
CELL_TIMEOUT_S = 300  # a forensic cell may hash or carve a whole image: generous, but not unbounded
MIN_MEMORY_BYTES = 6 * MiB  # the engine refuses a smaller memory limit
MEMORY_TEXT = re.compile(r"^([1-9][0-9]*)([kmg]?)$")
UNITS = {"": 1, "k": KiB, "m": MiB, "g": GiB}


def parse_memory(text: str, where: str = "--memory") -> int:
    """Bytes for Docker's memory text (``1g``, ``768m``, ``1048576``); a bad one is one line naming ``where``."""
    found = MEMORY_TEXT.match(text.strip().lower())
    if not found:
        raise DflabError(f"memory limit {text!r} must look like 1g, 768m or 1048576", where)
    return int(found.group(1)) * UNITS[found.group(2)]


def docker_size(n: int) -> str:
    """``n`` bytes as Docker writes a size: ``1g``, ``768m``, ``64k``, or the bare number."""
    for suffix, unit in (("g", GiB), ("m", MiB), ("k", KiB)):
        if n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def hub_bytes(memory: str) -> str | int:
    """Docker's ``1g`` as JupyterHub's byte specification (``1G``; a bare number stays bytes)."""
    return memory[:-1] + memory[-1].upper() if memory[-1].isalpha() else int(memory)


@dataclass(frozen=True)
class Limits:
    """What one trainee container (or one local grading run) may use.

    The defaults are one grading run's (what `dflab course init` writes into nbgrader_config.py and
    ``SandboxedExecute`` starts from); :data:`LAB_LIMITS` is a lab's.
    """

    memory_bytes: int = GiB  # also the swap limit: a memory hog is killed, not swapped
    cpus: float = 1.0
    pids: int = 256  # bounds a fork bomb to this container (threads count too)
    wall_s: float | None = 600.0  # a grading run's wall clock, enforced from outside; None: runs until stopped
    # The grading runner's own limits (a lab runs no runner, so it ignores them):
    cell_timeout_s: int = CELL_TIMEOUT_S
    max_output_bytes: int = 10 * MiB  # all outputs of one executed notebook
    hand_in_bytes: int = HAND_IN_BYTES  # the submission's files staged beside it (a lab's grading.hand_in_mib)

    @property
    def memory(self) -> str:
        """The memory limit as Docker writes it (``1g``)."""
        return docker_size(self.memory_bytes)

    def docker_kwargs(self) -> dict[str, Any]:
        """docker-py's resource keywords: memory (swap included), CPUs, pids."""
        return {"mem_limit": self.memory_bytes, "memswap_limit": self.memory_bytes,
                "nano_cpus": int(self.cpus * 1e9), "pids_limit": self.pids}


# A trainee's lab: JupyterLab with its kernels and terminals (and lab 01's suspect) needs more processes than
# one grading run's kernel, and runs until it is stopped.
LAB_LIMITS = Limits(pids=512, wall_s=None)
GRADING_LIMITS = Limits()


@dataclass(frozen=True)
class Tmpfs:
    """One tmpfs mount: always nosuid and nodev; noexec (the engine's default) unless ``exec``.

    Its pages are charged to the container's memory limit, so a size is a share of that limit, not extra.
    """

    size: str  # as Docker writes it
    mode: str = ""  # "": the engine's default (1777, root's), as a shared /tmp has
    owned: bool = False  # owned by the trainee's uid and gid (a home)
    exec: bool = False

    def options(self) -> str:
        """The engine's tmpfs option text."""
        parts = ["rw", *(["exec"] if self.exec else []), "nosuid", "nodev", f"size={self.size}"]
        if self.owned:
            parts += [f"uid={TRAINEE_UID}", f"gid={TRAINEE_UID}"]
        if self.mode:
            parts.append(f"mode={self.mode}")
        return ",".join(parts)


@dataclass(frozen=True)
class TraineeContainer:
    """How the trainee image runs: who, with which privileges, which file system, which network.

    Limits are not part of it: each consumer takes its own :class:`Limits` from its settings.
    """

    user: str = f"{TRAINEE_UID}:{TRAINEE_UID}"
    cap_drop: tuple[str, ...] = ("ALL",)
    security_opt: tuple[str, ...] = ("no-new-privileges",)
    read_only: bool = True  # the root file system: only the tmpfs and the consumer's mounts are writable
    network_mode: str = "none"  # loopback only
    # /tmp: scratch of the tools and kernels (tempfile's default); evidence is read in place, work is saved to
    # the workspace volume.
    tmp: Tmpfs = Tmpfs("512m")
    # The home: dotfiles, Jupyter's runtime files and settings, IPython's history, matplotlib's font cache. The
    # workspace is a volume mounted below it.
    home: Tmpfs = Tmpfs("256m", mode="0755", owned=True)
    # ~/.cache: lab 01's suspect runs from ~/.cache/xdg-sync, so this one tmpfs allows exec (the trainee can
    # run files from the workspace volume anyway). None: ~/.cache is part of the home.
    cache: Tmpfs | None = Tmpfs("64m", mode="0700", owned=True, exec=True)

    def for_grading(self) -> TraineeContainer:
        """A submission's grading run: one notebook, several at once on one grader, each run's tmpfs within its
        memory limit, so smaller ones (``/tmp`` 256m, home 64m) and a private home; no suspect runs, so no
        exec tmpfs."""
        return replace(self, tmp=replace(self.tmp, size="256m"), home=replace(self.home, size="64m", mode="0700"),
                       cache=None)

    def for_hub(self) -> TraineeContainer:
        """A hub's lab: the session's lab without lab 01's exec tmpfs (the hub starts no suspect)."""
        return replace(self, cache=None)

    def mounts(self) -> dict[str, Tmpfs]:
        """Mount point -> tmpfs, for every tmpfs."""
        mounts = {"/tmp": self.tmp, HOME: self.home, f"{HOME}/.cache": self.cache}  # noqa: S108 -- the container's
        return {path: t for path, t in mounts.items() if t is not None}

    def tmpfs(self) -> dict[str, str]:
        """Mount point -> the engine's option text, for every tmpfs."""
        return {path: t.options() for path, t in self.mounts().items()}

    def identity_kwargs(self) -> dict[str, Any]:
        """docker-py keywords for who it runs as and what it may do: what every container of the trainee image
        shares, a session's relay and its collect holder included (they bring their own network and mounts)."""
        return {"user": self.user, "cap_drop": list(self.cap_drop), "security_opt": list(self.security_opt),
                "read_only": self.read_only}

    def docker_kwargs(self, limits: Limits) -> dict[str, Any]:
        """docker-py ``containers.run``/``create`` keywords: identity, network, tmpfs and ``limits``."""
        return {**self.identity_kwargs(), "network_mode": self.network_mode, "tmpfs": self.tmpfs(),
                **limits.docker_kwargs()}

    def spawner_settings(self, limits: Limits) -> dict[str, Any]:
        """DockerSpawner's settings: ``extra_create_kwargs``, ``mem_limit``, ``cpu_limit``, ``extra_host_config``.

        No network: the hub's labs join its internal network (``DockerSpawner.network_name``, see
        dflab/hub/config.py). DockerSpawner turns ``cpu_limit`` into a CPU quota per 100 ms period.
        """
        return {
            "extra_create_kwargs": {"user": self.user},
            "mem_limit": hub_bytes(limits.memory),
            "cpu_limit": float(limits.cpus),
            "extra_host_config": {"cap_drop": list(self.cap_drop), "security_opt": list(self.security_opt),
                                  "memswap_limit": limits.memory, "pids_limit": limits.pids,
                                  "read_only": self.read_only, "tmpfs": self.tmpfs()},
        }


TRAINEE = TraineeContainer()  # the definition: a session's lab


def seed_then(command: str) -> str:
    """Shell for a lab container (a session's, a hub's): seed the workspace from :data:`LAB_SEED_TARGET` once, then
    ``command``.

    Seeding runs inside the container because the workspace is a volume the host does not see.  ``cp -n`` never
    overwrites what the trainee saved; the workspace is marked seeded only when the copy succeeded, so one cut short
    (a full quota) is completed at the next start instead of being taken for done.
    """
    return (f"cd {WORKSPACE} && if [ ! -e {SEEDED_MARK} ]; then cp -R -n {LAB_SEED_TARGET}/. . && "
            f"touch {SEEDED_MARK}; fi; {command}")
