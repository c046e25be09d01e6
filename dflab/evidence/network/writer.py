"""``write_network``: the capture of the suspect's segment, as pcap and pcapng, plus its answer-key facts."""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass
from pathlib import Path

from dflab.errors import EvidenceError
from dflab.evidence.network.arp import arp_exchange
from dflab.evidence.network.conversation import Frame, to_us
from dflab.evidence.network.noise import NoiseMaker
from dflab.evidence.network.pcapio import CaptureInfo, write_pcap, write_pcapng
from dflab.evidence.network.planned import PlannedFlows
from dflab.evidence.network.segment import Segment, derived_seed
from dflab.scenario.case import Case

PCAP_NAME = "network.pcap"
PCAPNG_NAME = "network.pcapng"


@dataclass(frozen=True)
class Capture:
    """Everything the capture is, as the writer made it.

    ``planned`` holds the 0-based indices in ``frames`` of the planned flows' frames. It is what the writer
    knows and the evidence must not say: the tells benchmark and its test read it to label frames scenario or
    background, and nothing writes it anywhere.
    """

    frames: list[Frame]
    flows: list[dict[str, object]]
    noise: int
    planned: frozenset[int]
    start_us: int
    end_us: int


def _resolver_ip(case: Case) -> str:
    """The resolver the planned lookups use (background asks the same one), else the gateway."""
    net = case.network
    return case.host(net.dns[0].resolver).ip if net.dns else case.host(net.gateway).ip


def build_capture(case: Case) -> Capture:
    """All frames in capture order, the planned flows' facts, the background's size and which frames are planned."""
    net = case.network
    seg = Segment(case)
    start, end = to_us(net.start), to_us(net.end)
    me, gw = seg.endpoint(seg.capture.ip), seg.endpoint(seg.gateway.ip)
    arp_rng = random.Random(derived_seed(case.seed, "network-arp"))
    streams: list[list[Frame]] = [arp_exchange(arp_rng, start + arp_rng.randint(1_000, 400_000), me, gw)]
    planned = PlannedFlows(case, seg)
    planned.render()
    for where, first, last in planned.spans:
        if first < start:
            raise EvidenceError("flow starts before the capture window (network.start)", where)
        if last > end:
            raise EvidenceError("flow ends after the capture window (network.end)", where)
    n_planned = len(planned.conversations)
    streams += [conv.in_time_order() for conv in planned.conversations]
    reserved = {conv.client_port for conv in planned.conversations}
    noise_units = NoiseMaker(case, seg, reserved, _resolver_ip(case)).frames(net.noise_packets)
    streams += [sorted(unit, key=lambda f: f[0]) for unit in noise_units]
    # Merge by time; ties go to the earlier stream and, within a stream, keep its order.
    keyed = ([(t, s, i, frame) for i, (t, frame) in enumerate(stream)] for s, stream in enumerate(streams))
    merged = list(heapq.merge(*keyed))
    frames = [(t, frame) for t, _, _, frame in merged]
    mine = frozenset(n for n, (_, s, _, _) in enumerate(merged) if 1 <= s <= n_planned)
    return Capture(frames, planned.facts, sum(len(u) for u in noise_units), mine, start, end)


def write_network(case: Case, out_dir: Path) -> dict[str, object]:
    """Write ``case.network`` as ``out_dir/network.pcap`` and ``out_dir/network.pcapng``; return the key facts.

    The facts hold the packet count, first/last timestamp (float epoch seconds),
    the SHA-256 of both files, and per planned flow its 5-tuple, start/end,
    packets and bytes each way (frame bytes as ``tshark -z conv`` counts them,
    and payload bytes) plus the kind's own answers (DNS name/answer, HTTP body
    hash, FTP credentials and stored file hash, raw upload hash, SMTP envelope,
    message hash and login, IMAP login and fetched messages' hashes).
    """
    capture = build_capture(case)
    frames = capture.frames
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pcap, pcapng = out_dir / PCAP_NAME, out_dir / PCAPNG_NAME
    write_pcap(pcap, frames)
    write_pcapng(pcapng, frames, CaptureInfo(capture.start_us, capture.end_us, derived_seed(case.seed, "pcapng")))
    return {
        "pcap": PCAP_NAME,
        "pcapng": PCAPNG_NAME,
        "pcap_sha256": hashlib.sha256(pcap.read_bytes()).hexdigest(),
        "pcapng_sha256": hashlib.sha256(pcapng.read_bytes()).hexdigest(),
        "link_type": "ethernet",
        "capture_host": case.host(case.network.capture_host).ip,
        "packet_count": len(frames),
        "noise_packets": capture.noise,
        "first_timestamp": frames[0][0] / 1e6,
        "last_timestamp": frames[-1][0] / 1e6,
        "flows": capture.flows,
    }
