"""The file system's own story: when it was made, when each directory appeared and changed, who owns it.

The spec plans files; a real disk also records what the planning leaves implicit, and an
examiner reads it: the directories' times follow their entries (a directory exists before the
first file put in it and is modified whenever a name is added or removed), ``/tmp`` is sticky
and world-writable, a home directory belongs to its user, every time has nanoseconds, every
inode a random generation number.  All of it is decided here, from the case's seed, so the
same case always gives the same bytes:

* ``mkfs`` precedes the first planned creation by a drawn margin, and the top-level system
  directories follow it by a drawn install delay;
* a directory nobody planned is created a drawn lead before the first file below it (never
  before its own parent); its later times follow its entries (:mod:`.render`: mtime and ctime
  are its last entry change, atime the last read of a file in it);
* planned files and directories keep their planned times; the nanoseconds of a time are a keyed
  hash of the file and its second, so equal seconds within one file are the same instant.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from dflab.evidence.disk.tree import Node
from dflab.scenario.case import DiskFile, User, Volume
from dflab.scenario.draw import rng as draw_rng

NS = 1_000_000_000
# Top-level and system directories as Debian/Ubuntu's base-files make them (mode, owned by root).
SYSTEM_DIRS = {"/tmp": 0o1777, "/var/tmp": 0o1777, "/root": 0o700, "/home": 0o755}  # noqa: S108 - paths in the image
HOME_MODE = 0o750  # adduser's DIR_MODE on Ubuntu 22.04 (Debian 12 uses 0700)
SUBDIR_MODE = 0o755  # what a user's mkdir makes under umask 022
MKFS_MARGIN_S = (2 * 3600, 3 * 86400)  # how long before the first planned file the file system was made
INSTALL_DELAY_S = (20, 600)  # mkfs to the installer creating /etc, /home, /tmp ...
DIR_LEAD_S = (2, 300)  # a directory appears this long before the first file put in it


class Draws:
    """Reproducible randomness for one volume, from the case seed (dflab.scenario.draw.rng streams)."""

    def __init__(self, seed: bytes, volume: Volume) -> None:
        self.seed = seed
        self.volume = volume.id
        self.key = hashlib.sha256(b"dflab/ext4\0" + seed + b"\0" + volume.id.encode()).digest()

    def rng(self, *labels: str) -> random.Random:
        return draw_rng(self.seed, "disk", "ext4", self.volume, *labels)

    def nanos(self, key: str, seconds: int) -> int:
        """The nanoseconds of ``seconds`` for the object ``key``: fixed per (object, second)."""
        digest = hashlib.sha256(self.key + key.encode() + b"\0" + str(seconds).encode()).digest()
        return int.from_bytes(digest[:8], "little") % NS

    def stamp(self, key: str, seconds: int) -> int:
        return seconds * NS + self.nanos(key, seconds)

    def uint32(self, *labels: str) -> int:
        return self.rng(*labels).getrandbits(32)


@dataclass
class Stamps:
    """An inode's times in nanoseconds: ``unlinked`` when its name was removed, ``dtime`` when it was freed (None
    while it exists).  The two differ for a file a process held open or mapped: freed at its last close."""

    crtime: int
    mtime: int
    ctime: int
    atime: int
    dtime: int | None = None
    unlinked: int | None = None


@dataclass(eq=False)
class Item:
    """A planned or implied file or directory with the times, owner and mode the disk will show."""

    path: str
    file: DiskFile  # the plan (for implied directories, tree.py's stand-in)
    implicit: bool
    parent: Item | None
    where: str
    stamps: Stamps = field(default_factory=lambda: Stamps(0, 0, 0, 0))
    uid: int = 0
    gid: int = 0
    mode: int = 0o644
    children: list[Item] = field(default_factory=list)

    @property
    def is_dir(self) -> bool:
        return self.file.is_dir

    @property
    def deleted(self) -> bool:
        return self.stamps.dtime is not None

    def walk(self) -> list[Item]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def plan(root: Node, users: tuple[User, ...], draws: Draws, held: frozenset[str] = frozenset(),
         shutdown_ns: int | None = None) -> tuple[int, Item]:
    """(mkfs time in seconds, the root item with every item's times, owner and mode settled).

    A deleted file whose id is in ``held`` is freed at ``shutdown_ns`` (its holder ended then), any other at
    its unlink."""
    top = _items(root, None)
    items = top.walk()
    planned = [i for i in items if not i.implicit]
    for item in planned:
        f = item.file
        unlinked = None if f.deleted_at is None else draws.stamp(item.path, f.deleted_at)
        freed = unlinked
        if f.deleted_at is not None and f.id in held and shutdown_ns is not None and shutdown_ns // NS > f.deleted_at:
            freed = shutdown_ns
        item.stamps = Stamps(draws.stamp(item.path, f.crtime), draws.stamp(item.path, f.mtime),
                             draws.stamp(item.path, f.ctime), draws.stamp(item.path, f.atime), freed, unlinked)
        item.uid, item.gid, item.mode = f.uid, f.gid, f.mode & 0o7777
    first = min((i.file.crtime for i in planned), default=0)
    margin = draws.rng("mkfs").randint(*MKFS_MARGIN_S)
    mkfs = first - margin if planned else 0
    earliest: dict[int, int] = {}
    _earliest_creation(top, earliest, mkfs * NS)
    top.stamps = Stamps(mkfs * NS, mkfs * NS, mkfs * NS, mkfs * NS)
    top.uid = top.gid = 0
    top.mode = 0o755
    _settle_creation(top, earliest, mkfs, users, draws)
    return mkfs, top


def _items(node: Node, parent: Item | None) -> Item:
    item = Item(node.file.path, node.file, implicit=not node.file.id, parent=parent, where=node.where)
    item.children = [_items(child, item) for child in node.children]
    return item


def _earliest_creation(item: Item, out: dict[int, int], mkfs_ns: int) -> int:
    """Earliest planned creation at or below ``item`` (what an implied directory must precede)."""
    times = [_earliest_creation(child, out, mkfs_ns) for child in item.children]
    if not item.implicit and item.parent is not None:
        times.append(item.stamps.crtime)
    out[id(item)] = min(times) if times else mkfs_ns
    return out[id(item)]


def _settle_creation(item: Item, earliest: dict[int, int], mkfs: int, users: tuple[User, ...],
                     draws: Draws) -> None:
    """Top-down: each implied directory's creation time, owner and mode."""
    for child in item.children:
        if child.implicit:
            _implied_directory(child, earliest[id(child)], mkfs, users, draws)
        _settle_creation(child, earliest, mkfs, users, draws)


def _implied_directory(item: Item, first_inside: int, mkfs: int, users: tuple[User, ...], draws: Draws) -> None:
    assert item.parent is not None
    parent_ns = item.parent.stamps.crtime
    r = draws.rng("dir", item.path)
    lead = r.randint(*DIR_LEAD_S) * NS + r.randrange(NS)
    target = first_inside - lead
    if item.parent.parent is None:  # a top-level directory: made by the installer, right after mkfs
        target = min(target, (mkfs + r.randint(*INSTALL_DELAY_S)) * NS + r.randrange(NS))
    if target <= parent_ns:  # no room before the first file: halfway between the parent and it
        target = parent_ns + max((first_inside - parent_ns) // 2, 1)
    item.stamps = Stamps(target, target, target, target)
    item.uid, item.gid, item.mode = _implied_owner(item, users)


def _implied_owner(item: Item, users: tuple[User, ...]) -> tuple[int, int, int]:
    """Owner and mode of a directory nobody planned: system ones are root's, a home and below its user's."""
    path = item.path.rstrip("/")
    if path in SYSTEM_DIRS:
        return 0, 0, SYSTEM_DIRS[path]
    for user in users:
        home = user.home.rstrip("/")
        if path == home:
            return user.uid, user.gid, HOME_MODE
        if path.startswith(home + "/"):
            return user.uid, user.gid, SUBDIR_MODE
    assert item.parent is not None
    if item.parent.parent is None:
        return 0, 0, 0o755
    first = item.file  # tree.py's stand-in carries the first planned file's owner
    return first.uid, first.gid, SUBDIR_MODE
