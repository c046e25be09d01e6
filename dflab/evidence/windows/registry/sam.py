"""The SAM hive: local accounts with their RIDs, logon statistics (F) and names (V), and the machine SID.

The F and V layouts are the ones every SAM reader shares (samparse, regipy, Impacket's secretsdump); password
hashes are left out (their V entries are empty), since no case needs a password cracked and an empty entry is
what an account without a stored hash has.
"""

from __future__ import annotations

import struct

from dflab.evidence.windows.wintypes import NEVER, filetime, sid_bytes

from .facts import Account, WorkstationFacts
from .model import Hive, ValueType
from .security import SAM_DESCRIPTOR, user_descriptor

ACCOUNT = r"SAM\Domains\Account"
USERS = rf"{ACCOUNT}\Users"
_ACB_DISABLED = 0x0001
_ACB_NORMAL = 0x0010
_ACB_PWNOEXP = 0x0200
_V_ENTRIES = 17
_V_HEADER = 12 * _V_ENTRIES  # 0xCC: offset, length, unknown for each field; offsets count from its end
_V_USERNAME, _V_FULL_NAME, _V_COMMENT = 1, 2, 3
_DOMAIN_USERS = 513
BUILTIN = r"SAM\Domains\Builtin"
ADMINISTRATORS = 0x220  # S-1-5-32-544
_C_HEADER = 0x34  # the alias' C value: fixed fields, then name, comment and members; offsets count from its end


def user_f(account: Account) -> bytes:
    """The 80-byte F value: logon and password times, RID, flags, failed and successful logon counts."""
    flags = _ACB_NORMAL | _ACB_PWNOEXP | (_ACB_DISABLED if account.disabled else 0)
    return struct.pack(
        "<HHIQQQQQIIHHHHHH12x", 3, 1, 0,
        filetime(account.last_logon) if account.last_logon else 0,
        0,
        filetime(account.password_last_set) if account.password_last_set else 0,
        NEVER, 0, account.rid, _DOMAIN_USERS, flags, 0, 0, 0, 0, account.logon_count,
    )


def user_v(account: Account, sid: str) -> bytes:
    """The V value: a table of (offset, length) for 17 fields, then the fields, each 4-byte aligned."""
    fields = [b""] * _V_ENTRIES
    fields[0] = user_descriptor(sid)
    fields[_V_USERNAME] = account.name.encode("utf-16-le")
    fields[_V_FULL_NAME] = account.full_name.encode("utf-16-le")
    fields[_V_COMMENT] = account.comment.encode("utf-16-le")
    header, data = bytearray(), bytearray()
    for field in fields:
        header += struct.pack("<III", len(data), len(field), 0)
        data += field + b"\0" * (-len(field) % 4)
    return bytes(header + data)


def domain_v(machine_sid: str) -> bytes:
    """The account domain's V value; readers take the machine SID from its last 24 bytes."""
    return struct.pack("<III", 0, 0, 0) * 4 + sid_bytes(machine_sid)


def alias_c(rid: int, name: str, comment: str, members: list[str]) -> bytes:
    """An alias' C value as samparse and Impacket read it: RID, then (offset, length) of its name at 0x10, its
    comment at 0x1C and its members' binary SIDs at 0x28, their count at 0x30."""
    parts = [name.encode("utf-16-le"), comment.encode("utf-16-le"), b"".join(sid_bytes(sid) for sid in members)]
    data, spans = bytearray(), []
    for part in parts:
        spans.append((len(data), len(part)))
        data += part + b"\0" * (-len(part) % 4)
    (name_at, name_len), (comment_at, comment_len), (members_at, members_len) = spans
    return struct.pack("<IIQIIIIIIIII", rid, 3, 0, name_at, name_len, 0, comment_at, comment_len, 0,
                       members_at, members_len, len(members)) + bytes(data)


def administrators(hive: Hive, facts: WorkstationFacts, accounts: list[Account]) -> None:
    """Builtin\\Administrators (S-1-5-32-544) listing Administrator and every account marked ``admin``, and the
    reverse map Windows keeps beside it (Aliases\\Members\\<machine SID>\\<RID>: the aliases each user is in)."""
    members = [a for a in accounts if a.rid == 500 or a.admin]
    installed = facts.installed
    changed = max(a.created for a in members)
    hive.key(rf"{BUILTIN}\Aliases\Names\Administrators", installed).value("", ADMINISTRATORS, b"")
    hive.key(rf"{BUILTIN}\Aliases\{ADMINISTRATORS:08X}", changed).value(
        "C", ValueType.BINARY, alias_c(ADMINISTRATORS, "Administrators", ADMINISTRATORS_COMMENT,
                                       [f"{facts.machine_sid}-{a.rid}" for a in members]))
    for account in members:
        hive.key(rf"{BUILTIN}\Aliases\Members\{facts.machine_sid}\{account.rid:08X}", account.created).value(
            "", 1, struct.pack("<I", ADMINISTRATORS))


ADMINISTRATORS_COMMENT = "Administrators have complete and unrestricted access to the computer/domain"


def sam_hive(facts: WorkstationFacts) -> Hive:
    """SAM of ``facts``' machine: Administrator (500), Guest (501), DefaultAccount (503), WDAGUtilityAccount
    (504) disabled as Windows 10 leaves them, and ``facts``' accounts."""
    installed = facts.installed
    hive = Hive("ROOT", installed, file_name=r"\SystemRoot\System32\Config\SAM")
    hive.key("SAM", installed, security=SAM_DESCRIPTOR)
    builtin = tuple(Account(name, rid, installed, disabled=True, comment=comment) for name, rid, comment in (
        ("Administrator", 500, "Built-in account for administering the computer/domain"),
        ("Guest", 501, "Built-in account for guest access to the computer/domain"),
        ("DefaultAccount", 503, "A user account managed by the system."),
        ("WDAGUtilityAccount", 504, "A user account managed and used by the system for Windows Defender "
                                    "Application Guard scenarios.")))
    accounts = sorted((*builtin, *facts.accounts), key=lambda a: a.rid)
    next_rid = max(a.rid for a in accounts) + 1
    (hive.key(ACCOUNT, installed)
        .value("F", ValueType.BINARY, struct.pack("<HHI", 3, 0, 0) + bytes(64) + struct.pack("<I", next_rid)
               + bytes(12))
        .value("V", ValueType.BINARY, domain_v(facts.machine_sid)))
    administrators(hive, facts, accounts)
    for account in accounts:
        sid = f"{facts.machine_sid}-{account.rid}"
        hive.key(rf"{USERS}\Names\{account.name}", account.created).value("", account.rid, b"")
        changed = max(t for t in (account.created, account.last_logon, account.password_last_set) if t)
        (hive.key(rf"{USERS}\{account.rid:08X}", changed)
            .value("F", ValueType.BINARY, user_f(account))
            .value("V", ValueType.BINARY, user_v(account, sid)))
    return hive
