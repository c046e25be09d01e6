"""The instant checker (dflab.checker, issue #16 item 1): right or wrong for one answer, decided outside the lab.

As root, a local session of alice and bob started by the real CLI (``running_pair``: confined labs, each in a mount
and network namespace of its own). Everything a trainee does goes through their own kernel, with their token:
``dflab.lab.check`` answers as grading would (``check_answer`` on their key), bob's right value is wrong for alice,
a lab sees only its own socket (bound read-only) and no key, the eleventh try of an answer within ten minutes is one
``CheckError`` line and a 429 with ``Retry-After``. From the host, hostile bodies are refused while the checker goes
on answering; the session state holds each attempt's hash, never its value (and the scan that says so finds a value
planted in a copy). A checker killed with SIGKILL is brought back by ``session start`` with its rate window intact,
and ``session stop`` ends it. Without a lab: an answer graded only on hand-in is 409, the state file migrates, the
window slides. With Docker: a container lab reaches its own checker and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dflab.checker import paths, process
from dflab.checker.protocol import ANSWERS_ROUTE, LAB_CHECK_DIR, connect_unix, lab_socket, request
from dflab.checker.ratelimit import RateLimit
from dflab.checker.server import BODY_TIMEOUT
from dflab.errors import DflabError
from dflab.evidence.manifest import canonical_json
from dflab.grading.checks import CheckFile, check_answer, checks_for, hooks_copy, lookup
from dflab.lab.answers import lab_answers
from dflab.labcheck import typed_value
from dflab.session.manager import Session
from dflab.session.state import SCHEMA_VERSION, SessionState
from tests.test_session_local import REPO
from tests.test_session_local_isolation import dflab, in_kernel, rows, running_pair

pytestmark = pytest.mark.xdist_group(name="checker")


SECRET = "checker-course-secret-5d21"
LAB_ID = "02-disk"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with running_pair(tmp_path_factory.mktemp("checker-session"), SECRET) as session_dir:
        yield session_dir


def key_of(session_dir: Path, trainee: str) -> dict[str, Any]:
    return json.loads((session_dir / "evidence" / trainee / "key" / "answer_key.json").read_text(encoding="utf-8"))


def lab_checks(session_dir: Path) -> CheckFile:
    return checks_for(session_dir / "graders", LAB_ID)


def solution(checks: CheckFile, key: dict[str, Any], name: str) -> Any:
    """The value a trainee holding ``key`` records for ``name`` when they found it (dflab lab check's rule)."""
    return typed_value(checks.checks[name], lookup(key, checks.key_path(name), "key"))


def host_socket(session_dir: Path, trainee: str) -> str:
    return str(paths.socket_path(session_dir, trainee))


CHECKS = r"""
import json, os
os.chdir(%(lab)r)
from dflab.lab import CheckError, check
out = []
for name, value in json.loads(%(cases)r):
    try:
        out.append(check(name, value))
    except CheckError as exc:
        out.append(f"CheckError: {exc}")
print(json.dumps(out))
"""


def kernel_checks(session_dir: Path, trainee: str, cases: list[tuple[str, Any]]) -> list[bool | str]:
    """``check(name, value)`` of each case in a new kernel of ``trainee``'s lab: each verdict, or the CheckError."""
    row = Session.existing(session_dir).state.get(trainee)
    return in_kernel(row.url or "", row.token, CHECKS % {"lab": LAB_ID, "cases": json.dumps(cases)})


def raw_exchange(path: str, data: bytes, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` (a whole request, ``Connection: close``) and read the reply to its end: status, headers, body."""
    with connect_unix(path, timeout) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def post(path: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict[str, str], bytes]:
    head = (f"POST /check HTTP/1.1\r\nHost: checker\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return raw_exchange(path, head + body)


def answers_still(path: str) -> None:
    """The checker still answers (after whatever was just sent to it)."""
    status, _, reply = request(path, "GET", ANSWERS_ROUTE)
    assert status == 200 and "payload_sha256" in reply["answers"], (status, reply)


def attempts_of(session_dir: Path, trainee: str, answer: str | None = None) -> list:
    return [a for a in SessionState(session_dir).attempts(trainee) if answer is None or a.answer == answer]


# -- a trainee's kernel ------------------------------------------------------------------------------------------
def test_a_kernel_checks_its_answers_as_grading_would(pair: Path) -> None:
    """Every checkable answer of the lab, with alice's solution value and with bob's: each verdict is the one
    check_answer gives on alice's key; hers are all right, and bob's payload hash (which differs) is wrong."""
    checks = lab_checks(pair)
    mine, bobs = key_of(pair, "alice"), key_of(pair, "bob")
    names = list(checks.checks)
    cases = [(n, solution(checks, mine, n)) for n in names] + [(n, solution(checks, bobs, n)) for n in names]
    got = kernel_checks(pair, "alice", [*cases, ("payload_sha256", "0" * 64)])
    expected = [check_answer(checks, n, v, mine, "alice's key")[0] for n, v in cases]
    assert got[:-1] == expected
    assert got[: len(names)] == [True] * len(names)
    assert solution(checks, bobs, "payload_sha256") != solution(checks, mine, "payload_sha256")
    assert got[len(names) + names.index("payload_sha256")] is False  # bob's right value, wrong for alice
    assert got[-1] is False
    assert len(attempts_of(pair, "alice")) == 2 * len(names) + 1  # each verdict recorded, each once


CONFINED = r"""
import errno, json, os
from dflab.checker.protocol import connect_unix
def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, type(exc).__name__)
p = json.loads(%(paths)r)
out = {"socket": os.environ.get("DFLAB_CHECK_SOCKET"), "listing": sorted(os.listdir(%(dir)r)),
       "own": attempt(lambda: connect_unix(os.environ["DFLAB_CHECK_SOCKET"], 5).close()),
       "bob": attempt(lambda: connect_unix(p["bob"], 5).close()),
       "own_host_path": attempt(lambda: connect_unix(p["alice"], 5).close()),
       "plant": attempt(lambda: open(%(dir)r + "/planted", "w").close()),
       "remove": attempt(lambda: os.unlink(os.environ["DFLAB_CHECK_SOCKET"])),
       "key": attempt(lambda: open(p["key"], "rb").close()),
       "log": attempt(lambda: open(p["log"], "rb").close())}
print(json.dumps(out))
"""


def test_a_lab_reaches_only_its_own_socket_read_only_and_no_key(pair: Path) -> None:
    row = Session.existing(pair).state.get("alice")
    targets = {"bob": host_socket(pair, "bob"), "alice": host_socket(pair, "alice"),
               "key": str(pair / "evidence" / "alice" / "key" / "answer_key.json"), "log": str(paths.log_path(pair))}
    assert all(Path(p).exists() for p in targets.values())  # there on the host
    out = in_kernel(row.url or "", row.token, CONFINED % {"paths": json.dumps(targets), "dir": LAB_CHECK_DIR})
    assert out["socket"] == lab_socket() and out["listing"] == ["check.sock"] and out["own"] == "ok", out
    assert (out["bob"], out["own_host_path"], out["key"], out["log"]) == ("ENOENT",) * 4, out
    assert out["plant"] in ("EROFS", "EACCES") and out["remove"] in ("EROFS", "EACCES"), out
    # The folder is bound read-only (connecting needs no write): the lab server's own mount table says so.
    mounts = Path(f"/proc/{rows(pair)['alice']['pid']}/mountinfo").read_text().splitlines()
    bound = [line.split() for line in mounts if line.split()[4] == LAB_CHECK_DIR]
    assert len(bound) == 1 and "ro" in bound[0][5].split(","), bound


def test_the_eleventh_try_in_ten_minutes_is_one_line_and_a_429(pair: Path) -> None:
    """Ten wrong tries of one answer are verdicts; the eleventh is refused in one line; another answer is not."""
    guesses = [("slack_secret", f"guess {i}") for i in range(10)]
    assert kernel_checks(pair, "bob", guesses) == [False] * 10
    row = Session.existing(pair).state.get("bob")
    with pytest.raises(AssertionError) as refused:
        in_kernel(row.url or "", row.token, f"import os\nos.chdir({LAB_ID!r})\nfrom dflab.lab import check\n"
                  "check('slack_secret', 'guess 10')")
    line = str(refused.value)
    assert line.startswith("CheckError: slack_secret: too many tries; try again in ") and "\n" not in line, line
    status, headers, body = post(host_socket(pair, "bob"), b'{"answer": "slack_secret", "value": "guess 11"}')
    assert status == 429 and 0 < int(headers["retry-after"]) <= 600, (status, headers)
    assert set(json.loads(body)) == {"error"} and b"\n" not in body
    assert len(attempts_of(pair, "bob", "slack_secret")) == 10  # refused tries are not attempts
    assert kernel_checks(pair, "bob", [("root_fs", "ext2")]) == [False]


# (body, expected status) sent as application/json unless noted; each followed by a request that must be answered.
HOSTILE = {
    "100 KB string": (b'{"answer": "root_fs", "value": "' + b"a" * 100_000 + b'"}', 413),
    "NaN": (b'{"answer": "root_fs", "value": NaN}', 400),
    "Infinity": (b'{"answer": "root_fs", "value": -Infinity}', 400),
    "1e999": (b'{"answer": "root_start_sector", "value": 1e999}', 400),
    "10^5-deep nesting": (b'{"answer": "root_fs", "value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 413),
    "30 000-deep nesting": (b'{"answer": "root_fs", "value": ' + b"[" * 30_000 + b"]" * 30_000 + b"}", 400),
    "10^5-digit int": (b'{"answer": "root_start_sector", "value": ' + b"9" * 100_000 + b"}", 413),
    "60 000-digit int": (b'{"answer": "root_start_sector", "value": ' + b"9" * 60_000 + b"}", 400),
    "invalid UTF-8": (b'{"answer": "root_fs", "value": "\xff\xfe"}', 400),
    "lone surrogate": (b'{"answer": "root_fs", "value": "\\ud800"}', 400),
    "not an object": (b'["root_fs", "ext4"]', 400),
    "another field": (b'{"answer": "root_fs", "value": "ext4", "trainee": "alice"}', 400),
    "unknown answer": (b'{"answer": "\\u001b]0;owned\\u0007", "value": 1}', 400),
    "empty": (b"", 400),
}


def test_hostile_bodies_are_refused_and_the_checker_goes_on_answering(pair: Path) -> None:
    path = host_socket(pair, "bob")
    before = len(attempts_of(pair, "bob"))
    for what, (body, expected) in HOSTILE.items():
        status, _, reply = post(path, body)
        assert status == expected, (what, status, reply[:200])
        assert set(json.loads(reply)) == {"error"} and b"\n" not in reply, (what, reply[:200])
        answers_still(path)
    assert post(path, b'{"answer": "root_fs", "value": "ext4"}', "text/plain")[0] == 415
    assert raw_exchange(path, b"POST /check HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 1000000000\r\nConnection: close\r\n\r\n")[0] == 413  # never read
    assert raw_exchange(path, b"GET /keys HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n")[0] == 404
    # Slow senders: half a body, half the headers. Others are answered meanwhile; the slow body is cut off.
    with connect_unix(path, 6 * BODY_TIMEOUT) as slow_body, connect_unix(path, 6 * BODY_TIMEOUT) as slow_head:
        slow_body.sendall(b"POST /check HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 100\r\n\r\n{\"answer\": \"ro")
        slow_head.sendall(b"POST /check HTTP/1.1\r\nHost: c\r\nContent-")
        answers_still(path)
        assert request(path, "POST", "/check", {"answer": "root_fs", "value": "ext3"})[0] == 200
        assert slow_body.recv(1024) == b""  # closed by the checker after BODY_TIMEOUT, without an answer
    assert len(attempts_of(pair, "bob")) == before + 1  # the one well-formed check only
    log = paths.log_path(pair).read_text(encoding="utf-8")
    assert "\x1b" not in log and "\\x1b]0;owned" in log  # a trainee's text in the log is escaped


def file_bytes(path: Path) -> bytes:
    """``path``'s bytes, read by another process: closing a descriptor of a SQLite file in this one would drop the
    POSIX locks its open connections hold on it (all of this process's), and the next writer elsewhere would then
    replace the WAL index under them."""
    return subprocess.run(["cat", str(path)], capture_output=True, check=True).stdout


def leaked(files: list[Path], values: list[str]) -> list[str]:
    """The ``values`` whose text is in any of ``files`` (UTF-8 and JSON-escaped)."""
    data = b"".join(file_bytes(f) for f in files if f.exists())
    return [v for v in values if v.encode() in data or json.dumps(v).encode() in data]


def state_files(session_dir: Path) -> list[Path]:
    return [session_dir / "session.sqlite", session_dir / "session.sqlite-wal", paths.log_path(session_dir)]


def test_attempts_record_a_hash_and_never_the_value(pair: Path, tmp_path: Path) -> None:
    canaries = {"deleted_note_text": f"dflab-canary-{uuid.uuid4().hex}", "archive_true_type": f"canary-{uuid.uuid4()}"}
    assert kernel_checks(pair, "alice", list(canaries.items())) == [False, False]
    recorded = {a.answer: a for a in attempts_of(pair, "alice")[-2:]}
    for name, value in canaries.items():
        assert recorded[name].value_sha256 == hashlib.sha256(canonical_json(value)).hexdigest()
        assert recorded[name].correct is False and recorded[name].lab == LAB_ID
    assert leaked(state_files(pair), list(canaries.values())) == []
    # The scan finds a value where one is: the same state, copied, with a canary planted in an attempt.
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in state_files(pair)[:2]:
        (copy / f.name).write_bytes(file_bytes(f))
    with sqlite3.connect(copy / "session.sqlite") as db:
        db.execute("INSERT INTO attempts(trainee, lab, answer, at, value_sha256, correct) VALUES (?, ?, ?, ?, ?, 0)",
                   ("alice", LAB_ID, "deleted_note_text", datetime.now(UTC).isoformat(), canaries["deleted_note_text"]))
    assert leaked([copy / "session.sqlite", copy / "session.sqlite-wal"], list(canaries.values())) == \
        [canaries["deleted_note_text"]]


def _gone(pid: int, started: int | None) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0] in ("Z", "X") or int(fields[19]) != started


def wait_gone(pid: int, started: int | None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not _gone(pid, started):
        assert time.monotonic() < deadline, f"process {pid} still runs"
        time.sleep(0.05)


def test_a_killed_checker_is_restarted_by_start_and_its_rate_window_survives(pair: Path) -> None:
    for i in range(10):  # bob's tries of one answer: the window is full
        status = request(host_socket(pair, "bob"), "POST", "/check", {"answer": "archive_path", "value": f"/{i}"})[0]
        assert status == 200
    state = Session.existing(pair).state
    pid, started = int(state.get_meta(process.PID) or 0), int(state.get_meta(process.START_TIME) or 0)
    os.kill(pid, signal.SIGKILL)
    wait_gone(pid, started)
    status = dflab("session", "status", "--session-dir", str(pair))
    assert status.returncode == 2 and status.stderr.count("\n") == 1, status.stdout + status.stderr
    assert "instant checker is not running" in status.stderr and "instant checker: not running" in status.stdout
    assert kernel_checks(pair, "alice", [("payload_inode", 1)]) == [
        "CheckError: the checker is not running: try again later, or tell your instructor"]

    root = pair.parent
    again = dflab("session", "start", "--backend", "local", "--lab", str(root / "labs" / LAB_ID), "--roster",
                  str(root / "roster.csv"), "--session-dir", str(pair), "--timeout", "120",
                  env={**os.environ, "DFLAB_COURSE_SECRET": SECRET})
    assert again.returncode == 0, again.stdout + again.stderr
    assert "checker   listening again (pid " in again.stderr and "kept" in again.stdout
    assert int(state.get_meta(process.PID) or 0) not in (0, pid)
    status, headers, _ = post(host_socket(pair, "bob"), b'{"answer": "archive_path", "value": "/after"}')
    assert status == 429 and int(headers["retry-after"]) > 0  # the ten tries before the restart still count
    # A running lab reaches the new checker: its folder, not the old socket, is what the lab has.
    assert kernel_checks(pair, "alice", [("payload_inode", solution(lab_checks(pair), key_of(pair, "alice"),
                                                                     "payload_inode"))]) == [True]
    assert dflab("session", "status", "--session-dir", str(pair)).returncode == 0


def test_stop_ends_the_checker_and_its_sockets(pair: Path) -> None:
    state = Session.existing(pair).state
    pid, started = int(state.get_meta(process.PID) or 0), int(state.get_meta(process.START_TIME) or 0)
    assert not _gone(pid, started)
    stopped = dflab("session", "stop", "--session-dir", str(pair))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    wait_gone(pid, started)
    assert not list((pair / paths.CHECK_DIR).glob("*/check.sock"))
    status = dflab("session", "status", "--session-dir", str(pair))
    assert status.returncode == 0 and "instant checker: not running" in status.stdout, status.stdout + status.stderr


# -- without a lab ---------------------------------------------------------------------------------------------------
CLIENT = r"""
import json
from dflab.lab import CheckError, check
out = []
for name, value in json.loads(%(cases)r):
    try:
        out.append(check(name, value))
    except CheckError as exc:
        out.append(f"CheckError: {exc}")
print(json.dumps(out))
"""


def client(lab: Path, socket_path: str | None, cases: list[tuple[str, Any]]) -> list[bool | str]:
    """``dflab.lab.check`` in a fresh interpreter, as a kernel of ``lab`` whose checker is at ``socket_path``."""
    env = {"PATH": os.environ["PATH"], "DFLAB_LAB_DIR": str(lab)}
    if socket_path is not None:
        env["DFLAB_CHECK_SOCKET"] = socket_path
    done = subprocess.run([sys.executable, "-c", CLIENT % {"cases": json.dumps(cases)}], env=env, cwd="/",
                          capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def bare_session(tmp_path: Path) -> Iterator[Path]:
    """A session of lab 01 (its check file and hooks, as a course keeps them) with one trainee whose variant is not
    built: enough for a checker, nothing else."""
    session_dir = tmp_path / "a" / ("deep-" * 12) / "session"  # its sockets' paths exceed sun_path's 108 bytes
    state = SessionState(session_dir)
    state.set_meta("lab_id", "01-live")
    state.add_trainee("carol", "token")
    (session_dir / "graders").mkdir()
    shutil.copy(REPO / "labs" / "01-live" / "grader.yaml", session_dir / "graders" / "01-live.yaml")
    shutil.copy(REPO / "labs" / "01-live" / "hooks.py", hooks_copy(session_dir / "graders", "01-live"))
    try:
        yield session_dir
    finally:
        process.stop(session_dir, state)


def test_answers_graded_on_hand_in_are_409_and_a_missing_key_is_503(bare_session: Path) -> None:
    state = SessionState(bare_session)
    started = process.ensure(bare_session, state)
    assert (started.action, started.trainees) == ("started", 1)
    assert process.ensure(bare_session, state).action == "kept"
    path = host_socket(bare_session, "carol")
    assert len(os.fsencode(path)) > 108
    status, _, reply = request(path, "GET", ANSWERS_ROUTE)
    assert status == 200 and "suspect_name" in reply["answers"] and "collection_order" not in reply["answers"]
    assert request(path, "POST", "/check", {"answer": "collection_order", "value": "case"})[0] == 409
    assert request(path, "POST", "/check", {"answer": "suspect_name", "value": "x"})[0] == 503
    lab = REPO / "labs" / "01-live"
    assert client(lab, path, [("collection_order", "case"), ("suspect_name", "x"), ("listener_port", "80"),
                              ("no_such_answer", 1)]) == [
        "CheckError: collection_order is checked when your work is graded, not here",
        "CheckError: suspect_name: your evidence is still being built: try again in a minute",
        "CheckError: listener_port: expected a whole number, got str",  # the shape, before any try is spent
        "CheckError: 'no_such_answer' is not an answer of this lab; expected one of "
        + ", ".join(sorted(lab_answers(lab))),
    ]
    assert client(lab, None, [("suspect_name", "x")]) == [
        "CheckError: this lab has no instant checker: your answers are checked when your work is graded"]
    assert state.attempts() == []  # nothing was checked
    process.stop(bare_session, state)
    assert client(lab, path, [("suspect_name", "x")]) == [
        "CheckError: the checker is not running: try again later, or tell your instructor"]


def test_state_files_of_version_1_gain_attempts_and_newer_ones_are_refused(tmp_path: Path) -> None:
    SessionState(tmp_path).add_trainee("alice", "t")
    with sqlite3.connect(tmp_path / "session.sqlite") as db:  # as the dflab before attempts left it
        db.execute("DROP TABLE attempts")
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    state = SessionState(tmp_path)
    assert state.get_meta("schema_version") == str(SCHEMA_VERSION) == "2"
    state.record_attempt("alice", LAB_ID, "root_fs", datetime.now(UTC), "0" * 64, True)
    assert [(a.trainee, a.correct) for a in state.attempts()] == [("alice", True)]
    assert state.get("alice").token == "t"
    with sqlite3.connect(tmp_path / "session.sqlite") as db:
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    with pytest.raises(DflabError, match="schema version 3; this dflab reads 2 and older"):
        SessionState(tmp_path)


def test_the_rate_window_slides() -> None:
    limit = RateLimit(tries=3, window=timedelta(minutes=10))
    t0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    tries = [t0, t0 + timedelta(minutes=1), t0 + timedelta(minutes=2)]
    assert limit.wait(tries[:2], t0 + timedelta(minutes=3)) == 0
    assert limit.wait(tries, t0 + timedelta(minutes=3)) == 7 * 60  # until the first leaves the window
    assert limit.wait(tries, t0 + timedelta(minutes=9, seconds=59, microseconds=1)) == 1
    assert limit.wait(tries[1:], t0 + timedelta(minutes=10)) == 0  # the first has left it
    assert limit.left(1) == 2 and limit.left(5) == 0


# -- Docker --------------------------------------------------------------------------------------------------------
def test_socket_paths_fit_or_go_through_their_folder(tmp_path: Path) -> None:
    """A socket deeper than sun_path holds is bound and reached through its folder's descriptor."""
    deep = tmp_path / ("d" * 100) / "check.sock"
    deep.parent.mkdir()
    from dflab.checker.server import listen_at

    with listen_at(deep) as listener, connect_unix(str(deep), 5) as client_side:
        listener.setblocking(True)
        server_side, _ = listener.accept()
        with server_side:
            client_side.sendall(b"ping")
            assert server_side.recv(4) == b"ping"
    assert oct(deep.stat().st_mode & 0o777) == "0o666" and isinstance(listener, socket.socket)
