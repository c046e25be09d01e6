"""Open and verify Expert Witness (E01) images: whole sets only, and hashes checked on request.

::

    from dflab.forensics import ewf
    result = ewf.verify_e01("evidence/disk.E01")
    print(result)              # disk.E01: verified: MD5 and SHA-1 stored at acquisition match the media ...
    result.verified            # False when a hash differs or a chunk fails its checksum

An E01 records the hashes the acquisition computed over the media.  Opening
an image does not recompute them (that reads every byte), so a copy with
flipped bytes opens and lists like a good one: :func:`verify_e01` is the
check to run before relying on an image, as ``ewfverify`` is on the command
line.  Opening does check the set's structure (:mod:`dflab.forensics.ewf_layout`):
a missing, truncated or corrupt segment is one :class:`EvidenceError` line
naming the file, never a libewf traceback at some later read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pyewf

from dflab.errors import EvidenceError
from dflab.forensics.ewf_layout import BadChunk, Segment, bad_chunks, check_set
from dflab.forensics.hashing import new_hashers
from dflab.forensics.libyal import LibyalImage, reason

__all__ = ["E01Verification", "EwfImgInfo", "open_e01", "verify_e01"]

READ_CHUNK = 1024 * 1024
_HASH_NAMES = {"MD5": "md5", "SHA1": "sha1", "SHA256": "sha256"}  # libewf's names -> hashlib's
_SHOWN = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}


class EwfImgInfo(LibyalImage):
    """A pytsk3 image backed by libewf (pyewf), so TSK can read E01 files.

    The PyPI pytsk3 has no EWF support of its own, hence this bridge.  It also
    keeps E01 off the machine's libewf and TSK libraries, whose commands crash
    on every E01 on Debian 13 (DEVELOPERS.md, "TSK on E01").
    """

    def __init__(self, ewf_handle: pyewf.handle, path: str = "") -> None:
        super().__init__(ewf_handle, path, "E01")


@dataclass(frozen=True)
class E01Verification:
    """What :func:`verify_e01` found: the stored and recomputed hashes, and the chunks that fail their checksum.

    ``stored`` holds the hashes the acquisition wrote into the image (``md5``,
    ``sha1`` when it computed one), ``computed`` the same algorithms over the
    media as read now; ``bad_chunks`` lists the sectors whose stored chunk
    checksum fails, with the segment file holding them (what ``ewfverify``
    calls sector validation errors).
    """

    path: str
    segments: tuple[str, ...]
    media_size: int
    stored: dict[str, str]
    computed: dict[str, str]
    bad_chunks: tuple[BadChunk, ...]

    @property
    def mismatched(self) -> tuple[str, ...]:
        """The algorithms whose stored and computed hashes differ."""
        return tuple(name for name, value in self.stored.items() if self.computed.get(name) != value)

    @property
    def verified(self) -> bool:
        """True only when a hash was stored, every stored hash matches, and every chunk checks out."""
        return bool(self.stored) and not self.mismatched and not self.bad_chunks

    def __str__(self) -> str:
        name = Path(self.path).name
        size = f"{self.media_size} bytes of media in {len(self.segments)} segment(s)"
        if self.verified:
            names = " and ".join(_SHOWN.get(n, n) for n in self.stored)
            verb = "match" if len(self.stored) > 1 else "matches"
            return f"{name}: verified: the {names} stored at acquisition {verb} the media ({size})"
        problems = [f"{_SHOWN.get(n, n)} stored {self.stored[n]} but the media hashes to {self.computed[n]}"
                    for n in self.mismatched]
        if not self.stored:
            problems.append("no hash was stored at acquisition, so nothing can be verified")
        if self.bad_chunks:
            where = ", ".join(f"sectors {c.first_sector}-{c.last_sector} in {c.segment}" for c in self.bad_chunks[:3])
            more = f" and {len(self.bad_chunks) - 3} more" if len(self.bad_chunks) > 3 else ""
            problems.append(f"{len(self.bad_chunks)} chunk(s) fail their checksum: {where}{more}")
        return f"{name}: NOT verified: {'; '.join(problems)} ({size})"


def open_e01(path: str | os.PathLike[str]) -> EwfImgInfo:
    """Open the E01 set ``path`` belongs to (``.E01``, ``.E02``, ... beside it), after checking its structure."""
    target = Path(path)
    return _open_checked(target, check_set(target))


def verify_e01(path: str | os.PathLike[str]) -> E01Verification:
    """Recompute the hashes an E01 stored at acquisition and check every chunk's checksum.

    Reads the whole media once (every stored algorithm in the same pass) and
    the segment files once; raises :class:`EvidenceError` for a set that
    cannot be opened at all (missing, truncated or corrupt segment).
    """
    target = Path(path)
    segments = check_set(target)
    image = _open_checked(target, segments)
    handle: pyewf.handle = image.handle
    try:
        stored = {_HASH_NAMES[k.upper()]: v.lower() for k, v in (handle.get_hash_values() or {}).items()
                  if k.upper() in _HASH_NAMES and v}
        media_size = int(handle.get_media_size())
        hashers = new_hashers(stored or ("md5",))
        offset = 0
        while offset < media_size:
            try:
                data = handle.read_buffer_at_offset(min(READ_CHUNK, media_size - offset), offset)
            except OSError as exc:
                raise EvidenceError(f"E01 media unreadable at byte offset {offset}: {reason(exc)}",
                                    str(target)) from exc
            if not data:
                raise EvidenceError(f"E01 media ends at byte {offset}, short of its {media_size} bytes", str(target))
            for hasher in hashers.values():
                hasher.update(data)
            offset += len(data)
        damaged = bad_chunks(segments, int(handle.get_chunk_size()), media_size, int(handle.get_bytes_per_sector()))
    finally:
        image.close()
    return E01Verification(str(target), tuple(s.path.name for s in segments), media_size, stored,
                           {name: h.hexdigest() for name, h in hashers.items()}, tuple(damaged))


def _open_checked(target: Path, segments: list[Segment]) -> EwfImgInfo:
    handle = pyewf.handle()
    try:
        handle.open([str(s.path) for s in segments])
    except OSError as exc:
        raise EvidenceError(f"libewf cannot open the E01: {reason(exc)}", str(target)) from exc
    return EwfImgInfo(handle, str(target))
