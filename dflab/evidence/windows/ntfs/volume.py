"""Lay out and write a whole NTFS volume from a ``VolumePlan``: pure Python, byte-identical on any machine.

Why a writer rather than ntfs-3g's ``mkntfs``/``ntfscp``: evidence must be the same bytes for the same case on
every machine, and mkntfs stamps the clock, random serials and GUIDs into the volume, and lays it out as the
installed ntfs-3g release does (each distribution release patches its own; Debian 12 has 2022.10.3-1+deb12u4), not
as Windows does; nor can ntfs-3g set $FILE_NAME times apart from $STANDARD_INFORMATION ones (timestomping) or write
a clean Windows 10 $LogFile (mkntfs leaves it unwritten). The writer models a volume freshly formatted by Windows 10
(4 KiB clusters, 1 KiB MFT records, 4 KiB index blocks, NTFS 3.1) to which the plan's files were then added.

Layout, in order: records 0–15 are NTFS's own files, 16–23 reserved (formatted, not in use), 24–27 the $Extend
files ($Quota, $ObjId, $Reparse, $UsnJrnl), the plan's files from ``first_user_record`` in the order Windows
created them (``plan.record_numbers``: by $FILE_NAME creation time, as Windows gives each new file the lowest free
entry). Clusters are given out in record order from cluster 2 ($Boot holds 0–1, so $MFTMirr lands at 2 as on
Windows), each stream one contiguous run, nothing fragmented, except $MFT itself: Windows puts it a third into
the volume, or at cluster 786432 (3 GiB in) when that comes first, and so does this.

What the story did shows as NTFS leaves it: a file deleted for good keeps its record and clusters, written but
marked free (in-use flag clear, sequence number raised, out of $MFT's and the volume's bitmaps, its name out of the
folder's index, the folder's modified and MFT-changed times those of the delete), so it is recoverable until
reused; the plan's journal records go into $UsnJrnl:$J after its purged (sparse) head, and each file's
$STANDARD_INFORMATION keeps the USN of its last record.

The bytes come out as the volume's used extents (``Volume.pieces``: boot sectors, cluster runs, index blocks), never
as one partition-sized buffer, so a system volume of tens of GiB costs memory and time only for what it holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from itertools import pairwise

from dflab.atomic import atomic_file
from dflab.errors import DflabError
from dflab.evidence.disk.sparse import write_pieces
from dflab.evidence.windows.ntfs import index as idx
from dflab.evidence.windows.ntfs import secure
from dflab.evidence.windows.ntfs.attrdef import attrdef_bytes
from dflab.evidence.windows.ntfs.attributes import (
    Attribute,
    AttrType,
    Namespace,
    NonResident,
    Resident,
    Times,
    file_name,
    ref,
    standard_information,
    volume_information,
)
from dflab.evidence.windows.ntfs.boot import SECTOR, boot_sector
from dflab.evidence.windows.ntfs.logfile import logfile
from dflab.evidence.windows.ntfs.plan import (
    HIDDEN,
    SYSTEM,
    USN_ALLOCATION_DELTA,
    USN_MAX_SIZE,
    VolumePlan,
    path_key,
    record_numbers,
)
from dflab.evidence.windows.ntfs.record import (
    DIRECTORY,
    IN_EXTEND,
    IN_USE,
    RECORD_SIZE,
    VIEW_INDEX,
    Record,
    RecordFull,
    unused_record,
)
from dflab.evidence.windows.ntfs.runlist import Run
from dflab.evidence.windows.ntfs.shortname import is_short, short_name
from dflab.evidence.windows.ntfs.upcase import collation_key, upcase_bytes
from dflab.evidence.windows.ntfs.usn import UsnRecord, journal, max_stream
from dflab.evidence.windows.wintypes import filetime

CLUSTER = 4096
MIRRORED = 4
"""Records copied to $MFTMirr: one cluster's worth, as Windows does with 4 KiB clusters."""
MIN_MFT_RECORDS = 256
MFT_LCN_MAX = 786432
"""Where Windows 10's format puts $MFT on a volume of more than 9 GiB (fsstat of real system volumes: "First Cluster
of MFT: 786432"); a smaller one has it a third in (the 1 GiB sample of ``tests/test_windows_ntfs.py``)."""
FILE_NAME_INDEX_PRESENT = 0x10000000
"""$FILE_NAME flag of a directory (Windows has no DOS attribute for it in $STANDARD_INFORMATION)."""
_META = HIDDEN | SYSTEM
_DIRECTORY_ATTRIBUTE = 0x10
"""FILE_ATTRIBUTE_DIRECTORY, which the journal's records carry for folders (the MFT keeps it in $FILE_NAME flags)."""


@dataclass
class _Node:
    """One MFT record being planned: its identity, times, streams (content, or size when the content is known only
    once everything is laid out), attributes given whole, and what layout decides."""

    number: int
    name: str
    parent: int
    parent_sequence: int
    si: Times
    fn: Times
    dos: int
    security_id: int
    sequence: int = 1
    directory: bool = False
    flags: int = 0
    namespace: Namespace = Namespace.WIN32
    streams: list[tuple[str, bytes | int]] = field(default_factory=list)
    nonresident: set[str] = field(default_factory=set)
    extra: list[Attribute] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)
    runs: dict[str, Run] = field(default_factory=dict)
    layout: idx.Layout | None = None
    index_run: Run | None = None
    deleted: int | None = None
    """FILETIME of the delete: the record is written free, its sequence number one higher than the file's."""
    usn: int = 0
    """USN of the journal's last record about this file, which $STANDARD_INFORMATION keeps."""
    short: str | None = None
    """The separate 8.3 name (DOS namespace), when the volume makes them and the name is not one already."""

    def size(self, name: str = "") -> int:
        for stream, content in self.streams:
            if stream == name:
                return content if isinstance(content, int) else len(content)
        return 0

    def allocated(self, name: str = "") -> int:
        if name in self.nonresident:
            return _clusters(self.size(name)) * CLUSTER
        return (self.size(name) + 7) & ~7

    def fn_value(self, dos: bool = False) -> bytes:
        """The $FILE_NAME value of the name, or (``dos``) of the separate 8.3 name."""
        flags = self.dos | (FILE_NAME_INDEX_PRESENT if self.directory else 0)
        size, allocated = (0, 0) if self.directory else (self.size(), self.allocated())
        name, namespace = (self.short or "", Namespace.DOS) if dos else (self.name, self.namespace)
        return file_name(ref(self.parent, self.parent_sequence), name, self.fn, allocated, size, flags, namespace)

    def names(self) -> list[tuple[str, bytes]]:
        """Each name the file has in its folder's index, with its $FILE_NAME value: the DOS one first, as Windows
        writes them in the record."""
        short = [(self.short, self.fn_value(dos=True))] if self.short else []
        return short + [(self.name, self.fn_value())]


def _clusters(size: int) -> int:
    return (size + CLUSTER - 1) // CLUSTER


def _fits(node: _Node, attributes: list[Attribute]) -> bool:
    return Record(node.number, node.sequence, 0, 1, tuple(attributes)).used() <= RECORD_SIZE


@dataclass(frozen=True)
class Volume:
    """The written volume and where its parts went (for tests and for the next increments' facts).

    The bytes are ``pieces``, ``(offset, bytes)`` in offset order, never overlapping, over a volume of ``size``
    bytes that is zero everywhere else: the extents in use (boot sectors, each stream's cluster run, index blocks,
    the $MFT), so a volume of tens of GiB costs memory and time only for what it holds; the disk writer writes them
    sparse (:mod:`dflab.evidence.disk.sparse`). A deleted file's run is among them: its clusters are free, not
    wiped."""

    size: int
    pieces: tuple[tuple[int, bytes], ...]
    records: dict[str, int]
    """Path (``/``-separated, from the root) → MFT record number, for the plan's files."""
    mft_lcn: int
    clusters: int
    usns: tuple[int, ...] = ()
    """USN of each of the plan's journal records, in plan order."""

    def to_bytes(self) -> bytes:
        """The whole volume as one bytes object, ``size`` long: for small volumes (tests), never for evidence."""
        image = bytearray(self.size)
        for offset, data in self.pieces:
            image[offset:offset + len(data)] = data
        return bytes(image)

    def write(self, path: str | os.PathLike[str]) -> None:
        """The volume alone as a raw image, atomically; what the pieces leave zero stays holes."""
        with atomic_file(path) as fh:
            write_pieces(fh.fileno(), self.size, self.pieces)


class _Builder:
    def __init__(self, plan: VolumePlan) -> None:
        plan.check()
        self.plan = plan
        self.sectors = plan.size // SECTOR - 1
        self.clusters = self.sectors * SECTOR // CLUSTER
        self.nodes: dict[int, _Node] = {}
        self.secure = secure.build()
        self.next_lcn = 2
        self.bitmap = bytearray(((self.clusters + 7) // 8 + 7) & ~7)
        self._mark(0, 2)
        # $Bitmap is a whole number of 8 bytes: its bits past the last cluster are set, as Windows and mkntfs set
        # them, so readers that count its clear bits (ntfs-3g's free clusters) count no cluster that isn't there.
        self._mark(self.clusters, len(self.bitmap) * 8 - self.clusters)
        self.by_key: dict[tuple[tuple[int, ...], ...], _Node] = {}
        self.journal_data = b""
        self.usns: list[int] = []

    # -- nodes ------------------------------------------------------------------------------------------------------

    def _system(self, number: int, name: str, parent: int = 5, **kwargs: object) -> _Node:
        t = self.plan.formatted
        node = _Node(number, name, parent, parent, t, t, _META, secure.METADATA_ID, sequence=max(1, number),
                     namespace=Namespace.WIN32_AND_DOS, **kwargs)  # type: ignore[arg-type]
        self.nodes[number] = node
        return node

    def _view_index(self, name: str, collation: int, entries: tuple[idx.Entry, ...] = ()) -> Resident:
        """A view index held in its root: a fresh volume's few descriptors and empty $Extend indexes fit there."""
        return Resident(AttrType.INDEX_ROOT, idx.root_value(0, collation, idx.lay_out(list(entries), 1 << 20).root,
                                                            False), name)

    def add_system_files(self, records: int) -> None:
        plan = self.plan
        mft = self._system(0, "$MFT", streams=[("", records * RECORD_SIZE)], nonresident={""})
        mft.extra.append(NonResident(AttrType.BITMAP, (), 0, 0))  # replaced once allocated
        self._system(1, "$MFTMirr", streams=[("", MIRRORED * RECORD_SIZE)], nonresident={""})
        self._system(2, "$LogFile", streams=[("", logfile(plan.log_size, 1))], nonresident={""})
        volume = self._system(3, "$Volume", streams=[("", b"")])
        volume.extra += [Resident(AttrType.VOLUME_NAME, plan.label.encode("utf-16-le")),
                         Resident(AttrType.VOLUME_INFORMATION, volume_information())]
        self._system(4, "$AttrDef", streams=[("", attrdef_bytes())], nonresident={""})
        root = self._system(5, ".", directory=True)
        root.security_id = secure.FOLDER_ID
        self._system(6, "$Bitmap", streams=[("", len(self.bitmap))], nonresident={""})
        self._system(7, "$Boot", streams=[("", 2 * CLUSTER)], nonresident={""})
        bad = self._system(8, "$BadClus", streams=[("", b"")])
        bad.extra.append(NonResident(AttrType.DATA, (Run(None, self.clusters),), self.clusters * CLUSTER,
                                     self.clusters * CLUSTER, "$Bad", sparse=True))
        sec = self._system(9, "$Secure", flags=VIEW_INDEX, streams=[("$SDS", self.secure.sds)], nonresident={"$SDS"})
        sec.extra += [self._view_index("$SDH", idx.COLLATION_NTOFS_SECURITY_HASH, self.secure.sdh),
                      self._view_index("$SII", idx.COLLATION_NTOFS_ULONG, self.secure.sii)]
        self._system(10, "$UpCase", streams=[("", upcase_bytes())], nonresident={""})
        extend = self._system(11, "$Extend", directory=True)
        for number in range(12, 16):
            self._system(number, "", streams=[("", b"")])
        quota = self._system(24, "$Quota", parent=11, flags=IN_EXTEND | VIEW_INDEX)
        quota.extra += [self._view_index("$O", idx.COLLATION_NTOFS_SID), self._view_index("$Q",
                                                                                          idx.COLLATION_NTOFS_ULONG)]
        objid = self._system(25, "$ObjId", parent=11, flags=IN_EXTEND | VIEW_INDEX)
        objid.extra.append(self._view_index("$O", idx.COLLATION_NTOFS_ULONGS))
        reparse = self._system(26, "$Reparse", parent=11, flags=IN_EXTEND | VIEW_INDEX)
        reparse.extra.append(self._view_index("$R", idx.COLLATION_NTOFS_ULONGS))
        journal_id = plan.usn_journal_id or plan.formatted.created
        lowest = plan.journal_purged if plan.journal else 0
        usn = self._system(27, "$UsnJrnl", parent=11,
                           streams=[("$Max", max_stream(USN_MAX_SIZE, USN_ALLOCATION_DELTA, journal_id, lowest))])
        usn.extra.append(NonResident(AttrType.DATA, (), 0, 0, "$J", sparse=True))
        for number in (1, 24, 25, 26, 27):
            self.nodes[number].sequence = 1
        for number, node in self.nodes.items():
            if number != 5 and node.name:
                self.nodes[node.parent].children.append(node)
        root.children.append(root)
        extend.dos = _META

    def add_plan_files(self) -> dict[str, int]:
        by_path = self.by_key
        by_path[()] = self.nodes[5]
        numbers = record_numbers(self.plan.files, self.plan.first_user_record)
        for planned in self.plan.files:  # plan order: each parent's node exists before its children's
            number = numbers[planned.path]
            parent = by_path[path_key(planned.parent)]
            node = _Node(number, planned.name, parent.number, parent.sequence, planned.si_times,
                         planned.fn_times or planned.si_times, planned.dos_attributes,
                         secure.FOLDER_ID if planned.is_directory else secure.FILE_ID,
                         directory=planned.is_directory)
            if not planned.is_directory:
                node.streams = [("", planned.data or b"")] + [(s.name, s.data) for s in planned.streams]
            self.nodes[number] = node
            by_path[path_key(planned.path)] = node
            if planned.deleted is None:
                parent.children.append(node)
                continue
            # The delete took the name out of the directory: its modified and MFT-changed times are the delete's.
            node.deleted = filetime(planned.deleted)
            later = max(parent.si.modified, node.deleted)
            parent.si = replace(parent.si, modified=later, mft_changed=max(parent.si.mft_changed, later))
        if self.plan.short_names:  # 8.3 names are derived as each file is created: in record order
            taken: dict[int, set[str]] = {}
            for number in sorted(numbers.values()):
                node = self.nodes[number]
                self._name_for_dos(node, taken.setdefault(node.parent, set()))
        return numbers

    @staticmethod
    def _name_for_dos(node: _Node, taken: set[str]) -> None:
        """Give ``node`` its 8.3 name: its own (one Win32-and-DOS name) or a separate DOS one, in creation order."""
        if is_short(node.name):
            node.namespace = Namespace.WIN32_AND_DOS
            taken.add(node.name.upper())
        else:
            node.short = short_name(node.name, taken)

    def add_journal(self) -> None:
        """The plan's journal records, each naming its file as it was then (a deleted file by its live sequence)."""
        records = []
        for event in self.plan.journal:
            node = self.by_key[path_key(event.path)]
            parent = self.by_key[path_key(event.parent)] if event.parent is not None else self.nodes[node.parent]
            records.append(UsnRecord(ref(node.number, node.sequence), ref(parent.number, parent.sequence),
                                     filetime(event.when), int(event.reason),
                                     node.dos | (_DIRECTORY_ATTRIBUTE if node.directory else 0),
                                     event.name or node.name))
        if not records:
            return
        self.journal_data, self.usns = journal(records, self.plan.journal_purged)
        for event, usn in zip(self.plan.journal, self.usns, strict=True):
            self.by_key[path_key(event.path)].usn = usn

    # -- attributes -------------------------------------------------------------------------------------------------

    def _stream_attr(self, node: _Node, name: str, content: bytes | int) -> Attribute:
        if name in node.nonresident:
            run = node.runs.get(name, Run(self.clusters, _clusters(node.size(name))))
            runs = (run,) if run.length else ()
            return NonResident(AttrType.DATA, runs, node.size(name), run.length * CLUSTER, name)
        return Resident(AttrType.DATA, content if isinstance(content, bytes) else bytes(content), name)

    def attributes(self, node: _Node) -> list[Attribute]:
        attrs: list[Attribute] = [
            Resident(AttrType.STANDARD_INFORMATION,
                     standard_information(node.si, node.dos, node.security_id, node.usn))]
        if node.name:
            attrs += [Resident(AttrType.FILE_NAME, value, indexed=True) for _, value in node.names()]
        attrs += [self._stream_attr(node, name, content) for name, content in node.streams]
        attrs += node.extra
        if node.directory:
            attrs += self._index_attrs(node)
        return attrs

    def _index_attrs(self, node: _Node) -> list[Attribute]:
        layout = node.layout or idx.Layout(b"", ())
        attrs: list[Attribute] = [Resident(AttrType.INDEX_ROOT, idx.root_value(
            AttrType.FILE_NAME, idx.COLLATION_FILE_NAME, layout.root, layout.large), "$I30")]
        if layout.large:
            run = node.index_run or Run(self.clusters, len(layout.blocks))
            attrs += [NonResident(AttrType.INDEX_ALLOCATION, (run,), len(layout.blocks) * idx.INDEX_BLOCK,
                                  len(layout.blocks) * idx.INDEX_BLOCK, "$I30"),
                      Resident(AttrType.BITMAP, idx.bitmap(len(layout.blocks)), "$I30")]
        return attrs

    # -- layout -----------------------------------------------------------------------------------------------------

    def decide_residency(self) -> None:
        """Streams stay in the record while it fits (largest moved out first), as Windows keeps small files."""
        for node in self.nodes.values():
            while not _fits(node, self.attributes(node)):
                resident = [(node.size(n), n) for n, _ in node.streams if n not in node.nonresident]
                if not resident:
                    raise DflabError("MFT record cannot hold the file's names and streams", node.name)
                node.nonresident.add(max(resident)[1])

    def lay_out_indexes(self) -> None:
        for node in self.nodes.values():
            if not node.directory:
                continue
            named = [(collation_key(name), value, ref(child.number, child.sequence))
                     for child in node.children for name, value in child.names()]
            entries = [idx.Entry(value, reference) for _, value, reference in sorted(named)]
            node.layout = idx.Layout(b"", ())
            budget = RECORD_SIZE - Record(node.number, 1, 0, 1, tuple(self.attributes(node))).used()
            layout = idx.lay_out(entries, budget)
            if layout.large:
                node.layout = idx.Layout(b"", (b"",))
                budget = RECORD_SIZE - Record(node.number, 1, 0, 1, tuple(self.attributes(node))).used() - 16
                layout = idx.lay_out(entries, budget)
                if not layout.large:
                    raise DflabError("directory index fits neither in its record nor in one level", node.name)
            node.layout = layout

    def _allocate(self, count: int) -> Run:
        mft = self.nodes[0].runs.get("")
        if mft is not None and self.next_lcn < mft.lcn + mft.length and self.next_lcn + count > mft.lcn:
            self.next_lcn = mft.lcn + mft.length
        if self.next_lcn + count > self.clusters:
            raise DflabError("the plan's files do not fit in the volume", f"{self.plan.size} bytes")
        run = Run(self.next_lcn, count)
        self._mark(self.next_lcn, count)
        self.next_lcn += count
        return run

    def _mark(self, lcn: int, count: int) -> None:
        for c in range(lcn, lcn + count):
            self.bitmap[c // 8] |= 1 << (c % 8)

    def _unmark(self, lcn: int, count: int) -> None:
        for c in range(lcn, lcn + count):
            self.bitmap[c // 8] &= ~(1 << (c % 8))

    def _allocate_journal(self, node: _Node) -> None:
        """$J: a hole over the purged part, then the clusters of the records kept."""
        purged = self.plan.journal_purged // CLUSTER
        run = self._allocate(_clusters(len(self.journal_data)))
        node.runs["$J"] = run
        j = NonResident(AttrType.DATA, (Run(None, purged), run) if purged else (run,),
                        self.plan.journal_purged + len(self.journal_data), (purged + run.length) * CLUSTER, "$J",
                        sparse=True)
        node.extra = [j if isinstance(a, NonResident) and a.name == "$J" else a for a in node.extra]

    def allocate(self) -> None:
        mft_clusters = _clusters(self.nodes[0].size())
        mft_lcn = min(self.clusters // 3, MFT_LCN_MAX)
        self.nodes[0].runs[""] = Run(mft_lcn, mft_clusters)
        self._mark(mft_lcn, mft_clusters)
        self.nodes[7].runs[""] = Run(0, 2)
        for number in sorted(self.nodes):
            node = self.nodes[number]
            for name, _ in node.streams:
                if name in node.runs:
                    continue
                if name in node.nonresident and node.size(name):
                    node.runs[name] = self._allocate(_clusters(node.size(name)))
            if node.deleted is not None:
                for run in node.runs.values():
                    self._unmark(run.lcn, run.length)
            if number == 27 and self.journal_data:
                self._allocate_journal(node)
            if number == 1:
                mft = self.nodes[0]
                mft_bitmap = self._allocate(1)
                mft.extra[0] = NonResident(AttrType.BITMAP, (mft_bitmap,), len(self.mft_bitmap()), CLUSTER)
                mft.runs["$BITMAP"] = mft_bitmap
            if node.layout is not None and node.layout.large:
                node.index_run = self._allocate(len(node.layout.blocks))

    def mft_bitmap(self) -> bytes:
        records = self.nodes[0].size() // RECORD_SIZE
        out = bytearray(((records + 7) // 8 + 7) & ~7)
        in_use = [number for number, node in self.nodes.items() if node.deleted is None]
        for number in in_use + list(range(16, 24)):
            out[number // 8] |= 1 << (number % 8)
        return bytes(out)

    # -- bytes ------------------------------------------------------------------------------------------------------

    def pieces(self) -> list[tuple[int, bytes]]:
        """The volume's bytes as ``(offset, bytes)`` pieces in offset order: everything outside them is zero."""
        records = self.nodes[0].size() // RECORD_SIZE
        mft = bytearray()
        for number in range(records):
            node = self.nodes.get(number)
            if node is None:
                mft += unused_record(number)
                continue
            flags = (0 if node.deleted is not None else IN_USE) | (DIRECTORY if node.directory else 0) | node.flags
            sequence = node.sequence + (1 if node.deleted is not None else 0)
            try:
                links = len(node.names()) if node.name else 0
                mft += Record(number, sequence, flags, links, tuple(self.attributes(node))).encode()
            except RecordFull as exc:
                raise DflabError(str(exc), node.name) from None
        contents: dict[tuple[int, str], bytes] = {(0, ""): bytes(mft), (1, ""): bytes(mft[:MIRRORED * RECORD_SIZE]),
                                                  (0, "$BITMAP"): self.mft_bitmap(), (6, ""): bytes(self.bitmap)}
        mft_lcn, mirror_lcn = self.nodes[0].runs[""].lcn, self.nodes[1].runs[""].lcn
        boot = boot_sector(self.sectors, mft_lcn, mirror_lcn, self.plan.serial, self.plan.hidden_sectors)
        # $Boot's run (clusters 0-1) holds the boot sector and zeros; the backup is the volume's last sector.
        pieces: list[tuple[int, bytes]] = [(0, boot), (self.sectors * SECTOR, boot)]
        for number, node in self.nodes.items():
            for name, run in node.runs.items():
                data = contents.get((number, name))
                if data is None and (number, name) == (27, "$J"):
                    data = self.journal_data
                if data is None:
                    data = dict(node.streams).get(name, b"")
                    if isinstance(data, int):
                        continue
                if data:
                    pieces.append((run.lcn * CLUSTER, data))
            if node.index_run is not None and node.layout is not None:
                blocks = b"".join(idx.index_block(vcn, block, False) for vcn, block in enumerate(node.layout.blocks))
                pieces.append((node.index_run.lcn * CLUSTER, blocks))
        pieces.sort(key=lambda piece: piece[0])
        for (offset, data), (following, _) in pairwise(pieces):
            if offset + len(data) > following:
                raise AssertionError(f"NTFS layout bug: the piece at {offset} runs into the one at {following}")
        return pieces


def build_volume(plan: VolumePlan) -> Volume:
    """The volume ``plan`` describes: its partition's bytes (``plan.size`` long) as the pieces in use."""
    builder = _Builder(plan)
    needed = plan.first_user_record + len(plan.files)
    records = max(MIN_MFT_RECORDS, (needed + 63) // 64 * 64)
    builder.add_system_files(records)
    numbers = builder.add_plan_files()
    builder.add_journal()
    builder.decide_residency()
    builder.lay_out_indexes()
    builder.allocate()
    pieces = builder.pieces()
    return Volume(plan.size, tuple(pieces), numbers, builder.nodes[0].runs[""].lcn, builder.clusters,
                  tuple(builder.usns))
