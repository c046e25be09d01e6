"""Read disk images like The Sleuth Kit does, but into pandas tables.

This module is the notebook-friendly face of ``pytsk3`` (TSK's Python
binding).  Each function takes the *image path* and opens what it needs, so a
notebook cell can be re-run on its own::

    from dflab.forensics import disk
    disk.partitions("evidence/disk.E01")              # like mmls
    files = disk.list_files("evidence/disk.E01", partition=1)   # like fls -r -p
    files[files.deleted]                              # what was deleted?
    data = disk.read_file("evidence/disk.E01", inode=14, partition=1)  # like icat
    disk.file_type(data)                              # what is it really?
    disk.inode_history("evidence/disk.img", 66, partition=1)   # a deleted ext4 inode's copies in the journal

Vocabulary, because forensics tools use it everywhere:

* **inode / metadata address** -- the number of the file's metadata record
  (ext inode, NTFS MFT entry, FAT directory-entry slot).  A deleted file's
  *name* may be gone or mangled, but its metadata address still finds the data.
* **deleted** -- the directory entry (the name) is marked unallocated.  TSK
  still lists it because the bytes are still there until overwritten.
* **realloc** -- the name is deleted *and* its metadata record now belongs to
  another file: sizes and times shown are the new owner's, not the original's.
* **address** -- ``"32-128-6"`` on NTFS means MFT entry 32, attribute type 128
  ($DATA), attribute id 6: how fls names one stream of a file.

Partitions: ``partition=None`` means "the image is one file system" (no
partition table) or the table holds exactly one file system; otherwise pass
the ``index`` column of :func:`partitions` or a byte offset.

Images: raw (dd), E01 sets, VHD/VHDX, VMDK and QCOW2, recognised by their
signature (:mod:`dflab.forensics.images`).  Opening an E01 checks that every
segment is there and whole; :func:`verify_e01` recomputes its stored hashes.

File system type: TSK guesses it, and refuses when a volume carries the
signatures of two (an ext volume still holding an old FAT boot sector).
``fs_type="ext"`` (or ``"fat"``, ``"ntfs"``, ... as ``fls -f`` takes) forces
one, as an examiner does with ``fls -f``.
"""

from __future__ import annotations

import calendar
import os
import re
import struct
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import pytsk3

from dflab.atomic import atomic_file
from dflab.errors import DflabError, EvidenceError
from dflab.forensics import images
from dflab.forensics.ewf import E01Verification, EwfImgInfo, verify_e01
from dflab.forensics.ewf_layout import EWF_SIGNATURE
from dflab.forensics.hashing import DEFAULT_ALGORITHMS, new_hashers
from dflab.forensics.images import open_image
from dflab.forensics.magic import file_type

__all__ = [
    "FS_TYPES",
    "E01Verification",
    "EWF_SIGNATURE",
    "EwfImgInfo",
    "TruncatedImageWarning",
    "extract",
    "file_type",
    "inode_history",
    "journal",
    "journal_block",
    "list_files",
    "name_history",
    "open_image",
    "partitions",
    "read_file",
    "recover_from_journal",
    "timeline",
    "verify_e01",
]

READ_CHUNK = 1024 * 1024
MAX_DEPTH = 128

_META_TYPES = {
    pytsk3.TSK_FS_META_TYPE_REG: "file",
    pytsk3.TSK_FS_META_TYPE_DIR: "dir",
    pytsk3.TSK_FS_META_TYPE_LNK: "link",
    pytsk3.TSK_FS_META_TYPE_FIFO: "fifo",
    pytsk3.TSK_FS_META_TYPE_CHR: "char",
    pytsk3.TSK_FS_META_TYPE_BLK: "block",
    pytsk3.TSK_FS_META_TYPE_SOCK: "socket",
    pytsk3.TSK_FS_META_TYPE_SHAD: "shadow",
    pytsk3.TSK_FS_META_TYPE_WHT: "whiteout",
    pytsk3.TSK_FS_META_TYPE_VIRT: "virtual",
    pytsk3.TSK_FS_META_TYPE_VIRT_DIR: "virtual_dir",
}
_NAME_TYPES = {
    pytsk3.TSK_FS_NAME_TYPE_REG: "file",
    pytsk3.TSK_FS_NAME_TYPE_DIR: "dir",
    pytsk3.TSK_FS_NAME_TYPE_LNK: "link",
    pytsk3.TSK_FS_NAME_TYPE_FIFO: "fifo",
    pytsk3.TSK_FS_NAME_TYPE_CHR: "char",
    pytsk3.TSK_FS_NAME_TYPE_BLK: "block",
    pytsk3.TSK_FS_NAME_TYPE_SOCK: "socket",
    pytsk3.TSK_FS_NAME_TYPE_SHAD: "shadow",
    pytsk3.TSK_FS_NAME_TYPE_WHT: "whiteout",
    pytsk3.TSK_FS_NAME_TYPE_VIRT: "virtual",
    pytsk3.TSK_FS_NAME_TYPE_VIRT_DIR: "virtual_dir",
}
_FS_NAMES = {
    pytsk3.TSK_FS_TYPE_NTFS: "ntfs",
    pytsk3.TSK_FS_TYPE_FAT12: "fat12",
    pytsk3.TSK_FS_TYPE_FAT16: "fat16",
    pytsk3.TSK_FS_TYPE_FAT32: "fat32",
    pytsk3.TSK_FS_TYPE_EXFAT: "exfat",
    pytsk3.TSK_FS_TYPE_EXT2: "ext2",
    pytsk3.TSK_FS_TYPE_EXT3: "ext3",
    pytsk3.TSK_FS_TYPE_EXT4: "ext4",
    pytsk3.TSK_FS_TYPE_HFS: "hfs",
    pytsk3.TSK_FS_TYPE_ISO9660: "iso9660",
}
# What ``fs_type=`` accepts: the names ``fls -f`` takes (``fls -f list``), to TSK's type.
FS_TYPES: dict[str, int] = {
    "ntfs": pytsk3.TSK_FS_TYPE_NTFS,
    "fat": pytsk3.TSK_FS_TYPE_FAT_DETECT,
    "fat12": pytsk3.TSK_FS_TYPE_FAT12,
    "fat16": pytsk3.TSK_FS_TYPE_FAT16,
    "fat32": pytsk3.TSK_FS_TYPE_FAT32,
    "exfat": pytsk3.TSK_FS_TYPE_EXFAT,
    "ext": pytsk3.TSK_FS_TYPE_EXT_DETECT,
    "ext2": pytsk3.TSK_FS_TYPE_EXT2,
    "ext3": pytsk3.TSK_FS_TYPE_EXT3,
    "ext4": pytsk3.TSK_FS_TYPE_EXT4,
    "iso9660": pytsk3.TSK_FS_TYPE_ISO9660,
    "hfs": pytsk3.TSK_FS_TYPE_HFS_DETECT,
    "ufs": pytsk3.TSK_FS_TYPE_FFS_DETECT,
    "ufs1": pytsk3.TSK_FS_TYPE_FFS1,
    "ufs2": pytsk3.TSK_FS_TYPE_FFS2,
    "yaffs2": pytsk3.TSK_FS_TYPE_YAFFS2,
}
_TIME_FIELDS = ("mtime", "atime", "ctime", "crtime")
_LOCAL_TIME_FS = frozenset({"fat12", "fat16", "fat32"})
_ADDRESS = re.compile(r"^(\d+)(?:-(\d+)-(\d+))?$")
_MULTIPLE = re.compile(r"Multiple file system types detected \(([^)]*)\)")

Partition = int | None


def partitions(path: str | os.PathLike[str], all_slots: bool = False) -> pd.DataFrame:
    """List the partitions of an image, like ``mmls``.

    Columns: ``index`` (what to pass as ``partition=``), ``slot`` (TSK's
    address, as in mmls' first column), ``start``/``length``/``end`` in
    sectors, ``offset``/``size`` in bytes, ``description`` (partition type
    from the table), ``filesystem`` (what TSK recognises inside, or None).

    MBR logical partitions inside an extended partition and GPT entries are
    listed the same way.  An image with **no partition table** (a "partition
    image" like the DFTT ones) gives one row for the whole image, with the
    description ``"whole image (no partition table)"``.

    ``all_slots=True`` also shows the table's own sectors and unallocated gaps
    (``kind`` "meta" / "unallocated", ``index`` <NA>), as mmls does.
    """
    with images.opened(path) as img:
        return _partition_table(img, all_slots)


def _partition_table(img: pytsk3.Img_Info, all_slots: bool = False) -> pd.DataFrame:
    rows = []
    volume = _volume_info(img)
    if volume is None:
        fs_name = _probe_fs(img, 0)
        rows.append(
            {"index": 0, "slot": pd.NA, "kind": "filesystem", "start": 0, "length": img.get_size() // 512,
             "end": img.get_size() // 512 - 1, "offset": 0, "size": img.get_size(),
             "description": "whole image (no partition table)", "filesystem": fs_name}
        )
    else:
        block = volume.info.block_size
        index = 0
        for part in volume:
            kind = _part_kind(part.flags)
            if kind != "partition" and not all_slots:
                continue
            rows.append(
                {"index": index if kind == "partition" else pd.NA, "slot": part.addr, "kind": kind,
                 "start": part.start, "length": part.len, "end": part.start + part.len - 1,
                 "offset": part.start * block, "size": part.len * block,
                 "description": part.desc.decode("utf-8", "replace"),
                 "filesystem": _probe_fs(img, part.start * block) if kind == "partition" else None}
            )
            if kind == "partition":
                index += 1
    frame = pd.DataFrame(rows, columns=["index", "slot", "kind", "start", "length", "end", "offset", "size",
                                        "description", "filesystem"])
    return frame.astype({"index": "Int64", "slot": "Int64", "description": "string", "filesystem": "string"})


def list_files(
    path: str | os.PathLike[str], partition: Partition = None, include_deleted: bool = True,
    fs_type: str | None = None,
) -> pd.DataFrame:
    """List every file and directory recursively, like ``fls -r -p``.

    One row per name (and per NTFS data stream: an alternate data stream
    ``report.doc:hidden`` gets its own row).  Columns:

    * ``path`` -- full path from the root, e.g. ``/dir1/mult2.dat``
    * ``name``, ``inode`` (metadata address), ``address`` (fls style, see the
      module doc), ``stream`` (NTFS stream name, "" for the main data)
    * ``type`` -- file, dir, link, virtual, ... (from the metadata, else the name)
    * ``size`` -- bytes (<NA> when no metadata survives)
    * ``deleted`` -- the name is unallocated (fls prints ``*``)
    * ``realloc`` -- deleted name whose metadata now belongs to another file
    * ``mtime``, ``atime``, ``ctime``, ``crtime`` -- UTC timestamps (NaT when
      the file system does not record them; FAT has no time zone, so its
      times are the device's wall clock labelled UTC)

    FAT forgets the first letter of a deleted name (``_ing.dat`` was
    ``sing.dat``); TSK shows ``_`` in its place.  Files whose name is gone but
    whose metadata survives appear under ``/$OrphanFiles``.

    ``fs_type`` forces the file system type (see the module doc).
    """
    with _FileSystem.open(path, partition, fs_type) as fs:
        try:
            root = fs.fs.open_dir(path="/")
        except OSError as exc:  # TSK cannot read the root directory's blocks: a truncated or damaged image
            raise EvidenceError("TSK cannot read the root directory of the file system "
                                f"({_tsk_reason(exc)}): the image is truncated or damaged", str(path)) from None
        rows = list(_walk(fs.fs, root, "", [fs.fs.info.root_inum], fs.kind))
    frame = pd.DataFrame(rows, columns=_LIST_COLUMNS)
    frame = frame.astype({"inode": "int64", "deleted": bool, "realloc": bool, "attr_type": "Int64", "attr_id": "Int64",
                          "size": "Int64"})
    for field in _TIME_FIELDS:
        frame[field] = pd.to_datetime(frame[field], utc=True)
    if not include_deleted:
        frame = frame[~frame["deleted"]].reset_index(drop=True)
    return frame


def read_file(path: str | os.PathLike[str], inode: int | str, partition: Partition = None,
              fs_type: str | None = None) -> bytes:
    """Return a file's content by metadata address, like ``icat``.

    ``inode`` is the number from :func:`list_files` (``inode`` column) or an
    fls-style ``address`` such as ``"32-128-6"`` to read one NTFS stream.
    Deleted files are read from whatever their metadata still points at: for a
    fragmented deleted FAT file that is *not* the original content (FAT
    forgets the cluster chain on deletion), which is exactly the lesson.
    """
    return b"".join(_read_chunks(path, inode, partition, fs_type))


def extract(
    path: str | os.PathLike[str],
    inode: int | str,
    dest: str | os.PathLike[str],
    partition: Partition = None,
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS,
    fs_type: str | None = None,
) -> dict[str, str]:
    """Copy a file out of the image to ``dest`` and return its hashes.

    The copy is streamed and written atomically (a half-written export never
    appears), and hashed in the same pass, so the hashes you record in your
    notes are the hashes of the bytes you saved.
    """
    hashers = new_hashers(algorithms)
    with atomic_file(dest) as out:
        for chunk in _read_chunks(path, inode, partition, fs_type):
            out.write(chunk)
            for h in hashers.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}


def timeline(path: str | os.PathLike[str], partition: Partition = None, fs_type: str | None = None) -> pd.DataFrame:
    """Build a MAC-time timeline: one row per (file, kind of timestamp), sorted by time.

    Columns: ``time``, ``event`` (``m`` modified, ``a`` accessed, ``c``
    metadata changed, ``b`` born/created -- the letters of TSK's ``mactime``),
    then ``path``, ``inode``, ``address``, ``type``, ``size``, ``deleted``.
    Missing timestamps are dropped.  Ties keep a stable order (path, then
    event) so the table is identical on every run.
    """
    files = list_files(path, partition, fs_type=fs_type)
    keep = ["path", "inode", "address", "type", "size", "deleted"]
    letters = {"mtime": "m", "atime": "a", "ctime": "c", "crtime": "b"}
    long = files.melt(id_vars=keep, value_vars=list(_TIME_FIELDS), var_name="event", value_name="time")
    long["event"] = long["event"].map(letters)
    long = long.dropna(subset=["time"])
    long = long.sort_values(["time", "path", "event"], kind="stable").reset_index(drop=True)
    return long[["time", "event", *keep]]


# --------------------------------------------------------------------------- the ext4 journal
#
# Linux's unlink truncates a file before it frees the inode: size 0, no extents, nothing for icat to read.
# What the file was survives in the jbd2 journal, which logs whole metadata blocks (inode table blocks,
# directory blocks) each time a transaction commits.  ``jls`` lists the log, but TSK 4.11/4.12 read the
# csum_v3 tags every current kernel writes as if they were shorter, so only the first block number of
# each descriptor is right; these helpers read the log as jbd2's own recovery does.

def journal(path: str | os.PathLike[str], partition: Partition = None) -> pd.DataFrame:
    """Every file-system block copy the ext4 journal still holds, like ``jls`` with the tags read right.

    Columns: ``journal_block`` (what ``jcat`` takes), ``sequence`` (the transaction), ``committed``
    (its commit time, UTC), ``fs_block`` (the file-system block it is a copy of).  Only transactions
    whose commit block is still there are listed, as jbd2 recovery would trust them.
    """
    with _Ext4.open(path, partition) as ext:
        rows = [{"journal_block": c.journal_block, "sequence": c.sequence, "committed": c.committed,
                 "fs_block": c.fs_block} for c in ext.journal_copies()]
    return pd.DataFrame(rows, columns=["journal_block", "sequence", "committed", "fs_block"])


def journal_block(path: str | os.PathLike[str], block: int, partition: Partition = None) -> bytes:
    """Journal block ``block``, like ``jcat``: a logged copy as the file-system block was (jbd2 zeroes the first
    four bytes of a copy that starts with its magic number and flags it in the tag), anything else as stored."""
    with _Ext4.open(path, partition) as ext:
        log = ext.journal_bytes()
        if not 0 <= block < len(log) // ext.block_size:
            raise EvidenceError(f"journal block {block} is outside the journal's {len(log) // ext.block_size} blocks",
                                ext.where)
        copies = [c.data for c in ext.journal_copies() if c.journal_block == block]
        return copies[-1] if copies else log[block * ext.block_size:(block + 1) * ext.block_size]


def inode_history(path: str | os.PathLike[str], inode: int, partition: Partition = None) -> pd.DataFrame:
    """Inode ``inode`` as each journal copy of its inode table block shows it, oldest first.

    Columns: ``sequence``, ``committed``, ``journal_block``, ``fs_block``, ``size``, ``links``,
    ``mtime``, ``ctime``, ``dtime`` (UTC, NaT when 0), ``extents`` (``(logical, first block, length)``
    triples; a tree with leaves is followed through the leaves' own journal copies).
    """
    with _Ext4.open(path, partition) as ext:
        fs_block, offset = ext.inode_location(inode)
        copies = ext.journal_copies()
        rows = []
        for c in copies:
            if c.fs_block != fs_block:
                continue
            raw = c.data[offset:offset + ext.inode_size]
            size_lo, = struct.unpack_from("<I", raw, 4)
            size_hi, = struct.unpack_from("<I", raw, 0x6C)
            links, = struct.unpack_from("<H", raw, 0x1A)
            ctime, mtime, dtime = struct.unpack_from("<III", raw, 0x0C)
            rows.append({"sequence": c.sequence, "committed": c.committed, "journal_block": c.journal_block,
                         "fs_block": c.fs_block, "size": size_hi << 32 | size_lo, "links": links,
                         "mtime": _epoch(mtime), "ctime": _epoch(ctime), "dtime": _epoch(dtime),
                         "extents": ext.extents(raw[0x28:0x28 + 60], c.sequence, copies)})
    columns = ["sequence", "committed", "journal_block", "fs_block", "size", "links", "mtime", "ctime", "dtime",
               "extents"]
    return pd.DataFrame(rows, columns=columns)


def name_history(path: str | os.PathLike[str], inode: int, partition: Partition = None) -> pd.DataFrame:
    """The names that pointed at ``inode`` in the journal's copies of directory blocks, oldest first.

    Linux wipes an unlinked name from its directory block; a copy logged before the unlink still holds
    it.  Columns: ``sequence``, ``committed``, ``journal_block``, ``fs_block``, ``directory`` (the path
    of the directory that owns ``fs_block`` now, None if none does), ``name``, ``path``.
    """
    with _Ext4.open(path, partition) as ext:
        owners = ext.directory_blocks()
        rows = []
        for c in ext.journal_copies():
            if c.fs_block not in owners:
                continue
            for ino, name in _dir_records(c.data, ext.block_size):
                if ino == inode:
                    directory = owners[c.fs_block]
                    rows.append({"sequence": c.sequence, "committed": c.committed, "journal_block": c.journal_block,
                                 "fs_block": c.fs_block, "directory": directory, "name": name,
                                 "path": f"{directory.rstrip('/')}/{name}"})
    return pd.DataFrame(rows, columns=["sequence", "committed", "journal_block", "fs_block", "directory", "name",
                                       "path"])


def recover_from_journal(path: str | os.PathLike[str], inode: int, dest: str | os.PathLike[str],
                         partition: Partition = None, algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
                         ) -> dict[str, str]:
    """Recover a deleted ext4 file from the newest journal copy of its inode that still had data.

    That copy's size and extents say where the content was; a deleted file's blocks are free but
    keep their bytes until reused, so they are read from the file system (``blkcat``), cut to the
    size, written atomically to ``dest`` and hashed in the same pass.  Check the blocks are still
    unallocated (``blkstat``): a reused block holds someone else's data.
    """
    history = inode_history(path, inode, partition)
    alive = history[(history["size"] > 0) & (history["links"] > 0)]
    if alive.empty:
        raise EvidenceError(f"the journal holds no copy of inode {inode} from before it was emptied", str(path))
    newest = alive.iloc[-1]
    size = int(newest["size"])
    hashers = new_hashers(algorithms)

    def write(chunk: bytes) -> None:
        out.write(chunk)
        for h in hashers.values():
            h.update(chunk)

    with _Ext4.open(path, partition) as ext, atomic_file(dest) as out:
        done = 0
        for logical, start, length in sorted(newest["extents"]):
            at = logical * ext.block_size
            if at >= size:
                break
            if at > done:  # a hole (a sparse file): zeros, as reading it gave
                write(bytes(at - done))
            chunk = ext.read_blocks(start, length)[:size - at]
            write(chunk)
            done = at + len(chunk)
        if done < size:
            write(bytes(size - done))  # a hole at the end
    return {name: h.hexdigest() for name, h in hashers.items()}


# --------------------------------------------------------------------------- internals

_LIST_COLUMNS = [
    "path", "name", "inode", "address", "attr_type", "attr_id", "stream", "type", "size",
    "deleted", "realloc", *_TIME_FIELDS,
]


@dataclass
class _FileSystem:
    """An open file system plus the image it lives in (pytsk3 needs both kept alive)."""

    image: pytsk3.Img_Info
    fs: pytsk3.FS_Info
    where: str
    offset: int = 0  # the file system's first byte in the image

    @property
    def kind(self) -> str:
        """Short file system name: ntfs, fat16, ext4, ..."""
        return _FS_NAMES.get(int(self.fs.info.ftype), str(self.fs.info.ftype))

    @classmethod
    @contextmanager
    def open(cls, path: str | os.PathLike[str], partition: Partition,
             fs_type: str | None = None) -> Iterator[_FileSystem]:
        forced = _fs_type_code(fs_type, path)
        with images.opened(path) as img:
            offset = _partition_offset(path, img, partition)
            fs = _open_fs(path, img, offset, forced, fs_type)
            _warn_if_truncated(path, img, fs, offset)
            yield cls(img, fs, f"{path}@{offset}", offset)


def _fs_type_code(fs_type: str | None, path: str | os.PathLike[str]) -> int:
    if fs_type is None:
        return pytsk3.TSK_FS_TYPE_DETECT
    code = FS_TYPES.get(str(fs_type).lower())
    if code is None:
        raise DflabError(f"fs_type={fs_type!r} is not a file system type TSK reads; use one of "
                         f"{', '.join(FS_TYPES)} (the names fls -f takes)", str(path))
    return code


def _open_fs(path: str | os.PathLike[str], img: pytsk3.Img_Info, offset: int, forced: int,
             fs_type: str | None) -> pytsk3.FS_Info:
    try:
        return pytsk3.FS_Info(img, offset=offset, type=forced)
    except OSError as exc:
        if fs_type is not None:
            raise EvidenceError(f"no {fs_type} file system TSK can read at byte offset {offset}", str(path)) from exc
        candidates = _MULTIPLE.search(str(exc))
        if candidates:
            raise EvidenceError(
                f"TSK finds more than one file system at byte offset {offset} ({candidates.group(1)}): pass "
                f"fs_type= to choose, e.g. fs_type={_suggest(candidates.group(1))!r} (as fls -f does)",
                str(path)) from exc
        raise EvidenceError(f"no file system TSK recognises at byte offset {offset}", str(path)) from exc


def _suggest(candidates: str) -> str:
    """The fs_type name of the first type in TSK's "EXT2/3/4 or FAT" list."""
    first = candidates.split(" or ", maxsplit=1)[0].lower()
    return next((name for name in ("ext", "fat", "ntfs", "exfat", "iso9660", "hfs", "ufs", "yaffs2")
                 if first.startswith(name)), first)


class TruncatedImageWarning(UserWarning):
    """The image ends before a file system on it does: listings work, data past the end is missing."""


def _warn_if_truncated(path: str | os.PathLike[str], img: pytsk3.Img_Info, fs: pytsk3.FS_Info, offset: int) -> None:
    needed = offset + int(fs.info.block_count) * int(fs.info.block_size)
    if needed > img.get_size():
        warnings.warn(TruncatedImageWarning(
            f"{path}: the file system at byte offset {offset} needs {needed} bytes but the image has "
            f"{img.get_size()}: the image is truncated, so files stored past its end read back incomplete"),
            stacklevel=5)


def _volume_info(img: pytsk3.Img_Info) -> pytsk3.Volume_Info | None:
    try:
        return pytsk3.Volume_Info(img)
    except OSError:
        return None


def _part_kind(flags: pytsk3.TSK_VS_PART_FLAG_ENUM) -> str:
    value = int(flags)
    if value & pytsk3.TSK_VS_PART_FLAG_ALLOC:
        return "partition"
    if value & pytsk3.TSK_VS_PART_FLAG_META:
        return "meta"
    return "unallocated"


def _probe_fs(img: pytsk3.Img_Info, offset: int) -> str | None:
    try:
        fs = pytsk3.FS_Info(img, offset=offset)
    except OSError:
        return None
    return _FS_NAMES.get(int(fs.info.ftype), str(fs.info.ftype))


def _partition_offset(path: str | os.PathLike[str], img: pytsk3.Img_Info, partition: Partition) -> int:
    volume = _volume_info(img)
    if volume is None:
        if partition in (None, 0):
            return 0
        raise EvidenceError(f"image has no partition table, so partition={partition!r} makes no sense; "
                            "omit it", str(path))
    table = _partition_table(img)
    if partition is None:
        with_fs = table[table["filesystem"].notna()]
        if len(with_fs) == 1:
            return int(with_fs["offset"].iloc[0])
        raise EvidenceError(
            f"image holds {len(with_fs)} file systems; pass partition= one of index "
            f"{_ints(table['index'])} (see disk.partitions())", str(path))
    if not isinstance(partition, int) or isinstance(partition, bool):
        raise TypeError(f"partition must be an int (index or byte offset), not {type(partition).__name__}")
    by_index = table[table["index"] == partition]
    if len(by_index):
        return int(by_index["offset"].iloc[0])
    by_offset = table[table["offset"] == partition]
    if len(by_offset):
        return partition
    raise EvidenceError(
        f"partition={partition} is neither a partition index {_ints(table['index'])} nor a partition "
        f"byte offset {_ints(table['offset'])} (offsets are bytes: sector x 512)", str(path))


def _ints(column: pd.Series) -> list[int]:
    """Plain ints for a message: a pandas column's items print as ``np.int64(0)`` under numpy 2."""
    return [int(value) for value in column.dropna()]


def _tsk_reason(exc: OSError) -> str:
    """TSK's own words from a pytsk3 error, without its source location (``(tsk3.cpp:517)``) and line breaks."""
    text = " ".join(str(exc).split())
    return re.sub(r"^\w+: \(tsk3\.cpp:\d+\) ", "", text)[:200]


def _walk(fs: pytsk3.FS_Info, directory: pytsk3.Directory, parent: str, ancestors: list[int],
          kind: str) -> Iterator[dict]:
    """Yield rows depth-first in directory order, as fls -r does.

    ``ancestors`` holds the directory addresses on the current path: a
    corrupt or recycled directory entry pointing back up would otherwise loop
    for ever (TSK's own walk uses the same guard).
    """
    for entry in directory:
        name_info = entry.info.name
        raw_name = name_info.name
        if raw_name in (b".", b".."):
            continue
        name = raw_name.decode("utf-8", "replace")
        meta = entry.info.meta
        handle = entry
        if meta is None and name_info.meta_addr:
            # TSK does not load metadata for deleted names while iterating; fls does, so do we.
            try:
                handle = fs.open_meta(inode=name_info.meta_addr)
                meta = handle.info.meta
            except OSError:
                handle = entry
        deleted = bool(int(name_info.flags) & pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
        base = {
            "path": f"{parent}/{name}",
            "name": name,
            "inode": int(name_info.meta_addr),
            "type": _META_TYPES.get(int(meta.type)) if meta is not None else None,
            "deleted": deleted,
            "realloc": bool(deleted and meta is not None and int(meta.flags) & pytsk3.TSK_FS_META_FLAG_ALLOC),
            **_times(meta, kind),
        }
        if base["type"] is None:
            base["type"] = _NAME_TYPES.get(int(name_info.type), "unknown")
        yield from _stream_rows(handle, base, meta, kind == "ntfs")
        if base["type"] in ("dir", "virtual_dir") and len(ancestors) < MAX_DEPTH \
                and base["inode"] not in ancestors:
            try:
                child = fs.open_dir(inode=base["inode"])
            except OSError:
                continue
            yield from _walk(fs, child, base["path"], [*ancestors, base["inode"]], kind)


def _stream_rows(handle: pytsk3.File, base: dict, meta: pytsk3.TSK_FS_META | None, ntfs: bool) -> Iterator[dict]:
    """One row per NTFS $DATA / named index stream (as fls prints them), else one row."""
    if ntfs and meta is not None:
        found = False
        for attr in handle:
            info = attr.info
            attr_type = int(info.type)
            stream = (info.name or b"").decode("utf-8", "replace")
            if attr_type == pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA:
                pass
            elif attr_type == pytsk3.TSK_FS_ATTR_TYPE_NTFS_IDXROOT:
                stream = "" if stream == "$I30" else stream
            else:
                continue
            found = True
            yield {**base, "path": base["path"] + (f":{stream}" if stream else ""),
                   "name": base["name"] + (f":{stream}" if stream else ""),
                   "address": f"{base['inode']}-{attr_type}-{int(info.id)}", "attr_type": attr_type,
                   "attr_id": int(info.id), "stream": stream,
                   "size": int(info.size) if stream else int(meta.size)}
        if found:
            return
    yield {**base, "address": str(base["inode"]), "attr_type": pd.NA, "attr_id": pd.NA, "stream": "",
           "size": int(meta.size) if meta is not None else pd.NA}


def _times(meta: pytsk3.TSK_FS_META | None, kind: str) -> dict[str, pd.Timestamp]:
    """The four MAC(B) times as UTC timestamps; 0 (not recorded) becomes NaT.

    FAT stores local wall-clock time with no zone, and TSK turns it into an
    epoch with the C library's ``mktime`` -- in *this machine's* time zone.
    We undo that so FAT times read as the wall clock recorded on the suspect
    device, labelled UTC, identically on every machine (what TSK shows with
    ``TZ=UTC``).  Shift them yourself if you know the device's zone.
    """
    out = {}
    for field in _TIME_FIELDS:
        seconds = int(getattr(meta, field, 0) or 0) if meta is not None else 0
        nanos = int(getattr(meta, f"{field}_nano", 0) or 0) if meta is not None else 0
        if seconds and kind in _LOCAL_TIME_FS:
            seconds = calendar.timegm(time.localtime(seconds))
        out[field] = pd.Timestamp(seconds * 1_000_000_000 + nanos, unit="ns", tz="UTC") if seconds else pd.NaT
    return out


def _read_chunks(path: str | os.PathLike[str], inode: int | str, partition: Partition,
                 fs_type: str | None) -> Iterator[bytes]:
    addr, attr_type, attr_id = _parse_address(inode)
    with _FileSystem.open(path, partition, fs_type) as fs:
        try:
            handle = fs.fs.open_meta(inode=addr)
        except OSError as exc:
            raise EvidenceError(f"no metadata at address {inode}", fs.where) from exc
        meta = handle.info.meta
        if meta is None:
            raise EvidenceError(f"no metadata at address {inode}", fs.where)
        size = int(meta.size)
        if attr_type is not None:
            size = _attr_size(handle, attr_type, attr_id, inode, fs.where)
        elif meta.type == pytsk3.TSK_FS_META_TYPE_LNK and meta.link:
            # A symbolic link's content is its target; ext4 keeps a short one in the inode itself (a "fast"
            # symlink, no data block), where TSK has no data to read at any offset.
            yield meta.link.encode("utf-8", "surrogateescape") if isinstance(meta.link, str) else bytes(meta.link)
            return
        offset = 0
        while offset < size:
            want = min(READ_CHUNK, size - offset)
            try:
                if attr_type is None:
                    chunk = handle.read_random(offset, want)
                else:
                    chunk = handle.read_random(offset, want, attr_type, attr_id)
            except OSError as exc:
                raise EvidenceError(f"cannot read inode {inode} at offset {offset}: {exc}", fs.where) from exc
            if not chunk:
                break
            yield chunk
            offset += len(chunk)


def _parse_address(inode: int | str) -> tuple[int, int | None, int | None]:
    if isinstance(inode, int) and not isinstance(inode, bool):
        return inode, None, None
    match = _ADDRESS.match(str(inode).strip())
    if not match:
        raise ValueError(f"inode must be a number or an fls address like '32-128-6', not {inode!r}")
    addr, attr_type, attr_id = match.groups()
    return int(addr), (int(attr_type) if attr_type else None), (int(attr_id) if attr_id else None)


def _attr_size(handle: pytsk3.File, attr_type: int, attr_id: int | None, inode: object, where: str) -> int:
    for attr in handle:
        if int(attr.info.type) == attr_type and int(attr.info.id) == attr_id:
            return int(attr.info.size)
    raise EvidenceError(f"no attribute {attr_type}-{attr_id} at address {inode}", where)


# --------------------------------------------------------------------------- ext4 journal internals

_JBD2_MAGIC = 0xC03B3998
_JBD2_DESCRIPTOR, _JBD2_COMMIT, _JBD2_REVOKE = 1, 2, 5
_JBD2_64BIT, _JBD2_CSUM_V2, _JBD2_CSUM_V3 = 0x2, 0x8, 0x10
_TAG_ESCAPE, _TAG_SAME_UUID, _TAG_LAST = 0x1, 0x2, 0x8
_EXTENT_MAGIC = 0xF30A


@dataclass(frozen=True)
class _Copy:
    journal_block: int
    sequence: int
    committed: pd.Timestamp
    fs_block: int
    data: bytes  # unescaped: the block as it was


@dataclass
class _Ext4:
    """An ext4 file system read at the byte level, for what TSK does not expose (the journal's contents)."""

    fs: _FileSystem
    offset: int
    block_size: int
    inodes_per_group: int
    inode_size: int
    desc_size: int
    first_data_block: int
    journal_inode: int

    @property
    def where(self) -> str:
        return self.fs.where

    @classmethod
    @contextmanager
    def open(cls, path: str | os.PathLike[str], partition: Partition) -> Iterator[_Ext4]:
        with _FileSystem.open(path, partition, "ext") as fs:
            sb = fs.image.read(fs.offset + 1024, 1024)  # the superblock's fields, as struct ext4_super_block
            first_data_block, log_block_size = struct.unpack_from("<II", sb, 0x14)
            inodes_per_group, = struct.unpack_from("<I", sb, 0x28)
            magic, = struct.unpack_from("<H", sb, 0x38)
            inode_size, = struct.unpack_from("<H", sb, 0x58)
            compat, incompat = struct.unpack_from("<II", sb, 0x5C)
            journal_inode, = struct.unpack_from("<I", sb, 0xE0)
            desc_size, = struct.unpack_from("<H", sb, 0xFE)
            if magic != 0xEF53:
                raise EvidenceError("not an ext2/3/4 file system", fs.where)
            yield cls(fs, fs.offset, 1024 << log_block_size, inodes_per_group, inode_size,
                      desc_size if incompat & 0x80 and desc_size else 32,  # INCOMPAT_64BIT: s_desc_size counts
                      first_data_block, journal_inode if compat & 0x4 else 0)  # COMPAT_HAS_JOURNAL

    def read_blocks(self, start: int, count: int) -> bytes:
        return self.fs.image.read(self.offset + start * self.block_size, count * self.block_size)

    def inode_location(self, inode: int) -> tuple[int, int]:
        """(file-system block, byte offset in it) of inode ``inode``'s record in its group's inode table."""
        group, index = divmod(inode - 1, self.inodes_per_group)
        desc = self.read_blocks(self.first_data_block + 1 + group * self.desc_size // self.block_size, 1)
        at = group * self.desc_size % self.block_size
        table = struct.unpack_from("<I", desc, at + 8)[0]
        if self.desc_size >= 64:
            table |= struct.unpack_from("<I", desc, at + 0x28)[0] << 32
        block, offset = divmod(index * self.inode_size, self.block_size)
        return table + block, offset

    def journal_bytes(self) -> bytes:
        if not self.journal_inode:
            raise EvidenceError("this file system has no journal", self.where)
        handle = self.fs.fs.open_meta(inode=self.journal_inode)
        return handle.read_random(0, int(handle.info.meta.size))

    def journal_copies(self) -> list[_Copy]:
        """The block copies of every transaction whose descriptors, copies and commit block all survive, found by
        scanning the whole log: after a clean unmount the superblock says it is empty, but the blocks stay."""
        log = _Log(self.journal_bytes(), self.block_size, self.where)
        copies: list[_Copy] = []
        n = log.first
        while n < log.maxlen:
            found, after = log.transaction(n)
            copies += found
            n = after if found and after > n else n + 1
        return sorted(copies, key=lambda c: (c.sequence, c.journal_block))

    def extents(self, i_block: bytes, sequence: int, copies: list[_Copy]) -> list[tuple[int, int, int]]:
        """(logical, first block, length) of an extent tree root; leaves from their newest copy at ``sequence``."""
        magic, entries, _, depth = struct.unpack_from("<HHHH", i_block, 0)
        if magic != _EXTENT_MAGIC:
            return []
        out = []
        for k in range(entries):
            at = 12 + 12 * k
            if depth == 0:
                logical, length, hi, lo = struct.unpack_from("<IHHI", i_block, at)
                out.append((logical, hi << 32 | lo, length & 0x7FFF))
                continue
            _, lo, hi = struct.unpack_from("<IIH", i_block, at)
            leaf = hi << 32 | lo
            older = [c for c in copies if c.fs_block == leaf and c.sequence <= sequence]
            data = older[-1].data if older else self.read_blocks(leaf, 1)
            out += self.extents(data[:12 + 12 * struct.unpack_from("<H", data, 2)[0]], sequence, copies)
        return out

    def directory_blocks(self) -> dict[int, str]:
        """File-system block -> the path of the directory that holds it."""
        owners: dict[int, str] = {}
        stack = [("/", self.fs.fs.open_meta(inode=2))]
        seen: set[int] = set()
        while stack:
            where, handle = stack.pop()
            meta = handle.info.meta
            if meta is None or int(meta.addr) in seen:
                continue
            seen.add(int(meta.addr))
            for attr in handle:
                for run in attr:
                    for b in range(int(run.addr), int(run.addr) + int(run.len)):
                        owners.setdefault(b, where)
            for entry in handle.as_directory():
                name = entry.info.name.name.decode("utf-8", "replace")
                child = entry.info.meta
                if name in (".", "..") or child is None or child.type != pytsk3.TSK_FS_META_TYPE_DIR \
                        or int(entry.info.name.flags) & int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC) or name.startswith("$"):
                    continue
                stack.append((f"{where.rstrip('/')}/{name}", entry))
        return owners


class _Log:
    """A jbd2 log's blocks, read as jbd2's recovery reads them (fs/jbd2/recovery.c, without trusting s_start)."""

    def __init__(self, data: bytes, block_size: int, where: str) -> None:
        self.data, self.bs = data, block_size
        magic, _, _ = self.header(0)
        if magic != _JBD2_MAGIC:
            raise EvidenceError("the journal has no jbd2 superblock", where)
        maxlen, self.first = struct.unpack_from(">II", data, 16)
        self.maxlen = min(maxlen, len(data) // block_size)
        self.incompat, = struct.unpack_from(">I", data, 0x28)
        if self.incompat & _JBD2_CSUM_V3:  # journal_block_tag3_t: block, flags (32 bits), block_high, checksum
            self.tag_bytes = 16
        else:  # journal_block_tag_t: block, checksum (16 bits, csum_v2), flags (16 bits), block_high (64bit)
            self.tag_bytes = 8 + (4 if self.incompat & _JBD2_64BIT else 0) + (2 if self.incompat & _JBD2_CSUM_V2 else 0)
        self.tail = 4 if self.incompat & (_JBD2_CSUM_V2 | _JBD2_CSUM_V3) else 0  # a descriptor's checksum

    def header(self, n: int) -> tuple[int, int, int]:
        """(magic, block type, sequence) of log block ``n``."""
        if (n + 1) * self.bs > len(self.data):
            return 0, 0, 0
        return struct.unpack_from(">III", self.data, n * self.bs)

    def wrap(self, n: int) -> int:
        return self.first + (n - self.first) % (self.maxlen - self.first)

    def tags(self, n: int) -> Iterator[tuple[int, int]]:
        """(file-system block, tag flags) of each tag in descriptor block ``n``."""
        at, end = n * self.bs + 12, (n + 1) * self.bs - self.tail
        while at + self.tag_bytes <= end:
            if self.incompat & _JBD2_CSUM_V3:
                block, flags = struct.unpack_from(">II", self.data, at)
            else:
                block, flags = struct.unpack_from(">I2xH", self.data, at)
            if self.incompat & _JBD2_64BIT:
                block |= struct.unpack_from(">I", self.data, at + 8)[0] << 32
            yield block, flags
            if flags & _TAG_LAST:
                return
            at += self.tag_bytes + (0 if flags & _TAG_SAME_UUID else 16)

    def transaction(self, n: int) -> tuple[list[_Copy], int]:
        """The copies of the transaction whose first descriptor is log block ``n``, and the block after its commit;
        no copies unless every block up to a commit of the same sequence is there."""
        magic, kind, sequence = self.header(n)
        if magic != _JBD2_MAGIC or kind != _JBD2_DESCRIPTOR:
            return [], n
        found: list[tuple[int, int, bytes]] = []  # (log block, file-system block, copy)
        at = n
        for _ in range(self.maxlen):
            magic, kind, got = self.header(at)
            if magic != _JBD2_MAGIC or got != sequence:
                return [], n
            if kind == _JBD2_COMMIT:
                seconds, nanos = struct.unpack_from(">QI", self.data, at * self.bs + 48)
                committed = pd.Timestamp(seconds * 10**9 + nanos, unit="ns", tz="UTC")
                return [_Copy(j, sequence, committed, b, copy) for j, b, copy in found], self.wrap(at + 1)
            if kind == _JBD2_DESCRIPTOR:
                for block, flags in self.tags(at):
                    at = self.wrap(at + 1)
                    copy = self.data[at * self.bs:(at + 1) * self.bs]
                    if flags & _TAG_ESCAPE:  # a copy that began with the magic number was stored with zeros there
                        copy = struct.pack(">I", _JBD2_MAGIC) + copy[4:]
                    found.append((at, block, copy))
            elif kind != _JBD2_REVOKE:
                return [], n
            at = self.wrap(at + 1)
        return [], n


def _dir_records(block: bytes, block_size: int) -> Iterator[tuple[int, str]]:
    """(inode, name) of each record in a directory block's chain of rec_len (an htree root ends after '..')."""
    at = 0
    while at + 8 <= block_size:
        ino, rec_len, name_len = struct.unpack_from("<IHB", block, at)
        rec_len = rec_len if rec_len else block_size
        if rec_len < 8 or at + rec_len > block_size or 8 + name_len > rec_len:
            return
        if ino:
            yield ino, block[at + 8:at + 8 + name_len].decode("utf-8", "replace")
        at += rec_len


def _epoch(seconds: int) -> pd.Timestamp:
    return pd.Timestamp(seconds, unit="s", tz="UTC") if seconds else pd.NaT
