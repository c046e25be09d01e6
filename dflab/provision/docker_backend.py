"""The Docker backend: one confined container per trainee, reachable only from this host.

Per trainee ``t`` of session ``s``:

* ``dflab-s-t`` runs JupyterLab from the trainee image with **no network** (only loopback), as uid
  1000, every capability dropped, no-new-privileges, a read-only root with tmpfs ``/tmp`` and home,
  memory/CPU/pids limits, the evidence bind-mounted read-only at ``/evidence``, the lab's files at
  ``/srv/lab`` (read-only, copied into the workspace once) and the named volume ``dflab-s-t-work`` at
  ``/home/trainee/work``: the workspace that outlives containers. Jupyter listens on a Unix socket in
  ``<session>/sockets/t`` (see relay.py for why).
* ``dflab-s-t-proxy`` relays ``127.0.0.1:<port>`` on the host to that socket, from the per-session
  bridge network ``dflab-s`` (inter-container traffic disabled); it runs no trainee code.

Names are derived, not random, so every operation finds what an earlier (or crashed) run created.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import Mount

from dflab.errors import DflabError
from dflab.live.cli import SEED_ENV
from dflab.provision import relay
from dflab.provision.base import UNKNOWN_EXIT, Backend, Endpoint, Stats, TraineeEnv
from dflab.provision.seed import SEEDED_MARK

LAB_PORT = 8888
TRAINEE_UID = 1000
SOCKET_DIR = "/run/dflab"
SOCKET = f"{SOCKET_DIR}/jupyter.sock"
STOP_TIMEOUT = 10
DOCKER_TIMEOUT = 60
LABEL = "dflab.session"
# A restarted engine (or host) brings every lab back with its workspace; `docker kill`, `stop` and a
# session's own stop count as manual stops, so a lab killed on purpose stays down until `restart`.
RESTART_POLICY = {"Name": "unless-stopped"}
TRAINEE_USER = "trainee"  # the image's uid 1000 account: lab 01's suspect runs as the trainee


@dataclass(frozen=True)
class Limits:
    """Per-trainee resource limits (the proxy container gets small fixed ones)."""

    memory: str = "1g"  # also the swap limit: a memory hog is killed, not swapped
    cpus: float = 1.0
    pids: int = 512  # bounds a fork bomb to this container


# `dflab live ...` without the rest of the dflab CLI: importing course, session and grading code (nbgrader,
# the docker SDK) costs a second of CPU in a 1-CPU lab, and the suspect needs none of it.
LIVE_CLI = """
import sys
from dflab.errors import DflabError
from dflab.live.cli import live
try:
    live.main(sys.argv[1:], prog_name="dflab live", standalone_mode=False)
except DflabError as exc:
    print(f"dflab: error: {exc}")
    sys.exit(exc.exit_code)
"""


def _seed_then_serve() -> list[str]:
    # Seeding runs inside the container because the workspace is a volume the host does not see.
    script = (
        f'cd /home/trainee/work && if [ ! -e {SEEDED_MARK} ]; then '
        f'cp -R -n /srv/lab/. . ; touch {SEEDED_MARK}; fi; '
        f'rm -f {SOCKET}; exec jupyter lab --config=/etc/dflab/jupyter_config.py --ServerApp.sock={SOCKET}'
    )
    return ["sh", "-c", script]


class DockerBackend(Backend):
    """Containers on a Docker engine reached through the docker SDK."""

    name = "docker"

    def __init__(self, session_id: str, session_dir: Path, seed: Path, image: str, limits: Limits = Limits()) -> None:
        self.session_id = session_id
        self.session_dir = session_dir
        self.seed = seed
        self.image = image
        self.limits = limits
        self._client: docker.DockerClient | None = None
        self._network_lock = threading.Lock()

    # -- engine and names -------------------------------------------------------------------------
    @property
    def client(self) -> docker.DockerClient:
        """The engine connection, opened on first use; no engine is one clear line."""
        if self._client is None:
            try:
                client = docker.from_env(timeout=DOCKER_TIMEOUT)
                client.ping()
            except docker.errors.DockerException as exc:
                raise DflabError(f"no Docker engine answers ({exc}); start one with "
                                 "`bash environments/docker/engine.sh start`", "docker backend") from exc
            self._client = client
        return self._client

    def preflight(self) -> None:
        """Fail before starting anything when the trainee image is not on the engine."""
        try:
            self.client.images.get(self.image)
        except docker.errors.ImageNotFound as exc:
            raise DflabError(f"image {self.image} is not on the Docker engine; build it with "
                             "environments/docker/build-image.sh (see README)", "--image") from exc

    def container_name(self, trainee: str) -> str:
        return f"dflab-{self.session_id}-{trainee}"

    def proxy_name(self, trainee: str) -> str:
        return f"dflab-{self.session_id}-{trainee}-proxy"

    def volume_name(self, trainee: str) -> str:
        return f"dflab-{self.session_id}-{trainee}-work"

    @property
    def network_name(self) -> str:
        return f"dflab-{self.session_id}"

    def socket_dir(self, trainee: str) -> Path:
        return self.session_dir / "sockets" / trainee

    def _labels(self, trainee: str, role: str) -> dict[str, str]:
        return {LABEL: self.session_id, "dflab.trainee": trainee, "dflab.role": role}

    def _get(self, name: str) -> Container | None:
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    # -- the Backend contract ---------------------------------------------------------------------
    def start(self, env: TraineeEnv) -> Endpoint:
        try:
            return self._start(env)
        except docker.errors.APIError as exc:
            raise DflabError(f"Docker refused to start the lab: {exc.explanation or exc}", env.trainee) from exc

    def _start(self, env: TraineeEnv) -> Endpoint:
        self.preflight()
        with self._network_lock:  # trainees start in parallel threads; the network must exist once
            self._ensure_network()
        self._ensure_volume(env.trainee)
        sockets = self.socket_dir(env.trainee)
        sockets.mkdir(parents=True, exist_ok=True)
        # Only uid 1000 (Jupyter in the lab, the relay in the proxy) may use the socket directory.
        if os.geteuid() == 0:
            os.chown(sockets, TRAINEE_UID, TRAINEE_UID)
        sockets.chmod(0o700 if os.geteuid() in (0, TRAINEE_UID) else 0o777)
        lab = self._running_or_removed(self.container_name(env.trainee))
        if lab is None:
            lab = self._run_lab(env)
        env.state["container"] = lab.id
        env.save()
        proxy = self._running_or_removed(self.proxy_name(env.trainee))
        if proxy is None:
            proxy = self._run_proxy(env)
        proxy.reload()
        bound = proxy.attrs["NetworkSettings"]["Ports"][f"{LAB_PORT}/tcp"][0]
        env.state.update(proxy=proxy.id, port=int(bound["HostPort"]))
        env.save()
        return Endpoint(f"http://127.0.0.1:{env.state['port']}/", env.token)

    def _running_or_removed(self, name: str) -> Container | None:
        """The running container ``name``; a stopped or dead one is removed (a fresh one replaces it)."""
        container = self._get(name)
        if container is not None and container.status == "running":
            return container
        if container is not None:
            container.remove(force=True)
        return None

    def _ensure_network(self) -> None:
        if not self._networks():
            self.client.networks.create(self.network_name, driver="bridge", labels={LABEL: self.session_id},
                                        options={"com.docker.network.bridge.enable_icc": "false"})

    def _networks(self) -> list[Any]:
        # The engine's name filter matches substrings: keep exact matches only.
        return [n for n in self.client.networks.list(names=[self.network_name]) if n.name == self.network_name]

    def _ensure_volume(self, trainee: str) -> None:
        try:
            self.client.volumes.get(self.volume_name(trainee))
        except docker.errors.NotFound:
            self.client.volumes.create(self.volume_name(trainee), labels=self._labels(trainee, "workspace"))

    def _confinement(self) -> dict[str, Any]:
        """What every container of a session shares: non-root, no privileges, read-only root."""
        return {
            "user": f"{TRAINEE_UID}:{TRAINEE_UID}",
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "read_only": True,
            "detach": True,
        }

    def _run_lab(self, env: TraineeEnv) -> Container:
        mounts = [
            Mount("/home/trainee/work", self.volume_name(env.trainee), type="volume"),
            Mount("/evidence", str(env.evidence.resolve()), type="bind", read_only=True),
            Mount("/srv/lab", str(self.seed.resolve()), type="bind", read_only=True),
            Mount(SOCKET_DIR, str(self.socket_dir(env.trainee).resolve()), type="bind"),
        ]
        return self.client.containers.run(
            self.image, _seed_then_serve(), name=self.container_name(env.trainee),
            network_mode="none", mounts=mounts,
            tmpfs={"/tmp": "rw,nosuid,nodev,size=512m",  # noqa: S108 -- the container's own /tmp
                   "/home/trainee": f"rw,nosuid,nodev,size=256m,uid={TRAINEE_UID},gid={TRAINEE_UID},mode=0755",
                   # Lab 01's suspect runs from ~/.cache/xdg-sync, so this one tmpfs allows exec (Docker's
                   # default is noexec); the trainee can run files from the workspace volume anyway.
                   "/home/trainee/.cache": f"rw,exec,nosuid,nodev,size=64m,uid={TRAINEE_UID},gid={TRAINEE_UID},"
                                           "mode=0700"},
            environment={"DFLAB_TOKEN": env.token, "DFLAB_EVIDENCE": "/evidence"},
            mem_limit=self.limits.memory, memswap_limit=self.limits.memory,
            nano_cpus=int(self.limits.cpus * 1e9), pids_limit=self.limits.pids,
            # The image's health check probes TCP 8888, which a socket-listening server does not open.
            healthcheck={"test": ["NONE"]}, restart_policy=RESTART_POLICY,
            labels=self._labels(env.trainee, "lab"), **self._confinement(),
        )  # fmt: skip

    def _run_proxy(self, env: TraineeEnv) -> Container:
        # Ask for the port the trainee had, so their link survives a restart.
        host_port = env.state.get("port")
        try:
            return self.client.containers.run(
                self.image, ["python", "-c", Path(relay.__file__).read_text(), SOCKET, str(LAB_PORT)],
                name=self.proxy_name(env.trainee), network=self.network_name,
                ports={f"{LAB_PORT}/tcp": ("127.0.0.1", host_port)},
                mounts=[Mount(SOCKET_DIR, str(self.socket_dir(env.trainee).resolve()), type="bind", read_only=True)],
                mem_limit="64m", memswap_limit="64m", nano_cpus=int(0.5e9), pids_limit=32,
                healthcheck={"test": ["NONE"]}, restart_policy=RESTART_POLICY,
                labels=self._labels(env.trainee, "proxy"), **self._confinement(),
            )  # fmt: skip
        except docker.errors.APIError as exc:
            if "already allocated" in str(exc) or "address already in use" in str(exc):
                with contextlib.suppress(docker.errors.DockerException):
                    self.client.containers.get(self.proxy_name(env.trainee)).remove(force=True)
                raise DflabError(f"port {host_port} on 127.0.0.1 is already in use", env.trainee) from exc
            raise

    def poll(self, env: TraineeEnv) -> int | None:
        for name in (self.container_name(env.trainee), self.proxy_name(env.trainee)):
            container = self._get(name)
            if container is None:
                return UNKNOWN_EXIT
            if container.status != "running":
                return int(container.attrs["State"]["ExitCode"])
        return None

    def stop(self, env: TraineeEnv, *, purge: bool = False) -> None:
        for name in (self.proxy_name(env.trainee), self.container_name(env.trainee)):
            if (container := self._get(name)) is not None:
                with contextlib.suppress(docker.errors.APIError):
                    container.stop(timeout=STOP_TIMEOUT)
                container.remove(force=True)
        env.state.pop("container", None)
        env.state.pop("proxy", None)
        env.save()
        if purge:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.volumes.get(self.volume_name(env.trainee)).remove(force=True)
            shutil.rmtree(self.socket_dir(env.trainee), ignore_errors=True)
            env.state.pop("port", None)
            env.save()

    def stats(self, env: TraineeEnv) -> Stats | None:
        container = self._get(self.container_name(env.trainee))
        if container is None or container.status != "running":
            return None
        s = container.stats(stream=False)
        cpu, pre = s["cpu_stats"], s["precpu_stats"]
        cpu_delta = cpu["cpu_usage"]["total_usage"] - pre.get("cpu_usage", {}).get("total_usage", 0)
        system_delta = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
        online = cpu.get("online_cpus") or len(cpu["cpu_usage"].get("percpu_usage") or [1])
        percent = 100.0 * cpu_delta / system_delta * online if system_delta > 0 else 0.0
        mem = s.get("memory_stats", {})
        detail = mem.get("stats", {})
        # What `docker stats` shows: usage minus reclaimable page cache (cgroup v2 / v1 names).
        cache = detail.get("inactive_file", detail.get("total_inactive_file", 0))
        return Stats(round(percent, 1), int(mem.get("usage", 0)) - int(cache))

    def export_workspace(self, env: TraineeEnv, folder: str, dest: Path) -> bool:
        # A created, never started container holding the volume read-only: the engine copies out of it
        # whether the trainee's lab runs or not, and no code runs in it.
        name = f"{self.container_name(env.trainee)}-collect"
        if (leftover := self._get(name)) is not None:  # from a collect that crashed
            leftover.remove(force=True)
        holder = self.client.containers.create(
            self.image, ["true"], name=name, network_mode="none",
            mounts=[Mount("/work", self.volume_name(env.trainee), type="volume", read_only=True)],
            labels=self._labels(env.trainee, "collect"),
            **{k: v for k, v in self._confinement().items() if k != "detach"})
        try:
            try:
                chunks, _ = holder.get_archive(f"/work/{folder}")
            except docker.errors.NotFound:
                return False
            with tempfile.TemporaryFile() as spool:
                for chunk in chunks:
                    spool.write(chunk)
                spool.seek(0)
                with tarfile.open(fileobj=spool) as tar:
                    # The archive's root is the folder itself; its contents go straight into ``dest``.
                    prefix = folder.rstrip("/").rsplit("/", 1)[-1] + "/"
                    members = [m for m in tar.getmembers() if (m.isfile() or m.isdir()) and m.name.startswith(prefix)]
                    for m in members:
                        m.name = m.name[len(prefix):]
                    dest.mkdir()
                    # "data" refuses absolute names, ".." and device files: nothing lands outside ``dest``.
                    tar.extractall(dest, members=members, filter="data")
            return True
        finally:
            holder.remove(force=True)

    def workspace_ref(self, env: TraineeEnv) -> str:
        return f"docker volume {self.volume_name(env.trainee)}"

    def _live(self, env: TraineeEnv, command: str, environment: dict[str, str] | None = None) -> tuple[int, str]:
        """``dflab live suspect <command>`` in the trainee's running lab, as the trainee; (-1, "") if none runs."""
        container = self._get(self.container_name(env.trainee))
        if container is None or container.status != "running":
            return -1, ""
        result = container.exec_run(["python", "-c", LIVE_CLI, "suspect", command], user=TRAINEE_USER,
                                    environment=environment or {})
        return result.exit_code, result.output.decode(errors="replace").strip()

    def start_suspect(self, env: TraineeEnv, seed: bytes) -> None:
        # The seed travels in the environment of a command that exits at once, never on a command line.
        code, out = self._live(env, "start", {SEED_ENV: seed.hex()})
        if code != 0:
            last = out.splitlines()[-1] if out else "its lab is not running"
            raise DflabError(f"the live suspect did not start: {last}", env.trainee)

    def suspect_running(self, env: TraineeEnv) -> bool:
        code, out = self._live(env, "status")
        return code == 0 and out.splitlines()[:1] == ["running"]

    def stop_suspect(self, env: TraineeEnv) -> None:
        self._live(env, "stop")

    def diagnose(self, env: TraineeEnv) -> str:
        container = self._get(self.container_name(env.trainee))
        if container is None:
            return "its container is gone"
        lines = container.logs(tail=5).decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"container {container.status}"

    def shutdown(self, *, purge: bool = False) -> None:
        for network in self._networks():
            with contextlib.suppress(docker.errors.APIError):
                network.remove()
