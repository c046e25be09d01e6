"""Turn a volume's flat list of planned files into a directory tree.

Both file system writers need the same thing: every directory (planned or
implied by a child's path) with its children in a stable order, so that the
on-disk layout, and therefore every inode number and byte offset in the
answer key, is a pure function of the Case.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from dflab.errors import DflabError
from dflab.scenario.case import DiskFile, Volume


@dataclass(eq=False)
class Node:
    """A file or directory of one volume; implicit directories carry a synthetic ``DiskFile`` with id ``""``."""

    file: DiskFile
    source: str  # id of the planned file this node is, or whose path implied it ("" for the root)
    children: list[Node] = field(default_factory=list)

    @property
    def where(self) -> str:
        """Where to point a user at when this node can't be written."""
        volume = f"volume {self.file.volume}"
        return f"disk.files[{self.source}] on {volume}" if self.source else volume

    @property
    def is_dir(self) -> bool:
        return self.file.is_dir

    @property
    def deleted(self) -> bool:
        return self.file.deleted_at is not None

    def walk(self) -> list[Node]:
        """This node and all below it, parents before children, children in plan order."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def volume_time_range(files: list[DiskFile]) -> tuple[int, int]:
    """Earliest and latest planned time on a volume: mkfs time and last write time of the file system."""
    times = [t for f in files for t in (f.mtime, f.atime, f.ctime, f.crtime, f.deleted_at) if t is not None]
    return (min(times), max(times)) if times else (0, 0)


def build_tree(volume: Volume, files: list[DiskFile], max_name_bytes: int) -> Node:
    """Return the root directory of ``volume`` holding ``files`` (all planned for that volume).

    Raises :class:`DflabError` naming the file for paths no file system can hold.
    """
    first, _ = volume_time_range(files)
    root = Node(DiskFile("", volume.id, "/", b"", first, first, first, first, mode=0o755, is_dir=True), "")
    by_path: dict[str, Node] = {"/": root}
    for f in files:
        where = f"disk.files[{f.id}] on volume {volume.id}"
        parts = _split(f.path, max_name_bytes, where)
        if f.is_dir and f.content:
            raise DflabError("a directory cannot have content", where)
        if f.link and (f.is_dir or f.content or f.slack):
            raise DflabError("a symbolic link has a target, not content", where)
        if f.is_dir and f.deleted_at is not None:
            raise DflabError("deleted directories are not supported, delete its files instead", where)
        parent = root
        for depth in range(1, len(parts)):
            path = "/" + "/".join(parts[:depth])
            node = by_path.get(path)
            if node is None:
                node = Node(_implicit_dir(f, path, depth), f.id)
                by_path[path] = node
                parent.children.append(node)
            elif not node.is_dir:
                raise DflabError(f"parent {path} is a file, not a directory", where)
            elif node.deleted:
                raise DflabError(f"parent {path} is deleted", where)
            parent = node
        path = "/" + "/".join(parts)
        existing = by_path.get(path)
        if existing is not None:
            if existing.file.id or not f.is_dir:
                raise DflabError(f"path {path} is planned twice", where)
            # A directory listed after one of its children: keep the position, take the planned metadata.
            existing.file = f
            continue
        node = Node(f, f.id)
        by_path[path] = node
        parent.children.append(node)
    return root


def _split(path: str, max_name_bytes: int, where: str) -> list[str]:
    if not path.startswith("/"):
        raise DflabError(f"path {path!r} is not absolute", where)
    parts = path.rstrip("/").split("/")[1:]
    if not parts:
        raise DflabError("the root directory cannot be planned as a file", where)
    for name in parts:
        if name in ("", ".", "..") or "\0" in name:
            raise DflabError(f"path {path!r} has an invalid component {name!r}", where)
        if len(name.encode("utf-8")) > max_name_bytes:
            raise DflabError(f"name {name!r} is longer than {max_name_bytes} bytes", where)
    return parts


def _implicit_dir(child: DiskFile, path: str, depth: int) -> DiskFile:
    """A directory nobody planned: it takes its first child's times.

    Top-level directories (/home, /tmp) belong to root like on a real
    system; deeper ones (/home/jdoe) to the owner of the first child.
    """
    uid, gid = (0, 0) if depth == 1 else (child.uid, child.gid)
    return replace(child, id="", path=path, content=b"", uid=uid, gid=gid, mode=0o755, deleted_at=None,
                   slack=b"", true_type="empty", is_dir=True, link="")
