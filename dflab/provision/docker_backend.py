"""The Docker backend: one confined container per trainee, reachable only from this host.

Per trainee ``t`` of session ``s``: ``dflab-s-t`` runs JupyterLab from the trainee image with **no
network** (only loopback), as uid 1000, every capability dropped, no-new-privileges, a read-only root
with tmpfs ``/tmp`` and home, memory/CPU/pids limits, the evidence bind-mounted read-only at
``/evidence``, the lab's files at ``/srv/lab`` (read-only, copied into the workspace once) and the named
volume ``dflab-s-t-work`` at ``/home/trainee/work``: the workspace that outlives containers, a bind of
a size-limited file system of its own (workspace_disk.py: ``$DFLAB_WORKSPACE_MIB``, 2 GiB by default), and
the folder of t's instant-checker socket read-only at ``/run/dflab-check`` (dflab.checker).
Jupyter listens on a Unix socket in ``<session>/sockets/t``.

Per session: ``dflab-s-relay`` relays ``127.0.0.1:<port of t>`` on the host to t's socket, one port per
trainee, from the bridge network ``dflab-s`` (inter-container traffic disabled); it runs no trainee code
(see relay.py for why one relay and not one per trainee).

Names are derived, not random, so every operation finds what an earlier (or crashed) run created.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import tarfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import Mount

from dflab.checker import paths as check_paths
from dflab.checker.protocol import LAB_CHECK_DIR, SOCKET_ENV, lab_socket
from dflab.engine import connect, engine_errors
from dflab.errors import DflabError
from dflab.i18n.lang import DEFAULT_LANG, LANG_ENV, lab_settings_option, localised, of_state
from dflab.provision import relay, trainee_container
from dflab.provision.base import UNKNOWN_EXIT, Backend, Endpoint, ExecResult, Stats, TraineeEnv
from dflab.provision.evidence_share import checked_variant
from dflab.provision.http import api_status
from dflab.provision.trainee_container import LAB_LIMITS, LAB_SEED_TARGET, TRAINEE_UID, Limits, MiB
from dflab.provision.workspace_disk import MAX_MIB, WorkspaceDisk, size_mib
from dflab.sparsecopy import CHUNK, copy_stream

LAB_PORT = 8888
SOCKET_DIR = "/run/dflab"
SOCKET = f"{SOCKET_DIR}/jupyter.sock"
STOP_TIMEOUT = 10
LABEL = "dflab.session"
# A restarted engine (or host) brings every lab back with its workspace; `docker kill`, `stop` and a
# session's own stop count as manual stops, so a lab killed on purpose stays down until `restart`.
RESTART_POLICY = {"Name": "unless-stopped"}
TRAINEE_USER = "trainee"  # the image's uid 1000 account: what lab hooks run (exec) runs as the trainee
RELAY_SOCKETS = "/run/dflab-sockets"  # <session>/sockets in the relay container, read-only
RELAY_TRAINEES = "dflab.relay.trainees"  # label: the trainees a relay serves, comma-separated, sorted
RELAY_BASE_PORT = 10000
RELAY_TIMEOUT = 30.0  # seconds a new relay may take to listen on every port


def _clashing_port(exc: docker.errors.APIError) -> int | None:
    """The host port a failed publish names ("Bind for 127.0.0.1:N failed", "listen tcp4 127.0.0.1:N: bind")."""
    text = str(exc)
    if "already allocated" not in text and "address already in use" not in text:
        return None
    found = re.search(r"127\.0\.0\.1:(\d+)", text)
    return int(found.group(1)) if found else None


def _pinned(relay_container: Container) -> bool:
    """Whether the relay asks for fixed host ports (ports the engine chose are chosen again when it restarts)."""
    bindings = relay_container.attrs["HostConfig"]["PortBindings"] or {}
    return all(b.get("HostPort") for binds in bindings.values() for b in binds or [])


def _pick_ports(envs: Iterable[TraineeEnv]) -> set[str]:
    """Record a free port of 127.0.0.1 for each of ``envs`` (the kernel's choice, all distinct); their trainees.

    Every socket stays open until all are picked, so no two trainees get the same port.
    """
    held: list[socket.socket] = []
    picked: set[str] = set()
    try:
        for env in envs:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            sock.bind(("127.0.0.1", 0))
            env.state["port"] = sock.getsockname()[1]
            env.save()
            picked.add(env.trainee)
    finally:
        for sock in held:
            sock.close()
    return picked


def _relay_port(trainees: list[str], trainee: str) -> int:
    """The relay's container port for ``trainee`` (its host port is whatever the engine published)."""
    return RELAY_BASE_PORT + trainees.index(trainee)


# The session's relay: one small Python process forwarding bytes, whatever the trainees' limits.
RELAY_LIMITS = Limits(memory_bytes=128 * MiB, cpus=1.0, pids=32, wall_s=None)


def _seed_then_serve(lang: str = DEFAULT_LANG) -> list[str]:
    # A trainee in another language gets JupyterLab's menus in it: the image's dflab/labsettings/<lang>/, the
    # same option the hub's spawner appends (dflab.i18n.lang.lab_settings_option).
    serve = (f"rm -f {SOCKET}; exec {trainee_container.SERVE} jupyter lab --config=/etc/dflab/jupyter_config.py "
             f"--ServerApp.sock={SOCKET}{lab_settings_option(lang)}")
    return ["sh", "-c", trainee_container.seed_then(serve)]


class _Chunks(io.RawIOBase):
    """The engine's archive, as the chunks it streams, read as a file: ``tarfile`` in stream mode (``"r|"``)
    extracts each member as it arrives, so nothing is spooled and a member too big is refused at its header."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._left = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            try:
                self._left = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def _extract_plain(tar: tarfile.TarFile, root: str, dest: Path, largest: int) -> None:
    """Write the regular files and directories under ``root/`` of ``tar`` into ``dest``; nothing else.

    The archive comes from a trainee's volume, so its names are not trusted: absolute names, ``..`` and
    anything but files and directories (links, devices, FIFOs) are left out, and files are created without
    following links.  Written by hand rather than with ``extractall(filter="data")``, which Python gained
    only in 3.11.4 (Debian 12 ships 3.11.2).  A file of more than ``largest`` bytes (its apparent size) is one
    ``DflabError``: the engine's tar has no holes, so a trainee's ``truncate -s 8E`` would stream exabytes of
    zeros, and copy_stream saves the disk, not the time.
    """
    for member in tar:
        parts = PurePosixPath(member.name).parts  # "" and "." already dropped; an absolute name starts with "/"
        if not parts or parts[0] != root or not (member.isfile() or member.isdir()):
            continue
        rel = parts[1:]
        if ".." in rel:
            continue
        target = dest.joinpath(*rel)
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        if member.size > largest:
            raise DflabError(f"is {member.size} bytes, more than a workspace or any evidence file holds "
                             f"({largest}): not collected (remove or shrink it in the lab)", member.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tar.extractfile(member)
        if source is None:
            continue
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            with source:
                copy_stream(source, fd)  # the engine's tar has no holes: zeros become holes again
        finally:
            os.close(fd)


def _largest_evidence_file(evidence: Path) -> int:
    """The apparent size of the biggest file in a trainee's variant (0 if there is none): a copy of it is the
    biggest sparse file a lab legitimately makes."""
    sizes = [os.lstat(Path(folder, name)).st_size for folder, _, files in os.walk(evidence) for name in files]
    return max(sizes, default=0)


class DockerBackend(Backend):
    """Containers on a Docker engine reached through the docker SDK."""

    name = "docker"

    def __init__(self, session_id: str, session_dir: Path, seed: Path, image: str, limits: Limits = LAB_LIMITS) -> None:
        self.session_id = session_id
        self.session_dir = session_dir
        self.seed = seed
        self.image = image
        self.limits = limits
        self.workspace_mib = size_mib()
        self._client: docker.DockerClient | None = None
        self._network_lock = threading.Lock()
        # Trainees the last prepare() could not give their port (someone else holds it): their start fails.
        self._blocked: dict[str, str] = {}

    # -- engine and names -------------------------------------------------------------------------
    @property
    def client(self) -> docker.DockerClient:
        """The engine connection, opened on first use; no engine is one clear line."""
        if self._client is None:
            self._client = connect("docker backend", "start dockerd (`systemctl start docker`, or "
                                   "`bash environments/docker/engine.sh start` in the dflab repository)")
        return self._client

    def preflight(self) -> None:
        """Fail before starting anything when the trainee image is not on the engine."""
        with engine_errors("--image", f"looking up image {self.image}"):
            try:
                self.client.images.get(self.image)
            except docker.errors.ImageNotFound as exc:
                raise DflabError(f"image {self.image} is not on the Docker engine; build it with "
                                 "environments/docker/build-image.sh (see README)", "--image") from exc

    def container_name(self, trainee: str) -> str:
        return f"dflab-{self.session_id}-{trainee}"

    @property
    def relay_name(self) -> str:
        return f"dflab-{self.session_id}-relay"

    def volume_name(self, trainee: str) -> str:
        return f"dflab-{self.session_id}-{trainee}-work"

    @property
    def network_name(self) -> str:
        return f"dflab-{self.session_id}"

    def socket_dir(self, trainee: str) -> Path:
        return self.session_dir / "sockets" / trainee

    def _labels(self, trainee: str | None, role: str) -> dict[str, str]:
        trainee_label = {"dflab.trainee": trainee} if trainee is not None else {}
        return {LABEL: self.session_id, **trainee_label, "dflab.role": role}

    def _get(self, name: str) -> Container | None:
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    # -- the Backend contract ---------------------------------------------------------------------
    def start(self, env: TraineeEnv) -> Endpoint:
        with engine_errors(env.trainee, "starting the lab"):
            return self._start(env)

    def _start(self, env: TraineeEnv) -> Endpoint:
        self.preflight()
        if env.trainee in self._blocked:
            raise DflabError(self._blocked[env.trainee], env.trainee)
        if "port" not in env.state:
            raise DflabError("no relay port recorded for this trainee; run `dflab session start`", env.trainee)
        remounted = self._ensure_volume(env.trainee)
        self._socket_dir(env.trainee)
        # At every start, a running lab too: the engine resolves the bind source again whenever it restarts one.
        checked_variant(env.evidence, self.session_dir)
        lab = self._running_or_removed(self.container_name(env.trainee))
        if lab is not None and remounted:  # it runs on the bare mount point (the engine restarted it after a reboot)
            lab.remove(force=True)
            lab = None
        if lab is None:
            lab = self._run_lab(env)
        env.state["container"] = lab.id
        env.save()
        return Endpoint(f"http://127.0.0.1:{env.state['port']}/", env.token)

    def _socket_dir(self, trainee: str) -> Path:
        """The trainee's socket directory: only uid 1000 (Jupyter in the lab, the relay) may use it."""
        sockets = self.socket_dir(trainee)
        sockets.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(sockets, TRAINEE_UID, TRAINEE_UID)
        sockets.chmod(0o700 if os.geteuid() in (0, TRAINEE_UID) else 0o777)
        return sockets

    def prepare(self, envs: list[TraineeEnv]) -> None:
        with engine_errors(self.relay_name, "starting the session's relay"):
            self._prepare(envs)

    def _prepare(self, envs: list[TraineeEnv]) -> None:
        """The network and a relay with one port per trainee in ``envs``, each trainee's port recorded.

        A running relay serving exactly these trainees on fixed ports (their recorded ones) is kept. Otherwise
        (none yet, stopped, removed, the roster changed) it is replaced, asking for every port a trainee already
        had so their links survive; a roster change therefore drops open connections for a moment (JupyterLab
        reconnects). A trainee without a port gets a free one picked here, so the relay asks for fixed ports
        from its first run: a port left to the engine is chosen anew each time the engine restarts the relay
        (after a dockerd restart, say), and every link handed out would move. A picked port someone takes
        before the relay binds it is picked again; a port a trainee already had stays theirs, or their start
        fails in one line.
        """
        self.preflight()
        with self._network_lock:
            self._ensure_network()
        self._blocked.clear()
        for env in envs:
            self._socket_dir(env.trainee)
        picked = _pick_ports(env for env in envs if "port" not in env.state)
        while True:
            served = [env for env in envs if env.trainee not in self._blocked]
            trainees = sorted(env.trainee for env in served)
            current = self._get(self.relay_name)
            if current is not None and (current.status != "running"
                                        or current.labels.get(RELAY_TRAINEES) != ",".join(trainees)
                                        or not _pinned(current)):
                current.remove(force=True)
                current = None
            if current is not None:
                break
            try:
                current = self._run_relay(served)
                self._wait_listening(current)
                break
            except docker.errors.APIError as exc:
                # Someone else took a port a trainee had: that trainee's start fails in one line, the rest go on.
                clash = _clashing_port(exc)
                owner = next((env for env in served if clash and env.state.get("port") == clash), None)
                if owner is None:
                    raise
                if owner.trainee in picked:  # taken since it was picked: pick another
                    _pick_ports([owner])
                else:
                    self._blocked[owner.trainee] = f"port {clash} on 127.0.0.1 is already in use"
                with contextlib.suppress(docker.errors.DockerException):
                    self.client.containers.get(self.relay_name).remove(force=True)
        self._record_ports(current, trainees, served)  # a relay kept from before has the final word

    @staticmethod
    def _record_ports(relay_container: Container, trainees: list[str], served: list[TraineeEnv]) -> None:
        """Record each served trainee's host port, as the engine published it."""
        relay_container.reload()
        bindings = relay_container.attrs["NetworkSettings"]["Ports"]
        for env in served:
            port = int(bindings[f"{_relay_port(trainees, env.trainee)}/tcp"][0]["HostPort"])
            if env.state.get("port") != port:
                env.state["port"] = port
                env.save()

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

    def _workspace_disk(self, trainee: str) -> WorkspaceDisk | None:
        if not self.workspace_mib:
            return None
        return WorkspaceDisk(self.session_dir / "workspaces", trainee, self.workspace_mib, TRAINEE_UID)

    def _ensure_volume(self, trainee: str) -> bool:
        """The trainee's workspace volume (and its file system mounted); True when it was mounted just now."""
        disk = self._workspace_disk(trainee)
        mounted_now = disk.ensure() if disk is not None else False
        options = {"type": "none", "o": "bind", "device": str(disk.mountpoint.resolve())} if disk else {}
        name = self.volume_name(trainee)
        try:
            volume = self.client.volumes.get(name)
        except docker.errors.NotFound:
            self.client.volumes.create(name, driver="local", driver_opts=options or None,
                                       labels=self._labels(trainee, "workspace"))
            return mounted_now
        if (volume.attrs.get("Options") or {}) != options:
            limit = f"a {self.workspace_mib} MiB limit" if options else "no size limit"
            raise DflabError(f"workspace volume {name} was made before this session asked for {limit} "
                             f"($DFLAB_WORKSPACE_MIB): keep the setting it was started with, or "
                             f"`dflab session stop --purge` (its work is lost) and start again", trainee)
        return mounted_now

    def _confinement(self) -> dict[str, Any]:
        """What every container of a session shares: non-root, no privileges, read-only root (trainee_container)."""
        return {**trainee_container.TRAINEE.identity_kwargs(), "detach": True}

    def seed_for(self, env: TraineeEnv) -> Path:
        """The handout ``env``'s workspace is seeded from: its language's (``handout-fr/``) when the session made
        one, else the English one."""
        seed = localised(self.seed, of_state(env.state))
        return seed if seed.is_dir() else self.seed

    def _run_lab(self, env: TraineeEnv) -> Container:
        lang = of_state(env.state)  # the trainee's language: their handout, DFLAB_LANG, JupyterLab's menus
        mounts = [
            Mount(trainee_container.WORKSPACE, self.volume_name(env.trainee), type="volume"),
            # The built variant itself, read-only: never a copy (evidence_share.py says why).
            Mount("/evidence", str(checked_variant(env.evidence, self.session_dir)), type="bind", read_only=True),
            Mount(LAB_SEED_TARGET, str(self.seed_for(env).resolve()), type="bind", read_only=True),
            Mount(SOCKET_DIR, str(self.socket_dir(env.trainee).resolve()), type="bind"),
            # The folder of the trainee's instant-checker socket (dflab.checker): read-only, and the folder, not the
            # socket, so a restarted checker's new socket appears in the running lab.
            Mount(LAB_CHECK_DIR, str(check_paths.trainee_dir(self.session_dir, env.trainee).resolve()), type="bind",
                  read_only=True),
        ]
        return self.client.containers.run(
            self.image, _seed_then_serve(lang), name=self.container_name(env.trainee), mounts=mounts,
            environment={"DFLAB_TOKEN": env.token, "DFLAB_EVIDENCE": "/evidence", SOCKET_ENV: lab_socket(),
                         **({} if lang == DEFAULT_LANG else {LANG_ENV: lang})},
            # The image's health check probes TCP 8888, which a socket-listening server does not open.
            healthcheck={"test": ["NONE"]}, restart_policy=RESTART_POLICY,
            labels=self._labels(env.trainee, "lab"), detach=True,
            **trainee_container.TRAINEE.docker_kwargs(self.limits),  # no network, tmpfs, limits
        )  # fmt: skip

    def _wait_listening(self, relay_container: Container) -> None:
        """Return once a new relay answers HTTP on every port, so links work when `start` returns.

        A TCP connect is not enough: the engine's port proxy accepts connections before the relay listens.
        Any HTTP answer is (the lab's 403 without a token, or the relay's 502 while a lab restarts).
        """
        relay_container.reload()
        ports = [int(b[0]["HostPort"]) for b in relay_container.attrs["NetworkSettings"]["Ports"].values() if b]
        deadline = time.monotonic() + RELAY_TIMEOUT
        while ports:
            if api_status(f"http://127.0.0.1:{ports[-1]}/", None, timeout=2.0) is not None:
                ports.pop()
            else:
                relay_container.reload()
                if relay_container.status != "running" or time.monotonic() > deadline:
                    last = relay_container.logs(tail=3).decode(errors="replace").strip()
                    raise DflabError(f"the session's relay does not listen ({relay_container.status}): {last}",
                                     self.relay_name) from None
                time.sleep(0.1)

    def _run_relay(self, envs: list[TraineeEnv]) -> Container:
        trainees = sorted(env.trainee for env in envs)
        # Ask for the ports trainees had, so their links survive a new relay.
        ports = {f"{_relay_port(trainees, env.trainee)}/tcp": ("127.0.0.1", env.state.get("port")) for env in envs}
        routes = [f"{_relay_port(trainees, t)}={t}" for t in trainees]
        return self.client.containers.run(
            self.image, ["python", "-c", Path(relay.__file__).read_text(), RELAY_SOCKETS, *routes],
            name=self.relay_name, network=self.network_name, ports=ports,
            mounts=[Mount(RELAY_SOCKETS, str((self.session_dir / "sockets").resolve()), type="bind", read_only=True)],
            healthcheck={"test": ["NONE"]}, restart_policy=RESTART_POLICY,
            labels={**self._labels(None, "relay"), RELAY_TRAINEES: ",".join(trainees)},
            **self._confinement(), **RELAY_LIMITS.docker_kwargs(),
        )  # fmt: skip

    def poll(self, env: TraineeEnv) -> int | None:
        with engine_errors(env.trainee, "checking the lab"):
            container = self._get(self.container_name(env.trainee))
            if container is None:
                return UNKNOWN_EXIT
            if container.status != "running":
                return int(container.attrs["State"]["ExitCode"])
            return None

    def recover(self, env: TraineeEnv) -> bool:
        """After a host restart: mount the workspace again; a lab the engine started on the bare mount point goes."""
        disk = self._workspace_disk(env.trainee)
        if disk is None or disk.mounted() or not disk.image.exists():
            return False
        disk.ensure()
        with engine_errors(env.trainee, "replacing the lab started without its workspace"):
            if (lab := self._get(self.container_name(env.trainee))) is None or lab.status != "running":
                return False
            lab.remove(force=True)
            return True

    def session_problems(self) -> list[str]:
        with engine_errors(self.relay_name, "checking the session's relay"):
            relay = self._get(self.relay_name)
            if relay is not None and relay.status == "running":
                return []
            state = "is gone" if relay is None else f"is {relay.status}"
            return [f"the session's relay {self.relay_name} {state}: no lab is reachable; "
                    "`dflab session start` (same options) brings it back with every trainee's port"]

    def stop(self, env: TraineeEnv, *, purge: bool = False) -> None:
        with engine_errors(env.trainee, "stopping the lab"):
            if (container := self._get(self.container_name(env.trainee))) is not None:
                with contextlib.suppress(docker.errors.APIError):
                    container.stop(timeout=STOP_TIMEOUT)
                container.remove(force=True)
            env.state.pop("container", None)
            env.save()
            disk = self._workspace_disk(env.trainee)
            if purge:
                with contextlib.suppress(docker.errors.NotFound):
                    self.client.volumes.get(self.volume_name(env.trainee)).remove(force=True)
                if disk is not None:
                    disk.remove()
                shutil.rmtree(self.socket_dir(env.trainee), ignore_errors=True)
                env.state.pop("port", None)
                env.save()
            elif disk is not None:
                disk.unmount()  # a stopped lab holds no loop device; start and collect mount it again

    def stats(self, env: TraineeEnv) -> Stats | None:
        with engine_errors(env.trainee, "measuring the lab"):
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
        with engine_errors(env.trainee, "copying the workspace out"):
            # A created, never started container holding the volume read-only: the engine copies out of it
            # whether the trainee's lab runs or not, and no code runs in it.
            name = f"{self.container_name(env.trainee)}-collect"
            if (leftover := self._get(name)) is not None:  # from a collect that crashed
                leftover.remove(force=True)
            try:
                self.client.volumes.get(self.volume_name(env.trainee))
            except docker.errors.NotFound:  # never started (mounting it would make an unlimited volume)
                return False
            mounted_now = self._ensure_volume(env.trainee)  # a stopped lab's file system is not mounted
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
                # A workspace holds at most its quota of data; a sparse file may seem bigger, up to a copy of the
                # biggest evidence file.  Nothing a lab makes legitimately is bigger than both.
                quota = (self.workspace_mib or MAX_MIB) * MiB
                largest = max(quota, _largest_evidence_file(env.evidence))
                try:
                    with tarfile.open(fileobj=io.BufferedReader(_Chunks(chunks), CHUNK), mode="r|") as tar:
                        dest.mkdir()
                        _extract_plain(tar, folder.rstrip("/").rsplit("/", 1)[-1], dest, largest)
                except DflabError as exc:
                    raise DflabError(str(exc), env.trainee) from None
                finally:
                    chunks.close()  # stop the engine's stream (a refused file's bytes are never read)
                return True
            finally:
                holder.remove(force=True)
                if mounted_now and (disk := self._workspace_disk(env.trainee)) is not None:
                    disk.unmount()  # as it was

    def workspace_ref(self, env: TraineeEnv) -> str:
        return f"docker volume {self.volume_name(env.trainee)}"

    def exec(self, env: TraineeEnv, argv: list[str], environment: dict[str, str] | None = None) -> ExecResult:
        """``argv`` in the trainee's running lab container as the trainee (uid 1000, its confinement, the no-ptrace
        filter: trainee_container.SERVE_ARGV): lab hooks."""
        with engine_errors(env.trainee, f"running {argv[0]} in the lab"):
            container = self._get(self.container_name(env.trainee))
            if container is None or container.status != "running":
                return ExecResult(-1, "", "its lab is not running")
            result = container.exec_run([*trainee_container.SERVE_ARGV, *argv], user=TRAINEE_USER,
                                        environment=environment or {}, demux=True)
            out, err = result.output if isinstance(result.output, tuple) else (result.output, b"")
            return ExecResult(result.exit_code, (out or b"").decode(errors="replace").strip(),
                              (err or b"").decode(errors="replace").strip())

    def diagnose(self, env: TraineeEnv) -> str:
        with engine_errors(env.trainee, "reading the lab's log"):
            container = self._get(self.container_name(env.trainee))
            if container is None:
                return "its container is gone"
            lines = container.logs(tail=5).decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else f"container {container.status}"

    def shutdown(self, *, purge: bool = False) -> None:
        with engine_errors(self.relay_name, "stopping the session's relay"):
            if (relay_container := self._get(self.relay_name)) is not None:
                with contextlib.suppress(docker.errors.APIError):
                    relay_container.stop(timeout=STOP_TIMEOUT)
                relay_container.remove(force=True)
            for network in self._networks():
                with contextlib.suppress(docker.errors.APIError):
                    network.remove()
