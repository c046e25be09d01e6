"""dflab.forensics.disk and .hashing against real third-party images and their published answers.

The expected values below are copied from the DFTT answer pages
(``index.html`` beside each image), the DFXML listing of DFTT #4, and the
dfvfs notes in ``shared/samples/README.md``; the fls/icat comparisons run the
real Sleuth Kit tools. On this host they read an E01's media as libewf's own
ewfexport decodes it; the Sleuth Kit commands on the E01 itself run in the
trainee image, where trainees use them (on the host they crash on Debian 13:
DEVELOPERS.md, "TSK on E01").
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import struct
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pandas as pd
import pytest

from dflab.errors import EvidenceError
from dflab.forensics import disk, hashing
from dflab.forensics.magic import extension_lies, file_type
from tests import docker_fixtures
from tests.samples import sample, tool

# The shared, memoised trainee image build (tests/docker_fixtures.py), for the TSK commands trainees run.
trainee_image = docker_fixtures.trainee_image

FAT6 = "disk/6-undel-fat/6-fat-undel.dd"
NTFS7 = "disk/7-undel-ntfs/7-ntfs-undel.dd"
JPEG8 = "disk/8-jpeg-search/8-jpeg-search.dd"
EXT3_4 = "disk/4-kwsrch-ext3/ext3-img-kw-1.dd"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ----------------------------------------------------------------- hashing

def test_hash_file_and_verify_against_published_image_md5() -> None:
    # DFTT #6 index.html: "The MD5 of the image is 4aeb06ecd361777242ab78735d51ace6".
    path = sample(FAT6)
    hashes = hashing.hash_file(path)
    assert hashes["md5"] == "4aeb06ecd361777242ab78735d51ace6"
    assert hashes["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert hashing.verify(path, {"MD5": " 4AEB06ECD361777242AB78735D51ACE6 "})
    assert not hashing.verify(path, {"md5": "0" * 32})


def test_hash_file_missing_is_evidence_error(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="nope.dd"):
        hashing.hash_file(tmp_path / "nope.dd")
    with pytest.raises(ValueError):
        hashing.verify(sample(FAT6), {})


# ----------------------------------------------------------------- DFTT #6 FAT undelete

# index.html "Files" table: name, size, MD5 of the original content.
FAT6_PUBLISHED = {
    "/sing.dat": (780, "59b20779f69ff9f0ac5fcd2c38835a79"),
    "/mult1.dat": (3801, "ffd27bd782bdce67750b6b9ee069d2ef"),
    "/frag1.dat": (1584, "7a3bc5b763bef201202108f4ba128149"),
    "/frag2.dat": (3873, "0e80ab84ef0087e60dfc67b88a1cf13e"),
    "/dir1/mult2.dat": (1715, "59cf0e9cd107bc1e75afb7374f6e05bb"),
    "/dir1/dir2/frag3.dat": (2027, "21121699487f3fbbdb9a4b3391b6d3e0"),
}
# index.html "Incorrect MD5" table: what a tool gets when it reads contiguous
# clusters from the start cluster, which is what TSK does for deleted FAT files.
FAT6_CONTIGUOUS_MD5 = {
    "/frag1.dat": "c4f3b9a0f17d464f4fc61b94ecf6cc21",
    "/frag2.dat": "965370acfa85aa7e26ab04bbd45cdcae",
    "/dir1/dir2/frag3.dat": "a7a14ac62f79fdea4056ed5e8bcf97ef",
}


# FAT overwrites the first byte of a deleted name (0xE5); TSK shows '_'.  Shown path -> published path.
FAT6_SHOWN_AS = {
    "/_ing.dat": "/sing.dat", "/_ult1.dat": "/mult1.dat", "/_rag1.dat": "/frag1.dat", "/_rag2.dat": "/frag2.dat",
    "/_ir1": "/dir1", "/_ir1/dir2": "/dir1/dir2", "/_ir1/mult2.dat": "/dir1/mult2.dat",
    "/_ir1/dir2/frag3.dat": "/dir1/dir2/frag3.dat",
}


def test_fat6_deleted_files_found_with_published_names_sizes_and_md5() -> None:
    image = sample(FAT6)
    files = disk.list_files(image)
    root = files[~files.path.str.startswith("/System Volume Information")]
    deleted = root[root.deleted]
    assert set(deleted.path) == set(FAT6_SHOWN_AS)
    by_published = {FAT6_SHOWN_AS[row.path]: row for row in deleted.itertuples()}
    assert by_published["/dir1"].type == "dir" and by_published["/dir1/dir2"].type == "dir"
    for name, (size, published_md5) in FAT6_PUBLISHED.items():
        row = by_published[name]
        assert row.type == "file" and row.size == size, name
        content = disk.read_file(image, row.inode)
        assert len(content) == size
        # Contiguous files recover exactly; fragmented ones give the sheet's "Incorrect MD5".
        assert md5(content) == FAT6_CONTIGUOUS_MD5.get(name, published_md5), name


def test_fat6_fragmented_files_do_not_recover_and_match_the_published_incorrect_md5() -> None:
    """TSK (like the tools DFTT tested) reads a deleted FAT file contiguously, so fragments mix."""
    image = sample(FAT6)
    files = disk.list_files(image).set_index("path")
    assert md5(disk.read_file(image, int(files.loc["/_rag1.dat", "inode"]))) == "c4f3b9a0f17d464f4fc61b94ecf6cc21"
    assert md5(disk.read_file(image, int(files.loc["/_rag2.dat", "inode"]))) == "965370acfa85aa7e26ab04bbd45cdcae"
    assert md5(disk.read_file(image, 965)) == "a7a14ac62f79fdea4056ed5e8bcf97ef"
    assert md5(disk.read_file(image, 965)) != FAT6_PUBLISHED["/dir1/dir2/frag3.dat"][1]


# ----------------------------------------------------------------- DFTT #7 NTFS undelete

# index.html: MFT entry, name, size, MD5.  Every one of them is recovered intact by TSK.
NTFS7_PUBLISHED = [
    ("37", "/res1.dat", 101, "9036637712b491904cd0bfbdbe648453"),
    ("31", "/sing1.dat", 780, "59b20779f69ff9f0ac5fcd2c38835a79"),
    ("32-128-3", "/mult1.dat", 3801, "ffd27bd782bdce67750b6b9ee069d2ef"),
    ("32-128-6", "/mult1.dat:ADS", 1234, "ba1b9eedb1c091ddca253d35dde8f616"),
    ("29", "/frag1.dat", 1584, "7a3bc5b763bef201202108f4ba128149"),
    ("30", "/frag2.dat", 3873, "0e80ab84ef0087e60dfc67b88a1cf13e"),
    ("36", "/dir1/mult2.dat", 1715, "59cf0e9cd107bc1e75afb7374f6e05bb"),
    ("35", "/dir1/dir2/frag3.dat", 2027, "21121699487f3fbbdb9a4b3391b6d3e0"),
]


def test_ntfs7_deleted_entries_including_ads_and_published_md5() -> None:
    image = sample(NTFS7)
    files = disk.list_files(image)
    deleted = files[files.deleted].set_index("path")
    for address, path, size, published_md5 in NTFS7_PUBLISHED:
        row = deleted.loc[path]
        assert row["inode"] == int(address.split("-")[0])
        assert row["size"] == size, path
        assert md5(disk.read_file(image, address)) == published_md5, path
        assert md5(disk.read_file(image, row["address"])) == published_md5, path
    ads = deleted.loc["/mult1.dat:ADS"]
    assert (ads["stream"], ads["address"], ads["attr_type"], ads["attr_id"]) == ("ADS", "32-128-6", 128, 6)
    assert deleted.loc["/dir1", "inode"] == 33 and deleted.loc["/dir1", "type"] == "dir"
    assert deleted.loc["/dir1/dir2", "inode"] == 34
    # dir3 was lost when its MFT entry was reused, so sing2.dat is an orphan; content still intact.
    orphan = deleted.loc["/$OrphanFiles/sing2.dat"]
    assert orphan["inode"] == 38 and orphan["size"] == 1005
    assert md5(disk.read_file(image, 38)) == "c229626f6a71b167ad7e50c4f2fccdb1"


def test_ntfs7_dates_are_leap_day_2004() -> None:
    """DFTT #7 bonus question: the files were made on Feb 29, 2004."""
    files = disk.list_files(sample(NTFS7))
    user = files[files.path.isin([p for _, p, _, _ in NTFS7_PUBLISHED])]
    assert len(user) == 8
    assert set(user.mtime.dt.strftime("%Y-%m-%d")) == {"2004-02-29"}
    assert str(user.mtime.dt.tz) == "UTC"


# ----------------------------------------------------------------- DFTT #8 JPEG search

# index.html table: path, MD5, and whether the file *is* a JPEG by content.
JPEG8_PUBLISHED = [
    ("/alloc/file1.jpg", "75b8d00568815a36c3809b46fc84ba6d", "jpeg"),
    ("/alloc/file2.dat", "de5d83153339931371719f4e5c924eba", "jpeg"),
    ("/invalid/file3.jpg", "1ba4e91591f0541eda255ee26f7533bc", "text"),
    ("/invalid/file4.jpg", "c8de721102617158e8492121bdad3711", "data"),  # FF D8 then random: not a JPEG
    ("/invalid/file5.rtf", "86f14fc525648c39d878829f288c0543", "data"),
    ("/del1/file6.jpg", "afd55222024a4e22f7f5a3a665320763", "jpeg"),
    ("/del2/file7.hmm", "0c452c5800fcfa7c66027ae89c4f068a", "jpeg"),
    ("/archive/file8.zip", "d41b56e0a9f84eb2825e73c24cedd963", "zip"),
    ("/archive/file9.boo", "73c3029066aee9416a5aeb98a5c55321", "zip"),
    ("/archive/file10.tar.gz", "d4f8cf643141f0c2911c539750e18ef2", "gzip"),
    ("/misc/file11.dat", "f407ab92da959c7ab03292cfe596a99d", "data"),  # 1572 random bytes, then a JPEG
    ("/misc/file12.doc", "61c0b55639e52d1ce82aba834ada2bab", "ole"),
    ("/misc/file13.dll:here", "9b787e63e3b64562730c5aecaab1e1f8", "jpeg"),
]


def test_jpeg8_md5s_and_content_types() -> None:
    image = sample(JPEG8)
    files = disk.list_files(image).set_index("path")
    for path, published_md5, kind in JPEG8_PUBLISHED:
        data = disk.read_file(image, files.loc[path, "address"])
        assert md5(data) == published_md5, path
        assert file_type(data) == kind, path
    # The MFT entries the answer sheet names for the deleted pictures.
    assert (files.loc["/del1/file6.jpg", "inode"], files.loc["/del1/file6.jpg", "deleted"]) == (32, True)
    assert (files.loc["/del2/file7.hmm", "inode"], files.loc["/del2/file7.hmm", "deleted"]) == (31, True)


def test_jpeg8_extension_lies_finds_the_hidden_pictures() -> None:
    image = sample(JPEG8)
    files = disk.list_files(image)
    regular = files[(files.type == "file") & ~files.name.str.startswith("$")]
    liars = sorted(p for p, a in zip(regular.path, regular.address, strict=True)
                   if extension_lies(p, disk.read_file(image, a)))
    # file9.boo is a ZIP with a non-ZIP extension; file13.dll:here a JPEG in a DLL's stream.
    assert liars == ["/alloc/file2.dat", "/archive/file9.boo", "/del2/file7.hmm", "/misc/file13.dll:here"]


def test_file_type_signatures() -> None:
    assert file_type(b"") == "empty"
    assert file_type(b"\x89PNG\r\n\x1a\n....") == "png"
    assert file_type(b"%PDF-1.7\n") == "pdf"
    assert file_type(b"\x7fELF\x02\x01\x01") == "elf"
    assert file_type(b"\x1f\x8b\x08\x00") == "gzip"
    assert file_type(b"hello world\n") == "text"
    assert file_type(b"\x00" * 257 + b"ustar\x0000") == "tar"
    assert not extension_lies("a.JPG", b"\xff\xd8\xff\xe0")
    assert not extension_lies("unknown.bin", b"\x01\x02\x03")


# ----------------------------------------------------------------- DFTT #4 ext3 vs its DFXML

def test_ext3_listing_matches_dfxml() -> None:
    image = sample(EXT3_4)
    ns = {"d": "http://www.forensicswiki.org/wiki/Category:Digital_Forensics_XML"}
    published = {}
    for obj in ET.parse(image.with_suffix(".dd.xml")).getroot().iter(f"{{{ns['d']}}}fileobject"):
        name = obj.findtext("d:filename", namespaces=ns)
        if name.split("/")[-1] in (".", ".."):
            continue
        published["/" + name] = (int(obj.findtext("d:inode", namespaces=ns)),
                                 int(obj.findtext("d:filesize", namespaces=ns)),
                                 obj.findtext("d:alloc_name", namespaces=ns) == "0",
                                 obj.findtext("d:mtime", namespaces=ns))
    files = disk.list_files(image)
    ours = {row.path: (row.inode, row.size, row.deleted,
                       None if pd.isna(row.mtime) else row.mtime.strftime("%Y-%m-%dT%H:%M:%SZ"))
            for row in files.itertuples()}
    assert ours == published
    # index.html: "third" is in /file3 (deleted); ext3 zeroes a deleted file's size and block list.
    assert ours["/file3"][:3] == (14, 0, True)
    assert disk.read_file(image, 14) == b""
    assert b"first" in disk.read_file(image, 12)


# ----------------------------------------------------------------- dfvfs images

def test_ext2_raw_listing() -> None:
    files = disk.list_files(sample("disk/ext2.raw"))
    got = {(r.path, r.inode, r.type) for r in files.itertuples()}
    assert got == {("/lost+found", 11, "dir"), ("/a_directory", 12, "dir"), ("/a_directory/a_file", 13, "file"),
                   ("/a_directory/another_file", 15, "file"), ("/passwords.txt", 14, "file"),
                   ("/a_link", 16, "link"), ("/$OrphanFiles", 1025, "virtual_dir")}
    assert not files.deleted.any()


def test_e01_listing_with_deleted_entries() -> None:
    image = sample("disk/image.E01")
    assert isinstance(disk.open_image(image), disk.EwfImgInfo)
    files = disk.list_files(image)
    got = {(r.path, r.inode, r.deleted) for r in files.itertuples()}
    # The fls -r answer from the samples README.
    assert got == {
        ("/lost+found", 11, False), ("/a_directory", 12, False), ("/a_directory/another_file", 16, False),
        ("/a_directory/a_file", 14, False), ("/a_directory/.another_file.swp", 0, True),
        ("/a_directory/another_file~", 0, True), ("/passwords.txt", 15, False), ("/passwords.txt~", 0, True),
        ("/$OrphanFiles", 17, False), ("/$OrphanFiles/OrphanFile-13", 13, True),
    }
    passwords = disk.read_file(image, 15)
    assert len(passwords) == files.set_index("path").loc["/passwords.txt", "size"] == 116
    assert disk.partitions(image)["description"].tolist() == ["whole image (no partition table)"]


def test_e01_corrupt_and_missing_images_raise_evidence_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.E01"
    broken.write_bytes(sample("disk/image.E01").read_bytes()[:200])
    with pytest.raises(EvidenceError, match="broken.E01"):
        disk.list_files(broken)
    with pytest.raises(EvidenceError, match="absent.dd"):
        disk.list_files(tmp_path / "absent.dd")
    garbage = tmp_path / "garbage.dd"
    garbage.write_bytes(b"\x00" * 65536)
    with pytest.raises(EvidenceError, match="no file system"):
        disk.list_files(garbage)


def test_mbr_with_extended_partition() -> None:
    image = sample("disk/mbr.raw")
    parts = disk.partitions(image)
    assert parts[["index", "start", "length", "description"]].values.tolist() == [
        [0, 1, 350, "Linux (0x83)"],
        [1, 352, 2528, "Linux (0x83)"],
    ]
    assert pd.isna(parts.filesystem[0]) and parts.filesystem[1] == "ext2"  # the primary holds no file system
    assert parts.offset.tolist() == [512, 352 * 512]
    every = disk.partitions(image, all_slots=True)
    assert "DOS Extended (0x05)" in every.description.tolist()
    # Only the logical partition holds a file system, so partition=None picks it; index and offset agree.
    by_default = disk.list_files(image)
    assert by_default.equals(disk.list_files(image, partition=1))
    assert by_default.equals(disk.list_files(image, partition=352 * 512))
    with pytest.raises(EvidenceError, match="no file system"):
        disk.list_files(image, partition=0)
    with pytest.raises(EvidenceError, match="neither a partition index"):
        disk.list_files(image, partition=352)


def _gpt_image(path: Path) -> None:
    """Write a minimal valid GPT (protective MBR, header + CRCs, one entry) and FAT inside, by hand."""
    sector, total, first, count = 512, 16384, 2048, 8192
    entry = (uuid.UUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4").bytes_le + uuid.UUID(int=1).bytes_le
             + struct.pack("<QQQ", first, first + count - 1, 0) + "evidence".encode("utf-16-le").ljust(72, b"\0"))
    entries = entry.ljust(128 * 128, b"\0")
    header = bytearray(struct.pack("<8sIIIIQQQQ16sQIII", b"EFI PART", 0x10000, 92, 0, 0, 1, total - 1, 34,
                                   total - 34, uuid.UUID(int=2).bytes_le, 2, 128, 128, zlib.crc32(entries)))
    header[16:20] = struct.pack("<I", zlib.crc32(bytes(header)))
    mbr = bytearray(sector)
    mbr[446:462] = struct.pack("<B3sB3sII", 0, b"\0\x02\0", 0xEE, b"\xff\xff\xff", 1, total - 1)
    mbr[510:512] = b"\x55\xaa"
    with path.open("wb") as fh:
        fh.truncate(total * sector)
        fh.write(mbr + bytes(header).ljust(sector, b"\0") + entries)
    subprocess.run([tool("mkfs.fat"), "-F", "16", "-s", "1", "-i", "12345678", "--offset", str(first), str(path),
                    str(count // 2)],
                   check=True, capture_output=True)


def test_gpt_partition_and_files(tmp_path: Path) -> None:
    image = tmp_path / "gpt.img"
    _gpt_image(image)
    parts = disk.partitions(image)
    assert parts[["index", "start", "length", "filesystem"]].values.tolist() == [[0, 2048, 8192, "fat16"]]
    assert disk.partitions(image, all_slots=True).description.str.contains("GPT").any()
    files = disk.list_files(image)
    assert {"$MBR", "$FAT1", "$FAT2", "$OrphanFiles"} <= set(files.name)


# ----------------------------------------------------------------- agreement with the real TSK tools

def _parse_fls(out: str) -> list[tuple[str, str, bool]]:
    """``fls -r -p`` output as (path, address, deleted) rows, in fls' order."""
    rows = []
    for line in out.splitlines():
        rest = line.split(" ", 1)[1]  # drop the "r/r" type column
        deleted = rest.startswith("* ")
        address, name = rest.removeprefix("* ").split(":\t", 1)
        rows.append(("/" + name, address, deleted))
    return rows


def _fls(image: Path) -> list[tuple[str, str, bool]]:
    return _parse_fls(subprocess.run([tool("fls"), "-r", "-p", str(image)], check=True, capture_output=True,
                                     text=True).stdout)


def _host_tsk_input(image: Path, tmp_path: Path) -> Path:
    """What the host's TSK commands read for ``image``: a raw image as is, an E01's media as ewfexport writes it.

    ewfexport (ewf-tools) is libewf's own reader, independent of the pyewf that dflab.forensics.disk uses, and works
    on Debian 12 and 13 alike; the TSK commands given the E01 itself are checked in the trainee image below.
    """
    if image.suffix != ".E01":
        return image
    target = tmp_path / image.stem
    subprocess.run([tool("ewfexport"), "-q", "-u", "-f", "raw", "-t", str(target), str(image)], check=True,
                   capture_output=True, stdin=subprocess.DEVNULL)
    return target.with_name(target.name + ".raw")


@pytest.mark.parametrize("relative", [NTFS7, JPEG8, EXT3_4, "disk/image.E01", "disk/ext2.raw", FAT6])
def test_list_files_equals_fls(relative: str, tmp_path: Path) -> None:
    image = sample(relative)
    ours = disk.list_files(image)
    assert list(zip(ours.path, ours.address, ours.deleted, strict=True)) == _fls(_host_tsk_input(image, tmp_path))


@pytest.mark.parametrize("relative,address", [(NTFS7, "32-128-6"), (NTFS7, "38"), (FAT6, "965"),
                                              ("disk/image.E01", "15"), (JPEG8, "44-128-5")])
def test_read_file_equals_icat(relative: str, address: str, tmp_path: Path) -> None:
    image = sample(relative)
    expected = subprocess.run([tool("icat"), str(_host_tsk_input(image, tmp_path)), address], check=True,
                              capture_output=True).stdout
    assert disk.read_file(image, address) == expected


def test_ewfexport_media_is_what_pyewf_reads(tmp_path: Path) -> None:
    """The host's reference for an E01 (ewfexport's raw) is the media itself: the MD5 the acquisition stored."""
    image = sample("disk/image.E01")
    exported = _host_tsk_input(image, tmp_path)
    assert md5(exported.read_bytes()) == "d73c51f10c7ee6a681b7b619ccc6f1c4"  # ewfinfo: the MD5 stored in image.E01
    img = disk.open_image(image)
    try:
        assert exported.read_bytes() == img.read(0, img.get_size())
    finally:
        img.close()


# ----------------------------------------------------------------- TSK's commands on E01, as trainees run them

# A script run by the trainee image's Python: each command's exit status, stdout (base64) and stderr's end.
_RUN_ALL = """
import base64, json, subprocess, sys
out = []
for cmd in json.loads(sys.argv[1]):
    proc = subprocess.run(cmd, capture_output=True)
    out.append([proc.returncode, base64.b64encode(proc.stdout).decode(), proc.stderr.decode(errors="replace")[-300:]])
print(json.dumps(out))
"""


def _in_trainee_image(image: str, mounts: dict[Path, str], commands: list[list[str]]) -> list[bytes]:
    """Run ``commands`` in one confined trainee container (``mounts`` read-only); return their stdouts.

    Each must exit 0: one killed by a signal is named so (Debian 13's TSK dies of SIGSEGV on every E01).
    """
    volumes = [arg for host, inside in mounts.items() for arg in ("-v", f"{host}:{inside}:ro")]
    proc = subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "1000", "--cap-drop", "ALL",
                           "--security-opt", "no-new-privileges", "--read-only", "--tmpfs", "/tmp", *volumes, image,
                           "python", "-c", _RUN_ALL, json.dumps(commands)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    for cmd, (code, _, err) in zip(commands, results, strict=True):
        how = f"was killed by {signal.strsignal(-code)}" if code < 0 else f"exited {code}: {err.strip()}"
        assert code == 0, f"{' '.join(cmd)} in the trainee image {how}"
    return [base64.b64decode(out) for _, out, _ in results]


@pytest.mark.xdist_group(docker_fixtures.XDIST_GROUP)
def test_trainee_image_tsk_reads_the_sample_e01(trainee_image: str) -> None:
    """fls, icat and img_stat in the trainee image open the third-party E01 as EWF and agree with our reader."""
    image = sample("disk/image.E01")
    fls, icat, img_stat = _in_trainee_image(trainee_image, {image.parent: "/samples"}, [
        ["fls", "-r", "-p", "/samples/image.E01"], ["icat", "/samples/image.E01", "15"],
        ["img_stat", "/samples/image.E01"]])
    ours = disk.list_files(image)
    assert _parse_fls(fls.decode()) == list(zip(ours.path, ours.address, ours.deleted, strict=True))
    assert icat == disk.read_file(image, 15) and len(icat) == 116
    assert "Image Type:\t\tewf" in img_stat.decode()


@pytest.mark.xdist_group(docker_fixtures.XDIST_GROUP)
def test_trainee_image_tsk_reads_a_dflab_e01_like_its_raw_image(trainee_image: str, tmp_path: Path) -> None:
    """The E01 a spec's ``disk.e01`` delivers: mmls and fls in the trainee image list it as they list the raw disk."""
    from dflab.evidence.disk import write_disk
    from dflab.evidence.disk.ewf import write_e01
    from dflab.scenario.case import E01Header
    from tests.small_case import small_case

    ev = tmp_path / "evidence"
    ev.mkdir()
    facts = write_disk(small_case(), ev / "disk.img")
    write_e01(ev / "disk.img", ev / "disk.E01", E01Header(1_772_445_600, "case", "desc", "examiner", "disk", ""),
              where="test")
    ev.chmod(0o755)  # the container reads as uid 1000
    for path in ev.iterdir():
        path.chmod(0o644)
    starts = [str(p["start_sector"]) for p in facts["partitions"]]
    assert len(starts) == 2
    commands = [[*cmd, f"/ev/{name}"] for cmd in [["mmls"], *(["fls", "-r", "-p", "-o", s] for s in starts)]
                for name in ("disk.E01", "disk.img")]
    outs = _in_trainee_image(trainee_image, {ev: "/ev"}, commands)
    for cmd, e01, raw in zip(commands[::2], outs[::2], outs[1::2], strict=True):
        assert e01 == raw, " ".join(cmd)
    assert b"Linux (0x83)" in outs[0] and len(_parse_fls(outs[2].decode())) > 3


def test_extract_writes_file_and_returns_hashes(tmp_path: Path) -> None:
    image = sample(JPEG8)
    dest = tmp_path / "out" / "file7.jpg"
    hashes = disk.extract(image, 31, dest)
    assert hashes["md5"] == "0c452c5800fcfa7c66027ae89c4f068a"
    assert hashes == hashing.hash_file(dest)
    assert not [p for p in dest.parent.iterdir() if p.name != "file7.jpg"]
    with pytest.raises(EvidenceError, match="no metadata"):
        disk.read_file(image, 999_999)


def test_timeline_is_long_and_sorted() -> None:
    image = sample(NTFS7)
    tl = disk.timeline(image)
    assert list(tl.columns) == ["time", "event", "path", "inode", "address", "type", "size", "deleted"]
    assert tl.time.is_monotonic_increasing
    assert set(tl.event) == {"m", "a", "c", "b"}
    res1 = tl[tl.path == "/res1.dat"]
    assert sorted(res1.event) == ["a", "b", "c", "m"]
    files = disk.list_files(image).set_index("path")
    assert res1.set_index("event").loc["m", "time"] == files.loc["/res1.dat", "mtime"]


def test_fat_times_do_not_depend_on_the_examiner_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """FAT keeps local wall-clock time; we report it as TSK does under TZ=UTC, whatever our TZ is."""
    image = sample(FAT6)
    body = subprocess.run([tool("fls"), "-r", "-p", "-m", "/", str(image)], check=True, capture_output=True,
                          text=True, env={**os.environ, "TZ": "UTC"}).stdout
    # mactime body format: md5|name|inode|mode|uid|gid|size|atime|mtime|ctime|crtime
    expected = {int(f[2]): int(f[8]) for f in (line.split("|") for line in body.splitlines()) if int(f[8])}
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        files = disk.list_files(image)
    finally:
        monkeypatch.undo()
        time.tzset()
    ours = {row.inode: int(row.mtime.timestamp()) for row in files.itertuples() if not pd.isna(row.mtime)}
    assert ours == expected
    assert ours[6] == int(pd.Timestamp("2004-02-14 12:52:06", tz="UTC").timestamp())  # sing.dat


# ----------------------------------------------------------------- round trip with the project's own disk writer

def test_generated_disk_gives_back_every_planned_file(tmp_path: Path) -> None:
    """What a trainee's notebook does on lab evidence: every file the Case planned, found and recovered."""
    from dflab.evidence.disk.writer import write_disk
    from tests.small_case import small_case

    case = small_case()
    image = tmp_path / "disk.img"
    facts = write_disk(case, image)
    parts = disk.partitions(image)
    assert parts.filesystem.tolist() == [v.fs for v in case.disk.volumes]
    with pytest.raises(EvidenceError, match="pass partition="):
        disk.list_files(image)  # two file systems: the trainee must choose
    liars = set()
    for index, volume in enumerate(case.disk.volumes):
        files = disk.list_files(image, partition=index).set_index("path")
        for planned in (f for f in case.disk.files if f.volume == volume.id and not f.is_dir):
            if planned.deleted_at is not None and volume.fs == "ext4":
                # Linux's unlink wiped the name and emptied the inode: an orphan of size 0, its content in the
                # journal's older copies (disk.recover_from_journal; tests/test_ext4_deletion.py).
                inode = facts["files"][planned.id]["inode"]
                row = files.loc[f"/$OrphanFiles/OrphanFile-{inode}"]
                assert (row["deleted"], row["size"], row["inode"]) == (True, 0, inode), planned.path
                assert disk.read_file(image, inode, partition=index) == b""
                continue
            row = files.loc[planned.path]
            assert (row["deleted"], row["size"], row["type"]) == (planned.deleted_at is not None,
                                                                  len(planned.content), "file"), planned.path
            assert row["mtime"].floor("s") == pd.Timestamp(planned.mtime, unit="s", tz="UTC"), planned.path
            content = disk.read_file(image, int(row["inode"]), partition=index)
            assert hashlib.sha256(content).hexdigest() == planned.sha256, planned.path
            assert file_type(content) == planned.true_type, planned.path
            if extension_lies(planned.name, content):
                liars.add(planned.path)
    # small_case hides a ZIP as .jpg and a PNG as .txt; the ELF has no extension and does not count.
    assert liars == {"/tmp/.cache/backup.jpg", "/home/jdoe/Pictures/notes.txt"}


def test_truncated_generated_image_warns_and_names_the_image(tmp_path: Path) -> None:
    """A disk image cut short (a failed copy) still lists, but the reader says it is truncated and where."""
    from dflab.evidence.disk import write_disk
    from dflab.forensics.disk import TruncatedImageWarning
    from tests.small_case import small_case

    image = tmp_path / "cut.img"
    facts = write_disk(small_case(), image)
    root = next(p for p in facts["partitions"] if p["volume"] == "root")
    os.truncate(image, (root["start_sector"] + 8192) * 512)  # keep 4 MiB of the ext4 volume: its directories
    offset = root["start_sector"] * 512
    with pytest.warns(TruncatedImageWarning, match=rf"{image}: the file system at byte offset {offset}"):
        listing = disk.list_files(image, partition=1)
    assert len(listing) > 0
    os.truncate(image, (root["start_sector"] + 2048) * 512)  # 1 MiB: the root directory's block is gone too
    with pytest.warns(TruncatedImageWarning), pytest.raises(
            EvidenceError, match=rf"^{image}: TSK cannot read the root directory of the file system \(.*\): the "
                                 "image is truncated or damaged$"):
        disk.list_files(image, partition=1)
    garbage = tmp_path / "garbage.img"
    garbage.write_bytes(os.urandom(100_000))
    with pytest.raises(EvidenceError, match=rf"{garbage}: no file system TSK recognises at byte offset 0"):
        disk.list_files(garbage)


def test_a_symbolic_link_reads_as_its_target_like_readlink(tmp_path: Path) -> None:
    """ext4 keeps a short link target in the inode (a fast symlink: no data block), where pytsk3 has nothing to read
    at any offset; an installed system has thousands (/usr/lib's .so chains), and reading one is not an error."""
    tree = tmp_path / "tree"
    (tree / "lib").mkdir(parents=True)
    (tree / "lib" / "libz.so.1.2.13").write_bytes(b"\x7fELF" + bytes(60))
    (tree / "lib" / "libz.so.1").symlink_to("libz.so.1.2.13")
    long_target = "/" + "/".join(["deep"] * 20) + "/target"  # > 60 bytes: a slow symlink, in a data block
    (tree / "lib" / "far").symlink_to(long_target)
    image = tmp_path / "fs.img"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(image), "4M"], check=True,
                   env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
    files = disk.list_files(image)
    inode = {row.path: int(row.inode) for row in files.itertuples()}
    assert disk.read_file(image, inode["/lib/libz.so.1"]) == b"libz.so.1.2.13"
    assert disk.read_file(image, inode["/lib/far"]) == long_target.encode()
