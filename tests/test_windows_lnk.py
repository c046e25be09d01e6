"""Generated Shell Link files against LnkParse3, liblnk (``pylnk``) and libfwsi (``pyfwsi``), and real LNKs.

LnkParse3 (pure Python) and liblnk (libyal's C library) must read the same header times, size, attributes,
LinkInfo (local path, volume serial, drive type, label), StringData and tracker block as went in; libfwsi reads the
LinkTargetIDList's shell items, each directory's and the file's long name, FAT times and the NTFS file reference in
its 0xBEEF0004 extension block. The structural walker below is this test's own and runs on the real LNKs in
``../shared/samples/windows/lnk`` too: the layout it checks (sections in flag order, extra-data blocks ending on the
terminal block, extension blocks' sizes and back-offsets) is what Windows wrote there.
"""

from __future__ import annotations

import io
import struct
import uuid
from datetime import UTC, datetime, timedelta

import LnkParse3
import pyfwsi
import pylnk
import pytest

from dflab.errors import DflabError
from dflab.evidence.windows.lnk import Entry, Target, Volume, fat_datetime, object_id, shell_link
from tests.samples import sample

REAL = ("microsoft_example.lnk", "network_share.lnk", "win10_folder.lnk", "NeroInfoTool.lnk", "example.lnk")
RECENT = r"C:\Users\alice\AppData\Roaming\Microsoft\Windows\Recent"
OPENED = datetime(2026, 3, 2, 9, 20, 11, 123_456, tzinfo=UTC)
WRITTEN = datetime(2026, 3, 1, 16, 30, 0, tzinfo=UTC)
MAC = bytes.fromhex("0800275e1a2b")
VOLUME_GUID = uuid.UUID("e3b5a2c4-1f7d-11f0-9a41-806e6f6e6963")
VOLUME = Volume("C:", 0x5A1E_0C3D, "", uuid.UUID("6c1a0f3e-9d62-4b5c-8f1e-2a3b4c5d6e7f"), VOLUME_GUID)
ENTRIES = (
    Entry("Users", 425, 1, datetime(2019, 12, 7, 9, 3, 44, tzinfo=UTC), OPENED, OPENED, True, short_name="USERS"),
    Entry("alice", 90_211, 2, datetime(2025, 11, 2, 8, 1, 0, tzinfo=UTC), OPENED, OPENED, True),
    Entry("Documents", 90_305, 2, datetime(2025, 11, 2, 8, 1, 4, tzinfo=UTC), OPENED, OPENED, True,
          short_name="DOCUME~1"),
    Entry("Quarterly report.docx", 104_417, 3, datetime(2026, 3, 1, 16, 0, 2, tzinfo=UTC), WRITTEN, OPENED, False,
          48_213, "QUARTE~1.DOC"),
)
TARGET = Target(VOLUME, ENTRIES, object_id(OPENED, MAC, 0x1234), "DESKTOP-7Q2K4LM")
PATH = r"C:\Users\alice\Documents\Quarterly report.docx"
KNOWN_BLOCKS = {0xA000_0001, 0xA000_0002, 0xA000_0003, 0xA000_0004, 0xA000_0005, 0xA000_0006, 0xA000_0007,
                0xA000_0008, 0xA000_0009, 0xA000_000A, 0xA000_000B, 0xA000_000C}


@pytest.fixture(scope="module")
def link() -> bytes:
    return shell_link(TARGET, RECENT)


def walk(data: bytes) -> dict:
    """Sections of a .lnk by MS-SHLLINK's rules; raises on any length that does not add up."""
    size, clsid, flags = struct.unpack_from("<I16sI", data)
    if size != 0x4C or uuid.UUID(bytes_le=clsid) != uuid.UUID("00021401-0000-0000-c000-000000000046"):
        raise ValueError("not a shell link header")
    at, out = 0x4C, {"flags": flags, "items": [], "blocks": []}
    if flags & 0x1:
        (list_size,) = struct.unpack_from("<H", data, at)
        end, at = at + 2 + list_size, at + 2
        while (item := struct.unpack_from("<H", data, at)[0]) != 0:
            out["items"].append(data[at:at + item])
            at += item
        if at + 2 != end:
            raise ValueError("IDList size does not match its items")
        at = end
    if flags & 0x2:
        info_size, header_size = struct.unpack_from("<II", data, at)
        if header_size not in (0x1C, 0x24) or info_size < header_size:
            raise ValueError("bad LinkInfo header")
        out["link_info_header"] = header_size
        at += info_size
    unicode = bool(flags & 0x80)
    for bit in (0x4, 0x8, 0x10, 0x20, 0x40):
        if flags & bit:
            (count,) = struct.unpack_from("<H", data, at)
            at += 2 + count * (2 if unicode else 1)
    while True:
        (block,) = struct.unpack_from("<I", data, at)
        if block < 4:
            at += 4
            break
        signature = struct.unpack_from("<I", data, at + 4)[0]
        if signature not in KNOWN_BLOCKS:
            raise ValueError(f"unknown extra data block {signature:#x}")
        out["blocks"].append((signature, block))
        at += block
    if at > len(data):
        raise ValueError("sections run past the end of the file")
    out["end"] = at
    return out


def beef0004(item: bytes) -> tuple[int, int] | None:
    """The version and size of a file entry item's 0xBEEF0004 block, checked against its back-offset."""
    offset = struct.unpack_from("<H", item, len(item) - 2)[0]
    if offset >= len(item) - 8 or struct.unpack_from("<I", item, offset + 4)[0] != 0xBEEF0004:
        return None
    size, version = struct.unpack_from("<HH", item, offset)
    if offset + size != len(item):
        raise ValueError("extension block does not end its item")
    return version, size


def test_structure_matches_the_real_links(link: bytes) -> None:
    real = {name: walk(sample(f"windows/lnk/{name}").read_bytes()) for name in REAL}
    assert real["win10_folder.lnk"]["end"] == 1984 and real["microsoft_example.lnk"]["end"] == 459
    mine = walk(link)
    assert mine["end"] == len(link)
    # The tracker block as Windows writes it: 0x60 bytes, in every real link that has one and in ours.
    trackers = [size for r in (*real.values(), mine) for sig, size in r["blocks"] if sig == 0xA000_0003]
    assert len(trackers) >= 3 and set(trackers) == {0x60}
    assert mine["link_info_header"] == real["win10_folder.lnk"]["link_info_header"] == 0x1C
    assert [sig for sig, _ in mine["blocks"]] == [0xA000_0003, 0xA000_0009]
    assert 0xA000_0009 in {sig for sig, _ in real["win10_folder.lnk"]["blocks"]}
    # Windows 8+ shell items: version 9 extension blocks, 46 fixed bytes + long name + back-offset, as in the sample.
    real_blocks = [beef0004(i) for i in real["win10_folder.lnk"]["items"][2:]]
    mine_blocks = [beef0004(i) for i in mine["items"][2:]]
    assert {v for v, _ in real_blocks} == {v for v, _ in mine_blocks} == {9}
    assert [s for _, s in mine_blocks] == [46 + 2 * (len(e.name) + 1) + 2 for e in ENTRIES]
    assert [s for _, s in real_blocks] == [46 + 2 * (len(n) + 1) + 2 for n in ("Roaming", ".minecraft")]
    assert mine["items"][0][2] == 0x1F and mine["items"][1][2] == 0x2F


def test_walker_rejects_a_broken_link(link: bytes) -> None:
    broken = bytearray(link)
    broken[0x4C] += 2  # IDList size no longer matches its items
    with pytest.raises(ValueError, match="IDList"):
        walk(bytes(broken))
    with pytest.raises((ValueError, struct.error)):
        walk(link[:-40])


def test_lnkparse3_reads_what_went_in(link: bytes) -> None:
    parsed = LnkParse3.lnk_file(io.BytesIO(link)).get_json()
    header, info = parsed["header"], parsed["link_info"]
    assert header["creation_time"] == ENTRIES[-1].created and header["modified_time"] == WRITTEN
    assert header["accessed_time"] == OPENED and header["file_size"] == 48_213
    assert header["file_flags"] == ["FILE_ATTRIBUTE_ARCHIVE"]
    assert info["local_base_path"] == PATH and info["location_info"]["drive_serial_number"] == "0x5a1e0c3d"
    assert info["location_info"]["drive_type"] == "DRIVE_FIXED"
    assert parsed["data"] == {"relative_path": r"..\..\..\..\..\Documents\Quarterly report.docx",
                              "working_directory": r"C:\Users\alice\Documents"}
    tracker = parsed["extra"]["DISTRIBUTED_LINK_TRACKER_BLOCK"]
    assert tracker["machine_identifier"] == "desktop-7q2k4lm"
    assert tracker["droid_volume_identifier"] == str(VOLUME.object_id).upper()
    assert tracker["droid_file_identifier"] == tracker["birth_droid_file_identifier"] == str(TARGET.object_id).upper()
    (store,) = parsed["extra"]["METADATA_PROPERTIES_BLOCK"]["property_store"]
    assert (store["format_id"], store["storage_size"]) == ("446D16B1-8DAD-4870-A748-402EA43D788C", 57)
    (value,) = store["serialized_property_values"]
    assert (value["id"], value["value_type"], value["value_size"]) == (104, "VT_CLSID", 29)
    real = LnkParse3.lnk_file(io.BytesIO(sample("windows/lnk/win10_folder.lnk").read_bytes())).get_json()
    assert value | {"value": None} in [v | {"value": None} for s in real["extra"]["METADATA_PROPERTIES_BLOCK"][
        "property_store"] if s["format_id"] == store["format_id"] for v in s["serialized_property_values"]]
    assert link.endswith(VOLUME_GUID.bytes_le + bytes(12))  # the GUID, then the value, store and block terminators
    names = [i.get("primary_name") for i in parsed["target"]["items"][2:]]
    assert names == ["USERS", "alice", "DOCUME~1", "QUARTE~1.DOC"]


def test_liblnk_reads_the_same(link: bytes) -> None:
    f = pylnk.file()
    f.open_file_object(io.BytesIO(link))
    assert f.local_path == PATH and f.working_directory == r"C:\Users\alice\Documents"
    assert f.relative_path == r"..\..\..\..\..\Documents\Quarterly report.docx"
    assert f.drive_serial_number == 0x5A1E_0C3D and f.drive_type == 3 and f.volume_label == ""
    assert f.file_size == 48_213 and f.file_attribute_flags == 0x20
    assert f.file_creation_time == ENTRIES[-1].created.replace(tzinfo=None)
    assert f.file_modification_time == WRITTEN.replace(tzinfo=None)
    assert f.file_access_time == OPENED.replace(tzinfo=None)
    assert f.machine_identifier == "desktop-7q2k4lm"
    assert f.droid_volume_identifier == f.birth_droid_volume_identifier == str(VOLUME.object_id)
    assert f.droid_file_identifier == str(TARGET.object_id)
    # The object id is a version-1 GUID: it dates the link and names the network card.
    assert TARGET.object_id.version == 1 and TARGET.object_id.node == int.from_bytes(MAC, "big")
    assert datetime(1582, 10, 15, tzinfo=UTC) + timedelta(microseconds=TARGET.object_id.time // 10) == OPENED


def test_libfwsi_reads_the_shell_items_and_mft_references(link: bytes) -> None:
    (size,) = struct.unpack_from("<H", link, 0x4C)
    items = pyfwsi.item_list()
    items.copy_from_byte_stream(link[0x4E:0x4E + size])
    parsed = list(items.items)
    kinds = [type(i).__name__ for i in parsed]
    assert kinds == ["root_folder", "volume", "file_entry", "file_entry", "file_entry", "file_entry"]
    assert parsed[0].shell_folder_identifier == "20d04fe0-3aea-1069-a2d8-08002b30309d"
    assert parsed[1].name == "C:\\"
    for item, entry in zip(parsed[2:], ENTRIES, strict=True):
        (ext,) = item.extension_blocks
        assert ext.long_name == entry.name and item.name == (entry.short_name or entry.name)
        assert ext.file_reference == entry.mft_entry | entry.mft_sequence << 48
        assert ext.get_creation_time() == entry.created.replace(tzinfo=None)
        assert item.file_size == entry.size and item.file_attribute_flags == entry.attributes
        # FAT times keep even seconds only.
        assert item.get_modification_time() == entry.modified.replace(tzinfo=None, microsecond=0,
                                                                      second=entry.modified.second & ~1)


def test_real_links_read_by_both_parsers() -> None:
    for name in REAL:
        data = sample(f"windows/lnk/{name}").read_bytes()
        f = pylnk.file()
        f.open_file_object(io.BytesIO(data))
        parsed = LnkParse3.lnk_file(io.BytesIO(data)).get_json()
        assert parsed["header"]["file_size"] == f.file_size
        if f.local_path:
            assert parsed["link_info"]["local_base_path"] == f.local_path


def test_same_target_same_bytes(link: bytes) -> None:
    assert shell_link(TARGET, RECENT) == link
    moved = Target(VOLUME, (*ENTRIES[:-1], Entry("Quarterly report.docx", 104_417, 4, ENTRIES[-1].created, WRITTEN,
                                                 OPENED, False, 48_213, "QUARTE~1.DOC")), TARGET.object_id,
                   TARGET.machine)
    assert shell_link(moved, RECENT) != link  # the MFT sequence is in the bytes


def test_mistakes_are_one_line_errors() -> None:
    with pytest.raises(DflabError, match="time zone"):
        fat_datetime(datetime(2026, 3, 2))  # noqa: DTZ001
    with pytest.raises(DflabError, match="has no path"):
        shell_link(Target(VOLUME, (), TARGET.object_id, TARGET.machine), RECENT)
    with pytest.raises(DflabError, match="NetBIOS"):
        shell_link(Target(VOLUME, ENTRIES, TARGET.object_id, "A-MACHINE-NAME-TOO-LONG"), RECENT)
    with pytest.raises(DflabError, match="8.3"):
        shell_link(Target(VOLUME, (Entry("Отчёт.docx", 5, 1, OPENED, OPENED, OPENED, False, 1),),
                          TARGET.object_id, TARGET.machine), RECENT)
