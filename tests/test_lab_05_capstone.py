"""Lab 05 Capstone, graded for real: a course made by `dflab course init`, real `nbgrader autograde`, a real kernel.

The capstone's two new check kinds (`timeline`, `citations`, dflab/grading/checks.py) are tested first on their own,
then the whole lab: the solution scores every automatic point and leaves the narrative to an instructor, the blank
release scores nothing, a partly answered notebook loses exactly the cells it got wrong, and one trainee's answers
score only where the two variants coincide.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from pathlib import Path

import pytest
import yaml
from nbgrader.api import Gradebook

from dflab.grading.checks import Check, check_answer, compare_citations, compare_timeline, lookup
from dflab.grading.preprocessor import answer_names
from tests.labkit import ABOUT_GRADING, ROOT, Lab, course_fixtures, key, leaked_forms, solution_cells

LAB = Lab("05-capstone", "05-capstone.ipynb")
AUTO_POINTS = 13      # the autograded cells
MANUAL = {"narrative": 3.0}  # graded by an instructor in formgrader
TIMELINE = Check(compare="timeline", tolerance_s=2, require=("download", "exfil"))
CITATIONS = Check(compare="citations", require=("disk.img", "symbols/linux/*.json"))
pytestmark = pytest.mark.xdist_group("lab-05-capstone")  # one worker: the course is built once per module


# ------------------------------------------------------------------------------------- the two new check kinds

def test_timeline_check_needs_each_step_in_time_in_order_and_the_required_ones() -> None:
    key_timeline = [{"id": "login", "time": "2026-03-05T13:40:13Z"}, {"id": "download", "time": "2026-03-05T13:59:03Z"},
                    {"id": "exfil", "time": "2026-03-05T14:19:29Z"}]
    ok = [["download", "2026-03-05T13:59:04Z"], ["exfil", "2026-03-05T15:19:30+01:00"]]  # any zone, within 2 s
    assert compare_timeline(ok, key_timeline, TIMELINE) == (True, "correct")
    assert compare_timeline([["login", 1772718013], *ok], key_timeline, TIMELINE)[0]  # epoch seconds too

    late = [["download", "2026-03-05T13:59:06Z"], ["exfil", "2026-03-05T14:19:29Z"]]
    assert compare_timeline(late, key_timeline, TIMELINE) == (
        False, "step 'download': not within 2 s of the time in your evidence")
    assert compare_timeline(ok[::-1], key_timeline, TIMELINE) == (False, "the steps are not in chronological order")
    assert compare_timeline(ok[:1], key_timeline, TIMELINE) == (False, "missing step(s): exfil")
    ok_, why = compare_timeline([*ok, ["exfil", "2026-03-05T14:19:29Z"], ["lunch", "2026-03-05T14:20:00Z"]],
                                key_timeline, TIMELINE)
    assert not ok_ and why == "step 'exfil' is listed twice; 'lunch' is not a step of this case"
    assert compare_timeline([["download", "13:59:03"], ok[1]], key_timeline, TIMELINE) == (
        False, "step 'download': expected an ISO-8601 time with a zone or epoch seconds")
    for wrong in ("download", [], [["download"]], {"download": "2026-03-05T13:59:03Z"}):
        assert compare_timeline(wrong, key_timeline, TIMELINE) == (
            False, "expected a non-empty list of [step, time] pairs")
    assert "13:59:03" not in "".join(compare_timeline(late, key_timeline, TIMELINE)[1])  # the key's time stays hidden


def test_citation_check_needs_manifest_items_with_their_hashes_and_the_required_ones() -> None:
    manifest = [{"path": "disk.img", "sha256": "a" * 64, "size": 1},
                {"path": "symbols/linux/dflab-1.json", "sha256": "b" * 64, "size": 1},
                {"path": "network.pcap", "sha256": "c" * 64, "size": 1}]
    cited = [["disk.img", "A" * 64], ["disk.img", "a" * 64], ["symbols/linux/dflab-1.json", "b" * 64]]
    assert compare_citations(cited, manifest, CITATIONS) == (True, "correct")  # case-insensitive, repeats allowed

    assert compare_citations([["disk.img", "a" * 64]], manifest, CITATIONS) == (
        False, "no finding cites 'symbols/linux/*.json'")
    wrong = [["disk.img", "c" * 64], ["disk.img", "c" * 64], ["disk.E01", "a" * 64], *cited[2:]]
    assert compare_citations(wrong, manifest, CITATIONS) == (
        False, "the SHA-256 cited for 'disk.img' is not the one in the evidence manifest; "
               "cites 'disk.E01', which is not an item of the evidence manifest")
    assert compare_citations([["disk.img", ["a" * 64]], *cited[2:]], manifest, CITATIONS)[0] is False
    for shape in (None, "disk.img", [], [["disk.img"]], [[1, "a" * 64]]):
        assert compare_citations(shape, manifest, CITATIONS) == (
            False, "expected a non-empty list of [evidence item, sha256] pairs")


# ------------------------------------------------------------------------------------------- the lab, graded



bundled_course, small_course, course_dir = course_fixtures(LAB)


def auto_points(root: Path) -> dict[str, float]:
    """Grade id -> points of every autograded cell (the narrative excluded)."""
    return {g: p for g, p in LAB.points(root).items() if g not in MANUAL}


def graded(root: Path, student: str, nb, *, narrative_written: bool = True) -> dict[str, float | None]:
    """Submit and autograde ``nb``; check how the narrative was left (for an instructor when written, 0 by
    nbgrader itself when left as the release's stub); return the automatic scores."""
    scores = LAB.submit_and_grade(root, student, nb)
    assert scores.pop("narrative") == (None if narrative_written else 0.0)
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        submission = gb.find_submission_notebook(LAB.id, LAB.id, student)
        assert submission.needs_manual_grade == narrative_written
        assert [g.name for g in submission.grades if g.needs_manual_grade] == ["narrative"] * narrative_written
        assert submission.max_score == AUTO_POINTS + sum(MANUAL.values())
        assert submission.score == sum(scores.values())  # the total counts automatic points until manual grading
    return scores


def test_lab_metadata_answers_checks_and_manual_cell_agree(course_dir: Path) -> None:
    lab = yaml.safe_load((ROOT / "labs" / LAB.id / "lab.yaml").read_text())
    nb = LAB.source_nb(course_dir)
    names = {n for c in nb.cells for n in answer_names(c.source)}
    assert names == set(lab["answers"]) == set(LAB.checks().checks)
    assert {n for step in lab["steps"] for n in step["answers"]} == names
    assert sum(auto_points(course_dir).values()) == AUTO_POINTS == lab["grading"]["autograded_points"]
    [manual] = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "narrative"]
    assert manual.cell_type == "markdown" and manual.metadata.nbgrader["solution"] and manual.metadata.nbgrader["grade"]
    assert {m["grade_id"]: float(m["points"]) for m in lab["grading"]["manual"]} == MANUAL == \
        {"narrative": float(manual.metadata.nbgrader["points"])}
    k = key(course_dir, "alice")  # the key paths the two new checks read hold what the lab needs
    assert [i["path"] for i in k["evidence_items"]][:3] == ["disk.img", "memory.lime", "network.pcap"]
    steps = {e["id"] for e in k["timeline"]}
    assert set(LAB.checks().checks["attack_timeline"].require) <= steps


def test_solution_scores_every_automatic_point_and_leaves_the_narrative_to_an_instructor(course_dir: Path) -> None:
    full = auto_points(course_dir)
    for student in ("alice", "bob"):
        assert graded(course_dir, student, LAB.source_nb(course_dir)) == full
        assert all(LAB.feedback(course_dir, student, g) == [] for g in full)


@ABOUT_GRADING
def test_blank_release_scores_zero(course_dir: Path) -> None:
    assert graded(course_dir, "bob", LAB.released_nb(course_dir), narrative_written=False) == \
        dict.fromkeys(auto_points(course_dir), 0.0)
    [out] = LAB.feedback(course_dir, "bob", "check-citations")
    assert out["evalue"].startswith("report_citations: no answer recorded (was the cell run?) [NameError: ")


@ABOUT_GRADING
def test_partly_answered_scores_the_expected_partial_marks(course_dir: Path) -> None:
    nb = LAB.source_nb(course_dir)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in solution_cells(nb)}
    # Steps listed out of order, the FTP drop mistaken for the C2 server, and findings that cite the capture with
    # the disk image's hash.
    by_id["answer-steps"].source += "\nattack_timeline = attack_timeline[::-1]"
    by_id["answer-network"].source += "\ndrop_ip = c2_ip"
    by_id["answer-findings"].source += ('\nfindings.loc[findings["item"] == "network.pcap", "sha256"] = '
                                        'exhibits["disk.img"]')
    scores = graded(course_dir, "alice", nb)
    lost = dict.fromkeys(["check-attack-timeline", "check-citations", "check-drop-ip"], 0.0)
    assert scores == auto_points(course_dir) | lost and sum(scores.values()) == AUTO_POINTS - 7
    [out] = LAB.feedback(course_dir, "alice", "check-drop-ip")
    assert out["evalue"] == "drop_ip: not the value found in your evidence"
    [out] = LAB.feedback(course_dir, "alice", "check-attack-timeline")
    assert out["evalue"] == "attack_timeline: the steps are not in chronological order"
    [out] = LAB.feedback(course_dir, "alice", "check-citations")
    assert out["evalue"] == ("report_citations: the SHA-256 cited for 'network.pcap' is not the one in the "
                             "evidence manifest")


def fact(k: dict, item: str) -> object:
    """The first fact labs/05-capstone/grader.yaml lets a finding citing ``item`` state, from key ``k``; "" if none."""
    findings = LAB.checks().checks["report_citations"].findings
    paths = next((list(p) for pattern, p in findings.items() if fnmatch.fnmatchcase(item, pattern)), [])
    return lookup(k, paths[0], "key") if paths else ""


def copied_answers(root: Path, student: str) -> dict[str, object]:
    """Every answer of ``student``'s key as a trainee would type it: scalars as they are, the timeline as
    [step, time] pairs, the citations as [item, sha256, fact] rows of the whole manifest."""
    checks, k = LAB.checks(), key(root, student)
    values = {n: lookup(k, checks.key_path(n), "key") for n in checks.checks}
    values["attack_timeline"] = [[e["id"], e["time"]] for e in k["timeline"]]
    values["report_citations"] = [[i["path"], i["sha256"], fact(k, i["path"])] for i in k["evidence_items"]]
    return values


def typed_in_findings(nb, rows: str):
    """``nb`` (answers typed in) with the findings table typed in too: the locked render cell derives
    report_citations from it. ``rows`` is the Python expression of its [item, sha256, fact] rows."""
    first = solution_cells(nb)[0]
    first.source = first.source.replace("report_citations = ", "_rows = ") + (
        f'\nimport pandas as pd\nfindings = pd.DataFrame([[i, s, f, "", ""] for i, s, f in {rows}], '
        'columns=["item", "sha256", "fact", "finding", "time"])')
    return nb


@ABOUT_GRADING
def test_each_trainees_answers_pass_only_against_their_own_key(course_dir: Path) -> None:
    full = auto_points(course_dir)
    copied = typed_in_findings(LAB.typed_in(course_dir, copied_answers(course_dir, "alice")), "_rows")
    assert graded(course_dir, "alice", copy.deepcopy(copied)) == full

    checks, alice, bob = LAB.checks(), copied_answers(course_dir, "alice"), key(course_dir, "bob")
    expected = {}
    for cell in LAB.source_nb(course_dir).cells:
        if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code":
            ok = all(check_answer(checks, n, alice[n], bob, "key")[0] for n in answer_names(cell.source))
            expected[cell.metadata["nbgrader"]["grade_id"]] = full[cell.metadata["nbgrader"]["grade_id"]] if ok else 0.0
    scores = graded(course_dir, "bob", copied)
    assert scores == expected and sum(scores.values()) < AUTO_POINTS
    for grade_id in ("check-manifest", "check-payload-hash", "check-attack-timeline", "check-citations"):
        assert scores[grade_id] == 0, grade_id


@ABOUT_GRADING
def test_citations_copied_from_the_manifest_score_nothing(course_dir: Path) -> None:
    """Issue 13: every trainee can read manifest.json, so its items and hashes alone must not earn the citations;
    each cited exhibit needs a fact only an analysis of this trainee's variant yields."""
    nb = typed_in_findings(LAB.typed_in(course_dir, copied_answers(course_dir, "alice")),
                           '[[i, s, ""] for i, s, _ in _rows]')
    assert graded(course_dir, "alice", nb) == auto_points(course_dir) | {"check-citations": 0.0}
    [out] = LAB.feedback(course_dir, "alice", "check-citations")
    assert out["evalue"].startswith("report_citations: no finding citing 'disk.img' states a fact found in it")


def test_release_has_no_solutions_no_hidden_tests_and_no_answer_values(course_dir: Path) -> None:
    text = LAB.released_text(course_dir)
    released = LAB.released_nb(course_dir)
    tests = [c for c in released.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    assert len(tests) == 8 and all(
        re.fullmatch(r"from dflab\.lab import answer\nanswer\('\w+', \w+\);", c.source) for c in tests)
    [narrative] = [c for c in released.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "narrative"]
    assert narrative.source == "YOUR ANSWER HERE"
    for student in ("alice", "bob"):
        values = copied_answers(course_dir, student)
        leaves = [v for n, v in values.items() if n not in ("attack_timeline", "report_citations")]
        leaves += [t for _, t in values["attack_timeline"]] + [t.replace("T", " ").rstrip("Z")
                                                               for _, t in values["attack_timeline"]]
        leaves += [h for _, h, _ in values["report_citations"]]
        for value in leaves:
            assert not (leaked := leaked_forms(text, value)), f"{student}: {leaked[0]!r} released"


@ABOUT_GRADING
def test_nbgrader_validate(course_dir: Path) -> None:
    LAB.assert_validates(course_dir)
