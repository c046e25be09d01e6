"""Hostile submissions made of files, not code: what a trainee, a `cp -a`, an rsync, a tar or an LMS export can
put in ``submitted/<trainee>/<lab>/`` besides a notebook, and notebooks whose JSON is built to crash or stall
whoever parses them.

Each builder plants one attack in a submission folder (``folder``) and returns the path, relative to the
submission, that validation must name.  Attacks on the key aim at the trainee's own key, as in the report
that started this (``notes.json -> ../../../evidence/<t>/key/answer_key.json`` scored full marks):
:func:`key_reader` is a solution notebook whose answers come from ``notes.json``, so an attack that gets the
key into the graded copy scores.
"""

from __future__ import annotations

import copy
import json
import os
import socket
import stat
from pathlib import Path

import nbformat

NOTES = "notes.json"
PLANTED = "@@dflab-planted@@"
# Every answer of lab 02 that a key holds under answers.<name> and a solution cell assigns to the same variable.
KEY_ANSWERS = {
    "answer-payload-hash": "payload_sha256",
    "answer-slack": "slack_secret",
}


def key_reader(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The solution notebook, except that its payload-hash and Slack answers are read from ``notes.json`` (a key
    if the attack worked; otherwise the answers are wrong): those two test cells score only through the key."""
    nb = copy.deepcopy(solution)
    for grade_id, name in KEY_ANSWERS.items():
        [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
        cell.source = (f"import json\ntry:\n    {name} = json.load(open({NOTES!r}))['answers'][{name!r}]\n"
                       f"except Exception as exc:\n    print('no key:', type(exc).__name__)\n    {name} = 'x'\n")
    return nb


def _rel_to(target: Path, folder: Path) -> str:
    return os.path.relpath(target, folder)


# -- links ----------------------------------------------------------------------------------------------------
def symlink_to_key(folder: Path, key: Path) -> str:
    """``notes.json`` a relative symbolic link to the trainee's answer key."""
    os.symlink(_rel_to(key, folder), folder / NOTES)
    return NOTES


def nested_symlink_to_key(folder: Path, key: Path) -> str:
    """The same link, two folders down (``data/raw/notes.json``)."""
    (folder / "data" / "raw").mkdir(parents=True)
    os.symlink(_rel_to(key, folder / "data" / "raw"), folder / "data" / "raw" / NOTES)
    return f"data/raw/{NOTES}"


def symlinked_notebook(folder: Path, notebook: str, target: Path) -> str:
    """The notebook itself a (relative) link (to the instructor's solution, say)."""
    (folder / notebook).unlink(missing_ok=True)
    os.symlink(_rel_to(target, folder), folder / notebook)
    return notebook


def symlinked_folder(submitted: Path, student: str, lab: str, target: Path) -> str:
    """``submitted/<student>/<lab>`` itself a link to another folder (someone else's submission)."""
    (submitted / student).mkdir(parents=True, exist_ok=True)
    os.symlink(target, submitted / student / lab)
    return f"submitted/{student}/{lab}"


def symlinked_student(submitted: Path, student: str, victim: str) -> str:
    """``submitted/<student>`` a link to another trainee's folder: their work, under this name."""
    os.symlink(victim, submitted / student)
    return f"submitted/{student}"


def hardlink_to_key(folder: Path, key: Path) -> str:
    """``notes.json`` another name of the key file (root made it: protected_hardlinks does not stop root)."""
    os.link(key, folder / NOTES)
    return NOTES


def hardlinks_inside(folder: Path) -> tuple[str, str]:
    """Two names of one file, both inside the submission (``cp -al``): harmless, and accepted."""
    (folder / "a.txt").write_text("my notes\n")
    os.link(folder / "a.txt", folder / "b.txt")
    return "a.txt", "b.txt"


# -- special files ----------------------------------------------------------------------------------------
def fifo(folder: Path) -> str:
    """A named pipe: whoever opens it to copy or hash it waits for a writer forever."""
    os.mkfifo(folder / NOTES)
    return NOTES


def char_device(folder: Path) -> str:
    """A character device, /dev/zero's numbers (1, 5): copying it never ends (root can make one; a tar can)."""
    os.mknod(folder / "zero", stat.S_IFCHR | 0o644, os.makedev(1, 5))
    return "zero"


def block_device(folder: Path) -> str:
    """A block device (a loop device's numbers)."""
    os.mknod(folder / "disk", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    return "disk"


def unix_socket(folder: Path) -> str:
    """A Unix socket left by a program that listened in the lab folder."""
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(folder / "kernel.sock"))
    finally:
        sock.close()
    return "kernel.sock"


def non_utf8_name(folder: Path) -> str:
    """A file whose name is not UTF-8 (Latin-1 from an old archive); its escaped form is what must be shown."""
    name = b"r\xe9sum\xe9.txt"
    with open(os.path.join(os.fsencode(folder), name), "wb") as fh:
        fh.write(b"x")
    return "r\\xe9sum\\xe9.txt"


def markup_link(folder: Path) -> str:
    """A link whose target is rich markup (a closing tag with no opening one): the reason quoting it must
    print as text, not crash the summary table."""
    os.symlink("[/bold]", folder / "[b]notes")
    return "[b]notes"


# -- notebooks built to crash or stall a parser ----------------------------------------------------------
def _with_metadata(nb: nbformat.NotebookNode, raw: str) -> bytes:
    """``nb`` as JSON with one more notebook metadata field whose value is ``raw`` JSON text (kept verbatim)."""
    data = json.loads(nbformat.writes(nb))
    data["metadata"]["dflab_planted"] = PLANTED
    return json.dumps(data, indent=1).replace(json.dumps(PLANTED), raw, 1).encode()


def huge_int(nb: nbformat.NotebookNode, digits: int = 5000) -> bytes:
    """A 5,000-digit integer in the notebook's metadata (Python refuses to parse more than 4,300 digits)."""
    return _with_metadata(nb, "1" * digits)


def deep_nesting(nb: nbformat.NotebookNode, depth: int = 100_000) -> bytes:
    """An array nested 100,000 deep (json's recursion limit; a recursive walker's too)."""
    return _with_metadata(nb, "[" * depth + "]" * depth)


def many_cells(nb: nbformat.NotebookNode, cells: int = 100_000) -> bytes:
    """The notebook with 100,000 empty code cells appended (kept one worker busy 711 s before limits)."""
    data = json.loads(nbformat.writes(nb))
    blank = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": []}
    data["cells"] += [dict(blank, id=f"c{i}") for i in range(cells)]
    return json.dumps(data).encode()


def many_lists(nb: nbformat.NotebookNode, count: int = 8_000_000) -> bytes:
    """Eight million empty lists (24 MB of JSON, gigabytes once parsed): a memory bomb for the parser."""
    return _with_metadata(nb, "[" + ",".join(["[]"] * count) + "]")


def bad_utf8(nb: nbformat.NotebookNode) -> bytes:
    """The notebook with one byte that is not UTF-8 in a cell's source."""
    return nbformat.writes(nb).encode().replace(b"import", b"imp\xffort", 1)


def lone_surrogate(nb: nbformat.NotebookNode) -> bytes:
    """Valid JSON whose text holds an unpaired surrogate (``\\ud800``): not Unicode anyone can write back."""
    return _with_metadata(nb, '"\\ud800"')


def not_a_dict(nb: nbformat.NotebookNode) -> bytes:
    """A JSON list where the notebook should be."""
    return b"[" + nbformat.writes(nb).encode() + b"]"


def invalid_cells(nb: nbformat.NotebookNode) -> bytes:
    """Valid JSON, but nbformat's schema refuses it (a cell of an unknown type)."""
    data = json.loads(nbformat.writes(nb))
    data["cells"][0]["cell_type"] = "exploit"
    return json.dumps(data).encode()
