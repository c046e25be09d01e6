"""The Windows volume of the case: Windows' folders, the hives and logs where Windows keeps them, the user's
documents, the download with its Zone.Identifier, the timestomped implant, a Recycle Bin pair, a file deleted for
good, and the change journal's records of each of those operations, all at the story's times.

A folder's modified and MFT-changed times are those of the latest name added to or taken from it; the hives' and
logs' files were last written when Windows flushed them (hives at shutdown, each log at its last event).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dflab.evidence.windows.ntfs import PlannedFile, Stream, VolumePlan, times, usn
from dflab.evidence.windows.ntfs.recyclebin import bin_folders, recycle, recycle_journal
from dflab.evidence.windows.ntfs.usn import UsnEvent

from .decisions import CONFIG, LOGS, SYSTEM32, Decisions
from .description import WorkstationCase

VOLUME_SIZE = 64 << 20
ZONE_STREAM = "Zone.Identifier"


@dataclass(frozen=True)
class StoryFiles:
    """The plan, and where the Recycle Bin put the recycled document (its $I and $R paths)."""

    plan: VolumePlan
    recycled_index: str
    recycled_data: str


def _folders(decided: Decisions) -> list[str]:
    home = decided.home
    return ["Windows", SYSTEM32, CONFIG, f"{SYSTEM32}/winevt", LOGS, "Users", home, f"{home}/AppData",
            f"{home}/AppData/Local", f"{home}/AppData/Local/Microsoft", f"{home}/AppData/Local/Microsoft/Windows",
            f"{home}/Documents", f"{home}/Downloads"]


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


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
    touch(decided.payload, t.downloaded)
    touch(decided.implant, t.payload_run)
    touch(recycled, t.file_recycled)
    touch(deleted, t.file_deleted)

    def folder(path: str) -> PlannedFile:
        latest = max(touched.get(path, [t.installed]))
        return PlannedFile(path, times(t.installed, latest, latest))

    data = decided.contents
    files = [folder(path) for path in _folders(decided)]
    files += [PlannedFile(path, times(t.installed, t.shutdown, t.shutdown), content)
              for path, content in sorted(hives.items())]
    files += [PlannedFile(f"{LOGS}/{name}", times(t.installed, last_events[name], last_events[name]), content)
              for name, content in sorted(logs.items())]
    # SetFileTime gave the implant Windows' install time; it cannot set the MFT-changed time, nor $FILE_NAME's.
    files.append(PlannedFile(decided.implant, times(t.installed, t.installed, t.payload_run, t.installed),
                             data[decided.implant], fn_times=times(t.payload_run)))
    files.append(PlannedFile(decided.payload, times(t.downloaded), data[decided.payload],
                             streams=(Stream(ZONE_STREAM, decided.zone_identifier),)))
    original = PlannedFile(recycled, times(copied[recycled]), data[recycled])
    files += [PlannedFile(kept, times(copied[kept]), data[kept]),
              PlannedFile(deleted, times(copied[deleted]), data[deleted], deleted=t.file_deleted)]
    files += bin_folders(decided.user_sid, times(t.file_recycled))
    i_file, r_file = recycle(original, decided.user_sid, decided.recycle_id, t.file_recycled)
    files += [i_file, r_file]

    bin_folder = _parent(i_file.path)
    journal: list[UsnEvent] = []
    for path, when in copied.items():
        if path != recycled:
            journal += usn.created(path, when)
            continue
        # The recycled document was created in Documents under its own name: the journal says so, by its record.
        journal += [UsnEvent(r_file.path, when, event.reason, original.name, _parent(recycled))
                    for event in usn.created(r_file.path, when)]
    journal += [*usn.created(decided.payload, t.downloaded), *usn.stream_added(decided.payload, t.downloaded),
                *usn.created(decided.implant, t.payload_run), *usn.basic_info_changed(decided.implant, t.payload_run),
                *usn.folder_created(_parent(bin_folder), t.file_recycled, attributes_set=True),
                *usn.folder_created(bin_folder, t.file_recycled, attributes_set=True),
                *usn.created(f"{bin_folder}/desktop.ini", t.file_recycled),
                *recycle_journal(original, i_file, r_file, t.file_recycled),
                *usn.deleted(deleted, t.file_deleted)]
    plan = VolumePlan(size=VOLUME_SIZE, serial=decided.volume_serial, label="", formatted=times(t.installed),
                      files=tuple(files), journal=tuple(sorted(journal, key=lambda e: e.when)), short_names=True)
    return StoryFiles(plan, i_file.path, r_file.path)
