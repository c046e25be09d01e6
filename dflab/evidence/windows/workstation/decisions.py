"""Every fact the artefacts share, decided once from the case: identities drawn from the seed, paths, contents.

Windows draws SIDs, serials, process and logon ids at random; the case draws them from its seed
(``dflab.scenario.draw.number``/``stream``: SHA-256 of the seed and what is drawn), so the same case always gives
the same machine and different seeds give different trainees different answers. The registry, the event logs and
the volume read these, never the seed.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from dflab.errors import DflabError
from dflab.evidence.windows.registry import Service, UsbStick
from dflab.scenario.draw import number, stream

from .description import WorkstationCase

SYSTEM32 = "Windows/System32"
CONFIG = f"{SYSTEM32}/config"
LOGS = f"{SYSTEM32}/winevt/Logs"
RUN_KEY = r"Microsoft\Windows\CurrentVersion\Run"
IMPLANT_START_DELAY = timedelta(seconds=9)
"""From the user's logon to explorer.exe starting the Run value's program."""
PROCESSES = ("lsass", "svchost", "services", "eventlog", "explorer", "explorer2", "payload", "implant", "powershell")
_ID_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


# The seed's derivations have one owner, dflab.scenario.draw; named here as the workstation's modules call them.
draw = number
blob = stream


def windows_path(path: str) -> str:
    """A volume path (``Users/x``) as Windows shows it on C: (``C:\\Users\\x``)."""
    return "C:\\" + path.replace("/", "\\")


@dataclass(frozen=True)
class Decisions:
    """The shared facts: who, which ids, where each file lives (volume paths, '/'-separated), what it holds."""

    machine_sid: str
    user_sid: str
    intruder_ip: str
    intruder_ports: dict[str, int]
    """The intruder's client port per Remote Desktop logon step (``remote_logon``, ``returned``): a client picks a new
    ephemeral port for each connection, so the 4624 (IpPort) and the capture's RDP session of one visit share one."""
    intruder_workstation: str
    volume_serial: int
    recycle_id: str
    usb: UsbStick
    logon_ids: dict[str, int]
    """Per logon step of the timeline (``logon``, ``remote_logon``, ``next_logon``, ``returned``)."""
    pids: dict[str, int]
    """System processes (lsass, svchost, services, eventlog, explorer, explorer2) and the story's (payload, implant,
    powershell)."""
    home: str
    documents: tuple[str, str, str]
    payload: str
    implant: str
    implant_command: str
    service: Service
    """The implant's service, as the persistence script's ``New-Service`` had the SCM create it."""
    zone_identifier: bytes
    contents: dict[str, bytes]
    """Content of each story file by volume path."""
    document_copied: tuple[datetime, datetime, datetime]
    """When each document was copied from the stick (seconds apart, after it was inserted)."""
    script_block_id: str
    implant_started: datetime
    """When explorer.exe started the Run value's program after the next logon (the 4688 that survives)."""
    activity: Activity
    """The user-activity artefacts' facts: the browser session and download, Recent's links, Prefetch."""


# -- user activity: Chrome's History, Explorer's Recent links, Prefetch ------------------------------------------------

CHROME_PROFILE = "AppData/Local/Google/Chrome/User Data/Default"
RECENT = "AppData/Roaming/Microsoft/Windows/Recent"
PREFETCH = "Windows/Prefetch"
CHROME_LAUNCH = timedelta(seconds=6)
"""From Chrome's start (its profile made, History created) to the first page typed."""
PREFETCH_DELAY = timedelta(seconds=10)
"""The Prefetch trace covers a process's first ten seconds; its run time and the .pf are written then."""
DOWNLOAD_RATE = 40_000
"""Bytes a second the download came at (a slow server abroad): its end is start + size / rate, at least 1 s."""
CHROME_CLOSED = timedelta(seconds=20)
"""From the download's end to the intruder closing Chrome (History's handle closed)."""
HARDDISK_VOLUME = 2
"""C:'s device, ``\\Device\\HarddiskVolume2``: the ESP is volume 1, the MSR gets no volume device."""
DOWNLOAD_MIME = "application/octet-stream"
"""The Content-Type the download server sent, which Chrome stores (the capture's HTTP response says the same)."""
SYSTEM_DLLS = (("ntdll.dll", 2_012_968), ("kernel32.dll", 773_168), ("KernelBase.dll", 2_987_944),
               ("locale.nls", 831_960), ("msvcrt.dll", 637_360), ("advapi32.dll", 675_192), ("sechost.dll", 656_432),
               ("rpcrt4.dll", 1_177_008), ("bcryptPrimitives.dll", 485_328), ("ws2_32.dll", 434_616))
"""What a plain Win32 program loads in its first ten seconds (and Prefetch lists), with Windows 10 22H2's sizes;
``locale.nls`` is read, not mapped. The case's copies are stand-ins of those sizes, the same on every case."""


@dataclass(frozen=True)
class Activity:
    """What the user-activity artefacts share. Paths are volume paths; times UTC-aware."""

    chrome_started: datetime
    download_started: datetime
    """Chrome's start_time: the ``.crdownload`` is created (the file's $SI created time)."""
    download_finished: datetime
    """Chrome's end_time: the partial file renamed to its name and Zone.Identifier written."""
    download_page: str
    """The page the download was started from: History's referrer and tab URL, Zone.Identifier's ReferrerUrl."""
    page_title: str
    search_terms: str
    partial_name: str
    history: str
    document_link: str
    folder_link: str
    volume_guid: uuid.UUID
    volume_object_id: uuid.UUID
    link_clock_sequence: int
    dlls: tuple[str, ...]
    payload_runs: tuple[datetime, ...]
    implant_runs: tuple[datetime, ...]
    """When each process started (Prefetch records each PREFETCH_DELAY later)."""


def link_name(name: str) -> str:
    """The name Explorer gives a document's link in Recent (and RecentDocs names): the name less its extension."""
    return (name.rsplit(".", 1)[0] if "." in name else name) + ".lnk"


def _activity(case: WorkstationCase, home: str, payload_size: int, implant_started: datetime) -> Activity:
    seed, t = case.seed, case.timeline
    folder = case.download_url.rsplit("/", 1)[0]
    stem = case.payload_name.rsplit(".", 1)[0]
    terms = re.sub(r"[^0-9A-Za-z]+", " ", stem).strip().lower() + " download"
    started = t.downloaded
    finished = started + timedelta(seconds=max(1, -(-payload_size // DOWNLOAD_RATE)))
    # leading_to's visits: the engine typed 98 s before the download (11 s, 37 s, 50 s of reading).
    chrome_started = started - timedelta(seconds=98) - CHROME_LAUNCH
    if chrome_started <= t.remote_logon:
        raise DflabError("the download starts too soon after the remote logon for the browser session before it "
                         f"(allow {98 + CHROME_LAUNCH.seconds} s)", f"timeline.downloaded {started.isoformat()}")
    if finished + PREFETCH_DELAY >= t.payload_run:
        raise DflabError(f"the payload runs before its download ended ({finished.isoformat()})",
                         f"timeline.payload_run {t.payload_run.isoformat()}")

    def guid(what: str) -> uuid.UUID:
        return uuid.UUID(bytes=blob(seed, what, 16), version=4)

    return Activity(
        chrome_started=chrome_started, download_started=started, download_finished=finished,
        download_page=folder + "/", page_title=f"Index of {urlsplit(folder + '/').path}", search_terms=terms,
        partial_name=f"{case.payload_name}.crdownload", history=f"{home}/{CHROME_PROFILE}/History",
        document_link=f"{home}/{RECENT}/{link_name(case.documents[0])}",
        folder_link=f"{home}/{RECENT}/{link_name('Documents')}",  # the folder the document was opened from
        volume_guid=guid("volume-guid"), volume_object_id=guid("volume-object-id"),
        link_clock_sequence=draw(seed, "link-clock-sequence", 1 << 14),
        dlls=tuple(f"{SYSTEM32}/{name}" for name, _ in SYSTEM_DLLS),
        payload_runs=(t.payload_run,), implant_runs=(t.payload_run, implant_started))


_OFFICE_PARTS = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}


def _document(seed: str, path: str, index: int, saved: datetime) -> bytes:
    """A document's bytes: the third (deleted) one a small text file, stored resident in its MFT record; the others
    an Office file's container (a ZIP, entries stored, times fixed) holding the seed's text, non-resident."""
    if index == 2:
        return f"vpn: {draw(seed, 'vpn', 10**8):08d}\r\nsafe: {draw(seed, 'safe', 10**6):06d}\r\n".encode()
    body = blob(seed, f"document/{path}", 12_000 + draw(seed, f"size/{path}", 40_000)).hex()
    main_part = _OFFICE_PARTS.get(path.rsplit(".", 1)[-1], "content.xml")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as container:
        for name, text in (("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'),
                           ("docProps/app.xml", "<Properties/>"), (main_part, body)):
            entry = zipfile.ZipInfo(name, saved.timetuple()[:6])
            entry.create_system = 0  # as Office writes it, whatever machine builds the case
            container.writestr(entry, text)
    return out.getvalue()


RDP_STEPS = ("remote_logon", "returned")
"""The timeline steps at which the intruder logs on over Remote Desktop (4624 type 10), each a connection of its own."""


def _rdp_ports(seed: str) -> dict[str, int]:
    """One client port per RDP connection, drawn from the dynamic range the intruder's Windows client uses; two
    connections hours apart never reuse one (the first keeps the draw a single port used to have)."""
    ports: dict[str, int] = {}
    for step in RDP_STEPS:
        what = "port" if step == RDP_STEPS[0] else f"port/{step}"
        port, attempt = 49152 + draw(seed, what, 16000), 0
        while port in ports.values():
            attempt += 1
            port = 49152 + draw(seed, f"{what}/{attempt}", 16000)
        ports[step] = port
    return ports


def decide(case: WorkstationCase) -> Decisions:
    """The shared facts of ``case``; refuses a timeline too tight for the steps decided here."""
    seed = case.seed
    t = case.timeline
    copied = tuple(t.usb_inserted + timedelta(seconds=40 + 3 * i) for i in range(3))
    if t.document_opened <= copied[-1]:
        raise DflabError("the document is opened before it was copied from the stick (allow a minute)",
                         f"timeline.document_opened {t.document_opened.isoformat()}")
    if t.returned <= t.next_logon + IMPLANT_START_DELAY:
        raise DflabError("the intruder returns before the implant starts at the next logon",
                         f"timeline.returned {t.returned.isoformat()}")
    machine_sid = "S-1-5-21-" + "-".join(str(1_000_000_000 + draw(seed, f"sid/{i}", 3_000_000_000)) for i in range(3))
    home = f"Users/{case.user.name}"
    documents = tuple(f"{home}/Documents/{name}" for name in case.documents)
    payload = f"{home}/Downloads/{case.payload_name}"
    implant = f"{SYSTEM32}/{case.implant_name}"
    serial = "".join(f"{draw(seed, f'usb/{i}', 16):X}" for i in range(20))
    usb = UsbStick("SanDisk", "Cruzer Blade", "1.00", serial, 0x0781, 0x5567, t.usb_inserted, t.usb_inserted,
                   t.usb_removed, drive_letter="E", volume_label="USB")
    pids: dict[str, int] = {}
    for name in PROCESSES:
        attempt = 0
        while (pid := 4 * (100 + draw(seed, f"pid/{name}/{attempt}", 2400))) in pids.values():
            attempt += 1  # Windows never gives two live processes one id
        pids[name] = pid
    logon_ids = {step: 0x10000 + draw(seed, f"logon/{step}", 0xFFF0000)
                 for step in ("logon", "remote_logon", "next_logon", "returned")}
    contents = {path: _document(seed, path, i, saved) for i, (path, saved) in enumerate(
        zip(documents, copied, strict=True))}
    contents[payload] = b"MZ\x90\x00" + blob(seed, "payload", 40_000 + draw(seed, "payload-size", 60_000))
    contents[implant] = b"MZ\x90\x00" + blob(seed, "implant", 20_000 + draw(seed, "implant-size", 30_000))
    implant_command = f'"{windows_path(implant)}" -k netsvcs'
    activity = _activity(case, home, len(contents[payload]), t.next_logon + IMPLANT_START_DELAY)
    for (name, size), path in zip(SYSTEM_DLLS, activity.dlls, strict=True):
        contents[path] = b"MZ\x90\x00" + blob("windows-10-22h2", f"system32/{name}", size - 4)
    zone = (f"[ZoneTransfer]\r\nZoneId=3\r\nReferrerUrl={activity.download_page}\r\n"
            f"HostUrl={case.download_url}\r\n").encode()
    return Decisions(
        machine_sid=machine_sid,
        user_sid=f"{machine_sid}-{case.user.rid}",
        # The address the case places (a scenario spec draws it from its own range), else one drawn here.
        intruder_ip=case.intruder_ip or f"203.0.113.{1 + draw(seed, 'ip', 254)}",
        intruder_ports=_rdp_ports(seed),
        intruder_workstation=f"DESKTOP-{''.join(_ID_CHARS[draw(seed, f'ws/{i}', 36)] for i in range(7))}",
        volume_serial=draw(seed, "volume-serial", 1 << 64),
        recycle_id="".join(_ID_CHARS[draw(seed, f"recycle/{i}", 36)] for i in range(6)),
        usb=usb, logon_ids=logon_ids, pids=pids, home=home, documents=documents, payload=payload, implant=implant,
        implant_command=implant_command, service=Service(case.service_name, implant_command, t.persisted),
        zone_identifier=zone, contents=contents,
        document_copied=copied, script_block_id=stream(seed, "script", 16).hex(),
        implant_started=t.next_logon + IMPLANT_START_DELAY, activity=activity,
    )
