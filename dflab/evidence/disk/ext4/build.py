"""An ext4 file system as ``mkfs.ext4`` (e2fsprogs 1.47) makes it and Linux then fills it, byte by byte.

mke2fs's decisions come from :mod:`.geometry` (checked against the real tool by
tests/test_ext4_mkfs_parity.py); the story the plan leaves open (when the file system was made,
when each directory appeared, owners, nanoseconds) from :mod:`.story`; the kernel's creation of
every file, in time order, from :mod:`.history`; every metadata block at any moment from
:mod:`.render`; the jbd2 log of the last changes from :mod:`.journal`.  This module puts them
together and says where each piece of the image goes.

Deletion is Linux's unlink: the directory record is merged into the previous one and wiped, the
inode is truncated (size, block count and extent tree zeroed, mtime and ctime set to the moment)
and freed with ``links_count`` 0 and ``dtime`` set, the parent's mtime and ctime move to the
moment, its blocks and inode are free in the bitmaps.  The data blocks keep their bytes (they
are never reused) and the journal keeps the inode and directory blocks as they were before.
A file a process still holds (``Mounts.held``) is only unlinked then: its inode goes on the
orphan list (links 0, ctime the moment, size and extents intact, ``s_last_orphan`` and the
chain through ``i_dtime``) and is truncated and freed at the shutdown, when its holder ends,
just before the unmount; the journal keeps both transactions.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from dflab.errors import DflabError
from dflab.evidence.disk.ext4 import geometry as g
from dflab.evidence.disk.ext4.history import History
from dflab.evidence.disk.ext4.inode import FAST_SYMLINK_MAX, NS, extent_tree
from dflab.evidence.disk.ext4.journal import COMMIT_INTERVAL_NS, Journal, commits
from dflab.evidence.disk.ext4.render import Life, Renderer
from dflab.evidence.disk.ext4.story import Draws, plan
from dflab.evidence.disk.ext4.superblock import Identity
from dflab.evidence.disk.model import BuiltFs, PlacedFile
from dflab.evidence.disk.tree import build_tree
from dflab.scenario.case import DiskFile, User, Volume

MAX_NAME = 255
JOURNAL_RENDER_BYTES = 1 << 20  # how much of the log is drawn (the rest stays as mke2fs zeroed it)


@dataclass(frozen=True)
class Mounts:
    """When the suspect host last mounted the volume (boot) and shut down (to image the disk), and the deleted
    files (ids) its processes held until then: those are orphans from their unlink and freed at the shutdown."""

    mounted_at: int | None = None
    shutdown_at: int | None = None
    held: frozenset[str] = frozenset()


def build_ext4(volume: Volume, files: list[DiskFile], start_lba: int, *, seed: bytes = b"",
               users: tuple[User, ...] = (), mounts: Mounts = Mounts()) -> BuiltFs:
    """Lay out ``files`` on an ext4 ``volume``; ``start_lba`` is unused (ext4 does not record it).

    ``seed`` (the case's) draws what the plan leaves open: hash seed, generation numbers,
    nanoseconds, transaction ids; ``users`` own their home directories; ``mounts`` dates the
    superblock's last mount and write, and where the journal's last session starts.
    """
    del start_lba
    where = f"volume {volume.id}"
    geo = g.geometry(volume.size_bytes, where)
    tables, bmap = g.mkfs_layout(geo, where)
    draws = Draws(seed, volume)
    shutdown_ns = None if mounts.shutdown_at is None else draws.stamp("shutdown", mounts.shutdown_at)
    root = build_tree(volume, files, MAX_NAME)
    for node in root.walk():
        if len(node.file.link.encode()) > FAST_SYMLINK_MAX:
            raise DflabError(f"a symbolic link's target is at most {FAST_SYMLINK_MAX} bytes (a fast symlink)",
                             node.where)
    mkfs_s, top = plan(root, users, draws, mounts.held, shutdown_ns)
    try:
        fs_uuid = uuid.UUID(volume.uuid).bytes
    except ValueError as exc:
        raise DflabError(f"{volume.uuid!r} is not a UUID", f"disk.volumes[{volume.id}].uuid") from exc
    hash_seed = uuid.UUID(bytes=draws.rng("hash-seed").randbytes(16), version=4).bytes
    history = History(geo, tables, bmap, top, mkfs_s * NS, hash_seed, draws, where)
    history.run()

    latest = max([e.at_ns for e in history.events] + [mkfs_s * NS, shutdown_ns or 0]) + COMMIT_INTERVAL_NS
    r = draws.rng("unmount")
    unmounted = latest + r.randint(1, 5) * NS + r.randrange(NS)  # the shutdown's umount follows its last writes
    mounted = mounts.mounted_at
    if mounted is None or not mkfs_s < mounted <= unmounted // NS:
        mounted = max(mkfs_s, unmounted // NS - r.randint(3600, 8 * 3600))
    journal_i_block = b""
    if geo.journal_blocks:
        journal_i_block, _ = extent_tree(list(tables.journal_extents), [], 0, geo.block_size, where)
    identity = Identity(fs_uuid, volume.label, hash_seed, mkfs_s, journal_i_block, geo.journal_blocks * geo.block_size,
                        tables.overhead)
    render = Renderer(history, identity, Life(mkfs_s, mounted, unmounted, volume.mount_point, draws),
                      f"disk.volumes[{volume.id}]")

    built = BuiltFs(label=volume.label, stat=_stat(history, render, unmounted), last_inode=max(history.nodes))
    _files(built, history)
    _resize_inode_blocks(built, geo, tables)
    _state(built, render, history, unmounted)
    _backups(built, render, geo, history.mkfs_ns)
    if geo.journal_blocks:
        _journal(built, render, history, fs_uuid, mounted * NS, draws)
    return built


def _stat(history: History, render: Renderer, at: int) -> Callable[[str], dict[str, int] | None]:
    """``stat`` of a path as the last unmount left it (memory names the same inode, owners, size and times)."""
    by_path = {node.item.path: node.ino for node in history.nodes.values()}

    def stat(path: str) -> dict[str, int] | None:
        ino = by_path.get(path)
        inode = render.inode(ino, at) if ino is not None else None
        if ino is None or inode is None or inode.links == 0:
            return None
        return {"inode": ino, "mode": inode.mode, "uid": inode.uid, "gid": inode.gid, "size": inode.size,
                "atime_ns": inode.atime_ns, "mtime_ns": inode.mtime_ns, "ctime_ns": inode.ctime_ns}

    return stat


def _files(built: BuiltFs, history: History) -> None:
    """File contents (and the planned slack after them), and where each planned file landed."""
    bs = history.geo.block_size
    for node in history.nodes.values():
        f = node.item.file
        if not node.item.is_dir:
            data = f.content + f.slack
            logical = 0
            for start, length in node.extents:
                built.put(start * bs, data[logical * bs:(logical + length) * bs])
                logical += length
        if f.id:
            slack_at = None
            if f.slack:
                slack_at = _block_at(node.extents, len(f.content) // bs) * bs + len(f.content) % bs
            built.files[f.id] = PlacedFile(node.ino, slack_at)


def _resize_inode_blocks(built: BuiltFs, geo: g.Geometry, tables: g.Tables) -> None:
    """ext2fs_create_resize_inode: the double-indirect block lists the primary reserved GDT blocks, each of
    which lists its backups' block numbers."""
    bs = geo.block_size
    dind = bytearray(bs)
    primary = geo.first_data_block + 1 + geo.desc_blocks
    backups = [group for group in range(1, geo.groups) if g.has_super(group)]
    for k in range(geo.reserved_gdt):
        struct.pack_into("<I", dind, ((geo.desc_blocks + k) % geo.pointers_per_block) * 4, primary + k)
        built.put((primary + k) * bs,
                  b"".join(struct.pack("<I", primary + k + group * geo.blocks_per_group) for group in backups))
    built.put(tables.resize_dind * bs, dind)


def _state(built: BuiltFs, render: Renderer, history: History, at: int) -> None:
    """Everything that changes, as the last unmount left it."""
    geo = history.geo
    bs = geo.block_size
    table, _, bitmaps = render.descriptors(at)
    built.put(1024, render.superblock(at))
    built.put((geo.group_first(0) + 1) * bs, table)
    for block, data in bitmaps.items():
        built.put(block * bs, data)
    for block in render.inode_table_blocks():
        built.put(block * bs, render.inode_table_block(block, at))
    for block in history.dir_block_owner:
        built.put(block * bs, render.directory_block(block, at))
    for block in history.leaf_owner:
        built.put(block * bs, render.extent_leaf(block, at))


def _backups(built: BuiltFs, render: Renderer, geo: g.Geometry, mkfs_ns: int) -> None:
    """Backup superblocks and descriptors: mke2fs writes them, the kernel does not update them."""
    table, _, _ = render.descriptors(mkfs_ns)
    for group in range(1, geo.groups):
        if g.has_super(group):
            first = geo.group_first(group)
            built.put(first * geo.block_size, render.superblock(mkfs_ns, group))
            built.put((first + 1) * geo.block_size, table)


def _journal(built: BuiltFs, render: Renderer, history: History, fs_uuid: bytes, mounted_ns: int,
             draws: Draws) -> None:
    """The journal after a clean unmount: an empty log whose blocks still hold the last transactions."""
    geo = history.geo
    r = draws.rng("journal")
    days = max(1, (render.life.unmounted_ns - history.mkfs_ns) // (86400 * NS))
    log = commits(((e.at_ns, e.blocks) for e in history.events), 2 + days * r.randint(150, 600),
                  mounted_ns if history.mkfs_ns < mounted_ns else None, r)
    journal = Journal(geo.block_size, geo.journal_blocks, fs_uuid)
    budget = min(geo.journal_blocks - 1, JOURNAL_RENDER_BYTES // geo.block_size)
    blocks = journal.render(journal.lay_out(log.sessions, budget),
                            lambda tx, fs_block: render.block(fs_block, log.state_at[tx.tid]))
    extents = list(history.tables.journal_extents)
    transactions = log.transactions
    next_tid = transactions[-1].tid + 1 if transactions else 1
    built.put(_block_at(extents, 0) * geo.block_size, journal.superblock(next_tid, bool(transactions)))
    for logical, data in sorted(blocks.items()):
        built.put(_block_at(extents, logical) * geo.block_size, data)


def _block_at(extents: list[tuple[int, int]], logical: int) -> int:
    """The physical block of a file's ``logical``-th block."""
    for start, length in extents:
        if logical < length:
            return start + logical
        logical -= length
    raise AssertionError(logical)
