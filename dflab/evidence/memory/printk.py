"""The kernel log: the boot messages of this host in the 5.10+ printk ring buffer, as ``dmesg`` shows them.

``linux.kmsg`` follows ``prb`` (→ ``printk_rb_static``) to two rings: the
descriptor ring (``prb_desc`` with a state and the logical positions of its
text, ``printk_info`` with sequence, time, level and caller) and the text data
ring (``__log_buf``), where each record is an ``unsigned long`` id followed by
its text, 8-byte aligned.  Descriptors ``tail_id``..``head_id`` are
finalized.  The messages are the ones an Ubuntu 22.04 guest logs at boot,
filled from the case: the banner, the firmware's RAM map (the same ranges
LiME writes), the disk and its partitions, the network card with its MAC,
the root file system's mount.
"""

from __future__ import annotations

from dataclasses import dataclass

from dflab.evidence.memory.cstruct import U64, array, base, ptr, struct
from dflab.evidence.memory.kmem import KernelMemory
from dflab.evidence.memory.ram_map import iomem_tree
from dflab.scenario.traces.syslog import NIC

LOG_BUF_SHIFT = 18  # CONFIG_LOG_BUF_SHIFT of Ubuntu's kernels: a 256 KiB text ring
DESC_COUNT_BITS = LOG_BUF_SHIFT - 5  # PRB_AVGBITS: one descriptor per 32 bytes of text
DESC_FINALIZED = 2
DESC_FLAGS_SHIFT = 62
LOG_NOTICE, LOG_INFO = 5, 6
CALLER_CPU = 0x8000_0000


@dataclass(frozen=True)
class LogLine:
    """One record: seconds after boot, syslog level, the caller task (None: CPU 0 before tasks) and text."""

    at: float
    level: int
    text: str
    task: int | None = 0


def boot_log(banner: str, release: str, size: int, mac: str, disk_bytes: int, partitions: list[str],
             root: str | None, root_uuid: str) -> list[LogLine]:
    """What this host's kernel logs from power-on until the root file system is mounted."""
    ram = [r for r in iomem_tree(size) if r.name in ("System RAM", "Reserved") and r.start < size]
    e820 = [LogLine(0.0, LOG_INFO, f"BIOS-e820: [mem {r.start:#018x}-{r.end:#018x}] "
                                  f"{'usable' if r.name == 'System RAM' else 'reserved'}", None) for r in ram]
    usable_k = sum(r.end + 1 - r.start for r in ram if r.name == "System RAM") // 1024
    sectors = disk_bytes // 512
    lines = [
        LogLine(0.0, LOG_NOTICE, banner.rstrip("\n"), None),
        LogLine(0.0, LOG_INFO, f"Command line: BOOT_IMAGE=/boot/vmlinuz-{release} root=UUID={root_uuid} ro quiet",
                 None),  # Debian's GRUB_CMDLINE_LINUX_DEFAULT ("splash" is Ubuntu's)
        LogLine(0.0, LOG_INFO, "BIOS-provided physical RAM map:", None),
        *e820,
        LogLine(0.0, LOG_INFO, "DMI: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.15.0-1 04/01/2014", None),
        LogLine(0.0, LOG_INFO, "Hypervisor detected: KVM", None),
        LogLine(0.021, LOG_INFO, f"Memory: {usable_k - 24_576}K/{usable_k}K available", None),
        LogLine(0.139, LOG_INFO, "smpboot: Allowing 2 CPUs, 0 hotplug CPUs", None),
        LogLine(0.412, LOG_INFO, "smp: Brought up 1 node, 2 CPUs", 1),
        LogLine(0.958, LOG_INFO, "e1000: Intel(R) PRO/1000 Network Driver", 1),
        LogLine(1.214, LOG_INFO, f"e1000 0000:00:03.0 eth0: (PCI:33MHz:32-bit) {mac}", 1),
        LogLine(1.214, LOG_INFO, "e1000 0000:00:03.0 eth0: Intel(R) PRO/1000 Network Connection", 1),
        LogLine(1.387, LOG_NOTICE, f"sd 0:0:0:0: [sda] {sectors} 512-byte logical blocks: "
                                   f"({disk_bytes / 1e9:.2f} GB/{disk_bytes / 2**30:.2f} GiB)", 1),
        LogLine(1.391, LOG_INFO, " sda: " + " ".join(partitions), 1),
        LogLine(1.392, LOG_NOTICE, "sd 0:0:0:0: [sda] Attached SCSI disk", 1),
        LogLine(1.502, LOG_INFO, f"e1000 0000:00:03.0 {NIC}: renamed from eth0", 1),  # udev's predictable name
    ]
    if root is not None:
        lines.append(LogLine(2.604, LOG_INFO, f"EXT4-fs ({root}): mounted filesystem with ordered data mode. "
                                              "Opts: (null). Quota mode: none.", 1))
    lines += [
        LogLine(4.118, LOG_INFO, f"e1000: {NIC} NIC Link is Up 1000 Mbps Full Duplex, Flow Control: RX", 1),
        LogLine(4.123, LOG_INFO, f"IPv6: ADDRCONF(NETDEV_CHANGE): {NIC}: link becomes ready", 1),
    ]
    return lines


def build_printk(km: KernelMemory, sym: dict[str, int], lines: list[LogLine]) -> None:
    """``prb`` → ``printk_rb_static`` holding ``lines`` as finalized records with ids 0..n-1."""
    count = 1 << DESC_COUNT_BITS
    if len(lines) > count:
        raise ValueError(f"{len(lines)} log records do not fit {count} descriptors")
    descs = km.symbol("_printk_rb_static_descs", array(count, struct("prb_desc")), section="bss", align=64)
    infos = km.symbol("_printk_rb_static_infos", array(count, struct("printk_info")), section="bss", align=64)
    log_buf = km.symbol("__log_buf", array(1 << LOG_BUF_SHIFT, base("char")), section="bss", align=8)
    desc_size = km.types.layouts["prb_desc"].size
    info_size = km.types.layouts["printk_info"].size
    lpos = 0
    for rid, line in enumerate(lines):
        text = line.text.encode()
        block = (8 + len(text) + 7) // 8 * 8
        km.write(log_buf + lpos, rid.to_bytes(8, "little") + text)
        km.fill(descs + rid * desc_size, "prb_desc", {
            "state_var.counter": (DESC_FINALIZED << DESC_FLAGS_SHIFT) | rid,
            "text_blk_lpos.begin": lpos, "text_blk_lpos.next": lpos + block})
        caller = CALLER_CPU if line.task is None else line.task
        km.fill(infos + rid * info_size, "printk_info", {
            "seq": rid, "ts_nsec": round(line.at * 1e9), "text_len": len(text), "facility": 0,
            "level": line.level, "caller_id": caller})
        lpos += block
    rb = sym["printk_rb_static"] = km.symbol("printk_rb_static", struct("printk_ringbuffer"))
    km.fill(rb, "printk_ringbuffer", {
        "desc_ring.count_bits": DESC_COUNT_BITS, "desc_ring.descs": descs, "desc_ring.infos": infos,
        "desc_ring.head_id.counter": len(lines) - 1, "desc_ring.tail_id.counter": 0,
        "text_data_ring.size_bits": LOG_BUF_SHIFT, "text_data_ring.data": log_buf,
        "text_data_ring.head_lpos.counter": lpos, "text_data_ring.tail_lpos.counter": 0,
    })
    sym["prb"] = km.symbol("prb", ptr(struct("printk_ringbuffer")), align=8)
    km.write(sym["prb"], rb.to_bytes(8, "little"))
    sym["log_buf_len"] = km.symbol("log_buf_len", U64, align=8)
    km.write(sym["log_buf_len"], (1 << LOG_BUF_SHIFT).to_bytes(8, "little"))
