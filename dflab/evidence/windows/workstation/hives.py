"""The case's registry: the facts the five hives record, from the description and the shared decisions.

The Run value is written when the service is installed (one script did both; the service's key in SYSTEM is the
one the 7045 event announces), UserAssist has the payload run from
Downloads, RecentDocs the document opened: each key's last-written time is the story's time of that step.

The NIC's DHCP lease is the network plan's (``netplan``: addresses, the lease's length and its ACK at the final
boot, decided from the seed), renewed at T1 up to the shutdown: the renewals the capture shows are the same ones,
so the disk never needs the capture built. The stick's volume GUID is the one the mount manager makes at its first
arrival: a version-1 UUID of that time whose node is the mount manager's constant ``806e6f6e6963``, as every
removable volume's GUID in MountedDevices has.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from dflab.evidence.windows.gptdisk import disk_guid
from dflab.evidence.windows.registry import (
    Account,
    FixedVolume,
    Implant,
    NetworkInterface,
    ProgramRun,
    RecentDoc,
    UsbStick,
    WorkstationFacts,
)
from dflab.evidence.windows.wintypes import filetime

from .decisions import Decisions, blob, draw
from .description import WorkstationCase, local_time
from .logs import uptimes
from .netplan import plan_network

KNOWN_FOLDERS = {"Downloads": "{374DE290-123F-4565-9164-39C4925E467B}"}
"""FOLDERID_* of the profile folders UserAssist names programs by (it writes the folder's id, not its path)."""
LOGON_STEPS = ("logon", "remote_logon", "next_logon", "returned")
"""The timeline's logons of the user's account (the SAM's logon count)."""


def known_folder_path(path: str) -> str:
    """``Users/<u>/Downloads/x.exe`` as UserAssist records it: ``{FOLDERID_Downloads}\\x.exe``."""
    folder, _, name = path.rpartition("/")
    return f"{KNOWN_FOLDERS[folder.rsplit('/', 1)[1]]}\\{name}"


MOUNTMGR_NODE = 0x806E6F6E6963
"""The node of the volume GUIDs the mount manager makes (the bytes of ``\\x80noneic``), not a MAC."""
_UUID_EPOCH = 0x01B21DD213814000 - 0x019DB1DED53E8000
"""100 ns ticks from the UUID epoch (1582-10-15) to FILETIME's (1601-01-01)."""
NIC_DESCRIPTIONS = {"d8:bb:c1": "Realtek PCIe GbE Family Controller"}
"""The driver's name of the board's NIC by its OUI (an MSI board's Realtek); the others are HP, Lenovo and Dell
desktops with Intel's I219-LM."""
INTEL_NIC = "Intel(R) Ethernet Connection (7) I219-LM"
FIRST_CONNECTED = timedelta(seconds=40)
"""From a boot to the Network List Service identifying the LAN (the profile's DateCreated / DateLastConnected)."""


def mountmgr_guid(when: datetime, clock: int) -> uuid.UUID:
    """A volume GUID as the mount manager makes it on a volume's first arrival: version 1, of then, its node."""
    ticks = filetime(when) + _UUID_EPOCH
    return uuid.UUID(fields=(ticks & 0xFFFFFFFF, (ticks >> 32) & 0xFFFF, ((ticks >> 48) & 0x0FFF) | 0x1000,
                             0x80 | (clock >> 8), clock & 0xFF, MOUNTMGR_NODE))


def usb_volume(case: WorkstationCase, decided: Decisions) -> UsbStick:
    """The decided stick with the volume GUID the mount manager gave it at its first arrival."""
    usb = decided.usb
    return replace(usb, volume_guid=mountmgr_guid(usb.first_inserted, draw(case.seed, "usb/volume-guid", 1 << 14)))


def fixed_volumes(case: WorkstationCase, decided: Decisions) -> tuple[FixedVolume, ...]:
    """C: (the volume GUID Recent's links name as its VolumeId) and the ESP, each on its GPT partition of the disk
    writer (``gptdisk.disk_guid``); the ESP's GUID made by the mount manager during Setup."""
    esp = mountmgr_guid(case.timeline.installed, draw(case.seed, "esp/volume-guid", 1 << 14))
    return (FixedVolume(decided.activity.volume_guid, uuid.UUID(disk_guid(case.seed, "windows")), "C"),
            FixedVolume(esp, uuid.UUID(disk_guid(case.seed, "esp"))))


def nic(case: WorkstationCase, decided: Decisions) -> NetworkInterface:
    """The workstation's NIC and the lease it held at shutdown: the network plan's, obtained at the final boot and
    renewed at T1 (the capture shows the renewals that fall in its window) up to the shutdown."""
    plan = plan_network(case, decided)
    t = case.timeline
    renewal, shutdown = plan.dhcp_renewal_s, int(t.shutdown.timestamp())
    renewals = max(0, (shutdown - plan.dhcp_ack_second(0)) // renewal)
    obtained = datetime.fromtimestamp(plan.dhcp_ack_second(renewals), UTC)
    first = uptimes(case)[0].boot + FIRST_CONNECTED
    latest = uptimes(case)[-1].boot + FIRST_CONNECTED

    prefix = plan.workstation_mac[:8]
    return NetworkInterface(
        guid=uuid.UUID(bytes=blob(case.seed, "nic-guid", 16), version=4),
        description=NIC_DESCRIPTIONS.get(prefix, INTEL_NIC), mac=plan.workstation_mac, ip=plan.workstation_ip,
        subnet_mask="255.255.255.0", dhcp_server=plan.gateway_ip, gateway=plan.gateway_ip,
        gateway_mac=plan.gateway_mac, name_servers=(plan.gateway_ip,), lease_s=plan.dhcp_lease_s,
        renewal_s=renewal, rebinding_s=plan.dhcp_lease_s * 7 // 8, obtained=obtained, domain="",
        profile_guid=uuid.UUID(bytes=blob(case.seed, "network-profile", 16), version=4),
        first_connected=first, last_connected=latest,
        local_times=(local_time(case.time_zone.key_name, first), local_time(case.time_zone.key_name, latest)))


def registry_facts(case: WorkstationCase, decided: Decisions) -> WorkstationFacts:
    """What SYSTEM, SOFTWARE, SAM, NTUSER.DAT and UsrClass.dat record (``workstation_hives`` writes them)."""
    t = case.timeline
    user = case.user
    owner = Account(user.name, user.rid, t.installed, full_name=user.full_name, last_logon=t.returned,
                    password_last_set=t.installed, admin=True,
                    logon_count=len(LOGON_STEPS) + len(uptimes(case)) - 1)  # a logon each day the System log shows
    others = tuple(Account(u.name, u.rid, t.installed, full_name=u.full_name, password_last_set=t.installed)
                   for u in case.other_users)
    return WorkstationFacts(
        computer_name=case.computer_name.upper(), machine_sid=decided.machine_sid, installed=t.installed,
        last_shutdown=t.shutdown, owner=owner, other_accounts=others, time_zone=case.time_zone,
        registered_owner=user.full_name or user.name, usb=usb_volume(case, decided), host_name=case.computer_name,
        network=nic(case, decided), fixed_volumes=fixed_volumes(case, decided),
        implant=Implant(case.run_value_name, decided.implant_command, t.persisted),
        programs_run=(ProgramRun(known_folder_path(decided.payload), 1, t.payload_run),),
        # Opening the document adds it and the folder it was opened from, as Recent's two links do.
        recent_docs=(RecentDoc(case.documents[0], t.document_opened),
                     RecentDoc(decided.documents[0].rsplit("/", 2)[1], t.document_opened)),
        services=(decided.service,),
    )

