"""Let TSK read any image a libyal binding (pyewf, pyvhdi, pyvmdk, pyqcow) decodes, and fail in one line.

The PyPI pytsk3 reads raw images only.  The libyal bindings decode the
containers (E01, VHD/VHDX, VMDK, QCOW) and all offer the same two calls,
``read_buffer_at_offset`` and ``get_media_size``; :class:`LibyalImage` is the
pytsk3 "external image" bridge from the pytsk3 wiki written once for all of
them.

Why it records read errors: when a Python ``read`` raises, pytsk3 turns the
failure into a ``RuntimeError`` carrying the exception's repr and TSK's own
complaint ("Cannot determine file system type"), so a missing E01 segment
surfaced as a traceback about file systems.  The bridge keeps the real cause
as a one-line :class:`EvidenceError`, and :func:`dflab.forensics.images.opened`
raises that instead.
"""

from __future__ import annotations

import re
from typing import Protocol

import pytsk3

from dflab.errors import EvidenceError

__all__ = ["LibyalHandle", "LibyalImage", "reason"]

# libyal errors chain "function: message." clauses, outermost first; each clause starts a new function name.
_CLAUSE = re.compile(r"(?:^|\.\s+)([A-Za-z_][A-Za-z0-9_]*): ")


class LibyalHandle(Protocol):
    """The calls every libyal binding's file or handle object offers."""

    def read_buffer_at_offset(self, size: int, offset: int) -> bytes: ...

    def get_media_size(self) -> int: ...

    def close(self) -> None: ...


class LibyalImage(pytsk3.Img_Info):
    """A pytsk3 image whose bytes come from a libyal handle; ``read_error`` holds the last failed read."""

    def __init__(self, handle: LibyalHandle, path: str, label: str) -> None:
        self._handle = handle
        self._size = int(handle.get_media_size())
        self.path = path
        self.label = label
        self.read_error: EvidenceError | None = None
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    @property
    def handle(self) -> LibyalHandle:
        """The binding's own object, for what TSK does not ask (stored hashes, header values)."""
        return self._handle

    def close(self) -> None:
        self._handle.close()

    def read(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self._size - offset))
        try:
            return self._handle.read_buffer_at_offset(size, offset)
        except OSError as exc:
            self.read_error = EvidenceError(f"{self.label} image unreadable at media byte offset {offset}: "
                                            f"{reason(exc)}", self.path)
            raise

    def get_size(self) -> int:
        return self._size


def reason(exc: BaseException) -> str:
    """The clause of a libyal error chain that says what is wrong, without the function names.

    ``"pyewf_handle_read_buffer: unable to read data. libewf_chunk_table_...: missing segment file for
    offset: 3047424 (0x002e8000). ..."`` gives ``"missing segment file for offset: 3047424 (0x002e8000)"``:
    the first clause that is not just "unable to ...", else the most detailed one (libvmdk's "unable to
    retrieve grain: 51 data from grain group: 0 in extent file: 0 at offset: 3342336").
    """
    text = " ".join(str(exc).split())
    starts = list(_CLAUSE.finditer(text))
    clauses = [text[m.end():(starts[i + 1].start() if i + 1 < len(starts) else len(text))].strip().rstrip(".")
               for i, m in enumerate(starts)]
    if not clauses:
        return text or type(exc).__name__
    telling = [c for c in clauses if c and not c.startswith("unable to")]
    return telling[0] if telling else max(clauses, key=len)
