"""The SOFTWARE hive: the Windows version and install time, the profile list, Run-key persistence, the USB
stick's volume name under Windows Portable Devices, the network card and the network it was connected to."""

from __future__ import annotations

import hashlib
import struct
from datetime import datetime

from dflab.evidence.windows.wintypes import filetime, sid_bytes

from .facts import NetworkInterface, WorkstationFacts
from .model import Hive, ValueType
from .system import usbstor_device_id

CURRENT_VERSION = r"Microsoft\Windows NT\CurrentVersion"
RUN = r"Microsoft\Windows\CurrentVersion\Run"
_SYSTEM_PROFILES = (("S-1-5-18", r"%systemroot%\system32\config\systemprofile"),
                    ("S-1-5-19", r"%systemroot%\ServiceProfiles\LocalService"),
                    ("S-1-5-20", r"%systemroot%\ServiceProfiles\NetworkService"))


def _current_version(hive: Hive, facts: WorkstationFacts) -> None:
    unix = int(facts.installed.timestamp())
    (hive.key(CURRENT_VERSION, facts.installed)
        .value("SystemRoot", ValueType.SZ, r"C:\Windows")
        .value("BuildBranch", ValueType.SZ, "vb_release")
        .value("BuildLab", ValueType.SZ, f"{facts.build}.vb_release.191206-1406")
        .value("CurrentBuild", ValueType.SZ, str(facts.build))
        .value("CurrentBuildNumber", ValueType.SZ, str(facts.build))
        .value("CurrentMajorVersionNumber", ValueType.DWORD, 10)
        .value("CurrentMinorVersionNumber", ValueType.DWORD, 0)
        .value("CurrentType", ValueType.SZ, "Multiprocessor Free")
        .value("CurrentVersion", ValueType.SZ, "6.3")
        .value("DisplayVersion", ValueType.SZ, facts.display_version)
        .value("EditionID", ValueType.SZ, facts.edition_id)
        .value("InstallationType", ValueType.SZ, "Client")
        .value("InstallDate", ValueType.DWORD, unix)
        .value("InstallTime", ValueType.QWORD, filetime(facts.installed))
        .value("PathName", ValueType.SZ, r"C:\Windows")
        .value("ProductName", ValueType.SZ, facts.product_name)
        .value("RegisteredOrganization", ValueType.SZ, facts.registered_organization)
        .value("RegisteredOwner", ValueType.SZ, facts.registered_owner)
        .value("ReleaseId", ValueType.SZ, "2009")
        .value("UBR", ValueType.DWORD, facts.update_revision))


def _profiles(hive: Hive, facts: WorkstationFacts) -> None:
    base = rf"{CURRENT_VERSION}\ProfileList"
    (hive.key(base, facts.installed)
        .value("Default", ValueType.EXPAND_SZ, r"%SystemDrive%\Users\Default")
        .value("ProfilesDirectory", ValueType.EXPAND_SZ, r"%SystemDrive%\Users")
        .value("Public", ValueType.EXPAND_SZ, r"%SystemDrive%\Users\Public"))
    for sid, path in _SYSTEM_PROFILES:
        (hive.key(rf"{base}\{sid}", facts.installed)
            .value("Flags", ValueType.DWORD, 12).value("ProfileImagePath", ValueType.EXPAND_SZ, path)
            .value("State", ValueType.DWORD, 0))
    for account in facts.accounts:
        if account.last_logon is None:
            continue  # no logon, no profile
        sid = facts.sid(account)
        load = filetime(account.last_logon)
        hive.key(rf"{base}\{sid}", account.created)  # made at first logon, rewritten at each
        (hive.key(rf"{base}\{sid}", account.last_logon)
            .value("ProfileImagePath", ValueType.EXPAND_SZ, rf"C:\Users\{account.name}")
            .value("Flags", ValueType.DWORD, 0).value("State", ValueType.DWORD, 0)
            .value("Sid", ValueType.BINARY, sid_bytes(sid)).value("FullProfile", ValueType.DWORD, 1)
            .value("LocalProfileLoadTimeLow", ValueType.DWORD, load & 0xFFFFFFFF)
            .value("LocalProfileLoadTimeHigh", ValueType.DWORD, load >> 32))


def systemtime(when: datetime) -> bytes:
    """A SYSTEMTIME (year, month, day of week with Sunday 0, day, hour, minute, second, ms) of a wall-clock time."""
    return struct.pack("<8H", when.year, when.month, (when.weekday() + 1) % 7, when.day, when.hour, when.minute,
                       when.second, when.microsecond // 1000)


def network_signature(nic: NetworkInterface) -> str:
    """The Unmanaged signature's key name: the Network List Service's hex identity of an unauthenticated network
    (its fixed head for a wired one, then a digest of what identifies it: the gateway's MAC)."""
    digest = hashlib.sha256(f"{nic.gateway_mac}\0{nic.profile_name}".encode()).hexdigest().upper()
    return "010103000F0000F0080000000F0000F0" + digest


def _network(hive: Hive, nic: NetworkInterface, installed: datetime) -> None:
    """NetworkCards names the adapter by its NetCfg GUID (Tcpip's interface key); NetworkList holds the profile
    Windows made when the LAN was first connected (a wired, unmanaged network, ``Public`` until told otherwise)
    and the signature tying it to the gateway's MAC. Its dates are local time, as the service writes them."""
    guid = "{" + str(nic.guid).upper() + "}"
    (hive.key(rf"{CURRENT_VERSION}\NetworkCards\{nic.card_number}", installed)
        .value("Description", ValueType.SZ, nic.description)
        .value("ServiceName", ValueType.SZ, guid))
    first = nic.first_connected or installed
    last = nic.last_connected or first
    local_first, local_last = nic.local_times or (first.replace(tzinfo=None), last.replace(tzinfo=None))
    profile = "{" + str(nic.profile_guid).upper() + "}"
    for part in ("Profiles", r"Signatures\Unmanaged"):  # Setup's; a network's keys are added below them
        hive.key(rf"{CURRENT_VERSION}\NetworkList\{part}", installed)
    hive.key(rf"{CURRENT_VERSION}\NetworkList\Profiles\{profile}", first)
    (hive.key(rf"{CURRENT_VERSION}\NetworkList\Profiles\{profile}", last)
        .value("ProfileName", ValueType.SZ, nic.profile_name)
        .value("Description", ValueType.SZ, nic.profile_name)
        .value("Managed", ValueType.DWORD, 0)
        .value("Category", ValueType.DWORD, 0)
        .value("DateCreated", ValueType.BINARY, systemtime(local_first))
        .value("NameType", ValueType.DWORD, 6)
        .value("DateLastConnected", ValueType.BINARY, systemtime(local_last)))
    (hive.key(rf"{CURRENT_VERSION}\NetworkList\Signatures\Unmanaged\{network_signature(nic)}", first)
        .value("ProfileGuid", ValueType.SZ, profile)
        .value("Description", ValueType.SZ, nic.profile_name)
        .value("Source", ValueType.DWORD, 8)
        .value("DnsSuffix", ValueType.SZ, nic.domain or "<none>")
        .value("FirstNetwork", ValueType.SZ, nic.profile_name)
        .value("DefaultGatewayMac", ValueType.BINARY, bytes.fromhex(nic.gateway_mac.replace(":", ""))))


def software_hive(facts: WorkstationFacts) -> Hive:
    """SOFTWARE of ``facts``' machine."""
    hive = Hive("ROOT", facts.installed, file_name=r"\SystemRoot\System32\Config\SOFTWARE")
    _current_version(hive, facts)
    hive.key(rf"{CURRENT_VERSION}\Winlogon", facts.installed)  # there since install; each logon rewrites it
    (hive.key(rf"{CURRENT_VERSION}\Winlogon", facts.owner.last_logon or facts.installed)
        .value("LastUsedUsername", ValueType.SZ, facts.owner.name)
        .value("Shell", ValueType.SZ, "explorer.exe")
        .value("Userinit", ValueType.SZ, r"C:\Windows\system32\userinit.exe,"))
    _profiles(hive, facts)
    run = hive.key(RUN, facts.installed).value(
        "SecurityHealth", ValueType.EXPAND_SZ, r"%windir%\system32\SecurityHealthSystray.exe")
    implant = facts.implant
    if implant is not None and implant.scope == "machine":
        run.value(implant.value_name, ValueType.SZ, implant.command)
        hive.key(RUN, implant.installed)
    usb = facts.usb
    if usb is not None:
        device = (rf"WPDBUSENUMROOT#UMB#2&37C186B&0&STORAGE#VOLUME#_??_USBSTOR#{usbstor_device_id(usb)}"
                  rf"#{usb.serial}&0#{{53f56307-b6bf-11d0-94f2-00a0c91efb8b}}").upper().replace("\\", "#")
        (hive.key(rf"Microsoft\Windows Portable Devices\Devices\{device}", usb.first_inserted)
            .value("FriendlyName", ValueType.SZ, usb.volume_label or f"{usb.drive_letter.upper()}:\\"))
    if facts.network is not None:
        _network(hive, facts.network, facts.installed)
    return hive

