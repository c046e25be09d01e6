"""dflab.forensics.disk/ewf/images on image containers: E01 sets, VHD, VMDK, QCOW2, and forced file system types.

The file system inside every container is made by the real ``mkfs.ext4`` (``-d``: with files), the E01 sets by
the real ``ewfacquire`` (1 MiB segments, MD5 and SHA-1 stored) and checked against ``ewfverify``/``ewfinfo``; the
QCOW2 is the real ``vsstest.qcow2`` from ``../shared/samples``, checked against the samples README.

qemu-img is not installed on the test machines, so VHD and VMDK files are written here to their published layouts
(Microsoft's "Virtual Hard Disk Image Format Specification", VMware's "Virtual Disk Format 1.1"), and proved real
by tools that are not dflab: libmagic (``file``) names them, and TSK's ``img_stat`` (its own libvhdi/libvmdk)
recognises them; what dflab reads back is compared byte for byte with the raw image they wrap, whose listing is
compared with the host's ``fls``.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from dflab.errors import DflabError, EvidenceError
from dflab.forensics import disk, ewf, images, magic
from tests.samples import sample, tool

SECTOR = 512
MiB = 1024 * 1024
VSSTEST = "windows/ntfs/vsstest.qcow2"


def run(*cmd: str | Path) -> str:
    return subprocess.run([tool(str(cmd[0])), *map(str, cmd[1:])], check=True, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL).stdout


def fls(image: Path, *options: str) -> list[tuple[str, str, bool]]:
    """``fls -r -p`` as (path, address, deleted), the rows list_files gives."""
    rows = []
    for line in run("fls", "-r", "-p", *options, image).splitlines():
        rest = line.split(" ", 1)[1]
        deleted = rest.startswith("* ")
        address, name = rest.removeprefix("* ").split(":\t", 1)
        rows.append(("/" + name, address, deleted))
    return rows


def listing(image: Path, **options: object) -> list[tuple[str, str, bool]]:
    files = disk.list_files(image, **options)
    return list(zip(files.path, files.address, files.deleted, strict=True))


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An 8 MiB ext4 file system by mkfs.ext4 with a text file and 5 MB of random data (so E01 segments fill)."""
    root = tmp_path_factory.mktemp("raw")
    content = root / "content"
    (content / "docs").mkdir(parents=True)
    (content / "docs" / "report.txt").write_text("quarterly figures\n" * 200)
    (content / "random.bin").write_bytes(os.urandom(5_000_000))
    image = root / "fs.img"
    with image.open("wb") as fh:
        fh.truncate(8 * MiB)
    run("mkfs.ext4", "-q", "-F", "-d", content, image)
    return image


@pytest.fixture(scope="module")
def e01_set(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The raw image acquired by ewfacquire into 1 MiB segments (fs.E01 ... fs.E06), MD5 and SHA-1 stored."""
    out = tmp_path_factory.mktemp("e01") / "fs"
    run("ewfacquire", "-u", "-q", "-t", out, "-f", "encase6", "-c", "deflate:best", "-S", "1.0MiB", "-d", "sha1",
        raw)
    first = out.with_suffix(".E01")
    assert len(list(out.parent.glob("fs.E*"))) >= 4
    return first


def copy_set(first: Path, dest: Path) -> Path:
    dest.mkdir()
    for segment in first.parent.glob(first.stem + ".E*"):
        (dest / segment.name).write_bytes(segment.read_bytes())
    return dest / first.name


def one_line(exc: pytest.ExceptionInfo[DflabError]) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message and "np.int64" not in message, message
    return message


# ----------------------------------------------------------------- E01 sets: whole, missing, truncated, corrupt

def test_e01_set_reads_like_its_raw_image(e01_set: Path, raw: Path) -> None:
    img = disk.open_image(e01_set)
    try:
        assert isinstance(img, disk.EwfImgInfo) and img.read(0, img.get_size()) == raw.read_bytes()
    finally:
        images.close(img)
    assert listing(e01_set) == fls(raw)
    files = disk.list_files(e01_set).set_index("path")
    assert disk.read_file(e01_set, int(files.loc["/docs/report.txt", "inode"])) == b"quarterly figures\n" * 200


def test_verify_e01_recomputes_the_stored_md5_and_sha1(e01_set: Path, raw: Path) -> None:
    result = disk.verify_e01(e01_set)
    info = run("ewfinfo", e01_set)
    stored_md5 = re.search(r"MD5:\s+([0-9a-f]{32})", info).group(1)
    stored_sha1 = re.search(r"SHA1:\s+([0-9a-f]{40})", info).group(1)
    content = raw.read_bytes()
    assert result.stored == {"md5": stored_md5, "sha1": stored_sha1}
    assert result.computed == {"md5": hashlib.md5(content).hexdigest(), "sha1": hashlib.sha1(content).hexdigest()}  # noqa: S324
    assert result.verified and not result.bad_chunks and result.media_size == len(content)
    assert str(result).startswith("fs.E01: verified: the MD5 and SHA-1 stored at acquisition match the media")
    assert result.segments == tuple(sorted(p.name for p in e01_set.parent.glob("fs.E*")))


def test_verify_e01_on_the_third_party_sample() -> None:
    result = ewf.verify_e01(sample("disk/image.E01"))
    assert result.verified and result.stored == {"md5": "d73c51f10c7ee6a681b7b619ccc6f1c4"}  # the samples README


def _sectors_ewfverify_rejects(first: Path) -> list[tuple[int, int, str]]:
    done = subprocess.run([tool("ewfverify"), "-q", str(first)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.returncode != 0 and "FAILURE" in done.stdout
    return [(int(a), int(b), Path(seg).name) for a, b, seg in
            re.findall(r"at sector\(s\): (\d+) - (\d+) \(number: \d+\) in segment file\(s\): (\S+)", done.stdout)]


def test_flipped_bytes_open_but_verify_names_the_damage_as_ewfverify_does(e01_set: Path, tmp_path: Path) -> None:
    """400 flipped bytes in the random file's chunks: libewf hands them back as data; verify must not."""
    first = copy_set(e01_set, tmp_path / "flipped")
    second = first.with_suffix(".E02")
    damaged = bytearray(second.read_bytes())
    middle = len(damaged) // 2
    for i in range(400):
        damaged[middle + 7 * i] ^= 0xFF
    second.write_bytes(bytes(damaged))

    assert listing(first) == listing(e01_set)  # the structure is intact: it opens and lists
    result = disk.verify_e01(first)
    assert not result.verified and set(result.mismatched) == {"md5", "sha1"}
    assert result.stored == disk.verify_e01(e01_set).stored != result.computed
    rejected = _sectors_ewfverify_rejects(first)
    assert rejected and [(c.first_sector, c.last_sector, c.segment) for c in result.bad_chunks] == rejected
    text = str(result)
    assert text.startswith("fs.E01: NOT verified: MD5 stored ") and "\n" not in text
    assert f"sectors {rejected[0][0]}-{rejected[0][1]} in fs.E02" in text


@pytest.mark.parametrize("damage,culprit,message", [
    ("missing E03", "fs.E01", r"E01 segment fs\.E03 is missing: fs\.E02 says more segments follow"),
    ("missing last", "fs.E01", r"E01 segment fs\.E0\d is missing: fs\.E0\d says more segments follow"),
    ("truncated E02", "fs.E02", r"E01 segment is truncated: its 'sectors' section ends at byte \d+ but the file "
                                r"ends at byte 400000"),
    ("descriptor E02", "fs.E02", r"E01 segment is corrupt: the section descriptor at byte 13 fails its checksum"),
    ("table E02", "fs.E02", r"E01 segment is corrupt: the chunk table at byte \d+ fails its checksum"),
    ("second first", "fs.E02", r"this is segment 2 of an E01 set: open its first segment \(fs\.E01\)"),
])
def test_broken_e01_sets_are_one_line_naming_the_file(e01_set: Path, tmp_path: Path, damage: str, culprit: str,
                                                       message: str) -> None:
    first = copy_set(e01_set, tmp_path / "set")
    segments = sorted(first.parent.iterdir())
    opened = first
    if damage == "missing E03":
        first.with_suffix(".E03").unlink()
    elif damage == "missing last":
        segments[-1].unlink()
    elif damage == "truncated E02":
        os.truncate(first.with_suffix(".E02"), 400_000)
    elif damage == "descriptor E02":
        _flip(first.with_suffix(".E02"), 13 + 20)  # inside the first section descriptor's next-offset field
    elif damage == "table E02":
        _flip(first.with_suffix(".E02"), _table_entries(first.with_suffix(".E02")) + 8)
    else:
        opened = first.with_suffix(".E02")
    for call in (disk.partitions, disk.list_files, disk.verify_e01, disk.open_image):
        with pytest.raises(EvidenceError) as caught:
            call(opened)
        text = one_line(caught)
        assert text.startswith(f"{first.parent / culprit}: "), text
        assert re.search(message, text), text


def test_a_failed_container_read_inside_tsk_is_the_read_error_not_a_runtime_error(raw: Path, tmp_path: Path) -> None:
    """pytsk3 reports a Python read that raised as RuntimeError("...Cannot determine file system type"): the
    read's own reason must reach the caller. A sparse VMDK cut short fails exactly so, past its header."""
    image = tmp_path / "cut.vmdk"
    image.write_bytes(vmdk_sparse(raw.read_bytes(), image.name)[:2_000_000])
    files = disk.list_files(image).set_index("path")  # metadata sits in the grains still present
    with pytest.raises(EvidenceError) as caught:
        disk.read_file(image, int(files.loc["/random.bin", "inode"]))
    assert re.fullmatch(rf"{image}: VMDK image unreadable at media byte offset \d+: unable to retrieve grain: \d+ "
                        r"data from grain group: 0 in extent file: 0 at offset: \d+ \(0x[0-9a-f]+\)", one_line(caught))
    assert isinstance(caught.value.__cause__, RuntimeError)  # what pytsk3 raised, and a notebook used to see


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _table_entries(segment: Path) -> int:
    """File offset of the first chunk table's entries, from its descriptor chain (independent of dflab's walk)."""
    data = segment.read_bytes()
    offset = 13
    while True:
        kind = data[offset:offset + 16].rstrip(b"\0")
        if kind == b"table":
            return offset + 76 + 24
        offset = struct.unpack("<Q", data[offset + 16:offset + 24])[0]


# ----------------------------------------------------------------- VHD, VMDK, QCOW2

def _vhd_footer(size: int, disk_type: int, data_offset: int, unique: bytes) -> bytes:
    """The 512-byte footer (spec section "Hard Disk Footer Format"), CHS from the spec's algorithm."""
    total = min(size // SECTOR, 65535 * 16 * 255)
    sectors, heads = 17, max((total // 17 + 1023) // 1024, 4)
    if total // 17 >= heads * 1024 or heads > 16:
        sectors, heads = 31, 16
    if total // sectors >= heads * 1024:
        sectors, heads = 63, 16
    footer = bytearray(struct.pack(">8sIIQI4sI4sQQHBBII16sB", b"conectix", 2, 0x00010000, data_offset, 0, b"dfl ",
                                   0x00010000, b"Wi2k", size, size, total // sectors // heads, heads, sectors,
                                   disk_type, 0, unique, 0).ljust(SECTOR, b"\0"))
    footer[64:68] = struct.pack(">I", ~sum(footer) & 0xFFFFFFFF)
    return bytes(footer)


def vhd_fixed(content: bytes, unique: bytes = uuid.UUID(int=7).bytes) -> bytes:
    return content + _vhd_footer(len(content), 2, 0xFFFFFFFFFFFFFFFF, unique)


def vhd_dynamic(content: bytes, parent: str = "", parent_id: bytes = bytes(16),
                unique: bytes = uuid.UUID(int=8).bytes) -> bytes:
    """Footer copy, dynamic header, BAT, 2 MiB blocks (all-zero blocks left unallocated), footer."""
    block = 2 * MiB
    blocks = len(content) // block
    footer = _vhd_footer(len(content), 4 if parent else 3, SECTOR, unique)
    bat_at, bat_size, bitmap = 3 * SECTOR, -(-blocks * 4 // SECTOR) * SECTOR, SECTOR
    header = bytearray(struct.pack(">8sQQIIII16sII", b"cxsparse", 0xFFFFFFFFFFFFFFFF, bat_at, 0x00010000, blocks,
                                   block, 0, parent_id, 0, 0) + parent.encode("utf-16-be").ljust(512, b"\0"))
    header = header.ljust(1024, b"\0")
    header[36:40] = struct.pack(">I", ~sum(header) & 0xFFFFFFFF)
    table, data, at = [0xFFFFFFFF] * blocks, bytearray(), bat_at + bat_size
    for index in range(blocks):
        part = content[index * block:(index + 1) * block]
        if any(part):
            table[index] = at // SECTOR
            data += b"\xff" * bitmap + part
            at += bitmap + block
    return (footer + bytes(header) + struct.pack(f">{blocks}I", *table).ljust(bat_size, b"\xff") + bytes(data)
            + footer)


DDB = '# The Disk Data Base\n#DDB\n\nddb.virtualHWVersion = "4"\nddb.adapterType = "ide"\n'


def vmdk_sparse(content: bytes, name: str, grain_sectors: int = 128) -> bytes:
    """A monolithicSparse VMDK: KDMV header, embedded descriptor, grain directory and tables, 64 KiB grains."""
    capacity, grain = len(content) // SECTOR, grain_sectors * SECTOR
    grains = -(-capacity // grain_sectors)
    tables = -(-grains // 512)
    descriptor = (f'# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicSparse"'
                  f'\n\n# Extent description\nRW {capacity} SPARSE "{name}"\n\n{DDB}').encode()
    gd_at = 1 + 20
    gt_at = gd_at + -(-tables * 4 // SECTOR)
    overhead = -(-(gt_at + tables * 4) // grain_sectors) * grain_sectors
    header = struct.pack("<4sIIQQQQIQQQB4sH", b"KDMV", 1, 1, capacity, grain_sectors, 1, 20, 512, 0, gd_at, overhead,
                         0, b"\n \r\n", 0).ljust(SECTOR, b"\0")
    entries, data, at = [0] * (tables * 512), bytearray(), overhead
    for index in range(grains):
        part = content[index * grain:(index + 1) * grain]
        if any(part):
            entries[index] = at
            data += part
            at += grain_sectors
    directory = struct.pack(f"<{tables}I", *(gt_at + 4 * i for i in range(tables)))
    body = (header + descriptor.ljust(20 * SECTOR, b"\0") + directory.ljust((gt_at - gd_at) * SECTOR, b"\0")
            + struct.pack(f"<{len(entries)}I", *entries))
    return body.ljust(overhead * SECTOR, b"\0") + bytes(data)


def vmdk_flat_descriptor(sectors: int, extent: str) -> bytes:
    return (f'# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="monolithicFlat"\n\n'
            f'# Extent description\nRW {sectors} FLAT "{extent}" 0\n\n{DDB}').encode()


@pytest.fixture(scope="module")
def containers(raw: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("containers")
    content = raw.read_bytes()
    made = {"fixed.vhd": vhd_fixed(content), "dynamic.vhd": vhd_dynamic(content),
            "sparse.vmdk": vmdk_sparse(content, "sparse.vmdk"),
            "flat.vmdk": vmdk_flat_descriptor(len(content) // SECTOR, "flat-flat.vmdk"), "flat-flat.vmdk": content}
    for name, data in made.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in made if name != "flat-flat.vmdk"}


# What libmagic and TSK's img_stat (Debian's libvhdi/libvmdk) call each container: proof the files are real.
CONTAINER_NAMES = {
    "fixed.vhd": ("vhd", None, "vhdi"),  # libmagic sees the ext4 at the start; the footer is at the end
    "dynamic.vhd": ("vhd", "Microsoft Disk Image, Virtual Server or Virtual PC", "vhdi"),
    "sparse.vmdk": ("vmdk", "VMware4 disk image", "vmdk"),
    "flat.vmdk": ("vmdk", "ASCII text", "vmdk"),
}


@pytest.mark.parametrize("name", list(CONTAINER_NAMES))
def test_vhd_and_vmdk_open_as_tsk_opens_them(name: str, containers: dict[str, Path], raw: Path) -> None:
    image = containers[name]
    ours, libmagic, tsk = CONTAINER_NAMES[name]
    assert magic.path_type(image) == ours
    if libmagic is not None:
        assert libmagic in run("file", "-b", image)
    assert re.search(rf"Image Type:\s+{tsk}\b", run("img_stat", image))
    img = disk.open_image(image)
    try:
        assert img.get_size() == raw.stat().st_size and img.read(0, img.get_size()) == raw.read_bytes()
    finally:
        images.close(img)
    assert listing(image) == fls(raw)
    assert disk.partitions(image)["filesystem"].tolist() == ["ext4"]


def test_differencing_vhd_reads_through_its_parent_or_names_it(raw: Path, tmp_path: Path) -> None:
    content = raw.read_bytes()
    parent_id = uuid.UUID(int=7).bytes
    (tmp_path / "base.vhd").write_bytes(vhd_fixed(content, parent_id))
    changed = bytearray(len(content))
    changed[3 * 2 * MiB:4 * 2 * MiB] = b"\x5a" * (2 * MiB)  # the child rewrote the last 2 MiB block
    child = tmp_path / "child.vhd"
    child.write_bytes(vhd_dynamic(bytes(changed), parent="C:\\VMs\\base.vhd", parent_id=parent_id,
                                  unique=uuid.UUID(int=9).bytes))
    img = disk.open_image(child)
    try:
        assert img.read(0, img.get_size()) == content[:6 * MiB] + b"\x5a" * (2 * MiB)
    finally:
        images.close(img)
    (tmp_path / "base.vhd").rename(tmp_path / "elsewhere.vhd")
    with pytest.raises(EvidenceError) as caught:
        disk.list_files(child)
    assert one_line(caught) == (
        f"{child}: VHD image is a differencing image whose parent 'base.vhd' (recorded as 'C:\\\\VMs\\\\base.vhd') is "
        f"not beside it: copy the parent next to it, or convert the chain where it is: qemu-img convert -O raw "
        f"{child} {child.with_suffix('.raw')}")


def test_vmdk_with_its_extent_missing_is_one_line(containers: dict[str, Path], tmp_path: Path) -> None:
    descriptor = tmp_path / "flat.vmdk"
    descriptor.write_bytes(containers["flat.vmdk"].read_bytes())
    with pytest.raises(EvidenceError) as caught:
        disk.list_files(descriptor)
    assert one_line(caught) == (f"{descriptor}: cannot open the VMDK's data: extent file(s) flat-flat.vmdk missing "
                                "beside it")


def test_qcow2_sample_lists_and_reads_what_its_readme_records() -> None:
    image = sample(VSSTEST)
    assert magic.path_type(image) == "qcow2"
    assert "QEMU QCOW" in run("file", "-b", image)
    parts = disk.partitions(image)
    assert parts[["size", "filesystem"]].values.tolist() == [[1 << 30, "ntfs"]]  # 1 GiB NTFS, no partition table
    files = disk.list_files(image)
    root = set(files[~files.path.str[1:].str.contains("/") & ~files.name.str.startswith("$")].name)
    assert {"another_file", "password.txt", "syslog.gz", "System Volume Information"} <= root
    # The samples README: vsstest_MFT.bin is the unnamed $DATA of $MFT read with pytsk3 from this image.
    mft = disk.read_file(image, 0)
    assert hashlib.sha256(mft).hexdigest() == hashlib.sha256(sample("windows/ntfs/vsstest_MFT.bin").read_bytes()
                                                             ).hexdigest()


def test_missing_binding_says_how_to_convert(containers: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Where libvmdk-python is not installed, the VMDK is one line with the install and the qemu-img command."""
    monkeypatch.setitem(sys.modules, "pyvmdk", None)  # import pyvmdk now raises ImportError
    image = containers["sparse.vmdk"]
    with pytest.raises(EvidenceError) as caught:
        disk.list_files(image)
    assert one_line(caught) == (
        f"{image}: is a VMDK image and pyvmdk (PyPI libvmdk-python) is not installed: `pip install libvmdk-python`, "
        f"or convert it: qemu-img convert -O raw {image} {image.with_suffix('.raw')}")


def test_ex01_is_one_line_with_the_conversion(tmp_path: Path) -> None:
    image = tmp_path / "disk.Ex01"
    image.write_bytes(b"EVF2\r\n\x81\x00" + bytes(4096))
    with pytest.raises(EvidenceError) as caught:
        disk.partitions(image)
    assert "is an Ex01 (EWF version 2) image" in one_line(caught) and "ewfexport -u -f raw" in str(caught.value)


# ----------------------------------------------------------------- magic names the containers

def test_file_type_names_every_container(containers: dict[str, Path], e01_set: Path) -> None:
    for name, path in containers.items():
        assert magic.file_type(path.read_bytes()) == CONTAINER_NAMES[name][0], name
    assert magic.file_type(e01_set.read_bytes()) == magic.path_type(e01_set) == "ewf"
    assert magic.path_type(e01_set.with_suffix(".E02")) == "ewf"
    assert not magic.extension_lies("fs.E02", e01_set.with_suffix(".E02").read_bytes()[:64])
    assert magic.path_type(sample(VSSTEST)) == "qcow2"
    assert magic.file_type(b"QFI\xfb\x00\x00\x00\x03" + bytes(100)) == "qcow2"
    assert magic.file_type(b"QFI\xfb\x00\x00\x00\x01" + bytes(100)) == "qcow"
    assert magic.file_type(b"vhdxfile" + bytes(100)) == "vhdx"
    assert magic.file_type(b"COWD" + bytes(100)) == "vmdk"
    assert not magic.extension_lies("disk.vhd", containers["fixed.vhd"].read_bytes())
    assert magic.extension_lies("holiday.jpg", containers["dynamic.vhd"].read_bytes())
    assert magic.file_type(b"\x00" * 600) == "data"  # short of a footer, zeros stay data


# ----------------------------------------------------------------- a volume TSK cannot decide alone

@pytest.fixture(scope="module")
def ambiguous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ext2 volume still carrying a FAT16 boot sector in sector 0 (mke2fs leaves sector 0 to boot loaders)."""
    folder = tmp_path_factory.mktemp("ambiguous")
    fat, image = folder / "fat.img", folder / "volume.img"
    for path in (fat, image):
        with path.open("wb") as fh:
            fh.truncate(16 * MiB)
    run("mkfs.fat", "-F", "16", fat)
    content = folder / "content"
    content.mkdir()
    (content / "notes.txt").write_text("the ext2 side\n")
    run("mkfs.ext2", "-q", "-F", "-d", content, image)
    with image.open("r+b") as fh:
        fh.write(fat.read_bytes()[:SECTOR])
    return image


def test_ambiguous_volume_needs_and_takes_a_forced_type(ambiguous: Path) -> None:
    fsstat = subprocess.run([tool("fsstat"), str(ambiguous)], capture_output=True, text=True, check=False)
    assert fsstat.returncode != 0 and "Cannot determine file system type (EXT2/3/4 or FAT)" in fsstat.stderr
    with pytest.raises(EvidenceError) as caught:
        disk.list_files(ambiguous)
    assert one_line(caught) == (f"{ambiguous}: TSK finds more than one file system at byte offset 0 (EXT2/3/4 or "
                                f"FAT): pass fs_type= to choose, e.g. fs_type='ext' (as fls -f does)")
    for forced in ("ext", "ext2", "fat", "fat16"):
        assert listing(ambiguous, fs_type=forced) == fls(ambiguous, "-f", forced), forced
    files = disk.list_files(ambiguous, fs_type="ext").set_index("path")
    assert disk.read_file(ambiguous, int(files.loc["/notes.txt", "inode"]), fs_type="ext") == b"the ext2 side\n"
    assert disk.timeline(ambiguous, fs_type="ext").path.str.contains("notes.txt").any()
    with pytest.raises(EvidenceError) as caught:
        disk.list_files(ambiguous, fs_type="ntfs")
    assert one_line(caught) == f"{ambiguous}: no ntfs file system TSK can read at byte offset 0"
    with pytest.raises(DflabError, match=r"fs_type='xfs' is not a file system type TSK reads; use one of ntfs, fat"):
        disk.list_files(ambiguous, fs_type="xfs")


def test_partition_messages_show_plain_numbers() -> None:
    """pandas' Int64 items print as np.int64(352) under numpy 2: messages must list plain ints."""
    image = sample("disk/mbr.raw")
    with pytest.raises(EvidenceError) as caught:
        disk.list_files(image, partition=352)
    assert one_line(caught).endswith("partition=352 is neither a partition index [0, 1] nor a partition byte offset "
                                     "[512, 180224] (offsets are bytes: sector x 512)")
