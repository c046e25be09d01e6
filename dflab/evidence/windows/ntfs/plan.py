"""What an NTFS volume is to hold: its identity and the directories and files of the case, with every time given.

The plan is all the writer reads; no clock, no randomness. Times are the four $STANDARD_INFORMATION times and,
separately, the four $FILE_NAME times, which Windows sets when the name is created or changed and which a
timestomping tool (SetFileTime) does not reach: a plan gives them apart to say that a file was timestomped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dflab.errors import DflabError
from dflab.evidence.windows.ntfs.attributes import Times
from dflab.evidence.windows.ntfs.upcase import collation_key
from dflab.evidence.windows.ntfs.usn import UsnEvent
from dflab.evidence.windows.wintypes import filetime

READONLY = 0x0001
HIDDEN = 0x0002
SYSTEM = 0x0004
ARCHIVE = 0x0020
NORMAL = 0x0080
NOT_CONTENT_INDEXED = 0x2000
USN_MAX_SIZE = 32 << 20
USN_ALLOCATION_DELTA = 8 << 20
"""$UsnJrnl's maximum size and allocation delta: Windows 10's defaults for a system volume."""
METADATA_NAMES = frozenset(("$MFT", "$MFTMIRR", "$LOGFILE", "$VOLUME", "$ATTRDEF", "$BITMAP", "$BOOT", "$BADCLUS",
                            "$SECURE", "$UPCASE", "$EXTEND"))


def times(created: datetime | int, modified: datetime | int | None = None, mft_changed: datetime | int | None = None,
          accessed: datetime | int | None = None) -> Times:
    """Times from datetimes (UTC-aware) or FILETIMEs; the ones not given are ``created``'s."""
    first = filetime(created)
    return Times(first, *(first if t is None else filetime(t) for t in (modified, mft_changed, accessed)))


def path_key(path: str) -> tuple[tuple[int, ...], ...]:
    """What makes two paths the same file on NTFS as Windows uses it: each name through $UpCase."""
    return tuple(collation_key(name) for name in path.split("/")) if path else ()


def creation_order(files: tuple[PlannedFile, ...] | list[PlannedFile]) -> list[PlannedFile]:
    """``files`` in the order Windows created them: by $FILE_NAME creation time (what Windows set when the name was
    made, which SetFileTime does not reach; a file moved keeps its record, so its creation), ties by path (a parent
    before its children, its names in collation order)."""
    return sorted(files, key=lambda f: ((f.fn_times or f.si_times).created, path_key(f.path)))


def record_numbers(files: tuple[PlannedFile, ...] | list[PlannedFile], first: int) -> dict[str, int]:
    """Path → MFT record number, as Windows hands them out on a fresh volume: the lowest free entry at each creation,
    so numbers rise with creation time from ``first``. A file deleted for good frees its entry, which nothing here
    reuses: the case's deleted file stays recoverable (a record reused would be overwritten)."""
    return {f.path: first + i for i, f in enumerate(creation_order(files))}


@dataclass(frozen=True)
class Stream:
    """A named alternate data stream (``Zone.Identifier``, say)."""

    name: str
    data: bytes


@dataclass(frozen=True)
class PlannedFile:
    """A directory (``data`` None) or file at ``path`` (``/``-separated, from the root), its parent planned before
    it. ``fn_times`` None: the $FILE_NAME times equal the $STANDARD_INFORMATION ones."""

    path: str
    si_times: Times
    data: bytes | None = None
    fn_times: Times | None = None
    attributes: int | None = None
    streams: tuple[Stream, ...] = ()
    deleted: datetime | int | None = None
    """When the file was deleted for good: its record is then free (sequence number raised, out of the MFT's bitmap
    and its directory's index) and its clusters unallocated but not overwritten, as NTFS leaves them."""

    @property
    def is_directory(self) -> bool:
        return self.data is None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def parent(self) -> str:
        return self.path.rpartition("/")[0]

    @property
    def dos_attributes(self) -> int:
        if self.attributes is not None:
            return self.attributes
        return 0 if self.is_directory else ARCHIVE


@dataclass(frozen=True)
class VolumePlan:
    """An NTFS volume of ``size`` bytes (its partition's), serial and label, formatted at ``formatted``."""

    size: int
    serial: int
    label: str
    formatted: Times
    files: tuple[PlannedFile, ...] = ()
    log_size: int = 2 << 20
    hidden_sectors: int = 0
    """The partition's first LBA, which the boot sector records (0 for a bare volume)."""
    first_user_record: int = 64
    """Where the plan's files start in the MFT: after the records Windows 10 gives its own $Extend files
    ($RmMetadata, $TxfLog, ... come with a later increment), so adding them does not renumber the case's files."""
    usn_journal_id: int = field(default=0)
    """$UsnJrnl's journal id (Windows uses the FILETIME of its creation); 0: the format time."""
    short_names: bool = False
    """Make 8.3 names (see ``shortname``): Windows does on the system volume Setup formats, not on volumes formatted
    since Windows 8 otherwise (NtfsDisable8dot3NameCreation's default, 2, leaves it to each volume)."""
    journal: tuple[UsnEvent, ...] = ()
    """$UsnJrnl:$J's records, in the order they happened (see ``usn`` for the sequences Windows writes)."""
    journal_purged: int = 2 * USN_ALLOCATION_DELTA
    """Bytes of $J Windows has already purged (a multiple of the allocation delta): sparse, before the first record."""

    def check(self) -> None:
        """Refuse what NTFS cannot hold, naming the file, before anything is laid out."""
        if self.size % 4096 or self.size < 8 << 20:
            raise DflabError("NTFS volume size must be a multiple of 4096 bytes and at least 8 MiB", str(self.size))
        if not 0 <= self.serial < 1 << 64:
            raise DflabError("volume serial must fit in 64 bits", hex(self.serial))
        if len(self.label) > 32:
            raise DflabError("NTFS volume label is longer than 32 characters", self.label)
        if self.first_user_record < 28:
            raise DflabError("the plan's files would overwrite NTFS's own records (0–27)", str(self.first_user_record))
        seen: dict[tuple[tuple[int, ...], ...], PlannedFile] = {}
        for planned in self.files:
            name = planned.name
            if not name or len(name) > 255 or any(c in name for c in '\\:*?"<>|\0') or name in (".", ".."):
                raise DflabError("not an NTFS file name", planned.path)
            parent = seen.get(path_key(planned.parent))
            if planned.parent and (parent is None or not parent.is_directory):
                raise DflabError("parent directory is not planned before it", planned.path)
            if path_key(planned.path) in seen or (not planned.parent and name.upper() in METADATA_NAMES):
                raise DflabError("path is planned twice or names NTFS metadata", planned.path)
            for stream in planned.streams:
                if planned.is_directory or not stream.name or ":" in stream.name:
                    raise DflabError(f"stream {stream.name!r} cannot be written", planned.path)
            if parent is not None and parent.deleted is not None:
                raise DflabError("parent directory is deleted", planned.path)
            if planned.deleted is not None and planned.is_directory:
                raise DflabError("a deleted directory cannot be planned (only deleted files)", planned.path)
            seen[path_key(planned.path)] = planned
        if self.journal_purged < 0 or self.journal_purged % USN_ALLOCATION_DELTA:
            raise DflabError("the purged part of $J is a multiple of the allocation delta",
                             str(self.journal_purged))
        if self.journal and self.journal_purged >= self.size:
            raise DflabError("the purged part of $J must be smaller than the volume, as Windows sizes the journal by "
                             "the volume (and TSK refuses a hole larger than the volume)", str(self.journal_purged))
        previous = 0
        for event in self.journal:
            where = f"journal: {event.path}"
            if path_key(event.path) not in seen or (event.parent and path_key(event.parent) not in seen):
                raise DflabError("the journal names a file or folder the plan does not hold", where)
            if filetime(event.when) < previous:
                raise DflabError("the journal's records are not in time order", where)
            previous = filetime(event.when)
