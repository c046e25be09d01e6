"""``dflab hub``: JupyterHub + DockerSpawner for a cohort (mounted by dflab/cli.py).

\b
  dflab course init /srv/course --roster roster.csv --lab 02-disk      (evidence + released notebook)
  dflab hub config --roster roster.csv --course /srv/course --lab 02-disk --state-dir /srv/dflab-hub
  jupyterhub -f /srv/dflab-hub/jupyterhub_config.py
  dflab hub purge --name dflab          (containers, work volumes and the lab network)
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console

from dflab.atomic import ensure_writable_dir, write_bytes
from dflab.errors import DflabError
from dflab.evidence.manifest import MANIFEST
from dflab.hub.auth import access_code
from dflab.hub.config import INSTRUCTOR_TOKEN_FILE, LAB_SEED_DIR, SECRET_FILE, HubSettings, render_config
from dflab.i18n.lang import DEFAULT_LANG, localised
from dflab.provision.evidence_share import checked_variant
from dflab.provision.trainee_container import LAB_LIMITS, parse_memory
from dflab.roster import read_roster
from dflab.session.lab import copy_release

ACCESS_LIST = "access.csv"
LAB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
console = Console()


def _secret_file(path: Path) -> str:
    """The secret in ``path``, created owner-only on first use and kept afterwards (codes stay valid)."""
    if not path.exists():
        write_bytes(path, secrets.token_hex(32).encode() + b"\n")
    path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def hand_out_read_only(evidence: Path, course: Path) -> None:
    """Files 0444, directories 0555 (as `dflab session` does): uid 1000 in a lab reads them, nobody writes.

    The bind mount is read-only as well; the modes also keep the host side from being changed by mistake.  The
    variant is checked first (dflab/provision/evidence_share.py: no link, no second name, nothing special) and no
    mode is set through a link, so a planted one neither reaches a lab nor opens the file it names to everyone.
    """
    checked_variant(evidence, course)
    for folder, dirs, files in os.walk(evidence, topdown=False):
        for name in files:
            os.chmod(Path(folder, name), 0o444, follow_symlinks=False)
        for name in dirs:
            os.chmod(Path(folder, name), 0o555, follow_symlinks=False)  # noqa: S103 (uid 1000 reads)
    os.chmod(evidence, 0o555, follow_symlinks=False)  # noqa: S103 (uid 1000 reads)


@click.group("hub")
def hub() -> None:
    """JupyterHub with DockerSpawner: the cohort's labs behind one hub (see environments/jupyterhub/)."""


@hub.command("config")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV with an id column: the only users who may log in.")
@click.option("--course", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="nbgrader course from `dflab course init` (or a session directory): evidence/<trainee>/ "
                   "and release/<lab>/.")
@click.option("--lab", required=True, help="Lab id whose released notebook seeds every workspace (e.g. 02-disk).")
@click.option("--image", default="dflab/trainee", show_default=True, help="Trainee image (the session's).")
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("dflab-hub"),
              show_default=True, help="Secrets, access list, hub database and the lab's seed files.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write jupyterhub_config.py  [default: STATE_DIR/jupyterhub_config.py]")
@click.option("--name", default="dflab", show_default=True, help="Hub name: prefixes and labels docker objects.")
@click.option("--port", type=int, default=8000, show_default=True, help="Public port of the proxy on 127.0.0.1.")
@click.option("--hub-port", type=int, default=8081, show_default=True, help="Hub API port on the lab network.")
@click.option("--proxy-api-port", type=int, default=8001, show_default=True, help="Proxy API port on 127.0.0.1.")
@click.option("--memory", default=LAB_LIMITS.memory, show_default=True, help="Memory (and memory+swap) per lab.")
@click.option("--cpus", type=click.FloatRange(0.1, 64), default=LAB_LIMITS.cpus, show_default=True,
              help="CPUs per lab.")
@click.option("--pids", type=click.IntRange(16, 65536), default=LAB_LIMITS.pids, show_default=True,
              help="Processes per lab.")
@click.option("--dashboard", "dashboard_session", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="SESSION", help="Serve this `dflab session`'s dashboard as the hub service dflab-dashboard "
                                      "(/services/dflab-dashboard/), open to the --instructor users only.")
@click.option("--instructor", "instructors", multiple=True, metavar="ID",
              help="A user who may open the dashboard (repeatable; not on the roster). Logs in with the access "
                   "code access.csv lists for them; the hub puts them in the group dflab-instructors.")
@click.option("--dashboard-port", type=int, default=8002, show_default=True,
              help="The dashboard service's port on 127.0.0.1 (the proxy forwards to it).")
def config(roster: Path, course: Path, lab: str, image: str, state_dir: Path,
           out: Path | None, name: str, port: int, hub_port: int, proxy_api_port: int, memory: str, cpus: float,
           pids: int, dashboard_session: Path | None, instructors: tuple[str, ...], dashboard_port: int) -> None:
    """Write jupyterhub_config.py, the access codes and the lab's seed files for a cohort (and, with --dashboard,
    the instructor's dashboard as a hub service)."""
    if not LAB_ID.match(lab):
        raise DflabError(f"lab id {lab!r} must be a folder name like 02-disk", "--lab")
    listed = read_roster(roster)
    trainees = tuple(t.id for t in listed)
    languages = {t.id: t.lang for t in listed}
    course = course.resolve()
    # The lab as nbgrader released it (English) and, for the roster's trainees in another language, as
    # `dflab course init` localised it (release-<lang>/): each seeds the workspaces of the trainees in its language.
    releases = {lang: localised(course / "release", lang) / lab for lang in sorted({DEFAULT_LANG, *languages.values()})}
    for lang, release in releases.items():
        if not release.is_dir():
            what = f"released lab {lab!r}" if lang == DEFAULT_LANG else f"release of lab {lab!r} in {lang!r}"
            raise DflabError(f"the course has no {what} (run `dflab course init {course} --roster {roster} "
                             f"--lab {lab}`)", str(release))
    evidence_root = course / "evidence"
    for trainee in trainees:
        if not (evidence_root / trainee / "evidence" / MANIFEST).is_file():
            raise DflabError(f"no evidence for trainee {trainee!r} (re-run `dflab course init` with this roster)",
                             str(evidence_root / trainee))
    if dashboard_session is not None:
        from dflab.session.manager import Session  # the session's whole stack: only when a dashboard is asked for

        dashboard_session = Session.existing(dashboard_session).dir.resolve()  # one line if it is not a session
    settings = HubSettings(name=name, image=image, trainees=trainees, evidence_root=evidence_root,
                           state_dir=state_dir.resolve(), port=port, hub_port=hub_port,
                           proxy_api_port=proxy_api_port,
                           limits=replace(LAB_LIMITS, memory_bytes=parse_memory(memory), cpus=cpus, pids=pids),
                           dashboard_session=dashboard_session, instructors=tuple(dict.fromkeys(instructors)),
                           dashboard_port=dashboard_port, languages=languages)
    text = render_config(settings)
    ensure_writable_dir(state_dir)
    state_dir.chmod(0o700)
    secret = _secret_file(state_dir / SECRET_FILE).encode()
    _secret_file(state_dir / INSTRUCTOR_TOKEN_FILE)
    for lang, release in releases.items():
        copy_release(release, localised(state_dir / LAB_SEED_DIR, lang) / lab)
    for trainee in trainees:
        hand_out_read_only(evidence_root / trainee / "evidence", course)
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["trainee", "access_code"])
    writer.writerows([t, access_code(secret, t)] for t in sorted(trainees))
    writer.writerows([i, access_code(secret, i)] for i in sorted(settings.instructors))  # theirs, after the room's
    write_bytes(state_dir / ACCESS_LIST, rows.getvalue().encode())
    os.chmod(state_dir / ACCESS_LIST, 0o600)
    out = out or state_dir / "jupyterhub_config.py"
    write_bytes(out, text.encode())
    console.print(f"wrote {out} for {len(trainees)} trainees; access codes in {state_dir / ACCESS_LIST} "
                  "(hand each trainee their own line)")
    console.print(f"start it with: jupyterhub -f {out}")


@hub.command("purge")
@click.option("--name", default="dflab", show_default=True, help="The hub's name (as given to `hub config`).")
def purge(name: str) -> None:
    """Remove the hub's lab containers, trainees' work volumes and lab network (stop the hub first)."""
    from dflab.hub.runtime import remove_hub_objects

    remove_hub_objects(name)
    console.print(f"removed docker objects labelled dflab.hub={name}")
