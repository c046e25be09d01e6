"""The Recycle Bin as Windows 10 leaves it on NTFS: ``$Recycle.Bin\\<SID>\\$I<id>.ext`` beside ``$R<id>.ext``.

Deleting a file in Explorer moves it (same record, new name and parent) to ``$R`` plus six characters and its
extension, and creates ``$I`` with the same suffix: version 2 of the $I format (Windows 10 and later) holds the
version, the original size, the deletion FILETIME, the original path's length in characters (with its NUL) and the
path in UTF-16. Both live in a folder named by the user's SID, hidden and system like ``$Recycle.Bin`` itself; the
folder's ``desktop.ini`` makes Explorer show it as the Recycle Bin.

``recycle`` turns a planned file into what a plan holds after the move: the $R file keeps its record's
$STANDARD_INFORMATION times except the MFT-changed one (the move), and its new $FILE_NAME takes the
$STANDARD_INFORMATION times as they were after the move, as Windows copies them when a file moves between folders;
the $I file is created at the deletion time. ``recycle_journal`` gives the change journal's records of it.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from datetime import datetime

from dflab.errors import DflabError
from dflab.evidence.windows.ntfs.attributes import Times
from dflab.evidence.windows.ntfs.plan import ARCHIVE, HIDDEN, SYSTEM, PlannedFile, times
from dflab.evidence.windows.ntfs.usn import UsnEvent, created, renamed
from dflab.evidence.windows.wintypes import filetime

FOLDER = "$Recycle.Bin"
VERSION = 2
DESKTOP_INI = (b"[.ShellClassInfo]\r\nCLSID={645FF040-5081-101B-9F08-00AA002F954E}\r\n"
               b"LocalizedResourceName=@%SystemRoot%\\system32\\shell32.dll,-8964\r\n")
"""What Windows writes into each user's Recycle Bin folder: the Recycle Bin's class id and localised name (129 bytes
of ANSI text)."""
_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def index_record(original: str, size: int, deleted: int) -> bytes:
    """A version 2 $I file: ``original`` is the full Windows path (``C:\\Users\\...``)."""
    path = original.encode("utf-16-le") + b"\0\0"
    return struct.pack("<qqQI", VERSION, size, deleted, len(path) // 2) + path


def recycled_names(identifier: str, original_name: str) -> tuple[str, str]:
    """``$I`` and ``$R`` names for the six-character ``identifier`` (Windows draws it; the plan gives it)."""
    if len(identifier) != 6 or not set(identifier) <= _ID_CHARS:
        raise DflabError("a Recycle Bin identifier is six characters A–Z or 0–9", identifier)
    dot = original_name.rfind(".")
    extension = original_name[dot:] if dot > 0 else ""
    return f"$I{identifier}{extension}", f"$R{identifier}{extension}"


def bin_folders(sid: str, when: Times) -> tuple[PlannedFile, ...]:
    """``$Recycle.Bin``, the user's folder in it and its desktop.ini (created when the user first deletes)."""
    return (PlannedFile(FOLDER, when, attributes=HIDDEN | SYSTEM),
            PlannedFile(f"{FOLDER}/{sid}", when, attributes=HIDDEN | SYSTEM),
            PlannedFile(f"{FOLDER}/{sid}/desktop.ini", when, DESKTOP_INI, attributes=HIDDEN | SYSTEM | ARCHIVE))


def recycle(planned: PlannedFile, sid: str, identifier: str, deleted: datetime | int,
            drive: str = "C:") -> tuple[PlannedFile, PlannedFile]:
    """The $I and $R files for ``planned`` deleted to the Recycle Bin at ``deleted`` (its folders not included)."""
    if planned.is_directory:
        raise DflabError("only files are recycled here (a folder's $R is a folder tree)", planned.path)
    at = filetime(deleted)
    original = drive + "\\" + planned.path.replace("/", "\\")
    i_name, r_name = recycled_names(identifier, planned.name)
    si = replace(planned.si_times, mft_changed=at)
    data = planned.data or b""
    r_file = replace(planned, path=f"{FOLDER}/{sid}/{r_name}", si_times=si, fn_times=si)
    i_file = PlannedFile(f"{FOLDER}/{sid}/{i_name}", times(at), index_record(original, len(data), at))
    return i_file, r_file


def recycle_journal(original: PlannedFile, i_file: PlannedFile, r_file: PlannedFile,
                    deleted: datetime | int) -> tuple[UsnEvent, ...]:
    """The journal's records of the move: the file renamed into the bin as $R, then $I created and written."""
    return (*renamed(r_file.path, deleted, original.name, original.parent), *created(i_file.path, deleted))
