"""Generated registry hives, read by three independent parsers and compared with real Windows hives.

Every hive is read by regipy (pure Python), libregf (libyal, C) and hivex (libguestfs, C, through Debian's
python3-hivex under /usr/bin/python3): all three must report exactly the keys, last-written times, class names and
typed values the writer was given, in Windows' subkey order. regipy's plugins must return the case's facts. A
byte-level structure check (written here, independent of the writer) runs on generated and real hives alike, and
is shown to catch planted defects; the real hives in ../shared/samples/windows/registry go through the same
three readers.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import lzma
import os
import struct
import subprocess
import sys
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyregf
import pytest
from regipy import registry as regipy_registry
from regipy.plugins.system.active_controlset import ActiveControlSetPlugin
from regipy.plugins.system.services import ServicesPlugin

from dflab.errors import DflabError
from dflab.evidence.windows.registry import (
    Account,
    Hive,
    Implant,
    Layout,
    NetworkInterface,
    ProgramRun,
    RecentDoc,
    Service,
    Typed,
    UsbStick,
    ValueType,
    WorkstationFacts,
    ntuser_hive,
    sam_hive,
    software_hive,
    system_hive,
    usrclass_hive,
    workstation_hives,
)
from dflab.evidence.windows.registry.security import ADMINISTRATORS, KEY_ALL_ACCESS, SYSTEM, Ace, descriptor
from dflab.evidence.windows.registry.system import service_key
from dflab.evidence.windows.wintypes import filetime
from tests.samples import sample

# -- the case -------------------------------------------------------------------------------------------------------


def at(day: int, hour: int, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, second, micro, tzinfo=UTC)


OWNER = Account("mvdberg", 1001, created=datetime(2024, 2, 12, 9, 31, 7, tzinfo=UTC),
                full_name="Marieke van den Berg", comment="Projectleider", last_logon=at(8, 7, 58, 41, 123456),
                password_last_set=datetime(2024, 2, 12, 9, 31, 9, tzinfo=UTC), logon_count=57)
SUPPORT = Account("support", 1002, created=datetime(2024, 2, 20, 14, 2, tzinfo=UTC), disabled=True)
USB = UsbStick("SanDisk", "Cruzer Blade", "1.00", "4C530001230412117483", 0x0781, 0x5567,
               first_inserted=at(4, 10, 12, 5), last_inserted=at(8, 9, 41, 30), last_removed=at(8, 11, 2, 17),
               volume_label="BACKUP")
SERVICE = Service("WinUpdateHelper", r'"C:\ProgramData\WinUpd\wuhelper.exe" -k netsvcs', at(8, 10, 5, 44))
FACTS = WorkstationFacts(
    computer_name="DESKTOP-7K2Q9RM",
    machine_sid="S-1-5-21-1904374632-2447129823-3516276554",
    installed=datetime(2024, 2, 12, 9, 14, 3, tzinfo=UTC),
    last_shutdown=at(8, 18, 2, 11),
    owner=OWNER,
    other_accounts=(SUPPORT,),
    registered_owner="Marieke van den Berg",
    registered_organization="Van den Berg Architecten",
    boot_key=bytes.fromhex("8f1d2c3b4a5968778695a4b3c2d1e0f0"),
    usb=USB,
    implant=Implant("WinUpdateHelper", r"C:\ProgramData\WinUpd\wuhelper.exe -k netsvcs", installed=at(8, 10, 5, 44)),
    programs_run=(
        ProgramRun(r"{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\cmd.exe", 3, at(8, 10, 3, 2), focus_count=4,
                   focus_ms=95_000),
        ProgramRun(r"C:\Users\mvdberg\Downloads\invoice_2024_03.exe", 1, at(8, 10, 1, 55), focus_count=1,
                   focus_ms=2_000),
        ProgramRun(r"{0139D44E-6AFE-49F2-8690-3DAFCAE6FFB8}\Accessories\Notepad.lnk", 2, at(7, 15, 20),
                   shortcut=True),
    ),
    recent_docs=(RecentDoc("offerte_2024.docx", at(5, 9, 2)), RecentDoc("invoice_2024_03.pdf", at(8, 9, 59, 12)),
                 RecentDoc("begroting.xlsx", at(6, 13, 40)), RecentDoc("plan.docx", at(7, 11, 5))),
    typed_paths=(Typed("E:\\", at(8, 9, 42)), Typed(r"\\nas01\projecten", at(6, 8, 30))),
    run_mru=(Typed("cmd", at(8, 10, 2)), Typed("powershell -ep bypass", at(8, 10, 4)), Typed("cmd", at(8, 10, 6))),
    services=(SERVICE,),
    host_name="Desktop-7K2Q9RM",
    network=NetworkInterface(
        uuid.UUID("5c1b2a7e-8d44-4f0b-9e3a-6b2c0d9f1e47"), "Intel(R) Ethernet Connection (7) I219-LM",
        "3c:52:82:1a:2b:3c", "192.168.10.37", "255.255.255.0", "192.168.10.1", "192.168.10.1", "74:4d:28:9a:bc:de",
        ("192.168.10.1", "9.9.9.9"), 86_400, 43_200, 75_600, at(8, 7, 56, 12), domain="office.lan",
        profile_guid=uuid.UUID("0e8b6f3a-2c4d-4e5f-8a9b-1c2d3e4f5a6b"),
        first_connected=datetime(2024, 2, 12, 9, 40, 2, tzinfo=UTC), last_connected=at(8, 7, 56, 40),
        local_times=(datetime(2024, 2, 12, 10, 40, 2), datetime(2024, 3, 8, 8, 56, 40))),
)


def edge_hive() -> Hive:
    """A hive exercising what the workstation's hives do not: every value type, big data, Unicode names, a class
    name, a second security descriptor, names whose order differs between case-sensitive and Windows' order."""
    t0 = datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    hive = Hive("ROOT", t0, file_name=r"\SystemRoot\System32\Config\EDGE")
    key = hive.key(r"Types\All", t0 + timedelta(seconds=1))
    (key.value("", ValueType.SZ, "default")
        .value("none", ValueType.NONE, b"")
        .value("sz", ValueType.SZ, "héllo wörld €")
        .value("expand", ValueType.EXPAND_SZ, r"%SystemRoot%\system32")
        .value("langid", ValueType.BINARY, b"\x09\x04")
        .value("binary3", ValueType.BINARY, b"abc")
        .value("binary4", ValueType.BINARY, b"\x01\x02\x03\x04")
        .value("binary5", ValueType.BINARY, b"\x01\x02\x03\x04\x05")
        .value("dword", ValueType.DWORD, 0xDEADBEEF)
        .value("negative", ValueType.DWORD, -60)
        .value("qword", ValueType.QWORD, 2**63 + 5)
        .value("multi", ValueType.MULTI_SZ, ["one", "twee", "drei"])
        .value("big", ValueType.BINARY, bytes(i * 7 % 251 for i in range(40_000)))
        .value("exact", ValueType.BINARY, b"x" * 16344)
        .value("überlong", ValueType.SZ, "z" * 9000)
        .value("Ωmega", ValueType.DWORD, 1))
    for name in ("b", "A", "_under", "Zeta", "alpha", "ä-umlaut", "Ωmega", "[bracket", "a1", "A0"):
        hive.key(rf"Order\{name}", t0 + timedelta(minutes=len(name)))
    for i in range(40):
        hive.key(rf"Many\key{i:03d}", t0 + timedelta(hours=i))
    hive.key(r"Secure\Lsa\JD", t0, class_name="6b1f2a9c")
    locked = descriptor(ADMINISTRATORS, SYSTEM, [Ace(SYSTEM, KEY_ALL_ACCESS)])
    hive.key(r"Secure\Locked", t0, security=locked).value("inherited-by-children", ValueType.DWORD, 1)
    hive.key(r"Secure\Locked\Child", t0)
    return hive


# -- one neutral view of a hive ---------------------------------------------------------------------------------------

STANDARD_TYPES = {0: "REG_NONE", 1: "REG_SZ", 2: "REG_EXPAND_SZ", 3: "REG_BINARY", 4: "REG_DWORD",
                  7: "REG_MULTI_SZ", 11: "REG_QWORD"}


@dataclass
class KeyView:
    """One key as a reader reports it: time, class name (None when the reader has no API for it), values."""

    last_written: int
    class_name: str | None
    values: list[tuple[str, int, bytes]] = field(default_factory=list)


def model_view(hive: Hive) -> dict[str, KeyView]:
    """What the writer was asked to store, keys in depth-first stored (Windows-sorted) order."""
    out: dict[str, KeyView] = {}

    def visit(key, path: str) -> None:
        out[path] = KeyView(key.last_written, key.class_name, [(v.name, v.kind, v.data) for v in key.values()])
        for child in key.subkeys():
            visit(child, f"{path}\\{child.name}" if path else child.name)

    visit(hive.root, "")
    return out


def libregf_view(path: Path) -> dict[str, KeyView]:
    regf = pyregf.file()
    regf.open(str(path))
    out: dict[str, KeyView] = {}

    def visit(key, where: str) -> None:
        values = []
        for i in range(key.number_of_values):
            value = key.get_value(i)
            values.append((value.name or "", value.type, value.data or b""))
        out[where] = KeyView(key.get_last_written_time_as_integer(), key.class_name, values)
        for i in range(key.number_of_sub_keys):
            child = key.get_sub_key(i)
            visit(child, f"{where}\\{child.name}" if where else child.name)

    visit(regf.get_root_key(), "")
    regf.close()
    return out


_HIVEX_DUMP = r"""
import json, sys
import hivex
h = hivex.Hivex(sys.argv[1])
out = {}
stack = [(h.root(), "")]
while stack:
    node, path = stack.pop()
    values = []
    for v in h.node_values(node):
        kind, data = h.value_value(v)
        values.append([h.value_key(v), kind, data.hex()])
    out[path] = [h.node_timestamp(node), values]
    children = [(c, (path + "\\" + h.node_name(c)) if path else h.node_name(c)) for c in h.node_children(node)]
    stack.extend(reversed(children))
    out.setdefault("\0order", []).append(path)
json.dump(out, sys.stdout)
"""


def hivex_view(path: Path) -> dict[str, KeyView]:
    """hivex through Debian's python3-hivex, which lives in /usr/bin/python3's dist-packages, not in .venv."""
    done = subprocess.run(["/usr/bin/python3", "-c", _HIVEX_DUMP, str(path)], capture_output=True, text=True,
                          check=False)
    if done.returncode:
        pytest.fail(f"hivex could not read {path.name} (python3-hivex is installed by install-deps.sh): "
                    f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    raw = json.loads(done.stdout)
    return {p: KeyView(raw[p][0], None, [(n, k, bytes.fromhex(d)) for n, k, d in raw[p][1]]) for p in raw["\0order"]}


def regipy_view(path: Path, decode_under: tuple[str, ...] | None = None) -> dict[str, KeyView]:
    """regipy decodes data by type; the view keeps its type names and decoded data (see regipy_expected).

    ``decode_under``: decode values only below these paths and give the others as (None, None, None) each (on the
    real SYSTEM, decoding all 73 456 values costs regipy half a minute of CPU; its keys and times are all read).
    """
    hive = regipy_registry.RegistryHive(str(path), hive_type="ntuser")  # the type only picks plugins
    out: dict[str, KeyView] = {}

    def visit(key, where: str) -> None:
        if decode_under is None or any(where == p or where.startswith(p + "\\") for p in decode_under):
            values = [("" if v.name == "(default)" else v.name, str(v.value_type), v.value)  # its unnamed value
                      for v in key.iter_values(trim_values=False)]
        else:
            values = [(None, None, None)] * key.values_count
        out[where] = KeyView(key.header.last_modified, key.get_class_name() or None, values)  # "" when none
        for child in key.iter_subkeys():
            visit(child, f"{where}\\{child.name}" if where else child.name)

    visit(hive.root, "")
    return out


def regipy_expected(kind: int, data: bytes) -> tuple[str, object]:
    """What regipy reports for a value: its type's name (the number for others) and decoded data.

    Data of types regipy does not decode (a SAM name's RID type, device properties) is not compared: regipy reads
    such data from the data offset even when Windows stored it inside the vk, as on real SAM hives.
    """
    if kind in (ValueType.SZ, ValueType.EXPAND_SZ):
        return STANDARD_TYPES[kind], data.decode("utf-16-le").rstrip("\0")
    if kind == ValueType.DWORD:
        return "REG_DWORD", struct.unpack("<I", data)[0]
    if kind == ValueType.QWORD:
        return "REG_QWORD", struct.unpack("<Q", data)[0]
    if kind == ValueType.MULTI_SZ:
        return "REG_MULTI_SZ", [s for s in data.decode("utf-16-le").split("\0") if s]
    if kind in (ValueType.BINARY, ValueType.NONE):
        return STANDARD_TYPES[kind], data
    if kind == 0xFFFF0010:
        return "REG_FILETIME", None
    return str(kind & 0xFFFF if kind > 0xFFFF0000 else kind), None


def libregf_quirk(kind: int, libregf: bytes, data: bytes) -> str | None:
    """Name the known way libregf-python 20260526 reports ``data`` as ``libregf``, if it is one (else None).

    Both show on Windows' own hives (test_real_hives_read_the_same_by_the_three_readers): data of one to three
    bytes, which Windows keeps inside the vk, comes back as the wrong bytes; and a string's data is cut after its
    first terminator (Windows often stores more: a buffer's tail, a second NUL).
    """
    if 0 < len(data) < 4 and len(libregf) == len(data):
        return "resident data under 4 bytes"
    if kind in (ValueType.SZ, ValueType.EXPAND_SZ) and len(libregf) < len(data) and data.startswith(libregf):
        terminator = next((i for i in range(0, len(data) - 1, 2) if data[i:i + 2] == b"\0\0"), None)
        if terminator is not None and len(libregf) == terminator + 2:
            return "string cut after its terminator"
    return None


def assert_same(expected: dict[str, KeyView], got: dict[str, KeyView], reader: str) -> None:
    """Exact equality; libregf may differ only by ``libregf_quirk``, and hivex has no API for class names."""
    assert list(got) == list(expected), f"{reader}: keys or their order differ"
    for path, want in expected.items():
        have = got[path]
        where = f"{reader}: {path or '(root)'}"
        assert have.last_written == want.last_written, f"{where}: last-written time"
        if reader != "hivex":
            assert have.class_name == want.class_name, f"{where}: class name"
        assert [v[:2] for v in have.values] == [v[:2] for v in want.values], f"{where}: value names or types"
        for (name, kind, data), (_, _, seen) in zip(want.values, have.values, strict=True):
            if seen != data:
                assert reader == "libregf" and libregf_quirk(kind, seen, data), f"{where}: value {name!r}: data"


def regipy_name(name: str) -> str:
    """regipy decodes one-byte ("compressed") names as ASCII, so Latin-1 letters that Windows stores in one byte
    (as it does for every name without a character past U+00FF) come out as U+FFFD."""
    if all(ord(c) < 0x100 for c in name):
        return name.encode("latin-1").decode("ascii", "replace")
    return name


def assert_regipy_same(expected: dict[str, KeyView], got: dict[str, KeyView]) -> None:
    expected = {"\\".join(regipy_name(p) for p in path.split("\\")): KeyView(
        view.last_written, view.class_name, [(regipy_name(n), k, d) for n, k, d in view.values])
        for path, view in expected.items()}
    assert list(got) == list(expected), "regipy: keys or their order differ"
    for path, want in expected.items():
        have = got[path]
        assert have.last_written == want.last_written, f"regipy: {path or '(root)'}: last-written time"
        assert have.class_name == want.class_name, f"regipy: {path}: class name"
        assert [n for n, _, _ in have.values] == [n for n, _, _ in want.values], f"regipy: {path}: value names"
        for (name, kind, data), (_, rtype, rvalue) in zip(want.values, have.values, strict=True):
            etype, evalue = regipy_expected(kind, data)
            assert rtype == etype, f"regipy: {path}: value {name!r}: type"
            if evalue is not None:
                assert rvalue == evalue, f"regipy: {path}: value {name!r}: data"


def read_by_all_three(path: Path, hive: Hive) -> None:
    expected = model_view(hive)
    assert_same(expected, libregf_view(path), "libregf")
    assert_same(expected, hivex_view(path), "hivex")
    assert_regipy_same(expected, regipy_view(path))


# -- structure, read byte by byte (independent of the writer) -------------------------------------------------------


def _upcase(name: str) -> str:
    return "".join(c.upper() if len(c.upper()) == 1 else c for c in name)


def _lh_hash(name: str) -> int:
    h = 0
    for (unit,) in struct.iter_unpack("<H", _upcase(name).encode("utf-16-le")):
        h = (h * 37 + unit) & 0xFFFFFFFF
    return h


@dataclass
class Structure:
    """What a regf file is made of, and every rule it breaks (``problems``)."""

    fields: dict[str, int] = field(default_factory=dict)
    bin_sizes: list[int] = field(default_factory=list)
    allocated: dict[str, int] = field(default_factory=dict)
    free_cells: int = 0
    list_kinds: set[str] = field(default_factory=set)
    keys: int = 0
    problems: list[str] = field(default_factory=list)


def inspect(data: bytes) -> Structure:
    s = Structure()
    sig, seq1, seq2, _, major, minor, ftype, fmt, root, bins_size, cluster = struct.unpack_from("<4sIIQIIIIIII", data)
    xor = 0
    for (dword,) in struct.iter_unpack("<I", data[:508]):
        xor ^= dword
    stored = struct.unpack_from("<I", data, 0x1FC)[0]
    s.fields = {"major": major, "minor": minor, "type": ftype, "format": fmt, "root": root, "cluster": cluster,
                "clean": int(seq1 == seq2), "bins_size": bins_size}
    if sig != b"regf" or ftype != 0 or fmt != 1 or cluster != 1 or major != 1:
        s.problems.append("base block: signature, type, format, clustering or major version")
    if stored != {0: 1, 0xFFFFFFFF: 0xFFFFFFFE}.get(xor, xor):
        s.problems.append("base block: checksum")
    if bins_size % 4096 or 4096 + bins_size > len(data):
        s.problems.append("base block: hive bins size")
    cells: dict[int, int] = {}  # offset → signed size
    position = 0
    while position < bins_size:
        magic, offset, size = struct.unpack_from("<4sII", data, 4096 + position)
        if magic != b"hbin" or offset != position or size == 0 or size % 4096:
            s.problems.append(f"hbin at {position:#x}: header")
            return s
        s.bin_sizes.append(size)
        cell = position + 32
        while cell < position + size:
            (csize,) = struct.unpack_from("<i", data, 4096 + cell)
            if csize == 0 or abs(csize) % 8 or cell + abs(csize) > position + size:
                s.problems.append(f"cell at {cell:#x}: size {csize}")
                return s
            cells[cell] = csize
            if csize < 0:
                kind = data[4096 + cell + 4:4096 + cell + 6]
                label = kind.decode("latin-1") if kind in (b"nk", b"vk", b"sk", b"lh", b"lf", b"li", b"ri", b"db") \
                    else "data"
                s.allocated[label] = s.allocated.get(label, 0) + 1
            else:
                s.free_cells += 1
            cell += abs(csize)
        position += size

    def payload(offset: int) -> bytes:
        if cells.get(offset, 0) >= 0:
            s.problems.append(f"reference to {offset:#x}, not an allocated cell")
            return b"\0" * 8
        return data[4096 + offset + 4:4096 + offset - cells[offset]]

    def key_name(nk: bytes) -> str:
        flags, length = struct.unpack_from("<H", nk, 2)[0], struct.unpack_from("<H", nk, 0x48)[0]
        raw = nk[0x4C:0x4C + length]
        return raw.decode("latin-1") if flags & 0x20 else raw.decode("utf-16-le")

    def leaf_entries(offset: int) -> list[tuple[int, int | None, str]]:
        cell = payload(offset)
        kind = cell[:2].decode("latin-1")
        s.list_kinds.add(kind)
        (count,) = struct.unpack_from("<H", cell, 2)
        if kind == "ri":
            return [e for (sub,) in struct.iter_unpack("<I", cell[4:4 + 4 * count]) for e in leaf_entries(sub)]
        if kind == "li":
            return [(o, None, kind) for (o,) in struct.iter_unpack("<I", cell[4:4 + 4 * count])]
        if kind in ("lh", "lf"):
            return [(o, h, kind) for o, h in struct.iter_unpack("<II", cell[4:4 + 8 * count])]
        s.problems.append(f"subkey list at {offset:#x}: kind {kind!r}")
        return []

    security_refs: dict[int, int] = {}
    stack = [root]
    while stack and len(s.problems) < 20:
        offset = stack.pop()
        nk = payload(offset)
        if nk[:2] != b"nk":
            s.problems.append(f"key at {offset:#x}: not an nk cell")
            continue
        s.keys += 1
        (flags,) = struct.unpack_from("<H", nk, 2)
        if offset == root and not flags & 0x04:
            s.problems.append("root key is not flagged as the hive's entry")
        subkeys, _, list_offset, _, values, values_offset, sk = struct.unpack_from("<IIIIIII", nk, 0x14)
        security_refs[sk] = security_refs.get(sk, 0) + 1
        if payload(sk)[:2] != b"sk":
            s.problems.append(f"key at {offset:#x}: security is not an sk cell")
        if values:
            for (vk,) in struct.iter_unpack("<I", payload(values_offset)[:4 * values]):
                if payload(vk)[:2] != b"vk":
                    s.problems.append(f"key at {offset:#x}: value list points at a non-vk cell")
        if not subkeys:
            continue
        entries = leaf_entries(list_offset)
        if len(entries) != subkeys:
            s.problems.append(f"key at {offset:#x}: {subkeys} subkeys, list has {len(entries)}")
        names = []
        for child, hint, kind in entries:
            name = key_name(payload(child))
            names.append(name)
            if kind == "lh" and hint != _lh_hash(name):
                s.problems.append(f"lh entry for {name!r}: hash {hint:#x}, name hashes to {_lh_hash(name):#x}")
            stack.append(child)
        order = [_upcase(n).encode("utf-16-be") for n in names]
        if any(a >= b for a, b in zip(order, order[1:], strict=False)):
            s.problems.append(f"key at {offset:#x}: subkeys not in Windows' order: {names[:6]}…")
    for sk, refs in security_refs.items():
        declared = struct.unpack_from("<I", payload(sk), 12)[0]
        if declared < refs:
            s.problems.append(f"sk at {sk:#x}: reference count {declared} below the {refs} keys using it")
    # The sk cells form one circular list, each flink's blink pointing back.
    first = next(iter(security_refs))
    sk, seen = first, 0
    while seen <= len(security_refs) + 1:
        flink = struct.unpack_from("<I", payload(sk), 4)[0]
        if struct.unpack_from("<I", payload(flink), 8)[0] != sk:
            s.problems.append(f"sk at {sk:#x}: its next does not point back")
            break
        sk, seen = flink, seen + 1
        if sk == first:
            break
    return s


# -- tests ------------------------------------------------------------------------------------------------------------

BUILDERS = {
    "SYSTEM": lambda: system_hive(FACTS),
    "SOFTWARE": lambda: software_hive(FACTS),
    "SAM": lambda: sam_hive(FACTS),
    "NTUSER.DAT": lambda: ntuser_hive(FACTS, OWNER),
    "UsrClass.dat": lambda: usrclass_hive(FACTS, OWNER),
}
REAL_HIVES = ("SAM", "SECURITY", "NTUSER.DAT", "UsrClass.dat", "Amcache.hve", "SYSTEM.xz")


@pytest.fixture(scope="module")
def real_hives(tmp_path_factory) -> dict[str, Path]:
    """The real hives, SYSTEM decompressed into a temporary folder (never into the repository)."""
    out = {}
    for name in REAL_HIVES:
        path = sample(f"windows/registry/{name}")
        if name.endswith(".xz"):
            plain = tmp_path_factory.mktemp("real") / name[:-3]
            plain.write_bytes(lzma.decompress(path.read_bytes()))
            path, name = plain, name[:-3]
        out[name] = path
    return out


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_workstation_hive_reads_the_same_in_regipy_libregf_and_hivex(name, tmp_path):
    hive = BUILDERS[name]()
    path = tmp_path / name
    path.write_bytes(hive.to_bytes())
    read_by_all_three(path, hive)
    assert inspect(path.read_bytes()).problems == []


@pytest.mark.parametrize("layout", [Layout(), Layout(leaf_capacity=7), Layout(leaf_kind="li"),
                                    Layout(leaf_kind="lf", leaf_capacity=4)], ids=["lh", "ri-lh", "li", "ri-lf"])
def test_every_value_type_big_data_and_list_kind_read_the_same(layout, tmp_path):
    hive = edge_hive()
    path = tmp_path / "EDGE"
    data = hive.to_bytes(layout)
    path.write_bytes(data)
    read_by_all_three(path, hive)
    structure = inspect(data)
    assert structure.problems == []
    assert structure.allocated["db"] == 2  # 'big' (40000 bytes) and 'überlong' (18002); 'exact' fits one cell
    kinds = {layout.leaf_kind} | ({"ri"} if layout.leaf_capacity < 40 else set())
    assert structure.list_kinds == kinds


def test_order_is_windows_order_not_python_order():
    inside = [k.split("\\")[1] for k in model_view(edge_hive()) if k.startswith("Order\\")]
    assert inside == ["A", "A0", "a1", "alpha", "b", "Zeta", "[bracket", "_under", "ä-umlaut", "Ωmega"]
    assert inside != sorted(inside)  # a case-sensitive order differs, so the three readers check Windows' rule


def test_hives_are_deterministic():
    first, second = workstation_hives(FACTS), workstation_hives(FACTS)
    assert first == second
    assert sorted(first) == ["Users/mvdberg/AppData/Local/Microsoft/Windows/UsrClass.dat", "Users/mvdberg/NTUSER.DAT",
                             "Windows/System32/config/SAM", "Windows/System32/config/SOFTWARE",
                             "Windows/System32/config/SYSTEM"]
    other = workstation_hives(replace(FACTS, computer_name="DESKTOP-OTHER"))
    assert other["Windows/System32/config/SYSTEM"] != first["Windows/System32/config/SYSTEM"]
    assert other["Windows/System32/config/SAM"] == first["Windows/System32/config/SAM"]


def test_hives_do_not_depend_on_the_process(tmp_path):
    """Same bytes under other string-hash seeds (set or dict-of-str order leaking into the layout would show)."""
    script = ("import hashlib, sys; sys.path.insert(0, '.'); from tests.test_windows_registry import FACTS; "
              "from dflab.evidence.windows.registry import workstation_hives; "
              "print(hashlib.sha256(b''.join(v for _, v in sorted(workstation_hives(FACTS).items()))).hexdigest())")
    digests = set()
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parents[1], env={**os.environ, "PYTHONHASHSEED": seed})
        digests.add(done.stdout.strip())
    here = hashlib.sha256(b"".join(v for _, v in sorted(workstation_hives(FACTS).items()))).hexdigest()
    assert digests == {here}


def test_the_three_reader_comparison_catches_a_wrong_time(tmp_path):
    hive = edge_hive()
    data = bytearray(hive.to_bytes())
    regf = pyregf.file()
    regf.open_file_object(io.BytesIO(bytes(data)))
    nk = regf.get_key_by_path(r"\Types\All").offset  # the nk's payload: signature, flags, then the FILETIME
    regf.close()
    struct.pack_into("<Q", data, nk + 4, struct.unpack_from("<Q", data, nk + 4)[0] + 1)
    path = tmp_path / "EDGE"
    path.write_bytes(bytes(data))
    expected = model_view(hive)
    for reader, view in (("libregf", libregf_view), ("hivex", hivex_view)):
        with pytest.raises(AssertionError, match=r"Types\\All: last-written time"):
            assert_same(expected, view(path), reader)
    with pytest.raises(AssertionError, match=r"Types\\All: last-written time"):
        assert_regipy_same(expected, regipy_view(path))


def _plugin(hive_path: Path, hive_type: str, plugin_class):
    hive = regipy_registry.RegistryHive(str(hive_path), hive_type=hive_type)
    plugin = plugin_class(hive, as_json=False)
    plugin.run()
    return plugin.entries


@pytest.fixture(scope="module")
def case_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("case")
    out = {}
    for relative, data in workstation_hives(FACTS).items():
        out[relative.rsplit("/", 1)[1]] = folder / relative.replace("/", "_")
        out[relative.rsplit("/", 1)[1]].write_bytes(data)
    return out


def test_regipy_system_plugins_return_the_facts(case_files):
    from regipy.plugins.system.bootkey import BootKeyPlugin
    from regipy.plugins.system.computer_name import ComputerNamePlugin
    from regipy.plugins.system.mountdev import MountedDevicesPlugin
    from regipy.plugins.system.shutdown import ShutdownPlugin
    from regipy.plugins.system.timezone_data import TimezoneDataPlugin
    from regipy.plugins.system.usb_devices import USBDevicesPlugin
    from regipy.plugins.system.usbstor import USBSTORPlugin

    system = case_files["SYSTEM"]
    names = _plugin(system, "system", ComputerNamePlugin)
    assert [e["name"] for e in names] == ["DESKTOP-7K2Q9RM"]
    (stick,) = _plugin(system, "system", USBSTORPlugin)
    assert (stick["manufacturer"], stick["title"], stick["version"]) == ("Ven_SanDisk", "Prod_Cruzer_Blade", "Rev_1.00")
    assert stick["serial_number"] == "4C530001230412117483&0"
    assert stick["device_name"] == "SanDisk Cruzer Blade USB Device"
    assert stick["first_installed"] == USB.first_inserted
    assert stick["last_connected"] == USB.last_inserted
    assert stick["last_removed"] == USB.last_removed
    (tz,) = _plugin(system, "system", TimezoneDataPlugin).values()
    as_dict = {v.name: v.value for v in tz}
    assert as_dict["TimeZoneKeyName"] == "W. Europe Standard Time"
    assert as_dict["Bias"] == (-60) & 0xFFFFFFFF
    assert as_dict["ActiveTimeBias"] == (-60) & 0xFFFFFFFF
    (boot,) = _plugin(system, "system", BootKeyPlugin)
    assert boot["key"] == FACTS.boot_key
    mounted = {m["value_name"]: m for m in _plugin(system, "system", MountedDevicesPlugin)}
    assert set(mounted) == {r"\DosDevices\E:", rf"\??\Volume{{{USB.volume_guid}}}"}
    assert mounted[r"\DosDevices\E:"]["last_write"] == USB.last_inserted
    (device,) = _plugin(system, "system", USBDevicesPlugin)
    assert (device["vid"], device["pid"], device["instance_id"]) == ("0781", "5567", USB.serial)
    assert device["container_id"] == "{" + str(USB.container_id) + "}"
    shutdown = _plugin(system, "system", ShutdownPlugin)
    assert shutdown[r"\ControlSet001\Control\Windows"]["date"] == "2024-03-08 18:02:11"


def test_regipy_software_and_sam_plugins_return_the_facts(case_files, real_hives):
    from regipy.plugins.sam.local_sid import LocalSidPlugin
    from regipy.plugins.sam.samparse import SAMParsePlugin
    from regipy.plugins.software.persistence import SoftwarePersistencePlugin
    from regipy.plugins.software.profilelist import ProfileListPlugin
    from regipy.plugins.software.winver import WinVersionPlugin

    persistence = _plugin(case_files["SOFTWARE"], "software", SoftwarePersistencePlugin)
    run = persistence[r"\Microsoft\Windows\CurrentVersion\Run"]
    assert {v.name: v.value for v in run["values"]}["WinUpdateHelper"] == FACTS.implant.command
    assert run["timestamp"] == FACTS.implant.installed
    version = _plugin(case_files["SOFTWARE"], "software", WinVersionPlugin)[r"\Microsoft\Windows NT\CurrentVersion"]
    assert (version["ProductName"], version["CurrentBuild"], version["RegisteredOwner"]) == (
        "Windows 10 Pro", "19045", "Marieke van den Berg")
    assert version["InstallDate"] == "2024-02-12 09:14:03"
    assert version["last_write"] == FACTS.installed.isoformat()  # logons rewrite Winlogon, not its parent
    profiles = _plugin(case_files["SOFTWARE"], "software", ProfileListPlugin)
    assert {p["path"] for p in profiles} >= {r"C:\Users\mvdberg"}
    users = {u["rid"]: u for u in _plugin(case_files["SAM"], "sam", SAMParsePlugin)}
    assert sorted(users) == [500, 501, 503, 504, 1001, 1002]
    owner = users[1001]
    assert (owner["login_count"], owner["last_login"]) == (57, OWNER.last_logon.isoformat())
    assert owner["password_last_set"] == OWNER.password_last_set.isoformat()
    assert "Account Disabled" in users[1002]["account_flags_parsed"]
    # samparse reads names from V only untrimmed, which 6.5.0 does not ask for: on the real SAM it finds the same
    # fields as here (no names), so the names are read from V as it means to, through libregf.
    real = {u["rid"]: u for u in _plugin(real_hives["SAM"], "sam", SAMParsePlugin)}
    assert set(real[1000]) == set(owner)
    regf = pyregf.file()
    regf.open(str(case_files["SAM"]))
    v = regf.get_key_by_path(r"\SAM\Domains\Account\Users\000003E9").get_value_by_name("V").data
    regf.close()

    def v_field(index: int) -> str:
        offset, length = struct.unpack_from("<II", v, 12 * index)
        return v[0xCC + offset:0xCC + offset + length].decode("utf-16-le")

    assert (v_field(1), v_field(2), v_field(3)) == ("mvdberg", "Marieke van den Berg", "Projectleider")
    (sid,) = _plugin(case_files["SAM"], "sam", LocalSidPlugin)
    assert sid["machine_sid"] == FACTS.machine_sid


def test_regipy_ntuser_plugins_return_the_facts(case_files):
    from regipy.plugins.ntuser.runmru import RunMRUPlugin
    from regipy.plugins.ntuser.typed_paths import TypedPathsPlugin
    from regipy.plugins.ntuser.user_assist import UserAssistPlugin

    ntuser = case_files["NTUSER.DAT"]
    assist = {e["name"]: e for e in _plugin(ntuser, "ntuser", UserAssistPlugin)}
    cmd = assist[r"%SYSTEM32%\cmd.exe"]
    assert (cmd["run_counter"], cmd["focus_count"], cmd["total_focus_time_ms"]) == (3, 4, 95_000)
    assert cmd["timestamp"] == at(8, 10, 3, 2)
    assert assist[r"C:\Users\mvdberg\Downloads\invoice_2024_03.exe"]["run_counter"] == 1
    assert r"%PROGRAMDATA%\Microsoft\Windows\Start Menu\Programs\Accessories\Notepad.lnk" in assist
    typed = _plugin(ntuser, "ntuser", TypedPathsPlugin)
    assert typed["entries"] == [{"url1": "E:\\"}, {"url2": r"\\nas01\projecten"}]
    assert typed["last_write"] == at(8, 9, 42)
    (mru,) = _plugin(ntuser, "ntuser", RunMRUPlugin)
    assert mru["mru_order"] == "ab"  # cmd was typed again last
    assert mru["commands"] == [{"letter": "a", "command": "cmd\\1"},
                               {"letter": "b", "command": "powershell -ep bypass\\1"}]
    assert mru["last_write"] == at(8, 10, 6)


def test_recent_docs_in_mru_order(case_files, real_hives):
    """regipy 6.5.0's recentdocs plugin reads trimmed (hex) values and finds nothing, on the real NTUSER.DAT as
    on ours; the documents are read here through regipy's key API instead, as its plugin means to."""
    from regipy.plugins.ntuser.recentdocs import RecentDocsPlugin

    assert _plugin(real_hives["NTUSER.DAT"], "ntuser", RecentDocsPlugin) == []
    assert _plugin(case_files["NTUSER.DAT"], "ntuser", RecentDocsPlugin) == []
    hive = regipy_registry.RegistryHive(str(case_files["NTUSER.DAT"]))
    path = r"\Software\Microsoft\Windows\CurrentVersion\Explorer\RecentDocs"

    def documents(key) -> list[str]:
        values = {v.name: v.value for v in key.iter_values(trim_values=False)}
        order = struct.unpack(f"<{len(values['MRUListEx']) // 4}i", values["MRUListEx"])
        assert order[-1] == -1
        return [values[str(i)].decode("utf-16-le").split("\0")[0] for i in order[:-1]]

    key = hive.get_key(path)
    assert documents(key) == ["invoice_2024_03.pdf", "plan.docx", "begroting.xlsx", "offerte_2024.docx"]
    assert key.header.last_modified == filetime(at(8, 9, 59, 12))
    assert documents(hive.get_key(path + r"\.docx")) == ["plan.docx", "offerte_2024.docx"]
    real = regipy_registry.RegistryHive(str(real_hives["NTUSER.DAT"])).get_key(path)
    assert len(documents(real)) == 11  # the same reading works on Windows' own RecentDocs


def test_user_scope_implant_is_in_ntuser_run(tmp_path):
    from regipy.plugins.ntuser.persistence import NTUserPersistencePlugin

    facts = replace(FACTS, implant=Implant("Updater", r"C:\Users\mvdberg\up.exe", at(8, 10), scope="user"))
    path = tmp_path / "NTUSER.DAT"
    path.write_bytes(ntuser_hive(facts, OWNER).to_bytes())
    entries = _plugin(path, "ntuser", NTUserPersistencePlugin)
    run = entries[r"\Software\Microsoft\Windows\CurrentVersion\Run"]
    assert {v.name: v.value for v in run["values"]}["Updater"] == r"C:\Users\mvdberg\up.exe"
    assert "WinUpdateHelper" not in str(software_hive(facts).to_bytes())


SCM_MADE = "PSEXESVC"
"""A service on the real SYSTEM that only ``CreateService`` wrote (PsExec installs it and sets nothing more)."""
CREATE_SERVICE_VALUES = [("Type", ValueType.DWORD), ("Start", ValueType.DWORD), ("ErrorControl", ValueType.DWORD),
                         ("ImagePath", ValueType.EXPAND_SZ), ("DisplayName", ValueType.SZ),
                         ("ObjectName", ValueType.SZ)]


def _service_values(view: KeyView) -> dict[str, object]:
    """A service key's values decoded from a byte-level view (libregf's or hivex's)."""
    return {name: struct.unpack("<I", data)[0] if kind == ValueType.DWORD else data.decode("utf-16-le").rstrip("\0")
            for name, kind, data in view.values}


def test_the_service_key_is_what_create_service_writes_for_all_three_readers(case_files, real_hives):
    key = service_key(SERVICE)
    want = {"Type": 0x10, "Start": 2, "ErrorControl": 1, "ImagePath": SERVICE.image_path,
            "DisplayName": "WinUpdateHelper", "ObjectName": "LocalSystem"}
    (services,) = _plugin(case_files["SYSTEM"], "system", ServicesPlugin).values()
    (entry,) = [e for e in services["services"] if e["name"] == SERVICE.name]
    assert {v["name"]: v["value"] for v in entry["values"]} == want
    assert entry["last_modified"] == SERVICE.installed and entry["parameters"] == []
    for reader, view in (("libregf", libregf_view), ("hivex", hivex_view)):
        keys = view(case_files["SYSTEM"])
        assert keys[key].last_written == filetime(SERVICE.installed), reader
        assert _service_values(keys[key]) == want, reader
        assert [(n, k) for n, k, _ in keys[key].values] == CREATE_SERVICE_VALUES, reader
        assert not [p for p in keys if p.startswith(key + "\\")], f"{reader}: the SCM makes no subkey"
    regf = pyregf.file()
    regf.open(str(real_hives["SYSTEM"]))
    made = regf.get_key_by_path(rf"\ControlSet001\Services\{SCM_MADE}")  # Windows named that key 'services'
    assert [(v.name, v.type) for v in made.values] == CREATE_SERVICE_VALUES
    assert made.number_of_sub_keys == 0
    regf.close()


def test_volatile_keys_are_left_out_as_windows_leaves_them(case_files, real_hives):
    """CurrentControlSet and a service's Enum exist only while Windows runs; Select says which set is current."""
    for hive in (case_files["SYSTEM"], real_hives["SYSTEM"]):
        keys = hivex_view(hive)
        (current,) = [v.value for v in _plugin(hive, "system", ActiveControlSetPlugin) if v.name == "Current"]
        assert f"ControlSet{current:03d}" in keys, hive.name
        assert not [p for p in keys if p.split("\\")[0].upper() == "CURRENTCONTROLSET"], hive.name
        below = [p.upper().split("\\")[2:] for p in keys if p.upper().startswith("CONTROLSET001\\SERVICES\\")]
        assert [p for p in below if len(p) == 1], f"{hive.name}: no service"
        assert [p for p in below if len(p) == 2 and p[1] == "ENUM"] == [], hive.name


def test_times_are_exact_to_the_tick_and_follow_the_timeline(case_files):
    regf = pyregf.file()
    regf.open(str(case_files["SYSTEM"]))
    stor = r"\ControlSet001\Enum\USBSTOR\Disk&Ven_SanDisk&Prod_Cruzer_Blade&Rev_1.00"
    assert regf.get_key_by_path(stor).get_last_written_time_as_integer() == filetime(USB.first_inserted)
    instance = regf.get_key_by_path(stor + r"\4C530001230412117483&0")
    assert instance.get_last_written_time_as_integer() == filetime(USB.last_inserted)
    regf.close()
    regf.open(str(case_files["SAM"]))
    user = regf.get_key_by_path(r"\SAM\Domains\Account\Users\000003E9")
    assert user.get_last_written_time_as_integer() == filetime(OWNER.last_logon)  # microseconds kept
    regf.close()


def test_structure_matches_real_windows_hives(real_hives, case_files):
    real = {name: inspect(path.read_bytes()) for name, path in real_hives.items()}
    ours = {name: inspect(path.read_bytes()) for name, path in case_files.items()}
    for name, structure in (*real.items(), *ours.items()):
        assert structure.problems == [], name
    real_kinds = set().union(*(s.list_kinds for s in real.values()))
    win10 = [s for s in real.values() if s.fields["minor"] == 5]
    assert win10, "the samples include Windows 10 era (1.5) hives"
    for name, structure in ours.items():
        assert structure.list_kinds <= real_kinds, name
        assert structure.fields["clean"] == 1, name
        assert {k: structure.fields[k] for k in ("major", "minor", "type", "format", "root", "cluster")} == \
            {k: win10[0].fields[k] for k in ("major", "minor", "type", "format", "root", "cluster")}, name
        assert all(size % 4096 == 0 for size in structure.bin_sizes)
        assert set(structure.allocated) <= set().union(*(s.allocated for s in real.values())), name
    assert "lh" in real_kinds and "ri" in real_kinds


def _security_shape(path: Path, user_sid: str | None) -> tuple:
    """The root's descriptor as regipy reads it: owner, group, and each ACE's SID, flags and rights."""
    info = regipy_registry.RegistryHive(str(path), hive_type="ntuser").root.get_security_key_info()

    def who(sid: str) -> str:
        return "USER" if sid == user_sid else sid

    return (who(info["owner"]), who(info["group"]),
            [(who(a["sid"]), tuple(sorted(k for k, v in a["flags"].items() if v)),
              tuple(sorted(k for k, v in a["access_mask"].items() if v)))
             for a in info["dacl"] if not a["sid"].startswith("S-1-15-3-")])  # one app's capability: not written


def test_security_descriptors_are_shaped_like_windows_own(case_files, real_hives):
    real_user = {"NTUSER.DAT": "S-1-5-21-2036804247-3058324640-2116585241-1673",
                 "UsrClass.dat": "S-1-5-21-2734969515-1644526556-1039763013-1001"}
    for ours, real in (("NTUSER.DAT", "NTUSER.DAT"), ("UsrClass.dat", "UsrClass.dat"), ("SYSTEM", "SYSTEM"),
                       ("SAM", "SAM")):
        assert _security_shape(case_files[ours], FACTS.sid(OWNER)) == \
            _security_shape(real_hives[real], real_user.get(real)), ours


@pytest.mark.parametrize("name", REAL_HIVES)
def test_real_hives_read_the_same_by_the_three_readers(name, real_hives):
    """The readers compared on generated hives agree on Windows' own, up to libregf's quirks (named, counted)."""
    path = real_hives[name.removesuffix(".xz")]
    libregf, hivex = libregf_view(path), hivex_view(path)
    regipy = regipy_view(path, SYSTEM_PARTS_WRITTEN if name == "SYSTEM.xz" else None)
    quirks: dict[str, int] = {}
    assert list(libregf) == list(hivex) == list(regipy)
    for key, view in hivex.items():
        assert view.last_written == libregf[key].last_written == regipy[key].last_written, key
        assert [v[:2] for v in libregf[key].values] == [v[:2] for v in view.values], key
        assert len(regipy[key].values) == len(view.values), key
        for (value, kind, data), (r_name, r_type, r_value) in zip(view.values, regipy[key].values, strict=True):
            if r_name is not None:
                assert r_name == regipy_name(value), key
                if kind in STANDARD_TYPES:
                    assert r_type == STANDARD_TYPES[kind], f"{key}: {value!r}: type"
                if (kind, len(data)) in ((ValueType.DWORD, 4), (ValueType.QWORD, 8)) or \
                        (kind == ValueType.BINARY and len(data) >= 4):
                    assert (r_type, r_value) == regipy_expected(kind, data), f"{key}: {value!r}: data"
        for (value, kind, data), (_, _, seen) in zip(view.values, libregf[key].values, strict=True):
            if seen != data:
                quirk = libregf_quirk(kind, seen, data)
                assert quirk, f"{key}: {value!r}: libregf and hivex differ in an unexplained way"
                quirks[quirk] = quirks.get(quirk, 0) + 1
    assert quirks == REAL_LIBREGF_QUIRKS[name]


SYSTEM_PARTS_WRITTEN = ("Select", "MountedDevices", r"ControlSet001\Control\ComputerName",
                        r"ControlSet001\Control\TimeZoneInformation", r"ControlSet001\Control\Lsa",
                        r"ControlSet001\Enum\USBSTOR", r"ControlSet001\Enum\USB", rf"ControlSet001\Services\{SCM_MADE}")
"""What system_hive writes: where regipy decodes the real SYSTEM's values too."""

REAL_LIBREGF_QUIRKS = {
    "SAM": {"resident data under 4 bytes": 1, "string cut after its terminator": 1},
    "SECURITY": {},
    "NTUSER.DAT": {"resident data under 4 bytes": 36},
    "UsrClass.dat": {"resident data under 4 bytes": 1, "string cut after its terminator": 1},
    "Amcache.hve": {},
    "SYSTEM.xz": {"resident data under 4 bytes": 42, "string cut after its terminator": 25},
}


def test_libregf_small_resident_data_is_misread_the_same_on_real_and_generated(real_hives, tmp_path):
    """Why the comparison tolerates it: Windows' own 2-byte SchemeLangID reads wrong in libregf exactly as ours."""
    regf = pyregf.file()
    regf.open(str(real_hives["NTUSER.DAT"]))
    real = regf.get_key_by_path(r"\Control Panel\Appearance").get_value_by_name("SchemeLangID")
    assert (real.data, hivex_view(real_hives["NTUSER.DAT"])["Control Panel\\Appearance"].values[0][2]) == \
        (b"\0\0", b"\x09\x04")
    regf.close()
    path = tmp_path / "EDGE"
    path.write_bytes(edge_hive().to_bytes())
    regf.open(str(path))
    assert regf.get_key_by_path(r"\Types\All").get_value_by_name("langid").data == b"\0\0"
    regf.close()
    assert ("langid", 3, b"\x09\x04") in hivex_view(path)["Types\\All"].values


def _lh_list_of(data: bytes, parent_path: str) -> int:
    """File offset of the lh list of the key at ``parent_path`` (found through libregf's offsets)."""
    regf = pyregf.file()
    regf.open_file_object(io.BytesIO(data))
    nk = regf.get_key_by_path("\\" + parent_path).offset
    regf.close()
    list_offset = struct.unpack_from("<I", data, nk + 0x1C)[0]  # libregf's offset is the cell's payload
    return 4096 + list_offset + 4


def test_a_planted_defect_is_caught(tmp_path):
    data = edge_hive().to_bytes()
    assert inspect(data).problems == []

    bad_checksum = bytearray(data)
    bad_checksum[0x1FC] ^= 0x01
    assert inspect(bytes(bad_checksum)).problems == ["base block: checksum"]
    path = tmp_path / "bad_checksum"
    path.write_bytes(bytes(bad_checksum))
    with pytest.raises(pytest.fail.Exception, match="hivex could not read"):
        hivex_view(path)

    unsorted = bytearray(data)
    lh = _lh_list_of(data, "Order")
    assert unsorted[lh:lh + 2] == b"lh"
    first, second = bytes(unsorted[lh + 4:lh + 12]), bytes(unsorted[lh + 12:lh + 20])
    unsorted[lh + 4:lh + 12], unsorted[lh + 12:lh + 20] = second, first
    problems = inspect(bytes(unsorted)).problems
    assert len(problems) == 1 and "not in Windows' order" in problems[0]

    bad_hash = bytearray(data)
    bad_hash[lh + 8] ^= 0x40
    assert "hash" in inspect(bytes(bad_hash)).problems[0]


def test_user_mistakes_are_one_line_errors():
    hive = Hive("ROOT", datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(DflabError, match="no time zone"):
        hive.key("A", datetime(2024, 1, 1))
    with pytest.raises(DflabError, match=r"registry key A: value 'n'"):
        hive.key("A", datetime(2024, 1, 1, tzinfo=UTC)).value("n", ValueType.DWORD, "not a number")
    with pytest.raises(DflabError, match="does not fit"):
        hive.key("A", datetime(2024, 1, 1, tzinfo=UTC)).value("n", ValueType.DWORD, 1 << 32)
    with pytest.raises(DflabError, match="over 255 characters"):
        hive.key("x" * 256, datetime(2024, 1, 1, tzinfo=UTC))
    with pytest.raises(DflabError, match="not a SID"):
        workstation_hives(replace(FACTS, machine_sid="S-1-5-x"))
    with pytest.raises(DflabError, match="boot key has 15 bytes"):
        replace(FACTS, boot_key=bytes(15))
    with pytest.raises(DflabError, match="repeat or fall below 1000"):
        replace(FACTS, other_accounts=(replace(SUPPORT, rid=1001),))
    with pytest.raises(DflabError, match="implant scope"):
        Implant("x", "y", at(1, 1), scope="everyone")
    with pytest.raises(DflabError, match=r"service 'x': start 7 is not 0-4"):
        Service("x", "y.exe", at(1, 1), start=7)
    with pytest.raises(DflabError, match=r"service 'a\\b'"):
        Service("a\\b", "y.exe", at(1, 1))
    with pytest.raises(DflabError, match="service names repeat"):
        replace(FACTS, services=(SERVICE, replace(SERVICE, name=SERVICE.name.lower())))


def test_user_assist_names_are_rot13():
    data = ntuser_hive(FACTS, OWNER).to_bytes()
    plain = r"C:\Users\mvdberg\Downloads\invoice_2024_03.exe"
    assert codecs.encode(plain, "rot13").encode("latin-1") in data
    assert plain.encode("latin-1") not in data and plain.encode("utf-16-le") not in data
