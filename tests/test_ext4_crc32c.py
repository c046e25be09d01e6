"""ext4's checksums come from e2fsprogs' own CRC32C when libext2fs is there, and from Python otherwise: the two give
the same value for every input, so an image does not depend on which one a machine has (dflab.evidence.disk.ext4
.crc32c)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

from dflab.evidence.disk.ext4 import crc32c as c

ROOT = Path(__file__).resolve().parents[1]


def _inputs() -> list[tuple[int, bytes]]:
    r = random.Random(14)
    out = [(0, b""), (0xFFFFFFFF, b"123456789"), (0, bytes(4096)), (0x1234, bytes(513)),
           (0xFFFFFFFF, b"\x01" + bytes(3000) + b"\x02" + bytes(600))]
    for size in (1, 4, 7, 8, 15, 256, 1000, 4084, 4096, 70_000):
        data = bytearray(r.randbytes(size))
        if size > 600:  # a metadata block: names, then zeros to its end
            data[size // 3:] = bytes(size - size // 3)
        out.append((r.getrandbits(32), bytes(data)))
    return out


def test_the_native_and_the_python_checksums_agree():
    assert c.native(), f"{c.LIBEXT2FS} (e2fsprogs) did not load: install-deps.sh installs e2fsprogs"
    for seed, data in _inputs():
        assert c.crc32c(seed, data) == c.python_crc32c(seed, data), (seed, len(data))
    # the value Castagnoli's check input has (CRC-32C of "123456789" is 0xE3069283 with the final inversion)
    assert c.crc32c(0xFFFFFFFF, b"123456789") ^ 0xFFFFFFFF == 0xE3069283
    assert c.crc32c(7, bytearray(b"abc")) == c.crc32c(7, memoryview(b"abc")) == c.python_crc32c(7, b"abc")


def test_a_wrong_native_function_is_refused(monkeypatch):
    """A library that answers differently from the reference (another polynomial) is never used."""
    import zlib

    class Library:
        ext2fs_crc32c_le = staticmethod(lambda crc, data, size: zlib.crc32(data, crc))

    monkeypatch.delenv("DFLAB_PURE_CRC32C", raising=False)
    monkeypatch.setattr(c.ctypes, "CDLL", lambda name: Library())
    assert c._native() is None


def test_the_pure_loop_can_be_forced_and_builds_the_same_image(tmp_path: Path):
    """``DFLAB_PURE_CRC32C=1`` gives the Python loop; an ext4 volume written with it is the same bytes."""
    code = ("import hashlib,sys;from pathlib import Path;from dflab.evidence.disk.ext4 import crc32c;"
            "from dflab.evidence.disk import write_disk;from tests.small_case import small_case;"
            "p=Path(sys.argv[1]);write_disk(small_case(),p);"
            "print(crc32c.native(), hashlib.sha256(p.read_bytes()).hexdigest())")
    seen = []
    for pure in ("1", ""):
        env = {**os.environ, "DFLAB_PURE_CRC32C": pure}
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / f"disk{pure}.img")], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=True)
        seen.append(done.stdout.split())
    assert [native for native, _ in seen] == ["False", "True"]
    assert seen[0][1] == seen[1][1]
