"""What a generated jupyterhub_config.py calls when the hub starts (see config.py).

Kept out of the generated file so that file stays short and declarative, and so these steps are
ordinary, tested code: the lab network, the proxy executable, the instructor token, the evidence
check before every spawn and a trainee's language.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import docker.errors

from dflab.engine import connect
from dflab.errors import DflabError
from dflab.evidence.manifest import MANIFEST
from dflab.hub.config import seed_script
from dflab.i18n.lang import DEFAULT_LANG, LANG_ENV, localised
from dflab.provision.evidence_share import checked_variant
from dflab.provision.trainee_container import LAB_SEED_TARGET, TRAINEE_UID
from dflab.provision.workspace_disk import WorkspaceDisk, size_mib


def ensure_lab_network(name: str, labels: dict[str, str]) -> str:
    """Create (or reuse) the labs' ``internal`` bridge network; return its gateway address on this host.

    An internal network has no route out of the host: a lab container can reach only addresses on
    that bridge, i.e. the host's gateway address, where the hub's API listens. Inter-container traffic
    is switched off too, so one trainee cannot reach another's server. The host itself (the proxy)
    still reaches every container on its bridge address.
    """
    client = connect("jupyterhub", "start the Docker engine the hub spawns labs on")
    found = [n for n in client.networks.list(names=[name]) if n.name == name]  # the name filter is a substring
    network = found[0] if found else client.networks.create(
        name, driver="bridge", internal=True, labels=labels,
        options={"com.docker.network.bridge.enable_icc": "false"})
    network.reload()
    if not network.attrs.get("Internal"):
        raise RuntimeError(f"docker network {name} exists but is not internal; remove it (labs must have no route out)")
    gateways = [cfg["Gateway"] for cfg in network.attrs["IPAM"]["Config"] if cfg.get("Gateway")]
    if not gateways:
        raise RuntimeError(f"docker network {name} has no gateway address for the hub to listen on")
    return gateways[0]


def proxy_command() -> str:
    """configurable-http-proxy next to this Python (the venv `make deps` fills), else from PATH."""
    beside = Path(sys.executable).parent / "configurable-http-proxy"
    if beside.exists():
        return str(beside)
    found = shutil.which("configurable-http-proxy")
    if not found:
        raise RuntimeError("configurable-http-proxy not found: `npm install configurable-http-proxy` "
                           "(environments/host/install-deps.sh puts it in .venv/bin)")
    return found


def read_secret(path: Path) -> str:
    """A secret the hub needs at start (instructor token), kept outside the config file."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise RuntimeError(f"{path}: {exc.strerror}; re-run `dflab hub config`") from exc
    if not value:
        raise RuntimeError(f"{path} is empty; re-run `dflab hub config`")
    return value


def require_evidence(evidence_root: Path) -> Callable[[Any], None]:
    """A pre-spawn hook: refuse to start a trainee whose evidence variant is missing or not safe to bind.

    Without it Docker would create an empty directory at the bind source and the trainee would get a
    lab with no evidence and no error.  The variant is checked at every spawn, as ``dflab session`` checks it
    at every start (dflab/provision/evidence_share.py): the engine follows a link in the bind source, so one
    planted after ``dflab hub config`` would hand the trainee another trainee's variant or a file of the host.
    """

    def hook(spawner: Any) -> None:
        evidence = evidence_root / spawner.user.name / "evidence"
        if not (evidence / MANIFEST).is_file():
            raise RuntimeError(f"no evidence for {spawner.user.name}: {evidence}/{MANIFEST} is missing")
        try:
            checked_variant(evidence, evidence_root)
        except DflabError as exc:  # the hub shows the spawn's error to the trainee and logs it
            raise RuntimeError(str(exc)) from None

    return hook


def prepare_lab(evidence_root: Path, workspaces: Path, volume_prefix: str,
                labels: dict[str, str]) -> Callable[[Any], None]:
    """The pre-spawn hook: the trainee's evidence must exist, and their workspace is a size-limited file system.

    As in ``dflab session`` (dflab/provision/workspace_disk.py, ``$DFLAB_WORKSPACE_MIB``): the volume
    ``<volume_prefix>-<trainee>-work`` DockerSpawner mounts is made here, before the spawn, as a bind of the
    trainee's loop-mounted image under ``workspaces``; mounted again after a reboot before the lab starts.
    """
    evidence_check = require_evidence(evidence_root)

    def hook(spawner: Any) -> None:
        evidence_check(spawner)
        mib = size_mib()
        if not mib:
            return
        name = spawner.user.name
        disk = WorkspaceDisk(workspaces, name, mib, TRAINEE_UID)
        try:
            disk.ensure()
        except DflabError as exc:
            raise RuntimeError(str(exc)) from None
        client = connect("jupyterhub", "start the Docker engine the hub spawns labs on")
        options = {"type": "none", "o": "bind", "device": str(disk.mountpoint.resolve())}
        volume_name = f"{volume_prefix}-{name}-work"
        try:
            volume = client.volumes.get(volume_name)
        except docker.errors.NotFound:
            client.volumes.create(volume_name, driver="local", driver_opts=options, labels=labels)
            return
        if (volume.attrs.get("Options") or {}) != options:
            raise RuntimeError(f"workspace volume {volume_name} was made without the size limit: "
                               "`dflab hub purge` (its work is lost) or set DFLAB_WORKSPACE_MIB=0")

    return hook


def in_language(languages: Mapping[str, str], seed: Path) -> Callable[[Any], None]:
    """A pre-spawn hook: a trainee in another language gets their lab as the session's docker backend starts it.

    ``languages`` maps trainees to their roster ``lang`` (anyone absent works in English, and their spawner is left
    as the config made it). For the others, three things, each from dflab/i18n/lang.py: the workspace's seed is the
    lab's release in their language (``seed`` → ``lab-fr``), ``DFLAB_LANG`` tells dflab's messages and forms, and
    the command opens JupyterLab with that language's settings (its menus in it). DockerSpawner reads these
    attributes when it creates the container, after this hook; each is set whole, so a second spawn sets the same.
    """

    def hook(spawner: Any) -> None:
        lang = languages.get(spawner.user.name, DEFAULT_LANG)
        if lang == DEFAULT_LANG:
            return
        source = str(localised(seed, lang))
        spawner.mounts = [{**m, "source": source} if m.get("target") == LAB_SEED_TARGET else m
                          for m in spawner.mounts]
        spawner.environment = {**spawner.environment, LANG_ENV: lang}
        spawner.cmd = seed_script(lang)

    return hook


def in_turn(*hooks: Callable[[Any], None]) -> Callable[[Any], None]:
    """One pre-spawn hook (JupyterHub takes one) that runs ``hooks`` in order; the first to raise stops the spawn."""

    def hook(spawner: Any) -> None:
        for each in hooks:
            each(spawner)

    return hook


def remove_hub_objects(hub_name: str) -> None:
    """Remove the containers, volumes and network a hub created (``dflab hub purge``; tests' clean-up)."""
    client = connect("jupyterhub", "start the Docker engine the hub spawns labs on")
    label = f"dflab.hub={hub_name}"
    for container in client.containers.list(all=True, filters={"label": label}):
        container.remove(force=True)
    for volume in client.volumes.list(filters={"label": label}):
        device = (volume.attrs.get("Options") or {}).get("device")
        volume.remove(force=True)
        if device:  # a size-limited workspace (prepare_lab): its file system and image go with it
            with contextlib.suppress(DflabError):
                WorkspaceDisk(Path(device).parent, Path(device).name, 0, TRAINEE_UID).remove()
    for network in client.networks.list(filters={"label": label}):
        network.remove()
