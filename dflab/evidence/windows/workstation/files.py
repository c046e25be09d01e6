"""The Windows volume of the case: Windows' folders, the hives and logs where Windows keeps them, the user's
documents, the download with its Zone.Identifier, the timestomped implant, a Recycle Bin pair, a file deleted for
good, the user-activity artefacts (Chrome's History, Recent's links, Prefetch: ``activity``), and the change journal's
records of each of those operations, all at the story's times. Before the story: Setup's Public and Default
profiles, and what Windows made in the weeks since its install (Defender's and Windows Update's files, a drawn
count), so the story's MFT entries, numbered by creation time as Windows hands them out, differ per trainee.

A folder's modified and MFT-changed times are those of the latest name added to or taken from it; the hives' and
logs' files were last written when Windows flushed them (hives at shutdown, each log at its last event).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta

from dflab.evidence.windows.browser.version import CHROME_RELEASED, CHROME_VERSION
from dflab.evidence.windows.ntfs import PlannedFile, Stream, VolumePlan, times, usn
from dflab.evidence.windows.ntfs.plan import HIDDEN, READONLY
from dflab.evidence.windows.ntfs.recyclebin import bin_folders, recycle, recycle_journal
from dflab.evidence.windows.ntfs.usn import UsnEvent

from . import activity
from .decisions import CONFIG, LOGS, PREFETCH_DELAY, SYSTEM32, Decisions, blob, draw
from .description import WorkstationCase

VOLUME_SIZE = 2 << 30
"""The Windows volume: 2 GiB, written sparse (only the used extents: a few MiB on disk). Windows 10 itself asks for
32 GB; what bounds this one is the evidence manifest, whose SHA-256 reads every apparent byte (~1.3 s per variant
for 2 GiB here; 32 GiB would be ~20 s per variant, past the 30-variants-in-60-s bar), and the same bytes for the
trainee's own hashing. A 64 MiB volume holding Windows was an examiner's first tell (fsstat)."""
ZONE_STREAM = "Zone.Identifier"


@dataclass(frozen=True)
class StoryFiles:
    """The plan, and where the Recycle Bin put the recycled document (its $I and $R paths)."""

    plan: VolumePlan
    recycled_index: str
    recycled_data: str


PROFILE_FOLDERS = ("Desktop", "Documents", "Downloads", "Music", "Pictures", "Videos")
DEFAULT_PROFILE = ("AppData", "AppData/Local", "AppData/Roaming", *PROFILE_FOLDERS, "Favorites", "Links",
                   "Saved Games")
READ_ONLY = {"Users/Public": READONLY, "Users/Default": HIDDEN | READONLY,
             **{f"Users/Public/{name}": READONLY for name in PROFILE_FOLDERS}}
"""Setup's own profiles, as Explorer marks them: Public and its known folders read-only (a folder's "read-only" says
it has a desktop.ini to read), Default hidden too."""


def _setup_profiles() -> list[str]:
    """Users/Public and Users/Default with their standard folders, which Setup makes at install (every account's
    profile is copied from Default)."""
    return ["Users/Public", *(f"Users/Public/{name}" for name in PROFILE_FOLDERS),
            "Users/Default", *(f"Users/Default/{name}" for name in DEFAULT_PROFILE)]


def _folders(decided: Decisions) -> list[str]:
    home = decided.home
    return ["Windows", SYSTEM32, CONFIG, f"{SYSTEM32}/winevt", LOGS, "Users", home, f"{home}/AppData",
            f"{home}/AppData/Local", f"{home}/AppData/Local/Microsoft", f"{home}/AppData/Local/Microsoft/Windows",
            f"{home}/Documents", f"{home}/Downloads"]


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _activity_files(case: WorkstationCase, decided: Decisions, before: list[PlannedFile],
                    folder: Callable[[str], PlannedFile], folder_times: activity.FolderTimes) -> list[PlannedFile]:
    """The activity artefacts' folders and files, after ``before`` (the rest of the plan: the links' and .pf's MFT
    references are numbered over the whole plan, laid out first with their contents empty)."""
    t, a = case.timeline, decided.activity
    out = [folder(path) for path in activity.folders(decided)]
    out += [PlannedFile(path, times(t.installed), decided.contents[path]) for path in a.dlls]
    out.append(PlannedFile(a.history, times(a.chrome_started, *[a.download_finished] * 3),
                           activity.history_bytes(case, decided)))
    made = [PlannedFile(path, times(t.document_opened), b"") for path in (a.document_link, a.folder_link)]
    runs = activity.traced(case, decided)
    for exe, pf in activity.prefetch_paths(case, decided).items():
        first, last = runs[exe][0] + PREFETCH_DELAY, runs[exe][-1] + PREFETCH_DELAY
        made.append(PlannedFile(pf, times(first, last, last, last), b""))
    whole = before + out + made
    data = {**activity.links(case, decided, whole, folder_times), **activity.prefetch_files(case, decided, whole)}
    return out + [replace(f, data=data[f.path]) for f in made]


DEFENDER = "ProgramData/Microsoft/Windows Defender/Definition Updates"
UPDATES = "Windows/SoftwareDistribution/Download"
SIGNATURES = ("mpasbase.vdm", "mpasdlta.vdm", "mpavbase.vdm", "mpavdlta.vdm")


def _since_install(case: WorkstationCase) -> tuple[list[str], list[PlannedFile], dict[str, datetime]]:
    """What Windows made between its install and the user's first logon of the story, weeks later: Defender's
    definition updates (a ``{GUID}`` folder each, its four signature files) and Windows Update's downloads (a
    folder named by the update's hash, its .cab). How many is drawn per case, so the story's files get other MFT
    entries on each trainee's volume, as on real machines. Stand-in contents, small: no one reads them for the
    story. Returns the standing folders (made at install), the dated folders and files, and when each was made."""
    seed, t = case.seed, case.timeline
    defender, updates = 1 + draw(seed, "defender-updates", 6), 1 + draw(seed, "windows-updates", 8)
    kinds = sorted([("defender", i) for i in range(defender)] + [("update", i) for i in range(updates)],
                   key=lambda k: draw(seed, f"since-install/{k[0]}/{k[1]}", 1 << 32))
    span = (t.logon - t.installed).total_seconds()
    out: list[PlannedFile] = []
    made: dict[str, datetime] = {}
    for k, (kind, i) in enumerate(kinds):
        when = t.installed + timedelta(seconds=int(span * (k + 0.2 + 0.6 * draw(seed, f"since/{k}", 1000) / 1000)
                                                   / len(kinds)))
        if kind == "defender":
            folder = f"{DEFENDER}/{{{str(uuid.UUID(bytes=blob(seed, f'defender/{i}', 16), version=4)).upper()}}}"
            names = SIGNATURES
        else:
            folder = f"{UPDATES}/{blob(seed, f'update/{i}', 16).hex()}"
            names = (f"Windows10.0-KB50{draw(seed, f'kb/{i}', 100_000):05d}-x64.cab",)
        made |= {folder: when, **{f"{folder}/{name}": when for name in names}}
        out.append(PlannedFile(folder, times(when)))
        out += [PlannedFile(f"{folder}/{name}", times(when),
                            blob(seed, f"{folder}/{name}", 512 + draw(seed, f"size/{folder}/{name}", 3584)))
                for name in names]
    standing = ["Program Files", "ProgramData", "ProgramData/Microsoft", "ProgramData/Microsoft/Windows Defender",
                DEFENDER, "Windows/SoftwareDistribution", UPDATES]
    chrome = _chrome_install(case)
    made |= {f.path: when for f, when in chrome}
    out = sorted([*out, *(f for f, _ in chrome)], key=lambda f: f.si_times.created)
    return standing, out, made


CHROME_HOME = activity.CHROME_HOME
POWERSHELL_SIZE = 448_000
"""powershell.exe's size in Windows 10 22H2 (a stand-in of that size, the same on every case, as the DLLs)."""


def _windows_powershell(t_installed: datetime) -> list[PlannedFile]:
    """Windows PowerShell as Setup installs it: its folders and powershell.exe, of the install."""
    exe = activity.POWERSHELL_EXE
    folders = [exe.rsplit("/", 2)[0], exe.rsplit("/", 1)[0]]
    return [*(PlannedFile(path, times(t_installed)) for path in folders),
            PlannedFile(exe, times(t_installed),
                        b"MZ\x90\x00" + blob("windows-10-22h2", "system32/powershell.exe", POWERSHELL_SIZE - 4))]


def _chrome_install(case: WorkstationCase) -> list[tuple[PlannedFile, datetime]]:
    """Chrome's installation, made between Windows' install and the user's logon (a drawn moment), each file with
    when it was made: ``Application/chrome.exe`` and the version's folder (its ``chrome.dll``). The build the case
    runs (``CHROME_VERSION``) came with the updater on its release day when that falls after the install and
    before the user's logon in the story: its folder and the chrome.exe it renamed into place are of then. Stand-in
    contents, small."""
    seed, t = case.seed, case.timeline
    installed = t.installed + (t.logon - t.installed) * (0.1 + 0.3 * draw(seed, "chrome-installed", 1000) / 1000)
    installed = installed.replace(microsecond=0)
    released = datetime.combine(CHROME_RELEASED, time(19, 0), tzinfo=UTC) + timedelta(
        seconds=draw(seed, "chrome-updated", 6 * 3600))
    updated = released if installed < released < t.logon else installed
    version = f"{CHROME_HOME}/{CHROME_VERSION}"
    out = [(PlannedFile(path, times(installed)), installed) for path in ("Program Files/Google",
                                                                         "Program Files/Google/Chrome")]
    out += [(PlannedFile(CHROME_HOME, times(installed, updated, updated)), installed),  # the update's names added
            (PlannedFile(f"{CHROME_HOME}/chrome.exe", times(updated),
                         b"MZ\x90\x00" + blob("chrome-" + CHROME_VERSION, "chrome.exe", 4092)), updated),
            (PlannedFile(version, times(updated)), updated),
            (PlannedFile(f"{version}/chrome.dll", times(updated),
                         b"MZ\x90\x00" + blob("chrome-" + CHROME_VERSION, "chrome.dll", 8188)), updated)]
    return out


def story_files(case: WorkstationCase, decided: Decisions, hives: dict[str, bytes], logs: dict[str, bytes],
                last_events: dict[str, datetime]) -> StoryFiles:
    """The volume plan; ``logs`` by file name, ``last_events`` each log's latest event time."""
    t = case.timeline
    kept, recycled, deleted = decided.documents
    copied = dict(zip(decided.documents, decided.document_copied, strict=True))
    touched: dict[str, list[datetime]] = {}

    def touch(path: str, when: datetime) -> None:
        touched.setdefault(_parent(path), []).append(when)

    for path, when in copied.items():
        touch(path, when)
    a = decided.activity
    touch(decided.payload, a.download_started)  # as its .crdownload
    touch(decided.payload, a.download_finished)  # renamed
    for path, when in activity.touches(case, decided):
        touch(path, when)
    chrome = [p for p in activity.folders(decided) if p.startswith(f"{decided.home}/AppData/Local/")]
    for path in chrome:  # Chrome's first start made its profile
        touch(path, a.chrome_started)
    standing, since_install, made_since = _since_install(case)
    for path, when in made_since.items():
        touch(path, when)
    touch(decided.implant, t.payload_run)
    touch(recycled, t.file_recycled)
    touch(deleted, t.file_deleted)

    def folder_times(path: str, when: datetime | None = None) -> tuple[datetime, datetime, datetime]:
        """(created, modified, accessed) as they stood at ``when`` (None: now)."""
        made = a.chrome_started if path in chrome else t.installed
        latest = max([made, *(w for w in touched.get(path, []) if when is None or w <= when)])
        return made, latest, made

    def folder(path: str) -> PlannedFile:
        made, latest, _ = folder_times(path)
        return PlannedFile(path, times(made, latest, latest))

    data = decided.contents
    files = [folder(path) for path in _folders(decided) + _setup_profiles() + standing] + since_install
    files = [replace(f, attributes=READ_ONLY[f.path]) if f.path in READ_ONLY else f for f in files]
    files += _windows_powershell(t.installed)
    files += [PlannedFile(path, times(t.installed, t.shutdown, t.shutdown), content)
              for path, content in sorted(hives.items())]
    files += [PlannedFile(f"{LOGS}/{name}", times(t.installed, last_events[name], last_events[name]), content)
              for name, content in sorted(logs.items())]
    # SetFileTime gave the implant Windows' install time; it cannot set the MFT-changed time, nor $FILE_NAME's.
    files.append(PlannedFile(decided.implant, times(t.installed, t.installed, t.payload_run, t.installed),
                             data[decided.implant], fn_times=times(t.payload_run)))
    # Chrome created it as .crdownload, wrote it, renamed it and added Zone.Identifier: $FILE_NAME keeps the start.
    files.append(PlannedFile(decided.payload, times(a.download_started, *[a.download_finished] * 3),
                             data[decided.payload], fn_times=times(a.download_started),
                             streams=(Stream(ZONE_STREAM, decided.zone_identifier),)))
    original = PlannedFile(recycled, times(copied[recycled]), data[recycled])
    files += [PlannedFile(kept, times(copied[kept]), data[kept]),
              PlannedFile(deleted, times(copied[deleted]), data[deleted], deleted=t.file_deleted)]
    files += bin_folders(decided.user_sid, times(t.file_recycled))
    i_file, r_file = recycle(original, decided.user_sid, decided.recycle_id, t.file_recycled)
    files += [i_file, r_file]
    files += _activity_files(case, decided, files, folder, folder_times)

    bin_folder = _parent(i_file.path)
    journal: list[UsnEvent] = []
    for path, when in copied.items():
        if path != recycled:
            journal += usn.created(path, when)
            continue
        # The recycled document was created in Documents under its own name: the journal says so, by its record.
        journal += [UsnEvent(r_file.path, when, event.reason, original.name, _parent(recycled))
                    for event in usn.created(r_file.path, when)]
    # Chrome's first start made its profile's folders, then History in it: the folders' records come first.
    journal += [*(e for path in chrome for e in usn.folder_created(path, a.chrome_started)),
                *activity.journal(case, decided),
                *usn.created(decided.implant, t.payload_run), *usn.basic_info_changed(decided.implant, t.payload_run),
                *usn.folder_created(_parent(bin_folder), t.file_recycled, attributes_set=True),
                *usn.folder_created(bin_folder, t.file_recycled, attributes_set=True),
                *usn.created(f"{bin_folder}/desktop.ini", t.file_recycled),
                *recycle_journal(original, i_file, r_file, t.file_recycled),
                *usn.deleted(deleted, t.file_deleted)]
    plan = VolumePlan(size=VOLUME_SIZE, serial=decided.volume_serial, label="", formatted=times(t.installed),
                      files=tuple(files), journal=tuple(sorted(journal, key=lambda e: e.when)), short_names=True)
    return StoryFiles(plan, i_file.path, r_file.path)
