"""dflab.forensics.pcap on captures built here: uploads, response-only streams, MPLS, PPPoE, IPv6 extension headers,
IP fragments and raw-IP link types, each cross-checked with tshark.

The frames are built with scapy and written by scapy's own pcap writer or by Wireshark's ``text2pcap`` (which sets
any link type); tcpdump is not installed on the test machines.  What tshark dissects, follows and exports from the
same file is the reference.  The link-layer captures are read in a fresh interpreter that imports only dflab: the
test process imports scapy layers to build frames, and a binding registered that way would hide one dflab lacks.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scapy.contrib.mpls import MPLS
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    fragment6,
)
from scapy.layers.l2 import Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

from dflab.forensics import pcap
from tests.samples import sample, tool

CLIENT, SERVER = "192.0.2.10", "198.51.100.7"
CLIENT6, SERVER6 = "2001:db8::10", "2001:db8:1::7"
MAC = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
FILE = bytes(range(256)) * 24 + b"end of the secret file\n"


def tshark(*args: str | Path) -> str:
    return subprocess.run([tool("tshark"), *map(str, args)], check=True, capture_output=True, text=True).stdout


def exported(capture: Path, folder: Path) -> list[tuple[str, str]]:
    """tshark --export-objects http: (file name without tshark's "(n)" de-duplication, sha256), sorted."""
    folder.mkdir()
    tshark("-r", capture, "-q", "--export-objects", f"http,{folder}")
    return sorted((re.sub(r"\(\d+\)", "", p.name), hashlib.sha256(p.read_bytes()).hexdigest())
                  for p in folder.iterdir())


def fresh(capture: Path, expression: str) -> object:
    """Evaluate ``expression`` (over ``pcap`` and ``capture``) in a new interpreter that imports only dflab."""
    code = ("import json, sys; from dflab.forensics import pcap; capture = sys.argv[1]; "
            f"print(json.dumps({expression}, default=str))")
    done = subprocess.run([sys.executable, "-c", code, str(capture)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def conversation(request: bytes, response: bytes, wrap=lambda p: Ether(**MAC) / p, client: str = CLIENT,
                 server: str = SERVER, ip=IP, sport: int = 40123, handshake: bool = True,
                 send_request: bool = True, segment: int = 1400) -> list[Packet]:
    """One HTTP exchange over TCP as a stack sends it: handshake, request and response segments, ACKs, FIN."""
    c, s = ip(src=client, dst=server), ip(src=server, dst=client)
    cseq, sseq = 1000, 7000
    frames = []
    if handshake:
        frames += [c / TCP(sport=sport, dport=80, flags="S", seq=cseq - 1),
                   s / TCP(sport=80, dport=sport, flags="SA", seq=sseq - 1, ack=cseq),
                   c / TCP(sport=sport, dport=80, flags="A", seq=cseq, ack=sseq)]
    if send_request:
        frames += [c / TCP(sport=sport, dport=80, flags="PA", seq=cseq + i, ack=sseq) / request[i:i + segment]
                   for i in range(0, len(request), segment)]
    frames += [s / TCP(sport=80, dport=sport, flags="PA", seq=sseq + i, ack=cseq + len(request))
               / response[i:i + segment] for i in range(0, len(response), segment)]
    frames += [c / TCP(sport=sport, dport=80, flags="FA", seq=cseq + len(request), ack=sseq + len(response))]
    for number, frame in enumerate(frames):
        frame.time = 1_767_225_600 + number / 100
    return [wrap(frame) for frame in frames]


def response_for(body: bytes, content_type: str = "application/octet-stream", extra: str = "") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
            .encode() + body)


# ----------------------------------------------------------------- uploads

MULTIPART = (b"--dflabBoundary\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\nquarterly\r\n"
             b"--dflabBoundary\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"secret.bin\"\r\n"
             b"Content-Type: application/octet-stream\r\n\r\n" + FILE + b"\r\n--dflabBoundary--\r\n")


def test_multipart_and_put_uploads_are_exported_as_tshark_exports_them(tmp_path: Path) -> None:
    post = (b"POST /upload.php HTTP/1.1\r\nHost: drop.example\r\nUser-Agent: curl/8.5.0\r\n"
            b"Content-Type: multipart/form-data; boundary=dflabBoundary\r\n"
            + f"Content-Length: {len(MULTIPART)}\r\n\r\n".encode() + MULTIPART)
    put = (b"PUT /backup/db.sqlite HTTP/1.1\r\nHost: drop.example\r\nContent-Type: application/octet-stream\r\n"
           + f"Content-Length: {len(FILE)}\r\n\r\n".encode() + FILE)
    capture = tmp_path / "uploads.pcap"
    wrpcap(str(capture), conversation(post, response_for(b"stored\n", "text/plain"))
           + conversation(put, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", sport=40124))

    objects = pcap.http_objects(capture)
    assert sorted(zip(objects.filename, objects.sha256, strict=True)) == exported(capture, tmp_path / "objects")
    assert objects[["direction", "method", "filename", "status"]].values.tolist() == [
        ["request", "POST", "upload.php", 200], ["response", "POST", "upload.php", 200],
        ["request", "PUT", "db.sqlite", 201]]
    assert objects.body[0] == MULTIPART and objects.complete.all()

    uploads = pcap.http_uploads(capture)
    assert uploads[["method", "url", "filename", "content_type", "size", "status"]].values.tolist() == [
        ["POST", "http://drop.example/upload.php", "secret.bin", "application/octet-stream", len(FILE), 200],
        ["PUT", "http://drop.example/backup/db.sqlite", "db.sqlite", "application/octet-stream", len(FILE), 201]]
    assert uploads.field[0] == "upload" and pd.isna(uploads.field[1])  # a PUT body is no form field
    assert set(uploads.sha256) == {hashlib.sha256(FILE).hexdigest()}
    # tshark's MIME multipart dissector: the parts' Content-Disposition and data, in order.
    dispositions, data = tshark("-r", capture, "-Y", "mime_multipart", "-T", "fields", "-e",
                                "mime_multipart.header.content-disposition", "-e", "data.data").strip().split("\t")
    assert 'filename="secret.bin"' in dispositions.split(",")[1]
    assert bytes.fromhex(data.split(",")[1]) == uploads.body[0]


def test_third_party_form_post_body_is_exported() -> None:
    capture = sample("pcap/zeek_http_post.pcap")
    request = pcap.http_objects(capture).query("direction == 'request'")
    assert request[["method", "filename", "content_type", "size"]].values.tolist() == [
        ["POST", "post", "application/x-www-form-urlencoded", 11]]
    assert request.body.iloc[0] == b"hello world"  # tshark's exported "post", and its follow tcp,ascii
    assert pcap.http_uploads(capture)[["filename", "size"]].values.tolist() == [["post", 11]]


def test_response_only_stream_is_exported(tmp_path: Path) -> None:
    """The capture began after the request was sent: only the server's answer and the client's FIN are there."""
    body = bytes(range(251)) * 30
    capture = tmp_path / "late.pcap"
    wrpcap(str(capture), conversation(b"GET /files/loot.zip HTTP/1.1\r\nHost: c2.example\r\n\r\n",
                                      response_for(body, "application/zip",
                                                   'Content-Disposition: attachment; filename="loot.zip"\r\n'),
                                      handshake=False, send_request=False))
    objects = pcap.http_objects(capture)
    [(_, tshark_sha)] = exported(capture, tmp_path / "objects")
    assert objects[["direction", "server", "server_port", "client", "url", "method", "status", "filename",
                    "sha256", "complete"]].values.tolist() == [
        ["response", SERVER, 80, CLIENT, None, None, 200, "loot.zip", tshark_sha, True]]
    assert objects.sha256[0] == hashlib.sha256(body).hexdigest()
    assert len(pcap.http_requests(capture)) == 0


# ----------------------------------------------------------------- link layers and IPv6 extension headers

def _ethernet(capture: Path, wrap) -> None:
    wrpcap(str(capture), conversation(b"GET /tool.bin HTTP/1.1\r\nHost: x.example\r\n\r\n", response_for(FILE),
                                      wrap=wrap))


def _text2pcap(frames: list[Packet], capture: Path, linktype: int) -> None:
    """Write ``frames`` (no link layer) with Wireshark's text2pcap and link type ``linktype``."""
    dump = "".join(f"0000 {bytes(frame).hex(' ')}\n" for frame in frames)
    subprocess.run([tool("text2pcap"), "-q", "-l", str(linktype), "-", str(capture)], input=dump, text=True,
                   check=True, capture_output=True)


LINK_LAYERS = {
    "mpls": lambda p: Ether(**MAC, type=0x8847) / MPLS(label=10021, s=0, ttl=63) / MPLS(label=17, s=1, ttl=63) / p,
    "pppoe": lambda p: Ether(**MAC, type=0x8864) / PPPoE(sessionid=0x2a) / PPP(proto=0x0021) / p,
    "vlan-pppoe": lambda p: Ether(**MAC) / Dot1Q(vlan=7) / PPPoE(sessionid=0x2a) / PPP(proto=0x0021) / p,
}


@pytest.mark.parametrize("name", list(LINK_LAYERS))
def test_ipv4_behind_mpls_and_pppoe_reads_as_tshark_reads_it(name: str, tmp_path: Path) -> None:
    capture = tmp_path / f"{name}.pcap"
    _ethernet(capture, LINK_LAYERS[name])
    rows = fresh(capture, "pcap.packets(capture)[['src', 'dst', 'proto', 'sport', 'dport']].values.tolist()")
    fields = tshark("-r", capture, "-T", "fields", "-E", "separator=,", "-e", "ip.src", "-e", "ip.dst",
                    "-e", "tcp.srcport", "-e", "tcp.dstport")
    assert [[a, b, "TCP", int(c), int(d)] for a, b, c, d in (line.split(",") for line in fields.split())] == rows
    sha = fresh(capture, "pcap.http_objects(capture).sha256.tolist()")
    assert sha == [sha for _, sha in exported(capture, tmp_path / "objects")] == [hashlib.sha256(FILE).hexdigest()]


def test_ipv6_extension_headers_are_walked_to_tcp(tmp_path: Path) -> None:
    def ipv6_with_extensions(src: str, dst: str) -> Packet:
        return (IPv6(src=src, dst=dst) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(addresses=[])
                / IPv6ExtHdrDestOpt())

    capture = tmp_path / "v6ext.pcap"
    wrpcap(str(capture), conversation(b"GET /tool.bin HTTP/1.1\r\nHost: x.example\r\n\r\n", response_for(FILE),
                                      client=CLIENT6, server=SERVER6, ip=ipv6_with_extensions))
    packets = pcap.packets(capture)
    nxt = tshark("-r", capture, "-T", "fields", "-e", "ipv6.nxt", "-e", "tcp.srcport").split("\n")[0].split("\t")
    assert nxt == ["0", "40123"]  # the IPv6 header names hop-by-hop, yet tshark finds the TCP behind it
    assert set(packets.proto) == {"TCP"} and packets.sport[0] == 40123
    objects = pcap.http_objects(capture)
    assert objects.sha256.tolist() == [sha for _, sha in exported(capture, tmp_path / "objects")]
    assert objects.server[0] == SERVER6


@pytest.mark.parametrize("linktype,version", [(101, 4), (101, 6), (228, 4), (229, 6), (12, 6), (14, 4)])
def test_raw_ip_link_types(linktype: int, version: int, tmp_path: Path) -> None:
    """LINKTYPE_RAW (101) and the platforms' DLT_RAW numbers (12; 14 on OpenBSD) carry either version; 228/229 one."""
    client, server, ip = (CLIENT, SERVER, IP) if version == 4 else (CLIENT6, SERVER6, IPv6)
    frames = conversation(b"GET /tool.bin HTTP/1.1\r\nHost: x.example\r\n\r\n", response_for(FILE), wrap=lambda p: p,
                          client=client, server=server, ip=ip)
    capture = tmp_path / "raw.pcap"
    _text2pcap(frames, capture, linktype)
    addresses = tshark("-r", capture, "-T", "fields", "-e", f"ip{'v6' if version == 6 else ''}.src").split()
    assert len(addresses) == len(frames)  # tshark dissects every frame as IPv{version}
    rows = fresh(capture, "pcap.packets(capture)[['src', 'proto']].values.tolist()")
    assert rows == [[a, "TCP"] for a in addresses]
    assert fresh(capture, "pcap.http_objects(capture).sha256.tolist()") == [hashlib.sha256(FILE).hexdigest()]


# ----------------------------------------------------------------- IP fragments

def _dns_answer(count: int) -> Packet:
    return DNS(id=0x5151, qr=1, qd=DNSQR(qname="cdn.example.", qtype="A"),
               an=[DNSRR(rrname="cdn.example.", type="A", ttl=60, rdata=f"203.0.113.{i}") for i in range(count)])


def test_ipv4_fragments_are_reassembled_as_tshark_does(tmp_path: Path) -> None:
    """A DNS answer of 90 records (2.4 kB) over UDP in 800-byte fragments, the last sent first, then an HTTP download
    whose TCP segments were each fragmented on the way."""
    answer = IP(src=SERVER, dst=CLIENT, id=0x4242) / UDP(sport=53, dport=5353) / _dns_answer(90)
    pieces = fragment(answer, fragsize=800)
    count = len(pieces)
    assert count >= 3
    frames = [Ether(**MAC) / p for p in [pieces[-1], *pieces[:-1]]]
    for index, packet in enumerate(conversation(b"GET /tool.bin HTTP/1.1\r\nHost: x.example\r\n\r\n",
                                                response_for(FILE), wrap=lambda p: p, segment=3000)):
        packet[IP].id = 100 + index
        frames += [Ether(**MAC) / p for p in fragment(packet, fragsize=1000)]
    capture = tmp_path / "fragments.pcap"
    wrpcap(str(capture), frames)

    packets = pcap.packets(capture)
    protocols = tshark("-r", capture, "-T", "fields", "-e", "_ws.col.Protocol").split()
    assert protocols[:count] == ["IPv4"] * (count - 1) + ["DNS"]
    assert packets.proto[:count].tolist() == ["IPv4"] * (count - 1) + ["UDP"]
    assert [p == "IPv4" for p in protocols] == [p == "IPv4" for p in packets.proto]  # the same frames are pieces
    records = pcap.dns(capture)
    assert records[["number", "id", "response"]].values.tolist() == [[count, 0x5151, True]]
    assert len(records.answers[0].split("; ")) == 90 == len(tshark("-r", capture, "-T", "fields", "-e",
                                                                    "dns.a").strip().split(","))
    objects = pcap.http_objects(capture)
    assert objects.sha256.tolist() == [sha for _, sha in exported(capture, tmp_path / "objects")]
    assert objects.body[0] == FILE and objects.complete[0]
    conv = pcap.conversations(capture)
    udp = conv[conv.proto == "UDP"]
    assert udp[["src", "sport", "packets", "bytes"]].values.tolist() == [[SERVER, 53, 1, packets.length[count - 1]]]
    assert "198.51.100.7:53" in tshark("-r", capture, "-q", "-z", "conv,udp")


def test_ipv6_fragments_and_a_missing_fragment(tmp_path: Path) -> None:
    answer = (IPv6(src=SERVER6, dst=CLIENT6) / IPv6ExtHdrFragment(id=0xBEEF) / UDP(sport=53, dport=5353)
              / _dns_answer(80))
    pieces = fragment6(answer, 700)
    assert len(pieces) >= 3
    lost = IPv6(src=SERVER6, dst=CLIENT6) / IPv6ExtHdrFragment(id=0xDEAD) / UDP(sport=53, dport=5354) / _dns_answer(80)
    capture = tmp_path / "fragments6.pcap"
    wrpcap(str(capture), [Ether(**MAC) / p for p in [*pieces, *fragment6(lost, 700)[:-1]]])
    records = pcap.dns(capture)
    assert records[["number", "response"]].values.tolist() == [[len(pieces), True]]  # the other never completes
    assert len(records.answers[0].split("; ")) == 80 == len(tshark("-r", capture, "-T", "fields", "-e",
                                                                   "dns.a").strip().split(","))
    packets = pcap.packets(capture)
    assert packets.proto.tolist() == ["IPv6"] * (len(pieces) - 1) + ["UDP"] + ["IPv6"] * (len(packets) - len(pieces))


def test_a_fragment_flood_keeps_memory_bounded() -> None:
    from dflab.forensics.ipfrag import Reassembler

    reassembler = Reassembler(max_pending=8)
    for ident in range(100):
        packet = Ether(**MAC) / IP(src=SERVER, dst=CLIENT, id=ident, flags="MF", proto=17) / Raw(b"x" * 64)
        _, is_fragment = reassembler.feed(Ether(bytes(packet)))
        assert is_fragment
    assert len(reassembler._pending) == 8
