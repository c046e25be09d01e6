"""$Secure: the volume's shared security descriptors ($SDS) and their two indexes ($SII by id, $SDH by hash).

NTFS 3.x stores each distinct descriptor once; a file's $STANDARD_INFORMATION names it by security id. $SDS holds
16-byte aligned entries (hash, id, offset, length, descriptor) in 256 KiB blocks, each block followed by its mirror;
the indexes carry the same 20-byte header as their data. The few descriptors a fresh Windows volume's files use
are built here from the shared MS-DTYP encoder of the registry writer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dflab.evidence.windows.ntfs.index import Entry
from dflab.evidence.windows.registry.security import ADMINISTRATORS, SYSTEM, USERS, Ace, descriptor

FILE_ALL_ACCESS = 0x001F01FF
FILE_READ_EXECUTE = 0x001200A9
FILE_MODIFY = 0x001301BF
AUTHENTICATED_USERS = "S-1-5-11"
_OI_CI = 0x03
_INHERITED = 0x10
BLOCK = 0x40000
FIRST_ID = 0x100

METADATA = descriptor(ADMINISTRATORS, ADMINISTRATORS, [Ace(SYSTEM, FILE_ALL_ACCESS, 0),
                                                     Ace(ADMINISTRATORS, FILE_ALL_ACCESS, 0)])
"""NTFS's own files: SYSTEM and Administrators only."""
FOLDER = descriptor(ADMINISTRATORS, SYSTEM, [
    Ace(SYSTEM, FILE_ALL_ACCESS, _OI_CI), Ace(ADMINISTRATORS, FILE_ALL_ACCESS, _OI_CI),
    Ace(USERS, FILE_READ_EXECUTE, _OI_CI), Ace(AUTHENTICATED_USERS, FILE_MODIFY, _OI_CI)])
"""The root and folders: as a drive's root, inherited by what is created under it."""
FILE = descriptor(ADMINISTRATORS, SYSTEM, [
    Ace(SYSTEM, FILE_ALL_ACCESS, _INHERITED), Ace(ADMINISTRATORS, FILE_ALL_ACCESS, _INHERITED),
    Ace(USERS, FILE_READ_EXECUTE, _INHERITED), Ace(AUTHENTICATED_USERS, FILE_MODIFY, _INHERITED)],
    auto_inherited=True)
"""A file: the folder's ACEs, inherited."""
DESCRIPTORS = (METADATA, FOLDER, FILE)
METADATA_ID, FOLDER_ID, FILE_ID = FIRST_ID, FIRST_ID + 1, FIRST_ID + 2


def sd_hash(sd: bytes) -> int:
    """NTFS's descriptor hash: each little-endian 32-bit word added to the running hash rotated left by 3."""
    value = 0
    for (word,) in struct.iter_unpack("<I", sd[:len(sd) // 4 * 4]):
        value = (word + ((value << 3) | (value >> 29))) & 0xFFFFFFFF
    return value


@dataclass(frozen=True)
class Secure:
    sds: bytes
    sii: tuple[Entry, ...]
    sdh: tuple[Entry, ...]


def build(descriptors: tuple[bytes, ...] = DESCRIPTORS) -> Secure:
    """$SDS and the sorted entries of $SII and $SDH for ``descriptors``, ids from 0x100 in order."""
    block = bytearray()
    headers = []
    for i, sd in enumerate(descriptors):
        security_id, offset, hashed = FIRST_ID + i, len(block), sd_hash(sd)
        header = struct.pack("<IIQI", hashed, security_id, offset, 20 + len(sd))
        headers.append((hashed, security_id, header))
        block += header + sd
        block += bytes(-len(block) % 16)
    if len(block) > BLOCK:
        raise ValueError("security descriptors exceed one $SDS block")
    used = len(block)
    sds = bytes(block) + bytes(BLOCK - used) + bytes(block)
    sii = tuple(Entry(struct.pack("<I", sid), data=h) for _, sid, h in sorted(headers, key=lambda t: t[1]))
    sdh = tuple(Entry(struct.pack("<II", hashed, sid), data=h + "II".encode("utf-16-le"))
                for hashed, sid, h in sorted(headers))
    return Secure(sds[:BLOCK + used], sii, sdh)
