"""Self-relative security descriptors for the sk cells keys point to (MS-DTYP 2.4.6).

A hive stores each distinct descriptor once and keys share it by reference, so what matters here is producing the
same bytes Windows would for the few access patterns a workstation's hives use. The ACEs, flags and layout follow
the root keys of the real hives in ../shared/samples/windows/registry (read with regipy's get_security_key_info).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from dflab.evidence.windows.wintypes import sid_bytes

KEY_ALL_ACCESS = 0x000F003F
KEY_READ = 0x00020019
READ_CONTROL = 0x00020000
WRITE_DAC = 0x00040000
GENERIC_ALL = 0x10000000
GENERIC_READ = 0x80000000
OBJECT_INHERIT = 0x01
CONTAINER_INHERIT = 0x02
INHERIT_ONLY = 0x08
_OI_CI = OBJECT_INHERIT | CONTAINER_INHERIT
_CI_IO = CONTAINER_INHERIT | INHERIT_ONLY
_ACCESS_ALLOWED = 0
_SE_DACL_PRESENT = 0x0004
_SE_DACL_AUTO_INHERITED = 0x0400
_SE_DACL_PROTECTED = 0x1000
_SE_SELF_RELATIVE = 0x8000

SYSTEM = "S-1-5-18"
ADMINISTRATORS = "S-1-5-32-544"
USERS = "S-1-5-32-545"
RESTRICTED = "S-1-5-12"
APP_PACKAGES = "S-1-15-2-1"
CREATOR_OWNER = "S-1-3-0"


@dataclass(frozen=True)
class Ace:
    """An access-allowed ACE: who (``sid``), what (``mask``), and how it is inherited (``flags``)."""

    sid: str
    mask: int
    flags: int = CONTAINER_INHERIT

    def to_bytes(self) -> bytes:
        sid = sid_bytes(self.sid)
        return struct.pack("<BBHI", _ACCESS_ALLOWED, self.flags, 8 + len(sid), self.mask) + sid


def descriptor(owner: str, group: str, aces: Sequence[Ace], *, protected: bool = False,
               auto_inherited: bool = False) -> bytes:
    """A self-relative descriptor laid out as Windows writes registry ones: header, DACL, owner, group."""
    body = b"".join(ace.to_bytes() for ace in aces)
    acl = struct.pack("<BBHHH", 2, 0, 8 + len(body), len(aces), 0) + body
    control = (_SE_SELF_RELATIVE | _SE_DACL_PRESENT | (_SE_DACL_PROTECTED if protected else 0)
               | (_SE_DACL_AUTO_INHERITED if auto_inherited else 0))
    owner_b, group_b = sid_bytes(owner), sid_bytes(group)
    off_dacl = 20
    off_owner = off_dacl + len(acl)
    off_group = off_owner + len(owner_b)
    header = struct.pack("<BBHIIII", 1, 0, control, off_owner, off_group, 0, off_dacl)
    return header + acl + owner_b + group_b


DEFAULT_DESCRIPTOR = descriptor(ADMINISTRATORS, SYSTEM, [
    Ace(USERS, KEY_READ, 0), Ace(USERS, GENERIC_READ, _CI_IO),
    Ace(ADMINISTRATORS, KEY_ALL_ACCESS, 0), Ace(ADMINISTRATORS, GENERIC_ALL, _CI_IO),
    Ace(SYSTEM, KEY_ALL_ACCESS, 0), Ace(SYSTEM, GENERIC_ALL, _CI_IO),
    Ace(ADMINISTRATORS, KEY_ALL_ACCESS, 0), Ace(CREATOR_OWNER, GENERIC_ALL, _CI_IO)],
    protected=True, auto_inherited=True)
"""A machine hive's root (SYSTEM, SOFTWARE, SAM): users read, Administrators and SYSTEM full control, each also
as generic rights inherited by subkeys only, ACE for ACE as the real SYSTEM and SAM roots have it (Administrators
twice included)."""

SAM_DESCRIPTOR = descriptor(ADMINISTRATORS, SYSTEM, [Ace(SYSTEM, KEY_ALL_ACCESS),
                                                     Ace(ADMINISTRATORS, READ_CONTROL | WRITE_DAC)])
"""SAM\\SAM and below: only SYSTEM reads them; Administrators may read and change the DACL (so regedit shows
nothing until they do)."""


def user_descriptor(user_sid: str) -> bytes:
    """NTUSER.DAT's keys: the user, SYSTEM and Administrators full control, restricted code read (OI|CI)."""
    return descriptor(ADMINISTRATORS, SYSTEM, [
        Ace(user_sid, KEY_ALL_ACCESS, _OI_CI), Ace(SYSTEM, KEY_ALL_ACCESS, _OI_CI),
        Ace(ADMINISTRATORS, KEY_ALL_ACCESS, _OI_CI), Ace(RESTRICTED, KEY_READ, _OI_CI)], protected=True)


def classes_descriptor(user_sid: str) -> bytes:
    """UsrClass.dat's keys: as NTUSER.DAT's, owned by SYSTEM, and readable by app packages too."""
    return descriptor(SYSTEM, SYSTEM, [
        Ace(user_sid, KEY_ALL_ACCESS, _OI_CI), Ace(SYSTEM, KEY_ALL_ACCESS, _OI_CI),
        Ace(ADMINISTRATORS, KEY_ALL_ACCESS, _OI_CI), Ace(RESTRICTED, KEY_READ, _OI_CI),
        Ace(APP_PACKAGES, KEY_READ, _OI_CI)], protected=True)
