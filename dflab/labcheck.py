"""Prove a lab on a case before a cohort meets it: ``dflab lab check LAB --scenario SPEC``.

A course team changing a lab, or pointing it at another case, wants to know the lab still works there. This
builds a small cohort of that case's variants in a scratch course and grades, for real (nbgrader through
dflab's grading sandbox, as `dflab grade` does), three submissions:

* **solution**: the lab's own notebook with its solutions, on one trainee's evidence: must score every
  autograded point (the solution reads what it needs from the evidence, never assumes Nightjar's layout;
  answers an instructor grades by hand are left out);
* **released**: the notebook trainees receive, untouched: must score 0;
* **copier**: the released notebook with every answer filled in from a *neighbour's* key: must score what
  the grader's own comparisons predict for that pair of keys.

What copying gains is then measured over every ordered pair of the variants (default 12: 132 pairs), with the
grader's comparisons (tolerances, case folding and all): on average at most 10 % of the lab's points. It also
reads every file of the release (what trainees get) for any answer value of any variant's key (a leak), and
counts, per answer, how many distinct values the variants drew.

Labs whose hooks act on a running lab (``seed``, ``post_start``, ``pre_stop``: lab 01's live suspect) need one to
collect from, which lab check does not start: those are refused in one line, and their grading is tested through a
real session instead (tests/test_lab01_*.py). Hooks that only grade (``COMPARES``) or add key facts need no running
lab and are checked like any lab. Answers graded on files a run hands in (a lab kind that ``needs_submission``:
lab 06's evidence file) score 0 for every submission here, which hands in the notebook alone: the solution is held to
every other autograded point, and those answers are proved by the lab's own tests.
"""

from __future__ import annotations

import ast
import csv
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from dflab.atomic import ensure_writable_dir
from dflab.errors import DflabError
from dflab.grading.checks import Check, CheckFile, check_answer, checks_for, lookup
from dflab.grading.course import init_course
from dflab.grading.export import key_values
from dflab.lab.recorded import answer_calls, answer_names
from dflab.lab_hooks import hooks_at
from dflab.lab_meta import REPO, LabMeta, load_lab

SECRET = "dflab-lab-check"  # a fixed secret: the same lab and case give the same variants on every machine
ROLES = ("solution", "released", "copier")  # the first three variants' submissions
VARIANTS = 12  # variants built by default: 132 ordered pairs for the copy share
MAX_COPY_SHARE = 0.10
LIFECYCLE_HOOKS = ("seed", "post_start", "pre_stop")  # hooks that act on a running lab (dflab.lab_hooks)
Step = Callable[[str], None]


def cohort(variants: int) -> list[str]:
    """The trainees lab check builds ``variants`` variants for: one per role, then numbered. With the fixed secret
    these names make the same variants of a case in every run, so checking again in a course kept with ``--keep``
    reuses the variants already built there (``init_course`` builds only those missing)."""
    return [f"check-{role}" for role in ROLES] + [f"check-{n}" for n in range(len(ROLES) + 1, variants + 1)]


def lifecycle_hooks(lab_dir: Path, meta: LabMeta) -> list[str]:
    """The hooks of the lab in ``lab_dir`` (``meta``: its lab.yaml) that need a running lab, which lab check does not
    start; empty for a lab without hooks or whose hooks only grade and add key facts."""
    if not meta.hooks:
        return []
    module = hooks_at(lab_dir / meta.hooks).module
    return [name for name in LIFECYCLE_HOOKS if callable(getattr(module, name, None))]


def uncopyable(checks: CheckFile, name: str) -> bool:
    """Graded on handed-in files (a lab's kind that needs the submission), not on a value one could copy."""
    kind = checks.lab_compare(name)
    return kind is not None and kind.needs_submission


@dataclass
class Finding:
    """One thing the check proved or disproved."""

    name: str
    ok: bool
    detail: str


@dataclass
class LabCheck:
    """Everything ``check_lab`` found for one lab on one case."""

    lab: str
    scenario: Path
    findings: list[Finding] = field(default_factory=list)
    distinct: dict[str, int | None] = field(default_factory=dict)  # answer -> distinct key values (None: no value)
    variants: int = 0
    built: int = 0  # of the variants, those this run built (the rest were kept from an earlier one in its course)
    copy_share: float | None = None  # mean share of the points a neighbour's answers earn, over every ordered pair
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.findings) and all(f.ok for f in self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {"lab": self.lab, "scenario": str(self.scenario), "ok": self.ok, "variants": self.variants,
                "built": self.built, "seconds": round(self.seconds, 1), "copy_share": self.copy_share,
                "findings": [{"name": f.name, "ok": f.ok, "detail": f.detail} for f in self.findings],
                "distinct": self.distinct}


def typed_value(check: Check, value: Any) -> Any:
    """A key's value as a trainee records it with ``answer()`` (citations and timelines are recorded as pairs)."""
    if check.compare == "citations":
        return [[item["path"], item["sha256"]] for item in value]
    if check.compare == "timeline":
        return [[event["id"], event["time"]] for event in value]
    return value


def graded_cells(nb: nbformat.NotebookNode) -> list[tuple[str, float, list[str]]]:
    """``(grade id, points, answer names)`` of each autograded cell recording answers."""
    cells = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        names = answer_names(cell.source) if cell.cell_type == "code" else []
        if meta.get("grade") and names:
            cells.append((str(meta.get("grade_id")), float(meta.get("points") or 0), names))
    return cells


def autograded_points(nb: nbformat.NotebookNode) -> float:
    """The points nbgrader grades automatically (test cells); instructor-graded answers are left out."""
    return sum(float(c.metadata["nbgrader"].get("points") or 0) for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution"))


def cell_copies(checks: CheckFile, names: list[str], source: dict[str, Any], target: dict[str, Any]) -> bool:
    """Does a cell recording the answers ``names`` of the trainee with key ``source`` score for key ``target``?

    It scores when every answer passes the grader's comparison; an answer graded on a case folder counts as
    copied when the facts it is graded against are the same.
    """
    for name in names:
        check = checks.checks.get(name)
        if check is None:
            return False
        value = lookup(source, checks.key_path(name), "source key")
        if uncopyable(checks, name):
            if value != lookup(target, checks.key_path(name), "target key"):
                return False
        elif not check_answer(checks, name, typed_value(check, value), target, "target key")[0]:
            return False
    return True


def copied_points(checks: CheckFile, cells: list[tuple[str, float, list[str]]], source: dict[str, Any],
                  target: dict[str, Any]) -> float:
    """The points a trainee with key ``target`` earns by recording the answers of the trainee with key ``source``."""
    return sum(points for _grade_id, points, names in cells if cell_copies(checks, names, source, target))


def copier_notebook(released: nbformat.NotebookNode, checks: CheckFile, neighbour_key: dict[str, Any],
                    where: str) -> nbformat.NotebookNode:
    """The released notebook with every answer cell setting the neighbour's key values.

    Graded cells are locked (nbgrader restores them from the source when grading), so the values go into
    the answer cell before each graded cell, replacing its stub, as a trainee would type them.
    """
    nb = nbformat.from_dict(json.loads(json.dumps(released)))
    answer_cell: nbformat.NotebookNode | None = None
    typed: dict[int, list[str]] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        if meta.get("solution"):
            answer_cell = cell
            continue
        if not meta.get("grade"):
            continue
        for name, value in answer_calls(cell.source):
            check = checks.checks.get(name)
            if check is None or uncopyable(checks, name):
                continue
            variable = value.id if isinstance(value, ast.Name) else ""
            if not variable:
                raise DflabError(f"cell {meta.get('grade_id')!r} records {name!r} from an expression: graded "
                                 "cells must record a variable, answer('name', name)", where)
            if answer_cell is None:
                raise DflabError(f"cell {meta.get('grade_id')!r} records {name!r} with no answer cell above it",
                                 where)
            value = typed_value(check, lookup(neighbour_key, checks.key_path(name), "neighbour key"))
            typed.setdefault(id(answer_cell), []).append(f"{variable} = {value!r}")
    for cell in nb.cells:
        if id(cell) in typed:
            cell.source = "\n".join(typed[id(cell)]) + "\n"
    return nb


def release_leaks(release: Path, values: set[str]) -> list[str]:
    """Answer values found in any file of the release (what every trainee receives)."""
    found: set[str] = set()
    for path in sorted(p for p in release.rglob("*") if p.is_file() and not p.is_symlink()):
        text = path.read_bytes().decode("utf-8", errors="replace")
        found.update(v for v in values if v in text)
    return sorted(found)


def _roster(path: Path, trainees: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "name"])
        writer.writerows([t, f"Lab check {t}"] for t in trainees)
    return path


def _submit(course: Path, lab: str, notebook: str, trainee: str, nb: nbformat.NotebookNode) -> None:
    dest = course / "submitted" / trainee / lab
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest / notebook)


def check_lab(lab: str, spec: Path, work: Path, *, labs_dir: Path = REPO / "labs", sandbox: str | None = "local",
              workers: int | None = None, variants: int = VARIANTS, step: Step | None = None) -> LabCheck:
    """Check ``lab`` (a folder of ``labs_dir``) on the case ``spec``, working in ``work``; see the module doc."""
    from dflab.grading.service import grade

    say = step or (lambda _message: None)
    start = time.monotonic()
    meta = load_lab(labs_dir, lab)
    if running := lifecycle_hooks(labs_dir / lab, meta):
        raise DflabError(f"lab {lab} runs a live suspect or other processes beside the lab ({meta.hooks}: "
                         f"{', '.join(running)}); its solution needs a running lab to collect from, which lab check "
                         "does not start: test it through `dflab session`", str(labs_dir / lab / "lab.yaml"))
    from dflab.lab_requires import lab_platform
    from dflab.scenario.load import load_spec, platform_of

    wanted, given = lab_platform(labs_dir / lab, meta), platform_of(load_spec(spec))
    if wanted is not None and wanted != given:
        raise DflabError(f"lab {lab} reads a {wanted} case and {spec.name} is a {given} one: choose a {wanted} "
                         "scenario", "--scenario")
    work = ensure_writable_dir(work)
    if variants < len(ROLES):
        raise DflabError(f"lab check needs at least {len(ROLES)} variants, not {variants}", "--variants")
    trainees = cohort(variants)
    result = LabCheck(lab, spec, variants=len(trainees))
    course = work / "course"
    missing = [t for t in trainees if not (course / "evidence" / t / "key" / "answer_key.json").is_file()]
    say(f"building {len(missing)} of {len(trainees)} variants of {spec.name} and releasing {lab}")
    made = init_course(course, _roster(work / "roster.csv", trainees), lab, SECRET, labs_dir=labs_dir, scenario=spec,
                       workers=workers)
    result.built = len(made.evidence_built)
    checks = checks_for(course / "graders", lab)
    keys = {t: json.loads((course / "evidence" / t / "key" / "answer_key.json").read_text(encoding="utf-8"))
            for t in trainees}
    source_nb = nbformat.read(course / "source" / lab / meta.notebook, 4)
    cells = graded_cells(source_nb)
    solution, released, copier = trainees[:len(ROLES)]
    _submit(course, lab, meta.notebook, solution, source_nb)
    released_nb = nbformat.read(course / "release" / lab / meta.notebook, 4)
    _submit(course, lab, meta.notebook, released, released_nb)
    _submit(course, lab, meta.notebook, copier,
            copier_notebook(released_nb, checks, keys[solution], str(labs_dir / lab / meta.source)))
    say(f"grading the solution, the released notebook and a neighbour's copy ({sandbox or 'course'} sandbox)")
    report = grade(course, lab, workers=workers, sandbox=sandbox, force=True)
    rows = {r.student: r for r in report.rows}
    predicted = copied_points(checks, cells, keys[solution], keys[copier])
    auto_total = autograded_points(source_nb)
    handed_in = sum(points for _, points, names in cells if any(uncopyable(checks, n) for n in names))
    for trainee, role in zip(trainees, ROLES, strict=False):
        row = rows.get(trainee)
        if row is None or row.status != "done" or row.score is None or not row.max_score:
            reason = f"{row.status}: {row.reason}" if row else "not graded"
            result.findings.append(Finding(role, False, f"the {role} submission was not graded ({reason})"))
            continue
        if role == "solution":
            ok, want = abs(row.score - (auto_total - handed_in)) < 1e-9, f"all {auto_total:g} autograded points"
            if handed_in:
                want += f" but the {handed_in:g} graded on files a run hands in, which lab check does not make"
        elif role == "released":
            ok, want = row.score == 0, "0"
        else:
            ok, want = abs(row.score - predicted) < 1e-9, f"{predicted:g}, as the grader's comparisons predict"
        result.findings.append(Finding(role, ok, f"{row.score:g}/{row.max_score:g} (wants {want})"))
    total = sum(points for _, points, _ in cells)
    pairs = list(itertools.permutations(trainees, 2))
    if total:
        result.copy_share = sum(copied_points(checks, cells, keys[a], keys[b]) for a, b in pairs) / len(pairs) / total
        result.findings.append(Finding(
            "copy share", result.copy_share <= MAX_COPY_SHARE,
            f"a neighbour's answers earn {result.copy_share:.1%} of {total:g} points on average over "
            f"{len(pairs)} ordered pairs (wants at most {MAX_COPY_SHARE:.0%})"))
    values = set().union(*(key_values(course, lab, t) for t in trainees))
    leaked = release_leaks(course / "release" / lab, values)
    result.findings.append(Finding("release", not leaked, (f"{len(leaked)} answer value(s) in the release: "
                                                           + ", ".join(leaked[:5])) if leaked else
                                   f"no answer value of the {len(trainees)} keys in release/{lab}/"))
    for name in checks.checks:
        if uncopyable(checks, name):
            result.distinct[name] = None
            continue
        drawn = {json.dumps(lookup(keys[t], checks.key_path(name), "key"), sort_keys=True) for t in trainees}
        result.distinct[name] = len(drawn)
    result.seconds = time.monotonic() - start
    return result
