"""What dpkg and apt log of an installed system's packages: ``/var/log/dpkg.log``, ``/var/log/apt/history.log`` and
``/var/log/apt/term.log``, with logrotate's older months beside them, as Debian 12 writes them.

An examiner reads these to date the system (when it was installed, when it was last upgraded, whether a package
was added during the incident) and holds them against dpkg's status: every version here is the one the status
lists (:mod:`dflab.scenario.ostree.dpkg`), and an upgrade's previous version is the bookworm release or stable
update it replaced, always older by dpkg's ordering (``+deb12u2`` replaced ``+deb12u1``, ``+deb12u1`` the
release's, ``~deb12u1`` an older upstream's rebuild). Formats are dpkg 1.21's ``log_message`` lines and apt 2.6's
history and terminal logs; the catalog installs no PackageKit, so the upgrades are the first user's (a sudoer)
``sudo apt upgrade``: history.log names the command and the user who asked. logrotate keeps twelve months of each
(``monthly``, ``rotate 12``, ``compress``, ``delaycompress``): the current month plain, the last one as ``.1``,
older ones gzip'd.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from dflab.scenario.ostree.contents import gzip9n
from dflab.scenario.traces.story import rotation

ROTATE = 12  # months logrotate keeps (/etc/logrotate.d/dpkg, /etc/logrotate.d/apt)
_STABLE_UPDATE = re.compile(r"^(.*[+~]deb12u)(\d+)$")


@dataclass(frozen=True)
class Unpack:
    """One package dpkg unpacked: at ``at`` (epoch seconds), ``version`` over ``previous`` (None: a new install)."""

    name: str
    arch: str
    version: str
    at: int
    previous: str | None = None


def previous_version(version: str) -> str | None:
    """The version a bookworm stable update replaced, older by dpkg's ordering: ``+deb12u3`` -> ``+deb12u2``,
    ``+deb12u1`` -> the release's; a ``~deb12uN`` rebuild (a newer upstream brought to bookworm, which sorts
    *before* the plain ``X-R``) -> ``~deb12u(N-1)``, and ``~deb12u1`` -> the rebuild of the upstream before it
    (its last non-zero number one lower: ``128.14.0esr-1~deb12u1`` -> ``128.13.0esr-1~deb12u1``). None for a
    version no stable update made (it is the release's own: nothing older in bookworm)."""
    m = _STABLE_UPDATE.match(version)
    if m is None:
        return None
    stem, n = m.group(1), int(m.group(2))
    if n > 1:
        return f"{stem}{n - 1}"
    if stem.endswith("+deb12u"):
        return stem[: -len("+deb12u")]
    base = stem[: -len("~deb12u")]  # [epoch:]upstream[-revision]
    epoch, _, rest = base.rpartition(":") if ":" in base else ("", "", base)
    upstream, dash, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    numbers = [d for d in re.finditer(r"\d+", upstream) if int(d.group())]
    if not numbers:
        return None
    last = numbers[-1]
    older = f"{upstream[:last.start()]}{int(last.group()) - 1}{upstream[last.end():]}"
    return f"{epoch + ':' if epoch else ''}{older}{dash}{revision}~deb12u1"


def _stamp(t: int) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _apt_stamp(t: int) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d  %H:%M:%S")  # apt's two spaces


def _runs(unpacks: Iterable[Unpack]) -> list[list[Unpack]]:
    """Unpacks grouped into dpkg runs: one apt transaction each, a run ending where the next starts over 10 min on."""
    runs: list[list[Unpack]] = []
    for u in sorted(unpacks, key=lambda u: (u.at, u.name)):
        if runs and u.at - runs[-1][-1].at <= 600:
            runs[-1].append(u)
        else:
            runs.append([u])
    return runs


def _dpkg_lines(run: list[Unpack], trigger: tuple[str, str] | None) -> list[tuple[int, str]]:
    out = [(run[0].at, "startup archives unpack")]
    for u in run:
        pkg = f"{u.name}:{u.arch}"
        if u.previous is None:
            out += [(u.at, f"install {pkg} <none> {u.version}"), (u.at, f"status half-installed {pkg} {u.version}")]
        else:
            out += [(u.at, f"upgrade {pkg} {u.previous} {u.version}"),
                    (u.at, f"status half-configured {pkg} {u.previous}"),
                    (u.at, f"status unpacked {pkg} {u.previous}"),
                    (u.at, f"status half-installed {pkg} {u.previous}")]
        out.append((u.at, f"status unpacked {pkg} {u.version}"))
    end = run[-1].at + 1
    out.append((end, "startup packages configure"))
    for u in run:
        pkg = f"{u.name}:{u.arch}"
        out += [(end, f"configure {pkg} {u.version} {u.version if u.previous else '<none>'}"),
                (end, f"status unpacked {pkg} {u.version}"), (end, f"status half-configured {pkg} {u.version}"),
                (end, f"status installed {pkg} {u.version}")]
    if trigger is not None:
        name, version = trigger
        out += [(end, f"trigproc {name} {version} <none>"), (end, f"status half-configured {name} {version}"),
                (end, f"status installed {name} {version}")]
    return out


def _history(run: list[Unpack], requested_by: tuple[str, int] | None) -> str:
    fresh = ", ".join(f"{u.name}:{u.arch} ({u.version})" for u in run if u.previous is None)
    upgraded = ", ".join(f"{u.name}:{u.arch} ({u.previous}, {u.version})" for u in run if u.previous is not None)
    lines = [f"Start-Date: {_apt_stamp(run[0].at)}",
             "Commandline: apt upgrade" if upgraded and not fresh else "Commandline: apt-get install"]
    if requested_by is not None:
        lines.append(f"Requested-By: {requested_by[0]} ({requested_by[1]})")
    lines += ([f"Install: {fresh}"] if fresh else []) + ([f"Upgrade: {upgraded}"] if upgraded else [])
    lines.append(f"End-Date: {_apt_stamp(run[-1].at + 2)}")
    return "\n" + "\n".join(lines) + "\n"


def _term(run: list[Unpack], installed_files: int, trigger: tuple[str, str] | None) -> str:
    lines = [f"Log started: {_apt_stamp(run[0].at)}",
             f"(Reading database ... {installed_files} files and directories currently installed.)"]
    for u in run:
        deb = f"{u.name}_{u.version.split(':')[-1]}_{u.arch}.deb"
        lines.append(f"Preparing to unpack .../{deb} ...")
        lines.append(f"Unpacking {u.name} ({u.version})" + (f" over ({u.previous}) ..." if u.previous else " ..."))
    lines += [f"Setting up {u.name} ({u.version}) ..." for u in run]
    if trigger is not None:
        lines.append(f"Processing triggers for {trigger[0].split(':')[0]} ({trigger[1]}) ...")
    lines.append(f"Log ended: {_apt_stamp(run[-1].at + 2)}")
    return "\n" + "\n".join(lines) + "\n\n"


def _month(t: int) -> tuple[int, int]:
    d = datetime.fromtimestamp(t, tz=UTC)
    return d.year, d.month


def _rotated(base: str, by_month: dict[tuple[int, int], str], now: int) -> dict[str, bytes]:
    """``base`` for the current month, ``base.1`` for the last, ``base.N.gz`` back to logrotate's twelfth."""
    year, month = _month(now)
    out: dict[str, bytes] = {}
    for back in range(ROTATE + 1):
        y, m = divmod(year * 12 + month - 1 - back, 12)
        text = by_month.get((y, m + 1))
        if text is None and back:
            continue
        data = (text or "").encode()
        out[base if back == 0 else f"{base}.{back}" if back == 1 else f"{base}.{back}.gz"] = \
            data if back <= 1 else gzip9n(data)
    return out


def package_logs(unpacks: Iterable[Unpack], now: int, requested_by: tuple[str, int] | None,
                 installed_files: int, trigger: tuple[str, str] | None = ("man-db:amd64", "2.11.2-2")
                 ) -> dict[str, bytes]:
    """Path -> bytes of dpkg.log, apt's history.log and term.log (and their rotated months) for ``unpacks``, as
    they stand at ``now``: runs of the last twelve months only, as logrotate left them."""
    runs = [r for r in _runs(unpacks) if r[0].at <= now]
    dpkg: dict[tuple[int, int], str] = {}
    history: dict[tuple[int, int], str] = {}
    term: dict[tuple[int, int], str] = {}
    for run in runs:
        key = _month(run[0].at)
        dpkg[key] = dpkg.get(key, "") + "".join(f"{_stamp(t)} {line}\n" for t, line in _dpkg_lines(run, trigger))
        history[key] = history.get(key, "") + _history(run, requested_by if run[0].previous else None)
        term[key] = term.get(key, "") + _term(run, installed_files, trigger)
    return {**_rotated("/var/log/dpkg.log", dpkg, now), **_rotated("/var/log/apt/history.log", history, now),
            **_rotated("/var/log/apt/term.log", term, now)}


def log_times(path: str, unpacks: Iterable[Unpack], now: int, seed: bytes | None = None,
              boot: float | None = None) -> tuple[int, int]:
    """``(created, modified)`` of one file :func:`package_logs` returned: logrotate makes each month's file at its
    first run of the month (the install made the first one, mid-month), the month's last unpack is its last write,
    and rotating renames and compresses without touching the modification time. With the case's ``seed`` (and
    ``boot``, the incident's boot) that run is the routine's (:func:`~dflab.scenario.traces.story.rotation`): the
    first ``logrotate.service`` syslog shows in the month, with the machine up, never midnight while it was off;
    without it, the month's first second."""
    parts = path.rsplit("/", 1)[-1].split(".")  # dpkg.log, dpkg.log.1, dpkg.log.2.gz
    back = int(parts[2]) if len(parts) > 2 else 0
    year, month = _month(now)
    y, m = divmod(year * 12 + month - 1 - back, 12)
    times = [u.at for u in unpacks if u.at <= now]
    rotated = int(datetime(y, m + 1, 1, tzinfo=UTC).timestamp())
    if seed is not None:

        start, end = rotation(seed, rotated, boot)
        # logrotate reads /etc/logrotate.d in name order: apt's logs a moment before dpkg's, within the run
        at = start + (end - start) * (0.2 if "/apt/" in path else 0.6)
        rotated = min(math.ceil(at) if math.ceil(at) <= end else int(at), now)
    created = max(rotated, min(times, default=now))
    return created, max((t for t in times if _month(t) == (y, m + 1)), default=created)
