"""Deletion on the generated ext4 is Linux's unlink (issue 14, item 4), read back with the real tools.

On a real ext4 (kernel 5.13 and later) unlink wipes the directory record, truncates the inode (size, block count
and extent tree to nothing, mtime and ctime to the moment), frees it with links 0 and dtime set, and moves the
parent's mtime and ctime to the moment; the data blocks are only marked free. So ``icat`` of a deleted file reads
nothing, ``fls -d`` shows its inode as an orphan without a name, and what it was survives in the jbd2 journal's
older copies of its inode table and directory blocks. Every bundled case's deleted ext4 files are checked so with
TSK (istat, icat, fls, jls, jcat, blkcat), e2fsprogs (debugfs, e2fsck) and against a file system the kernel itself
made and deleted from (mkfs.ext4, loop mount, rm). FAT keeps FAT's semantics (0xE5, chain freed, entry kept).

A file a process still holds when it is removed (Nightjar's implant runs from its payload) is only unlinked then:
its inode is an orphan (links 0, size and extents intact, ctime the unlink) until the holder ends at the host's
shutdown, when it is truncated and freed. The parent's times and the journal's unlink transaction date the
deletion; the inode's dtime dates the free. The kernel reference holds a file open with a process to compare.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from dflab.evidence.build import build_variant
from dflab.evidence.disk.writer import held_at_shutdown
from dflab.forensics import disk
from dflab.scenario.case import Case, DiskFile
from dflab.scenario.draw import variant_seed
from dflab.scenario.load import load_spec
from dflab.scenario.resolve import resolve
from tests.test_disk_tools import extract_partition

SCENARIOS = Path(__file__).resolve().parents[1] / "labs" / "scenarios"
CASES = ("kestrel", "nightjar")
TRAINEES = ("alice", "bob", "carol")
SECRET = "ext4-deletion"
EMPTY_EXTENT_ROOT = bytes.fromhex("0af3000004000000") + bytes(52)  # what ext4_truncate leaves in i_block
pytestmark = pytest.mark.xdist_group("ext4-deletion")


@dataclass(frozen=True)
class Variant:
    case: Case
    image: Path
    key: dict
    root: Path  # the root partition as a file of its own (debugfs and e2fsck take no offset)

    def start(self, volume: str = "root") -> int:
        return int(self.key["facts"]["disk"]["volumes"][volume]["start_sector"])

    def partition(self, volume: str = "root") -> int:
        return self.start(volume) * 512  # a byte offset: the key's index counts table slots from 1

    def deleted(self) -> list[DiskFile]:
        """The case's deleted files on its ext4 volumes."""
        ext4 = {v.id for v in self.case.disk.volumes if v.fs == "ext4"}
        return [f for f in self.case.disk.files if f.deleted_at is not None and f.volume in ext4]

    def inode(self, f: DiskFile) -> int:
        return int(self.key["facts"]["disk"]["files"][f.id]["inode"])

    def held(self, f: DiskFile) -> bool:
        """Whether a process still held ``f`` when it was removed (freed at the shutdown, not at the unlink)."""
        return f.id in held_at_shutdown(self.case)

    def freed_at(self, f: DiskFile) -> int:
        assert f.deleted_at is not None and self.case.shutdown_at is not None
        return self.case.shutdown_at if self.held(f) else f.deleted_at


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Variant]:
    root = tmp_path_factory.mktemp("deletion")
    out = {}
    for name in CASES:
        spec = load_spec(SCENARIOS / f"{name}.yaml")
        for trainee in TRAINEES:
            build = build_variant(spec, SECRET, trainee, root / name / trainee, kinds=("disk",)).out
            case = resolve(spec, variant_seed(SECRET, spec.scenario, trainee), trainee)
            key = json.loads((build / "key" / "answer_key.json").read_text(encoding="utf-8"))
            image = build / "evidence" / "disk.img"
            part = extract_partition(image, key["facts"]["disk"]["volumes"]["root"], root / name / f"{trainee}.ext4")
            out[name, trainee] = Variant(case, image, key, part)
    return out


def run(*args: str) -> str:
    """A real tool's output; a missing tool fails the test."""
    if shutil.which(args[0]) is None:
        pytest.fail(f"{args[0]} is not installed")
    done = subprocess.run(args, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    return done.stdout.decode("utf-8", "replace")


def run_bytes(*args: str) -> bytes:
    done = subprocess.run(args, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    return done.stdout


def istat_times(out: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Z][A-Za-z ]+):\t(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)", out, re.M))


def raw_inode(part: Path, ino: int) -> bytes:
    """Inode ``ino``'s 256 bytes where debugfs says it lives."""
    found = re.search(r"located at block (\d+), offset (0x[0-9a-f]+)", run("debugfs", "-R", f"imap <{ino}>", str(part)))
    assert found, ino
    block_size = int(re.search(r"Block size:\s+(\d+)", run("dumpe2fs", "-h", str(part))).group(1))  # type: ignore[union-attr]
    with part.open("rb") as fh:
        fh.seek(int(found[1]) * block_size + int(found[2], 16))
        return fh.read(256)


def deletion_traits(part: Path, ino: int, parent: int, name: str) -> dict[str, object]:
    """What unlink left of inode ``ino`` (once named ``name`` in directory inode ``parent``), as the tools show it:
    the facts that hold on any real ext4, whatever its times and sizes."""
    istat = run("istat", str(part), str(ino))
    times = istat_times(istat)
    parent_times = istat_times(run("istat", str(part), str(parent)))
    stat = run("debugfs", "-R", f"stat <{ino}>", str(part))
    inode = raw_inode(part, ino)
    dtime, = struct.unpack_from("<I", inode, 0x14)
    ctime, = struct.unpack_from("<I", inode, 0x0C)
    # "(realloc)": TSK reads an htree's index bytes (hashes, block numbers) as deleted names pointing at inodes in
    # use; on any big directory, the kernel's too. They are no deletions.
    listing = [line for line in run("fls", "-r", "-d", "-p", str(part)).splitlines() if "(realloc)" not in line]
    return {
        "allocated": "Not Allocated" not in istat,
        "size": re.search(r"^size: (\d+)$", istat, re.M)[1],  # type: ignore[index]
        "links": re.search(r"^num of links: (\d+)$", istat, re.M)[1],  # type: ignore[index]
        "direct blocks": istat.split("Direct Blocks:", 1)[1].strip(),
        "blockcount": re.search(r"Blockcount: (\d+)", stat)[1],  # type: ignore[index]
        "extents": stat.split("EXTENTS:", 1)[1].strip(),
        "i_block": inode[0x28:0x28 + 60] == EMPTY_EXTENT_ROOT,
        "mtime is ctime": times["File Modified"] == times["Inode Modified"],
        "dtime is ctime's second": dtime == ctime != 0,
        "parent changed": parent_times["File Modified"] == parent_times["Inode Modified"]
        and ("at the free" if parent_times["Inode Modified"] == times["Inode Modified"] else
             "before the free" if parent_times["Inode Modified"] < times["Inode Modified"] else "after the free"),
        "fls -d": listing,
        "name in the directory": name.encode() in run_bytes("icat", str(part), str(parent)),
        "icat bytes": len(run_bytes("icat", str(part), str(ino))),
    }


def parent_inode(v: Variant, f: DiskFile) -> int:
    parent = f.path.rsplit("/", 1)[0]
    for line in run("fls", "-r", "-p", "-o", str(v.start(f.volume)), str(v.image)).splitlines():
        m = re.match(r"^d/d (\d+):\t(.*)$", line)
        if m and "/" + m[2] == parent:
            return int(m[1])
    raise AssertionError(parent)


# -- the inode, the name, the parent, as the tools see them ----------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_unlink_empties_the_inode_wipes_the_name_and_dates_the_parent(variants: dict, case: str) -> None:
    v = variants[case, "alice"]
    assert v.deleted(), "the case deletes a file on ext4"
    for f in v.deleted():
        ino = v.inode(f)
        traits = deletion_traits(v.root, ino, parent_inode(v, f), f.path.rsplit("/", 1)[1])
        assert traits["fls -d"] == [f"-/r * {ino}:\t$OrphanFiles/OrphanFile-{ino}"
                                    for f in v.deleted()], traits["fls -d"]
        del traits["fls -d"]
        parent = "before the free" if v.held(f) else "at the free"
        assert traits == {"allocated": False, "size": "0", "links": "0", "direct blocks": "", "blockcount": "0",
                          "extents": "", "i_block": True, "mtime is ctime": True, "dtime is ctime's second": True,
                          "parent changed": parent, "name in the directory": False, "icat bytes": 0}, f.id
        # The moments are the plan's: dtime (and istat's "Deleted" line) the free, the parent's ctime the unlink.
        istat = run("istat", "-z", "UTC", "-o", str(v.start()), str(v.image), str(ino))
        assert struct.unpack_from("<I", raw_inode(v.root, ino), 0x14)[0] == v.freed_at(f), f.id
        assert re.search(r"^Deleted:\t(.*) \(UTC\)$", istat, re.M), istat
        assert struct.unpack_from("<I", raw_inode(v.root, parent_inode(v, f)), 0x0C)[0] == f.deleted_at, f.id


@pytest.mark.parametrize("case", CASES)
def test_the_data_blocks_are_free_but_keep_their_bytes(variants: dict, case: str) -> None:
    """blkstat calls the old extent's blocks free; their bytes are the file's (so carving finds it)."""
    v = variants[case, "alice"]
    for f in v.deleted():
        history = disk.inode_history(v.image, v.inode(f), partition=v.partition())
        intact = history[history["size"] > 0].iloc[-1]
        data = b""
        for _, first, length in intact["extents"]:
            for block in (first, first + length - 1):
                assert "Not Allocated" in run("blkstat", "-o", str(v.start()), str(v.image), str(block)), block
            data += run_bytes("blkcat", "-o", str(v.start()), str(v.image), str(first), str(length))
        assert data[:len(f.content)] == f.content, f.id


def test_e2fsck_is_clean_and_debugfs_reads_the_journal(variants: dict) -> None:
    for v in variants.values():
        done = subprocess.run(["e2fsck", "-fn", str(v.root)], capture_output=True, text=True, check=False)
        assert done.returncode == 0 and len(done.stdout.splitlines()) == 6, done.stdout + done.stderr
        assert "Journal starts at block 0" in run("debugfs", "-R", "logdump -a", str(v.root))


# -- the journal keeps what unlink took -------------------------------------------------------------------------


def jls_sequence(jls: str, journal_block: int) -> int:
    """The sequence of the descriptor ``jls`` lists before ``journal_block``, which it must call an FS block."""
    sequence = None
    for line in jls.splitlines():
        m = re.match(r"^(\d+):\s+(?:Unallocated )?(.*)$", line)
        if not m:
            continue
        if desc := re.match(r"Descriptor Block \(seq: (\d+)\)", m[2]):
            sequence = int(desc[1])
        if int(m[1]) == journal_block:
            assert m[2].startswith("FS Block"), line
            assert sequence is not None
            return sequence
    raise AssertionError(f"jls does not list journal block {journal_block}")


@pytest.mark.parametrize("case", CASES)
def test_jcat_of_the_journal_holds_the_inode_before_deletion_and_blkcat_recovers_the_key_hash(variants: dict,
                                                                                            case: str) -> None:
    """Without dflab's reader: the journal block jls lists as a copy of the inode table block holds the inode with
    its size and extent; blkcat of that extent, cut to the size, is the file, for every trainee."""
    for trainee in TRAINEES:
        v = variants[case, trainee]
        jls = run("jls", "-o", str(v.start()), str(v.image))
        for f in v.deleted():
            ino = v.inode(f)
            history = disk.inode_history(v.image, ino, partition=v.partition())
            gone = history.iloc[-1]  # the free's transaction logged the emptied inode
            assert (gone["size"], gone["links"], gone["extents"]) == (0, 0, []), history
            assert gone["dtime"].timestamp() == v.freed_at(f) and gone["sequence"] > history["sequence"].min()
            intact = history[(history["size"] > 0) & (history["links"] == 1)].iloc[-1]
            assert intact["sequence"] < gone["sequence"]
            # Held: the unlink's own transaction in between logged the orphan, links 0 but size and extents whole.
            # (Later transactions that dirtied the same inode table block for a neighbour log that orphan again.)
            orphan = history[(history["size"] > 0) & (history["links"] == 0)]
            assert bool(len(orphan)) == v.held(f), history
            if v.held(f):
                assert intact["sequence"] < orphan["sequence"].iloc[0] < gone["sequence"]
                assert int(orphan["ctime"].iloc[0].timestamp()) == f.deleted_at
                assert orphan["extents"].iloc[0] == intact["extents"] and pd.isna(orphan["dtime"].iloc[0])
            imap = re.search(r"located at block (\d+), offset (0x[0-9a-f]+)",
                             run("debugfs", "-R", f"imap <{ino}>", str(v.root)))
            assert imap and int(imap[1]) == intact["fs_block"], (imap, intact)
            assert jls_sequence(jls, int(intact["journal_block"])) == intact["sequence"]
            copy = run_bytes("jcat", "-o", str(v.start()), str(v.image), str(intact["journal_block"]))
            inode = copy[int(imap[2], 16):int(imap[2], 16) + 256]
            size = struct.unpack_from("<I", inode, 4)[0] | struct.unpack_from("<I", inode, 0x6C)[0] << 32
            magic, entries, _, depth = struct.unpack_from("<HHHH", inode, 0x28)
            assert (magic, depth, struct.unpack_from("<H", inode, 0x1A)[0]) == (0xF30A, 0, 1), f.id
            assert size == len(f.content) == v.key["facts"]["disk"]["files"][f.id]["size"]
            data = b""
            for k in range(entries):
                _, length, hi, lo = struct.unpack_from("<IHHI", inode, 0x34 + 12 * k)
                data += run_bytes("blkcat", "-o", str(v.start()), str(v.image), str(hi << 32 | lo), str(length))
            assert hashlib.sha256(data[:size]).hexdigest() == v.key["facts"]["disk"]["files"][f.id]["sha256"]


@pytest.mark.parametrize("case", CASES)
def test_the_helpers_recover_the_name_and_the_content_the_key_holds(variants: dict, case: str,
                                                                    tmp_path: Path) -> None:
    for trainee in TRAINEES:
        v = variants[case, trainee]
        for f in v.deleted():
            ino, fact = v.inode(f), v.key["facts"]["disk"]["files"][f.id]
            names = disk.name_history(v.image, ino, partition=v.partition())
            assert set(names["path"]) == {f.path}, names
            jblock = str(names["journal_block"].iloc[-1])
            copy = disk.journal_block(v.image, int(jblock), partition=v.partition())
            jcat = run_bytes("jcat", "-o", str(v.start()), str(v.image), jblock)
            # TSK 4.11/4.12 step through csum_v3 tags at the wrong stride, so jcat may take a copy for an escaped one
            # and write jbd2's magic number over its first four bytes; the rest is the same block.
            assert copy[4:] == jcat[4:] and jcat[:4] in (copy[:4], bytes.fromhex("c03b3998")), jblock
            assert f.path.rsplit("/", 1)[1].encode() in copy
            assert disk.read_file(v.image, ino, partition=v.partition()) == b""  # the old lesson: icat reads nothing
            hashes = disk.recover_from_journal(v.image, ino, tmp_path / f"{trainee}.bin", partition=v.partition())
            assert hashes["sha256"] == fact["sha256"] == f.sha256, (trainee, f.id)
            assert (tmp_path / f"{trainee}.bin").read_bytes() == f.content
        payload = v.key["answers"]
        assert payload["payload_path"] in {f.path for f in v.deleted()}


def test_a_journal_without_the_old_copy_recovers_nothing(variants: dict, tmp_path: Path) -> None:
    """The helper trusts only committed copies: with the payload's pre-deletion copies zeroed in the log, it says so
    in one line instead of returning the emptied inode's zero bytes (so the recovery tests can fail)."""
    v = variants["nightjar", "alice"]
    f = v.deleted()[0]
    history = disk.inode_history(v.image, v.inode(f), partition=v.partition())
    journal = disk.journal(v.image, partition=v.partition())
    block_size = len(disk.journal_block(v.image, 0, partition=v.partition()))
    first = re.search(r"\(0(?:-\d+)?\):(\d+)", run("debugfs", "-R", "stat <8>", str(v.root)).split("EXTENTS:")[1])
    assert first
    damaged = tmp_path / "damaged.img"
    shutil.copy(v.image, damaged)
    with damaged.open("r+b") as fh:
        for jblock in journal[journal["fs_block"] == history["fs_block"].iloc[0]]["journal_block"]:
            fh.seek(v.start() * 512 + (int(first[1]) + int(jblock)) * block_size)
            fh.write(bytes(block_size))
    after = disk.inode_history(damaged, v.inode(f), partition=v.partition())
    assert after.empty or (after["size"] == 0).all(), after
    with pytest.raises(disk.EvidenceError, match=f"no copy of inode {v.inode(f)} from before"):
        disk.recover_from_journal(damaged, v.inode(f), tmp_path / "out.bin", partition=v.partition())


# -- the kernel's own deletion, compared ------------------------------------------------------------------------


@contextmanager
def mounted(image: Path, where: Path) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.fail("the kernel reference runs as root with util-linux mount (loop devices): run the suite as root")
    where.mkdir()
    done = subprocess.run(["mount", "-t", "ext4", "-o", "loop", str(image), str(where)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, f"the kernel refused to mount a fresh mkfs.ext4: {done.stderr.strip()}"
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_the_generated_deletion_matches_what_the_kernel_leaves(variants: dict, tmp_path: Path) -> None:
    """mkfs.ext4, a loop mount, a file written and removed (nobody holding it), unmounted: the same traits as a
    generated payload nobody held (Kestrel's)."""
    reference = tmp_path / "kernel.ext4"
    with reference.open("wb") as fh:
        fh.truncate(32 * 1024 * 1024)
    run("mkfs.ext4", "-q", "-F", str(reference))
    with mounted(reference, tmp_path / "mnt") as mnt:
        home = mnt / "home" / "user" / "Downloads"
        home.mkdir(parents=True)
        (home / "notes.txt").write_bytes(b"kept\n")
        payload_bytes = os.urandom(27103)
        (home / "payload").write_bytes(payload_bytes)
        (home / "zz-after.txt").write_bytes(b"kept too\n")
        os.sync()
        (home / "payload").unlink()
        os.sync()
    listing = run("fls", "-r", "-p", str(reference))
    parent = int(re.search(r"^d/d (\d+):\thome/user/Downloads$", listing, re.M)[1])  # type: ignore[index]
    orphan = int(re.search(r"^-/r \* (\d+):\t\$OrphanFiles", run("fls", "-r", "-d", str(reference)), re.M)[1])  # type: ignore[index]
    kernel = deletion_traits(reference, orphan, parent, "payload")
    assert kernel["fls -d"] == [f"-/r * {orphan}:\t$OrphanFiles/OrphanFile-{orphan}"]
    # The readers lab 02 teaches with get the name and the bytes back from the kernel's own journal too.
    assert set(disk.name_history(reference, orphan)["path"]) == {"/home/user/Downloads/payload"}
    disk.recover_from_journal(reference, orphan, tmp_path / "recovered")
    assert (tmp_path / "recovered").read_bytes() == payload_bytes
    v = variants["kestrel", "alice"]
    payload = v.case.file("payload")
    assert not v.held(payload), "Kestrel's payload is removed with no process holding it"
    mine = deletion_traits(v.root, v.inode(payload), parent_inode(v, payload), payload.path.rsplit("/", 1)[1])
    mine["fls -d"] = [re.sub(r"\d+", "N", line) for line in mine["fls -d"]]  # type: ignore[union-attr]
    kernel["fls -d"] = [re.sub(r"\d+", "N", line) for line in kernel["fls -d"]]  # type: ignore[union-attr]
    assert mine == kernel


CLOCK_REALTIME_COARSE = 5  # <linux/time.h>; Python's time module names no constant for it
"""The clock the kernel stamps an inode's times from (a multigrain file system hands out a later one only to an
inode whose times someone read, or when another stamp moved the floor), read just before an unlink so that the
unlink's stamps cannot be earlier."""


def inode_ns(inode: bytes, seconds_at: int, extra_at: int) -> int:
    """An inode time in nanoseconds (before 2038: the extra field's epoch bits are 0)."""
    return struct.unpack_from("<I", inode, seconds_at)[0] * 10**9 + (struct.unpack_from("<I", inode, extra_at)[0] >> 2)


def orphan_traits(inode: bytes, parent: bytes, superblock: bytes, ino: int, size: int) -> dict[str, object]:
    """What a file unlinked while held looks like before its holder ends: its inode, its parent directory's inode
    and the superblock (1024 bytes), as raw bytes (from the device, or from a journal copy).

    ext4's unlink stamps the parent directory's ctime and then, after putting the inode on the orphan list, the
    inode's ctime: two readings of the clock in one call. They are usually equal, but a tick, or on a multigrain
    kernel (6.13+) any fine-grained stamp handed out meanwhile on the machine, may fall between them, so what the
    kernel guarantees is the order, not equality."""
    magic, entries = struct.unpack_from("<HH", inode, 0x28)
    return {
        "links": struct.unpack_from("<H", inode, 0x1A)[0],
        "size intact": (struct.unpack_from("<I", inode, 4)[0] | struct.unpack_from("<I", inode, 0x6C)[0] << 32)
        == size,
        "extents": magic == 0xF30A and entries > 0,
        "next orphan (i_dtime)": struct.unpack_from("<I", inode, 0x14)[0],
        "ctime not before the parent's": inode_ns(inode, 0x0C, 0x84) >= inode_ns(parent, 0x0C, 0x84),
        "mtime before ctime": inode_ns(inode, 0x10, 0x88) < inode_ns(inode, 0x0C, 0x84),
        "s_last_orphan is it": struct.unpack_from("<I", superblock, 0xE8)[0] == ino,
    }


def journal_copy(v: Variant, sequence: int, fs_block: int) -> bytes:
    """The copy of ``fs_block`` that transaction ``sequence`` logged, read with the helpers lab 02 teaches."""
    log = disk.journal(v.image, partition=v.partition())
    row = log[(log["sequence"] == sequence) & (log["fs_block"] == fs_block)]
    assert len(row) == 1, (sequence, fs_block, log[log["sequence"] == sequence])
    return disk.journal_block(v.image, int(row["journal_block"].iloc[0]), partition=v.partition())


def block_size(part: Path) -> int:
    return int(re.search(r"Block size:\s+(\d+)", run("dumpe2fs", "-h", str(part)))[1])  # type: ignore[index]


def imap(part: Path, ino: int) -> tuple[int, int]:
    found = re.search(r"located at block (\d+), offset (0x[0-9a-f]+)", run("debugfs", "-R", f"imap <{ino}>", str(part)))
    assert found, ino
    return int(found[1]), int(found[2], 16)


def test_a_held_file_is_an_orphan_until_its_holder_ends_as_the_kernel_leaves_it(variants: dict,
                                                                              tmp_path: Path) -> None:
    """mkfs.ext4, a loop mount, a file removed while a process (sleep) holds it open: after a sync the inode is an
    orphan with its size and extents; once the holder is killed, synced and unmounted it is freed with dtime =
    mtime = ctime later than the parent's change. Nightjar's payload (the implant runs from it) matches both
    moments: the orphan as its unlink transaction logged it, the freed inode as the image holds it."""
    reference = tmp_path / "kernel.ext4"
    with reference.open("wb") as fh:
        fh.truncate(32 * 1024 * 1024)
    run("mkfs.ext4", "-q", "-F", str(reference))
    payload_bytes = os.urandom(27103)
    with mounted(reference, tmp_path / "mnt") as mnt:
        home = mnt / "home" / "user" / "Downloads"
        home.mkdir(parents=True)
        (home / "payload").write_bytes(payload_bytes)
        ino, parent = (home / "payload").stat().st_ino, home.stat().st_ino
        os.sync()
        with (home / "payload").open("rb") as held:
            holder = subprocess.Popen(["sleep", "600"], stdin=held)  # noqa: S607 - coreutils
        try:
            before_unlink = time.clock_gettime_ns(CLOCK_REALTIME_COARSE)
            (home / "payload").unlink()
            after_unlink = time.time_ns()
            os.sync()
            bs = block_size(reference)
            block, offset = imap(reference, ino)
            pblock, poffset = imap(reference, parent)
            raw = reference.read_bytes()
            inode, parent_inode_bytes = raw[block * bs + offset:][:256], raw[pblock * bs + poffset:][:256]
            kernel_orphan = orphan_traits(inode, parent_inode_bytes, raw[1024:2048], ino, len(payload_bytes))
            assert re.search(rf"^First orphan inode:\s+{ino}$", run("dumpe2fs", "-h", str(reference)), re.M)
        finally:
            holder.kill()
            holder.wait()
        os.sync()
    assert "First orphan inode" not in run("dumpe2fs", "-h", str(reference))
    kernel = deletion_traits(reference, ino, parent, "payload")
    assert kernel_orphan == {"links": 0, "size intact": True, "extents": True, "next orphan (i_dtime)": 0,
                             "ctime not before the parent's": True, "mtime before ctime": True,
                             "s_last_orphan is it": True}
    # Both ctimes come from the unlink call, whichever clock readings it took, not from the sync or the free.
    assert before_unlink <= inode_ns(parent_inode_bytes, 0x0C, 0x84) <= inode_ns(inode, 0x0C, 0x84) <= after_unlink
    assert kernel["parent changed"] == "before the free", kernel

    v = variants["nightjar", "alice"]
    payload = v.case.file("payload")
    assert v.held(payload), "Nightjar's implant runs from its payload"
    mine_ino, mine_parent = v.inode(payload), parent_inode(v, payload)
    history = disk.inode_history(v.image, mine_ino, partition=v.partition())
    orphan = history[(history["size"] > 0) & (history["links"] == 0)].iloc[0]  # the unlink's own transaction
    sequence = int(orphan["sequence"])
    block, offset = imap(v.root, mine_ino)
    pblock, poffset = imap(v.root, mine_parent)
    bs = block_size(v.root)  # the superblock is the file system's bytes 1024-2047, in block 0 or 1
    superblock = journal_copy(v, sequence, 1024 // bs)[1024 % bs:1024 % bs + 1024]
    mine_inode = journal_copy(v, sequence, block)[offset:offset + 256]
    mine_parent_inode = journal_copy(v, sequence, pblock)[poffset:poffset + 256]
    mine_orphan = orphan_traits(mine_inode, mine_parent_inode, superblock, mine_ino, len(payload.content))
    assert mine_orphan == kernel_orphan
    # The writer stamps one unlink with one clock reading: the kernel's usual case, and never a ctime from another
    # moment (the write, or the free).
    assert inode_ns(mine_inode, 0x0C, 0x84) == inode_ns(mine_parent_inode, 0x0C, 0x84)
    assert "First orphan inode" not in run("dumpe2fs", "-h", str(v.root))
    mine = deletion_traits(v.root, mine_ino, mine_parent, payload.path.rsplit("/", 1)[1])
    for traits in (mine, kernel):
        traits["fls -d"] = [re.sub(r"\d+", "N", line) for line in traits["fls -d"]]  # type: ignore[union-attr]
    assert mine == kernel


# -- FAT keeps FAT's semantics ----------------------------------------------------------------------------------


def test_fat_marks_the_entry_0xe5_frees_the_chain_and_keeps_start_and_size(variants: dict) -> None:
    """A deleted FAT file: its 8.3 entry starts with 0xE5 and keeps its first cluster and size, and its clusters are
    0 (free) in the FAT, which is why icat still reads a one-cluster note whole."""
    for (_, trainee), v in variants.items():
        fat = {vol.id for vol in v.case.disk.volumes if vol.fs == "fat32"}
        gone = [f for f in v.case.disk.files if f.volume in fat and f.deleted_at is not None and not f.is_dir]
        assert gone, "every bundled case deletes a file on its FAT32 volume"
        for f in gone:
            start = v.start(f.volume)
            ino = v.inode(f)
            istat = run("istat", "-o", str(start), str(v.image), str(ino))
            assert "Not Allocated" in istat and f"Size: {len(f.content)}\n" in istat, istat
            sector = int(istat.split("Sectors:", 1)[1].split()[0])
            with v.image.open("rb") as fh:
                fh.seek(start * 512)
                boot = fh.read(512)
                per_cluster, reserved, fats, fat_size = boot[13], *struct.unpack_from("<HB", boot, 14), \
                    struct.unpack_from("<I", boot, 36)[0]
                cluster = (sector - reserved - fats * fat_size) // per_cluster + 2
                fh.seek(start * 512 + reserved * 512 + 4 * cluster)
                assert struct.unpack("<I", fh.read(4))[0] & 0x0FFFFFFF == 0, (trainee, f.id)  # free in the FAT
            parent = f.path.rsplit("/", 1)[0]
            listing = run("fls", "-r", "-p", "-o", str(start), str(v.image))
            found = re.search(rf"^d/d (\d+):\t{re.escape(parent.strip('/'))}$", listing, re.M)
            directory = run_bytes("icat", "-o", str(start), str(v.image), found[1] if parent and found else "2")
            entries = [directory[k:k + 32] for k in range(0, len(directory), 32)]
            short = [e for e in entries if e[0] == 0xE5 and e[11] != 0x0F  # 8.3 entries, not long-name slots
                     and (struct.unpack_from("<H", e, 20)[0] << 16 | struct.unpack_from("<H", e, 26)[0]) == cluster]
            assert [struct.unpack_from("<I", e, 28)[0] for e in short] == [len(f.content)], (trainee, f.id)
            assert run_bytes("icat", "-o", str(start), str(v.image), str(ino)) == f.content
