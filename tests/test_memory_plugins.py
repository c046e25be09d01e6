"""Every Linux plugin of the pinned volatility3 on one generated image: which must work, and what they say.

The plugin list comes from volatility's own framework (renamed aliases left
out, plugins whose module cannot be imported here kept, so the count is the
one ``vol -h`` documents), never from a hand-written list: a new volatility
release that adds a plugin fails ``test_every_plugin_is_classified`` until
someone decides where it belongs.  ``EXPECTED`` holds, for each plugin that
must work, the rows it must print, computed from the case (module names,
interface addresses, pids...); ``KNOWN_FAILING`` says why each other plugin
gives nothing useful yet.  A plugin in ``KNOWN_FAILING`` that starts printing
rows without an error fails the test too, so the table cannot fall behind.
"""

from __future__ import annotations

import ast
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import volatility3.plugins
from volatility3 import framework
from volatility3.framework import deprecation

from dflab.evidence.memory import image, write_memory
from dflab.evidence.memory.bpf import PROGRAMS
from dflab.evidence.memory.entry_tables import EXCEPTIONS, syscall_handler
from dflab.evidence.memory.kernel import TEXT_FUNCTIONS
from dflab.evidence.memory.kernel_types import BPF_PROG_TYPES
from dflab.evidence.memory.kmem import KERNEL_IMAGE_SIZE, KERNEL_PHYS, MODULES_VADDR, START_KERNEL_MAP
from dflab.evidence.memory.modules import kernel_modules
from dflab.evidence.memory.netdev import interfaces
from dflab.evidence.memory.pids import thread_function
from dflab.evidence.memory.ram_map import system_ram
from dflab.evidence.memory.syscall_table import NR_SYSCALLS
from dflab.evidence.memory.userspace import LIBC, LINK_MAP_NAMES, LOADER
from dflab.scenario.case import Case
from dflab.scenario.load import load_spec
from dflab.scenario.resolve import resolve
from tests.labkit import ROOT
from tests.test_memory_writer import _vol_exe, iso

pytestmark = pytest.mark.xdist_group("memory")

Rows = list[dict[str, object]]
MIN_WORKING = 42  # reached: 32 print the case's rows, 10 are checks whose right answer here is clean (issue: 35)


def linux_plugins() -> list[str]:
    """Every ``linux.*`` plugin volatility3 ships, by the name ``vol`` takes, aliases left out."""
    framework.require_interface_version(2, 0, 0)
    failed = framework.import_files(volatility3.plugins, True)
    found = [name for name, cls in framework.list_plugins().items()
             if name.startswith("linux.") and not issubclass(cls, deprecation.PluginRenameClass)]
    # A plugin whose module needs a missing optional library (vmayarascan: yara) is still one of volatility's
    # plugins: named from its source, the classes deriving from PluginInterface.
    unimportable = []
    for module in failed:
        if module.startswith("volatility3.plugins.linux."):
            rel = module.removeprefix("volatility3.plugins.").replace(".", "/") + ".py"
            source = next(Path(d) / rel for d in volatility3.plugins.__path__ if (Path(d) / rel).exists())
            tree = ast.parse(source.read_text())
            unimportable += [f"{module.removeprefix('volatility3.plugins.')}.{node.name}" for node in tree.body
                             if isinstance(node, ast.ClassDef)
                             and any(ast.unparse(b).endswith("PluginInterface") for b in node.bases)]
    return sorted(found + unimportable)


@dataclass(frozen=True)
class Expect:
    """What a working plugin must print: ``rows(case, facts)`` projected on ``columns``, exactly or at least."""

    columns: tuple[str, ...]
    rows: Callable[[Case, dict], set[tuple]]
    exact: bool = True
    args: tuple[str, ...] = ()
    clean: bool = False  # a check whose correct answer on this case is "nothing found"


@dataclass(frozen=True)
class Run:
    returncode: int
    rows: Rows
    errors: list[str]


def _visible(case: Case) -> list:
    return [p for p in case.memory.processes if not p.hidden]


def _users(case: Case) -> list:
    return [p for p in _visible(case) if not p.kernel_thread]


def _proc(facts: dict, pid: int) -> dict:
    return next(p for p in facts["processes"] if p["pid"] == pid)


EXPECTED: dict[str, Expect] = {
    "linux.bash.Bash": Expect(("PID", "Command"), lambda c, f: {
        (p.pid, h.command) for p in _visible(c) for h in p.bash_history}),
    "linux.boottime.Boottime": Expect(("Boot Time",), lambda c, f: {(iso(c.memory.boot_time),)}),
    "linux.capabilities.Capabilities": Expect(("Pid", "Name"), lambda c, f: {
        (p.pid, p.comm) for p in _visible(c)}),
    "linux.elfs.Elfs": Expect(("PID", "File Path"), lambda c, f: {
        (p.pid, lib) for p in _users(c) if p.exe_path for lib in (LIBC, LOADER)}, exact=False),
    "linux.envars.Envars": Expect(("PID", "KEY", "VALUE"), lambda c, f: {
        (p.pid, k, v) for p in _users(c) for k, v in p.environ}),
    "linux.lsof.Lsof": Expect(("PID", "FD", "Path"), lambda c, f: {
        (p["pid"], x["fd"], x["path"]) for p in f["processes"] if not p["hidden"] for x in p["files"]}),
    "linux.malware.malfind.Malfind": Expect(("PID", "Start", "Protection"), lambda c, f: {
        (p.pid, p.injected.start, "rwx") for p in _visible(c) if p.injected}),
    "linux.malware.process_spoofing.ProcessSpoofing": Expect(("PID", "Comm"), lambda c, f: {
        (p.pid, p.comm) for p in _visible(c)}),
    "linux.proc.Maps": Expect(("PID", "Start", "Flags"), lambda c, f: {
        (p["pid"], v["start"], v["protection"]) for p in f["processes"] if not p["hidden"] for v in p["vmas"]}),
    "linux.psaux.PsAux": Expect(("PID", "ARGS"), lambda c, f: {
        (p["pid"], p["args"]) for p in f["processes"] if not p["hidden"]}),
    "linux.pslist.PsList": Expect(("PID", "PPID", "COMM"), lambda c, f: {
        (p.pid, p.ppid, p.comm) for p in _visible(c)}),
    "linux.psscan.PsScan": Expect(("PID", "COMM"), lambda c, f: {(p.pid, p.comm) for p in c.memory.processes}),
    "linux.pstree.PsTree": Expect(("PID", "PPID"), lambda c, f: {(p.pid, p.ppid) for p in _visible(c)}),
    "linux.sockstat.Sockstat": Expect(("PID", "FD", "Destination Addr", "State"), lambda c, f: {
        (p["pid"], s["fd"], s["remote_ip"], s["state"]) for p in f["processes"] if not p["hidden"]
        for s in p["sockets"]}),
    "linux.vmaregexscan.VmaRegExScan": Expect(("PID",), lambda c, f: {
        (p.pid,) for p in _users(c) if p.exe_path}, exact=False, args=("--pattern", "\\x7fELF")),
    "linux.lsmod.Lsmod": Expect(("Module Name", "Code Size"), lambda c, f: {
        (m.name, m.core_size) for m in kernel_modules(c)}),
    "linux.malware.modxview.Modxview": Expect(("Name", "In procfs", "In sysfs", "In scan"), lambda c, f: {
        (m.name, True, True, True) for m in kernel_modules(c)}),
    "linux.malware.check_modules.Check_modules": Expect(("Module Name",), lambda c, f: set(), clean=True),
    "linux.malware.hidden_modules.Hidden_modules": Expect(("Name",), lambda c, f: set(), clean=True),
    "linux.malware.check_creds.Check_creds": Expect(("PIDs",), lambda c, f: set(), clean=True),
    "linux.ptrace.Ptrace": Expect(("Process",), lambda c, f: set(), clean=True),
    "linux.malware.check_syscall.Check_syscall": Expect(("Table Name", "Index", "Handler Symbol"), lambda c, f: {
        ("64bit", n, syscall_handler(n)) for n in range(NR_SYSCALLS)}),
    "linux.malware.check_idt.Check_idt": Expect(("Index", "Module", "Symbol"), lambda c, f: {
        (v, "__kernel__", name) for v, (name, _, _) in EXCEPTIONS.items()}),
    "linux.iomem.IOMem": Expect(("Name", "Start", "End"), lambda c, f: {
        ("System RAM", start, end - 1) for start, end in system_ram(c.memory.size_bytes)}, exact=False),
    "linux.ip.Addr": Expect(("Index", "Interface", "MAC", "IP", "Prefix", "Scope Type", "State"), lambda c, f: {
        row for i in interfaces(c) for row in (
            (i.ifindex, i.name, i.mac, i.ipv4[0], i.ipv4[1], "host" if i.name == "lo" else "global",
             "UNKNOWN" if i.name == "lo" else "UP"),
            (i.ifindex, i.name, i.mac, i.ipv6[0], i.ipv6[1], "host" if i.name == "lo" else "link",
             "UNKNOWN" if i.name == "lo" else "UP"))}),
    "linux.ip.Link": Expect(("Interface", "MAC", "MTU", "Qdisc"), lambda c, f: {
        (i.name, i.mac, i.mtu, i.qdisc) for i in interfaces(c)}),
    "linux.pidhashtable.PIDHashTable": Expect(("PID", "PPID", "COMM"), lambda c, f: {
        (p.pid, p.ppid, p.comm) for p in c.memory.processes}),
    "linux.mountinfo.MountInfo": Expect(("MOUNT_POINT", "MAJOR:MINOR", "FSTYPE", "MOUNT_SRC"), lambda c, f: {
        *((v.mount_point, f"8:{i}", "ext4" if v.fs == "ext4" else "vfat", f"/dev/sda{i}")
          for i, v in enumerate(c.disk.volumes, 1) if v.mount_point),
        ("/proc", "0:22", "proc", "proc"), ("/sys", "0:21", "sysfs", "sysfs"), ("/dev", "0:5", "devtmpfs", "udev"),
        ("/dev/pts", "0:24", "devpts", "devpts"), ("/run", "0:25", "tmpfs", "tmpfs")}, exact=False),
    "linux.kmsg.Kmsg": Expect(("level", "line"), lambda c, f: {
        ("notice", c.memory.banner.rstrip("\n")), ("info", f"e1000 0000:00:03.0 eth0: (PCI:33MHz:32-bit) "
                                                           f"{c.host(c.suspect_host).mac.lower()}"),
        ("info", " sda: " + " ".join(f"sda{i}" for i, v in enumerate(c.disk.volumes, 1) if v.mount_point)),
        *(("info", f"BIOS-e820: [mem {s:#018x}-{e - 1:#018x}] usable") for s, e in system_ram(c.memory.size_bytes)),
    }, exact=False),
    "linux.malware.tty_check.Tty_Check": Expect(("Name", "Module", "Symbol"), lambda c, f: {
        (n, "__kernel__", "n_tty_receive_buf") for n in ("tty1", "ptm0", "pts0")}),
    "linux.sockscan.Sockscan": Expect(("Source Addr", "Source Port", "Destination Addr", "Destination Port"),
                                      lambda c, f: {
        (s["local_ip"], str(s["local_port"]), s["remote_ip"], str(s["remote_port"])) for p in f["processes"]
        for s in p["sockets"]}),
    "linux.malware.keyboard_notifiers.Keyboard_notifiers": Expect(("Address",), lambda c, f: set(), clean=True),
    "linux.malware.check_afinfo.Check_afinfo": Expect(("Symbol Name",), lambda c, f: set(), clean=True),
    "linux.tracing.perf_events.PerfEvents": Expect(("Process",), lambda c, f: set(), clean=True),
    "linux.graphics.fbdev.Fbdev": Expect(("Name",), lambda c, f: set(), clean=True),
    "linux.tracing.ftrace.CheckFtrace": Expect(("Hooked symbols",), lambda c, f: set(), clean=True),
    "linux.tracing.tracepoints.CheckTracepoints": Expect(("Tracepoint",), lambda c, f: set(), clean=True),
    "linux.vmcoreinfo.VMCoreInfo": Expect(("Key", "Value"), lambda c, f: {
        ("OSRELEASE", c.memory.kernel_release), ("PAGESIZE", "4096"), ("KERNELOFFSET", "0x0"),
        ("NUMBER(phys_base)", "0")}, exact=False),
    "linux.library_list.LibraryList": Expect(("Pid", "Path"), lambda c, f: {
        (p.pid, LINK_MAP_NAMES[lib]) for p in _users(c) if p.exe_path for lib in (LIBC, LOADER)}),
    "linux.ebpf.EBPF": Expect(("Name", "Tag", "Type"), lambda c, f: {
        (name, tag, next(k for k, v in BPF_PROG_TYPES.items() if v == kind)) for _, kind, name, tag in PROGRAMS}),
    "linux.kallsyms.Kallsyms": Expect(("ModuleName", "SymbolName", "Type"), lambda c, f: {
        *(("kernel", name, "T") for name in TEXT_FUNCTIONS),
        *(("kernel", name, kind) for name, kind in (("linux_banner", "R"), ("init_task", "D"),
                                                    ("init_top_pgt", "B"), ("_text", "T"), ("_etext", "T"))),
        *((m.name, name, kind) for m in kernel_modules(c) for name, kind in (("cleanup_module", "t"),
                                                                            ("__this_module", "d")))},
        exact=False),
    "linux.kthreads.Kthreads": Expect(("TID", "Thread Name", "Module", "Symbol"), lambda c, f: {
        (p.pid, p.comm, "__kernel__", thread_function(p.comm)) for p in _visible(c)
        if p.kernel_thread and p.comm != "kthreadd"}),
}

KNOWN_FAILING: dict[str, str] = {
    "linux.malware.netfilter.Netfilter": "no netfilter hooks on init_net",
    "linux.module_extract.ModuleExtract": "needs --base of a module and its ELF sections (sect_attrs, kallsyms)",
    "linux.pagecache.Files": "no super_blocks list with inodes and page cache",
    "linux.pagecache.InodePages": "no page cache (address_space i_pages xarray)",
    "linux.pagecache.RecoverFs": "no super_blocks list with inodes and page cache",
    "linux.pscallstack.PsCallStack": "no kernel stacks with frames",
    "linux.vmayarascan.VmaYaraScan": "needs yara-python, not a dflab dependency",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Case, dict]:
    """Nightjar's memory for one trainee: the story's processes among a real host's (system.py)."""
    case = resolve(load_spec(ROOT / "labs" / "scenarios" / "nightjar.yaml"), bytes(range(32)), "plugins")
    out = tmp_path_factory.mktemp("plugins")
    facts = write_memory(case, out, formats=("lime",))
    return out, case, facts


@pytest.fixture(scope="module")
def vol(built: tuple[Path, Case, dict], tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Run]:
    out, _, _ = built
    cache = tmp_path_factory.mktemp("volcache")
    files = tmp_path_factory.mktemp("volfiles")  # what plugins write (RecoverFs, dumps) stays out of the cwd
    memo: dict[str, Run] = {}

    def run(plugin: str, *args: str) -> Run:
        if plugin not in memo:
            cmd = [_vol_exe(), "-o", str(files), "-r", "json", "-f", str(out / "memory.lime"),
                   "-s", str(out / "symbols"), "--offline", "--cache-path", str(cache), plugin, *args]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
            rows: Rows = []

            def walk(items: Rows) -> None:
                for item in items:
                    rows.append(item)
                    walk(item.get("__children", []))  # type: ignore[arg-type]

            if proc.returncode == 0:
                walk(json.loads(proc.stdout))
            errors = [line for line in proc.stderr.splitlines()
                      if line.startswith(("ERROR", "CRITICAL")) or "Traceback" in line]
            memo[plugin] = Run(proc.returncode, rows, errors)
        return memo[plugin]

    return run


def test_every_plugin_is_classified() -> None:
    plugins = linux_plugins()
    assert len(plugins) == 49, plugins  # volatility3 2.28.2
    assert set(EXPECTED).isdisjoint(KNOWN_FAILING)
    assert sorted({*EXPECTED, *KNOWN_FAILING}) == plugins


def test_enough_plugins_work() -> None:
    assert len(EXPECTED) >= MIN_WORKING


@pytest.mark.parametrize("plugin", sorted(EXPECTED))
def test_plugin_prints_what_the_case_planned(plugin: str, built, vol) -> None:
    _, case, facts = built
    want = EXPECTED[plugin]
    run = vol(plugin, *want.args)
    assert run.returncode == 0 and not run.errors, f"{plugin} failed: {run.errors}"
    expected = want.rows(case, facts)
    assert bool(expected) != want.clean, f"{plugin}: rows planned {expected} contradict clean={want.clean}"
    got = {tuple(r[c] for c in want.columns) for r in run.rows}
    if want.exact:
        assert got == expected
    else:
        assert expected <= got, sorted(expected - got)


@pytest.mark.parametrize("plugin", sorted(KNOWN_FAILING))
def test_known_failing_plugin_still_fails(plugin: str, vol) -> None:
    args = ("--pattern", "x") if "regexscan" in plugin else ()
    run = vol(plugin, *args)
    works = run.returncode == 0 and not run.errors and bool(run.rows)  # a clean check is in EXPECTED
    assert not works, f"{plugin} now prints {len(run.rows)} rows without an error: move it to EXPECTED"


def test_clean_module_checks_report_a_module_unlinked_from_the_list(built, tmp_path, monkeypatch) -> None:
    """The clean answers of hidden_modules and check_modules are not vacuous: unlink one module from
    ``modules`` (what a rootkit's ``list_del`` does) and both name it."""
    _, case, _ = built
    original = image.build_modules

    def hiding(kernel, modules, rng):  # type: ignore[no-untyped-def]
        addrs = original(kernel, modules, rng)
        kept = [addrs[m.name] for m in reversed(modules) if m.name != "psmouse"]
        kernel.km.link_list(kernel.sym["modules"], [kernel.km.addr_of(a, "module", "list") for a in kept])
        return addrs

    monkeypatch.setattr(image, "build_modules", hiding)
    write_memory(case, tmp_path / "hidden", formats=("lime",))
    (tmp_path / "cache").mkdir()
    for plugin in ("linux.malware.hidden_modules.Hidden_modules", "linux.malware.check_modules.Check_modules"):
        cmd = [_vol_exe(), "-o", str(tmp_path), "-r", "json", "-f", str(tmp_path / "hidden" / "memory.lime"),
               "-s", str(tmp_path / "hidden" / "symbols"), "--offline", "--cache-path", str(tmp_path / "cache"),
               plugin]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert [r["Module Name"] for r in json.loads(proc.stdout)] == ["psmouse"], plugin


def test_envars_show_the_ssh_login_the_shell_state_and_a_service(built, vol) -> None:
    """bash has what sshd and PAM give a remote login (no PWD or SHLVL: bash sets those after exec), the program
    it ran has bash's exports with the directory its ``cd`` left and ``_``, and cron has systemd's service
    environment: each row computed from the case's facts, not copied from the environ the writer stored."""
    _, case, _ = built
    run = vol("linux.envars.Envars")
    env: dict[int, dict[str, str]] = {}
    for r in run.rows:
        env.setdefault(r["PID"], {})[r["KEY"]] = r["VALUE"]
    bash = next(p for p in _visible(case) if p.comm == "bash")
    implant = next(p for p in _visible(case) if p.ppid == bash.pid)
    user = next(u for u in case.users if u.uid == bash.uid)
    ip = case.host(case.suspect_host).ip
    client, port, server_port = env[bash.pid]["SSH_CLIENT"].split()
    assert env[bash.pid]["SSH_CONNECTION"] == f"{client} {port} {ip} 22" and server_port == "22"
    assert {k: env[bash.pid][k] for k in ("USER", "LOGNAME", "HOME", "SHELL", "MAIL", "SSH_TTY", "XDG_RUNTIME_DIR",
                                          "XDG_SESSION_TYPE")} == {
        "USER": user.name, "LOGNAME": user.name, "HOME": user.home, "SHELL": user.shell,
        "MAIL": f"/var/mail/{user.name}", "SSH_TTY": "/dev/pts/0", "XDG_RUNTIME_DIR": f"/run/user/{user.uid}",
        "XDG_SESSION_TYPE": "tty"}
    assert not {"PWD", "SHLVL", "_"} & set(env[bash.pid])
    last_cd = [h.command for h in bash.bash_history if h.command.startswith("cd ") and h.time <= implant.start_time]
    assert last_cd == ["cd ~/Downloads"]
    assert {k: env[implant.pid].get(k) for k in ("PWD", "OLDPWD", "SHLVL", "_", "SSH_CONNECTION")} == {
        "PWD": f"{user.home}/Downloads", "OLDPWD": user.home, "SHLVL": "1", "_": implant.args[0],
        "SSH_CONNECTION": env[bash.pid]["SSH_CONNECTION"]}
    cron = next(p for p in _visible(case) if p.comm == "cron")
    assert set(env[cron.pid]) == {"LANG", "PATH", "INVOCATION_ID", "JOURNAL_STREAM", "SYSTEMD_EXEC_PID"}
    assert env[cron.pid]["SYSTEMD_EXEC_PID"] == str(cron.pid)
    assert len(env[cron.pid]["INVOCATION_ID"]) == 32 and env[cron.pid]["JOURNAL_STREAM"].startswith("8:")


def test_psaux_shows_each_story_process_command_line_as_the_case_gives_it(built, vol) -> None:
    """systemd, the three sshd (listener, the login's monitor and session), bash and the implant: psaux reads
    mm->arg_start..arg_end from each process's stack, and must print the case's own argv, joined by spaces:
    compared with the case's ``args``, not with what the writer reported."""
    _, case, _ = built
    args = {r["PID"]: r["ARGS"] for r in vol("linux.psaux.PsAux").rows}
    bash = next(p for p in _visible(case) if p.comm == "bash")
    implant = next(p for p in _visible(case) if p.ppid == bash.pid)
    chosen = [p for p in _visible(case) if p.pid == 1 or p.comm == "sshd"] + [bash, implant]
    assert len(chosen) == 6
    assert {p.pid: args.get(p.pid) for p in chosen} == {p.pid: " ".join(p.args) for p in chosen}
    assert all(p.args and all(p.args) for p in chosen)


def test_creation_times_are_nanosecond_precise_and_follow_the_forks(built, vol) -> None:
    """No task started on a whole second (the kernel's start_boottime is in ns), each is the case's second, and
    within one second the pids, handed out in fork order, start in pid order."""
    _, case, _ = built
    rows = vol("linux.pslist.PsList").rows
    started = {r["PID"]: datetime.fromisoformat(str(r["CREATION TIME"])).timestamp() for r in rows}
    assert {pid: int(t) for pid, t in started.items()} == {p.pid: p.start_time for p in _visible(case)}
    assert [pid for pid, t in started.items() if t == int(t)] == []
    ordered = sorted((int(t), pid, t) for pid, t in started.items())
    assert all(a[0] != b[0] or a[2] <= b[2] for a, b in zip(ordered, ordered[1:], strict=False))


def test_root_mount_hangs_on_the_unlisted_rootfs(vol) -> None:
    """As on a real host, ``/``'s parent is the namespace's rootfs mount (id 1), which mountinfo does not list;
    every other mount's parent is a listed mount."""
    rows = vol("linux.mountinfo.MountInfo").rows
    ids = {r["MOUNT ID"] for r in rows}
    root = next(r for r in rows if r["MOUNT_POINT"] == "/")
    assert root["PARENT_ID"] == 1 and 1 not in ids
    assert all(r["PARENT_ID"] in ids for r in rows if r is not root)


def test_kallsyms_lists_every_image_symbol_at_its_address(built, vol) -> None:
    """The core symbols kallsyms decodes from the kernel's own tables are exactly the ISF's image symbols
    (the ``kallsyms_*`` tables left out, as ``scripts/kallsyms`` leaves them out), each at the ISF's address;
    the modules' symbols lie in the module area.  volatility prints addresses masked to the 48 bits the
    4-level layer translates."""
    mask = (1 << 48) - 1
    out, case, _ = built
    isf = json.loads(next((out / "symbols" / "linux").glob("*.json")).read_text())
    image = {name: e["address"] & mask for name, e in isf["symbols"].items()
             if START_KERNEL_MAP + KERNEL_PHYS <= e["address"] < START_KERNEL_MAP + KERNEL_PHYS + KERNEL_IMAGE_SIZE
             and not name.startswith("kallsyms_")}
    rows = vol("linux.kallsyms.Kallsyms").rows
    core = {r["SymbolName"]: r["Addr"] for r in rows if r["ModuleName"] == "kernel"}
    assert core == image
    modules = {r["ModuleName"] for r in rows if r["SubSystem"] == "module"}
    assert modules == {m.name for m in kernel_modules(case)}
    assert all(MODULES_VADDR & mask <= r["Addr"] for r in rows if r["SubSystem"] == "module")


def test_a_console_login_keeps_gettys_service_environment_and_has_no_ssh() -> None:
    """Kestrel's operator logs in on tty2: ``login -p`` keeps getty's service variables, adds the seat and VT,
    and no SSH variable appears; the kit's server, run from the shell, has ``_`` set to its program."""
    case = resolve(load_spec(ROOT / "labs" / "scenarios" / "kestrel.yaml"), bytes(range(32)), "console")
    procs = {p.pid: p for p in case.memory.processes}
    bash = next(p for p in procs.values() if p.comm == "bash")
    login, env = procs[bash.ppid], dict(bash.environ)
    assert login.comm == "login" and dict(login.environ)["TERM"] == "linux"
    assert env["INVOCATION_ID"] == dict(login.environ)["INVOCATION_ID"]
    assert {k: env[k] for k in ("TERM", "XDG_SEAT", "XDG_VTNR", "LANG")} == {
        "TERM": "linux", "XDG_SEAT": "seat0", "XDG_VTNR": "2", "LANG": "en_US.UTF-8"}
    assert not [k for k in env if k.startswith("SSH_")]
    server = next(p for p in procs.values() if p.ppid == bash.pid)
    assert dict(server.environ)["_"] == server.exe_path and dict(server.environ)["SHLVL"] == "1"
