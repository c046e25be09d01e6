"""The bytes of an installed system's files, each kind looking like what it is to ``file``, ``readelf``, ``zcat``
and an entropy check.

Every generator takes a :class:`random.Random` seeded from the file's path (never the case), so a path always has
the same bytes: the tree's contents are shared by every trainee of a case and generated once per process
(:mod:`.tree`). Nothing here reads the host: a build is the same on every machine.

* **ELF** executables (PIE, with ``PT_INTERP``) and shared objects (``DT_SONAME``): headers, program and section
  headers ``readelf`` accepts, a ``.dynamic`` naming what they need, and bodies whose byte statistics are a
  compiler's, not a random generator's: ``.text`` bytes follow x86-64's opcode frequencies (about 6 bits of
  entropy per byte), ``.rodata`` holds strings, sections are aligned with zeros.
* **gzip** (man pages, changelogs, charmaps) as ``gzip -9n`` makes them: no name, no time, Unix.
* **gettext catalogs**, **TZif** zone files, **PNG** icons, and text (configuration, Python, groff, DEP-5
  copyright files) built from words.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Iterable
from functools import cache

from dflab.scenario.content import WORDS

# x86-64 machine code's byte frequencies, roughly (from compiled Debian binaries): how many of 256 uniform draws map
# to each byte.  The rest map one each to the remaining byte values, so every value occurs.
_CODE_WEIGHTS = {0x00: 30, 0x48: 14, 0x89: 11, 0x8B: 9, 0xFF: 9, 0x0F: 7, 0xE8: 6, 0x24: 5, 0x44: 5, 0x83: 5,
                 0x85: 4, 0x74: 4, 0x75: 4, 0x41: 4, 0x4C: 4, 0x8D: 4, 0xC3: 3, 0x31: 3, 0xC0: 3, 0x45: 3,
                 0x01: 3, 0x10: 3, 0x08: 3, 0xC7: 3, 0x20: 2, 0x18: 2, 0x28: 2, 0x30: 2, 0x38: 2, 0xEB: 2,
                 0x5D: 2, 0x55: 2, 0x53: 2, 0x5B: 2, 0xF8: 2, 0xE9: 2, 0x40: 2, 0x02: 2, 0x04: 2, 0x84: 2,
                 0xD2: 2, 0x66: 2, 0x90: 2, 0xC4: 2, 0xE0: 2}


def _code_table() -> bytes:
    table = [b for b, n in _CODE_WEIGHTS.items() for _ in range(n)]
    table += [b for b in range(256) if b not in _CODE_WEIGHTS][: 256 - len(table)]
    return bytes(table)


_CODE = _code_table()
_SYMBOL_WORDS = ("init fini open close read write alloc free parse format print error warn config load save "
                 "get set find list next prev copy move check update reset start stop buffer string path "
                 "file stream table entry node hash lock unlock signal thread wait flush").split()


def code(r: random.Random, size: int) -> bytes:
    """``size`` bytes with the statistics of compiled x86-64 code (not of random data)."""
    return r.randbytes(size).translate(_CODE) if size > 0 else b""


def words(r: random.Random, count: int) -> list[str]:
    return r.choices(WORDS, k=count)


def sentence(r: random.Random, lo: int = 6, hi: int = 14) -> str:
    return " ".join(r.choices(WORDS, k=r.randint(lo, hi))).capitalize() + "."


@cache
def pools() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Sentences and wrapped paragraphs drawn once (a fixed seed): text is assembled from them, since drawing
    every word of ~100 MB of files one by one would take minutes."""
    r = random.Random("dflab/ostree/prose")
    sentences = tuple(sentence(r) for _ in range(4000))
    paragraphs = []
    for _ in range(600):
        lines, line = [], ""
        for word in " ".join(r.choices(sentences, k=r.randint(2, 6))).split():
            if len(line) + len(word) + 1 > 72:
                lines.append(line)
                line = ""
            line = f"{line} {word}" if line else word
        paragraphs.append("\n".join([*lines, line]))
    return sentences, tuple(paragraphs)


@cache
def rodata_pool() -> bytes:
    """Read-only data of programs: messages and names, NUL-terminated (a program's .rodata is a window into it)."""
    return "\0".join(random.Random("dflab/ostree/rodata").choices(pools()[0], k=120_000)).encode()


def prose(r: random.Random, size: int, width: int = 72) -> str:
    """English-looking paragraphs (wrapped at 72 columns) of about ``size`` characters."""
    del width
    count = max(1, size // 350)
    return "\n\n".join(r.choices(pools()[1], k=count)) + "\n\n"


def gzip9n(data: bytes) -> bytes:
    """What ``gzip -9n`` writes (Debian compresses man pages and changelogs so): no name, no time, OS Unix."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    body = z.compress(data) + z.flush()
    return (b"\x1f\x8b\x08\x00" + bytes(4) + b"\x02\x03" + body
            + struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF))


# -- ELF -----------------------------------------------------------------------------------------------------------

ET_DYN, EM_X86_64 = 3, 62
PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_PHDR, PT_GNU_STACK = 1, 2, 3, 6, 0x6474E551
DT_NEEDED, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT, DT_SONAME, DT_FLAGS_1 = 1, 5, 6, 10, 11, 14, 0x6FFFFFFB
DF_1_NOW, DF_1_PIE = 0x1, 0x08000000
SHT_PROGBITS, SHT_STRTAB, SHT_DYNAMIC, SHT_DYNSYM, SHT_NOBITS = 1, 3, 6, 11, 8
INTERP = b"/lib64/ld-linux-x86-64.so.2\0"


def _align(n: int, to: int) -> int:
    return -(-n // to) * to


def elf(r: random.Random, size: int, *, soname: str = "", needed: Iterable[str] = (), executable: bool = True,
        strings: Iterable[str] = ()) -> bytes:
    """An x86-64 ELF of exactly ``size`` bytes: a PIE executable (``executable``) or a shared object named
    ``soname``, needing ``needed``; ``strings`` go into ``.rodata`` beside generated ones.

    Layout as ``ld`` leaves a stripped binary: headers, ``.interp``, ``.dynsym``/``.dynstr``, ``.text``,
    ``.rodata``, ``.dynamic``, ``.data``, ``.shstrtab`` and the section header table at the end.
    """
    needed = list(needed)
    interp = INTERP if executable else b""
    nph = 6 if executable else 4
    head = 64 + 56 * nph
    # .dynstr: needed libraries, the soname, symbol names
    symbols = sorted({f"{r.choice(_SYMBOL_WORDS)}_{r.choice(_SYMBOL_WORDS)}" for _ in range(r.randint(8, 40))})
    dynstr = bytearray(b"\0")
    offsets: dict[str, int] = {}
    for name in [*needed, *([soname] if soname else []), *symbols]:
        offsets[name] = len(dynstr)
        dynstr += name.encode() + b"\0"
    dynsym = bytearray(24)
    for name in symbols:
        dynsym += struct.pack("<IBBHQQ", offsets[name], 0x12, 0, 0, 0, 0)
    entries = [(DT_NEEDED, offsets[n]) for n in needed]
    if soname:
        entries.append((DT_SONAME, offsets[soname]))
    entries += [(DT_STRSZ, len(dynstr)), (DT_SYMENT, 24)]
    if executable:
        entries.append((DT_FLAGS_1, DF_1_NOW | DF_1_PIE))
    names = b"\0.interp\0.dynsym\0.dynstr\0.text\0.rodata\0.dynamic\0.data\0.bss\0.shstrtab\0"
    shnum = 10
    tail = len(names) + 64 * shnum
    fixed = head + len(interp) + len(dynsym) + len(dynstr) + 16 * (len(entries) + 3) + 64 + 16 * 8
    room = max(size - fixed - tail, 256)
    rodata_len = room // 5
    data_len = room // 20
    text_len = room - rodata_len - data_len
    layout: dict[str, tuple[int, bytes]] = {}
    at = head
    for name, body in ((".interp", interp), (".dynsym", bytes(dynsym)), (".dynstr", bytes(dynstr))):
        if body:
            at = _align(at, 8)
            layout[name] = (at, body)
            at += len(body)
    text_at = _align(at, 16)
    strings_blob = b"".join(s.encode() + b"\0" for s in strings)
    pool = rodata_pool()
    start = r.randrange(len(pool) - rodata_len) if rodata_len < len(pool) else 0
    rodata = strings_blob + pool[start : start + rodata_len]
    rodata = rodata[:rodata_len].ljust(rodata_len, b"\0")
    sizes = size - tail
    text_len = max(16, min(text_len, sizes - text_at - rodata_len - data_len - 16 * (len(entries) + 3) - 16))
    layout[".text"] = (text_at, code(r, text_len))
    rodata_at = text_at + text_len
    layout[".rodata"] = (rodata_at, rodata)
    dyn_at = _align(rodata_at + rodata_len, 8)
    addr = {name: off for name, (off, _) in layout.items()}
    entries += [(DT_STRTAB, addr[".dynstr"]), (DT_SYMTAB, addr[".dynsym"])]
    dynamic = b"".join(struct.pack("<qQ", tag, value) for tag, value in entries) + bytes(16)
    layout[".dynamic"] = (dyn_at, dynamic)
    data_at = dyn_at + len(dynamic)
    data_len = max(0, sizes - data_at)
    layout[".data"] = (data_at, code(r, data_len // 4).ljust(data_len, b"\0"))
    shstr_at = data_at + data_len
    shoff = shstr_at + len(names)
    total = shoff + 64 * shnum
    rx_end = rodata_at + rodata_len
    phdrs = bytearray()

    def ph(p_type: int, flags: int, off: int, filesz: int, memsz: int, align: int) -> None:
        phdrs.extend(struct.pack("<IIQQQQQQ", p_type, flags, off, off, off, filesz, memsz, align))

    if executable:
        ph(PT_PHDR, 4, 64, 56 * nph, 56 * nph, 8)
        ph(PT_INTERP, 4, layout[".interp"][0], len(interp), len(interp), 1)
    ph(PT_LOAD, 5, 0, rx_end, rx_end, 0x1000)
    ph(PT_LOAD, 6, dyn_at, shstr_at - dyn_at, shstr_at - dyn_at + 0x400, 0x1000)
    ph(PT_DYNAMIC, 6, dyn_at, len(dynamic), len(dynamic), 8)
    ph(PT_GNU_STACK, 6, 0, 0, 0, 16)
    entry = text_at if executable else 0
    ehdr = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
            + struct.pack("<HHIQQQIHHHHHH", ET_DYN, EM_X86_64, 1, entry, 64, shoff, 0, 64, 56, nph, 64, shnum,
                          shnum - 1))
    out = bytearray(total)
    out[:64] = ehdr
    out[64 : 64 + len(phdrs)] = phdrs
    for off, body in layout.values():
        out[off : off + len(body)] = body
    out[shstr_at : shstr_at + len(names)] = names
    name_at = {n.decode(): names.index(b"\0" + n + b"\0") + 1 for n in names.strip(b"\0").split(b"\0")}

    def sh(name: str, sh_type: int, flags: int, off: int, length: int, link: int = 0, align: int = 1,
           entsize: int = 0) -> bytes:
        return struct.pack("<IIQQQQIIQQ", name_at[name] if name else 0, sh_type, flags, off if flags & 2 else 0,
                           off, length, link, 1 if sh_type == SHT_DYNSYM else 0, align, entsize)

    sections = [bytes(64)]
    interp_at = layout[".interp"][0] if interp else 0
    sections.append(sh(".interp", SHT_PROGBITS, 2, interp_at, len(interp)))
    sections.append(sh(".dynsym", SHT_DYNSYM, 2, addr[".dynsym"], len(dynsym), 3, 8, 24))
    sections.append(sh(".dynstr", SHT_STRTAB, 2, addr[".dynstr"], len(dynstr)))
    sections.append(sh(".text", SHT_PROGBITS, 6, text_at, text_len, align=16))
    sections.append(sh(".rodata", SHT_PROGBITS, 2, rodata_at, rodata_len, align=32))
    sections.append(sh(".dynamic", SHT_DYNAMIC, 3, dyn_at, len(dynamic), 3, 8, 16))
    sections.append(sh(".data", SHT_PROGBITS, 3, data_at, data_len, align=32))
    sections.append(sh(".bss", SHT_NOBITS, 3, shstr_at, 0x400, align=32))
    sections.append(sh(".shstrtab", SHT_STRTAB, 0, shstr_at, len(names)))
    out[shoff:total] = b"".join(sections)
    return bytes(out)


# -- other binary formats ------------------------------------------------------------------------------------------


def gettext_mo(r: random.Random, domain: str, language: str) -> bytes:
    """A GNU message catalog (little endian, revision 0) of a few dozen translated messages."""
    header = (f"Project-Id-Version: {domain}\nReport-Msgid-Bugs-To: \nLanguage-Team: {language}\n"
              f"Language: {language}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
              "Content-Transfer-Encoding: 8bit\nPlural-Forms: nplurals=2; plural=(n != 1);\n")
    count = r.randint(8, 120)
    sentences = pools()[0]
    pairs = sorted(dict(zip(r.choices(sentences, k=count), r.choices(sentences, k=count), strict=True)).items())
    pairs.insert(0, ("", header))
    n = len(pairs)
    originals = [k.encode() for k, _ in pairs]
    translations = [v.encode() for _, v in pairs]
    table_at = 28
    blob_at = table_at + 16 * n
    blob = bytearray()
    otab, ttab = bytearray(), bytearray()
    for tab, items in ((otab, originals), (ttab, translations)):
        for s in items:
            tab += struct.pack("<II", len(s), blob_at + len(blob))
            blob += s + b"\0"
    return struct.pack("<IIIIIII", 0x950412DE, 0, n, table_at, table_at + 8 * n, 0, blob_at) + otab + ttab + blob


def tzif(r: random.Random, name: str) -> bytes:
    """A TZif version 2 zone file: transitions, local time types, the POSIX TZ footer."""
    offset = r.choice((-5, -4, -3, 0, 1, 2, 3, 5, 8, 9, 10)) * 3600
    transitions = sorted(r.sample(range(-1_500_000_000, 2_000_000_000, 3600), r.randint(0, 180)))
    abbrevs = b"LMT\0STD\0DST\0"
    types = struct.pack(">iBB", offset - r.randint(1, 900), 0, 0) + struct.pack(">iBB", offset, 0, 4)
    types += struct.pack(">iBB", offset + 3600, 1, 8)
    indexes = bytes(1 + (i % 2) for i in range(len(transitions)))

    def block(width: str) -> bytes:
        counts = struct.pack(">6I", 0, 0, 0, len(transitions), 3, len(abbrevs))
        body = b"".join(struct.pack(">" + width, t) for t in transitions) + indexes + types + abbrevs
        return b"TZif2" + bytes(15) + counts + body

    footer = f"\nSTD{-offset // 3600}DST\n" if transitions else f"\n<{name[:3].upper()}>{-offset // 3600}\n"
    return block("i") + block("q") + footer.encode()


def icon(r: random.Random, size: int) -> bytes:
    """An RGBA PNG icon of ``size`` pixels square: a shaded disc in a drawn colour, deflated as libpng does."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    shade, alpha = _disc(size)
    pixels = bytearray(4 * size * size)
    for channel in range(3):
        level = r.randrange(64, 256)
        pixels[channel::4] = shade.translate(bytes(level * s // 255 for s in range(256)))
    pixels[3::4] = alpha
    stride = 4 * size
    rows = b"".join(b"\0" + pixels[y * stride : (y + 1) * stride] for y in range(size))
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


@cache
def _disc(size: int) -> tuple[bytes, bytes]:
    """Per pixel: the shade (255 at the centre) and the alpha (opaque inside the disc) of a ``size`` icon."""
    half = size / 2
    shade, alpha = bytearray(), bytearray()
    for y in range(size):
        for x in range(size):
            d = ((x + 0.5 - half) ** 2 + (y + 0.5 - half) ** 2) ** 0.5 / half
            shade.append(int(255 * max(0.0, 1.0 - d * 0.6)))
            alpha.append(255 if d < 0.92 else 0)
    return bytes(shade), bytes(alpha)


def data_blob(r: random.Random, size: int) -> bytes:
    """Structured binary data (a database, a compiled table): small integers, offsets and names."""
    names = "\0".join(r.choices(_SYMBOL_WORDS, k=max(1, size // 64))).encode()
    numbers = r.randbytes(size).translate(_SMALL)
    half = size // 2
    return (numbers[:half] + names)[:size].ljust(size, b"\0")


_SMALL = bytes(min(b, 255) if b < 96 else (b % 16) for b in range(256))
