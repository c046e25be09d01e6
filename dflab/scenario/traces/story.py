"""What the workstation's logs, login records and browser all show, decided once from the case's facts.

A finance workstation is switched on each working morning, its user logs in at the GNOME greeter, works, logs
out and switches it off in the evening; cron runs its hourly job at :17, NetworkManager renews its DHCP lease,
systemd's timers fire. On the incident's day the story happens on top of that routine: the boot the memory image
shows, the SSH login from the workstation :func:`~dflab.scenario.environ` names, the acquisition. Every generator
of this package renders the same :class:`Plan`, so auth.log's ``CRON[1234]`` is syslog's, wtmp's sessions are
auth.log's, and the story's lines are drawn exactly like the routine's (microseconds, process ids, intervals):
nothing but their content separates them. The resolver builds the incident boot's plan before memory's process
table and hands memory its values (daemon pids, the user's desktop session and its worker), so the logs and
memory name the same processes; the plan's pid floor comes from the spec's processes alone, never from that
table (:mod:`dflab.scenario.pids` lays out where each kind of pid falls).

All times are UTC epoch seconds (floats where a log shows microseconds): the case has no time zone of its own,
so the workstation's clock is UTC and every log says ``+00:00``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from dflab.errors import SpecError
from dflab.scenario import pids as slots
from dflab.scenario.case import Process, User
from dflab.scenario.draw import rng
from dflab.scenario.environ import DESKTOP_SESSION_ID, SshPeer
from dflab.scenario.kernel import kernel_identity, logind_session
from dflab.scenario.pids import BOOT_CEILING, DESKTOP_PIDS, desktop_end

DAY = 86400
SSH_TTY = "pts/0"  # the story's login shell's terminal (its fds 0-2 in memory)
DESKTOP_TTY = "tty2"  # GDM's Wayland session on Debian 12: last(1) shows "tty2  tty2"
DESKTOP_SESSION = int(DESKTOP_SESSION_ID)  # logind's number of the user's desktop: the greeter's is c1


@dataclass(frozen=True)
class FileTimes:
    """A planned disk file's own times, as the disk keeps them (the resolver decides them once)."""

    created: int
    modified: int
    accessed: int
    changed: int
    deleted: int | None


class Source(Protocol):
    """The part of the scenario resolver a trace reads: the seed, the namespace, the event times."""

    seed: bytes
    spec: Any
    ns: dict[str, Any]
    times: dict[str, int]

    def at(self, ref: str, where: str) -> int: ...

    def file_times(self, f: Any) -> FileTimes: ...

    def fill(self, text: str, where: str) -> str: ...

    def ssh_peer(self) -> SshPeer: ...

    def fail(self, where: str, what: str) -> SpecError: ...


@dataclass(frozen=True)
class Day:
    """One earlier working day: a boot, the user's desktop session, the evening's shutdown."""

    boot: float
    login: float
    logout: float
    shutdown: float
    failed: float | None  # a mistyped password at the greeter shortly before ``login``


@dataclass(frozen=True)
class Boot:
    """One run of the machine, and what it did in the background while up."""

    start: float
    end: float | None  # None: still up at the acquisition
    logind: int  # the daemons' pids, each drawn in its slot of dflab.scenario.pids (memory's, on the last boot)
    network_manager: int
    rsyslog: int
    greeter: int  # the greeter's gdm-session-worker (``gdm-launch-environment][N]``)
    cron: tuple[tuple[float, int], ...]  # (time, pid) of each hourly run
    dhcp: tuple[float, ...]  # lease renewals
    timers: tuple[tuple[float, float, str, str], ...]  # (start, end, unit, description) of timers that fired
    pids: tuple[tuple[float, int], ...] = ()  # each marked moment's pid: the greeter's login first, then the rest
    up: float = 0.0  # when systemd-update-utmp wrote the boot record
    runlevel: float = 0.0  # when graphical.target was reached and systemd-update-utmp-runlevel wrote runlevel 5

    def pid_at(self, t: float) -> int:
        return dict(self.pids)[t]

    @property
    def login(self) -> float:
        """The user's login at the greeter (the first marked moment): GDM stops the greeter right after it."""
        return self.pids[0][0]


@dataclass(frozen=True)
class Plan:
    """Everything the traces render; built by :func:`plan`."""

    seed: bytes
    hostname: str
    ip: str
    user: User
    peer: SshPeer
    kernel: str
    banner: str  # linux_banner, as the memory image holds it
    sshd_pid: int  # the story's sshd [priv] process
    desktop: float  # the user's login at the greeter on the incident's morning, still open at the acquisition
    login: float  # when it accepted the password
    failed_ssh: float  # an earlier connection from the same workstation whose password was mistyped (btmp)
    failed_port: int
    session: int  # systemd-logind's session number of the SSH login (XDG_SESSION_ID in the shell's environment)
    acquired: int
    days: tuple[Day, ...]
    boots: tuple[Boot, ...]  # earlier days' boots, then the incident day's
    since: float  # the file's rotation (its creation): what it holds begins there
    until: float  # its last write (its modification, at the latest the acquisition)
    # The pid utmp records the SSH login under: OpenSSH's monitor records it for its post-authentication child
    # (``sshd: USER@pts/0``, the shell's parent: mm_answer_pty sets ``s->pid = pmonitor->m_pid``); the [priv]
    # process's where the table has no such child.
    session_pid: int

    @property
    def today(self) -> Boot:
        return self.boots[-1]


def iso_us(t: float) -> str:
    """rsyslog's Debian 12 timestamp (RFC 3339, microseconds, zone): ``2026-03-02T07:41:12.345678+00:00``."""
    return datetime.fromtimestamp(round(t, 6), tz=UTC).isoformat(timespec="microseconds")


def plan(src: Source, user: User, shell: Process, processes: dict[int, Process], where: str, since: int,
         until: int) -> Plan:
    """The routine around the story from ``since`` (a log's rotation: its file's creation) to ``until`` (its last
    write), drawn from the seed and each day's date (same spec + seed, same days in every window)."""
    sshd = processes.get(shell.ppid)
    session_pid = shell.ppid
    if sshd is None:  # the shell's parent is the session's ``sshd: USER@pts/0`` (dflab.scenario.system): its monitor
        sshd = max((p for p in processes.values() if p.comm == "sshd" and p.uid == 0 and p.pid < shell.pid
                    and p.args and p.args[0].endswith(" [priv]")), key=lambda p: p.pid, default=None)
    if sshd is None:
        raise src.fail(where, f"the login shell (pid {shell.pid}) has no parent process in memory: an SSH login "
                              "needs its sshd")
    memory = src.spec.memory
    boot = src.at(memory.boot, "memory.boot")
    acquired = src.at(memory.acquired, "memory.acquired")
    r = rng(src.seed, "traces", "plan")
    today = datetime.fromtimestamp(boot, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    days: list[Day] = []
    d = datetime.fromtimestamp(since, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    while d < today:
        if d.weekday() < 5:
            days.append(_day(src.seed, d))
        d += timedelta(days=1)
    bounds = [(day.boot, day.shutdown, day.login, (day.failed,) if day.failed else ()) for day in days]
    failed_ssh = sshd.start_time - r.uniform(25, 70)
    # The incident's morning starts as every working day: the user logs in at the greeter, and that desktop's
    # Firefox is what the capture's browsing and places.sqlite's visits of the day come from.
    desktop = min(boot + rng(src.seed, "traces", "today").uniform(50, 240), (boot + failed_ssh) / 2)
    bounds.append((float(boot), None, desktop, (failed_ssh,)))
    # The pid floor of the incident's boot comes from the story's processes alone (the spec's), never from the
    # system table memory builds from this plan: the resolver decides the plan first.
    story = frozenset(p.pid for p in processes.values())
    boots = tuple(_boot(src.seed, s, e, login, marks, acquired, (sshd.start_time, sshd.pid) if e is None else None,
                        story)
                  for s, e, login, marks in bounds)
    session = logind_session(src.seed)  # logind's "New session N" is the shell's XDG_SESSION_ID in memory
    suspect = src.spec.suspect
    # The memory image's kernel release and banner, from the one place the resolver decides them.
    kernel, banner = kernel_identity(memory.kernel, src.seed)
    banner = banner.rstrip("\n")
    accept = rng(src.seed, "traces", "accept").uniform(0.05, 0.6)  # the password, once sshd has forked
    return Plan(src.seed, src.ns[f"hosts.{suspect}.hostname"], src.ns[f"hosts.{suspect}.ip"], user,
                src.ssh_peer(), kernel, banner, sshd.pid, desktop, sshd.start_time + accept,
                failed_ssh, r.randint(32768, 60999), session, acquired, tuple(days), boots, float(since),
                float(min(until, acquired)), session_pid)


def working_day(seed: bytes, day: date) -> Day | None:
    """The routine's day on ``day`` (a date before the incident's), None on a weekend: the machine stays off.
    :mod:`dflab.scenario.hours` reads the on-periods from it."""
    if day.weekday() >= 5:
        return None
    return _day(seed, datetime(day.year, day.month, day.day, tzinfo=UTC))


def _day(seed: bytes, day: datetime) -> Day:
    """A working day, drawn from its date alone: every window that includes it sees the same day."""
    r = rng(seed, "traces", "day", day.date().isoformat())
    midnight = day.timestamp()
    boot = midnight + r.uniform(7 * 3600 + 40 * 60, 8 * 3600 + 35 * 60)
    login = boot + r.uniform(50, 240)
    logout = midnight + r.uniform(16 * 3600 + 30 * 60, 18 * 3600 + 40 * 60)
    failed = login - r.uniform(6, 25) if r.random() < 0.12 else None  # a mistyped password at the greeter
    return Day(boot, login, logout, logout + r.uniform(15, 90), failed)


def _boot(seed: bytes, start: float, end: float | None, login: float, marks: tuple[float, ...], acquired: int,
          anchor: tuple[int, int] | None, story: frozenset[int]) -> Boot:
    """One boot: its daemons' pids in their slots, the greeter's login at ``login`` (its worker's pid in
    :data:`DESKTOP_PIDS`), the pids of the other ``marks`` and of cron's runs on the kernel's rising line."""
    r = rng(seed, "traces", "boot", datetime.fromtimestamp(start, tz=UTC).date().isoformat())
    until = end if end is not None else float(acquired)
    logind, nm = r.choice(slots.LOGIND_PIDS), r.choice(slots.NETWORK_MANAGER_PIDS)
    rsyslog, greeter = r.choice(slots.RSYSLOG_PIDS), r.choice(slots.GREETER_PIDS)
    worker = r.choice(DESKTOP_PIDS)
    pid = _pids(r, start, login, worker, desktop_end(worker, story), anchor, max(story, default=0), story)
    cron_times = []
    hour = datetime.fromtimestamp(start, tz=UTC).replace(minute=17, second=1, microsecond=0).timestamp()
    while hour < until:
        if hour > start + 40:
            cron_times.append(hour + r.uniform(0.001, 0.08))
        hour += 3600
    given = {t: pid(t) for t in sorted(set(cron_times) | set(marks) | {login})}  # in time order: pids only rise
    cron = [(t, given[t]) for t in cron_times]
    dhcp = renewals(seed, start, until)
    up = start + r.uniform(3.5, 5.5)
    # graphical.target waits for GDM and the units before it: seconds after the boot record, each boot its own
    graphical = up + rng(seed, "traces", "runlevel", datetime.fromtimestamp(start, tz=UTC).isoformat()).uniform(
        1.5, 9.0)
    return Boot(start, end, logind, nm, rsyslog, greeter, tuple(cron), tuple(dhcp), _timers(seed, start, until),
                tuple((t, given[t]) for t in (login, *marks)), up, graphical)


def renewals(seed: bytes, start: float, until: float) -> tuple[float, ...]:
    """When NetworkManager renews its DHCP lease during the boot at ``start``, up to ``until`` (its end, else the
    acquisition): the moments syslog's ``state changed new lease`` lines carry, the ACK just received. Drawn from
    the boot's start alone, so the capture of the workstation's segment (:mod:`dflab.evidence.network.dhcp`) asks
    this function for the very times the logs show: the plan owns them, nobody draws them again."""
    r = rng(seed, "traces", "dhcp", datetime.fromtimestamp(start, tz=UTC).isoformat())
    out = []
    t = start + r.uniform(1800, 2100)
    while t < until:
        out.append(t)
        t += r.uniform(1750, 1850)  # half the 3600 s lease, as the DHCP client renews it
    return tuple(out)


TIMERS = (("apt-daily.service", "Daily apt download activities"),
          ("man-db.service", "Daily man-db regeneration"),
          ("logrotate.service", "Rotate log files"),
          ("apt-daily-upgrade.service", "Daily apt upgrade and clean activities"))


def _timers(seed: bytes, start: float, until: float) -> tuple[tuple[float, float, str, str], ...]:
    """The daily timers a boot at ``start`` catches up on (``Persistent=true``: the machine is off at midnight),
    each run's start and end, drawn from the boot's date and time alone so :func:`rotation` finds them again."""
    r = rng(seed, "traces", "timers", datetime.fromtimestamp(start, tz=UTC).isoformat())
    runs = []
    for unit, what in TIMERS:
        t = start + r.uniform(300, 6 * 3600)
        done = t + r.uniform(0.05, 3.0)
        if t < until:
            runs.append((t, done, unit, what))
    return tuple(sorted(runs))


def rotation(seed: bytes, after: float, boot: float | None = None) -> tuple[float, float]:
    """``(start, end)`` of the first logrotate.service run at or after ``after`` in the routine (a working day's
    boot, or ``boot`` on its own date: the incident's): what logrotate renames and creates, it does then, with the
    machine up, never at midnight while it is off. The run syslog logs as ``Starting logrotate.service``."""
    d = datetime.fromtimestamp(after, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for _ in range(31):
        own = boot is not None and datetime.fromtimestamp(boot, tz=UTC).date() == d.date()
        if own or d.weekday() < 5:
            start = float(boot) if own and boot is not None else _day(seed, d).boot
            for t, done, unit, _ in _timers(seed, start, float("inf")):
                if unit == "logrotate.service" and t >= after:
                    return t, done
        d += timedelta(days=1)
    raise ValueError(f"no logrotate run within a month after {after}")


def _pids(r: Any, start: float, login: float, worker: int, session_end: int, anchor: tuple[int, int] | None,
          after: int, story: frozenset[int]) -> Callable[[float], int]:
    """Process ids as the kernel hands them out: rising with time since boot. Before the greeter's login they stay
    between the boot's own (below :data:`BOOT_CEILING`) and the login's worker; the login's worker is ``worker``
    and its session takes the pids up to ``session_end``, so what forks later gets larger ones. On the incident's
    boot the story's own pids are fixed points (``anchor``: the SSH login's sshd, its time and pid): lines before
    it get pids between the desktop's and its, lines after it larger ones than any story process; none is ever a
    story process's (``story``)."""
    rate = r.uniform(0.03, 0.08)
    early = max((worker - 4 - BOOT_CEILING) / max(login - start, 1.0), 0.0)
    low = session_end + 10
    if anchor is not None:
        at, sshd = anchor
        before = max((sshd - 30 - low) / max(at - login, 1.0), 0.001)

    def line(t: float) -> int:
        if t < login:
            return min(int(BOOT_CEILING + (t - start) * early), worker - 4)
        if anchor is None:
            return int(low + (t - login) * rate)
        return int(low + (t - login) * before) if t < at else int(after + 40 + (t - at) * rate)

    last = [0]

    def pid(t: float) -> int:
        if t == login:
            p = worker
        else:
            p = max(line(t) + r.randint(0, 3), last[0] + 1)
            while p in story:
                p += 1
        last[0] = p
        return p

    return pid
