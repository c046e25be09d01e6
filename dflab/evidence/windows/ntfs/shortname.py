"""8.3 short names, as NTFS makes them on a volume with short-name creation on (Windows' system volume).

A name that already is a valid 8.3 name, whatever its case (``syslog.gz``, ``desktop.ini``), is stored once, in the
Win32-and-DOS namespace. Any other gets a second $FILE_NAME in the DOS namespace: the name upper-cased through
$UpCase, spaces and all dots but the last dropped, characters DOS cannot hold (``+,;=[]``) made ``_``, the first
six of the rest, ``~`` and the lowest number from 1 that no other name in the folder has taken, then the first
three characters of the extension: ``System Volume Information`` → ``SYSTEM~1``, ``another_file`` → ``ANOTHE~1``
(both as in a real Windows $MFT).

Only ASCII, whatever the OEM code page: Windows' default (``NtfsAllowExtendedCharacterIn8dot3Name`` = 0) has NTFS
call ``RtlGenerate8dot3Name`` with ``AllowExtendedCharacters`` FALSE, which keeps characters 0x20-0x7F and drops
the others. So ``café.txt`` is no 8.3 name (it gets ``CAF~1.TXT``), and ``Menu Démarrer`` gets ``MENUDM~1``,
``t£$t¤.txt`` ``T$T~1.TXT``, as ReactOS's RtlGenerate8dot3Name test records Windows doing under code pages 437,
850 and 775 alike. Past ``~4``, or when nothing is left of the basis (``éèàù.txt`` → ``925E~1.TXT``), Windows
switches to a hashed form, which is refused here rather than imitated wrong.
"""

from __future__ import annotations

from dflab.errors import DflabError
from dflab.evidence.windows.ntfs.upcase import upcase_table

_PUNCTUATION = set("!#$%&'()-@^_`{}~")
_NUMBERED = 4


def _upper(text: str) -> str:
    table = upcase_table()
    return "".join(chr(table[ord(c)]) if ord(c) < 0x10000 else c for c in text)


def _dos_char(c: str) -> bool:
    """Whether a generated 8.3 name may hold ``c`` as it is (ASCII letters, digits and DOS's punctuation)."""
    return c.isascii() and (c.isalnum() or c in _PUNCTUATION)


def is_short(name: str) -> bool:
    """Whether ``name`` is a valid 8.3 name as it stands (case aside): then it is its own short name."""
    basis, dot, extension = _upper(name).partition(".")
    return (1 <= len(basis) <= 8 and len(extension) <= 3 and (not dot or extension != "") and "." not in extension
            and all(_dos_char(c) for c in basis + extension))


def _clean(text: str) -> str:
    """``text`` upper-cased as a short name holds it: spaces, dots and non-ASCII characters dropped, any other
    character DOS cannot hold made ``_``."""
    return "".join(c if _dos_char(c) else "_" for c in _upper(text) if c.isascii() and c not in " .")


def short_name(name: str, taken: set[str]) -> str:
    """The DOS name Windows gives ``name`` in a folder whose names (upper-cased, short ones included) are ``taken``;
    the result is added to ``taken``."""
    dot = name.rfind(".")
    basis, extension = (name[:dot], name[dot + 1:]) if dot > 0 else (name, "")
    basis, extension = _clean(basis)[:6], _clean(extension)[:3]
    if not basis:
        raise DflabError("nothing of this name's basis is left for an 8.3 name (Windows then hashes the name, which "
                         "is not modelled)", name)
    for number in range(1, _NUMBERED + 1):
        candidate = f"{basis}~{number}" + (f".{extension}" if extension else "")
        if candidate not in taken:
            taken.add(candidate)
            return candidate
    raise DflabError(f"more than {_NUMBERED} names in the folder share this 8.3 basis (Windows then hashes the name, "
                     "which is not modelled)", name)
