"""The answer key: what an investigator should find on the disk, stated from the decisions that made it.

Times are UTC in ISO 8601 with ``Z``; paths are as Windows shows them; MFT references are (entry, sequence) as the
record now carries them (a record is on its first use, so 1; the deleted file's was raised to 2 when it was freed).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dflab.evidence.windows.browser import CHROME_VERSION
from dflab.evidence.windows.registry.system import service_key, usbstor_device_id

from . import activity
from .decisions import PREFETCH_DELAY, RUN_KEY, Decisions, windows_path
from .description import WorkstationCase
from .files import StoryFiles
from .hives import known_folder_path
from .logs import LOGON_HOST

FIRST_USE = 1


def utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def answer_key(case: WorkstationCase, decided: Decisions, records: dict[str, int],
               files: StoryFiles) -> dict[str, Any]:
    """``records``: the volume's MFT entry per path; ``files``: where the Recycle Bin put the document."""
    t = case.timeline
    user = case.user

    def mft(path: str, sequence: int = FIRST_USE) -> list[int]:
        return [records[path], sequence]

    return {
        "computer_name": case.computer_name.upper(),
        "time_zone": case.time_zone.key_name,
        "machine_sid": decided.machine_sid,
        "accounts": [{"name": u.name, "rid": u.rid, "sid": f"{decided.machine_sid}-{u.rid}"}
                     for u in (user, *case.other_users)],
        "usb": {"serial": decided.usb.serial, "device": usbstor_device_id(decided.usb),
                "vid_pid": f"{decided.usb.vendor_id:04X}:{decided.usb.product_id:04X}",
                "inserted": utc(t.usb_inserted), "removed": utc(t.usb_removed)},
        "document_opened": {"path": windows_path(decided.documents[0]), "time": utc(t.document_opened),
                            "mft": mft(decided.documents[0])},
        "download": {"url": case.download_url, "path": windows_path(decided.payload), "zone_id": 3,
                     "time": utc(t.downloaded), "mft": mft(decided.payload)},
        "payload_run": {"time": utc(t.payload_run), "user_assist": known_folder_path(decided.payload)},
        "implant": {"path": windows_path(decided.implant), "mft": mft(decided.implant),
                    "si_created": utc(t.installed), "fn_created": utc(t.payload_run)},
        "run_key": {"hive": "SOFTWARE", "key": RUN_KEY, "value": case.run_value_name,
                    "data": decided.implant_command, "last_written": utc(t.persisted)},
        "service": {"name": decided.service.name, "image_path": decided.service.image_path,
                    "start_type": decided.service.start_type, "installed": utc(decided.service.installed),
                    "event_id": 7045, "hive": "SYSTEM", "key": service_key(decided.service)},
        "intruder": {"ip": decided.intruder_ip, "workstation": decided.intruder_workstation},
        "logons": [{"type": 2, "time": utc(t.next_logon), "logon_id": hex(decided.logon_ids["next_logon"]),
                    "ip": "127.0.0.1", "port": 0, "process": LOGON_HOST},  # 4624 IpPort: 0 at the keyboard
                   {"type": 10, "time": utc(t.returned), "logon_id": hex(decided.logon_ids["returned"]),
                    "ip": decided.intruder_ip, "port": decided.intruder_ports["returned"], "process": LOGON_HOST}],
        "process": {"event_id": 4688, "time": utc(decided.implant_started), "pid": decided.pids["implant"],
                    "command_line": decided.implant_command},
        "log_cleared": {"event_id": 1102, "time": utc(t.log_cleared), "user": user.name},
        "recycled": {"original": windows_path(decided.documents[1]), "time": utc(t.file_recycled),
                     "index_file": windows_path(files.recycled_index), "data_file": windows_path(files.recycled_data),
                     "mft": mft(files.recycled_data)},
        "last_shutdown": utc(t.shutdown),
        "deleted": {"path": windows_path(decided.documents[2]), "time": utc(t.file_deleted),
                    "mft": mft(decided.documents[2], FIRST_USE + 1)},
        **_activity(case, decided, mft),
    }


def _activity(case: WorkstationCase, decided: Decisions, mft: Callable[[str], list[int]]) -> dict[str, Any]:
    """What Chrome's History, Recent's links and Prefetch tell, as an investigator reads them. These sections are
    nested, so their MFT references are already {entry, sequence} (graders address them by name, never position)."""
    a = decided.activity
    download = activity.download(case, decided)
    pfs = activity.prefetch_paths(case, decided)

    def ref(path: str) -> dict[str, int]:
        entry, sequence = mft(path)
        return {"entry": entry, "sequence": sequence}

    def traced(exe: str) -> dict[str, Any]:
        runs = [utc(r + PREFETCH_DELAY) for r in sorted(activity.traced(case, decided)[exe], reverse=True)]
        return {"file": windows_path(pfs[exe]), "executable": windows_path(exe), "run_count": len(runs),
                "last_run": runs[0], "run_times": runs[:8], "mft": ref(exe)}  # a .pf keeps the last eight

    return {
        "browser": {"history": windows_path(a.history), "chrome_version": CHROME_VERSION,
                    "search_terms": a.search_terms, "download_page": a.download_page,
                    "download_url": case.download_url, "referrer": download.referrer,
                    "target_path": download.target_path, "started": utc(a.download_started),
                    "finished": utc(a.download_finished), "bytes": download.total_bytes,
                    "sha256": download.sha256.hex(), "partial_name": a.partial_name},
        "recent_links": {"document_link": windows_path(a.document_link), "folder_link": windows_path(a.folder_link),
                         "target": windows_path(decided.documents[0]), "target_mft": ref(decided.documents[0]),
                         "created": utc(case.timeline.document_opened),
                         "machine": case.computer_name.lower(),
                         "volume_serial": f"{decided.volume_serial & 0xFFFF_FFFF:08X}"},
        "prefetch": {"payload": traced(decided.payload), "implant": traced(decided.implant),
                     "chrome": traced(activity.CHROME_EXE), "powershell": traced(activity.POWERSHELL_EXE)},
    }
