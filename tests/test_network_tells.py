"""No tell in the capture (issue 14, item 1): the case's packets look like the background's, read back with tshark.

The core of ``benchmarks/tells.py`` as assertions: for every feature an examiner could filter on, the best single
threshold separates the planned frames from the background with a ROC AUC of at most 0.75, pooled over three
variants of each bundled case. Planted tells (whole-second timestamps, IP IDs stuck at zero) are caught by the
same measure, so the bound is not met by a measure that sees nothing. The rest reads what the background is made
of with tshark: every TLS ClientHello names a host resolved just before, AAAA questions beside the A ones (with
addresses or an SOA), TCP options as each OS sends them.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from scapy.utils import checksum

from dflab.evidence.network.conversation import Frame
from dflab.evidence.network.pcapio import write_pcap
from dflab.evidence.network.tells import BOUND, read_packets, separations
from dflab.evidence.network.writer import Capture, build_capture
from dflab.scenario.case import Case
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.load import load_spec
from dflab.scenario.resolve import resolve
from tests.test_network_writer import fields  # tshark -T fields, as the writer tests read captures

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ("nightjar", "kestrel")
TRAINEES = ("default", "alice", "bob")
Built = dict[str, list[tuple[Case, Capture, Path]]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("tells")
    result: Built = {}
    for name in SCENARIOS:
        spec = load_spec(ROOT / "labs" / "scenarios" / f"{name}.yaml")
        for trainee in TRAINEES:
            case = resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, trainee), trainee)
            capture = build_capture(case)
            path = out / f"{name}-{trainee}.pcap"
            write_pcap(path, capture.frames)
            result.setdefault(name, []).append((case, capture, path))
    return result


def planned_numbers(capture: Capture) -> set[int]:
    return {i + 1 for i in capture.planned}


def replanted(capture: Capture, path: Path, change: Callable[[Frame], Frame]) -> tuple[Path, set[int]]:
    """The capture with ``change`` applied to every planned frame, re-sorted by time, and its planned numbers."""
    frames = [(change(f) if i in capture.planned else f, i in capture.planned) for i, f in enumerate(capture.frames)]
    frames.sort(key=lambda x: x[0][0])
    out = path.with_name(path.stem + "-planted.pcap")
    write_pcap(out, [f for f, _ in frames])
    return out, {n + 1 for n, (_, mine) in enumerate(frames) if mine}


@pytest.mark.xdist_group("tells")
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_no_feature_tells_the_case_from_the_background(built: Built, scenario: str) -> None:
    rows = separations(*[(read_packets(path), planned_numbers(cap)) for _, cap, path in built[scenario]])
    assert len(rows) == 13 and all(r.scenario and r.background for r in rows), rows
    told = [f"{r.feature}: {r.auc}" for r in rows if r.auc > BOUND]
    assert not told, f"{scenario}: features separating the case from the background: {told}"


@pytest.mark.xdist_group("tells")
def test_whole_second_timestamps_are_caught(built: Built) -> None:
    """The old writer's tell (flows starting on the second), planted on every planned frame, is found."""
    runs = [replanted(cap, path, lambda f: (f[0] - f[0] % 1_000_000, f[1])) for _, cap, path in built["nightjar"]]
    rows = {r.feature: r.auc for r in separations(*[(read_packets(p), planned) for p, planned in runs])}
    assert rows["timestamp fraction"] > BOUND and rows["flow start fraction"] > BOUND, rows


def _ip_id_zero(frame: Frame) -> Frame:
    t, data = frame
    if data[12:14] != b"\x08\x00":
        return frame
    header = bytearray(data[14:34])
    header[4:6] = b"\0\0"
    header[10:12] = b"\0\0"
    struct.pack_into("!H", header, 10, checksum(bytes(header)))
    return t, data[:14] + bytes(header) + data[34:]


@pytest.mark.xdist_group("tells")
def test_ip_ids_stuck_at_zero_are_caught(built: Built) -> None:
    """A stack that never counts its IP IDs, planted on the planned frames, stands out."""
    runs = [replanted(cap, path, _ip_id_zero) for _, cap, path in built["kestrel"]]
    rows = {r.feature: r.auc for r in separations(*[(read_packets(p), planned) for p, planned in runs])}
    assert rows["IP ID step"] > BOUND, rows


@pytest.mark.xdist_group("tells")
def test_planted_frames_mixing_with_background_in_a_stream_are_refused(built: Built) -> None:
    """Labels must follow whole flows: a stream half planned, half background, is a writer bug, said so."""
    _, capture, path = built["nightjar"][0]
    packets = read_packets(path)
    first_tcp = next(p for p in packets if p.flow and p.flow[0] == "tcp" and p.number not in planned_numbers(capture))
    with pytest.raises(ValueError, match="mixes planned and background"):
        separations((packets, planned_numbers(capture) | {first_tcp.number}))


@pytest.mark.xdist_group("tells")
def test_every_client_hello_names_a_host_resolved_before(built: Built) -> None:
    for scenario, runs in built.items():
        for _, _, path in runs[:1]:
            hellos = fields(path, "tls.handshake.type == 1", "frame.time_epoch", "tls.handshake.extensions_server_name",
                            "ip.dst", "tls.handshake.extensions.supported_version")
            assert len(hellos) > 20, (scenario, path)
            answers: dict[str, list[tuple[float, str]]] = {}
            for t, name, a, cname in fields(path, "dns.flags.response == 1 && dns.qry.type == 1", "frame.time_epoch",
                                             "dns.qry.name", "dns.a", "dns.cname"):
                answers.setdefault(name, []).append((float(t), a))
                assert a, (name, cname)
            for t, sni, dst, versions in hellos:
                resolved = [a for at, a in answers.get(sni, []) if at < float(t)]
                assert resolved and dst in resolved[-1].split(","), (sni, dst, path)
                assert "0x0304" in versions  # TLS 1.3 offered
            # every name resolved is contacted: over TLS, by NetworkManager's check over HTTP, or by the case's flows
            contacted = {sni for _, sni, _, _ in hellos} | {h.rstrip(".") for (h,) in fields(path, "http.request",
                                                                                             "http.host")}
            contacted |= {q.qname for case, _, _ in runs for q in case.network.dns}
            assert set(answers) <= contacted, set(answers) - contacted


@pytest.mark.xdist_group("tells")
def test_aaaa_questions_beside_the_a_ones(built: Built) -> None:
    for runs in built.values():
        for case, _, path in runs[:1]:
            rows = fields(path, "dns", "dns.flags.response", "dns.qry.name", "dns.qry.type", "dns.aaaa",
                          "dns.soa.mname", "dns.cname", "dns.count.add_rr")
            questions = [(r[1], r[2]) for r in rows if r[0] in ("0", "False")]
            asked_a = {n for n, t in questions if t == "1"}
            asked_aaaa = {n for n, t in questions if t == "28"}
            assert asked_a == asked_aaaa and len(asked_a) > 10  # systemd-resolved asks both for every name
            answers = [r for r in rows if r[0] in ("1", "True") and r[2] == "28"]
            with_v6 = [r for r in answers if r[3]]
            nodata = [r for r in answers if not r[3]]
            assert with_v6 and all(":" in a for r in with_v6 for a in r[3].split(","))
            assert nodata and all(r[4] for r in nodata)  # no AAAA: the zone's SOA says so (RFC 2308)
            assert any(r[5] for r in answers)  # CNAME chains
            assert all(r[6] == "1" for r in rows)  # EDNS0 everywhere
            for q in case.network.dns:  # the case's own names: no IPv6, an SOA
                mine = [r for r in nodata if r[1] == q.qname]
                assert len(mine) == 1, q.qname


def _options(path: Path, display_filter: str) -> set[tuple[str, int, str, str]]:
    """(option kinds, the sender's initial TTL, window scale shift, window) of the matching segments."""
    rows = fields(path, display_filter, "tcp.option_kind", "ip.ttl", "tcp.options.wscale.shift",
                  "tcp.window_size_value")
    return {(kinds, 64 if int(ttl) <= 64 else 128 if int(ttl) <= 128 else 255, shift, window)
            for kinds, ttl, shift, window in rows}


@pytest.mark.xdist_group("tells")
def test_tcp_options_as_each_os_sends_them(built: Built) -> None:
    for runs in built.values():
        for case, _, path in runs[:1]:
            me = case.host(case.network.capture_host).ip
            # Linux 6.x: MSS, SACK_PERM, TS, NOP, WS 7 in the SYN; the window 64240
            assert _options(path, f"tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.src == {me}") == {
                ("2,4,8,1,3", 64, "7", "64240")}
            synacks = _options(path, f"tcp.flags.syn == 1 && tcp.flags.ack == 1 && ip.dst == {me}")
            assert ("2,4,8,1,3", 64, "7", "65160") in synacks  # Linux servers answer in kind
            assert synacks <= {("2,4,8,1,3", 64, "7", "65160"), ("2,1,3,1,1,4", 128, "8", "65535")}, synacks
            data = {k for (k,) in fields(path, f"tcp.len > 0 && ip.src == {me}", "tcp.option_kind")}
            assert data == {"1,1,8", ""}, data  # timestamps, except towards Windows servers, which refuse them
    kestrel = built["kestrel"][0]
    victims = [h for h in kestrel[1].flows if h["kind"] == "http" and h["server_port"] == 8080]
    assert victims
    for v in victims:  # the victims' phones and PCs: iOS and Windows stacks, by their User-Agent
        syn = _options(kestrel[2], f"tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.src == {v['client_ip']}")
        assert syn in ({("2,1,3,1,1,8,4,0,0", 64, "6", "65535")}, {("2,1,3,1,1,4", 128, "8", "64240")}), syn
