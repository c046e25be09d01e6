"""The workstation's network, decided once from the case: its segment, addresses, MACs and the story's peers.

These are the facts the capture, and any other writer that mentions the network (a hive's DHCP lease, memory's
sockets), must agree on, so they are drawn here from the seed the way ``decisions`` draws the rest. The office LAN
is a /24 behind a router that is also its DHCP server and DNS resolver (dnsmasq, as small offices have it); the
intruder connects from ``Decisions.intruder_ip`` (a home line abroad), the payload comes from the host of the case's
download URL (its address when the URL names one), and the implant calls a server of its own by name (a domain
under the documentation names, as the addresses are documentation ranges).

The DHCP lease is decided here too, since SYSTEM's Tcpip key records it and the capture shows its renewals: the
length dnsmasq hands out, and the ACK at the final boot the System log shows (a few seconds in, before the Network
List Service identifies the LAN). Windows renews at T1 (half the lease) counted from LeaseObtainedTime, which it
keeps in whole seconds, so every later ACK falls in the second ``dhcp_ack_second(k)``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from dflab.evidence.network.frames import ip_bytes, mac_bytes
from dflab.evidence.network.profiles import LINUX, WINDOWS, OsProfile
from dflab.evidence.network.segment import Endpoint, derived_seed

from .decisions import Decisions, draw
from .description import WorkstationCase
from .logs import uptimes

SECOND = 1_000_000
EPHEMERAL = (49152, 65535)  # Windows' dynamic port range (netsh int ipv4 show dynamicport tcp)
# OUIs of the NICs office desktops ship with (Intel, Realtek on Dell/HP/Lenovo boards) and of small-office routers.
_PC_OUIS = ("3c:52:82", "98:fa:9b", "b0:0c:d1", "d8:bb:c1", "f8:b4:6a", "54:bf:64", "e4:54:e8")
_ROUTER_OUIS = ("74:4d:28", "18:e8:29", "b4:fb:e4", "dc:9f:db", "e8:48:b8")
C2_PORT = 443
_C2_WORDS = ("cdn", "sync", "update", "static", "api", "edge", "cloud", "assets", "telemetry", "files")
RDP_PORT = 3389
DHCP_LEASES = (3_600, 43_200, 86_400)  # an hour (a busy router's), twelve hours, dnsmasq's default day


def us(when: datetime) -> int:
    """A story time in microseconds since the epoch (the unit frames carry)."""
    return int(when.timestamp()) * SECOND + when.microsecond


def _mac(seed: str, what: str, ouis: tuple[str, ...]) -> str:
    oui = ouis[draw(seed, f"{what}/oui", len(ouis))]
    return oui + "".join(f":{draw(seed, f'{what}/{i}', 256):02x}" for i in range(3))


@dataclass(frozen=True)
class NetworkPlan:
    """Who is where on the wire, and when the story's connections run (µs since the epoch)."""

    lan: str  # the segment, "192.168.x.0/24"
    workstation_ip: str
    workstation_mac: str
    gateway_ip: str  # the router: default gateway, DHCP server and DNS resolver
    gateway_mac: str
    intruder_ip: str
    download_host: str  # the URL's host (a name or an address)
    download_server_ip: str
    c2_ip: str
    c2_host: str  # the name the implant calls (its operator's domain; the record's TTL is kept short)
    c2_ttl: int
    c2_port: int
    rdp: tuple[tuple[int, int, int], ...]  # per Remote Desktop session: (client port, SYN time, last frame by then)
    beacon_period_s: int
    beacon_jitter: float  # the share of the period a beacon may come early or late
    c2_idle_s: int  # how long the C2 server keeps an idle connection before closing it
    uplink_hops: int  # routers from the segment to the office provider's core
    dhcp_lease_s: int  # the lease the router hands out (T1 half of it, T2 seven eighths)
    dhcp_first_ack_us: int  # the router's ACK at the final boot

    @property
    def dhcp_renewal_s(self) -> int:
        """T1: when the client renews, counted from the lease's last ACK."""
        return self.dhcp_lease_s // 2

    def dhcp_ack_second(self, k: int) -> int:
        """The whole second (since the epoch) of the ``k``-th ACK: the boot's (0), then each renewal at T1 of the
        one before (its request a fraction of a second into that second, the router's answer within it)."""
        return self.dhcp_first_ack_us // SECOND + k * self.dhcp_renewal_s

    def endpoint(self, ip: str, os: OsProfile = LINUX, seed: str = "") -> Endpoint:
        """The endpoint of ``ip`` as seen at the mirror port (the workstation, a LAN host or a remote one)."""
        rng_seed = derived_seed(seed, "windows-peer", ip)
        habits = {"ts_seed": rng_seed, "id_base": rng_seed >> 48, "id_rate": 20 + (rng_seed >> 20) % 400}
        if ip == self.workstation_ip:
            return Endpoint(ip, ip_bytes(ip), mac_bytes(self.workstation_mac), WINDOWS, 0, 0, True, 1000, **habits)
        if ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(self.lan):
            mac = self.gateway_mac if ip == self.gateway_ip else _mac(seed, f"lan/{ip}", _PC_OUIS)
            return Endpoint(ip, ip_bytes(ip), mac_bytes(mac), os, 0, 200 + (rng_seed >> 8) % 500, False, 1000,
                            **habits)
        hops = self.uplink_hops + 2 + (rng_seed >> 4) % 7
        rtt = 8_000 + (rng_seed >> 12) % 60_000
        mbps = (50, 100, 200, 300, 500)[(rng_seed >> 30) % 5]
        return Endpoint(ip, ip_bytes(ip), mac_bytes(self.gateway_mac), os, hops, rtt, False, mbps, **habits)


def plan_network(case: WorkstationCase, decided: Decisions) -> NetworkPlan:
    """The case's network facts; the intruder's sessions start a few seconds before their logon events (NLA
    authenticates first) and end after the story's last step of that visit."""
    seed, t = case.seed, case.timeline
    subnet = draw(seed, "net/subnet", 254) + 1
    host = urlsplit(case.download_url).hostname or ""
    try:
        server = str(ipaddress.IPv4Address(host))
    except ValueError:  # a name: the address the spec places, else one drawn
        server = case.download_ip or f"198.51.100.{2 + draw(seed, 'net/download', 250)}"
    c2 = case.c2_ip or f"192.0.2.{2 + draw(seed, 'net/c2', 250)}"
    first_start = us(t.remote_logon) - (2 * SECOND + draw(seed, "net/rdp1-nla", 4 * SECOND))
    first_end = us(t.file_deleted) + 60 * SECOND + draw(seed, "net/rdp1-end", 240 * SECOND)
    second_start = us(t.returned) - (2 * SECOND + draw(seed, "net/rdp2-nla", 4 * SECOND))
    second_end = us(t.returned) + 6 * 60 * SECOND + draw(seed, "net/rdp2-end", 14 * 60 * SECOND)
    end_limit = us(t.shutdown - timedelta(minutes=1))
    return NetworkPlan(
        lan=f"192.168.{subnet}.0/24",
        workstation_ip=f"192.168.{subnet}.{20 + draw(seed, 'net/ws', 180)}",
        workstation_mac=_mac(seed, "net/ws-mac", _PC_OUIS),
        gateway_ip=f"192.168.{subnet}.1",
        gateway_mac=_mac(seed, "net/gw-mac", _ROUTER_OUIS),
        intruder_ip=decided.intruder_ip,
        download_host=host,
        download_server_ip=server,
        c2_ip=c2,
        c2_host=case.c2_host or (f"{_C2_WORDS[draw(seed, 'net/c2-a', len(_C2_WORDS))]}-"
                                 f"{_C2_WORDS[draw(seed, 'net/c2-b', len(_C2_WORDS))]}{draw(seed, 'net/c2-n', 90) + 10}"
                                 ".example.net"),
        c2_ttl=(300, 600, 1800)[draw(seed, "net/c2-ttl", 3)],
        c2_port=C2_PORT,
        rdp=((decided.intruder_ports["remote_logon"], first_start, first_end),
             (decided.intruder_ports["returned"], second_start, min(second_end, end_limit))),
        beacon_period_s=(30, 45, 60, 90, 120)[draw(seed, "net/beacon", 5)],
        beacon_jitter=0.2,
        c2_idle_s=(5, 10, 15, 20, 30)[draw(seed, "net/c2-idle", 5)],
        uplink_hops=4 + draw(seed, "net/uplink", 4),
        dhcp_lease_s=DHCP_LEASES[draw(seed, "net/dhcp-lease", len(DHCP_LEASES))],
        dhcp_first_ack_us=us(uptimes(case)[-1].boot) + 8 * SECOND + draw(seed, "net/dhcp-boot", 7 * SECOND),
    )
