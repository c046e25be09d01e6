"""dflab.forensics.pcap against real third-party captures, cross-checked with tshark."""

from __future__ import annotations

import hashlib
import re
import struct
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest

from dflab.errors import EvidenceError
from dflab.forensics import pcap
from dflab.forensics.capture import TruncatedCaptureWarning
from tests.samples import sample, tool


def tshark(*args: str) -> str:
    return subprocess.run([tool("tshark"), *args], check=True, capture_output=True, text=True).stdout


# ----------------------------------------------------------------- HTTP

def test_http_get_request_and_object_hash_equal_tshark_export(tmp_path: Path) -> None:
    capture = sample("pcap/zeek_http_get.pcap")
    requests = pcap.http_requests(capture)
    assert requests[["method", "host", "uri", "status"]].values.tolist() == [
        ["GET", "bro.org", "/download/CHANGES.bro-aux.txt", 200]]
    assert requests.url[0] == "http://bro.org/download/CHANGES.bro-aux.txt"
    assert (requests.client[0], requests.server[0], requests.server_port[0]) == (
        "141.142.228.5", "192.150.187.43", 80)

    tshark("-r", str(capture), "-q", "--export-objects", f"http,{tmp_path}")
    exported = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    objects = pcap.http_objects(capture)
    assert dict(zip(objects.filename, objects.sha256, strict=True)) == exported == {
        "CHANGES.bro-aux.txt": "4e7c7ef0984119447e743e3ec77e1de52713e345cde03fe7df753a35849bed18"}
    assert objects.complete.tolist() == [True]
    assert hashlib.sha256(objects.body[0]).hexdigest() == objects.sha256[0]
    assert objects["size"][0] == 4705


def test_http_post_request() -> None:
    requests = pcap.http_requests(sample("pcap/zeek_http_post.pcap"))
    assert requests[["method", "url", "user_agent", "status"]].values.tolist() == [
        ["POST", "http://httpbin.org/post", "curl/7.29.0", 200]]


def test_http_basic_auth_with_colon_on_raw_ip_link_type() -> None:
    capture = sample("pcap/zeek_http_basic-auth-with-colon.pcap")
    assert struct.unpack("<I", capture.read_bytes()[20:24]) == (228,)  # LINKTYPE_IPV4: no link layer at all
    frames = pcap.packets(capture)
    assert len(frames) == 12 and set(frames.proto) == {"TCP"}
    assert frames.summary.str.startswith("IP / TCP").all()
    creds = pcap.credentials(capture)
    # tshark's http.authbasic for this capture is "test:1:34": the password holds the colon.
    expected = tshark("-r", str(capture), "-Y", "http.authbasic", "-T", "fields", "-e", "http.authbasic").strip()
    assert expected == "test:1:34"
    assert creds[["protocol", "username", "password", "target", "success"]].values.tolist() == [
        ["http-basic", "test", "1:34", "http://172.24.133.205:8000/", True]]


# ----------------------------------------------------------------- FTP

def test_ftp_user_pass_and_failed_login() -> None:
    capture = sample("pcap/zeek_ftp_ftp-password-pass-command.pcap")
    creds = pcap.credentials(capture)
    assert creds[["protocol", "client", "server", "server_port", "username", "password"]].values.tolist() == [
        ["ftp", "192.168.10.132", "192.168.10.188", 21, "Admin", "qwerty"]]
    # tshark shows the server answering PASS with 530: the login failed.
    codes = tshark("-r", str(capture), "-Y", "ftp.response.code", "-T", "fields", "-e", "ftp.response.code")
    assert codes.split() == ["220", "331", "530"]
    assert creds.success.tolist() == [False]


def test_ftp_retr_login_and_data_stream_equal_tshark_follow() -> None:
    capture = sample("pcap/zeek_ftp_retr.pcap")
    creds = pcap.credentials(capture)
    assert creds[["username", "password", "success"]].values.tolist() == [["anonymous", "chrome@example.com", True]]
    conv = pcap.conversations(capture)
    control = conv[conv.dport == 21].iloc[0]
    commands = pcap.tcp_stream(capture, control).split(b"\r\n")
    assert b"RETR /README" in commands and commands[0] == b"USER anonymous"
    follow = tshark("-r", str(capture), "-q", "-z", "follow,tcp,raw,1")
    server_hex = "".join(line.strip() for line in follow.splitlines() if line.startswith("\t"))
    data = pcap.tcp_stream(capture, ("141.142.192.162", 38141, "141.142.228.5", 50737))
    assert data == bytes.fromhex(server_hex)
    assert len(data) == 16557
    with pytest.raises(EvidenceError, match="no TCP segments"):
        pcap.tcp_stream(capture, ("1.2.3.4", 1, "5.6.7.8", 2))


# ----------------------------------------------------------------- conversations vs tshark

def _tshark_conversations(capture: Path, proto: str) -> set[tuple]:
    """Parse ``tshark -q -z conv,<proto>``: (A, port, B, port, frames A->B, frames B->A, bytes A->B, bytes B->A).

    tshark prints large byte counts rounded ("22 kB"), so bytes are compared only when given exactly.
    """
    rows = set()
    pattern = re.compile(r"^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+(\d+) (\d+) (\w+)\s+(\d+) (\d+) (\w+)")
    for line in tshark("-r", str(capture), "-q", "-z", f"conv,{proto}").splitlines():
        match = pattern.match(line)
        if match:
            a, pa, b, pb, f_ba, n_ba, u_ba, f_ab, n_ab, u_ab = match.groups()
            rows.add((a, int(pa), b, int(pb), int(f_ab), int(f_ba),
                      int(n_ab) if u_ab == "bytes" else u_ab, int(n_ba) if u_ba == "bytes" else u_ba))
    return rows


def _as_tshark_prints(count: int) -> int | str:
    """tshark prints byte counts of 10 000 and more as "22 kB": compare those by unit only."""
    return count if count < 10_000 else "kB"


def test_smtp_conversations_equal_tshark() -> None:
    capture = sample("pcap/zeek_smtp.pcap")
    conv = pcap.conversations(capture)
    for proto in ("tcp", "udp"):
        ours = {(r.src, r.sport, r.dst, r.dport, r.packets_ab, r.packets_ba, _as_tshark_prints(r.bytes_ab),
                 _as_tshark_prints(r.bytes_ba)) for r in conv[conv.proto == proto.upper()].itertuples()}
        assert ours == _tshark_conversations(capture, proto), proto
    mail = conv[(conv.dport == 25) & (conv.src == "10.10.1.4")].iloc[0]
    assert (mail.packets_ab, mail.packets_ba, mail.bytes_ab, mail.bytes_ba) == (28, 25, 22065, 1980)
    assert conv.bytes.sum() == pcap.packets(capture).length[pcap.packets(capture).proto != "non-IP"].sum()


# ----------------------------------------------------------------- DNS and link types

def test_pcapng_multi_interface_dns() -> None:
    capture = sample("pcap/zeek_pcapng-multi-interface.pcapng")
    frames = pcap.packets(capture)
    assert len(frames) == 6
    assert frames.interface.nunique() == 2 and "eth0" in set(frames.interface)
    records = pcap.dns(capture)
    assert len(records) == 6
    assert records[["qname", "qtype", "response"]].values.tolist() == [
        ["www.apple.com.", "A", False], ["www.apple.com.", "A", True],
        ["google.com.", "A", False], ["google.com.", "A", True],
        ["google.com.", "AAAA", False], ["google.com.", "AAAA", True]]
    fields = tshark("-r", str(capture), "-T", "fields", "-e", "dns.a", "-e", "dns.aaaa").split()
    answers = ";".join(records.answers)
    for address in ",".join(fields).split(","):
        assert address in answers
    # pcapng stores nanoseconds here: keep them.
    assert frames.time[0] == pd.Timestamp("2026-01-06 01:31:29.500330493", tz="UTC")


def test_dns_corrupt_checksums_still_parse() -> None:
    records = pcap.dns(sample("pcap/zeek_dns_dns-corrupt.pcap"))
    assert records[["id", "qname", "response"]].values.tolist() == [[47139, "zeek.org.", False],
                                                                     [47139, "zeek.org.", True]]
    assert records.answers[1] == "zeek.org. A 192.0.78.212; zeek.org. A 192.0.78.150"


def test_nanosecond_linux_cooked_capture() -> None:
    capture = sample("pcap/tcpdump_tcp-handshake-nano.pcap")
    frames = pcap.packets(capture)
    epoch = tshark("-r", str(capture), "-T", "fields", "-e", "frame.time_epoch").split()
    assert [t.value for t in frames.time] == [int(e.replace(".", "")) for e in epoch]
    assert frames.time[0] == pd.Timestamp("2014-12-09 17:16:09.924505488", tz="UTC")
    assert frames[["src", "dst", "sport", "dport"]].values.tolist()[0] == ["131.155.215.69", "137.116.81.94",
                                                                          46656, 80]
    assert frames.summary.str.startswith("CookedLinux").all()


def test_empty_capture_gives_empty_tables() -> None:
    capture = sample("pcap/zeek_empty.pcap")
    for function in (pcap.packets, pcap.conversations, pcap.dns, pcap.http_requests, pcap.http_objects,
                     pcap.credentials):
        table = function(capture)
        assert len(table) == 0 and len(table.columns) > 3, function.__name__
    assert str(pcap.packets(capture).time.dtype) == "datetime64[ns, UTC]"


# ----------------------------------------------------------------- malformed, truncated, not a capture

@pytest.mark.parametrize("name,count", [("tcpdump_tcp_header_heapoverflow.pcap", 1), ("tcpdump_arp-oobr.pcap", 2282)])
def test_malformed_captures_do_not_crash(name: str, count: int) -> None:
    capture = sample(f"pcap/{name}")
    frames = pcap.packets(capture)
    assert len(frames) == count
    for function in (pcap.conversations, pcap.dns, pcap.http_requests, pcap.credentials):
        function(capture)


def test_fcs_bits_in_link_type_are_masked_like_tcpdump() -> None:
    """Link type 0x30000001 is Ethernet (1) with FCS-length bits set; tcpdump and we dissect it as Ethernet."""
    frames = pcap.packets(sample("pcap/tcpdump_tcp_header_heapoverflow.pcap"))
    assert frames.summary[0].startswith("Ether / ") and frames.proto[0] == "TCP"


def test_truncated_capture_gives_packets_before_the_cut(tmp_path: Path) -> None:
    original = sample("pcap/zeek_http_get.pcap")
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(original.read_bytes()[:3000])
    with pytest.warns(TruncatedCaptureWarning, match=r"cut\.pcap.*6 complete packets"):
        frames = pcap.packets(cut)
    whole = pcap.packets(original)
    assert frames.drop(columns="summary").equals(whole.head(6).drop(columns="summary"))
    pcapng = sample("pcap/zeek_pcapng-multi-interface.pcapng").read_bytes()
    cut_ng = tmp_path / "cut.pcapng"
    cut_ng.write_bytes(pcapng[:-50])
    with pytest.warns(TruncatedCaptureWarning, match="cut.pcapng"):
        assert len(pcap.dns(cut_ng)) == 5


@pytest.mark.parametrize("content", [b"", b"\xd4\xc3\xb2\xa1\x02\x00", b"this is not a capture" * 10])
def test_unreadable_files_raise_evidence_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(content)
    with pytest.raises(EvidenceError, match="bad.pcap"):
        pcap.packets(bad)
    with pytest.raises(EvidenceError, match="missing.pcap"):
        pcap.dns(tmp_path / "missing.pcap")


def test_limit_and_other_samples() -> None:
    assert len(pcap.packets(sample("pcap/zeek_ssh_sshguess.pcap"), limit=10)) == 10
    assert len(pcap.packets(sample("pcap/zeek_ssh_sshguess.pcap"))) == 431
    records = pcap.dns(sample("pcap/tcpdump_dns_udp.pcap"))
    assert len(records) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # whole captures never warn
        pcap.packets(sample("pcap/zeek_smtp.pcap"))


# ----------------------------------------------------------------- round trip with the project's own network writer

def test_generated_capture_gives_back_the_planned_traffic(tmp_path: Path) -> None:
    """The Case's DNS answers, HTTP download, FTP login and exfiltration bytes, read back from both formats."""
    from dflab.evidence.network.writer import write_network
    from tests.small_case import small_case

    case = small_case()
    write_network(case, tmp_path)
    ip = {h.id: h.ip for h in case.hosts}
    for capture in (tmp_path / "network.pcap", tmp_path / "network.pcapng"):
        answers = pcap.dns(capture)
        for query in case.network.dns:
            reply = answers[answers.response & (answers.id == query.txid)]
            assert reply.qname.tolist() == [query.qname.rstrip(".") + "."]
            assert f" A {query.answer}" in reply.answers.iloc[0]
        objects = pcap.http_objects(capture)
        for transfer in case.network.http:
            got = objects[(objects.client_port == transfer.client_port) & (objects.server == ip[transfer.server])]
            assert got[["url", "status", "sha256"]].values.tolist() == [[
                f"http://{transfer.host_header}{transfer.uri}", transfer.status,
                hashlib.sha256(transfer.response_body).hexdigest()]]
        creds = pcap.credentials(capture)
        ftp = creds[creds.protocol == "ftp"]
        assert ftp[["username", "password", "server", "success"]].values.tolist() == [
            [s.user, s.password, ip[s.server], True] for s in case.network.ftp]
        for session in (s for s in case.network.ftp if s.stor_data):
            flow = (ip[session.client], session.data_client_port, ip[session.server], session.data_port)
            assert pcap.tcp_stream(capture, flow) == session.stor_data
        for raw in case.network.raw:
            flow = (ip[raw.client], raw.client_port, ip[raw.server], raw.server_port)
            assert pcap.tcp_stream(capture, flow) == raw.upload
