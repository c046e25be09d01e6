"""The kernel's entry tables: ``sys_call_table`` and the IDT, both clean (every entry in kernel text).

``linux.malware.check_syscall`` sizes ``sys_call_table`` from its ISF type
and names each entry by the symbol at its address; ``check_idt`` reads gates
0-19 and 0x80 of ``idt_table`` and resolves them against the kernel and the
loaded modules.  A hooked entry would point into a module or at no symbol.
"""

from __future__ import annotations

from dflab.evidence.memory.cstruct import FUNCTION, array, ptr, struct
from dflab.evidence.memory.kernel import place_function
from dflab.evidence.memory.kmem import KernelMemory
from dflab.evidence.memory.syscall_table import NR_SYSCALLS, SYSCALLS

KERNEL_CS = 0x10
GATE_INTERRUPT, GATE_PRESENT = 0xE << 8, 1 << 15
IDT_ENTRIES = 256
FIRST_EXTERNAL_VECTOR, IRQ_STUB_SIZE = 0x20, 8
IA32_SYSCALL_VECTOR = 0x80
# vector -> (handler, interrupt stack, dpl): arch/x86/kernel/idt.c of 5.15
EXCEPTIONS: dict[int, tuple[str, int, int]] = {
    0: ("asm_exc_divide_error", 0, 0), 1: ("asm_exc_debug", 4, 0), 2: ("asm_exc_nmi", 3, 0),
    3: ("asm_exc_int3", 0, 3), 4: ("asm_exc_overflow", 0, 3), 5: ("asm_exc_bounds", 0, 0),
    6: ("asm_exc_invalid_op", 0, 0), 7: ("asm_exc_device_not_available", 0, 0),
    8: ("asm_exc_double_fault", 2, 0), 9: ("asm_exc_coproc_segment_overrun", 0, 0),
    10: ("asm_exc_invalid_tss", 0, 0), 11: ("asm_exc_segment_not_present", 0, 0),
    12: ("asm_exc_stack_segment", 0, 0), 13: ("asm_exc_general_protection", 0, 0),
    14: ("asm_exc_page_fault", 0, 0), 15: ("asm_exc_spurious_interrupt_bug", 0, 0),
    16: ("asm_exc_coprocessor_error", 0, 0), 17: ("asm_exc_alignment_check", 0, 0),
    18: ("asm_exc_machine_check", 5, 0), 19: ("asm_exc_simd_coprocessor_error", 0, 0),
    IA32_SYSCALL_VECTOR: ("entry_INT80_compat", 0, 3),
}


def syscall_handler(number: int) -> str:
    """The symbol ``sys_call_table[number]`` points at."""
    name = SYSCALLS[number]
    return f"__x64_sys_{name or 'ni_syscall'}"


def build_entry_tables(km: KernelMemory, sym: dict[str, int]) -> None:
    """Write ``sys_call_table`` and ``idt_table`` with their handlers into the kernel image."""
    for name in sorted({syscall_handler(n) for n in range(NR_SYSCALLS)}):
        sym[name] = place_function(km, name)
    for name, _, _ in EXCEPTIONS.values():
        sym[name] = place_function(km, name)
    stubs = (IDT_ENTRIES - FIRST_EXTERNAL_VECTOR) * IRQ_STUB_SIZE
    sym["irq_entries_start"] = km.symbol("irq_entries_start", FUNCTION, section="text", align=16, size=stubs)
    sym["idt_table"] = km.symbol("idt_table", array(IDT_ENTRIES, struct("gate_struct")), section="bss",
                                 align=4096)
    sym["sys_call_table"] = km.symbol("sys_call_table", array(NR_SYSCALLS, ptr(FUNCTION)), align=4096)
    km.write(sym["sys_call_table"], b"".join(sym[syscall_handler(n)].to_bytes(8, "little")
                                             for n in range(NR_SYSCALLS)))
    # check_syscall sizes the table by the distance to the next symbol: the IDT register's image follows it.
    sym["idt_descr"] = km.symbol("idt_descr", struct("desc_ptr"), align=8)
    km.fill(sym["idt_descr"], "desc_ptr", {"size": IDT_ENTRIES * km.types.layouts["gate_struct"].size - 1,
                                           "address": sym["idt_table"]})
    gate_size = km.types.layouts["gate_struct"].size
    for vector in range(IDT_ENTRIES):
        if vector in EXCEPTIONS:
            name, ist, dpl = EXCEPTIONS[vector]
            handler = sym[name]
        elif vector >= FIRST_EXTERNAL_VECTOR:
            handler, ist, dpl = sym["irq_entries_start"] + (vector - FIRST_EXTERNAL_VECTOR) * IRQ_STUB_SIZE, 0, 0
        else:
            continue  # reserved vectors 20-31 have no gate
        km.fill(sym["idt_table"] + vector * gate_size, "gate_struct", {
            "offset_low": handler & 0xFFFF, "segment": KERNEL_CS,
            "bits": ist | GATE_INTERRUPT | (dpl << 13) | GATE_PRESENT,
            "offset_middle": (handler >> 16) & 0xFFFF, "offset_high": (handler >> 32) & 0xFFFF_FFFF,
        })
