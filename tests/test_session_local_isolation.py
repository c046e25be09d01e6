"""Graded local sessions isolate trainees: each lab is a confined uid of its own (dflab.provision.local_backend).

As root (as `make test` runs): a session of two trainees, alice and bob, started by the real CLI with the course
secret in its environment, on a lab with lab 01's live suspect.  Everything a trainee tries goes through their own
lab, the way they would: code in a kernel and commands in a terminal, opened with their token over Jupyter's API.
From there neither reads the other's workspace, key or server environment, their own key, the course (source
notebooks, gradebook, session state), the checkout (solution notebooks, .git) or the course secret; each reads and
writes their own workspace, reads their evidence, and inspects their own suspect.

Not root: the real CLI as an unprivileged user refuses a roster of two in one line and starts it with --practice;
root without CAP_SYS_ADMIN (what a container without it gets) refuses naming what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dflab.confine import uid_processes
from dflab.errors import DflabError
from dflab.live import suspect
from dflab.live.traits import suspect_seed, traits
from dflab.provision.http import api_status
from dflab.provision.local_backend import (
    PROCESS_LIMIT,
    SERVER_UID_BASE,
    SERVER_UID_SPAN,
    UID_REGISTRY,
    _export_tree,
)
from dflab.session.manager import Session
from tests.test_session_course import live_lab
from tests.test_session_local import LAB, REPO, endpoints, wait_gone, write_roster

pytestmark = pytest.mark.xdist_group(name="session_local_isolation")

SECRET = "isolation-course-secret-7f3a"
DFLAB = str(REPO / ".venv" / "bin" / "dflab")
NOBODY = 65534
TIMEOUT = 120.0
# What a confined lab's environment may hold: what Jupyter and the lab need, nothing of the instructor's.
# DFLAB_EVIDENCE_CHECKED: the checked variant's device:inode, which the launcher compares with what was bound and
# removes before Jupyter starts (dflab/provision/evidence_share.py require_bound); /proc shows the launcher's start.
LAB_ENVIRONMENT = {"PATH", "HOME", "LANG", "USER", "LOGNAME", "SHELL", "JUPYTER_TOKEN", "DFLAB_EVIDENCE",
                   "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "PWD", "DFLAB_CHECK_SOCKET", "DFLAB_EVIDENCE_CHECKED"}


def dflab(*args: str, env: dict[str, str] | None = None, user: int | None = None,
          caps_drop: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real `dflab` CLI in a process of its own: as root, as ``user``, or as root without ``caps_drop``."""
    prefix: list[str] = []
    if user is not None:
        prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]
    elif caps_drop is not None:
        prefix = ["setpriv", f"--bounding-set=-{caps_drop}", f"--inh-caps=-{caps_drop}", "--"]
    return subprocess.run([*prefix, DFLAB, *args], env=env, cwd="/", capture_output=True, text=True,
                          timeout=900, check=False)


# -- acting as a trainee: their kernel and their terminal, through Jupyter's API with their token ------------------
def _api(url: str, token: str, path: str, method: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{url}{path}", method=method, data=json.dumps(body or {}).encode(),
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        raw = response.read()
    return json.loads(raw) if raw else {}


async def _socket(url: str, token: str, path: str):  # noqa: ANN202 -- tornado's WebSocketClientConnection
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    return await websocket_connect(HTTPRequest(url.replace("http://", "ws://") + path,
                                               headers={"Authorization": f"token {token}"},
                                               connect_timeout=TIMEOUT, request_timeout=TIMEOUT))


async def _execute(url: str, token: str, kernel: str, code: str) -> str:
    ws = await _socket(url, token, f"api/kernels/{kernel}/channels")
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "username": "trainee", "session": uuid.uuid4().hex,
                   "msg_type": "execute_request", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True}}))
    out: list[str] = []
    try:
        while (raw := await ws.read_message()) is not None:
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()
    raise AssertionError("the kernel's channel closed before it went idle")


def in_kernel(url: str, token: str, code: str) -> dict:
    """Run ``code`` (which prints one JSON object last) in a new kernel of the lab at ``url``; that object."""
    kernel = _api(url, token, "api/kernels", "POST")["id"]
    try:
        out = asyncio.run(asyncio.wait_for(_execute(url, token, kernel, code), TIMEOUT))
    finally:
        _api(url, token, f"api/kernels/{kernel}", "DELETE")
    return json.loads(out.strip().splitlines()[-1])


async def _type(url: str, token: str, name: str, line: str, done: str) -> str:
    ws = await _socket(url, token, f"terminals/websocket/{name}")
    seen = ""
    try:
        ws.write_message(json.dumps(["stdin", line + "\r"]))
        while done not in seen:
            raw = await ws.read_message()
            assert raw is not None, f"the terminal closed; it showed:\n{seen}"
            kind, *rest = json.loads(raw)
            if kind == "stdout":
                seen += rest[0]
    finally:
        ws.close()
    return seen


def in_terminal(url: str, token: str, commands: str) -> str:
    """Type ``commands`` into a new terminal of the lab at ``url``; what it printed between two markers."""
    name = _api(url, token, "api/terminals", "POST")["name"]
    try:
        # $((..)): the markers appear only in the output, never in the echo of the typed line.
        line = f"echo BEGIN-$((6*7)); {commands}; echo END-$((6*7))"
        seen = asyncio.run(asyncio.wait_for(_type(url, token, name, line, "END-42"), TIMEOUT))
    finally:
        _api(url, token, f"api/terminals/{name}", "DELETE")
    return seen.split("BEGIN-42", 1)[1].split("END-42", 1)[0].replace("\r", "")


# -- the root session ------------------------------------------------------------------------------------------------
def kill_leftovers(session_dir: Path) -> None:
    """After `session stop`: kill whatever of the session's labs still runs (servers, and every process of a lab's
    uid), whatever failed before, so no lab outlives its test."""
    with contextlib.suppress(DflabError):
        for row in Session.existing(session_dir).state.trainees():
            if pid := row.backend_state.get("pid"):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            if uid := row.backend_state.get("uid"):
                for stray in uid_processes(uid):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(stray, signal.SIGKILL)


@contextlib.contextmanager
def running_pair(root: Path, secret: str) -> Iterator[Path]:
    """A running local session of alice and bob on a live-suspect lab, started as root with ``secret`` in $ENV;
    nothing of it outlives the block, whatever failed inside."""
    session_dir = root / "session"
    env = {**os.environ, "DFLAB_COURSE_SECRET": secret}
    try:
        started = dflab("session", "start", "--backend", "local", "--lab", str(live_lab(root)), "--roster",
                        str(write_roster(root / "roster.csv", "alice", "bob")), "--session-dir", str(session_dir),
                        "--timeout", str(int(TIMEOUT)), env=env)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "isolation is off" not in started.stderr
        yield session_dir
    finally:
        dflab("session", "stop", "--purge", "--session-dir", str(session_dir))
        kill_leftovers(session_dir)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with running_pair(tmp_path_factory.mktemp("isolated-session"), SECRET) as session_dir:
        yield session_dir


def rows(session_dir: Path) -> dict[str, dict]:
    return {r.id: r.backend_state for r in Session.existing(session_dir).state.trainees()}


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in lines)}


def test_each_lab_is_an_unprivileged_uid_of_its_own_with_a_private_workspace(pair: Path) -> None:
    state = rows(pair)
    uids = {t: s["uid"] for t, s in state.items()}
    assert len(set(uids.values())) == 2
    for trainee, st in state.items():
        uid = st["uid"]
        assert SERVER_UID_BASE <= uid < SERVER_UID_BASE + SERVER_UID_SPAN
        assert (UID_REGISTRY / str(uid)).read_text() == f"{pair}\n{trainee}\n"  # no other session's lab takes it
        status = proc_status(st["pid"])
        assert status["Uid"].split() == [str(uid)] * 4 and status["Gid"].split() == [str(uid)] * 4
        assert status["Groups"] == "" and int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
        assert status["NoNewPrivs"] == "1"
        for folder in (pair / "workspaces" / trainee, pair / "run" / trainee):
            info = folder.stat()
            assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid, 0o700), folder
        # What Jupyter needs, nothing more: never the course secret the CLI had in its environment.
        environ = Path(f"/proc/{st['pid']}/environ").read_bytes()
        assert {e.split(b"=", 1)[0].decode() for e in environ.split(b"\0") if e} == LAB_ENVIRONMENT
        assert SECRET.encode() not in environ
        assert f"DFLAB_EVIDENCE={Session.existing(pair).evidence_dir(trainee)}".encode() in environ.split(b"\0")


READS = r"""
import glob, json, os
def attempt(path):  # what reading ``path`` gives: its first bytes, a listing, or the error's name
    try:
        if os.path.isdir(path):
            return sorted(os.listdir(path))
        with open(path, "rb") as fh:
            return fh.read(48).decode(errors="replace")
    except OSError as exc:
        return type(exc).__name__
p = json.loads(%(paths)r)
out = {name: attempt(path) for name, path in p["targets"].items()}
out["own_key"] = attempt(os.environ["DFLAB_EVIDENCE"] + "/../key/answer_key.json")
out["own_key_dir"] = attempt(os.environ["DFLAB_EVIDENCE"] + "/../key")
out["secret_in_environment"] = sorted(k for k, v in os.environ.items() if "SECRET" in k or p["secret"] in v)
# every environment this trainee can read, and which processes it can see at all
seen = {}
for entry in glob.glob("/proc/[0-9]*/environ"):
    try:
        seen[entry] = open(entry, "rb").read()
    except OSError:
        pass
out["environs_with_secret"] = sorted(e for e, data in seen.items() if p["secret"].encode() in data)
out["visible_uids"] = sorted({os.stat(d).st_uid for d in glob.glob("/proc/[0-9]*")})
# their own work and evidence
with open("mine.txt", "w") as fh:
    fh.write("my notes")
out["own_write"] = attempt("mine.txt")
os.remove("mine.txt")
out["own_notebook"] = attempt(p["own_notebook"])[:10]
out["own_manifest"] = attempt(os.environ["DFLAB_EVIDENCE"] + "/manifest.json")[:1]
try:
    open(os.environ["DFLAB_EVIDENCE"] + "/planted", "w").close()
    out["evidence_write"] = "written"
except OSError as exc:
    out["evidence_write"] = type(exc).__name__
out["uid"] = os.getuid()
out["cwd"] = os.getcwd()
print(json.dumps(out))
"""


@pytest.mark.parametrize(("reader", "other"), [("alice", "bob"), ("bob", "alice")])
def test_a_trainee_kernel_reads_nothing_of_the_other_the_course_or_the_checkout(
        pair: Path, reader: str, other: str) -> None:
    url, token = endpoints(pair)[reader]
    state = rows(pair)
    targets = {
        "other_workspace": pair / "workspaces" / other,
        "other_notebook": pair / "workspaces" / other / "02-disk" / "02-disk.ipynb",
        "other_key": pair / "evidence" / other / "key" / "answer_key.json",
        "other_evidence": pair / "evidence" / other / "evidence" / "manifest.json",
        "other_home": pair / "run" / other,
        "other_server_environ": Path(f"/proc/{state[other]['pid']}/environ"),
        "own_key_by_path": pair / "evidence" / reader / "key" / "answer_key.json",
        "source": pair / "source",
        "gradebook": pair / "gradebook.db",
        "session_state": pair / "session.sqlite",
        "access_list": pair / "access.csv",
        "graders": pair / "graders",
        "session": pair,
        "repo_source": REPO / "labs" / "02-disk" / "source.ipynb",
        "repo_labs": REPO / "labs",
        "git": REPO / ".git" / "HEAD",
        "uid_registry": UID_REGISTRY,
        "init_environ": Path("/proc/1/environ"),
    }
    for name in ("own_key_by_path", "other_key", "source", "gradebook", "repo_source"):
        assert targets[name].exists(), name  # they are there on the host
    paths = {"targets": {k: str(v) for k, v in targets.items()}, "secret": SECRET,
             "own_notebook": str(pair / "workspaces" / reader / "02-disk" / "02-disk.ipynb")}
    out = in_kernel(url, token, READS % {"paths": json.dumps(paths)})
    refused = ("FileNotFoundError", "PermissionError")
    for name in targets:
        if name == "session":  # the path to their own folders exists; nothing else of the session does
            assert out[name] == sorted({"evidence", "handout", "labstate", "run", "workspaces"}), out[name]
        else:
            assert out[name] in refused, (name, out[name])
    assert out["own_key"] in refused and out["own_key_dir"] in refused
    assert out["secret_in_environment"] == [] and out["environs_with_secret"] == []
    assert out["visible_uids"] == [state[reader]["uid"]]  # /proc lists their own processes only
    assert out["own_write"] == "my notes" and out["own_notebook"].startswith("{")
    assert out["own_manifest"] == "{" and out["evidence_write"] in ("PermissionError", "OSError")
    assert out["uid"] == state[reader]["uid"] and out["cwd"] == str(pair / "workspaces" / reader)


def test_a_trainee_terminal_is_confined_too(pair: Path) -> None:
    url, token = endpoints(pair)["alice"]
    out = in_terminal(url, token, (
        'id -u; cat "$DFLAB_EVIDENCE/../key/answer_key.json" 2>&1; '
        f"cat {pair}/evidence/bob/key/answer_key.json 2>&1; ls {pair}/workspaces/bob 2>&1; "
        f"ls {REPO}/labs 2>&1; env | grep -c COURSE_SECRET; whoami; tty; ulimit -u"))
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[0] == str(rows(pair)["alice"]["uid"]), out
    assert "No such file or directory" in lines[1] and "No such file or directory" in lines[2], out
    assert ("Permission denied" in lines[3] or "No such file" in lines[3]) and "No such file" in lines[4], out
    assert lines[5:8] == ["0", "alice", lines[7]] and lines[7].startswith("/dev/pts/"), out
    assert lines[8] == str(PROCESS_LIMIT), out  # a fork bomb stops at the trainee's own limit


SUSPECT_VIEW = r"""
import glob, hashlib, json, os
out = {"deleted": {}}
for exe in glob.glob("/proc/[0-9]*/exe"):
    pid = exe.split("/")[2]
    try:
        target = os.readlink(exe)
    except OSError:
        continue
    if target.endswith(" (deleted)"):
        with open(exe, "rb") as fh:  # the deleted executable, recovered through /proc as the lab teaches
            data = fh.read()
        out["deleted"][pid] = {"comm": open(f"/proc/{pid}/comm").read().strip(),
                               "sha256": hashlib.sha256(data).hexdigest(),
                               "witness": open(f"/proc/{pid}/environ", "rb").read().startswith(b"DFLAB_WITNESS=")}
out["other_suspect"] = os.path.exists("/proc/%(other)d")
# lab 01's own steps, with the collector the notebook uses
import shutil
from dflab.live.collect import Collector
collector = Collector("isolation-case", examiner=os.environ["USER"], case_id="ISOLATION")
connections, procs = collector.network_connections(), collector.processes()
suspect_pid = int(procs[procs["exe_deleted"]]["pid"].iloc[0])
mine = connections[connections["pid"] == suspect_pid]
fds = collector.open_files(suspect_pid)
out["lab"] = {"pid": suspect_pid, "listen": int(mine.loc[mine["state"] == "LISTEN", "local_port"].iloc[0]),
              "exe": collector.recover_deleted_exe(suspect_pid).sha256,
              "held": collector.recover_deleted_fd(suspect_pid, int(fds[fds["deleted"]].iloc[0]["fd"])).sha256}
shutil.rmtree("isolation-case")
print(json.dumps(out))
"""


def test_each_trainee_inspects_their_own_suspect_and_sees_no_other(pair: Path) -> None:
    state = rows(pair)
    for trainee, other in (("alice", "bob"), ("bob", "alice")):
        pids = {p["role"]: p["pid"] for p in json.loads(
            (pair / "labstate" / trainee / suspect.STATE_FILE).read_text())["processes"]}
        other_pid = json.loads((pair / "labstate" / other / suspect.STATE_FILE).read_text())["processes"][-1]["pid"]
        for pid in pids.values():
            assert proc_status(pid)["Uid"].split() == [str(state[trainee]["uid"])] * 4  # the trainee's own
        out = in_kernel(*endpoints(pair)[trainee], SUSPECT_VIEW % {"other": other_pid})
        expected = traits(suspect_seed(trainee, SECRET))
        assert out["deleted"] == {str(pids["suspect"]): {
            "comm": expected.exe_name, "sha256": hashlib.sha256(expected.exe_bytes).hexdigest(), "witness": True}}
        assert out["other_suspect"] is False
        assert out["lab"] == {"pid": pids["suspect"], "listen": expected.listen_port,
                              "exe": hashlib.sha256(expected.exe_bytes).hexdigest(),
                              "held": hashlib.sha256(expected.held_content).hexdigest()}


# Runs in a trainee's kernel: a TCP connection to each (name, ip, port) of TARGETS, how each went, and whether
# port LISTED is in the kernel's connection table (/proc/net/tcp*: its network namespace's).
CONNECT = r"""
import errno, json, socket
seen = {}
for name, ip, port in json.loads(%(targets)r):
    try:
        with socket.create_connection((ip, port), timeout=5):
            seen[name] = "connected"
    except OSError as exc:
        seen[name] = errno.errorcode.get(exc.errno, type(exc).__name__)
tables = "".join(open(f"/proc/net/{name}").read() for name in ("tcp", "tcp6"))
seen["listed"] = f":{%(listed)d:04X} " in tables
print(json.dumps(seen))
"""


def _host_address() -> str:
    """This host's address on its default route (what a lab on the host's network would reach it by)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: picks the route, sends nothing
        return str(probe.getsockname()[0])


def test_a_lab_reaches_no_network_but_its_own_loopback(pair: Path) -> None:
    """Each lab has a network namespace of its own, only its loopback up. From alice's kernel: a service of the
    host on 127.0.0.1 and on its own address, bob's lab (the port his browser uses) and bob's suspect are out of
    reach (nothing listens on her 127.0.0.1, no route elsewhere); her own suspect answers (lab 01 needs it), and
    the host's listener is not even in her connection table. On the host's network, all of them connected."""
    eps = endpoints(pair)
    mine, bobs = traits(suspect_seed("alice", SECRET)), traits(suspect_seed("bob", SECRET))
    assert (mine.listen_ip, mine.listen_port) != (bobs.listen_ip, bobs.listen_port)
    with socket.create_server(("0.0.0.0", 0)) as host_service:  # noqa: S104 -- every host address, loopback included
        port = host_service.getsockname()[1]
        bob_port = int(eps["bob"][0].rstrip("/").rsplit(":", 1)[1])
        targets = [("host_loopback", "127.0.0.1", port), ("host_address", _host_address(), port),
                   ("bob_lab", "127.0.0.1", bob_port), ("bob_suspect", bobs.listen_ip, bobs.listen_port),
                   ("own_suspect", mine.listen_ip, mine.listen_port)]
        seen = in_kernel(*eps["alice"], CONNECT % {"targets": json.dumps(targets), "listed": port})
        host_service.settimeout(0.5)
        with pytest.raises(TimeoutError):  # nothing of alice's reached it
            host_service.accept()[0].close()
    assert seen == {"host_loopback": "ECONNREFUSED", "host_address": "ENETUNREACH", "bob_lab": "ECONNREFUSED",
                    "bob_suspect": "ECONNREFUSED", "own_suspect": "connected", "listed": False}, seen


def test_restart_keeps_the_uid_and_stop_leaves_no_process_of_it(pair: Path) -> None:
    url, token = endpoints(pair)["bob"]
    before = rows(pair)["bob"]
    # A process bob detaches from his lab (a new session, as nohup or setsid would) is still his uid's.
    detached = in_kernel(url, token, "import json, subprocess\n"
                         "p = subprocess.Popen(['sleep', '3600'], start_new_session=True)\n"
                         "print(json.dumps({'pid': p.pid}))")["pid"]
    assert proc_status(detached)["Uid"].split()[0] == str(before["uid"])
    restarted = dflab("session", "restart", "bob", "--session-dir", str(pair), "--timeout", str(int(TIMEOUT)))
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    after = rows(pair)["bob"]
    assert (after["uid"], after["port"]) == (before["uid"], before["port"]) and after["pid"] != before["pid"]
    assert not Path(f"/proc/{detached}").exists() or proc_status(detached)["State"].startswith("Z")
    assert api_status(url, token) == 200
    assert suspect.status(pair / "labstate" / "bob").state == "running"  # the suspect came back with the lab


def test_collecting_a_workspace_follows_no_link_and_opens_no_pipe(tmp_path: Path) -> None:
    """What root copies out of a workspace a trainee controls: plain files and folders, links as links, no pipe."""
    secret = tmp_path / "instructor-only.txt"
    secret.write_text("not the trainee's")
    lab = tmp_path / "workspace" / "lab"
    (lab / "notes").mkdir(parents=True)
    (lab / "lab.ipynb").write_text("{}")
    (lab / "notes" / "a.txt").write_text("mine")
    (lab / "stolen.txt").symlink_to(secret)
    (lab / "stolen-dir").symlink_to(tmp_path)
    os.mkfifo(lab / "pipe")  # opening it for reading would block forever
    dest = tmp_path / "out"
    assert _export_tree(lab, dest) is True
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*")) == \
        ["lab.ipynb", "notes", "notes/a.txt", "stolen-dir", "stolen.txt"]
    assert (dest / "stolen.txt").is_symlink() and (dest / "stolen-dir").is_symlink()  # copied as links, not followed
    assert (dest / "notes" / "a.txt").read_text() == "mine"
    (tmp_path / "link-to-lab").symlink_to(lab)
    assert _export_tree(tmp_path / "link-to-lab", tmp_path / "out2") is False  # the folder itself is a link
    assert _export_tree(tmp_path / "missing", tmp_path / "out3") is False


# -- without isolation ------------------------------------------------------------------------------------------------
@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A folder the unprivileged user owns (pytest's temporary folders are root's alone), with a home inside."""
    top = Path(tempfile.mkdtemp(prefix="dflab-unprivileged-"))
    (top / "home").mkdir()
    for path in (top, top / "home"):
        os.chown(path, NOBODY, NOBODY)
    try:
        yield top
    finally:
        for row in Session(top / "session").state.trainees() if (top / "session" / "session.sqlite").exists() else []:
            if pid := row.backend_state.get("pid"):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        shutil.rmtree(top, ignore_errors=True)


def test_not_root_two_trainees_are_refused_in_one_line_and_start_with_practice(nobody_dir: Path) -> None:
    session_dir = nobody_dir / "session"
    env = {"PATH": os.environ["PATH"], "HOME": str(nobody_dir / "home"), "LANG": "C.UTF-8"}
    start = ("session", "start", "--backend", "local", "--lab", str(LAB), "--session-dir", str(session_dir),
             "--timeout", str(int(TIMEOUT)))
    two = write_roster(nobody_dir / "two.csv", "alice", "bob")
    refused = dflab(*start, "--roster", str(two), env=env, user=NOBODY)  # (the fixture stops what it would start)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.startswith("dflab: error: local backend: cannot keep 2 trainees apart: dflab is not "
                                     "running as root"), refused.stderr
    assert "--practice" in refused.stderr and refused.stderr.count("\n") == 1
    assert not session_dir.exists()  # refused before anything was created

    # One trainee (`make lab`) runs as it always did, with a one-line notice.
    one = dflab(*start, "--roster", str(write_roster(nobody_dir / "one.csv", "alice")), env=env, user=NOBODY)
    assert one.returncode == 0, one.stdout + one.stderr
    notices = [line for line in one.stderr.splitlines() if "isolation is off" in line]
    assert len(notices) == 1 and "not running as root" in notices[0]

    try:
        practice = dflab(*start, "--roster", str(two), "--practice", env=env, user=NOBODY)
        assert practice.returncode == 0, practice.stdout + practice.stderr
        assert len([line for line in practice.stderr.splitlines() if "isolation is off" in line]) == 1
        eps = endpoints(session_dir)
        assert sorted(eps) == ["alice", "bob"]
        for trainee, (url, token) in eps.items():
            assert api_status(url, token) == 200
            pid = rows(session_dir)[trainee]["pid"]
            assert proc_status(pid)["Uid"].split()[0] == str(NOBODY)  # the session's own user, as documented
            assert "uid" not in rows(session_dir)[trainee]
    finally:
        urls = [u for u, _ in endpoints(session_dir).values()]
        stopped = dflab("session", "stop", "--session-dir", str(session_dir), env=env, user=NOBODY)
        for url in urls:
            wait_gone(url)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr


@pytest.mark.parametrize(("cap", "failed"), [("sys_admin", "unshare: unshare failed: Operation not permitted"),
                                             ("net_admin", "bringing the loopback up failed: Operation not permitted")])
def test_root_without_namespaces_refuses_two_trainees_naming_what_is_missing(tmp_path: Path, cap: str,
                                                                              failed: str) -> None:
    """Without CAP_SYS_ADMIN no namespace can be made; without CAP_NET_ADMIN a new network namespace's loopback
    cannot be brought up (a lab without it could not even reach its own suspect): both refuse in one line."""
    session_dir = tmp_path / "session"
    try:
        refused = dflab("session", "start", "--backend", "local", "--lab", str(LAB), "--roster",
                        str(write_roster(tmp_path / "two.csv", "alice", "bob")), "--session-dir", str(session_dir),
                        caps_drop=cap)
    finally:
        if (session_dir / "session.sqlite").exists():  # not refused: nothing of it may outlive the test
            dflab("session", "stop", "--purge", "--session-dir", str(session_dir))
    assert refused.returncode == 2, refused.stdout + refused.stderr
    message = refused.stderr
    assert message.startswith("dflab: error: local backend: cannot keep 2 trainees apart: a private mount and "
                              f"network namespace with a root of its own failed ({failed}); "), message
    assert "CAP_SYS_ADMIN and CAP_NET_ADMIN" in message and "--practice" in message and message.count("\n") == 1
    assert not session_dir.exists()
