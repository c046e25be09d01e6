"""ext4 written in pure Python, as mkfs.ext4 (e2fsprogs 1.47) makes it and Linux fills it.

:func:`build_ext4` writes a volume (see :mod:`.build` for how the modules fit together);
:func:`layout` is what ``dflab scenario validate`` asks of a planned volume size.
"""

from dflab.errors import DflabError
from dflab.evidence.disk.ext4.build import Mounts, build_ext4
from dflab.evidence.disk.ext4.geometry import Geometry, geometry


def layout(size_bytes: int, inodes_needed: int, where: str) -> Geometry:
    """The geometry mkfs.ext4 gives a volume of ``size_bytes``; DflabError when it cannot hold an ext4 (or
    ``inodes_needed`` inodes)."""
    geo = geometry(size_bytes, where)
    if inodes_needed > geo.inodes:
        raise DflabError(f"{inodes_needed} inodes needed, the volume has {geo.inodes}", where)
    return geo


__all__ = ["Mounts", "build_ext4", "layout"]
