"""The Linux case's one story between memory and the logs (#14): the desktop session, the daemons' pids, the
loaded modules and the logs' owners, each read back with the examiner's tools.

Nightjar's user logs in at GDM's greeter in the morning and is still logged in at the acquisition, so memory
(volatility3 ``linux.pslist``/``linux.envars``) must show their GNOME session and no greeter, with the logind
session and the worker's pid auth.log (TSK ``icat``) and wtmp (``utmpdump``) name; every daemon pid the logs name
is that daemon's in memory, on every seed; lsmod shows a Debian 12 guest's modules; auth.log is root:adm 0640 as
Debian's rsyslog makes it (``istat``). Each check returns the problems it finds and is shown finding a planted one.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dflab.evidence.build import build_variant
from dflab.scenario.case import Case
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.kernel import BOOKWORM_KERNELS
from dflab.scenario.load import load_spec
from dflab.scenario.ostree import accounts
from dflab.scenario.ostree.accounts import GID, SYSTEM_USERS
from dflab.scenario.ostree.sysmap import system_map
from dflab.scenario.pids import GDM_UID
from dflab.scenario.resolve import resolve
from tests.test_memory_writer import run_vol

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "labs" / "scenarios"
pytestmark = pytest.mark.xdist_group("story-session")

LINE = re.compile(r"^(\S+) (\S+) ([^:\[\]]+)(?:\]?\[(\d+)\])?\]?: (.*)$")


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300).stdout


def run_bytes(*cmd: str) -> bytes:
    return subprocess.run(cmd, check=True, capture_output=True, timeout=300).stdout


def lines(log: str) -> list[tuple[str, int | None, str]]:
    """(tag, pid, message) of every rsyslog line; ``gdm-password][123]`` is tag gdm-password, pid 123."""
    out = []
    for text in log.splitlines():
        m = LINE.match(text)
        assert m, f"not an rsyslog line: {text!r}"
        out.append((m.group(3), int(m.group(4)) if m.group(4) else None, m.group(5)))
    return out


def last_boot(rows: list[tuple[str, int | None, str]], marker: str) -> list[tuple[str, int | None, str]]:
    """The lines from the last boot on: from the last line holding ``marker``."""
    starts = [k for k, (_, _, msg) in enumerate(rows) if marker in msg]
    assert starts, f"no {marker!r} in the log"
    return rows[starts[-1]:]


# ---- the daemons the logs name are memory's, on every seed ---------------------------------------------------------

# The tag a log line carries -> the comm of the process that wrote it, for the daemons still running at the
# acquisition; lines of processes that have ended (a cron job, a failed SSH attempt, the greeter) name pids that
# no live process may hold.
RUNNING = {"systemd-logind": "systemd-logind", "NetworkManager": "NetworkManager", "gdm-password": "gdm-session-wor"}
ENDED = ("CRON", "gdm-launch-environment")


def daemon_problems(procs: list[tuple[int, str]], auth: str, syslog: str) -> list[str]:
    """Memory's (pid, comm) table against the incident boot's lines of auth.log and syslog."""
    problems = []
    pids = [pid for pid, _ in procs]
    dupes = sorted({p for p in pids if pids.count(p) > 1})
    if dupes:
        problems.append(f"pids held twice in memory: {dupes}")
    comm = dict(procs)
    named: list[tuple[str, int, str]] = []
    boot_auth = last_boot(lines(auth), "New seat seat0.")
    boot_syslog = last_boot(lines(syslog), "Started systemd-journald.service")
    for tag, pid, msg in boot_auth + boot_syslog:
        if pid is not None:
            named.append((tag, pid, msg))
        for x_pid in re.findall(r'swVersion="[^"]+" x-pid="(\d+)"', msg):
            named.append(("rsyslogd", int(x_pid), msg))
    closed = {pid for tag, pid, msg in named if tag == "gdm-password" and "session closed" in msg}
    for tag, pid, msg in named:
        want = "rsyslogd" if tag == "rsyslogd" else RUNNING.get(tag)
        if tag == "sshd" and msg.startswith("Accepted password"):
            want = "sshd"
        if want is not None and pid not in closed and comm.get(pid) != want:
            problems.append(f"{tag}[{pid}] in the logs, but memory's pid {pid} is {comm.get(pid)!r}: {msg}")
        if (tag in ENDED or msg.startswith(("Failed password", "Connection closed"))) and pid in comm:
            problems.append(f"{tag}[{pid}] ended, yet memory's pid {pid} is {comm[pid]!r}")
    for daemon in ("systemd-logind", "NetworkManager", "rsyslogd", "gdm-password"):
        if not any(tag == daemon for tag, _, _ in named):
            problems.append(f"the incident boot's logs never name {daemon}")
    return list(dict.fromkeys(problems))


def _log(case: Case, name: str) -> str:
    return next(f.content for f in case.disk.files if f.path == f"/var/log/{name}").decode()


@pytest.mark.parametrize("scenario", ["nightjar"])
def test_every_pid_is_unique_and_every_daemon_the_logs_name_runs_with_that_pid(scenario: str) -> None:
    spec = load_spec(SCENARIOS / f"{scenario}.yaml")
    for k in range(40):
        case = resolve(spec, bytes([k, 7]) * 16)
        procs = [(p.pid, p.comm) for p in case.memory.processes]
        assert daemon_problems(procs, _log(case, "auth.log"), _log(case, "syslog")) == [], k

    # Planted: a logind of the logs that memory runs under another pid (the old drawn-apart pids), a pid held
    # twice (the old silent drop, undone), a cron job's pid that a live process holds.
    auth, syslog = _log(case, "auth.log"), _log(case, "syslog")
    logind = next(p for p, c in procs if c == "systemd-logind")
    moved = [(p + 1 if c == "systemd-logind" else p, c) for p, c in procs]
    assert any("systemd-logind" in p for p in daemon_problems(moved, auth, syslog))
    assert any("held twice" in p for p in daemon_problems([*procs, (logind, "cupsd")], auth, syslog))
    cron = int(re.findall(r"CRON\[(\d+)\]", auth)[-1])
    assert any("ended" in p for p in daemon_problems([*procs, (cron, "bash")], auth, syslog))


def test_kestrel_without_logs_keeps_every_pid_unique() -> None:
    spec = load_spec(SCENARIOS / "kestrel.yaml")
    for k in range(12):
        pids = [p.pid for p in resolve(spec, bytes([k, 9]) * 16).memory.processes]
        assert len(pids) == len(set(pids)), k


# ---- one built variant, read with volatility3, TSK and utmpdump ---------------------------------------------------

@dataclass
class Built:
    out: Path
    cache: Path

    @property
    def ev(self) -> Path:
        return self.out / "evidence"

    @property
    def offset(self) -> str:
        key = json.loads((self.out / "key" / "answer_key.json").read_text())
        return str(key["facts"]["disk"]["volumes"]["root"]["start_sector"])

    def inode(self, path: str) -> str:
        for line in run("fls", "-r", "-p", "-o", self.offset, str(self.ev / "disk.img")).splitlines():
            kind_inode, _, name = line.partition("\t")
            if "/" + name == path:
                return kind_inode.split()[-1].rstrip(":")
        raise AssertionError(f"{path} is not on the root volume")

    def read(self, path: str) -> bytes:
        return run_bytes("icat", "-o", self.offset, str(self.ev / "disk.img"), self.inode(path))

    def vol(self, plugin: str) -> list[dict[str, Any]]:
        return run_vol(self.ev / "memory.lime", self.cache, plugin)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("session")
    result = build_variant(load_spec(SCENARIOS / "nightjar.yaml"), DEMO_SECRET, "session", root / "nightjar")
    return Built(result.out, root / "volcache")


def wtmp_rows(text: str) -> list[list[str]]:
    """utmpdump's fields: type, pid, id, user, line, host, address, time."""
    return [[f.strip() for f in re.findall(r"\[([^\]]*)\]", row)] for row in text.splitlines()]


def desktop_problems(pslist: list[dict[str, Any]], envars: list[dict[str, Any]], auth: str,
                     wtmp: list[list[str]]) -> list[str]:
    """The morning's desktop login as auth.log and wtmp tell it, against memory's processes and environments."""
    rows = last_boot(lines(auth), "New seat seat0.")
    opened = [(k, pid, msg) for k, (tag, pid, msg) in enumerate(rows)
              if tag == "gdm-password" and "session opened for user" in msg]
    if not opened:
        return ["auth.log opens no desktop session on the incident's boot"]
    k, worker, msg = opened[-1]
    user, uid = re.search(r"for user (\S+)\(uid=(\d+)\)", msg).groups()  # type: ignore[union-attr]
    session = next(re.search(r"New session (\S+) of user", m).group(1)  # type: ignore[union-attr]
                   for tag, _, m in rows[k:] if tag == "systemd-logind" and m.startswith("New session"))
    problems = []
    if any(tag == "gdm-password" and pid == worker and "session closed" in m for tag, pid, m in rows[k:]):
        return ["the desktop session is closed before the acquisition"]
    greeter_gone = any(m == "Removed session c1." for _, _, m in rows[k:])
    by_pid = {r["PID"]: r for r in pslist}
    env: dict[int, dict[str, str]] = {}
    for r in envars:
        env.setdefault(r["PID"], {})[r["KEY"]] = r["VALUE"]
    w = by_pid.get(worker)
    if w is None or w["COMM"] != "gdm-session-wor" or w["UID"] != 0:
        problems.append(f"auth.log's gdm-password[{worker}] is {w and w['COMM']!r} in memory, not gdm-session-worker")
    shells = [r for r in pslist if r["COMM"] == "gnome-shell"]
    mine = [r for r in shells if r["UID"] == int(uid)]
    if not mine:
        problems.append(f"no gnome-shell of {user} (uid {uid}) in memory: {[(r['PID'], r['UID']) for r in shells]}")
    for r in mine:
        e = env.get(r["PID"], {})
        if e.get("XDG_SESSION_ID") != session or e.get("XDG_SESSION_CLASS") != "user" or e.get("USER") != user:
            problems.append(f"gnome-shell ({r['PID']}) is in session {e.get('XDG_SESSION_ID')!r} of "
                            f"{e.get('USER')!r}, auth.log's is {session} of {user}")
    session_of = {pid: e.get("XDG_SESSION_ID") for pid, e in env.items() if by_pid.get(pid, {}).get("UID") == int(uid)}
    others = sorted({s for s in session_of.values() if s not in (None, session)} - {None})
    ssh = [m for tag, _, m in rows if tag == "systemd-logind" and m.startswith("New session")]
    named = {re.search(r"New session (\S+) ", m).group(1) for m in ssh}  # type: ignore[union-attr]
    if set(others) - named:
        problems.append(f"{user}'s processes are in logind sessions the logs never open: {sorted(set(others) - named)}")
    if greeter_gone:
        greeter = [r["PID"] for r in pslist if r["UID"] == GDM_UID]
        if greeter:
            problems.append(f"auth.log removes the greeter's session c1, yet Debian-gdm runs {greeter} in memory")
    desktop = [r for r in wtmp if r[0] == "7" and r[4] == "tty2"]
    if not desktop or int(desktop[-1][1]) != worker or desktop[-1][3] != user:
        problems.append(f"wtmp's last tty2 login is {desktop[-1][1:4] if desktop else None}, auth.log's is "
                        f"{worker} {user}")
    elif any(r[0] == "8" and r[4] == "tty2" for r in wtmp[wtmp.index(desktop[-1]):]):
        problems.append("wtmp logs the desktop out before the acquisition")
    return problems


def ssh_login_problems(pslist: list[dict[str, Any]], wtmp: list[list[str]]) -> list[str]:
    """wtmp's SSH login against memory: OpenSSH's monitor records it under its post-authentication child's pid
    (``sshd: USER@pts/0``, running as the user: mm_answer_pty's ``s->pid = pmonitor->m_pid``), the login shell's
    parent, not under its own ([priv], root)."""
    logins = [r for r in wtmp if r[0] == "7" and r[4] == "pts/0"]
    if not logins:
        return ["wtmp records no SSH login"]
    pid = int(logins[-1][1])
    by_pid = {r["PID"]: r for r in pslist}
    session = by_pid.get(pid)
    if session is None or session["COMM"] != "sshd" or session["UID"] == 0:
        return [f"wtmp's SSH login pid {pid} is {session and (session['COMM'], session['UID'])} in memory, not the "
                "user's sshd session process"]
    if not any(r["PPID"] == pid and r["COMM"] == "bash" for r in pslist):
        return [f"wtmp's SSH login pid {pid} has no login shell under it in memory"]
    return []


def test_memory_shows_the_users_desktop_session_the_logs_open_and_no_greeter(built: Built, tmp_path: Path) -> None:
    pslist = built.vol("linux.pslist.PsList")
    envars = built.vol("linux.envars.Envars")
    auth = built.read("/var/log/auth.log").decode()
    (tmp_path / "wtmp").write_bytes(built.read("/var/log/wtmp"))
    wtmp = wtmp_rows(run("utmpdump", str(tmp_path / "wtmp")))
    assert desktop_problems(pslist, envars, auth, wtmp) == []
    assert ssh_login_problems(pslist, wtmp) == []
    monitor = next(r["PID"] for r in pslist if r["COMM"] == "sshd" and r["UID"] == 0 and r["PPID"] != 1)
    as_before = [[*r[:1], str(monitor), *r[2:]] if r[4] == "pts/0" else r for r in wtmp]  # the [priv] process's pid
    assert any("not the user's sshd session" in p for p in ssh_login_problems(pslist, as_before))
    syslog = built.read("/var/log/syslog").decode()
    assert daemon_problems([(r["PID"], r["COMM"]) for r in pslist], auth, syslog) == []

    # Planted: the old memory, the greeter at the login screen (gnome-shell as Debian-gdm in session c1), and a
    # desktop in another logind session than auth.log's.
    shell = next(r for r in pslist if r["COMM"] == "gnome-shell")
    greeter = [{**r, "UID": GDM_UID} if r is shell else r for r in pslist]
    found = desktop_problems(greeter, envars, auth, wtmp)
    assert any("no gnome-shell" in p for p in found) and any("Debian-gdm runs" in p for p in found)
    other = [{**r, "VALUE": "c1"} if r["PID"] == shell["PID"] and r["KEY"] == "XDG_SESSION_ID" else r
             for r in envars]
    assert any("auth.log's is" in p for p in desktop_problems(pslist, other, auth, wtmp))
    moved = [[*r[:1], "4242", *r[2:]] if r[4] == "tty2" else r for r in wtmp]
    assert any("wtmp's last tty2" in p for p in desktop_problems(pslist, envars, auth, moved))


def test_the_greeter_of_auth_log_is_debian_gdm_of_the_installed_passwd() -> None:
    assert GDM_UID == next(uid for name, uid, *_ in SYSTEM_USERS if name == "Debian-gdm")


# What only Ubuntu's kernel loads on such a guest (its hid quirks for Apple keyboards, its default iocharset).
UBUNTU_MODULES = ("mac_hid", "nls_iso8859_1")
# What a Debian 12 guest of QEMU's i440FX machine loads: its disk and root file system (Debian builds both as
# modules), its NIC, the guest's firmware interface and display.
DEBIAN_GUEST = ("ata_piix", "libata", "scsi_mod", "sd_mod", "ext4", "jbd2", "mbcache", "e1000", "qemu_fw_cfg",
                "bochs", "drm")


def module_problems(names: list[str]) -> list[str]:
    problems = [f"{m} is loaded: Ubuntu's" for m in UBUNTU_MODULES if m in names]
    problems += [f"{m} is not loaded: a Debian 12 guest on QEMU's PC loads it" for m in DEBIAN_GUEST if m not in names]
    if len(set(names)) != len(names):
        problems.append("a module is listed twice")
    return problems


def test_lsmod_lists_a_debian_12_guests_modules(built: Built) -> None:
    names = [str(r["Module Name"]) for r in built.vol("linux.lsmod.Lsmod")]
    assert module_problems(names) == []
    assert any("Ubuntu's" in p for p in module_problems([*names, "mac_hid"]))
    assert any("ext4 is not loaded" in p for p in module_problems([n for n in names if n != "ext4"]))


def test_the_logs_are_owned_as_debian_makes_them(built: Built) -> None:
    """rsyslog's files are root:adm 0640 (Debian's rsyslog.conf: $FileGroup adm, $FileCreateMode 0640); the login
    records root:utmp."""
    want = {"/var/log/auth.log": (0, GID["adm"]), "/var/log/syslog": (0, GID["adm"]),
            "/var/log/wtmp": (0, GID["utmp"]), "/var/log/btmp": (0, GID["utmp"])}
    for path, (uid, gid) in want.items():
        stat = run("istat", "-o", built.offset, str(built.ev / "disk.img"), built.inode(path))
        owner = re.search(r"uid / gid: (\d+) / (\d+)", stat).groups()  # type: ignore[union-attr]
        assert (int(owner[0]), int(owner[1])) == (uid, gid), path
    stat = run("istat", "-o", built.offset, str(built.ev / "disk.img"), built.inode("/var/log/auth.log"))
    assert "mode: rrw-r-----" in stat


def test_the_pid_slots_hold_no_fixed_pid_and_no_other_slot() -> None:
    """Collisions are impossible by construction: each drawn pid's slot is disjoint from the fixed services' pids
    and from every other slot, and the greeter's session fits below the boot's ceiling."""
    from dflab.scenario import pids, system

    defaults = {pids.RSYSLOG_PID, pids.LOGIND_PID, pids.NETWORK_MANAGER_PID}
    fixed = {p.pid for p in system.system_processes(0, set())
             if 100 < p.pid < min(pids.GREETER_PIDS) and p.ppid in (1, 528)} - defaults
    assert fixed == pids.FIXED_PIDS
    slots = [set(pids.RSYSLOG_PIDS), set(pids.LOGIND_PIDS), set(pids.NETWORK_MANAGER_PIDS), set(pids.GREETER_PIDS),
             set(pids.DESKTOP_PIDS)]
    for k, slot in enumerate(slots):
        assert not slot & pids.FIXED_PIDS, k
        assert all(not slot & other for other in slots[k + 1:]), k
    last = max(pids.GREETER_PIDS)
    greeter = {p.pid for p in system.system_processes(0, set(), greeter=last)} - {p.pid for p in
                                                                                 system.system_processes(0, set())}
    assert max(greeter) < last + pids.GREETER_SPAN <= pids.BOOT_CEILING < min(pids.DESKTOP_PIDS)


# ---- the kernel's System.map is memory's symbols; a root without an installed system has Debian's passwd ----------

IMAGE = (0xFFFFFFFF81000000, 0xFFFFFFFF81800000)  # the kernel image's link addresses (no KASLR shift)


def sysmap_problems(text: str, isf: dict[str, Any], kallsyms: list[dict[str, Any]]) -> list[str]:
    """``System.map`` against the ISF's symbols in the kernel image and volatility's kallsyms of the same kernel:
    every symbol at one address in all three, with kallsyms' type letter."""
    problems = []
    mapped = {}
    for line in text.splitlines():
        address, kind, name = line.split(" ")
        mapped[name] = (int(address, 16), kind)
    image = {n: int(e["address"]) for n, e in isf["symbols"].items() if IMAGE[0] <= int(e["address"]) < IMAGE[1]}
    for name, address in sorted(image.items()):
        if mapped.get(name, (None,))[0] != address:
            problems.append(f"{name}: the ISF has {address:#x}, System.map {mapped.get(name)}")
    problems += [f"{name} is in System.map, not in the ISF" for name in sorted(set(mapped) - set(image))]
    core = [r for r in kallsyms if r["ModuleName"] == "kernel"]
    unlisted = {n for n in mapped if not n.startswith("kallsyms_")} - {r["SymbolName"] for r in core}
    if unlisted:  # kallsyms lists every image symbol but its own tables, as scripts/kallsyms leaves them out
        problems.append(f"System.map has symbols volatility's kallsyms does not: {sorted(unlisted)[:5]}")
    for r in core:
        address = int(r["Addr"]) | 0xFFFF000000000000  # volatility prints kernel addresses without sign extension
        if mapped.get(r["SymbolName"]) != (address, r["Type"]):
            problems.append(f"kallsyms has {r['SymbolName']} {r['Type']} at {address:#x}, System.map "
                            f"{mapped.get(r['SymbolName'])}")
    return problems


def test_system_map_holds_the_symbols_of_the_isf_and_kallsyms_memory_ships(built: Built) -> None:
    key = json.loads((built.out / "key" / "answer_key.json").read_text())
    kernel = next(k for k in BOOKWORM_KERNELS if k.release == key["facts"]["memory"]["kernel_release"])
    (isf_path,) = (built.ev / "symbols" / "linux").glob("*.json")
    isf = json.loads(isf_path.read_text())
    kallsyms = built.vol("linux.kallsyms.Kallsyms")
    text = system_map(kernel).decode()
    assert sysmap_problems(text, isf, kallsyms) == []
    moved = text.replace(" D init_task\n", " D init_tasks\n")
    assert any("init_task" in p for p in sysmap_problems(moved, isf, kallsyms))
    first = text.splitlines()[0]
    shifted = text.replace(first, f"{int(first[:16], 16) + 0x200000:016x}{first[16:]}", 1)  # a KASLR-shifted map
    assert any("the ISF has" in p for p in sysmap_problems(shifted, isf, kallsyms))
    assert any("does not" in p for p in sysmap_problems(text, isf, [r for r in kallsyms if r["SymbolName"] != "_end"]))


def test_the_passwd_of_a_root_without_an_installed_system_is_debian_12s(built: Built) -> None:
    spec = load_spec(SCENARIOS / "nightjar.yaml")
    case = resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, "session"), "session")
    passwd = built.read("/etc/passwd").decode()
    assert passwd == accounts.passwd(case.users).decode()
    assert "syslog:x:" not in passwd and passwd.startswith("root:x:0:0:root:/root:/bin/bash\n")
