"""What of the host a confined trainee process sees: one definition for the grading sandbox and the lab servers.

A confined process gets a mount namespace of its own whose root file system is an empty tmpfs holding only:

* the system directories (``SYSTEM_PATHS``) and the interpreter read-only: its installation, its virtual
  environment, and the folder of each package it imports from outside them (an editable dflab: just
  ``dflab/``, never the checkout around it) -- see :func:`visible_paths`;
* a few device nodes, a private size-limited ``/tmp`` and ``/dev/shm`` (gone with the namespace), and ``/proc``;
* whatever its user binds on top: the grading sandbox its run folder and the evidence at ``/evidence``, a
  trainee's lab server their workspace, evidence, home and lab 01's suspect folder at their host paths.

Nothing else of the host is there: no project checkout (solution notebooks, ``.git``), no course directory (keys,
gradebook, other trainees' work), no ``/run`` or ``/var`` with their Unix sockets.  The process then drops to an
unprivileged uid with no capabilities, no new privileges and no supplementary groups (:func:`drop_to`).

``ROOT_SCRIPT`` builds that root inside the new mount namespace (run by ``unshare``, as root there) from the steps
a :class:`Root` lists, then pivots into it (or chroots where seccomp forbids ``pivot_root``) and runs the command.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dflab.errors import DflabError

# The top-level names of a root file system that programs expect (each a directory or, merged-/usr, a link).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# What a confined process may write outside the folders bound into it, in memory that vanishes with it.
TMP_SIZE = "256m"  # /tmp
SHM_SIZE = "64m"  # /dev/shm
# And files: one per 4 KiB page of the size (a file with data takes a page anyway), so only empty files meet
# it; without it, empty files cost the host's kernel memory, up to half its RAM's worth of inodes per tmpfs.
TMP_INODES = 65_536
SHM_INODES = 16_384
# The packages a grading kernel imports (and its runner); a lab server adds Jupyter's own.
KERNEL_PACKAGES = ("dflab", "nbformat", "ipykernel", "nbclient")

# Run inside the new mount namespace as (namespace) root.  Arguments: the mount point of the new root, the uid the
# command will run as ("" in a user namespace), then steps up to "--" (each a name and its fixed arguments, see
# Root), then the command.  All positional: nothing a trainee wrote reaches the shell as code.  Paths are
# absolute; a step's target is where it appears inside the new root.
ROOT_SCRIPT = r"""set -eu
root=$1 uid=$2
shift 2
cwd=/
mount -t tmpfs -o mode=0755,nosuid,nodev,size=4m dflab-root "$root"
bind() {  # bind SOURCE TARGET ro|rw: a directory or a file, at TARGET under the new root
  if [ -d "$1" ]; then mkdir -p "$root$2"
  elif [ ! -e "$root$2" ]; then mkdir -p "$root$(dirname "$2")"; : > "$root$2"; fi
  mount --bind "$1" "$root$2"
  if [ "$3" = ro ]; then mount -o remount,bind,ro,nosuid,nodev "$root$2"; fi
}
while [ "$1" != "--" ]; do
  step=$1
  shift
  case $step in
    show)  # a host path at the same place, read-only; a symbolic link stays a link; a missing path is skipped
      if [ -L "$1" ]; then mkdir -p "$root$(dirname "$1")"; ln -s "$(readlink "$1")" "$root$1"
      elif [ -e "$1" ]; then bind "$1" "$1" ro; fi
      shift;;
    ro|rw) bind "$1" "$2" "$step"; shift 2;;
    tmpfs) mkdir -p "$root$1"; mount -t tmpfs -o "$2" dflab-tmpfs "$root$1"; shift 2;;
    mkdir) mkdir -p "$root$1"; shift;;
    copy) cp -R "$1/." "$root$2/"; shift 2;;
    own) if [ -n "$uid" ]; then chown -R "$uid:$uid" "$root$1"; fi; shift;;
    proc)  # "inherit": the /proc this namespace has (unshare --mount-proc made it); "own": only one's processes
      mkdir -p "$root/proc"
      if [ "$1" = own ]; then mount -t proc -o nosuid,nodev,noexec,hidepid=invisible dflab-proc "$root/proc"
      else mount --rbind /proc "$root/proc"; fi
      shift;;
    dev)
      for d in null zero full random urandom; do bind "/dev/$d" "/dev/$d" rw; done
      ln -s /proc/self/fd "$root/dev/fd"
      ln -s fd/0 "$root/dev/stdin"; ln -s fd/1 "$root/dev/stdout"; ln -s fd/2 "$root/dev/stderr";;
    pts)  # terminals: a pseudo-terminal instance of its own (no other terminal of the host is there)
      bind /dev/tty /dev/tty rw
      mkdir -p "$root/dev/pts"
      mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,nosuid,noexec dflab-pts "$root/dev/pts"
      ln -s pts/ptmx "$root/dev/ptmx";;
    hide) if [ -e "$root$1" ]; then mount -t tmpfs -o ro,nosuid,nodev,noexec,size=4k,mode=000 dflab-hidden "$root$1"; fi
      shift;;
    loopback) "$1" -I -S -c "$2"; shift 2;;  # PYTHON CODE: a new network namespace's loopback up
    cwd) cwd=$1; shift;;
    *) echo "dflab-confine: unknown step $step" >&2; exit 2;;
  esac
done
shift
cd "$root"
mkdir .old
if PATH=/usr/sbin:/sbin:$PATH pivot_root . .old 2>/dev/null; then
  umount -l /.old
  rmdir /.old
  mount -o remount,ro,nosuid,nodev /
  cd "$cwd"
  unset OLDPWD  # the host path of the mount point; PWD stays (where the command starts)
  exec "$@"
fi
# pivot_root refused (Docker's default seccomp profile forbids it): chroot, which a process without
# CAP_SYS_CHROOT (every confined process) cannot leave.
rmdir .old
mount -o remount,ro,nosuid,nodev "$root"
exec /usr/sbin/chroot "$root" /bin/sh -c 'cd "$0" && unset OLDPWD && exec "$@"' "$cwd" "$@"
"""

# Sets IFF_UP on "lo" (SIOCGIFFLAGS, SIOCSIFFLAGS; struct ifreq: a 16-byte name, then a 24-byte union): what
# `ip link set lo up` does, without needing iproute2 on the host.
LOOPBACK_UP = """
import fcntl, socket, struct, sys
try:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        name = b"lo".ljust(16, b"\\0")
        flags = struct.unpack_from("H", fcntl.ioctl(s, 0x8913, name + bytes(24)), 16)[0]
        fcntl.ioctl(s, 0x8914, name + struct.pack("H", flags | 1) + bytes(22))
except OSError as exc:
    sys.exit(f"bringing the loopback up failed: {exc.strerror}")
"""


@dataclass
class Root:
    """The steps that build one confined root (see ``ROOT_SCRIPT``); start from :func:`base_root`."""

    steps: list[str] = field(default_factory=list)

    def show(self, path: str | Path) -> Root:
        """``path`` of the host at the same place, read-only (skipped when the host has none)."""
        self.steps += ["show", str(path)]
        return self

    def bind(self, source: str | Path, target: str | Path, *, writable: bool = False) -> Root:
        """The host's ``source`` (a directory or a file) at ``target``; read-only unless ``writable``."""
        self.steps += ["rw" if writable else "ro", str(source), str(target)]
        return self

    def tmpfs(self, target: str, options: str) -> Root:
        self.steps += ["tmpfs", target, options]
        return self

    def mkdir(self, target: str) -> Root:
        self.steps += ["mkdir", target]
        return self

    def copy(self, source: str | Path, target: str) -> Root:
        """A copy of the host directory ``source``'s contents into ``target`` (which must exist)."""
        self.steps += ["copy", str(source), target]
        return self

    def own(self, target: str) -> Root:
        """``target`` and everything under it belong to the confined uid (nothing in a user namespace)."""
        self.steps += ["own", target]
        return self

    def hide(self, path: str | Path) -> Root:
        """Cover ``path`` (inside something shown) with an empty, unreadable file system."""
        self.steps += ["hide", str(path)]
        return self

    def terminals(self) -> Root:
        """``/dev/pts`` and ``/dev/ptmx`` of a pseudo-terminal instance of its own, and ``/dev/tty``."""
        self.steps += ["pts"]
        return self

    def loopback(self, python: str) -> Root:
        """Bring up the loopback of the network namespace the root is built in (a new one has it down): with it,
        127.0.0.0/8 works inside and reaches nothing outside (run with ``unshare --net``)."""
        self.steps += ["loopback", python, LOOPBACK_UP]
        return self

    def cwd(self, path: str | Path) -> Root:
        """Where the command starts."""
        self.steps += ["cwd", str(path)]
        return self

    def command(self, mount_point: Path, uid: int | None, argv: Sequence[str],
                name: str = "dflab-confine") -> list[str]:
        """``/bin/sh -c ROOT_SCRIPT ...``: to run in a new mount namespace (``unshare --mount -- <this>``).

        ``mount_point`` is any empty directory of the host (the namespace mounts its root there, the host sees
        nothing of it); ``argv`` runs inside the new root, still as root: start it with :func:`drop_to`.
        """
        return ["/bin/sh", "-c", ROOT_SCRIPT, name, str(mount_point), "" if uid is None else str(uid),
                *self.steps, "--", *argv]


def base_root(python: str, packages: Sequence[str] = KERNEL_PACKAGES, *, proc: str) -> Root:
    """What every confined trainee process sees: system directories, ``python`` and ``packages`` read-only,
    device nodes, private ``/tmp`` and ``/dev/shm``, and ``/proc`` (``proc``: "inherit" in a PID namespace of
    its own, "own" to mount one showing only the processes of the confined uid).

    The steps that follow may bind under ``/tmp``: it is mounted first.
    """
    root = Root()
    for path in visible_paths(python, packages):
        root.show(path)
    root.steps += ["proc", proc, "dev"]
    root.tmpfs("/tmp", f"mode=1777,nosuid,nodev,size={TMP_SIZE},nr_inodes={TMP_INODES}")  # noqa: S108 -- its own
    root.tmpfs("/dev/shm", f"mode=1777,nosuid,nodev,noexec,size={SHM_SIZE},nr_inodes={SHM_INODES}")  # noqa: S108
    return root


def drop_to(uid: int) -> list[str]:
    """The command prefix that runs what follows as ``uid`` (group ``uid``, no other group), with no capability
    and no way to gain one (``no_new_privs``: set-uid programs do not raise it)."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--inh-caps=-all",
            "--bounding-set=-all", "--"]


def visible_paths(python: str, packages: Sequence[str] = KERNEL_PACKAGES) -> list[Path]:
    """What of the host a confined process sees, read-only: the system directories and what the interpreter needs.

    The interpreter's installation and virtual environment, and the folder of every one of ``packages`` imported
    from outside them (an editable install of dflab, whose ``dflab.lab`` notebooks import): just those folders,
    never the checkout around them.
    """
    paths = [Path(p) for p in SYSTEM_PATHS]
    for prefix in (sys.prefix, sys.base_prefix, os.path.realpath(sys.base_prefix), Path(python).parent.parent):
        paths.append(Path(prefix))
    for name in packages:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            paths.append(Path(location).resolve())
    top = list(dict.fromkeys(paths))
    # A path inside another one is bound with it already (and would be bound over it otherwise).
    return [p for p in top if p.is_symlink() or not any(p != q and p.is_relative_to(q) and not q.is_symlink()
                                                          for q in top)]


# -- the processes of a confined uid -----------------------------------------------------------------------------
def pid_namespace(pid: int) -> str | None:
    """The PID namespace ``pid`` lives in (``pid:[inode]``), or None when it is gone or unreadable."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def uid_processes(uid: int, *, zombies: bool = True, namespace: str | None = None) -> list[int]:
    """Processes whose real uid is ``uid`` (those this process can see); without ``zombies``, only those not dead;
    with ``namespace``, only those in that PID namespace (another container on this kernel may use the same uid)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            status = Path(entry.path, "status").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "-1").split()[0]) == uid and (zombies or not fields.get("State", "").strip()
                                                                   .startswith(("Z", "X"))) \
                and (namespace is None or pid_namespace(int(entry.name)) == namespace):
            pids.append(int(entry.name))
    return pids


def reap_uid(uid: int, timeout: float, what: str, after: str, where: str, *, zombies: bool = True,
             namespace: str | None = None) -> None:
    """Kill every process of ``uid`` and wait until none is left (at most ``timeout`` seconds).

    A process counts towards its uid's ``RLIMIT_NPROC`` until it is gone, and one that detached (``setsid``,
    ``nohup``) outlives its process group: nothing of a confined uid may be left when its owner is done.  Without
    ``zombies``, a dead process its parent has not collected yet counts as gone (outside a PID namespace of one's
    own, that parent may be anyone).
    """
    deadline = time.monotonic() + timeout
    while (left := uid_processes(uid, zombies=zombies, namespace=namespace)) and time.monotonic() < deadline:
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
    if uid_processes(uid, zombies=zombies, namespace=namespace):
        raise DflabError(f"processes of {what} {uid} survived {timeout:.0f} s after {after}", where)


def chown_tree(path: Path, uid: int) -> None:
    """``path`` and everything under it to ``uid:uid``, links themselves (never what they point at)."""
    os.lchown(path, uid, uid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0][:200] if lines else "no message"
