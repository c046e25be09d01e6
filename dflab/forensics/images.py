"""Open a disk image whatever its container -- raw, E01, VHD/VHDX, VMDK, QCOW -- as the image TSK reads.

The container is recognised by its signature (:func:`dflab.forensics.magic.path_type`),
never by its extension, and decoded by the libyal binding TSK itself builds
on (pyewf, pyvhdi, pyvmdk, pyqcow).  What cannot be read is one
:class:`EvidenceError` line that names the file and says what to do, e.g. how
to convert the image with ``qemu-img convert -O raw``.

Differencing images (a VHD or VMDK child, a QCOW2 overlay) are read through
their parent, which must lie beside them under the name the child records.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PureWindowsPath
from types import ModuleType
from typing import Any

import pytsk3

from dflab.errors import EvidenceError
from dflab.forensics.ewf import open_e01
from dflab.forensics.libyal import LibyalImage, reason
from dflab.forensics.magic import path_type

__all__ = ["CONTAINERS", "close", "convert_hint", "open_image", "opened"]

MAX_PARENTS = 16


class _Container:
    """How one container format is opened: its name as shown, its binding and the binding's class."""

    def __init__(self, label: str, module: str, package: str, cls: str, parent_call: str) -> None:
        self.label, self.module, self.package, self.cls, self.parent_call = label, module, package, cls, parent_call


CONTAINERS = {
    "vhd": _Container("VHD", "pyvhdi", "libvhdi-python", "file", "get_parent_filename"),
    "vhdx": _Container("VHDX", "pyvhdi", "libvhdi-python", "file", "get_parent_filename"),
    "vmdk": _Container("VMDK", "pyvmdk", "libvmdk-python", "handle", "get_parent_filename"),
    "qcow": _Container("QCOW", "pyqcow", "libqcow-python", "file", "get_backing_filename"),
    "qcow2": _Container("QCOW2", "pyqcow", "libqcow-python", "file", "get_backing_filename"),
}


def convert_hint(path: Path) -> str:
    """The command that turns ``path`` into a raw image any tool reads (qemu-img follows parent chains)."""
    return f"qemu-img convert -O raw {path} {path.with_suffix('.raw')}"


def open_image(path: str | os.PathLike[str]) -> pytsk3.Img_Info:
    """Open a raw, E01, VHD/VHDX, VMDK or QCOW image and return a ``pytsk3.Img_Info``.

    E01 sets are opened whole (every segment beside the first, checked
    first); a VMDK descriptor opens its extent files; a differencing image its
    parent.  Close it with :func:`close` (or use :func:`opened`).
    """
    target = Path(path)
    if not target.is_file():
        raise EvidenceError("disk image not found", str(target))
    try:
        kind = path_type(target)
    except OSError as exc:
        raise EvidenceError(f"cannot read disk image: {exc.strerror or exc}", str(target)) from exc
    if kind == "ewf":
        return open_e01(target)
    if kind == "ewf2":
        raise EvidenceError("is an Ex01 (EWF version 2) image; dflab reads E01 (EWF version 1) sets: convert it with "
                            f"ewfexport -u -f raw -t {target.with_suffix('')} {target}", str(target))
    if kind in CONTAINERS:
        container = CONTAINERS[kind]
        return LibyalImage(_open_chain(target, kind, ()), str(target), container.label)
    try:
        return pytsk3.Img_Info(str(target))
    except OSError as exc:
        raise EvidenceError(f"cannot open disk image: {exc}", str(target)) from exc


@contextmanager
def opened(path: str | os.PathLike[str]) -> Iterator[pytsk3.Img_Info]:
    """:func:`open_image` for the length of a ``with`` block, closed after it.

    A TSK call that failed because the container could not be read (pytsk3
    reports it as a ``RuntimeError`` about file systems) is raised as the
    read's own one-line :class:`EvidenceError`.
    """
    img = open_image(path)
    try:
        yield img
    except (OSError, RuntimeError) as exc:
        error = getattr(img, "read_error", None)
        if error is not None:
            raise error from exc
        raise
    finally:
        close(img)


def close(img: pytsk3.Img_Info) -> None:
    """Release a libyal image's file handles now; raw images are closed by pytsk3 when collected."""
    if isinstance(img, LibyalImage):
        img.close()


# --------------------------------------------------------------------------- internals

def _binding(kind: str, path: Path) -> ModuleType:
    container = CONTAINERS[kind]
    try:
        return importlib.import_module(container.module)
    except ImportError as exc:
        raise EvidenceError(
            f"is a {container.label} image and {container.module} (PyPI {container.package}) is not installed: "
            f"`pip install {container.package}`, or convert it: {convert_hint(path)}", str(path)) from exc


def _open_chain(path: Path, kind: str, children: tuple[Path, ...]) -> Any:
    """Open one libyal image and, for a differencing image, its parent chain beside it."""
    container = CONTAINERS[kind]
    handle = getattr(_binding(kind, path), container.cls)()
    try:
        handle.open(str(path))
    except OSError as exc:
        raise EvidenceError(f"cannot open {container.label} image: {reason(exc)}", str(path)) from exc
    try:
        if kind == "vmdk":
            _open_extents(handle, path)
        if kind.startswith("qcow") and handle.is_locked():
            raise EvidenceError(f"{container.label} image is encrypted; decrypt it first: "
                                f"qemu-img convert --object secret,... -O raw {path} {path.with_suffix('.raw')}",
                                str(path))
        parent_name = getattr(handle, container.parent_call)()
        if parent_name:
            handle.set_parent(_open_parent(path, kind, parent_name, children))
    except BaseException:
        handle.close()
        raise
    return handle


def _open_extents(handle: Any, path: Path) -> None:
    try:
        handle.open_extent_data_files()
    except OSError as exc:
        names = []
        for index in range(handle.get_number_of_extents()):
            name = handle.get_extent_descriptor(index).get_filename()
            if name and not (path.parent / PureWindowsPath(name).name).is_file():
                names.append(PureWindowsPath(name).name)
        missing = f"extent file(s) {', '.join(names)} missing beside it" if names else reason(exc)
        raise EvidenceError(f"cannot open the VMDK's data: {missing}", str(path)) from exc


def _open_parent(child: Path, kind: str, recorded: str, children: tuple[Path, ...]) -> Any:
    """The parent a differencing image records, looked up by its file name in the child's folder."""
    label = CONTAINERS[kind].label
    # Windows tools record C:\VMs\base.vhd, qemu a relative or POSIX path: the name is what travels.
    name = PureWindowsPath(recorded).name if "\\" in recorded else Path(recorded).name
    parent = child.parent / name
    if not parent.is_file():
        raise EvidenceError(f"{label} image is a differencing image whose parent {name!r} (recorded as {recorded!r}) "
                            f"is not beside it: copy the parent next to it, or convert the chain where it is: "
                            f"{convert_hint(child)}", str(child))
    if parent.resolve() in children or len(children) >= MAX_PARENTS:
        raise EvidenceError(f"{label} image's parent chain loops or is deeper than {MAX_PARENTS}", str(child))
    parent_kind = path_type(parent)
    if CONTAINERS.get(parent_kind, None) is None or CONTAINERS[parent_kind].module != CONTAINERS[kind].module:
        raise EvidenceError(f"{label} image's parent {name} is {parent_kind}, which its library cannot chain to; "
                            f"convert the chain: {convert_hint(child)}", str(child))
    return _open_chain(parent, parent_kind, (*children, child.resolve()))
