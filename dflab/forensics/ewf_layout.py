"""The structure of EWF-E01 segment files, read without libewf: sections, chunk tables, chunk checksums.

libewf is lenient by design: it opens a set with a segment missing or cut
short and fails only later, inside a read, with a message about an offset;
and it hands back a chunk whose checksum fails as if it were good.  For an
examiner both are wrong answers, so dflab checks the set itself before
libewf sees it (every segment present, in order, whole, with intact section
descriptors and chunk tables: cheap, only the small structures are read) and
can check every chunk's checksum on request (:func:`bad_chunks`, what
``ewfverify`` reports as "sector validation errors").

The format (EWF version 1, as EnCase 1-7, FTK Imager and ewfacquire write it;
Joachim Metz, "Expert Witness Compression Format specification"):

* a 13-byte file header: ``EVF 09 0D 0A FF 00``, ``01``, the segment number
  (uint16 LE), ``00 00``;
* a chain of sections, each a 76-byte descriptor -- type (16 bytes,
  NUL-padded), offset of the next descriptor (uint64), section size including
  the descriptor (uint64), 40 bytes of padding, Adler-32 of the first 72
  bytes -- ending in ``next`` (another segment follows) or ``done`` (the last);
* ``table`` sections: a 24-byte header (entry count uint32, padding, base
  offset uint64, padding, Adler-32 of the first 20 bytes), then one uint32
  per chunk (bit 31: compressed; the rest: offset from the base), then the
  Adler-32 of the entries.  A compressed chunk is a zlib stream (which checks
  its own Adler-32); a stored chunk is followed by its Adler-32.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dflab.errors import EvidenceError

__all__ = ["BadChunk", "EWF_SIGNATURE", "Section", "Segment", "bad_chunks", "check_set", "read_segment",
           "segment_path"]

EWF_SIGNATURE = b"EVF\x09\x0d\x0a\xff\x00"
_FILE_HEADER = 13
_DESCRIPTOR = 76
_TABLE_HEADER = 24
_COMPRESSED = 0x80000000
_OFFSET_MASK = 0x7FFFFFFF
_SEGMENT_EXTENSION = re.compile(r"^\.([EeSs])(\d\d|[A-Za-z]{2})$")


@dataclass(frozen=True)
class Section:
    """One section of a segment file: its type, where its descriptor starts, its size with the descriptor."""

    kind: str
    offset: int
    size: int


@dataclass(frozen=True)
class Segment:
    """One segment file: its number (from its own header) and its chain of sections."""

    path: Path
    number: int
    sections: tuple[Section, ...]

    @property
    def last(self) -> bool:
        """True for the set's last segment (its chain ends in ``done``, not ``next``)."""
        return self.sections[-1].kind == "done"


@dataclass(frozen=True)
class BadChunk:
    """A chunk whose stored checksum does not match its bytes: the media sectors it holds and its segment."""

    chunk: int
    first_sector: int
    last_sector: int
    segment: str
    reason: str


def segment_path(first: Path, number: int) -> Path:
    """The file name of segment ``number`` of the set starting at ``first`` (E01..E99, then EAA..ZZZ)."""
    match = _SEGMENT_EXTENSION.match(first.suffix)
    letter = match.group(1) if match else "E"
    if number <= 99:
        suffix = f"{letter}{number:02d}"
    else:
        index = number - 100
        suffix = (chr(ord(letter.upper()) + index // 676) + chr(ord("A") + index // 26 % 26)
                  + chr(ord("A") + index % 26))
    if letter.islower():
        suffix = suffix.lower()
    return first.with_suffix("." + suffix)


def check_set(first: Path) -> list[Segment]:
    """Read and check every segment of the set ``first`` begins; return them in order.

    Raises :class:`EvidenceError` naming the file at fault when a segment is
    missing (the one before it says more follow), out of order or renamed,
    truncated, or has a corrupt section descriptor or chunk table.
    """
    segments: list[Segment] = []
    path = first
    while True:
        if not path.is_file():
            previous = segments[-1].path.name
            raise EvidenceError(f"E01 segment {path.name} is missing: {previous} says more segments follow "
                                f"(an E01 set is read whole; copy every segment beside {first.name})", str(first))
        segment = read_segment(path)
        expected = len(segments) + 1
        if segment.number != expected:
            if expected == 1:
                raise EvidenceError(f"this is segment {segment.number} of an E01 set: open its first segment "
                                    f"({segment_path(path, 1).name})", str(path))
            raise EvidenceError(f"holds segment {segment.number} of an E01 set where segment {expected} belongs "
                                "(renamed, or segments of two sets mixed)", str(path))
        segments.append(segment)
        if segment.last:
            return segments
        path = segment_path(first, expected + 1)


def read_segment(path: Path) -> Segment:
    """Walk one segment file's section chain, checking every descriptor and chunk table (small reads only)."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            fh.seek(0)
            header = fh.read(_FILE_HEADER)
            if len(header) < _FILE_HEADER or header[:8] != EWF_SIGNATURE:
                raise EvidenceError("not an E01 (EWF) segment: the EVF signature is missing", str(path))
            number = struct.unpack("<H", header[9:11])[0]
            sections = tuple(_sections(fh, path, size))
            for section in sections:
                if section.kind == "table":
                    _check_table(fh, path, section)
    except OSError as exc:
        raise EvidenceError(f"cannot read E01 segment: {exc.strerror or exc}", str(path)) from exc
    return Segment(path, number, sections)


def bad_chunks(segments: list[Segment], chunk_size: int, media_size: int, bytes_per_sector: int) -> list[BadChunk]:
    """Every chunk of the set whose data fails its checksum (or will not decompress), in media order."""
    found: list[BadChunk] = []
    chunk = 0
    sectors_per_chunk = chunk_size // bytes_per_sector
    for segment in segments:
        with segment.path.open("rb") as fh:
            for start, end, compressed in _chunks(fh, segment):
                wanted = min(chunk_size, media_size - chunk * chunk_size)
                fh.seek(start)
                reason = _chunk_fault(fh.read(end - start), compressed, wanted)
                if reason is not None:
                    first = chunk * sectors_per_chunk
                    found.append(BadChunk(chunk, first, first + -(-wanted // bytes_per_sector) - 1,
                                          segment.path.name, reason))
                chunk += 1
    return found


# --------------------------------------------------------------------------- internals

def _sections(fh: BinaryIO, path: Path, size: int) -> Iterator[Section]:
    offset = _FILE_HEADER
    seen: set[int] = set()
    while True:
        fh.seek(offset)
        raw = fh.read(_DESCRIPTOR)
        if len(raw) < _DESCRIPTOR:
            raise EvidenceError(f"E01 segment is truncated: a section starts at byte {offset} but the file ends at "
                                f"byte {size} (an interrupted acquisition or copy)", str(path))
        if zlib.adler32(raw[:72]) != struct.unpack("<I", raw[72:76])[0]:
            raise EvidenceError(f"E01 segment is corrupt: the section descriptor at byte {offset} fails its "
                                "checksum", str(path))
        kind = raw[:16].rstrip(b"\0").decode("ascii", "replace")
        following, length = struct.unpack("<QQ", raw[16:32])
        if offset + length > size:
            raise EvidenceError(f"E01 segment is truncated: its {kind!r} section ends at byte {offset + length} "
                                f"but the file ends at byte {size} (an interrupted acquisition or copy)", str(path))
        yield Section(kind, offset, length)
        if kind in ("next", "done"):
            return
        seen.add(offset)
        if following in seen or following <= offset:
            raise EvidenceError(f"E01 segment is corrupt: the {kind!r} section at byte {offset} points back to "
                                f"byte {following}", str(path))
        offset = following


def _table(fh: BinaryIO, section: Section) -> tuple[int, list[int]]:
    """(base offset, raw entries) of a table section whose checksums were verified by :func:`_check_table`."""
    fh.seek(section.offset + _DESCRIPTOR)
    header = fh.read(_TABLE_HEADER)
    count = struct.unpack("<I", header[:4])[0]
    base = struct.unpack("<Q", header[8:16])[0]
    entries = list(struct.unpack(f"<{count}I", fh.read(4 * count)))
    return base, entries


def _check_table(fh: BinaryIO, path: Path, section: Section) -> None:
    fh.seek(section.offset + _DESCRIPTOR)
    header = fh.read(_TABLE_HEADER)
    if len(header) < _TABLE_HEADER or zlib.adler32(header[:20]) != struct.unpack("<I", header[20:24])[0]:
        raise EvidenceError(f"E01 segment is corrupt: the chunk table at byte {section.offset} fails its header "
                            "checksum", str(path))
    count = struct.unpack("<I", header[:4])[0]
    room = section.size - _DESCRIPTOR - _TABLE_HEADER
    if 4 * count > room:
        raise EvidenceError(f"E01 segment is corrupt: the chunk table at byte {section.offset} claims {count} "
                            f"entries, more than its section holds", str(path))
    entries = fh.read(4 * count)
    if room >= 4 * count + 4:  # EnCase 6+ and ewfacquire store the entries' checksum after them
        stored = struct.unpack("<I", fh.read(4))[0]
        if zlib.adler32(entries) != stored:
            raise EvidenceError(f"E01 segment is corrupt: the chunk table at byte {section.offset} fails its "
                                "checksum", str(path))


def _chunks(fh: BinaryIO, segment: Segment) -> Iterator[tuple[int, int, bool]]:
    """(start, end, compressed) file offsets of each chunk of one segment, in media order.

    A chunk ends where the next begins; the last chunk of a table ends with
    the section holding the chunk data (``sectors``, or the ``table`` itself
    in the oldest EnCase layouts).
    """
    for section in segment.sections:
        if section.kind != "table":
            continue
        base, entries = _table(fh, section)
        starts = [base + (entry & _OFFSET_MASK) for entry in entries]
        for index, start in enumerate(starts):
            end = starts[index + 1] if index + 1 < len(starts) else _section_end(segment, start)
            yield start, end, bool(entries[index] & _COMPRESSED)


def _section_end(segment: Segment, offset: int) -> int:
    for section in segment.sections:
        if section.offset <= offset < section.offset + section.size:
            return section.offset + section.size
    return offset


def _chunk_fault(data: bytes, compressed: bool, wanted: int) -> str | None:
    if compressed:
        try:
            plain = zlib.decompress(data)
        except zlib.error as exc:
            return f"compressed data does not decompress ({exc})"
        return None if len(plain) == wanted else f"decompresses to {len(plain)} bytes, not {wanted}"
    if len(data) < wanted + 4:
        return f"holds {len(data)} bytes, not {wanted} and a checksum"
    stored = struct.unpack("<I", data[wanted:wanted + 4])[0]
    return None if zlib.adler32(data[:wanted]) == stored else "Adler-32 checksum mismatch"
