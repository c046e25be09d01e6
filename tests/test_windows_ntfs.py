"""Generated NTFS volumes, read by three independent implementations and compared with a real Windows volume.

The same volume goes through The Sleuth Kit (``fls``/``istat``/``icat`` and pytsk3), ntfs-3g (``ntfsfix -n``,
``ntfsinfo``, ``ntfsls``, ``ntfscat`` and its FUSE driver, mounted read-only) and libfsntfs (``pyfsntfs``): each must
report exactly the plan's directories and files, sizes, contents, alternate data streams and both sets of times
($STANDARD_INFORMATION and $FILE_NAME, which differ on the timestomped file). Every reader is shown catching two
planted defects: an SI time changed in the MFT record behind the index's copy, and a torn record (broken fixup).
The kernel's ntfs3 driver is not built into this machine's kernel (``/proc/filesystems``), so the mount goes
through ntfs-3g's FUSE driver. The last tests compare the layout with the real volume in
../shared/samples/windows/ntfs (boot sector fields, MFT record headers, attribute order, $UpCase, $AttrDef, the
$LogFile restart area of a cleanly shut-down volume and of a Windows 10 one), and ntfs-3g's own $LogFile check
before a read-write mount (of a copy) accepts the log, and reports planted unclean and in-use ones.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import pyfsntfs
import pyqcow
import pytest
import pytsk3

from dflab.errors import DflabError
from dflab.evidence.windows.ntfs import PlannedFile, Stream, Times, Volume, VolumePlan, build_volume, times
from dflab.evidence.windows.ntfs import index as idx
from dflab.evidence.windows.ntfs.attrdef import attrdef_bytes
from dflab.evidence.windows.ntfs.upcase import upcase_bytes
from tests.samples import sample, tool

pytestmark = pytest.mark.xdist_group("windows_ntfs")

EPOCH_AS_FILETIME = 116_444_736_000_000_000
ZONE = b"[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=http://cdn-updates.example.net/invoice_2024.exe\r\n"


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, second, micro, tzinfo=UTC)


def blob(seed: str, size: int) -> bytes:
    """Deterministic bytes that differ everywhere (a misplaced cluster shows in the hash)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


# Names chosen to exercise $UpCase collation: "_" sorts between upper and lower case in ASCII but after letters once
# upper-cased, accented letters fold to their capitals, digits and dots come first.
DRIVER_NAMES = [f"{stem}{i:03d}.sys" for i in range(40) for stem in ("acpi", "Net_", "usb", "_boot")]
DRIVER_NAMES += ["Élan.sys", "élan2.sys", "zeta.SYS", "Zeta2.sys", "a.b", "A_b", "ab", "AB_", "[x]", "ölmod.sys"]


def case_plan() -> VolumePlan:
    tree = [
        PlannedFile("Users", times(at(1, 8, 9, 2))),
        PlannedFile("Users/mvdberg", times(at(1, 8, 9, 5, 11, 250000))),
        PlannedFile("Users/mvdberg/Downloads", times(at(1, 8, 9, 5, 12))),
        PlannedFile("Users/mvdberg/Downloads/invoice_2024.exe",
                    times(at(3, 4, 14, 2, 11, 123456), at(3, 4, 14, 2, 13, 999999), at(3, 4, 14, 2, 14),
                          at(3, 4, 14, 3)), blob("payload", 48_213), streams=(Stream("Zone.Identifier", ZONE),)),
        PlannedFile("Users/mvdberg/Documents", times(at(1, 8, 9, 5, 12))),
        PlannedFile("Users/mvdberg/Documents/notes.txt",
                    times(at(2, 20, 10), at(3, 1, 17, 44, 2), at(3, 1, 17, 44, 2), at(3, 4, 9)),
                    b"VPN: vpn.example.net\r\nuser mvdberg\r\n"),
        PlannedFile("Users/mvdberg/Documents/Résumé 2024.docx", times(at(2, 2, 12)), blob("resume", 5_000)),
        PlannedFile("Users/mvdberg/Documents/empty.txt", times(at(2, 3, 8)), b""),
        PlannedFile("Windows", times(at(1, 8, 8, 30))),
        PlannedFile("Windows/System32", times(at(1, 8, 8, 30))),
        # Timestomped: $STANDARD_INFORMATION says 2019, the $FILE_NAME times keep the day it arrived.
        PlannedFile("Windows/System32/svchostw.exe", times(datetime(2019, 12, 7, 9, 9, 27, tzinfo=UTC)),
                    blob("implant", 73_728), fn_times=times(at(3, 4, 14, 6, 1, 500000))),
        PlannedFile("Windows/System32/drivers", times(at(1, 8, 8, 31))),
    ]
    tree += [PlannedFile(f"Windows/System32/drivers/{name}", times(at(1, 8, 8, 32, i % 60, i * 7919 % 1_000_000)),
                         blob(name, 90 + i * 37))
             for i, name in enumerate(DRIVER_NAMES)]
    return VolumePlan(size=16 << 20, serial=0x5C3A_19E2_7B04_D1F6, label="Windows", formatted=times(at(1, 8, 8, 0)),
                      files=tuple(tree))


@dataclass(frozen=True)
class Seen:
    """What a reader reports of one file or directory (None: the reader cannot show that field)."""

    directory: bool
    size: int | None
    sha256: str | None
    si: tuple[int, ...] | None
    fn: tuple[int, ...] | None
    streams: tuple[tuple[str, str], ...] = ()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _order(t: Times) -> tuple[int, ...]:
    return t.created, t.modified, t.mft_changed, t.accessed


def expected(plan: VolumePlan) -> dict[str, Seen]:
    out = {}
    for f in plan.files:
        if f.is_directory:
            out[f.path] = Seen(True, None, None, _order(f.si_times), _order(f.fn_times or f.si_times))
        else:
            assert f.data is not None
            streams = tuple(sorted((s.name, _sha(s.data)) for s in f.streams))
            out[f.path] = Seen(False, len(f.data), _sha(f.data), _order(f.si_times),
                               _order(f.fn_times or f.si_times), streams)
    return out


def masked(model: dict[str, Seen], *, fn: bool = True, si_seconds: bool = False,
           fn_seconds: bool = False) -> dict[str, Seen]:
    """``model`` as a reader that cannot show some fields sees it: FN times absent, or times to the second only."""
    def sec(ts: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return None if ts is None else tuple(t - t % 10_000_000 for t in ts)

    out = {}
    for path, s in model.items():
        si = sec(s.si) if si_seconds else s.si
        fn_times = (sec(s.fn) if fn_seconds else s.fn) if fn else None
        out[path] = replace(s, si=si, fn=fn_times)
    return out


@pytest.fixture(scope="module")
def volume() -> Volume:
    return build_volume(case_plan())


@pytest.fixture(scope="module")
def images(volume: Volume, tmp_path_factory) -> dict[str, Path]:
    """The clean volume and two with a planted defect in the timestomped file's record."""
    folder = tmp_path_factory.mktemp("ntfs")
    number = volume.records["Windows/System32/svchostw.exe"]
    offset = volume.mft_lcn * 4096 + number * 1024
    clean = folder / "clean.img"
    volume.write(clean)  # the pieces written sparse, as the disk writer does
    whole = volume.to_bytes()
    assert clean.read_bytes() == whole
    si_changed = bytearray(whole)
    record = si_changed[offset:offset + 1024]
    assert record[0x38:0x3C] == b"\x10\0\0\0"  # $STANDARD_INFORMATION first, its value at 0x18 into it
    created = 0x38 + 0x18
    struct.pack_into("<Q", si_changed, offset + created, struct.unpack_from("<Q", record, created)[0] + 86_400 * 10**7)
    (folder / "si_changed.img").write_bytes(si_changed)
    torn = bytearray(whole)
    torn[offset + 1022:offset + 1024] = b"\xde\xad"  # the second sector no longer ends with the update sequence number
    (folder / "torn.img").write_bytes(torn)
    return {"clean": clean, "si_changed": folder / "si_changed.img", "torn": folder / "torn.img"}


def _filetime_from_text(text: str) -> int:
    """``2024-03-04 14:02:11.123456700 (UTC)`` as TSK prints it, to a FILETIME."""
    stamp, _, fraction = text.split(" (", maxsplit=1)[0].partition(".")
    seconds = int(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp())
    return seconds * 10**7 + EPOCH_AS_FILETIME + int(fraction or 0) // 100


def _user_paths(paths: dict[str, object]) -> dict[str, object]:
    return {p: v for p, v in paths.items() if not p.startswith("$") and p not in (".", "")}


def _run(*args: str) -> bytes:
    return subprocess.run(args, check=True, capture_output=True, timeout=300).stdout


# -- The Sleuth Kit --------------------------------------------------------------------------------------------------


def read_tsk_tools(image: Path) -> dict[str, Seen]:
    listing: dict[str, tuple[str, str]] = {}
    for line in _run(tool("fls"), "-r", "-p", str(image)).decode().splitlines():
        kind, _, rest = line.partition(" ")
        address, _, path = rest.partition(":\t")
        if address.startswith("* "):
            continue  # a deleted name (test_windows_ntfs_story reads those): the readers report the live files
        listing[path] = (kind, address.strip())
    out = {}
    for path, (kind, address) in _user_paths(listing).items():
        if ":" in path:
            continue
        inode = address.split("-")[0]
        stat = _run(tool("istat"), "-z", "UTC", str(image), inode).decode()
        sections = {name: block for name, block in
                    (part.split(" Attribute Values:", 1) for part in stat.split("\n$") if " Attribute Values:" in part)}
        stamps = {k: [_filetime_from_text(line.split(":\t", 1)[1]) for line in v.splitlines()
                      if line.split(":\t")[0] in ("Created", "File Modified", "MFT Modified", "Accessed")]
                  for k, v in sections.items()}
        si, fn = tuple(stamps["STANDARD_INFORMATION"]), tuple(stamps["FILE_NAME"])
        if kind.startswith("d"):
            out[path] = Seen(True, None, None, si, fn)
            continue
        data = _run(tool("icat"), str(image), address)
        streams = tuple(sorted((p.split(":", 1)[1], _sha(_run(tool("icat"), str(image), a)))
                               for p, (_, a) in listing.items() if p.startswith(path + ":")))
        out[path] = Seen(False, len(data), _sha(data), si, fn, streams)
    return out


def _tsk_filetime(meta: object, name: str) -> int:
    return (getattr(meta, name) * 10**7 + EPOCH_AS_FILETIME + getattr(meta, name + "_nano") // 100)


def read_pytsk3(image: Path) -> dict[str, Seen]:
    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(image)))
    out: dict[str, Seen] = {}

    def walk(directory: object, prefix: str) -> None:
        for entry in directory:
            name = entry.info.name.name.decode()
            if name in (".", "..") or (not prefix and name.startswith("$")):
                continue
            if not entry.info.name.flags & pytsk3.TSK_FS_NAME_FLAG_ALLOC:
                continue  # a deleted name: the readers report the live files
            meta, path = entry.info.meta, prefix + name
            si = tuple(_tsk_filetime(meta, n) for n in ("crtime", "mtime", "ctime", "atime"))
            if meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
                out[path] = Seen(True, None, None, si, None)
                walk(entry.as_directory(), path + "/")
                continue
            data, streams = b"", []
            for attr in entry:
                if attr.info.type != pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA:
                    continue
                content = entry.read_random(0, attr.info.size, attr.info.type, attr.info.id) if attr.info.size else b""
                if attr.info.name:
                    streams.append((attr.info.name.decode(), _sha(content)))
                else:
                    data = content
            out[path] = Seen(False, meta.size, _sha(data), si, None, tuple(sorted(streams)))

    walk(fs.open_dir("/"), "")
    return out


# -- ntfs-3g ----------------------------------------------------------------------------------------------------------

_NTFSINFO_TIMES = ("File Creation Time", "File Altered Time", "MFT Changed Time", "Last Accessed Time")


def _ntfsinfo_times(block: str) -> tuple[int, ...]:
    found = {}
    for line in block.splitlines():
        key, _, value = line.strip().partition(":")
        if key in _NTFSINFO_TIMES:
            when = datetime.strptime(value.strip(), "%a %b %d %H:%M:%S %Y UTC").replace(tzinfo=UTC)
            found[key] = int(when.timestamp()) * 10**7 + EPOCH_AS_FILETIME
    return tuple(found[k] for k in _NTFSINFO_TIMES)


def read_ntfs3g_tools(image: Path) -> dict[str, Seen]:
    """ntfsls walks the tree, ntfsinfo dumps each record (times to the second), ntfscat reads data and streams."""
    out: dict[str, Seen] = {}

    def walk(directory: str) -> None:
        for name in _run(tool("ntfsls"), "-a", "-F", "-p", "/" + directory, str(image)).decode().splitlines():
            if name in ("./", "../") or (not directory and name.startswith("$")):
                continue
            is_dir = name.endswith("/")
            path = directory + ("/" if directory else "") + name.rstrip("/")
            info = _run(tool("ntfsinfo"), "-F", "/" + path, str(image)).decode()
            attrs = info.split("Dumping attribute ")
            si = next(a for a in attrs if a.startswith("$STANDARD_INFORMATION"))
            fn = next(a for a in attrs if a.startswith("$FILE_NAME"))
            if is_dir:
                out[path] = Seen(True, None, None, _ntfsinfo_times(si), _ntfsinfo_times(fn))
                walk(path)
                continue
            data = _run(tool("ntfscat"), str(image), "/" + path)
            names = [line.split("'")[1] for a in attrs if a.startswith("$DATA") for line in a.splitlines()
                     if "Attribute name:" in line]
            streams = tuple(sorted((n, _sha(_run(tool("ntfscat"), "-a", "0x80", "-n", n, str(image), "/" + path)))
                                   for n in names))
            out[path] = Seen(False, len(data), _sha(data), _ntfsinfo_times(si), _ntfsinfo_times(fn), streams)

    walk("")
    return out


def read_ntfs3g_mount(image: Path, mountpoint: Path) -> dict[str, Seen]:
    """ntfs-3g's FUSE driver, read-only, alternate streams as ``user.`` extended attributes, SI times exact."""
    mountpoint.mkdir(exist_ok=True)
    subprocess.run([tool("ntfs-3g"), "-o", "ro,streams_interface=xattr", str(image), str(mountpoint)], check=True,
                   capture_output=True, timeout=120)
    try:
        out: dict[str, Seen] = {}
        for root, dirs, files in os.walk(mountpoint):
            relative = os.path.relpath(root, mountpoint)
            prefix = "" if relative == "." else relative + "/"
            if not prefix:
                dirs[:] = [d for d in dirs if not d.startswith("$")]
            for name in dirs + files:
                full, path = os.path.join(root, name), prefix + name
                created, modified, accessed, changed = struct.unpack("<4Q", os.getxattr(full, "system.ntfs_times"))
                si = (created, modified, changed, accessed)
                if name in dirs:
                    out[path] = Seen(True, None, None, si, None)
                    continue
                data = Path(full).read_bytes()
                streams = tuple(sorted((x.removeprefix("user."), _sha(os.getxattr(full, x)))
                                       for x in os.listxattr(full) if x.startswith("user.")))
                out[path] = Seen(False, os.stat(full).st_size, _sha(data), si, None, streams)
        return out
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True, timeout=120)


# -- libfsntfs -------------------------------------------------------------------------------------------------------


def _lib_times(item: object) -> tuple[int, ...]:
    return (item.get_creation_time_as_integer(), item.get_modification_time_as_integer(),
            item.get_entry_modification_time_as_integer(), item.get_access_time_as_integer())


def read_libfsntfs(image: Path) -> dict[str, Seen]:
    vol = pyfsntfs.volume()
    vol.open(str(image))
    out: dict[str, Seen] = {}

    def walk(entry: object, prefix: str) -> None:
        for i in range(entry.number_of_sub_file_entries):
            child = entry.get_sub_file_entry(i)
            name = child.name
            if not prefix and (name.startswith("$") or name == "."):
                continue
            path = prefix + name
            fn = next(child.get_attribute(j) for j in range(child.number_of_attributes)
                      if child.get_attribute(j).attribute_type == 0x30)
            if child.has_directory_entries_index():
                out[path] = Seen(True, None, None, _lib_times(child), _lib_times(fn))
                walk(child, path + "/")
                continue
            data = child.read_buffer(child.get_size()) if child.get_size() else b""
            streams = []
            for j in range(child.number_of_alternate_data_streams):
                ads = child.get_alternate_data_stream(j)
                streams.append((ads.name, _sha(ads.read_buffer(ads.get_size()) if ads.get_size() else b"")))
            out[path] = Seen(False, child.get_size(), _sha(data), _lib_times(child), _lib_times(fn),
                             tuple(sorted(streams)))

    walk(vol.get_root_directory(), "")
    vol.close()
    return out


# -- the comparisons --------------------------------------------------------------------------------------------------


READERS: dict[str, tuple[Callable[..., dict[str, Seen]], dict[str, bool]]] = {
    "tsk-tools": (read_tsk_tools, {}),
    "pytsk3": (read_pytsk3, {"fn": False}),
    "ntfs-3g-tools": (read_ntfs3g_tools, {"si_seconds": True, "fn_seconds": True}),
    "ntfs-3g-fuse": (read_ntfs3g_mount, {"fn": False}),
    "libfsntfs": (read_libfsntfs, {}),
}


def read_with(reader: str, image: Path, tmp_path: Path) -> dict[str, Seen]:
    function, _ = READERS[reader]
    if reader == "ntfs-3g-fuse":
        return function(image, tmp_path / "mnt")
    return function(image)


def agrees(reader: str, image: Path, tmp_path: Path, model: dict[str, Seen]) -> bool:
    """Whether ``reader`` reports ``model``; a reader that fails on the image disagrees."""
    try:
        return read_with(reader, image, tmp_path) == model
    except (subprocess.CalledProcessError, OSError, StopIteration, KeyError, ValueError, AttributeError):
        return False


@pytest.mark.parametrize("reader", sorted(READERS))
def test_reader_reports_every_file_size_content_and_time(reader, images, tmp_path):
    model = masked(expected(case_plan()), **READERS[reader][1])
    seen = read_with(reader, images["clean"], tmp_path)
    assert sorted(seen) == sorted(model)
    for path in model:
        assert seen[path] == model[path], path
    # The timestomped file really is shown with times that disagree, where the reader can show both.
    stomped = seen["Windows/System32/svchostw.exe"]
    assert stomped.fn is None or stomped.si[0] < stomped.fn[0]


# libfsntfs does not check update sequence numbers (it puts the saved bytes back whatever the sector ends with), so
# a torn record whose contents are intact reads as if whole there: test_every_record_is_protected catches that.
DEFECTS = [(reader, defect) for reader in sorted(READERS) for defect in ("si_changed", "torn")
           if (reader, defect) != ("libfsntfs", "torn")]


@pytest.mark.parametrize(("reader", "defect"), DEFECTS)
def test_reader_catches_a_planted_defect(reader, defect, images, tmp_path):
    # The clean image agrees with the same model (test_reader_reports_every_file_size_content_and_time).
    model = masked(expected(case_plan()), **READERS[reader][1])
    assert not agrees(reader, images[defect], tmp_path, model)


def torn_records(data: bytes, record_size: int, magics: tuple[bytes, ...] = (b"FILE",)) -> list[int]:
    """Offsets of FILE/INDX/RSTR records in ``data`` (at multiples of ``record_size``) whose sectors do not all end
    with the update sequence number, or whose array does not cover them: checked here, not by the writer's code."""
    torn = []
    for offset in range(0, len(data) - record_size + 1, record_size):
        record = data[offset:offset + record_size]
        if record[:4] not in magics:
            continue
        usa, count = struct.unpack_from("<HH", record, 4)
        usn = record[usa:usa + 2]
        if count != 1 + record_size // 512 or any(record[i * 512 + 510:i * 512 + 512] != usn
                                                  for i in range(record_size // 512)):
            torn.append(offset)
    return torn


def test_every_record_is_protected(volume, images):
    """Every MFT record (in use or not), INDX block and restart page carries a complete update sequence array, as
    in a real Windows $MFT; the torn image's record is found."""
    whole = volume.to_bytes()
    mft = whole[volume.mft_lcn * 4096:volume.mft_lcn * 4096 + 256 * 1024]
    assert sum(1 for i in range(256) if mft[i * 1024:i * 1024 + 4] == b"FILE") == 256
    assert torn_records(mft, 1024) == []
    assert torn_records(whole, 4096, (b"INDX", b"RSTR")) == []
    assert sum(1 for o in range(0, len(whole), 4096) if whole[o:o + 4] == b"INDX") >= 2
    assert torn_records(sample("windows/ntfs/vsstest_MFT.bin").read_bytes(), 1024) == []
    torn_mft = images["torn"].read_bytes()[volume.mft_lcn * 4096:volume.mft_lcn * 4096 + 256 * 1024]
    assert torn_records(torn_mft, 1024) == [volume.records["Windows/System32/svchostw.exe"] * 1024]


def test_ntfsfix_finds_the_volume_clean_and_the_torn_record(images):
    clean = subprocess.run([tool("ntfsfix"), "-n", str(images["clean"])], capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "Checking the alternate boot sector... OK" in clean.stdout
    assert "NTFS volume version is 3.1." in clean.stdout
    info = _run(tool("ntfsinfo"), "-m", str(images["clean"])).decode()
    assert "Volume Name: Windows" in info and "Volume Version: 3.1" in info
    assert "Cluster Size: 4096" in info and "MFT Record Size: 1024" in info and "Index Block Size: 4096" in info
    # The torn record is the implant's, not in $MFTMirr: ntfs-3g only sees it when it reads the file.
    torn = subprocess.run([tool("ntfscat"), str(images["torn"]), "/Windows/System32/svchostw.exe"],
                          capture_output=True, timeout=120)
    assert torn.returncode != 0


def test_extend_holds_the_usn_journal_with_a_sparse_j(images):
    """$Extend\\$UsnJrnl has $J (sparse, empty until the story's records come) and $Max (32 bytes); ntfs-3g shows the
    sparse flag, libfsntfs both streams."""
    dump = _run(tool("ntfsinfo"), "-i", "27", str(images["clean"])).decode()
    j = dump.split("Attribute name:\t\t '$J'")[1].split("Dumping attribute")[0]
    assert "Attribute flags:\t 0x8000" in j and "Data size:\t\t 0 (0x0)" in j
    vol = pyfsntfs.volume()
    vol.open(str(images["clean"]))
    journal = vol.get_file_entry_by_path("\\$Extend\\$UsnJrnl")
    streams = {journal.get_alternate_data_stream(i).name: journal.get_alternate_data_stream(i).get_size()
               for i in range(journal.number_of_alternate_data_streams)}
    vol.close()
    assert streams == {"$J": 0, "$Max": 32}


def test_directory_lookups_follow_windows_collation(images):
    """Lookups by name descend the $I30 B-tree by collation: every driver, found by path by ntfs-3g and libfsntfs,
    proves the entries and separators are in $UpCase order (a wrong order hides names from a lookup)."""
    listed = _run(tool("ntfsls"), "-p", "/Windows/System32/drivers", str(images["clean"])).decode().splitlines()
    assert sorted(set(listed) - {".", ".."}) == sorted(DRIVER_NAMES)
    vol = pyfsntfs.volume()
    vol.open(str(images["clean"]))
    for name in DRIVER_NAMES:
        entry = vol.get_file_entry_by_path("\\Windows\\System32\\drivers\\" + name)
        assert entry is not None and entry.name == name
    vol.close()
    for name in DRIVER_NAMES[::7]:
        assert _run(tool("ntfscat"), str(images["clean"]), "/Windows/System32/drivers/" + name) == blob(
            name, 90 + DRIVER_NAMES.index(name) * 37)


def _node_entries(node: bytes) -> list[tuple[bytes, int | None]]:
    """(key, child VCN) of each entry of an index node, the end entry's key empty."""
    out, offset = [], 0
    while True:
        length, key_length, flags = struct.unpack_from("<HHH", node, offset + 8)
        child = struct.unpack_from("<Q", node, offset + length - 8)[0] if flags & 1 else None
        out.append((node[offset + 16:offset + 16 + key_length], child))
        if flags & 2:
            return out
        offset += length


@pytest.mark.parametrize("count", range(1, 120))
def test_one_level_index_keeps_every_entry_in_order(count):
    """In-order traversal of root and blocks gives back every entry, whatever the split point (including the last
    entry landing on a block boundary), and no block is empty."""
    entries = [idx.Entry(f"{i:04d}".encode() * 40, file_ref=i) for i in range(count)]
    layout = idx.lay_out(entries, 1500)
    if not layout.large:
        assert [k for k, _ in _node_entries(layout.root)][:-1] == [e.key for e in entries]
        return
    walked = []
    for key, child in _node_entries(layout.root):
        leaf = _node_entries(layout.blocks[child])
        assert len(leaf) > 1 and all(c is None for _, c in leaf)
        walked += [k for k, _ in leaf[:-1]] + ([key] if key else [])
    assert walked == [e.key for e in entries]


def test_index_allocation_and_residency_follow_size(volume, images):
    """A directory whose names overflow its record gets $INDEX_ALLOCATION and $BITMAP, a small one keeps $INDEX_ROOT
    only; small files stay resident in their record, larger ones and the alternate stream as sized go to clusters."""
    def istat(path: str) -> str:
        return _run(tool("istat"), str(images["clean"]), str(volume.records[path])).decode()

    drivers, documents = istat("Windows/System32/drivers"), istat("Users/mvdberg/Documents")
    assert "$INDEX_ALLOCATION" in drivers and "$BITMAP" in drivers
    assert "$INDEX_ROOT" in documents and "$INDEX_ALLOCATION" not in documents
    assert "Type: $DATA (128-2)   Name: N/A   Resident" in istat("Users/mvdberg/Documents/notes.txt")
    payload = istat("Users/mvdberg/Downloads/invoice_2024.exe")
    assert "Type: $DATA (128-2)   Name: N/A   Non-Resident" in payload
    assert "Name: Zone.Identifier   Resident" in payload


def test_the_volume_is_deterministic_and_the_case_shows_in_it():
    first, second = build_volume(case_plan()), build_volume(case_plan())
    assert first.pieces == second.pieces
    other = build_volume(replace(case_plan(), serial=1))
    assert other.pieces != first.pieces
    assert struct.unpack_from("<Q", first.to_bytes(), 0x48)[0] == 0x5C3A_19E2_7B04_D1F6


def test_plan_mistakes_are_one_line_errors():
    plan = case_plan()
    with pytest.raises(DflabError, match="parent directory"):
        build_volume(replace(plan, files=(PlannedFile("Nowhere/x.txt", times(at(1, 1, 1)), b"x"),)))
    with pytest.raises(DflabError, match="not an NTFS file name"):
        build_volume(replace(plan, files=(PlannedFile("a:b", times(at(1, 1, 1)), b"x"),)))
    with pytest.raises(DflabError, match="planned twice"):
        build_volume(replace(plan, files=(PlannedFile("Users", times(at(1, 1, 1))),
                                          PlannedFile("USERS", times(at(1, 1, 1))))))
    with pytest.raises(DflabError, match="do not fit"):
        build_volume(replace(plan, size=8 << 20, files=(PlannedFile("big", times(at(1, 1, 1)), bytes(9 << 20)),)))


# -- compared with real NTFS -------------------------------------------------------------------------------------------


def _qcow_bytes(path: Path, offset: int, size: int) -> bytes:
    image = pyqcow.file()
    image.open(str(path))
    try:
        image.seek(offset)
        return image.read(size)
    finally:
        image.close()


def _boot_fields(sector: bytes) -> dict[str, object]:
    (bps, spc, reserved, media, spt, heads, sig24, per_record, per_index) = (
        struct.unpack_from("<H", sector, 0x0B)[0], sector[0x0D], struct.unpack_from("<H", sector, 0x0E)[0],
        sector[0x15], struct.unpack_from("<H", sector, 0x18)[0], struct.unpack_from("<H", sector, 0x1A)[0],
        struct.unpack_from("<I", sector, 0x24)[0], struct.unpack_from("<b", sector, 0x40)[0], sector[0x44])
    return {"jump": sector[:3], "oem": sector[3:11], "bytes_per_sector": bps, "sectors_per_cluster": spc,
            "reserved": reserved, "media": media, "sectors_per_track": spt, "heads": heads, "0x24": sig24,
            "record_size": per_record, "index_clusters": per_index, "mirror_lcn": struct.unpack_from("<q", sector,
                                                                                                      0x38)[0],
            "signature": sector[510:512]}


def _records(mft: bytes, count: int) -> list[dict[str, object]]:
    out = []
    for n in range(count):
        r = mft[n * 1024:(n + 1) * 1024]
        usa, usa_count, _, seq, _, first, flags, used, allocated = struct.unpack_from("<HHQHHHHII", r, 4)
        types, offset = [], first
        while struct.unpack_from("<I", r, offset)[0] != 0xFFFFFFFF:
            kind, length = struct.unpack_from("<II", r, offset)
            name_length, name_offset = r[offset + 9], struct.unpack_from("<H", r, offset + 10)[0]
            types.append((kind, r[offset + name_offset:offset + name_offset + 2 * name_length].decode("utf-16-le")))
            offset += length
        out.append({"magic": r[:4], "usa": (usa, usa_count), "first": first, "flags": flags, "sequence": seq,
                    "allocated": allocated, "number": struct.unpack_from("<I", r, 0x2C)[0], "types": types,
                    "unused_size": used if not flags & 1 else None})
    return out


def test_boot_sector_matches_a_real_windows_volume(volume):
    real = _qcow_bytes(sample("windows/ntfs/vsstest.qcow2"), 0, 512)
    whole = volume.to_bytes()
    ours = whole[:512]
    assert _boot_fields(ours) == _boot_fields(real)
    total = struct.unpack_from("<q", ours, 0x28)[0]
    assert total == len(whole) // 512 - 1 and whole[total * 512:total * 512 + 512] == ours
    real_total = struct.unpack_from("<q", real, 0x28)[0]
    assert real_total % 8 == 7  # Windows too: one sector short of whole clusters, the backup in the last sector
    # Windows puts $MFT about a third into the volume; so does the writer.
    assert struct.unpack_from("<q", real, 0x30)[0] == (real_total // 8) // 3
    assert struct.unpack_from("<q", ours, 0x30)[0] == (total // 8) // 3


def test_mft_records_are_laid_out_as_windows_lays_them(volume):
    # 0–26: NTFS's files, the reserved records and $Extend's $Quota, $ObjId, $Reparse (the sample's 27 is a
    # $RmMetadata directory, which the writer does not make).
    real = _records(sample("windows/ntfs/vsstest_MFT.bin").read_bytes(), 27)
    ours = _records(volume.to_bytes()[volume.mft_lcn * 4096:], 27)
    written_types = {0x10, 0x30, 0x60, 0x70, 0x80, 0x90, 0xA0, 0xB0}
    for mine, theirs in zip(ours, real, strict=True):
        for key in ("magic", "usa", "first", "flags", "sequence", "allocated", "number", "unused_size"):
            assert mine[key] == theirs[key], (mine["number"], key)
        # Same attributes in the same order, leaving out those the writer does not write yet ($SECURITY_DESCRIPTOR,
        # $TXF_DATA) and index allocations that depend on how full an index is.
        keep = [t for t in theirs["types"] if t[0] in written_types and t[0] not in (0xA0, 0xB0) or t[0] == 0xB0
                and t[1] == ""]
        assert [t for t in mine["types"] if t[0] not in (0xA0, 0xB0) or t == (0xB0, "")] == keep, mine["number"]


def _tsk_file(image_path: Path, name: str) -> bytes:
    class Qcow(pytsk3.Img_Info):
        def __init__(self) -> None:
            self.qcow = pyqcow.file()
            self.qcow.open(str(image_path))
            super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

        def read(self, offset: int, size: int) -> bytes:
            self.qcow.seek(offset)
            return self.qcow.read(size)

        def get_size(self) -> int:
            return self.qcow.get_media_size()

    entry = pytsk3.FS_Info(Qcow()).open("/" + name)
    return entry.read_random(0, entry.info.meta.size)


def test_upcase_and_attrdef_are_windows_own():
    real = sample("windows/ntfs/vsstest.qcow2")
    assert upcase_bytes() == _tsk_file(real, "$UpCase")
    assert attrdef_bytes() == _tsk_file(real, "$AttrDef")


def _restart(page: bytes) -> dict[str, object]:
    usa, count = struct.unpack_from("<HH", page, 4)
    area_offset, minor, major = struct.unpack_from("<Hhh", page, 0x18)
    area = page[area_offset:]
    clients, free, _, _, seq_bits, length, clients_at, size, _, header, data_at = struct.unpack_from(
        "<HHHHIHHQIHH", area, 8)
    client = area[clients_at:clients_at + 0xA0]
    name_length = struct.unpack_from("<I", client, 0x1C)[0]
    return {"magic": page[:4], "usa": (usa, count), "area_offset": area_offset, "version": (major, minor),
            "clients": clients, "free": free, "seq_bits_rule": seq_bits == 67 - size.bit_length(),
            "area_length": length, "clients_at": clients_at, "record_header": header, "page_data": data_at,
            "client_name": client[0x20:0x20 + name_length].decode("utf-16-le"),
            "sectors_end_with_usn": all(page[i * 512 + 510:i * 512 + 512] == page[usa:usa + 2] for i in range(8))}


def test_logfile_restart_area_is_a_clean_windows_one(volume):
    """Field for field the restart page of a cleanly shut-down real volume (version 1.1, flagged clean), and of a
    Windows 10 one in use but for its version (2.0 while in use)."""
    clean = lzma.decompress(sample("windows/ntfs/vsstest_LogFile.bin.xz").read_bytes())[:4096]
    in_use = sample("windows/ntfs/win10_LogFile.bin").read_bytes()[:4096]
    log = _logfile_of(volume)
    assert _restart(log[:4096]) == _restart(clean)
    assert _restart(log[:4096]) == {**_restart(in_use), "version": (1, 1)}
    assert log[:4096] == log[4096:8192]
    assert struct.unpack_from("<H", log, 0x30 + 0xE)[0] == struct.unpack_from("<H", clean, 0x30 + 0xE)[0] == 0x0002
    assert set(log[8192:]) == {0xFF}


def _with_restart_areas(image: bytes, change: Callable[[bytearray, int], None]) -> bytes:
    data = bytearray(image)
    for offset in range(0, len(data), 4096):
        if data[offset:offset + 4] == b"RSTR":
            change(data, offset)
    return bytes(data)


def _not_clean(data: bytearray, offset: int) -> None:
    struct.pack_into("<QHHHH", data, offset + 0x30, 0x1000, 1, 0xFFFF, 0, 0)  # an LSN, the client in use, not clean


def _version_2(data: bytearray, offset: int) -> None:
    struct.pack_into("<hh", data, offset + 0x1A, 0, 2)


@pytest.mark.parametrize(("variant", "change", "complaint", "mode"), [
    ("clean", None, None, "rw"),
    ("not clean", _not_clean, "The disk contains an unclean file system", "rw"),  # ntfs-3g resets such a log
    ("version 2.0", _version_2, "Metadata kept in Windows cache", "ro"),
])
def test_ntfs3g_checks_the_log_before_mounting_read_write(volume, tmp_path, variant, change, complaint, mode):
    """ntfs-3g reads $LogFile's restart area before a read-write mount: the written one mounts without complaint;
    the same log flagged in use, or in the version Windows keeps while the volume is live, is reported."""
    mountpoint, image = tmp_path / "mnt", tmp_path / "rw.img"
    mountpoint.mkdir()
    if change is None:
        volume.write(image)
    else:
        image.write_bytes(_with_restart_areas(volume.to_bytes(), change))
    mounted = subprocess.run([tool("ntfs-3g"), str(image), str(mountpoint)], capture_output=True, text=True,
                             timeout=120, check=True)
    try:
        options = next(line.split()[3] for line in Path("/proc/mounts").read_text().splitlines()
                       if line.split()[1] == str(mountpoint))
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True, timeout=120)
        image.unlink()
    assert options.split(",")[0] == mode
    if complaint is None:
        assert mounted.stderr.strip() == ""
    else:
        assert complaint in mounted.stderr


def _logfile_of(volume: Volume) -> bytes:
    fs = pytsk3.FS_Info(_BytesImage(volume.to_bytes()))
    entry = fs.open_meta(inode=2)
    return entry.read_random(0, entry.info.meta.size)


class _BytesImage(pytsk3.Img_Info):
    def __init__(self, data: bytes) -> None:
        self.data = data
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset: int, size: int) -> bytes:
        return self.data[offset:offset + size]

    def get_size(self) -> int:
        return len(self.data)


# -- a volume of a real system disk's size, written sparse -------------------------------------------------------------

LARGE = (32 << 30) - (118 << 20)
"""The Windows partition of a 32 GiB disk as Setup lays it out (1 MiB + ESP + MSR before it, 1 MiB after)."""


@pytest.fixture(scope="module")
def sized(volume: Volume, images, tmp_path_factory) -> dict[str, tuple[Volume, Path]]:
    """The case's volume at 16 MiB and at tens of GiB, each written as the disk writer writes it (sparse)."""
    large = build_volume(replace(case_plan(), size=LARGE))
    path = tmp_path_factory.mktemp("large") / "large.img"
    large.write(path)
    return {"small": (volume, images["clean"]), "large": (large, path)}


def _clusters_in_use(image: Path) -> set[int]:
    """Every cluster some record in use holds (each non-resident attribute's runs, holes left out), by TSK."""
    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(image)))
    used: set[int] = set()
    for number in range(fs.info.last_inum + 1):
        entry = fs.open_meta(inode=number)
        if not entry.info.meta or entry.info.meta.flags & pytsk3.TSK_FS_META_FLAG_UNALLOC:
            continue
        for attribute in entry:
            if not attribute.info.flags & pytsk3.TSK_FS_ATTR_NONRES:
                continue
            for run in attribute:
                if not run.flags & (pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE | pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER):
                    used.update(range(run.addr, run.addr + run.len))
    return used


@pytest.mark.parametrize("size", ["small", "large"])
def test_bitmap_and_free_clusters_match_what_the_files_hold(sized, size):
    """$Bitmap marks exactly the clusters the records in use hold (TSK's runs) plus its own bits past the volume's
    end, as Windows and mkntfs set them; ntfs-3g's free count is then the volume's clusters less those in use."""
    volume, image = sized[size]
    used = _clusters_in_use(image)
    bitmap = _run(tool("icat"), str(image), "6")
    marked = {c for c in range(len(bitmap) * 8) if bitmap[c // 8] >> (c % 8) & 1}
    assert marked == used | set(range(volume.clusters, len(bitmap) * 8))
    assert len(bitmap) * 8 > volume.clusters  # there is a tail to set
    info = _run(tool("ntfsinfo"), "-m", str(image)).decode()
    assert f"Volume Size in Clusters: {volume.clusters}\n" in info
    assert f"Free Clusters: {volume.clusters - len(used)} " in info


def test_a_volume_of_tens_of_gib_costs_only_what_it_holds(sized, tmp_path):
    """The same files on a 32 GiB disk's Windows volume: the pieces are its used extents (a few MiB), the image is
    holes elsewhere, and TSK, ntfs-3g and libfsntfs read it as they read the small one, ntfsfix finding it clean."""
    (small, small_image), (large, image) = sized["small"], sized["large"]
    assert image.stat().st_size == LARGE and os.stat(image).st_blocks * 512 < 16 << 20
    assert sum(len(data) for _, data in large.pieces) < 16 << 20
    assert all(a + len(data) <= b for (a, data), (b, _) in pairwise(large.pieces))
    assert large.mft_lcn == 786432 and large.records == small.records  # where Windows puts it on a system volume
    fsstat = _run(tool("fsstat"), str(image)).decode()
    assert f"Total Cluster Range: 0 - {large.clusters - 1}" in fsstat
    assert f"First Cluster of MFT: {large.mft_lcn}" in fsstat

    def listing(path: Path) -> list[str]:
        return sorted(line.split(":\t", 1)[1] for line in _run(tool("fls"), "-r", "-p", str(path)).decode()
                      .splitlines())

    assert listing(image) == listing(small_image)
    fix = subprocess.run([tool("ntfsfix"), "-n", str(image)], capture_output=True, text=True, timeout=120)
    assert fix.returncode == 0 and "Checking the alternate boot sector... OK" in fix.stdout, fix.stdout + fix.stderr
    implant = next(f for f in case_plan().files if f.path == "Windows/System32/svchostw.exe")
    assert _run(tool("ntfscat"), str(image), "/" + implant.path) == implant.data
    vol = pyfsntfs.volume()
    vol.open(str(image))
    try:
        entry = vol.get_file_entry_by_path("\\Windows\\System32\\svchostw.exe")
        assert entry.read_buffer(entry.get_size()) == implant.data
        assert vol.get_serial_number() == case_plan().serial
    finally:
        vol.close()
