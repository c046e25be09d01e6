"""The installed Debian 12's configuration reads as Debian's (#14): the conffiles an examiner opens first hold
bookworm's default text (never :func:`dflab.scenario.ostree.texts.config`'s filler), read back from a written disk
with pytsk3 and checked with the tools that read them (``bash -n``, ``sh``'s ``.``, dpkg's md5sums and conffiles);
and what every bookworm desktop has is there: os-release under /usr/lib with /etc's link, dpkg's status-old, the
user's XDG folders, /etc/resolv.conf naming the case's DNS server."""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import pytsk3

from dflab.evidence.disk import write_disk
from dflab.scenario.ostree import etc, texts
from dflab.scenario.ostree.shipped import FILLER_MARK, INSTALLED, SHIPPED
from dflab.scenario.ostree.tree import os_files, shared
from tests.test_ostree import Root, _case

pytestmark = pytest.mark.xdist_group("ostree")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Root:
    image = tmp_path_factory.mktemp("ostree_etc") / "disk.img"
    return Root(image, write_disk(_case(), image))


def _installed_shipped() -> list[str]:
    """The SHIPPED paths the catalog installs as files (every one of them must be: a typo is caught here)."""
    entries = shared("debian-12", "desktop").entries
    missing = [p for p in SHIPPED if p not in entries]
    assert missing == [], missing
    return sorted(SHIPPED)


def _dpkg_sums(r: Root) -> dict[str, str]:
    """path -> md5 from every package's md5sums on the disk."""
    sums = {}
    for entry in r.fs.open_dir("/var/lib/dpkg/info"):
        name = entry.info.name.name.decode()
        if name.endswith(".md5sums"):
            for line in r.read(f"/var/lib/dpkg/info/{name}").decode().splitlines():
                digest, path = line.split("  ", 1)
                sums["/" + path] = digest
    return sums


def _conffiles(status: str) -> dict[str, str]:
    """path -> md5 from the status file's Conffiles fields."""
    return dict(re.findall(r"^ (/etc/\S+) ([0-9a-f]{32})$", status, re.M))


def test_the_files_an_examiner_opens_first_hold_debians_text(root: Root):
    covered = _installed_shipped()
    assert len(covered) >= 120
    for wanted in ("/etc/rsyslog.conf", "/etc/pam.d/common-auth", "/etc/pam.d/sshd", "/etc/default/grub",
                   "/etc/NetworkManager/NetworkManager.conf", "/etc/bash.bashrc", "/etc/logrotate.d/rsyslog",
                   "/etc/sudoers", "/etc/login.defs", "/etc/systemd/journald.conf", "/etc/mke2fs.conf"):
        assert wanted in covered, wanted
    for path in covered:
        data = root.read(path)
        assert data == SHIPPED[path].encode(), path
        assert FILLER_MARK.encode() not in data, path
    for path, text in INSTALLED.items():
        assert root.read(path) == text.encode(), path
    # The check catches filler: what texts.config makes always carries the mark.
    assert FILLER_MARK in texts.config(random.Random(1), "/etc/rsyslog.conf", "rsyslog").decode()
    # Debian's own words, where an examiner looks for them.
    assert b"auth,authpriv.*\t\t\t/var/log/auth.log\n" in root.read("/etc/rsyslog.conf")
    assert b"auth\t[success=1 default=ignore]\tpam_unix.so nullok\n" in root.read("/etc/pam.d/common-auth")
    assert b"plugins=ifupdown,keyfile" in root.read("/etc/NetworkManager/NetworkManager.conf")


def test_the_files_rsyslog_and_logrotate_name_are_the_ones_on_the_disk(root: Root):
    logs = set(re.findall(r"\s-?(/var/log/[a-z.]+)$", root.read("/etc/rsyslog.conf").decode(), re.M))
    assert {"/var/log/syslog", "/var/log/auth.log"} <= logs
    on_disk = {p for p, _ in root.walk("/var/log")}
    assert {"/var/log/syslog", "/var/log/auth.log"} <= on_disk
    rotated = set(re.findall(r"^(/var/log/\S+)", root.read("/etc/logrotate.d/rsyslog").decode(), re.M))
    assert logs == rotated  # every file rsyslog writes is rotated, as Debian ships them together
    assert b"include /etc/logrotate.d" in root.read("/etc/logrotate.conf")


def test_dpkg_md5sums_and_conffiles_hash_the_shipped_bytes(root: Root):
    sums = _dpkg_sums(root)
    conffiles = _conffiles(root.read("/var/lib/dpkg/status").decode())
    for path in _installed_shipped():
        digest = hashlib.md5(root.read(path)).hexdigest()  # noqa: S324 - dpkg's hash
        if path.startswith("/etc/"):  # a conffile: status's Conffiles hashes it, md5sums leaves it out as dpkg does
            assert conffiles.get(path) == digest and path not in sums, path
        else:
            assert sums.get(path) == digest, path
    # A changed conffile is caught by the same comparison.
    assert hashlib.md5(root.read("/etc/sudoers") + b"ALL ALL=(ALL) NOPASSWD: ALL\n").hexdigest() != \
        conffiles["/etc/sudoers"]  # noqa: S324
    for path in INSTALLED:  # what the installer wrote is no package's
        assert path not in sums and path not in conffiles, path


def test_shell_startup_files_parse_as_bash_and_sh_read_them(root: Root, tmp_path: Path):
    for path in ("/etc/bash.bashrc", "/etc/profile", "/etc/skel/.bashrc", "/etc/skel/.profile",
                 "/etc/skel/.bash_logout", "/usr/share/base-files/dot.bashrc", "/etc/profile.d/bash_completion.sh"):
        out = tmp_path / path.replace("/", "_")
        out.write_bytes(root.read(path))
        done = subprocess.run(["bash", "-n", str(out)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, (path, done.stderr)
    for path in ("/etc/profile", "/etc/cron.daily/dpkg", "/etc/cron.daily/logrotate", "/etc/cron.daily/passwd",
                 "/etc/cron.daily/apt-compat", "/etc/cron.weekly/man-db", "/etc/cron.daily/man-db",
                 "/etc/update-motd.d/10-uname", "/etc/grub.d/40_custom", "/etc/grub.d/41_custom"):
        script = tmp_path / path.replace("/", "_")
        script.write_bytes(root.read(path))
        done = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, (path, done.stderr)
    # A truncated file is refused: the check can fail.
    broken = tmp_path / "broken"
    broken.write_bytes(root.read("/etc/bash.bashrc")[:-4])
    assert subprocess.run(["bash", "-n", str(broken)], capture_output=True, check=False).returncode != 0


def test_sudoers_is_valid(root: Root, tmp_path: Path):
    sudoers = tmp_path / "sudoers"
    sudoers.write_bytes(root.read("/etc/sudoers"))
    assert int(root.meta("/etc/sudoers").mode) & 0o777 == 0o440
    visudo = shutil.which("visudo")
    if visudo:  # sudo's own parser where the machine has it
        done = subprocess.run([visudo, "-c", "-f", str(sudoers)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    grammar = re.compile(r"(Defaults\t\w+(=\"[^\"]*\")?|(root|%sudo)\tALL=\(ALL:ALL\) ALL"
                         r"|@includedir /etc/sudoers\.d)$")
    rules = [line for line in sudoers.read_text().splitlines() if line and not line.startswith("#")]
    assert rules and all(grammar.match(line) for line in rules), rules
    assert not grammar.match("%sudo\tALL=(ALL) NOPASSWD: ALL")


def test_sshd_config_is_openssh_servers_template_unchanged(root: Root):
    """openssh-server's postinst copies its template to /etc/ssh/sshd_config (ucf); the md5sums it keeps beside the
    template are those of older releases' defaults, which ucf replaces without asking: never today's."""
    config = root.read("/etc/ssh/sshd_config")
    assert config == root.read("/usr/share/openssh/sshd_config")
    digest = hashlib.md5(config).hexdigest()  # noqa: S324 - ucf's hash
    old = [line for line in root.read("/usr/share/openssh/sshd_config.md5sum").decode().splitlines()
           if line and not line.startswith("#")]
    assert len(old) >= 50 and all(re.fullmatch(r"[0-9a-f]{32}", line) for line in old) and digest not in old
    settings = [line for line in config.decode().splitlines() if line and not line.startswith("#")]
    assert settings == ["Include /etc/ssh/sshd_config.d/*.conf", "KbdInteractiveAuthentication no", "UsePAM yes",
                        "X11Forwarding yes", "PrintMotd no", "AcceptEnv LANG LC_*",
                        "Subsystem\tsftp\t/usr/lib/openssh/sftp-server"]


def test_os_release_lives_under_usr_lib_and_etc_links_to_it(root: Root, tmp_path: Path):
    link = root.meta("/etc/os-release")
    assert link.type == pytsk3.TSK_FS_META_TYPE_LNK and link.link == b"../usr/lib/os-release"
    target = (Path("/etc") / link.link.decode()).resolve()
    assert str(target) == "/usr/lib/os-release"
    release = tmp_path / "os-release"
    release.write_bytes(root.read(str(target)))
    fields = subprocess.run(["sh", "-c", '. "$1" && echo "$ID|$VERSION_ID|$VERSION_CODENAME|$PRETTY_NAME"', "sh",
                             str(release)], capture_output=True, text=True, check=True).stdout.strip()
    assert fields == "debian|12|bookworm|Debian GNU/Linux 12 (bookworm)"
    sums = _dpkg_sums(root)
    assert "/usr/lib/os-release" in sums and "/etc/os-release" not in sums  # dpkg hashes the file, not the link
    base_files = root.read("/var/lib/dpkg/info/base-files.list").decode().splitlines()
    assert "/etc/os-release" in base_files and "/usr/lib/os-release" in base_files
    assert "/etc/os-release" not in root.read("/var/lib/dpkg/info/base-files.conffiles").decode().splitlines()
    assert root.read("/etc/debian_version") == b"12.12\n"  # base-files 12.4+deb12u12


def test_shells_lists_programs_on_the_disk(root: Root):
    shells = [line for line in root.read("/etc/shells").decode().splitlines() if not line.startswith("#")]
    assert "/bin/bash" in shells and "/usr/bin/dash" in shells
    for shell in shells:
        assert root.fs.open(shell.replace("/bin/", "/usr/bin/", 1) if shell.startswith("/bin/") else shell), shell


def test_dpkg_keeps_the_status_before_its_last_write(root: Root):
    def stanzas(text: str) -> dict[str, str]:
        return {s.split("\n", 1)[0]: s for s in text.split("\n\n") if s.startswith("Package: ")}

    now, old = stanzas(root.read("/var/lib/dpkg/status").decode()), stanzas(
        root.read("/var/lib/dpkg/status-old").decode())
    assert now.keys() == old.keys() and len(now) >= 250
    changed = [name for name in now if now[name] != old[name]]
    assert len(changed) == 1, changed
    assert "Status: install ok half-configured" in old[changed[0]]
    assert root.meta("/var/lib/dpkg/status-old").mtime <= root.meta("/var/lib/dpkg/status").mtime


def test_the_users_xdg_folders_are_theirs(root: Root):
    for user in _case().users:
        for name in (".config", ".local", ".local/share", ".cache"):
            meta = root.meta(f"{user.home}/{name}")
            assert meta.type == pytsk3.TSK_FS_META_TYPE_DIR, (user.name, name)
            assert (meta.uid, meta.gid, int(meta.mode) & 0o777) == (user.uid, user.gid, 0o700), (user.name, name)


def test_resolv_conf_names_the_dns_server_the_capture_shows():
    """NetworkManager's resolv.conf names the resolver the suspect's own DNS queries go to in the capture."""
    case = _case()
    server = etc.nameserver(case)
    queried = {case.host(q.resolver).ip for q in case.network.dns if q.client == case.suspect_host}
    assert server is not None and (server in queried if queried else server == case.host(case.network.gateway).ip)
    volume = next(v for v in case.disk.volumes if v.os)
    assert volume.os is not None
    files = {f.path: f for f in os_files(bytes.fromhex(case.seed), volume, volume.os,
                                         case.host(case.suspect_host).hostname, case.users, case.disk.volumes,
                                         now=case.memory.acquired_at, boot=case.memory.boot_time,
                                         nameserver=server)}
    resolv = files["/etc/resolv.conf"]
    # glibc's EDNS0 in the capture's queries comes from this options line (dflab.evidence.network.dns)
    assert resolv.content.decode().splitlines() == ["# Generated by NetworkManager", f"nameserver {server}",
                                                    "options edns0"]
    assert case.memory.boot_time <= resolv.mtime <= case.memory.acquired_at  # written at the last boot's lease
