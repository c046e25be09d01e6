"""The case's registry: the facts the five hives record, from the description and the shared decisions.

The Run value is written when the service is installed (one script did both; the service's key in SYSTEM is the
one the 7045 event announces), UserAssist has the payload run from
Downloads, RecentDocs the document opened: each key's last-written time is the story's time of that step.
"""

from __future__ import annotations

from dflab.evidence.windows.registry import Account, Implant, ProgramRun, RecentDoc, WorkstationFacts

from .decisions import Decisions
from .description import WorkstationCase
from .logs import uptimes

KNOWN_FOLDERS = {"Downloads": "{374DE290-123F-4565-9164-39C4925E467B}"}
"""FOLDERID_* of the profile folders UserAssist names programs by (it writes the folder's id, not its path)."""
LOGON_STEPS = ("logon", "remote_logon", "next_logon", "returned")
"""The timeline's logons of the user's account (the SAM's logon count)."""


def known_folder_path(path: str) -> str:
    """``Users/<u>/Downloads/x.exe`` as UserAssist records it: ``{FOLDERID_Downloads}\\x.exe``."""
    folder, _, name = path.rpartition("/")
    return f"{KNOWN_FOLDERS[folder.rsplit('/', 1)[1]]}\\{name}"


def registry_facts(case: WorkstationCase, decided: Decisions) -> WorkstationFacts:
    """What SYSTEM, SOFTWARE, SAM, NTUSER.DAT and UsrClass.dat record (``workstation_hives`` writes them)."""
    t = case.timeline
    user = case.user
    owner = Account(user.name, user.rid, t.installed, full_name=user.full_name, last_logon=t.returned,
                    password_last_set=t.installed, admin=True,
                    logon_count=len(LOGON_STEPS) + len(uptimes(case)) - 1)  # a logon each day the System log shows
    others = tuple(Account(u.name, u.rid, t.installed, full_name=u.full_name, password_last_set=t.installed)
                   for u in case.other_users)
    return WorkstationFacts(
        computer_name=case.computer_name.upper(), machine_sid=decided.machine_sid, installed=t.installed,
        last_shutdown=t.shutdown, owner=owner, other_accounts=others, time_zone=case.time_zone,
        registered_owner=user.full_name or user.name, usb=decided.usb,
        implant=Implant(case.run_value_name, decided.implant_command, t.persisted),
        programs_run=(ProgramRun(known_folder_path(decided.payload), 1, t.payload_run),),
        # Opening the document adds it and the folder it was opened from, as Recent's two links do.
        recent_docs=(RecentDoc(case.documents[0], t.document_opened),
                     RecentDoc(decided.documents[0].rsplit("/", 2)[1], t.document_opened)),
        services=(decided.service,),
    )

