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
    "list_files",
    "open_image",
    "partitions",
    "read_file",
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
            yield cls(img, fs, f"{path}@{offset}")


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
