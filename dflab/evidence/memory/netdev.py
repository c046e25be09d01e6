"""The host's network interfaces on ``init_net``: ``lo`` and the NIC as the logs name it (``ens3``), with the
case's address and MAC.

``linux.ip.Link`` and ``linux.ip.Addr`` walk ``net_namespace_list`` → each
``net.dev_base_head`` → ``net_device.dev_list``, then ``ip_ptr->ifa_list``
(IPv4) and ``ip6_ptr->addr_list`` (IPv6).  Addresses are stored in network
byte order as the kernel keeps them; the NIC carries the suspect host's IPv4
address and, as every IPv6-enabled interface does, an EUI-64 link-local
address derived from its MAC.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dflab.evidence.memory.kmem import KernelMemory
from dflab.scenario.case import Case
from dflab.scenario.traces.syslog import NIC

IFF_UP, IFF_BROADCAST, IFF_LOOPBACK, IFF_MULTICAST = 0x1, 0x2, 0x8, 0x1000
LINK_STATE_START, LINK_STATE_PRESENT = 1 << 0, 1 << 1
IF_OPER_UNKNOWN, IF_OPER_UP = 0, 6
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST = 0, 253, 254
IFA_HOST, IFA_LINK = 0x10, 0x20
IFA_F_PERMANENT = 0x80
ETH_ALEN = 6
LAN_PREFIX = 24  # the case's hosts share one /24 with their gateway


@dataclass(frozen=True)
class Interface:
    """One interface as ``ip addr`` shows it."""

    ifindex: int
    name: str
    mac: str
    flags: int
    operstate: int
    mtu: int
    qdisc: str
    ipv4: tuple[str, int, int]  # address, prefix length, scope
    ipv6: tuple[str, int, int]  # address, prefix length, IFA_* scope bits


def _link_local(mac: str) -> str:
    octets = bytearray(int(b, 16) for b in mac.split(":"))
    octets[0] ^= 0x02
    eui64 = bytes(octets[:3]) + b"\xff\xfe" + bytes(octets[3:])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + eui64))


def interfaces(case: Case) -> tuple[Interface, ...]:
    """The suspect host's interfaces, in ifindex order."""
    host = case.host(case.suspect_host)
    return (
        Interface(1, "lo", "00:00:00:00:00:00", IFF_UP | IFF_LOOPBACK, IF_OPER_UNKNOWN, 65536, "noqueue",
                  ("127.0.0.1", 8, RT_SCOPE_HOST), ("::1", 128, IFA_HOST)),
        Interface(2, NIC, host.mac.lower(), IFF_UP | IFF_BROADCAST | IFF_MULTICAST, IF_OPER_UP, 1500,
                  "fq_codel", (host.ip, LAN_PREFIX, RT_SCOPE_UNIVERSE), (_link_local(host.mac), 64, IFA_LINK)),
    )


def build_interfaces(km: KernelMemory, sym: dict[str, int], ifaces: tuple[Interface, ...]) -> None:
    """Attach ``ifaces`` to ``init_net``."""
    net = sym["init_net"]
    qdisc_ops = {name: km.new("Qdisc_ops", {"id": name.encode()}) for name in sorted({i.qdisc for i in ifaces})}
    devices = []
    for iface in ifaces:
        mac = bytes(int(b, 16) for b in iface.mac.split(":"))
        dev_addr = km.alloc(32)
        km.write(dev_addr, mac.ljust(32, b"\0"))
        dev = km.new("net_device", {
            "name": iface.name.encode(), "state": LINK_STATE_START | LINK_STATE_PRESENT, "flags": iface.flags,
            "mtu": iface.mtu, "ifindex": iface.ifindex, "operstate": iface.operstate, "addr_len": ETH_ALEN,
            "perm_addr": mac, "dev_addr": dev_addr, "tx_queue_len": 0 if iface.flags & IFF_LOOPBACK else 1000,
            "qdisc": km.new("Qdisc", {"ops": qdisc_ops[iface.qdisc]}), "nd_net.net": net,
        })
        addr, prefix, scope = iface.ipv4
        network = ipaddress.IPv4Network(f"{addr}/{prefix}", strict=False)
        in_dev = km.new("in_device", {"dev": dev, "refcnt.refs.counter": 1})
        ifa = km.new("in_ifaddr", {
            "ifa_dev": in_dev, "ifa_local": ipaddress.IPv4Address(addr).packed,
            "ifa_address": ipaddress.IPv4Address(addr).packed, "ifa_mask": network.netmask.packed,
            "ifa_broadcast": network.broadcast_address.packed if prefix < 31 and scope != RT_SCOPE_HOST else bytes(4),
            "ifa_scope": scope, "ifa_prefixlen": prefix, "ifa_flags": IFA_F_PERMANENT, "ifa_label": iface.name.encode(),
        })
        km.fill(in_dev, "in_device", {"ifa_list": ifa})
        addr6, prefix6, scope6 = iface.ipv6
        in6_dev = km.new("inet6_dev", {"dev": dev})
        ifa6 = km.new("inet6_ifaddr", {"addr": ipaddress.IPv6Address(addr6).packed, "prefix_len": prefix6,
                                       "scope": scope6, "flags": IFA_F_PERMANENT, "idev": in6_dev,
                                       "refcnt.refs.counter": 1, "valid_lft": 0xFFFF_FFFF,
                                       "prefered_lft": 0xFFFF_FFFF})
        km.link_list(km.addr_of(in6_dev, "inet6_dev", "addr_list"), [km.addr_of(ifa6, "inet6_ifaddr", "if_list")])
        km.fill(dev, "net_device", {"ip_ptr": in_dev, "ip6_ptr": in6_dev})
        devices.append(km.addr_of(dev, "net_device", "dev_list"))
    km.link_list(km.addr_of(net, "net", "dev_base_head"), devices)
    km.fill(net, "net", {"ifindex": len(ifaces)})
