"""$LogFile: the two restart pages of a cleanly shut-down volume, as Windows 8 and later leave it.

A volume whose log says the NTFS client has nothing to replay is one every reader and checker (ntfs-3g's
``ntfs_check_logfile``, chkdsk) accepts without recovery: both restart pages (RSTR, fixups applied) carry the same
restart area, flagged clean, with one client named "NTFS" and no LSN to start from; the log pages after them have
never been written (0xFF, as Windows leaves unused log space). Windows 8 and later log in version 2.0 while the
volume is in use (and when fast startup keeps it so) and step back to 1.1 on a full shutdown, which is what a
seized, cleanly shut-down disk shows and what ntfs-3g mounts read-write (it refuses 2.0 as "kept in Windows
cache"); the restart area keeps 2.0's layout (client array at 0x40), as a real 1.1 one by Windows does.
Writing log records for the story's operations is a later increment; the restart area already has the fields it
will need (current LSN, the client's restart LSN).
"""

from __future__ import annotations

import struct

from dflab.evidence.windows.ntfs.fixup import protect, usa_size

PAGE = 4096
RSTR_USA_OFFSET = 0x1E
RESTART_AREA_OFFSET = (RSTR_USA_OFFSET + usa_size(PAGE) + 7) & ~7
NO_CLIENT = 0xFFFF
VOLUME_IS_CLEAN = 0x0002
CLIENT_RECORD = 0xA0
CLIENT_ARRAY_OFFSET = 0x40
"""Where the client array starts in the restart area: 0x40 since Windows 8, in versions 1.1 and 2.0 alike."""
VERSION = (1, 1)


def sequence_number_bits(file_size: int) -> int:
    """How many bits of an LSN the sequence number takes: Windows derives it from the log's size."""
    return 67 - file_size.bit_length()


def restart_page(file_size: int, open_count: int, usn: int = 1) -> bytes:
    out = bytearray(PAGE)
    struct.pack_into("<4sHHQIIHhh", out, 0, b"RSTR", RSTR_USA_OFFSET, usa_size(PAGE) // 2, 0, PAGE, PAGE,
                     RESTART_AREA_OFFSET, VERSION[1], VERSION[0])
    area_length = CLIENT_ARRAY_OFFSET + CLIENT_RECORD
    struct.pack_into("<QHHHHIHHQIHHI", out, RESTART_AREA_OFFSET, 0, 1, NO_CLIENT, 0, VOLUME_IS_CLEAN,
                     sequence_number_bits(file_size), area_length, CLIENT_ARRAY_OFFSET, file_size, 0, 0x30, 0x40,
                     open_count)
    client = RESTART_AREA_OFFSET + CLIENT_ARRAY_OFFSET
    name = "NTFS".encode("utf-16-le")
    struct.pack_into("<QQHHH6xI", out, client, 0, 0, NO_CLIENT, NO_CLIENT, 0, len(name))
    out[client + 0x20:client + 0x20 + len(name)] = name
    return protect(out, RSTR_USA_OFFSET, usn)


def logfile(file_size: int, open_count: int) -> bytes:
    """The whole $LogFile: two identical restart pages, then unwritten log pages."""
    if file_size % PAGE or file_size < 4 * PAGE:
        raise ValueError(f"$LogFile size {file_size} is not a multiple of {PAGE} of at least 4 pages")
    page = restart_page(file_size, open_count)
    return page + page + b"\xff" * (file_size - 2 * PAGE)
