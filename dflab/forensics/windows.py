"""Readers for a Windows disk, for lab 08's notebook: NTFS times, registry, event logs, Recycle Bin, browser, LNK,
Prefetch, the change journal, and one sorted super-timeline of all of them.

Each reader is a thin layer over a real library the trainee image ships (pyproject's main dependencies): The Sleuth
Kit (pytsk3) for the volume, regipy for hives, the Rust ``evtx`` parser for event logs, sqlite3 for Chrome's
History, libscca for Prefetch. Formats with no reader in the image (the Recycle Bin's ``$I`` file, the change
journal's records, a Shell Link's header) are decoded here from their published layouts, a few fields each, so
that what the notebook shows is what ``istat``, ``icat`` and a hex view show too.

Why a super-timeline of our own rather than plaso: plaso installs from PyPI only by building four of its
dependencies from source (acstore, artifacts, dfwinreg, dtfabric have no wheels), and the trainee image installs
wheels only. :func:`super_timeline` gives the same table psort writes as ``l2tcsv`` (its columns, its ``MACB``
letters, its ``source`` names), built from the readers above, so a trainee who meets plaso at work reads the same
rows.
"""

from __future__ import annotations

import codecs
import io
import json
import os
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytsk3

from dflab.errors import EvidenceError
from dflab.forensics import disk, images

EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
SECTOR = 512
HIVES = ("SYSTEM", "SOFTWARE", "SAM", "SECURITY")
L2TCSV = ["date", "time", "timezone", "MACB", "source", "sourcetype", "type", "user", "host", "short", "desc",
          "version", "filename", "inode", "notes", "format", "extra"]
"""psort's ``l2tcsv`` columns, in its order."""


def filetime(value: int) -> pd.Timestamp | None:
    """A Windows FILETIME (100 ns ticks since 1601-01-01 UTC) as a UTC timestamp; 0 (never) as None."""
    if not value:
        return None
    return pd.Timestamp(EPOCH_1601) + pd.Timedelta(microseconds=value // 10) + pd.Timedelta(
        nanoseconds=(value % 10) * 100)


def webkit_time(value: int) -> pd.Timestamp | None:
    """Chrome's times: microseconds since 1601-01-01 UTC; 0 as None."""
    return pd.Timestamp(EPOCH_1601 + timedelta(microseconds=value)) if value else None


# -- the volume --------------------------------------------------------------------------------------------------------


def windows_partition(image: str | os.PathLike[str]) -> int:
    """The index (``partition=``) of the NTFS volume that holds ``Windows/System32/config/SYSTEM``.

    Found by what it holds, never by its place in the table: Windows Setup puts the EFI system partition and the
    MSR before it, a recovery partition may follow it."""
    parts = disk.partitions(image)
    for row in parts.itertuples():
        if str(row.filesystem) != "ntfs":
            continue
        names = disk.list_files(image, partition=int(row.index), include_deleted=False)["path"]
        if names.str.casefold().eq("/windows/system32/config/system").any():
            return int(row.index)
    raise EvidenceError("no NTFS volume on this disk holds Windows/System32/config/SYSTEM", str(image))


def volume_start(image: str | os.PathLike[str], partition: int) -> int:
    """The partition's first sector: what TSK's commands take as ``-o``."""
    parts = disk.partitions(image)
    return int(parts[parts["index"] == partition]["start"].iloc[0])


@contextmanager
def _volume(image: str | os.PathLike[str], partition: int) -> Iterator[pytsk3.FS_Info]:
    with images.opened(image) as img:
        yield pytsk3.FS_Info(img, offset=volume_start(image, partition) * SECTOR)


def read(image: str | os.PathLike[str], path: str, partition: int) -> bytes:
    """A file's bytes by its path on the volume (``/Windows/System32/config/SYSTEM``), like ``icat``; an alternate
    data stream as ``path:stream`` (``/Users/x/Downloads/a.exe:Zone.Identifier``)."""
    files = disk.list_files(image, partition=partition)
    match = files[files["path"].str.casefold() == path.casefold()]
    live = match[~match["deleted"]]
    row = (live if not live.empty else match)
    if row.empty:
        raise EvidenceError("no such file on the volume", path)
    return disk.read_file(image, str(row["address"].iloc[0]), partition=partition)


def export(image: str | os.PathLike[str], path: str, dest: str | os.PathLike[str], partition: int) -> Path:
    """Copy a file out of the volume into ``dest`` (a file in your work folder, never the evidence) and return it."""
    files = disk.list_files(image, partition=partition, include_deleted=False)
    match = files[files["path"].str.casefold() == path.casefold()]
    if match.empty:
        raise EvidenceError("no such file on the volume", path)
    disk.extract(image, str(match["address"].iloc[0]), dest, partition=partition)
    return Path(dest)


def _fn_times(raw: bytes) -> dict[str, Any]:
    """A $FILE_NAME attribute's content: parent reference, four times, then the name (MS-FSCC / NTFS layout)."""
    parent, created, modified, changed, accessed = struct.unpack_from("<QQQQQ", raw, 0)
    length = raw[64]
    return {"name": raw[66:66 + 2 * length].decode("utf-16-le", "replace"), "parent": parent & 0xFFFFFFFFFFFF,
            "created": filetime(created), "modified": filetime(modified), "mft_modified": filetime(changed),
            "accessed": filetime(accessed)}


def _si_times(raw: bytes) -> dict[str, Any]:
    created, modified, changed, accessed = struct.unpack_from("<QQQQ", raw, 0)
    return {"created": filetime(created), "modified": filetime(modified), "mft_modified": filetime(changed),
            "accessed": filetime(accessed)}


def mft_times(image: str | os.PathLike[str], entry: int, partition: int) -> pd.DataFrame:
    """An MFT entry's times as ``istat`` prints them: one row for ``$STANDARD_INFORMATION`` (what Explorer shows,
    and what any program may set) and one per ``$FILE_NAME`` (set by the kernel when the name is made)."""
    rows = []
    with _volume(image, partition) as fs:
        f = fs.open_meta(inode=int(entry))
        for attr in f:
            kind = int(attr.info.type)
            if kind not in (pytsk3.TSK_FS_ATTR_TYPE_NTFS_SI, pytsk3.TSK_FS_ATTR_TYPE_NTFS_FNAME):
                continue
            raw = f.read_random(0, int(attr.info.size), attr.info.type, int(attr.info.id))
            if kind == pytsk3.TSK_FS_ATTR_TYPE_NTFS_SI:
                rows.append({"attribute": "$STANDARD_INFORMATION", "name": "", **_si_times(raw)})
            else:
                times = _fn_times(raw)
                rows.append({"attribute": "$FILE_NAME", **{k: v for k, v in times.items() if k != "parent"}})
    return pd.DataFrame(rows, columns=["attribute", "name", "created", "modified", "mft_modified", "accessed"])


def timestomped(image: str | os.PathLike[str], partition: int) -> pd.DataFrame:
    """Files whose ``$STANDARD_INFORMATION`` creation time is earlier than their ``$FILE_NAME`` one.

    Windows sets both when it makes a name; only the first can be changed from user mode (SetFileTime), so a file
    "created" before its own name existed had its times rewritten: the classic sign of timestomping."""
    files = disk.list_files(image, partition=partition, include_deleted=False)
    rows = []
    for row in files[(files["type"] == "file") & (files["stream"] == "")].itertuples():
        if str(row.name).startswith("$"):
            continue
        times = mft_times(image, int(row.inode), partition)
        si = times[times["attribute"] == "$STANDARD_INFORMATION"]
        fn = times[times["attribute"] == "$FILE_NAME"]
        if si.empty or fn.empty or si["created"].iloc[0] is None:
            continue
        if si["created"].iloc[0] < fn["created"].min():
            rows.append({"path": row.path, "entry": int(row.inode), "si_created": si["created"].iloc[0],
                         "fn_created": fn["created"].min()})
    return pd.DataFrame(rows, columns=["path", "entry", "si_created", "fn_created"])


def deleted_files(image: str | os.PathLike[str], partition: int) -> pd.DataFrame:
    """Deleted names whose MFT entry still holds them (``fls -d``): path, entry, the sequence the freed record now
    carries (one more than while the file lived), size."""
    files = disk.list_files(image, partition=partition)
    gone = files[files["deleted"] & (files["type"] == "file") & (files["stream"] == "")]
    rows = []
    with _volume(image, partition) as fs:
        for row in gone.itertuples():
            meta = fs.open_meta(inode=int(row.inode)).info.meta
            rows.append({"path": row.path, "entry": int(row.inode), "sequence": int(meta.seq),
                         "size": int(meta.size)})
    return pd.DataFrame(rows, columns=["path", "entry", "sequence", "size"])


def windows_path(path: str) -> str:
    """A volume path as TSK prints it (``/Users/x``) the way Windows shows it on C: (``C:\\Users\\x``)."""
    return "C:" + path.replace("/", "\\")


# -- alternate data streams, Recycle Bin ----------------------------------------------------------------------------


def zone_identifier(data: bytes) -> dict[str, str]:
    """A ``Zone.Identifier`` stream (an INI text the browser writes beside a download): ``ZoneId`` 3 is the
    Internet; ``HostUrl`` where the file came from, ``ReferrerUrl`` the page that linked it."""
    out: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def recycle_index(data: bytes) -> dict[str, Any]:
    """A Recycle Bin ``$I`` file (Windows 10, version 2): the original path, its size and when it was deleted."""
    if len(data) < 28:
        raise EvidenceError("a $I file is at least 28 bytes", f"{len(data)} bytes")
    version, size, deleted = struct.unpack_from("<QQQ", data, 0)
    if version == 2:
        (length,) = struct.unpack_from("<I", data, 24)
        name = data[28:28 + 2 * length].decode("utf-16-le", "replace").rstrip("\0")
    else:  # version 1 (Vista to 8.1): a fixed 260-character field
        name = data[24:24 + 520].decode("utf-16-le", "replace").split("\0")[0]
    return {"version": version, "original": name, "size": size, "deleted": filetime(deleted)}


def recycle_bin(image: str | os.PathLike[str], partition: int) -> pd.DataFrame:
    """Every ``$I``/``$R`` pair under ``$Recycle.Bin``: the owner's SID (the folder's name), the two files, what
    ``$I`` says (original path, size, deletion time) and the ``$R`` file's MFT entry (its content, renamed)."""
    files = disk.list_files(image, partition=partition, include_deleted=False)
    recycled = files[files["path"].str.casefold().str.startswith("/$recycle.bin/") & files["name"].str.startswith("$I")
                     & (files["stream"] == "")]
    rows = []
    for row in recycled.itertuples():
        info = recycle_index(disk.read_file(image, int(row.inode), partition=partition))
        data_path = row.path.rsplit("/", 1)[0] + "/$R" + str(row.name)[2:]
        data = files[files["path"] == data_path]
        rows.append({"sid": row.path.split("/")[2], "index_file": row.path, "data_file": data_path,
                     "data_entry": int(data["inode"].iloc[0]) if not data.empty else None, **info})
    return pd.DataFrame(rows, columns=["sid", "index_file", "data_file", "data_entry", "version", "original", "size",
                                       "deleted"])


# -- the registry ---------------------------------------------------------------------------------------------------


def _hive(path: str | os.PathLike[str]) -> Any:
    from regipy.registry import RegistryHive  # imported late: regipy is slow to import and only some cells use it

    return RegistryHive(str(path))


def _ts(value: Any) -> pd.Timestamp | None:
    """A time regipy gives (a datetime or its text, with or without a zone; Windows' are UTC) as a UTC timestamp."""
    if value is None:
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def registry_key(hive: str | os.PathLike[str], key: str) -> tuple[pd.Timestamp | None, dict[str, Any]]:
    """A key's last-written time and its values (name → data), like regipy's ``registry-dump`` of one key.
    ``key`` is the path inside the hive (``ControlSet001\\Services``); a missing key is (None, {})."""
    from regipy.exceptions import RegistryKeyNotFoundException

    try:
        found = _hive(hive).get_key("\\" + key.lstrip("\\"))
    except RegistryKeyNotFoundException:
        return None, {}
    return filetime(found.header.last_modified), {
        v.name: v.value for v in found.iter_values()}


def subkeys(hive: str | os.PathLike[str], key: str) -> pd.DataFrame:
    """The subkeys of ``key``: name and last-written time."""
    from regipy.exceptions import RegistryKeyNotFoundException

    try:
        found = _hive(hive).get_key("\\" + key.lstrip("\\"))
    except RegistryKeyNotFoundException:
        return pd.DataFrame(columns=["name", "last_written"])
    rows = [{"name": sk.name, "last_written": filetime(sk.header.last_modified)} for sk in found.iter_subkeys()]
    return pd.DataFrame(rows, columns=["name", "last_written"])


def _current_control_set(system: str | os.PathLike[str]) -> str:
    _, select = registry_key(system, "Select")
    return f"ControlSet{int(select.get('Current', 1)):03d}"


def computer_name(system: str | os.PathLike[str]) -> str:
    """SYSTEM's ComputerName, in the control set Windows booted with (``Select\\Current``)."""
    _, values = registry_key(system, _current_control_set(system) + r"\Control\ComputerName\ComputerName")
    return str(values.get("ComputerName", ""))


def time_zone(system: str | os.PathLike[str]) -> str:
    """SYSTEM's ``TimeZoneKeyName`` (the Windows name of the machine's time zone) and the bias it states."""
    _, values = registry_key(system, _current_control_set(system) + r"\Control\TimeZoneInformation")
    return str(values.get("TimeZoneKeyName", ""))


def profiles(software: str | os.PathLike[str]) -> pd.DataFrame:
    """SOFTWARE's ProfileList: each account that has logged on, by SID, with its home folder and the key's
    last-written time (the profile was last loaded then). A user's SID ends with their RID (1000 and up)."""
    key = r"Microsoft\Windows NT\CurrentVersion\ProfileList"
    rows = []
    for sub in subkeys(software, key).itertuples():
        _, values = registry_key(software, f"{key}\\{sub.name}")
        rows.append({"sid": sub.name, "profile": values.get("ProfileImagePath", ""), "last_written": sub.last_written})
    return pd.DataFrame(rows, columns=["sid", "profile", "last_written"])


def usb_devices(system: str | os.PathLike[str]) -> pd.DataFrame:
    """USBSTOR: each USB mass-storage device ever attached (``Disk&Ven_..&Prod_..&Rev_..``), its serial number (the
    instance key's name without the ``&0`` Windows appends), and the device's property times: first install
    (``0064``), last arrival (``0066``) and last removal (``0067``)."""
    root = _current_control_set(system) + r"\Enum\USBSTOR"
    stamps = "{83da6326-97a6-4088-9453-a1923f573b29}"
    rows = []
    for device in subkeys(system, root).itertuples():
        for instance in subkeys(system, f"{root}\\{device.name}").itertuples():
            base = f"{root}\\{device.name}\\{instance.name}"
            _, values = registry_key(system, base)
            times = {}
            for code, label in (("0064", "first_installed"), ("0066", "last_arrival"), ("0067", "last_removal")):
                _, stamp = registry_key(system, f"{base}\\Properties\\{stamps}\\{code}")
                times[label] = _ts(stamp.get("(default)")) if stamp.get("(default)") else None
            serial = instance.name.rsplit("&", 1)[0] if instance.name.count("&") else instance.name
            rows.append({"device": device.name, "serial": serial, "friendly_name": values.get("FriendlyName", ""),
                         **times, "last_written": instance.last_written})
    return pd.DataFrame(rows, columns=["device", "serial", "friendly_name", "first_installed", "last_arrival",
                                       "last_removal", "last_written"])


START_TYPES = {0: "boot start", 1: "system start", 2: "auto start", 3: "demand start", 4: "disabled"}


def services(system: str | os.PathLike[str]) -> pd.DataFrame:
    """Every service of the current control set: name, ImagePath, start type and the key's last-written time
    (the moment the Service Control Manager created or last changed it)."""
    root = _current_control_set(system) + r"\Services"
    rows = []
    for sub in subkeys(system, root).itertuples():
        _, values = registry_key(system, f"{root}\\{sub.name}")
        if "ImagePath" not in values:
            continue  # a driver's parameters or a protocol's settings, not a service
        rows.append({"name": sub.name, "image_path": values["ImagePath"],
                     "start": START_TYPES.get(int(values.get("Start", 3)), str(values.get("Start"))),
                     "last_written": sub.last_written})
    return pd.DataFrame(rows, columns=["name", "image_path", "start", "last_written"])


def run_key(hive: str | os.PathLike[str], software: bool = True) -> pd.DataFrame:
    """The Run key (programs started at every logon): SOFTWARE's for every user, NTUSER.DAT's (``software=False``)
    for one; each value's name and command, and the key's last-written time (when a value was last added)."""
    key = r"Microsoft\Windows\CurrentVersion\Run" if software else r"Software\Microsoft\Windows\CurrentVersion\Run"
    when, values = registry_key(hive, key)
    return pd.DataFrame([{"name": n, "command": v, "last_written": when} for n, v in values.items()],
                        columns=["name", "command", "last_written"])


USER_ASSIST = r"Software\Microsoft\Windows\CurrentVersion\Explorer\UserAssist"


def user_assist(ntuser: str | os.PathLike[str]) -> pd.DataFrame:
    """UserAssist: the programs a user started from Explorer, names ROT13-encoded by Windows (decoded here), with
    the run count and the last run (Windows 7 and later: a 72-byte value, count at 4, FILETIME at 60)."""
    rows = []
    for guid in subkeys(ntuser, USER_ASSIST).itertuples():
        _, values = registry_key(ntuser, f"{USER_ASSIST}\\{guid.name}\\Count")
        for name, data in values.items():
            raw = bytes.fromhex(data) if isinstance(data, str) else bytes(data or b"")
            count, last = (struct.unpack_from("<I", raw, 4)[0], filetime(struct.unpack_from("<Q", raw, 60)[0])) \
                if len(raw) >= 68 else (None, None)
            rows.append({"encoded": name, "program": codecs.decode(name, "rot13"), "run_count": count,
                         "last_run": last, "guid": guid.name})
    return pd.DataFrame(rows, columns=["program", "run_count", "last_run", "encoded", "guid"])


def recent_docs(ntuser: str | os.PathLike[str]) -> pd.DataFrame:
    """RecentDocs: the documents a user opened, most recent first (``MRUListEx``), per extension subkey; the
    subkey's last-written time is when its most recent document was opened."""
    root = r"Software\Microsoft\Windows\CurrentVersion\Explorer\RecentDocs"
    rows = []
    for sub in subkeys(ntuser, root).itertuples():
        _, values = registry_key(ntuser, f"{root}\\{sub.name}")
        mru = values.get("MRUListEx", "")
        raw = bytes.fromhex(mru) if isinstance(mru, str) else bytes(mru or b"")
        order = [i for (i,) in struct.iter_unpack("<I", raw[: len(raw) // 4 * 4]) if i != 0xFFFFFFFF]
        for position, index in enumerate(order):
            data = values.get(str(index), "")
            blob = bytes.fromhex(data) if isinstance(data, str) else bytes(data or b"")
            name = blob.decode("utf-16-le", "replace").split("\0")[0]
            rows.append({"extension": sub.name, "position": position, "name": name,
                         "last_written": sub.last_written if position == 0 else None})
    return pd.DataFrame(rows, columns=["extension", "position", "name", "last_written"])


# -- event logs -----------------------------------------------------------------------------------------------------


def _event_id(system: dict[str, Any]) -> int:
    value = system.get("EventID")
    return int(value["#text"] if isinstance(value, dict) else value)


def events(log: str | os.PathLike[str], event_ids: tuple[int, ...] | None = None) -> pd.DataFrame:
    """An EVTX file's records (the Rust ``evtx`` parser, as ``evtx_dump`` prints them): time (UTC), event id,
    record id, channel, computer, and the event's data fields as a dict. ``event_ids`` keeps only those."""
    import evtx

    rows = []
    for record in evtx.PyEvtxParser(str(log)).records_json():
        event = json.loads(record["data"])["Event"]
        system = event["System"]
        eid = _event_id(system)
        if event_ids and eid not in event_ids:
            continue
        data = event.get("EventData") or event.get("UserData") or {}
        if len(data) == 1 and isinstance(next(iter(data.values())), dict):  # UserData wraps its fields once
            data = next(iter(data.values()))
        fields = {k: v for k, v in (data or {}).items() if k != "#attributes"}
        rows.append({"time": pd.Timestamp(system["TimeCreated"]["#attributes"]["SystemTime"]).tz_convert("UTC"),
                     "event_id": eid, "record_id": int(system["EventRecordID"]), "channel": system.get("Channel", ""),
                     "computer": system.get("Computer", ""), "fields": fields})
    frame = pd.DataFrame(rows, columns=["time", "event_id", "record_id", "channel", "computer", "fields"])
    return frame.sort_values(["time", "record_id"], kind="stable").reset_index(drop=True)


LOGON_TYPES = {2: "interactive (keyboard)", 3: "network", 5: "service", 7: "unlock", 10: "remote interactive (RDP)",
               11: "cached interactive"}


def logons(security: str | os.PathLike[str]) -> pd.DataFrame:
    """Security 4624 (an account logged on): when, the logon type (2 at the keyboard, 10 over Remote Desktop),
    who, from which address and workstation, with the logon id that ties later events to this session."""
    rows = []
    for e in events(security, (4624,)).itertuples():
        f = e.fields
        kind = int(f.get("LogonType", 0))
        rows.append({"time": e.time, "logon_type": kind, "meaning": LOGON_TYPES.get(kind, ""),
                     "user": f.get("TargetUserName", ""), "ip": f.get("IpAddress", ""),
                     "workstation": f.get("WorkstationName", ""), "logon_id": f.get("TargetLogonId", ""),
                     "process": f.get("ProcessName", "")})
    return pd.DataFrame(rows, columns=["time", "logon_type", "meaning", "user", "ip", "workstation", "logon_id",
                                       "process"])


# -- browser, shortcuts, change journal -----------------------------------------------------------------------------


def chrome_history(path: str | os.PathLike[str]) -> dict[str, pd.DataFrame]:
    """Chrome's (or Edge's) ``History`` SQLite database, read from a copy (SQLite may write beside the file it
    opens, and evidence is never written): ``visits`` (time, URL, title) and ``downloads`` (start and end time,
    target path, size, URL chain)."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "History"
        copy.write_bytes(Path(path).read_bytes())
        with sqlite3.connect(f"file:{copy}?mode=ro&immutable=1", uri=True) as db:
            visits = [{"time": webkit_time(t), "url": u, "title": title} for t, u, title in db.execute(
                "SELECT visits.visit_time, urls.url, urls.title FROM visits JOIN urls ON urls.id = visits.url "
                "ORDER BY visits.visit_time, visits.id")]
            downloads = []
            for did, start, end, target, size, tab_url in db.execute(
                    "SELECT id, start_time, end_time, target_path, total_bytes, tab_url FROM downloads ORDER BY id"):
                chain = [u for (u,) in db.execute(
                    "SELECT url FROM downloads_url_chains WHERE id = ? ORDER BY chain_index", (did,))]
                downloads.append({"start": webkit_time(start), "end": webkit_time(end), "target_path": target,
                                  "size": size, "url": chain[-1] if chain else tab_url, "tab_url": tab_url})
    return {"visits": pd.DataFrame(visits, columns=["time", "url", "title"]),
            "downloads": pd.DataFrame(downloads, columns=["start", "end", "target_path", "size", "url", "tab_url"])}


def shell_link(data: bytes) -> dict[str, Any]:
    """A Shell Link (``.lnk``) file's header and local path (MS-SHLLINK): the target's creation, access and write
    times as they were when the link was made, its size, and LinkInfo's local base path."""
    if len(data) < 76 or struct.unpack_from("<I", data, 0)[0] != 0x4C:
        raise EvidenceError("not a Shell Link file (no 0x4C header)", f"{len(data)} bytes")
    flags, _attributes, created, accessed, written, size = struct.unpack_from("<IIQQQI", data, 0x14)
    offset = 76
    if flags & 0x1:  # HasLinkTargetIDList
        offset += 2 + struct.unpack_from("<H", data, offset)[0]
    target = ""
    if flags & 0x2 and offset + 28 <= len(data):  # HasLinkInfo
        info_flags = struct.unpack_from("<I", data, offset + 8)[0]
        if info_flags & 0x1:  # VolumeIDAndLocalBasePath
            base = offset + struct.unpack_from("<I", data, offset + 16)[0]
            target = data[base:data.index(b"\0", base)].decode("cp1252", "replace")
    return {"target": target, "created": filetime(created), "accessed": filetime(accessed),
            "written": filetime(written), "size": size}


PREFETCH_RUN_SLOTS = 8
"""Windows 8 and later keep the last eight run times in a Prefetch file; XP and 7 keep one."""


def prefetch(data: bytes) -> dict[str, Any]:
    """A Prefetch file (``Windows/Prefetch/NAME-HASH.pf``, any SCCA version, compressed or not) as libscca reads it:
    the executable's name (Windows cuts it to 29 characters), how many times it ran, its last run times (newest
    first, as Windows keeps them: up to eight since Windows 8), and where it ran from. The path is the file
    metrics' entry for the executable itself, as the kernel named it (``\\VOLUME{...}\\WINDOWS\\...``), and
    the same with the volume's device path taken off (``volume_path``) so that it reads against ``fls``; the volume
    information gives that device path, its serial number and creation time. Why libscca: the files are
    LZXPRESS-Huffman compressed since Windows 10, which no tool the no-code path has decodes."""
    import pyscca  # imported here: the rest of this module runs without it

    scca = pyscca.file()
    try:
        scca.open_file_object(io.BytesIO(data))
    except OSError as exc:
        raise EvidenceError("not a Prefetch file libscca can read", str(exc).splitlines()[0]) from None
    try:
        name = scca.executable_filename
        runs = []
        for index in range(PREFETCH_RUN_SLOTS):
            try:
                value = scca.get_last_run_time_as_integer(index)
            except OSError:  # older formats hold fewer slots
                break
            if value:
                runs.append(filetime(value))
        volumes = [scca.get_volume_information(i) for i in range(scca.number_of_volumes)]
        metrics = [scca.get_file_metrics_entry(i) for i in range(scca.number_of_file_metrics_entries)]
        # the executable's own entry: its last component is the name (which Windows may have cut short)
        own = [m for m in metrics if m.filename.rsplit("\\", 1)[-1].upper() == name.upper()] or [
            m for m in metrics if m.filename.rsplit("\\", 1)[-1].upper().startswith(name.upper())]
        path = own[0].filename if own else ""
        reference = own[0].file_reference if own else None
        volume = next((v for v in volumes if path.upper().startswith(v.device_path.upper() + "\\")),
                      volumes[0] if volumes else None)
        device = volume.device_path if volume is not None else ""
        return {"executable": name, "run_count": scca.run_count, "last_run": runs[0] if runs else None,
                "run_times": runs, "path": path,
                "volume_path": path[len(device):] if device and path.upper().startswith(device.upper()) else path,
                "mft_entry": reference & 0xFFFF_FFFF_FFFF if reference else None,
                "volume_device": device,
                "volume_serial": f"{volume.serial_number:08X}" if volume is not None else "",
                "volume_created": (filetime(volume.get_creation_time_as_integer())
                                   if volume is not None else None),
                "prefetch_hash": f"{scca.prefetch_hash:08X}", "format_version": scca.format_version}
    finally:
        scca.close()


def prefetch_files(image: str | os.PathLike[str], partition: int) -> pd.DataFrame:
    """Every ``Windows/Prefetch/*.pf`` on the volume, one row each, newest run first: what ran, how often, when
    last, from where (:func:`prefetch`), with the ``.pf`` file's own name and MFT entry."""
    files = disk.list_files(image, partition=partition, include_deleted=False)
    chosen = files[files["path"].str.casefold().str.startswith("/windows/prefetch/")
                   & files["name"].str.casefold().str.endswith(".pf") & (files["stream"] == "")]
    rows = []
    for row in chosen.itertuples():
        try:
            info = prefetch(disk.read_file(image, str(row.address), partition=partition))
        except EvidenceError:
            continue  # not every .pf is whole (a layout file, a partial write): skip, as psort does
        rows.append({"file": str(row.name), "entry": int(row.inode), **info})
    columns = ["file", "entry", "executable", "run_count", "last_run", "run_times", "path", "volume_path",
               "mft_entry", "volume_device", "volume_serial", "volume_created", "prefetch_hash", "format_version"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(["last_run", "file"], ascending=[False, True], kind="stable").reset_index(drop=True)


USN_REASONS = {0x1: "DATA_OVERWRITE", 0x2: "DATA_EXTEND", 0x4: "DATA_TRUNCATION", 0x10: "NAMED_DATA_OVERWRITE",
               0x20: "NAMED_DATA_EXTEND", 0x40: "NAMED_DATA_TRUNCATION", 0x100: "FILE_CREATE", 0x200: "FILE_DELETE",
               0x400: "EA_CHANGE", 0x800: "SECURITY_CHANGE", 0x1000: "RENAME_OLD_NAME", 0x2000: "RENAME_NEW_NAME",
               0x4000: "INDEXABLE_CHANGE", 0x8000: "BASIC_INFO_CHANGE", 0x10000: "HARD_LINK_CHANGE",
               0x20000: "COMPRESSION_CHANGE", 0x40000: "ENCRYPTION_CHANGE", 0x80000: "OBJECT_ID_CHANGE",
               0x100000: "REPARSE_POINT_CHANGE", 0x200000: "STREAM_CHANGE", 0x80000000: "CLOSE"}


def usn_journal(data: bytes) -> pd.DataFrame:
    """``$Extend/$UsnJrnl:$J`` records (USN_RECORD_V2): time, the file's MFT entry and sequence, its parent's
    entry, the reasons (FILE_CREATE, RENAME_NEW_NAME, FILE_DELETE, ...) and the name. The stream is sparse at its
    start (records Windows dropped); zero runs are skipped."""
    rows = []
    offset = 0
    end = len(data)
    while offset + 60 <= end:
        (length,) = struct.unpack_from("<I", data, offset)
        if length == 0:
            offset += 8
            continue
        major = struct.unpack_from("<H", data, offset + 4)[0]
        if major != 2 or length < 60 or offset + length > end:
            offset += 8
            continue
        ref, parent, usn, stamp, reason = struct.unpack_from("<QQQQI", data, offset + 8)
        name_length, name_offset = struct.unpack_from("<HH", data, offset + 56)
        name = data[offset + name_offset:offset + name_offset + name_length].decode("utf-16-le", "replace")
        rows.append({"time": filetime(stamp), "usn": usn, "entry": ref & 0xFFFFFFFFFFFF, "sequence": ref >> 48,
                     "parent": parent & 0xFFFFFFFFFFFF, "name": name,
                     "reasons": "|".join(v for k, v in USN_REASONS.items() if reason & k)})
        offset += (length + 7) // 8 * 8
    return pd.DataFrame(rows, columns=["time", "usn", "entry", "sequence", "parent", "name", "reasons"])


# -- the super-timeline -----------------------------------------------------------------------------------------------

_MACB = {"modified": "M", "accessed": "A", "mft_modified": "C", "created": "B"}


def _row(when: pd.Timestamp, macb: str, source: str, sourcetype: str, kind: str, short: str, desc: str,
         filename: str, inode: str = "-", user: str = "-", host: str = "-") -> dict[str, Any]:
    return {"datetime": when, "date": when.strftime("%m/%d/%Y"), "time": when.strftime("%H:%M:%S"),
            "timezone": "UTC", "MACB": macb, "source": source, "sourcetype": sourcetype, "type": kind, "user": user,
            "host": host, "short": short, "desc": desc, "version": 2, "filename": filename, "inode": inode,
            "notes": "-", "format": "dflab", "extra": "-"}


def _letters(times: dict[str, Any]) -> dict[pd.Timestamp, str]:
    """Times equal to the nanosecond merge into one row whose MACB holds each letter in its place, as psort does."""
    merged: dict[pd.Timestamp, set[str]] = {}
    for field, letter in _MACB.items():
        if times.get(field) is not None:
            merged.setdefault(times[field], set()).add(letter)
    return {when: "".join(c if c in letters else "." for c in "MACB") for when, letters in merged.items()}


def super_timeline(image: str | os.PathLike[str], work: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """One table of every time the disk holds, sorted, with psort's ``l2tcsv`` columns (and ``datetime`` first):
    MFT ``$STANDARD_INFORMATION`` and ``$FILE_NAME`` times of every file, the change journal, every event of every
    event log, every registry key's last-written time, UserAssist and USB times, the Recycle Bin, Prefetch's run
    times, and Chrome History and Recent ``.lnk`` files where the disk holds them. ``work`` is where the hives and
    logs are copied to be parsed (a temporary folder if not given)."""
    part = windows_partition(image)
    files = disk.list_files(image, partition=part)
    host = ""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(work or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        live = files[~files["deleted"]]

        def copy(row: Any, name: str) -> Path:
            dest = folder / name
            disk.extract(image, str(row.address), dest, partition=part)
            return dest

        system = copy(live[live["path"].str.casefold() == "/windows/system32/config/system"].iloc[0], "SYSTEM")
        host = computer_name(system)
        # 1. the file system: both attributes' times of every file
        for row in files[(files["stream"] == "") & files["type"].isin(["file", "dir"])].itertuples():
            if str(row.name) in (".", ".."):
                continue
            for times in mft_times(image, int(row.inode), part).to_dict("records"):
                short = f"{windows_path(row.path)}{' (deleted)' if row.deleted else ''}"
                source = "NTFS $SI" if times["attribute"] == "$STANDARD_INFORMATION" else "NTFS $FN"
                for when, macb in _letters(times).items():
                    rows.append(_row(when, macb, "FILE", source, "Content Modification Time" if "M" in macb else
                                     "Creation Time" if "B" in macb else "Metadata Modification Time", short,
                                     f"{times['attribute']} {short}", windows_path(row.path), str(row.inode),
                                     host=host))
        # 2. the change journal
        for row in live[live["path"].str.endswith("$UsnJrnl:$J")].itertuples():
            for r in usn_journal(disk.read_file(image, str(row.address), partition=part)).itertuples():
                rows.append(_row(r.time, "....", "FILE", "NTFS USN change",
                                 "Update Journal Entry", f"{r.name} {r.reasons}",
                                 f"USN {r.usn}: {r.name} (entry {r.entry}, parent {r.parent}) {r.reasons}",
                                 "$Extend\\$UsnJrnl:$J", str(r.entry), host=host))
        # 3. event logs
        for row in live[live["path"].str.casefold().str.startswith("/windows/system32/winevt/logs/")
                        & live["name"].str.casefold().str.endswith(".evtx") & (live["stream"] == "")].itertuples():
            log = copy(row, str(row.name))
            for e in events(log).itertuples():
                detail = "; ".join(f"{k}={v}" for k, v in e.fields.items())
                rows.append(_row(e.time, "M...", "EVT", "WinEVTX", "Content Modification Time",
                                 f"[{e.event_id}] {e.channel}", f"[{e.event_id} / record {e.record_id}] {detail}",
                                 windows_path(row.path), str(row.inode), host=e.computer or host))
        # 4. registry: every key's last-written time, and the times values hold
        hives = [(r, str(r.name)) for r in live.itertuples() if r.stream == "" and (
            r.path.casefold() in {f"/windows/system32/config/{h.casefold()}" for h in HIVES}
            or str(r.name).casefold() in ("ntuser.dat", "usrclass.dat"))]
        for row, name in hives:
            path = copy(row, f"{row.inode}-{name}")
            for key in _hive(path).recurse_subkeys(as_json=False):
                rows.append(_row(_ts(key.timestamp), "M...", "REG", "Registry Key", "Content Modification Time",
                                 f"[{name}] {key.path}", f"[{key.path}] last written", windows_path(row.path),
                                 str(row.inode), host=host))
            if name.casefold() == "ntuser.dat":
                user = row.path.split("/")[2] if row.path.count("/") > 2 else "-"
                for ua in user_assist(path).itertuples():
                    if ua.last_run is not None:
                        rows.append(_row(ua.last_run, ".A..", "REG", "UserAssist",
                                         "Last Time Executed", f"UserAssist: {ua.program}",
                                         f"{ua.program} run {ua.run_count} time(s)", windows_path(row.path),
                                         str(row.inode), user=user, host=host))
        for usb in usb_devices(system).itertuples():
            for label in ("first_installed", "last_arrival", "last_removal"):
                when = getattr(usb, label)
                if when is not None:
                    rows.append(_row(when, "....", "REG", "USBStor", label.replace("_", " "),
                                     f"USB {usb.device} serial {usb.serial}", f"{label}: {usb.device} {usb.serial}",
                                     "\\Windows\\System32\\config\\SYSTEM", "-", host=host))
        # 5. Recycle Bin, browser, shortcuts
        for r in recycle_bin(image, part).itertuples():
            rows.append(_row(r.deleted, "....", "RECBIN", "Recycle Bin", "Content Deletion Time",
                             f"{r.original} (recycled)",
                             f"{r.original} -> {windows_path(r.data_file)} ({r.size} bytes)",
                             windows_path(r.index_file), str(r.data_entry), host=host))
        # Prefetch: one row per run time Windows kept, as plaso's prefetch parser gives them (the newest "Last Time
        # Executed", each earlier one "Previous Last Time Executed"; psort's LOG / WinPrefetch)
        for row in live[live["path"].str.casefold().str.startswith("/windows/prefetch/")
                        & live["name"].str.casefold().str.endswith(".pf") & (live["stream"] == "")].itertuples():
            try:
                pf = prefetch(disk.read_file(image, str(row.address), partition=part))
            except EvidenceError:
                continue
            volume = (f" volume: 1 [serial number: 0x{pf['volume_serial']}, device path: {pf['volume_device']}]"
                      if pf["volume_device"] else "")
            for index, when in enumerate(pf["run_times"]):
                rows.append(_row(when, "....", "LOG", "WinPrefetch",
                                 "Last Time Executed" if index == 0 else "Previous Last Time Executed",
                                 f"{pf['executable']} was run {pf['run_count']} time(s)",
                                 f"Prefetch [{pf['executable']}] was executed - run count {pf['run_count']} "
                                 f"path hints: {pf['volume_path']} hash: 0x{pf['prefetch_hash']}{volume}",
                                 windows_path(row.path), str(row.inode), host=host))
        for row in live[(live["name"] == "History") & (live["stream"] == "")
                        & live["path"].str.contains("/User Data/", regex=False)].itertuples():
            history = chrome_history(copy(row, f"{row.inode}-History"))
            for v in history["visits"].itertuples():
                rows.append(_row(v.time, ".A..", "WEBHIST", "Chrome History", "Last Visited Time", v.url,
                                 f"{v.url} ({v.title})", windows_path(row.path), str(row.inode), host=host))
            for d in history["downloads"].itertuples():
                for when, what in ((d.start, "Start Time"), (d.end, "End Time")):
                    if when is not None:
                        rows.append(_row(when, "....", "WEBHIST", "Chrome History", f"File Downloaded {what}",
                                         f"{d.url} -> {d.target_path}", f"{d.url} -> {d.target_path} ({d.size} bytes)",
                                         windows_path(row.path), str(row.inode), host=host))
        for row in live[live["name"].str.casefold().str.endswith(".lnk") & (live["stream"] == "")].itertuples():
            try:
                link = shell_link(disk.read_file(image, str(row.address), partition=part))
            except EvidenceError:
                continue
            for when, macb in _letters({"created": link["created"], "accessed": link["accessed"],
                                        "modified": link["written"]}).items():
                rows.append(_row(when, macb, "LNK", "Windows Shortcut", "Target times", link["target"],
                                 f"{row.name} -> {link['target']}", windows_path(row.path), str(row.inode), host=host))
    frame = pd.DataFrame([r for r in rows if r["datetime"] is not None], columns=["datetime", *L2TCSV])
    frame["datetime"] = pd.to_datetime(frame["datetime"], utc=True)
    return frame.sort_values(["datetime", "source", "filename", "short"], kind="stable").reset_index(drop=True)


def shutdown_time(system: str | os.PathLike[str]) -> pd.Timestamp | None:
    """SYSTEM's ``Control\\Windows\\ShutdownTime``: a FILETIME Windows writes at each clean shutdown."""
    _, values = registry_key(system, _current_control_set(system) + r"\Control\Windows")
    raw = values.get("ShutdownTime")
    if raw is None:
        return None
    data = bytes.fromhex(raw) if isinstance(raw, str) else bytes(raw)
    return filetime(struct.unpack_from("<Q", data, 0)[0]) if len(data) >= 8 else None
