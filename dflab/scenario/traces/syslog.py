"""/var/log/auth.log and /var/log/syslog as Debian 12's rsyslog writes them.

Debian 12 still installs rsyslog beside journald (priority ``important``), with the ``RSYSLOG_FileFormat``
default: an RFC 3339 timestamp with microseconds and the zone, the host name, ``tag[pid]:``, the message.
``auth,authpriv.*`` go to auth.log, everything else to syslog. Both begin at the weekly rotation (the first boot
after Sunday, when logrotate's timer catches up) and end at the acquisition. Each line is rendered from the
:class:`~.story.Plan`; the story's lines (the SSH login) and the routine's are made by the same code.
"""

from __future__ import annotations

from typing import Any

from dflab.scenario.draw import rng
from dflab.scenario.pids import GDM_UID, service_starts
from dflab.scenario.traces.story import DESKTOP_SESSION, Boot, Plan, iso_us

RSYSLOG = "8.2302.0"
# The e1000 at PCI 0000:00:03.0 of QEMU's i440FX machine (memory's kernel log and iomem) as systemd-udevd's
# predictable naming renames it: slot 3, ``ens3`` (enp1s0 would be a q35 machine's NIC behind a PCIe port).
NIC = "ens3"
Line = tuple[float, str, str]  # (time, tag with pid, message)


def gap(r: Any, lo: float = 0.0003, hi: float = 0.03) -> float:
    """The time between two lines one process writes in a burst: from a few hundred microseconds to tens of
    milliseconds, log-uniform (short gaps common, long ones rare), each drawn: no two bursts share their
    sub-millisecond digits, as a real scheduler's never do."""
    return lo * (hi / lo) ** r.random()


def _render(p: Plan, lines: list[Line]) -> bytes:
    keep = sorted((t, tag, msg) for t, tag, msg in lines if p.since <= t <= p.until)
    return "".join(f"{iso_us(t)} {p.hostname} {tag}: {msg}\n" for t, tag, msg in keep).encode()


def _booted(p: Plan) -> list[tuple[int, Boot]]:
    return [(k, b) for k, b in enumerate(p.boots) if b.start >= p.since]


def auth_log(p: Plan) -> bytes:
    """Logins (the greeter's, the story's SSH), cron's PAM sessions, logind's seats and sessions."""
    r = rng(p.seed, "traces", "auth.log")
    out: list[Line] = []
    user, uid = p.user.name, p.user.uid
    for k, boot in _booted(p):
        logind = f"systemd-logind[{boot.logind}]"
        t = boot.start + r.uniform(3.0, 4.5)
        button = t + gap(r)
        out += [(t, logind, "New seat seat0."),
                (button, logind, "Watching system buttons on /dev/input/event2 (Power Button)"),
                (button + gap(r, 0.0001, 0.003), logind, "Watching system buttons on /dev/input/event0 (AT "
                                                         "Translated Set 2 keyboard)")]
        greeter = t + r.uniform(2.0, 5.0)
        gdm = f"gdm-launch-environment][{boot.greeter}]"
        out += [(greeter, gdm, "pam_unix(gdm-launch-environment:session): session opened for user "
                               f"Debian-gdm(uid={GDM_UID}) by (uid=0)"),
                (greeter + gap(r, 0.002, 0.04), logind, "New session c1 of user Debian-gdm.")]
        # Once the user's session runs, GDM stops the greeter: memory then shows no Debian-gdm session.
        closed = boot.login + r.uniform(2.5, 6.0)
        out += [(closed, gdm, "pam_unix(gdm-launch-environment:session): session closed for user Debian-gdm"),
                (closed + gap(r), logind, "Session c1 logged out. Waiting for processes to exit."),
                (closed + r.uniform(0.3, 1.2), logind, "Removed session c1.")]
        for when, pid in boot.cron:
            out += [(when, f"CRON[{pid}]", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"),
                    (when + r.uniform(0.002, 0.02), f"CRON[{pid}]", "pam_unix(cron:session): session closed for user "
                                                                   "root")]
        if k < len(p.days):
            day = p.days[k]
            pid = boot.pid_at(day.login)
            if day.failed is not None:
                fpid = boot.pid_at(day.failed)
                out.append((day.failed, f"gdm-password][{fpid}]",
                            "pam_unix(gdm-password:auth): authentication failure; logname= uid=0 euid=0 tty=/dev/tty1 "
                            f"ruser= rhost=  user={user}"))
            out += _session_open(r, logind, f"gdm-password][{pid}]", "gdm-password", user, uid, 2, day.login)
            out += [(day.logout, f"gdm-password][{pid}]", f"pam_unix(gdm-password:session): session closed for user "
                                                          f"{user}"),
                    (day.logout + gap(r), logind, "Session 2 logged out. Waiting for processes to exit."),
                    (day.logout + r.uniform(0.2, 1.5), logind, "Removed session 2."),
                    (day.shutdown, logind, "System is powering down.")]
    today = p.today
    logind = f"systemd-logind[{today.logind}]"
    fpid = today.pid_at(p.failed_ssh)
    host = p.peer.client_ip
    out += [(p.failed_ssh + 2.1, f"sshd[{fpid}]", f"pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
                                                  f"tty=ssh ruser= rhost={host}  user={user}"),
            (p.failed_ssh + 3.9, f"sshd[{fpid}]", f"Failed password for {user} from {host} port {p.failed_port} ssh2"),
            (p.failed_ssh + r.uniform(6, 14), f"sshd[{fpid}]",
             f"Connection closed by authenticating user {user} {host} port {p.failed_port} [preauth]")]
    out += _session_open(r, logind, f"gdm-password][{today.pid_at(p.desktop)}]", "gdm-password", user, uid,
                         DESKTOP_SESSION, p.desktop)
    sshd = f"sshd[{p.sshd_pid}]"
    out.append((p.login, sshd, f"Accepted password for {user} from {host} port {p.peer.client_port} ssh2"))
    out += _session_open(r, logind, sshd, "sshd", user, uid, p.session, p.login + gap(r, 0.0005, 0.02))
    return _render(p, out)


def _session_open(r: Any, logind: str, tag: str, service: str, user: str, uid: int, session: int,
                  t: float) -> list[Line]:
    return [(t, tag, f"pam_unix({service}:session): session opened for user {user}(uid={uid}) by (uid=0)"),
            (t + gap(r, 0.002, 0.04), logind, f"New session {session} of user {user}.")]


def syslog(p: Plan) -> bytes:
    """The system's story: kernel and systemd at boot, NetworkManager's lease, cron's jobs, timers, sessions."""
    r = rng(p.seed, "traces", "syslog")
    out: list[Line] = []
    for k, boot in _booted(p):
        t = boot.start
        # Each boot's own pace: when its services start is decided once (pids.service_starts, memory's start times
        # too); each first line follows its daemon's start (as many draws as ever: later lines keep their times).
        up = service_starts(t, boot.rsyslog, boot.network_manager)
        journald = up["systemd-journal"] + r.uniform(0.05, 0.4)  # systemd's "Started" once journald is ready
        rsyslog = up["rsyslogd"] + r.uniform(0.03, 0.12)
        kernel = rsyslog + r.uniform(0.02, 0.09)  # imklog reads the ring buffer once rsyslog runs
        fpu = kernel + gap(r, 0.00002, 0.0004)  # imklog's lines of one read of the ring buffer
        nm = up["NetworkManager"] + r.uniform(0.03, 0.15)
        lease = nm + r.uniform(1.4, 2.6)
        nm_tag = f"NetworkManager[{boot.network_manager}]"
        start = f"[origin software=\"rsyslogd\" swVersion=\"{RSYSLOG}\" x-pid=\"{boot.rsyslog}\" " \
                "x-info=\"https://www.rsyslog.com\"] start"
        out += [(journald, "systemd[1]", "Started systemd-journald.service - Journal Service."),
                (rsyslog, "rsyslogd", f"imuxsock: Acquired UNIX socket '/run/systemd/journal/syslog' (fd 3) from "
                                      f"systemd.  [v{RSYSLOG}]"),
                (rsyslog + gap(r, 0.0001, 0.002), "rsyslogd", start),
                (kernel, "kernel", f"[    0.000000] {p.banner.strip()}"),
                (fpu, "kernel", "[    0.000000] x86/fpu: Supporting XSAVE feature 0x001: 'x87 floating "
                                "point registers'"),
                (fpu + gap(r, 0.00002, 0.0004), "kernel", "[    0.000000] BIOS-provided physical RAM map:"),
                (nm, nm_tag, f"<info>  [{nm:.4f}] NetworkManager (version 1.42.4) is starting... (boot:"
                             f"{rng(p.seed, 'boot-id', str(k)).getrandbits(128):032x})"),
                (lease, nm_tag, f"<info>  [{lease:.4f}] dhcp4 ({NIC}): state changed new lease, address={p.ip}"),
                (max(boot.runlevel - gap(r, 0.002, 0.06), lease + gap(r)), "systemd[1]",
                 "Reached target graphical.target - Graphical Interface.")]
        for when, pid in boot.cron:
            out.append((when + gap(r, 0.0002, 0.004), f"CRON[{pid + 1}]",
                        "(root) CMD (cd / && run-parts --report /etc/cron.hourly)"))
        for when in boot.dhcp:
            out.append((when, f"NetworkManager[{boot.network_manager}]",
                        f"<info>  [{when:.4f}] dhcp4 ({NIC}): state changed new lease, address={p.ip}"))
        for when, done, unit, what in boot.timers:
            out += [(when, "systemd[1]", f"Starting {unit} - {what}..."),
                    (done, "systemd[1]", f"{unit}: Deactivated successfully."),
                    (done + gap(r), "systemd[1]", f"Finished {unit} - {what}.")]
        if k < len(p.days):
            day = p.days[k]
            out += _user_session(r, p, day.login + gap(r, 0.01, 0.06), DESKTOP_SESSION)
            stopping = day.shutdown + r.uniform(0.1, 0.4)
            target = stopping + r.uniform(0.6, 1.6)
            out += [(stopping, "systemd[1]", f"Stopping session-{DESKTOP_SESSION}.scope - Session "
                                             f"{DESKTOP_SESSION} of User {p.user.name}..."),
                    (target, "systemd[1]", "Reached target shutdown.target - System Shutdown."),
                    (target + r.uniform(0.02, 0.2), "rsyslogd",
                     "[origin software=\"rsyslogd\" swVersion=\"" + RSYSLOG + "\" x-pid=\"" + str(boot.rsyslog)
                     + "\" x-info=\"https://www.rsyslog.com\"] exiting on signal 15.")]
    out += _user_session(r, p, p.desktop + gap(r, 0.01, 0.06), DESKTOP_SESSION)
    # the user's manager runs since the desktop: the SSH login adds its scope only
    out += _user_session(r, p, p.login + gap(r, 0.005, 0.04), p.session, first=False)
    return _render(p, out)


def _user_session(r: Any, p: Plan, t: float, session: int, first: bool = True) -> list[Line]:
    """systemd's lines for a login: the user's slice and manager when it is the user's first session, its scope."""
    uid, name = p.user.uid, p.user.name
    if not first:
        return [(t, "systemd[1]", f"Started session-{session}.scope - Session {session} of User {name}.")]
    runtime = t + gap(r, 0.001, 0.02)
    runtime_done = runtime + gap(r, 0.002, 0.03)
    manager = runtime_done + gap(r)
    started = manager + r.uniform(0.08, 0.35)  # the user's systemd --user comes up
    return [(t, "systemd[1]", f"Created slice user-{uid}.slice - User Slice of UID {uid}."),
            (runtime, "systemd[1]", f"Starting user-runtime-dir@{uid}.service - User Runtime Directory /run/user/"
                                    f"{uid}..."),
            (runtime_done, "systemd[1]", f"Finished user-runtime-dir@{uid}.service - User Runtime Directory "
                                         f"/run/user/{uid}."),
            (manager, "systemd[1]", f"Starting user@{uid}.service - User Manager for UID {uid}..."),
            (started, "systemd[1]", f"Started user@{uid}.service - User Manager for UID {uid}."),
            (started + gap(r, 0.001, 0.03), "systemd[1]", f"Started session-{session}.scope - Session {session} of "
                                                         f"User {name}.")]
