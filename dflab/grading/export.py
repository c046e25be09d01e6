"""What instructors take away from a grading run: a CSV of the gradebook and a leak check of the feedback.

The CSV has one line per (lab, student) of the status table, with nbgrader's scores: nbgrader's own
``nbgrader export`` knows nothing of statuses, so a rejected or failed submission would look like a
missing one there.  Reasons and trainee ids are written as one printable line, never as a formula.

Per-trainee HTML feedback is nbgrader's ``generate_feedback`` (run by the workers after autograde).  The
grader's answer checks never put an expected value in an output, but feedback is what leaves the
instructor's hands, so :func:`leaks` checks it anyway: feedback may repeat what the trainee submitted,
and nothing else from any answer key.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from pathlib import Path

import nbformat

from dflab.atomic import write_bytes
from dflab.errors import DflabError
from dflab.grading import gradebook
from dflab.grading.checks import checks_for, lookup
from dflab.grading.sanitize import one_line

CSV_COLUMNS = ("assignment", "student", "status", "score", "max_score", "reason", "sha256", "updated_at")
TEXT_COLUMNS = ("student", "reason")  # what a submission can influence
MAX_OWN_BYTES = 64 << 20  # a submitted notebook larger than validation allows is not read further
MIN_VALUE_LEN = 6  # shorter values ("42", "ext4") occur in any HTML page by chance and prove nothing


def _cell(value: object, column: str) -> object:
    """A CSV field: text from a submission (a reason, a trainee id) as one printable line, never starting like a
    spreadsheet formula (``=``, ``+``, ``-``, ``@`` get a leading ``'``)."""
    if value is None:
        return ""
    if column not in TEXT_COLUMNS:
        return value
    text = one_line(value)
    return f"'{text}" if text.startswith(("=", "+", "-", "@")) else text


def export_csv(url: str, dest: Path, lab: str | None = None) -> int:
    """Write the status table (one lab or all) with scores to ``dest`` atomically; return the line count."""
    rows = gradebook.read_statuses(url, lab)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k), k) for k in CSV_COLUMNS})
    write_bytes(dest, out.getvalue().encode())
    return len(rows)


def feedback_files(root: Path, lab: str, student: str) -> list[Path]:
    """The HTML feedback nbgrader wrote for ``student``."""
    return sorted((root / "feedback" / student / lab).glob("*.html"))


def key_values(root: Path, lab: str, student: str) -> set[str]:
    """Every graded answer value in ``student``'s key, as text (list members one by one), for every lab the course
    grades (``lab`` first): feedback must not carry another lab's answers either."""
    path = root / "evidence" / student / "key" / "answer_key.json"
    key = json.loads(path.read_text(encoding="utf-8"))
    labs = [lab, *sorted(p.stem for p in (root / "graders").glob("*.yaml") if p.stem != lab)]
    values: set[str] = set()
    for name_of_lab in labs:
        try:
            checks = checks_for(root / "graders", name_of_lab)
        except DflabError:
            continue  # not a check file (a schema, a README): nothing to look up
        for name in checks.checks:
            try:
                value = lookup(key, checks.key_path(name), str(path))
            except DflabError:
                continue  # another lab's answer this scenario's key does not hold
            for item in value if isinstance(value, list) else [value]:
                if len(str(item)) >= MIN_VALUE_LEN:
                    values.add(str(item))
    return values


def _present(text: str, value: str) -> bool:
    forms = {value, json.dumps(value)[1:-1]}
    return any(re.search(rf"(?<![\w.]){re.escape(f)}(?![\w])", text) for f in forms)


def submitted_text(root: Path, lab: str, student: str) -> str:
    """What the trainee handed in: their submitted notebooks as saved (sources and the outputs they saved).

    Links are not followed (validation refuses them; this read must not trust that nothing changed since).
    """
    parts = []
    for path in sorted((root / "submitted" / student / lab).glob("*.ipynb")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        with os.fdopen(fd, "rb") as fh:
            if stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                parts.append(fh.read(MAX_OWN_BYTES).decode("utf-8", errors="replace"))
    return "\n".join(parts)


def own_text(root: Path, lab: str, student: str) -> str:
    """What the trainee produced themselves: their submission and, once graded, the outputs their own cells
    printed when executed (every cell but the grader-owned test cells, whose outputs the answer check writes)."""
    parts = [submitted_text(root, lab, student)]
    for path in sorted((root / "autograded" / student / lab).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type == "code" and not (meta.get("grade") and not meta.get("solution")):
                parts.extend(_strings(cell.get("outputs", [])))
    return "\n".join(parts)


def _strings(node: object) -> list[str]:
    """Every string in an output structure, as the trainee saw it (not JSON-escaped again)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [json.dumps(node)] if node is not None else []


def leaks(root: Path, lab: str, student: str, students: list[str]) -> list[str]:
    """Answer values in ``student``'s feedback that the trainee may not see there.

    Their own key's values (any lab) only when they produced them (:func:`own_text`: a cell of theirs computed
    it from their evidence); any other trainee's only when they handed it in (:func:`submitted_text`): a cell
    that reads a neighbour's work or key at grading time and prints it proves nothing of the trainee's, however
    it was printed.
    """
    feedback = "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in feedback_files(root, lab, student))
    mine = key_values(root, lab, student) if student in students else set()
    others = set().union(*(key_values(root, lab, s) for s in students if s != student)) - mine
    produced, handed_in = own_text(root, lab, student), submitted_text(root, lab, student)
    found = {v for v in mine if _present(feedback, v) and not _present(produced, v)}
    found |= {v for v in others if _present(feedback, v) and not _present(handed_in, v)}
    return sorted(found)
