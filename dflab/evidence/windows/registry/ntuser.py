"""A user's NTUSER.DAT and UsrClass.dat: what they ran (UserAssist), opened (RecentDocs), typed (TypedPaths,
RunMRU), and the implant's Run value when it persists for the user only.

The MRU lists follow Explorer's conventions: values keep the index or letter they got when first added, and a
separate ordering value (``MRUListEx``: DWORD indices, most recent first, ending in 0xFFFFFFFF; ``MRUList``: a
string of letters) says which is most recent, so the key's last-written time belongs to the first entry listed.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Iterable
from datetime import datetime

from dflab.evidence.windows.wintypes import filetime

from .facts import Account, ProgramRun, RecentDoc, Typed, UsbStick, WorkstationFacts
from .model import Hive, Key, ValueType
from .security import classes_descriptor, user_descriptor

EXPLORER = r"Software\Microsoft\Windows\CurrentVersion\Explorer"
USER_ASSIST = rf"{EXPLORER}\UserAssist"
USER_ASSIST_PROGRAMS = "{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}"
USER_ASSIST_SHORTCUTS = "{F4E57C4B-2036-45F0-A9AB-443BCFE33D9F}"
_UNUSED_SLOT = struct.pack("<f", -1.0)


def rot13(text: str) -> str:
    """UserAssist's obfuscation of value names: ROT13 on ASCII letters only."""
    return codecs.encode(text, "rot13")


def user_assist_data(run: ProgramRun) -> bytes:
    """The 72-byte record of Windows 7 and later: session, runs, focus count and time, ten usage slots, last run."""
    return (struct.pack("<IIII", 0, run.run_count, run.focus_count, run.focus_ms) + _UNUSED_SLOT * 10
            + struct.pack("<IQI", 0xFFFFFFFF, filetime(run.last_run), 0))


def _fat_datetime(when: datetime) -> int:
    """A DOS date and time (two-second steps), as shell items carry them; Windows writes local time, this writes
    the time as given (the case's UTC), a known simplification of the shortcut item no reader here checks."""
    date = ((when.year - 1980) << 9) | (when.month << 5) | when.day
    time = (when.hour << 11) | (when.minute << 5) | (when.second // 2)
    return date | (time << 16)


def recent_doc_data(doc: RecentDoc) -> bytes:
    """A RecentDocs value: the document's name, then an ID list holding one file-entry item for its shortcut."""
    link = (doc.name.rsplit(".", 1)[0] + ".lnk").encode("ascii", "replace") + b"\0"
    link += b"\0" * (len(link) % 2)
    item = struct.pack("<BBIIH", 0x32, 0, 0, _fat_datetime(doc.opened), 0x20) + link
    return (doc.name + "\0").encode("utf-16-le") + struct.pack("<H", 2 + len(item)) + item + b"\0\0"


def _mru_ex(key: Key, docs: list[RecentDoc]) -> None:
    """Values 0..n-1 in the order the documents were first opened; MRUListEx most recent first."""
    order = sorted(range(len(docs)), key=lambda i: (docs[i].opened, i), reverse=True)
    for index, doc in enumerate(docs):
        key.value(str(index), ValueType.BINARY, recent_doc_data(doc))
    key.value("MRUListEx", ValueType.BINARY, struct.pack(f"<{len(order) + 1}I", *order, 0xFFFFFFFF))


def _recent_docs(hive: Hive, docs: Iterable[RecentDoc]) -> None:
    docs = sorted(docs, key=lambda d: d.opened)
    if not docs:
        return
    hive.key(rf"{EXPLORER}\RecentDocs", docs[0].opened)  # made by the first document, rewritten by each
    _mru_ex(hive.key(rf"{EXPLORER}\RecentDocs", docs[-1].opened), docs)
    by_extension: dict[str, list[RecentDoc]] = {}
    for doc in docs:
        extension = "." + doc.name.rsplit(".", 1)[1] if "." in doc.name else "Folder"
        by_extension.setdefault(extension.lower(), []).append(doc)
    for extension, group in by_extension.items():
        hive.key(rf"{EXPLORER}\RecentDocs\{extension}", group[0].opened)
        _mru_ex(hive.key(rf"{EXPLORER}\RecentDocs\{extension}", group[-1].opened), group)
    hive.key(rf"{EXPLORER}\RecentDocs", docs[-1].opened)


def _latest_first(entries: Iterable[Typed]) -> list[Typed]:
    """One entry per text (its latest time), most recent first."""
    latest: dict[str, Typed] = {}
    for entry in entries:
        if entry.text not in latest or entry.at > latest[entry.text].at:
            latest[entry.text] = entry
    return sorted(latest.values(), key=lambda e: e.at, reverse=True)


def _typed_paths(hive: Hive, typed: Iterable[Typed]) -> None:
    typed = list(typed)
    entries = _latest_first(typed)
    if entries:
        hive.key(rf"{EXPLORER}\TypedPaths", min(t.at for t in typed))
        key = hive.key(rf"{EXPLORER}\TypedPaths", entries[0].at)
        for n, entry in enumerate(entries, start=1):
            key.value(f"url{n}", ValueType.SZ, entry.text)


def _run_mru(hive: Hive, typed: Iterable[Typed]) -> None:
    typed = list(typed)
    entries = _latest_first(typed)
    if not entries:
        return
    if len(entries) > 26:
        entries = entries[:26]  # one letter each, as Explorer keeps at most 26
    first_typed = sorted(entries, key=lambda e: min(t.at for t in typed if t.text == e.text))
    letters = {entry.text: chr(ord("a") + i) for i, entry in enumerate(first_typed)}
    hive.key(rf"{EXPLORER}\RunMRU", min(t.at for t in typed))
    key = hive.key(rf"{EXPLORER}\RunMRU", entries[0].at)
    for entry in first_typed:
        key.value(letters[entry.text], ValueType.SZ, entry.text + "\\1")
    key.value("MRUList", ValueType.SZ, "".join(letters[e.text] for e in entries))


def _user_assist(hive: Hive, runs: Iterable[ProgramRun], since: datetime) -> None:
    runs = list(runs)
    for guid in (USER_ASSIST_PROGRAMS, USER_ASSIST_SHORTCUTS):
        hive.key(rf"{USER_ASSIST}\{guid}\Count", since)
    for guid, shortcut in ((USER_ASSIST_PROGRAMS, False), (USER_ASSIST_SHORTCUTS, True)):
        chosen = sorted((r for r in runs if r.shortcut == shortcut), key=lambda r: r.last_run)
        if chosen:
            key = hive.key(rf"{USER_ASSIST}\{guid}\Count", chosen[-1].last_run)
            for run in chosen:
                key.value(rot13(run.path), ValueType.BINARY, user_assist_data(run))


def mount_point_key(usb: UsbStick) -> str:
    """MountPoints2's key of the stick's volume, named by the GUID MountedDevices gives it (``\\??\\Volume{…}``)."""
    return rf"{EXPLORER}\MountPoints2\{{{usb.volume_guid}}}"


def _mount_points(hive: Hive, usb: UsbStick) -> None:
    """Explorer of the user logged on when the stick's volume arrived adds its GUID (first arrival) and rewrites
    the key at each later one; ``BaseClass`` says it is a drive."""
    hive.key(mount_point_key(usb), usb.first_inserted).value("BaseClass", ValueType.SZ, "Drive")
    hive.key(mount_point_key(usb), usb.last_inserted)


def ntuser_hive(facts: WorkstationFacts, account: Account) -> Hive:
    """NTUSER.DAT of ``account`` on ``facts``' machine (its profile exists from its first logon)."""
    sid = facts.sid(account)
    start = account.created
    hive = Hive("ROOT", start, file_name=rf"\??\C:\Users\{account.name}\ntuser.dat",
                security=user_descriptor(sid))
    (hive.key("Environment", start)
        .value("Path", ValueType.EXPAND_SZ, r"%USERPROFILE%\AppData\Local\Microsoft\WindowsApps;")
        .value("TEMP", ValueType.EXPAND_SZ, r"%USERPROFILE%\AppData\Local\Temp")
        .value("TMP", ValueType.EXPAND_SZ, r"%USERPROFILE%\AppData\Local\Temp"))
    hive.key(r"Control Panel\Desktop", start).value("WallPaper", ValueType.SZ, "")
    hive.key(r"Software\Microsoft\Windows\CurrentVersion\Run", start).value(
        "OneDrive", ValueType.SZ, rf'"C:\Users\{account.name}\AppData\Local\Microsoft\OneDrive\OneDrive.exe" '
                                  "/background")
    if account is facts.owner:
        implant = facts.implant
        if implant is not None and implant.scope == "user":
            hive.key(r"Software\Microsoft\Windows\CurrentVersion\Run", implant.installed).value(
                implant.value_name, ValueType.SZ, implant.command)
        _user_assist(hive, facts.programs_run, start)
        _recent_docs(hive, facts.recent_docs)
        _typed_paths(hive, facts.typed_paths)
        _run_mru(hive, facts.run_mru)
        if facts.usb is not None:
            _mount_points(hive, facts.usb)
    return hive


def usrclass_hive(facts: WorkstationFacts, account: Account) -> Hive:
    """UsrClass.dat of ``account``: the per-user classes root with an empty ShellBags tree."""
    sid = facts.sid(account)
    start = account.created
    hive = Hive(f"{sid}_Classes", start,
                file_name=rf"\??\C:\Users\{account.name}\AppData\Local\Microsoft\Windows\UsrClass.dat",
                security=classes_descriptor(sid))
    shell = r"Local Settings\Software\Microsoft\Windows\Shell"
    hive.key(rf"{shell}\BagMRU", start).value("MRUListEx", ValueType.BINARY, struct.pack("<I", 0xFFFFFFFF))
    hive.key(rf"{shell}\Bags", start)
    return hive
