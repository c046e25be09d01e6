"""ARP on the captured segment: who-has/is-at pairs and gratuitous announcements."""

from __future__ import annotations

import random

from dflab.evidence.network.conversation import Frame
from dflab.evidence.network.frames import arp_frame, pad
from dflab.evidence.network.segment import Endpoint


def _seen(sender: Endpoint, frame: bytes) -> bytes:
    return frame if sender.local else pad(frame)


def arp_exchange(rng: random.Random, t_us: int, asker: Endpoint, target: Endpoint) -> list[Frame]:
    """``asker`` broadcasts who-has ``target``; ``target`` answers is-at."""
    request = arp_frame(1, asker.mac, asker.ip, target.mac, target.ip)
    reply = arp_frame(2, target.mac, target.ip, asker.mac, asker.ip)
    return [(t_us, _seen(asker, request)), (t_us + target.react_us(rng), _seen(target, reply))]


def gratuitous_arp(t_us: int, host: Endpoint) -> Frame:
    """A gratuitous ARP request: ``host`` announces its own address (one frame, no answer expected)."""
    return t_us, _seen(host, arp_frame(1, host.mac, host.ip, host.mac, host.ip))
