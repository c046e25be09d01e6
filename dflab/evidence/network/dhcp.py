"""NetworkManager's DHCP lease renewals on the wire: a unicast DHCPREQUEST from the workstation, the server's DHCPACK.

Debian 12's NetworkManager (1.42) runs its internal DHCP client (n-dhcp4, ``dhcp4 (ens3): state changed new
lease`` in syslog; dhclient would log ``DHCPREQUEST``/``DHCPACK`` lines of its own). At T1 it renews from its UDP
socket bound to the leased address (RFC 2131 4.4.5: ``ciaddr`` set, no server identifier, no requested address),
unicast to the server: option 53 (REQUEST), the client identifier NetworkManager's internal client defaults to
(``01`` + the MAC), 57 (65535: a UDP socket reassembles), the parameter request list in NetworkManager's order
(``_nm_dhcp_option_dhcp4_options``: classless routes before the router, RFC 3442) and the host name (12). The
office router's dnsmasq answers from its unconnected socket (DF, IP ID 0) with its own address as server
identifier and next server, the 3600 s lease, T1 and T2, the mask, broadcast, router and the DNS server
resolv.conf names, padded to BOOTP's 300 bytes.

When: the times are the logs' (:func:`dflab.scenario.traces.story.renewals`, the one owner): syslog's line is
written once the ACK is in, so the ACK is seen a few hundred microseconds to a few milliseconds before it, the
REQUEST one round trip earlier.
"""

from __future__ import annotations

import ipaddress
import random
import struct

from dflab.evidence.network.conversation import Conversation, Frame, to_us, udp_exchange
from dflab.evidence.network.segment import Endpoint

LEASE_S = 3600
T1_S, T2_S = LEASE_S // 2, LEASE_S * 7 // 8
COOKIE = b"\x63\x82\x53\x63"
REQUEST, ACK = 3, 5
# NetworkManager 1.42's requested options, in the order its table lists them (the ones it includes).
PARAMETERS = bytes((1, 2, 6, 12, 15, 26, 28, 121, 3, 33, 40, 41, 42, 119, 249, 252, 17))
BOOTP_MIN = 300  # RFC 1542's minimum BOOTP message, which servers pad their replies to


def _bootp(op: int, xid: int, ciaddr: bytes, yiaddr: bytes, siaddr: bytes, mac: bytes) -> bytes:
    """The fixed BOOTP header (secs 0, flags 0, no relay, empty sname and file) and the magic cookie."""
    return (struct.pack("!BBBBIHH4s4s4s4s", op, 1, 6, 0, xid, 0, 0, ciaddr, yiaddr, siaddr, b"\0" * 4)
            + mac + bytes(10) + bytes(64) + bytes(128) + COOKIE)


def _option(code: int, value: bytes) -> bytes:
    return bytes((code, len(value))) + value


def renew_request(xid: int, client: Endpoint, hostname: str) -> bytes:
    """n-dhcp4's DHCPREQUEST in the RENEWING state."""
    return (_bootp(1, xid, client.ip_raw, bytes(4), bytes(4), client.mac)
            + _option(53, bytes((REQUEST,))) + _option(61, b"\x01" + client.mac) + _option(57, struct.pack("!H", 65535))
            + _option(55, PARAMETERS) + _option(12, hostname.encode()) + b"\xff")


def ack(xid: int, client: Endpoint, server: Endpoint, nameserver: str) -> bytes:
    """dnsmasq's DHCPACK to a renewal: the same address for another full lease."""
    lan = ipaddress.IPv4Network(f"{client.ip}/24", strict=False)
    body = (_bootp(2, xid, client.ip_raw, client.ip_raw, server.ip_raw, client.mac)
            + _option(53, bytes((ACK,))) + _option(54, server.ip_raw) + _option(51, struct.pack("!I", LEASE_S))
            + _option(58, struct.pack("!I", T1_S)) + _option(59, struct.pack("!I", T2_S))
            + _option(1, lan.netmask.packed) + _option(28, lan.broadcast_address.packed)
            + _option(3, server.ip_raw) + _option(6, ipaddress.IPv4Address(nameserver).packed) + b"\xff")
    return body + bytes(max(0, BOOTP_MIN - len(body)))


def renewal(rng: random.Random, logged: float, client: Endpoint, server: Endpoint, hostname: str,
            nameserver: str) -> list[Frame]:
    """The REQUEST and ACK of the renewal syslog logs at ``logged`` (epoch seconds)."""
    t_ack = to_us(logged) - rng.randint(300, 4_000)
    t_request = t_ack - server.react_us(rng)
    xid = rng.getrandbits(32)
    conv = Conversation("udp", client, 68, server, 67)
    udp_exchange(conv, rng, t_request, renew_request(xid, client, hostname), ack(xid, client, server, nameserver),
                 t_ack, server_df=True)
    return conv.frames
