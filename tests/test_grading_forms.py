"""Fair forms: every way of writing a right answer that a compare kind accepts, one row each, and the near misses
that must still fail (graders/README.md lists the same forms per kind).

A right answer must not lose points for how a tool printed it (`file` says "Zip archive data", mmls says "DOS
Partition Table", an address comes zero-padded), and a wrong one must not pass for looking like a right one
(FAT16 is not FAT32, ``/a/../b`` is not ``/b``, ``::1.2.3.4`` is not ``1.2.3.4``).  Failing rows also check
that the reason shown to the trainee does not contain the expected value.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import get_args

import pytest

from dflab.forensics import magic
from dflab.grading.checks import (
    COMPARES,
    TERMS,
    Check,
    CheckFile,
    Compare,
    canonical_term,
    check_answer,
)
from dflab.scenario.spec import VolumeSpec

ROOT = Path(__file__).resolve().parents[1]
SHA = "04da0f0ff296d885f7497ac72d77777682aedefca5a9077f1d09d227496da65e"
ADDRESS = "0x7f00263cc000"          # 139638618243072
SECRET = "DRAFT wire transfer to account 404bdae4fa"
NOTE = "drop: share.example.net\nuser: upload\npass: hunter2hunter"
WHEN = "2026-03-02T08:37:33Z"       # 1772440653
FILE_TYPE, TABLE, FS = {"vocabulary": "file_type"}, {"vocabulary": "partition_table"}, {"vocabulary": "file_system"}

# (compare, check options, key value, recorded answer, the form it is)
ACCEPTED = [
    # exact: line ends and surrounding whitespace only
    ("exact", {}, SECRET, SECRET, "as found"),
    ("exact", {}, NOTE, NOTE.replace("\n", "\r\n"), "CRLF line ends"),
    ("exact", {}, NOTE, NOTE.replace("\n", "\r"), "CR line ends"),
    ("exact", {}, NOTE, NOTE + "\n", "trailing newline"),
    ("exact", {}, NOTE, NOTE.replace("\n", "\r\n") + "\r\n", "CRLF and a trailing CRLF"),
    ("exact", {}, SECRET, SECRET + "  \t", "trailing whitespace"),
    ("exact", {}, SECRET, "  " + SECRET, "leading whitespace"),
    ("exact", {}, 27, 27, "a number"),
    ("exact", {}, 27, 27.0, "an integral float"),
    # casefold: case and whitespace runs
    ("casefold", {}, "fin-ws-07", "FIN-WS-07", "case"),
    ("casefold", {}, "finance analyst", " Finance   Analyst\n", "whitespace runs"),
    # casefold + vocabulary file_type: magic's name, `file`'s description, MIME types
    ("casefold", FILE_TYPE, "zip", "zip", "magic's name"),
    ("casefold", FILE_TYPE, "zip", "ZIP", "upper case"),
    ("casefold", FILE_TYPE, "zip", "ZIP archive", "ZIP archive"),
    ("casefold", FILE_TYPE, "zip", "Zip archive data", "file(1)"),
    ("casefold", FILE_TYPE, "zip", "Zip archive data, at least v2.0 to extract, compression method=deflate",
     "file(1) with details"),
    ("casefold", FILE_TYPE, "zip", "application/zip", "MIME"),
    ("casefold", FILE_TYPE, "zip", "application/zip; charset=binary", "file --mime"),
    ("casefold", FILE_TYPE, "zip", "application/x-zip-compressed", "Windows MIME"),
    ("casefold", FILE_TYPE, "gzip", 'gzip compressed data, was "r.tar", last modified: Mon Mar  2 2026',
     "file(1) gzip"),
    ("casefold", FILE_TYPE, "gzip", "application/gzip", "MIME gzip"),
    ("casefold", FILE_TYPE, "pdf", "PDF document, version 1.4, 1 pages", "file(1) pdf"),
    ("casefold", FILE_TYPE, "pdf", "application/pdf", "MIME pdf"),
    ("casefold", FILE_TYPE, "elf", "ELF", "ELF"),
    ("casefold", FILE_TYPE, "elf", "ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked",
     "file(1) elf"),
    ("casefold", FILE_TYPE, "elf", "application/x-executable", "MIME elf"),
    ("casefold", FILE_TYPE, "elf", "application/x-pie-executable", "MIME pie"),
    ("casefold", FILE_TYPE, "jpeg", "JPG", "jpg"),
    ("casefold", FILE_TYPE, "jpeg", "JPEG image data, JFIF standard 1.01, aspect ratio, density 1x1",
     "file(1) jpeg"),
    ("casefold", FILE_TYPE, "jpeg", "image/jpeg", "MIME jpeg"),
    ("casefold", FILE_TYPE, "png", "PNG image data, 640 x 480, 8-bit/color RGBA, non-interlaced", "file(1) png"),
    ("casefold", FILE_TYPE, "png", "image/png", "MIME png"),
    ("casefold", FILE_TYPE, "text", "ASCII text", "file(1) text"),
    ("casefold", FILE_TYPE, "text", "text/plain; charset=us-ascii", "MIME text"),
    # casefold + vocabulary partition_table: mmls, fdisk, parted, file
    ("casefold", TABLE, "mbr", "MBR", "MBR"),
    ("casefold", TABLE, "mbr", "DOS", "fdisk: dos"),
    ("casefold", TABLE, "mbr", "msdos", "parted: msdos"),
    ("casefold", TABLE, "mbr", "DOS Partition Table", "mmls"),
    ("casefold", TABLE, "mbr", "DOS/MBR boot sector", "file(1)"),
    ("casefold", TABLE, "mbr", "DOS/MBR boot sector; partition 1 : ID=0xc, active, start-CHS (0x0,32,33)",
     "file(1) with partitions"),
    ("casefold", TABLE, "mbr", "Master Boot Record", "spelt out"),
    ("casefold", TABLE, "gpt", "GPT", "GPT"),
    ("casefold", TABLE, "gpt", "EFI", "EFI"),
    ("casefold", TABLE, "gpt", "GUID Partition Table", "spelt out"),
    ("casefold", TABLE, "gpt", "GUID Partition Table (EFI)", "mmls gpt"),
    # casefold + vocabulary file_system: TSK, file -s, fdisk types
    ("casefold", FS, "ext4", "Ext4", "fsstat"),
    ("casefold", FS, "ext4", "Linux ext4", "Linux ext4"),
    ("casefold", FS, "ext4", "ext4 filesystem", "ext4 filesystem"),
    ("casefold", FS, "ext4", 'Linux rev 1.0 ext4 filesystem data, UUID=0f4e, volume name "rootfs" (extents)',
     "file -s"),
    ("casefold", FS, "fat32", "FAT32", "fsstat fat32"),
    ("casefold", FS, "fat32", "FAT (32 bit)", "file -s fat32"),
    ("casefold", FS, "fat32", "W95 FAT32 (LBA)", "fdisk type"),
    ("casefold", FS, "fat32", "Win95 FAT32 (0x0c)", "mmls type"),
    # hex: digests, whitespace groups, 0x, case
    ("hex", {}, SHA, SHA, "as found"),
    ("hex", {}, SHA, SHA.upper(), "upper case"),
    ("hex", {}, SHA, " ".join(re.findall("." * 8, SHA)), "groups of 8"),
    ("hex", {}, SHA, "0x" + SHA, "0x prefix"),
    ("hex", {}, SHA, SHA + "\n", "trailing newline"),
    # address: a number, however written
    ("address", {}, ADDRESS, ADDRESS, "as found"),
    ("address", {}, ADDRESS, "0x00007f00263cc000", "zero-padded to 64 bits"),
    ("address", {}, ADDRESS, "0x7F00263CC000", "upper case"),
    ("address", {}, ADDRESS, "0X7f00263cc000", "0X"),
    ("address", {}, ADDRESS, "7f00263cc000", "no prefix"),
    ("address", {}, ADDRESS, "00007f00263cc000", "padded, no prefix"),
    ("address", {}, ADDRESS, " 0x7f00263cc000\n", "surrounding whitespace"),
    ("address", {}, ADDRESS, 139638618243072, "decimal number"),
    # int
    ("int", {}, 2345, 2345, "a number"),
    ("int", {}, 2345, 2345.0, "an integral float"),
    ("int", {}, 2345, "2345", "decimal text"),
    ("int", {}, 2345, " +2345\n", "sign and whitespace"),
    ("int", {}, 2345, "002345", "leading zeros"),
    # float
    ("float", {"tolerance": 0.05}, 1.0, 1.04, "within tolerance"),
    ("float", {"tolerance": 0.05}, 1.0, 1, "an int"),
    # set
    ("set", {}, ["/a", "/B"], ["/b", "/A"], "any order, any case"),
    ("set", {}, ["/a", "/b"], [" /a", "/b\n", "/a"], "whitespace, repeats"),
    ("set", {}, [27, 28], [28, 27], "numbers"),
    # time
    ("time", {"tolerance_s": 2}, WHEN, WHEN, "as found"),
    ("time", {"tolerance_s": 2}, WHEN, "2026-03-02T09:37:33+01:00", "another zone"),
    ("time", {"tolerance_s": 2}, WHEN, "2026-03-02T08:37:33+00:00", "+00:00"),
    ("time", {"tolerance_s": 2}, WHEN, "2026-03-02 08:37:34Z", "space separator"),
    ("time", {"tolerance_s": 2}, WHEN, "2026-03-02t08:37:33z", "lower-case t and z (RFC 3339)"),
    ("time", {"tolerance_s": 2}, WHEN, "20260302T083733Z", "ISO basic format"),
    ("time", {"tolerance_s": 2}, WHEN, "2026-03-02T08:37:31.5Z", "fraction, within tolerance"),
    ("time", {"tolerance_s": 2}, WHEN, 1772440653, "epoch seconds"),
    ("time", {"tolerance_s": 2}, WHEN, 1772440654.75, "epoch seconds, fraction"),
    # path
    ("path", {}, "/home/u/Downloads/x", "/home/u/Downloads/x", "as found"),
    ("path", {}, "/home/u/Downloads/x", "//home/u/Downloads/x", "leading //"),
    ("path", {}, "/home/u/Downloads/x", "/home//u///Downloads/x", "repeated /"),
    ("path", {}, "/home/u/Downloads/x", "/home/u/./Downloads/./x", "./ segments"),
    ("path", {}, "/home/u/Downloads/x", "/home/u/Downloads/x/", "trailing /"),
    ("path", {}, "/home/u/Downloads/x", " /home/u/Downloads/x\n", "surrounding whitespace"),
    # ip
    ("ip", {}, "203.0.113.7", "203.0.113.7", "as found"),
    ("ip", {}, "203.0.113.7", " 203.0.113.7\n", "surrounding whitespace"),
    ("ip", {}, "203.0.113.7", "::ffff:203.0.113.7", "IPv4-mapped IPv6"),
    ("ip", {}, "203.0.113.7", "::FFFF:cb00:7107", "IPv4-mapped IPv6, hex"),
    ("ip", {}, "203.0.113.7", "0:0:0:0:0:ffff:203.0.113.7", "IPv4-mapped IPv6, expanded"),
    ("ip", {}, "::ffff:203.0.113.7", "203.0.113.7", "an IPv4 address for a mapped key"),
    ("ip", {}, "2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", "IPv6 expanded"),
    ("ip", {}, "2001:db8::1", "2001:DB8::1", "IPv6 upper case"),
    ("ip", {}, "2001:db8::1", "2001:db8:0:0::1", "IPv6 partly compressed"),
    ("ip", {}, "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", "IPv6 compressed, expanded key"),
    # domain
    ("domain", {}, "share.example.net", "share.example.net", "as found"),
    ("domain", {}, "share.example.net", "Share.Example.NET", "case"),
    ("domain", {}, "share.example.net", "share.example.net.", "trailing root dot"),
    ("domain", {}, "share.example.net", " share.example.net.\n", "whitespace and root dot"),
]

# (compare, check options, key value, recorded answer, why it is wrong)
NEAR_MISSES = [
    ("exact", {}, SECRET, SECRET.lower(), "case"),
    ("exact", {}, SECRET, SECRET.replace(" ", "  ", 1), "inner spaces"),
    ("exact", {}, NOTE, NOTE.replace("\n", " "), "line breaks as spaces"),
    ("exact", {}, "café", "cafe\u0301", "another Unicode form"),
    ("exact", {}, 1, True, "a bool for 1"),
    ("exact", {}, 27, "27", "text for a number"),
    ("exact", {}, 27, math.nan, "NaN"),
    ("exact", {}, SECRET, [SECRET], "a list"),
    ("casefold", {}, "fin-ws-07", "fin-ws-7", "another name"),
    ("casefold", FILE_TYPE, "zip", "jpeg", "what the extension says"),
    ("casefold", FILE_TYPE, "zip", "docx", "a more specific claim"),
    ("casefold", FILE_TYPE, "zip", "gzip", "another archive"),
    ("casefold", FILE_TYPE, "zip", "zip, jpeg", "a hedge"),
    ("casefold", FILE_TYPE, "zip", "Zip archive dat", "a typo"),
    ("casefold", FILE_TYPE, "zip", "application/zip-but-not", "another MIME type"),
    ("casefold", FILE_TYPE, "gzip", "Zip archive data", "zip for gzip"),
    ("casefold", FILE_TYPE, "elf", "MS-DOS executable", "another executable format"),
    ("casefold", FILE_TYPE, "zip", "zip" * 2000, "huge text"),
    ("casefold", TABLE, "mbr", "GPT", "the other table"),
    ("casefold", TABLE, "gpt", "DOS/MBR boot sector", "the protective MBR"),
    ("casefold", TABLE, "gpt", "mbr", "mbr for gpt"),
    ("casefold", FS, "fat32", "FAT16", "FAT16 is not FAT32"),
    ("casefold", FS, "fat32", "vfat", "vfat: FAT12, 16 or 32"),
    ("casefold", FS, "fat32", "FAT", "FAT: which one"),
    ("casefold", FS, "ext4", "ext3", "ext3 is not ext4"),
    ("casefold", FS, "ext4", "Linux", "mmls's partition type"),
    ("casefold", FS, "ext4", "Linux rev 1.0 ext3 filesystem data, UUID=0f4e", "file -s ext3"),
    ("hex", {}, SHA, "00" + SHA, "a zero-padded digest is longer"),
    ("hex", {}, SHA, SHA[:-1], "a digit short"),
    ("hex", {}, SHA, SHA[:-1] + "f", "one digit off"),
    ("hex", {}, SHA, "0x" + "0" * 5000, "huge"),
    ("address", {}, ADDRESS, "0x7f00263cd000", "one digit off"),
    ("address", {}, ADDRESS, 139638618243073, "one off, decimal"),
    ("address", {}, ADDRESS, "139638618243072", "decimal text (read as hex)"),
    ("address", {}, ADDRESS, 1.39638618243072e14, "a float"),
    ("address", {}, ADDRESS, True, "a bool"),
    ("address", {}, ADDRESS, -139638618243072, "negative"),
    ("address", {}, ADDRESS, "0x" + "0" * 40 + "7f00263cc000", "padded beyond 128 bits"),
    ("address", {}, ADDRESS, "0x7f00263cc000h", "a suffix"),
    ("int", {}, 1, True, "a bool"),
    ("int", {}, 2345, 2345.5, "a fraction"),
    ("int", {}, 2345, "2345.0", "decimal point text"),
    ("int", {}, 2345, "0x929", "hex text"),
    ("int", {}, 2345, "2_345", "underscores (int() would take them)"),
    ("int", {}, 2345, "٢٣٤٥", "non-ASCII digits (int() would take them)"),
    ("int", {}, 2345, "9" * 5000, "beyond int()'s digit limit"),
    ("int", {}, 2345, "0" * 40 + "2345", "more than 32 digits (never handed to int())"),
    ("int", {}, 2345, 10 ** 5000, "a huge int"),
    ("int", {}, 2345, math.nan, "NaN"),
    ("int", {}, 2345, math.inf, "infinity"),
    ("float", {"tolerance": 0.05}, 1.0, 1.06, "outside tolerance"),
    ("float", {"tolerance": 0.05}, 1.0, math.nan, "NaN"),
    ("float", {"tolerance": 0.05}, 1.0, math.inf, "infinity"),
    ("float", {"tolerance": 0.05}, 1.0, 10 ** 400, "beyond float range"),
    ("float", {"tolerance": 0.05}, 1.0, True, "a bool"),
    ("set", {}, ["/a", "/b"], ["/a"], "one missing"),
    ("set", {}, ["/a", "/b"], ["/a", "/b", "/c"], "one extra"),
    ("set", {}, ["/a", "/b"], ["/a", "/b", math.nan], "NaN inside"),
    ("set", {}, [1, 2], [True, 2], "a bool inside"),
    ("time", {"tolerance_s": 2}, WHEN, "2026-03-02T08:37:36Z", "outside tolerance"),
    ("time", {"tolerance_s": 2}, WHEN, "2026-03-02T08:37:33", "no zone"),
    ("time", {"tolerance_s": 2}, WHEN, "2026-03-02T08:37:33+01:00", "the wrong zone"),
    ("time", {"tolerance_s": 2}, WHEN, math.nan, "NaN"),
    ("time", {"tolerance_s": 2}, WHEN, math.inf, "infinity"),
    ("time", {"tolerance_s": 2}, WHEN, True, "a bool"),
    ("time", {"tolerance_s": 2}, WHEN, "0001-01-01T00:00:00+01:00", "year 1 (no overflow)"),
    ("time", {"tolerance_s": 2}, WHEN, 10 ** 400, "beyond float range"),
    ("time", {"tolerance_s": 2}, WHEN, "1772440653", "epoch as text"),
    ("path", {}, "/home/u/Downloads/x", "/home/u/Downloads/../Downloads/x", "a .. segment"),
    ("path", {}, "/home/u/Downloads/x", "/home/u/Downloads/x/..", "a trailing .."),
    ("path", {}, "/home/u/Downloads/x", "/home/u/Downloads/X", "case"),
    ("path", {}, "/home/u/Downloads/x", "home/u/Downloads/x", "relative"),
    ("path", {}, "/home/u/Downloads/x", "~/Downloads/x", "a home shorthand"),
    ("path", {}, "/home/u/Downloads/x", "\\home\\u\\Downloads\\x", "backslashes"),
    ("path", {}, "/home/u/Downloads/x", "/home/u/Downloads/x\x00", "a NUL"),
    ("path", {}, "/home/u/Downloads/x", "/home/u/Down loads/x", "a space inside"),
    ("ip", {}, "203.0.113.7", "203.0.113.8", "another address"),
    ("ip", {}, "203.0.113.7", "::203.0.113.7", "IPv4-compatible, not mapped"),
    ("ip", {}, "203.0.113.7", "203.000.113.007", "leading zeros (octal in some tools)"),
    ("ip", {}, "203.0.113.7", "203.0.113.7/32", "a network"),
    ("ip", {}, "203.0.113.7", "::ffff:203.0.113.8", "another mapped address"),
    ("ip", {}, "203.0.113.7", 3405803783, "a number"),
    ("ip", {}, "2001:db8::1", "2001:db8::1:0", "another IPv6 address"),
    ("domain", {}, "share.example.net", "share.example.net..", "two dots"),
    ("domain", {}, "share.example.net", "\u017fhare.example.net", "long s (casefolds to s)"),
    ("domain", {}, "share.example.net", "www.share.example.net", "a subdomain"),
    ("domain", {}, "share.example.net", "share.example.net.evil", "a longer name"),
    ("domain", {}, "share.example.net", "share .example.net", "a space"),
]


def run(compare: str, options: dict, want: object, got: object) -> tuple[bool, str]:
    return COMPARES[compare](got, want, Check(compare=compare, **options))


def shows(reason: str, want: object) -> bool:
    """Whether ``reason`` shows the expected value in a form a trainee could copy."""
    forms = {str(want), str(want).removeprefix("0x")} if not isinstance(want, (list, dict)) else set()
    return any(form and len(form) > 2 and form.casefold() in reason.casefold() for form in forms)


@pytest.mark.parametrize("compare,options,want,got,form", ACCEPTED, ids=[f"{r[0]}: {r[4]}" for r in ACCEPTED])
def test_accepted_form(compare: str, options: dict, want: object, got: object, form: str) -> None:
    assert run(compare, options, want, got) == (True, "correct")


@pytest.mark.parametrize("compare,options,want,got,why", NEAR_MISSES, ids=[f"{r[0]}: {r[4]}" for r in NEAR_MISSES])
def test_near_miss_fails_without_showing_the_value(compare: str, options: dict, want: object, got: object,
                                                   why: str) -> None:
    ok, reason = run(compare, options, want, got)
    assert not ok and reason != "correct"
    assert not shows(reason, want), reason
    assert len(reason) < 200


# -- citations with findings (lab 05): [item, sha256, fact] rows, the facts from the key ------------------------

KEY = {
    "evidence_items": [{"path": "disk.img", "sha256": "a" * 64, "size": 1},
                       {"path": "memory.lime", "sha256": "b" * 64, "size": 1},
                       {"path": "network.pcap", "sha256": "c" * 64, "size": 1},
                       {"path": "network.pcapng", "sha256": "e" * 64, "size": 1},
                       {"path": "symbols/linux/dflab-1.json", "sha256": "d" * 64, "size": 1}],
    "answers": {"payload_sha256": SHA, "implant_pid": 2345, "c2_ip": "203.0.113.7", "exfil_port": 4444},
}
CITATIONS = CheckFile(lab="05-capstone", checks={"report_citations": Check(
    compare="citations", key="evidence_items", require=("disk.img", "memory.lime", "network.pcap", "symbols/*"),
    findings={"disk.*": {"answers.payload_sha256": "hex"},
              "memory.*": {"answers.implant_pid": "int", "answers.c2_ip": "ip"},
              "symbols/*": {"answers.implant_pid": "int"},
              "network.*": {"answers.payload_sha256": "hex", "answers.c2_ip": "ip", "answers.exfil_port": "int"}})})
REPORT = [["disk.img", "a" * 64, SHA], ["memory.lime", "b" * 64, 2345], ["network.pcap", "c" * 64, 4444],
          ["symbols/linux/dflab-1.json", "d" * 64, 2345]]
ROWS = {
    "as found": REPORT,
    "hash and fact in upper case": [["disk.img", "A" * 64, SHA.upper()], *REPORT[1:]],
    "pid as text": [*REPORT[:3], ["symbols/linux/dflab-1.json", "d" * 64, "2345"]],
    "another fact of the exhibit": [*REPORT[:2], ["network.pcap", "c" * 64, "::ffff:203.0.113.7"], REPORT[3]],
    "more findings, some stating no fact": [*REPORT, ["disk.img", "a" * 64, ""], ["network.pcap", "c" * 64, None],
                                            ["network.pcap", "c" * 64, SHA]],
}
REFUSED = {
    "the manifest copied as pairs": ([[i["path"], i["sha256"]] for i in KEY["evidence_items"]],
                                     "expected a non-empty list of [evidence item, sha256, fact] rows"),
    "the manifest copied, no facts": ([[i["path"], i["sha256"], ""] for i in KEY["evidence_items"]],
                                      "no finding citing 'disk.img' states a fact found in it"),
    "a list of guesses": ([*REPORT, ["memory.lime", "b" * 64, 2346]],
                          "a finding citing 'memory.lime' states a fact your evidence does not show"),
    "a fact of another exhibit": ([["disk.img", "a" * 64, 2345], *REPORT[1:]],
                                  "a finding citing 'disk.img' states a fact your evidence does not show"),
    "candidates in one fact": ([*REPORT[:1], ["memory.lime", "b" * 64, [2345, 2346]], *REPORT[2:]],
                               "a finding citing 'memory.lime' states a fact your evidence does not show"),
    "a NaN fact": ([*REPORT[:2], ["network.pcap", "c" * 64, math.nan], REPORT[3]],
                   "a finding citing 'network.pcap' states a fact your evidence does not show"),
    "the other capture, wrong fact": ([*REPORT, ["network.pcapng", "e" * 64, 4445]],
                                      "a finding citing 'network.pcapng' states a fact your evidence does not show"),
}


@pytest.mark.parametrize("rows", ROWS.values(), ids=ROWS.keys())
def test_citations_accept_findings_with_their_facts(rows: list) -> None:
    assert check_answer(CITATIONS, "report_citations", rows, KEY, "key") == (True, "correct")


@pytest.mark.parametrize("rows,reason", REFUSED.values(), ids=REFUSED.keys())
def test_citations_refuse_findings_without_their_facts(rows: list, reason: str) -> None:
    ok, why = check_answer(CITATIONS, "report_citations", rows, KEY, "key")
    assert not ok and why.startswith(reason), why
    assert not any(str(v) in why for v in KEY["answers"].values())


def test_citations_with_findings_need_the_keys_facts() -> None:
    """Called without the facts (COMPARES directly), a findings check refuses to grade instead of skipping them."""
    from dflab.errors import DflabError

    with pytest.raises(DflabError, match="needs the key's facts"):
        COMPARES["citations"](REPORT, KEY["evidence_items"], CITATIONS.checks["report_citations"])


# -- the synonym table ------------------------------------------------------------------------------------------

def test_terms_cover_every_value_a_key_can_hold() -> None:
    """magic.file_type names, the spec's partition tables and file systems: each has an entry (maybe no synonyms),
    so a vocabulary check never silently falls back to plain text for a value the key can hold."""
    file_types = {name for *_, name in magic._SIGNATURES} | {"text", "data", "empty"}
    assert file_types <= set(TERMS["file_type"])
    assert {"mbr", "gpt"} <= set(TERMS["partition_table"])  # DiskSpec._table
    assert set(get_args(VolumeSpec.model_fields["fs"].annotation)) <= set(TERMS["file_system"])


@pytest.mark.parametrize("vocabulary", TERMS)
def test_each_name_means_one_value(vocabulary: str) -> None:
    """A name that meant two values would make a wrong answer right; a pattern is checked with a filled-in tail."""
    for canonical, names in TERMS[vocabulary].items():
        assert canonical_term(vocabulary, canonical) == canonical
        for name in names:
            assert canonical_term(vocabulary, name.replace("*", "details 1.0")) == canonical, name
            assert name == name.casefold() and name == " ".join(name.split()), f"{name!r}: write names normalised"


def test_readme_lists_every_compare_kind() -> None:
    text = (ROOT / "graders" / "README.md").read_text()
    missing = [kind for kind in get_args(Compare) if f"`{kind}`" not in text]
    assert not missing, missing
