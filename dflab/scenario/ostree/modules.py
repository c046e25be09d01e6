"""The running kernel's loadable modules as ``linux-image-<release>`` installs them: the ``.ko`` files memory's
``lsmod`` lists (:data:`dflab.scenario.system.KERNEL_MODULES`), at Debian's paths under
``/usr/lib/modules/<release>/kernel/``, each one that kmod's ``modinfo``, ``file`` and ``readelf`` read as a module.

A module is an ELF64 relocatable object for x86-64 (``ET_REL``, no program headers) as modpost and the linker
leave it: ``.text`` with the byte statistics of compiled code (:func:`.contents.code`), ``.rodata``, ``.modinfo``
(``license``, ``depends`` (the modules it needs directly, by their file names as modpost writes them: ``t10-pi``),
``retpoline``, ``intree``, ``name``, ``vermagic``), ``__versions`` (modversions' CRCs), ``.data``,
``.gnu.linkonce.this_module`` (its ``struct module``, the name at offset 24), ``.bss``, a symbol table naming
``__this_module``, ``init_module`` and ``cleanup_module``; then Debian's signature appended as ``sign-file`` does:
a PKCS#7 SignedData (detached, no certificates, signer named by issuer and serial: bookworm's modules say
``signer: Debian Secure Boot CA``, ``sig_key: 32:A0:28:...``), ``struct module_signature`` and the magic string.
The signature bytes are drawn: nothing can check them without Debian's key, as with any module an examiner finds.

The bytes are a function of the kernel release and the module's path alone (never the case): made once per release
and process (:func:`module_files`, cached) and shared by every trainee running that kernel.
"""

from __future__ import annotations

import hashlib
import random
import struct
from functools import cache

from dflab.scenario.ostree import contents as c

# Where Debian's 6.1 packages put the modules memory's lsmod lists (dflab.scenario.system.KERNEL_MODULES), and
# what each needs: modules.dep's lines. bookworm's modules are uncompressed .ko files.
MODULE_PATHS = {
    "scsi_common": "drivers/scsi/scsi_common", "scsi_mod": "drivers/scsi/scsi_mod", "libata": "drivers/ata/libata",
    "ata_piix": "drivers/ata/ata_piix", "ata_generic": "drivers/ata/ata_generic", "crc64": "lib/crc64",
    "crc64_rocksoft": "lib/crc64-rocksoft", "crc_t10dif": "lib/crc-t10dif", "t10_pi": "block/t10-pi",
    "sd_mod": "drivers/scsi/sd_mod", "floppy": "drivers/block/floppy",
    "e1000": "drivers/net/ethernet/intel/e1000/e1000", "psmouse": "drivers/input/mouse/psmouse",
    "crc32c_generic": "crypto/crc32c_generic", "crc16": "lib/crc16", "mbcache": "fs/mbcache",
    "jbd2": "fs/jbd2/jbd2", "ext4": "fs/ext4/ext4", "crc32_pclmul": "arch/x86/crypto/crc32-pclmul",
    "crc32c_intel": "arch/x86/crypto/crc32c-intel", "autofs4": "fs/autofs/autofs4",
    "x_tables": "net/netfilter/x_tables", "ip_tables": "net/ipv4/netfilter/ip_tables",
    "configfs": "fs/configfs/configfs", "fuse": "fs/fuse/fuse", "loop": "drivers/block/loop",
    "dm_mod": "drivers/md/dm-mod", "drm": "drivers/gpu/drm/drm", "button": "drivers/acpi/button",
    "evdev": "drivers/input/evdev", "serio_raw": "drivers/input/serio/serio_raw",
    "pcspkr": "drivers/input/misc/pcspkr", "joydev": "drivers/input/joydev",
    "qemu_fw_cfg": "drivers/firmware/qemu_fw_cfg", "i2c_piix4": "drivers/i2c/busses/i2c-piix4",
    "usb_common": "drivers/usb/common/usb-common", "usbcore": "drivers/usb/core/usbcore",
    "ehci_hcd": "drivers/usb/host/ehci-hcd", "ehci_pci": "drivers/usb/host/ehci-pci",
    "uhci_hcd": "drivers/usb/host/uhci-hcd", "hid": "drivers/hid/hid", "usbhid": "drivers/hid/usbhid/usbhid",
    "hid_generic": "drivers/hid/hid-generic", "cdrom": "drivers/cdrom/cdrom", "sr_mod": "drivers/scsi/sr_mod",
    "sg": "drivers/scsi/sg", "cryptd": "crypto/cryptd", "crypto_simd": "crypto/crypto_simd",
    "aesni_intel": "arch/x86/crypto/aesni-intel", "ghash_clmulni_intel": "arch/x86/crypto/ghash-clmulni-intel",
    "drm_kms_helper": "drivers/gpu/drm/drm_kms_helper", "ttm": "drivers/gpu/drm/ttm/ttm",
    "drm_ttm_helper": "drivers/gpu/drm/drm_ttm_helper", "drm_vram_helper": "drivers/gpu/drm/drm_vram_helper",
    "bochs": "drivers/gpu/drm/tiny/bochs", "binfmt_misc": "fs/binfmt_misc", "fat": "fs/fat/fat",
    "vfat": "fs/fat/vfat", "nls_cp437": "fs/nls/nls_cp437", "nls_ascii": "fs/nls/nls_ascii",
}
_SCSI = ("scsi_mod", "scsi_common")
_USB = ("usbcore", "usb_common")
_DRM = ("drm_kms_helper", "drm")
# What depmod lists after each module: every module it needs, directly or not, as its modules.dep line does.
MODULE_NEEDS = {
    "scsi_mod": ("scsi_common",), "libata": _SCSI, "ata_piix": ("libata", *_SCSI), "ata_generic": ("libata", *_SCSI),
    "crc64_rocksoft": ("crc64",), "t10_pi": ("crc64_rocksoft", "crc_t10dif", "crc64"),
    "sd_mod": ("t10_pi", "crc64_rocksoft", "crc_t10dif", "crc64", *_SCSI), "ext4": ("crc16", "mbcache", "jbd2"),
    "ip_tables": ("x_tables",), "usbcore": ("usb_common",), "ehci_hcd": _USB, "ehci_pci": ("ehci_hcd", *_USB),
    "uhci_hcd": _USB, "usbhid": ("hid", *_USB), "hid_generic": ("hid",), "sr_mod": ("cdrom", *_SCSI), "sg": _SCSI,
    "crypto_simd": ("cryptd",), "aesni_intel": ("crypto_simd", "cryptd"), "drm_kms_helper": ("drm",),
    "ttm": ("drm",), "drm_ttm_helper": ("ttm", "drm"),
    "drm_vram_helper": ("drm_ttm_helper", "ttm", *_DRM), "bochs": ("drm_vram_helper", "drm_ttm_helper", "ttm", *_DRM),
    "vfat": ("fat",),
}

ET_REL, EM_X86_64 = 1, 62
SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS = 1, 2, 3, 8
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 1, 2, 4
THIS_MODULE_SIZE = 0x500  # sizeof(struct module) in bookworm's 6.1 amd64 build, near enough: the name is what is read
MODULE_NAME_AT = 24  # struct module: state (4, padded to 8), list (16), name[56]
SIGNATURE_MAGIC = b"~Module signature appended~\n"
PKEY_ID_PKCS7 = 2
SIGNER = "Debian Secure Boot CA"  # the issuer of the key bookworm's modules are signed with
SIGNER_SERIAL = bytes.fromhex("32A0287F841A036FA393C1E065C43AE6B2422643")  # what modinfo prints as sig_key
# Symbols modversions records in every module (module_layout first, as modpost writes __versions).
VERSIONED = ("module_layout", "_printk", "kfree", "kmalloc_trace", "__fentry__", "__x86_return_thunk",
             "__stack_chk_fail", "mutex_lock", "mutex_unlock", "memcpy", "memset", "strlen")


def depends(name: str) -> list[str]:
    """The modules ``name`` needs directly (``.modinfo``'s ``depends``, by file name as modpost writes it): those
    of :data:`MODULE_NEEDS` that no other module it needs already brings."""
    needs = MODULE_NEEDS.get(name, ())
    through = {n for m in needs for n in MODULE_NEEDS.get(m, ())}
    return [MODULE_PATHS[m].rsplit("/", 1)[-1] for m in needs if m not in through]


def vermagic(release: str) -> str:
    """``vermagic`` of bookworm's amd64 kernels (trailing space included, as the build writes it)."""
    return f"{release} SMP preempt mod_unload modversions "


def _rng(*labels: str) -> random.Random:
    return random.Random(hashlib.sha256("\0".join(("dflab/ostree/module", *labels)).encode()).digest())


def _der(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    length = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _seq(*parts: bytes) -> bytes:
    return _der(0x30, b"".join(parts))


_OID_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")
_OID_DATA = bytes.fromhex("06092a864886f70d010701")
_OID_SHA256 = bytes.fromhex("0609608648016503040201")
_OID_RSA = bytes.fromhex("06092a864886f70d010101")
_OID_CN = bytes.fromhex("0603550403")
_NULL = b"\x05\x00"


def pkcs7(signature: bytes) -> bytes:
    """The detached PKCS#7 SignedData ``sign-file`` appends (``-noattr``, no certificates): sha256 with RSA,
    the signer named by :data:`SIGNER` and :data:`SIGNER_SERIAL`."""
    issuer = _seq(_der(0x31, _seq(_OID_CN, _der(0x0C, SIGNER.encode()))))
    signer_info = _seq(_der(0x02, b"\x01"), _seq(issuer, _der(0x02, SIGNER_SERIAL)), _seq(_OID_SHA256, _NULL),
                       _seq(_OID_RSA, _NULL), _der(0x04, signature))
    signed = _seq(_der(0x02, b"\x01"), _der(0x31, _seq(_OID_SHA256, _NULL)), _seq(_OID_DATA),
                  _der(0x31, signer_info))
    return _seq(_OID_SIGNED_DATA, _der(0xA0, signed))


def signed(body: bytes, r: random.Random) -> bytes:
    """``body`` with the module signature trailer: PKCS#7, ``struct module_signature``, the magic."""
    blob = pkcs7(r.randbytes(256))
    return body + blob + struct.pack(">BBBBB3xI", 0, 0, PKEY_ID_PKCS7, 0, 0, len(blob)) + SIGNATURE_MAGIC


def _align(n: int, to: int) -> int:
    return -(-n // to) * to


def module_object(release: str, name: str, core_size: int, text_size: int) -> bytes:
    """One module's ``.ko`` (see the module docstring); ``core_size`` and ``text_size`` are what ``/proc/modules``
    gives for it in memory, which the file's sections follow."""
    path = MODULE_PATHS[name]
    r = _rng(release, path)
    leaf = path.rsplit("/", 1)[-1]
    total = int(core_size * r.uniform(0.95, 1.35))
    text_len = max(256, int(max(text_size, total * 0.7) * r.uniform(0.9, 1.1))) // 16 * 16
    rodata_len = max(64, int(total * r.uniform(0.12, 0.22))) // 8 * 8
    data_len = max(64, int(total * r.uniform(0.01, 0.04))) // 8 * 8
    modinfo = b"".join(f"{k}={v}".encode() + b"\0" for k, v in (
        ("license", "GPL"), ("depends", ",".join(depends(name))), ("retpoline", "Y"), ("intree", "Y"),
        ("name", name), ("vermagic", vermagic(release))))
    versions = b"".join(struct.pack("<Q", r.getrandbits(32)) + s.encode().ljust(56, b"\0") for s in VERSIONED)
    this_module = bytearray(THIS_MODULE_SIZE)
    this_module[MODULE_NAME_AT:MODULE_NAME_AT + len(name)] = name.encode()
    pool = c.rodata_pool()
    start = r.randrange(max(1, len(pool) - rodata_len))
    rodata = pool[start:start + rodata_len].ljust(rodata_len, b"\0")
    strtab = bytearray(b"\0")

    def string(s: str) -> int:
        strtab.extend(s.encode() + b"\0")
        return len(strtab) - len(s) - 1

    init_at = r.randrange(0, text_len - 64) // 16 * 16
    exit_at = r.randrange(0, text_len - 64) // 16 * 16
    # (name, value, size, info, section index): a FILE symbol, then the globals
    symbols = [(string(f"{leaf}.c"), 0, 0, 0x04, 0xFFF1),
               (string("__this_module"), 0, THIS_MODULE_SIZE, 0x11, 6),
               (string("init_module"), init_at, 64, 0x12, 1),
               (string("cleanup_module"), exit_at, 64, 0x12, 1)]
    symtab = bytes(24) + b"".join(struct.pack("<IBBHQQ", n, info, 0, shndx, value, size)
                                  for n, value, size, info, shndx in symbols)
    names = [".text", ".rodata", ".modinfo", "__versions", ".data", ".gnu.linkonce.this_module", ".bss", ".symtab",
             ".strtab", ".shstrtab"]
    shstrtab = b"\0" + b"".join(n.encode() + b"\0" for n in names)
    name_at = {n: shstrtab.index(b"\0" + n.encode() + b"\0") + 1 for n in names}
    # (name, type, flags, body, align, link, info, entsize); .bss holds no bytes in the file
    sections = [(".text", SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, c.code(r, text_len), 16, 0, 0, 0),
                (".rodata", SHT_PROGBITS, SHF_ALLOC, rodata, 32, 0, 0, 0),
                (".modinfo", SHT_PROGBITS, SHF_ALLOC, modinfo, 8, 0, 0, 0),
                ("__versions", SHT_PROGBITS, SHF_ALLOC, versions, 32, 0, 0, 0),
                (".data", SHT_PROGBITS, SHF_WRITE | SHF_ALLOC, c.code(r, data_len // 4).ljust(data_len, b"\0"), 32,
                 0, 0, 0),
                (".gnu.linkonce.this_module", SHT_PROGBITS, SHF_WRITE | SHF_ALLOC, bytes(this_module), 64, 0, 0, 0),
                (".bss", SHT_NOBITS, SHF_WRITE | SHF_ALLOC, b"", 32, 0, 0, 0),
                (".symtab", SHT_SYMTAB, 0, symtab, 8, 9, 2, 24),
                (".strtab", SHT_STRTAB, 0, bytes(strtab), 1, 0, 0, 0),
                (".shstrtab", SHT_STRTAB, 0, shstrtab, 1, 0, 0, 0)]
    out = bytearray(64)
    headers = [bytes(64)]
    for sec, kind, flags, body, align, link, info, entsize in sections:
        at = _align(len(out), align)
        out.extend(bytes(at - len(out)))
        size = r.randrange(64, 4096) // 8 * 8 if kind == SHT_NOBITS else len(body)
        out.extend(body)
        headers.append(struct.pack("<IIQQQQIIQQ", name_at[sec], kind, flags, 0, at, size, link, info, align,
                                   entsize))
    shoff = _align(len(out), 8)
    out.extend(bytes(shoff - len(out)))
    out.extend(b"".join(headers))
    out[:64] = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
                + struct.pack("<HHIQQQIHHHHHH", ET_REL, EM_X86_64, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(headers),
                              len(headers) - 1))
    return signed(bytes(out), r)


@cache
def module_files(release: str) -> dict[str, bytes]:
    """Path -> bytes of the ``.ko`` of every module memory's lsmod lists, for ``release``: made once per process
    and release (every trainee whose kernel it is shares them)."""
    from dflab.scenario.system import KERNEL_MODULES  # the memory's lsmod

    base = f"/usr/lib/modules/{release}/kernel"
    return {f"{base}/{MODULE_PATHS[name]}.ko": module_object(release, name, core, text)
            for name, core, text in KERNEL_MODULES if name in MODULE_PATHS}
