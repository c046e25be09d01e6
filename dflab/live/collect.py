"""Collection helpers for live response: every action is logged, every output hashed.

The trainee calls these in order of volatility (RFC 3227 §2.1; the grader checks the order, see
:mod:`dflab.live.grading`).  Each call reads /proc (:mod:`dflab.live.procfs`), writes its output into the
case directory atomically (a crash never leaves half an exhibit), hashes exactly the bytes written, and
appends one entry to ``collection_log.jsonl``:

    {"seq": 3, "utc": "...Z", "monotonic_ns": ..., "action": "processes", "target": "/proc",
     "output": "003-processes.csv", "sha256": "...", "size": ..., "examiner": ..., "prev": "<sha256>",
     "seal": ["<hmac>"]}

The log is append-only and fsync'ed after each entry, so it survives a crash of the kernel running the
notebook; ``prev`` is the SHA-256 of the previous log line, so an edited or deleted entry breaks the chain, and
both clocks must run forward together (:func:`verify_log`).  Outputs are never overwritten: an exhibit once hashed
stays what was hashed.

Anyone can recompute an unkeyed chain, so each entry is also **sealed** with the live witness of the running
suspect (:mod:`dflab.live.witness`): read from ``/proc/<pid>/environ`` just before the entry's times are taken,
used as an HMAC key over the entry, and never written down.  The grader recomputes the witness for the entry's
recorded time from the trainee's key; only the running suspect could have given it.

Volatile data is collected **once**.  Asking a re-opened case for an exhibit it already holds (same action,
same source) returns the recorded exhibit, after checking its hash, instead of collecting again: a restarted
kernel that re-runs the notebook, or the grader re-executing it later where the suspect no longer runs,
reads the submitted collection and changes nothing.  A case whose custody record is written
(:data:`CUSTODY_FILE`, see :func:`dflab.live.custody.close_case`) is closed: it only replays.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from dflab.atomic import ensure_writable_dir, write_bytes
from dflab.errors import DflabError, EvidenceError
from dflab.live import procfs, witness

LOG_NAME = "collection_log.jsonl"
CUSTODY_FILE = "custody.json"   # written when the case is closed; its presence makes the case replay-only
HASH_ALGORITHM = "SHA-256"
GENESIS = "0" * 64
# How far the wall clock (utc) and the monotonic clock of two entries may disagree: both are read together, so
# only NTP slewing (at most 500 ppm) separates them; a log whose times were typed or moved differs by more.
CLOCK_TOLERANCE_NS = 1_000_000_000
CLOCK_TOLERANCE_PPM = 1000


def tool_version() -> str:
    try:
        return version("dflab")
    except PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class LogEntry:
    """One line of the collection log."""

    seq: int
    utc: str
    monotonic_ns: int
    action: str
    target: str
    output: str | None
    sha256: str | None
    size: int | None
    examiner: str
    case_id: str
    tool: str
    prev: str
    details: dict[str, Any]
    seal: tuple[str, ...] = ()

    def line(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    def body(self) -> bytes:
        """What the seal covers: the entry's canonical JSON without the seal itself."""
        data = asdict(self)
        del data["seal"]
        return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


class Collector:
    """Collects volatile data of this machine into ``case_dir`` for case ``case_id`` by ``examiner``.

    Re-opening an existing case directory continues its log (same case id required) and replays the
    exhibits already in it (see the module doc), so a restarted notebook kernel neither loses the record of
    what was collected nor collects it a second time.
    """

    def __init__(self, case_dir: str | os.PathLike[str], examiner: str, case_id: str) -> None:
        if not examiner.strip() or not case_id.strip():
            raise DflabError("examiner and case_id must not be empty")
        case = Path(case_dir)
        self.closed = (case / CUSTODY_FILE).is_file()
        self.case_dir = (case if self.closed else ensure_writable_dir(case)).resolve()  # replaying writes nothing
        self.examiner = examiner
        self.case_id = case_id
        self.log_path = self.case_dir / LOG_NAME
        entries = read_log(self.log_path) if self.log_path.exists() else []
        if entries and entries[0].case_id != case_id:
            raise DflabError(f"this case directory belongs to case {entries[0].case_id!r}", str(self.log_path))
        if self.closed and not entries:
            raise DflabError("closed case without a collection log", str(self.log_path))
        self._recorded: dict[tuple[str, str], LogEntry] = {}
        self.last: LogEntry | None = None   # the exhibit of the latest collection call, collected then or replayed
        for e in entries:
            if e.output is not None:
                self._recorded.setdefault((e.action, e.target), e)
        self._seq = entries[-1].seq if entries else 0
        self._prev = hashlib.sha256(entries[-1].line()).hexdigest() if entries else GENESIS
        if not entries:
            self._append("open_case", socket.gethostname(), None, None,
                         {"hash_algorithm": HASH_ALGORITHM, "uname": " ".join(os.uname())})

    def status(self) -> str:
        """One line for the notebook: is this a fresh case, a resumed one, or a closed one that only replays?"""
        held = len(self._recorded)
        if self.closed:
            return (f"case {self.case_id}: closed (custody record written), {held} exhibit(s); every collection "
                    "call returns the recorded exhibit, nothing is collected again")
        unsealed = "" if procfs.witnesses() else (
            " - WARNING: no running suspect shows its live witness here, so new log entries cannot be sealed and "
            "the grader will not credit them (is the suspect running?)")
        if held:
            return (f"case {self.case_id}: resumed with {held} exhibit(s) already collected; asking for one of them "
                    "returns the recorded exhibit, anything new is collected and logged" + unsealed)
        return f"case {self.case_id}: opened in {self.case_dir}; every collection is logged and hashed" + unsealed

    # -- volatile data, most volatile first (RFC 3227 §2.1) ----------------------------------------------
    def network_connections(self) -> pd.DataFrame:
        """TCP sockets (``/proc/net/tcp``, ``tcp6``) with the process owning each one."""
        return self._table("network_connections", "/proc/net/tcp,/proc/net/tcp6", procfs.tcp_connections,
                           "network_connections")

    def logged_in_users(self) -> pd.DataFrame:
        """Login sessions from utmp and from the SSH variables in process environments."""
        return self._table("logged_in_users", "utmp,/proc/*/environ", procfs.login_sessions, "logged_in_users")

    def processes(self) -> pd.DataFrame:
        """The process table, with each process's executable link (``(deleted)`` if unlinked)."""
        return self._table("processes", "/proc", procfs.process_table, "processes")

    def open_files(self, pid: int) -> pd.DataFrame:
        """The file descriptors of ``pid`` (``/proc/<pid>/fd`` and ``fdinfo``)."""
        return self._table("open_files", f"/proc/{pid}/fd", lambda: self._per_process(pid, procfs.open_files),
                           f"open_files-{pid}")

    def memory_maps(self, pid: int) -> pd.DataFrame:
        """The memory regions of ``pid`` (``/proc/<pid>/maps``)."""
        return self._table("memory_maps", f"/proc/{pid}/maps", lambda: self._per_process(pid, procfs.memory_maps),
                           f"memory_maps-{pid}")

    def recover_deleted_exe(self, pid: int, dest: str | None = None) -> LogEntry:
        """Copy the executable of ``pid`` through ``/proc/<pid>/exe``: works even after it was deleted."""
        target = f"/proc/{pid}/exe"
        if (recorded := self._replay("recover_deleted_exe", target)) is not None:
            return recorded
        link = self._link(target)
        data = self._read_proc(target)
        return self._save("recover_deleted_exe", target, data, dest or f"exe-{pid}.bin", {"pid": pid, "link": link})

    def recover_deleted_fd(self, pid: int, fd: int, dest: str | None = None) -> LogEntry:
        """Copy the file open as ``fd`` in ``pid`` through ``/proc/<pid>/fd/<fd>`` (deleted or not)."""
        target = f"/proc/{pid}/fd/{fd}"
        if (recorded := self._replay("recover_deleted_fd", target)) is not None:
            return recorded
        link = self._link(target)
        data = self._read_proc(target)
        return self._save("recover_deleted_fd", target, data, dest or f"fd-{pid}-{fd}.bin",
                          {"pid": pid, "fd": fd, "link": link})

    # -- non-volatile ------------------------------------------------------------------------------------
    def file(self, path: str | os.PathLike[str], dest: str | None = None) -> LogEntry:
        """Copy a file from the file system (the least volatile source: collect it last)."""
        src = Path(path)
        target = str(src.resolve())
        if (recorded := self._replay("file", target)) is not None:
            return recorded
        try:
            data = src.read_bytes()
        except OSError as exc:
            raise DflabError(f"cannot read: {exc.strerror}", str(src)) from exc
        return self._save("file", target, data, dest or f"file-{src.name}", {"fs_type": procfs.fs_type(str(src))})

    # -- log and outputs ---------------------------------------------------------------------------------
    def entries(self) -> list[LogEntry]:
        return read_log(self.log_path)

    def exhibit(self, entry: LogEntry) -> bytes:
        """The bytes of a logged output, refused if they no longer match the hash taken at collection."""
        path = self.case_dir / str(entry.output)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EvidenceError(f"exhibit of entry {entry.seq} is missing: {exc.strerror}", str(path)) from exc
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            raise EvidenceError(f"exhibit of entry {entry.seq} does not match its logged SHA-256 (altered?)", str(path))
        return data

    def _replay(self, action: str, target: str) -> LogEntry | None:
        """The recorded exhibit for ``action`` on ``target`` (hash checked), or None if it must be collected."""
        entry = self._recorded.get((action, target))
        if entry is not None:
            self.exhibit(entry)
            self.last = entry
            return entry
        if self.closed:
            raise DflabError(f"case {self.case_id} is closed (its custody record is written): {action} was not "
                             "collected before closing, and nothing can be added now", target)
        return None

    def _per_process(self, pid: int, reader: Callable[[int], pd.DataFrame]) -> pd.DataFrame:
        try:
            return reader(pid)
        except (FileNotFoundError, ProcessLookupError) as exc:
            raise DflabError("no such process (it has exited?)", f"pid {pid}") from exc
        except PermissionError as exc:
            raise DflabError("permission denied (not your process?)", f"pid {pid}") from exc

    def _link(self, path: str) -> str:
        try:
            return os.readlink(path)
        except (FileNotFoundError, ProcessLookupError) as exc:
            raise DflabError("no such process or descriptor", path) from exc
        except PermissionError as exc:
            raise DflabError("permission denied (not your process?)", path) from exc

    def _read_proc(self, path: str) -> bytes:
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError as exc:
            raise DflabError(f"cannot read: {exc.strerror}", path) from exc

    def _table(self, action: str, target: str, read: Callable[[], pd.DataFrame], stem: str) -> pd.DataFrame:
        """Collect a table once: read it live and save it as CSV, or read the recorded CSV back."""
        recorded = self._replay(action, target)
        if recorded is None:
            df = read()
            dtypes = {str(c): str(t) for c, t in df.dtypes.items()}   # so a replay gives back the same table
            self._save(action, target, df.to_csv(index=False).encode(), f"{stem}.csv",
                       {"rows": len(df), "dtypes": dtypes})
            return df
        return self._read_table(recorded)

    def recorded_table(self, action: str) -> pd.DataFrame | None:
        """The table ``action`` first collected into this case, read back (hash checked); None if there is none.
        Never collects: it answers what the case holds, e.g. where the suspect no longer runs."""
        entry = next((e for (a, _target), e in self._recorded.items() if a == action), None)
        return None if entry is None else self._read_table(entry)

    def _read_table(self, recorded: LogEntry) -> pd.DataFrame:
        dtypes = recorded.details.get("dtypes", {})
        return pd.read_csv(io.BytesIO(self.exhibit(recorded)), dtype={c: object if t == "object" else t
                                                                      for c, t in dtypes.items()})

    def _save(self, action: str, target: str, data: bytes, name: str, details: dict[str, Any]) -> LogEntry:
        """Write ``data`` as ``<seq>-<name>`` inside the case directory, then log it with its hash."""
        if Path(name).name != name or name.startswith("."):
            raise DflabError("an output name is a plain file name inside the case directory", name)
        output = f"{self._seq + 1:03d}-{name}"
        path = self.case_dir / output
        if path.exists():
            raise DflabError("exists already; exhibits are never overwritten", str(path))
        write_bytes(path, data)
        entry = self._append(action, target, output, data, details)
        self._recorded.setdefault((action, target), entry)
        self.last = entry
        return entry

    def _append(self, action: str, target: str, output: str | None, data: bytes | None,
                details: dict[str, Any]) -> LogEntry:
        tokens = procfs.witnesses()   # first, so the times stamped next are never before the witness was read
        entry = LogEntry(
            seq=self._seq + 1,
            utc=datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
            monotonic_ns=time.monotonic_ns(), action=action, target=target, output=output,
            sha256=hashlib.sha256(data).hexdigest() if data is not None else None,
            size=len(data) if data is not None else None, examiner=self.examiner, case_id=self.case_id,
            tool=f"dflab {tool_version()}", prev=self._prev, details=details)
        body = entry.body()
        entry = dataclasses.replace(entry, seal=tuple(witness.seal(t, body) for t in tokens))
        line = entry.line()
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line + b"\n")
            os.fsync(fd)
        except OSError as exc:
            raise DflabError(f"cannot append to the collection log: {exc.strerror}", str(self.log_path)) from exc
        finally:
            os.close(fd)
        self._seq, self._prev = entry.seq, hashlib.sha256(line).hexdigest()
        return entry


def handed_in(case_dir: str | os.PathLike[str]) -> str:
    """``case_dir`` as the grader reads it (relative to the notebook), once it holds at least one exhibit.

    The lab's procedural checks record this value: the grader then reads that folder from the submission.
    Before anything is collected there is nothing to grade, so it raises instead of recording an empty case.
    """
    path = Path(case_dir)
    if path.is_absolute() or ".." in path.parts:
        raise DflabError("the case folder must be a relative path below the notebook: it is handed in with it",
                         str(path))
    entries = read_log(path / LOG_NAME) if (path / LOG_NAME).is_file() else []
    if not any(e.output for e in entries):
        raise DflabError("nothing has been collected into the case folder yet", str(path))
    return path.as_posix()


_FIELDS: dict[str, tuple[type, ...]] = {
    "seq": (int,), "utc": (str,), "monotonic_ns": (int,), "action": (str,), "target": (str,),
    "output": (str, type(None)), "sha256": (str, type(None)), "size": (int, type(None)), "examiner": (str,),
    "case_id": (str,), "tool": (str,), "prev": (str,), "details": (dict,), "seal": (list,),
}


def read_log(path: str | os.PathLike[str]) -> list[LogEntry]:
    """Parse a collection log; a malformed line is an :class:`EvidenceError` naming its line number.

    Each field must have its type (a forged log may hold anything): the checks after this never crash on one.
    """
    entries = []
    try:
        lines = Path(path).read_bytes().splitlines()
    except OSError as exc:
        raise EvidenceError(f"cannot read the collection log: {exc.strerror}", str(path)) from exc
    for n, line in enumerate(lines, 1):
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            for name, kinds in _FIELDS.items():
                if name in data and (not isinstance(data[name], kinds) or isinstance(data[name], bool)):
                    raise TypeError(f"field {name!r} is not {' or '.join(k.__name__ for k in kinds)}")
            if not all(isinstance(s, str) for s in data.get("seal", [])):
                raise TypeError("field 'seal' is not a list of text")
            data["seal"] = tuple(data.get("seal", ()))
            entries.append(LogEntry(**data))
        except (ValueError, TypeError, RecursionError) as exc:
            raise EvidenceError(f"malformed log entry: {exc}", f"{path}:{n}") from exc
    return entries


def utc_us(text: str) -> int | None:
    """An entry's ``utc`` ("2026-03-02T08:37:33.123456Z") as microseconds since the epoch, or None if it is not
    one (integers throughout: two times a microsecond apart must never compare equal)."""
    if not text.endswith("Z") or "T" not in text:
        return None
    try:
        when = datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return None
    return (when - _EPOCH) // _MICROSECOND


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def clock_problems(entries: list[LogEntry]) -> list[str]:
    """Entries whose times do not run forward with the log: both clocks must increase from each entry to the next,
    and by the same amount (within :data:`CLOCK_TOLERANCE_NS` plus :data:`CLOCK_TOLERANCE_PPM`)."""
    problems = []
    last: tuple[LogEntry, int] | None = None
    for e in entries:
        us = utc_us(e.utc)
        if us is None:
            problems.append(f"entry {e.seq}: utc {e.utc[:40]!r} is not a UTC time like 2026-03-02T08:37:33.123456Z")
            continue
        if last is not None:
            before, before_us = last
            wall = (us - before_us) * 1000
            mono = e.monotonic_ns - before.monotonic_ns
            if wall <= 0:
                problems.append(f"entry {e.seq}: its utc time is not after entry {before.seq}'s (the wall clock ran "
                                "backwards, or the entries were reordered)")
            elif mono <= 0:
                problems.append(f"entry {e.seq}: its monotonic clock is not after entry {before.seq}'s (reordered "
                                "entries, or a reboot in the middle of the collection)")
            elif abs(wall - mono) > CLOCK_TOLERANCE_NS + max(wall, mono) * CLOCK_TOLERANCE_PPM // 1_000_000:
                problems.append(f"entry {e.seq}: since entry {before.seq} the wall clock advanced "
                                f"{wall / 1e9:.3f} s but the monotonic clock {mono / 1e9:.3f} s (times edited?)")
        last = (e, us)
    return problems


def verify_log(entries: list[LogEntry]) -> list[str]:
    """Problems with the log's integrity: gaps in the sequence, broken hash chain, one case per log, and clocks
    that do not run forward together (:func:`clock_problems`).  The seals need the trainee's key: the grader
    checks them (:func:`dflab.live.grading.seal_problems`)."""
    problems = []
    prev = GENESIS
    for i, e in enumerate(entries, 1):
        if e.seq != i:
            problems.append(f"entry {i}: sequence number {e.seq}, expected {i}")
        if e.prev != prev:
            problems.append(f"entry {e.seq}: hash chain broken (an earlier entry was changed or removed)")
        if e.case_id != entries[0].case_id:
            problems.append(f"entry {e.seq}: case id {e.case_id!r} differs from {entries[0].case_id!r}")
        prev = hashlib.sha256(e.line()).hexdigest()
    return problems + clock_problems(entries)
