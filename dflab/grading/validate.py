"""Pre-validation of submissions in the grader's process, before any trainee code runs.

A submission that nbgrader cannot grade, or must not, is refused here with one reason line naming what
and where, so it costs no worker time and every other submission is graded:

* **not plain files**: a symbolic link anywhere in it (the submission folder itself included), a regular
  file hard-linked to a name outside the submission, a named pipe, a device, a socket.  nbgrader copies a
  submission as the grader, following links, so ``notes.json -> ../../../evidence/<t>/key/answer_key.json``
  would hand the trainee their own key; instructors also collect with ``cp -a``, rsync, tar or an LMS
  export, which keep links and special files;
* **too big or too complex to read safely** (:data:`LIMITS`);
* **not a notebook nbgrader can read**: not UTF-8, truncated or invalid JSON, not a v4 notebook, another
  lab's notebook, or a file name that is not UTF-8;
* a trainee the gradebook does not know, or one without evidence to grade against.

No path is ever followed: the submission is reached through directory descriptors opened with
``O_NOFOLLOW`` from ``submitted/``, every entry is ``lstat``-ed, every file opened ``O_NOFOLLOW`` and
checked with ``fstat`` against what the scan saw, and the bytes hashed are the bytes checked.  Workers do
not grade ``submitted/`` itself but a private copy made the same way (:func:`copy_submission`) whose
hash must equal the one validated: a submission changed after it was checked is not graded.

Each notebook is parsed in a child process (:func:`notebook_problem`) with its own address-space, CPU and
wall-clock limits, so a pathological file (a 5,000-digit integer, 100,000 nested arrays, a million empty
lists) rejects that one submission and can neither crash nor stall the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import resource
import select
import signal
import stat
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import nbformat

from dflab.grading.sanitize import one_line
from dflab.lab_meta import read_lab
from dflab.provision.trainee_container import HAND_IN_BYTES

MiB = 1 << 20


@dataclass(frozen=True)
class ReadLimits:
    """Every bound on what is read of one submission outside the sandbox, in one place.

    A lab notebook has fewer than 50 cells, about 25 KiB of sources and JSON nested about 8 deep; the
    limits leave a trainee's own notes, cells and saved outputs ample room and keep the cost of reading a
    hostile one to seconds and at most ``parse_memory_bytes`` of memory.
    """

    submission_bytes: int = HAND_IN_BYTES  # all files nbgrader picks up (its ignore patterns applied), together
    entries: int = 10_000  # files and folders in the submission folder, ignored ones included
    dir_depth: int = 32  # folders inside folders
    cells: int = 1_000  # per notebook
    json_depth: int = 64  # nesting of a notebook's JSON
    json_values: int = 2_000_000  # strings, numbers, lists and objects in one notebook
    int_digits: int = 100  # digits of one JSON integer (Python's own cap, 4,300, is far too costly a bound)
    source_chars: int = 2 * MiB  # all cell sources of one notebook
    output_chars: int = 20 * MiB  # saved outputs of one notebook (nbgrader clears them before running it)
    parse_memory_bytes: int = 1 << 30  # memory the process that parses one notebook may map beyond its start
    parse_cpu_s: int = 30  # CPU seconds it may use
    parse_wall_s: float = 120.0  # and wall-clock seconds, on a loaded machine


LIMITS = ReadLimits()
MAX_SUBMISSION_BYTES = LIMITS.submission_bytes


def lab_limits(root: Path, lab: str) -> ReadLimits:
    """:data:`LIMITS` with the submission size the course's copy of the lab's metadata asks for
    (``source/<lab>/lab.yaml``, ``grading.hand_in_mib``); the defaults when it asks for none."""
    if not (root / "source" / lab / "lab.yaml").is_file():
        return LIMITS
    mib = read_lab(root / "source" / lab).grading.hand_in_mib
    return LIMITS if mib is None else replace(LIMITS, submission_bytes=mib * MiB)
_CHUNK = MiB
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO swapped in never hangs
_KINDS = {stat.S_IFLNK: "a symbolic link", stat.S_IFIFO: "a named pipe (FIFO)", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}
PLAIN_FILES = "a submission holds plain files only: hand in the file itself"
CHANGED = "changed while it was being checked: run `dflab grade` again"


@dataclass(frozen=True)
class LabShape:
    """What a submission of one lab must look like: its notebook names and their nbgrader cell ids."""

    lab: str
    notebooks: dict[str, set[str]]  # file name -> grade ids of its nbgrader cells
    limits: ReadLimits = LIMITS  # what is read of one submission (the lab's own hand-in size: lab_limits)

    @classmethod
    def from_source(cls, root: Path, lab: str) -> LabShape:
        """Read ``source/<lab>/*.ipynb`` (the instructor's notebooks) and the lab's limits (:func:`lab_limits`)."""
        notebooks = {}
        for path in sorted((root / "source" / lab).glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            notebooks[path.name] = _grade_ids(nb)
        return cls(lab, notebooks, lab_limits(root, lab))


@dataclass(frozen=True)
class Verdict:
    """A submission's fingerprint and, when it cannot be graded, why."""

    sha256: str
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


class Refused(Exception):
    """A submission that must not be read further; the message is the reason line."""


def _grade_ids(nb: Any) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if isinstance(c.get("metadata", {}).get("nbgrader"), dict) and "grade_id" in c.metadata["nbgrader"]}


def shown(name: str, limit: int = 120) -> str:
    """A file name as part of one printable line: undecodable bytes and control characters escaped, cut short."""
    try:
        text = os.fsencode(name).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate no file system decoding made (a name from elsewhere)
        text = name
    return one_line(text, limit)


# -- walking the submission without following anything ------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """A regular file of the submission, as the scan saw it (``rel``: POSIX path inside the submission)."""

    rel: str
    st: os.stat_result
    ignored: bool  # matched by nbgrader's ignore patterns (itself or a folder above it): nbgrader never reads it


@dataclass
class Scan:
    """What :func:`scan` found: every regular file, how many entries in all, and the first problem."""

    entries: list[Entry] = field(default_factory=list)
    count: int = 0
    problem: str = ""

    @property
    def files(self) -> list[Entry]:
        """The files nbgrader picks up, by path."""
        return sorted((e for e in self.entries if not e.ignored), key=lambda e: e.rel)

    def meta_sha(self) -> str:
        """A hash of names, sizes and times only (for a refused submission, whose contents are never read)."""
        h = hashlib.sha256(b"dflab-scan\0" + self.problem.encode("utf-8", "backslashreplace"))
        for e in sorted(self.entries, key=lambda e: e.rel):
            h.update(f"{shown(e.rel, 4096)}\0{e.st.st_size}\0{e.st.st_mtime_ns}\0".encode())
        return h.hexdigest()


@contextlib.contextmanager
def open_submission(root: Path, student: str, lab: str) -> Iterator[int]:
    """A descriptor of ``root/submitted/<student>/<lab>``, neither of the last two a link; raises Refused."""
    fd = os.open(root / "submitted", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # the instructor's folder
    try:
        rel = "submitted"
        for part in (student, lab):
            rel = f"{rel}/{part}"
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                raise Refused(_open_problem(fd, part, rel, exc)) from None
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def _open_problem(dir_fd: int, name: str, rel: str, exc: OSError) -> str:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return f"{shown(rel)} is gone ({exc.strerror}): {CHANGED}"
    if stat.S_ISLNK(st.st_mode):
        return f"{shown(rel)} is a symbolic link: the submission folder must be a folder, not a link"
    if not stat.S_ISDIR(st.st_mode):
        return f"{shown(rel)} is not a folder"
    return f"cannot open {shown(rel)} ({exc.strerror})"


def scan(top: int, ignore: Sequence[str], limits: ReadLimits = LIMITS) -> Scan:
    """Every entry under the directory descriptor ``top``, depth first by name, stopping at the first problem.

    Problems: anything but folders and regular files, a name that is not UTF-8, a hard link to a file
    outside the submission, more than ``limits.entries`` entries or ``limits.dir_depth`` levels.
    """
    found = Scan()
    try:
        _scan_dir(top, "", 0, False, list(ignore), limits, found)
    except Refused as exc:
        found.problem = str(exc)
    if not found.problem:
        found.problem = _hard_link_problem(found.entries)
    return found


def _scan_dir(fd: int, prefix: str, depth: int, ignored: bool, ignore: list[str], limits: ReadLimits,
              found: Scan) -> None:
    items = []
    with os.scandir(fd) as it:  # scandir works on a duplicate of fd, which stays ours to close
        for item in it:
            found.count += 1
            if found.count > limits.entries:
                raise Refused(f"the submission holds more than {limits.entries:,} files and folders")
            items.append(item)
    for item in sorted(items, key=lambda i: i.name):
        rel = prefix + item.name
        try:
            item.name.encode("utf-8")
        except UnicodeEncodeError:
            raise Refused(f"{shown(rel)}: a file name that is not UTF-8 text (rename it)") from None
        try:
            st = item.stat(follow_symlinks=False)
        except OSError:
            raise Refused(f"{shown(rel)} {CHANGED}") from None
        skip = ignored or any(fnmatch(item.name, pat) for pat in ignore)
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFREG:
            found.entries.append(Entry(rel, st, skip))
        elif kind == stat.S_IFDIR:
            if depth + 1 > limits.dir_depth:
                raise Refused(f"{shown(rel)} is nested more than {limits.dir_depth} folders deep")
            try:
                sub = os.open(item.name, _DIR_FLAGS, dir_fd=fd)
            except OSError:
                raise Refused(f"{shown(rel)} {CHANGED}") from None
            try:
                if not _same(os.fstat(sub), st):
                    raise Refused(f"{shown(rel)} {CHANGED}")
                _scan_dir(sub, rel + "/", depth + 1, skip, ignore, limits, found)
            finally:
                os.close(sub)
        else:
            what = _KINDS.get(kind, "not a regular file")
            if kind == stat.S_IFLNK:
                with contextlib.suppress(OSError):
                    what += f" (to {shown(os.readlink(item.name, dir_fd=fd), 80)})"
            raise Refused(f"{shown(rel)} is {what}: {PLAIN_FILES}")


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _hard_link_problem(entries: list[Entry]) -> str:
    """A regular file with more names than the submission holds has one outside it: refused."""
    inside = Counter((e.st.st_dev, e.st.st_ino) for e in entries)
    for e in entries:
        seen = inside[(e.st.st_dev, e.st.st_ino)]
        if e.st.st_nlink > seen:
            return (f"{shown(e.rel)} is hard-linked to a file outside the submission ({e.st.st_nlink} names, "
                    f"{seen} of them in it): {PLAIN_FILES}")
    return ""


def _open_file(top: int, rel: str) -> int:
    """Open ``rel`` under ``top`` one component at a time, never following a link."""
    *dirs, name = rel.split("/")
    fd = top
    try:
        for part in dirs:
            nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            if fd != top:
                os.close(fd)
            fd = nxt
        return os.open(name, _FILE_FLAGS, dir_fd=fd)
    finally:
        if fd != top:
            os.close(fd)


def read_files(top: int, found: Scan, *, keep: Sequence[str] = (), copy_to: Path | None = None
               ) -> tuple[str, dict[str, bytes]]:
    """Hash the files nbgrader picks up (and copy them to ``copy_to``); return the SHA-256 and ``keep``'s bytes.

    The hash covers names, sizes and contents, as the queue has always recorded it.  Each file is
    checked by ``fstat`` to be the regular file the scan saw (same inode, size and link count): anything
    else raises Refused.  The caller has checked the sizes against the limit.
    """
    h = hashlib.sha256()
    kept: dict[str, bytes] = {}
    for e in found.files:
        try:
            fd = _open_file(top, e.rel)
        except OSError:
            raise Refused(f"{shown(e.rel)} {CHANGED}") from None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode) or not _same(st, e.st) or (st.st_size, st.st_nlink) != \
                    (e.st.st_size, e.st.st_nlink):
                raise Refused(f"{shown(e.rel)} {CHANGED}")
            h.update(f"{e.rel}\0{e.st.st_size}\0".encode())
            out = _create(copy_to, e.rel, st.st_mode) if copy_to is not None else None
            parts, size = [], 0
            with out or contextlib.nullcontext():
                while chunk := fh.read(min(_CHUNK, e.st.st_size + 1 - size)):
                    size += len(chunk)
                    if size > e.st.st_size:
                        raise Refused(f"{shown(e.rel)} {CHANGED}")
                    h.update(chunk)
                    if out is not None:
                        out.write(chunk)
                    if e.rel in keep:
                        parts.append(chunk)
            if size != e.st.st_size:
                raise Refused(f"{shown(e.rel)} {CHANGED}")
            if e.rel in keep:
                kept[e.rel] = b"".join(parts)
    return h.hexdigest(), kept


def _create(base: Path, rel: str, mode: int) -> Any:
    """A new file ``base/rel`` (its folders made), in a private folder this process owns."""
    dest = base / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o755 if mode & 0o111 else 0o644)
    return os.fdopen(fd, "wb")


def copy_submission(root: Path, student: str, lab: str, dest: Path, ignore: Sequence[str],
                    limits: ReadLimits = LIMITS) -> str:
    """Copy the files nbgrader picks up from ``submitted/<student>/<lab>`` to the new folder ``dest``, with the
    checks of :func:`validate` (no link, no special file, no outside hard link, sizes); return their SHA-256.

    Raises Refused with the reason.  What the copy holds is exactly what was hashed.
    """
    with open_submission(root, student, lab) as top:
        found = scan(top, ignore, limits)
        if found.problem:
            raise Refused(found.problem)
        total = sum(e.st.st_size for e in found.files)
        if total > limits.submission_bytes:
            raise Refused(f"submission too large: {total / MiB:.0f} MiB")
        dest.mkdir(mode=0o700)
        sha, _ = read_files(top, found, copy_to=dest)
    return sha


# -- reading one notebook, bounded -------------------------------------------------------------------------
class _Limit(Exception):
    """A notebook over one of the limits (the message is the reason's tail)."""


def check_notebook(name: str, data: bytes, expected: set[str], lab: str, limits: ReadLimits = LIMITS) -> str:
    """Why ``data`` cannot be graded as lab ``lab``'s notebook ``name`` (with grade ids ``expected``), or ''.

    Runs in :func:`notebook_problem`'s child process; callable directly for trusted sizes.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"{name} is not a notebook (not UTF-8 text)"

    def bounded_int(digits: str) -> int:
        if len(digits) > limits.int_digits + 1:
            raise _Limit(f"holds a number of {len(digits.lstrip('-')):,} digits (the limit is {limits.int_digits})")
        return int(digits)

    try:
        data_ = json.loads(text, parse_int=bounded_int)
    except json.JSONDecodeError as exc:
        # A string that runs to the end: no closing quote after it, escaped ones (\") aside.
        runs_to_end = exc.msg.startswith("Unterminated string") and '"' not in re.sub(r"\\.", "", text[exc.pos + 1:])
        if exc.pos >= len(text.rstrip()) or runs_to_end:
            return f"{name} is truncated (the JSON ends early, at line {exc.lineno}): re-save and resubmit"
        return f"{name} is not a notebook (invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg})"
    except _Limit as exc:
        return f"{name} is not a notebook nbgrader can read: it {exc}"
    except RecursionError:
        return _too_deep(name, limits)
    except ValueError as exc:  # e.g. Python's own cap on integer digits
        return f"{name} is not a notebook nbgrader can read ({str(exc)[:120]})"
    del text
    if not isinstance(data_, dict) or not isinstance(data_.get("cells"), list):
        return f"{name} is not a notebook (JSON without a list of cells)"
    if len(data_["cells"]) > limits.cells:
        return f"{name} has {len(data_['cells']):,} cells, the limit is {limits.cells:,}"
    try:
        _measure(data_, limits)
    except _Limit as exc:
        return f"{name} is not a notebook nbgrader can read: it {exc}"
    try:
        major, minor = nbformat.reader.get_version(data_)
        if major not in nbformat.versions:
            return f"{name} is not a notebook nbgrader can read (nbformat version {str(major)[:20]})"
        nb = nbformat.convert(nbformat.versions[major].to_notebook_json(data_, minor=minor), 4)
        nbformat.validate(nb)
        ids = _grade_ids(nb)
    except Exception as exc:  # noqa: BLE001 -- whatever nbformat raises on a hostile file is a refusal, not a crash
        first = str(getattr(exc, "message", "") or exc).strip().splitlines()
        text = first[0] if first and len(first[0]) <= 120 else "it does not match nbformat's schema"
        where = "/".join(str(p) for p in getattr(exc, "path", ()))
        return f"{name} is not a valid notebook ({shown(where + ': ' if where else '')}{shown(text, 160)})"
    if not all(isinstance(i, str) for i in ids):
        return f"{name} is not a valid notebook (a grade_id that is not text)"
    ours, foreign = ids & expected, ids - expected
    if len(foreign) >= len(ours):  # labs share a few ids (setup, check-manifest); a whole other lab brings many
        return (f"{name} is not lab {lab}'s notebook ({len(foreign)} nbgrader cells it does not have, "
                f"{len(ours)} of its {len(expected)}: another lab?)")
    return ""


def _too_deep(name: str, limits: ReadLimits) -> str:
    return f"{name} is not a notebook nbgrader can read: it nests its JSON more than {limits.json_depth} levels deep"


def _measure(nb: dict[str, Any], limits: ReadLimits) -> None:
    """Walk the parsed JSON without recursion: depth, number of values, sources and outputs, valid text."""
    chars = {"source": 0, "outputs": 0}
    stack: list[tuple[Any, int, str]] = [(v, 2, "") for k, v in nb.items() if k != "cells"]
    stack += [(k, 2, "") for k in nb]
    for cell in nb["cells"]:
        if isinstance(cell, dict):
            stack += [(v, 3, k if k in chars else "") for k, v in cell.items()]
            stack += [(k, 3, "") for k in cell]
        else:
            stack.append((cell, 2, ""))
    values = 0
    while stack:
        node, depth, part = stack.pop()
        values += 1
        if values > limits.json_values:
            raise _Limit(f"holds more than {limits.json_values:,} JSON values")
        if depth > limits.json_depth:
            raise _Limit(f"nests its JSON more than {limits.json_depth} levels deep")
        if isinstance(node, str):
            if part:
                chars[part] += len(node)
            if not node.isascii():
                try:
                    node.encode("utf-8")
                except UnicodeEncodeError:
                    raise _Limit("holds text that is not valid Unicode (an unpaired surrogate)") from None
        elif isinstance(node, dict):
            stack += [(v, depth + 1, part) for v in node.values()]
            stack += [(k, depth + 1, "") for k in node]
        elif isinstance(node, list):
            stack += [(v, depth + 1, part) for v in node]
    if chars["source"] > limits.source_chars:
        raise _Limit(f"holds {chars['source'] / MiB:.1f} MiB of sources (the limit is "
                     f"{limits.source_chars // MiB} MiB)")
    if chars["outputs"] > limits.output_chars:
        raise _Limit(f"holds {chars['outputs'] / MiB:.0f} MiB of saved outputs (the limit is "
                     f"{limits.output_chars // MiB} MiB): clear the outputs and resubmit")


def _address_space() -> int:
    """This process's mapped address space now (what RLIMIT_AS counts), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def _child(out: int, args: tuple[str, bytes, set[str], str], limits: ReadLimits) -> None:
    """The forked parsing process: own limits, no output but one reason line on ``out``; never returns."""
    code = 0
    try:
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 -- never the parent's (locked?) streams
        budget = _address_space() + limits.parse_memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.parse_cpu_s, limits.parse_cpu_s + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        name = args[0]
        try:
            reason = check_notebook(*args, limits=limits)
        except MemoryError:
            reason = (f"{name} is not a notebook nbgrader can read: parsing it needs more than "
                      f"{limits.parse_memory_bytes // MiB} MiB of memory")
        except RecursionError:
            reason = _too_deep(name, limits)
        except Exception as exc:  # noqa: BLE001 -- any failure refuses this notebook, nothing more
            reason = f"{name} is not a notebook nbgrader can read ({type(exc).__name__})"
        payload = reason.encode("utf-8", "backslashreplace")[:4000] or b"\0"
        while payload:
            payload = payload[os.write(out, payload):]
    except BaseException:  # noqa: BLE001 -- the parent reads a silent exit as a failure
        code = 1
    finally:
        os._exit(code)


def notebook_problem(name: str, data: bytes, expected: set[str], lab: str, limits: ReadLimits = LIMITS) -> str:
    """:func:`check_notebook` in a forked child bounded in memory, CPU and wall-clock time; its reason or ''.

    A child killed by a limit, or that dies, refuses the notebook with that reason.  The child only parses
    and writes to a pipe (no locks, logging or imports of this process's other threads), then ``_exit``s.
    """
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover -- the child
        os.close(rd)
        _child(wr, (name, data, expected, lab), limits)
    os.close(wr)
    chunks: list[bytes] = []
    status = 1 << 8  # exit 1, unless waitpid says otherwise
    deadline = time.monotonic() + limits.parse_wall_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([rd], [], [], left)
            if not ready:
                continue
            chunk = os.read(rd, 4096)
            if not chunk or sum(map(len, chunks)) > 4000:
                break
            chunks.append(chunk)
        else:
            os.kill(pid, signal.SIGKILL)
            return f"{name} is not a notebook nbgrader can read: reading it took more than {limits.parse_wall_s:.0f} s"
    finally:
        os.close(rd)
        with contextlib.suppress(ChildProcessError):
            _, status = os.waitpid(pid, 0)
    text = b"".join(chunks).decode("utf-8", "replace")
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and text:
        return "" if text == "\0" else text
    why = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
    return (f"{name} is not a notebook nbgrader can read: reading it needed more than "
            f"{limits.parse_memory_bytes // MiB} MiB of memory or {limits.parse_cpu_s} s of CPU ({why})")


# -- the verdict ---------------------------------------------------------------------------------------------
def validate(root: Path, student: str, shape: LabShape, known: set[str], ignore: Sequence[str],
             limits: ReadLimits | None = None) -> Verdict:
    """Check ``submitted/<student>/<lab>/`` can be graded (within ``limits``, by default the lab's:
    ``shape.limits``); see the module doc for what is refused."""
    limits = shape.limits if limits is None else limits
    try:
        with open_submission(root, student, shape.lab) as top:
            return _validate(root, top, student, shape, known, ignore, limits)
    except Refused as exc:
        reason = str(exc)
    except OSError as exc:  # unreadable (permissions, I/O error): this submission only
        reason = f"the submission cannot be read ({exc.strerror or type(exc).__name__})"
    except Exception as exc:  # noqa: BLE001 -- one submission never takes the run down; the reason shows what broke
        reason = f"the submission could not be checked ({type(exc).__name__}: {shown(str(exc), 120)})"
    return Verdict(hashlib.sha256(reason.encode("utf-8", "backslashreplace")).hexdigest(), reason)


def _validate(root: Path, top: int, student: str, shape: LabShape, known: set[str], ignore: Sequence[str],
              limits: ReadLimits) -> Verdict:
    found = scan(top, ignore, limits)
    if found.problem:
        return Verdict(found.meta_sha(), found.problem)
    if student not in known:
        return Verdict(found.meta_sha(), f"{student!r} is not in the gradebook (add them to the roster and re-run "
                                         "`dflab course init`)")
    files = found.files
    total = sum(e.st.st_size for e in files)
    if total > limits.submission_bytes:
        big = max(files, key=lambda e: e.st.st_size)
        return Verdict(found.meta_sha(), f"submission too large: {total / MiB:.0f} MiB ({shown(big.rel)}), the "
                                         f"limit is {limits.submission_bytes // MiB} MiB (clear the outputs and "
                                         "resubmit)")
    try:
        sha, contents = read_files(top, found, keep=list(shape.notebooks))
    except Refused as exc:
        return Verdict(found.meta_sha(), str(exc))
    for name in shape.notebooks:
        if name not in contents:
            others = sorted(shown(e.rel) for e in files if e.rel.endswith(".ipynb"))
            found_ = f" (found {', '.join(others)}: wrong file name?)" if others else ""
            return Verdict(sha, f"no {name} in the submission{found_}")
        problem = notebook_problem(name, contents.pop(name), shape.notebooks[name], shape.lab, limits)
        if problem:
            return Verdict(sha, problem)
    evidence = root / "evidence" / student
    if not (evidence / "evidence" / "manifest.json").is_file() or not (evidence / "key" / "answer_key.json").is_file():
        return Verdict(sha, f"no evidence or answer key for {student!r} in evidence/{student}/ (re-run "
                            "`dflab course init`)")
    return Verdict(sha)
