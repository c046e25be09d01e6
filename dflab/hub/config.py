"""Render a readable, deterministic jupyterhub_config.py: JupyterHub + DockerSpawner for one cohort.

The hub spawns each trainee's JupyterLab from the **same image** as ``dflab session`` with the same
confinement (dflab/provision/trainee_container.py, ``TRAINEE.for_hub()``: the session's lab without lab 01's
exec tmpfs): uid 1000, every capability dropped, no-new-privileges, memory/CPU/pids limits, read-only root
file system with its tmpfs, the trainee's own evidence variant read-only at /evidence, the lab's files seeded
once into a per-trainee named volume at /home/trainee/work.

One difference is forced by the hub: the session backend gives labs *no* network at all and reaches
them through a Unix socket, but a single-user server must talk to the hub's API and be reached by the
proxy over TCP. So labs join an ``internal`` bridge network (no route out of the host, inter-container
traffic off) and the hub's API listens on that bridge's gateway address (see runtime.py).

A trainee whose roster ``lang`` is not English gets their lab as the session's docker backend starts it
(dflab/i18n/lang.py, the one owner): the lab's localised release as their workspace's seed, ``DFLAB_LANG`` and
JupyterLab's settings for their language. The config lists them (``TRAINEE_LANGUAGES``) and a pre-spawn hook
applies it (runtime.py ``in_language``); a cohort all in English renders the config it always did.

Same inputs, same bytes: nothing random or time-dependent is rendered, and secrets (the access-code
key, the instructor token, the cookie secret) stay in files of the state directory, read at hub start.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dflab.errors import DflabError
from dflab.i18n.lang import DEFAULT_LANG, LANGUAGES, lab_settings_option
from dflab.provision import trainee_container
from dflab.provision.docker_backend import LAB_PORT
from dflab.provision.trainee_container import LAB_LIMITS, LAB_SEED_TARGET, MIN_MEMORY_BYTES, Limits
from dflab.roster import check_trainee_id

HUB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")
SECRET_FILE = "secret"
INSTRUCTOR_TOKEN_FILE = "instructor-token"
INSTRUCTOR_SERVICE = "dflab-instructor"
DASHBOARD_SERVICE = "dflab-dashboard"  # the instructor's dashboard as a hub service (dflab/hub/dashboard.py)
DASHBOARD_ACCESS_SCOPE = f"access:services!service={DASHBOARD_SERVICE}"  # held by the group below only
INSTRUCTORS_GROUP = "dflab-instructors"
LAB_SEED_DIR = "lab"  # STATE/lab/<lab id>/: the English release; STATE/lab-<lang>/<lab id>/ another language's


@dataclass(frozen=True)
class HubSettings:
    """Everything a rendered config depends on (paths absolute: Docker bind mounts need them)."""

    name: str  # prefixes every docker object and labels them dflab.hub=<name>
    image: str
    trainees: tuple[str, ...]
    evidence_root: Path  # <evidence_root>/<trainee>/evidence, as `dflab course init` writes it
    state_dir: Path  # secrets, the hub database, the lab's seed files
    port: int = 8000  # the proxy's public port, on 127.0.0.1
    hub_port: int = 8081  # the hub API, on the lab network's gateway address
    proxy_api_port: int = 8001  # the proxy's REST API, on 127.0.0.1
    limits: Limits = LAB_LIMITS
    # The instructor's dashboard as a hub service (dflab/hub/dashboard.py): the session it shows, the users who may
    # open it (they log in like trainees, with their own access codes) and its port on 127.0.0.1.
    dashboard_session: Path | None = None
    instructors: tuple[str, ...] = ()
    dashboard_port: int = 8002
    # The roster's ``lang`` of each trainee (dflab.roster, normalised there): English for anyone absent.
    languages: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not HUB_NAME.match(self.name):
            raise DflabError("hub name must be 1-31 of a-z 0-9 - (starting with a letter or digit)", "--name")
        if self.limits.memory_bytes < MIN_MEMORY_BYTES:
            raise DflabError(f"memory limit {self.limits.memory!r} is below the engine's minimum of "
                             f"{MIN_MEMORY_BYTES >> 20}m", "--memory")
        if not self.trainees:
            raise DflabError("no trainees: the roster is empty", "--roster")
        for trainee in self.trainees:
            check_trainee_id(trainee, "--roster")
        for what, path in (("--evidence-root", self.evidence_root), ("--state-dir", self.state_dir)):
            if not path.is_absolute():
                raise DflabError("must be an absolute path (Docker bind mounts need one)", what)
        ports = (self.port, self.hub_port, self.proxy_api_port, self.dashboard_port)
        if len(set(ports)) != 4 or not all(0 < p < 65536 for p in ports):
            raise DflabError(f"ports must be four different numbers in 1-65535, got {ports}", "--port")
        for trainee, lang in self.languages.items():
            if trainee not in self.trainees:
                raise DflabError(f"{trainee!r} has a language but is not on the roster", "--roster")
            if lang not in LANGUAGES:
                raise DflabError(f"{trainee}: lang {lang!r} is not one of the labs' languages "
                                 f"({', '.join(LANGUAGES)})", "--roster")
        for instructor in self.instructors:
            check_trainee_id(instructor, "--instructor")
            if instructor in self.trainees:
                raise DflabError(f"{instructor!r} is on the roster: an instructor is not a trainee", "--instructor")
        if self.instructors and self.dashboard_session is None:
            raise DflabError("instructors are who may open the dashboard: give --dashboard SESSION too",
                             "--instructor")
        if self.dashboard_session is not None:
            if not self.instructors:
                raise DflabError("the dashboard is for instructors: name at least one with --instructor",
                                 "--dashboard")
            if not self.dashboard_session.is_absolute():
                raise DflabError("must be an absolute path (the hub starts the service from its own folder)",
                                 "--dashboard")

    def other_languages(self) -> dict[str, str]:
        """Trainee -> language, for the trainees who do not work in English, sorted by trainee."""
        return {t: lang for t, lang in sorted(self.languages.items()) if lang != DEFAULT_LANG}


def seed_script(lang: str = DEFAULT_LANG) -> list[str]:
    """The container command: seed the workspace once, then the hub's single-user server (in ``lang``'s settings).

    DockerSpawner appends the hub's arguments to this command; ``sh -c SCRIPT sh`` hands them on as "$@".
    """
    script = trainee_container.seed_then(f"exec {trainee_container.SERVE} jupyterhub-singleuser "
                                         f"--config=/etc/dflab/jupyter_config.py{lab_settings_option(lang)} \"$@\"")
    return ["sh", "-c", script, "sh"]


# Why each host setting is what it is, rendered beside it.
HOST_NOTES = {
    "memswap_limit": "= mem_limit: a memory hog is killed, not swapped",
    "pids_limit": "bounds a fork bomb to this container",
    "read_only": "the root file system; only these tmpfs and the work volume are writable",
}


def _host_config(host: dict[str, Any]) -> str:
    """The lines of ``extra_host_config``'s body: lists as JSON, scalars as Python, the tmpfs one a line."""
    lines = []
    for key, value in host.items():
        if isinstance(value, dict):
            mounts = "".join(f"        {json.dumps(k)}: {json.dumps(v)},\n" for k, v in value.items())
            lines.append(f"    {json.dumps(key)}: {{\n{mounts}    }},\n")
            continue
        text = json.dumps(value) if isinstance(value, list) else repr(value)
        note = f"  # {HOST_NOTES[key]}" if key in HOST_NOTES else ""
        lines.append(f"    {json.dumps(key)}: {text},{note}\n")
    return "".join(lines)


def _dashboard(s: HubSettings) -> tuple[str, str, str, str]:
    """The dashboard's parts of the config: (who may log in, its service entry, its role, its section)."""
    if s.dashboard_session is None:
        return "set(TRAINEES)", "", "", ""
    instructors = "".join(f"    {i!r},\n" for i in sorted(s.instructors))
    service = f"""\
    # The instructor's dashboard (dflab/hub/dashboard.py), started, restarted and stopped by the hub, which
    # hands it its API token and OAuth client in its environment. Reached through the proxy at
    # /services/{DASHBOARD_SERVICE}/; only the group below may pass the hub's OAuth, anyone else gets 403.
    {{
        "name": {DASHBOARD_SERVICE!r},
        "url": "http://127.0.0.1:{s.dashboard_port}",
        "command": [sys.executable, "-m", "dflab.hub.dashboard", str(DASHBOARD_SESSION)],
        "oauth_no_confirm": True,  # run by the hub's own operators: no "authorize this application?" page
        "display": True,
    }},
"""
    role = f"""\
    {{
        # Only this group may open the dashboard: what the hub checks before it lets a browser through.
        "name": {INSTRUCTORS_GROUP!r},
        "groups": [{INSTRUCTORS_GROUP!r}],
        "scopes": [{json.dumps(DASHBOARD_ACCESS_SCOPE)}],
    }},
"""
    section = f"""
# --- The instructor's dashboard ---------------------------------------------------------------------
# `dflab session dashboard` for the session below, as a hub service: the same page and actions, behind
# the hub's log-in instead of a token. Instructors log in like trainees (roster-like ids, own access
# codes in access.csv); load_groups only adds members, so remove a former instructor through the API.
DASHBOARD_SESSION = Path({str(s.dashboard_session)!r})
INSTRUCTORS = [
{instructors}]
c.JupyterHub.load_groups = {{{INSTRUCTORS_GROUP!r}: {{"users": INSTRUCTORS}}}}
"""
    return "set(TRAINEES) | set(INSTRUCTORS)", service, role, section


def _languages(s: HubSettings) -> tuple[str, str, str]:
    """The languages' parts of the config: (the runtime names it imports, its section, the pre-spawn hook line).

    A cohort all in English gets the config it always had: no section, the one hook.
    """
    prepare = 'prepare_lab(EVIDENCE_ROOT, STATE / "workspaces", f"dflab-hub-{HUB_NAME}", LABELS)'
    others = s.other_languages()
    if not others:
        return "", "", f"c.Spawner.pre_spawn_hook = {prepare}"
    listed = "".join(f"    {t!r}: {lang!r},\n" for t, lang in others.items())
    section = f"""
# --- Trainees' languages (the roster's lang; anyone not listed works in English) ---------------------
# Each gets their lab as `dflab session` starts it (dflab/i18n/lang.py): the workspace seeded from the lab's
# release in their language (STATE/{LAB_SEED_DIR}-<lang>/), DFLAB_LANG for dflab's messages and forms, and
# JupyterLab's menus in their language (the image's dflab/labsettings/<lang>/). Applied before each spawn.
TRAINEE_LANGUAGES = {{
{listed}}}
"""
    hook = (f"c.Spawner.pre_spawn_hook = in_turn(\n    {prepare},\n"
            f"    in_language(TRAINEE_LANGUAGES, STATE / {LAB_SEED_DIR!r}),\n)")
    return "from dflab.hub.runtime import in_language, in_turn\n", section, hook


def render_config(s: HubSettings) -> str:
    """The jupyterhub_config.py text for ``s``."""
    labels = {"dflab.hub": s.name}
    trainees = sorted(s.trainees)
    users = "\n".join(f"    {t!r}," for t in trainees)
    allowed, dashboard_service, dashboard_role, dashboard_section = _dashboard(s)
    spawner = trainee_container.TRAINEE.for_hub().spawner_settings(s.limits)
    lang_imports, languages_section, pre_spawn_hook = _languages(s)
    return f'''\
# JupyterHub configuration for the dflab cohort {s.name!r}, generated by `dflab hub config`.
# Do not edit: re-run the command (the same inputs give the same file). Secrets are not in this file;
# they are read at start from {s.state_dir}/ (owner-only files).
#
# Run from the virtual environment holding dflab and its `hub` extra (jupyterhub, dockerspawner), as a
# user allowed to use the Docker engine, with configurable-http-proxy beside python or on PATH:
#     jupyterhub -f jupyterhub_config.py
# Trainees open http://127.0.0.1:{s.port}/ and log in with their roster id and the access code
# listed in {s.state_dir}/access.csv.
{"import sys" + chr(10) if s.dashboard_session else ""}from pathlib import Path

from dflab.hub.runtime import ensure_lab_network, prepare_lab, proxy_command, read_secret
{lang_imports}
c = get_config()  # noqa: F821 -- traitlets injects get_config() when it loads this file

HUB_NAME = {s.name!r}
IMAGE = {s.image!r}
STATE = Path({str(s.state_dir)!r})
# <EVIDENCE_ROOT>/<trainee>/evidence: each trainee's own variant (the course's, from `dflab course init`).
EVIDENCE_ROOT = Path({str(s.evidence_root)!r})
LABELS = {labels!r}
TRAINEES = [
{users}
]
{dashboard_section}{languages_section}
# --- Who may log in -----------------------------------------------------------------------------
# Only roster ids, each with a personal access code (an HMAC of the id under STATE/{SECRET_FILE}); a
# shared room password would let any trainee log in as any other. No trainee is an admin.
c.JupyterHub.authenticator_class = "dflab.hub.auth.AccessCodeAuthenticator"
c.AccessCodeAuthenticator.secret_file = str(STATE / {SECRET_FILE!r})
c.Authenticator.allowed_users = {allowed}
c.Authenticator.admin_users = set()
c.JupyterHub.admin_access = False
# The instructor's scripts (and the tests) use this service's token with the REST API: start, stop
# and list servers, issue tokens. It is not a person and cannot log in through the web page.
c.JupyterHub.services = [
    {{"name": {INSTRUCTOR_SERVICE!r}, "api_token": read_secret(STATE / {INSTRUCTOR_TOKEN_FILE!r})}},
{dashboard_service}]
c.JupyterHub.load_roles = [
    {{
        "name": {INSTRUCTOR_SERVICE!r},
        "services": [{INSTRUCTOR_SERVICE!r}],
        "scopes": ["list:users", "read:users", "admin:servers", "tokens", "access:servers"],
    }},
{dashboard_role}]

# --- Where things listen --------------------------------------------------------------------------
# Trainees' browsers reach the proxy on loopback only (put TLS in front of it for a real room).
c.JupyterHub.bind_url = "http://127.0.0.1:{s.port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{s.proxy_api_port}"
c.ConfigurableHTTPProxy.command = [proxy_command()]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")
# Labs sit on an internal network (no route out of this host, no traffic between labs). The hub API
# listens on that bridge's gateway address, the only host address a lab can reach.
NETWORK = f"dflab-hub-{{HUB_NAME}}"
GATEWAY = ensure_lab_network(NETWORK, LABELS)
c.JupyterHub.hub_bind_url = f"http://{{GATEWAY}}:{s.hub_port}"
c.JupyterHub.hub_connect_url = f"http://{{GATEWAY}}:{s.hub_port}"
c.JupyterHub.db_url = f"sqlite:///{{STATE / 'jupyterhub.sqlite'}}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")

# --- Each trainee's lab: the dflab trainee image, confined like `dflab session` -------------------
c.JupyterHub.spawner_class = "docker"
c.DockerSpawner.image = IMAGE
c.DockerSpawner.pull_policy = "never"  # offline rooms: the image is built or loaded, never pulled
c.DockerSpawner.prefix = f"dflab-hub-{{HUB_NAME}}"  # containers: dflab-hub-<name>-<escaped user>
c.DockerSpawner.remove = True  # containers are disposable; the work lives in the volume below
c.DockerSpawner.network_name = NETWORK
c.DockerSpawner.use_internal_ip = True  # the proxy reaches the lab on its bridge address
c.DockerSpawner.port = {LAB_PORT}
# Seed the lab's files into the workspace once, then run the single-user server with the image's
# server settings (jupyter_config.py: workspace root, nbgrader trainee extensions, kernel culling).
c.DockerSpawner.cmd = {seed_script()!r}
c.Spawner.default_url = "/lab"
c.DockerSpawner.environment = {{"DFLAB_EVIDENCE": "/evidence"}}
c.DockerSpawner.mounts = [
    # The trainee's own evidence variant, read-only ({{raw_username}} is the roster id).
    {{"type": "bind", "source": str(EVIDENCE_ROOT / "{{raw_username}}" / "evidence"), "target": "/evidence",
     "read_only": True}},
    # The lab's notebooks, copied into the workspace on first start.
    {{"type": "bind", "source": str(STATE / {LAB_SEED_DIR!r}), "target": "{LAB_SEED_TARGET}", "read_only": True}},
    # The trainee's work: a named volume that outlives containers and hub restarts, made by prepare_lab below
    # as a size-limited file system ($DFLAB_WORKSPACE_MIB, default 2048 MiB) under the state directory.
    {{"type": "volume", "source": f"dflab-hub-{{HUB_NAME}}-{{{{raw_username}}}}-work", "target": "/home/trainee/work",
     "labels": LABELS}},
]
{pre_spawn_hook}
c.DockerSpawner.extra_create_kwargs = {{
    "user": {json.dumps(spawner["extra_create_kwargs"]["user"])},
    "labels": {{**LABELS, "dflab.trainee": "{{raw_username}}", "dflab.role": "lab"}},
    # The image's health check probes /api on port 8888; under the hub the server lives below /user/.
    "healthcheck": {{"test": ["NONE"]}},
}}
c.DockerSpawner.mem_limit = {spawner["mem_limit"]!r}
c.DockerSpawner.cpu_limit = {spawner["cpu_limit"]!r}
c.DockerSpawner.extra_host_config = {{
{_host_config(spawner["extra_host_config"])}}}
# A room starting at once on one machine: each server imports JupyterLab and nbgrader while the others
# do the same, so give the container time to answer before the hub gives up on it.
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 180
'''
