"""What instructors take away from a grading run: a CSV of the gradebook and a leak check of the feedback.

The CSV has one line per (lab, student) of the status table, with nbgrader's scores: nbgrader's own
``nbgrader export`` knows nothing of statuses, so a rejected or failed submission would look like a
missing one there.  Reasons and trainee ids are written as one printable line, never as a formula.
Given the course, each question of the lab (an autograded test cell) gets a column of its own after those,
named by the answer its cell records (:func:`questions`), holding the points it earned; ``export_json`` is the
same table as one JSON object, for scripts.

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
from nbgrader.api import MissingEntry

from dflab.atomic import write_bytes
from dflab.errors import DflabError
from dflab.grading import gradebook
from dflab.grading.checks import checks_for, lookup
from dflab.grading.sanitize import one_line
from dflab.lab.recorded import answer_names

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


def questions(root: Path, lab: str) -> dict[str, str]:
    """Grade id -> the question's name, for every autograded test cell of ``source/<lab>/``'s notebooks, in
    notebook order: the answer(s) the cell records (``answer('root_fs', ...)`` -> ``root_fs``), else its grade id.

    Names that would repeat a column of :data:`CSV_COLUMNS` (or each other) fall back to the grade id."""
    found: dict[str, str] = {}
    for path in sorted((root / "source" / lab).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution") and meta.get("grade_id"):
                names = answer_names(cell.source)
                found[meta["grade_id"]] = "+".join(names) if names else meta["grade_id"]
    labels = list(found.values())
    return {g: (name if name not in CSV_COLUMNS and labels.count(name) == 1 else g) for g, name in found.items()}


def question_points(root: Path, lab: str) -> dict[str, float]:
    """Grade id -> the points its test cell carries (nbgrader's ``points``), for :func:`questions`' cells."""
    found: dict[str, float] = {}
    for path in sorted((root / "source" / lab).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and meta.get("grade_id"):
                found[meta["grade_id"]] = float(meta.get("points", 0))
    return found


def question_scores(url: str, lab: str) -> dict[str, dict[str, tuple[float, float]]]:
    """Student -> grade id -> (score, max score) of every graded test cell (a manual score wins, as in nbgrader)."""
    with gradebook.open_gradebook(url) as gb:
        try:
            subs = gb.find_assignment(lab).submissions
        except MissingEntry:
            return {}
        out: dict[str, dict[str, tuple[float, float]]] = {}
        for sub in subs:
            for nb in sub.notebooks:
                for grade in nb.grades:
                    out.setdefault(sub.student.id, {})[grade.name] = (float(grade.score or 0), float(grade.max_score))
        return out


def rows(url: str, lab: str | None = None, root: Path | None = None) -> tuple[list[str], list[dict[str, object]]]:
    """The export's columns and rows: the status table (one lab or all) with scores and, given the course
    ``root`` and one ``lab``, one column per question (:func:`questions`) with its points ("" when not graded).
    Text a submission can influence is one printable line here; the CSV also guards it against formulas."""
    statuses = gradebook.read_statuses(url, lab)
    named = questions(root, lab) if root is not None and lab is not None else {}
    per_student = question_scores(url, lab) if named and lab is not None else {}
    columns = [*CSV_COLUMNS, *named.values()]
    out = []
    for row in statuses:
        line: dict[str, object] = {k: "" if row.get(k) is None else one_line(row[k]) if k in TEXT_COLUMNS
                                   else row[k] for k in CSV_COLUMNS}
        graded = per_student.get(str(row["student"]), {}) if row.get("status") == "done" else {}
        line.update({name: graded[g][0] if g in graded else "" for g, name in named.items()})
        out.append(line)
    return columns, out


def export_csv(url: str, dest: Path, lab: str | None = None, root: Path | None = None) -> int:
    """Write :func:`rows` to ``dest`` atomically; return the line count."""
    columns, lines = rows(url, lab, root)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _cell(v, k) for k, v in line.items()} for line in lines)
    write_bytes(dest, out.getvalue().encode())
    return len(lines)


def export_json(url: str, lab: str, root: Path | None = None) -> dict[str, object]:
    """:func:`rows` as one JSON-ready object: ``{"lab", "columns", "questions", "rows"}`` (each question's grade id,
    name and points; rows keyed by column, scores as numbers, a missing one as null)."""
    columns, lines = rows(url, lab, root)
    named = questions(root, lab) if root is not None else {}
    points = question_points(root, lab) if root is not None else {}
    numeric = {"score", "max_score", *named.values()}
    return {"lab": lab, "columns": columns,
            "questions": [{"grade_id": g, "name": n, "points": points.get(g)} for g, n in named.items()],
            "rows": [{k: (None if k in numeric and v == "" else v) for k, v in line.items()} for line in lines]}


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
                outputs = cell.get("outputs", [])
                parts.extend(_strings(outputs))
                # A program's output arrives in pieces; the feedback page shows each stream's pieces joined
                # (nbconvert coalesces them), so a value printed across two pieces is the trainee's there too.
                for name in ("stdout", "stderr"):
                    parts.append("".join(o.get("text", "") for o in outputs
                                         if o.get("output_type") == "stream" and o.get("name") == name
                                         and isinstance(o.get("text"), str)))
    # A tool run with `!` writes through a terminal, which ends lines with CRLF; the page shows them as LF.
    return "\n".join(parts).replace("\r\n", "\n")


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
