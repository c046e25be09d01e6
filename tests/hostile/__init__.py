"""A corpus of hostile lab-02 submissions, built from the instructor's solution notebook.

Each builder takes the solution notebook and plants attacks in chosen cells, keeping every other cell a
correct solution, so one grading run shows both that the attack gains nothing (its test cells score 0)
and that the well-behaved cells around it still score.  An attack that *worked* would record the right
value and score: the tests would see it.

The attacker is assumed to know the course layout (``course``: the course directory's absolute path).
"""

from __future__ import annotations

import copy
import json

import nbformat
from nbformat.v4 import new_code_cell

PLANTED_ENV = "DFLAB_PLANTED_SECRET"  # set in the grader's environment to the right answer: must not leak


def _cell(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    [cell] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    return cell


def _append(nb: nbformat.NotebookNode, grade_id: str, code: str) -> None:
    cell = _cell(nb, grade_id)
    cell.source = cell.source + "\n" + code.strip() + "\n"


def _prepend(nb: nbformat.NotebookNode, grade_id: str, code: str) -> None:
    cell = _cell(nb, grade_id)
    cell.source = code.strip() + "\n" + cell.source


def read_key_from_disk(course: str) -> str:
    """Walk the places a key could be and, if one is readable, take the right payload hash from it."""
    return f"""
import glob, json, os
candidates = [os.path.join(os.environ.get("DFLAB_EVIDENCE", "/"), "..", "key", "answer_key.json"),
              {course + "/evidence/alice/key/answer_key.json"!r}]
for top in ("/tmp", "/work", "/home", "/root", "/srv", "/var/tmp", {course!r}):
    for base, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if not d.startswith(("proc", "sys"))][:200]
        candidates += [os.path.join(base, n) for n in names if n == "answer_key.json"]
stolen = None
for path in candidates:
    try:
        stolen = json.load(open(path))["answers"]["payload_sha256"]
        break
    except Exception as exc:
        print("key:", path, type(exc).__name__)
payload_sha256 = stolen or "0" * 64
"""


def read_key_from_environment() -> str:
    """Look for the answer in this process's environment and every other process's."""
    return f"""
import glob, os
stolen = os.environ.get({PLANTED_ENV!r})
for path in glob.glob("/proc/*/environ"):
    try:
        for item in open(path, "rb").read().split(b"\\0"):
            if item.startswith({PLANTED_ENV.encode() + b"="!r}):
                stolen = stolen or item.split(b"=", 1)[1].decode()
    except OSError:
        pass
slack_secret = stolen or "not found"
"""


MONKEYPATCH = """
import builtins
import dflab.lab
import dflab.lab.answers
from dflab.lab.answers import ANSWER_MIME
from IPython.display import display
_real_answer = dflab.lab.answer
def _forging_answer(name, value):
    if name == "archive_true_type":
        display({ANSWER_MIME: {"name": name, "value": "forged", "correct": True}}, raw=True)
        return value
    return _real_answer(name, value)
dflab.lab.answer = dflab.lab.answers.answer = builtins.answer = _forging_answer
archive_true_type = "forged"
"""


def write_course_files(course: str) -> str:
    """Try to raise this trainee's grades in the gradebook and spoil bob's submission and grades."""
    return f"""
import os, sqlite3
course = {course!r}
for attempt in ("gradebook", "submission", "autograded"):
    try:
        if attempt == "gradebook":
            db = sqlite3.connect(os.path.join(course, "gradebook.db"), timeout=1)
            db.execute("UPDATE grade SET auto_score = 100")
            db.commit()
        elif attempt == "submission":
            open(os.path.join(course, "submitted", "bob", "02-disk", "02-disk.ipynb"), "w").write("{{}}")
        else:
            os.makedirs(os.path.join(course, "autograded", "bob", "02-disk"), exist_ok=True)
            open(os.path.join(course, "autograded", "bob", "02-disk", "planted.txt"), "w").write("x")
        print(attempt, "written")
    except Exception as exc:
        print(attempt, "refused:", type(exc).__name__)
deleted_note_text = "forged"
"""


INFINITE_LOOP = "while True:\n    pass\n"
HUGE_OUTPUT = "for _ in range(1024):\n    print('x' * 2**20)  # 1 GiB in all\n"
KILL_KERNEL = "import os\nos.kill(os.getpid(), 9)\n"
MEMORY_BOMB = "hog = []\nwhile True:\n    hog.append(b'x' * (32 << 20))\n"
# Children ignore everything, interrupts included; the parent too: only the wall-clock limit ends it.
FORK_BOMB = """
import os, time
while True:
    try:
        os.fork()
    except BaseException:
        time.sleep(0.001)
"""
# Replace the runner's result with a 900 MiB (sparse) file, from a detached daemon that keeps doing it, and
# kill the runner so it cannot write its own; then record a forged answer.
HOSTILE_RESULT = """
import os, signal, time
runner = os.getppid()
args = open(f"/proc/{runner}/cmdline", "rb").read().decode().split("\\0")
out = next(a for a in args if a.endswith("out.ipynb"))
if os.fork() == 0:
    os.setsid()
    while True:
        try:
            with open(out, "w") as fh:
                fh.truncate(900 << 20)
        except OSError:
            pass
        time.sleep(0.05)
time.sleep(0.5)
os.kill(runner, signal.SIGKILL)
deleted_note_text = "forged"
"""


def mixed(solution: nbformat.NotebookNode, course: str) -> nbformat.NotebookNode:
    """Attacks that leave the kernel alive, one per answer cell; the other answer cells stay solutions.

    Hostile (must score 0): check-payload-hash (key from disk), check-slack (key from the environment),
    check-archive-type (monkeypatched ``answer``), check-root-fs (test cell edited to ``pass`` and 100
    points), check-note (writes to the gradebook and bob's files), check-download-time (1 GiB printed).
    An added cell loops forever (interrupted by the cell timeout) between them.
    """
    nb = copy.deepcopy(solution)
    _append(nb, "answer-payload-hash", read_key_from_disk(course))
    _append(nb, "answer-slack", read_key_from_environment())
    _append(nb, "answer-archive", MONKEYPATCH)
    _append(nb, "answer-partitions", 'root_fs = "forged"')
    test = _cell(nb, "check-root-fs")
    test.source = "pass"
    test.metadata["nbgrader"]["points"] = 100
    _append(nb, "answer-note", write_course_files(course))
    _prepend(nb, "answer-download-time", HUGE_OUTPUT)
    index = nb.cells.index(_cell(nb, "check-note"))
    nb.cells.insert(index + 1, new_code_cell(INFINITE_LOOP))
    return nb


HOSTILE_MIXED = {"check-payload-hash", "check-slack", "check-archive-type", "check-root-fs", "check-note",
                 "check-download-time"}


def at_note(solution: nbformat.NotebookNode, code: str, *, after: bool = False) -> nbformat.NotebookNode:
    """The solution with ``code`` run first (or last) in the deleted-note answer cell (the last but one answer)."""
    nb = copy.deepcopy(solution)
    (_append if after else _prepend)(nb, "answer-note", code)
    return nb


# Test cells that run after the attack in at_note(): they may lose their points with the kernel.
AFTER_NOTE = {"check-note", "check-download-time"}


def source_text(nb: nbformat.NotebookNode) -> str:
    """All of a notebook's sources (to show the corpus holds no answer value)."""
    return json.dumps([c.source for c in nb.cells])
