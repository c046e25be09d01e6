"""The workstation's NIC and USB stick in its hives, held against the capture and the rest of the case.

SYSTEM's Tcpip interface must hold the lease the capture's DHCP exchange gave (tshark reads the ACKs): the address,
mask, server, gateway, resolver, the lease's length and its last ACK (renewed at T1 after the capture until the
shutdown, as each ACK the capture shows renews the one before at T1), the gateway's MAC as the frames show it; the
NIC's GUID must be the same in Tcpip, NetworkCards and the connection's key, and NetworkList's signature must name
the capture's gateway MAC. NTUSER.DAT's MountPoints2 must name the stick's volume by the GUID MountedDevices gives
it, last written at the stick's arrival; MountedDevices must name C: and the ESP by their GPT partitions (sfdisk
reads the table) and C: by the volume GUID Recent's links carry. Each hive is read by regipy and by libregf
(pyregf), which must agree; each check is shown failing on a planted inconsistency.
"""

from __future__ import annotations

import json
import struct
import subprocess
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dflab.evidence.windows.registry import WorkstationFacts, workstation_hives
from dflab.evidence.windows.wintypes import filetime
from dflab.evidence.windows.workstation import build_workstation
from dflab.evidence.windows.workstation.capture import workstation_capture
from dflab.evidence.windows.workstation.decisions import decide
from dflab.evidence.windows.workstation.hives import registry_facts
from tests.test_windows_registry import KeyView, libregf_view, regipy_view
from tests.test_windows_workstation import CASE

pytestmark = pytest.mark.xdist_group("windows_ntfs")

CONFIG = "Windows/System32/config"
INTERFACES = r"ControlSet001\Services\Tcpip\Parameters\Interfaces"
CURRENT_VERSION = r"Microsoft\Windows NT\CurrentVersion"
NET_CLASS = "{4D36E972-E325-11CE-BFC1-08002BE10318}"
MOUNT_POINTS = r"Software\Microsoft\Windows\CurrentVersion\Explorer\MountPoints2"
EPOCH_FILETIME = 116_444_736_000_000_000


@dataclass(frozen=True)
class Ack:
    """A DHCP ACK as tshark shows it."""

    at: float
    gateway_mac: str
    address: str
    lease: int
    renewal: int
    rebinding: int
    server: str
    router: str
    resolvers: str
    mask: str


def tshark_acks(pcap: Path) -> list[Ack]:
    fields = ("frame.time_epoch", "eth.src", "dhcp.ip.your", "dhcp.option.ip_address_lease_time",
              "dhcp.option.renewal_time_value", "dhcp.option.rebinding_time_value", "dhcp.option.dhcp_server_id",
              "dhcp.option.router", "dhcp.option.domain_name_server", "dhcp.option.subnet_mask")
    out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "dhcp.option.dhcp == 5", "-T", "fields",
                          *(a for f in fields for a in ("-e", f))], capture_output=True, text=True, check=True)
    acks = []
    for line in out.stdout.splitlines():
        t, mac, ip, lease, t1, t2, server, router, dns, mask = line.split("\t")
        acks.append(Ack(float(t), mac, ip, int(lease), int(t1), int(t2), server, router, dns.replace(",", " "),
                        mask))
    return acks


def tshark_hostnames(pcap: Path) -> set[str]:
    out = subprocess.run(["tshark", "-r", str(pcap), "-Y", "dhcp.option.dhcp == 3", "-T", "fields", "-e",
                          "dhcp.option.hostname"], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


# -- the hives, each read by both readers -----------------------------------------------------------------------------


def _values(view: KeyView, reader: str) -> dict[str, object]:
    """A key's values by name, decoded the one way both readers' outputs allow (regipy decodes, libregf gives
    bytes)."""
    out: dict[str, object] = {}
    for name, kind, data in view.values:
        if reader == "regipy":
            out[name] = bytes.fromhex(data) if kind == "REG_BINARY" and isinstance(data, str) else data
        elif kind in (1, 2):
            out[name] = data.decode("utf-16-le").rstrip("\0")
        elif kind == 4:
            out[name] = struct.unpack("<I", data)[0]
        elif kind == 7:
            out[name] = [s for s in data.decode("utf-16-le").split("\0") if s]
        else:
            out[name] = data
    return out


CHECKED = (r"ControlSet001\Services\Tcpip", r"ControlSet001\Control\Network", "MountedDevices",
           rf"{CURRENT_VERSION}\NetworkCards", rf"{CURRENT_VERSION}\NetworkList", MOUNT_POINTS)
"""The keys the checks read (the readers' agreement on every other key is test_windows_registry's)."""


def read_both(hives: dict[str, bytes], folder: Path) -> dict[str, dict[str, dict[str, tuple[int, dict]]]]:
    """Per hive name, per reader: path → (last written FILETIME, values) of the checked keys; the readers agree."""
    out: dict[str, dict[str, dict[str, tuple[int, dict]]]] = {}
    for name, data in hives.items():
        path = folder / name.replace("/", "_")
        path.write_bytes(data)
        views = {"regipy": regipy_view(path), "libregf": libregf_view(path)}
        out[name] = {reader: {p: (v.last_written, _values(v, reader)) for p, v in view.items()
                              if p.startswith(CHECKED)}
                     for reader, view in views.items()}
        assert out[name]["regipy"] == out[name]["libregf"], f"regipy and libregf disagree on {name}"
    return out


@pytest.fixture(scope="module")
def case_facts() -> tuple[WorkstationFacts, object]:
    decided = decide(CASE)
    return registry_facts(CASE, decided), decided


@pytest.fixture(scope="module")
def pcap(case_facts, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("capture") / "workstation.pcapng"
    path.write_bytes(workstation_capture(CASE, case_facts[1]))
    return path


@pytest.fixture(scope="module")
def hives(case_facts, tmp_path_factory):
    return read_both(workstation_hives(case_facts[0]), tmp_path_factory.mktemp("hives"))


def _unix(filetime_ticks: int) -> float:
    return (filetime_ticks - EPOCH_FILETIME) / 10_000_000


# -- the checks (each returns what is wrong, so a planted defect shows as a problem) ----------------------------------


def lease_problems(read: dict, acks: list[Ack], shutdown: datetime, hostnames: set[str]) -> list[str]:
    """What SYSTEM's and SOFTWARE's network keys say that the capture (and the case's shutdown) contradict."""
    system, software = read[f"{CONFIG}/SYSTEM"]["regipy"], read[f"{CONFIG}/SOFTWARE"]["regipy"]
    problems = []
    nics = [p.rsplit("\\", 1)[1] for p in system if p.startswith(INTERFACES + "\\")]
    if len(nics) != 1:
        return [f"Tcpip has {len(nics)} interfaces, not the one NIC"]
    guid = nics[0]
    written, nic = system[f"{INTERFACES}\\{guid}"]
    stop = shutdown.timestamp()
    before = [a for a in acks if a.at <= stop]
    if not before:
        return ["the capture holds no DHCP ACK before the shutdown"]
    last = before[-1]
    for earlier, later in zip(before, before[1:], strict=False):
        if (int(later.at) - int(earlier.at)) % earlier.renewal:
            problems.append(f"the capture's ACK at {later.at} does not renew the one at {earlier.at} at T1")
    expected = {"EnableDHCP": 1, "DhcpIPAddress": last.address, "DhcpSubnetMask": last.mask,
                "DhcpServer": last.server, "DhcpDefaultGateway": [last.router], "DhcpNameServer": last.resolvers,
                "Lease": last.lease}
    problems += [f"{name} is {nic.get(name)!r}, the capture's ACK says {want!r}" for name, want in expected.items()
                 if nic.get(name) != want]
    obtained = nic.get("LeaseObtainedTime", 0)
    renewals, rest = divmod(obtained - int(last.at), last.renewal)
    if rest or renewals < 0 or not obtained <= stop < obtained + last.renewal:
        problems.append(f"LeaseObtainedTime {obtained} is not the last ACK ({int(last.at)}) renewed every "
                        f"{last.renewal} s up to the shutdown ({int(stop)})")
    for name, offset in (("T1", last.renewal), ("T2", last.rebinding), ("LeaseTerminatesTime", last.lease)):
        if nic.get(name) != obtained + offset:
            problems.append(f"{name} is {nic.get(name)}, not LeaseObtainedTime + {offset}")
    if int(_unix(written)) != obtained:
        problems.append(f"the interface key was last written at {_unix(written)}, not when the lease was obtained")
    hardware = nic.get("DhcpGatewayHardware", b"")
    if hardware[8:].hex(":") != last.gateway_mac or hardware[:4] != bytes(map(int, last.router.split("."))):
        problems.append(f"DhcpGatewayHardware {hardware.hex()} is not the gateway {last.router} at "
                        f"{last.gateway_mac} (the ACKs' source)")
    params = system[r"ControlSet001\Services\Tcpip\Parameters"][1]
    if {params.get("Hostname"), params.get("NV Hostname")} != hostnames:
        problems.append(f"Hostname {params.get('Hostname')!r} is not the name the DHCP requests send {hostnames}")
    cards = [v for p, (_, v) in software.items() if p.startswith(f"{CURRENT_VERSION}\\NetworkCards\\")]
    if [c.get("ServiceName") for c in cards] != [guid]:
        problems.append(f"NetworkCards names {[c.get('ServiceName') for c in cards]}, not Tcpip's {guid}")
    if f"ControlSet001\\Control\\Network\\{NET_CLASS}\\{guid}\\Connection" not in system:
        problems.append(f"no connection key for {guid}")
    signatures = [v for p, (_, v) in software.items()
                  if p.startswith(f"{CURRENT_VERSION}\\NetworkList\\Signatures\\Unmanaged\\")]
    if [s.get("DefaultGatewayMac", b"").hex(":") for s in signatures] != [last.gateway_mac]:
        problems.append(f"NetworkList's signatures name {[s.get('DefaultGatewayMac') for s in signatures]}, not the "
                        f"gateway {last.gateway_mac}")
    elif f"{CURRENT_VERSION}\\NetworkList\\Profiles\\{signatures[0]['ProfileGuid']}" not in software:
        problems.append(f"the signature's profile {signatures[0]['ProfileGuid']} is not under Profiles")
    return problems


def mount_point_problems(read: dict, user: str, inserted: datetime, serial: str) -> list[str]:
    """What NTUSER.DAT's MountPoints2 says that SYSTEM's MountedDevices and the case's USB times contradict."""
    system = read[f"{CONFIG}/SYSTEM"]["libregf"]
    ntuser = read[f"Users/{user}/NTUSER.DAT"]["libregf"]
    mounted = system["MountedDevices"][1]
    volumes = {name[len("\\??\\Volume"):]: data for name, data in mounted.items() if name.startswith("\\??\\Volume")}
    sticks = [g for g, data in volumes.items() if f"#{serial}&0#".encode("utf-16-le") in data]
    points = {p.rsplit("\\", 1)[1]: t for p, (t, _) in ntuser.items() if p.startswith(MOUNT_POINTS + "\\")}
    if len(sticks) != 1:
        return [f"MountedDevices has {len(sticks)} volumes of the stick {serial}"]
    if sticks[0] not in points:
        return [f"MountPoints2 has {sorted(points)}, not the stick's volume {sticks[0]}"]
    if points[sticks[0]] != filetime(inserted):
        return [f"MountPoints2\\{sticks[0]} was last written at {_unix(points[sticks[0]])}, not the stick's arrival "
                f"{inserted.isoformat()}"]
    if ntuser[f"{MOUNT_POINTS}\\{sticks[0]}"][1].get("BaseClass") != "Drive":
        return ["the stick's mount point has no BaseClass Drive"]
    return []


# -- the tests --------------------------------------------------------------------------------------------------------


def test_the_nic_holds_the_capture_s_dhcp_lease(hives, pcap):
    acks = tshark_acks(pcap)
    assert acks, "the capture has DHCP ACKs"
    assert lease_problems(hives, acks, CASE.timeline.shutdown, tshark_hostnames(pcap)) == []


def test_a_lease_the_capture_contradicts_is_reported(case_facts, pcap, tmp_path):
    facts = case_facts[0]
    acks, names = tshark_acks(pcap), tshark_hostnames(pcap)
    nic = facts.network
    planted = {
        "obtained": replace(nic, obtained=nic.obtained - timedelta(seconds=30)),
        "obtained a second late": replace(nic, obtained=nic.obtained + timedelta(seconds=1)),
        "renewal short": replace(nic, obtained=nic.obtained - timedelta(seconds=nic.renewal_s)),
        "address": replace(nic, ip="192.168.250.9"),
        "gateway MAC": replace(nic, gateway_mac="02:00:00:00:00:01"),
        "lease": replace(nic, lease_s=nic.lease_s * 2),
    }
    for what, wrong in planted.items():
        read = read_both(workstation_hives(replace(facts, network=wrong)), tmp_path)
        assert lease_problems(read, acks, CASE.timeline.shutdown, names), f"a wrong {what} went unnoticed"
    read = read_both(workstation_hives(replace(facts, host_name="other-pc")), tmp_path)
    assert any("Hostname" in p for p in lease_problems(read, acks, CASE.timeline.shutdown, names))


def test_mount_points_name_the_stick_s_volume_at_its_arrival(hives, case_facts):
    usb = case_facts[0].usb
    assert usb.first_inserted == CASE.timeline.usb_inserted
    assert mount_point_problems(hives, CASE.user.name, CASE.timeline.usb_inserted, usb.serial) == []
    # the volume GUID is the mount manager's: version 1, made at the stick's first arrival, node 806e6f6e6963
    assert usb.volume_guid.version == 1 and usb.volume_guid.node == 0x806E6F6E6963
    made = datetime(1582, 10, 15, tzinfo=UTC) + timedelta(microseconds=usb.volume_guid.time // 10)
    assert made == usb.first_inserted


def test_a_mount_point_the_system_hive_contradicts_is_reported(case_facts, tmp_path):
    facts = case_facts[0]
    usb = facts.usb
    hives = workstation_hives(facts)
    other = workstation_hives(replace(facts, usb=replace(usb, volume_guid=uuid.UUID(int=7))))
    swapped = {**hives, f"Users/{CASE.user.name}/NTUSER.DAT": other[f"Users/{CASE.user.name}/NTUSER.DAT"]}
    assert mount_point_problems(read_both(swapped, tmp_path), CASE.user.name, usb.first_inserted, usb.serial)
    later = replace(usb, last_inserted=usb.last_inserted + timedelta(minutes=5))
    read = read_both(workstation_hives(replace(facts, usb=later)), tmp_path)
    assert mount_point_problems(read, CASE.user.name, usb.first_inserted, usb.serial)


# -- the system disk's volumes: MountedDevices against the GPT and Recent's links ------------------------------------


def volume_problems(read: dict, partitions: list[dict], link: bytes) -> list[str]:
    """What SYSTEM's MountedDevices says that the disk's GPT (sfdisk) and a Recent link's VolumeId contradict: C:
    and every ``\\??\\Volume{…}`` of the disk name a partition by ``DMIO:ID:`` and its unique GUID, C:'s volume GUID
    is the one the links on C: carry."""
    mounted = read[f"{CONFIG}/SYSTEM"]["regipy"]["MountedDevices"][1]
    by_partition = {b"DMIO:ID:" + uuid.UUID(p["uuid"]).bytes_le: p for p in partitions}
    c = mounted.get("\\DosDevices\\C:", b"")
    problems = []
    if by_partition.get(c, {}).get("name") != "Basic data partition":
        return [f"\\DosDevices\\C: is {c.hex()}, not DMIO:ID: and the Windows partition's GUID"]
    volumes = {name[len("\\??\\Volume"):]: data for name, data in mounted.items() if name.startswith("\\??\\Volume")}
    on_disk = {g: by_partition[data]["name"] for g, data in volumes.items() if data in by_partition}
    c_guids = [g for g, data in volumes.items() if data == c]
    if len(c_guids) != 1:
        problems.append(f"{len(c_guids)} volume GUIDs name C:'s partition")
    elif uuid.UUID(c_guids[0]).bytes_le not in link:
        problems.append(f"C:'s volume {c_guids[0]} is not the VolumeId of Recent's link")
    if sorted(on_disk.values()) != ["Basic data partition", "EFI system partition"]:
        problems.append(f"MountedDevices names the disk's partitions {sorted(on_disk.values())}")
    return problems


def test_mounted_devices_name_the_gpt_partitions_and_the_links_volume(case_facts, tmp_path):
    from tests.test_windows_activity import Tsk

    built = build_workstation(CASE, case_facts[1])
    image = tmp_path / "disk.img"
    built.disk.write(image)
    table = json.loads(subprocess.run(["sfdisk", "--json", str(image)], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]["partitions"]
    tsk = Tsk(image, "")
    hive = tsk.read(f"{CONFIG}/SYSTEM")
    link = tsk.read(built.facts["recent_links"]["document_link"][3:].replace("\\", "/"))
    read = read_both({f"{CONFIG}/SYSTEM": hive}, tmp_path)
    assert volume_problems(read, table, link) == []
    # Planted: C: on another partition (the ESP), the links' volume under another GUID.
    facts = case_facts[0]
    c, esp = facts.fixed_volumes
    wrong = replace(facts, fixed_volumes=(replace(c, partition_guid=esp.partition_guid), esp))
    found = volume_problems(read_both({f"{CONFIG}/SYSTEM": workstation_hives(wrong)[f"{CONFIG}/SYSTEM"]}, tmp_path),
                            table, link)
    assert found and "not DMIO:ID:" in found[0], found
    other = replace(facts, fixed_volumes=(replace(c, volume_guid=uuid.UUID(int=5)), esp))
    found = volume_problems(read_both({f"{CONFIG}/SYSTEM": workstation_hives(other)[f"{CONFIG}/SYSTEM"]}, tmp_path),
                            table, link)
    assert found == [f"C:'s volume {{{uuid.UUID(int=5)}}} is not the VolumeId of Recent's link"], found
