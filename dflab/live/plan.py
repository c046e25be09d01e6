"""Lab 01's collection without code: the trainee decides in forms, the notebook's prepared cells carry it out.

The collection is what lab 01 grades from the case folder (:mod:`dflab.live.grading`, outside the kernel): its
order of volatility (RFC 3227 §2.1), its hashes, its completeness and its chain of custody. A trainee who does not
program still makes every decision the grade judges, and nothing here makes it for them:

* **which volatile sources, in what order** — :func:`collection_form` offers the sources of section 2 (and a file
  on disk among them) in a neutral order; :func:`collect_in_order` runs the collector in exactly the order chosen,
  so a wrong order is logged as such and costs the order points, as the same calls typed in the wrong order would;
* **which process and which descriptor** — the recovery is driven by the suspect's name and the held file's name
  the trainee typed into the earlier answer forms (:func:`held_descriptor` finds the descriptor in the open-files
  exhibit collected for that process), so a wrong name recovers the wrong bytes, and the traits say so;
* **to whom the exhibits go, and why** — :func:`custody_form` and :func:`close_with_handover` close the case with
  the hand-over the trainee wrote.

Every call goes through :class:`dflab.live.collect.Collector`, so each exhibit is logged, hashed and sealed as in
the Python path, and collected once: a prepared cell run again (a restart, grading's re-run) replays the exhibit
already in the case folder and says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from dflab.errors import DflabError
from dflab.lab.form import Field, InputForm, input_form
from dflab.live import procfs
from dflab.live.collect import Collector, LogEntry
from dflab.live.custody import Transfer, close_case

DISK_FILE = "/etc/passwd"  # the one file on disk lab 01 copies: it turns the tables' user ids into names

SOURCES = {  # what the collector can be asked for here, as a trainee reads it
    "network_connections": "network connections (/proc/net/tcp)",
    "logged_in_users": "login sessions (utmp and the SSH variables of processes)",
    "processes": "process table (/proc/PID)",
    "open_files": "open files of the suspect (/proc/PID/fd)",
    "memory_maps": "memory map of the suspect (/proc/PID/maps)",
    "recover_deleted_exe": "deleted executable, copied through /proc/PID/exe",
    "recover_deleted_fd": "deleted held file, copied through /proc/PID/fd/N",
    "disk_file": f"a file on disk: {DISK_FILE}",
}
# Section 2's choices, in alphabetical order of their labels: never already in the order of volatility.
VOLATILE_CHOICES = ("disk_file", "logged_in_users", "network_connections", "processes")
PLAN_FIELD = "collection_plan"
CUSTODY_TO_FIELD, CUSTODY_PURPOSE_FIELD = "custody_to", "custody_purpose"

MESSAGES = {  # trainee-facing, so that they can move to a gettext catalog as they are
    "plan_label": "Collect these sources, in this order (leave a place empty to collect fewer):",
    "custody_to": "Hand the exhibits over to",
    "custody_purpose": "Purpose of the hand-over",
    "nothing_chosen": "Nothing chosen in the form above, so nothing was collected: choose the sources and their "
                      "order there, then run this cell again.",
    "disk_waits": "Nothing volatile is in the case folder yet, so the disk waits: collect the volatile data first "
                  "(sections 2 to 7), then run this cell again.",
    "no_handover": "The case is not closed: write in the form above to whom you hand the exhibits over and why, "
                   "then run this cell again.",
    "collected": "entry {seq}: {source}: collected now into {output} (SHA-256 {sha256})",
    "replayed": "entry {seq}: {source}: already in the case folder as {output}, not collected again "
                "(SHA-256 {sha256})",
    "closed": "Case {case_id} closed: {items} exhibit(s) handed over from {from_} to {to} ({purpose}); nothing more "
              "can be collected into it.",
    "unknown_source": "{source!r} is not a source this lab collects (one of {known})",
    "needs_pid": "{source} needs the suspect's process ID: run the cells of sections 3 and 4 first",
    "no_such_name": "no running process is named {name!r}: check the name you typed in section 3",
    "no_held_file": "no descriptor of process {pid} in the open files you collected is open on a file named "
                    "{name!r}: check the name you typed in section 6",
}


class PlanError(DflabError):
    """A decision the prepared cells cannot carry out (an unknown source, a name that matches nothing), shown in the
    notebook as its one line instead of a traceback, as :class:`dflab.lab.AnswerError` is."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def collection_form() -> InputForm:
    """Section 2's form: which volatile sources to collect now, in what order (saved as ``collection_plan``)."""
    return input_form({PLAN_FIELD: Field(MESSAGES["plan_label"], {s: SOURCES[s] for s in VOLATILE_CHOICES})})


def custody_form() -> InputForm:
    """Section 10's form: to whom the exhibits are handed over and why (``custody_to``, ``custody_purpose``)."""
    return input_form({CUSTODY_TO_FIELD: Field(MESSAGES["custody_to"]),
                       CUSTODY_PURPOSE_FIELD: Field(MESSAGES["custody_purpose"])})


def collect_in_order(collector: Collector, plan: Sequence[str], pid: int | None = None,
                     held_file: str | None = None) -> list[LogEntry]:
    """Ask ``collector`` for each source of ``plan`` in that order, and print one line per exhibit: its log entry,
    its file in the case folder, its SHA-256, and whether it was collected now or was there already.

    ``pid`` is the suspect's, for the sources of one process; ``held_file`` the name of the deleted file it holds
    open, for ``recover_deleted_fd``. Returns the exhibits' log entries, in the plan's order."""
    if not plan:
        print(MESSAGES["nothing_chosen"])
        return []
    for source in plan:  # every source known before anything is collected: a bad plan collects nothing
        if source not in SOURCES:
            raise PlanError(MESSAGES["unknown_source"].format(source=source, known=", ".join(SOURCES)))
        if pid is None and source in _PER_PROCESS:
            raise PlanError(MESSAGES["needs_pid"].format(source=SOURCES[source]))
    entries = []
    for source in plan:
        before = collector.entries()[-1].seq
        try:
            _COLLECT[source](collector, pid, held_file)
        except PlanError:
            raise
        except DflabError as exc:  # no such process, a closed case, an altered exhibit: one line in the notebook
            raise PlanError(exc.what, exc.where) from None
        entry = collector.last
        assert entry is not None and entry.output is not None  # every source is an exhibit
        fresh = entry.seq > before
        print(MESSAGES["collected" if fresh else "replayed"].format(
            seq=entry.seq, source=SOURCES[source], output=f"{collector.case_dir.name}/{entry.output}",
            sha256=entry.sha256))
        entries.append(entry)
    return entries


def collect_disk_last(collector: Collector) -> list[LogEntry]:
    """Copy the file on disk (:data:`DISK_FILE`), once the case holds volatile exhibits; before that, say that the disk
    waits and collect nothing. A notebook run from top to bottom with no volatile step done (a blank release, or
    grading's re-run of one) so hands in no case at all, rather than a case of the disk alone."""
    if not any(e.output for e in collector.entries()):
        print(MESSAGES["disk_waits"])
        return []
    return collect_in_order(collector, ["disk_file"])


def pid_of(name: str, collector: Collector) -> int:
    """The PID of the process named ``name`` (its ``comm``, as typed in section 3): among the running processes, else
    in the process table the case holds, so that grading's re-run, where the suspect no longer runs, replays the
    exhibits of the same process."""
    wanted = str(name).strip()
    for table in (procfs.process_table(), collector.recorded_table("processes")):
        if table is not None and not (found := table.loc[table["comm"].astype(str) == wanted, "pid"]).empty:
            return int(found.iloc[0])
    raise PlanError(MESSAGES["no_such_name"].format(name=name))


def held_descriptor(collector: Collector, pid: int, name: str) -> int:
    """The descriptor by which process ``pid`` holds the file named ``name`` (as typed in section 6), read from the
    open-files exhibit of that process (collected now if it was not yet: it must be in the case folder anyway)."""
    fds = collector.open_files(pid)
    wanted = str(name).strip()
    for fd, target in zip(fds["fd"], fds["target"], strict=True):
        if wanted and PurePosixPath(str(target).removesuffix(" (deleted)")).name == wanted:
            return int(fd)
    raise PlanError(MESSAGES["no_held_file"].format(pid=pid, name=name))


def close_with_handover(case_dir: str | os.PathLike[str], examiner: str, to: str, purpose: str
                        ) -> dict[str, Any] | None:
    """Close the case (:func:`dflab.live.custody.close_case`) with one hand-over from ``examiner`` to ``to`` for
    ``purpose``, as typed in the form; None, and nothing closed, while either is empty. A closed case returns the
    record written when it was closed."""
    if not str(to).strip() or not str(purpose).strip():
        print(MESSAGES["no_handover"])
        return None
    try:
        record = close_case(Path(case_dir), [Transfer(from_=examiner, to=str(to).strip(),
                                                      purpose=str(purpose).strip())])
    except DflabError as exc:  # a log that fails its own checks, an altered exhibit: never signed, said in one line
        raise PlanError(exc.what, exc.where) from None
    [handover, *_] = record["transfers"]
    print(MESSAGES["closed"].format(case_id=record["case_id"], items=len(record["items"]), from_=handover["from"],
                                    to=handover["to"], purpose=handover["purpose"]))
    return record


_PER_PROCESS = {"open_files", "memory_maps", "recover_deleted_exe", "recover_deleted_fd"}
_COLLECT: dict[str, Callable[[Collector, Any, Any], object]] = {
    "network_connections": lambda c, _pid, _held: c.network_connections(),
    "logged_in_users": lambda c, _pid, _held: c.logged_in_users(),
    "processes": lambda c, _pid, _held: c.processes(),
    "open_files": lambda c, pid, _held: c.open_files(pid),
    "memory_maps": lambda c, pid, _held: c.memory_maps(pid),
    "recover_deleted_exe": lambda c, pid, _held: c.recover_deleted_exe(pid),
    "recover_deleted_fd": lambda c, pid, held: c.recover_deleted_fd(pid, held_descriptor(c, pid, held)),
    "disk_file": lambda c, _pid, _held: c.file(DISK_FILE),
}
