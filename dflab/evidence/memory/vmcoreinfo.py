"""The VMCOREINFO ELF note: what makedumpfile and crash read to find their way in a dump of this kernel.

A 5.15 kernel keeps it in memory from boot (``crash_save_vmcoreinfo_init``): an
``Elf64_Nhdr`` named ``VMCOREINFO`` whose text is ``KEY=value`` lines
(``SYMBOL()`` in hex, ``SIZE()``/``OFFSET()``/``NUMBER()`` in decimal).
``linux.vmcoreinfo`` scans physical memory for it and prints every key;
volatility's own VMCOREINFO stacker may use ``SYMBOL(swapper_pg_dir)``,
``KERNELOFFSET`` and ``NUMBER(phys_base)`` to build the kernel layer, so they
are exact: no KASLR shift, the kernel at its link address.
"""

from __future__ import annotations

import hashlib
import struct

from dflab.evidence.memory.cstruct import U32, array
from dflab.evidence.memory.kernel import KERNEL_MAPPING_SIZE
from dflab.evidence.memory.kmem import KernelMemory
from dflab.evidence.memory.physmem import PAGE

NOTE_NAME = b"VMCOREINFO\0"
_OFFSETS = (("printk_ringbuffer", "desc_ring"), ("printk_ringbuffer", "text_data_ring"),
            ("prb_desc_ring", "count_bits"), ("prb_desc_ring", "descs"), ("prb_desc_ring", "infos"),
            ("prb_desc_ring", "head_id"), ("prb_desc_ring", "tail_id"), ("prb_desc", "state_var"),
            ("prb_desc", "text_blk_lpos"), ("prb_data_blk_lpos", "begin"), ("prb_data_blk_lpos", "next"),
            ("printk_info", "seq"), ("printk_info", "ts_nsec"), ("printk_info", "text_len"),
            ("printk_info", "caller_id"), ("prb_data_ring", "size_bits"), ("prb_data_ring", "data"),
            ("list_head", "next"), ("list_head", "prev"), ("page", "flags"), ("page", "mapping"),
            ("page", "lru"), ("page", "index"))


def vmcoreinfo_text(km: KernelMemory, sym: dict[str, int], release: str, banner: str) -> str:
    """The note's text, keys in the order the kernel writes them."""
    types = km.types
    lines = [
        f"OSRELEASE={release}",
        f"BUILD-ID={hashlib.sha1(banner.encode()).hexdigest()}",  # noqa: S324 - an id, as the linker's is
        f"PAGESIZE={PAGE}",
        f"SYMBOL(swapper_pg_dir)={sym['init_top_pgt']:x}",
        f"SYMBOL(_stext)={km.symbols['_text']['address']:x}",
        f"SIZE(page)={types.layouts['page'].size}",
        f"SIZE(list_head)={types.layouts['list_head'].size}",
        f"SYMBOL(prb)={sym['prb']:x}",
        f"SYMBOL(printk_rb_static)={sym['printk_rb_static']:x}",
        f"SIZE(printk_ringbuffer)={types.layouts['printk_ringbuffer'].size}",
        f"SIZE(prb_desc)={types.layouts['prb_desc'].size}",
        f"SIZE(printk_info)={types.layouts['printk_info'].size}",
        *(f"OFFSET({t}.{m})={types.offset_of(t, m)}" for t, m in _OFFSETS),
        "NUMBER(phys_base)=0",
        f"SYMBOL(init_top_pgt)={sym['init_top_pgt']:x}",
        "NUMBER(pgtable_l5_enabled)=0",
        "KERNELOFFSET=0",
        f"NUMBER(KERNEL_IMAGE_SIZE)={KERNEL_MAPPING_SIZE}",
    ]
    return "\n".join(lines) + "\n"


def build_vmcoreinfo(km: KernelMemory, sym: dict[str, int], release: str, banner: str) -> str:
    """Write the note into its page; returns its text."""
    text = vmcoreinfo_text(km, sym, release, banner)
    desc = text.encode()
    note = struct.pack("<III", len(NOTE_NAME), len(desc), 0) + NOTE_NAME.ljust(12, b"\0") + desc
    sym["vmcoreinfo_note"] = km.symbol("vmcoreinfo_note", array(PAGE // 4, U32), section="bss", align=PAGE)
    km.write(sym["vmcoreinfo_note"], note)
    return text
