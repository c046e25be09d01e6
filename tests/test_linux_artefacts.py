"""The workstation's logs, login records and Firefox profile (dflab/scenario/traces), read back by the tools an
examiner uses (``last``, ``lastb``, ``utmpdump``, ``lastlog``, the ``sqlite3`` CLI) and by Python's ``struct`` and
``sqlite3``, each compared with facts the case holds elsewhere: the memory image's sshd and shell (pid, start,
``SSH_CLIENT``, ``XDG_SESSION_ID``), its kernel banner, the host name, the acquisition. Each check is a function
returning the problems it finds, and each is shown finding a planted inconsistency.
"""

from __future__ import annotations

import json
import re
import sqlite3
import struct
import subprocess
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

import pytest

from dflab.errors import SpecError
from dflab.scenario.case import Case, DiskFile
from dflab.scenario.load import load_spec, parse_spec
from dflab.scenario.resolve import resolve

SPEC = Path(__file__).resolve().parents[1] / "labs" / "scenarios" / "nightjar.yaml"
SEED = bytes(range(32))
TRACES = ("auth-log", "syslog", "wtmp", "btmp", "lastlog", "places", "firefox-profiles", "firefox-installs",
          "contract", "budget", "audit-report", "photo")
LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00) (\S+) ([^:\[]+)(?:\[(\d+)\])?: (.*)$")


@pytest.fixture(scope="module")
def case() -> Case:
    return resolve(load_spec(SPEC), SEED)


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120).stdout


class Facts:
    """What the memory image and the key say about the login, independent of the traces."""

    def __init__(self, case: Case) -> None:
        procs = {p.pid: p for p in case.memory.processes}
        self.shell = next(p for p in case.memory.processes if p.pid == case.facts["process_ids"]["bash"])
        session = procs[self.shell.ppid]  # sshd: USER@pts/0, the user's; its parent the [priv] monitor that logs
        self.sshd = procs[session.ppid] if session.args[0].endswith("@pts/0") else session
        # utmp's SSH login names the monitor's post-authentication child (OpenSSH's mm_answer_pty: s->pid = m_pid)
        self.ssh_session = session
        env = dict(self.shell.environ)
        ip, port, _ = env["SSH_CLIENT"].split()
        self.peer, self.port = ip, int(port)
        self.session = env["XDG_SESSION_ID"]
        self.user = next(u for u in case.users if u.uid == self.shell.uid)
        self.hostname = case.host(case.suspect_host).hostname
        self.acquired = case.memory.acquired_at
        self.banner = case.memory.banner.strip()
        self.release = case.memory.kernel_release


def parse_log(data: bytes) -> list[tuple[float, str, str, int | None, str]]:
    out = []
    for raw in data.decode().splitlines():
        m = LINE.match(raw)
        assert m, f"not rsyslog's Debian 12 format: {raw!r}"
        out.append((datetime.fromisoformat(m[1]).timestamp(), m[2], m[3], int(m[4]) if m[4] else None, m[5]))
    return out


def auth_problems(data: bytes, f: Facts, file: DiskFile) -> list[str]:
    lines = parse_log(data)
    problems = []
    times = [t for t, *_ in lines]
    if times != sorted(times):
        problems.append("lines out of time order")
    if times[0] < file.crtime or times[-1] > file.mtime:
        problems.append("a line outside the file's creation .. last write")
    if {h for _, h, *_ in lines} != {f.hostname}:
        problems.append("host name field is not the case's host name")
    accepted = [(t, pid, msg) for t, _, tag, pid, msg in lines if msg.startswith("Accepted password")]
    if len(accepted) != 1:
        return [*problems, f"{len(accepted)} accepted logins"]
    t, pid, msg = accepted[0]
    if msg != f"Accepted password for {f.user.name} from {f.peer} port {f.port} ssh2":
        problems.append(f"accepted login says {msg!r}")
    if pid != f.sshd.pid:
        problems.append(f"sshd pid {pid}, memory's sshd is {f.sshd.pid}")
    if not f.sshd.start_time <= t < f.shell.start_time:
        problems.append("the password is accepted outside sshd's start .. the shell's start")
    sessions = [msg for _, _, tag, _, msg in lines if tag == "systemd-logind" and msg.startswith("New session")]
    if f"New session {f.session} of user {f.user.name}." not in sessions:
        problems.append(f"no logind session {f.session} (the shell's XDG_SESSION_ID)")
    if any(f".{int(round(t * 1e6)) % 1_000_000:06d}" == ".000000" for t in times):
        problems.append("a whole-second timestamp")
    return problems


def test_auth_log_tells_the_ssh_login_as_memory_shows_it(case: Case, tmp_path: Path) -> None:
    facts, file = Facts(case), case.file("auth-log")
    (tmp_path / "auth.log").write_bytes(file.content)
    assert run("file", "-b", str(tmp_path / "auth.log")).startswith("ASCII text")
    assert auth_problems(file.content, facts, file) == []
    lines = parse_log(file.content)
    # The routine is there too: the greeter's logins on the earlier days and cron every hour.
    assert sum("pam_unix(cron:session): session opened" in m for *_, m in lines) >= 10
    assert any("gdm-password:session): session opened" in m for *_, m in lines)
    # A planted inconsistency: the accepted password moved after the shell started.
    t = datetime.fromtimestamp(facts.shell.start_time + 5).isoformat()
    planted = re.sub(rb"^\S+(?= \S+ sshd\[\d+\]: Accepted)", f"{t[:19]}.123456+00:00".encode(), file.content,
                     flags=re.M)
    assert any("outside sshd's start" in p for p in auth_problems(planted, facts, file))
    wrong_ip = file.content.replace(f"from {facts.peer} port".encode(), b"from 10.9.9.9 port")
    assert any("accepted login says" in p for p in auth_problems(wrong_ip, facts, file))


def syslog_problems(data: bytes, auth: bytes, f: Facts) -> list[str]:
    lines, auth_lines = parse_log(data), parse_log(auth)
    problems = []
    kernels = {m.split("] ", 1)[1] for _, _, tag, _, m in lines if tag == "kernel" and "Linux version" in m}
    if kernels != {f.banner}:
        problems.append(f"kernel banners {kernels} are not memory's")
    if not any(m == f"Started session-{f.session}.scope - Session {f.session} of User {f.user.name}."
               for *_, m in lines):
        problems.append("no scope for the SSH session")
    # cron: auth.log's PAM session (pid N) and syslog's CMD line (its child, N + 1), at the same moment.
    opened = {pid: t for t, _, tag, pid, m in auth_lines if tag == "CRON" and "session opened" in m}
    for t, _, tag, pid, _m in lines:
        if tag == "CRON" and (pid is None or pid - 1 not in opened or abs(opened[pid - 1] - t) > 1):
            problems.append(f"cron CMD by pid {pid} has no PAM session in auth.log")
    return problems


def test_syslog_agrees_with_memory_and_auth_log(case: Case) -> None:
    facts = Facts(case)
    syslog, auth = case.file("syslog").content, case.file("auth-log").content
    assert syslog_problems(syslog, auth, facts) == []
    planted = syslog.replace(facts.release.encode(), b"6.1.0-18-amd64", 1)
    assert any("kernel banners" in p for p in syslog_problems(planted, auth, facts))
    cron = re.search(rb"CRON\[(\d+)\]: \(root\)", syslog)
    assert cron
    moved = syslog.replace(cron[0], b"CRON[7]: (root)")
    assert any("no PAM session" in p for p in syslog_problems(moved, auth, facts))


def pid_problems(auth: bytes, syslog: bytes) -> list[str]:
    """Short-lived processes get rising pids within a boot, the story's sshd like cron's jobs: a line whose pid is
    out of that order is a line that was made apart from the rest."""
    lines = sorted(parse_log(auth) + parse_log(syslog))
    problems, last, seen = [], 0, set()
    for t, _, tag, pid, msg in lines:
        if tag == "systemd-logind" and msg == "New seat seat0.":
            last, seen = 0, set()  # a new boot
        if tag in ("CRON", "sshd", "gdm-password", "gdm-launch-environment") and pid not in seen:
            if pid < last:
                problems.append(f"{tag}[{pid}] at {t} after pid {last}")
            last = max(last, pid)
            seen.add(pid)
    return problems


def test_story_lines_are_drawn_like_the_routine(case: Case) -> None:
    auth, syslog = case.file("auth-log").content, case.file("syslog").content
    assert pid_problems(auth, syslog) == []
    facts = Facts(case)
    planted = auth.replace(f"sshd[{facts.sshd.pid}]".encode(), f"sshd[{facts.sshd.pid - 400}]".encode())
    assert any(p.startswith("sshd[") for p in pid_problems(planted, syslog))
    # No whole-second timestamps anywhere: the story's lines have microseconds like the routine's.
    assert not re.search(rb"\.000000\+00:00", auth + syslog)


UTMP = struct.Struct("<h2xi32s4s32s256shhiii16s20x")


def wtmp_problems(data: bytes, f: Facts, tmp: Path) -> list[str]:
    path = tmp / "wtmp"
    path.write_bytes(data)
    problems = []
    if len(data) % UTMP.size:
        return [f"{len(data)} bytes is not whole 384-byte records"]
    records = [UTMP.unpack_from(data, k) for k in range(0, len(data), UTMP.size)]
    times = [r[9] + r[10] / 1e6 for r in records]
    if times != sorted(times):
        problems.append("records out of time order")
    ssh = [r for r in records if r[0] == 7 and r[2].rstrip(b"\0") == b"pts/0"]
    if len(ssh) != 1:
        return [*problems, f"{len(ssh)} SSH logins"]
    r = ssh[0]
    if (r[1], r[4].rstrip(b"\0").decode(), r[5].rstrip(b"\0").decode()) != (f.ssh_session.pid, f.user.name, f.peer):
        problems.append("the SSH login record's pid, user or host is not memory's")
    if r[11][:4] != bytes(int(x) for x in f.peer.split(".")):
        problems.append("ut_addr_v6 is not the peer's address")
    if not f.sshd.start_time <= r[9] < f.shell.start_time:
        problems.append("the SSH login's time is outside sshd's start .. the shell's start")
    listing = run("last", "-f", str(path), "-w", "-a", "--time-format", "iso")
    row = next((line for line in listing.splitlines() if line.startswith(f.user.name) and " pts/0 " in line), "")
    if not row.endswith(f.peer) or "no logout" not in row:
        problems.append(f"last shows {row!r}")
    boots = [line for line in listing.splitlines() if line.startswith("reboot")]
    if not boots or any(not line.endswith(f.release) for line in boots):
        problems.append("a reboot record names another kernel")
    dump = run("utmpdump", str(path))
    if f"[{f.ssh_session.pid:05d}] [ts/0] [{f.user.name}" not in dump:
        problems.append("utmpdump does not show the SSH login")
    return problems


def test_wtmp_btmp_lastlog_read_by_last_utmpdump_lastlog(case: Case, tmp_path: Path) -> None:
    facts = Facts(case)
    wtmp = case.file("wtmp").content
    assert wtmp_problems(wtmp, facts, tmp_path) == []
    k = next(k for k in range(0, len(wtmp), UTMP.size) if wtmp[k:k + 2] == b"\x07\x00" and b"pts/0" in wtmp[k:k + 40])
    planted = bytearray(wtmp)
    struct.pack_into("<i", planted, k + 340, facts.shell.start_time + 60)
    assert any("outside sshd's start" in p for p in wtmp_problems(bytes(planted), facts, tmp_path))
    # Desktop sessions of the earlier days: a login and its logout on tty2, as last pairs them.
    listing = run("last", "-f", str(tmp_path / "wtmp"), "-w", "--time-format", "iso")
    assert re.search(rf"^{facts.user.name}\s+tty2\s+tty2\s+\S+ - \S+ ", listing, re.M)

    btmp = tmp_path / "btmp"
    btmp.write_bytes(case.file("btmp").content)
    failed = run("lastb", "-f", str(btmp), "-w", "--time-format", "iso")
    assert re.search(rf"^{facts.user.name}\s+ssh:notty\s+{re.escape(facts.peer)}\s", failed, re.M)
    rec = UTMP.unpack(case.file("btmp").content)
    assert rec[0] == 6 and facts.sshd.start_time - 120 < rec[9] < facts.sshd.start_time

    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "var" / "log").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(f"{facts.user.name}:x:{facts.user.uid}:{facts.user.gid}::"
                                         f"{facts.user.home}:/bin/bash\n")
    (root / "var" / "log" / "lastlog").write_bytes(case.file("lastlog").content)
    shown = run("lastlog", "-R", str(root), "-u", facts.user.name).splitlines()[1]
    when = datetime.fromtimestamp(facts.sshd.start_time).astimezone().strftime("%a %b %e %H:%M")
    assert shown.split()[:3] == [facts.user.name, "pts/0", facts.peer] and when[:10] in shown
    t, line, host = struct.unpack_from("<i32s256s", case.file("lastlog").content, 292 * facts.user.uid)
    assert (line.rstrip(b"\0"), host.rstrip(b"\0").decode()) == (b"pts/0", facts.peer)
    assert facts.sshd.start_time <= t < facts.shell.start_time


def places_problems(path: Path, case: Case) -> list[str]:
    problems = []
    cli = run("sqlite3", "-readonly", str(path), "PRAGMA integrity_check; PRAGMA user_version; PRAGMA page_size; "
                                                 "PRAGMA journal_mode;").split()
    if cli != ["ok", "75", "32768", "wal"]:
        problems.append(f"sqlite3 says {cli}")
    download = case.file("contract")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    annos = dict(db.execute("SELECT n.name, a.content FROM moz_annos a JOIN moz_anno_attributes n "
                            "ON n.id = a.anno_attribute_id JOIN moz_places p ON p.id = a.place_id "
                            "WHERE p.url LIKE '%/' || ? ", (download.name,)).fetchall())
    target = annos.get("downloads/destinationFileURI", "")
    if unquote(target) != f"file://{download.path}":
        problems.append(f"the download's target is {target!r}")
    meta = json.loads(annos.get("downloads/metaData", "{}"))
    if meta.get("fileSize") != len(download.content) or meta.get("endTime") != download.mtime * 1000:
        problems.append(f"the download's metadata {meta} is not the file's size and time")
    url = db.execute("SELECT url FROM moz_places p JOIN moz_historyvisits v ON v.place_id = p.id "
                     "WHERE v.visit_type = 7").fetchall()
    intranet = case.host("intranet").hostname
    if url != [(f"http://{intranet}/finance/contracts/{download.name}",)]:
        problems.append(f"download visits {url}")
    places = case.file("places")
    first, last = db.execute("SELECT min(visit_date), max(visit_date) FROM moz_historyvisits").fetchone()
    if first < places.crtime * 1_000_000 or last > places.mtime * 1_000_000:
        problems.append("a visit outside the profile's life")
    return problems


def test_places_sqlite_holds_the_download_and_reads_with_both_sqlite_clients(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "places.sqlite"
    path.write_bytes(case.file("places").content)
    assert places_problems(path, case) == []
    assert "SQLite 3.x database" in run("file", "-b", str(path))
    profiles = case.file("firefox-profiles").content.decode()
    folder = case.file("places").path.rsplit("/", 2)[1]
    assert f"Path={folder}" in profiles and f"Default={folder}" in case.file("firefox-installs").content.decode()
    # Visits fall in the user's desktop sessions that wtmp records (the days both cover).
    (tmp_path / "wtmp").write_bytes(case.file("wtmp").content)
    records = [UTMP.unpack_from(case.file("wtmp").content, k) for k in range(0, len(case.file("wtmp").content), 384)]
    opened = {r[1]: r[9] for r in records if r[0] == 7 and r[2].startswith(b"tty2")}
    closed = {r[1]: r[9] for r in records if r[0] == 8 and r[1] in opened}
    # A desktop still open (the incident's morning: last says "still logged in") lasts until the acquisition.
    sessions = [(start, closed.get(pid, case.memory.acquired_at)) for pid, start in opened.items()]
    assert sessions and len(closed) < len(opened)
    db = sqlite3.connect(path)
    covered = [v / 1e6 for (v,) in db.execute("SELECT visit_date FROM moz_historyvisits WHERE visit_type != 7")
               if v / 1e6 >= sessions[0][0]]
    assert covered and all(any(a <= t <= b for a, b in sessions) for t in covered)
    # Planted: the download's metadata claims another size.
    db.execute("UPDATE moz_annos SET content = replace(content, '\"fileSize\":', '\"fileSize\":1') "
               "WHERE content LIKE '{%'")
    db.commit()
    db.close()
    assert any("metadata" in p for p in places_problems(path, case))


def test_traces_are_deterministic(case: Case) -> None:
    again = resolve(load_spec(SPEC), SEED)
    for ident in TRACES:
        assert case.file(ident).content == again.file(ident).content, ident
    other = resolve(load_spec(SPEC), bytes(32))
    assert other.file("auth-log").content != case.file("auth-log").content


def test_a_log_without_its_login_shell_is_one_line_at_the_spec(tmp_path: Path) -> None:
    text = SPEC.read_text().replace("content: {kind: authlog, process: bash}", "content: {kind: authlog}")
    with pytest.raises(SpecError) as err:
        resolve(parse_spec(text, "nightjar.yaml"), SEED)
    assert "disk.files.auth-log.content.process" in str(err.value) and "\n" not in str(err.value)
