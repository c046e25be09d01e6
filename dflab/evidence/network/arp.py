"""ARP on the captured segment: who-has/is-at pairs, Linux's unicast re-checks and gratuitous announcements."""

from __future__ import annotations

import random

from dflab.evidence.network.conversation import Frame
from dflab.evidence.network.frames import arp_frame, pad
from dflab.evidence.network.segment import Endpoint


def arp_exchange(rng: random.Random, t_us: int, asker: Endpoint, target: Endpoint, *,
                 unicast: bool = False) -> list[Frame]:
    """``asker`` asks who-has ``target`` (broadcast, or unicast to the cached MAC: Linux's NUD probe); it answers."""
    request = arp_frame(1, asker.mac, asker.ip, target.mac, target.ip, not unicast)
    reply = arp_frame(2, target.mac, target.ip, asker.mac, asker.ip)
    return [(t_us, pad(request)), (t_us + target.react_us(rng), pad(reply))]


def gratuitous_arp(t_us: int, host: Endpoint) -> Frame:
    """A gratuitous ARP request: ``host`` announces its own address (one frame, no answer expected)."""
    return t_us, pad(arp_frame(1, host.mac, host.ip, host.mac, host.ip))
