"""Every deleted name TSK lists on a bundled case's root is one the story explains (#14: evidence an examiner believes).

On the installed system's big directories (htrees), ``fls -r -d`` listed names such as ``var/lib/dpkg/info/^``
pointing at inodes 1, 2, 6.  They are no leftover of the writer: TSK has no notion of an htree and parses the dx
root's and dx nodes' (hash, logical block) pairs, which sit in the slack of the ``..`` record or of the node's empty
record, as deleted entries; a pair's block number becomes the "inode", the next hash the record length and name.
Linux and e2fsprogs write the very same bytes (``mke2fs -d`` then ``e2fsck -fD`` on a few thousand names shows
them too), so a real Debian disk shows them alike.  Anything else deleted must be a file the story deleted: a
stale record left in a leaf, a buffer reused unzeroed, a name with a slash, would be a tell.  The image stays one
``e2fsck -fn`` accepts.
"""

from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import pytest
import pytsk3

from dflab.evidence.disk import write_disk
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.resolve import resolve
from tests.haystack import haystack_spec

pytestmark = pytest.mark.xdist_group("ext4_deleted_names")

FLS_LINE = re.compile(r"^\S+ \* (\d+)(?:\(realloc\))?:\t(.*)$")
DIRS = (pytsk3.TSK_FS_META_TYPE_DIR, pytsk3.TSK_FS_META_TYPE_VIRT_DIR)  # $OrphanFiles is virtual
DX_ENTRY = re.compile(r"Entry #\d+: Hash 0x[0-9a-f]+, block (\d+)")


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False)
    assert done.returncode == 0, f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}"
    return done.stdout


def _deleted_names(image: Path, offset: int) -> list[tuple[str, int, bytes, int]]:
    """(directory path, its inode, name, inode) of every unallocated name TSK finds, walking every directory."""
    fs = pytsk3.FS_Info(pytsk3.Img_Info(str(image)), offset=offset)
    out: list[tuple[str, int, bytes, int]] = []
    pending = [("/", fs.info.root_inum)]
    while pending:
        path, ino = pending.pop()
        for entry in fs.open_dir(inode=ino):
            name = entry.info.name
            if name.name in (b".", b".."):
                continue
            if name.flags & pytsk3.TSK_FS_NAME_FLAG_UNALLOC:
                out.append((path, ino, name.name, name.meta_addr))
            elif entry.info.meta is not None and entry.info.meta.type in DIRS:
                pending.append((path.rstrip("/") + "/" + name.name.decode("utf-8", "replace"), name.meta_addr))
    return out


def _dx_blocks(image: Path, offset: int, ino: int) -> set[int]:
    """The logical blocks an htree's index blocks name (empty for a linear directory), as debugfs reads them."""
    text = _run("debugfs", "-R", f"htree <{ino}>", f"{image}?offset={offset}")
    return {int(n) for n in DX_ENTRY.findall(text)}


def _index_blocks(image: Path, offset: int, ino: int, named: set[int]) -> list[bytes]:
    """The directory's index blocks: the dx root (block 0) and every named block that is a dx node."""
    data = subprocess.run(["icat", "-o", str(offset // 512), str(image), str(ino)], capture_output=True,
                          check=True).stdout
    bs = 4096
    blocks = [data[k:k + bs] for k in range(0, len(data), bs)]
    nodes = [b for n, b in enumerate(blocks) if n in named and b[:8] == struct.pack("<IHBB", 0, bs, 0, 0)]
    return [blocks[0], *nodes] if named else []


def _misread_index(blocks: list[bytes], ino: int, name: bytes) -> bool:
    """Whether TSK's record (``ino``, ``name``) is the bytes of a (hash, block) pair in an index block."""
    want = struct.pack("<I", ino)
    for block in blocks:
        for at in range(24, len(block) - 8, 4):
            if block[at:at + 4] == want and block[at + 8:at + 8 + block[at + 6]].split(b"\0")[0] == name:
                return True  # TSK keeps a name up to its first NUL
    return False


@pytest.mark.parametrize("name", ["nightjar", "kestrel"])
def test_deleted_names_are_the_storys_or_tsk_reading_an_htree_index(name: str, tmp_path: Path):
    spec = haystack_spec(name)
    case = resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, "t1"), "t1")
    image = tmp_path / "disk.img"
    facts = write_disk(case, image)
    offset = facts["volumes"]["root"]["start_sector"] * 512
    story = {f["inode"]: f["path"] for f in facts["files"].values() if f["volume"] == "root" and f["deleted"]}
    assert story, f"{name}: the story deletes no file on its root"

    found = _deleted_names(image, offset)
    fls = [FLS_LINE.match(line) for line in _run("fls", "-r", "-d", "-o", str(offset // 512), str(image)).splitlines()]
    assert all(fls), f"{name}: fls printed a line this test cannot read"
    assert len(fls) == len(found), f"{name}: fls -r -d lists {len(fls)} deleted names, the walk {len(found)}"

    dx: dict[int, tuple[set[int], list[bytes]]] = {}
    unexplained = []
    for parent, parent_ino, entry_name, ino in found:
        assert b"/" not in entry_name, f"{name}: deleted name {entry_name!r} in {parent} holds a slash"
        if parent == "/$OrphanFiles" or ino in story:
            assert ino in story, f"{name}: orphan inode {ino} is no file the story deleted"
            continue
        if parent_ino not in dx:
            named = _dx_blocks(image, offset, parent_ino)
            dx[parent_ino] = (named, _index_blocks(image, offset, parent_ino, named))
        named, index = dx[parent_ino]
        if ino not in named or not _misread_index(index, ino, entry_name):  # not a dx pair read as a record
            unexplained.append(f"{parent.rstrip('/')}/{entry_name!r} -> inode {ino}")
    assert not unexplained, f"{name}: deleted names no story deletion explains: {unexplained[:10]}"

    fsck = subprocess.run(["e2fsck", "-fn", f"{image}?offset={offset}"], capture_output=True, text=True, check=False)
    assert fsck.returncode == 0, f"{name}: e2fsck -fn: {fsck.stdout[-2000:]}{fsck.stderr[-500:]}"


def test_e2fsprogs_own_htree_reads_the_same_way_in_tsk(tmp_path: Path):
    """The rule above is no excuse: a directory e2fsprogs indexes (``e2fsck -fD``) shows TSK the same phantoms."""
    names = tmp_path / "src" / "info"
    names.mkdir(parents=True)
    for k in range(3000):
        (names / f"libfile-{k}.so.conf").touch()
    image = tmp_path / "real.img"
    _run("mke2fs", "-q", "-t", "ext4", "-b", "4096", "-E", "hash_seed=00005cc5-1111-2222-3333-444455556663",
         "-d", str(tmp_path / "src"), str(image), "64M")
    fsck = subprocess.run(["e2fsck", "-fyD", str(image)], capture_output=True, text=True, check=False)
    assert fsck.returncode in (0, 1), fsck.stdout  # 1: the directories were optimised, as asked
    found = _deleted_names(image, 0)
    assert found, "e2fsprogs' htree showed TSK no phantom name: the rule of the test above has lost its ground"
    for parent, parent_ino, entry_name, ino in found:
        named = _dx_blocks(image, 0, parent_ino)
        assert ino in named and _misread_index(_index_blocks(image, 0, parent_ino, named), ino, entry_name), (
            f"{parent}/{entry_name!r} -> {ino} is no dx pair: the classifier misses e2fsprogs' own index blocks")
