"""One story across memory, capture, logs and the installed system (#14 item 2): what an examiner compares, read
back with the tools they use.

Nightjar's workstation is a Debian 12 desktop. Its memory's kernel (volatility3 ``banners.Banners``, the ISF it
loads), the disk's ``/boot``, ``/usr/lib/modules``, syslog's kernel line and wtmp's boot records (TSK ``fls`` and
``icat``, ``file``, ``utmpdump``) must name one bookworm kernel; the capture's User-Agents (tshark) must be those of
the wget and firefox-esr dpkg's status lists; the desktop's background must be Debian's (the Debian pool's NTP,
Firefox's captive-portal check, no Ubuntu service); Firefox's history (the ``sqlite3`` CLI) must hold the pages the
capture shows Firefox fetching and not the payload wget fetched. Each check is a function returning the problems it
finds, and each is shown finding a planted contradiction.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import struct
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dflab.evidence.build import build_variant
from dflab.evidence.network.sites import PROVIDERS
from dflab.scenario.draw import DEMO_SECRET
from dflab.scenario.load import load_spec
from dflab.scenario.ostree.tree import shared
from tests.haystack import haystack_spec
from tests.test_memory_writer import run_vol
from tests.test_network_writer import fields

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xdist_group("story-consistency")

# A bookworm kernel's banner as its build's include/generated/compile.h spells it (linux-headers-6.1.0-50-amd64).
DEBIAN_BANNER = re.compile(
    r"Linux version (6\.1\.0-\d+-amd64) \(debian-kernel@lists\.debian\.org\) \(gcc-12 \(Debian 12\.2\.0-14"
    r"(?:\+deb12u1)?\) 12\.2\.0, GNU ld \(GNU Binutils for Debian\) 2\.40\) #1 SMP PREEMPT_DYNAMIC Debian "
    r"(6\.1\.\d+-\d+) \((\d{4}-\d\d-\d\d)\)$")
# What only an Ubuntu desktop calls: its connectivity check, its NTP server, snapd, motd-news.
UBUNTU_SERVICES = ("connectivity-check.ubuntu.com", "ntp.ubuntu.com", "api.snapcraft.io", "motd.ubuntu.com")


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300).stdout


def run_bytes(*cmd: str) -> bytes:
    return subprocess.run(cmd, check=True, capture_output=True, timeout=300).stdout


@dataclass
class Built:
    """One built variant with an installed Debian 12 on its root, and its tools' views."""

    out: Path
    cache: Path
    _paths: dict[str, str] = field(default_factory=dict)

    @property
    def ev(self) -> Path:
        return self.out / "evidence"

    @property
    def key(self) -> dict[str, Any]:
        return json.loads((self.out / "key" / "answer_key.json").read_text())

    @property
    def offset(self) -> str:
        return str(self.key["facts"]["disk"]["volumes"]["root"]["start_sector"])

    def _listing(self) -> dict[str, str]:
        """Path -> inode of every name on the root volume, as ``fls -r -p`` lists them (read once)."""
        if not self._paths:
            for line in run("fls", "-r", "-p", "-o", self.offset, str(self.ev / "disk.img")).splitlines():
                kind_inode, _, name = line.partition("\t")
                self._paths["/" + name] = kind_inode.split()[-1].rstrip(":")
        return self._paths

    def inode(self, path: str) -> str:
        return self._listing()[path]

    def paths(self) -> list[str]:
        return list(self._listing())

    def read(self, path: str) -> bytes:
        """``icat`` of ``path`` on the root volume."""
        return run_bytes("icat", "-o", self.offset, str(self.ev / "disk.img"), self.inode(path))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("story")
    result = build_variant(haystack_spec("nightjar"), DEMO_SECRET, "story", root / "nightjar")
    return Built(result.out, root / "volcache")


# ---- the kernel: memory, ISF, logs and the installed tree name one bookworm build -----------------------------------

def banner_problems(image_banners: list[str], isf_banner: str) -> list[str]:
    """The banners volatility finds in the image: one, a bookworm build's, the ISF's own."""
    found = sorted({b.strip() for b in image_banners})
    if len(found) != 1:
        return [f"the image holds {len(found)} different banners: {found}"]
    problems = [] if DEBIAN_BANNER.match(found[0]) else [f"not a Debian 12 kernel's banner: {found[0]}"]
    if isf_banner.strip() != found[0]:
        problems.append(f"the ISF is for another kernel: {isf_banner.strip()}")
    return problems


def release_problems(release: str, syslog: str, wtmp_hosts: list[str], tree: list[str], vmlinuz: str) -> list[str]:
    """syslog's kernel line, wtmp's boot records, /boot and /usr/lib/modules: the release memory's banner names."""
    problems = []
    kernel_lines = [line for line in syslog.splitlines() if " kernel: [    0.000000] Linux version " in line]
    if not kernel_lines or any(f"Linux version {release} " not in line for line in kernel_lines):
        problems.append(f"syslog's boots name another kernel than {release}")
    if not wtmp_hosts or set(wtmp_hosts) != {release}:
        problems.append(f"wtmp's boot records name {sorted(set(wtmp_hosts))}, not {release}")
    for path in (f"/boot/vmlinuz-{release}", f"/boot/config-{release}", f"/usr/lib/modules/{release}/modules.dep"):
        if path not in tree:
            problems.append(f"{path} is not on the disk")
    others = {p.split("/")[-1] for p in tree if re.fullmatch(r"/usr/lib/modules/[^/]+", p)} - {release}
    if others:
        problems.append(f"modules of other kernels on the disk: {sorted(others)}")
    if f"bzImage, version {release} (debian-kernel@lists.debian.org)" not in vmlinuz:
        problems.append(f"file(1) reads /boot/vmlinuz-{release} as {vmlinuz}")
    return problems


def bzimage_problems(image: bytes) -> list[str]:
    """/boot/vmlinuz as large as bookworm's 6.1 amd64 images (some 7.7-8.0 MB), its setup header's syssize (the
    protected-mode part, in 16-byte paragraphs, after setup_sects + 1 sectors) covering the rest of the file."""
    problems = []
    if not 7_000_000 <= len(image) <= 9_000_000:
        problems.append(f"vmlinuz is {len(image)} bytes: bookworm's are some 7.7-8.0 MB")
    setup = (image[0x1F1] or 4) + 1
    syssize = struct.unpack_from("<I", image, 0x1F4)[0] * 16
    if not 0 <= syssize - (len(image) - 512 * setup) < 16:
        problems.append(f"syssize says {syssize} bytes after the setup, the file holds {len(image) - 512 * setup}")
    return problems


def module_dep_problems(lsmod: list[str], dep: str) -> list[str]:
    """Every module lsmod lists is one modules.dep indexes (``kernel/<path>/<name>.ko``, dashes for some)."""
    indexed = {line.split(":")[0].rsplit("/", 1)[-1].removesuffix(".ko").replace("-", "_") for line in
               dep.splitlines()}
    return [f"{m} is loaded but not in modules.dep" for m in lsmod if m not in indexed]


def kernel_package_problems(release: str, status: str, md5sums: str, read: Any) -> list[str]:
    """dpkg's status holds ``linux-image-<release>`` installed, and its md5sums match the files it lists."""
    import hashlib

    problems = []
    stanza = next((st for st in status.split("\n\n") if st.startswith(f"Package: linux-image-{release}\n")), "")
    if "Status: install ok installed" not in stanza:
        problems.append(f"no installed linux-image-{release} in dpkg's status")
    if "Package: linux-image-amd64\n" not in status:
        problems.append("no linux-image-amd64 meta-package in dpkg's status")
    listed = [line.split("  ", 1) for line in md5sums.splitlines()]
    if not any(path == f"boot/vmlinuz-{release}" for _, path in listed):
        problems.append(f"md5sums do not list boot/vmlinuz-{release}")
    for digest, path in listed:
        if hashlib.md5(read("/" + path)).hexdigest() != digest:  # noqa: S324 - dpkg's digest
            problems.append(f"/{path} does not match its md5sums line")
    return problems


def _isf_banner(ev: Path) -> str:
    (isf,) = (ev / "symbols" / "linux").glob("*.json")
    data = base64.b64decode(json.loads(isf.read_text())["symbols"]["linux_banner"]["constant_data"])
    return data.decode().rstrip("\0")  # the C string's terminator, as the kernel image holds it


def _wtmp_boot_hosts(data: bytes, tmp: Path) -> list[str]:
    (tmp / "wtmp").write_bytes(data)
    rows = run("utmpdump", str(tmp / "wtmp")).splitlines()
    # [2] [00000] [~~  ] [reboot  ] [~           ] [6.1.0-39-amd64      ] [0.0.0.0        ] [2026-...]
    return [re.findall(r"\[([^\]]*)\]", row)[5].strip() for row in rows if row.startswith("[2]")]


def test_memory_logs_and_disk_name_one_bookworm_kernel(built: Built, tmp_path: Path) -> None:
    banners = [str(r["Banner"]) for r in run_vol(built.ev / "memory.lime", built.cache, "banners.Banners")]
    isf = _isf_banner(built.ev)
    assert banner_problems(banners, isf) == []
    assert run_vol(built.ev / "memory.lime", built.cache, "linux.pslist"), "volatility did not load the ISF"
    release = DEBIAN_BANNER.match(banners[0].strip()).group(1)  # type: ignore[union-attr]
    assert built.key["facts"]["memory"]["kernel_release"] == release
    (tmp_path / "vmlinuz").write_bytes(built.read(f"/boot/vmlinuz-{release}"))
    vmlinuz = run("file", "-b", str(tmp_path / "vmlinuz"))
    image = (tmp_path / "vmlinuz").read_bytes()
    assert bzimage_problems(image) == []
    assert bzimage_problems(image[:540672]) != []  # e0d1723's image: 540 KB
    syslog = built.read("/var/log/syslog").decode()
    hosts = _wtmp_boot_hosts(built.read("/var/log/wtmp"), tmp_path)
    assert release_problems(release, syslog, hosts, built.paths(), vmlinuz) == []
    # The modules memory's lsmod lists are the ones this kernel's modules.dep indexes, at Debian's paths.
    dep = built.read(f"/usr/lib/modules/{release}/modules.dep").decode()
    assert "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko\n" in dep
    lsmod = [str(r["Module Name"]) for r in run_vol(built.ev / "memory.lime", built.cache, "linux.lsmod.Lsmod")]
    assert module_dep_problems(lsmod, dep) == []
    assert any("mac_hid" in p for p in module_dep_problems([*lsmod, "mac_hid"], dep))
    # The installed kernel is dpkg's: its image package's status and md5sums, which match the files on the disk.
    status = built.read("/var/lib/dpkg/status").decode()
    sums = built.read(f"/var/lib/dpkg/info/linux-image-{release}.md5sums").decode()
    assert kernel_package_problems(release, status, sums, built.read) == []
    planted = status.replace(f"Package: linux-image-{release}\n", "Package: linux-image-6.1.0-9-amd64\n")
    assert any("no installed" in p for p in kernel_package_problems(release, planted, sums, built.read))
    tampered = sums.replace(sums[:32], "0" * 32, 1)
    assert any("md5sums" in p for p in kernel_package_problems(release, status, tampered, built.read))
    assert "CONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14" in built.read(f"/boot/config-{release}").decode()

    # Planted: Ubuntu's banner, another kernel's ISF, a syslog and a tree of another release.
    ubuntu = ("Linux version 5.15.0-91-generic (buildd@lcy02-amd64-059) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, "
              "GNU ld (GNU Binutils for Ubuntu) 2.38) #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023")
    assert any("not a Debian 12" in p for p in banner_problems([ubuntu], ubuntu))
    assert any("the ISF" in p for p in banner_problems(banners, isf.replace(release, "6.1.0-9-amd64")))
    other = "6.1.0-9-amd64"
    assert any("syslog" in p for p in release_problems(release, syslog.replace(release, other), hosts,
                                                       built.paths(), vmlinuz))
    moved = [p.replace(release, other) for p in built.paths()]
    assert any("not on the disk" in p for p in release_problems(release, syslog, hosts, moved, vmlinuz))
    assert any("wtmp" in p for p in release_problems(release, syslog, [other], built.paths(), vmlinuz))


# ---- the capture's clients are the installed packages ---------------------------------------------------------------

def dpkg_versions(status: str) -> dict[str, str]:
    """Package -> Version of every installed stanza of dpkg's status file."""
    out = {}
    for stanza in status.split("\n\n"):
        fields_ = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and line[0] != " ")
        if "Package" in fields_ and "install ok installed" in fields_.get("Status", ""):
            out[fields_["Package"]] = fields_["Version"]
    return out


def user_agent_problems(agents: list[str], installed: dict[str, str]) -> list[str]:
    """Every User-Agent the workstation sends is the installed wget's or firefox-esr's, at their versions."""
    wget = installed["wget"].split(":")[-1].split("-")[0]  # 1.21.3-1+deb12u1 -> 1.21.3
    firefox = installed["firefox-esr"].split(".")[0]  # 128.14.0esr-1~deb12u1 -> 128
    want_firefox = f"Mozilla/5.0 (X11; Linux x86_64; rv:{firefox}.0) Gecko/20100101 Firefox/{firefox}.0"
    problems = []
    for agent in sorted(set(agents)):
        if agent.startswith("Wget/") and agent != f"Wget/{wget}":
            problems.append(f"{agent}: the installed wget is {installed['wget']}")
        elif agent.startswith("Mozilla/") and agent != want_firefox:
            problems.append(f"{agent}: the installed firefox-esr is {installed['firefox-esr']}")
        elif not agent.startswith(("Wget/", "Mozilla/")):
            problems.append(f"{agent}: no installed program sends it")
    return problems


def background_problems(names: list[str], ntp_servers: list[str], portal: list[list[str]]) -> list[str]:
    """The desktop's own calls are a Debian 12 GNOME desktop's: no Ubuntu service, the Debian pool's NTP,
    Firefox's captive-portal check."""
    problems = [f"the workstation looks up {n}, an Ubuntu desktop's service" for n in sorted(set(names))
                if n.rstrip(".") in UBUNTU_SERVICES]
    pool = [ipaddress.ip_network(p) for p in PROVIDERS["ntppool"].ipv4]
    canonical = [ipaddress.ip_network(p) for p in PROVIDERS["canonical"].ipv4]
    for ip in sorted(set(ntp_servers)):
        address = ipaddress.ip_address(ip)
        if any(address in net for net in canonical) or not any(address in net for net in pool):
            problems.append(f"NTP to {ip}: not an NTP pool volunteer")
    if not ntp_servers:
        problems.append("no NTP in the capture")
    if not portal or any(host != "detectportal.firefox.com" or uri != "/canonical.html" for host, uri, _ in portal):
        problems.append(f"the plain-HTTP checks are not Firefox's captive-portal check: {portal[:2]}")
    return problems


def test_the_capture_s_clients_are_the_installed_wget_and_firefox_esr(built: Built) -> None:
    installed = dpkg_versions(built.read("/var/lib/dpkg/status").decode())
    ip = built.key["namespace"]["hosts.suspect.ip"]
    pcap = built.ev / "network.pcap"
    agents = [row[0] for row in fields(pcap, f"http.request && ip.src == {ip}", "http.user_agent")]
    assert {a.split("/")[0] for a in agents} == {"Wget", "Mozilla"}
    assert user_agent_problems(agents, installed) == []
    names = [row[0] for row in fields(pcap, f"dns.flags.response == 0 && ip.src == {ip}", "dns.qry.name")]
    ntp = [row[0] for row in fields(pcap, f"ntp && ip.src == {ip}", "ip.dst")]
    portal = fields(pcap, f"http.request && ip.src == {ip} && http.host == \"detectportal.firefox.com\"",
                    "http.host", "http.request.uri", "http.user_agent")
    assert background_problems(names, ntp, portal) == []
    # Firefox's captive-portal service backs off 60 s, 300 s, then 1500 s (its maximum) between checks.
    times = [float(t) for (t,) in fields(pcap, f"http.request && ip.src == {ip} && http.host == "
                                               "\"detectportal.firefox.com\"", "frame.time_epoch")]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(any(abs(g - s) < 1 for s in (300, 1500)) for g in gaps), gaps

    # Planted: Ubuntu 22.04's wget and a Firefox the disk does not hold; Ubuntu's services; Canonical's NTP.
    assert any("wget" in p for p in user_agent_problems([*agents, "Wget/1.21.2"], installed))
    assert any("firefox-esr" in p for p in user_agent_problems(
        ["Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"], installed))
    assert any("Ubuntu" in p for p in background_problems([*names, "connectivity-check.ubuntu.com"], ntp, portal))
    assert any("NTP pool" in p for p in background_problems(names, ["185.125.190.56"], portal))
    assert any("captive-portal" in p for p in background_problems(names, ntp, []))


# ---- Firefox's history and the capture tell one browsing story ------------------------------------------------------

def history_problems(visits: list[tuple[str, float]], firefox: list[tuple[str, float]],
                     others: list[tuple[str, float]], life: tuple[float, float]) -> list[str]:
    """Each page the capture shows Firefox loading in the profile's life is a visit at that moment (±2 s); no page
    another client fetched (wget's payload) is."""
    problems = []
    for url, t in firefox:
        if life[0] <= t <= life[1] and not any(u == url and abs(v - t) <= 2 for u, v in visits):
            problems.append(f"Firefox loaded {url} at {t:.0f} (capture), places.sqlite has no such visit")
    fetched = {url for url, _ in others}
    problems += [f"places.sqlite visits {url}, which wget fetched" for url, _ in visits if url in fetched]
    return problems


def test_firefox_history_holds_what_the_capture_shows_firefox_fetch_and_not_wget_s_payload(built: Built,
                                                                                           tmp_path: Path) -> None:
    user = built.key["namespace"]["users.suspect.name"]
    folder = f"/home/{user}/.mozilla/firefox"
    (places_path,) = [p for p in built.paths() if p.startswith(folder) and p.endswith("/places.sqlite")]
    (tmp_path / "places.sqlite").write_bytes(built.read(places_path))
    rows = run("sqlite3", "-separator", "\t", str(tmp_path / "places.sqlite"),
               "SELECT p.url, v.visit_date FROM moz_historyvisits v JOIN moz_places p ON p.id = v.place_id")
    visits = [(url, int(t) / 1e6) for url, t in (line.split("\t") for line in rows.splitlines())]
    ip = built.key["namespace"]["hosts.suspect.ip"]
    requests = fields(built.ev / "network.pcap", f"http.request && ip.src == {ip}", "http.host", "http.request.uri",
                      "http.user_agent", "frame.time_epoch")
    firefox = [(f"http://{h}{u}", float(t)) for h, u, a, t in requests
               if "Firefox/" in a and h != "detectportal.firefox.com"]  # the portal check is no page visit
    others = [(f"http://{h}{u}", float(t)) for h, u, a, t in requests if "Firefox/" not in a]
    istat = run("istat", "-o", built.offset, str(built.ev / "disk.img"), built.inode(places_path))
    life = tuple(_istat_time(istat, label) for label in ("File Created", "File Modified"))
    assert firefox and others, "the capture lost the intranet visit or the wget download"
    assert any(life[0] <= t <= life[1] for _, t in firefox), "the intranet visit falls outside the profile's life"
    assert history_problems(visits, firefox, others, life) == []  # type: ignore[arg-type]

    # Planted: history without today's intranet visit; history with the payload's URL.
    today = [v for v in visits if not any(v[0] == u for u, _ in firefox)]
    assert any("no such visit" in p for p in history_problems(today, firefox, others, life))  # type: ignore[arg-type]
    assert any("wget" in p for p in history_problems([*visits, others[0]], firefox, others, life))  # type: ignore


def _istat_time(istat: str, label: str) -> float:
    """``istat``'s ``label`` time (``2026-03-03 18:57:06.123456789 (UTC)``) in epoch seconds."""
    day, clock = re.search(rf"^{label}:\s+(\S+) (\S+)", istat, re.M).groups()  # type: ignore[union-attr]
    whole, _, fraction = clock.partition(".")
    return datetime.fromisoformat(f"{day}T{whole}+00:00").timestamp() + float(f"0.{fraction or 0}")


# ---- Kestrel: the PHP its operator runs is Debian 12's -------------------------------------------------------------

def test_kestrel_runs_the_php_debian_12_ships() -> None:
    from dflab.scenario.resolve import resolve

    spec = load_spec(ROOT / "labs" / "scenarios" / "kestrel.yaml")
    assert set(spec.variables["php"]["choice"]) <= {"php8.2", "php"}  # php8.1, 8.3 and 7.4 are not bookworm's
    for seed in (bytes(32), bytes(range(32)), b"\xff" * 32):
        case = resolve(spec, seed)
        implant = next(p for p in case.memory.processes if p.pid == case.facts["process_ids"]["implant"])
        assert implant.comm in {"php8.2", "php"} and implant.exe_path == "/usr/bin/php8.2"
        assert DEBIAN_BANNER.match(case.memory.banner.strip()), case.memory.banner
    # Its own HTTP clients are bookworm's wget and firefox-esr, as the installed tree's dpkg status lists them.
    status = dpkg_versions(shared("debian-12", "desktop").status.decode())
    agents = [f.user_agent for f in spec.network.flows if f.kind == "http" and f.client == spec.suspect]
    assert len(agents) == 2 and user_agent_problems(agents, status) == []


def test_a_kernel_the_debian_system_cannot_run_is_one_line_at_the_spec() -> None:
    from dflab.errors import SpecError
    from dflab.scenario.load import parse_spec
    from dflab.scenario.resolve import resolve

    text = (ROOT / "labs" / "scenarios" / "nightjar.yaml").read_text()
    line = next(x for x in text.splitlines() if x.startswith("  kernel: "))
    ubuntu = parse_spec(text.replace(line, "  kernel: 5.15.0-105-generic"), "nightjar.yaml")
    with pytest.raises(SpecError, match=r"^memory\.kernel: kernel '5\.15\.0-105-generic' .* write debian-12$"):
        resolve(ubuntu, bytes(32))
    releases = {resolve(load_spec(ROOT / "labs" / "scenarios" / "nightjar.yaml"), bytes([k]) * 32).memory.kernel_release
                for k in range(12)}
    assert len(releases) > 1, "every trainee runs the same kernel: lab 03's kernel_release is a neighbour's too"


# ---- memory's processes are a Debian 12 GNOME desktop's -------------------------------------------------------------

# What only an Ubuntu host runs: systemd-resolved (a Debian desktop resolves through NetworkManager's resolv.conf),
# snapd, networkd-dispatcher, multipathd (Ubuntu server's default).
UBUNTU_PROCESSES = ("systemd-resolve", "snapd", "networkd-dispat", "multipathd")
DESKTOP_PROCESSES = ("gdm3", "gdm-session-wor", "gnome-shell", "NetworkManager", "avahi-daemon", "cupsd",
                     "pipewire", "polkitd")
# Daemons that run under their package's own account, not root (/etc/passwd of the installed tree).
ACCOUNTS = {"avahi-daemon": "avahi", "polkitd": "polkitd", "systemd-timesyn": "systemd-timesync"}


def process_problems(pslist: list[dict[str, Any]], psaux: list[dict[str, Any]], envars: list[dict[str, Any]],
                     passwd: str) -> list[str]:
    """What ``linux.pslist``/``psaux``/``envars`` show against a Debian 12 GNOME desktop: no Ubuntu-only service,
    the desktop's daemons under their accounts, GNOME's shell in a Wayland session of Debian-gdm (the greeter) or
    a user, its parent in the same session, no Ubuntu path or boot argument."""
    uid = {line.split(":")[0]: int(line.split(":")[2]) for line in passwd.splitlines() if line.count(":") >= 6}
    by_pid = {r["PID"]: r for r in pslist}
    comms = {r["COMM"] for r in pslist}
    problems = [f"{c} runs: an Ubuntu service" for c in UBUNTU_PROCESSES if c in comms]
    problems += [f"no {c}: a Debian 12 GNOME desktop runs it" for c in DESKTOP_PROCESSES if c not in comms]
    for r in pslist:
        account = ACCOUNTS.get(r["COMM"])
        if account and r["UID"] != uid.get(account):
            problems.append(f"{r['COMM']} ({r['PID']}) runs as uid {r['UID']}, not {account}")
        if r["COMM"] in ("gdm3", "NetworkManager", "cupsd", "gdm-session-wor") and r["UID"] != 0:
            problems.append(f"{r['COMM']} ({r['PID']}) runs as uid {r['UID']}, not root")
        if r["COMM"] == "gnome-shell":
            if r["UID"] != uid["Debian-gdm"] and r["UID"] < 1000:
                problems.append(f"gnome-shell ({r['PID']}) runs as uid {r['UID']}: neither Debian-gdm nor a user")
            parent = by_pid.get(r["PPID"])
            if parent is None or parent["UID"] != r["UID"]:
                problems.append(f"gnome-shell ({r['PID']})'s parent {r['PPID']} is not in its session")
    for r in psaux:
        args = str(r["ARGS"])
        if r["PID"] == 1 and "splash" in args or "/snap/" in args:
            problems.append(f"{r['PID']} {r['COMM']} was started as {args!r}: Ubuntu's")
    env: dict[int, dict[str, str]] = {}
    for r in envars:
        env.setdefault(r["PID"], {})[r["KEY"]] = r["VALUE"]
    problems += [f"{pid}'s PATH has /snap/bin" for pid, e in sorted(env.items()) if "/snap/bin" in e.get("PATH", "")]
    for r in pslist:
        e = env.get(r["PID"], {})
        if r["COMM"] == "gnome-shell" and (e.get("XDG_SESSION_TYPE") != "wayland"
                                           or e.get("XDG_SESSION_CLASS") not in ("greeter", "user")):
            problems.append(f"gnome-shell ({r['PID']}) is not in a Wayland session: {sorted(e.items())[:6]}")
        if e.get("DESKTOP_SESSION", "gnome") != "gnome" or e.get("GDMSESSION", "gnome") != "gnome":
            problems.append(f"{r['PID']}'s session is {e.get('DESKTOP_SESSION')}/{e.get('GDMSESSION')}, not gnome")
    return problems


def test_memory_runs_a_debian_12_gnome_desktop(built: Built) -> None:
    image = built.ev / "memory.lime"
    pslist = run_vol(image, built.cache, "linux.pslist.PsList")
    psaux = run_vol(image, built.cache, "linux.psaux.PsAux")
    envars = run_vol(image, built.cache, "linux.envars.Envars")
    passwd = built.read("/etc/passwd").decode()
    assert process_problems(pslist, psaux, envars, passwd) == []
    assert all(len(str(r["COMM"])) <= 15 for r in pslist)
    # The story's processes keep their pids and parents amid the desktop's.
    ns = built.key["namespace"]
    story = {k.split(".")[1]: v for k, v in ns.items() if k.startswith("processes.") and k.endswith(".pid")}
    shown = {r["PID"]: r for r in pslist}
    assert len(shown) == len(pslist) and {"bash", "implant"} <= set(story)
    for name, pid in story.items():
        if not ns[f"processes.{name}.hidden"]:  # a hidden task is unlinked from the list pslist walks
            assert shown[pid]["COMM"] == ns[f"processes.{name}.comm"], name

    # Planted: Ubuntu's resolver, a root shell at the greeter, a snap PATH, a session that is not GNOME, no gdm3.
    shell = next(r for r in pslist if r["COMM"] == "gnome-shell")
    resolved = {**shell, "PID": 99999, "COMM": "systemd-resolve", "UID": 101}
    assert any("Ubuntu service" in p for p in process_problems([*pslist, resolved], psaux, envars, passwd))
    as_root = [{**r, "UID": 0} if r is shell else r for r in pslist]
    assert any("neither Debian-gdm" in p for p in process_problems(as_root, psaux, envars, passwd))
    snap = [*envars, {"PID": shell["PID"], "KEY": "PATH", "VALUE": "/usr/bin:/bin:/snap/bin"}]
    assert any("/snap/bin" in p for p in process_problems(pslist, psaux, snap, passwd))
    ubuntu = [*envars, {"PID": shell["PID"], "KEY": "DESKTOP_SESSION", "VALUE": "ubuntu"}]
    assert any("not gnome" in p for p in process_problems(pslist, psaux, ubuntu, passwd))
    no_gdm = [r for r in pslist if r["COMM"] != "gdm3"]
    assert any("no gdm3" in p for p in process_problems(no_gdm, psaux, envars, passwd))


def executable_problems(elfs: list[dict[str, Any]], story: set[int], tree: set[str],
                        lists: dict[str, set[str]], installed: set[str]) -> list[str]:
    """Every program and library a system process maps (volatility3 ``linux.elfs``) is a file on the disk that an
    installed package's dpkg list names: what memory runs, the installed system holds."""
    problems = []
    owner = {path: pkg for pkg, paths in lists.items() for path in paths}
    for path in sorted({str(r["File Path"]) for r in elfs if r["PID"] not in story}):
        if path not in tree:
            problems.append(f"{path} runs in memory but is not on the disk")
        elif owner.get(path) not in installed:
            problems.append(f"{path} is on the disk but no installed package lists it")
    return problems


def test_every_program_memory_runs_is_an_installed_packages_file(built: Built) -> None:
    elfs = run_vol(built.ev / "memory.lime", built.cache, "linux.elfs.Elfs")
    ns = built.key["namespace"]
    story = {v for k, v in ns.items() if k.startswith("processes.") and k.endswith(".pid")}
    installed = set(dpkg_versions(built.read("/var/lib/dpkg/status").decode()))
    lists = {}
    for path in built.paths():
        if path.startswith("/var/lib/dpkg/info/") and path.endswith(".list"):
            name = path.rsplit("/", 1)[-1].removesuffix(".list").split(":")[0]
            lists[name] = set(built.read(path).decode().splitlines())
    tree = set(built.paths())
    assert {r["PID"] for r in elfs} - story, "volatility lists no system process's programs"
    assert executable_problems(elfs, story, tree, lists, installed) == []
    # Planted: a daemon of a package the install lacks, a program that is not on the disk.
    shell = next(r for r in elfs if str(r["File Path"]).endswith("/gnome-shell"))
    assert any("no installed package" in p
               for p in executable_problems(elfs, story, tree, lists, installed - {"gnome-shell"}))
    gone = [{**shell, "File Path": "/usr/sbin/snapd"}]
    assert any("not on the disk" in p for p in executable_problems(gone, story, tree, lists, installed))
