"""The story's traces on NTFS: a file deleted for good, the change journal ($UsnJrnl:$J) and a Recycle Bin pair.

One volume holds a download with its Zone.Identifier, an implant renamed after it was dropped, a document sent to
the Recycle Bin and a file deleted for good, with the journal records Windows writes for each of those operations.
Read by the same five readers as ``test_windows_ntfs`` (TSK tools, pytsk3, ntfs-3g tools and FUSE mount,
libfsntfs) for the live files; the deleted file by TSK (``fls -d``, ``icat``, ``istat``, ``blkstat``), libfsntfs
and ntfs-3g; the journal by usnparser (PyPI ``usnparser``, its ``usn.py``) and libfsntfs's change-journal reader;
the Recycle Bin by rifiuti2 (``rifiuti-vista``). The journal's layout and the $I file's are compared with real
Windows ones from ../shared/samples/windows/ntfs, and each check is shown catching a planted defect.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyfsntfs
import pytest

from dflab.errors import DflabError
from dflab.evidence.windows.ntfs import PlannedFile, Stream, Volume, VolumePlan, build_volume, times, usn
from dflab.evidence.windows.ntfs.recyclebin import bin_folders, recycle, recycle_journal
from dflab.evidence.windows.ntfs.shortname import is_short, short_name
from dflab.evidence.windows.ntfs.usn import Reason, UsnRecord
from dflab.evidence.windows.wintypes import filetime
from tests.samples import sample, tool
from tests.test_windows_ntfs import READERS, Seen, expected, masked, read_with

pytestmark = pytest.mark.xdist_group("windows_ntfs")

SID = "S-1-5-21-3623811015-3361044348-30300820-1001"
BIN = f"$Recycle.Bin/{SID}"
ZONE = b"[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=http://198.51.100.23/invoice_2024.exe\r\n"
DOWNLOAD = "Users/mvdberg/Downloads/invoice_2024.exe"
IMPLANT = "Windows/System32/svchostw.exe"
GONE = "Users/mvdberg/Documents/plan.txt"
RECYCLED_FROM = "Users/mvdberg/Documents/report.docx"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, second, tzinfo=UTC)


def blob(seed: str, size: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).digest()
        counter += 1
    return out[:size]


REPORT = PlannedFile(RECYCLED_FROM, times(at(2, 10), at(2, 11, 30)), blob("report", 20_000))
I_FILE, R_FILE = recycle(REPORT, SID, "A1B2C3", at(4, 15, 20))


def story_plan() -> VolumePlan:
    files = (
        PlannedFile("Users", times(at(1, 9))),
        PlannedFile("Users/mvdberg", times(at(1, 9, 5))),
        PlannedFile("Users/mvdberg/Downloads", times(at(1, 9, 5), at(4, 14, 2, 11))),
        PlannedFile(DOWNLOAD, times(at(4, 14, 2, 11), at(4, 14, 2, 13), at(4, 14, 2, 14)), blob("payload", 48_213),
                    streams=(Stream("Zone.Identifier", ZONE),)),
        PlannedFile("Users/mvdberg/Documents", times(at(1, 9, 5), at(3, 9), at(4, 15, 20))),
        PlannedFile(GONE, times(at(3, 9), at(3, 9, 4)), b"meet at the dock, 23:00\r\n" * 400, deleted=at(4, 16, 5)),
        PlannedFile("Windows", times(at(1, 8, 30))),
        PlannedFile("Windows/System32", times(at(1, 8, 30), at(4, 14, 6, 2))),
        PlannedFile(IMPLANT, times(at(4, 14, 6, 1), at(4, 14, 6, 1), at(4, 14, 6, 2)), blob("implant", 73_728)),
        *bin_folders(SID, times(at(4, 15, 20))),
        I_FILE,
        R_FILE,
    )
    journal = (
        *usn.created(GONE, at(3, 9)),
        *usn.created(DOWNLOAD, at(4, 14, 2, 11)),
        *usn.stream_added(DOWNLOAD, at(4, 14, 2, 14)),
        *usn.created(IMPLANT, at(4, 14, 6, 1), name="svc.tmp"),
        *usn.renamed(IMPLANT, at(4, 14, 6, 2), "svc.tmp"),
        *usn.folder_created("$Recycle.Bin", at(4, 15, 20), attributes_set=True),
        *usn.folder_created(BIN, at(4, 15, 20), attributes_set=True),
        *usn.created(f"{BIN}/desktop.ini", at(4, 15, 20)),
        *recycle_journal(REPORT, I_FILE, R_FILE, at(4, 15, 20)),
        *usn.deleted(GONE, at(4, 16, 5)),
    )
    return VolumePlan(size=64 << 20, serial=0x5C3A_19E2_7B04_D1F6, label="", formatted=times(at(1, 8)),
                      files=files, journal=journal, short_names=True)


@pytest.fixture(scope="module")
def volume() -> Volume:
    return build_volume(story_plan())


@pytest.fixture(scope="module")
def image(volume: Volume, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("story") / "story.img"
    volume.write(path)
    return path


def _bytes(*args: str) -> bytes:
    return subprocess.run(args, check=True, capture_output=True, timeout=300).stdout


def _run(*args: str) -> str:
    return _bytes(*args).decode()


def _record_offset(volume: Volume, number: int) -> int:
    return volume.mft_lcn * 4096 + number * 1024


def _planted(volume: Volume, folder: Path, name: str, offset: int, data: bytes) -> Path:
    """A copy of the image with ``data`` written at ``offset`` (fixups left alone: the change is inside a sector)."""
    changed = bytearray(volume.to_bytes())
    changed[offset:offset + len(data)] = data
    path = folder / name
    path.write_bytes(changed)
    return path


# -- the live files, read by all five readers -----------------------------------------------------------------------


def story_expected(plan: VolumePlan) -> dict[str, Seen]:
    """What every reader must show: the plan's live files outside ``$``-folders, the deleted file's folder with the
    delete's time as its modified and MFT-changed ones (its $FILE_NAME copy in the index above is not updated)."""
    model = {p: s for p, s in expected(plan).items() if not p.startswith("$")}
    for planned in plan.files:
        if planned.deleted is not None:
            del model[planned.path]
            parent = model[planned.parent]
            when = filetime(planned.deleted)
            assert parent.si is not None
            model[planned.parent] = replace(parent, si=(parent.si[0], when, when, parent.si[3]))
    return model


@pytest.mark.parametrize("reader", sorted(READERS))
def test_readers_show_the_live_files_and_the_folder_the_delete_touched(reader, image, tmp_path):
    model = masked(story_expected(story_plan()), **READERS[reader][1])
    seen = read_with(reader, image, tmp_path)
    assert sorted(seen) == sorted(model)
    for path in model:
        assert seen[path] == model[path], path
    assert GONE not in seen


# -- the file deleted for good ---------------------------------------------------------------------------------------


def deleted_by_tsk(image: Path) -> dict[str, str]:
    """``fls -d -r -p``: path → metadata address of every deleted name TSK finds."""
    out = {}
    for line in _run(tool("fls"), "-d", "-r", "-p", str(image)).splitlines():
        kind, _, rest = line.partition(" ")
        address, _, path = rest.partition(":\t")
        assert address.startswith("* "), line
        out[path] = address[2:]
    return out


def test_deleted_file_is_free_in_the_mft_and_recoverable_from_unallocated_clusters(volume, image):
    plan = story_plan()
    gone = next(f for f in plan.files if f.path == GONE)
    number = volume.records[GONE]
    assert deleted_by_tsk(image) == {GONE: f"{number}-128-2"}
    assert _run(tool("icat"), str(image), str(number)).encode() == gone.data
    stat = _run(tool("istat"), str(image), str(number))
    assert "Not Allocated File" in stat and f"Entry: {number}        Sequence: 2" in stat
    # Its clusters are free in $Bitmap and still hold the file.
    blocks = [int(b) for line in stat.split("$DATA (128-2)")[1].splitlines()[1:] for b in line.split()]
    assert len(blocks) == -(-len(gone.data) // 4096)
    for block in blocks:
        assert _run(tool("blkstat"), str(image), str(block)).splitlines()[1] == "Not Allocated"
    # Its record is out of $MFT's bitmap (the in-use flag is clear in the header) and its name out of the folder's
    # index for every reader.
    bitmap = _bytes(tool("icat"), str(image), "0-176")
    assert not bitmap[number // 8] >> (number % 8) & 1
    assert bitmap[volume.records[IMPLANT] // 8] >> (volume.records[IMPLANT] % 8) & 1
    assert "plan.txt" not in _run(tool("ntfsls"), "-p", "/Users/mvdberg/Documents", str(image))
    vol = pyfsntfs.volume()
    vol.open(str(image))
    try:
        entry = vol.get_file_entry(number)
        name = next(a for a in entry.attributes if a.attribute_type == 0x30)
        documents = vol.get_file_entry_by_path("\\Users\\mvdberg\\Documents")
        assert not entry.is_allocated() and entry.get_size() == len(gone.data)
        assert (name.name, name.parent_file_reference) == ("plan.txt", documents.file_reference)
        # report.docx went to the Recycle Bin and plan.txt is deleted: the folder lists nothing.
        assert documents.number_of_sub_file_entries == 0
    finally:
        vol.close()
    fix = subprocess.run([tool("ntfsfix"), "-n", str(image)], capture_output=True, text=True, timeout=120)
    assert fix.returncode == 0, fix.stdout + fix.stderr


def test_tsk_sees_a_record_left_in_use_as_a_live_file(volume, image, tmp_path):
    # The clean image lists the deleted file (test above); set its record's in-use flag and TSK no longer does.
    offset = _record_offset(volume, volume.records[GONE]) + 0x16
    planted = _planted(volume, tmp_path, "in_use.img", offset, b"\x01\x00")
    assert deleted_by_tsk(image) and not deleted_by_tsk(planted)


# -- the change journal ----------------------------------------------------------------------------------------------


ATTRIBUTE_WORDS = ((0x1, "READONLY"), (0x2, "HIDDEN"), (0x4, "SYSTEM"), (0x10, "DIRECTORY"), (0x20, "ARCHIVE"))
UNIX_EPOCH_AS_FILETIME = 116_444_736_000_000_000


def _attribute_words(planned: PlannedFile) -> str:
    bits = planned.dos_attributes | (0x10 if planned.is_directory else 0)
    return " ".join(word for bit, word in ATTRIBUTE_WORDS if bits & bit)


def _reason_words(reason: int) -> str:
    """usnparser's order: by flag value, CLOSE (the highest) last."""
    return " ".join(r.name or "" for r in sorted(Reason, key=int) if reason & r)


def expected_journal(plan: VolumePlan, volume: Volume) -> list[tuple[str, ...]]:
    """(time, name, attributes, reasons, record-sequence) per record, as usnparser words them. Every file of the
    story was created on a fresh volume, so each record names sequence 1 (``journal_vs_mft`` checks it against the
    MFT)."""
    files = {f.path: f for f in plan.files}
    out = []
    for event in plan.journal:
        when = datetime.fromtimestamp((filetime(event.when) - UNIX_EPOCH_AS_FILETIME) // 10**7, UTC)
        out.append((when.strftime("%Y-%m-%d %H:%M:%S"), event.name or files[event.path].name,
                    _attribute_words(files[event.path]), _reason_words(event.reason),
                    f"{volume.records[event.path]}-1"))
    return out


def usnparser(journal: Path, out: Path) -> list[tuple[str, ...]]:
    """usnparser's default listing (time | name | attributes | reasons) joined with its bodyfile (record-sequence)."""
    if not Path(USNPARSER).is_file():
        pytest.fail("usnparser is not installed in this environment (pip install usnparser==4.1.5)")
    subprocess.run([sys.executable, USNPARSER, "-f", str(journal), "-o", str(out)], check=True, timeout=120)
    rows = [tuple(line.split(" | ")) for line in out.read_text().splitlines()]
    subprocess.run([sys.executable, USNPARSER, "-b", "-f", str(journal), "-o", str(out)], check=True, timeout=120)
    refs = [line.split("|")[2] for line in out.read_text().splitlines()]
    return [(*row, ref) for row, ref in zip(rows, refs, strict=True)]


def _journal_file(image: Path, folder: Path) -> Path:
    """$UsnJrnl:$J through TSK (its sparse head read as zeros)."""
    path = folder / "J.bin"
    path.write_bytes(_bytes(tool("icat"), str(image), "27-128-2"))
    return path


def test_usnparser_reads_the_storys_operations(volume, image, tmp_path):
    plan = story_plan()
    journal = _journal_file(image, tmp_path)
    last = len(UsnRecord(0, 0, 0, 0, 0, GONE.rsplit("/", 1)[1]).encode(0))
    assert journal.stat().st_size == volume.usns[-1] + last
    assert journal.read_bytes()[:plan.journal_purged] == bytes(plan.journal_purged)
    assert usnparser(journal, tmp_path / "out.txt") == expected_journal(plan, volume)


def test_libfsntfs_walks_the_journal_records_at_their_usns(volume, image, tmp_path):
    """libfsntfs's change-journal reader finds every record, at its USN, with the bytes TSK reads, naming the file
    and the folder it was in then (the old one for the Recycle Bin's move)."""
    vol = pyfsntfs.volume()
    vol.open(str(image))
    try:
        journal = vol.get_usn_change_journal()
        records = []
        while record := journal.read_usn_record():
            records.append(record)
    finally:
        vol.close()
    assert [struct.unpack_from("<q", r, 0x18)[0] for r in records] == list(volume.usns)
    via_tsk = _journal_file(image, tmp_path).read_bytes()
    assert records == [via_tsk[u:u + len(r)] for u, r in zip(volume.usns, records, strict=True)]
    plan = story_plan()
    files = {f.path: f for f in plan.files}

    def reference(path: str) -> int:
        """Record number and sequence: the root is record 5, sequence 5; the story's files have sequence 1."""
        return 5 | 5 << 48 if path == "" else volume.records[path] | 1 << 48

    expected = [(reference(e.path), reference(files[e.path].parent if e.parent is None else e.parent))
                for e in plan.journal]
    assert [struct.unpack_from("<QQ", r, 8) for r in records] == expected


def test_journal_references_and_usns_match_the_mft(volume, image, tmp_path):
    """Each record's file reference is the record's number and the sequence it had then (the deleted file's is one
    lower now); each file's $STANDARD_INFORMATION keeps its last USN; $Max's lowest valid USN is the first record."""
    plan = story_plan()
    mismatches = journal_vs_mft(image, tmp_path)
    assert mismatches == []
    last = {}
    for event, number in zip(plan.journal, volume.usns, strict=True):
        last[event.path] = number
    for path, number in last.items():
        stat = _run(tool("istat"), str(image), str(volume.records[path]))
        assert f"Last User Journal Update Sequence Number: {number}\n" in stat, path
    limits = _bytes(tool("icat"), str(image), "27-128-3")
    assert struct.unpack("<QQQq", limits) == (32 << 20, 8 << 20, plan.formatted.created, volume.usns[0])
    assert volume.usns[0] == plan.journal_purged


def journal_vs_mft(image: Path, folder: Path) -> list[str]:
    """Records whose file reference names a record whose current sequence does not fit (the same, or one more for a
    record TSK finds free)."""
    bad = []
    for row in usnparser(_journal_file(image, folder), folder / "out.txt"):
        number, sequence = (int(x) for x in row[4].split("-"))
        stat = _run(tool("istat"), str(image), str(number))
        now = int(stat.split("Sequence: ")[1].split()[0])
        if now != sequence + ("Not Allocated File" in stat):
            bad.append(f"{row[1]} {row[4]} (MFT sequence {now})")
    return bad


def test_a_stale_file_reference_is_caught(volume, image, tmp_path):
    # The clean journal matches (test above); the implant's first record now names sequence 3, the MFT says 1.
    number = volume.records[IMPLANT]
    data = struct.pack("<Q", number | 3 << 48)
    first = next(i for i, e in enumerate(story_plan().journal) if e.path == IMPLANT)
    offset = _j_offset(image, volume, volume.usns[first]) + 8
    planted = _planted(volume, tmp_path, "stale.img", offset, data)
    (tmp_path / "p").mkdir()
    assert journal_vs_mft(planted, tmp_path / "p") == [f"svc.tmp {number}-3 (MFT sequence 1)"]


def _j_offset(image: Path, volume: Volume, usn_: int) -> int:
    """Where the record at ``usn_`` is in the image: $J's one real run starts right after the hole."""
    blocks = _run(tool("istat"), str(image), "27").split("$DATA (128-2)")[1].splitlines()[1:]
    first_block = next(int(b) for line in blocks for b in line.split() if b != "0")
    return first_block * 4096 + usn_ - story_plan().journal_purged


RECORD = struct.Struct("<IHHQQqQIIIIHH")
USNPARSER = str(Path(sys.executable).with_name("usn.py"))
"""usnparser's script, installed beside the interpreter by ``pip install usnparser``."""


def layout_faults(journal: bytes) -> list[str]:
    """How ``journal`` (a whole $J, offset = USN) departs from Windows' layout: a record crossing a 4 KiB page, one
    whose USN is not its offset or whose source is set, or a version 2.0 record that is not 8-aligned or keeps its
    name elsewhere than right after the header. Version 4.0 records (Windows 10's range tracking) are allowed."""
    faults = []
    offset = 0
    while offset + 4 <= len(journal):
        length = struct.unpack_from("<I", journal, offset)[0]
        if length == 0:
            offset = (offset // 4096 + 1) * 4096  # the rest of the page is padding
            continue
        (length, major, minor, _ref, _parent, number, _time, _reason, source, _security, _attrs, name_length,
         name_offset) = RECORD.unpack_from(journal, offset)
        if major == 4:  # 128-bit file references: the USN is 16 bytes further
            number, source = struct.unpack_from("<q", journal, offset + 0x28)[0], 0
        where = f"record at {offset}"
        if (major, minor) not in ((2, 0), (4, 0)) or length % 8:
            faults.append(f"{where}: version {major}.{minor}, length {length}")
        elif major == 2 and (name_offset != 0x3C or length != (0x3C + name_length + 7) & ~7):
            faults.append(f"{where}: name at {name_offset}, {name_length} bytes, record length {length}")
        if offset // 4096 != (offset + length - 1) // 4096:
            faults.append(f"{where}: crosses a page")
        if number != offset or source:
            faults.append(f"{where}: usn {number}, source {source}")
        offset += length
    return faults


def _real_journal(name: str) -> bytes:
    """A real $J (both samples start at USN 0)."""
    data = sample(f"windows/ntfs/{name}").read_bytes()
    assert struct.unpack_from("<q", data, 0x18)[0] == 0
    return data


@pytest.mark.parametrize("name", ["win10_UsnJrnl_J.bin", "UsnJrnl_J.raw"])
def test_journal_is_laid_out_as_a_real_windows_one(volume, image, tmp_path, name):
    real = _real_journal(name)
    assert layout_faults(real) == []
    ours = _journal_file(image, tmp_path).read_bytes()
    assert layout_faults(ours) == []
    # Records written on without padding the page end are caught where one crosses it.
    crossing = bytearray(ours)
    record = ours[volume.usns[0]:volume.usns[0] + 80]
    while len(crossing) // 4096 == (len(crossing) + 79) // 4096:
        crossing += record
        struct.pack_into("<q", crossing, len(crossing) - 80 + 0x18, len(crossing) - 80)
    crossing += record
    struct.pack_into("<q", crossing, len(crossing) - 80 + 0x18, len(crossing) - 80)
    assert layout_faults(bytes(crossing)) == [f"record at {len(crossing) - 80}: crosses a page"]


def test_the_journal_tells_each_operation_as_windows_does():
    """The sequences of reasons the plan's helpers write are the ones a real Windows 10 journal holds for the same
    operations: a folder made then hidden, a file created and written, a rename, times set on an open file."""
    real = sample("windows/ntfs/win10_UsnJrnl_J.bin").read_bytes()
    by_file: dict[int, list[int]] = {}
    offset = 0
    while offset + 4 <= len(real):
        length = struct.unpack_from("<I", real, offset)[0]
        if length == 0:
            offset = (offset // 4096 + 1) * 4096
            continue
        fields = RECORD.unpack_from(real, offset)
        by_file.setdefault(fields[3], []).append(fields[7])
        offset += length
    sequences = {tuple(reasons) for reasons in by_file.values()}
    flat = [tuple(r[i:i + n]) for r in by_file.values() for n in (2, 3, 4) for i in range(len(r) - n + 1)]
    ours = {
        "folder made hidden": tuple(e.reason for e in usn.folder_created("x", 0, attributes_set=True)),
        "file written": tuple(e.reason for e in usn.created("x", 0)),
        "rename": tuple(e.reason for e in usn.renamed("x", 0, "y")),
        "times set (timestomp)": tuple(e.reason for e in usn.basic_info_changed("x", 0)),
    }
    for what, reasons in ours.items():
        assert reasons in flat or reasons in sequences, what


# -- the Recycle Bin ------------------------------------------------------------------------------------------------


def rifiuti(folder: Path) -> dict[str, object]:
    out = _run(tool("rifiuti-vista"), str(folder))
    head, _, table = out.partition("Index\tDeleted Time\tSize\tPath\n")
    rows = [line.split("\t") for line in table.splitlines() if line]
    return {"version": head.split("Version: ")[1].split("\n")[0], "rows": rows}


def _extract_bin(image: Path, volume: Volume, folder: Path) -> Path:
    folder.mkdir()
    for path in (I_FILE.path, R_FILE.path):
        data = _bytes(tool("icat"), str(image), str(volume.records[path]))
        (folder / path.rsplit("/", 1)[1]).write_bytes(data)
    return folder


def test_rifiuti_reads_the_recycle_bin_pair(volume, image, tmp_path):
    folder = _extract_bin(image, volume, tmp_path / "bin")
    seen = rifiuti(folder)
    assert seen == {"version": "2", "rows": [["$IA1B2C3.docx", "2024-03-04 15:20:00", "20000",
                                               "C:\\Users\\mvdberg\\Documents\\report.docx"]]}
    assert (folder / "$RA1B2C3.docx").read_bytes() == REPORT.data
    # The same reader on a real Windows 10 $I gives the same version and columns.
    real = _run(tool("rifiuti-vista"), str(sample("windows/ntfs/recyclebin/$I103S5F.jpg")))
    assert "Version: 2\n" in real and "$I103S5F.jpg\t2016-06-29 21:37:45\t222255\t" in real


def test_rifiuti_refuses_an_i_file_whose_path_length_is_wrong(volume, image, tmp_path):
    # The clean pair is read (test above); a path length that does not match the file's size is refused.
    folder = _extract_bin(image, volume, tmp_path / "bin")
    index = folder / I_FILE.path.rsplit("/", 1)[1]
    data = bytearray(index.read_bytes())
    struct.pack_into("<I", data, 0x18, struct.unpack_from("<I", data, 0x18)[0] + 1)
    index.write_bytes(data)
    refused = subprocess.run([tool("rifiuti-vista"), str(folder)], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "expected size and real size do not match" in refused.stderr


def test_recycle_bin_pair_agrees_with_the_mft(volume, image):
    listing = _run(tool("fls"), "-r", "-p", str(image))
    assert f"d/d {volume.records['$Recycle.Bin']}-144-2:\t$Recycle.Bin\n" in listing
    for path in (BIN, "$Recycle.Bin"):
        assert "Flags: Hidden, System" in _run(tool("istat"), "-z", "UTC", str(image), str(volume.records[path]))
    r_stat = _run(tool("istat"), "-z", "UTC", str(image), str(volume.records[R_FILE.path]))
    si = r_stat.split("$FILE_NAME Attribute Values:")[0]
    # The move kept the file's birth and content times and changed its MFT entry at the deletion.
    assert "Created:\t2024-03-02 10:00:00.000000000 (UTC)" in si
    assert "File Modified:\t2024-03-02 11:30:00.000000000 (UTC)" in si
    assert "MFT Modified:\t2024-03-04 15:20:00.000000000 (UTC)" in si
    i_data = _bytes(tool("icat"), str(image), str(volume.records[I_FILE.path]))
    version, size, deleted, length = struct.unpack_from("<qqQI", i_data)
    assert (version, size, deleted) == (2, len(REPORT.data), filetime(at(4, 15, 20)))
    assert i_data[0x1C:].decode("utf-16-le") == "C:\\Users\\mvdberg\\Documents\\report.docx\0"
    assert length * 2 + 0x1C == len(i_data)


def test_the_i_file_is_laid_out_as_windows_10s(volume, image):
    real = sample("windows/ntfs/recyclebin/$I103S5F.jpg").read_bytes()
    ours = I_FILE.data
    assert ours is not None
    for data in (real, ours):
        version, size, deleted, length = struct.unpack_from("<qqQI", data)
        assert version == 2 and size > 0 and length * 2 + 0x1C == len(data)
        assert data[-2:] == b"\0\0" and data[0x1C:-2].decode("utf-16-le")[1:3] == ":\\"
    # A version-1 (Vista–8.1) $I keeps a fixed 520-byte path field and rifiuti says so: the reader tells them apart.
    vista = sample("windows/ntfs/recyclebin/$II3DF3L.zip").read_bytes()
    assert struct.unpack_from("<q", vista)[0] == 1 and len(vista) == 0x18 + 520


# -- 8.3 names -----------------------------------------------------------------------------------------------------


def test_short_names_are_made_where_windows_makes_them(volume, image):
    """ntfs-3g lists the DOS names; a long name's record holds its DOS $FILE_NAME first and counts two links, an
    8.3 name (desktop.ini, ``$Recycle.Bin``) is one Win32-and-DOS name."""
    assert _run(tool("ntfsls"), "-x", "-p", "/Users/mvdberg", str(image)).split() == [".", "..", "DOCUME~1",
                                                                                        "DOWNLO~1"]
    assert "$IA1B2~1.DOC" in _run(tool("ntfsls"), "-x", "-p", "/" + BIN, str(image)).split()
    download = _run(tool("istat"), str(image), str(volume.records[DOWNLOAD]))
    assert "Links: 2" in download
    assert download.index("Name: INVOIC~1.EXE") < download.index("Name: invoice_2024.exe")
    desktop = _run(tool("istat"), str(image), str(volume.records[f"{BIN}/desktop.ini"]))
    assert "Links: 1" in desktop and desktop.count("$FILE_NAME Attribute Values:") == 1


def _sample_mft_names() -> dict[int, list[tuple[str, int, int]]]:
    """Each in-use record from 27 on of the real $MFT: its $FILE_NAMEs (name, namespace, parent record) in record
    order."""
    mft = sample("windows/ntfs/vsstest_MFT.bin").read_bytes()
    out = {}
    for number in range(27, len(mft) // 1024):
        record = bytearray(mft[number * 1024:(number + 1) * 1024])
        if record[:4] != b"FILE" or not struct.unpack_from("<H", record, 0x16)[0] & 1:
            continue
        usa = struct.unpack_from("<H", record, 4)[0]
        for sector in (1, 2):
            record[sector * 512 - 2:sector * 512] = record[usa + 2 * sector:usa + 2 * sector + 2]
        names, offset = [], struct.unpack_from("<H", record, 0x14)[0]
        while (kind := struct.unpack_from("<I", record, offset)[0]) != 0xFFFFFFFF:
            if kind == 0x30:
                value = record[offset + struct.unpack_from("<H", record, offset + 0x14)[0]:]
                names.append((value[0x42:0x42 + 2 * value[0x40]].decode("utf-16-le"), value[0x41],
                              int.from_bytes(value[0:6], "little")))
            offset += struct.unpack_from("<I", record, offset + 4)[0]
        out[number] = names
    return out


def test_short_names_match_a_real_windows_mft():
    """The real volume's names, made again here in its record order, get the 8.3 names Windows gave them."""
    taken: dict[int, set[str]] = {}
    compared = []
    for names in _sample_mft_names().values():
        win32 = [n for n in names if n[1] in (1, 3)]
        if not win32:
            continue  # $Extend's $RmMetadata tree: POSIX names, which get no 8.3 name
        long_name, space, parent = win32[0]
        dos = [n for n, s, _ in names if s == 2]
        if is_short(long_name):
            assert (space, dos) == (3, []), long_name
        else:
            assert names[0][1] == 2, f"{long_name}: the DOS name comes first in the record"
            assert dos == [short_name(long_name, taken.setdefault(parent, set()))]
        compared.append(long_name)
    assert len(compared) == 10


# What Windows names long names that hold characters outside ASCII. Its default (NtfsAllowExtendedCharacterIn8dot3Name
# = 0) generates 8.3 names with AllowExtendedCharacters FALSE: those characters are dropped, whatever the OEM code
# page. The expected names are the ones ReactOS's RtlGenerate8dot3Name apitest records from Windows under code pages
# 437, 850 and 775 alike (the last row follows the same rule).
OUTSIDE_ASCII = [("Menu Démarrer", "MENUDM~1"), ("Sélecteur de configuration clavier.lnk", "SLECTE~1.LNK"),
                 ("éeèéçcùu.txt", "ECU~1.TXT"), ("éèàùçeeauc.txt", "EEAUC~1.TXT"), ("test.éxè", "TEST~1.X"),
                 ("t£$t¤.txt", "T$T~1.TXT"), ("Résumé final.docx", "RSUMFI~1.DOC")]


@pytest.mark.parametrize(("name", "dos"), OUTSIDE_ASCII)
def test_a_name_outside_ascii_gets_an_ascii_dos_name(name: str, dos: str) -> None:
    assert not is_short(name)
    assert short_name(name, set()) == dos


def test_an_accented_8dot3_name_is_no_dos_name() -> None:
    """``café.txt`` fits 8.3 but not DOS's characters: it gets a DOS name of its own (cp437 holds é: no matter)."""
    assert is_short("CAFE.TXT") and not is_short("café.txt") and not is_short("naïve")
    assert short_name("café.txt", set()) == "CAF~1.TXT"


def test_a_basis_with_nothing_ascii_is_refused_not_imitated() -> None:
    """Windows hashes such a name (``éèàù.txt`` → ``925E~1.TXT``): not modelled, so refused in one line."""
    with pytest.raises(DflabError, match="hashes the name"):
        short_name("éèàù.txt", set())


def test_ntfs_3g_reads_the_ascii_dos_names_of_accented_files(tmp_path: Path) -> None:
    """On a volume, each accented name has its own DOS $FILE_NAME, which ntfs-3g lists, ASCII."""
    names = ("café.txt", "Résumé final.docx", "Menu Démarrer")
    plan = VolumePlan(size=16 << 20, serial=0x1234_5678_9ABC_DEF0, label="", formatted=times(at(1, 8)),
                      files=tuple(PlannedFile(name, times(at(2, 9)), b"x" * 10) for name in names),
                      short_names=True)
    path = tmp_path / "accents.img"
    path.write_bytes(build_volume(plan).to_bytes())
    listed = _run(tool("ntfsls"), "-x", "-p", "/", str(path)).split()
    assert {"CAF~1.TXT", "RSUMFI~1.DOC", "MENUDM~1"} <= set(listed)
    assert all(name.isascii() for name in listed)


# -- the plan ---------------------------------------------------------------------------------------------------------


def test_the_story_volume_is_deterministic(volume):
    assert build_volume(story_plan()).pieces == volume.pieces


def test_plan_mistakes_in_the_story_are_one_line_errors():
    plan = story_plan()
    with pytest.raises(DflabError, match="does not hold"):
        build_volume(replace(plan, journal=(*plan.journal, *usn.deleted("Users/nobody.txt", at(5, 1)))))
    with pytest.raises(DflabError, match="time order"):
        build_volume(replace(plan, journal=(*plan.journal, *usn.created(DOWNLOAD, at(1, 1)))))
    with pytest.raises(DflabError, match="deleted directory"):
        build_volume(replace(plan, files=(PlannedFile("Old", times(at(1, 1)), deleted=at(2, 1)),)))
    with pytest.raises(DflabError, match="allocation delta"):
        build_volume(replace(plan, journal_purged=4096))
    with pytest.raises(DflabError, match="smaller than the volume"):
        build_volume(replace(plan, journal_purged=8 * (8 << 20)))
    with pytest.raises(DflabError, match="six characters"):
        recycle(REPORT, SID, "abc", at(4, 15))
    crowded = tuple(PlannedFile(f"Long name {i}.txt", times(at(1, 1)), b"x") for i in range(5))
    with pytest.raises(DflabError, match="8.3 basis"):
        build_volume(replace(plan, files=crowded, journal=()))
