"""The user-activity artefacts on the volume, from the decisions: Chrome's History with the download, Explorer's
Recent links to the document opened and its folder, the Prefetch files of the payload, the implant, Chrome and
PowerShell, and the change journal's records of each (the ``.crdownload`` renamed, the links made, each .pf written
and rewritten).

Prefetch counts processes, not sessions: Chrome's browser process starts its crash handler, GPU process, network
and storage services and a renderer within two seconds, then a renderer per site it navigates to (site isolation),
each a run of ``chrome.exe``; PowerShell ran once, started by the payload to install the persistence (its 4688 is
cleared with the Security log; its console's 40961 and the script block's 4104 remain in PowerShell's log).

A link and a .pf hold MFT references, so they are made last, from the whole plan's numbering (``Numbering``: the
volume writer's ``record_numbers``, by creation time, and the 8.3 names it derives in that order), computed on the
plan with the links' and .pf's contents still empty (a number depends on paths and times only); the built volume's
``records`` must agree, which the tests check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from dflab.evidence.windows import lnk, prefetch
from dflab.evidence.windows.browser import Download, Visit, history, leading_to, search_url
from dflab.evidence.windows.browser.history import DANGER_USER_VALIDATED
from dflab.evidence.windows.browser.version import CHROME_VERSION
from dflab.evidence.windows.lnk.link import object_id
from dflab.evidence.windows.ntfs import PlannedFile, VolumePlan, creation_order, record_numbers
from dflab.evidence.windows.ntfs.shortname import is_short, short_name
from dflab.evidence.windows.ntfs.usn import Reason, UsnEvent, created, renamed, stream_added

from .decisions import (
    CHROME_CLOSED,
    DOWNLOAD_MIME,
    HARDDISK_VOLUME,
    PREFETCH,
    PREFETCH_DELAY,
    SYSTEM32,
    Decisions,
    windows_path,
)
from .description import WorkstationCase
from .logs import powershell_started

FIRST_USER_RECORD = next(f.default for f in fields(VolumePlan) if f.name == "first_user_record")
FIRST_USE = 1
"""Every record the plan gives is on its first use: sequence 1."""


def download(case: WorkstationCase, decided: Decisions) -> Download:
    """The download as Chrome's History holds it (the same facts Zone.Identifier and the volume show)."""
    a = decided.activity
    data = decided.contents[decided.payload]
    page = urlsplit(a.download_page)
    return Download((case.download_url,), windows_path(decided.payload), a.download_started, a.download_finished,
                    len(data), DOWNLOAD_MIME, a.download_page, a.download_page, search_url(a.search_terms),
                    f"{page.scheme}://{page.netloc}/", hashlib.sha256(data).digest(), DANGER_USER_VALIDATED)


def visits(case: WorkstationCase, decided: Decisions) -> list[Visit]:
    """The intruder's page loads before the download, as History records them (Google typed, the search, the
    download page followed from the results): what the capture's requests must match, time for time."""
    a = decided.activity
    return leading_to(download(case, decided), terms=a.search_terms, page_title=a.page_title)


def history_bytes(case: WorkstationCase, decided: Decisions) -> bytes:
    return history(visits(case, decided), (download(case, decided),))


def folders(decided: Decisions) -> list[str]:
    """The folders the artefacts live in, parents first, below the user's AppData (which ``files`` plans)."""
    out = [PREFETCH]
    for leaf in (decided.activity.document_link, decided.activity.history):
        parts = leaf.split("/")[:-1]
        out += ["/".join(parts[:k]) for k in range(len(decided.home.split("/")) + 2, len(parts) + 1)]
    return [p for p in dict.fromkeys(out) if p != f"{decided.home}/AppData/Local"]  # that one Windows made


def prefetch_volume(case: WorkstationCase, decided: Decisions) -> prefetch.Volume:
    return prefetch.Volume(case.timeline.installed, decided.volume_serial & 0xFFFF_FFFF, HARDDISK_VOLUME)


def executables(decided: Decisions) -> dict[str, tuple[datetime, ...]]:
    """The story's own programs (payload, implant): volume path → when each of its processes started."""
    return {decided.payload: decided.activity.payload_runs, decided.implant: decided.activity.implant_runs}


CHROME_HOME = "Program Files/Google/Chrome/Application"
CHROME_EXE = f"{CHROME_HOME}/chrome.exe"
POWERSHELL_EXE = f"{SYSTEM32}/WindowsPowerShell/v1.0/powershell.exe"
CHROME_CHILDREN = (timedelta(milliseconds=210), timedelta(milliseconds=930), timedelta(milliseconds=1_020),
                   timedelta(milliseconds=1_240), timedelta(milliseconds=1_570))
"""After the browser process: the crashpad handler, the GPU process, the network service, the storage service and
the new tab's renderer (each a ``chrome.exe --type=…``)."""
RENDERER_AHEAD = timedelta(milliseconds=180)
"""A navigation to a new site starts its renderer just before the page's load is committed (History's time)."""


def _site(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host if host.replace(".", "").isdigit() else ".".join(host.split(".")[-2:])


def chrome_runs(case: WorkstationCase, decided: Decisions) -> tuple[datetime, ...]:
    """Every ``chrome.exe`` process of the intruder's session, in order: the browser when History was made, its
    children, then a renderer for each site of History's visits (the search engine, the download's host)."""
    started = decided.activity.chrome_started
    runs = [started, *(started + delay for delay in CHROME_CHILDREN)]
    seen: set[str] = set()
    for visit in visits(case, decided):
        if _site(visit.url) not in seen:
            seen.add(_site(visit.url))
            runs.append(visit.time - RENDERER_AHEAD)
    return tuple(sorted(runs))


def traced(case: WorkstationCase, decided: Decisions) -> dict[str, tuple[datetime, ...]]:
    """Every program Prefetch traced in the story: volume path → when each of its processes started."""
    return {**executables(decided), CHROME_EXE: chrome_runs(case, decided),
            POWERSHELL_EXE: (powershell_started(case),)}


def loaded(case: WorkstationCase, decided: Decisions, exe: str) -> tuple[str, ...]:
    """What ``exe`` loads in its first ten seconds, itself last: Windows' DLLs, and Chrome's own chrome.dll."""
    own = (f"{CHROME_HOME}/{CHROME_VERSION}/chrome.dll",) if exe == CHROME_EXE else ()
    return (*decided.activity.dlls, *own, exe)


def _device_path(path: str) -> str:
    return "\\" + path.replace("/", "\\")


def prefetch_paths(case: WorkstationCase, decided: Decisions) -> dict[str, str]:
    """Each traced program's volume path → its .pf's volume path."""
    volume = prefetch_volume(case, decided)
    return {exe: f"{PREFETCH}/{prefetch.file_name(_device_path(exe), volume)}" for exe in traced(case, decided)}


def touches(case: WorkstationCase, decided: Decisions) -> list[tuple[str, datetime]]:
    """(file, when its name was added to its folder) for each artefact."""
    a, opened = decided.activity, case.timeline.document_opened
    out = [(a.history, a.chrome_started), (a.document_link, opened), (a.folder_link, opened)]
    pfs = prefetch_paths(case, decided)
    return out + [(pfs[exe], runs[0] + PREFETCH_DELAY) for exe, runs in traced(case, decided).items()]


@dataclass(frozen=True)
class Numbering:
    """What the volume writer will give the plan's files: record numbers and 8.3 names, in creation order."""

    records: dict[str, int]
    short: dict[str, str | None]

    @classmethod
    def of(cls, planned: list[PlannedFile]) -> Numbering:
        """``planned``: the whole plan (a file's number depends on every file created before it)."""
        taken: dict[str, set[str]] = {}
        short: dict[str, str | None] = {}
        for f in creation_order(planned):  # as the writer derives them: in creation (record) order
            names = taken.setdefault(f.parent, set())
            if is_short(f.name):
                names.add(f.name.upper())
                short[f.path] = None
            else:
                short[f.path] = short_name(f.name, names)
        return cls(record_numbers(planned, FIRST_USER_RECORD), short)


FolderTimes = Callable[[str, datetime], tuple[datetime, datetime, datetime]]
"""A folder's (created, modified, accessed) $SI times as they stood at a moment."""


def links(case: WorkstationCase, decided: Decisions, planned: list[PlannedFile],
          folder_times: FolderTimes) -> dict[str, bytes]:
    """Recent's two links, by volume path: the document's and its folder's, as Explorer wrote them on opening it;
    each shell item holds the component's MFT reference and its times then."""
    numbering = Numbering.of(planned)
    by_path = {f.path: f for f in planned}
    opened = case.timeline.document_opened
    document = decided.documents[0]
    parts = document.split("/")
    entries = []
    for k in range(1, len(parts) + 1):
        path = "/".join(parts[:k])
        f = by_path[path]
        if f.is_directory:
            made, modified, accessed = folder_times(path, opened)
        else:  # the document is not changed after it was copied: its plan's times are those it had then
            made = modified = accessed = decided.document_copied[0]
        entries.append(lnk.Entry(f.name, numbering.records[path], FIRST_USE, made, modified, accessed,
                                 f.is_directory, len(f.data or b""), numbering.short[path]))
    volume = lnk.Volume("C:", decided.volume_serial & 0xFFFF_FFFF, "", decided.activity.volume_object_id,
                        decided.activity.volume_guid)
    mac = bytes.fromhex(workstation_mac(case, decided).replace(":", ""))
    recent = windows_path(decided.activity.document_link.rsplit("/", 1)[0])
    out = {}
    for link, count in ((decided.activity.document_link, len(entries)), (decided.activity.folder_link,
                                                                          len(entries) - 1)):
        # Link tracking gives the target an object id when the link is made: a version-1 GUID of then and the NIC.
        oid = object_id(opened, mac, (decided.activity.link_clock_sequence + count) % (1 << 14))
        out[link] = lnk.shell_link(lnk.Target(volume, tuple(entries[:count]), oid, case.computer_name), recent)
    return out


def workstation_mac(case: WorkstationCase, decided: Decisions) -> str:
    """The workstation's network card, as the capture shows it (``netplan`` decides it)."""
    from .netplan import plan_network  # netplan reads the decisions: imported here, not at the top

    return plan_network(case, decided).workstation_mac


def prefetch_files(case: WorkstationCase, decided: Decisions, planned: list[PlannedFile]) -> dict[str, bytes]:
    """Each program's .pf by volume path, as Windows left it after its last run (run count, last run times)."""
    numbering = Numbering.of(planned)
    sizes = {f.path: len(f.data or b"") for f in planned}
    volume = prefetch_volume(case, decided)
    out = {}
    for (exe, runs), pf in zip(traced(case, decided).items(), prefetch_paths(case, decided).values(), strict=True):
        files = tuple(prefetch.LoadedFile(_device_path(path), sizes[path], numbering.records[path], FIRST_USE,
                                          data_only=path.lower().endswith(".nls"))
                      for path in loaded(case, decided, exe))
        out[pf] = prefetch.mam(prefetch.scca(_device_path(exe), volume, files,
                                             tuple(r + PREFETCH_DELAY for r in runs)))
    return out


def journal(case: WorkstationCase, decided: Decisions) -> list[UsnEvent]:
    """The change journal's records of the artefacts, as Windows writes them for each operation."""
    a = decided.activity
    payload = decided.payload
    out = [UsnEvent(payload, a.download_started, Reason.FILE_CREATE, a.partial_name),
           UsnEvent(payload, a.download_started, Reason.FILE_CREATE | Reason.DATA_EXTEND, a.partial_name),
           UsnEvent(payload, a.download_finished, Reason.FILE_CREATE | Reason.DATA_EXTEND | Reason.CLOSE,
                    a.partial_name),
           *renamed(payload, a.download_finished, a.partial_name),
           *stream_added(payload, a.download_finished)]
    # Chrome keeps History open from its start: created and written, closed when Chrome exits.
    sqlite = Reason.FILE_CREATE | Reason.DATA_EXTEND
    out += [UsnEvent(a.history, a.chrome_started, Reason.FILE_CREATE), UsnEvent(a.history, a.chrome_started, sqlite),
            UsnEvent(a.history, a.download_finished, sqlite | Reason.DATA_OVERWRITE),
            UsnEvent(a.history, a.download_finished + CHROME_CLOSED, sqlite | Reason.DATA_OVERWRITE | Reason.CLOSE)]
    opened = case.timeline.document_opened
    out += [*created(a.document_link, opened), *created(a.folder_link, opened)]
    rewrite = Reason.DATA_TRUNCATION
    for exe, pf in prefetch_paths(case, decided).items():
        runs = traced(case, decided)[exe]
        out += created(pf, runs[0] + PREFETCH_DELAY)
        for run in runs[1:]:  # a later run rewrites the .pf whole
            when = run + PREFETCH_DELAY
            out += [UsnEvent(pf, when, rewrite), UsnEvent(pf, when, rewrite | Reason.DATA_EXTEND),
                    UsnEvent(pf, when, rewrite | Reason.DATA_EXTEND | Reason.CLOSE)]
    return out
