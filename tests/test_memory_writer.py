"""The memory writer, checked with the real, pinned volatility3 on the small case.

Every plugin's rows are compared with what the case planned.  Images are
written once per module (each ``vol`` run takes about a second).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import json
import shutil
import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

from dflab.errors import EvidenceError
from dflab.evidence.memory import write_memory
from dflab.scenario.case import Case, OpenFile, Socket
from tests.small_case import small_case

HIDDEN_PID = 1503


pytestmark = pytest.mark.xdist_group("memory")  # one worker, so the module's images are written once


def _vol_exe() -> str:
    """The `vol` of the running interpreter's environment (a venv need not be on PATH)."""
    beside = Path(sys.executable).parent / "vol"
    exe = str(beside) if beside.exists() else shutil.which("vol")
    if exe is None:
        pytest.fail("volatility3's `vol` is not installed (pip install volatility3==2.28.2)")
    return exe


def run_vol(image: Path, cache: Path, plugin: str, symbols: Path | None = None) -> list[dict[str, object]]:
    """Rows of ``plugin`` as volatility3's JSON renderer gives them, children flattened."""
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [_vol_exe(), "-q", "-r", "json", "-f", str(image), "-s", str(symbols or image.parent / "symbols"),
           "--offline", "--cache-path", str(cache), plugin]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}"
    rows: list[dict[str, object]] = []

    def walk(items: list[dict[str, object]]) -> None:
        for item in items:
            rows.append(item)
            walk(item.get("__children", []))  # type: ignore[arg-type]

    walk(json.loads(proc.stdout))
    return rows


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


@pytest.fixture(scope="module")
def case() -> Case:
    return small_case()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, case: Case) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("memory")
    facts = write_memory(case, out)
    return out, facts


@pytest.fixture(scope="module")
def vol(written: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory):
    out, _ = written
    cache = tmp_path_factory.mktemp("volcache")
    memo: dict[tuple[str, str], list[dict[str, object]]] = {}

    def run(plugin: str, fmt: str = "lime") -> list[dict[str, object]]:
        key = (plugin, fmt)
        if key not in memo:
            memo[key] = run_vol(out / f"memory.{fmt}", cache, plugin)
        return memo[key]

    return run


def visible(case: Case) -> list:
    return [p for p in case.memory.processes if not p.hidden]


def test_pslist_lists_every_visible_process_with_ids_creds_and_creation_time(case, vol, written):
    facts = {p["pid"]: p for p in written[1]["processes"]}
    rows = {(r["PID"], r["PPID"], r["COMM"], r["UID"], r["GID"], iso(int(_started(r))), r["OFFSET (V)"])
            for r in vol("linux.pslist")}
    expected = {(p.pid, p.ppid, p.comm, p.uid, p.gid, iso(p.start_time), facts[p.pid]["task_virtual"])
                for p in visible(case)}
    assert rows == expected
    assert HIDDEN_PID not in {r[0] for r in rows}


def _started(row: dict[str, object]) -> float:
    return datetime.fromisoformat(str(row["CREATION TIME"])).timestamp()


def test_start_times_have_a_sub_second_part_in_fork_order(case, vol):
    """The kernel keeps nanoseconds: no creation time is a whole second, pids forked in one second start in
    pid order, and no child starts before its parent."""
    started = {r["PID"]: _started(r) for r in vol("linux.pslist")}
    whole = sorted(pid for pid, t in started.items() if t == int(t))
    assert not whole, f"creation times of whole seconds: pids {whole}"
    by_pid = {p.pid: p for p in visible(case)}
    for pid, t in started.items():
        parent = by_pid[pid].ppid
        assert parent not in started or started[parent] <= t, f"pid {pid} starts before its parent {parent}"
    same_second = sorted((int(t), pid, t) for pid, t in started.items())
    for (sec_a, pid_a, t_a), (sec_b, pid_b, t_b) in zip(same_second, same_second[1:], strict=False):
        assert sec_a != sec_b or t_a <= t_b, f"pid {pid_b} forked after {pid_a} but starts first"


def test_task_structs_sit_in_order_3_slabs_of_their_own_size(vol, written):
    """task_struct objects come from their slab cache: sizeof(task_struct) apart at least, within 32 KiB slabs
    of whole pages, the slabs spread over the direct map."""
    out, facts = written
    isf = json.loads((out / facts["symbols"]).read_text())
    size = isf["user_types"]["task_struct"]["size"]
    assert size >= 0x2000, f"sizeof(task_struct) is {size:#x}: a 6.1 kernel's is about 9.7 KiB"
    tasks = sorted(r["OFFSET (V)"] for r in vol("linux.pslist"))
    gaps = [b - a for a, b in zip(tasks, tasks[1:], strict=False)]
    assert min(gaps) >= size, f"task_structs {min(gaps):#x} bytes apart, sizeof is {size:#x}"
    slab = 8 * 4096
    slabs = {t // slab for t in tasks}
    assert all((t % slab) % (-(-size // 64) * 64) == 0 and t % slab + size <= slab for t in tasks)
    assert len(slabs) >= len(tasks) // 3 and max(slabs) - min(slabs) > len(slabs), "slabs packed together"


def test_pstree_nests_children_under_their_parents(case, vol):
    rows = vol("linux.pstree")
    assert {(r["PID"], r["PPID"]) for r in rows} == {(p.pid, p.ppid) for p in visible(case)}
    top = {r["PID"] for r in json_top_level(rows)}
    assert top == {p.pid for p in visible(case) if p.ppid == 0}


def json_top_level(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    nested = {id(c) for r in rows for c in r["__children"]}  # type: ignore[union-attr]
    return [r for r in rows if id(r) not in nested]


def test_psaux_shows_command_lines(case, vol, written):
    rows = {r["PID"]: r["ARGS"] for r in vol("linux.psaux")}
    assert rows == {p["pid"]: p["args"] for p in written[1]["processes"] if not p["hidden"]}
    assert rows[1502] == "./update.bin --beacon 203.0.113.45:443"
    assert rows[2] == "[kthreadd]"


def test_bash_recovers_history_with_timestamps(case, vol):
    rows = [(r["PID"], r["CommandTime"], r["Command"]) for r in vol("linux.bash")]
    bash = next(p for p in case.memory.processes if p.comm == "bash")
    assert rows == [(bash.pid, iso(h.time), h.command) for h in bash.bash_history]


def test_lsof_shows_planned_files_sockets_and_stdio(case, vol, written):
    rows = {(r["PID"], r["FD"], r["Path"]) for r in vol("linux.lsof")}
    expected = {(p["pid"], f["fd"], f["path"]) for p in written[1]["processes"] if not p["hidden"]
                for f in p["files"]}
    assert rows == expected
    assert (1502, 3, "/home/jdoe/Documents/q1_forecast.txt") in rows
    sock_inodes = {s["inode"] for p in written[1]["processes"] for s in p["sockets"]}
    assert {(1502, 4, f"socket:[{i}]") for i in sock_inodes} & rows
    for p in visible(case):
        if not p.kernel_thread:
            assert {0, 1, 2} <= {fd for pid, fd, _ in rows if pid == p.pid}


def test_lsof_uses_disk_metadata_for_files_on_the_case_disk(case, vol):
    row = next(r for r in vol("linux.lsof") if r["PID"] == 1502 and r["FD"] == 3)
    report = case.file("report")
    assert row["Size"] == len(report.content)
    assert int(datetime.fromisoformat(row["Modified"]).timestamp()) == report.mtime  # + ext4's nanoseconds
    assert row["Type"] == "REG"
    assert row["Device"] == "8:2"  # the root file system is the disk's second partition


def test_sockstat_shows_each_planned_socket(case, vol):
    """In the state the capture leaves it at the acquisition: the exfiltration the implant holds ended with FINs
    (the raw flow at T0+1700, the acquisition at T0+3600), so it reads CLOSE (tests/test_fact_model.py)."""
    rows = {(r["PID"], r["FD"], r["Family"], r["Proto"], r["Source Addr"], r["Source Port"], r["Destination Addr"],
             r["Destination Port"], r["State"]) for r in vol("linux.sockstat")}
    closed = {(r.client_port, r.server_port) for r in case.network.raw}
    expected = {(p.pid, s.fd, "AF_INET", s.proto.upper(), s.local_ip, str(s.local_port), s.remote_ip,
                 str(s.remote_port), "CLOSE" if (s.local_port, s.remote_port) in closed else s.state)
                for p in visible(case) for s in p.sockets}
    assert rows == expected
    assert any(state == "CLOSE" for *_, state in rows)


def test_psscan_finds_the_hidden_process_that_pslist_misses(case, vol, written):
    facts = {p["pid"]: p for p in written[1]["processes"]}
    rows = {(r["PID"], r["PPID"], r["COMM"], r["OFFSET (P)"]) for r in vol("linux.psscan")}
    assert rows == {(p.pid, p.ppid, p.comm, facts[p.pid]["task_physical"]) for p in case.memory.processes}
    assert written[1]["hidden_pids"] == [HIDDEN_PID]
    assert HIDDEN_PID not in {r["PID"] for r in vol("linux.pslist")}


def test_malfind_flags_exactly_the_injected_region(case, vol, written):
    rows = vol("linux.malware.malfind")
    proc = next(p for p in case.memory.processes if p.injected)
    inj = written[1]["injected"]
    assert [(r["PID"], r["Start"], r["End"], r["Protection"]) for r in rows] == [
        (proc.pid, proc.injected.start, inj[0]["end"], "rwx")]
    assert inj[0]["start"] == proc.injected.start
    assert bytes.fromhex(str(rows[0]["Hexdump"]).replace(" ", "")).startswith(proc.injected.content)


def test_envars_reads_the_environment(case, vol):
    rows = [(r["PID"], r["KEY"], r["VALUE"]) for r in vol("linux.envars")]
    assert rows == [(p.pid, k, v) for p in visible(case) for k, v in p.environ]


def test_boottime_is_the_planned_boot_time(case, vol):
    assert [r["Boot Time"] for r in vol("linux.boottime")] == [iso(case.memory.boot_time)]


def test_raw_image_analyses_like_the_lime_image(vol):
    def key(rows):
        return sorted((r["PID"], r["COMM"], r["OFFSET (V)"]) for r in rows)

    assert key(vol("linux.pslist", "raw")) == key(vol("linux.pslist", "lime"))
    assert HIDDEN_PID in {r["PID"] for r in vol("linux.psscan", "raw")}


def test_lime_ranges_follow_the_system_ram_map_and_raw_stays_flat(case, written):
    out, facts = written
    raw = (out / "memory.raw").read_bytes()
    lime = (out / "memory.lime").read_bytes()
    size = case.memory.size_bytes
    assert len(raw) == size == facts["size_bytes"]
    ranges, pos = [], 0
    while pos < len(lime):
        magic, version, start, end = struct.unpack_from("<IIQQ", lime, pos)
        assert (magic, version) == (0x4C694D45, 1)
        assert lime[pos + 32 : pos + 32 + end + 1 - start] == raw[start : end + 1]
        ranges.append((start, end))
        pos += 32 + end + 1 - start
    # SeaBIOS's e820 map: RAM from 4 KiB to 0x9FBFF and from 1 MiB to 128 KiB short of the top
    assert ranges == [(0x1000, 0x9FBFF), (0x100000, size - 0x20000 - 1)]
    assert not any(raw[:0x1000]) and not any(raw[0x9FC00:0x100000]) and not any(raw[size - 0x20000 :])
    assert raw.count(case.memory.banner.encode() + b"\0") == 1


def test_isf_validates_against_volatility_schema(written):
    out, facts = written
    isf = json.loads((out / facts["symbols"]).read_text())
    schema_file = importlib.resources.files("volatility3.schemas") / f"schema-{isf['metadata']['format']}.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.Draft7Validator(schema).validate(isf)
    assert facts["symbols"].startswith("symbols/linux/")


def _digests(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_two_writes_are_byte_identical(case, tmp_path, written):
    first, second = tmp_path / "a", tmp_path / "b"
    facts_a = write_memory(case, first)
    facts_b = write_memory(small_case(), second)
    assert facts_a == facts_b == written[1]
    assert _digests(first) == _digests(second) == _digests(written[0])


def _variant(case: Case) -> Case:
    """Same story, another trainee: new seed and banner, a renamed implant holding its deleted
    binary open, bash's fd 255, and UDP / CLOSE_WAIT sockets."""
    mem = case.memory
    banner = mem.banner.replace("(small)", "(variant-b)")
    sshd = next(p for p in mem.processes if p.pid == 812)
    changes = {
        1502: {"comm": "svc-update", "open_files": (OpenFile(5, "/home/jdoe/Downloads/update.bin"),)},
        1450: {"open_files": (OpenFile(255, "/dev/pts/0"),)},
        812: {"sockets": (*sshd.sockets, Socket("udp", "UNCONNECTED", "0.0.0.0", 68, fd=7),
                          Socket("tcp", "CLOSE_WAIT", "10.13.37.23", 22, "10.13.37.1", 50111, fd=8))},
    }
    procs = tuple(dataclasses.replace(p, **changes.get(p.pid, {})) for p in mem.processes)
    return dataclasses.replace(case, seed="11" * 32, variant="b",
                               memory=dataclasses.replace(mem, banner=banner, processes=procs))


def test_variants_get_distinct_isf_names_and_share_a_symbols_dir_and_cache(case, tmp_path, written):
    out_a, facts_a = written
    out_b = tmp_path / "b"
    facts_b = write_memory(_variant(case), out_b, formats=("lime",))
    assert facts_b["symbols"] != facts_a["symbols"]
    assert not (out_b / "memory.raw").exists()
    shared = tmp_path / "symbols"
    for facts, out in ((facts_a, out_a), (facts_b, out_b)):
        target = shared / Path(facts["symbols"]).relative_to("symbols")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(out / facts["symbols"], target)
    cache = tmp_path / "cache"
    for out, name in ((out_a, "update.bin"), (out_b, "svc-update"), (out_a, "update.bin")):
        rows = run_vol(out / "memory.lime", cache, "linux.pslist", symbols=shared)
        assert {r["PID"]: r["COMM"] for r in rows}[1502] == name
    lsof = {(r["PID"], r["FD"]): r["Path"] for r in run_vol(out_b / "memory.lime", cache, "linux.lsof",
                                                             symbols=shared)}
    assert lsof == {(p["pid"], f["fd"]): f["path"] for p in facts_b["processes"] if not p["hidden"]
                    for f in p["files"]}
    assert {fd: path for (pid, fd), path in lsof.items() if pid == 1450} == {
        0: "/dev/pts/0", 1: "/dev/pts/0", 2: "/dev/pts/0", 255: "/dev/pts/0"}
    assert lsof[(1502, 5)] == " /home/jdoe/Downloads/update.bin (deleted)"
    sockstat = {(r["PID"], r["FD"], r["Proto"], r["State"])
                for r in run_vol(out_b / "memory.lime", cache, "linux.sockstat", symbols=shared)}
    assert sockstat == {(p["pid"], s["fd"], s["proto"], s["state"]) for p in facts_b["processes"]
                        if not p["hidden"] for s in p["sockets"]}
    assert {(812, 7, "UDP", "UNCONNECTED"), (812, 8, "TCP", "CLOSE_WAIT")} <= sockstat


@pytest.mark.parametrize(("change", "message"), [
    (lambda p: dataclasses.replace(p, comm="a-much-too-long-comm"), "comm"),
    (lambda p: dataclasses.replace(p, ppid=4242), "ppid"),
    (lambda p: dataclasses.replace(p, sockets=(*p.sockets, dataclasses.replace(p.sockets[0]))), "file descriptors"),
])
def test_impossible_processes_are_rejected_with_their_pid(case, tmp_path, change, message):
    procs = tuple(change(p) if p.pid == 1502 else p for p in case.memory.processes)
    bad = dataclasses.replace(case, memory=dataclasses.replace(case.memory, processes=procs))
    with pytest.raises(EvidenceError, match=message) as err:
        write_memory(bad, tmp_path)
    assert "pid=1502" in str(err.value)
