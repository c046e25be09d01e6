"""A size-limited workspace: one ext4 file system in a sparse image file, loop-mounted on this host.

The Docker backend keeps each trainee's work in a named volume. A plain volume lives on the engine's disk
with no limit, so one trainee writing in a loop fills the disk every lab, the gradebook and the engine
share. Docker's own answers do not fit: ``--storage-opt size`` needs XFS project quotas under the engine's
data root, the local volume driver cannot attach a loop device itself, and a tmpfs volume loses the work
when the lab stops. So the workspace is a file system of its own:

- ``<session>/workspaces/<trainee>.ext4``: a sparse image (it costs only what is written), made once with
  ``mkfs.ext4`` (root owned by the trainee's uid, no reserved blocks);
- ``<session>/workspaces/<trainee>/``: where it is mounted (``loop,nosuid,nodev,noatime``); the directory
  itself is root's and mode 0000, so a lab started while the image is not mounted (after a host reboot,
  the engine restarts labs before anyone runs dflab) cannot write anything outside the quota;
- the volume is a bind of that mount point (the local driver's ``type=none,o=bind``).

A full workspace is ``No space left on device`` in the lab and nothing anywhere else. Needs root (mount)
and loop devices, which every Debian machine has; the engine must see this host's mounts (a local engine).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from dflab.errors import DflabError

# Documented in README.md ("Quotas"): the size of every Docker workspace, in MiB; 0 = no limit (practice only).
# It is the trainee's write quota alone: their evidence (a 1 GiB sparse disk image, 256 MiB of memory) is bound in
# read-only beside it, never copied into it (evidence_share.py), so a workspace holds notebooks and what the
# trainee extracts, and the default need not grow with the images.
SIZE_ENV = "DFLAB_WORKSPACE_MIB"
DEFAULT_MIB = 2048
MAX_MIB = 1 << 20  # 1 TiB: a typo, not a workspace


def size_mib() -> int:
    """The workspace size asked for by ``$DFLAB_WORKSPACE_MIB`` (default 2048 MiB); 0 means no limit."""
    raw = os.environ.get(SIZE_ENV, "").strip()
    if not raw:
        return DEFAULT_MIB
    if not raw.isdigit() or int(raw) > MAX_MIB or 0 < int(raw) < 64:
        raise DflabError(f"{SIZE_ENV}={raw!r}: give a size in MiB from 64 to {MAX_MIB}, or 0 for no limit", SIZE_ENV)
    return int(raw)


def _run(argv: list[str], where: Path, doing: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DflabError(f"{doing}: {exc}", str(where)) from None
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[-1]
        raise DflabError(f"{doing}: {last}", str(where))


class WorkspaceDisk:
    """The image file and mount point of one trainee's size-limited workspace."""

    def __init__(self, folder: Path, trainee: str, mib: int, owner_uid: int) -> None:
        self.image = folder / f"{trainee}.ext4"
        self.mountpoint = folder / trainee
        self.mib = mib
        self.owner_uid = owner_uid

    def mounted(self) -> bool:
        return os.path.ismount(self.mountpoint)

    def ensure(self) -> bool:
        """Make (first time) and mount the workspace; True when it was not mounted before this call."""
        if self.mounted():
            return False
        if os.geteuid() != 0:
            raise DflabError(f"a size-limited workspace is a loop-mounted file system, which needs root; run dflab "
                             f"as root (membership of the docker group is root-equivalent anyway), or set "
                             f"{SIZE_ENV}=0 for workspaces without a limit (practice only)", str(self.image))
        self.image.parent.mkdir(parents=True, exist_ok=True)
        self.image.parent.chmod(0o700)
        self.mountpoint.mkdir(exist_ok=True)
        self.mountpoint.chmod(0)  # unmounted, it is nobody's: see the module docstring
        if not self.image.exists():
            self._make()
        _run(["mount", "-t", "ext4", "-o", "loop,nosuid,nodev,noatime", str(self.image), str(self.mountpoint)],
             self.image, "mounting the trainee's workspace")
        lost = self.mountpoint / "lost+found"  # e2fsck makes it again if it ever needs it
        if lost.is_dir() and not any(lost.iterdir()):
            lost.rmdir()
        return True

    def _make(self) -> None:
        partial = self.image.with_suffix(".partial")
        with open(partial, "wb") as image:
            image.truncate(self.mib << 20)
        uid = self.owner_uid
        _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-L", "dflab-work",
              "-E", f"root_owner={uid}:{uid},lazy_itable_init=1,lazy_journal_init=1,nodiscard", str(partial)],
             self.image, "making the trainee's workspace file system")
        partial.rename(self.image)  # an interrupted mkfs leaves a .partial, never a half-made workspace

    def unmount(self) -> None:
        """Unmount (lazily: a container being removed may still hold it for a moment); the image stays."""
        if self.mounted():
            _run(["umount", "--lazy", str(self.mountpoint)], self.mountpoint, "unmounting the trainee's workspace")

    def remove(self) -> None:
        """Unmount and delete the workspace (its work is lost)."""
        self.unmount()
        if self.mountpoint.is_dir():
            self.mountpoint.rmdir()
        for path in (self.image, self.image.with_suffix(".partial")):
            path.unlink(missing_ok=True)

    def usage(self) -> tuple[int, int]:
        """Bytes used and bytes of the file system, as the trainee sees them (df)."""
        du = shutil.disk_usage(self.mountpoint)
        return du.used, du.total
