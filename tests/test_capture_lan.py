"""The capture of the suspect's segment beside the disk's syslog and the memory image, as an examiner compares them:
``tshark -T fields`` on the pcap, /var/log/syslog read from the disk image with pytsk3, the memory image's kernel
log and avahi's process title found by their bytes.

- DHCP: every lease renewal NetworkManager logs inside the capture window is in the capture at the same time (to a
  tenth of a second), both sides: a unicast REQUEST from the logged address (68 → 67) and the server's ACK, whose
  address, 3600 s lease, server identifier and DNS server agree with the log, the sender and /etc/resolv.conf; and
  no DHCP exchange the log does not have.
- mDNS: the segment carries multicast DNS (224.0.0.251:5353, IP TTL 255, id 0), other hosts ask, responses set
  the cache-flush bit on unique records only, and the suspect's avahi (memory: ``avahi-daemon: running
  [<host>.local]``) answers the questions for its own names, with its own address, and only those.
- MAC: the suspect's frames, its DHCP requests and memory's kernel log name one MAC, and its OUI is QEMU's, which
  the e1000 at PCI 0000:00:03.0 the kernel log names (QEMU's emulated NIC) has.

Each check is a function returning the problems it finds; each is shown finding planted inconsistencies, among
them what commit e0d1723 built (no DHCP and no mDNS in the capture, a ``02:`` MAC).
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import pytsk3

from tests.haystack import haystack_text

ROOT = Path(__file__).resolve().parents[1]
LEASE = re.compile(r"^(\S+) \S+ NetworkManager\[\d+\]: <info>  \[[\d.]+\] dhcp4 \(\w+\): state changed new lease, "
                   r"address=([\d.]+)$")
KERNEL_MAC = re.compile(rb"e1000 0000:00:03\.0 eth0: \(PCI:33MHz:32-bit\) ([0-9a-f:]{17})")
AVAHI = re.compile(rb"avahi-daemon: running \[([A-Za-z0-9-]+)\.local\]")
QEMU_OUI = "52:54:00"
DHCP_FIELDS = ("frame.time_epoch", "eth.src", "eth.dst", "ip.src", "ip.dst", "udp.srcport", "udp.dstport",
               "dhcp.option.dhcp", "dhcp.id", "dhcp.ip.client", "dhcp.ip.your", "dhcp.hw.mac_addr",
               "dhcp.option.dhcp_server_id", "dhcp.option.ip_address_lease_time", "dhcp.option.domain_name_server")
MDNS_FIELDS = ("frame.time_epoch", "eth.src", "eth.dst", "ip.src", "ip.dst", "ip.ttl", "ip.id", "ip.flags.df",
               "udp.srcport", "udp.dstport", "dns.id", "dns.flags", "dns.count.queries", "dns.qry.name",
               "dns.qry.type", "dns.resp.name", "dns.resp.type", "dns.resp.cache_flush", "dns.a", "dns.aaaa")
Packet = dict[str, str]


@dataclasses.dataclass(frozen=True)
class Built:
    pcap: Path
    syslog: bytes
    resolv_conf: bytes
    memory: bytes


def _read(image: Path, path: str) -> bytes:
    """A file of the image's ext4 volume, read with The Sleuth Kit (pytsk3)."""
    img = pytsk3.Img_Info(str(image))
    volumes = pytsk3.Volume_Info(img)
    for part in volumes:
        if part.flags != pytsk3.TSK_VS_PART_FLAG_ALLOC:
            continue
        try:
            fs = pytsk3.FS_Info(img, offset=part.start * volumes.info.block_size)
            f = fs.open(path)
        except OSError:
            continue
        return f.read_random(0, f.info.meta.size)
    raise AssertionError(f"{path} is on no volume of {image}")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    out = tmp_path_factory.mktemp("nightjar")
    spec = out / "nightjar.yaml"  # with its installed system: /etc/resolv.conf is NetworkManager's
    spec.write_text(haystack_text("nightjar"), encoding="utf-8")
    subprocess.run([sys.executable, "-m", "dflab.cli", "evidence", "build", str(spec), "--out", str(out),
                    "--trainee", "default", "--force"], check=True, capture_output=True, timeout=900)
    evidence = out / "default" / "evidence"
    return Built(evidence / "network.pcap", _read(evidence / "disk.img", "/var/log/syslog"),
                 _read(evidence / "disk.img", "/etc/resolv.conf"), (evidence / "memory.lime").read_bytes())


def tshark(pcap: Path, display: str, names: tuple[str, ...]) -> list[Packet]:
    exe = shutil.which("tshark")
    assert exe, "tshark is not installed"
    args = [exe, "-r", str(pcap), "-Y", display, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a",
            "-E", "aggregator=|"]
    for name in names:
        args += ["-e", name]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=300).stdout
    return [dict(zip(names, line.split("\t"), strict=True)) for line in out.splitlines()]


def window(pcap: Path) -> tuple[float, float]:
    times = [float(p["frame.time_epoch"]) for p in tshark(pcap, "frame", ("frame.time_epoch",))]
    return min(times), max(times)


def logged_renewals(syslog: bytes, start: float, end: float) -> list[tuple[float, str]]:
    """(time, address) of each ``state changed new lease`` line syslog holds between ``start`` and ``end``."""
    out = []
    for line in syslog.decode().splitlines():
        m = LEASE.match(line)
        if m and start <= (t := datetime.fromisoformat(m[1]).timestamp()) <= end:
            out.append((t, m[2]))
    return out


def nameserver(resolv_conf: bytes) -> str:
    return next(line.split()[1] for line in resolv_conf.decode().splitlines() if line.startswith("nameserver"))


def dhcp_problems(logged: list[tuple[float, str]], packets: list[Packet], mac: str, dns: str) -> list[str]:
    """Each logged renewal against the capture's DHCP, and the capture's DHCP against the log."""
    problems = []
    used: set[int] = set()
    for t, address in logged:
        requests = [k for k, p in enumerate(packets) if p["dhcp.option.dhcp"] == "3"
                    and 0 <= t - float(p["frame.time_epoch"]) <= 0.1]
        if not requests:
            problems.append(f"renewal logged at {t:.6f}: no DHCPREQUEST in the capture within 0.1 s before it")
            continue
        r = packets[requests[0]]
        used.add(requests[0])
        if (r["ip.src"], r["dhcp.ip.client"], r["udp.srcport"], r["udp.dstport"]) != (address, address, "68", "67"):
            problems.append(f"renewal at {t:.6f}: the REQUEST is not {address}:68 → :67 with ciaddr {address}")
        if r["ip.dst"] == "255.255.255.255" or r["eth.dst"] == "ff:ff:ff:ff:ff:ff":
            problems.append(f"renewal at {t:.6f}: the REQUEST is broadcast, a renewal is unicast to the server")
        if r["eth.src"] != mac or mac not in r["dhcp.hw.mac_addr"].split("|"):
            problems.append(f"renewal at {t:.6f}: the REQUEST's MAC is not the suspect's {mac}")
        acks = [k for k, p in enumerate(packets) if p["dhcp.option.dhcp"] == "5" and p["dhcp.id"] == r["dhcp.id"]
                and float(r["frame.time_epoch"]) <= float(p["frame.time_epoch"]) <= t]
        if not acks:
            problems.append(f"renewal logged at {t:.6f}: no DHCPACK to its REQUEST before the line")
            continue
        a = packets[acks[0]]
        used.add(acks[0])
        if (a["ip.src"], a["ip.dst"], a["eth.dst"]) != (r["ip.dst"], address, mac):
            problems.append(f"renewal at {t:.6f}: the ACK does not come from the server the REQUEST went to, "
                            f"unicast to {address}")
        if a["dhcp.ip.your"] != address:
            problems.append(f"renewal at {t:.6f}: the ACK leases {a['dhcp.ip.your']}, syslog says {address}")
        if a["dhcp.option.ip_address_lease_time"] != "3600":
            problems.append(f"renewal at {t:.6f}: lease time {a['dhcp.option.ip_address_lease_time']!r}, not 3600")
        if a["dhcp.option.dhcp_server_id"] != a["ip.src"]:
            problems.append(f"renewal at {t:.6f}: server identifier {a['dhcp.option.dhcp_server_id']} is not the "
                            f"ACK's sender {a['ip.src']}")
        if a["dhcp.option.domain_name_server"] != dns:
            problems.append(f"renewal at {t:.6f}: DNS server {a['dhcp.option.domain_name_server']}, resolv.conf "
                            f"says {dns}")
    problems += [f"DHCP message (type {p['dhcp.option.dhcp']}) at {p['frame.time_epoch']} that syslog does not log"
                 for k, p in enumerate(packets) if k not in used]
    return problems


def mdns_problems(packets: list[Packet], host: str, ip: str, mac: str) -> list[str]:
    """The segment's mDNS as RFC 6762 and avahi shape it, and the suspect's answers for its own names."""
    if not packets:
        return ["no mDNS in the capture, though memory shows avahi-daemon running"]
    problems = []
    own = {f"{host}.local", ".".join(reversed(ip.split("."))) + ".in-addr.arpa"}
    askers = set()
    for p in packets:
        when = p["frame.time_epoch"]
        if (p["ip.dst"], p["eth.dst"], p["udp.srcport"], p["udp.dstport"], p["ip.ttl"], p["dns.id"]) != \
                ("224.0.0.251", "01:00:5e:00:00:fb", "5353", "5353", "255", "0x0000"):
            problems.append(f"mDNS at {when} is not id 0 from 5353 to 224.0.0.251:5353 (01:00:5e:00:00:fb) with "
                            "TTL 255")
        response = p["dns.flags"] == "0x8400"
        if not response:
            if p["dns.flags"] != "0x0000":
                problems.append(f"mDNS query at {when} has flags {p['dns.flags']}")
            if p["ip.src"] != ip:
                askers.add(p["ip.src"])
            continue
        if p["dns.count.queries"] != "0":
            problems.append(f"mDNS response at {when} repeats questions")
        # tshark prints a repeated owner name once, so records go by type: a PTR is a service type's (shared)
        # unless the response is about an address (a reverse name, unique like every other record here).
        reverse = any(n.endswith(".arpa") for n in p["dns.resp.name"].split("|"))
        for rtype, flush in zip(p["dns.resp.type"].split("|"), p["dns.resp.cache_flush"].split("|"), strict=True):
            shared = rtype == "12" and not reverse
            if flush != ("0" if shared else "1"):
                problems.append(f"mDNS response at {when}: a record of type {rtype} has cache-flush {flush}")
        if p["ip.src"] == ip:
            names = set(p["dns.resp.name"].split("|"))
            if p["eth.src"] != mac or (p["ip.flags.df"], p["ip.id"]) != ("1", "0x0000"):
                problems.append(f"the suspect's mDNS at {when} is not from {mac} with DF and IP ID 0 (Linux)")
            if not names <= own | {n for n in names if n.endswith(".ip6.arpa")}:
                problems.append(f"the suspect answers for {sorted(names - own)} at {when}, names avahi does not own")
            if f"{host}.local" in names and p["dns.a"] and p["dns.a"] != ip:
                problems.append(f"the suspect's avahi gives {host}.local as {p['dns.a']}, not {ip}")
    if len(askers) < 2:
        problems.append(f"mDNS queries from {len(askers)} other hosts: an office segment has more")
    for p in packets:
        if p["dns.flags"] == "0x0000" and p["ip.src"] != ip and set(p["dns.qry.name"].split("|")) & own:
            t = float(p["frame.time_epoch"])
            if not any(q["ip.src"] == ip and q["dns.flags"] == "0x8400" and 0 <= float(q["frame.time_epoch"]) - t <= 1
                       and set(q["dns.resp.name"].split("|")) & own for q in packets):
                problems.append(f"{p['ip.src']} asks for {p['dns.qry.name']} at {t:.6f}: avahi does not answer")
    for q in packets:
        if q["ip.src"] == ip and q["dns.flags"] == "0x8400":
            t = float(q["frame.time_epoch"])
            if not any(p["dns.flags"] == "0x0000" and p["ip.src"] != ip and 0 <= t - float(p["frame.time_epoch"]) <= 1
                       and set(p["dns.qry.name"].split("|")) & set(q["dns.resp.name"].split("|")) for p in packets):
                problems.append(f"the suspect answers at {t:.6f} what nobody asked")
    return problems


def mac_problems(kernel: str, capture: set[str], dhcp: set[str]) -> list[str]:
    """The suspect's MAC in memory's kernel log, its frames and its DHCP client hardware address."""
    problems = []
    if capture != {kernel}:
        problems.append(f"the suspect's frames come from {sorted(capture)}, memory's kernel log says {kernel}")
    if dhcp and dhcp != {kernel}:
        problems.append(f"DHCP names {sorted(dhcp)}, memory's kernel log says {kernel}")
    if not kernel.startswith(QEMU_OUI):
        problems.append(f"MAC {kernel}: the kernel names QEMU's e1000 at 0000:00:03.0, whose OUI is {QEMU_OUI}")
    return problems


# -- the built case ----------------------------------------------------------------------------------------------

def _suspect(built: Built) -> tuple[str, str, str]:
    """(host name, address, MAC) as memory and syslog give them."""
    hosts = set(AVAHI.findall(built.memory))
    macs = set(KERNEL_MAC.findall(built.memory))
    assert len(hosts) == 1 and len(macs) == 1, (hosts, macs)
    addresses = {a for _, a in logged_renewals(built.syslog, 0, float("inf"))}
    assert len(addresses) == 1
    return hosts.pop().decode(), addresses.pop(), macs.pop().decode()


def test_dhcp_renewals_match_syslog(built: Built) -> None:
    _, _, mac = _suspect(built)
    logged = logged_renewals(built.syslog, *window(built.pcap))
    assert logged, "the capture window holds no renewal: the check would prove nothing"
    packets = tshark(built.pcap, "dhcp", DHCP_FIELDS)
    dns = nameserver(built.resolv_conf)
    assert dhcp_problems(logged, packets, mac, dns) == []
    # What e0d1723 wrote: no DHCP at all.
    assert any("no DHCPREQUEST" in p for p in dhcp_problems(logged, [], mac, dns))
    # Planted: the log a second late; an exchange the log does not have; another lease time; a broadcast request.
    assert any("no DHCPREQUEST" in p for p in dhcp_problems([(t + 1.0, a) for t, a in logged], packets, mac, dns))
    assert any("does not log" in p for p in dhcp_problems(logged[1:], packets, mac, dns))
    longer = [dict(p, **{"dhcp.option.ip_address_lease_time": "7200"}) if p["dhcp.option.dhcp"] == "5" else p
              for p in packets]
    assert any("lease time" in p for p in dhcp_problems(logged, longer, mac, dns))
    broadcast = [dict(p, **{"ip.dst": "255.255.255.255"}) if p["dhcp.option.dhcp"] == "3" else p for p in packets]
    assert any("broadcast" in p for p in dhcp_problems(logged, broadcast, mac, dns))
    assert any("DNS server" in p for p in dhcp_problems(logged, packets, mac, "192.0.2.53"))


def test_mdns_background_and_avahi(built: Built) -> None:
    host, ip, mac = _suspect(built)
    packets = tshark(built.pcap, "mdns", MDNS_FIELDS)
    assert mdns_problems(packets, host, ip, mac) == []
    assert any(p["ip.src"] == ip and p["dns.flags"] == "0x8400" for p in packets), "avahi never answers"
    # What e0d1723 wrote: no mDNS at all.
    assert mdns_problems([], host, ip, mac) == ["no mDNS in the capture, though memory shows avahi-daemon running"]
    # Planted: a sender's TTL; a unique record without the cache-flush bit; avahi's wrong address; avahi silent.
    assert any("TTL 255" in p for p in mdns_problems([dict(packets[0], **{"ip.ttl": "64"}), *packets[1:]], host, ip,
                                                     mac))
    unflushed = [dict(p, **{"dns.resp.cache_flush": p["dns.resp.cache_flush"].replace("1", "0")}) for p in packets]
    assert any("cache-flush" in p for p in mdns_problems(unflushed, host, ip, mac))
    wrong = [dict(p, **{"dns.a": "10.9.9.9"}) if p["ip.src"] == ip else p for p in packets]
    if any(p["ip.src"] == ip and p["dns.a"] for p in packets):
        assert any("not " + ip in p for p in mdns_problems(wrong, host, ip, mac))
    silent = [p for p in packets if not (p["ip.src"] == ip and p["dns.flags"] == "0x8400")]
    assert any("does not answer" in p for p in mdns_problems(silent, host, ip, mac))
    own = {f"{host}.local", ".".join(reversed(ip.split("."))) + ".in-addr.arpa"}
    unasked = [p for p in packets if not (p["ip.src"] != ip and set(p["dns.qry.name"].split("|")) & own)]
    assert any("nobody asked" in p for p in mdns_problems(unasked, host, ip, mac))


def test_mac_one_owner_fits_the_nic(built: Built) -> None:
    _, ip, mac = _suspect(built)
    capture = {p["eth.src"] for p in tshark(built.pcap, f"ip.src == {ip}", ("eth.src",))}
    dhcp = {p["eth.src"] for p in tshark(built.pcap, "dhcp.option.dhcp == 3", ("eth.src",))}
    assert mac_problems(mac, capture, dhcp) == []
    # What e0d1723 drew: a locally administered 02: address, on every side alike.
    old = "02:69:33:b4:a3:e3"
    assert mac_problems(old, {old}, {old}) == [f"MAC {old}: the kernel names QEMU's e1000 at 0000:00:03.0, whose OUI "
                                               f"is {QEMU_OUI}"]
    # Planted: the capture's frames from another MAC than memory's.
    assert any("frames come from" in p for p in mac_problems(mac, {"52:54:00:00:00:01"}, dhcp))
