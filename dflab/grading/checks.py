"""Answer checks: load a lab's ``grader.yaml`` and compare a recorded answer with a trainee's key.

This module runs only in the grader's process (never in a trainee's kernel):
it is the single place where an answer meets its expected value.  Every
comparison returns ``(ok, reason)`` and the reason is shown to the trainee in
feedback, so it says *what kind* of mistake was made and never contains the
expected value (otherwise feedback would leak the key, and with it other
trainees' near-identical answers).

Submissions are hostile, so every comparison is total: whatever JSON value
arrives (NaN, infinities, booleans, nested lists, megabytes of text, ints with
thousands of digits), it returns a verdict instead of raising, and it passes
only when the value provably equals the key (within the check's tolerance).
Text is bounded before it is parsed.  Right answers written in another fair
form pass: the forms each kind accepts are listed in graders/README.md and
tested row by row in tests/test_grading_forms.py.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import math
import os
import re
import string
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from dflab.errors import DflabError
from dflab.lab_hooks import LabCompare, LabHooks, hooks_at
from dflab.lab_meta import GRADER_FILE, LAB_FILE, load_lab
from dflab.yamlfile import load_yaml, read_text, validate, where

Compare = Literal["exact", "casefold", "hex", "int", "float", "set", "time", "path", "ip", "domain", "address",
                  "citations", "timeline"]
BUILTIN_COMPARES: tuple[str, ...] = get_args(Compare)
# The kinds a citation's fact may be compared with: single values, no tolerance to configure.
FactCompare = Literal["exact", "casefold", "hex", "int", "path", "ip", "domain", "address"]
Result = tuple[bool, str]
CORRECT = "correct"
WRONG = "not the value found in your evidence"
MAX_CHECKS_BYTES = 256 * 1024  # a check file (the bundled ones are under 8 KB)
MAX_TEXT = 4096          # longest text any check parses (PATH_MAX); longer is a wrong answer, never parsed
_MAX_INT_DIGITS = 32     # far beyond any pid, port, inode or sector; int() of more is refused before it runs
_MAX_ADDRESS_DIGITS = 32  # a 64-bit address zero-padded to 128 bits at most
_MAX_TIME_CHARS = 64
_MAX_IP_CHARS = 64
_MAX_DNS_NAME = 253      # RFC 1035, without the root's trailing dot
_MAX_REASONS = 8         # a hostile list of 10^5 bad rows gets a short reason, not a megabyte of feedback
_HEX = re.compile(r"[0-9a-f]+")
_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_MIME_WITH_PARAMETERS = re.compile(r"([a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+)\s*;.*", re.DOTALL)
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

# Synonyms of the canonical values a key holds, per vocabulary (``casefold`` checks with ``vocabulary:``).
# Canonical value -> other names for the *same* answer: what `file` (libmagic) prints, MIME types, what TSK,
# fdisk, parted and blkid print.  Names are compared casefolded with whitespace runs collapsed; a name with
# ``*`` is an fnmatch pattern (libmagic appends details after a comma: "Zip archive data, at least v2.0 ...");
# MIME parameters ("; charset=binary") are dropped before lookup.  A name never belongs to two canonical
# values (tests/test_grading_forms.py checks).  To localise, add names under the same canonical value
# (e.g. TERMS["file_type"]["zip"] += ("archive zip",)): the key and the graders never change.
# Deliberately absent: names that are right for more than one value, e.g. "vfat"/"fat" (FAT12, FAT16 or
# FAT32), "linux" (mmls's partition type, any Linux file system), "ms-dos executable" (not necessarily PE).
TERMS: dict[str, dict[str, tuple[str, ...]]] = {
    "file_type": {  # dflab.forensics.magic.file_type names
        "vhd": ("virtual hard disk", "microsoft disk image, virtual server or virtual pc",
                "microsoft disk image, virtual server or virtual pc, *"),
        "vhdx": ("microsoft disk image extended", "microsoft disk image extended, *"),
        "vmdk": ("vmware4 disk image", "vmware4 disk image, *", "vmware3 disk image"),
        "qcow": ("qemu qcow image (v1)", "qemu qcow image (v1), *"),
        "qcow2": ("qemu qcow2 image", "qemu qcow2 image *", "qemu qcow image (v2)", "qemu qcow image (v2), *"),
        "ewf2": ("ex01", "expert witness format version 2"),
        "zip": ("zip archive", "zip file", "zip archive data", "zip archive data, *", "application/zip",
                "application/x-zip-compressed"),
        "gzip": ("gz", "gzip compressed data", "gzip compressed data, *", "application/gzip", "application/x-gzip"),
        "bzip2": ("bz2", "bzip2 compressed data", "bzip2 compressed data, *", "application/x-bzip2"),
        "xz": ("xz compressed data", "xz compressed data, *", "application/x-xz"),
        "7z": ("7-zip", "7-zip archive data", "7-zip archive data, *", "application/x-7z-compressed"),
        "rar": ("rar archive data", "rar archive data, *", "application/vnd.rar", "application/x-rar",
                "application/x-rar-compressed"),
        "tar": ("tar archive", "posix tar archive", "posix tar archive (gnu)", "application/x-tar"),
        "pdf": ("pdf document", "pdf document, *", "application/pdf"),
        "jpeg": ("jpg", "jpeg image", "jpeg image data", "jpeg image data, *", "image/jpeg"),
        "png": ("png image", "png image data", "png image data, *", "image/png"),
        "gif": ("gif image", "gif image data", "gif image data, *", "image/gif"),
        "bmp": ("bitmap", "pc bitmap", "pc bitmap, *", "image/bmp", "image/x-ms-bmp"),
        "tiff": ("tif", "tiff image data", "tiff image data, *", "image/tiff"),
        "elf": ("elf executable", "elf binary", "elf 32-bit *", "elf 64-bit *", "application/x-executable",
                "application/x-sharedlib", "application/x-pie-executable", "application/x-elf"),
        "pe": ("pe32", "pe32+", "pe32 executable *", "pe32+ executable *", "application/x-dosexec",
               "application/vnd.microsoft.portable-executable"),
        "ole": ("ole2", "cdfv2", "composite document file v2 document", "composite document file v2 document, *",
                "application/x-ole-storage", "application/cdfv2"),
        "sqlite": ("sqlite3", "sqlite 3.x database", "sqlite 3.x database, *", "application/vnd.sqlite3",
                   "application/x-sqlite3"),
        "pcap": ("tcpdump capture file", "tcpdump capture file *", "pcap capture file", "pcap capture file, *",
                 "application/vnd.tcpdump.pcap"),
        "pcapng": ("pcap-ng", "pcapng capture file", "pcapng capture file - *", "application/x-pcapng"),
        "ewf": ("e01", "expert witness format", "encase image file format",
                "ewf/expert witness/encase image file format"),
        "lime": ("lime memory image", "lime image"),
        "rtf": ("rich text format", "rich text format data, *", "text/rtf", "application/rtf"),
        "text": ("plain text", "ascii text", "ascii text, *", "utf-8 text", "utf-8 text, *", "utf-8 unicode text",
                 "utf-8 unicode text, *", "unicode text, utf-8 text", "unicode text, utf-8 text, *", "text/plain"),
        "data": ("binary data", "application/octet-stream"),
        "empty": ("empty file", "inode/x-empty"),
    },
    "partition_table": {  # scenario disk.table
        "mbr": ("dos", "msdos", "ms-dos", "mbr partition table", "dos partition table", "master boot record",
                "dos/mbr", "dos/mbr boot sector", "dos/mbr boot sector; *"),
        "gpt": ("efi", "efi gpt", "gpt partition table", "guid partition table", "guid partition table (efi)"),
    },
    "file_system": {  # scenario disk.volumes[].fs
        "ext4": ("linux ext4", "ext4 filesystem", "ext4 file system", "ext4 filesystem data",
                 "ext4 filesystem data, *", "linux rev 1.0 ext4 filesystem data",
                 "linux rev 1.0 ext4 filesystem data, *"),
        "fat32": ("fat 32", "fat-32", "fat (32 bit)", "vfat (fat32)", "w95 fat32", "w95 fat32 (lba)",
                  "win95 fat32", "win95 fat32 (0x0b)", "win95 fat32 (0x0c)"),
    },
}

# What French- and Spanish-speaking trainees write for the same values (labs in fr/es, issue #16): answers stay
# canonical in the key and in every grader, and these names count as them, as the English ones above do.
LOCALISED_TERMS: dict[str, dict[str, tuple[str, ...]]] = {
    "file_type": {
        "zip": ("archive zip", "fichier zip", "archivo zip", "fichero zip"),
        "gzip": ("archive gzip", "fichier gzip", "archivo gzip", "datos comprimidos gzip"),
        "tar": ("archive tar", "archivo tar"),
        "pdf": ("document pdf", "fichier pdf", "documento pdf", "archivo pdf"),
        "jpeg": ("image jpeg", "fichier jpeg", "imagen jpeg", "archivo jpeg"),
        "png": ("image png", "imagen png"),
        "elf": ("exécutable elf", "binaire elf", "fichier elf", "ejecutable elf", "binario elf", "archivo elf"),
        "sqlite": ("base de données sqlite", "base de datos sqlite"),
        "text": ("texte brut", "fichier texte", "texte ascii", "texto plano", "archivo de texto", "texto ascii"),
        "data": ("données binaires", "datos binarios"),
        "empty": ("fichier vide", "archivo vacío", "fichero vacío"),
    },
    "partition_table": {
        "mbr": ("table de partitions dos", "table de partitions mbr", "tabla de particiones dos",
                "tabla de particiones mbr"),
        "gpt": ("table de partitions gpt", "table de partitions guid", "tabla de particiones gpt",
                "tabla de particiones guid"),
    },
    "file_system": {
        "ext4": ("système de fichiers ext4", "sistema de archivos ext4", "sistema de ficheros ext4"),
        "fat32": ("système de fichiers fat32", "sistema de archivos fat32", "sistema de ficheros fat32"),
    },
}
for _table, _names in LOCALISED_TERMS.items():
    for _value, _localised in _names.items():
        TERMS[_table][_value] += _localised


def by_role(path: str) -> str:
    """``path`` when it addresses the key by name only; a numeric part (a position in a list) is refused.

    A position is a fact of one case's layout (Nightjar's root is its disk's second partition; another case's is
    the first), so a grader that says ``facts.disk.partitions.1`` grades the wrong partition on the next case.
    Every fact a grader needs has a role-addressed twin (``facts.disk.volumes.<volume id>``,
    ``facts.disk.files.<file id>``, ``namespace.<kind>.<id>.<field>``), and no role id is a number (a spec's ids
    start with a letter), so refusing every numeric part refuses exactly the positions.
    """
    for part in path.split("."):
        if part.isdigit():
            raise ValueError(f"{path!r} picks a list item by position ({part}): address the fact by role "
                             "(e.g. facts.disk.volumes.<volume id>)")
    return path


class Check(BaseModel):
    """How one named answer is compared with the key (see graders/README.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    compare: str = Field(description="a kind of this module (Compare) or one the lab's hooks define (COMPARES)")
    key: str | None = Field(default=None, description="dotted path in the answer key; default answers.<name>")
    tolerance: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    tolerance_s: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    require: tuple[str, ...] = Field(default=(), description="citations: manifest paths (fnmatch patterns) that "
                                     "must be cited; timeline: step ids that must be listed")
    criterion: str | None = Field(default=None, description="a lab-defined kind: which of its criteria this answer "
                                  "is graded on (LabCompare.criteria)")
    vocabulary: str | None = Field(default=None, description="casefold: the TERMS table whose synonyms of the "
                                   "key's value count as that value")
    findings: dict[str, dict[str, FactCompare]] = Field(
        default_factory=dict, description="citations: manifest path pattern -> {key path: compare} of the facts "
        "a finding citing a matching item may state; each citation is then [item, sha256, fact]")

    @field_validator("compare")
    @classmethod
    def _kind_named(cls, value: str) -> str:
        """A dflab kind, or a name a lab's hooks may define (checked against them when the file is loaded)."""
        if value not in BUILTIN_COMPARES and not value.isidentifier():
            raise ValueError(f"compare must be one of {', '.join(BUILTIN_COMPARES)} or a kind the lab's hooks define")
        return value

    @field_validator("key")
    @classmethod
    def _key_by_role(cls, value: str | None) -> str | None:
        return value if value is None else by_role(value)

    @field_validator("findings")
    @classmethod
    def _findings_by_role(cls, value: dict[str, dict[str, FactCompare]]) -> dict[str, dict[str, FactCompare]]:
        for listed in value.values():
            for path in listed:
                by_role(path)
        return value

    @field_validator("vocabulary")
    @classmethod
    def _known_vocabulary(cls, value: str | None) -> str | None:
        if value is not None and value not in TERMS:
            raise ValueError(f"vocabulary must be one of {', '.join(TERMS)}")
        return value

    @model_validator(mode="after")
    def _options_fit(self) -> Check:
        """Options belong to one kind each: a vocabulary on a time check is a mistake in the file, not a no-op."""
        for option, kind in (("vocabulary", "casefold"), ("findings", "citations")):
            if getattr(self, option) not in (None, {}) and self.compare != kind:
                raise ValueError(f"{option} is only for compare: {kind}")
        if self.criterion is not None and self.compare in BUILTIN_COMPARES:
            raise ValueError("criterion is only for a kind the lab's hooks define")
        return self


class CheckFile(BaseModel):
    """A whole ``labs/<lab>/grader.yaml`` (a course keeps its copy as ``graders/<lab>.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lab: str
    checks: dict[str, Check] = Field(min_length=1)
    _lab_compares: dict[str, LabCompare] = PrivateAttr(default_factory=dict)

    def key_path(self, name: str) -> str:
        """Where answer ``name`` lives in the answer key."""
        return self.checks[name].key or f"answers.{name}"

    def lab_compare(self, name: str) -> LabCompare | None:
        """The lab-defined kind answer ``name`` is compared with (None: a dflab kind)."""
        return self._lab_compares.get(self.checks[name].compare)

    def with_lab_compares(self, compares: dict[str, LabCompare], source: str, lines: Any = None) -> CheckFile:
        """This file with the lab's own kinds attached; a check naming a kind nobody defines, or a criterion its
        kind does not list, is the file's error at its line (``source``: the file, ``lines`` its YAML positions)."""
        for name, check in self.checks.items():
            at = where(source, lines, ("checks", name, "compare")) if lines else source
            if check.compare in BUILTIN_COMPARES:
                continue
            kind = compares.get(check.compare)
            if kind is None:
                raise DflabError(f"checks.{name}.compare: {check.compare!r} is neither a dflab kind "
                                 f"({', '.join(BUILTIN_COMPARES)}) nor one the lab's hooks define "
                                 f"({', '.join(sorted(compares)) or 'none'})", at)
            if kind.criteria and check.criterion not in kind.criteria:
                raise DflabError(f"checks.{name}: criterion must be one of {', '.join(kind.criteria)}", at)
            if not kind.criteria and check.criterion is not None:
                raise DflabError(f"checks.{name}: compare {check.compare!r} takes no criterion", at)
        self._lab_compares = dict(compares)
        return self


def load_checks(path: Path) -> CheckFile:
    """Read and validate a check file; any problem is one DflabError naming ``file:line: field``.

    ``labs/<lab>/grader.yaml`` names its lab folder's lab; a course's copy ``graders/<lab>.yaml`` its file name's.
    """
    data, lines = load_yaml(read_text(path, MAX_CHECKS_BYTES, "check file"), str(path))
    checks = validate(CheckFile, data, str(path), lines)
    expected = path.parent.name if path.name == GRADER_FILE else path.stem
    if checks.lab != expected:
        raise DflabError(f"lab: {checks.lab!r} does not match its lab {expected!r}", where(str(path), lines, ("lab",)))
    return checks.with_lab_compares(grader_hooks(path).compares, str(path), lines)


def grader_hooks(path: Path) -> LabHooks:
    """The hooks beside a check file, whose ``COMPARES`` it may use: ``labs/<lab>/grader.yaml``'s are the ones its
    lab.yaml declares; a course's ``graders/<lab>.yaml``'s are ``graders/<lab>.hooks.py`` (:func:`hooks_copy`)."""
    if path.name == GRADER_FILE:
        if not (path.parent / LAB_FILE).is_file():
            return LabHooks(None)
        declared = load_lab(path.parent.parent, path.parent.name).hooks
        return hooks_at(path.parent / declared) if declared else LabHooks(None)
    copy = hooks_copy(path.parent, path.stem)
    return hooks_at(copy) if copy.is_file() else LabHooks(None)


def hooks_copy(checks_dir: Path, lab: str) -> Path:
    """Where a course keeps its copy of ``lab``'s hooks file, beside its check file."""
    return checks_dir / f"{lab}.hooks.py"


def checks_for(checks_dir: Path, lab: str) -> CheckFile:
    """The check file of ``lab`` in ``checks_dir``."""
    return load_checks(checks_dir / f"{lab}.yaml")


def lookup(key: dict[str, Any], path: str, where: str) -> Any:
    """Follow a dotted key path; a missing part is an instructor error.

    Only mappings are followed, by name: a list is a value a check compares whole (``timeline``,
    ``evidence_items``), never a place to pick an item by position (:func:`by_role`).  Dict keys may
    themselves contain dots (the key's ``namespace`` is flat: ``namespace.flows.dns-drop.qname``), so at
    each level the longest matching key wins.
    """
    node: Any = key
    parts = path.split(".")
    i = 0
    while i < len(parts):
        if isinstance(node, dict):
            j = next((j for j in range(len(parts), i, -1) if ".".join(parts[i:j]) in node), None)
            if j is None:
                raise DflabError(f"answer key has no {path!r} (stops at {parts[i]!r})", where)
            node, i = node[".".join(parts[i:j])], j
        else:
            raise DflabError(f"answer key has no {path!r} (stops at {parts[i]!r})", where)
    return node


# -- reading values: each returns the normal form, or None for a value that cannot be that kind of answer -----

def _kind(value: Any) -> str:
    return type(value).__name__


def _shown(text: str) -> str:
    """A trainee's own text quoted in a reason, cut short and with lone surrogates escaped: feedback must stay
    readable, and writable as UTF-8, whatever was sent."""
    quoted = repr(text if len(text) <= 60 else text[:57] + "...")
    return quoted.encode("utf-8", "backslashreplace").decode("utf-8")


def _bad_key(value: Any, what: str) -> DflabError:
    """The key itself holds something no answer could match: the instructor's problem, said loudly."""
    return DflabError(f"key value is not {what}: {_kind(value)}", "answer key")


def _finite(value: Any) -> float | None:
    """A real, finite number; booleans are not numbers and an int beyond float range is not finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _within(have: float | None, want: float | None, tolerance: float) -> bool:
    """Provably within ``tolerance``: false for a missing value and for a difference that overflows."""
    if have is None or want is None:
        return False
    difference = abs(have - want)
    return math.isfinite(difference) and difference <= tolerance


def _text_form(text: str) -> str:
    """Text as written on any platform: CRLF/CR line ends as LF, surrounding whitespace and newlines trimmed."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _term_form(text: str) -> str:
    """A name compared loosely: casefolded, whitespace runs as one space, trimmed."""
    return " ".join(text.split()).casefold()


def _as_int(value: Any) -> int | None:
    """An integer from an int, an integral finite float or a short decimal string; never from a bool."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() else None
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        text = value.strip()
        if len(text.lstrip("+-")) <= _MAX_INT_DIGITS and _INT_TEXT.fullmatch(text):
            return int(text)
    return None


def _hex_digits(value: Any) -> str | None:
    """Hex digits of a string, lower case, with whitespace and one 0x prefix removed."""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        return None
    digits = "".join(value.split()).lower().removeprefix("0x")
    return digits if _HEX.fullmatch(digits) else None


def _address(value: Any) -> int | None:
    """A memory address: hex text (0x optional, zero padding and case free) or a whole number, 0 to 2**64-1."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 1 << 64 else None
    digits = _hex_digits(value)
    if digits is None or len(digits) > _MAX_ADDRESS_DIGITS:
        return None
    number = int(digits, 16)
    return number if number < 1 << 64 else None


def _instant(value: Any) -> float | None:
    """Seconds since the epoch from finite epoch seconds or an ISO-8601 text with a zone ('Z' or an offset)."""
    if isinstance(value, (bool, int, float)):
        return _finite(value)
    if not isinstance(value, str) or len(value) > _MAX_TIME_CHARS:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().upper())  # upper: RFC 3339 allows "t" and "z"
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    try:
        return parsed.timestamp()  # not astimezone(UTC): year 1 at +01:00 is a real instant, not an overflow
    except (OverflowError, ValueError):
        return None


def _path_form(value: str) -> str | None:
    """An absolute POSIX path with empty and ``.`` segments dropped; None with a ``..`` segment or a NUL.

    ``..`` is refused rather than resolved: on the evidence it may cross a symlink, so ``/a/b/../c`` need not
    be ``/a/c``, and accepting it would let a path name one file while spelling another.
    """
    parts = value.strip().split("/")
    if parts[0] != "" or ".." in parts or "\x00" in value:
        return None
    return "/" + "/".join(p for p in parts if p not in ("", "."))


def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An IP address; an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) is its IPv4 address."""
    if not isinstance(value, str) or len(value) > _MAX_IP_CHARS:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    return mapped or address


def _dns_name(value: Any) -> str | None:
    """A DNS name without its root dot, ASCII letters lowered (RFC 4343: DNS case is ASCII only, so a
    Unicode casefold that turns 'ſ' into 's' would match a different name)."""
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        return None
    name = value.strip()
    name = name[:-1] if name.endswith(".") else name
    if not name or len(name) > _MAX_DNS_NAME or any(c.isspace() for c in name):
        return None
    return name.translate(_ASCII_LOWER)


def canonical_term(vocabulary: str, text: str) -> str:
    """The canonical value ``text`` names in ``TERMS[vocabulary]``, else ``text`` in its loose form."""
    form = _term_form(text)
    if mime := _MIME_WITH_PARAMETERS.fullmatch(form):  # "application/zip; charset=binary"
        form = mime.group(1)
    for canonical, names in TERMS[vocabulary].items():
        if any(fnmatch.fnmatchcase(form, _term_form(name)) for name in (canonical, *names)):
            return canonical
    return form


# -- comparisons: (recorded value, expected value, check) -> (ok, reason) --------------------------------

def _verdict(ok: bool, reason: str = WRONG) -> Result:
    return (True, CORRECT) if ok else (False, reason)


def _json_equal(got: Any, want: Any) -> bool:
    """Equal JSON values where ``True`` is not ``1`` and NaN equals nothing; recursion follows the key's shape."""
    if isinstance(want, bool) or want is None:
        return got is want
    if isinstance(want, (int, float)):
        return _finite(got) is not None and got == want
    if isinstance(want, str):
        return isinstance(got, str) and got == want
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(map(_json_equal, got, want))
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(_json_equal(got[k], want[k]) for k in want)
    return False


def compare_exact(got: Any, want: Any, check: Check) -> Result:
    """Equal as JSON values.  Text: line ends (CRLF, CR) and surrounding whitespace do not count; everything else
    does (case, inner spaces, Unicode forms): a password or a slack secret is right only as written."""
    if isinstance(want, str):
        if not isinstance(got, str):
            return False, f"expected text, got {_kind(got)}"
        return _verdict(_text_form(got) == _text_form(want))
    return _verdict(_json_equal(got, want))


def compare_casefold(got: Any, want: Any, check: Check) -> Result:
    """Equal as names: case and whitespace runs do not count; with a ``vocabulary`` any synonym (TERMS) of the
    key's value counts as that value."""
    if not isinstance(got, str):
        return False, f"expected text, got {_kind(got)}"
    if len(got) > MAX_TEXT:
        return False, WRONG
    if check.vocabulary is None:
        return _verdict(_term_form(got) == _term_form(str(want)))
    return _verdict(canonical_term(check.vocabulary, got) == canonical_term(check.vocabulary, str(want)))


def compare_hex(got: Any, want: Any, check: Check) -> Result:
    """Equal hex strings (hashes) ignoring case, whitespace and a 0x prefix; a length mismatch is named as such.
    Zero padding is a different length here: a digest's length is part of it (use ``address`` for numbers)."""
    if not isinstance(got, str):
        return False, f"expected a hex string, got {_kind(got)}"
    expected = _hex_digits(want)
    if expected is None:
        raise _bad_key(want, "hex")
    norm = _hex_digits(got)
    if norm is None:
        return False, "not a hex string (only 0-9 and a-f)"
    if len(norm) != len(expected):
        return False, f"wrong length: {len(norm)} hex digits, expected {len(expected)}"
    return _verdict(norm == expected, "hash/hex value does not match your evidence")


def compare_address(got: Any, want: Any, check: Check) -> Result:
    """The same memory address: hex text with or without 0x, any case, any zero padding, or a whole number
    (decimal), where the answer's shape lets a number through."""
    expected = _address(want)
    if expected is None:
        raise _bad_key(want, "an address")
    value = _address(got)
    if value is None:
        return False, f"expected an address in hex (0x...) or a whole number, got {_kind(got)}"
    return _verdict(value == expected, "hash/hex value does not match your evidence")


def compare_int(got: Any, want: Any, check: Check) -> Result:
    """Equal integers; integral floats and decimal strings are accepted, booleans are not."""
    expected = _as_int(want)
    if expected is None:
        raise _bad_key(want, "an integer")
    value = _as_int(got)
    if value is None:
        return False, f"expected an integer, got {_kind(got)}"
    return _verdict(value == expected, "not the number found in your evidence")


def compare_float(got: Any, want: Any, check: Check) -> Result:
    """Within ``tolerance`` (absolute) of the key; NaN, infinities and booleans are not numbers."""
    expected = _finite(want)
    if expected is None:
        raise _bad_key(want, "a finite number")
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        return False, f"expected a number, got {_kind(got)}"
    if isinstance(got, float) and not math.isfinite(got):
        return False, "expected a finite number"
    return _verdict(_within(_finite(got), expected, check.tolerance),
                    f"not within {check.tolerance:g} of the value in your evidence")


def _member(value: Any) -> str | None:
    """A set member as compared: text trimmed and casefolded, a (bounded) integer as its digits."""
    if isinstance(value, str):
        return value.strip().casefold() if len(value) <= MAX_TEXT else None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10 ** _MAX_INT_DIGITS:
        return str(value)
    return None


def compare_set(got: Any, want: Any, check: Check) -> Result:
    """Same members, order-free, strings casefolded; says how many are missing or extra, not which."""
    if not isinstance(got, list):
        return False, f"expected a list, got {_kind(got)}"
    need = {_member(x) for x in want}
    if None in need:
        raise _bad_key(want, "a list of text items")
    have = [_member(x) for x in got]
    if None in have:
        return False, f"expected a list of text items, got a {_kind(got[have.index(None)])} item"
    missing, extra = len(need - set(have)), len(set(have) - need)
    return _verdict(not missing and not extra, f"{missing} missing and {extra} wrong item(s)")


def compare_time(got: Any, want: Any, check: Check) -> Result:
    """Same instant within ``tolerance_s``; ISO-8601 (zone required) or finite epoch seconds."""
    expected = _instant(want)
    if expected is None:
        raise _bad_key(want, "a time")
    have = _instant(got)
    if have is None:
        return False, "expected an ISO-8601 time with a zone (YYYY-MM-DDTHH:MM:SSZ) or epoch seconds"
    return _verdict(_within(have, expected, check.tolerance_s),
                    f"not within {check.tolerance_s:g} s of the time in your evidence")


def compare_path(got: Any, want: Any, check: Check) -> Result:
    """Equal absolute POSIX paths once repeated ``/``, ``.`` segments and a trailing ``/`` are dropped; case
    matters and a ``..`` segment is refused, never resolved."""
    expected = _path_form(want) if isinstance(want, str) else None
    if expected is None:
        raise _bad_key(want, "an absolute path")
    if not isinstance(got, str):
        return False, f"expected a path string, got {_kind(got)}"
    if len(got) > MAX_TEXT or not got.strip().startswith("/"):
        return False, "expected an absolute path (starting with /)"
    norm = _path_form(got)
    if norm is None:
        return False, "the path has a '..' segment (or a NUL): give the file's own path"
    return _verdict(norm == expected, "not the path found in your evidence")


def compare_ip(got: Any, want: Any, check: Check) -> Result:
    """The same IP address in any standard spelling: IPv6 compressed or expanded, any case; an IPv4 address
    also as its IPv4-mapped IPv6 form (``::ffff:1.2.3.4``)."""
    expected = _ip(want)
    if expected is None:
        raise _bad_key(want, "an IP address")
    if not isinstance(got, str):
        return False, f"expected an IP address as text, got {_kind(got)}"
    value = _ip(got)
    if value is None:
        return False, "not an IPv4 or IPv6 address"
    return _verdict(value == expected)


def compare_domain(got: Any, want: Any, check: Check) -> Result:
    """The same DNS name: ASCII case and the root's trailing dot (``example.net.``) do not count."""
    expected = _dns_name(want)
    if expected is None:
        raise _bad_key(want, "a DNS name")
    if not isinstance(got, str):
        return False, f"expected a DNS name, got {_kind(got)}"
    value = _dns_name(got)
    return _verdict(value is not None and value == expected)


def _rows(value: Any, width: int) -> list[tuple[Any, ...]] | None:
    """A non-empty list of ``width``-item rows starting with text, as recorded (JSON has no tuples), else None."""
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(r, list) and len(r) == width and isinstance(r[0], str) for r in value):
        return None
    return [(r[0].strip(), *r[1:]) for r in value]


def _failed(reasons: Iterable[str]) -> Result:
    """One reason per distinct problem, at most _MAX_REASONS of them; no reasons means correct."""
    unique = list(dict.fromkeys(reasons))
    if not unique:
        return True, CORRECT
    more = len(unique) - _MAX_REASONS
    return False, "; ".join(unique[:_MAX_REASONS]) + (f" (and {more} more)" if more > 0 else "")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _states(fact: Any, options: list[tuple[str, Any]]) -> bool:
    """Whether ``fact`` is one of the key's facts, each compared by its own kind (a hash as hex, a pid as int)."""
    return any(COMPARES[kind](fact, want, Check(compare=kind))[0] for kind, want in options)


def _finding_reasons(rows: list[tuple[Any, ...]], manifest: dict[str, str],
                     facts: dict[str, list[tuple[str, Any]]]) -> list[str]:
    """Every finding citing a manifest item with facts states one of that item's facts, or nothing; and each
    such item cited has at least one finding that states one.  A copied manifest has the items and hashes but
    none of the facts, and a list of guesses fails on the first wrong one."""
    reasons: list[str] = []
    cited: dict[str, None] = {}  # in citation order
    stated: set[str] = set()
    for item, _sha, fact in rows:
        options = [option for pattern, listed in facts.items() if fnmatch.fnmatchcase(item, pattern)
                   for option in listed]
        if item not in manifest or not options:
            continue
        cited.setdefault(item, None)
        if _blank(fact):
            continue
        if _states(fact, options):
            stated.add(item)
        else:
            reasons.append(f"a finding citing {_shown(item)} states a fact your evidence does not show")
    reasons += [f"no finding citing {_shown(item)} states a fact found in it (a hash, a process ID, an address "
                "or a port from your analysis)" for item in cited if item not in stated]
    return reasons


def compare_citations(got: Any, want: Any, check: Check,
                      facts: dict[str, list[tuple[str, Any]]] | None = None) -> Result:
    """Every cited [evidence item, sha256] pair names an item of the evidence manifest with its exact hash, and the
    ``require``d items (fnmatch patterns of manifest paths) are cited: a court can follow each finding to a sealed
    exhibit.  With ``findings`` each citation is [item, sha256, fact] and the facts are checked against the key's
    (``facts``, resolved by :func:`check_answer`), so that citing takes an analysis, not a copy of the manifest.
    Item names are public (they are the manifest's), so reasons may name them; hashes and facts are never shown."""
    if check.findings and facts is None:
        raise DflabError("a citations check with findings needs the key's facts (grade it through check_answer)",
                         "graders")
    rows = _rows(got, 3 if check.findings else 2)
    if rows is None:
        shape = "[evidence item, sha256, fact] rows" if check.findings else "[evidence item, sha256] pairs"
        return False, f"expected a non-empty list of {shape}"
    manifest = {str(entry["path"]): str(entry["sha256"]).lower() for entry in want}
    reasons = []
    for item, sha, *_ in rows:
        if item not in manifest:
            reasons.append(f"cites {_shown(item)}, which is not an item of the evidence manifest")
        elif _hex_digits(sha) != manifest[item]:
            reasons.append(f"the SHA-256 cited for {_shown(item)} is not the one in the evidence manifest")
    cited = {item for item, *_ in rows}
    reasons += [f"no finding cites {pattern!r}" for pattern in check.require
                if not any(fnmatch.fnmatchcase(item, pattern) for item in cited)]
    if facts is not None:
        reasons += _finding_reasons(rows, manifest, facts)
    return _failed(reasons)  # a finding per repeat: each problem is said once


def compare_timeline(got: Any, want: Any, check: Check) -> Result:
    """[step id, time] pairs in chronological order, each step a step of the case listed once, each time within
    ``tolerance_s`` of the key's, every ``require``d step present.  Step ids are the case's public vocabulary."""
    pairs = _rows(got, 2)
    if pairs is None:
        return False, "expected a non-empty list of [step, time] pairs"
    times: dict[str, float] = {}
    for event in want:
        if (when := _instant(event["time"])) is None:
            raise DflabError(f"key timeline time is not a time: {event['time']!r}", "answer key")
        times[str(event["id"])] = when
    reasons, seen, instants = [], set(), []
    for step, value in pairs:
        if step in seen:
            reasons.append(f"step {_shown(step)} is listed twice")
            continue
        seen.add(step)
        instant = _instant(value)
        if step not in times:
            reasons.append(f"{_shown(step)} is not a step of this case")
        elif instant is None:
            reasons.append(f"step {_shown(step)}: expected an ISO-8601 time with a zone or epoch seconds")
        elif not _within(instant, times[step], check.tolerance_s):
            reasons.append(f"step {_shown(step)}: not within {check.tolerance_s:g} s of the time in your evidence")
        if instant is not None:
            instants.append(instant)  # finite: NaN, which sorts anywhere, never gets here
    if instants != sorted(instants):
        reasons.append("the steps are not in chronological order")
    missing = [step for step in check.require if step not in seen]
    if missing:
        reasons.append(f"missing step(s): {', '.join(missing)}")
    return _failed(reasons)


COMPARES: dict[str, Callable[[Any, Any, Check], Result]] = {
    "exact": compare_exact, "casefold": compare_casefold, "hex": compare_hex, "int": compare_int,
    "float": compare_float, "set": compare_set, "time": compare_time, "path": compare_path, "ip": compare_ip,
    "domain": compare_domain, "address": compare_address, "citations": compare_citations,
    "timeline": compare_timeline,
}


def unusable_path(text: str) -> bool:
    """A name the OS cannot even look up: a NUL, a lone surrogate, over PATH_MAX, or a part over NAME_MAX.
    Resolving one raises (ValueError, UnicodeEncodeError, ENAMETOOLONG) instead of finding nothing."""
    try:
        raw = os.fsencode(text)
    except UnicodeEncodeError:
        return True
    return b"\x00" in raw or len(raw) > MAX_TEXT or any(len(part) > 255 for part in raw.split(b"/"))


def _facts(check: Check, key: dict[str, Any], where: str) -> dict[str, list[tuple[str, Any]]]:
    """The key's facts each cited item may state (Check.findings), as (compare kind, value) per item pattern."""
    return {pattern: [(kind, lookup(key, path, where)) for path, kind in listed.items()]
            for pattern, listed in check.findings.items()}


def check_answer(checks: CheckFile, name: str, value: Any, key: dict[str, Any], key_where: str,
                 submission: Path | None = None) -> Result:
    """Compare answer ``name``'s recorded value with the key; an unknown name is a wrong answer, not a crash.

    ``submission`` is the trainee's submitted assignment folder, read by the lab-defined kinds that grade handed-in
    files (``LabCompare.needs_submission``: lab 01's case directory).
    """
    if name not in checks.checks:
        return False, f"{name!r} is not an answer of lab {checks.lab}"
    check = checks.checks[name]
    want = lookup(key, checks.key_path(name), key_where)
    if (kind := checks.lab_compare(name)) is not None:
        return kind.compare(value, want, check, submission)
    if check.compare == "citations" and check.findings:
        return compare_citations(value, want, check, _facts(check, key, key_where))
    compare = COMPARES.get(check.compare)
    if compare is None:  # a lab's kind, but the file was made without its hooks (load it with load_checks)
        raise DflabError(f"compare {check.compare!r} of {name!r} is the lab's own and its hooks are not loaded",
                         f"lab {checks.lab}")
    return compare(value, want, check)
