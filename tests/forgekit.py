"""Forging lab 01 case folders the ways a trainee could try, for the attack tests.

The attacker knows everything public: dflab's source (the log format, how the chain and the custody record are
made), the released notebook, the lab text and their own evidence folder.  They do not know their seed, so not
their suspect's witness key either.  An *outsider* forgery recomputes everything an unkeyed log needs (sequence,
hash chain, clocks that agree, a custody record from dflab's own ``close_case``) and seals with what it can get
(nothing, or a key it can compute: the public demo secret's, another trainee's).  An *insider* forgery is
re-sealed with the trainee's real key (as if the witness of every slot were known): it shows that the clock and
order checks stand on their own, not only behind the seals.

Used by tests/test_live_forgery.py and tests/test_lab_01_live.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dflab.atomic import write_bytes
from dflab.live import witness
from dflab.live.collect import GENESIS, LOG_NAME, LogEntry, read_log, utc_us
from dflab.live.custody import CUSTODY_FILE, build_custody, write_custody

# The exhibits of a collection in order of volatility, with plausible contents (what a forger can write).
FAKE_EXHIBITS = (
    ("network_connections", "/proc/net/tcp,/proc/net/tcp6", "network_connections.csv",
     b"proto,local_ip,local_port,remote_ip,remote_port,state,uid,inode,pid,fd,comm\n"
     b"tcp,127.0.0.1,20000,0.0.0.0,0,LISTEN,1000,4242,77,4,kworker-upd\n"),
    ("logged_in_users", "utmp,/proc/*/environ", "logged_in_users.csv",
     b"source,user,pid,tty,remote_host,remote_port,local_ip,local_port,login_time\n"
     b"/proc/77/environ,trainee,77,/dev/pts/1,203.0.113.7,50000,10.0.0.2,22,\n"),
    ("processes", "/proc", "processes.csv",
     b"pid,ppid,pgid,uid,user,state,comm,cmdline,exe,exe_deleted,start_ticks\n"
     b"77,1,76,1000,trainee,S,kworker-upd,kworker-upd,/tmp/kworker-upd (deleted),True,1000\n"),
    ("open_files", "/proc/77/fd", "open_files-77.csv", b"fd,target,deleted,pos,open_flags\n"),
    ("memory_maps", "/proc/77/maps", "memory_maps-77.csv",
     b"start,end,size,perms,offset,dev,inode,path,deleted\n"),
    ("recover_deleted_exe", "/proc/77/exe", "exe-77.bin", b"\x7fELF not really"),
    ("recover_deleted_fd", "/proc/77/fd/5", "fd-77-5.bin", b"# staged for upload - do not remove\n"),
    ("file", "/etc/passwd", "file-passwd", b"root:x:0:0:root:/root:/bin/bash\n"),
)
START = datetime(2024, 3, 2, 8, 37, 33, tzinfo=UTC)   # before any record is made


def utc_text(when: datetime) -> str:
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def shifted(e: LogEntry, seconds: float, *, monotonic: bool = True) -> LogEntry:
    """``e`` with its utc (and, unless ``monotonic`` is False, its monotonic clock) moved by ``seconds``."""
    when = datetime.fromtimestamp(utc_us(e.utc) / 1e6, UTC) + timedelta(seconds=seconds)
    return dataclasses.replace(e, utc=utc_text(when),
                               monotonic_ns=e.monotonic_ns + (round(seconds * 1e9) if monotonic else 0))


def seal_with(key: bytes, e: LogEntry) -> tuple[str, ...]:
    """The seal the trainee's suspect would have given ``e`` at the time it states (the insider's forgery)."""
    return (witness.seal(witness.tokens_for(key, utc_us(e.utc))[0], e.body()),)


def rewrite_log(case: Path, entries: list[LogEntry], *, key: bytes | None = None) -> list[LogEntry]:
    """Write ``entries`` as the case's log, renumbered 1..n and re-chained, as a careful forger would.

    With ``key`` every entry is re-sealed for its stated time (insider); without, each keeps the seals it had,
    which no longer fit an entry whose content changed (outsider).  Exhibits are renamed to their new numbers.
    """
    out, prev = [], GENESIS
    for n, e in enumerate(entries, 1):
        output = e.output
        if output is not None and output[:4] != f"{n:03d}-":
            output = f"{n:03d}-{output[4:]}"
            (case / e.output).rename(case / f"tmp-{output}")
        e = dataclasses.replace(e, seq=n, prev=prev, output=output)
        if key is not None:
            e = dataclasses.replace(e, seal=seal_with(key, e))
        out.append(e)
        prev = hashlib.sha256(e.line()).hexdigest()
    for e in out:
        if e.output is not None and (case / f"tmp-{e.output}").exists():
            (case / f"tmp-{e.output}").rename(case / e.output)
    write_bytes(case / LOG_NAME, b"".join(e.line() + b"\n" for e in out))
    return out


def edit_log(case: Path, change, *, key: bytes | None = None) -> list[LogEntry]:
    """Read the case's log, apply ``change`` (entries -> entries) and write it back re-chained (see rewrite_log)."""
    return rewrite_log(case, change(read_log(case / LOG_NAME)), key=key)


def fabricate(case: Path, *, examiner: str = "trainee", case_id: str = "NIGHTJAR-LR-01", step_s: float = 1.5,
              seal_key: bytes | None = None) -> list[LogEntry]:
    """A case folder made without collecting anything: plausible exhibits and a log with a sound chain.

    Times start at a fixed instant and advance by ``step_s`` on both clocks (negative: the wall clock runs
    backwards while the monotonic one still runs forward, as in the reproduced attack).  Seals, if any, are made
    with ``seal_key`` (a key the forger could compute).  No custody record: see :func:`sign`.
    """
    case.mkdir(parents=True)
    entries, prev = [], GENESIS
    steps = [("open_case", "finance-ws01", None, None), *FAKE_EXHIBITS]
    for n, (action, target, name, data) in enumerate(steps, 1):
        output = None if name is None else f"{n:03d}-{name}"
        if output is not None:
            (case / output).write_bytes(data)
        e = LogEntry(seq=n, utc=utc_text(START + timedelta(seconds=step_s * n)),
                     monotonic_ns=10**12 + round(abs(step_s) * 1e9) * n, action=action, target=target, output=output,
                     sha256=None if data is None else hashlib.sha256(data).hexdigest(),
                     size=None if data is None else len(data), examiner=examiner, case_id=case_id,
                     tool="dflab 0.1.0", prev=prev,
                     details={"fs_type": "ext4"} if action == "file" else {"hash_algorithm": "SHA-256"})
        if seal_key is not None:
            e = dataclasses.replace(e, seal=seal_with(seal_key, e))
        entries.append(e)
        prev = hashlib.sha256(e.line()).hexdigest()
    (case / LOG_NAME).write_bytes(b"".join(e.line() + b"\n" for e in entries))
    return entries


def sign(case: Path) -> dict:
    """A custody record for whatever log the case holds, made with dflab's own builder and schema check
    (what ``close_case`` writes, without its refusal of a log that fails its own checks)."""
    record = build_custody(case)
    write_custody(record, case / CUSTODY_FILE)
    return json.loads((case / CUSTODY_FILE).read_text())
