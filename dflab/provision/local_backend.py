"""The embedded backend: one ``jupyter lab`` process per trainee on this machine, no engine needed.

Each trainee gets a port on 127.0.0.1, a token of their own and a workspace directory
``<session>/workspaces/<trainee>``; ``DFLAB_EVIDENCE`` points at their evidence. This separates
trainees' servers (A's token does not open B's), but it is not a security boundary: every server runs
as the user who started the session, so a trainee's kernel can read anything that user can. Use the
Docker backend when trainees must not reach each other, the network or the original evidence.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from dflab.errors import DflabError
from dflab.labserver import LAB_SERVER_EXTENSIONS
from dflab.provision.base import UNKNOWN_EXIT, Backend, Endpoint, Stats, TraineeEnv
from dflab.provision.seed import seed_workspace

STOP_TIMEOUT = 10.0
CPU_SAMPLE = 0.5
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


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


class LocalBackend(Backend):
    """JupyterLab processes started from this Python environment."""

    name = "local"

    def __init__(self, session_dir: Path, seed: Path) -> None:
        self.session_dir = session_dir
        self.seed = seed
        # Children started by this process: their exit status is knowable and they must be reaped.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def workspace(self, trainee: str) -> Path:
        return self.session_dir / "workspaces" / trainee

    def log_path(self, trainee: str) -> Path:
        return self.session_dir / "logs" / f"{trainee}.log"

    def _command(self, env: TraineeEnv, port: int) -> list[str]:
        # Every server setting is on the command line so no user or system Jupyter config changes
        # what a trainee gets; the token goes through the environment instead, because a command
        # line is readable by every local user in `ps`.
        return [
            sys.executable, "-m", "jupyterlab",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.workspace(env.trainee)}",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_origin=",
            "--ServerApp.terminals_enabled=True",
            "--LabApp.extension_manager=readonly",
            f"--ServerApp.jpserver_extensions={LAB_SERVER_EXTENSIONS!r}",
            "--MappingKernelManager.cull_idle_timeout=3600",
            "--MappingKernelManager.cull_interval=300",
            # As root (CI, a throw-away training VM) Jupyter refuses to start without this; the local
            # backend isolates nothing either way, which is what the Docker backend is for.
            *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),
        ]  # fmt: skip

    def preflight(self) -> None:
        if importlib.util.find_spec("jupyterlab") is None:
            raise DflabError(f"JupyterLab is not installed in {sys.executable}; install it with "
                             f"`{sys.executable} -m pip install jupyterlab==4.6.6 nbgrader==0.9.6`", "local backend")

    def start(self, env: TraineeEnv) -> Endpoint:
        self.preflight()
        if self.poll(env) is None:
            return Endpoint(f"http://127.0.0.1:{env.state['port']}/", env.token)
        workspace = self.workspace(env.trainee)
        seed_workspace(self.seed, workspace)
        # Keep the trainee's URL across restarts when the old port is still free.
        port = env.state.get("port")
        if not port or not port_is_free(port):
            port = free_port()
        runtime = self.session_dir / "run" / env.trainee
        runtime.mkdir(parents=True, exist_ok=True)
        (runtime / "config").mkdir(exist_ok=True)
        log = self.log_path(env.trainee)
        log.parent.mkdir(parents=True, exist_ok=True)
        environ = {
            **os.environ,
            "JUPYTER_TOKEN": env.token,
            "DFLAB_EVIDENCE": str(env.evidence),
            # Per-trainee runtime and config dirs: servers must not share connection files, and the
            # operator's own ~/.jupyter settings must not leak into trainees' servers.
            "JUPYTER_RUNTIME_DIR": str(runtime),
            "JUPYTER_CONFIG_DIR": str(runtime / "config"),
        }
        with log.open("ab") as out:
            # A session of its own: the server outlives the CLI and ignores its Ctrl-C.
            proc = subprocess.Popen(self._command(env, port), cwd=workspace, env=environ, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self._children[proc.pid] = proc
        env.state.update(pid=proc.pid, start_time=_start_time(proc.pid), port=port)
        env.save()
        return Endpoint(f"http://127.0.0.1:{port}/", env.token)

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
        env.state.pop("pid", None)
        env.state.pop("start_time", None)
        env.save()
        if purge:
            shutil.rmtree(self.workspace(env.trainee), ignore_errors=True)
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
        src = self.workspace(env.trainee) / folder
        if src.is_symlink() or not src.is_dir():
            return False
        shutil.copytree(src, dest, symlinks=True)
        return True

    def workspace_ref(self, env: TraineeEnv) -> str:
        return str(self.workspace(env.trainee))

    def live_dir(self, trainee: str) -> Path:
        """The suspect's executable, held file and state: per trainee, so suspects never share state."""
        return self.session_dir / "live" / trainee

    def start_suspect(self, env: TraineeEnv, seed: bytes) -> None:
        from dflab.live import suspect

        suspect.start(self.live_dir(env.trainee), seed)

    def suspect_running(self, env: TraineeEnv) -> bool:
        from dflab.live import suspect

        return suspect.status(self.live_dir(env.trainee)).state == "running"

    def stop_suspect(self, env: TraineeEnv) -> None:
        from dflab.live import suspect

        suspect.stop(self.live_dir(env.trainee))

    def diagnose(self, env: TraineeEnv) -> str:
        try:
            lines = self.log_path(env.trainee).read_text(errors="replace").splitlines()
        except OSError:
            return ""
        for line in reversed(lines):
            if "already in use" in line:
                return f"port {env.state.get('port')} on 127.0.0.1 is already in use"
        return lines[-1].strip() if lines else ""
