"""Deliver the raw disk image also as an EnCase 6 (E01) image, byte-identical on every build.

ewfacquire (ewf-tools) writes the E01, as a responder would have: the pyewf
binding dflab reads E01 with is built without zlib and cannot write.  The
E01 header records the acquisition and system date from the clock, so two
runs differ unless they run in the same second.  ewfacquire therefore runs
under libfaketime with the clock *frozen* (``faketime -f "YYYY-MM-DD
hh:mm:ss"``; a plain or ``@`` timestamp would let it run) at the case's
acquisition time, with TZ=UTC and the C locale: the same raw image and header
give the same bytes whenever they are built (with the same ewf-tools and
zlib, which the golden manifests pin like any other tool).

The header is read back with pyewf before the file is accepted, so a
libfaketime that failed to load (ld.so only warns) cannot slip a wall-clock
date, and hence a non-reproducible image, into the evidence.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pyewf

from dflab.errors import ToolError
from dflab.scenario.case import E01Header
from dflab.scenario.draw import iso

FORMAT = "encase6"
SEGMENT_SIZE = "1.4GiB"  # ewfacquire's default: a disk above it gets disk.E02, disk.E03 ...
TOOLS = {"ewfacquire": "ewf-tools", "faketime": "faketime"}  # tool -> Debian package
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def require_tools(where: str) -> dict[str, str]:
    """The paths of ewfacquire and faketime; a missing one is one line naming its Debian package."""
    paths = {tool: shutil.which(tool) for tool in TOOLS}
    for tool, path in paths.items():
        if path is None:
            raise ToolError(f"E01 output needs {tool} (Debian package {TOOLS[tool]}), which is not on PATH", where)
    return {tool: str(path) for tool, path in paths.items()}


def header_date(t: int) -> str:
    """The date as libewf writes it into the header with TZ=UTC (``Mon Mar  2 10:00:00 2026``), locale-free."""
    d = datetime.fromtimestamp(t, tz=UTC)
    return f"{_DAYS[d.weekday()]} {_MONTHS[d.month - 1]} {d.day:2d} {d:%H:%M:%S} {d.year}"


def write_e01(raw: Path, target: Path, header: E01Header, *, where: str,
              work_dir: Path | None = None) -> dict[str, object]:
    """Write the raw image ``raw`` as ``target`` (``<name>.E01``, plus ``.E02`` ... past 1.4 GiB); return key facts.

    ewfacquire writes into a temporary directory in ``work_dir`` (default:
    beside ``target``; a build passes a directory outside ``evidence/`` so no
    half-written segment is ever seen there) and the segments are renamed into
    place once complete and checked; on any failure nothing is left behind.
    """
    if target.suffix != ".E01":
        raise ToolError("an E01 image's name ends in .E01", str(target))
    tools = require_tools(where)
    frozen = datetime.fromtimestamp(header.acquired_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    compression = f"deflate:{header.compression}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=work_dir or target.parent))
    placed: list[Path] = []
    try:
        cmd = [tools["faketime"], "-f", frozen, tools["ewfacquire"], "-u", "-q", "-t", str(tmp / target.stem),
               "-f", FORMAT, "-c", compression, "-S", SEGMENT_SIZE, "-C", header.case_number,
               "-D", header.description, "-e", header.examiner, "-E", header.evidence_number, "-N", header.notes,
               str(raw)]
        env = {"PATH": os.environ.get("PATH", os.defpath), "TZ": "UTC", "LC_ALL": "C"}
        proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        if proc.returncode != 0:
            lines = [ln.strip() for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
            crash = _crash(proc.returncode, lines)
            if crash:
                raise ToolError(f"ewfacquire crashed ({crash}) writing {target.name} from {raw}", where)
            raise ToolError(f"ewfacquire failed (exit {proc.returncode}): {' '.join(lines[:2]) or 'no message'}",
                            where)
        segments = sorted(tmp.iterdir())
        if not segments:
            raise ToolError("ewfacquire exited 0 but wrote no E01", where)
        media_md5 = _check(segments[0], header, raw.stat().st_size, where)
        for seg in segments:
            os.replace(seg, target.parent / seg.name)
            placed.append(target.parent / seg.name)
    except BaseException:
        for p in placed:
            p.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "path": target.name, "segments": [p.name for p in placed], "format": FORMAT, "compression": compression,
        "acquired": iso(header.acquired_at), "case_number": header.case_number, "description": header.description,
        "examiner": header.examiner, "evidence_number": header.evidence_number, "notes": header.notes,
        "media_size": raw.stat().st_size, "md5": media_md5,
    }


def _crash(returncode: int, stderr_lines: list[str]) -> str | None:
    """The signal that killed ewfacquire, or None when it exited with an error of its own.

    ewfacquire runs as faketime's child: faketime reports a child killed by a signal as ``Caught <signal>``
    on stderr and exits 1 (libfaketime 0.9.10), so a crash is read from there; a negative return code is a
    signal too (a faketime that passes the child's death on, or none in between).
    """
    if returncode < 0:
        try:
            return signal.strsignal(-returncode) or f"signal {-returncode}"
        except ValueError:
            return f"signal {-returncode}"
    for line in stderr_lines:
        _, caught, name = line.rpartition("Caught ")  # printed without a newline, so it may end another line
        if caught and name:
            return name
    return None


def _check(first_segment: Path, header: E01Header, media_size: int, where: str) -> str:
    """Read the new image's header back; return the MD5 ewfacquire stored for the media."""
    handle = pyewf.handle()
    try:
        handle.open(pyewf.glob(str(first_segment)))
    except OSError as exc:
        raise ToolError(f"ewfacquire wrote an E01 that libewf cannot open: {exc}", where) from exc
    try:
        date = handle.get_header_value("acquiry_date")
        size = handle.get_media_size()
        md5 = handle.get_hash_value("MD5")
    finally:
        handle.close()
    if date != header_date(header.acquired_at):
        raise ToolError(f"E01 acquisition date is {date!r}, not {header_date(header.acquired_at)!r}: faketime "
                        "did not freeze ewfacquire's clock (is libfaketime installed?)", where)
    if size != media_size:
        raise ToolError(f"E01 media size {size} != raw image size {media_size}", where)
    return str(md5)
