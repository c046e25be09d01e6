"""The scenario spec: the schema of a case story written in YAML.

A spec tells one story (hosts, users, a timeline of events) and declares the
artifacts that story leaves on disk, in memory and on the wire.  Artifacts
never repeat a fact: they *reference* it — a time as ``"@download+5s"``, a
host as ``c2``, a file's bytes as ``{file: payload}``, a drawn value as
``"{user}"`` inside any string.  That is what makes the three kinds of
evidence agree by construction.

Values that differ per trainee are drawn from the trainee's seed (see
:mod:`dflab.scenario.draw`): ``{choice: [...]}``, ``{int: [lo, hi]}``,
``{ip_in: cidr}``, ``{time_between: [t0, t1]}``, ``{hex: n}``,
``{password: n}``.  Unknown fields are errors, so typos never pass silently.

Limits.  A spec describes a training case, so every size and count has a
maximum that keeps a variant small enough to build in seconds and hand out on
a USB stick; a value outside it is a ``file:line: field: what`` error from
``dflab scenario validate`` (and from every command that loads the spec),
never a hang or a traceback at build time:

* disk size: ``MIN_DISK_BYTES`` (2 MiB) .. ``MAX_DISK_BYTES`` (2 GiB), whole sectors, and the volumes must
  fit it in every variant; a volume: 1 MiB .. 2 GiB; ``start_mib`` after the previous partition;
* memory size: ``MIN_MEMORY_BYTES`` (32 MiB) .. ``MAX_MEMORY_BYTES`` (2 GiB), a multiple of 2 MiB;
* a file's content ``size``: 0 .. ``MAX_FILE_BYTES`` (64 MiB), and at most its volume's size;
* filler ``count``: 0 .. ``MAX_FILLER_FILES`` (1000) per rule;
* ``noise_packets``: 0 .. ``MAX_NOISE_PACKETS`` (50,000);
* timeline ``seconds``: 0 .. ``MAX_EVENT_GAP_S`` (30 days) after the previous event; a time offset
  (``@event+5d``): at most ``MAX_OFFSET_DAYS`` (3650 days); absolute times: the years 1980 .. 2099;
* ``{hex: n}``, ``{password: n}``: 1 .. ``MAX_DRAWN_TEXT`` (256) characters; ``{choice: [...]}``: at most
  ``MAX_CHOICES`` (1000) options;
* ports 1 .. 65535, pids 2 .. 4194304, uids 0 .. 4294967294, file descriptors 0 .. 1023.

Every range (``{int: [lo, hi]}``, ``size: [lo, hi]``, ``count``, ``seconds``,
``time_between``) must have ``lo <= hi``.  The YAML itself is bounded by
:mod:`dflab.scenario.load` (file size, nesting, aliases).

References.  Every id one section names in another (an event's ``after``, a
flow's hosts and files ...) and every ``{name}`` in a templated string must
exist (:func:`id_problems`, :func:`template_problems`); each problem is
reported at the line of the field holding it, through
:class:`dflab.yamlfile.FieldError`.  Answers are checked against the answer
key's names when a variant is resolved (:func:`answer_problems`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from dflab.scenario.mail import ADDRESS
from dflab.yamlfile import FieldError

ID_PATTERN = r"[a-z][a-z0-9_-]{0,39}"
ID = Annotated[str, Field(pattern=rf"^{ID_PATTERN}$")]
# A ``{name}`` reference in a spec's strings. A name is dot-separated parts such as ``hosts.c2.ip`` or
# ``flows.dns-c2.client_port``: every id (ID_PATTERN, ``-`` included) and every variable name (VARIABLE_NAME) fits.
# ``{{name}}`` is the escape: it writes ``{name}`` as it is (a ``${HOME}`` in a shell command is ``${{HOME}}``).
# Any other brace (``{"a": 1}``, ``{ x }``, ``{1..3}``) is plain text. Answers use the same grammar, without the
# escape (dflab.evidence.key reads them).
REF_NAME = r"[A-Za-z_][\w.-]*"
TEMPLATE = re.compile(rf"\{{\{{(?P<literal>{REF_NAME})\}}\}}|\{{(?P<ref>{REF_NAME})\}}")
REFERENCE = re.compile(rf"\{{({REF_NAME})\}}")
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
MAC = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}")
TIME_REF = re.compile(r"^@(?P<event>[a-z][a-z0-9_-]*?)(?:\s*(?P<sign>[+-])\s*(?P<num>\d+(?:\.\d+)?)(?P<unit>[smhd]))?$")
SIZE = re.compile(r"^(?P<num>\d+)\s*(?P<unit>B|KiB|MiB|GiB)?$")
_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

KiB, MiB, GiB = 1024, 1024**2, 1024**3
SECTOR = 512
ALIGN_SECTORS = 2048  # partitions start on 1 MiB boundaries, as every modern partitioner does
GPT_RESERVED_SECTORS = 33  # the backup GPT (array + header) at the end of a GPT disk
# The documented maxima (module docstring): what fits a training image and builds in seconds.
MIN_DISK_BYTES = 2 * MiB
MAX_DISK_BYTES = 2 * GiB
MIN_VOLUME_BYTES = 1 * MiB
MIN_MEMORY_BYTES = 32 * MiB
MAX_MEMORY_BYTES = 2 * GiB
MEMORY_ALIGN = 2 * MiB  # the memory writer maps RAM with 2 MiB pages
MAX_FILE_BYTES = 64 * MiB
MAX_FILLER_FILES = 1000
MAX_NOISE_PACKETS = 50_000
MAX_EVENT_GAP_S = 30 * 86400
MAX_OFFSET_DAYS = 3650
MAX_DRAWN_TEXT = 256
MAX_CHOICES = 1000
PORTS = (1, 65535)
PIDS = (2, 4_194_304)  # PID_MAX_LIMIT on 64-bit Linux
UIDS = (0, 2**32 - 2)
FDS = (0, 1023)  # the default RLIMIT_NOFILE soft limit
DRAWS = ("choice", "int", "ip_in", "time_between", "hex", "password")


def parse_size(value: int | str) -> int:
    """Parse ``64MiB`` / ``512 KiB`` / ``4096`` into bytes; a negative or non-numeric size is a ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"not a size: {value!r} (use e.g. 64MiB, 512KiB or a byte count)")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative: {value}")
        return value
    m = SIZE.match(value.strip())
    if not m:
        raise ValueError(f"not a size: {value!r} (use e.g. 64MiB, 512KiB or a byte count)")
    return int(m["num"]) * _UNITS[m["unit"]]


def _human(n: int) -> str:
    for unit, size in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def _bounded_size(value: int | str, what: str, lo: int, hi: int, multiple: int = SECTOR) -> int:
    """``value`` parsed as a size and checked against ``[lo, hi]`` and a multiple (the documented limits)."""
    n = parse_size(value)
    if not lo <= n <= hi:
        raise ValueError(f"{what} {_human(n)} is outside {_human(lo)} .. {_human(hi)}")
    if n % multiple:
        raise ValueError(f"{what} {n} bytes is not a multiple of {_human(multiple)}")
    return n


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} needs whole numbers, got {value!r}")
    return value


def _ordered_pair(arg: Any, kind: str) -> tuple[Any, Any]:
    if not isinstance(arg, (list, tuple)) or len(arg) != 2:
        raise ValueError(f"{kind} needs [low, high], got {arg!r}")
    return arg[0], arg[1]


def check_draw(spec: dict[Any, Any]) -> None:
    """Refuse a draw that cannot be drawn (wrong shape, reversed or empty range), with a message naming it.

    Run when the spec is loaded, so the error carries the file and line; :func:`dflab.scenario.draw.draw`
    draws only what passed here.
    """
    if len(spec) != 1:
        raise ValueError(f"a drawn value is a mapping with one key ({', '.join(DRAWS)}), got {sorted(map(str, spec))}")
    (kind, arg), = spec.items()
    if kind == "choice":
        if not isinstance(arg, list) or not arg:
            raise ValueError("choice needs a non-empty list")
        if len(arg) > MAX_CHOICES:
            raise ValueError(f"choice has {len(arg)} options, at most {MAX_CHOICES}")
        if any(isinstance(a, (dict, list)) for a in arg):
            raise ValueError("choice options are plain values (text or numbers)")
    elif kind == "int":
        lo, hi = (_whole(v, "int") for v in _ordered_pair(arg, "int"))
        if lo > hi:
            raise ValueError(f"int range [{lo}, {hi}] is reversed: use [{hi}, {lo}]")
    elif kind == "ip_in":
        try:
            net = ipaddress.IPv4Network(str(arg), strict=False)
        except ValueError as exc:
            raise ValueError(f"ip_in needs an IPv4 network such as 10.0.0.0/24: {exc}") from exc
        if net.num_addresses < 16:
            raise ValueError(f"ip_in network {net} is too small (need at least a /28)")
    elif kind == "time_between":
        lo, hi = (parse_iso(str(t)) for t in _ordered_pair(arg, "time_between"))
        if lo > hi:
            raise ValueError("time_between needs [earlier, later]")
    elif kind in ("hex", "password"):
        n = _whole(arg, kind)
        if not 1 <= n <= MAX_DRAWN_TEXT:
            raise ValueError(f"{kind} length {n} is outside 1 .. {MAX_DRAWN_TEXT}")
    else:
        raise ValueError(f"unknown draw {kind!r} ({', '.join(DRAWS)})")


def _check_value(v: Any) -> Any:
    if isinstance(v, dict):
        check_draw(v)
        return v
    if isinstance(v, (str, int, float, bool)):
        return v
    raise ValueError(f"expected a value (text or a number) or a draw such as {{choice: [...]}}, got {v!r}")


def value_bounds(v: Any) -> tuple[int, int] | None:
    """The smallest and largest whole number ``v`` can be in any variant, or None when that is not known statically
    (a template such as ``"{exfil_port}"`` is checked when it is resolved)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v, v
    if isinstance(v, str) and v.strip().isdigit():
        return int(v), int(v)
    if isinstance(v, dict) and len(v) == 1:
        (kind, arg), = v.items()
        if kind == "int":
            return int(arg[0]), int(arg[1])
        if kind == "choice":
            bounds = [value_bounds(a) for a in arg]
            if all(b is not None for b in bounds):
                return min(b[0] for b in bounds), max(b[1] for b in bounds)  # type: ignore[index]
    return None


def check_range(v: Any, lo: int, hi: int, what: str) -> Any:
    """Refuse a literal or drawn whole number that can fall outside ``[lo, hi]`` in some variant."""
    bounds = value_bounds(v)
    if bounds is not None and (bounds[0] < lo or bounds[1] > hi):
        got = bounds[0] if bounds[0] == bounds[1] else list(bounds)
        raise ValueError(f"{what} must be between {lo} and {hi}, got {got}")
    return v


def choices(v: Any) -> list[Any] | None:
    """Every value ``v`` can take: itself, or a choice's options; None for other draws."""
    if isinstance(v, dict):
        return list(v["choice"]) if set(v) == {"choice"} else None
    return [v]


def _check_time_ref(ref: str) -> str:
    m = TIME_REF.match(ref)
    if m and m["num"] and float(m["num"]) * _UNIT_SECONDS[m["unit"]] > MAX_OFFSET_DAYS * 86400:
        raise ValueError(f"time offset in {ref!r} is more than {MAX_OFFSET_DAYS} days")
    return ref


class Strict(BaseModel):
    """Base for spec models: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# A drawn or literal scalar.  Draws are single-key mappings, validated by draw.py
# when drawn (so the error names the variable); the schema only checks the shape.
Scalar = str | int | float | bool
DrawSpec = dict[str, Any]
Value = Annotated[Any, AfterValidator(_check_value)]  # a Scalar or a DrawSpec, checked by check_draw
TimeRef = Annotated[str, Field(pattern=TIME_REF.pattern), AfterValidator(_check_time_ref)]


class Event(Strict):
    """One step of the story.  ``after`` + ``seconds`` places it relative to an earlier event."""

    id: ID
    action: str
    description: str
    after: str = "start"
    seconds: tuple[float, float] = (0, 0)
    sources: tuple[Literal["disk", "memory", "network", "live"], ...] = ()
    refs: tuple[str, ...] = ()

    @field_validator("seconds")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] < 0 or v[1] < v[0]:
            raise ValueError("seconds must be [min, max] with 0 <= min <= max")
        if v[1] > MAX_EVENT_GAP_S:
            raise ValueError(f"seconds after the previous event are at most {MAX_EVENT_GAP_S} (30 days)")
        return v


class HostSpec(Strict):
    id: ID
    hostname: str
    ip: Value
    mac: str | None = None  # drawn from the seed when absent (locally administered)
    on_link: bool = True  # on the suspect's /24 segment; off-link hosts are reached through the gateway

    @field_validator("mac")
    @classmethod
    def _mac(cls, v: str | None) -> str | None:
        if v is not None and not MAC.fullmatch(v):
            raise ValueError(f"mac {v!r} is not a MAC address such as 52:54:00:0a:0d:01 (six hex pairs, ':' between)")
        return v

    @field_validator("ip")
    @classmethod
    def _ip(cls, v: Any) -> Any:
        for option in choices(v) or ():
            if isinstance(option, str) and "{" not in option:
                try:
                    ipaddress.IPv4Address(option)
                except ValueError as exc:
                    raise ValueError(f"ip {option!r} is not an IPv4 address") from exc
        return v


class UserSpec(Strict):
    id: ID
    name: str
    uid: Value = 1000
    full_name: str = ""
    shell: str = "/bin/bash"

    @field_validator("uid")
    @classmethod
    def _uid(cls, v: Any) -> Any:
        return check_range(v, *UIDS, "uid")


class OsSpec(Strict):
    """An operating system installed on an ext4 volume (``dflab.scenario.ostree``): the files a real install
    leaves, thousands of them, under the story's own. ``installed`` is when the installer ran (every package's
    files date from then), ``updated`` the last upgrade before the story (a share of the packages is replaced
    then); both before the volume's first planned file. The story's files win where both name a path.
    """

    distribution: Literal["debian-12"] = "debian-12"
    profile: Literal["desktop"] = "desktop"
    installed: TimeRef = "@start-400d"
    updated: TimeRef = "@start-9d"


class VolumeSpec(Strict):
    """One partition and its file system.

    ``start_mib`` places the partition at that MiB from the disk's start (LBA ``start_mib * 2048``), literal or
    drawn (``{int: [35, 66]}``): the space before it, back to the previous partition, stays unallocated, as
    ``mmls`` shows. Absent, the partition starts on the first MiB boundary after the previous one (the first at
    LBA 2048).
    """

    id: ID
    fs: Literal["fat32", "ext4"]
    label: str
    size: int | str
    mount: str
    start_mib: Value | None = None
    os: OsSpec | None = None  # off by default: the volume holds only the story's files

    @field_validator("size")
    @classmethod
    def _size(cls, v: int | str) -> int:
        return _bounded_size(v, "volume size", MIN_VOLUME_BYTES, MAX_DISK_BYTES)

    @model_validator(mode="after")
    def _os_on_ext4(self) -> VolumeSpec:
        if self.os is not None and self.fs != "ext4":
            raise ValueError(f"os is installed on an ext4 volume, volume {self.id} is {self.fs}")
        return self

    @field_validator("start_mib")
    @classmethod
    def _start(cls, v: Any) -> Any:
        if v is not None and value_bounds(v) is None:
            raise ValueError("start_mib is a whole number of MiB, literal or drawn ({int: [lo, hi]}, {choice: [...]})")
        return v if v is None else check_range(v, 1, MAX_DISK_BYTES // MiB, "start_mib")


ZIP_WRAPS = ("none", "tar", "gzip", "xz")


class ContentSpec(Strict):
    """How a file's bytes are made.  ``kind`` picks the generator in content.py.

    ``wrap`` (zip only) packs the ZIP into another container, literal or drawn per trainee
    (``{choice: [none, tar, gzip, xz]}``): ``tar`` is a POSIX tar holding ``<name>.zip``, ``gzip`` and ``xz`` a
    stream of it (stored deflate blocks, uncompressed LZMA2 chunks). All are written with the standard library,
    byte-identical on any machine, and real files of their type (``tar``, ``gzip -d``, ``xz -d`` read them). A ZIP
    under 64 KiB stays contiguous inside, so ``zipfile`` still lists its members through the wrapper (it skips
    leading bytes, as for a self-extracting archive).
    """

    kind: Literal["text", "literal", "elf", "zip", "png", "pdf", "random", "history", "passwd",
                  # the workstation's traces, made by dflab.scenario.traces (see its kinds module)
                  "authlog", "syslog", "wtmp", "btmp", "lastlog", "places", "profiles_ini", "installs_ini",
                  "docx", "xlsx", "pdf_report", "jpeg"]
    size: tuple[int, int] | int | None = None  # bytes (range drawn) for text/elf/random
    text: str | None = None  # for literal (templated)
    members: tuple[str, ...] = ()  # file ids, for zip
    process: str | None = None  # process id, for history
    wrap: Value | None = None  # zip only: none, tar, gzip or xz (drawn or literal)

    @field_validator("size")
    @classmethod
    def _size(cls, v: tuple[int, int] | int | None) -> tuple[int, int] | int | None:
        if v is None:
            return v
        lo, hi = (v, v) if isinstance(v, int) else v
        if lo > hi:
            raise ValueError(f"size range [{lo}, {hi}] is reversed: use [{hi}, {lo}]")
        if lo < 0 or hi > MAX_FILE_BYTES:
            raise ValueError(f"content size must be between 0 and {MAX_FILE_BYTES} bytes ({_human(MAX_FILE_BYTES)}), "
                             f"got {v if isinstance(v, int) else list(v)}")
        return v

    @field_validator("wrap")
    @classmethod
    def _wrap(cls, v: Any) -> Any:
        options = choices(v)
        if options is not None and v is not None and all(o in ZIP_WRAPS for o in options):
            return v
        if v is None:
            return v
        raise ValueError(f"wrap is one of {', '.join(ZIP_WRAPS)} or {{choice: [...]}} of them, got {v!r}")

    @model_validator(mode="after")
    def _needs(self) -> ContentSpec:
        need = {"literal": "text", "zip": "members", "history": "process"}
        field = need.get(self.kind)
        if field and not getattr(self, field):
            raise ValueError(f"content kind {self.kind!r} needs {field!r}")
        if self.wrap is not None and self.kind != "zip":
            raise ValueError("wrap is for content kind 'zip' only")
        return self


class FileSpec(Strict):
    id: ID
    volume: str
    path: str
    content: ContentSpec
    owner: str | None = None  # user id; root when absent
    mode: int | str = 0o644  # octal: 0o755 or "755"
    created: TimeRef
    modified: TimeRef | None = None
    accessed: TimeRef | None = None
    changed: TimeRef | None = None
    deleted: TimeRef | None = None
    slack: str | None = None  # templated text hidden in file slack
    type_lies: bool = False  # documents that the extension does not match the content (checked)


    @field_validator("mode")
    @classmethod
    def _mode(cls, v: int | str) -> int:
        mode = v if isinstance(v, int) else int(str(v).removeprefix("0o"), 8)
        if not 0 <= mode <= 0o7777:
            raise ValueError("mode is a permission like 0o644")
        return mode


class FillerSpec(Strict):
    """Benign files that make the image look lived-in, drawn from the seed."""

    volume: str
    owner: str | None = None
    directories: tuple[str, ...] = Field(min_length=1)
    count: tuple[int, int]
    created: tuple[TimeRef, TimeRef]

    @field_validator("count")
    @classmethod
    def _count(cls, v: tuple[int, int]) -> tuple[int, int]:
        if v[0] > v[1]:
            raise ValueError(f"count range [{v[0]}, {v[1]}] is reversed: use [{v[1]}, {v[0]}]")
        if v[0] < 0 or v[1] > MAX_FILLER_FILES:
            raise ValueError(f"count must be between 0 and {MAX_FILLER_FILES}, got {list(v)}")
        return v


def header_text_problem(text: str) -> str | None:
    """Why ``text`` cannot go into an E01 header, or None.

    EnCase's ``header`` section is ASCII and tab/newline separated (ewfacquire
    writes 0x1a for anything else and a tab would shift every later field);
    a ``{name}`` reference is refused because header text is never templated,
    so no drawn value (possibly an answer) can reach the evidence through it.
    """
    if not all(" " <= c <= "~" for c in text):
        return f"E01 header text must be printable ASCII without tabs or newlines: {text!r}"
    if REFERENCE.search(text):
        return f"E01 header text is literal, not a template (no drawn values in headers): {text!r}"
    return None


class E01Spec(Strict):
    """Also deliver the disk as ``disk.E01`` (EnCase 6, written by ewfacquire), beside the raw ``disk.img``.

    The header is the acquisition record an examiner reads with ``ewfinfo``.
    Defaults: acquired at ``memory.acquired``, case number = scenario id,
    description = title.
    """

    acquired: TimeRef | None = None
    case_number: str | None = None
    description: str | None = None
    examiner: str = "dflab"
    evidence_number: str = "disk"
    notes: str = ""
    compression: Literal["none", "fast", "best"] = "fast"

    @field_validator("case_number", "description", "examiner", "evidence_number", "notes")
    @classmethod
    def _header_text(cls, v: str | None) -> str | None:
        problem = None if v is None else header_text_problem(v)
        if problem:
            raise ValueError(problem)
        return v


class DiskSpec(Strict):
    """The suspect's disk. ``table`` is ``mbr``, ``gpt`` or drawn per trainee (``{choice: [mbr, gpt]}``)."""

    table: Value = "mbr"
    size: int | str
    volumes: tuple[VolumeSpec, ...] = Field(min_length=1)
    files: tuple[FileSpec, ...]
    filler: tuple[FillerSpec, ...] = ()
    e01: E01Spec | None = None  # off by default: only disk.img

    @field_validator("table")
    @classmethod
    def _table(cls, v: Any) -> Any:
        options = choices(v)
        if options is None or not all(o in ("mbr", "gpt") for o in options):
            raise ValueError(f"table is mbr, gpt or {{choice: [mbr, gpt]}}, got {v!r}")
        return v

    @field_validator("size")
    @classmethod
    def _size(cls, v: int | str) -> int:
        return _bounded_size(v, "disk size", MIN_DISK_BYTES, MAX_DISK_BYTES)


class SocketSpec(Strict):
    proto: Literal["tcp", "udp"] = "tcp"
    state: Literal["LISTEN", "ESTABLISHED", "CLOSE_WAIT", "UNCONNECTED"]
    local: str  # "host:port" or "host:{var}" or "0.0.0.0:port"
    remote: str | None = None
    fd: int

    @field_validator("fd")
    @classmethod
    def _fd(cls, v: int) -> int:
        return check_range(v, *FDS, "fd")


class HistorySpec(Strict):
    at: TimeRef
    command: str


class ProcessSpec(Strict):
    id: ID
    pid: Value
    parent: str  # a story process id, "init", or "pid:N" for a standard system process (e.g. pid:640, sshd)
    comm: str
    args: tuple[str, ...]
    user: str | None = None  # user id; root when absent
    started: TimeRef
    exe: str = ""
    hidden: bool = False
    open_files: dict[int, str] = Field(default_factory=dict)
    sockets: tuple[SocketSpec, ...] = ()
    history: tuple[HistorySpec, ...] = ()
    environ: dict[str, str] = Field(default_factory=dict)
    inject: Literal["shellcode"] | None = None

    @field_validator("pid")
    @classmethod
    def _pid(cls, v: Any) -> Any:
        return check_range(v, *PIDS, "pid")

    @field_validator("open_files")
    @classmethod
    def _fds(cls, v: dict[int, str]) -> dict[int, str]:
        for fd in v:
            check_range(fd, *FDS, "file descriptor")
        return v

    @field_validator("comm")
    @classmethod
    def _comm(cls, v: str) -> str:
        if len(v) > 15 and "{" not in v:
            raise ValueError("comm is at most 15 characters (task_struct.comm)")
        return v


class MemorySpec(Strict):
    size: int | str
    kernel: str = "debian-12"  # dflab/scenario/kernel.py: KERNEL_CHOICES
    acquired: TimeRef
    boot: TimeRef
    formats: tuple[Literal["raw", "lime"], ...] = ("lime",)  # LiME is what acquisition tools write; add raw if wanted
    processes: tuple[ProcessSpec, ...]

    @field_validator("size")
    @classmethod
    def _size(cls, v: int | str) -> int:
        return _bounded_size(v, "memory size", MIN_MEMORY_BYTES, MAX_MEMORY_BYTES, MEMORY_ALIGN)


class BodyRef(Strict):
    """Bytes carried by a flow: a disk file's content (same hash on disk and wire) or templated text."""

    file: str | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _one(self) -> BodyRef:
        if (self.file is None) == (self.text is None):
            raise ValueError("a body is either {file: id} or {text: ...}")
        return self


class MessageRef(Strict):
    """A message an imap flow fetches: the one an smtp flow submitted (``{flow: id}``, as delivered to the
    mailbox) or a disk file holding one (``{file: id}``, an ``.eml`` or maildir file)."""

    flow: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one(self) -> MessageRef:
        if (self.flow is None) == (self.file is None):
            raise ValueError("a fetched message is either {flow: id} (an smtp flow's message) or {file: id}")
        return self


FlowKind = Literal["dns", "http", "ftp", "raw", "smtp", "imap"]
# Fields only one kind of flow reads: set on another kind they would be ignored, so they are refused (a field every
# kind has, or that several share, such as user and password, is not listed).
KIND_ONLY_FIELDS = {"mail_from": "smtp", "rcpt_to": "smtp", "subject": "smtp", "from_header": "smtp",
                    "to_header": "smtp", "attachments": "smtp", "auth": "smtp", "mailbox": "imap", "fetch": "imap"}


def a_flow(kind: str) -> str:
    """``a dns flow``, ``an smtp flow``: the article as the kind's name is spoken."""
    return f"{'a' if kind in ('dns', 'raw') else 'an'} {kind} flow"


def _address_problem(text: str) -> str | None:
    """Why a literal envelope address is not one (a templated one is checked when it is filled in)."""
    if "{" in text or ADDRESS.fullmatch(text):
        return None
    return f"{text!r} is not a mail address such as clerk@example.org (no name, no <>)"


class FlowSpec(Strict):
    id: ID
    kind: FlowKind
    at: TimeRef
    client: str
    server: str
    # dns
    qname: str | None = None
    answer: str | None = None  # host id
    # http / raw
    port: Value | None = None
    method: Literal["GET", "POST", "PUT"] = "GET"
    uri: str | None = None
    host_header: str | None = None
    user_agent: str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
    status: int = 200
    content_type: str = "application/octet-stream"
    body: BodyRef | None = None
    request_body: BodyRef | None = None
    basic_auth: tuple[str, str] | None = None
    # ftp, smtp (its login, optional), imap
    user: str | None = None
    password: str | None = None
    stor: BodyRef | None = None
    # raw
    upload: BodyRef | None = None
    label: str = ""
    client_port: Value | None = None
    # smtp: the envelope, the message (body: its text; a body file named *.html is HTML), the login's mechanism
    mail_from: str | None = None
    rcpt_to: tuple[str, ...] | None = None
    subject: str | None = None
    from_header: str | None = None  # the From: header; mail_from when absent
    to_header: str | None = None  # the To: header; the recipients, comma-separated, when absent
    attachments: tuple[BodyRef, ...] = ()  # {file: id} each, sent as a MIME attachment with the file's name
    auth: Literal["plain", "login"] | None = None  # with user and password; plain when absent
    # imap
    mailbox: str = "INBOX"
    fetch: tuple[MessageRef, ...] | None = None

    @field_validator("port", "client_port")
    @classmethod
    def _port(cls, v: Any) -> Any:
        return v if v is None else check_range(v, *PORTS, "port")

    @field_validator("mail_from")
    @classmethod
    def _sender(cls, v: str | None) -> str | None:
        problem = None if v is None else _address_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("rcpt_to")
    @classmethod
    def _recipients(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for k, address in enumerate(v or ()):
            problem = _address_problem(address)
            if problem:
                raise FieldError((k,), problem)
        return v

    @field_validator("status")
    @classmethod
    def _status(cls, v: int) -> int:
        return check_range(v, 100, 599, "HTTP status")

    @model_validator(mode="after")
    def _kind_fields(self) -> FlowSpec:
        need = {"dns": ("qname", "answer"), "http": ("uri",), "ftp": ("user", "password"), "raw": ("port",),
                "smtp": ("mail_from", "rcpt_to", "subject"), "imap": ("user", "password", "fetch")}
        missing = [f for f in need[self.kind] if getattr(self, f) in (None, ())]
        if missing:
            raise ValueError(f"{a_flow(self.kind)} needs {', '.join(missing)}")
        for field in sorted(self.model_fields_set & set(KIND_ONLY_FIELDS)):
            if KIND_ONLY_FIELDS[field] != self.kind:
                raise FieldError((field,), f"{field} is for {KIND_ONLY_FIELDS[field]} flows (this is "
                                           f"{a_flow(self.kind)})")
        if self.kind == "smtp":
            if (self.user is None) != (self.password is None):
                raise FieldError(("user" if self.user is None else "password",),
                                 "an smtp login needs both user and password")
            if self.auth is not None and self.user is None:
                raise FieldError(("auth",), "auth is the smtp login's mechanism: it needs user and password")
            for k, ref in enumerate(self.attachments):
                if ref.file is None:
                    raise FieldError(("attachments", k), "an attachment is {file: id}: a disk file gives its name "
                                                         "and bytes")
        return self


class NetworkSpec(Strict):
    capture_host: str
    gateway: str
    resolver: str
    start: TimeRef
    end: TimeRef
    noise_packets: Value = 0
    flows: tuple[FlowSpec, ...]

    @field_validator("noise_packets")
    @classmethod
    def _noise(cls, v: Any) -> Any:
        return check_range(v, 0, MAX_NOISE_PACKETS, "noise_packets")


class Spec(Strict):
    """A whole scenario.  ``answers`` name the facts labs grade, as templates over the key."""

    scenario: ID
    version: int = 1
    title: str
    summary: str = ""
    start: Value
    variables: dict[str, Value] = Field(default_factory=dict)
    hosts: tuple[HostSpec, ...]
    suspect: str
    users: tuple[UserSpec, ...]
    timeline: tuple[Event, ...]
    disk: DiskSpec
    memory: MemorySpec
    network: NetworkSpec
    answers: dict[str, str] = Field(default_factory=dict)

    @field_validator("start")
    @classmethod
    def _start(cls, v: Any) -> Any:
        if isinstance(v, str) and "{" not in v:
            parse_iso(v)
        return v

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, v: dict[str, Any]) -> dict[str, Any]:
        for name in v:
            if name == "start":
                raise FieldError((name,), "'start' is the story's start time ({start}): name the variable otherwise")
            if not VARIABLE_NAME.fullmatch(name):
                raise FieldError((name,), f"variable name {name!r} cannot be used as {{name}}: a letter or _, then "
                                          "letters, digits, _ or - (at most 64 characters)")
        return v

    @model_validator(mode="after")
    def _references(self) -> Spec:
        """Check every id and ``{...}`` reference up front, at the line of the field that holds it
        (:class:`~dflab.yamlfile.FieldError`): a typo is never a KeyError at build time, nor a literal ``{name}``
        left in the evidence.

        Answers name facts of the answer key, which exists once a variant is built: :func:`answer_problems` is
        checked when a variant is resolved (`dflab scenario validate` resolves one, every build resolves each),
        still before any evidence is written, so a spec whose answers are broken can still be read (and, say,
        checked against the roles labs require)."""
        for problems in (id_problems(self), template_problems(self)):
            for loc, what in problems:
                raise FieldError(loc, what)
        return self


# -- references across sections ----------------------------------------------------------------------------------
# A problem is (field path from the spec's top, what): the path is pydantic's (``network.flows[2].client``), so the
# loader reports the very line of the field (dflab.yamlfile).
Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]
_PLURAL = {"host": "hosts", "user": "users", "volume": "volumes", "file": "files", "process": "processes",
           "flow": "flows", "event": "events", "variable": "variables"}
_SINGULAR = {plural: kind for kind, plural in _PLURAL.items()}


def _unknown_id(kind: str, value: str | None, known: Any) -> str | None:
    if value is None or value in known:
        return None
    listed = f"{_PLURAL[kind]} are: {', '.join(sorted(known))}" if known else f"the spec has no {_PLURAL[kind]}"
    return f"unknown {kind} {value!r} ({listed})"


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def id_problems(spec: Spec) -> Iterator[Problem]:
    """Every id named by another section (a timeline ``after``, a file's volume and owner, a flow's hosts and files,
    a socket's host ...) must be defined, once; an event follows an earlier one; zip members hold no cycle."""
    for kind, path, items in (("host", ("hosts",), spec.hosts), ("user", ("users",), spec.users),
                              ("event", ("timeline",), spec.timeline),
                              ("volume", ("disk", "volumes"), spec.disk.volumes),
                              ("file", ("disk", "files"), spec.disk.files),
                              ("process", ("memory", "processes"), spec.memory.processes),
                              ("flow", ("network", "flows"), spec.network.flows)):
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.id in first:
                yield (*path, i, "id"), f"duplicate {kind} id {item.id!r} (also {'.'.join(path)}[{first[item.id]}])"
            first.setdefault(item.id, i)
            if kind == "event" and item.id == "start":
                yield (*path, i, "id"), "'start' is the story's start (the top-level start:): name the event otherwise"
            if kind == "file" and re.fullmatch(r"filler-\d+-\d+", item.id):
                yield (*path, i, "id"), (f"{item.id!r} is how dflab names its filler files (filler-<rule>-<n>): "
                                         "choose another id")
    hosts = {h.id for h in spec.hosts}
    users = {u.id for u in spec.users}
    volumes = {v.id for v in spec.disk.volumes}
    files = {f.id for f in spec.disk.files}
    procs = {p.id for p in spec.memory.processes}
    all_events = {e.id for e in spec.timeline}
    earlier = ["start"]
    for i, ev in enumerate(spec.timeline):
        if ev.after not in earlier:
            why = ("an event cannot follow itself" if ev.after == ev.id else "it comes later in the timeline"
                   if ev.after in all_events else "no event has that id")
            yield ("timeline", i, "after"), (f"{ev.after!r} is not an earlier event: {why} "
                                             f"(earlier events: {', '.join(earlier)})")
        earlier.append(ev.id)

    def need(loc: Loc, kind: str, value: str | None, known: Any) -> Iterator[Problem]:
        what = _unknown_id(kind, value, known)
        if what:
            yield loc, what

    yield from need(("suspect",), "host", spec.suspect, hosts)
    title_problem = header_text_problem(spec.title)  # the E01 description's default
    if spec.disk.e01 and spec.disk.e01.description is None and title_problem:
        yield ("disk", "e01"), (f"set a description: disk.e01.description defaults to the title, which cannot be "
                                f"used ({title_problem})")
    for i, f in enumerate(spec.disk.files):
        at = ("disk", "files", i)
        yield from need((*at, "volume"), "volume", f.volume, volumes)
        yield from need((*at, "owner"), "user", f.owner, users)
        for k, m in enumerate(f.content.members):
            yield from need((*at, "content", "members", k), "file", m, files)
        yield from need((*at, "content", "process"), "process", f.content.process, procs)
    yield from _zip_cycles(spec)
    for i, fl in enumerate(spec.disk.filler):
        yield from need(("disk", "filler", i, "volume"), "volume", fl.volume, volumes)
        yield from need(("disk", "filler", i, "owner"), "user", fl.owner, users)
    for i, p in enumerate(spec.memory.processes):
        at = ("memory", "processes", i)
        if p.parent != "init" and not re.fullmatch(r"pid:\d+", p.parent):
            yield from need((*at, "parent"), "process", p.parent, procs)
        yield from need((*at, "user"), "user", p.user, users)
        for k, sock in enumerate(p.sockets):
            for end in ("local", "remote"):
                text = getattr(sock, end)
                host, colon, _ = (text or "").rpartition(":")
                if text is not None and not colon:
                    yield (*at, "sockets", k, end), (f"{text!r} is not host:port (a host id or an IPv4 address, "
                                                     "':', a port)")
                elif text is not None and "{" not in host and host not in hosts and not _is_ipv4(host):
                    yield (*at, "sockets", k, end), (f"unknown host {host!r} in {text!r} (hosts are: "
                                                     f"{', '.join(sorted(hosts))}; or an IPv4 address)")
    n = spec.network
    for role in ("capture_host", "gateway", "resolver"):
        yield from need(("network", role), "host", getattr(n, role), hosts)
    for i, flow in enumerate(n.flows):
        at = ("network", "flows", i)
        yield from need((*at, "client"), "host", flow.client, hosts)
        yield from need((*at, "server"), "host", flow.server, hosts)
        yield from need((*at, "answer"), "host", flow.answer, hosts)
        for field in ("body", "request_body", "stor", "upload"):
            ref = getattr(flow, field)
            yield from need((*at, field, "file"), "file", ref.file if ref else None, files)
        if flow.stor and flow.stor.file is None:
            yield (*at, "stor"), "an FTP stor names a disk file ({file: id})"
        for k, ref in enumerate(flow.attachments):
            yield from need((*at, "attachments", k, "file"), "file", ref.file, files)
        for k, msg in enumerate(flow.fetch or ()):
            yield from need((*at, "fetch", k, "file"), "file", msg.file, files)
            yield from _smtp_flow(spec, (*at, "fetch", k, "flow"), msg.flow)


def _smtp_flow(spec: Spec, loc: Loc, flow_id: str | None) -> Iterator[Problem]:
    """A fetched ``{flow: id}`` names an smtp flow: only it has a message."""
    kinds = {f.id: f.kind for f in spec.network.flows}
    smtp = sorted(i for i, kind in kinds.items() if kind == "smtp")
    listed = f"smtp flows are: {', '.join(smtp)}" if smtp else "the spec has no smtp flows"
    if flow_id is not None and flow_id not in kinds:
        yield loc, f"unknown flow {flow_id!r} ({listed})"
    elif flow_id is not None and kinds[flow_id] != "smtp":
        yield loc, f"flow {flow_id!r} is {a_flow(kinds[flow_id])}: a fetched message is an smtp flow's ({listed})"


def _zip_cycles(spec: Spec) -> Iterator[Problem]:
    """A zip that holds itself, directly or through another zip, has no bytes to write."""
    members = {f.id: f.content.members for f in spec.disk.files}
    for i, f in enumerate(spec.disk.files):
        stack, seen = list(f.content.members), set()
        while stack:
            m = stack.pop()
            if m == f.id:
                yield ("disk", "files", i, "content", "members"), f"zip {f.id!r} would contain itself"
                return
            if m not in seen:
                seen.add(m)
                stack.extend(members.get(m, ()))


# The names a ``{...}`` reference can use: in the spec's strings, what dflab knows while it resolves a variant
# (dflab.scenario.resolve fills them); in ``answers:``, the answer key's namespace (dflab.evidence.key.namespace,
# read after the build: tests/test_spec_errors.py holds these lists to it). By group, id and field.
HOST_REFS = ("ip", "hostname", "mac")
USER_REFS = ("name", "uid", "home")
VOLUME_FACTS = ("fs", "label", "mount", "size", "index", "start_sector", "sectors", "type", "uuid", "serial")
FILE_FACTS = ("path", "name", "volume", "size", "sha256", "md5", "true_type", "deleted", "slack", "mtime", "atime",
              "ctime", "crtime", "inode", "text")  # text: only for a file whose content is text (checked per variant)
PROCESS_FACTS = ("pid", "ppid", "comm", "cmdline", "uid", "exe", "start_time", "hidden")  # + injected_start
FLOW_FACTS = {"dns": ("client_port", "server_port", "qname", "answer"),
              "http": ("client_port", "server_port", "uri", "host", "body_sha256", "body_bytes", "user", "password"),
              "ftp": ("client_port", "server_port", "user", "password", "stored_name", "stored_sha256"),
              "raw": ("client_port", "server_port", "upload_bytes", "upload_sha256", "label"),
              "smtp": ("client_port", "server_port", "mail_from", "rcpt_to", "from_header", "to_header", "subject",
                       "message_id", "message_sha256", "message_bytes", "attachments", "queue_id", "auth", "user",
                       "password"),
              "imap": ("client_port", "server_port", "user", "password", "mailbox", "messages", "message_ids",
                       "messages_sha256")}
Groups = dict[str, dict[str, tuple[str, ...]]]  # group -> id -> fields (none: the name is group.id)


def template_groups(spec: Spec) -> tuple[set[str], Groups]:
    """The names the spec's own strings can use: its variables and ``start``, then by group."""
    return {*spec.variables, "start"}, {
        "hosts": {h.id: HOST_REFS for h in spec.hosts}, "users": {u.id: USER_REFS for u in spec.users},
        "processes": {p.id: ("pid",) for p in spec.memory.processes},
        "flows": {f.id: ("client_port", "port") for f in spec.network.flows}}


def answer_groups(spec: Spec) -> Groups:
    """The names ``answers:`` can use: the answer key's namespace."""
    return {"variables": {name: () for name in spec.variables},
            "hosts": {h.id: HOST_REFS for h in spec.hosts}, "users": {u.id: USER_REFS for u in spec.users},
            "volumes": {v.id: VOLUME_FACTS for v in spec.disk.volumes},
            "files": {f.id: FILE_FACTS for f in spec.disk.files},
            "processes": {p.id: PROCESS_FACTS + (("injected_start",) if p.inject else ())
                          for p in spec.memory.processes},
            "flows": {f.id: FLOW_FACTS[f.kind] for f in spec.network.flows},
            "events": {e.id: ("time",) for e in spec.timeline}}


def names(bare: set[str], groups: Groups) -> set[str]:
    """Every full name: ``bare`` and ``group.id.field`` (``group.id`` for a group without fields)."""
    out = set(bare)
    for group, ids in groups.items():
        for ident, fields in ids.items():
            out.update((f"{group}.{ident}.{f}" for f in fields) if fields else (f"{group}.{ident}",))
    return out


def _hint(ref: str, bare: set[str], groups: Groups, other: Groups, for_answers: bool) -> str:
    """What ``ref`` could have been, for an error message: the ids of its group, an id's fields, or where the name is
    valid instead (``other``: the answers' names for a spec string, and the reverse)."""
    group, _, rest = ref.partition(".")
    ident, _, field = rest.partition(".")
    if group in groups and rest:
        ids = groups[group]
        if ident not in ids:
            return f"{group} are: {', '.join(sorted(ids))}" if ids else f"the spec has no {group}"
        if not ids[ident]:
            return f"a {_SINGULAR[group]} is {{{group}.{ident}}}"
        here = f"{_SINGULAR[group]} {ident!r} has: {', '.join(ids[ident])}"
        if field in other.get(group, {}).get(ident, ()):
            return f"{field} is for answers: only; here {here}" if not for_answers else here
        return here
    if not for_answers and group in other and rest:
        if group == "variables" and ident in bare:
            return f"here a variable is {{{ident}}}"
        return f"{group}.<id>.<field> is for answers: only, read from the answer key after the build"
    if for_answers and ref in groups.get("variables", {}):
        return f"in answers: a variable is {{variables.{ref}}}"
    if for_answers:
        return f"answer names begin with {', '.join(f'{g}.' for g in groups)}"
    if "." in ref:
        return f"a reference is a variable, start, or begins with {', '.join(f'{g}.' for g in groups)}"
    return f"variables are: {', '.join(sorted(bare - {'start'}))}; or start" if bare - {"start"} else \
        "the spec has no variables; start is the story's start"


def _value_strings(loc: Loc, v: Any) -> Iterator[tuple[Loc, str]]:
    """The strings a literal or drawn value can be (a choice's text options, each at its own place)."""
    if isinstance(v, str):
        yield loc, v
    elif isinstance(v, dict) and set(v) == {"choice"} and isinstance(v["choice"], list):
        yield from (((*loc, "choice", k), o) for k, o in enumerate(v["choice"]) if isinstance(o, str))


def templated_strings(spec: Spec) -> Iterator[tuple[Loc, str]]:
    """Every string dflab fills ``{...}`` references in (dflab.scenario.resolve), with its field path."""
    for name, v in spec.variables.items():
        yield from _value_strings(("variables", name), v)
    yield from _value_strings(("start",), spec.start)
    for i, h in enumerate(spec.hosts):
        yield from _value_strings(("hosts", i, "ip"), h.ip)
        yield ("hosts", i, "hostname"), h.hostname
    for i, u in enumerate(spec.users):
        yield ("users", i, "name"), u.name
        yield from _value_strings(("users", i, "uid"), u.uid)
        yield ("users", i, "full_name"), u.full_name
        yield ("users", i, "shell"), u.shell
    for i, ev in enumerate(spec.timeline):
        yield ("timeline", i, "action"), ev.action
        yield ("timeline", i, "description"), ev.description
        yield from ((("timeline", i, "refs", k), r) for k, r in enumerate(ev.refs))
    d = spec.disk
    yield from _value_strings(("disk", "table"), d.table)
    for i, vol in enumerate(d.volumes):
        yield ("disk", "volumes", i, "mount"), vol.mount
        yield from _value_strings(("disk", "volumes", i, "start_mib"), vol.start_mib)
    for i, f in enumerate(d.files):
        at = ("disk", "files", i)
        yield (*at, "path"), f.path
        if f.slack is not None:
            yield (*at, "slack"), f.slack
        if f.content.text is not None:
            yield (*at, "content", "text"), f.content.text
        yield from _value_strings((*at, "content", "wrap"), f.content.wrap)
    for i, fl in enumerate(d.filler):
        yield from ((("disk", "filler", i, "directories", k), t) for k, t in enumerate(fl.directories))
    for i, p in enumerate(spec.memory.processes):
        at = ("memory", "processes", i)
        yield from _value_strings((*at, "pid"), p.pid)
        yield (*at, "comm"), p.comm
        yield from (((*at, "args", k), a) for k, a in enumerate(p.args))
        yield (*at, "exe"), p.exe
        yield from (((*at, "open_files", str(fd)), path) for fd, path in p.open_files.items())
        for k, sock in enumerate(p.sockets):
            yield (*at, "sockets", k, "local"), sock.local
            if sock.remote is not None:
                yield (*at, "sockets", k, "remote"), sock.remote
        yield from (((*at, "history", k, "command"), h.command) for k, h in enumerate(p.history))
        yield from (((*at, "environ", key), value) for key, value in p.environ.items())
    n = spec.network
    yield from _value_strings(("network", "noise_packets"), n.noise_packets)
    for i, fl in enumerate(n.flows):
        at = ("network", "flows", i)
        for field in ("port", "client_port"):
            yield from _value_strings((*at, field), getattr(fl, field))
        for field in ("qname", "uri", "host_header", "user_agent", "content_type", "user", "password", "label",
                      "mail_from", "subject", "from_header", "to_header", "mailbox"):
            if getattr(fl, field) is not None:
                yield (*at, field), getattr(fl, field)
        yield from (((*at, "basic_auth", k), t) for k, t in enumerate(fl.basic_auth or ()))
        yield from (((*at, "rcpt_to", k), t) for k, t in enumerate(fl.rcpt_to or ()))
        for field in ("body", "request_body", "stor", "upload"):
            ref = getattr(fl, field)
            if ref is not None and ref.text is not None:
                yield (*at, field, "text"), ref.text


def literal_strings(spec: Spec) -> Iterator[tuple[Loc, str]]:
    """Strings that are never templated (free text kept as written, or written into a format as is)."""
    yield ("title",), spec.title
    yield ("summary",), spec.summary
    for i, vol in enumerate(spec.disk.volumes):
        yield ("disk", "volumes", i, "label"), vol.label
    yield ("memory", "kernel"), spec.memory.kernel
    for i, p in enumerate(spec.memory.processes):
        yield from ((("memory", "processes", i, "environ", key), key) for key in p.environ)


def template_problems(spec: Spec) -> Iterator[Problem]:
    """A ``{name}`` in a templated string must name something the spec defines (a typo, or an id with ``-``, is
    never left in the evidence as text); a literal string holds none."""
    bare, groups = template_groups(spec)
    known, answers = names(bare, groups), answer_groups(spec)
    for loc, text in templated_strings(spec):
        for m in TEMPLATE.finditer(text):
            ref = m["ref"]
            if ref is not None and ref not in known:
                yield loc, f"unknown reference {{{ref}}} in {text!r} ({_hint(ref, bare, groups, answers, False)})"
    for loc, text in literal_strings(spec):
        m = REFERENCE.search(text)
        if m:
            yield loc, f"this text is not a template: {m[0]} would stay as written (references are not filled in here)"


def answer_problems(spec: Spec) -> Iterator[Problem]:
    """Every ``{...}`` of every answer names a fact the answer key will hold (checked when a variant is resolved,
    before any evidence is written: dflab.scenario.resolve)."""
    groups = answer_groups(spec)
    known = names(set(), groups)
    _, spec_groups = template_groups(spec)
    for name, template in spec.answers.items():
        for ref in REFERENCE.findall(template):
            if ref not in known:
                yield ("answers", name), f"unknown reference {{{ref}}} ({_hint(ref, set(), groups, spec_groups, True)})"


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 time that must carry a zone (evidence times are absolute) and fit FAT's dates."""
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 time: {value!r} (e.g. 2026-03-02T09:00:00Z)") from exc
    if t.tzinfo is None:
        raise ValueError(f"time {value!r} needs a zone, e.g. 2026-03-02T09:00:00Z")
    if not 1980 <= t.year <= 2099:
        raise ValueError(f"time {value!r} is outside the years 1980 .. 2099 that every evidence format can hold")
    return t


def layout_problems(spec: Spec) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Limits that span fields, as (field path, what): the volumes fit the disk in every variant, and every
    file's content fits its volume.  :func:`dflab.scenario.load.parse_spec` turns the first into ``file:line``."""
    d = spec.disk
    tables = choices(d.table) or []
    total = d.size // SECTOR
    last_usable = total - 1 - (GPT_RESERVED_SECTORS if "gpt" in tables else 0)
    if "mbr" in tables and len(d.volumes) > 4:
        yield ("disk", "volumes"), f"an MBR holds 4 primary partitions, {len(d.volumes)} volumes planned"
    # The disk writers' own minimum volume sizes (imported here, so that reading the schema loads no writer).
    from dflab.errors import DflabError
    from dflab.evidence.disk.ext4 import layout as ext4_layout
    from dflab.evidence.disk.fat32 import geometry as fat32_geometry

    latest = ALIGN_SECTORS  # the latest LBA the next partition can start at, over all variants
    for i, v in enumerate(d.volumes):
        sectors = v.size // SECTOR
        try:
            fat32_geometry(v.size, v.id) if v.fs == "fat32" else ext4_layout(v.size, 0, v.id)
        except DflabError as exc:
            yield ("disk", "volumes", i, "size"), exc.what
            return
        if v.start_mib is not None:
            lo, hi = value_bounds(v.start_mib) or (0, 0)
            if lo * ALIGN_SECTORS < latest:
                yield (("disk", "volumes", i, "start_mib"),
                       f"volume {v.id} can start at {lo} MiB, before the previous partition ends (the first free "
                       f"MiB is {-(-latest // ALIGN_SECTORS)} in some variants)")
                return
            latest = hi * ALIGN_SECTORS
        end = latest + sectors - 1
        if end > last_usable:
            yield (("disk", "volumes", i, "size"),
                   f"volume {v.id} ({_human(v.size)} at LBA {latest}) ends at LBA {end}, past the disk's last usable "
                   f"LBA {last_usable} ({_human(d.size)} disk{', GPT' if 'gpt' in tables else ''})")
            return
        latest = -(-(latest + sectors) // ALIGN_SECTORS) * ALIGN_SECTORS
    size_of = {v.id: v.size for v in d.volumes}
    for i, f in enumerate(d.files):
        size = f.content.size
        biggest = size if isinstance(size, int) else size[1] if size else 0
        if biggest > size_of.get(f.volume, biggest):
            yield (("disk", "files", i, "content", "size"),
                   f"file {f.id} can be {_human(biggest)}, more than its volume {f.volume} "
                   f"({_human(size_of[f.volume])})")


# -- the Windows workstation spec (platform: windows) -------------------------------------------------------------
# A Windows case tells one story, the workstation's (dflab.evidence.windows.workstation.description): its timeline's
# ids are that story's steps, each a role the spec must place, in this order. What is drawn per trainee (names,
# addresses, times) comes from variables and the timeline's ranges, as in the Linux spec.
WINDOWS_STEPS = ("installed", "logon", "usb_inserted", "document_opened", "usb_removed", "remote_logon", "downloaded",
                 "payload_run", "persisted", "log_cleared", "file_recycled", "file_deleted", "next_logon", "returned",
                 "shutdown")
WINDOWS_TIME_ZONES = ("W. Europe Standard Time", "Romance Standard Time", "GMT Standard Time")
"""Time zones whose TimeZoneInformation dflab states as Windows 10 does (``description.TIME_ZONES``: biases, switch
dates and tzres.dll ids); another needs those added there first. ``time_zone`` may be ``{variable}`` drawing one."""
RIDS = (1000, 99_999)  # local accounts Windows creates count up from 1000


class WindowsUserSpec(Strict):
    """A local account; ``rid`` is the last part of its SID."""

    id: ID
    name: str
    rid: Value = 1001
    full_name: str = ""

    @field_validator("rid")
    @classmethod
    def _rid(cls, v: Any) -> Any:
        return check_range(v, *RIDS, "rid")


class DownloadSpec(Strict):
    """Where the payload came from: ``scheme://<server's hostname><path>``; ``server`` is a host id."""

    server: str
    path: str
    scheme: Literal["http", "https"] = "http"

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        if not v.startswith("/") or any(c.isspace() for c in v) or "?" in v or "#" in v:
            raise ValueError(f"path {v!r} is a URL path: it starts with '/' and holds no spaces, query ('?') or "
                             "fragment ('#'): the request line would not carry what History and Zone.Identifier say")
        return v


class DocumentsSpec(Strict):
    """The documents copied from the USB stick, by what the story does with each (plain file names, templated)."""

    opened: str
    recycled: str
    deleted: str


class WorkstationSpec(Strict):
    """The machine and the story's names. ``user`` is the victim (a user id) whose password the intruder uses;
    ``intruder``, ``download.server`` and ``c2`` are host ids."""

    computer_name: str
    time_zone: str = WINDOWS_TIME_ZONES[0]
    domain: str = "WORKGROUP"
    user: str
    other_users: tuple[str, ...] = ()
    intruder: str
    download: DownloadSpec
    c2: str | None = None
    payload: str
    implant: str
    service: str
    run_value: str | None = None
    """The Run value's name; None: the service's name (as older specs had it)."""
    documents: DocumentsSpec

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, v: str) -> str:
        if v not in WINDOWS_TIME_ZONES and not TEMPLATE.search(v):
            raise ValueError(f"time zone {v!r} is not one dflab writes (choose from {', '.join(WINDOWS_TIME_ZONES)})")
        return v


class WindowsSpec(Strict):
    """A Windows workstation case (``platform: windows``): the Linux spec's conventions (start, variables, hosts,
    users, a timeline placed with ``after``/``seconds``, ``answers``), the machine in ``workstation:``."""

    platform: Literal["windows"]
    scenario: ID
    version: int = 1
    title: str
    summary: str = ""
    start: Value
    variables: dict[str, Value] = Field(default_factory=dict)
    hosts: tuple[HostSpec, ...] = ()
    users: tuple[WindowsUserSpec, ...]
    workstation: WorkstationSpec
    timeline: tuple[Event, ...]
    answers: dict[str, str] = Field(default_factory=dict)

    @field_validator("start")
    @classmethod
    def _start(cls, v: Any) -> Any:
        return Spec._start(v)

    @field_validator("variables")
    @classmethod
    def _variable_names(cls, v: dict[str, Any]) -> dict[str, Any]:
        return Spec._variable_names(v)

    @model_validator(mode="after")
    def _references(self) -> WindowsSpec:
        """Ids, the story's steps and ``{...}`` references, each at the line of the field holding it."""
        for loc, what in windows_problems(self):
            raise FieldError(loc, what)
        return self


def windows_template_names(spec: WindowsSpec) -> set[str]:
    """The names a Windows spec's own strings can use: variables, ``start``, hosts' ip and hostname, users' names."""
    return {*spec.variables, "start", *(f"hosts.{h.id}.{f}" for h in spec.hosts for f in ("ip", "hostname")),
            *(f"users.{u.id}.name" for u in spec.users)}


def windows_problems(spec: WindowsSpec) -> Iterator[Problem]:
    """(field path, what) for each broken id, step or reference of a Windows spec, in file order."""
    for kind, path, items in (("host", ("hosts",), spec.hosts), ("user", ("users",), spec.users),
                              ("event", ("timeline",), spec.timeline)):
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.id in first:
                yield (*path, i, "id"), f"duplicate {kind} id {item.id!r} (also {'.'.join(path)}[{first[item.id]}])"
            first.setdefault(item.id, i)
    hosts, users = {h.id for h in spec.hosts}, {u.id for u in spec.users}
    w = spec.workstation
    for loc, kind, value, known in ((("workstation", "user"), "user", w.user, users),
                                    (("workstation", "intruder"), "host", w.intruder, hosts),
                                    (("workstation", "download", "server"), "host", w.download.server, hosts),
                                    (("workstation", "c2"), "host", w.c2, hosts),
                                    *((("workstation", "other_users", i), "user", u, users)
                                      for i, u in enumerate(w.other_users))):
        if what := _unknown_id(kind, value, known):
            yield loc, what
    if w.user in w.other_users:
        yield ("workstation", "other_users"), f"{w.user!r} is the workstation's user: list only the others"
    yield from _name_problems(spec)  # the names (hosts, users, workstation) stand before the timeline in a spec
    yield from _step_problems(spec.timeline)
    yield from _range_problems(spec)
    known = windows_template_names(spec)
    texts: list[tuple[Loc, Any]] = [(("start",), spec.start), (("workstation", "computer_name"), w.computer_name),
                                    (("workstation", "time_zone"), w.time_zone),
                                    (("workstation", "domain"), w.domain),
                                    (("workstation", "download", "path"), w.download.path),
                                    (("workstation", "payload"), w.payload), (("workstation", "implant"), w.implant),
                                    (("workstation", "service"), w.service),
                                    (("workstation", "run_value"), w.run_value or "")]
    texts += [(("workstation", "documents", role), getattr(w.documents, role)) for role in ("opened", "recycled",
                                                                                           "deleted")]
    texts += [(("hosts", i, f), getattr(h, f)) for i, h in enumerate(spec.hosts) for f in ("hostname", "ip")]
    texts += [(("users", i, f), getattr(u, f)) for i, u in enumerate(spec.users) for f in ("name", "full_name")]
    texts += [(("variables", name), v) for name, v in spec.variables.items()]
    for loc, value in texts:
        for text in choices(value) or ([value] if isinstance(value, str) else []):
            for m in TEMPLATE.finditer(text) if isinstance(text, str) else ():
                if m["ref"] is not None and m["ref"] not in known:
                    yield loc, (f"unknown reference {{{m['ref']}}} in {text!r} (a Windows spec's strings can use: "
                                f"{', '.join(sorted(known))})")


def _step_problems(timeline: tuple[Event, ...]) -> Iterator[Problem]:
    """The timeline is the story's steps (:data:`WINDOWS_STEPS`), each once, in order, each after an earlier one."""
    order = ", ".join(WINDOWS_STEPS)
    seen: list[str] = []
    for i, ev in enumerate(timeline):
        if ev.id not in WINDOWS_STEPS:
            yield ("timeline", i, "id"), (f"{ev.id!r} is not a step of the workstation's story "
                                          f"(its steps, in order: {order})")
        elif seen and WINDOWS_STEPS.index(ev.id) < WINDOWS_STEPS.index(seen[-1]):
            yield ("timeline", i, "id"), (f"step {ev.id!r} comes after {seen[-1]!r} here, before it in the story "
                                          f"(its steps, in order: {order})")
        if ev.after != "start" and ev.after not in seen:
            why = "it comes later in the timeline" if ev.after in {e.id for e in timeline} else "no event has that id"
            yield ("timeline", i, "after"), (f"{ev.after!r} is not an earlier event: {why} "
                                             f"(earlier events: {', '.join(['start', *seen])})")
        seen.append(ev.id)
    missing = [step for step in WINDOWS_STEPS if step not in seen]
    if missing:  # said where it belongs: at the step before it in the story, else at the first event
        index = WINDOWS_STEPS.index(missing[0])
        before = [i for i, step in enumerate(seen) if WINDOWS_STEPS.index(step) < index] if seen else []
        where = "after this step" if before else "before this step"
        yield ("timeline", before[-1] if before else 0, "id"), (f"the story's step {missing[0]!r} is missing {where} "
                                                                 f"(its steps, in order: {order})")


# The writers' least gaps between two steps (seconds; the later must fall strictly after the earlier plus this):
# decisions.decide copies the documents 40, 43, 46 s after the stick arrives; the browser session starts 104 s before
# the download (98 s of search and reading, 6 s of launch); the payload (at most 100,003 bytes at 40 kB/s: 3 s)
# runs after its download and Prefetch's 10 s; explorer starts the Run value's implant 9 s after the next logon.
STEP_GAPS: dict[tuple[str, str], int] = {("usb_inserted", "document_opened"): 46, ("remote_logon", "downloaded"): 104,
                                         ("downloaded", "payload_run"): 13, ("next_logon", "returned"): 9}


def _range_problems(spec: WindowsSpec) -> Iterator[Problem]:
    """Each step falls after the one before it (and the writers' gaps, :data:`STEP_GAPS`) for EVERY draw of the
    timeline's ranges, not only the trainee's: the least gap is the later step's own ``seconds`` minima down to
    the common ancestor less the earlier step's maxima."""
    index = {ev.id: i for i, ev in enumerate(spec.timeline)}
    if set(index) != set(WINDOWS_STEPS) or any(ev.after != "start" and ev.after not in index for ev in spec.timeline):
        return  # _step_problems says what is wrong with the steps themselves

    def chain(step: str) -> list[str]:
        out: list[str] = []
        while step != "start" and step not in out:
            out.append(step)
            step = spec.timeline[index[step]].after
        return out

    for earlier, later in zip(WINDOWS_STEPS, WINDOWS_STEPS[1:], strict=False):
        a, b = chain(earlier), chain(later)
        least = (sum(spec.timeline[index[s]].seconds[0] for s in b if s not in a)
                 - sum(spec.timeline[index[s]].seconds[1] for s in a if s not in b))
        gap = STEP_GAPS.get((earlier, later), 0)
        if least <= gap:
            need = f"more than {gap} s after it (the writers' least gap)" if gap else "strictly after it"
            yield (("timeline", index[later], "seconds"),
                   f"step {later} can fall {least:g} s after {earlier} for some trainees; it must fall {need}: "
                   "raise this range's minimum")
    if spec.start is not None:
        yield from _browser_date_problems(spec, index, chain("downloaded"))


def _browser_date_problems(spec: WindowsSpec, index: dict[str, int], chain: list[str]) -> Iterator[Problem]:
    """The download cannot happen before the case's Chrome release existed (its User-Agent and History say it)."""
    from datetime import UTC, datetime

    from dflab.evidence.windows.browser.version import CHROME_RELEASED, CHROME_VERSION

    starts = [s for s in _expand(spec, spec.start) if s is not None]
    try:
        earliest = min(parse_iso(s).timestamp() for s in starts) if starts else None
    except (ValueError, TypeError):
        return
    if earliest is None:
        return
    first = earliest + sum(spec.timeline[index[s]].seconds[0] for s in chain)
    released = datetime.combine(CHROME_RELEASED, datetime.min.time(), UTC).timestamp()
    if first < released:
        yield (("timeline", index["downloaded"], "seconds"),
               f"the download can fall on {datetime.fromtimestamp(first, UTC).date()}, before Chrome "
               f"{CHROME_VERSION} (the case's browser) was released on {CHROME_RELEASED}: move start later")


_MAX_EXPANSIONS = 512


def _expand(spec: WindowsSpec, value: Any, depth: int = 0) -> list[str | None]:
    """Every text a spec field can become over all trainees (choices crossed, bounded; an int draw by its bounds, a
    hex draw by one of its length); None where a part is a draw of another kind (a time, an address)."""
    options = choices(value)
    if options is None:  # a draw: its extremes where they differ in kind, else one like those it makes
        kind, arg = next(iter(value.items())) if isinstance(value, dict) and len(value) == 1 else (None, None)
        if kind == "int" and isinstance(arg, (list, tuple)):
            return [str(b) for b in arg]
        if kind == "hex" and isinstance(arg, int) and 0 < arg <= 255:
            return ["f" * arg]
        return [None]
    out: list[str | None] = []
    variables = spec.variables
    hosts = {f"hosts.{h.id}.hostname": h.hostname for h in spec.hosts} | {f"hosts.{h.id}.ip": h.ip for h in spec.hosts}
    users = {f"users.{u.id}.name": u.name for u in spec.users}
    for option in options:
        if isinstance(option, datetime) or hasattr(option, "isoformat"):  # YAML reads 2024-07-17 as a date
            option = option.isoformat()
        if not isinstance(option, str) or depth > 8:
            out.append(None if not isinstance(option, (int, float)) or isinstance(option, bool) else str(option))
            continue
        texts: list[str | None] = [option]
        for m in TEMPLATE.finditer(option):
            ref = m["ref"]
            if ref is None:
                continue
            source = variables.get(ref, hosts.get(ref, users.get(ref)))
            subs = _expand(spec, source, depth + 1) if ref in variables or ref in hosts or ref in users else [None]
            texts = [None if t is None or v is None else t.replace(m[0], v, 1) for t in texts for v in subs]
            texts = list(dict.fromkeys(texts))[:_MAX_EXPANSIONS]
        out.extend(t if t is None else t.replace("{{", "{").replace("}}", "}") for t in texts)
    return list(dict.fromkeys(out))[:_MAX_EXPANSIONS]


def _name_problems(spec: WindowsSpec) -> Iterator[Problem]:
    """Every name a trainee's case can hold is one Windows accepts (file, account, computer and host names, unicast
    addresses, a download URL without query or fragment), each found at its field's line for all trainees."""
    from dflab.evidence.windows.workstation import description as d

    w = spec.workstation
    checks: list[tuple[Loc, Any, Any]] = [(("workstation", "computer_name"), w.computer_name, d.computer_name_problem),
                                          (("workstation", "payload"), w.payload, d.file_name_problem),
                                          (("workstation", "implant"), w.implant, d.file_name_problem),
                                          (("workstation", "service"), w.service, d.service_name_problem),
                                          (("workstation", "time_zone"), w.time_zone, _time_zone_problem),
                                          (("workstation", "download", "path"), w.download.path,
                                           lambda v: d.url_path_problem(f"http://host{v}"))]
    checks += [(("workstation", "documents", role), getattr(w.documents, role), d.file_name_problem)
               for role in ("opened", "recycled", "deleted")]
    checks += [(("users", i, "name"), u.name, d.account_name_problem) for i, u in enumerate(spec.users)]
    checks += [(("hosts", i, "hostname"), h.hostname, d.host_name_problem) for i, h in enumerate(spec.hosts)]
    if w.run_value is not None:
        checks.append((("workstation", "run_value"), w.run_value, d.service_name_problem))
    for loc, value, problem in checks:
        for text in _expand(spec, value):
            if text is not None and (why := problem(text)):
                yield loc, f"{text[:40]!r}{'...' if len(text) > 40 else ''}: {why}"
                break
    for i, h in enumerate(spec.hosts):
        for address in _ip_corners(h.ip):
            if why := d.unicast_problem(address):
                yield ("hosts", i, "ip"), f"{address}: {why}"
                break
    names = [(i, t.lower()) for i, u in enumerate(spec.users) for t in _expand(spec, u.name) if t is not None]
    for k, (i, name) in enumerate(names):
        clash = next((j for j, other in names[:k] if other == name and j != i), None)
        if clash is not None:
            yield ("users", i, "name"), (f"{name!r} is also users[{clash}]'s name (ignoring case) for some trainees: "
                                         "Windows refuses a second account of the same name")
            break


def _time_zone_problem(name: str) -> str | None:
    return None if name in WINDOWS_TIME_ZONES else (f"not a time zone dflab writes (choose from "
                                                    f"{', '.join(WINDOWS_TIME_ZONES)})")


def _ip_corners(value: Any) -> list[str]:
    """The addresses a host's ``ip`` can be that decide whether all are unicast: a literal or choice, else the
    first and last of an ``ip_in`` network (the blocks Windows refuses are whole CIDR blocks)."""
    import ipaddress

    if isinstance(value, dict) and set(value) == {"ip_in"}:
        try:
            net = ipaddress.IPv4Network(str(value["ip_in"]), strict=False)
        except ValueError:
            return []
        return [str(net[0]), str(net[-1])] if net.prefixlen >= 31 else [str(net[1]), str(net[-2])]
    return [v for v in (choices(value) or []) if isinstance(v, str) and "{" not in v]
