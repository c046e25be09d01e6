"""The installed kernel an examiner opens (#14): the modules memory's lsmod lists are ``.ko`` files on the disk that
kmod's ``modinfo``, ``file`` and ``readelf`` read as bookworm's signed modules, dpkg's ``linux-image-<release>``
lists them with md5sums that match, ``/boot/System.map-<release>`` holds the kernel's symbols, and
``/boot/initrd.img-<release>`` is the zstd cpio ``update-initramfs`` makes, holding the modules that mount the root.

Nightjar with an installed Debian 12 (tests/haystack.py), its disk written and read back with pytsk3; each check
returns the problems it finds and is shown finding a planted one. System.map against the ISF and volatility's
kallsyms of a built memory: tests/test_story_session.py.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest
import pytsk3

from dflab.evidence.disk import write_disk
from dflab.evidence.memory.modules import kernel_modules
from dflab.scenario.case import Case
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.kernel import BOOKWORM_KERNELS, debian_kernel
from dflab.scenario.ostree import etc
from dflab.scenario.ostree.initrd import ROOT_MODULES
from dflab.scenario.ostree.modules import module_files
from dflab.scenario.ostree.sysmap import system_map
from dflab.scenario.resolve import resolve
from tests.haystack import haystack_spec
from tests.test_ostree import Root

pytestmark = pytest.mark.xdist_group("ostree-kernel")
MAGIC = b"~Module signature appended~\n"


def run(*cmd: str, data: bytes | None = None) -> str:
    return subprocess.run(cmd, input=data, check=True, capture_output=True, timeout=300).stdout.decode()


class Disk(Root):
    """The root volume of the written haystack disk, read with pytsk3 (tests/test_ostree.py's reader), and the case it
    was written for."""

    def __init__(self, case: Case, image: Path, facts: dict) -> None:
        super().__init__(image, facts)
        self.case = case
        self.release = case.memory.kernel_release

    def files(self, path: str) -> list[str]:
        """Every regular file below ``path``."""
        out = []
        for entry in self.fs.open_dir(path):
            name = entry.info.name.name.decode()
            if name in (".", "..") or entry.info.meta is None:
                continue
            full = f"{path}/{name}"
            if entry.info.meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
                out += self.files(full)
            else:
                out.append(full)
        return out


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Disk:
    spec = haystack_spec("nightjar")
    case = resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, "kernel"), "kernel")
    image = tmp_path_factory.mktemp("ostree-kernel") / "disk.img"
    return Disk(case, image, write_disk(case, image))


def _dep(text: str) -> dict[str, list[str]]:
    """modules.dep: module path -> the paths it needs."""
    out = {}
    for line in text.splitlines():
        path, _, needs = line.partition(":")
        out[path] = needs.split()
    return out


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1].removesuffix(".ko").replace("-", "_")


def module_problems(ko: Path, release: str, needs: list[str]) -> list[str]:
    """What ``file``, ``readelf`` and kmod's ``modinfo`` say of ``ko`` against a bookworm module of ``release``
    whose modules.dep line needs ``needs`` (module names): its ``depends`` must bring exactly those."""
    problems = []
    kind = run("file", "-b", str(ko))
    if not kind.startswith("ELF 64-bit LSB relocatable, x86-64"):
        problems.append(f"{ko.name}: file says {kind.strip()!r}")
        return problems
    sections = run("readelf", "-S", "-W", str(ko))
    for section in (".text", ".modinfo", ".gnu.linkonce.this_module"):
        if f" {section} " not in sections:
            problems.append(f"{ko.name}: readelf lists no {section}")

    def field(name: str) -> str:
        return run("modinfo", "-F", name, str(ko)).strip()

    if field("name") != _name(ko.name):
        problems.append(f"{ko.name}: modinfo's name is {field('name')!r}")
    if field("vermagic") != f"{release} SMP preempt mod_unload modversions":
        problems.append(f"{ko.name}: vermagic {field('vermagic')!r} is not {release}'s")
    if field("license") != "GPL" or field("intree") != "Y" or field("retpoline") != "Y":
        problems.append(f"{ko.name}: not an in-tree GPL module built with retpolines")
    if (field("signer"), field("sig_hashalgo")) != ("Debian Secure Boot CA", "sha256"):
        problems.append(f"{ko.name}: signed by {field('signer')!r} with {field('sig_hashalgo')!r}")
    if not ko.read_bytes().endswith(MAGIC):
        problems.append(f"{ko.name}: no module signature appended")
    depends = [d.replace("-", "_") for d in field("depends").split(",") if d]
    if not set(depends) <= set(needs):
        problems.append(f"{ko.name}: depends {depends} names modules its modules.dep line {needs} does not")
    return problems


def test_the_modules_lsmod_lists_are_on_the_disk_as_bookworms_signed_modules(disk: Disk, tmp_path: Path):
    base = f"/usr/lib/modules/{disk.release}"
    present = sorted(p.removeprefix(base + "/") for p in disk.files(f"{base}/kernel"))
    dep = _dep(disk.read(f"{base}/modules.dep").decode())
    assert present == sorted(dep), "modules.dep and the .ko files on the disk differ"
    assert sorted(_name(p) for p in present) == sorted(m.name for m in kernel_modules(disk.case)), \
        "the disk's modules are not memory's lsmod"
    name_of = {path: _name(path) for path in dep}
    closure: dict[str, set[str]] = {}
    for path in present:
        ko = tmp_path / path.rsplit("/", 1)[-1]
        ko.write_bytes(disk.read(f"{base}/{path}"))
        needs = [name_of[n] for n in dep[path]]
        assert module_problems(ko, disk.release, needs) == [], path
        direct = [d.replace("-", "_") for d in run("modinfo", "-F", "depends", str(ko)).strip().split(",") if d]
        closure[_name(path)] = set(direct)
    # what each module's depends bring, followed through theirs, is its modules.dep line: nothing more, nothing less
    for path, needs in dep.items():
        todo, seen = list(closure[_name(path)]), set()
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo += closure[m]
        assert seen == {name_of[n] for n in needs}, path
    sizes = {_name(p): disk.meta(f"{base}/{p}").size for p in present}
    assert 700_000 < sizes["ext4"] < 1_600_000
    assert all(10_000 < sizes[m.name] < 30_000 for m in kernel_modules(disk.case) if m.core_size <= 16384)
    # planted: another release's module, and a program that is no module
    ext4 = tmp_path / "ext4.ko"
    other = ext4.read_bytes().replace(disk.release.encode(), b"6.1.0-99-amd64")
    (tmp_path / "planted").mkdir()
    (tmp_path / "planted" / "ext4.ko").write_bytes(other)
    needs = [name_of[n] for n in dep["kernel/fs/ext4/ext4.ko"]]
    assert any("vermagic" in p for p in module_problems(tmp_path / "planted" / "ext4.ko", disk.release, needs))
    (tmp_path / "planted" / "ls.ko").write_bytes(disk.read("/usr/bin/ls"))
    assert any("file says" in p for p in module_problems(tmp_path / "planted" / "ls.ko", disk.release, []))
    assert any("depends" in p for p in module_problems(ext4, disk.release, ["crc16"]))


def package_problems(release: str, listed: str, md5sums: str, read) -> list[str]:
    """dpkg's list and md5sums of ``linux-image-<release>`` against the files it must hold: its modules and
    System.map listed, what depmod and update-initramfs make at install not; every digest the file's."""
    problems = []
    paths = set(listed.splitlines())
    sums = dict(reversed(line.split("  ", 1)) for line in md5sums.splitlines())
    for path in (f"/boot/System.map-{release}", f"/usr/lib/modules/{release}/kernel/fs/ext4/ext4.ko"):
        if path not in paths or path[1:] not in sums:
            problems.append(f"the package does not list {path}")
    for path in (f"/boot/initrd.img-{release}", f"/usr/lib/modules/{release}/modules.dep"):
        if path in paths:
            problems.append(f"the package lists {path}, which no package ships")
    for path, digest in sums.items():
        if hashlib.md5(read("/" + path)).hexdigest() != digest:  # noqa: S324 - dpkg's digest
            problems.append(f"/{path} does not match its md5sums line")
    return problems


def test_the_kernel_package_holds_its_modules_and_system_map_and_md5sums_match(disk: Disk):
    info = f"/var/lib/dpkg/info/linux-image-{disk.release}"
    listed, sums = disk.read(f"{info}.list").decode(), disk.read(f"{info}.md5sums").decode()
    ko = [p for p in disk.files(f"/usr/lib/modules/{disk.release}/kernel")]
    assert len(ko) == len(kernel_modules(disk.case)) and all(p in listed.splitlines() for p in ko)
    assert package_problems(disk.release, listed, sums, disk.read) == []
    tampered = re.sub(r"^[0-9a-f]{32}(  usr/lib/modules/\S+/ext4\.ko)$", "0" * 32 + r"\1", sums, flags=re.M)
    assert any("ext4.ko does not match" in p for p in package_problems(disk.release, listed, tampered, disk.read))
    assert any("lists /boot/initrd" in p for p in package_problems(
        disk.release, listed + f"/boot/initrd.img-{disk.release}\n", sums, disk.read))


def test_system_map_is_the_kernels_symbols_sorted_by_address(disk: Disk):
    text = disk.read(f"/boot/System.map-{disk.release}").decode()
    assert text.encode() == system_map(debian_kernel(bytes.fromhex(disk.case.seed)))
    rows = [line.split(" ") for line in text.splitlines()]
    assert all(re.fullmatch(r"ffffffff[0-9a-f]{8}", a) and t in "TtRDB" and n for a, t, n in rows)
    addresses = [int(a, 16) for a, _, _ in rows]
    assert addresses == sorted(addresses) and addresses[0] == 0xFFFFFFFF81000000
    names = {n: (int(a, 16), t) for a, t, n in rows}
    assert names["_text"] == (0xFFFFFFFF81000000, "T")
    for name in ("init_task", "sys_call_table", "linux_banner", "init_top_pgt", "_etext", "_end", "kallsyms_names"):
        assert name in names, name
    assert names["init_task"][1] == "D" and names["_etext"][0] < names["init_task"][0] < names["_end"][0]
    meta = disk.meta(f"/boot/System.map-{disk.release}")
    assert (meta.uid, meta.gid, meta.mode & 0o7777) == (0, 0, 0o644)


def initrd_problems(listing: list[str], release: str) -> list[str]:
    """``cpio -t``'s listing of an initramfs against what mounts this guest's root."""
    problems = []
    if not listing or listing[0] not in (".", "kernel/x86/microcode"):
        problems.append(f"the first member is {listing[:1]}, not . or the early microcode")
    base = f"usr/lib/modules/{release}"
    for name in (*ROOT_MODULES, "libata", "scsi_mod", "jbd2", "mbcache", "crc16"):
        if not any(m.startswith(f"{base}/kernel/") and _name(m) == name for m in listing):
            problems.append(f"no {name} module to mount the root")
    for member in ("init", f"{base}/modules.dep", "conf/initramfs.conf"):
        if member not in listing:
            problems.append(f"no {member}")
    return problems


def test_the_initrd_is_a_zstd_cpio_holding_the_modules_that_mount_the_root(disk: Disk, tmp_path: Path):
    path = f"/boot/initrd.img-{disk.release}"
    meta = disk.meta(path)
    assert (meta.uid, meta.gid, meta.mode & 0o7777) == (0, 0, 0o644)
    data = disk.read(path)
    (tmp_path / "initrd.img").write_bytes(data)
    assert run("file", "-b", str(tmp_path / "initrd.img")).startswith("Zstandard compressed data")
    archive = subprocess.run(["zstd", "-dc", str(tmp_path / "initrd.img")], check=True, capture_output=True).stdout
    (tmp_path / "initrd.cpio").write_bytes(archive)
    assert run("file", "-b", str(tmp_path / "initrd.cpio")).startswith("ASCII cpio archive (SVR4 with no CRC)")
    listing = subprocess.run(["cpio", "-t", "--quiet"], input=archive, check=True, capture_output=True,
                             timeout=60).stdout.decode().splitlines()
    assert initrd_problems(listing, disk.release) == []
    assert any("ext4" in p for p in initrd_problems([m for m in listing if "ext4" not in m], disk.release))
    assert any("first member" in p for p in initrd_problems(listing[1:], disk.release))
    # its modules, and the programs and libraries mkinitramfs copied, are the very files the root holds
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["cpio", "-id", "--quiet", "--no-absolute-filenames"], input=archive, cwd=out, check=True,
                   capture_output=True, timeout=60)
    kos = [m for m in listing if m.endswith(".ko")]
    assert kos and all((out / m).read_bytes() == disk.read("/" + m) for m in kos)
    for copied in ("usr/bin/kmod", "usr/lib/x86_64-linux-gnu/libc.so.6"):
        assert (out / copied).read_bytes() == disk.read("/" + copied), copied
    assert (out / "usr/lib64/ld-linux-x86-64.so.2").read_bytes() == disk.read(
        "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    assert "initrd.img" not in disk.read(f"/var/lib/dpkg/info/linux-image-{disk.release}.list").decode()


def test_a_releases_kernel_files_are_made_once_and_shared_by_every_trainee():
    """The modules, map and initramfs are a function of the release alone: two seeds running one kernel share the
    very bytes (made once per process), and two releases differ in every module."""
    seeds = [bytes([k]) * 32 for k in range(40)]
    by_kernel: dict[str, list[bytes]] = {}
    for seed in seeds:
        by_kernel.setdefault(debian_kernel(seed).release, []).append(seed)
    release, (a, b, *_) = next((r, s) for r, s in by_kernel.items() if len(s) > 1)
    first, second = etc.kernel_files(a), etc.kernel_files(b)
    assert all(x[1] is y[1] for x, y in zip(first, second, strict=True))
    assert module_files(release) is module_files(release)
    other = next(k.release for k in BOOKWORM_KERNELS if k.release != release)
    mine, theirs = module_files(release), module_files(other)
    assert all(data != theirs[path.replace(release, other)] for path, data in mine.items())
