"""What a saved lab notebook has recorded: the answers the Validate button reports, never whether they are right.

Why not nbgrader's validator: it runs the notebook and says "Success! Your notebook passes all the tests" when no
test cell fails. dflab's test cells only *record* answers (their shape checked in the trainee's kernel); whether an
answer is right is decided at grading, against the trainee's own key, outside the kernel (graders/README.md). So
every well-formed notebook "passed", right or wrong, and a trainee read a notebook graded 12/13 as all correct.

This report says only what is known in the lab: which answers the saved notebook holds (well formed, by the
lab.yaml shapes ``answer()`` checks), which are missing or malformed and why, in one line each, and that grading
checks them. It reads the outputs of the notebook as last saved, so it describes each cell's last run; it runs no
code and holds no key. The JSON it returns is the one nbgrader's Validate button already shows
(:meth:`Report.nbgrader_result`), served by dflab.labserver.
"""

from __future__ import annotations

import ast
import html
import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dflab.errors import DflabError
from dflab.lab.answers import ANSWER_MIME, LAB_FILE, AnswerError, check_shape
from dflab.lab.messages import N_, _
from dflab.lab_meta import graded_notebook, parse_answers

RECORDED, MISSING, MALFORMED = "recorded", "missing", "malformed"
ANSWER_FUNCTION = "answer"
REASON_CHARS = 200
WIDTH = 90  # the dialog shows the report in <pre>, which does not wrap: lines past this are wrapped here
# How grading treats the notebook (dflab.grading): the whole notebook runs again, from the top, and each
# recorded answer is compared with the trainee's key then. Said in every report, whatever it lists.
AT_GRADING = N_("Whether an answer is right is checked only when your work is graded: grading runs the whole "
                "notebook again, from the top, on your own evidence, and compares each answer then.")


@dataclass(frozen=True)
class AnswerState:
    """One answer of the lab: recorded (well formed), missing or malformed, with a one-line reason if not recorded."""

    name: str
    state: str
    reason: str = ""


@dataclass(frozen=True)
class Report:
    """What the saved notebook records, answer by answer in notebook order, and what only grading decides."""

    notebook: str
    answers: tuple[AnswerState, ...]
    manual: tuple[str, ...] = ()  # grade ids of answers the instructor grades by hand
    other_tests: tuple[str, ...] = ()  # grade ids of test cells that record no answer (run only at grading)
    graded_notebook: str | None = None  # lab.yaml's notebook, when it is not this one

    def in_state(self, state: str) -> list[AnswerState]:
        """The answers in ``state`` (RECORDED, MISSING, MALFORMED), in notebook order."""
        return [a for a in self.answers if a.state == state]

    def headline(self) -> str:
        """Two or three lines: what Validate does not check, and the counts."""
        recorded, missing, malformed = (self.in_state(s) for s in (RECORDED, MISSING, MALFORMED))
        lines = []
        if self.graded_notebook:
            lines.append(_("Grading reads {graded} in this folder, not {notebook}.").format(
                graded=self.graded_notebook, notebook=self.notebook))
        lines.append(_("Validate does not check whether your answers are right: grading does."))
        lines.append(_("{recorded} of {answers} answers recorded and well formed, {missing} missing, {malformed} "
                       "malformed, as of each cell's last run in the saved notebook.").format(
            recorded=len(recorded), answers=len(self.answers), missing=len(missing), malformed=len(malformed)))
        return "\n".join(_wrap(line) for line in lines)

    def sections(self) -> list[tuple[str, list[str]]]:
        """(heading, lines) of the details: every answer under its state, then what only grading looks at."""
        out = [(_("Recorded and well formed ({count}):").format(count=len(self.in_state(RECORDED))),
                [a.name for a in self.in_state(RECORDED)] or [_("none")])]
        for state, heading in ((MISSING, N_("Missing ({count}):")), (MALFORMED, N_("Malformed ({count}):"))):
            if found := self.in_state(state):
                out.append((_(heading).format(count=len(found)), [f"{a.name}: {a.reason}" for a in found]))
        if self.manual:
            out.append((_("Graded by your instructor:"), list(self.manual)))
        if self.other_tests:
            out.append((_("Other test cells, run only when graded:"), list(self.other_tests)))
        out.append((_(AT_GRADING), []))
        return out

    def lines(self, escape: bool = False) -> list[str]:
        """The details, wrapped: each heading (bold, with ``escape``: HTML) and its items indented below it."""
        out = []
        for heading, items in self.sections():
            wrapped = _wrap(heading)
            out.append(f"<b>{html.escape(wrapped)}</b>" if escape else wrapped)
            out += [html.escape(x) if escape else x for item in items for x in _wrap(item, "  ", "      ").split("\n")]
        return out

    def text(self) -> str:
        """The whole report as plain text (headline, then details)."""
        return "\n".join([self.headline(), "", *self.lines()])

    def nbgrader_result(self) -> dict[str, Any]:
        """The report in the JSON nbgrader's Validate button shows (its ``failed`` form), never its "Success!".

        nbgrader's frontend (unchanged) prints "Success! Your notebook passes all the tests." for a successful result
        without ``failed`` (or ``changed``...) entries, whatever else it holds, and "There was an error running the
        validate command" above an unsuccessful one's text. One ``failed`` entry shows the server's text under
        nbgrader's fixed line "The following cell failed:": its ``source`` as plain text (the headline) and its
        ``error`` as HTML (the details, escaped here); ``raw_error`` is the details as plain text, as nbgrader's.
        """
        failed = {"source": self.headline(), "error": "\n".join(self.lines(escape=True)),
                  "raw_error": "\n".join(self.lines())}
        return {"success": True, "value": {"failed": [failed]}}


def _wrap(line: str, first: str = "", rest: str = "") -> str:
    return textwrap.fill(line, WIDTH, initial_indent=first, subsequent_indent=rest, break_long_words=False,
                         break_on_hyphens=False) or first


def not_validated(message: str) -> dict[str, Any]:
    """nbgrader's JSON for a validation that could not be done (its button shows ``message`` under an error line)."""
    return {"success": False, "value": message}


def answer_names(source: str) -> list[str]:
    """The answer names a test cell records: the literal first argument of each ``answer(...)`` call.

    The one rule for both sides: the grader (dflab.grading.preprocessor) and the Validate button use it.  The test
    cell's source is the instructor's (nbgrader restores locked cells before execution), so its calls say what
    the cell must produce.
    """
    names = [name for name, _ in answer_calls(source)]
    return sorted(set(names), key=names.index)


def answer_calls(source: str) -> list[tuple[str, ast.expr | None]]:
    """Each ``answer(...)`` call of a cell with a literal name, in order: the name and the value's expression
    (``None`` when the call gives none); the rule :func:`answer_names` applies."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    return [(node.args[0].value, node.args[1] if len(node.args) > 1 else None) for node in ast.walk(tree)
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str) and _called_name(node.func) == ANSWER_FUNCTION]


def _called_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _nbgrader(cell: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = cell.get("metadata")
    found = meta.get("nbgrader") if isinstance(meta, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def _source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _one_line(text: object) -> str:
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."


def _outputs(cell: Mapping[str, Any]) -> tuple[dict[str, list[Any]], list[tuple[str, str]]]:
    """The answers a cell's saved outputs record (name -> values) and its errors (ename, evalue)."""
    recorded: dict[str, list[Any]] = {}
    errors: list[tuple[str, str]] = []
    outputs = cell.get("outputs")
    for out in outputs if isinstance(outputs, list) else []:
        if not isinstance(out, Mapping):
            continue
        if out.get("output_type") == "error":
            errors.append((str(out.get("ename", "Error")), _one_line(out.get("evalue", ""))))
            continue
        data = out.get("data") if out.get("output_type") in ("display_data", "execute_result") else None
        payload = data.get(ANSWER_MIME) if isinstance(data, Mapping) else None
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except json.JSONDecodeError:
                payload = None
        if isinstance(payload, Mapping) and isinstance(payload.get("name"), str) and "value" in payload:
            recorded.setdefault(payload["name"], []).append(payload["value"])
    return recorded, errors


def _state(name: str, values: list[Any], errors: list[tuple[str, str]], rule: Mapping[str, Any] | None,
           recorded_elsewhere: bool) -> AnswerState:
    if rule is None:
        return AnswerState(name, MALFORMED, _("not an answer of this lab (its lab.yaml does not list it)"))
    if len(values) > 1:
        return AnswerState(name, MALFORMED, _("recorded {times} times by one run of its cell; grading takes exactly "
                                              "one (run the cell unchanged)").format(times=len(values)))
    if values:
        try:
            check_shape(name, values[0], dict(rule))
        except ValueError as exc:
            return AnswerState(name, MALFORMED, _one_line(str(exc).removeprefix(f"{name}: ")))
        return AnswerState(name, RECORDED)
    for ename, evalue in errors:
        if ename == AnswerError.__name__ and evalue.startswith(f"{name}: "):
            return AnswerState(name, MALFORMED, evalue.removeprefix(f"{name}: ") + " " + _("(not recorded)"))
    if errors:
        ename, evalue = errors[0]
        stopped = f"{ename}: {evalue}" if evalue else ename
        return AnswerState(name, MISSING, _one_line(_("its cell stopped: {error}").format(error=stopped)))
    if recorded_elsewhere:
        return AnswerState(name, MISSING, _("recorded in another cell, but grading reads only its test cell: run "
                                            "that"))
    return AnswerState(name, MISSING, _("its cell has not run"))


def report(nb: Mapping[str, Any], shapes: Mapping[str, Mapping[str, Any]], notebook: str,
           graded_notebook: str | None = None) -> Report:
    """What notebook ``nb`` (as saved) records of the answers ``shapes`` (lab.yaml's ``answers:``) names.

    An answer is the output of the autograder test cell that calls ``answer(name, ...)``, the one grading reads:
    recorded when that cell's saved outputs hold exactly one answer output of that name whose value has the
    lab.yaml shape; malformed when its value has another shape or ``answer`` refused it; missing otherwise
    (not run, stopped before recording it, or no such cell). ``graded_notebook`` is lab.yaml's ``notebook``.
    """
    cells = [c for c in nb.get("cells", []) if isinstance(c, Mapping)] if isinstance(nb.get("cells"), list) else []
    entries: list[tuple[str, list[Any], list[tuple[str, str]]]] = []
    elsewhere: set[str] = set()
    manual: list[str] = []
    other_tests: list[str] = []
    for index, cell in enumerate(cells):
        meta = _nbgrader(cell)
        grade_id = str(meta.get("grade_id") or f"cell {index + 1}")
        if (meta.get("grade") and meta.get("solution")) or meta.get("task"):
            manual.append(grade_id)
        if cell.get("cell_type") != "code":
            continue
        recorded, errors = _outputs(cell)
        names = answer_names(_source(cell)) if meta.get("grade") and not meta.get("solution") else []
        if meta.get("grade") and not meta.get("solution") and not names:
            other_tests.append(grade_id)
        entries += [(name, recorded.get(name, []), errors) for name in names]
        if not names:
            elsewhere.update(recorded)
    states = [_state(name, values, errors, shapes.get(name), name in elsewhere) for name, values, errors in entries]
    seen = {name for name, _, _ in entries}
    states += [AnswerState(name, MISSING, "no cell of this notebook records it (was its test cell deleted?)")
               for name in shapes if name not in seen]
    graded = graded_notebook if graded_notebook and graded_notebook != notebook.rsplit("/", 1)[-1] else None
    return Report(notebook.rsplit("/", 1)[-1], tuple(states), tuple(manual), tuple(other_tests), graded)


def validation_result(nb: Mapping[str, Any], lab_text: str | None, path: str) -> dict[str, Any]:
    """The Validate button's answer for notebook ``path`` as saved (``nb``), given the text of the ``lab.yaml``
    beside it (None: there is none): :func:`report` in nbgrader's JSON, or one line saying why there is none."""
    cells = nb.get("cells") if isinstance(nb.get("cells"), list) else []
    if lab_text is None:
        if any(answer_names(_source(c)) for c in cells if isinstance(c, Mapping)):
            return not_validated(f"{path}: no {LAB_FILE} beside the notebook: open the notebook from its lab folder")
        return not_validated(f"{path}: not a lab notebook (no {LAB_FILE} beside it); Validate lists the answers "
                             "of a lab's notebook, in its lab folder")
    lab_path = f"{path.rsplit('/', 1)[0]}/{LAB_FILE}" if "/" in path else LAB_FILE
    try:
        shapes = parse_answers(lab_text, lab_path)
    except DflabError as exc:
        return not_validated(str(exc))
    return report(nb, shapes, path, graded_notebook(lab_text)).nbgrader_result()
