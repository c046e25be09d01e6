"""The resolved case: every concrete fact of one trainee's variant of a scenario.

A scenario spec (YAML, see :mod:`dflab.scenario.spec`) describes a story with
ranges and choices; :func:`dflab.scenario.resolve.resolve` draws every value
from the trainee's seed and produces a :class:`Case`.  The evidence writers
(disk, memory, network) and the answer key consume only a ``Case``: that is
what keeps the three kinds of evidence consistent with each other (same IPs,
file names, hashes and times) and makes a build a pure function of
``(spec, seed)``.

All times are integer (or, for packets, float) seconds since the Unix epoch,
UTC.  All byte contents are held in memory: a case is small (tens of MiB at
most), and holding it makes every writer a pure function.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

FsType = Literal["fat32", "ext4"]
TableType = Literal["mbr", "gpt"]


@dataclass(frozen=True)
class Host:
    """A machine of the story, seen on the wire and (for the suspect) on disk and in memory."""

    id: str
    hostname: str
    ip: str
    mac: str


@dataclass(frozen=True)
class User:
    """An account on the suspect host."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str = "/bin/bash"
    full_name: str = ""


@dataclass(frozen=True)
class Volume:
    """One partition with its file system.

    ``size_bytes`` is the partition size; partitions are laid out in order,
    the first one starting at LBA 2048 (1 MiB), each aligned to 1 MiB.
    ``start_sector`` (a multiple of 2048) places one further out, leaving the
    gap before it unallocated; None is the first 1 MiB boundary after the
    previous partition.
    """

    id: str
    fs: FsType
    label: str
    size_bytes: int
    serial: int  # FAT volume serial number, or low 32 bits of the ext4 UUID seed
    uuid: str  # ext4 file system UUID / GPT partition GUID (canonical 8-4-4-4-12 form)
    mount_point: str  # where the suspect host mounts it ("/", "/boot/efi", "/mnt/usb")
    start_sector: int | None = None
    os: OsInstall | None = None  # an installed operating system's tree under the story's files (ext4 only)


@dataclass(frozen=True)
class OsInstall:
    """An operating system installed on a volume: which one, and when (epoch seconds).

    ``dflab.scenario.ostree`` turns it into the files a real install leaves (packages, their dpkg records,
    configuration); the story's files are planned on top of it and win where both name a path.
    """

    distribution: str  # "debian-12"
    profile: str  # "desktop"
    installed_at: int  # the installer's run: every package's files are created within minutes of it
    updated_at: int  # the last upgrade before the story: a drawn share of packages was replaced then


@dataclass(frozen=True)
class DiskFile:
    """A file (or, with ``is_dir``, a directory) on one volume of the suspect disk.

    ``path`` is absolute within its volume ("/home/jdoe/notes.txt" on the
    ext4 root volume).  Parent directories are created implicitly when not
    listed: on ext4 just before their first child, their mtime and ctime then
    those of their last entry added or removed (deletions included), as Linux
    leaves them; on FAT with the times of their first child.
    ``deleted_at`` set means the file was deleted: its directory entry is
    marked deleted but its metadata and data stay recoverable by TSK.
    ``slack`` bytes are written into the file's last cluster/block right after
    its end (file slack), where only a forensic tool sees them.
    """

    id: str
    volume: str
    path: str
    content: bytes
    mtime: int
    atime: int
    ctime: int
    crtime: int
    uid: int = 0
    gid: int = 0
    mode: int = 0o644
    deleted_at: int | None = None
    slack: bytes = b""
    true_type: str = "text"  # what dflab.forensics.magic.file_type says of ``content``
    is_dir: bool = False
    link: str = ""  # a symbolic link's target (then ``content`` is empty): ext4 writes it as a fast symlink

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def md5(self) -> str:
        return hashlib.md5(self.content).hexdigest()  # noqa: S324 - evidence hash, not security

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class E01Header:
    """The acquisition record of the disk's E01 copy (what ``ewfinfo`` shows), all literal spec text.

    ``acquired_at`` is both the header's acquisition and system date: the
    clock ewfacquire sees is frozen there, which is what makes the E01 bytes
    a function of the case.
    """

    acquired_at: int  # epoch seconds, written as UTC
    case_number: str
    description: str
    examiner: str
    evidence_number: str
    notes: str
    compression: Literal["none", "fast", "best"] = "fast"  # deflate level


@dataclass(frozen=True)
class Disk:
    """The suspect host's disk: a partition table and its volumes' contents."""

    table: TableType
    size_bytes: int
    disk_signature: int  # MBR disk signature (32 bits)
    disk_guid: str  # GPT disk GUID (used when table == "gpt")
    volumes: tuple[Volume, ...]
    files: tuple[DiskFile, ...]
    e01: E01Header | None = None  # also deliver the image as disk.E01 (EnCase 6) when set


@dataclass(frozen=True)
class Socket:
    """An open socket of a process (IPv4, TCP or UDP)."""

    proto: Literal["tcp", "udp"]
    state: Literal["LISTEN", "ESTABLISHED", "CLOSE_WAIT", "UNCONNECTED"]
    local_ip: str
    local_port: int
    remote_ip: str = "0.0.0.0"
    remote_port: int = 0
    fd: int = 3


@dataclass(frozen=True)
class OpenFile:
    """A file descriptor of a process pointing at a path."""

    fd: int
    path: str


@dataclass(frozen=True)
class InjectedRegion:
    """An anonymous RWX mapping holding code, the trace malfind looks for."""

    start: int  # user virtual address, page aligned
    content: bytes  # at most one page is shown by malfind; the region is rounded up to pages


@dataclass(frozen=True)
class HistoryEntry:
    """One line of a bash history, with its ``HISTTIMEFORMAT`` timestamp."""

    time: int
    command: str


@dataclass(frozen=True)
class Process:
    """A task in the memory image.

    ``hidden`` processes are unlinked from the kernel task list (a rootkit
    trick): ``linux.pslist`` misses them, ``linux.psscan`` finds them.
    """

    pid: int
    ppid: int
    comm: str  # at most 15 characters, as in task_struct.comm
    args: tuple[str, ...]
    uid: int
    gid: int
    start_time: int  # epoch seconds
    exe_path: str = ""
    kernel_thread: bool = False
    hidden: bool = False
    open_files: tuple[OpenFile, ...] = ()
    sockets: tuple[Socket, ...] = ()
    bash_history: tuple[HistoryEntry, ...] = ()
    environ: tuple[tuple[str, str], ...] = ()
    injected: InjectedRegion | None = None


@dataclass(frozen=True)
class Memory:
    """The suspect host's RAM at acquisition time."""

    size_bytes: int
    kernel_release: str  # "6.1.0-39-amd64": the installed distribution's kernel (dflab/scenario/kernel.py)
    banner: str  # full linux_banner string, unique per case variant
    boot_time: int  # epoch seconds
    acquired_at: int  # epoch seconds
    hostname: str
    processes: tuple[Process, ...]
    formats: tuple[str, ...] = ("lime",)  # which image files to write: "raw", "lime"


@dataclass(frozen=True)
class DnsQuery:
    """A DNS A query and its answer, client → resolver over UDP/53."""

    time: float
    client: str  # host id
    resolver: str  # host id
    qname: str
    answer: str  # IPv4
    client_port: int
    txid: int
    id: str = ""  # the spec's flow id


@dataclass(frozen=True)
class HttpTransfer:
    """One HTTP/1.1 request and response on its own TCP connection."""

    time: float
    client: str  # host id
    server: str  # host id
    client_port: int
    server_port: int
    method: Literal["GET", "POST", "PUT"]
    host_header: str
    uri: str
    user_agent: str
    status: int
    content_type: str
    response_body: bytes = b""
    request_body: bytes = b""
    basic_auth: tuple[str, str] | None = None  # (user, password) sent in clear
    id: str = ""

    @property
    def response_sha256(self) -> str:
        return hashlib.sha256(self.response_body).hexdigest()


@dataclass(frozen=True)
class FtpSession:
    """An FTP control session with cleartext login, optionally storing a file (passive mode)."""

    time: float
    client: str
    server: str
    client_port: int
    user: str
    password: str
    stor_name: str = ""
    stor_data: bytes = b""
    data_port: int = 0  # server's passive data port
    data_client_port: int = 0
    id: str = ""


@dataclass(frozen=True)
class RawTransfer:
    """A plain TCP session carrying bytes one way (exfiltration, reverse shell traffic)."""

    time: float
    client: str
    server: str
    client_port: int
    server_port: int
    upload: bytes = b""  # client → server
    download: bytes = b""  # server → client
    label: str = ""  # "exfiltration", "reverse-shell", ...
    id: str = ""


@dataclass(frozen=True)
class SmtpSubmission:
    """A client handing one message to a mail server over SMTP, in clear text.

    ``message`` is the RFC 5322 message as the client composed it (CRLF line ends, before the DATA phase's
    dot-stuffing): the bytes whose SHA-256 the key holds and an examiner recovers from the capture.
    """

    time: float
    client: str  # host id
    server: str  # host id
    client_port: int
    server_port: int
    helo: str  # the name the client gives in EHLO (its host name)
    mail_from: str  # envelope sender (MAIL FROM)
    rcpt_to: tuple[str, ...]  # envelope recipients, one RCPT TO each
    message: bytes
    message_id: str  # the Message-ID header, with its angle brackets
    from_header: str
    to_header: str
    subject: str
    attachments: tuple[str, ...] = ()  # file names of the MIME attachments
    auth: Literal["plain", "login"] | None = None  # the SASL mechanism of the login, None: no login
    user: str = ""
    password: str = ""
    queue_id: str = ""  # the id the server queues the message under ("250 2.0.0 Ok: queued as ...")
    id: str = ""

    @property
    def message_sha256(self) -> str:
        return hashlib.sha256(self.message).hexdigest()


@dataclass(frozen=True)
class ImapSession:
    """A client logging in over IMAP in clear text, selecting one mailbox and fetching every message in it."""

    time: float
    client: str  # host id
    server: str  # host id
    client_port: int
    server_port: int
    user: str
    password: str
    mailbox: str
    messages: tuple[bytes, ...]  # message n of the mailbox, as ``FETCH n BODY[]`` returns it (CRLF line ends)
    message_ids: tuple[str, ...] = ()  # each message's Message-ID header ("" when it has none)
    id: str = ""


@dataclass(frozen=True)
class Network:
    """What the capture on the suspect's segment saw."""

    start: float
    end: float
    capture_host: str  # host id whose segment is captured
    dns: tuple[DnsQuery, ...]
    http: tuple[HttpTransfer, ...]
    ftp: tuple[FtpSession, ...]
    raw: tuple[RawTransfer, ...]
    noise_packets: int  # background packets (a desktop's TLS browsing, DNS, NTP, ARP...) to add, from noise_seed
    noise_seed: int
    gateway: str  # host id of the default gateway (its MAC is the L2 peer of off-link traffic)
    smtp: tuple[SmtpSubmission, ...] = ()
    imap: tuple[ImapSession, ...] = ()


@dataclass(frozen=True)
class TimelineEvent:
    """One step of the story, with where it left traces."""

    time: float
    id: str
    action: str
    description: str
    sources: tuple[str, ...]  # "disk", "memory", "network"
    refs: tuple[str, ...] = ()  # ids of files, processes ("pid:1234"), flows


@dataclass(frozen=True)
class Case:
    """One trainee's variant of a scenario: everything the evidence and key are made of."""

    scenario_id: str
    scenario_version: int
    title: str
    variant: str  # trainee id, or "default"
    seed: str  # hex of the 32-byte variant seed
    hosts: tuple[Host, ...]
    users: tuple[User, ...]
    suspect_host: str  # host id
    disk: Disk
    memory: Memory
    network: Network
    timeline: tuple[TimelineEvent, ...]
    facts: dict[str, object] = field(default_factory=dict)  # named answers the story defines
    # When the suspect host stopped (epoch seconds): after the memory acquisition and every write the disk holds,
    # before the disk is imaged. A process alive at the acquisition ends here, so a deleted file it still held is
    # freed here, not at its unlink. None (a hand-made case): the memory acquisition.
    shutdown_at: int | None = None

    def host(self, host_id: str) -> Host:
        for h in self.hosts:
            if h.id == host_id:
                return h
        raise KeyError(host_id)

    def file(self, file_id: str) -> DiskFile:
        for f in self.disk.files:
            if f.id == file_id:
                return f
        raise KeyError(file_id)
