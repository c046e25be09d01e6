"""The facts a Windows 10 workstation's hives record, as plain frozen data.

The scenario spec will resolve into these; the hive builders read nothing else, so every name, time and serial
a trainee finds in a hive is one of these fields (and the answer key can quote the same object).
All times are timezone-aware datetimes (UTC when stored; Windows keeps the registry in UTC).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dflab.errors import DflabError

_CONTAINER_NAMESPACE = uuid.UUID("0c5e2a8e-7d0b-4b8f-9d64-3f1f6b0e2a11")


@dataclass(frozen=True)
class TimeZone:
    """``Control\\TimeZoneInformation`` as Windows 10 stores it; the default is Central European time.

    Biases are minutes with UTC = local time + bias. ``*_start`` are SYSTEMTIME fields (year, month, day of week,
    week of month 1-5, hour, minute, second, millisecond) of the yearly switch, year 0 meaning every year.
    """

    key_name: str = "W. Europe Standard Time"
    bias: int = -60
    standard_name: str = "@tzres.dll,-322"
    daylight_name: str = "@tzres.dll,-321"
    standard_bias: int = 0
    daylight_bias: int = -60
    standard_start: tuple[int, int, int, int, int, int, int, int] = (0, 10, 0, 5, 3, 0, 0, 0)
    daylight_start: tuple[int, int, int, int, int, int, int, int] = (0, 3, 0, 5, 2, 0, 0, 0)
    in_daylight_time: bool = False
    """Whether the machine was last running on daylight time (``ActiveTimeBias`` = bias + daylight bias)."""

    @property
    def active_bias(self) -> int:
        """Minutes from local time to UTC then (``ActiveTimeBias``: UTC = local + bias)."""
        return self.bias + (self.daylight_bias if self.in_daylight_time else self.standard_bias)


@dataclass(frozen=True)
class Account:
    """A local account in SAM and, when it has logged on, a profile (NTUSER.DAT, UsrClass.dat)."""

    name: str
    rid: int
    created: datetime
    full_name: str = ""
    comment: str = ""
    last_logon: datetime | None = None
    password_last_set: datetime | None = None
    logon_count: int = 0
    disabled: bool = False
    admin: bool = False
    """A member of Builtin\\Administrators (the account Windows Setup creates is one)."""


@dataclass(frozen=True)
class UsbStick:
    """A USB mass-storage stick as Plug and Play records it: identity and first/last arrival and removal."""

    vendor: str
    product: str
    revision: str
    serial: str
    vendor_id: int
    product_id: int
    first_inserted: datetime
    last_inserted: datetime
    last_removed: datetime
    drive_letter: str = "E"
    volume_label: str = ""
    volume_guid: uuid.UUID = uuid.UUID("7b3b4a52-1c1d-11ef-9a3c-806e6f6e6963")

    @property
    def friendly_name(self) -> str:
        return f"{self.vendor} {self.product} USB Device"

    @property
    def container_id(self) -> uuid.UUID:
        """The device container Plug and Play groups the stick's nodes under, derived from its identity (Windows
        makes one at first arrival; a stable one here keeps the hives a function of the facts)."""
        return uuid.uuid5(_CONTAINER_NAMESPACE, f"{self.vendor_id:04x}:{self.product_id:04x}:{self.serial}")


@dataclass(frozen=True)
class NetworkInterface:
    """The wired NIC and the DHCP lease it held when the machine was shut down (Tcpip's ``Interfaces\\{GUID}``),
    and the network Windows' Network List Service made a profile for (SOFTWARE's ``NetworkList``).

    Lease times are what the DHCP client stores: ``obtained`` is the last ACK's time (the capture's, or a renewal
    at T1 after it); T1, T2 and the end follow from the ACK's lease. Addresses are dotted quads, MACs colon-hex.
    """

    guid: uuid.UUID
    description: str
    mac: str
    ip: str
    subnet_mask: str
    dhcp_server: str
    gateway: str
    gateway_mac: str
    name_servers: tuple[str, ...]
    lease_s: int
    renewal_s: int
    rebinding_s: int
    obtained: datetime
    domain: str = ""
    """Option 15 of the ACK (``DhcpDomain``); empty when the server sends none (then no value is written)."""
    card_number: int = 2
    """Its ``NetworkCards\\<n>`` (Windows numbers the first physical adapter 2 on most installs)."""
    profile_guid: uuid.UUID = uuid.UUID(int=0)
    profile_name: str = "Network"
    first_connected: datetime | None = None
    last_connected: datetime | None = None
    """When the network was first and last connected (UTC: the profile key's times)."""
    local_times: tuple[datetime, datetime] | None = None
    """The same two as the machine's clock showed them (naive): NetworkList's DateCreated and DateLastConnected are
    local SYSTEMTIMEs."""

    @property
    def lease_terminates(self) -> datetime:
        return self.obtained + timedelta(seconds=self.lease_s)

    @property
    def t1(self) -> datetime:
        return self.obtained + timedelta(seconds=self.renewal_s)

    @property
    def t2(self) -> datetime:
        return self.obtained + timedelta(seconds=self.rebinding_s)


@dataclass(frozen=True)
class FixedVolume:
    """A volume of the system disk as the mount manager records it: its volume GUID, the GPT partition's unique
    GUID it lives on, and its drive letter (None for the EFI system partition, which has none)."""

    volume_guid: uuid.UUID
    partition_guid: uuid.UUID
    letter: str | None = None

    @property
    def mounted_data(self) -> bytes:
        """MountedDevices' data for a GPT partition: ``DMIO:ID:`` and the partition's GUID (as stored, little
        endian fields), the same under the letter and under the volume's GUID."""
        return b"DMIO:ID:" + self.partition_guid.bytes_le


@dataclass(frozen=True)
class Implant:
    """The intruder's program and its Run-key persistence (``scope`` machine: SOFTWARE; user: NTUSER.DAT)."""

    value_name: str
    command: str
    installed: datetime
    scope: str = "machine"

    def __post_init__(self) -> None:
        if self.scope not in ("machine", "user"):
            raise DflabError(f"implant scope {self.scope!r} is not machine or user", "registry facts")


SERVICE_TYPES = {0x1: "kernel mode driver", 0x2: "file system driver", 0x10: "user mode service",
                 0x20: "user mode service"}
"""A service key's ``Type`` (SERVICE_KERNEL_DRIVER … SERVICE_WIN32_SHARE_PROCESS) as the 7045 event names it."""
SERVICE_STARTS = {0: "boot start", 1: "system start", 2: "auto start", 3: "demand start", 4: "disabled"}
"""A service key's ``Start`` as the 7045 event names it (``StartType``)."""


@dataclass(frozen=True)
class Service:
    """A service the Service Control Manager created (``sc create``, ``New-Service``, PsExec): its key under
    ``Services`` holds what ``CreateService`` was given, and the key was last written when it was installed.

    The defaults are what the SCM fills in when the caller gives nothing else: its own process
    (SERVICE_WIN32_OWN_PROCESS), normal error control, running as LocalSystem; ``start`` 2 is automatic.
    """

    name: str
    image_path: str
    installed: datetime
    display_name: str = ""
    """Empty: the name, as ``sc create`` and ``New-Service`` use it when given no display name."""
    start: int = 2
    type: int = 0x10
    error_control: int = 1
    object_name: str = "LocalSystem"

    def __post_init__(self) -> None:
        where = f"service '{self.name}'"
        if not self.name or "\\" in self.name or "/" in self.name:
            raise DflabError("a service name is not empty and has no '\\' or '/'", where)
        if self.start not in SERVICE_STARTS:
            raise DflabError(f"start {self.start} is not 0-4 (boot, system, auto, demand, disabled)", where)
        if self.type not in SERVICE_TYPES:
            raise DflabError(f"type {self.type:#x} is not a driver (1, 2) or a service process (0x10, 0x20)", where)

    @property
    def shown_name(self) -> str:
        """The display name the SCM stores and the 7045 event shows as ``ServiceName``."""
        return self.display_name or self.name

    @property
    def start_type(self) -> str:
        return SERVICE_STARTS[self.start]

    @property
    def service_type(self) -> str:
        return SERVICE_TYPES[self.type]


@dataclass(frozen=True)
class ProgramRun:
    """One UserAssist entry: a program (path, or ``{KNOWNFOLDERID}\\name``) or a shortcut the user started."""

    path: str
    run_count: int
    last_run: datetime
    focus_count: int = 1
    focus_ms: int = 60_000
    shortcut: bool = False
    """True for a .lnk started from the Start menu or desktop (the {F4E57C4B-…} Count key)."""


@dataclass(frozen=True)
class RecentDoc:
    """A file the user opened from Explorer or a program using the shell: a RecentDocs entry."""

    name: str
    opened: datetime


@dataclass(frozen=True)
class Typed:
    """Something the user typed (an Explorer address, a Win+R command) and when: the MRU key's time is the latest."""

    text: str
    at: datetime


@dataclass(frozen=True)
class WorkstationFacts:
    """Everything the five hives of one Windows 10 workstation record about it and its user."""

    computer_name: str
    machine_sid: str
    installed: datetime
    last_shutdown: datetime
    owner: Account
    other_accounts: tuple[Account, ...] = ()
    time_zone: TimeZone = field(default_factory=TimeZone)
    product_name: str = "Windows 10 Pro"
    edition_id: str = "Professional"
    build: int = 19045
    update_revision: int = 3803
    display_version: str = "22H2"
    registered_owner: str = ""
    registered_organization: str = ""
    boot_key: bytes = bytes(range(16))
    """The 16-byte SYSKEY spread over the class names of Control\\Lsa\\{JD,Skew1,GBG,Data}."""
    usb: UsbStick | None = None
    implant: Implant | None = None
    programs_run: tuple[ProgramRun, ...] = ()
    recent_docs: tuple[RecentDoc, ...] = ()
    typed_paths: tuple[Typed, ...] = ()
    """Paths typed into Explorer's address bar."""
    run_mru: tuple[Typed, ...] = ()
    """Commands typed into Win+R."""
    services: tuple[Service, ...] = ()
    """Services installed after Windows (its own are not written: a case's SYSTEM holds only what it tells)."""
    host_name: str = ""
    """Tcpip's ``Hostname``: the computer name as typed at Setup (``ComputerName`` is its upper case); empty: the
    computer name."""
    fixed_volumes: tuple[FixedVolume, ...] = ()
    """The system disk's volumes in MountedDevices (C: and the ESP), there since Setup."""
    network: NetworkInterface | None = None
    """The wired NIC and its DHCP lease (None: no Tcpip interface, NetworkCards or NetworkList entry)."""

    def __post_init__(self) -> None:
        if len(self.boot_key) != 16:
            raise DflabError(f"boot key has {len(self.boot_key)} bytes, not 16", "registry facts")
        rids = [a.rid for a in self.accounts]
        if len(set(rids)) != len(rids) or min(rids) < 1000:
            raise DflabError(f"account RIDs {rids} repeat or fall below 1000 (500-504 are Windows' own)",
                             "registry facts")
        names = [s.name.upper() for s in self.services]
        if len(set(names)) != len(names) or "TCPIP" in names:
            raise DflabError("service names repeat (case-insensitively) or take Windows' Tcpip",
                             ", ".join(s.name for s in self.services))

    @property
    def accounts(self) -> tuple[Account, ...]:
        return (self.owner, *self.other_accounts)

    def sid(self, account: Account) -> str:
        return f"{self.machine_sid}-{account.rid}"
