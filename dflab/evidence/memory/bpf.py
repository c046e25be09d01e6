"""The BPF programs a systemd host has loaded: ``prog_idr`` with one ``struct bpf_prog`` each.

systemd attaches a ``cgroup_device`` program (``sd_devices``) to every unit
with a device policy and ``cgroup_skb`` firewall programs (``sd_fw_egress`` /
``sd_fw_ingress``) to units with ``IPAddressDeny=``; ``bpftool prog`` and
``linux.ebpf`` list them by id (their index in ``prog_idr``), name and tag (the
first 8 bytes of the SHA-1 of the instructions: equal programs share a tag).
"""

from __future__ import annotations

from dflab.evidence.memory.cstruct import struct
from dflab.evidence.memory.kernel_types import BPF_PROG_TYPES
from dflab.evidence.memory.kmem import KernelMemory
from dflab.evidence.memory.pids import xa_tree

BPF_PROG_TYPE_CGROUP_SKB = BPF_PROG_TYPES["BPF_PROG_TYPE_CGROUP_SKB"]
BPF_PROG_TYPE_CGROUP_DEVICE = BPF_PROG_TYPES["BPF_PROG_TYPE_CGROUP_DEVICE"]
_FW_TAG = "6deef7357e7b4530"  # systemd 249's sd_fw_ingress/sd_fw_egress: one program text, one tag
# (id, type, name, tag) as an Ubuntu 22.04 boot loads them (journald, udevd, logind...)
PROGRAMS: tuple[tuple[int, int, str, str], ...] = (
    (2, BPF_PROG_TYPE_CGROUP_DEVICE, "sd_devices", "e3dbd137be8d6168"),
    (3, BPF_PROG_TYPE_CGROUP_SKB, "sd_fw_egress", _FW_TAG),
    (4, BPF_PROG_TYPE_CGROUP_SKB, "sd_fw_ingress", _FW_TAG),
    (5, BPF_PROG_TYPE_CGROUP_DEVICE, "sd_devices", "ee0e253c78993a24"),
    (6, BPF_PROG_TYPE_CGROUP_SKB, "sd_fw_egress", _FW_TAG),
    (7, BPF_PROG_TYPE_CGROUP_SKB, "sd_fw_ingress", _FW_TAG),
    (8, BPF_PROG_TYPE_CGROUP_DEVICE, "sd_devices", "8b9c33f36f812014"),
)


def build_bpf(km: KernelMemory, sym: dict[str, int]) -> None:
    """``prog_idr`` holding :data:`PROGRAMS`."""
    sym["prog_idr"] = km.symbol("prog_idr", struct("idr"))
    entries = {}
    for prog_id, kind, name, tag in PROGRAMS:
        aux = km.new("bpf_prog_aux", {"id": prog_id, "name": name.encode()})
        prog = km.new("bpf_prog", {"pages": 1, "jited": 1, "type": kind, "tag": bytes.fromhex(tag), "aux": aux})
        km.fill(aux, "bpf_prog_aux", {"prog": prog})
        entries[prog_id] = prog
    xa = km.addr_of(sym["prog_idr"], "idr", "idr_rt")
    km.fill(sym["prog_idr"], "idr", {"idr_rt.xa_head": xa_tree(km, xa, entries), "idr_next": max(entries) + 1})
