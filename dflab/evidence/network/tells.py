"""How well one feature of a capture tells the case's packets from the background: a ROC AUC per feature.

An examiner who finds the case by a filter (``frame.time_epoch`` ending in ``.000000000``, TTL 249, window
64240 on every segment) has found a generator, not an incident. So each feature below is read back from the
written capture with tshark, as the examiner would read it, and scored by how well the best single threshold on
it separates the frames the writer planned (the scenario) from the background: the area under the ROC curve,
folded so that 0.5 means "no better than chance" and 1.0 "a perfect filter".

Numeric features are ranked by value. A categorical feature (the sender's initial TTL, TCP option layout, IP ID
step, DNS query type) has no order, so each category is scored by the share of its packets that are the
scenario's, which is the best order any threshold can exploit. Two features are numbers on purpose, not
categories: the TTL (an exact TTL names a path as an address names a host; a threshold still catches a generator's
wrong distance, and the initial TTL its wrong OS, such as 249 from a server announcing Ubuntu) and the server port
(the exfiltration's odd port is the case's finding, which lab 04 teaches looking for; a generator's tell would be
whole classes of ports, all high or all low, which a threshold on the number catches).

One variant holds a few planned flows, so its figures are a small sample; :func:`separations` pools the values
of several captures (each feature computed within its own capture, a name's frequency included).

The labels come from the writer (:func:`dflab.evidence.network.writer.build_capture` returns which frames are
planned); they never reach the evidence.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dflab.errors import ToolError
from dflab.evidence.network.pcapio import write_pcap
from dflab.evidence.network.writer import build_capture
from dflab.scenario.case import Case

BOUND = 0.75  # issue 14: no feature may separate scenario from background better than this

_FIELDS = ("frame.number", "frame.time_epoch", "frame.len", "ip.ttl", "ip.id", "ip.src", "ip.dst", "tcp.stream",
           "udp.stream", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "tcp.window_size_value",
           "tcp.option_kind", "dns.qry.type", "dns.qry.name")


@dataclass(frozen=True)
class Packet:
    """The fields of one frame the features are computed from (None where the frame has no such field)."""

    number: int
    time_ns: int
    length: int
    ttl: int | None
    ip_id: int | None
    src: str | None
    dst: str | None
    flow: tuple[str, int] | None  # ("tcp", tcp.stream) or ("udp", udp.stream)
    sport: int | None
    dport: int | None
    window: int | None
    options: str | None  # TCP option kinds in wire order, "2,4,8,1,3"; "" for none; None if not TCP
    qtype: str | None
    qname: str | None


@dataclass(frozen=True)
class Separation:
    """One feature's figure: how many units each side had and the folded AUC."""

    feature: str
    unit: str  # "packet" or "flow"
    kind: str  # "numeric" or "categorical"
    scenario: int
    background: int
    auc: float


def _int(text: str, base: int = 10) -> int | None:
    first = text.split(",", maxsplit=1)[0]
    return int(first, base) if first else None


def _time_ns(text: str) -> int:
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9])


def read_packets(capture: Path) -> list[Packet]:
    """Every frame of ``capture`` as tshark dissects it (a missing tshark is one ToolError line)."""
    exe = shutil.which("tshark")
    if exe is None:
        raise ToolError("tshark is not installed (apt-get install tshark)", "tells")
    args = [exe, "-r", str(capture), "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a"]
    for name in _FIELDS:
        args += ["-e", name]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ToolError(f"tshark failed: {proc.stderr.strip()[-300:]}", str(capture))
    packets = []
    for line in proc.stdout.splitlines():
        f = dict(zip(_FIELDS, line.split("\t"), strict=True))
        tcp, udp = _int(f["tcp.stream"]), _int(f["udp.stream"])
        flow = ("tcp", tcp) if tcp is not None else ("udp", udp) if udp is not None else None
        is_tcp = tcp is not None
        packets.append(Packet(
            number=int(f["frame.number"]), time_ns=_time_ns(f["frame.time_epoch"]), length=int(f["frame.len"]),
            ttl=_int(f["ip.ttl"]), ip_id=_int(f["ip.id"], 16), src=f["ip.src"].split(",")[0] or None,
            dst=f["ip.dst"].split(",")[0] or None, flow=flow,
            sport=_int(f["tcp.srcport"] if is_tcp else f["udp.srcport"]),
            dport=_int(f["tcp.dstport"] if is_tcp else f["udp.dstport"]),
            window=_int(f["tcp.window_size_value"]), options=f["tcp.option_kind"] if is_tcp else None,
            qtype=f["dns.qry.type"].split(",")[0] or None, qname=f["dns.qry.name"].split(",")[0] or None))
    return packets


def auc(scenario: Sequence[float], background: Sequence[float]) -> float:
    """P(a scenario value > a background value) + half the ties (Mann-Whitney), folded to at least 0.5."""
    if not scenario or not background:
        return 0.5
    values = sorted([(v, True) for v in scenario] + [(v, False) for v in background], key=lambda x: x[0])
    rank_sum, i = 0.0, 0
    while i < len(values):
        j = i
        while j < len(values) and values[j][0] == values[i][0]:
            j += 1
        mean_rank = (i + 1 + j) / 2  # ranks i+1 .. j share their mean
        rank_sum += mean_rank * sum(1 for _, mine in values[i:j] if mine)
        i = j
    n_s, n_b = len(scenario), len(background)
    area = (rank_sum - n_s * (n_s + 1) / 2) / (n_s * n_b)
    return max(area, 1 - area)


def categorical_auc(scenario: Sequence[object], background: Sequence[object]) -> float:
    """The AUC of the best order of the categories: each scored by the share of its units that are scenario."""
    s, b = Counter(scenario), Counter(background)
    share = {c: s[c] / (s[c] + b[c]) for c in s.keys() | b.keys()}
    return auc([share[c] for c in scenario], [share[c] for c in background])


def _ip_id_step(packets: Iterable[Packet]) -> dict[int, str]:
    """Per frame: how its IP ID follows the previous one from the same sender in the same flow."""
    last: dict[tuple, int] = {}
    steps = {}
    for p in packets:
        if p.ip_id is None or p.flow is None:
            continue
        key = (p.flow, p.src, p.sport)
        prev = last.get(key)
        last[key] = p.ip_id
        if prev is None:
            steps[p.number] = "first, zero" if p.ip_id == 0 else "first"
        else:
            delta = (p.ip_id - prev) & 0xFFFF
            steps[p.number] = ("zero" if p.ip_id == 0 and prev == 0 else "+0" if delta == 0 else "+1" if delta == 1
                               else "+2..16" if delta <= 16 else "other")
    return steps


def _inter_arrival(packets: Iterable[Packet]) -> dict[int, int]:
    """Per frame: nanoseconds since the previous frame of the same flow (first frames have none)."""
    last: dict[tuple[str, int], int] = {}
    gaps = {}
    for p in packets:
        if p.flow is None:
            continue
        if p.flow in last:
            gaps[p.number] = p.time_ns - last[p.flow]
        last[p.flow] = p.time_ns
    return gaps


PacketFeature = Callable[[Packet], object]
FlowFeature = Callable[[list[Packet]], float]
Values = dict[tuple[str, str, str], tuple[list, list]]  # (feature, unit, kind) → (scenario values, background values)


def _initial_ttl(ttl: int | None) -> int | None:
    """The TTL the sender's OS started from (64, 128 or 255): what p0f reads a TTL for."""
    return None if ttl is None else 64 if ttl <= 64 else 128 if ttl <= 128 else 255


def feature_values(packets: Sequence[Packet], planned: set[int]) -> Values:
    """Every feature's values in one capture, split by whether the frame (1-based, as tshark numbers it) is planned."""
    flows: dict[tuple[str, int], list[Packet]] = defaultdict(list)
    for p in packets:
        if p.flow is not None:
            flows[p.flow].append(p)
    for key, members in flows.items():
        mine = {p.number in planned for p in members}
        if len(mine) > 1:
            raise ValueError(f"{key[0]} stream {key[1]} mixes planned and background frames")
    steps, gaps = _ip_id_step(packets), _inter_arrival(packets)
    names = Counter(p.qname for p in packets if p.qname is not None)
    per_packet: list[tuple[str, str, PacketFeature]] = [
        ("timestamp fraction", "numeric", lambda p: p.time_ns % 1_000_000_000),
        ("inter-arrival in flow", "numeric", lambda p: gaps.get(p.number)),
        ("IP TTL", "numeric", lambda p: p.ttl),
        ("initial TTL (sender's OS)", "categorical", lambda p: _initial_ttl(p.ttl)),
        ("TCP window", "numeric", lambda p: p.window),
        ("TCP options layout", "categorical", lambda p: p.options),
        ("IP ID step", "categorical", lambda p: steps.get(p.number)),
        ("packet size", "numeric", lambda p: p.length),
        ("DNS query type", "categorical", lambda p: p.qtype),
        ("DNS name frequency", "numeric", lambda p: names[p.qname] if p.qname is not None else None),
    ]
    out: Values = {}
    for name, kind, value in per_packet:
        s, b = [], []
        for p in packets:
            v = value(p)
            if v is not None:
                (s if p.number in planned else b).append(v)
        out[(name, "packet", kind)] = (s, b)
    per_flow: list[tuple[str, FlowFeature]] = [
        ("flow start fraction", lambda m: m[0].time_ns % 1_000_000_000),
        ("flow duration", lambda m: m[-1].time_ns - m[0].time_ns),
        ("server port", lambda m: m[0].dport if m[0].dport is not None else -1),
    ]
    for name, flow_value in per_flow:
        s, b = [], []
        for members in flows.values():
            (s if members[0].number in planned else b).append(flow_value(members))
        out[(name, "flow", "numeric")] = (s, b)
    return out


def separations(*captures: tuple[Sequence[Packet], set[int]]) -> list[Separation]:
    """Each feature's separation over one or more captures (their values pooled: one variant is a small sample)."""
    pooled: Values = {}
    for packets, planned in captures:
        for key, (s, b) in feature_values(packets, planned).items():
            into = pooled.setdefault(key, ([], []))
            into[0].extend(s)
            into[1].extend(b)
    return [_row(name, unit, kind, s, b) for (name, unit, kind), (s, b) in pooled.items()]


def _row(name: str, unit: str, kind: str, s: list, b: list) -> Separation:
    figure = categorical_auc(s, b) if kind == "categorical" else auc(s, b)
    return Separation(name, unit, kind, len(s), len(b), round(figure, 3))


def capture_packets(case: Case, directory: Path) -> tuple[list[Packet], set[int]]:
    """Build ``case``'s capture, write it as pcap into ``directory`` and read it back: (frames, planned numbers)."""
    capture = build_capture(case)
    path = Path(directory) / f"{case.scenario_id}-{case.variant}.pcap"
    write_pcap(path, capture.frames)
    return read_packets(path), {i + 1 for i in capture.planned}
