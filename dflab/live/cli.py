"""``dflab live``: the lab environment's controls for the live-response suspect of lab 01.

The lab environment (not the trainee) starts the suspect when a session begins and stops it at the end.
Output names no trait (port, name, hash): those are what the trainee has to find.
"""

from __future__ import annotations

from pathlib import Path

import click

from dflab.errors import DflabError
from dflab.live import suspect as suspect_mod
from dflab.live.traits import suspect_seed

SECRET_ENV = "DFLAB_COURSE_SECRET"
SEED_ENV = "DFLAB_LIVE_SEED"
STATE_ENV = "DFLAB_LIVE_STATE_DIR"
DEFAULT_STATE_DIR = Path.home() / ".cache" / "xdg-sync"

state_dir_option = click.option(
    "--state-dir", type=click.Path(file_okay=False, path_type=Path), envvar=STATE_ENV, default=DEFAULT_STATE_DIR,
    show_default=True, help=f"Where the suspect's files and state live (default also from ${STATE_ENV}); "
                            "must allow executing files (not a noexec mount).")


@click.group("live")
def live() -> None:
    """Live response (lab 01): the harmless suspect process trainees investigate."""


@live.group("suspect")
def suspect() -> None:
    """Start, check and stop the suspect (loopback only, unprivileged, sleeps between beacons)."""


@suspect.command("start")
@click.option("--trainee", help="Trainee id: the suspect's names, ports and contents derive from it.")
@click.option("--secret", envvar=SECRET_ENV, default=None,
              help=f"Course secret (default: ${SECRET_ENV}, else the public demo secret).")
@click.option("--seed", "seed_hex", envvar=SEED_ENV, default=None,
              help=f"The trainee's lab-01 seed as 64 hex digits (default: ${SEED_ENV}), instead of --trainee: "
                   "lets the trainee's environment start the suspect without ever holding the course secret.")
@state_dir_option
def start(trainee: str | None, secret: str | None, seed_hex: str | None, state_dir: Path) -> None:
    """Start the suspect for one trainee (give --trainee, or --seed from `dflab live seed`)."""
    info = suspect_mod.start(state_dir, _seed(trainee, secret, seed_hex))
    click.echo(f"suspect started: pids {info.sink_pid} {info.suspect_pid} (process group {info.pgid}); "
               f"state in {info.state_file}")


@live.command("seed")
@click.option("--trainee", required=True, help="Trainee id.")
@click.option("--secret", envvar=SECRET_ENV, default=None,
              help=f"Course secret (default: ${SECRET_ENV}, else the public demo secret).")
def seed(trainee: str, secret: str | None) -> None:
    """Print a trainee's lab-01 seed (instructor side), to pass to `suspect start --seed` in their environment."""
    click.echo(suspect_seed(trainee, secret).hex())


def _seed(trainee: str | None, secret: str | None, seed_hex: str | None) -> bytes:
    if (trainee is None) == (seed_hex is None):
        raise click.UsageError("give exactly one of --trainee or --seed")
    if seed_hex is None:
        return suspect_seed(str(trainee), secret)
    try:
        raw = bytes.fromhex(seed_hex)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise DflabError("--seed must be 64 hex digits (from `dflab live seed`)", SEED_ENV)
    return raw


@suspect.command("status")
@state_dir_option
def status(state_dir: Path) -> None:
    """Show whether the suspect runs; exit 1 if it crashed (some process died without `stop`)."""
    st = suspect_mod.status(state_dir)
    click.echo(st.state)
    for p in st.processes:
        click.echo(f"  {p.role:8} pid {p.pid:<8} {'alive' if p.alive else 'dead'}")
    if st.state == "crashed":
        raise SystemExit(1)


@suspect.command("stop")
@state_dir_option
def stop(state_dir: Path) -> None:
    """Kill the suspect's processes and remove its files (safe to repeat)."""
    killed = suspect_mod.stop(state_dir)
    click.echo(f"stopped ({len(killed)} process(es) killed)" if killed else "nothing was running")

