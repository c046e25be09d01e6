"""The SYSTEM hive: control set selection, computer name, time zone, boot key, services, a USB stick's history.

Only ``ControlSet001`` exists, as on a machine that has booted well since install; ``CurrentControlSet`` is a
link the kernel makes at boot and is never in the file, so readers follow ``Select\\Current``. Likewise a
service's ``Enum`` subkey (its running device instances) is volatile: Plug and Play makes it while the system runs,
so no hive file holds one (the real SYSTEM among the samples has no ``CurrentControlSet``, and none of its 467
services an ``Enum``).
"""

from __future__ import annotations

import struct
from datetime import datetime

from dflab.evidence.windows.wintypes import filetime

from .facts import NetworkInterface, Service, TimeZone, UsbStick, WorkstationFacts
from .model import Hive, ValueType

CONTROL_SET = "ControlSet001"
DISK_CLASS = "{4d36e967-e325-11ce-bfc1-08002be10318}"
DISK_INTERFACE = "{53f56307-b6bf-11d0-94f2-00a0c91efb8b}"
VOLUME_INTERFACE = "{53f5630d-b6bf-11d0-94f2-00a0c91efb8b}"
DEVICE_DATES = "{83da6326-97a6-4088-9453-a1923f573b29}"
"""DEVPKEY_Device_InstallDate (0064) … LastRemovalDate (0067): the property set of a device's times."""
NET_CLASS = "{4D36E972-E325-11CE-BFC1-08002BE10318}"
"""The network adapters' device class: ``Control\\Network\\{class}\\{NIC}\\Connection`` names the connection."""
DEVICE_NAMES = "{540b947e-8b40-45bc-a8a2-6a0b894cbda2}"
DEVPROP_FILETIME = 0xFFFF0010
DEVPROP_STRING = 0xFFFF0012
_BOOT_KEY_ORDER = (0x8, 0x5, 0x4, 0x2, 0xB, 0x9, 0xD, 0x3, 0x0, 0x6, 0x1, 0xC, 0xE, 0xA, 0xF, 0x7)
"""Position in the class names (JD+Skew1+GBG+Data) of each boot-key byte, as every SAM decryptor reads it."""


def _systemtime(fields: tuple[int, ...]) -> bytes:
    return struct.pack("<8H", *fields)


def scrambled_boot_key(boot_key: bytes) -> bytes:
    """The 16 bytes whose hex spells the four Lsa class names, from the boot key they hide."""
    out = bytearray(16)
    for i, position in enumerate(_BOOT_KEY_ORDER):
        out[position] = boot_key[i]
    return bytes(out)


def usbstor_device_id(usb: UsbStick) -> str:
    """``Disk&Ven_…&Prod_…&Rev_…`` as USBSTOR names a disk (spaces become underscores)."""
    def clean(text: str) -> str:
        return text.replace(" ", "_")

    return f"Disk&Ven_{clean(usb.vendor)}&Prod_{clean(usb.product)}&Rev_{clean(usb.revision)}"


def service_key(service: Service) -> str:
    """Where ``service`` is, below the root of SYSTEM."""
    return rf"{CONTROL_SET}\Services\{service.name}"


def _service(hive: Hive, service: Service) -> None:
    """The values ``CreateService`` writes, in the order it writes them (as under PsExec's PSEXESVC on a real
    SYSTEM): nothing else until the service is configured further, and no ``Security`` subkey unless one is set."""
    (hive.key(service_key(service), service.installed)
        .value("Type", ValueType.DWORD, service.type)
        .value("Start", ValueType.DWORD, service.start)
        .value("ErrorControl", ValueType.DWORD, service.error_control)
        .value("ImagePath", ValueType.EXPAND_SZ, service.image_path)
        .value("DisplayName", ValueType.SZ, service.shown_name)
        .value("ObjectName", ValueType.SZ, service.object_name))


def _time_zone(hive: Hive, tz: TimeZone, when: datetime) -> None:
    key = hive.key(rf"{CONTROL_SET}\Control\TimeZoneInformation", when)
    active = tz.active_bias
    (key.value("Bias", ValueType.DWORD, tz.bias)
        .value("DaylightBias", ValueType.DWORD, tz.daylight_bias)
        .value("DaylightName", ValueType.SZ, tz.daylight_name)
        .value("DaylightStart", ValueType.BINARY, _systemtime(tz.daylight_start))
        .value("StandardBias", ValueType.DWORD, tz.standard_bias)
        .value("StandardName", ValueType.SZ, tz.standard_name)
        .value("StandardStart", ValueType.BINARY, _systemtime(tz.standard_start))
        .value("TimeZoneKeyName", ValueType.SZ, tz.key_name)
        .value("DynamicDaylightTimeDisabled", ValueType.DWORD, 0)
        .value("ActiveTimeBias", ValueType.DWORD, active))


def _device_dates(hive: Hive, device: str, usb: UsbStick) -> None:
    """The device's Properties: install (0064, 0065), last arrival (0066) and last removal (0067) times."""
    base = rf"{device}\Properties\{DEVICE_DATES}"
    for code, when in (("0064", usb.first_inserted), ("0065", usb.first_inserted),
                       ("0066", usb.last_inserted), ("0067", usb.last_removed)):
        hive.key(rf"{base}\{code}", when).value("", DEVPROP_FILETIME, struct.pack("<Q", filetime(when)))


def _usb(hive: Hive, usb: UsbStick) -> None:
    enum = rf"{CONTROL_SET}\Enum"
    disk_id = usbstor_device_id(usb)
    instance = f"{usb.serial}&0"
    stor = rf"{enum}\USBSTOR\{disk_id}\{instance}"
    key = hive.key(stor, usb.first_inserted)
    product = f"{usb.vendor.replace(' ', '_')}{usb.product.replace(' ', '_')}"
    (key.value("DeviceDesc", ValueType.SZ, "@disk.inf,%disk_devdesc%;Disk drive")
        .value("Capabilities", ValueType.DWORD, 0x10)
        .value("HardwareID", ValueType.MULTI_SZ, [rf"USBSTOR\{disk_id}", rf"USBSTOR\Disk{product}",
                                                  rf"USBSTOR\Disk{product[:8]}", rf"USBSTOR\{product}",
                                                  "GenDisk"])
        .value("CompatibleIDs", ValueType.MULTI_SZ, [r"USBSTOR\Disk", r"USBSTOR\RAW", "GenDisk"])
        .value("ContainerID", ValueType.SZ, "{" + str(usb.container_id) + "}")
        .value("ConfigFlags", ValueType.DWORD, 0)
        .value("ClassGUID", ValueType.SZ, DISK_CLASS)
        .value("Driver", ValueType.SZ, DISK_CLASS + r"\0001")
        .value("Mfg", ValueType.SZ, "@disk.inf,%genmanufacturer%;(Standard disk drives)")
        .value("Service", ValueType.SZ, "disk")
        .value("FriendlyName", ValueType.SZ, usb.friendly_name))
    hive.key(rf"{stor}\Properties\{DEVICE_NAMES}\0004", usb.first_inserted).value(
        "", DEVPROP_STRING, (usb.friendly_name + "\0").encode("utf-16-le"))
    _device_dates(hive, stor, usb)
    hive.key(stor, usb.last_inserted)  # arrival rewrites the instance key after its Properties

    vid_pid = f"VID_{usb.vendor_id:04X}&PID_{usb.product_id:04X}"
    device = rf"{enum}\USB\{vid_pid}\{usb.serial}"
    (hive.key(device, usb.first_inserted)
        .value("DeviceDesc", ValueType.SZ, "@usb.inf,%usb.massstoragedevicedesc%;USB Mass Storage Device")
        .value("HardwareID", ValueType.MULTI_SZ, [rf"USB\{vid_pid}&REV_0100", rf"USB\{vid_pid}"])
        .value("CompatibleIDs", ValueType.MULTI_SZ, [r"USB\Class_08&SubClass_06&Prot_50", r"USB\Class_08"])
        .value("ContainerID", ValueType.SZ, "{" + str(usb.container_id) + "}")
        .value("LocationInformation", ValueType.SZ, "Port_#0002.Hub_#0001")
        .value("Service", ValueType.SZ, "USBSTOR")
        .value("Mfg", ValueType.SZ, "@usb.inf,%msft%;Microsoft"))
    _device_dates(hive, device, usb)
    hive.key(device, usb.last_inserted)

    # MountedDevices: the letter and the volume GUID both name the stick's device interface.
    target = (f"_??_USBSTOR#{disk_id}#{instance}#{DISK_INTERFACE}").encode("utf-16-le")
    mounted = hive.key("MountedDevices", usb.last_inserted)
    mounted.value(rf"\DosDevices\{usb.drive_letter.upper()}:", ValueType.BINARY, target)
    mounted.value(rf"\??\Volume{{{usb.volume_guid}}}", ValueType.BINARY, target)


def interface_key(nic: NetworkInterface) -> str:
    """Tcpip's key of ``nic`` below the root of SYSTEM (its GUID braced, upper case, as NetCfg writes it)."""
    return rf"{CONTROL_SET}\Services\Tcpip\Parameters\Interfaces\{{{str(nic.guid).upper()}}}"


def _unix(when: datetime) -> int:
    return int(when.timestamp())


def gateway_hardware(nic: NetworkInterface) -> bytes:
    """``DhcpGatewayHardware``: the gateway's address, the hardware address's length (a DWORD), its MAC, as the DHCP
    client stores the gateway's ARP answer (the real SYSTEM among the samples: ``c0a80101 06000000 0018f8ea2ea2``)."""
    return (bytes(int(p) for p in nic.gateway.split(".")) + struct.pack("<I", 6)
            + bytes.fromhex(nic.gateway_mac.replace(":", "")))


def _network(hive: Hive, nic: NetworkInterface, installed: datetime) -> None:
    """The NIC's Tcpip interface holding its DHCP lease (rewritten at each renewal, so last written when the lease
    was obtained) and its connection's name; the DHCP values in the order Windows 10's client writes them."""
    (hive.key(interface_key(nic), nic.obtained)
        .value("EnableDHCP", ValueType.DWORD, 1)
        .value("Domain", ValueType.SZ, "")
        .value("NameServer", ValueType.SZ, "")
        .value("DhcpIPAddress", ValueType.SZ, nic.ip)
        .value("DhcpSubnetMask", ValueType.SZ, nic.subnet_mask)
        .value("DhcpServer", ValueType.SZ, nic.dhcp_server)
        .value("Lease", ValueType.DWORD, nic.lease_s)
        .value("LeaseObtainedTime", ValueType.DWORD, _unix(nic.obtained))
        .value("T1", ValueType.DWORD, _unix(nic.t1))
        .value("T2", ValueType.DWORD, _unix(nic.t2))
        .value("LeaseTerminatesTime", ValueType.DWORD, _unix(nic.lease_terminates))
        .value("AddressType", ValueType.DWORD, 0)
        .value("IsServerNapAware", ValueType.DWORD, 0)
        .value("DhcpConnForceBroadcastFlag", ValueType.DWORD, 0)
        .value("DhcpNameServer", ValueType.SZ, " ".join(nic.name_servers))
        .value("DhcpDefaultGateway", ValueType.MULTI_SZ, [nic.gateway])
        .value("DhcpSubnetMaskOpt", ValueType.MULTI_SZ, [nic.subnet_mask])
        .value("DhcpGatewayHardware", ValueType.BINARY, gateway_hardware(nic))
        .value("DhcpGatewayHardwareCount", ValueType.DWORD, 1))
    if nic.domain:
        hive.key(interface_key(nic), nic.obtained).value("DhcpDomain", ValueType.SZ, nic.domain)
    (hive.key(rf"{CONTROL_SET}\Control\Network\{NET_CLASS}\{{{str(nic.guid).upper()}}}\Connection", installed)
        .value("Name", ValueType.SZ, "Ethernet")
        .value("MediaSubType", ValueType.DWORD, 1))


def system_hive(facts: WorkstationFacts) -> Hive:
    """SYSTEM of ``facts``' machine (its base block names it ``SYSTEM``, as winload loads it)."""
    installed = facts.installed
    hive = Hive("ROOT", installed, file_name="SYSTEM")
    (hive.key("Select", installed)
        .value("Current", ValueType.DWORD, 1).value("Default", ValueType.DWORD, 1)
        .value("Failed", ValueType.DWORD, 0).value("LastKnownGood", ValueType.DWORD, 1))
    hive.key(rf"{CONTROL_SET}\Control\ComputerName\ComputerName", installed).value(
        "ComputerName", ValueType.SZ, facts.computer_name)
    # The DNS host name as Setup took it from the computer name (the DHCP client sends it in option 12).
    (hive.key(rf"{CONTROL_SET}\Services\Tcpip\Parameters", installed)
        .value("Hostname", ValueType.SZ, facts.host_name or facts.computer_name)
        .value("NV Hostname", ValueType.SZ, facts.host_name or facts.computer_name)
        .value("Domain", ValueType.SZ, "")
        .value("NV Domain", ValueType.SZ, ""))
    if facts.network is not None:
        _network(hive, facts.network, installed)
    _time_zone(hive, facts.time_zone, installed)
    scrambled = scrambled_boot_key(facts.boot_key)
    for i, part in enumerate(("JD", "Skew1", "GBG", "Data")):
        hive.key(rf"{CONTROL_SET}\Control\Lsa\{part}", installed, class_name=scrambled[4 * i:4 * i + 4].hex())
    hive.key(rf"{CONTROL_SET}\Control\Windows", installed)  # there since install; shutdown rewrites it
    hive.key(rf"{CONTROL_SET}\Control\Windows", facts.last_shutdown).value(
        "ShutdownTime", ValueType.BINARY, struct.pack("<Q", filetime(facts.last_shutdown)))
    for service in facts.services:
        _service(hive, service)
    mounted = hive.key("MountedDevices", installed)
    for volume in facts.fixed_volumes:  # Setup's: the letter (if any) and the volume's GUID name one partition
        if volume.letter:
            mounted.value(rf"\DosDevices\{volume.letter.upper()}:", ValueType.BINARY, volume.mounted_data)
        mounted.value(rf"\??\Volume{{{volume.volume_guid}}}", ValueType.BINARY, volume.mounted_data)
    if facts.usb is not None:
        _usb(hive, facts.usb)
    return hive
