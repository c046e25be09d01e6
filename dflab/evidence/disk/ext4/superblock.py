"""The superblock, the 64-byte group descriptors and the allocation bitmaps, with their checksums.

The feature set is e2fsprogs 1.47's ``mkfs.ext4`` default on Debian (mke2fs.conf's ext4 type):
has_journal ext_attr resize_inode dir_index filetype extent 64bit flex_bg sparse_super large_file
huge_file dir_nlink extra_isize metadata_csum, with ``signed_directory_hash`` and the default mount
options user_xattr and acl.  tests/test_ext4_mkfs_parity.py compares them with the real tool's.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dflab.errors import DflabError
from dflab.evidence.disk.ext4.crc32c import crc32c
from dflab.evidence.disk.ext4.geometry import (
    DESC_SIZE,
    FIRST_INO,
    FLEX_BG_SIZE,
    INODE_SIZE,
    JOURNAL_INO,
    Geometry,
)
from dflab.evidence.disk.ext4.inode import EXTRA_ISIZE

MAGIC = 0xEF53
COMPAT_HAS_JOURNAL, COMPAT_EXT_ATTR, COMPAT_RESIZE_INODE, COMPAT_DIR_INDEX = 0x4, 0x8, 0x10, 0x20
INCOMPAT_FILETYPE, INCOMPAT_EXTENTS, INCOMPAT_64BIT, INCOMPAT_FLEX_BG = 0x2, 0x40, 0x80, 0x200
RO_SPARSE_SUPER, RO_LARGE_FILE, RO_HUGE_FILE, RO_DIR_NLINK, RO_EXTRA_ISIZE, RO_METADATA_CSUM = (
    0x1, 0x2, 0x8, 0x20, 0x40, 0x400)
COMPAT = COMPAT_EXT_ATTR | COMPAT_RESIZE_INODE | COMPAT_DIR_INDEX  # | has_journal when there is one
INCOMPAT = INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG
RO_COMPAT = RO_SPARSE_SUPER | RO_LARGE_FILE | RO_HUGE_FILE | RO_DIR_NLINK | RO_EXTRA_ISIZE | RO_METADATA_CSUM
FLAGS_SIGNED_HASH = 0x1
DEFM_XATTR_USER, DEFM_ACL = 0x4, 0x8
HASH_HALF_MD4 = 1
JNL_BACKUP_BLOCKS = 1
CHECKSUM_CRC32C = 1
STATE_CLEAN = 1
ERRORS_CONTINUE = 1
BG_INODE_UNINIT, BG_BLOCK_UNINIT, BG_INODE_ZEROED = 0x1, 0x2, 0x4


def fs_seed(fs_uuid: bytes) -> int:
    """The metadata checksum seed: CRC32C of the file system UUID (no metadata_csum_seed feature)."""
    return crc32c(0xFFFFFFFF, fs_uuid)


@dataclass(frozen=True)
class SuperblockState:
    """The superblock fields that change while the file system lives."""

    free_blocks: int
    free_inodes: int
    mount_time: int  # seconds; 0 = never mounted
    write_time: int
    mount_count: int
    kbytes_written: int
    last_mounted: str
    clean: bool = True
    last_orphan: int = 0  # s_last_orphan: the head of the orphan list (unlinked inodes still held open)


@dataclass(frozen=True)
class Identity:
    """The superblock fields fixed at mkfs time."""

    uuid: bytes
    label: str
    hash_seed: bytes
    mkfs_time: int
    journal_i_block: bytes  # the journal inode's i_block, backed up in s_jnl_blocks
    journal_bytes: int
    overhead: int


def pack_superblock(geo: Geometry, ident: Identity, state: SuperblockState, group: int, where: str) -> bytes:
    """1024 bytes of superblock; backups (``group`` > 0) say which group holds them."""
    sb = bytearray(1024)
    label = ident.label.encode("utf-8")
    if len(label) > 16:
        raise DflabError(f"ext4 label {ident.label!r} is longer than 16 bytes", f"{where}.label")
    compat = COMPAT | (COMPAT_HAS_JOURNAL if ident.journal_bytes else 0)
    struct.pack_into("<IIIIIIIIIIIIIHhHHHHIIIIHHIHHIII16s16s64s", sb, 0, geo.inodes, geo.blocks & 0xFFFFFFFF,
                     geo.reserved_blocks & 0xFFFFFFFF, state.free_blocks & 0xFFFFFFFF, state.free_inodes,
                     geo.first_data_block, geo.log_block_size, geo.log_block_size, geo.blocks_per_group,
                     geo.blocks_per_group, geo.inodes_per_group, state.mount_time & 0xFFFFFFFF,
                     state.write_time & 0xFFFFFFFF, state.mount_count, -1, MAGIC,
                     STATE_CLEAN if state.clean else 0, ERRORS_CONTINUE, 0, ident.mkfs_time & 0xFFFFFFFF, 0, 0, 1,
                     0, 0, FIRST_INO, INODE_SIZE, group, compat, INCOMPAT, RO_COMPAT, ident.uuid, label,
                     state.last_mounted.encode("utf-8")[:63])
    struct.pack_into("<H", sb, 0xCE, geo.reserved_gdt)
    struct.pack_into("<I", sb, 0xE8, state.last_orphan)
    if ident.journal_bytes:
        struct.pack_into("<I", sb, 0xE0, JOURNAL_INO)
    sb[0xEC:0xFC] = ident.hash_seed
    struct.pack_into("<BBHII", sb, 0xFC, HASH_HALF_MD4, JNL_BACKUP_BLOCKS if ident.journal_bytes else 0, DESC_SIZE,
                     DEFM_XATTR_USER | DEFM_ACL, 0)
    struct.pack_into("<I", sb, 0x108, ident.mkfs_time & 0xFFFFFFFF)
    if ident.journal_bytes:
        sb[0x10C:0x148] = ident.journal_i_block.ljust(60, b"\0")
        struct.pack_into("<II", sb, 0x148, ident.journal_bytes >> 32, ident.journal_bytes & 0xFFFFFFFF)
    struct.pack_into("<III", sb, 0x150, geo.blocks >> 32, geo.reserved_blocks >> 32, state.free_blocks >> 32)
    struct.pack_into("<HHI", sb, 0x15C, EXTRA_ISIZE, EXTRA_ISIZE, FLAGS_SIGNED_HASH)
    struct.pack_into("<BB", sb, 0x174, FLEX_BG_SIZE.bit_length() - 1, CHECKSUM_CRC32C)
    struct.pack_into("<Q", sb, 0x178, state.kbytes_written)
    struct.pack_into("<I", sb, 0x248, ident.overhead)
    struct.pack_into("<BBBB", sb, 0x274, state.write_time >> 32, state.mount_time >> 32, ident.mkfs_time >> 32,
                     ident.mkfs_time >> 32)
    struct.pack_into("<I", sb, 0x3FC, crc32c(0xFFFFFFFF, sb[:0x3FC]))
    return bytes(sb)


@dataclass(frozen=True)
class GroupState:
    """One group's descriptor values at a moment."""

    free_blocks: int
    free_inodes: int
    used_dirs: int
    flags: int
    itable_unused: int
    block_bitmap_csum: int
    inode_bitmap_csum: int


def pack_descriptor(block_bitmap: int, inode_bitmap: int, inode_table: int, state: GroupState, group: int,
                    seed: int) -> bytes:
    """A 64-byte group descriptor; its checksum is the low 16 bits of CRC32C(seed, group, descriptor)."""
    desc = bytearray(DESC_SIZE)
    struct.pack_into("<IIIHHHHIHHHH", desc, 0, block_bitmap & 0xFFFFFFFF, inode_bitmap & 0xFFFFFFFF,
                     inode_table & 0xFFFFFFFF, state.free_blocks & 0xFFFF, state.free_inodes & 0xFFFF,
                     state.used_dirs & 0xFFFF, state.flags, 0, state.block_bitmap_csum & 0xFFFF,
                     state.inode_bitmap_csum & 0xFFFF, state.itable_unused & 0xFFFF, 0)
    struct.pack_into("<IIIHHHHIHH", desc, 0x20, block_bitmap >> 32, inode_bitmap >> 32, inode_table >> 32,
                     state.free_blocks >> 16, state.free_inodes >> 16, state.used_dirs >> 16,
                     state.itable_unused >> 16, 0, state.block_bitmap_csum >> 16, state.inode_bitmap_csum >> 16)
    crc = crc32c(crc32c(seed, struct.pack("<I", group)), desc)
    struct.pack_into("<H", desc, 0x1E, crc & 0xFFFF)
    return bytes(desc)


_DIGITS = bytes(0x31 if b else 0x30 for b in range(256))


def pack_bitmap(flags: bytes | bytearray, block_size: int) -> bytes:
    """One 0/1 byte per item as a bitmap block; bits past the group's items are set, as e2fsck expects."""
    padded = bytes(flags) + b"\1" * (8 * block_size - len(flags))
    return int(padded[::-1].translate(_DIGITS), 2).to_bytes(block_size, "little")
