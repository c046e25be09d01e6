"""The embedded backend: one ``jupyter lab`` process per trainee on this machine, no engine needed.

Each trainee gets a port on 127.0.0.1, a token of their own and a workspace ``<session>/workspaces/<trainee>``
seeded once with the handout; ``DFLAB_EVIDENCE`` points at their evidence.

**As root** (how a graded session runs) every trainee's lab is confined, with the definition of "what of the host a
confined trainee sees" that the local grading sandbox uses (:mod:`dflab.confine`):

* its own unprivileged uid (``SERVER_UID_BASE`` up; stable per session and trainee, recorded in the backend state
  and claimed in a host-wide registry, ``UID_REGISTRY``, so no two labs of any session share one), no capability,
  no new privileges, no supplementary group, at most ``PROCESS_LIMIT`` processes (a fork bomb stops there);
* a mount namespace whose root holds the system directories, the interpreter and dflab read-only, and, at their
  host paths, only what is the trainee's: the workspace (read-write, the trainee's, 0700), the evidence and the
  handout (read-only), a run folder (Jupyter's config, the home; the trainee's, 0700), the lab state folder its
  hooks use (``$DFLAB_LAB_STATE``) and, read-only at ``/run/dflab-check``, the folder of their instant-checker socket
  (dflab.checker).  No checkout (solution notebooks, ``.git``), no key, no
  gradebook or session state, nothing of another trainee; private ``/tmp``, ``/dev/shm`` and terminals; ``/proc``
  lists the trainee's own processes only (so another trainee's command lines and environments are not even there);
* a network namespace of its own with only its loopback up: no route anywhere (the internet, the host's LAN, the
  host's own services), and its 127.0.0.1 is not the host's, so no other lab's server, kernel or suspect is there
  and what the lab's hooks start (lab 01's suspect) listens where only this trainee reaches it.  The trainee's
  browser reaches the lab through a port on the host's 127.0.0.1 that dflab binds *before* the namespace is made and
  hands in (a socket stays in the namespace it was made in); inside, the lab's first process relays what that port
  accepts to Jupyter's Unix socket in the trainee's private runtime folder (:func:`dflab.provision.relay.
  relay_until_exit`), the way the Docker backend's relay does.  The server still asks for its token, kept in that
  folder (in their own ``/tmp``) and environment; kernels' channels are Unix sockets there too.  Their Python kernel
  has no debugger (``KERNEL``: its debugpy adapter would listen on TCP for any client);
* a seccomp filter (:mod:`dflab.noptrace`, loaded before the drop to the uid: :func:`_as_trainee`): no process of
  the trainee's uid may ``ptrace`` or read another process's memory or registers (lab 01's suspect runs as their
  uid and holds a key);
* an environment of what Jupyter needs, never the course secret.

Commands a lab's hooks run (``exec``: lab 01 starts its suspect so) are confined the same way, as the trainee, in the
network namespace of the trainee's server (``nsenter``), so
the trainee can inspect what they start (the lab's subject) and nothing they write there can make root act for them;
they run under the seccomp filter too, so no process of the trainee's uid is outside it.
Root never writes into a trainee's folders (the trainee seeds their own workspace) and reads them only to collect,
following no link (``export_workspace``).

**Not root** (or no namespaces here): servers run as the session's user and read whatever that user can, keys and
other trainees' work included; ``dflab session start`` allows that for one trainee (``make lab``) or with
``--practice`` only (:func:`isolation_problem` says why it is so).  Their kernels still talk over Unix sockets in a
folder of that user's alone (:func:`shared_runtime`), so the host's other users cannot listen in.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import importlib.util
import itertools
import json
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from dflab.atomic import write_bytes
from dflab.checker import paths as check_paths
from dflab.checker.protocol import LAB_CHECK_DIR, SOCKET_ENV, lab_socket
from dflab.confine import KERNEL_PACKAGES, Root, base_root, chown_tree, drop_to, first_line, reap_uid, uid_processes
from dflab.errors import DflabError
from dflab.i18n.lang import DEFAULT_LANG, LANG_ENV, lab_settings, localised, of_state
from dflab.lab.evidence import EVIDENCE_ENV
from dflab.labserver import LAB_SERVER_EXTENSIONS, LAB_SETTINGS_DIR
from dflab.provision.base import LAB_STATE_ENV, UNKNOWN_EXIT, Backend, Endpoint, ExecResult, Stats, TraineeEnv
from dflab.provision.evidence_share import CHECKED_ENV, checked_variant, identity
from dflab.provision.seed import seed_workspace
from dflab.sparsecopy import copy_fd

STOP_TIMEOUT = 10.0
REAP_TIMEOUT = 30.0
EXEC_TIMEOUT = 120.0  # one command a lab's hooks run (lab 01's suspect start waits for it to take its key)
CPU_SAMPLE = 0.5
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")

# Trainees' uids: far above any uid a distribution, useradd or systemd hands out, beside the grading sandbox's
# (2_100_000 up).  One claim file per uid in the registry names its session and trainee.
SERVER_UID_BASE = 2_200_000
SERVER_UID_SPAN = 1_000_000
UID_REGISTRY = Path("/var/lib/dflab/uids")
PROBE_UID = SERVER_UID_BASE - 1  # runs `true` once per process, to see whether labs can be confined here
PROCESS_LIMIT = 1024  # processes and threads of one trainee's uid (kernels, terminals, the suspect)
# What a lab server imports besides the kernel's packages (bound on their own only when outside the environment).
SERVER_PACKAGES = (*KERNEL_PACKAGES, "jupyterlab", "jupyter_server", "jupyter_server_terminals", "terminado",
                   "jupyter_client", "jupyter_core", "nbgrader")
SECRET_ENV = "DFLAB_COURSE_SECRET"  # never in a lab's environment, confined or not
ETC = ".etc"  # run/.etc/<trainee>.passwd|.group: the accounts a confined lab sees (root's files)
MOUNT_POINT = ".root"  # run/.root: where each confined lab's namespace mounts its root (the host sees it empty)

# Where a confined lab's Jupyter keeps its runtime files: the server's token file and each kernel's connection file
# (its key) and Unix sockets (KERNEL_TRANSPORT). In the lab's private /tmp, a tmpfs of its own mount namespace that no
# other lab has, made 0700 by the trainee; short, since a socket's path (jupyter_client names them after the
# kernel's connection file: <runtime>/kernel-<uuid>-ipc-<n>) must fit in SOCKET_PATH_MAX bytes.
CONFINED_RUNTIME = "/tmp/jupyter-runtime"  # noqa: S108 -- the confined root's own /tmp
CONFINED_SOCKET = f"{CONFINED_RUNTIME}/jupyter.sock"  # where a confined lab's server listens (its relay connects)
# Kernels talk to their server over Unix sockets, never TCP: a kernel's ports on 127.0.0.1 would be everyone's on this
# host (its iopub channel publishes the code run and every output to any subscriber; the HMAC key only guards what the
# kernel receives), a socket in a private folder is its trainee's alone.
KERNEL_TRANSPORT = "--KernelManager.transport=ipc"
SOCKET_PATH_MAX = 107  # sockaddr_un.sun_path less its terminating NUL
# A confined lab's Python kernel (bound over the interpreter's own kernel spec in its root): ipykernel's, less its
# debugger. Starting the JupyterLab debugger makes a kernel run debugpy, whose adapter listens on a TCP port of
# 127.0.0.1 and takes any client that connects there: any other trainee of the host, who could then evaluate code in
# that kernel. Without debugpy importable, ipykernel offers no debugger (and JupyterLab shows none). (A trainee may
# still put a kernel spec of their own in their home: that exposes only themselves.)
KERNEL_SPEC = "share/jupyter/kernels/python3/kernel.json"
KERNEL = {
    "argv": ["python", "-c", 'import sys; sys.path.pop(0); sys.modules["debugpy"] = None; '
             "from ipykernel import kernelapp; kernelapp.launch_new_instance()", "-f", "{connection_file}"],
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
    "metadata": {"debugger": False},
    "kernel_protocol_version": "5.5",
}

# Runs inside the trainee's confined root and network namespace as the trainee (under the no-ptrace filter:
# _as_trainee): the folders Jupyter writes to, the workspace seeded once (by the trainee, so root never writes into a
# folder a trainee controls), then the server in a child, and, in this process, the relay from the host port dflab
# bound (LISTENER, a file descriptor of this process, never the server's) to the server's socket until it ends.
# Signals that end a lab reach both (one process group): the server decides, this process follows it out.
LAUNCH = """
import os, signal, sys
from pathlib import Path
from dflab.errors import DflabError
from dflab.lab.evidence import EVIDENCE_ENV
from dflab.provision.relay import relay_until_exit
from dflab.provision.evidence_share import CHECKED_ENV, require_bound
from dflab.provision.seed import seed_workspace
split = sys.argv.index("--")
listener, server_socket, handout, workspace, *folders = sys.argv[1:split]
os.set_inheritable(int(listener), False)
for folder in folders:
    os.makedirs(folder, mode=0o700, exist_ok=True)
try:
    require_bound(os.environ[EVIDENCE_ENV], os.environ.pop(CHECKED_ENV))
    seed_workspace(Path(handout), Path(workspace))
except DflabError as exc:  # one line in the lab's log, which a failed start quotes
    sys.exit(f"dflab: error: {exc}")
server = os.fork()
if server == 0:
    try:
        os.execv(sys.executable, [sys.executable, "-m", "jupyterlab", *sys.argv[split + 1:]])
    finally:
        os._exit(127)
for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(signum, signal.SIG_IGN)
sys.exit(relay_until_exit(int(listener), server_socket, server))
"""


def shared_runtime(run: Path) -> Path:
    """An unconfined lab's runtime folder: ``/tmp/dflab-<uid>/<hash of its run folder>``, private to this user.

    Not the run folder itself, whose path (in the session's folder) may be too long for a socket.  ``/tmp`` is shared
    with the host's other users, so the folder is made 0700 by this user and refused when anyone else made it.
    """
    runtime = shared_runtime_path(run)
    with contextlib.suppress(FileExistsError):
        runtime.parent.mkdir(mode=0o700)
    info = os.lstat(runtime.parent)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise DflabError("is not a folder of this user's alone (made by someone else?): remove it",
                         str(runtime.parent))
    with contextlib.suppress(FileExistsError):
        runtime.mkdir(mode=0o700)
    return runtime


def shared_runtime_path(run: Path) -> Path:
    """Where :func:`shared_runtime` puts the runtime folder of the lab whose run folder is ``run``."""
    return Path("/tmp") / f"dflab-{os.geteuid()}" / hashlib.sha256(str(run).encode()).hexdigest()[:16]  # noqa: S108


def port_is_free(port: int) -> bool:
    """Whether 127.0.0.1:``port`` can be bound right now (by a server that, like Jupyter's, reuses addresses)."""
    with socket.socket() as s:
        # Connections of a killed server linger in TIME_WAIT; they do not stop its successor binding.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def listen_on_loopback(port: int | None) -> socket.socket:
    """A TCP socket listening on the host's 127.0.0.1:``port`` (another free port when that one is taken)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past its last server's TIME_WAIT, never a listener
    try:
        try:
            listener.bind(("127.0.0.1", port or 0))
        except OSError:
            listener.bind(("127.0.0.1", 0))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    return listener


def free_port() -> int:
    """A port on 127.0.0.1 the kernel considers free (it may be taken before use; start() checks)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 is the state), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot: with the pid, it names one process for good."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None


def _tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (kernels and terminals count towards a trainee's use)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _proc_stat(int(entry.name))):
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _usage(pids: list[int]) -> tuple[int, int]:
    """Total CPU ticks (user + system) and resident bytes of ``pids``."""
    ticks = rss = 0
    for p in pids:
        if fields := _proc_stat(p):
            ticks += int(fields[11]) + int(fields[12])
            rss += int(fields[21]) * _PAGE
    return ticks, rss


def _search_path(python: str) -> str:
    return os.pathsep.join([str(Path(python).parent), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                            "/sbin", "/bin"])


def _server_root(python: str) -> Root:
    """What every confined lab process sees before its own folders are bound in (see dflab.confine)."""
    return base_root(python, SERVER_PACKAGES, proc="own").terminals()


def _limited(uid: int) -> list[str]:
    """The command prefix that runs what follows as ``uid``, unprivileged, with at most PROCESS_LIMIT processes."""
    return ["prlimit", f"--nproc={PROCESS_LIMIT}:{PROCESS_LIMIT}", "--", *drop_to(uid)]


def _as_trainee(python: str, uid: int) -> list[str]:
    """:func:`_limited` under the no-ptrace filter (dflab.noptrace), loaded while still root: every process of a
    lab's uid, its server and what the lab's hooks start alike, is under it from its first instruction.  None is
    left outside it that the trainee could take over (``/proc/<pid>/mem`` writes into a process of one's own uid)
    and trace from."""
    return [python, "-I", "-m", "dflab.noptrace", *_limited(uid)]


@functools.cache
def isolation_problem(python: str = sys.executable) -> str:
    """Why this process cannot confine each trainee's lab (see the module doc); "" when it can.

    Probed once per process the way a lab starts: a confined root built for real, ``true`` run in it as an
    unprivileged uid.  A failure is named by its first line (a container without CAP_SYS_ADMIN: "unshare failed:
    Operation not permitted").
    """
    if os.geteuid() != 0:
        return "dflab is not running as root (each trainee's lab needs a uid of its own)"
    missing = [tool for tool in ("unshare", "nsenter", "setpriv", "prlimit") if shutil.which(tool) is None]
    if missing:
        return f"util-linux's {', '.join(missing)} is missing"
    with tempfile.TemporaryDirectory(prefix="dflab-confine-probe-") as mount_point:
        argv = ["unshare", "--net", "--mount", "--", *_server_root(python).loopback(python).command(
            Path(mount_point), PROBE_UID, [*_limited(PROBE_UID), "true"])]
        try:
            probe = subprocess.run(argv, env={"PATH": _search_path(python), "LANG": "C.UTF-8"}, cwd="/",
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            return "building a confined root did not finish within 60 s"
    if probe.returncode != 0:
        return (f"a private mount and network namespace with a root of its own failed ({first_line(probe.stderr)}); "
                "it needs CAP_SYS_ADMIN and CAP_NET_ADMIN (a container started without them?) and Linux 5.8 or later")
    return ""


# -- uids ---------------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _registry() -> Iterator[None]:
    """The uid registry, locked against every other dflab process on this host."""
    try:
        UID_REGISTRY.mkdir(parents=True, exist_ok=True)
        os.chmod(UID_REGISTRY, 0o700)
        lock = open(UID_REGISTRY / ".lock", "a")  # noqa: SIM115 -- closed below, after the body ran
    except OSError as exc:
        raise DflabError(f"cannot use the registry of lab uids: {exc.strerror or exc}", str(UID_REGISTRY)) from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _holder(uid: int) -> str | None:
    try:
        return (UID_REGISTRY / str(uid)).read_text()
    except FileNotFoundError:
        return None


def _owner(session_dir: Path, trainee: str) -> str:
    return f"{session_dir}\n{trainee}\n"


def _in_use(uid: int) -> bool:
    """Whether ``uid`` is someone's on this host: an account, a subordinate-uid range, a running process."""
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        pass
    with contextlib.suppress(OSError):
        for line in Path("/etc/subuid").read_text().splitlines():
            fields = line.split(":")
            if len(fields) == 3 and fields[1].isdigit() and fields[2].isdigit():
                if int(fields[1]) <= uid < int(fields[1]) + int(fields[2]):
                    return True
    return bool(uid_processes(uid, zombies=False))


def claim_uid(session_dir: Path, trainee: str, recorded: int | None) -> int:
    """The uid of ``trainee``'s lab in ``session_dir``: ``recorded`` while the registry says it is theirs, else the
    first free one from a point that hashes (session, trainee), so a lost state finds the same uid again.

    A claim whose session directory is gone (deleted without ``stop --purge``) and whose uid runs nothing is free.
    """
    owner = _owner(session_dir, trainee)
    start = int.from_bytes(hashlib.sha256(owner.encode()).digest()[:8], "big") % SERVER_UID_SPAN
    hashed = (SERVER_UID_BASE + (start + i) % SERVER_UID_SPAN for i in range(SERVER_UID_SPAN))
    first = [recorded] if recorded is not None and SERVER_UID_BASE <= recorded < SERVER_UID_BASE + SERVER_UID_SPAN \
        else []
    with _registry():
        for uid in itertools.chain(first, hashed):
            holder = _holder(uid)
            if holder == owner:
                return uid
            if holder is not None:
                if (Path(holder.split("\n")[0]) / "session.sqlite").exists() or uid_processes(uid, zombies=False):
                    continue
            elif _in_use(uid):
                continue
            write_bytes(UID_REGISTRY / str(uid), owner.encode())
            return uid
    raise DflabError(f"all {SERVER_UID_SPAN} lab uids from {SERVER_UID_BASE} are taken", str(UID_REGISTRY))


def release_uid(session_dir: Path, trainee: str, uid: int) -> None:
    """Give ``uid`` back (its trainee's folders were purged); nothing when another lab holds it."""
    with _registry():
        if _holder(uid) == _owner(session_dir, trainee):
            (UID_REGISTRY / str(uid)).unlink()


def _hand_over(path: Path, uid: int) -> None:
    """Make the directory ``path`` (in a folder of root's) the trainee's: owned by ``uid``, mode 0700.

    Its whole tree changes owner only when ``path`` is not ``uid``'s yet (a workspace a practice run seeded, a uid
    that changed): then no process of ``uid`` can have been working in it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise DflabError("is not a directory", str(path))
    if (info.st_uid, info.st_gid) != (uid, uid):
        chown_tree(path, uid)
    os.chmod(path, 0o700)


# -- collecting without following links ------------------------------------------------------------------------------
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _export_tree(src: Path, dest: Path) -> bool:
    """Copy the directory ``src`` to the new directory ``dest``, following no link at any depth; ``False`` when
    ``src`` is not a directory.

    Every entry is opened relative to its parent's descriptor, so a trainee who swaps a folder for a link while
    this runs (as root) cannot make it read anything outside ``src``.  Links are copied as links; pipes, sockets
    and devices are left out.  Entries that could not be copied raise one ``shutil.Error`` at the end, as
    ``shutil.copytree`` does.
    """
    try:
        fd = os.open(src, _NOFOLLOW_DIR)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return False
        raise
    errors: list[tuple[str, str, str]] = []
    try:
        _export_dir(fd, src, dest, errors)
    finally:
        os.close(fd)
    if errors:
        raise shutil.Error(errors)
    return True


def _export_dir(fd: int, src: Path, dest: Path, errors: list[tuple[str, str, str]]) -> None:
    dest.mkdir()
    for name in sorted(os.listdir(fd)):
        source, target = src / name, dest / name
        try:
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                os.symlink(os.readlink(name, dir_fd=fd), target)
            elif stat.S_ISDIR(info.st_mode):
                sub = os.open(name, _NOFOLLOW_DIR, dir_fd=fd)
                try:
                    _export_dir(sub, source, target, errors)
                finally:
                    os.close(sub)
                os.chmod(target, stat.S_IMODE(info.st_mode) & 0o777)
            elif stat.S_ISREG(info.st_mode):
                _export_file(fd, name, target)
        except OSError as exc:
            errors.append((str(source), str(target), str(exc)))


def _export_file(dir_fd: int, name: str, target: Path) -> None:
    # O_NONBLOCK: a pipe put there meanwhile does not block the open; fstat then tells it is no regular file.
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            copy_fd(fd, out)  # a sparse image the trainee made comes back with its holes
        finally:
            os.close(out)
    finally:
        os.close(fd)
    os.chmod(target, stat.S_IMODE(info.st_mode) & 0o777)
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))



def _lang_env(env: TraineeEnv) -> dict[str, str]:
    """``$DFLAB_LANG`` for a lab in another language (dflab.lab's messages read it); nothing for English."""
    lang = of_state(env.state)
    return {} if lang == DEFAULT_LANG else {LANG_ENV: lang}


class LocalBackend(Backend):
    """JupyterLab processes started from this Python environment (confined as root, see the module doc)."""

    name = "local"

    def __init__(self, session_dir: Path, seed: Path, python: str = sys.executable) -> None:
        self.session_dir = session_dir
        self.seed = seed
        self.python = python
        # Children started by this process: their exit status is knowable and they must be reaped.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def workspace(self, trainee: str) -> Path:
        return self.session_dir / "workspaces" / trainee

    def seed_for(self, env: TraineeEnv) -> Path:
        """The handout ``env``'s workspace is seeded from: its language's (``handout-fr/``) when the session made
        one, else the English one."""
        seed = localised(self.seed, of_state(env.state))
        return seed if seed.is_dir() else self.seed

    def log_path(self, trainee: str) -> Path:
        return self.session_dir / "logs" / f"{trainee}.log"

    def run_dir(self, trainee: str) -> Path:
        """Jupyter's ``config/`` and (confined) ``home/``: per trainee, so servers share none (runtime files and
        kernel sockets live in a short private folder: ``CONFINED_RUNTIME``, :func:`shared_runtime`)."""
        return self.session_dir / "run" / trainee

    def state_dir(self, trainee: str) -> Path:
        """What the lab's hooks keep between commands (``$DFLAB_LAB_STATE``): per trainee, never shared."""
        return self.session_dir / "labstate" / trainee

    def _jupyter_args(self, env: TraineeEnv, listen: list[str], *, allow_root: bool) -> list[str]:
        # Every server setting is on the command line so no user or system Jupyter config changes
        # what a trainee gets; the token goes through the environment instead, because a command
        # line is readable by every local user in `ps`.
        return [
            *listen,
            f"--ServerApp.root_dir={self.workspace(env.trainee)}",
            # Kept across restarts (the runtime folder is not), so a restarted lab takes its trainee's open tabs back.
            f"--ServerApp.cookie_secret_file={self.run_dir(env.trainee) / 'jupyter_cookie_secret'}",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_origin=",
            "--ServerApp.terminals_enabled=True",
            "--LabApp.extension_manager=readonly",
            f"--ServerApp.jpserver_extensions={LAB_SERVER_EXTENSIONS!r}",
            # No instructor menus, no news prompt; the menus in the trainee's language (dflab.i18n.lang).
            f"--LabApp.app_settings_dir={lab_settings(LAB_SETTINGS_DIR, of_state(env.state))}",
            KERNEL_TRANSPORT,
            "--MappingKernelManager.cull_idle_timeout=3600",
            "--MappingKernelManager.cull_interval=300",
            # Root without confinement (a practice session): Jupyter refuses to start without this.
            *(["--ServerApp.allow_root=True"] if allow_root else []),
        ]  # fmt: skip

    def preflight(self) -> None:
        if importlib.util.find_spec("jupyterlab") is None:
            raise DflabError(f"JupyterLab is not installed in {sys.executable}; install it with "
                             f"`{sys.executable} -m pip install jupyterlab==4.6.6 nbgrader==0.9.6`", "local backend")

    def start(self, env: TraineeEnv) -> Endpoint:
        self.preflight()
        if self.poll(env) is None:
            return Endpoint(f"http://127.0.0.1:{env.state['port']}/", env.token)
        problem = isolation_problem(self.python)
        if problem and env.state.get("uid") is not None:
            raise DflabError(f"this lab ran confined (uid {env.state['uid']}) and cannot be confined now: {problem}",
                             env.trainee)
        # Keep the trainee's URL across restarts when the old port is still free.
        port = env.state.get("port")
        log = self.log_path(env.trainee)
        log.parent.mkdir(parents=True, exist_ok=True)
        listener = None
        if problem:
            if not port or not port_is_free(port):
                port = free_port()
            argv, environ = self._shared(env, port)
        else:
            try:
                listener = listen_on_loopback(port)
            except OSError as exc:
                raise DflabError(f"cannot listen on 127.0.0.1: {exc.strerror or exc}", env.trainee) from None
            port = listener.getsockname()[1]
            argv, environ = self._confined(env, listener.fileno())
        try:
            with log.open("ab") as out:
                # A session of its own: the server outlives the CLI and ignores its Ctrl-C.
                proc = subprocess.Popen(argv, cwd=self.workspace(env.trainee) if problem else "/", env=environ,
                                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                        start_new_session=True,
                                        pass_fds=() if listener is None else (listener.fileno(),))
        finally:
            if listener is not None:
                listener.close()  # the lab holds it now
        self._children[proc.pid] = proc
        env.state.update(pid=proc.pid, start_time=_start_time(proc.pid), port=port)
        env.save()
        return Endpoint(f"http://127.0.0.1:{port}/", env.token)

    def _shared(self, env: TraineeEnv, port: int) -> tuple[list[str], dict[str, str]]:
        """An unconfined server, as the session's user (not root, or a practice session)."""
        seed_workspace(self.seed_for(env), self.workspace(env.trainee))
        run = self.run_dir(env.trainee)
        (run / "config").mkdir(parents=True, exist_ok=True)
        environ = {
            **{k: v for k, v in os.environ.items() if k != SECRET_ENV},
            "JUPYTER_TOKEN": env.token,
            EVIDENCE_ENV: str(checked_variant(env.evidence, self.session_dir)),
            # Per-trainee runtime and config dirs: servers must not share connection files or kernel sockets, and
            # the operator's own ~/.jupyter settings must not leak into trainees' servers.
            "JUPYTER_RUNTIME_DIR": str(shared_runtime(run)),
            "JUPYTER_CONFIG_DIR": str(run / "config"),
            # The instant checker's socket at its host path: an unconfined lab sees the whole host anyway.
            SOCKET_ENV: str(check_paths.socket_path(self.session_dir, env.trainee)),
            **_lang_env(env),
        }
        listen = ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
        argv = [self.python, "-m", "jupyterlab", *self._jupyter_args(env, listen, allow_root=os.geteuid() == 0)]
        return argv, environ

    def _confined(self, env: TraineeEnv, listener: int) -> tuple[list[str], dict[str, str]]:
        """A server confined as its trainee (see the module doc): its uid, folders, accounts, root, network and
        environment; ``listener`` is the host port's socket (a file descriptor the lab inherits)."""
        trainee = env.trainee
        uid = self._uid(env)
        workspace, run, state = self.workspace(trainee), self.run_dir(trainee), self.state_dir(trainee)
        for folder in (workspace, run, state):
            _hand_over(folder, uid)
        home, config = run / "home", run / "config"
        root = self._root(trainee, uid)
        seed = self.seed_for(env)
        # The built variant itself, read-only: never a copy (evidence_share.py says why).
        evidence = checked_variant(env.evidence, self.session_dir)
        root.bind(evidence, evidence).bind(seed, seed)
        root.bind(workspace, workspace, writable=True).bind(run, run, writable=True).bind(state, state, writable=True)
        # The folder of their own instant-checker socket (read-only; connecting needs no write), not the socket: a
        # restarted checker makes a new one there.
        root.bind(check_paths.trainee_dir(self.session_dir, trainee), LAB_CHECK_DIR)
        root.loopback(self.python).cwd(workspace)
        listen = [f"--ServerApp.sock={CONFINED_SOCKET}", "--ServerApp.sock_mode=0600"]
        command = [*_as_trainee(self.python, uid), self.python, "-I", "-c", LAUNCH, str(listener), CONFINED_SOCKET,
                   str(seed), str(workspace), str(home), str(config), CONFINED_RUNTIME, "--",
                   *self._jupyter_args(env, listen, allow_root=False)]
        environ = {
            "PATH": _search_path(self.python), "HOME": str(home), "LANG": "C.UTF-8", "USER": trainee,
            "LOGNAME": trainee, "SHELL": _shell(), "JUPYTER_TOKEN": env.token, EVIDENCE_ENV: str(evidence),
            CHECKED_ENV: identity(evidence),  # compared once bound (evidence_share.require_bound)
            "JUPYTER_RUNTIME_DIR": CONFINED_RUNTIME, "JUPYTER_CONFIG_DIR": str(config), SOCKET_ENV: lab_socket(),
            **_lang_env(env),
        }
        return ["unshare", "--net", "--mount", "--", *root.command(self._mount_point(), uid, command, "dflab-lab")], \
            environ

    def _uid(self, env: TraineeEnv) -> int:
        uid = claim_uid(self.session_dir, env.trainee, env.state.get("uid"))
        if env.state.get("uid") != uid:
            env.state["uid"] = uid
            env.save()
        return uid

    def _mount_point(self) -> Path:
        path = self.session_dir / "run" / MOUNT_POINT
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _root(self, trainee: str, uid: int) -> Root:
        """The confined root of ``trainee``'s lab processes, with accounts naming them (their folders not yet)."""
        etc = self.session_dir / "run" / ETC
        etc.mkdir(parents=True, exist_ok=True)
        home = self.run_dir(trainee) / "home"
        accounts = {
            "passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                      f"{trainee}:x:{uid}:{uid}:{trainee}:{home}:{_shell()}\n",
            "group": f"root:x:0:\ntty:x:5:\nnogroup:x:65534:\n{trainee}:x:{uid}:\n",
        }
        root = _server_root(self.python)
        for name, text in accounts.items():
            path = etc / f"{trainee}.{name}"
            if not path.is_file() or path.read_text() != text:
                write_bytes(path, text.encode())
            os.chmod(path, 0o644)
            root.bind(path, f"/etc/{name}")
        spec = Path(self.python).parent.parent / KERNEL_SPEC
        if spec.is_file():  # the interpreter's own Python kernel, without its debugger
            ours = etc / "kernel.json"
            text = json.dumps(KERNEL, indent=1) + "\n"
            if not ours.is_file() or ours.read_text() != text:
                write_bytes(ours, text.encode())
            os.chmod(ours, 0o644)
            root.bind(ours, spec)
        return root

    def poll(self, env: TraineeEnv) -> int | None:
        pid = env.state.get("pid")
        if not pid:
            return UNKNOWN_EXIT
        if (child := self._children.get(pid)) is not None:
            return child.poll()
        fields = _proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X") or int(fields[19]) != env.state.get("start_time"):
            return UNKNOWN_EXIT
        return None

    def stop(self, env: TraineeEnv, *, purge: bool = False) -> None:
        pid = env.state.get("pid")
        if pid and self.poll(env) is None:
            # The server's process group: Jupyter itself, and kernels it did not detach.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while self.poll(env) is None and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.poll(env) is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
        if pid is not None and (child := self._children.pop(pid, None)) is not None:
            child.wait(timeout=STOP_TIMEOUT)
        uid = env.state.get("uid")
        if uid is not None and os.geteuid() == 0:
            # Whatever the trainee detached from the server (nohup, setsid) goes with it.
            reap_uid(uid, REAP_TIMEOUT, "the lab uid", "its lab stopped", env.trainee, zombies=False)
        env.state.pop("pid", None)
        env.state.pop("start_time", None)
        env.save()
        if purge:
            for folder in (self.workspace(env.trainee), self.run_dir(env.trainee), self.state_dir(env.trainee),
                           shared_runtime_path(self.run_dir(env.trainee))):
                shutil.rmtree(folder, ignore_errors=True)
            for name in ("passwd", "group"):
                with contextlib.suppress(FileNotFoundError):
                    (self.session_dir / "run" / ETC / f"{env.trainee}.{name}").unlink()
            if uid is not None:
                release_uid(self.session_dir, env.trainee, uid)
            env.state.pop("uid", None)
            env.state.pop("port", None)
            env.save()

    def stats(self, env: TraineeEnv) -> Stats | None:
        if self.poll(env) is not None:
            return None
        pids = _tree(env.state["pid"])
        t0, ticks0 = time.monotonic(), _usage(pids)[0]
        time.sleep(CPU_SAMPLE)
        ticks1, rss = _usage(pids)
        cpu = 100.0 * (ticks1 - ticks0) / _CLK_TCK / (time.monotonic() - t0)
        return Stats(round(cpu, 1), rss)

    def export_workspace(self, env: TraineeEnv, folder: str, dest: Path) -> bool:
        return _export_tree(self.workspace(env.trainee) / folder, dest)

    def workspace_ref(self, env: TraineeEnv) -> str:
        return str(self.workspace(env.trainee))

    # -- commands in the lab (lab hooks) ----------------------------------------------------------------------------
    def exec(self, env: TraineeEnv, argv: list[str], environment: dict[str, str] | None = None) -> ExecResult:
        """``argv`` as the trainee, confined as their server is (their state folder bound in read-write); as the
        session's user where labs are not confined. Waits at most ``EXEC_TIMEOUT``."""
        if self.poll(env) is not None:
            return ExecResult(-1, "", "its lab is not running")
        state = self.state_dir(env.trainee)
        environ = {"PATH": _search_path(self.python), "LANG": "C.UTF-8",
                   "HOME": str(self.run_dir(env.trainee) / "home"), LAB_STATE_ENV: str(state), **(environment or {})}
        uid = env.state.get("uid")
        netns = None
        if uid is None:  # not confined (not root, or no namespaces): as the session's user
            state.mkdir(parents=True, exist_ok=True)
            command = argv
        else:
            # The server's network namespace, held open, then the server checked again: the namespace is its own
            # even if it ended meanwhile and its pid was reused.
            try:
                netns = os.open(f"/proc/{env.state['pid']}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return ExecResult(-1, "", "its lab is not running")
            if self.poll(env) is not None:
                os.close(netns)
                return ExecResult(-1, "", "its lab is not running")
            _hand_over(state, uid)
            root = self._root(env.trainee, uid).bind(state, state, writable=True).cwd(state)
            command = ["nsenter", f"--net=/proc/self/fd/{netns}", "--", "unshare", "--mount", "--",
                       *root.command(self._mount_point(), uid, [*_as_trainee(self.python, uid), *argv], "dflab-exec")]
        try:
            done = subprocess.run(command, env=environ, cwd=state if uid is None else "/", stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=EXEC_TIMEOUT, check=False,
                                  pass_fds=() if netns is None else (netns,))
        except subprocess.TimeoutExpired:
            return ExecResult(-1, "", f"`{argv[0]}` did not finish within {EXEC_TIMEOUT:.0f} s")
        except OSError as exc:
            return ExecResult(-1, "", f"cannot run {argv[0]}: {exc.strerror or exc}")
        finally:
            if netns is not None:
                os.close(netns)
        return ExecResult(done.returncode, done.stdout.strip(), done.stderr.strip())

    def diagnose(self, env: TraineeEnv) -> str:
        try:
            lines = self.log_path(env.trainee).read_text(errors="replace").splitlines()
        except OSError:
            return ""
        for line in reversed(lines):
            if "already in use" in line:
                return f"port {env.state.get('port')} on 127.0.0.1 is already in use"
        return lines[-1].strip() if lines else ""


def _shell() -> str:
    return "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
