"""The live-response suspect, for real: its processes, /proc traits, sockets, and full cleanup."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from dflab.errors import DflabError
from dflab.live import suspect, witness
from dflab.live.cli import live
from dflab.live.traits import expected_traits, suspect_seed, traits
from tests.livekit import start_fresh_suspect

pytestmark = pytest.mark.xdist_group("live")


def tcp_rows() -> list[dict]:
    """/proc/net/tcp parsed here, independently of dflab.live.procfs."""
    rows = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()

        def addr(h: str) -> tuple[str, int]:
            ip, port = h.split(":")
            return socket.inet_ntoa(bytes.fromhex(ip)[::-1]), int(port, 16)

        rows.append({"local": addr(f[1]), "remote": addr(f[2]), "state": f[3], "inode": int(f[9])})
    return rows


def socket_inodes(pid: int) -> set[int]:
    links = (os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd"))
    return {int(link[8:-1]) for link in links if link.startswith("socket:[")}


def wait_until(condition, what: str, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


def port_open(ip: str, port: int) -> bool:
    try:
        socket.create_connection((ip, port), timeout=2).close()
        return True
    except ConnectionRefusedError:
        return False


def test_traits_are_deterministic_and_differ_per_trainee() -> None:
    a, a2, b = (expected_traits(suspect_seed(t, "course-secret")) for t in ("alice", "alice", "bob"))
    assert a == a2
    for key in ("exe_sha256", "listener", "sink", "beacon", "held_file", "user_trace", "witness"):
        assert a[key] != b[key], key
    assert expected_traits(suspect_seed("alice", "another-secret")) != a
    t = traits(suspect_seed("alice", "course-secret"))
    assert t.exe_bytes[:4] == b"\x7fELF" and t.beacon in t.exe_bytes
    assert a["witness"] == {"key": witness.slot_key(suspect_seed("alice", "course-secret")).hex(),
                            "slot_s": witness.SLOT_S, "variable": witness.VARIABLE}
    assert t.witness_key not in t.exe_bytes          # the recovered executable does not give the key away
    assert a["exe_size"] == len(t.exe_bytes) and a["held_file"]["sha256"] == hashlib.sha256(t.held_content).hexdigest()
    assert len(t.exe_name) <= 15 and len(t.sink_name) <= 15          # the kernel's comm length
    assert a["listener"]["ip"] == "127.0.0.1" and a["sink"]["ip"].startswith("127.")
    assert a["listener"]["port"] != a["sink"]["port"]
    assert a["user_trace"]["ssh_connection"].startswith(a["user_trace"]["remote_ip"] + " ")


def test_running_suspect_shows_every_trait(tmp_path: Path) -> None:
    info, seed = start_fresh_suspect(tmp_path)
    exp = expected_traits(seed)
    try:
        pid = info.suspect_pid
        assert suspect.status(tmp_path).state == "running"
        # The executable was deleted after start, and /proc/<pid>/exe still yields its exact bytes.
        assert os.readlink(f"/proc/{pid}/exe") == f"{info.exe_path} (deleted)"
        assert not info.exe_path.exists()
        assert hashlib.sha256(Path(f"/proc/{pid}/exe").read_bytes()).hexdigest() == exp["exe_sha256"]
        # Nothing says Python: name, command line and mappings are the dropped program's.
        assert Path(f"/proc/{pid}/comm").read_text().strip() == exp["exe_name"]
        assert Path(f"/proc/{pid}/cmdline").read_bytes() == exp["exe_name"].encode() + b"\0"
        assert "python" not in Path(f"/proc/{pid}/maps").read_text().lower()
        assert Path(f"/proc/{info.sink_pid}/comm").read_text().strip() == exp["sink_name"]
        # The deleted file it holds open, with its known content.
        assert sorted(os.listdir(f"/proc/{pid}/fd"), key=int) == ["0", "1", "2", "3", "4", "5"]
        assert os.readlink(f"/proc/{pid}/fd/5") == f"{info.held_path} (deleted)"
        assert hashlib.sha256(Path(f"/proc/{pid}/fd/5").read_bytes()).hexdigest() == exp["held_file"]["sha256"]
        # The logged-in-user trace: the SSH session in its environment.
        environ = Path(f"/proc/{pid}/environ").read_text()
        env = dict(kv.split("=", 1) for kv in environ.split("\0") if kv)
        assert env["SSH_CONNECTION"] == exp["user_trace"]["ssh_connection"]
        assert env["SSH_TTY"] == exp["user_trace"]["tty"]
        # The live witness: first, and this slot's token (or the last one's); the key itself is nowhere.
        assert environ.startswith(f"{witness.VARIABLE}={env[witness.VARIABLE]}\0")
        assert env[witness.VARIABLE] in witness.tokens_for(bytes.fromhex(exp["witness"]["key"]), time.time_ns() // 1000)
        assert exp["witness"]["key"] not in environ
        # Listener and sink connection, both owned by the suspect, as the kernel reports them.
        rows = {r["inode"]: r for r in tcp_rows()}
        mine = [rows[i] for i in socket_inodes(pid) if i in rows]
        listener = (exp["listener"]["ip"], exp["listener"]["port"])
        sink = (exp["sink"]["ip"], exp["sink"]["port"])
        assert {(r["local"], r["state"]) for r in mine if r["state"] == "0A"} == {(listener, "0A")}
        assert [r["remote"] for r in mine if r["state"] == "01"] == [sink]
        assert info.listener == listener and info.sink == sink
        # The listener accepts a loopback connection; the suspect's loop accepts and closes it.
        with socket.create_connection(listener, timeout=5) as conn:
            conn.settimeout(30)
            assert conn.recv(1) == b""
        # Both run in one process group, and the state file holds no answers.
        assert os.getpgid(pid) == os.getpgid(info.sink_pid) == info.pgid
        state_text = info.state_file.read_text()
        for answer in (str(listener[1]), str(sink[1]), exp["exe_name"], exp["held_file"]["name"], sink[0]):
            assert answer not in state_text
    finally:
        suspect.stop(tmp_path)


def test_the_suspect_computes_its_witness_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Started with a witness of zeros, the suspect's own machine code (SipHash-2-4 of its key and the clock's slot,
    dflab.live.elf) writes the right token into its environment: the launcher's value is only a head start."""
    session_env = suspect._session_env

    def zeroed(t: suspect.Traits) -> dict[str, str]:
        return session_env(t) | {witness.VARIABLE: "0" * witness.TOKEN_HEX}

    monkeypatch.setattr(suspect, "_session_env", zeroed)
    info, seed = start_fresh_suspect(tmp_path)
    try:
        environ = Path(f"/proc/{info.suspect_pid}/environ")
        wait_until(lambda: witness.environ_token(environ.read_bytes()) not in (None, "0" * witness.TOKEN_HEX),
                   "the suspect to write its witness")
        shown = witness.environ_token(environ.read_bytes())
        assert shown in witness.tokens_for(witness.slot_key(seed), time.time_ns() // 1000)
        assert sorted(os.listdir(f"/proc/{info.suspect_pid}/fd"), key=int) == ["0", "1", "2", "3", "4", "5"]
    finally:
        suspect.stop(tmp_path)


def test_siphash_matches_the_reference_vectors() -> None:
    """SipHash-2-4 as in the paper's test vectors (key 00..0f, messages 00.., 00 01.., ...)."""
    key = bytes(range(16))
    assert witness.siphash24(key, b"") == 0x726FDB47DD0E0E31
    assert witness.siphash24(key, bytes(range(8))) == 0x93F5F5799A932462
    assert witness.siphash24(key, bytes(range(15))) == 0xA129CA6149BE45E5
    assert witness.token(key, 1) != witness.token(key, 2) != witness.token(bytes(16), 2)
    assert witness.tokens_for(key, 60_000_000) == (witness.token(key, 2), witness.token(key, 1))   # 60 s: slot 2
    assert witness.environ_token(b"A=1\0DFLAB_WITNESS=0123456789abcdef\0") == "0123456789abcdef"
    assert witness.environ_token(b"DFLAB_WITNESS=0123456789ABCDEF\0") is None


def test_stop_removes_everything_and_is_idempotent(tmp_path: Path) -> None:
    info, seed = start_fresh_suspect(tmp_path)
    exp = expected_traits(seed)
    listener = (exp["listener"]["ip"], exp["listener"]["port"])
    assert port_open(*listener)
    assert sorted(suspect.stop(tmp_path)) == sorted([info.suspect_pid, info.sink_pid])
    for pid in (info.suspect_pid, info.sink_pid):
        assert not Path(f"/proc/{pid}").exists()
    assert not port_open(*listener)
    assert list(tmp_path.iterdir()) == []
    assert suspect.stop(tmp_path) == []
    assert suspect.status(tmp_path).state == "stopped"


def test_crashed_suspect_is_reported_and_cleaned_up(tmp_path: Path) -> None:
    info, _ = start_fresh_suspect(tmp_path)
    os.kill(info.suspect_pid, signal.SIGKILL)
    wait_until(lambda: suspect.status(tmp_path).state == "crashed", "status to notice the killed suspect")
    st = suspect.status(tmp_path)
    assert {(p.role, p.pid, p.alive) for p in st.processes} == {
        ("suspect", info.suspect_pid, False), ("sink", info.sink_pid, True)}
    assert suspect.stop(tmp_path) == [info.sink_pid]
    for pid in (info.suspect_pid, info.sink_pid):
        assert not Path(f"/proc/{pid}").exists()
    assert list(tmp_path.iterdir()) == []


def test_suspect_exits_when_its_sink_dies(tmp_path: Path) -> None:
    info, _ = start_fresh_suspect(tmp_path)
    os.kill(info.sink_pid, signal.SIGKILL)
    # Its next beacon fails (EPIPE): the suspect's own loop ends it, within one beacon interval.
    wait_until(lambda: not any(p.alive for p in suspect.status(tmp_path).processes), "the suspect to exit")
    assert suspect.status(tmp_path).state == "crashed"
    assert suspect.stop(tmp_path) == []
    for pid in (info.suspect_pid, info.sink_pid):
        assert not Path(f"/proc/{pid}").exists()
    assert list(tmp_path.iterdir()) == []


def test_second_start_is_refused_while_running(tmp_path: Path) -> None:
    _, seed = start_fresh_suspect(tmp_path)
    try:
        with pytest.raises(DflabError, match="already running"):
            suspect.start(tmp_path, seed)
        assert suspect.status(tmp_path).state == "running"
    finally:
        suspect.stop(tmp_path)


def test_stop_never_kills_a_reused_pid(tmp_path: Path) -> None:
    state = {"version": 1, "pgid": os.getpgid(0), "files": [],
             "processes": [{"role": "suspect", "pid": os.getpid(), "starttime": 1}]}
    (tmp_path / suspect.STATE_FILE).write_text(json.dumps(state))
    assert suspect.status(tmp_path).state == "crashed"
    assert suspect.stop(tmp_path) == []          # we are still here to assert it
    assert suspect.status(tmp_path).state == "stopped"


def test_cli_start_status_stop(tmp_path: Path) -> None:
    runner = CliRunner()
    trainee = f"pytest-{uuid.uuid4()}"
    exp = expected_traits(suspect_seed(trainee, "cli-secret"))
    started = runner.invoke(live, ["suspect", "start", "--trainee", trainee, "--secret", "cli-secret",
                                   "--state-dir", str(tmp_path)])
    try:
        assert started.exit_code == 0, started.output
        # Pids and the state file only: no port, name or address the trainee is meant to find.
        assert re.fullmatch(r"suspect started: pids \d+ \d+ \(process group \d+\); state in \S+\n", started.output)
        assert exp["exe_name"] not in started.output and exp["sink"]["ip"] not in started.output
        status = runner.invoke(live, ["suspect", "status", "--state-dir", str(tmp_path)])
        assert status.exit_code == 0 and status.output.splitlines()[0] == "running"
    finally:
        stopped = runner.invoke(live, ["suspect", "stop", "--state-dir", str(tmp_path)])
    assert stopped.exit_code == 0 and "2 process(es) killed" in stopped.output
    again = runner.invoke(live, ["suspect", "stop", "--state-dir", str(tmp_path)])
    assert again.exit_code == 0 and "nothing was running" in again.output
    assert runner.invoke(live, ["suspect", "status", "--state-dir", str(tmp_path)]).output.strip() == "stopped"


def test_cli_seed_starts_the_same_suspect_without_the_secret(tmp_path: Path) -> None:
    runner = CliRunner()
    trainee = f"pytest-{uuid.uuid4()}"
    seed_hex = runner.invoke(live, ["seed", "--trainee", trainee, "--secret", "s3"]).output.strip()
    assert bytes.fromhex(seed_hex) == suspect_seed(trainee, "s3")
    started = runner.invoke(live, ["suspect", "start", "--seed", seed_hex, "--state-dir", str(tmp_path)])
    try:
        assert started.exit_code == 0, started.output
        pid = int(started.output.split()[4])
        assert Path(f"/proc/{pid}/comm").read_text().strip() == expected_traits(bytes.fromhex(seed_hex))["exe_name"]
    finally:
        suspect.stop(tmp_path)
    bad = runner.invoke(live, ["suspect", "start", "--seed", "abc", "--state-dir", str(tmp_path)])
    assert isinstance(bad.exception, DflabError) and "64 hex digits" in str(bad.exception)
    both = runner.invoke(live, ["suspect", "start", "--seed", seed_hex, "--trainee", "x", "--state-dir", str(tmp_path)])
    assert both.exit_code == 2 and "exactly one of --trainee or --seed" in both.output
