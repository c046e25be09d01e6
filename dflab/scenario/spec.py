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
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,39}$")]
TIME_REF = re.compile(r"^@(?P<event>[a-z][a-z0-9_-]*?)(?:\s*(?P<sign>[+-])\s*(?P<num>\d+(?:\.\d+)?)(?P<unit>[smhd]))?$")
SIZE = re.compile(r"^(?P<num>\d+)\s*(?P<unit>B|KiB|MiB|GiB)?$")
_UNITS = {None: 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def parse_size(value: int | str) -> int:
    """Parse ``64MiB`` / ``512 KiB`` / ``4096`` into bytes."""
    if isinstance(value, int):
        return value
    m = SIZE.match(value.strip())
    if not m:
        raise ValueError(f"not a size: {value!r} (use e.g. 64MiB, 512KiB or a byte count)")
    return int(m["num"]) * _UNITS[m["unit"]]


class Strict(BaseModel):
    """Base for spec models: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# A drawn or literal scalar.  Draws are single-key mappings, validated by draw.py
# when drawn (so the error names the variable); the schema only checks the shape.
Scalar = str | int | float | bool
DrawSpec = dict[str, Any]
Value = Scalar | DrawSpec
TimeRef = Annotated[str, Field(pattern=TIME_REF.pattern)]


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
        return v


class HostSpec(Strict):
    id: ID
    hostname: str
    ip: Value
    mac: str | None = None  # drawn from the seed when absent (locally administered)
    on_link: bool = True  # on the suspect's /24 segment; off-link hosts are reached through the gateway


class UserSpec(Strict):
    id: ID
    name: str
    uid: Value = 1000
    full_name: str = ""
    shell: str = "/bin/bash"


class VolumeSpec(Strict):
    id: ID
    fs: Literal["fat32", "ext4"]
    label: str
    size: int | str
    mount: str

    @field_validator("size")
    @classmethod
    def _size(cls, v: int | str) -> int:
        return parse_size(v)


class ContentSpec(Strict):
    """How a file's bytes are made.  ``kind`` picks the generator in content.py."""

    kind: Literal["text", "literal", "elf", "zip", "png", "pdf", "random", "history", "passwd"]
    size: tuple[int, int] | int | None = None  # bytes (range drawn) for text/elf/random
    text: str | None = None  # for literal (templated)
    members: tuple[str, ...] = ()  # file ids, for zip
    process: str | None = None  # process id, for history

    @model_validator(mode="after")
    def _needs(self) -> ContentSpec:
        need = {"literal": "text", "zip": "members", "history": "process"}
        field = need.get(self.kind)
        if field and not getattr(self, field):
            raise ValueError(f"content kind {self.kind!r} needs {field!r}")
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
    directories: tuple[str, ...]
    count: tuple[int, int]
    created: tuple[TimeRef, TimeRef]


def header_text_problem(text: str) -> str | None:
    """Why ``text`` cannot go into an E01 header, or None.

    EnCase's ``header`` section is ASCII and tab/newline separated (ewfacquire
    writes 0x1a for anything else and a tab would shift every later field);
    a ``{name}`` reference is refused because header text is never templated,
    so no drawn value (possibly an answer) can reach the evidence through it.
    """
    if not all(" " <= c <= "~" for c in text):
        return f"E01 header text must be printable ASCII without tabs or newlines: {text!r}"
    if re.search(r"\{[A-Za-z_][\w.]*\}", text):
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
    table: Literal["mbr", "gpt"] = "mbr"
    size: int | str
    volumes: tuple[VolumeSpec, ...]
    files: tuple[FileSpec, ...]
    filler: tuple[FillerSpec, ...] = ()
    e01: E01Spec | None = None  # off by default: only disk.img

    @field_validator("size")
    @classmethod
    def _size(cls, v: int | str) -> int:
        return parse_size(v)


class SocketSpec(Strict):
    proto: Literal["tcp", "udp"] = "tcp"
    state: Literal["LISTEN", "ESTABLISHED", "CLOSE_WAIT", "UNCONNECTED"]
    local: str  # "host:port" or "host:{var}" or "0.0.0.0:port"
    remote: str | None = None
    fd: int


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

    @field_validator("comm")
    @classmethod
    def _comm(cls, v: str) -> str:
        if len(v) > 15 and "{" not in v:
            raise ValueError("comm is at most 15 characters (task_struct.comm)")
        return v


class MemorySpec(Strict):
    size: int | str
    kernel: str = "5.15.0-91-generic"
    acquired: TimeRef
    boot: TimeRef
    formats: tuple[Literal["raw", "lime"], ...] = ("lime",)  # LiME is what acquisition tools write; add raw if wanted
    processes: tuple[ProcessSpec, ...]

    @field_validator("size")
    @classmethod
    def _size(cls, v: int | str) -> int:
        return parse_size(v)


class BodyRef(Strict):
    """Bytes carried by a flow: a disk file's content (same hash on disk and wire) or templated text."""

    file: str | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _one(self) -> BodyRef:
        if (self.file is None) == (self.text is None):
            raise ValueError("a body is either {file: id} or {text: ...}")
        return self


class FlowSpec(Strict):
    id: ID
    kind: Literal["dns", "http", "ftp", "raw"]
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
    # ftp
    user: str | None = None
    password: str | None = None
    stor: BodyRef | None = None
    # raw
    upload: BodyRef | None = None
    label: str = ""
    client_port: Value | None = None

    @model_validator(mode="after")
    def _kind_fields(self) -> FlowSpec:
        need = {"dns": ("qname", "answer"), "http": ("uri",), "ftp": ("user", "password"), "raw": ("port",)}
        missing = [f for f in need[self.kind] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} flow needs {', '.join(missing)}")
        return self


class NetworkSpec(Strict):
    capture_host: str
    gateway: str
    resolver: str
    start: TimeRef
    end: TimeRef
    noise_packets: Value = 0
    flows: tuple[FlowSpec, ...]


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

    @model_validator(mode="after")
    def _references(self) -> Spec:
        """Check every id reference up front, so a typo is reported with its place, not as a KeyError."""
        hosts = {h.id for h in self.hosts}
        users = {u.id for u in self.users}
        volumes = {v.id for v in self.disk.volumes}
        files = {f.id for f in self.disk.files}
        procs = {p.id for p in self.memory.processes}
        events = {"start"}
        for ev in self.timeline:
            if ev.after not in events:
                raise ValueError(f"timeline event {ev.id!r}: 'after' names {ev.after!r}, not an earlier event")
            events.add(ev.id)

        def need(kind: str, value: str | None, known: set[str], where: str) -> None:
            if value is not None and value not in known:
                raise ValueError(f"{where}: unknown {kind} {value!r} (known: {', '.join(sorted(known))})")

        need("host", self.suspect, hosts, "suspect")
        title_problem = header_text_problem(self.title)  # the E01 description's default
        if self.disk.e01 and self.disk.e01.description is None and title_problem:
            raise ValueError(f"disk.e01.description defaults to the title, which cannot be used; set it "
                             f"({title_problem})")
        for f in self.disk.files:
            need("volume", f.volume, volumes, f"disk file {f.id}")
            need("user", f.owner, users, f"disk file {f.id}")
            for m in f.content.members:
                need("file", m, files, f"disk file {f.id} zip member")
            need("process", f.content.process, procs, f"disk file {f.id} history")
        for fl in self.disk.filler:
            need("volume", fl.volume, volumes, "filler")
            need("user", fl.owner, users, "filler")
        for p in self.memory.processes:
            if p.parent != "init" and not re.fullmatch(r"pid:\d+", p.parent):
                need("process", p.parent, procs, f"process {p.id} parent")
            need("user", p.user, users, f"process {p.id}")
        n = self.network
        for role in ("capture_host", "gateway", "resolver"):
            need("host", getattr(n, role), hosts, f"network.{role}")
        for flow in n.flows:
            need("host", flow.client, hosts, f"flow {flow.id} client")
            need("host", flow.server, hosts, f"flow {flow.id} server")
            need("host", flow.answer, hosts, f"flow {flow.id} answer")
            for ref in (flow.body, flow.request_body, flow.stor, flow.upload):
                need("file", ref.file if ref else None, files, f"flow {flow.id}")
            if flow.stor and flow.stor.file is None:
                raise ValueError(f"flow {flow.id}: an FTP stor names a disk file ({{file: id}})")
        for kind, ids in (("host", [h.id for h in self.hosts]), ("file", [f.id for f in self.disk.files]),
                          ("process", [p.id for p in self.memory.processes]), ("flow", [f.id for f in n.flows]),
                          ("event", [e.id for e in self.timeline])):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} id {dupes[0]!r}")
        return self


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 time that must carry a zone (evidence times are absolute)."""
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"time {value!r} needs a zone, e.g. 2026-03-02T09:00:00Z")
    return t
