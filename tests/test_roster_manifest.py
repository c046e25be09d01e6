"""Rosters and manifests: bad lines name file:line; verify names every altered, truncated or missing file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dflab.errors import DflabError, EvidenceError
from dflab.evidence.manifest import load_manifest, sha256_file, verify, write_manifest
from dflab.roster import read_roster


def _roster(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "roster.csv"
    p.write_text(text)
    return p


def test_roster_reads_ids(tmp_path: Path):
    got = read_roster(_roster(tmp_path, "id,name,email\nalice,Alice A,a@x\nbob,,\n"))
    assert [t.id for t in got] == ["alice", "bob"] and got[0].name == "Alice A"


@pytest.mark.parametrize(("text", "message"), [
    ("id\nalice\nalice\n", r"roster.csv:3: duplicate trainee id 'alice' \(first on line 2\)"),
    ("id\nalice\n\"\"\n", r"roster.csv:3: empty trainee id"),
    ("id\nAl ice\n", r"roster.csv:2: trainee id 'Al ice' must be"),
    ("id\n../etc\n", r"roster.csv:2: trainee id '../etc' must be"),
    ("name\nalice\n", r"roster.csv:1: roster needs a header line with an 'id' column"),
    ("id\n", r"roster lists no trainees"),
])
def test_bad_roster_lines(tmp_path: Path, text: str, message: str):
    with pytest.raises(DflabError, match=message):
        read_roster(_roster(tmp_path, text))


def test_manifest_round_trip_and_tamper(tmp_path: Path):
    ev = tmp_path / "evidence"
    (ev / "sub").mkdir(parents=True)
    (ev / "a.bin").write_bytes(b"A" * 5000)
    (ev / "sub" / "b.bin").write_bytes(b"B" * 10)
    (ev / "c.bin").write_bytes(b"C")
    write_manifest(ev, "s", "v")
    assert [f["path"] for f in load_manifest(ev)["files"]] == ["a.bin", "c.bin", "sub/b.bin"]
    assert verify(ev) == []
    with (ev / "a.bin").open("r+b") as fh:  # flip one byte, same size
        fh.seek(100)
        fh.write(b"X")
    (ev / "sub" / "b.bin").write_bytes(b"B" * 9)  # truncated
    (ev / "c.bin").unlink()
    (ev / "extra.txt").write_text("planted")
    problems = {m.path: m.problem for m in verify(ev)}
    assert problems == {"a.bin": "sha256 differs (altered)", "c.bin": "missing",
                        "sub/b.bin": "size 9 != 10 (truncated or altered)", "extra.txt": "not in manifest"}


def test_corrupt_manifest_is_one_clear_error(tmp_path: Path):
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(EvidenceError, match="manifest is not valid JSON"):
        verify(tmp_path)
    with pytest.raises(EvidenceError, match="no manifest.json"):
        verify(tmp_path / "nowhere")


def _sparse(path: Path, size: int, *writes: tuple[int, bytes]) -> Path:
    with path.open("wb") as fh:
        fh.truncate(size)
        for offset, data in writes:
            fh.seek(offset)
            fh.write(data)
    return path


@pytest.mark.parametrize("shape", ["empty", "dense", "all hole", "data between holes", "trailing hole"])
def test_sparse_files_hash_as_if_read_byte_by_byte(tmp_path: Path, shape: str) -> None:
    """Holes are hashed from zeros, not read: the digest must be the plain SHA-256 of every byte."""
    blob = os.urandom(70_001)
    path = {
        "empty": lambda p: _sparse(p, 0),
        "dense": lambda p: _sparse(p, 0, (0, os.urandom(5_000_003))),
        "all hole": lambda p: _sparse(p, 9_000_001),
        "data between holes": lambda p: _sparse(p, 20_000_000, (8_000_123, blob), (15_999_999, b"x")),
        "trailing hole": lambda p: _sparse(p, 12_345_678, (0, blob)),
    }[shape](tmp_path / "f")
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
