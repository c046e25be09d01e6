"""The root file system is an operating system (#14 item 5): Nightjar's root volume with ``os:``
(tests/haystack.py), read back with TSK, pytsk3, ``file``, ``readelf`` and e2fsprogs, is a Debian 12 desktop an
examiner can search, and its dpkg records are a known-good set that catches a replaced file."""

from __future__ import annotations

import hashlib
import math
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import pytsk3

from dflab.errors import DflabError
from dflab.evidence.disk import write_disk
from dflab.scenario import ostree
from dflab.scenario.case import DiskFile
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.load import parse_spec
from dflab.scenario.ostree.accounts import GID
from dflab.scenario.resolve import resolve
from tests.haystack import haystack_spec, haystack_text

ROOT = Path(__file__).resolve().parents[1]
NIGHTJAR = ROOT / "labs" / "scenarios" / "nightjar.yaml"  # the story; its root gains an OS: tests/haystack.py
pytestmark = pytest.mark.xdist_group("ostree")


def _case(trainee: str = "default"):
    spec = haystack_spec("nightjar")
    return resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, trainee), trainee)


class Root:
    """The root volume of a written disk as pytsk3 reads it."""

    def __init__(self, image: Path, facts: dict) -> None:
        self.image, self.facts = image, facts
        self.offset = facts["volumes"]["root"]["start_sector"] * 512
        self.fs = pytsk3.FS_Info(pytsk3.Img_Info(str(image)), offset=self.offset)

    def read(self, path: str) -> bytes:
        f = self.fs.open(path)
        size = f.info.meta.size
        return f.read_random(0, size) if size else b""

    def meta(self, path: str):
        return self.fs.open(path).info.meta

    def walk(self, path: str = "/") -> list[tuple[str, object]]:
        out = []
        for entry in self.fs.open_dir(path):
            name = entry.info.name.name.decode()
            if name in (".", "..", "$OrphanFiles") or entry.info.meta is None:
                continue
            full = path.rstrip("/") + "/" + name
            out.append((full, entry.info.meta))
            if entry.info.meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
                out.extend(self.walk(full))
        return out


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Root:
    image = tmp_path_factory.mktemp("ostree") / "disk.img"
    return Root(image, write_disk(_case(), image))


def _known_good_mismatches(r: Root) -> tuple[int, list[str]]:
    """Every file dpkg's md5sums list, read back from the image and hashed: (files checked, paths that differ)."""
    checked, bad = 0, []
    for entry in r.fs.open_dir("/var/lib/dpkg/info"):
        name = entry.info.name.name.decode()
        if not name.endswith(".md5sums"):
            continue
        for line in r.read(f"/var/lib/dpkg/info/{name}").decode().splitlines():
            digest, path = line.split("  ", 1)
            checked += 1
            if hashlib.md5(r.read("/" + path)).hexdigest() != digest:  # noqa: S324 - dpkg's hash
                bad.append("/" + path)
    return checked, bad


def test_the_root_volume_is_a_haystack_of_an_installed_system(root: Root):
    files = root.walk()
    regular = [p for p, m in files if m.type == pytsk3.TSK_FS_META_TYPE_REG]
    assert len(regular) >= 5000, len(regular)
    for wanted in ("/usr/bin/bash", "/usr/sbin/sshd", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                   "/usr/share/doc/bash/copyright", "/usr/share/doc/bash/changelog.Debian.gz",
                   "/usr/share/man/man1/bash.1.gz", "/var/lib/dpkg/status", "/usr/lib/os-release"):
        assert wanted in regular, wanted
    status = root.read("/var/lib/dpkg/status").decode()
    installed = ostree.installed_packages("debian-12", "desktop")
    assert status.count("Status: install ok installed") == installed >= 250
    # The key's count is dpkg's: the shared catalog and the case's kernel packages.
    assert root.facts["os"]["root"]["packages"] == installed
    assert "Package: openssh-server" in status and "Version: 1:9.2p1-2+deb12u" in status
    assert b'VERSION_CODENAME=bookworm' in root.read("/usr/lib/os-release")


def test_dpkg_md5sums_match_every_packaged_file_on_the_disk(root: Root):
    checked, bad = _known_good_mismatches(root)
    assert checked >= 4000 and bad == [], (checked, bad[:5])


def test_a_replaced_program_is_caught_by_the_known_good_set(tmp_path: Path):
    """The story's file wins its path (a trojaned ``ls``), dpkg's record keeps the package's hash: md5sums finds it."""
    case = _case()
    trojan = DiskFile("trojan", "root", "/usr/bin/ls", b"\x7fELF" + bytes(4000), *(case.memory.boot_time,) * 4,
                      mode=0o755)
    case = replace(case, disk=replace(case.disk, files=(*case.disk.files, trojan)))
    image = tmp_path / "disk.img"
    planted = Root(image, write_disk(case, image))
    checked, bad = _known_good_mismatches(planted)
    assert checked >= 4000 and bad == ["/usr/bin/ls"]


def _entropy(data: bytes) -> float:
    counts = Counter(data)
    return -sum(n / len(data) * math.log2(n / len(data)) for n in counts.values())


def test_programs_and_libraries_are_elf_that_file_and_readelf_read_and_look_like_code(root: Root, tmp_path: Path):
    paths = ["/usr/bin/bash", "/usr/sbin/sshd", "/usr/bin/ls", "/usr/lib/x86_64-linux-gnu/libc.so.6",
             "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13", "/usr/lib/systemd/systemd"]
    sizes = set()
    for path in paths:
        data = root.read(path)
        sizes.add(len(data))
        out = tmp_path / path.rsplit("/", 1)[-1]
        out.write_bytes(data)
        kind = subprocess.run(["file", "-b", str(out)], capture_output=True, text=True, check=True).stdout
        header = subprocess.run(["readelf", "-h", str(out)], capture_output=True, text=True, check=True).stdout
        assert kind.startswith("ELF 64-bit LSB") and "x86-64" in kind, (path, kind)
        assert "DYN" in header and "X86-64" in header, (path, header)
        if ".so" not in path:
            assert "pie executable" in kind and "interpreter /lib64/ld-linux-x86-64.so.2" in kind, (path, kind)
        else:
            assert "shared object" in kind, (path, kind)
        assert 5.0 < _entropy(data) < 7.0, (path, _entropy(data))  # code, not packed or random bytes
    assert len(sizes) == len(paths)
    assert len(root.read("/usr/bin/bash")) == 1265648  # bookworm's bash


def test_shared_objects_have_their_symlink_chains_and_usr_is_merged(root: Root):
    links = {"/usr/lib/x86_64-linux-gnu/libz.so.1": b"libz.so.1.2.13", "/bin": b"usr/bin", "/lib64": b"usr/lib64",
             "/usr/lib64/ld-linux-x86-64.so.2": b"../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
             "/usr/bin/sh": b"dash", "/etc/localtime": b"/usr/share/zoneinfo/Etc/UTC"}
    for path, target in links.items():
        meta = root.meta(path)
        assert meta.type == pytsk3.TSK_FS_META_TYPE_LNK, path
        assert (meta.size, meta.link) == (len(target), target), path


def test_owners_and_modes_are_debians(root: Root):
    def mode(path: str) -> int:
        return int(root.meta(path).mode) & 0o7777

    for setuid in ("/usr/bin/passwd", "/usr/bin/su", "/usr/bin/sudo", "/usr/bin/mount", "/usr/bin/chsh"):
        assert mode(setuid) == 0o4755, setuid
    assert (mode("/usr/bin/crontab"), root.meta("/usr/bin/crontab").gid) == (0o2755, GID["crontab"])
    assert (mode("/etc/shadow"), root.meta("/etc/shadow").gid) == (0o640, GID["shadow"])
    assert mode("/etc/sudoers") == 0o440 and mode("/etc/ssh/ssh_host_ed25519_key") == 0o600
    assert mode("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13") == 0o644 and mode("/usr/bin/ls") == 0o755


def test_accounts_and_fstab_name_the_case(root: Root):
    case = _case()
    passwd = root.read("/etc/passwd").decode().splitlines()
    shadow = {line.split(":")[0] for line in root.read("/etc/shadow").decode().splitlines()}
    groups = {int(line.split(":")[2]) for line in root.read("/etc/group").decode().splitlines()}
    for line in passwd:
        name, _, uid, gid, *_ = line.split(":")
        assert name in shadow and int(gid) in groups, line
    for user in case.users:
        assert any(line.startswith(f"{user.name}:x:{user.uid}:{user.gid}:") for line in passwd)
        assert root.meta(f"{user.home}/.bashrc").uid == user.uid
    uuid = root.facts["volumes"]["root"]["uuid"]
    assert f"UUID={uuid} /               ext4    errors=remount-ro 0       1" in root.read("/etc/fstab").decode()
    assert root.read("/etc/hostname").decode().strip() == case.host(case.suspect_host).hostname


def test_the_install_precedes_the_story_and_parents_precede_children(root: Root):
    system = root.facts["os"]["root"]
    bash = root.meta("/usr/bin/bash")
    assert system["installed_at"] <= bash.crtime < system["installed_at"] + 3600
    assert bash.mtime < bash.crtime  # dpkg keeps the package's build time
    story = min(f.crtime for f in _case().disk.files if f.volume == "root")
    upgraded = 0
    for path, meta in root.walk("/usr/lib"):
        parent = root.meta(path.rsplit("/", 1)[0] or "/")
        assert parent.crtime <= meta.crtime, path
        assert meta.crtime < story or system["updated_at"] <= meta.crtime < system["updated_at"] + 3600, path
        upgraded += meta.crtime >= story
    assert upgraded  # the last upgrade replaced some libraries


def test_the_image_is_sparse_and_a_gibibyte(root: Root):
    st = os.stat(root.image)
    assert st.st_size >= 1 << 30
    assert st.st_blocks * 512 < st.st_size // 4  # holes stay holes: only what the file systems hold is written
    # and of that, no block of zeros (an unused inode table block, a file's zero pages) takes space on the host
    zero, pos, block = 0, 0, 4096
    with open(root.image, "rb") as fh:
        fd = fh.fileno()
        while pos < st.st_size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # no data after pos
                break
            pos = os.lseek(fd, start, os.SEEK_HOLE)
            for at in range(start - start % block, pos, block):
                zero += os.pread(fd, block, at) == bytes(block)
    assert zero == 0


def test_a_cohort_makes_the_shared_part_once_before_its_workers_fork(tmp_path: Path):
    """build_cohort makes the installed system's shared part in its own process, so the workers it forks inherit
    it (dflab.scenario.ostree's docstring): here the parent's cache holds it after a two-worker build."""
    from dflab.evidence.build import build_cohort

    spec = tmp_path / "nightjar.yaml"
    spec.write_text(haystack_text("nightjar"), encoding="utf-8")
    ostree.shared.cache_clear()
    results = build_cohort(spec, DEMO_SECRET, ["t1", "t2"], tmp_path / "out", workers=2, kinds=("disk",))
    assert ostree.shared.cache_info().currsize == 1
    assert [r.variant for r in results] == ["t1", "t2"]
    assert results[0].manifest_sha256 != results[1].manifest_sha256


def test_the_shared_part_is_the_same_in_every_process():
    """The installed bytes are a function of (distribution, profile) alone: another interpreter makes them alike."""
    code = ("import hashlib;from dflab.scenario.ostree import shared;s=shared('debian-12','desktop');"
            "h=hashlib.sha256();[h.update(p.encode()+s.contents[p]) for p in sorted(s.contents)];print(h.hexdigest())")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    here = ostree.shared("debian-12", "desktop")
    h = hashlib.sha256()
    for p in sorted(here.contents):
        h.update(p.encode() + here.contents[p])
    assert other.stdout.strip() == h.hexdigest()


def test_an_os_is_installed_on_ext4_only():
    text = haystack_text("nightjar").replace(
        "{id: transfer, fs: fat32, label: TRANSFER, size: 34MiB,",
        "{id: transfer, fs: fat32, label: TRANSFER, size: 34MiB, os: {distribution: debian-12},")
    with pytest.raises(DflabError, match="os is installed on an ext4 volume"):
        parse_spec(text, str(NIGHTJAR))


def test_big_directories_are_htrees(root: Root):
    """The installed system's big directories (hundreds of names) are indexed as the kernel indexes them, and the
    small ones are not (debugfs reads the partition in place: ``image?offset=``)."""
    def debugfs(request: str) -> str:
        done = subprocess.run(["debugfs", "-R", request, f"{root.image}?offset={root.offset}"],
                              capture_output=True, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.decode("utf-8", "replace")

    for big in ("/usr/bin", "/usr/share/man/man1", "/usr/lib/x86_64-linux-gnu"):
        assert "Flags: 0x81000" in debugfs(f"stat {big}"), big
        assert "Indirect levels: 0" in debugfs(f"htree {big}"), big
    assert "Flags: 0x80000" in debugfs("stat /etc/ssh"), "a small directory stays linear"


def test_dpkg_and_apt_logs_on_the_disk_tell_the_install_and_upgrade_the_status_holds(root: Root):
    """dpkg.log, apt's history.log and term.log as logrotate left them at acquisition, read back with TSK: every
    version they leave installed is the status's, every upgrade one of bookworm's stable updates."""
    from tests.test_linux_artefacts_packages import log_problems

    status = {m["Package"]: m["Version"] for m in (
        dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
        for stanza in root.read("/var/lib/dpkg/status").decode().split("\n\n")) if "Package" in m}
    logs = {p: root.read(p) for p, _ in root.walk("/var/log") if p.split("/")[-1].startswith(("dpkg.log",
                                                                                                "history.log"))}
    assert "/var/log/dpkg.log" in logs and "/var/log/apt/history.log" in logs
    assert log_problems(logs, status) == []
    upgraded = re.findall(r"^\S+ \S+ upgrade (\S+):\S+ (\S+) (\S+)$", b"".join(logs.values()).decode(), re.M)
    assert upgraded and all(re.search(r"[+~]deb12u\d+$", new) for _, _, new in upgraded)
    term = root.meta("/var/log/apt/term.log")
    assert (term.mode & 0o777, term.uid, term.gid) == (0o640, 0, 4)  # root:adm, as apt makes it
    # A status that disagrees (a planted version) is caught by the same check.
    name = upgraded[0][0]
    assert log_problems(logs, {**status, name: "0.0-1"})
    # Each log was last written by its month's last run, never after acquisition.
    acquired = _case().memory.acquired_at
    assert all(root.meta(p).crtime <= root.meta(p).mtime <= acquired for p in logs)
