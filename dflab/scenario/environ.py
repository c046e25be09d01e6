"""The environment every process of the suspect host started with, as ``/proc/PID/environ`` (``linux.envars``) shows it.

An examiner reads a process's environment for who started it and how: the
login's ``SSH_CONNECTION`` ties a program to the address the session came
from, ``PWD`` and ``_`` say where and as what a shell started it,
``INVOCATION_ID`` and ``JOURNAL_STREAM`` mark a systemd service.  The values
follow who execs whom on a Debian 12 GNOME host:

* ``systemd`` (PID 1) has what the kernel gives init: ``HOME=/``, ``TERM=linux``;
* a service (a child of PID 1) has systemd's short service environment;
* a login shell under ``sshd`` has the environment sshd builds (it clears its
  own) plus PAM's (``pam_env``, ``pam_systemd``); under ``login`` (a console)
  it keeps getty's service environment (``login -p``) plus the same login
  variables;
* a program a shell runs gets the shell's exported variables, with the changes
  the shell made (``PWD``/``OLDPWD`` after its ``cd`` commands, ``SHLVL``,
  ``LESSOPEN``/``LESSCLOSE`` from ``~/.bashrc``, ``_`` the program's path);
* GDM's session (``gdm-wayland-session``, child of its ``gdm-session-worker``) has what GDM and PAM set for
  a Wayland login at the greeter: ``XDG_SESSION_TYPE=wayland``, ``DESKTOP_SESSION``/``GDMSESSION``/
  ``XDG_SESSION_DESKTOP`` ``gnome``, ``XDG_CURRENT_DESKTOP=GNOME``, the seat, VT and logind session (the
  greeter's: class ``greeter``, session ``c1`` on VT 1);
* a user's ``systemd --user`` has its unit's environment plus the account's; what it starts has the manager's
  environment, and once gnome-session has imported the graphical session's variables (``DISPLAY``,
  ``WAYLAND_DISPLAY``, ``XDG_*``, the keyring's ``SSH_AUTH_SOCK``), those too; an application the shell launches
  (Firefox) runs in a scope, not a unit, and carries GIO's ``GIO_LAUNCHED_DESKTOP_FILE`` instead;
* any other program inherits its parent's environment unchanged.

``PATH`` is Debian's: systemd's for services, openssh's and login.defs' for a login (``/usr/games``, no
``/snap/bin``), ``/etc/profile``'s for what a login shell runs.

A login shell's own ``/proc/PID/environ`` has no ``PWD``, ``SHLVL`` or ``_``:
bash sets those in its variables, after exec, and only its children's
environments show them.  A spec's explicit ``environ`` entries win over these
defaults and are inherited like them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from dflab.scenario.case import Process, User
from dflab.scenario.draw import rng

Env = tuple[tuple[str, str], ...]

LANG = "en_US.UTF-8"  # what Debian's installer writes to /etc/default/locale for an English install
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # systemd 252's default
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # sshd's and login.defs' for root
SSHD_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/games"  # Debian's openssh (--with-default-path) and GDM
LOGIN_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"  # login.defs ENV_PATH, /etc/profile's
SHELLS = frozenset({"bash", "sh", "dash", "zsh"})
# Debian 12 units of Type=notify (systemd passes NOTIFY_SOCKET), and those whose stdout is no journal stream
NOTIFY_SERVICES = frozenset({"systemd-journal", "systemd-udevd", "systemd-timesyn", "systemd-logind", "rsyslogd",
                             "sshd", "cupsd", "systemd"})
NO_JOURNAL_STREAM = frozenset({"systemd-journal", "agetty", "systemd"})  # journald; a getty's tty; user@.service
BASHRC = (("LESSOPEN", "| /usr/bin/lesspipe %s"), ("LESSCLOSE", "/usr/bin/lesspipe %s %s"))  # Debian's skel
GNOME_DATA_DIRS = "/usr/share/gnome:/usr/local/share/:/usr/share/"  # gnome-session's XDG_DATA_DIRS on Debian
DESKTOP_VT = "2"  # GDM's greeter holds VT 1, the first user's session VT 2 (wtmp's tty2)
DESKTOP_SESSION_ID = "2"  # logind's number of the first user session of a boot: the greeter's is c1
APP_SCOPES = frozenset({"firefox-esr"})  # what the user launches from the shell, not a systemd unit


@dataclass(frozen=True)
class SshPeer:
    """Both ends of the SSH connection a remote login came in on: what ``SSH_CLIENT``/``SSH_CONNECTION`` hold."""

    client_ip: str
    client_port: int
    server_ip: str
    server_port: int = 22


@dataclass(frozen=True)
class Login:
    """Facts of the host the login environments are built from."""

    users: Mapping[int, User]  # by uid
    ssh: SshPeer | None  # None: no remote login on this host
    session_id: int  # logind's session number of the suspect's login
    seed: bytes  # the variant's: each service's INVOCATION_ID and journal stream inode are drawn from it


def with_environments(procs: Sequence[Process], login: Login) -> tuple[Process, ...]:
    """``procs`` with every environment filled in; each process's ``environ`` so far holds the spec's entries."""
    by_pid = {p.pid: p for p in procs}
    done: dict[int, Env] = {}

    def env(p: Process) -> Env:
        if p.pid not in done:
            done[p.pid] = ()  # a parent loop in a hand-made table ends here instead of recursing forever
            parent = by_pid.get(p.ppid)
            inherited = env(parent) if parent is not None else ()
            done[p.pid] = _merge(_default(p, parent, inherited, by_pid, login), p.environ)
        return done[p.pid]

    return tuple(replace(p, environ=env(p)) for p in procs)


def _default(p: Process, parent: Process | None, inherited: Env, by_pid: Mapping[int, Process], login: Login) -> Env:
    if p.kernel_thread:
        return ()
    if p.pid == 1:
        return (("HOME", "/"), ("TERM", "linux"))
    if parent is not None and _is_login_shell(p, parent, by_pid):
        return _login_shell(p, inherited, _remote(parent, by_pid), login)
    if parent is not None and parent.comm == "gdm-session-wor":
        return _gdm_session(p, login)
    if parent is not None and parent.pid == 1 and p.uid != 0 and p.comm == "gnome-keyring-d":
        return _gdm_session(p, login)  # PAM started it in the worker's session, then it daemonized
    if parent is not None and _is_user_manager(parent) and p.comm != "(sd-pam)":  # (sd-pam): its own fork
        return _user_unit(p, parent, inherited, login)
    if parent is not None and parent.pid == 1:
        if _is_user_manager(p):
            return (*_service(p, login.seed), *_account(p, login))
        env = _service(p, login.seed)
        return (*env, ("TERM", "linux")) if p.comm == "login" else env  # agetty sets TERM before it execs login
    if parent is not None and parent.comm in SHELLS and not parent.kernel_thread:
        return _run_by_shell(p, parent, inherited)
    return inherited


def _is_user_manager(p: Process) -> bool:
    return p.comm == "systemd" and p.pid != 1 and "--user" in p.args


def _account(p: Process, login: Login) -> Env:
    """What a session's PAM stack and its account give every process of it (pam_systemd: the runtime dir)."""
    user = login.users.get(p.uid)
    name, home, shell = (user.name, user.home, user.shell) if user else _system_account(p.uid)
    return (("HOME", home), ("LOGNAME", name), ("USER", name), ("SHELL", shell),
            ("XDG_RUNTIME_DIR", f"/run/user/{p.uid}"), ("DBUS_SESSION_BUS_ADDRESS", f"unix:path=/run/user/{p.uid}/bus"))


def _system_account(uid: int) -> tuple[str, str, str]:
    from dflab.scenario.ostree.accounts import SYSTEM_USERS  # the installed tree's /etc/passwd

    return next(((n, home, sh) for n, u, _, _, home, sh in SYSTEM_USERS if u == uid), ("root", "/root", "/bin/bash"))


def _graphical(p: Process, greeter: bool) -> Env:
    """The variables GDM sets for a Wayland session at the seat (the greeter's or the user's)."""
    if greeter:
        return (("XDG_SESSION_TYPE", "wayland"), ("XDG_SESSION_CLASS", "greeter"),
                ("XDG_CURRENT_DESKTOP", "GNOME-Greeter:GNOME"), ("XDG_SEAT", "seat0"), ("XDG_VTNR", "1"),
                ("XDG_SESSION_ID", "c1"))
    return (("XDG_SESSION_TYPE", "wayland"), ("XDG_SESSION_CLASS", "user"), ("XDG_SESSION_DESKTOP", "gnome"),
            ("DESKTOP_SESSION", "gnome"), ("GDMSESSION", "gnome"), ("XDG_CURRENT_DESKTOP", "GNOME"),
            ("XDG_MENU_PREFIX", "gnome-"), ("XDG_DATA_DIRS", GNOME_DATA_DIRS), ("GDM_LANG", LANG),
            ("XDG_SEAT", "seat0"), ("XDG_VTNR", DESKTOP_VT), ("XDG_SESSION_ID", DESKTOP_SESSION_ID),
            ("WINDOWPATH", DESKTOP_VT))


def _gdm_session(p: Process, login: Login) -> Env:
    """What gdm-session-worker execs the session with: its PAM environment (GDM clears its own) and GDM's."""
    greeter = p.uid not in login.users
    return (("LANG", LANG), *_account(p, login), ("PATH", SSHD_PATH), *_graphical(p, greeter))


def _user_unit(p: Process, manager: Process, inherited: Env, login: Login) -> Env:
    """A process the user's ``systemd --user`` started: its manager's environment, the session's graphical
    variables once gnome-session imported them (after the manager's own start), a unit's ids or an app's GIO."""
    base = [(k, v) for k, v in inherited if k not in ("INVOCATION_ID", "NOTIFY_SOCKET", "SYSTEMD_EXEC_PID")]
    base.append(("MANAGERPID", str(manager.pid)))
    graphical = p.start_time > manager.start_time and p.comm not in ("pipewire", "wireplumber", "dbus-daemon")
    if graphical:
        greeter = p.uid not in login.users
        base = [(k, SSHD_PATH if k == "PATH" else v) for k, v in base]  # gnome-session uploads GDM's PATH
        base += [*_graphical(p, greeter), ("DISPLAY", ":0"), ("WAYLAND_DISPLAY", "wayland-0")]
        if not greeter:
            base.append(("SSH_AUTH_SOCK", f"/run/user/{p.uid}/keyring/ssh"))
    if p.comm in APP_SCOPES:
        return (*base, ("GIO_LAUNCHED_DESKTOP_FILE", f"/usr/share/applications/{p.comm}.desktop"),
                ("GIO_LAUNCHED_DESKTOP_FILE_PID", str(p.pid)))
    r = rng(login.seed, "service-environ", str(p.pid))
    return (*base, ("INVOCATION_ID", f"{r.getrandbits(128):032x}"),
            ("JOURNAL_STREAM", f"8:{r.randrange(10_000, 30_000)}"), ("SYSTEMD_EXEC_PID", str(p.pid)))


def _merge(default: Env, explicit: Env) -> Env:
    """``default`` with the spec's values in place of its own, the spec's other names after them."""
    given = dict(explicit)
    return (*((k, given.get(k, v)) for k, v in default), *((k, v) for k, v in explicit if k not in dict(default)))


def _ancestors(p: Process, by_pid: Mapping[int, Process]) -> list[Process]:
    out, seen = [], {p.pid}
    while p.ppid in by_pid and p.ppid not in seen:
        p = by_pid[p.ppid]
        seen.add(p.pid)
        out.append(p)
    return out


def _is_login_shell(p: Process, parent: Process, by_pid: Mapping[int, Process]) -> bool:
    """A shell exec'd as a login shell (``argv[0]`` starts with ``-``) by sshd or login."""
    return (p.comm in SHELLS and bool(p.args) and p.args[0].startswith("-")
            and any(a.comm in ("sshd", "login") for a in [parent, *_ancestors(parent, by_pid)]))


def _remote(parent: Process, by_pid: Mapping[int, Process]) -> bool:
    """Whether the nearest of sshd and login above the shell is sshd."""
    return next(a.comm for a in [parent, *_ancestors(parent, by_pid)] if a.comm in ("sshd", "login")) == "sshd"


def _tty(p: Process, remote: bool) -> str:
    stdin = next((f.path for f in p.open_files if f.fd == 0), "")
    return stdin if stdin.startswith("/dev/") else "/dev/pts/0" if remote else "/dev/tty1"


def _login_shell(p: Process, inherited: Env, remote: bool, login: Login) -> Env:
    """What sshd (which clears its own environment) or ``login -p`` (which keeps getty's) execs the shell with."""
    user = login.users.get(p.uid)
    name, home, shell = (user.name, user.home, user.shell) if user else ("root", "/root", "/bin/bash")
    tty = _tty(p, remote)
    path = ROOT_PATH if p.uid == 0 else SSHD_PATH if remote else LOGIN_PATH
    base: list[tuple[str, str]] = [("USER", name), ("LOGNAME", name), ("HOME", home), ("PATH", path),
                                   ("SHELL", shell), ("TERM", "xterm-256color" if remote else "linux"),
                                   ("MOTD_SHOWN", "pam"), ("MAIL", f"/var/mail/{name}"), ("LANG", LANG)]
    if remote and login.ssh is not None:
        s = login.ssh
        base += [("SSH_CLIENT", f"{s.client_ip} {s.client_port} {s.server_port}"),
                 ("SSH_CONNECTION", f"{s.client_ip} {s.client_port} {s.server_ip} {s.server_port}"),
                 ("SSH_TTY", tty)]
    elif not remote:
        base += [("XDG_SEAT", "seat0"), ("XDG_VTNR", tty.removeprefix("/dev/tty"))]
    base += [("XDG_SESSION_ID", str(login.session_id)), ("XDG_RUNTIME_DIR", f"/run/user/{p.uid}"),
             ("XDG_SESSION_TYPE", "tty"), ("XDG_SESSION_CLASS", "user"),
             ("DBUS_SESSION_BUS_ADDRESS", f"unix:path=/run/user/{p.uid}/bus")]
    if remote:
        return tuple(base)
    kept = tuple((k, v) for k, v in inherited if k not in dict(base))
    return (*kept, *base)


def _service(p: Process, seed: bytes) -> Env:
    """systemd's environment for a unit's main process: the manager's ``LANG``/``PATH`` and the unit's own."""
    r = rng(seed, "service-environ", str(p.pid))
    env = [("LANG", LANG), ("PATH", SERVICE_PATH), ("INVOCATION_ID", f"{r.getrandbits(128):032x}")]
    if p.comm not in NO_JOURNAL_STREAM:
        env.append(("JOURNAL_STREAM", f"8:{r.randrange(10_000, 30_000)}"))
    if p.comm in NOTIFY_SERVICES:
        env.append(("NOTIFY_SOCKET", "/run/systemd/notify"))
    env.append(("SYSTEMD_EXEC_PID", str(p.pid)))
    return tuple(env)


def _run_by_shell(p: Process, shell: Process, inherited: Env) -> Env:
    """The shell's exported variables when it ran ``p``: its directory then, one more ``SHLVL``, ``_`` the program."""
    env = dict(inherited)
    home = env.get("HOME", "/")
    cwd, oldpwd = _directory_at(shell, p.start_time, home)
    level = env.get("SHLVL", "0")
    changes = {"PWD": cwd, **dict(BASHRC), "SHLVL": str(int(level) + 1 if level.isdigit() else 1)}
    if shell.args and shell.args[0].startswith("-"):  # a login shell ran /etc/profile, which sets PATH
        changes["PATH"] = ROOT_PATH if shell.uid == 0 else LOGIN_PATH
    if oldpwd is not None:
        changes["OLDPWD"] = oldpwd
    changes.pop("_", None)
    out = [(k, changes.pop(k, v)) for k, v in inherited if k != "_"]
    program = p.args[0] if p.args and "/" in p.args[0] else p.exe_path or (p.args[0] if p.args else p.comm)
    return (*out, *changes.items(), ("_", program))


def _directory_at(shell: Process, when: int, home: str) -> tuple[str, str | None]:
    """The shell's working directory and ``OLDPWD`` at ``when``, replaying its ``cd`` commands from its history."""
    cwd, oldpwd = home, None
    for entry in shell.bash_history:
        if entry.time > when:
            continue
        words = entry.command.split()
        if not words or words[0] != "cd" or len(words) > 2:
            continue
        target = words[1] if len(words) == 2 else "~"
        if target == "-":
            if oldpwd is None:
                continue
            target = oldpwd
        elif target == "~" or target.startswith("~/"):
            target = home + target[1:]
        new = posixpath.normpath(posixpath.join(cwd, target))
        cwd, oldpwd = new, cwd
    return cwd, oldpwd
