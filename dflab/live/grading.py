"""Grade a lab 01 live collection: order of volatility, hashes, completeness, the suspect's traits.

Pure functions of the case directory (the collection log and its outputs) and the expected traits
(:func:`dflab.live.traits.expected_traits`, computed by the grader from the trainee's seed).  Nothing
here trusts a value the trainee typed: hashes are recomputed from the files, traits are looked up in
the collected outputs, and an output only counts if its hash still matches the log.  A broken or
missing log gives zero points with a reason, never an exception.

The log itself is only believed if it is **authentic** (:func:`log_problems`): sequence and hash chain intact,
both clocks running forward together, and every entry sealed by the trainee's own running suspect for the time
it states (:mod:`dflab.live.witness`; the key is ``facts.live.witness`` of the trainee's answer key).  A log that
is not scores 0 on order, hashes, completeness and custody: it was written without the suspect, copied from
another trainee, or changed after the fact, and then neither its order, its hashes nor its list of exhibits
says anything about a collection.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from dflab.errors import DflabError, EvidenceError
from dflab.live import witness
from dflab.live.collect import LOG_NAME, LogEntry, read_log, utc_us, verify_log
from dflab.live.criteria import CRITERIA, CUSTODY_POINTS, POINTS  # noqa: F401 -- re-exported
from dflab.live.custody import custody_problems

# Volatility levels: collect a lower level before a higher one.
NETWORK, SYSTEM, TEMP_FS, DISK = 1, 2, 3, 4
LEVELS = {
    NETWORK: "network state (RFC 3227 §2.1 item 2 'routing table, arp cache'; NIST SP 800-86 §5.2.2 lists "
             "network connections first: they change within seconds)",
    SYSTEM: "process table, login sessions and memory (RFC 3227 §2.1 item 2 'process table, kernel "
            "statistics, memory')",
    TEMP_FS: "temporary file systems (RFC 3227 §2.1 item 3)",
    DISK: "disk (RFC 3227 §2.1 item 4)",
}
ACTION_LEVEL = {
    "network_connections": NETWORK,
    "processes": SYSTEM, "logged_in_users": SYSTEM, "open_files": SYSTEM, "memory_maps": SYSTEM,
    "recover_deleted_exe": SYSTEM, "recover_deleted_fd": SYSTEM,
}
MEMORY_FS = {"tmpfs", "ramfs", "devtmpfs"}
KERNEL_FS = {"proc", "sysfs"}
REQUIRED = ("network_connections", "logged_in_users", "processes", "open_files", "memory_maps",
            "recover_deleted_exe", "recover_deleted_fd")
_MAX_REASONS = 3


@dataclass(frozen=True)
class Criterion:
    name: str
    points: float
    max_points: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class GradeReport:
    criteria: tuple[Criterion, ...]

    @property
    def total(self) -> float:
        return sum(c.points for c in self.criteria)

    @property
    def max_total(self) -> float:
        return sum(c.max_points for c in self.criteria)

    def by_name(self) -> dict[str, Criterion]:
        return {c.name: c for c in self.criteria}

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "max_total": self.max_total,
                "criteria": [{"name": c.name, "points": c.points, "max_points": c.max_points,
                              "reasons": list(c.reasons)} for c in self.criteria]}


def level(entry: LogEntry) -> int | None:
    """The volatility level of what ``entry`` collected (None: not an acquisition)."""
    if entry.action == "file":
        fs = entry.details.get("fs_type", "")
        return SYSTEM if fs in KERNEL_FS else TEMP_FS if fs in MEMORY_FS else DISK
    return ACTION_LEVEL.get(entry.action)


def order_violations(entries: list[LogEntry]) -> list[str]:
    """Each acquisition that came after a less volatile one *in time*, explained with its RFC 3227 level.

    Entries are taken in the order of their monotonic clock, not their sequence numbers: on an authentic log
    (:func:`log_problems`) the two agree, and the seals tie each entry's clock readings to when it was written.
    """
    problems = []
    worst: tuple[int, LogEntry] | None = None   # the least volatile acquisition so far
    for e in sorted(entries, key=lambda e: e.monotonic_ns):
        lv = level(e)
        if lv is None:
            continue
        if worst is not None and lv < worst[0]:
            problems.append(f"{e.action} (entry {e.seq}, {LEVELS[lv]}) was collected after {worst[1].action} "
                            f"(entry {worst[1].seq}, {LEVELS[worst[0]]})")
        if worst is None or lv > worst[0]:
            worst = (lv, e)
    return problems


def _witness_key(expected: Any) -> tuple[bytes, int] | None:
    info = expected.get("witness") if isinstance(expected, dict) else None
    try:
        key, slot_s = bytes.fromhex(info["key"]), info["slot_s"]
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    if len(key) != 16 or not isinstance(slot_s, int) or isinstance(slot_s, bool) or slot_s <= 0:
        return None
    return key, slot_s


def sealed(entry: LogEntry, key: bytes, slot_s: int = witness.SLOT_S) -> bool:
    """Whether one of ``entry``'s seals is the running suspect's for the time the entry states."""
    us = utc_us(entry.utc)
    if us is None or not entry.seal:
        return False
    body = entry.body()
    want = {witness.seal(t, body) for t in witness.tokens_for(key, us, slot_s)}
    return any(s in want for s in entry.seal)


def seal_problems(entries: list[LogEntry], expected: Any) -> list[str]:
    """One reason if any entry lacks the running suspect's seal for its time (none if all have it)."""
    found = _witness_key(expected)
    if found is None:
        return ["the answer key holds no witness key for this trainee (built by an older dflab?): the collection "
                "cannot be authenticated"]
    bad = [e.seq for e in entries if not sealed(e, *found)]
    if not bad:
        return []
    which = ", ".join(map(str, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
    return [f"{len(bad)} of {len(entries)} log entries (entry {which}) carry no seal of your running suspect for "
            "the time they state: collected without it, copied from another trainee, or changed afterwards"]


def log_problems(entries: list[LogEntry], expected: Any) -> list[str]:
    """Why the log is not an authentic record of a live collection (empty: it is): sequence, hash chain, case id,
    clocks (:func:`dflab.live.collect.verify_log`) and the suspect's seals (:func:`seal_problems`)."""
    if not entries:
        return ["the collection log is empty"]
    return seal_problems(entries, expected) + verify_log(entries)   # the seals first: they say the most


def grade_collection(case_dir: str | Path, expected: dict[str, Any]) -> GradeReport:
    """Score the collection in ``case_dir`` against one trainee's ``expected`` traits."""
    case = Path(case_dir)
    try:
        entries = read_log(case / LOG_NAME)
    except EvidenceError as exc:
        return GradeReport(tuple(Criterion(n, 0.0, p, (str(exc),)) for n, p in POINTS.items()))
    verified, hash_problems = _verify_outputs(case, entries)
    integrity = log_problems(entries, expected)
    outputs = [e for e in entries if e.output is not None]
    hashes_ok = len(outputs) - len({p for p, _ in hash_problems})
    hash_points = 0.0 if integrity or not outputs else POINTS["hashes"] * hashes_ok / len(outputs)
    done = {e.action for e in verified}
    missing = [a for a in REQUIRED if a not in done]
    complete_points = 0.0 if integrity else POINTS["completeness"] * (len(REQUIRED) - len(missing)) / len(REQUIRED)
    order = integrity or order_violations(entries)
    if not any(level(e) is not None for e in entries):
        order = ["nothing was collected"]
    criteria = [
        Criterion("order", 0.0 if order else POINTS["order"], POINTS["order"],
                  tuple(order) or ("collected in order of volatility",)),
        Criterion("hashes", round(hash_points, 2), POINTS["hashes"],
                  tuple(integrity + [m for _, m in hash_problems]) or (f"all {len(outputs)} outputs match the log",)),
        Criterion("completeness", round(complete_points, 2), POINTS["completeness"],
                  tuple(integrity + [f"not collected (or altered): {a}" for a in missing])
                  or ("every required source collected",)),
        *_traits(case, verified, expected),
    ]
    return GradeReport(tuple(criteria))


def _verify_outputs(case: Path, entries: list[LogEntry]) -> tuple[list[LogEntry], list[tuple[str, str]]]:
    """Re-hash every output; return the entries whose file still matches, and the problems found."""
    good, problems = [], []
    for e in entries:
        if e.output is None:
            continue
        path = case / e.output
        if Path(e.output).name != e.output or path.is_symlink():   # a forged log may point outside the case
            problems.append((e.output, f"entry {e.seq}: output {e.output!r} is not a file of the case folder"))
            continue
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            problems.append((e.output, f"entry {e.seq}: output {e.output} is missing"))
            continue
        if digest != e.sha256:
            problems.append((e.output, f"entry {e.seq}: {e.output} does not match its logged SHA-256"))
        else:
            good.append(e)
    return good, problems


def _tables(case: Path, verified: list[LogEntry], action: str) -> list[pd.DataFrame]:
    frames = []
    for e in verified:
        if e.action == action:
            try:
                frames.append(pd.read_csv(case / str(e.output), dtype=str, keep_default_na=False))
            except (OSError, ValueError, pd.errors.EmptyDataError):
                continue
    return frames


def _has_row(frames: list[pd.DataFrame], **want: Any) -> bool:
    for df in frames:
        if not set(want) <= set(df.columns):
            continue
        mask = pd.Series(True, index=df.index)
        for col, value in want.items():
            mask &= df[col] == str(value)
        if mask.any():
            return True
    return False


def _traits(case: Path, verified: list[LogEntry], expected: dict[str, Any]) -> list[Criterion]:
    def crit(name: str, found: bool, yes: str, no: str) -> Criterion:
        return Criterion(name, POINTS[name] if found else 0.0, POINTS[name], (yes if found else no,))

    sha: dict[str, set[str | None]] = defaultdict(set)
    for e in verified:
        sha[e.action].add(e.sha256)
    net = _tables(case, verified, "network_connections")
    users = _tables(case, verified, "logged_in_users")
    lst, snk, ut = expected["listener"], expected["sink"], expected["user_trace"]
    return [
        crit("trait_exe", expected["exe_sha256"] in sha["recover_deleted_exe"],
             "deleted executable recovered (hash matches)",
             "no recovered executable has the suspect's hash"),
        crit("trait_held_file", expected["held_file"]["sha256"] in sha["recover_deleted_fd"],
             "deleted open file recovered (hash matches)",
             "no recovered descriptor has the deleted file's content"),
        crit("trait_listener", _has_row(net, local_ip=lst["ip"], local_port=lst["port"], state="LISTEN"),
             "the suspect's listener is in the collected connection table",
             "the collected connection tables show no listener on the suspect's port"),
        crit("trait_sink_connection", _has_row(net, remote_ip=snk["ip"], remote_port=snk["port"],
                                               state="ESTABLISHED"),
             "the connection to the sink is in the collected connection table",
             "the collected connection tables show no established connection to the sink"),
        crit("trait_user_trace", _has_row(users, remote_host=ut["remote_ip"], remote_port=ut["remote_port"]),
             "the SSH login session is in the collected login sessions",
             "the collected login sessions do not show the suspect's SSH session"),
    ]


def grade_custody(case_dir: str | Path, expected: dict[str, Any]) -> Criterion:
    """The custody criterion: ``custody.json`` is valid against the schema and matches the collection log, and that
    log is authentic (:func:`log_problems`): a record only vouches for what it records."""
    problems = custody_problems(case_dir)
    try:
        problems += log_problems(read_log(Path(case_dir) / LOG_NAME), expected)
    except EvidenceError as exc:
        if not problems:   # custody_problems names an unreadable log already when the record itself is valid
            problems.append(str(exc))
    return Criterion("custody", 0.0 if problems else CUSTODY_POINTS, CUSTODY_POINTS,
                     tuple(problems) or ("custody record valid and consistent with the log",))


def check_collection(recorded: Any, expected: dict[str, Any], criterion: str, submission: Path | None
                     ) -> tuple[bool, str]:
    """The grader's verdict on one ``criterion`` for the case directory a trainee recorded.

    ``recorded`` is the case directory relative to the trainee's submitted assignment folder
    (``submission``): the grader reads the files handed in, never the copy the re-executed notebook ran in,
    and never anything outside the submission.  A criterion passes only with all its points; otherwise the
    reason says what is wrong without any expected value.
    """
    if criterion not in CRITERIA:
        raise DflabError(f"unknown live collection criterion {criterion!r} (one of {', '.join(CRITERIA)})")
    if submission is None:
        raise DflabError("live collection checks need the submitted assignment folder")
    if not isinstance(recorded, str) or not recorded.strip():
        return False, f"expected the case directory as text, got {type(recorded).__name__}"
    rel = Path(recorded.strip())
    base = submission.resolve()
    case = (base / rel).resolve()
    if rel.is_absolute() or not case.is_relative_to(base):
        return False, "the case directory must be a relative path inside your assignment folder"
    if not case.is_dir():
        return False, f"no case directory {recorded.strip()!r} was handed in with the notebook"
    if any(p.is_symlink() for p in case.rglob("*")):
        return False, "the case folder holds symbolic links: exhibits, log and record must be the files themselves"
    result = (grade_custody(case, expected) if criterion == "custody"
              else grade_collection(case, expected).by_name()[criterion])
    if result.points >= result.max_points:
        return True, "correct"
    more = len(result.reasons) - _MAX_REASONS
    return False, "; ".join(result.reasons[:_MAX_REASONS]) + (f" (and {more} more)" if more > 0 else "")
