"""``write_network``: the capture of the suspect's segment, as pcap and pcapng, plus its answer-key facts."""

from __future__ import annotations

import hashlib
import heapq
import random
from pathlib import Path

from dflab.errors import EvidenceError
from dflab.evidence.network.arp import arp_exchange
from dflab.evidence.network.conversation import Frame, to_us
from dflab.evidence.network.noise import NoiseMaker
from dflab.evidence.network.pcapio import write_pcap, write_pcapng
from dflab.evidence.network.planned import PlannedFlows
from dflab.evidence.network.segment import Segment, derived_seed
from dflab.scenario.case import Case

PCAP_NAME = "network.pcap"
PCAPNG_NAME = "network.pcapng"


def _reserved_ports(case: Case) -> set[int]:
    """Client ports the planned flows use, which noise must not reuse."""
    net = case.network
    ports = {q.client_port for q in net.dns} | {h.client_port for h in net.http} | {r.client_port for r in net.raw}
    ports |= {s.client_port for s in net.smtp} | {m.client_port for m in net.imap}
    for f in net.ftp:
        ports |= {f.client_port, f.data_client_port}
    return ports


def _resolver_ip(case: Case) -> str:
    """The resolver the planned lookups use (noise asks the same one), else the gateway."""
    net = case.network
    return case.host(net.dns[0].resolver).ip if net.dns else case.host(net.gateway).ip


def build_frames(case: Case) -> tuple[list[Frame], list[dict[str, object]], int]:
    """All frames in capture order, the planned flows' facts and the noise frame count."""
    net = case.network
    seg = Segment(case)
    start = to_us(net.start)
    me, gw = seg.endpoint(seg.capture.ip), seg.endpoint(seg.gateway.ip)
    streams: list[list[Frame]] = [arp_exchange(random.Random(derived_seed(case.seed, "network-arp")), start, me, gw)]
    planned = PlannedFlows(case, seg)
    planned.render()
    end = to_us(net.end)
    for where, first, last in planned.spans:
        if first < start:
            raise EvidenceError("flow starts before the capture window (network.start)", where)
        if last > end:
            raise EvidenceError("flow ends after the capture window (network.end)", where)
    streams += [conv.in_time_order() for conv in planned.conversations]
    noise_units = NoiseMaker(case, seg, _reserved_ports(case), _resolver_ip(case)).frames(net.noise_packets)
    streams += [sorted(unit, key=lambda f: f[0]) for unit in noise_units]
    # Merge by time; ties go to the earlier stream and, within a stream, keep its order.
    keyed = ([(t, s, i, frame) for i, (t, frame) in enumerate(stream)] for s, stream in enumerate(streams))
    frames = [(t, frame) for t, _, _, frame in heapq.merge(*keyed)]
    return frames, planned.facts, sum(len(u) for u in noise_units)


def write_network(case: Case, out_dir: Path) -> dict[str, object]:
    """Write ``case.network`` as ``out_dir/network.pcap`` and ``out_dir/network.pcapng``; return the key facts.

    The facts hold the packet count, first/last timestamp (float epoch seconds),
    the SHA-256 of both files, and per planned flow its 5-tuple, start/end,
    packets and bytes each way (frame bytes as ``tshark -z conv`` counts them,
    and payload bytes) plus the kind's own answers (DNS name/answer, HTTP body
    hash, FTP credentials and stored file hash, raw upload hash, SMTP envelope,
    message hash and login, IMAP login and fetched messages' hashes).
    """
    frames, flows, noise = build_frames(case)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pcap, pcapng = out_dir / PCAP_NAME, out_dir / PCAPNG_NAME
    write_pcap(pcap, frames)
    write_pcapng(pcapng, frames)
    return {
        "pcap": PCAP_NAME,
        "pcapng": PCAPNG_NAME,
        "pcap_sha256": hashlib.sha256(pcap.read_bytes()).hexdigest(),
        "pcapng_sha256": hashlib.sha256(pcapng.read_bytes()).hexdigest(),
        "link_type": "ethernet",
        "capture_host": case.host(case.network.capture_host).ip,
        "packet_count": len(frames),
        "noise_packets": noise,
        "first_timestamp": frames[0][0] / 1e6,
        "last_timestamp": frames[-1][0] / 1e6,
        "flows": flows,
    }
