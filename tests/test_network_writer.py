"""The network writer, checked with the tools a trainee uses: tshark, capinfos and scapy.

Every assertion compares against what the Case planned (names, credentials,
hashes, ports, byte counts), not just "the tool ran"; the background is held to
what the machine it claims to be would send (issue 14: NTP at timesyncd's pace,
NetworkManager's check every 300 s, server TTLs and options of the OS they run,
resets and retransmissions only where no answer depends on them). tshark missing
is a failure, never a skip.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.utils import PcapNgReader, PcapReader, rdpcap

from dflab.errors import EvidenceError
from dflab.evidence.network import write_network
from dflab.evidence.network.conversation import to_us
from dflab.evidence.network.noise import SECOND, NoiseMaker, _State
from dflab.evidence.network.pcapio import APPLICATION, HARDWARE, INTERFACE, OS, _sub_microseconds
from dflab.evidence.network.segment import Segment
from dflab.evidence.network.sites import SITES
from dflab.evidence.network.writer import Capture, build_capture
from dflab.scenario.case import Case, HttpTransfer, RawTransfer
from tests.small_case import T0, small_case

CAPTURES = ("network.pcap", "network.pcapng")
CHECKSUMS = ("-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE")
BIG_BODY = hashlib.sha256(b"big").digest() * 9000  # 288 KiB: many windows of MSS segments
POST_BODY = b"user=jdoe&token=" + b"A" * 5000
Written = tuple[Path, dict[str, Any], Case]  # output dir, facts returned by write_network, the case


def tshark(*args: str, tool: str = "tshark") -> str:
    """Run tshark (or another Wireshark tool) and return stdout; a missing tool fails the test."""
    exe = shutil.which(tool)
    if exe is None:
        pytest.fail(f"{tool} is not installed (apt-get install tshark)")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def fields(path: Path, display_filter: str, *names: str) -> list[list[str]]:
    """``-T fields`` rows of the frames matching ``display_filter``."""
    args = ["-r", str(path), "-Y", display_filter, "-T", "fields", "-E", "separator=\t"]
    for name in names:
        args += ["-e", name]
    return [line.split("\t") for line in tshark(*args).splitlines()]


def micros(t: Any) -> int:
    """A packet time as scapy reads it (a Decimal, nanoseconds in pcapng) in whole microseconds, truncated."""
    return int(Decimal(t).scaleb(6))


def rich_case() -> Case:
    """The small case plus a large download, a POST with Basic auth, and a two-way raw session."""
    case = small_case()
    net = case.network
    extra_http = (
        HttpTransfer(T0 + 800.0, "suspect", "drop", 49830, 80, "GET", "files.example.org", "/tools/kit.tar",
                     "curl/7.81.0", 200, "application/x-tar", response_body=BIG_BODY),
        HttpTransfer(T0 + 900.0, "suspect", "drop", 49831, 80, "POST", "files.example.org", "/upload.php",
                     "curl/7.81.0", 201, "text/plain", response_body=b"stored\n", request_body=POST_BODY,
                     basic_auth=("exfil", "s3cr3t!")),
    )
    shell = RawTransfer(T0 + 2000.0, "suspect", "c2", 49840, 4444, upload=b"uid=1000(jdoe)\n" * 300,
                        download=b"id; cat /etc/passwd\n" * 100, label="reverse-shell")
    return dataclasses.replace(case, network=dataclasses.replace(net, http=net.http + extra_http,
                                                                 raw=(*net.raw, shell)))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Written:
    out = tmp_path_factory.mktemp("small")
    case = small_case()
    return out, write_network(case, out), case


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Written:
    out = tmp_path_factory.mktemp("rich")
    case = rich_case()
    return out, write_network(case, out), case


Busy = tuple[Path, dict[str, Any], Case, Capture]


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Busy:
    """The rich case with 5000 background frames, and what the writer knows of which frames are planned."""
    out = tmp_path_factory.mktemp("busy")
    case = rich_case()
    case = dataclasses.replace(case, network=dataclasses.replace(case.network, noise_packets=5000))
    return out, write_network(case, out), case, build_capture(case)


def flow(facts: dict[str, Any], kind: str, index: int = 0) -> dict[str, Any]:
    return next(f for f in facts["flows"] if f["kind"] == kind and f["index"] == index)


def stream_of(path: Path, client_port: int) -> int:
    """tshark's tcp.stream index of the connection from ``client_port``."""
    out = tshark("-r", str(path), "-Y", f"tcp.srcport=={client_port} && tcp.flags.syn==1 && tcp.flags.ack==0",
                 "-T", "fields", "-e", "tcp.stream")
    return int(out.split()[0])


def follow_raw(path: Path, stream: int) -> tuple[bytes, bytes]:
    """Reassembled (client → server, server → client) bytes of a TCP stream via ``-z follow,tcp,raw``."""
    out = tshark("-r", str(path), "-q", "-z", f"follow,tcp,raw,{stream}")
    sent, received = bytearray(), bytearray()
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Node 1:")) + 1
    for line in lines[start:]:
        if line.startswith("="):
            break
        if line.startswith("\t"):
            received += bytes.fromhex(line.strip())
        elif line:
            sent += bytes.fromhex(line)
    return bytes(sent), bytes(received)


@pytest.mark.parametrize("name", CAPTURES)
@pytest.mark.parametrize("which", ["small", "rich"])
def test_tshark_reports_no_errors_or_malformed(name: str, which: str, request: pytest.FixtureRequest) -> None:
    out, _, _ = request.getfixturevalue(which)
    expert = tshark("-r", str(out / name), *CHECKSUMS, "-q", "-z", "expert")
    assert "Errors (" not in expert and "Malformed" not in expert, expert
    bad = tshark("-r", str(out / name), *CHECKSUMS, "-Y", "_ws.malformed || _ws.expert.severity >= warning")
    assert bad == ""


@pytest.mark.parametrize("name", CAPTURES)
def test_scapy_reads_back_with_valid_checksums(small: Written, name: str) -> None:
    out, facts, _ = small
    packets = rdpcap(str(out / name))
    assert len(packets) == facts["packet_count"]
    reader = PcapNgReader if name.endswith("ng") else PcapReader
    with reader(str(out / name)) as r:
        assert sum(1 for _ in r) == facts["packet_count"]
    assert micros(packets[0].time) == round(facts["first_timestamp"] * 1e6)
    assert micros(packets[-1].time) == round(facts["last_timestamp"] * 1e6)
    for pkt in packets:
        if IP not in pkt:
            assert ARP in pkt
            continue
        ip = pkt[IP]
        rebuilt = ip.copy()
        del rebuilt.chksum
        layer = TCP if TCP in ip else UDP
        del rebuilt[layer].chksum
        again = IP(bytes(rebuilt))
        assert again.chksum == ip.chksum
        assert again[layer].chksum == ip[layer].chksum


def test_timestamps_ordered_and_inside_window(small: Written) -> None:
    out, facts, case = small
    times = [int(p.time * 1_000_000) for p in rdpcap(str(out / "network.pcap"))]
    assert times == sorted(times)
    assert case.network.start <= facts["first_timestamp"] <= facts["last_timestamp"] <= case.network.end


def test_starts_with_arp_for_gateway_and_uses_right_macs(small: Written) -> None:
    out, _, case = small
    packets = rdpcap(str(out / "network.pcap"))
    me, gw, resolver = case.host("suspect"), case.host("gateway"), case.host("resolver")
    assert packets[0][ARP].op == 1 and packets[0][ARP].pdst == gw.ip and packets[0][Ether].dst == "ff:ff:ff:ff:ff:ff"
    assert packets[1][ARP].op == 2 and packets[1][ARP].hwsrc == gw.mac and packets[1][ARP].pdst == me.ip
    for pkt in packets:
        if IP not in pkt:
            continue
        if pkt[IP].dst == "224.0.0.251":  # mDNS: any host of the segment sends it, to the group's own MAC
            assert pkt[Ether].dst == "01:00:5e:00:00:fb" and (pkt[IP].src != me.ip or pkt[Ether].src == me.mac)
            continue
        for ip, mac in ((pkt[IP].src, pkt[Ether].src), (pkt[IP].dst, pkt[Ether].dst)):
            expected = {me.ip: me.mac, resolver.ip: resolver.mac}.get(ip, gw.mac)
            assert mac == expected, (ip, mac)


def test_dns_query_and_answer(small: Written) -> None:
    """glibc (a Debian desktop runs no systemd-resolved) asks A (the planned transaction) then AAAA from the same
    socket, each with its own id; the case's name has no IPv6."""
    out, facts, case = small
    q = case.network.dns[0]
    rows = tshark("-r", str(out / "network.pcap"), "-Y", f'dns.qry.name == "{q.qname}"', "-T", "fields",
                  "-e", "dns.flags.response", "-e", "dns.qry.type", "-e", "dns.id", "-e", "udp.srcport", "-e", "dns.a",
                  "-e", "dns.soa.mname", "-e", "udp.stream").splitlines()
    # tshark 4.0 (Debian 12) prints a boolean field as 0/1, tshark 4.4 (Debian 13) as False/True.
    rows = [row.replace("False\t", "0\t", 1).replace("True\t", "1\t", 1).split("\t") for row in rows]
    a = [r[:6] for r in rows if r[1] == "1"]
    assert a == [["0", "1", f"0x{q.txid:04x}", str(q.client_port), "", ""],
                 ["1", "1", f"0x{q.txid:04x}", "53", q.answer, ""]]
    aaaa = [r for r in rows if r[1] == "28"]
    assert [r[0] for r in aaaa] == ["0", "1"] and aaaa[0][3] == str(q.client_port) and aaaa[0][2] != a[0][2]
    assert aaaa[1][4:6] == ["", "ns1.example.net"]  # no AAAA record: the zone's SOA (RFC 2308 NODATA)
    assert len({r[6] for r in rows}) == 1  # one socket: one UDP stream (systemd-resolved used one per question)
    fact = flow(facts, "dns")
    assert q.time < fact["start"] < q.time + 1 and fact["packets"] == 2


@pytest.mark.parametrize("name", CAPTURES)
def test_http_export_objects_match_planned_bodies(rich: Written, name: str,
                                                  tmp_path: Path) -> None:
    out, facts, case = rich
    tshark("-r", str(out / name), "-q", "--export-objects", f"http,{tmp_path}")
    exported = {hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    for i, h in enumerate(case.network.http):
        assert h.response_sha256 in exported
        assert flow(facts, "http", i)["response_sha256"] == h.response_sha256
    assert "update.bin" in {p.name for p in tmp_path.iterdir()}


def test_http_request_fields_and_basic_auth(rich: Written) -> None:
    out, facts, _ = rich
    rows = tshark("-r", str(out / "network.pcap"), "-Y", "http.request && tcp.dstport == 80 && "
                  "(ip.dst == 203.0.113.45 || ip.dst == 198.51.100.77)", "-T", "fields", "-e", "http.request.method",
                  "-e", "http.host", "-e", "http.request.uri", "-e", "http.user_agent", "-e", "http.authbasic",
                  "-e", "http.content_length").splitlines()
    assert rows == [
        "GET\tcdn-update.example.net\t/update.bin\tWget/1.21.2\t\t",
        "GET\tfiles.example.org\t/tools/kit.tar\tcurl/7.81.0\t\t",
        f"POST\tfiles.example.org\t/upload.php\tcurl/7.81.0\texfil:s3cr3t!\t{len(POST_BODY)}",
    ]
    post = flow(facts, "http", 2)
    sent, _ = follow_raw(out / "network.pcap", stream_of(out / "network.pcap", 49831))
    assert sent.endswith(b"\r\n\r\n" + POST_BODY)
    assert post["payload_bytes_client_to_server"] == len(sent)
    assert post["basic_auth"] == ["exfil", "s3cr3t!"]


def test_ftp_login_and_stored_file(small: Written) -> None:
    out, facts, case = small
    f = case.network.ftp[0]
    pcap = out / "network.pcap"
    rows = tshark("-r", str(pcap), "-Y", "ftp.request.command", "-T", "fields", "-e", "ftp.request.command",
                  "-e", "ftp.request.arg").splitlines()
    assert rows == [f"USER\t{f.user}", f"PASS\t{f.password}", "TYPE\tI", "PASV\t", f"STOR\t{f.stor_name}", "QUIT\t"]
    codes = tshark("-r", str(pcap), "-Y", "ftp.response.code", "-T", "fields", "-e", "ftp.response.code").split()
    assert codes == ["220", "331", "230", "200", "227", "150", "226", "221"]
    pasv = tshark("-r", str(pcap), "-Y", "ftp.response.code == 227", "-T", "fields", "-e", "ftp.passive.port")
    assert int(pasv) == f.data_port
    sent, received = follow_raw(pcap, stream_of(pcap, f.data_client_port))
    assert sent == f.stor_data and received == b""
    fact = flow(facts, "ftp")
    assert (fact["user"], fact["password"]) == (f.user, f.password)
    assert fact["stor_sha256"] == hashlib.sha256(f.stor_data).hexdigest()
    assert fact["data"]["payload_bytes_client_to_server"] == len(f.stor_data)


def conversations(path: Path) -> dict[tuple[str, str], list[str]]:
    """``-z conv,tcp`` rows: (A addr:port, B addr:port) → [frames A←B, bytes A←B, frames A→B, bytes A→B].

    tshark prints byte counts with a unit ("4514 bytes", "296 kB"), so the
    counts are kept as the text tshark shows.
    """
    table: dict[tuple[str, str], list[str]] = {}
    for line in tshark("-r", str(path), "-q", "-z", "conv,tcp").splitlines():
        parts = line.split()
        if len(parts) > 8 and parts[1] == "<->":
            table[(parts[0], parts[2])] = [parts[3], f"{parts[4]} {parts[5]}", parts[6], f"{parts[7]} {parts[8]}"]
    return table


@pytest.mark.parametrize("name", CAPTURES)
def test_exfiltration_conversation_and_payload(rich: Written, name: str) -> None:
    out, facts, case = rich
    path = out / name
    table = conversations(path)
    for i, r in enumerate(case.network.raw):
        fact = flow(facts, "raw", i)
        row = table[(f"{case.host(r.client).ip}:{r.client_port}", f"{case.host(r.server).ip}:{r.server_port}")]
        # tshark lists "A <- B" (server → client) first, then "A -> B".
        assert row == [str(fact["packets_server_to_client"]), f"{fact['frame_bytes_server_to_client']} bytes",
                       str(fact["packets_client_to_server"]), f"{fact['frame_bytes_client_to_server']} bytes"]
        assert fact["payload_bytes_client_to_server"] == len(r.upload)
        assert fact["upload_sha256"] == hashlib.sha256(r.upload).hexdigest()
        sent, received = follow_raw(path, stream_of(path, r.client_port))
        assert (sent, received) == (r.upload, r.download)


def test_planned_flows_start_within_a_second_of_their_planned_times(rich: Written) -> None:
    """A program's first packet lags the typed command; never on the second, always inside the planned second."""
    _, facts, case = rich
    net = case.network
    planned: dict[str, tuple[Any, ...]] = {"dns": net.dns, "http": net.http, "ftp": net.ftp, "raw": net.raw}
    for kind, flows in planned.items():
        for i, p in enumerate(flows):
            start = flow(facts, kind, i)["start"]
            assert p.time + 0.002 <= start <= p.time + 0.6, (kind, i, start - p.time)


def test_deterministic_and_noise_seed_matters(small: Written, tmp_path: Path) -> None:
    out, facts, case = small
    again = write_network(case, tmp_path / "again")
    for name in CAPTURES:
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes()
    assert again == facts
    reseeded = dataclasses.replace(case, network=dataclasses.replace(case.network, noise_seed=8))
    other = write_network(reseeded, tmp_path / "other")
    assert (tmp_path / "other" / "network.pcap").read_bytes() != (out / "network.pcap").read_bytes()
    assert other["flows"] == facts["flows"]  # planned flows do not depend on the noise
    assert other["packet_count"] == facts["packet_count"]


def test_noise_count_is_exact(small: Written) -> None:
    _, facts, case = small
    capture = build_capture(case)
    counted = sum(f["packets"] + (f["data"]["packets"] if f.get("data") else 0) for f in facts["flows"])
    assert len(capture.planned) == counted + 2  # the key's flows, and the AAAA transaction beside the A one
    assert facts["noise_packets"] == case.network.noise_packets
    assert facts["packet_count"] == 2 + len(capture.planned) + case.network.noise_packets


@pytest.mark.parametrize("name", CAPTURES)
def test_scale_5000_noise_packets(busy: Busy, name: str) -> None:
    """Nothing malformed, no expert warning but the resets Firefox sends now and then (never in a planned flow)."""
    out, facts, _, capture = busy
    assert facts["noise_packets"] == 5000
    with PcapReader(str(out / "network.pcap")) as r:
        assert sum(1 for _ in r) == facts["packet_count"]
    bad = tshark("-r", str(out / name), *CHECKSUMS, "-Y",
                 "_ws.malformed || (_ws.expert.severity >= warning && !tcp.connection.rst)")
    assert bad == ""
    # Firefox resets 1.5 % of its connections: about one of the ~70 these 5000 frames hold, so there may be none.
    resets = [int(n) for (n,) in fields(out / name, "tcp.flags.reset == 1", "frame.number")]
    assert not {n - 1 for n in resets} & capture.planned


def test_retransmissions_only_where_no_answer_depends_on_them(busy: Busy) -> None:
    """A few segments are lost past the mirror port and sent again; no planned flow loses one, so each planned
    byte (a password, a file) is on the wire once, as the key counts it."""
    out, facts, _, capture = busy
    again = [int(n) for (n,) in fields(out / "network.pcap", "tcp.analysis.retransmission", "frame.number")]
    assert 0 < len(again) < facts["packet_count"] // 500
    assert not {n - 1 for n in again} & capture.planned


def test_pcapng_names_the_capture_box_interface_and_application(busy: Busy) -> None:
    out, facts, _, _ = busy
    info = tshark(str(out / "network.pcapng"), tool="capinfos")
    for line in (f"Capture hardware:    {HARDWARE}", f"Capture oper-sys:    {OS}",
                 f"Capture application: {APPLICATION}", f"Name = {INTERFACE}", f"Operating system = {OS}",
                 "Time precision = nanoseconds (9)", f"Number of packets:   {facts['packet_count']}",
                 f"Number of packets = {facts['packet_count']}"):
        assert line in info, (line, info)


def test_pcap_is_the_pcapng_at_microsecond_resolution(busy: Busy) -> None:
    """The pcapng's times carry nanoseconds; the pcap holds the same frames, each time truncated (editcap)."""
    out, _, _, _ = busy
    with PcapNgReader(str(out / "network.pcapng")) as ng, PcapReader(str(out / "network.pcap")) as classic:
        pairs = list(zip(ng, classic, strict=True))
    assert all(bytes(a) == bytes(b) and micros(a.time) == micros(b.time) for a, b in pairs)
    assert len({int(Decimal(a.time).scaleb(9)) % 1000 for a, _ in pairs}) > 900  # sub-microsecond digits vary
    assert min(len(bytes(a)) for a, _ in pairs) == 60  # short frames padded, as on the wire the mirror copies


def test_ntp_at_systemd_timesyncd_pace(tmp_path: Path) -> None:
    """Polls 32 s after the first sync, doubling up to 2048 s: shown on a host booted just before the capture."""
    case = small_case()
    net = dataclasses.replace(case.network, noise_packets=600)
    case = dataclasses.replace(case, network=net, memory=dataclasses.replace(case.memory, boot_time=net.start - 20))
    write_network(case, tmp_path)
    times = [float(t) for (t,) in fields(tmp_path / "network.pcap", "ntp.flags.mode == 3", "frame.time_epoch")]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) >= 5 and any(abs(gaps[0] - 32 * 2**k) < 1 for k in range(7)), gaps
    assert all(abs(b - min(2048, 2 * a)) < 2 for a, b in zip(gaps, gaps[1:], strict=False)), gaps


def test_background_servers_claim_what_their_ttl_and_options_say(busy: Busy) -> None:
    """Linux servers answer with TTL below 64 and Linux's options, Windows ones below 128 and Windows' layout;
    the case's servers, announcing Ubuntu, are Linux."""
    out, _, case, _ = busy
    me = case.host("suspect").ip
    synacks = fields(out / "network.pcap", f"tcp.flags.syn == 1 && tcp.flags.ack == 1 && ip.dst == {me}",
                     "ip.src", "ip.ttl", "tcp.option_kind")
    assert len(synacks) > 50
    for src, ttl, kinds in synacks:
        assert (kinds, int(ttl) <= 64) in {("2,4,8,1,3", True), ("2,1,3,1,1,4", False)}, (src, ttl, kinds)
        assert 40 <= int(ttl) < 128
    planned = {case.host(h).ip for h in ("c2", "drop")}
    assert {src for src, ttl, kinds in synacks if src in planned} == planned
    assert all(int(ttl) < 64 for src, ttl, _ in synacks if src in planned)


def test_firefox_checks_for_a_captive_portal_and_no_request_repeats_beyond_it(busy: Busy) -> None:
    """Debian's NetworkManager checks no connectivity; Firefox ESR's captive-portal check does, backing off."""
    out, _, case, _ = busy
    rows = fields(out / "network.pcap", "http.request", "frame.time_epoch", "http.host", "http.request.uri",
                  "http.user_agent")
    checks = [float(t) for t, host, _, _ in rows if host == "detectportal.firefox.com"]
    gaps = [b - a for a, b in zip(checks, checks[1:], strict=False)]
    assert checks and all(any(abs(g - s) < 1 for s in (300, 1500)) for g in gaps), gaps
    assert all(uri == "/canonical.html" and "Firefox/128.0" in ua
               for _, host, uri, ua in rows if host == "detectportal.firefox.com")
    others = [(host, uri) for _, host, uri, _ in rows if host != "detectportal.firefox.com"]
    assert len(others) == len(set(others)) == len(case.network.http)  # every other request is the case's own


def test_flow_outside_capture_window_is_refused(tmp_path: Path) -> None:
    case = small_case()
    late = dataclasses.replace(case, network=dataclasses.replace(case.network, end=case.network.raw[0].time + 0.01))
    with pytest.raises(EvidenceError, match=r"network\.raw\[0\]"):
        write_network(late, tmp_path)


def server_problems(rows: list[list[str]], php_server: str) -> list[str]:
    """Each HTTP response's headers against the OS its sender's packets show: ``php_server`` (the suspect's own
    ``php -S``) names no Server and says ``X-Powered-By: PHP/8.2.x`` (Debian 12's php8.2); another server names
    its software, one of its stack's (no IIS from a TTL-64 Linux host, no Linux distribution from Windows)."""
    problems = []
    for src, ttl, server, lines in rows:
        if src == php_server:
            if server:
                problems.append(f"{src}: php -S sends no Server header, this one says {server!r}")
            if not re.search(r"X-Powered-By: PHP/8\.2\.\d+\\r\\n", lines):
                problems.append(f"{src}: no X-Powered-By of Debian 12's PHP 8.2 in {lines!r}")
            continue
        linux = int(ttl) <= 64
        if not server:
            problems.append(f"{src}: a web server with no Server header")
        elif linux and "IIS" in server or not linux and re.search(r"Ubuntu|Debian|Unix", server):
            problems.append(f"{src}: {server!r} from a host whose TTL {ttl} says {'Linux' if linux else 'Windows'}")
    return problems


def test_each_server_announces_its_own_software(tmp_path: Path) -> None:
    """The suspect serving a page with ``php -S``, the C2 and Firefox's captive-portal server, read by tshark."""
    case = small_case()
    served = HttpTransfer(T0 + 700.0, "drop", "suspect", 51544, 8080, "POST", "kit.example.org", "/login.php",
                          "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0", 200,
                          "text/html", response_body=b"<html>ok</html>", request_body=b"e=a&p=b")
    case = dataclasses.replace(case, network=dataclasses.replace(case.network, http=(*case.network.http, served)))
    write_network(case, tmp_path)
    rows = fields(tmp_path / "network.pcap", "http.response", "ip.src", "ip.ttl", "http.server", "http.response.line")
    suspect = case.host(case.suspect_host).ip
    assert suspect in {r[0] for r in rows} and case.host("c2").ip in {r[0] for r in rows}
    assert server_problems(rows, suspect) == []
    # Planted: Ubuntu's nginx on the suspect's php -S, a Linux server claiming IIS, Windows claiming Debian.
    php = next(r for r in rows if r[0] == suspect)
    other = next(r for r in rows if r[0] != suspect)
    assert any("no Server header" in p for p in server_problems([[*php[:2], "nginx/1.18.0 (Ubuntu)", php[3]]], suspect))
    assert any("X-Powered-By" in p for p in server_problems([[*php[:3], "Connection: close\\r\\n"]], suspect))
    assert any("says Linux" in p for p in server_problems([[*other[:2], "Microsoft-IIS/10.0", other[3]]], suspect))
    assert any("says Windows" in p for p in server_problems([[other[0], "118", "Apache/2.4.62 (Debian)", ""]],
                                                            suspect))



def test_a_name_goes_back_to_the_wire_once_firefox_s_cache_lets_it_go() -> None:
    """A Debian desktop has no caching resolver: Firefox's host cache spares the wire for 60 s, then glibc asks the
    LAN's resolver again even while the record's TTL (an hour here) still runs, as systemd-resolved would not."""
    case = small_case()
    maker = NoiseMaker(case, Segment(case), set(), case.host("resolver").ip)
    host = SITES[0].main
    maker.answers[host.name] = dataclasses.replace(maker.answers[host.name], ttl=3600)
    state, t = _State(), to_us(case.network.start) + 10 * SECOND

    def asked(at: int) -> int:
        frames, _ = maker._resolve(at, host, state)
        return len([f for f in frames if f[1][23] == 17])  # UDP frames: the questions and answers

    assert asked(t) == 4  # A and AAAA, each answered
    assert asked(t + 30 * SECOND) == 0  # Firefox's cache
    assert asked(t + 90 * SECOND) == 4  # gone from Firefox's cache: glibc asks again, the TTL notwithstanding


@pytest.mark.parametrize("n", [0, 1, 37, 5000])
def test_sub_microseconds_are_randint_drawn_in_bulk(n: int) -> None:
    """pcapng's sub-microsecond digits are drawn in bulk from the Mersenne Twister's outputs: the very numbers
    ``randint(0, 999)`` gives one by one, and the generator left where those calls leave it (what is drawn after
    them, the capture's end time, depends on it)."""
    import random

    bulk, single = random.Random(n), random.Random(n)
    assert _sub_microseconds(bulk, n) == [single.randint(0, 999) for _ in range(n)]
    assert bulk.getstate() == single.getstate()
