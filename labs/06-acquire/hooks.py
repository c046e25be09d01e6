"""Lab 06's hooks (dflab/lab_hooks.py): the acquisition is graded on what the trainee hands in, not on what they type.

Every hash the notebook asks for can be read off the seizure record (``manifest.json``) without imaging anything, so
most of the lab's points come from the ``acquisition/`` folder handed in with the notebook: the evidence file
(E01), ``acquisition.log`` and ``record.json``. One compare kind, ``acquisition`` (in ``COMPARES``), grades that
folder on one criterion per graded cell:

``image``
    the E01 is an image of *this* trainee's drive: a whole, well-formed set whose media is exactly as long as the
    drive, whose stored MD5 verifies over that media with every chunk's checksum intact
    (:func:`dflab.forensics.ewf.verify_e01`), and whose media SHA-256 is the drive's (the key's ``disk.img`` entry of
    ``evidence_items``). A copy that stops short, a neighbour's drive or a damaged file scores 0.
``header``
    the case details in the E01's header (case number, evidence number, examiner, description) are the ones the
    record states: the evidence file and the paperwork describe the same acquisition.
``times``
    the record's start and end are UTC times of an ``ewfacquire started`` / ``ewfacquire finished`` pair of the log,
    the log's times run forward, and the E01's own acquisition date falls between start and end.
``hashes``
    the record's source MD5 is the one the E01 stores and verifies, its SHA-256 is the drive's, and it states the
    write protection and the verification.

The E01 is parsed by libewf, C code, and by dflab's EWF structure checks, on a file the trainee controls: that runs in
a child process with memory and CPU limits (:data:`INSPECT`), so a crafted file costs its trainee a verdict, never the
grading run. Nothing is followed or read outside the submitted folder, and every read is bounded; any problem with
what was handed in is a verdict with a reason that names no expected value.

(No ``from __future__ import annotations``: dflab.lab_hooks loads this file without a ``sys.modules`` entry, where
dataclasses cannot resolve string annotations.)
"""

import functools
import json
import os
import re
import stat
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dflab.grading.checks import unusable_path
from dflab.lab_hooks import LabCompare

Verdict = tuple[bool, str]
CRITERIA = ("image", "header", "times", "hashes")
EXHIBIT = "disk.img"  # the drive, as the evidence manifest and the key's evidence_items name it
RECORD = "record.json"
LOG = "acquisition.log"
MAX_ENTRIES = 256  # names in the acquisition folder: the notebook writes five
MAX_RECORD_BYTES = 64 << 10
MAX_LOG_BYTES = 4 << 20  # dd, dcfldd, ewfacquire and ewfverify print progress: a few KiB per run
E01_OVERHEAD = 16 << 20  # an uncompressed E01 is its media plus about 0.1 % of checksums, tables and headers
UTC_TIME = "%Y-%m-%dT%H:%M:%SZ"  # as the notebook's `date -u +%Y-%m-%dT%H:%M:%SZ` writes it
LOGGED = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (.*)$")
# What the E01 header says, by libewf's header value names, and the record field that must say the same.
HEADER_FIELDS = {"case_number": "case_number", "evidence_number": "evidence_number", "examiner_name": "examiner",
                 "description": "device_description"}
SHOWN = {"case_number": "case number", "evidence_number": "evidence number", "examiner_name": "examiner",
         "description": "description"}

# The child that reads the E01: limits first, then only the one set it is given. It opens the set (the structure
# checks of dflab.forensics.ewf_layout run first), reads the header and the media size, and only when that size is
# the drive's reads the media: verify_e01 (stored hashes, chunk checksums) and one more pass for the SHA-256, which an
# EnCase 6 file does not store. TZ=UTC in its environment: libewf shows the acquisition date, stored as seconds since
# the epoch, in the reader's local time.
INSPECT = """
import hashlib, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
resource.setrlimit(resource.RLIMIT_CPU, (120, 121))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
path, expected = sys.argv[1], int(sys.argv[2])
facts = {}
try:
    from dflab.errors import EvidenceError
    from dflab.forensics import ewf
    image = ewf.open_e01(path)
    try:
        handle = image.handle
        facts["media_size"] = int(handle.get_media_size())
        facts["header"] = {name: handle.get_header_value(name) for name in
                           ("case_number", "evidence_number", "examiner_name", "description", "acquiry_date")}
    finally:
        image.close()
    if facts["media_size"] == expected:
        verified = ewf.verify_e01(path)
        facts.update(stored=verified.stored, computed=verified.computed, bad_chunks=len(verified.bad_chunks))
        image, sha256, offset = ewf.open_e01(path), hashlib.sha256(), 0
        try:
            while offset < expected:
                data = image.handle.read_buffer_at_offset(min(1 << 20, expected - offset), offset)
                if not data:
                    raise EvidenceError("the media ends early", path)
                sha256.update(data)
                offset += len(data)
        finally:
            image.close()
        facts["sha256"] = sha256.hexdigest()
except Exception as exc:  # the boundary: whatever a crafted file makes a reader raise is that file's verdict
    what = getattr(exc, "what", None)
    facts["problem"] = what if isinstance(what, str) else "its reader failed on it (" + type(exc).__name__ + ")"
print(json.dumps(facts))
"""
INSPECT_WALL_S = 600  # a 1-CPU grader with other work: the CPU limit above is the real bound


@dataclass(frozen=True)
class Drive:
    """The trainee's drive, as their key records it (the manifest entry of ``disk.img``)."""

    sha256: str
    size: int


@dataclass(frozen=True)
class E01Facts:
    """What the child read from the handed-in E01 (``problem``: why it could not be read; the rest then empty)."""

    problem: str = ""
    media_size: int | None = None
    header: dict[str, str] | None = None
    stored: dict[str, str] | None = None  # the hashes stored at acquisition (md5)
    computed: dict[str, str] | None = None  # the same, over the media now
    bad_chunks: int = 0
    sha256: str | None = None  # of the media; read only when its size is the drive's

    @property
    def verified(self) -> bool:
        """The stored MD5 matches the media and every chunk checks out (what ewfverify calls SUCCESS)."""
        stored, computed = self.stored or {}, self.computed or {}
        return bool(stored.get("md5")) and stored == {k: computed.get(k) for k in stored} and not self.bad_chunks


@dataclass(frozen=True)
class HandedIn:
    """The acquisition folder handed in: its E01 (or why there is none usable), record and log (or why not)."""

    e01: E01Facts
    record: dict[str, Any] | None
    record_problem: str
    log: list[tuple[int, datetime, str]] | None  # (line number, time, what) of every timed line
    log_problem: str


# ----------------------------------------------------------------------------------------------- the compare kind

def acquisition(value: Any, want: Any, check: Any, submission: Path | None) -> Verdict:
    """Grade the acquisition folder handed in (``value``, relative to ``submission``) on ``check.criterion``."""
    criterion = getattr(check, "criterion", None)
    if criterion not in CRITERIA:
        return False, f"unknown acquisition criterion {criterion!r}"
    drive = _drive(want)
    if drive is None:
        return False, f"the answer key holds no {EXHIBIT} entry in evidence_items: ask your instructor"
    if submission is None:
        return False, "the acquisition folder can only be graded with the submission it was handed in with"
    try:
        folder = _folder(value, submission)
        if isinstance(folder, str):
            return False, folder
        handed_in = _read(folder, drive)
    except OSError as exc:  # unreadable, or changed while being read: the hand-in's problem, not the grader's
        return False, f"the acquisition folder handed in cannot be read ({exc.strerror or type(exc).__name__})"
    if isinstance(handed_in, str):
        return False, handed_in
    return {"image": _image, "header": _header, "times": _times, "hashes": _hashes}[criterion](handed_in, drive)


COMPARES = {"acquisition": LabCompare(acquisition, criteria=CRITERIA, needs_submission=True)}


# ----------------------------------------------------------------------------------------------- the criteria

def _image(got: HandedIn, drive: Drive) -> Verdict:
    e01 = got.e01
    if e01.problem:
        return False, e01.problem
    if e01.media_size != drive.size:
        shorter = e01.media_size is not None and e01.media_size < drive.size
        return False, ("the E01's media is shorter than your drive: the acquisition stopped short" if shorter else
                       "the E01's media is not as long as your drive: an image of another drive")
    if not e01.verified:
        return False, _not_verified(e01)
    if e01.sha256 != drive.sha256:
        return False, "the E01's media is not your drive (its SHA-256 differs): an image of another drive, or changed"
    return True, "correct"


def _header(got: HandedIn, drive: Drive) -> Verdict:
    if got.e01.problem:
        return False, got.e01.problem
    if got.record is None:
        return False, got.record_problem
    header = got.e01.header or {}
    for name, field in HEADER_FIELDS.items():
        stated = _text(header.get(name))
        if not stated:
            return False, f"the E01 header has no {SHOWN[name]}: give it to ewfacquire"
        if stated != _text(got.record.get(field)):
            return False, f"the record's {field} is not the E01 header's {SHOWN[name]} (ewfinfo shows it)"
    return True, "correct"


def _times(got: HandedIn, drive: Drive) -> Verdict:
    if got.record is None:
        return False, got.record_problem
    if got.log is None:
        return False, got.log_problem
    start, end = (_utc(got.record.get(f"acquisition_{edge}_utc")) for edge in ("started", "finished"))
    if start is None or end is None:
        edge = "started" if start is None else "finished"
        return False, f"the record's acquisition_{edge}_utc is not a UTC time like 2026-03-09T14:05:00Z"
    if end < start:
        return False, "the record's acquisition finishes before it starts"
    for (line, when, _), (next_line, next_when, _) in zip(got.log, got.log[1:], strict=False):
        if next_when < when:
            return False, f"{LOG} runs backwards: line {next_line} is timed before line {line}"
    if (start, end) not in _ewfacquire_runs(got.log):
        return False, (f"the record's start and end are not the times {LOG} gives one ewfacquire run "
                       "('ewfacquire started' and the 'ewfacquire finished' after it)")
    if got.e01.problem:
        return False, got.e01.problem
    acquired = _ctime((got.e01.header or {}).get("acquiry_date"))
    if acquired is None:
        return False, "the E01 header holds no acquisition date"
    if not start <= acquired <= end:
        return False, "the E01's acquisition date is not between the record's start and end: made in another run"
    return True, "correct"


def _hashes(got: HandedIn, drive: Drive) -> Verdict:
    if got.record is None:
        return False, got.record_problem
    record, e01 = got.record, got.e01
    for field in ("write_protection", "verification"):
        if not re.search(r"[^\W\d_]", _text(record.get(field))):
            return False, f"the record does not state its {field.replace('_', ' ')}"
    if not _image(got, drive)[0]:
        return False, "the record's hashes cannot be confirmed: the E01 handed in is not a verified image of your drive"
    if _text(record.get("source_md5")).lower() != (e01.stored or {}).get("md5"):
        return False, "the record's source_md5 is not the MD5 the E01 stores and verifies"
    if _text(record.get("source_sha256")).lower() != drive.sha256:
        return False, "the record's source_sha256 is not your drive's SHA-256"
    return True, "correct"


def _ewfacquire_runs(log: list[tuple[int, datetime, str]]) -> set[tuple[datetime, datetime]]:
    """(start, end) of every ``ewfacquire started`` line and the first ``ewfacquire finished`` after it."""
    runs, started = set(), None
    for _, when, what in log:
        if what == "ewfacquire started":
            started = when
        elif what == "ewfacquire finished" and started is not None:
            runs.add((started, when))
            started = None
    return runs


def _not_verified(e01: E01Facts) -> str:
    stored = (e01.stored or {}).get("md5")
    if not stored:
        return "the E01 stores no MD5, so it cannot be verified: make it with ewfacquire as step 4 does"
    if e01.bad_chunks:
        return f"the E01 does not verify: {e01.bad_chunks} chunk(s) fail their checksum (damaged after acquisition)"
    return "the E01 does not verify: the MD5 stored at acquisition does not match its media (changed afterwards)"


# ----------------------------------------------------------------------------------------------- reading the hand-in

def _drive(want: Any) -> Drive | None:
    """The ``disk.img`` entry of the key's ``evidence_items`` (the manifest entries)."""
    for item in want if isinstance(want, list) else []:
        if isinstance(item, dict) and item.get("path") == EXHIBIT:
            sha256, size = item.get("sha256"), item.get("size")
            if isinstance(sha256, str) and isinstance(size, int) and not isinstance(size, bool) and size > 0:
                return Drive(sha256.lower(), size)
    return None


def _folder(value: Any, submission: Path) -> Path | str:
    """The folder ``value`` names inside ``submission``, every part a real folder (no link followed), or why not."""
    if not isinstance(value, str) or not value.strip():
        return f"expected the acquisition folder as text, got {type(value).__name__}"
    if unusable_path(value) or Path(value.strip()).is_absolute() or ".." in Path(value.strip()).parts:
        return "the acquisition folder must be a relative path inside your assignment folder"
    folder = submission
    for part in Path(value.strip()).parts:
        folder = folder / part
        try:
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            return f"no folder {value.strip()!r} was handed in with the notebook"
        if not stat.S_ISDIR(mode):
            return f"{value.strip()!r} handed in is not a folder (a link or a file): hand in the folder itself"
    return folder


def _read(folder: Path, drive: Drive) -> HandedIn | str:
    """What the folder holds: its names are listed without following any, and only plain files are read."""
    entries: dict[str, os.stat_result] = {}
    with os.scandir(folder) as listing:
        for entry in listing:
            if len(entries) >= MAX_ENTRIES:
                return f"the acquisition folder holds more than {MAX_ENTRIES} names: hand in the acquisition only"
            entries[entry.name] = entry.stat(follow_symlinks=False)
    odd = sorted(name for name, st in entries.items() if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)))
    if odd:
        return (f"the acquisition folder holds {len(odd)} link(s) or special file(s): the E01, log and record must "
                "be the files themselves")
    record, record_problem = _record(folder, entries)
    log, log_problem = _log(folder, entries)
    return HandedIn(_e01(folder, entries, drive), record, record_problem, log, log_problem)


def _e01(folder: Path, entries: dict[str, os.stat_result], drive: Drive) -> E01Facts:
    """The one E01 set handed in, inspected by the child (:data:`INSPECT`), or why there is none to inspect."""
    firsts = sorted(name for name in entries if name.lower().endswith(".e01"))
    if not firsts:
        return E01Facts("no evidence file (.E01) was handed in in the acquisition folder")
    if len(firsts) > 1:
        return E01Facts("the acquisition folder holds more than one evidence file (.E01): hand in the one you made")
    first = entries[firsts[0]]
    if not stat.S_ISREG(first.st_mode):
        return E01Facts(f"{firsts[0]} is not a file")
    segment = re.compile(re.escape(firsts[0][:-4]) + r"\.[EeSs]([0-9]{2}|[A-Za-z]{2})")  # its .E01, .E02 ...
    segments = [st for name, st in entries.items() if segment.fullmatch(name)]
    if sum(st.st_size for st in segments) > drive.size + E01_OVERHEAD:
        return E01Facts("the evidence file is larger than any E01 of your drive can be: not an image of it")
    identity = (first.st_dev, first.st_ino, first.st_size, first.st_mtime_ns, first.st_ctime_ns)
    return _inspect(str(folder / firsts[0]), identity, drive.size)


@functools.lru_cache(maxsize=8)
def _inspect(path: str, identity: tuple[int, ...], expected_size: int) -> E01Facts:
    """Run :data:`INSPECT` on ``path`` (once per file: each criterion of one hand-in asks; ``identity`` is its stat,
    so a file changed since is read again)."""
    env = {"PATH": os.defpath, "TZ": "UTC", "LC_ALL": "C.UTF-8"}
    try:
        proc = subprocess.run([sys.executable, "-I", "-c", INSPECT, path, str(expected_size)], capture_output=True,
                              text=True, timeout=INSPECT_WALL_S, env=env, check=False)
    except subprocess.TimeoutExpired:
        return E01Facts("reading the evidence file took too long: it is not an E01 made by ewfacquire")
    try:
        facts = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    except (IndexError, ValueError):
        facts = None
    if not isinstance(facts, dict):
        return E01Facts("the evidence file cannot be read (its reader failed on it): not an intact E01")
    if facts.get("problem"):
        return E01Facts(f"the evidence file cannot be used: {_text(facts['problem'])}")
    header = facts.get("header") if isinstance(facts.get("header"), dict) else {}
    return E01Facts(media_size=facts.get("media_size"), header={k: _text(v) for k, v in header.items()},
                    stored=facts.get("stored"), computed=facts.get("computed"),
                    bad_chunks=int(facts.get("bad_chunks") or 0), sha256=facts.get("sha256"))


def _plain_file(folder: Path, name: str, entries: dict[str, os.stat_result], limit: int) -> bytes | str:
    """The bytes of the plain file ``name`` of the folder, at most ``limit`` of them, or why not."""
    st = entries.get(name)
    if st is None:
        return f"no {name} was handed in in the acquisition folder"
    if not stat.S_ISREG(st.st_mode):
        return f"{name} handed in is not a file"
    if st.st_size > limit:
        return f"{name} handed in is larger than {limit >> 10} KiB: not the file the notebook writes"
    fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return f"{name} handed in is not a file"
        return fh.read(limit + 1)[:limit]


def _record(folder: Path, entries: dict[str, os.stat_result]) -> tuple[dict[str, Any] | None, str]:
    data = _plain_file(folder, RECORD, entries, MAX_RECORD_BYTES)
    if isinstance(data, str):
        return None, data
    try:
        record = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None, f"{RECORD} handed in is not valid JSON (as the notebook's save cell writes it)"
    if not isinstance(record, dict):
        return None, f"{RECORD} handed in is not a record (a JSON object of its fields)"
    return record, ""


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _log(folder: Path, entries: dict[str, os.stat_result]) -> tuple[list[tuple[int, datetime, str]] | None, str]:
    data = _plain_file(folder, LOG, entries, MAX_LOG_BYTES)
    if isinstance(data, str):
        return None, data
    timed = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if (match := LOGGED.match(line)) and (when := _utc(match.group(1))) is not None:
            timed.append((number, when, match.group(2).strip()))
    if not timed:
        return None, f"{LOG} handed in holds no timed line (the UTC time, then what was done)"
    return timed, ""


# ----------------------------------------------------------------------------------------------- values

def _text(value: Any) -> str:
    """A record or header field as text ("" for anything else: a number, a list, null)."""
    return value.strip() if isinstance(value, str) else ""


def _utc(value: Any) -> datetime | None:
    """``2026-03-09T14:05:00Z`` as an aware time (None for anything else)."""
    try:
        return datetime.strptime(value, UTC_TIME).replace(tzinfo=UTC) if isinstance(value, str) else None
    except ValueError:
        return None


def _ctime(value: Any) -> datetime | None:
    """libewf's acquisition date (``Mon Mar  9 14:05:00 2026``, in UTC: the child runs with TZ=UTC)."""
    try:
        return datetime.strptime(value, "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC) if isinstance(value, str) else None
    except ValueError:
        return None
