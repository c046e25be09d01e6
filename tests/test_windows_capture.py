"""The Windows workstation's capture, read back as an examiner reads it: tshark, capinfos and scapy.

The capture must tell the disk's story: the payload that ``--export-objects http`` pulls out has the SHA-256 of the
file TSK extracts from the built disk; each Remote Desktop connection comes from the address and port the Security
log's surviving 4624 (logon type 10) names, read by python-evtx and libevtx, a few seconds before that logon; the
answer key's figures (addresses, ports, times, packet and byte counts, the beacons) are what tshark counts. The same
case gives the same bytes; no feature an examiner could filter on tells the story's packets from the background
better than the bound the Linux captures keep (issue 14).

Port 3389 is read with ``-d tcp.port==3389,tls``: Wireshark 4.0's TPKT dissector owns the port and shows every
TLS record after the X.224 negotiation as "TPKT Continuation", which is what it shows of a real session too; an
examiner decodes it as TLS, as here.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import Evtx.Evtx as python_evtx
import pyevtx
import pytest
from scapy.layers.inet import IP
from scapy.layers.l2 import Ether
from scapy.utils import RawPcapNgReader, checksum

from dflab.evidence.network.pcapio import APPLICATION, HARDWARE, INTERFACE, OS
from dflab.evidence.network.tells import BOUND, read_packets, separations
from dflab.evidence.windows.workstation import build_workstation, decide
from dflab.evidence.windows.workstation import capture as capture_module
from dflab.evidence.windows.workstation.capture import build, capture_facts, workstation_capture
from tests.samples import tool
from tests.test_windows_workstation import CASE, EVENT_NS, listing, windows_partition

pytestmark = pytest.mark.xdist_group("windows_capture")
RDP_AS_TLS = ("-d", "tcp.port==3389,tls")


def run(*args: str) -> str:
    """A Wireshark tool's stdout; a missing tool fails the test."""
    exe = shutil.which(args[0])
    if exe is None:
        pytest.fail(f"{args[0]} is not installed (apt-get install tshark)")
    proc = subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def fields(path: Path, display_filter: str, *names: str, rdp_as_tls: bool = True) -> list[list[str]]:
    """``-T fields`` rows; ``rdp_as_tls=False`` leaves port 3389 to Wireshark's RDP dissector (the negotiation)."""
    decode = RDP_AS_TLS if rdp_as_tls else ()
    args = ["tshark", "-r", str(path), *decode, "-Y", display_filter, "-T", "fields", "-E", "separator=\t"]
    for name in names:
        args += ["-e", name]
    return [line.split("\t") for line in run(*args).splitlines()]


def epoch_us(text: str) -> int:
    """tshark's ``frame.time_epoch`` (nanoseconds) truncated to microseconds, the key's unit."""
    sec, _, frac = text.partition(".")
    return int(sec) * 1_000_000 + int((frac + "000000")[:6])


def key_us(text: str) -> int:
    when = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return int(when.timestamp()) * 1_000_000 + when.microsecond


@pytest.fixture(scope="module")
def workstation(tmp_path_factory: pytest.TempPathFactory):
    """The built workstation (disk and decisions), its capture written beside the disk image."""
    built = build_workstation(CASE)
    folder = tmp_path_factory.mktemp("windows-capture")
    built.write(folder / "disk.img", folder / "answers.json")
    (folder / "workstation.pcapng").write_bytes(workstation_capture(CASE, built.decided))
    return built, folder


@pytest.fixture(scope="module")
def pcap(workstation) -> Path:
    return workstation[1] / "workstation.pcapng"


@pytest.fixture(scope="module")
def facts(workstation) -> dict:
    return capture_facts(CASE, workstation[0].decided)


def icat(image: Path, path: str, out: Path) -> Path:
    offset = windows_partition(image)
    address = listing(image, offset, "-u")[path]
    out.write_bytes(subprocess.run([tool("icat"), "-o", str(offset), str(image), address], check=True,
                                   capture_output=True, timeout=300).stdout)
    return out


# -- two parsers, one file ---------------------------------------------------------------------------------------------

def test_tshark_and_scapy_read_the_same_frames_and_capinfos_names_the_box(workstation, pcap, facts):
    built, _ = workstation
    frames = build(CASE, built.decided).frames
    rows = fields(pcap, "", "frame.time_epoch", "frame.len")
    assert len(rows) == len(frames) == facts["packets"]
    raw = [(pkt, meta) for pkt, meta in RawPcapNgReader(str(pcap))]
    assert [p for p, _ in raw] == [f for _, f in frames]
    assert [((m.tshigh << 32) | m.tslow) // 1000 for _, m in raw] == [epoch_us(t) for t, _ in rows]
    assert [int(n) for _, n in rows] == [len(p) for p, _ in raw]
    for data, _ in raw[:: max(1, len(raw) // 3000)]:  # scapy dissects a sample of every kind; checksums hold
        packet = Ether(data)
        if IP in packet:
            assert checksum(bytes(packet[IP])[: packet[IP].ihl * 4]) == 0
    info = run("capinfos", str(pcap))
    for line in (f"Capture hardware:    {HARDWARE}", f"Capture oper-sys:    {OS}",
                 f"Capture application: {APPLICATION}", f"Name = {INTERFACE}", "Time precision = nanoseconds (9)",
                 f"Number of packets = {facts['packets']}"):
        assert line in info, (line, info)


def test_tshark_finds_nothing_malformed_and_every_checksum_right(pcap):
    """Every frame dissected with checksums verified: no error, and the one warning a real Windows capture shows
    too (LLMNR asks twice, 100 ms apart). Thrift's heuristic takes a random Delivery Optimization piece for a call
    now and then, so it is left out. The X.224 negotiation is read by Wireshark's own RDP dissector."""
    checks = ("-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE")
    report = run("tshark", "-r", str(pcap), *RDP_AS_TLS, "--disable-protocol", "thrift", *checks, "-q", "-z",
                 "expert,warn")
    assert "Errors (" not in report, report
    warnings = [line for line in report.splitlines() if line.startswith(" " * 10) and line.strip()[:1].isdigit()]
    assert warnings and all("LLMNR  DNS query retransmission" in line for line in warnings), warnings
    negotiation = run("tshark", "-r", str(pcap), "-q", "-z", "expert,warn,tcp.port == 3389 && tcp.seq == 1 && tcp.len")
    assert "Errors (" not in negotiation and "Warns (" not in negotiation, negotiation
    rows = fields(pcap, "rdp.neg_type", "rdp.negReq.requestedProtocols", "rdp.negReq.selectedProtocol",
                  rdp_as_tls=False)
    assert rows == [["0x0000000b", ""], ["", "0x00000002"]] * 2  # TLS + CredSSP asked, CredSSP (NLA) chosen


# -- the story on the wire, against the disk ---------------------------------------------------------------------------

def test_export_objects_gives_the_payload_with_the_disks_sha256(workstation, pcap, facts, tmp_path):
    built, folder = workstation
    on_disk = icat(folder / "disk.img", built.decided.payload, tmp_path / "payload.from-disk")
    out = tmp_path / "objects"
    out.mkdir()
    run("tshark", "-r", str(pcap), "-q", "--export-objects", f"http,{out}")
    name = CASE.payload_name
    exported = hashlib.sha256((out / name).read_bytes()).hexdigest()
    assert exported == hashlib.sha256(on_disk.read_bytes()).hexdigest() == facts["download"]["sha256"]
    (row,) = fields(pcap, f'http.request.uri == "{facts["download"]["path"]}"', "ip.src", "ip.dst",
                    "http.user_agent", "http.referer", "frame.time_epoch")
    assert row[:3] == [facts["workstation_ip"], facts["download_server_ip"], facts["download"]["user_agent"]]
    assert row[3] == CASE.download_url.rsplit("/", 1)[0] + "/"  # the page the Zone.Identifier's ReferrerUrl names
    assert epoch_us(row[4]) == key_us(facts["download"]["request_time"])
    activity = built.decided.activity  # History's download: the head arrives as it starts, the body ends by its end
    started, finished = (int(t.timestamp()) * 1_000_000 for t in (activity.download_started,
                                                                   activity.download_finished))
    assert started - 1_000_000 < epoch_us(row[4]) < started
    (done,) = fields(pcap, f'http.content_type == "{facts["download"]["content_type"]}"', "frame.time_epoch")
    assert started < epoch_us(done[0]) == key_us(facts["download"]["response_end"]) <= finished


def _security_rdp_logons(path: Path) -> list[tuple[str, int, str, int]]:
    """(IpAddress, IpPort, TargetUserName, time in µs) of each 4624 type 10, read by python-evtx and libevtx."""
    def pick(xml: str) -> tuple[str, int, str, int] | None:
        event = ET.fromstring(xml)
        if event.findtext(f"{EVENT_NS}System/{EVENT_NS}EventID") != "4624":
            return None
        data = {d.get("Name"): d.text for d in event.find(f"{EVENT_NS}EventData")}
        if data["LogonType"] != "10":
            return None
        created = event.find(f"{EVENT_NS}System/{EVENT_NS}TimeCreated").get("SystemTime")
        when = datetime.fromisoformat(created.replace("Z", "").split("+")[0][:26]).replace(tzinfo=UTC)
        return data["IpAddress"], int(data["IpPort"]), data["TargetUserName"], int(when.timestamp() * 1e6)

    with python_evtx.Evtx(str(path)) as log:
        by_python = [r for r in (pick(rec.xml()) for rec in log.records()) if r]
    log = pyevtx.file()
    log.open(str(path))
    try:
        by_libevtx = [r for r in (pick(rec.xml_string) for rec in log.records) if r]
    finally:
        log.close()
    assert [r[:3] for r in by_python] == [r[:3] for r in by_libevtx]
    assert all(abs(a[3] - b[3]) < 1000 for a, b in zip(by_python, by_libevtx, strict=True))
    return by_libevtx


def test_rdp_connections_come_from_the_address_and_port_the_security_log_names(workstation, pcap, facts, tmp_path):
    built, folder = workstation
    security = icat(folder / "disk.img", "Windows/System32/winevt/Logs/Security.evtx", tmp_path / "Security.evtx")
    logons = _security_rdp_logons(security)
    assert logons, "the Security log keeps the returning intruder's 4624"
    syns = fields(pcap, "tcp.dstport == 3389 && tcp.flags.syn == 1 && tcp.flags.ack == 0", "ip.src", "tcp.srcport",
                  "frame.time_epoch", "tcp.stream")
    assert len(syns) == len(facts["rdp"]) == 2
    # mstsc opens each connection from a new ephemeral port: two visits hours apart never share one
    assert len({(s[0], int(s[1])) for s in syns}) == 2, syns
    for ip, port, user, when in logons:
        matching = [s for s in syns if s[0] == ip and int(s[1]) == port and 0 < when - epoch_us(s[2]) < 10_000_000]
        assert len(matching) == 1, (ip, port, when, syns)
        stream = matching[0][3]
        (cookie,) = fields(pcap, f"tcp.stream == {stream} && rdp.rt_cookie", "rdp.rt_cookie", rdp_as_tls=False)
        assert cookie == [f"Cookie: mstshash={user}"]
        hello = fields(pcap, f"tcp.stream == {stream} && tls.handshake.type == 1",
                       "tls.handshake.extensions_server_name")
        assert hello == [[""]]  # mstsc connects to an address: no SNI
        last = fields(pcap, f"tcp.stream == {stream}", "frame.time_epoch")[-1][0]
        assert epoch_us(last) > when  # the session goes on after the logon


def test_key_figures_are_what_tshark_counts(pcap, facts):
    ws = facts["workstation_ip"]
    assert [c["host"] for c in facts["search"]] == ["www.google.com", "www.gstatic.com"]
    for conv in [*facts["rdp"], facts["download"], *facts["search"]]:
        rows = fields(pcap, f"ip.addr == {conv['client_ip']} && tcp.port == {conv['client_port']} && "
                            f"ip.addr == {conv['server_ip']} && tcp.port == {conv['server_port']}",
                      "frame.time_epoch", "ip.src", "frame.len", "tcp.len")
        if conv is facts["rdp"][0]:  # both sessions share the one source port the Security log names
            rows = [r for r in rows if epoch_us(r[0]) <= key_us(conv["end"])]
        elif conv is facts["rdp"][1]:
            rows = [r for r in rows if epoch_us(r[0]) >= key_us(conv["start"])]
        up = [r for r in rows if r[1] == conv["client_ip"]]
        down = [r for r in rows if r[1] == conv["server_ip"]]
        assert len(rows) == conv["packets"]
        assert epoch_us(rows[0][0]) == key_us(conv["start"]) and epoch_us(rows[-1][0]) == key_us(conv["end"])
        assert sum(int(r[2]) for r in up) == conv["frame_bytes_client_to_server"]
        assert sum(int(r[2]) for r in down) == conv["frame_bytes_server_to_client"]
        assert sum(int(r[3]) for r in up) == conv["payload_bytes_client_to_server"]
        assert sum(int(r[3]) for r in down) == conv["payload_bytes_server_to_client"]
    beacons = facts["beacons"]
    syns = fields(pcap, f"ip.src == {ws} && ip.dst == {facts['c2_ip']} && tcp.dstport == {facts['c2_port']} && "
                        "tcp.flags.syn == 1 && tcp.flags.ack == 0", "frame.time_epoch", "tcp.srcport")
    assert [key_us(t) for t in beacons["times"]] == [epoch_us(t) for t, _ in syns]
    assert beacons["client_ports"] == [int(p) for _, p in syns] and beacons["count"] == len(syns)
    names = fields(pcap, f"ip.dst == {facts['c2_ip']} && tls.handshake.type == 1",
                   "tls.handshake.extensions_server_name")
    assert {n for (n,) in names} == {facts["c2_host"]} and len(names) == beacons["count"]
    lookups = fields(pcap, f'dns.qry.name == "{facts["c2_host"]}" && dns.flags.response == 0 && dns.qry.type == 1',
                     "frame.time_epoch", "ip.src", "ip.dst")
    assert [key_us(t) for t in beacons["lookups"]] == [epoch_us(t) for t, _, _ in lookups]
    assert {(s, d) for _, s, d in lookups} == {(ws, facts["resolver_ip"])}
    answers = fields(pcap, f'dns.qry.name == "{facts["c2_host"]}" && dns.a', "dns.a")
    assert {a for (a,) in answers} == {facts["c2_ip"]}
    gaps = [b - a for a, b in zip([key_us(t) for t in beacons["times"]], [key_us(t) for t in beacons["times"][1:]],
                                  strict=False)]
    period = beacons["period_s"] * 1_000_000
    regular = [g for g in gaps if g < 2 * period]  # the night between the two runs is the one long gap
    assert len(regular) == len(gaps) - 1
    assert all(abs(g - period) <= period * beacons["jitter"] + 2_000_000 for g in regular)
    assert len({g // 1_000_000 for g in regular}) >= beacons["period_s"] * beacons["jitter"]  # jittered, no metronome
    (first, last) = (key_us(facts["start"]), key_us(facts["end"]))
    times = [epoch_us(t) for (t,) in fields(pcap, "frame.number == 1 || frame.number == " + str(facts["packets"]),
                                            "frame.time_epoch")]
    assert first <= times[0] and times[-1] <= last


def certificates(path: Path) -> list[tuple[str, str, str, datetime, datetime]]:
    """Every certificate the capture shows, as tshark's X.509 dissector reads it: (subject's and issuer's common
    names, serial number, notBefore, notAfter), in frame order."""
    out, names, times, serial = [], [], [], ""
    text = run("tshark", "-r", str(path), *RDP_AS_TLS, "-Y", "tls.handshake.certificate", "-O", "tls", "-V")
    for line in text.splitlines() + ["signedCertificate"]:
        line = line.strip()
        if line.startswith("signedCertificate"):
            if names:
                assert len(names) == len(times) == 2, (names, times)
                out.append((names[1], names[0], serial, *times))
            names, times = [], []
        elif line.startswith("serialNumber:"):
            serial = line.split(": ", 1)[1]
        elif line.startswith("rdnSequence:"):  # the issuer's, then the subject's
            names.append(re.findall(r"id-at-commonName=([^,)]*)", line)[-1])
        elif line.startswith("utcTime:"):
            times.append(datetime.strptime(line.split(": ", 1)[1], "%Y-%m-%d %H:%M:%S (UTC)").replace(tzinfo=UTC))
    return out


def test_servers_certificates_are_dated_as_real_servers_are(pcap, facts):
    """Each TLS 1.2 server shows one certificate on every connection, its leaf issued to a second of its own some
    time before the capture, every certificate of its chain valid from the first packet to the last; the C2's is
    Let's Encrypt's (R10 or R11 since June 2024, R3 retired), 90 days less a second, issued days to weeks before."""
    start, end = (datetime.fromtimestamp(key_us(facts[k]) // 1_000_000, UTC) for k in ("start", "end"))
    seen = certificates(pcap)
    authorities = {issuer for subject, issuer, *_ in seen if issuer != subject}  # the CAs (RDP's signs itself)
    issued: dict[str, set[tuple[str, str, datetime, datetime]]] = {}
    for subject, issuer, serial, not_before, not_after in seen:
        assert not_before < start and end < not_after, (subject, not_before, not_after, start, end)
        if subject not in authorities:  # a server's own certificate
            issued.setdefault(subject, set()).add((issuer, serial, not_before, not_after))
    assert facts["c2_host"] in issued and len(issued) >= 5, sorted(issued)
    assert all(len(certs) == 1 for certs in issued.values()), issued  # one certificate per server
    firsts = [not_before for ((_, _, not_before, _),) in issued.values()]
    assert len(set(firsts)) == len(firsts), sorted(firsts)
    ((issuer, _, not_before, not_after),) = issued[facts["c2_host"]]
    first_beacon = datetime.fromtimestamp(key_us(facts["beacons"]["first"]) // 1_000_000, UTC)
    assert issuer in ("R10", "R11") and not_after - not_before == timedelta(days=90, seconds=-1), issued
    assert timedelta(days=1) < first_beacon - not_before < timedelta(days=60), (not_before, first_beacon)


def test_tcp_from_the_workstation_is_windows_10s_stack(pcap, facts):
    rows = fields(pcap, f"ip.src == {facts['workstation_ip']} && tcp.flags.syn == 1 && tcp.flags.ack == 0",
                  "ip.ttl", "tcp.window_size_value", "tcp.option_kind")
    assert rows and {tuple(r) for r in rows} == {("128", "64240", "2,1,3,1,1,4")}


# -- reproducible, and no tell ---------------------------------------------------------------------------------------

def test_same_case_same_bytes_other_seed_other_capture(workstation):
    built, folder = workstation
    first = (folder / "workstation.pcapng").read_bytes()
    capture_module._cache.clear()
    again = workstation_capture(CASE, decide(CASE))
    assert hashlib.sha256(again).digest() == hashlib.sha256(first).digest()
    other = replace(CASE, seed="case-7/trainee-13")
    assert hashlib.sha256(workstation_capture(other, decide(other))).digest() != hashlib.sha256(first).digest()


def test_no_feature_tells_the_story_from_the_background(tmp_path):
    """Issue 14's bound, as the Linux captures keep it, pooled over three variants."""
    runs = []
    for n, seed in enumerate(("case-7/trainee-12", "case-7/trainee-3", "case-9/alice")):
        case = replace(CASE, seed=seed)
        decided = decide(case)
        path = tmp_path / f"{n}.pcapng"
        path.write_bytes(workstation_capture(case, decided))
        runs.append((read_packets(path), {i + 1 for i in build(case, decided).planned}))
    rows = separations(*runs)
    assert len(rows) == 13 and all(r.scenario and r.background for r in rows), rows
    told = [f"{r.feature}: {r.auc}" for r in rows if r.auc > BOUND]
    assert not told, f"features separating the story from the background: {told}"
