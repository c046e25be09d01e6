"""Submissions that attack with files, not code (issue 13, items 1 and 2), graded for real.

One lab-02 cohort per sandbox (local, Docker) goes through `dflab grade`: links to the trainee's own key (the
reported attack, which scored full marks), a linked notebook, folder and trainee folder, a hard link to the key,
a named pipe, devices, a socket, a file name that is not UTF-8, and notebooks built to crash or stall a parser
(a 5,000-digit integer, 100,000 nested arrays, 100,000 cells, a million empty lists, bad UTF-8).  Each is
rejected with one reason naming the path, and the well-behaved trainees of the same cohort are graded.

Below validation, the sandboxes themselves stage only plain files (a link swapped in after validation never
reaches a kernel), and the workers grade a private copy that must hash to what was validated.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from dflab.grading import gradebook
from dflab.grading.course import CONFIG_FILE, COURSE_IGNORE, init_course
from dflab.grading.queue import Queue
from dflab.grading.sandbox import Limits, pick_sandbox
from dflab.grading.validate import LIMITS, LabShape, check_notebook, notebook_problem, shown, validate
from tests.docker_fixtures import trainee_image  # noqa: F401 (pytest fixture)
from tests.haystack import small_spec_file
from tests.hostile import files as hf
from tests.labkit import SECRET, Lab

LAB = Lab("02-disk", "02-disk.ipynb")
ROSTER = "id,name\nalice,Alice\nbob,Bob\nmallory,Mallory\n"
# Trainees whose notebook is built to crash or stall a parser: on the roster, so it is their notebook that is refused.
PARSER_ATTACKS = ("hugeint", "deep", "cells", "lists", "badutf8", "surrogate", "notdict", "invalid")
SANDBOXES = [pytest.param("local", marks=pytest.mark.xdist_group("hostile_files_local")),
             pytest.param("docker", marks=pytest.mark.xdist_group("docker_image"))]
PLAIN = "a submission holds plain files only: hand in the file itself"
UNREADABLE = "02-disk.ipynb is not a notebook nbgrader can read: it "


def _submit(root: Path, student: str, nb: nbformat.NotebookNode | None = None, raw: bytes | None = None) -> Path:
    folder = root / "submitted" / student / LAB.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LAB.nb).write_bytes(raw if raw is not None else nbformat.writes(nb).encode())
    return folder


def _key(root: Path, student: str) -> Path:
    return root / "evidence" / student / "key" / "answer_key.json"


def build_cohort(base: Path) -> tuple[Path, dict[str, str]]:
    """A course whose cohort holds two well-behaved trainees and one hostile submission per attack; returns the
    course and, per hostile trainee, the reason their rejection must start with.

    Only the ROSTER's trainees get variants: alice and bob are graded, and mallory's key is what the links point at.
    The parser attacks' trainees are in the gradebook without one, as nothing of theirs may get past the file and
    notebook checks, which come before the evidence check: a refusal for missing evidence is a wrong reason here.
    """
    (base / "graded.csv").write_text(ROSTER)
    init_course(base / "course", base / "graded.csv", LAB.id, SECRET, scenario=small_spec_file("nightjar", base))
    (base / "roster.csv").write_text(ROSTER + "".join(f"{s},{s.title()}\n" for s in PARSER_ATTACKS))
    root = init_course(base / "course", base / "roster.csv", LAB.id, SECRET, build_evidence=False,
                       scenario=small_spec_file("nightjar", base)).root
    assert sorted(p.name for p in (root / "evidence").iterdir()) == ["alice", "bob", "mallory"]
    solution, reader = LAB.source_nb(root), hf.key_reader(LAB.source_nb(root))
    submitted = root / "submitted"
    _submit(root, "alice", solution)
    bob = _submit(root, "bob", reader)  # the key reader without a key: its two key answers are wrong
    hf.hardlinks_inside(bob)  # and two names of one file, both inside: accepted
    expected = {}

    def reader_with(student: str, attack) -> None:  # noqa: ANN001 -- a builder of tests.hostile.files
        rel = attack(_submit(root, student, reader))
        expected[student] = f"{rel} is "

    reader_with("mallory", lambda f: hf.symlink_to_key(f, _key(root, "mallory")))
    expected["mallory"] = ("notes.json is a symbolic link (to ../../../evidence/mallory/key/answer_key.json): "
                           + PLAIN)
    reader_with("nested", lambda f: hf.nested_symlink_to_key(f, _key(root, "mallory")))
    reader_with("hardkey", lambda f: hf.hardlink_to_key(f, _key(root, "mallory")))
    expected["hardkey"] = f"notes.json is hard-linked to a file outside the submission (2 names, 1 of them in it): " \
        f"{PLAIN}"
    reader_with("linknb", lambda f: hf.symlinked_notebook(f, LAB.nb, root / "source" / LAB.id / LAB.nb))
    expected["linknb"] = f"02-disk.ipynb is a symbolic link (to ../../../source/02-disk/02-disk.ipynb): {PLAIN}"
    expected["linkdir"] = hf.symlinked_folder(submitted, "linkdir", LAB.id, submitted / "alice" / LAB.id) + \
        " is a symbolic link: the submission folder must be a folder, not a link"
    expected["linkstudent"] = hf.symlinked_student(submitted, "linkstudent", "alice") + \
        " is a symbolic link: the submission folder must be a folder, not a link"
    for student, attack, kind in (("pipe", hf.fifo, "a named pipe (FIFO)"), ("chardev", hf.char_device,
                                  "a character device"), ("blockdev", hf.block_device, "a block device"),
                                  ("sock", hf.unix_socket, "a socket")):
        reader_with(student, attack)
        expected[student] += f"{kind}: {PLAIN}"
    reader_with("latin1", hf.non_utf8_name)
    expected["latin1"] = "r\\xe9sum\\xe9.txt: a file name that is not UTF-8 text (rename it)"
    reader_with("markup", hf.markup_link)
    expected["markup"] = f"[b]notes is a symbolic link (to [/bold]): {PLAIN}"
    for student, build, reason in (
            ("hugeint", hf.huge_int, UNREADABLE + f"holds a number of 5,000 digits (the limit is {LIMITS.int_digits})"),
            ("deep", hf.deep_nesting, UNREADABLE + f"nests its JSON more than {LIMITS.json_depth} levels deep"),
            ("cells", hf.many_cells, f"02-disk.ipynb has {100_000 + len(solution.cells):,} cells, the limit is 1,000"),
            ("lists", hf.many_lists, "02-disk.ipynb is not a notebook nbgrader can read: parsing it needs more than"),
            ("badutf8", hf.bad_utf8, "02-disk.ipynb is not a notebook (not UTF-8 text)"),
            ("surrogate", hf.lone_surrogate, UNREADABLE + "holds text that is not valid Unicode"),
            ("notdict", hf.not_a_dict, "02-disk.ipynb is not a notebook (JSON without a list of cells)"),
            ("invalid", hf.invalid_cells, "02-disk.ipynb is not a valid notebook (cells/0: ")):
        _submit(root, student, raw=build(solution))
        expected[student] = reason
    return root, expected


def dflab_grade(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                        "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "dflab.cli", "grade", LAB.id, "--course", str(root), *args],
                          cwd=root, env=env, capture_output=True, text=True, timeout=1800, check=False)


@pytest.fixture(scope="module", params=SANDBOXES)
def graded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[Path, dict[str, str], subprocess.CompletedProcess[str]]:
    """The hostile cohort graded by `dflab grade --sandbox <param>` with 2 workers."""
    root, expected = build_cohort(tmp_path_factory.mktemp(f"hostile-{request.param}"))
    if request.param == "docker":
        with (root / CONFIG_FILE).open("a") as fh:
            fh.write(f"c.SandboxedExecute.image = {request.getfixturevalue('trainee_image')!r}\n")
    return root, expected, dflab_grade(root, "--sandbox", request.param, "--workers", "2")


def test_every_file_attack_is_rejected_by_name_and_the_rest_of_the_cohort_is_graded(graded) -> None:  # noqa: ANN001
    root, expected, proc = graded
    assert proc.returncode == 5, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {r["student"]: r for r in gradebook.read_statuses(gradebook.default_url(root), LAB.id)}
    assert set(rows) == {"alice", "bob", *expected}
    assert set(PARSER_ATTACKS) < set(expected)
    for student, reason in expected.items():
        assert rows[student]["status"] == "rejected" and rows[student]["reason"].startswith(reason), rows[student]
        assert "\n" not in rows[student]["reason"]
    assert (rows["alice"]["status"], rows["bob"]["status"]) == ("done", "done"), (rows["alice"], rows["bob"])
    scores = gradebook.cell_scores(gradebook.default_url(root), LAB.id)
    assert set(scores) == {"alice", "bob"}  # nbgrader saw no hostile submission at all
    points = LAB.points(root)
    key_cells = {"check-payload-hash", "check-slack"}
    assert {c: scores["alice"][c] for c in key_cells} == {c: points[c] for c in key_cells}  # the solution scores
    assert {c: scores["bob"][c] for c in key_cells} == dict.fromkeys(key_cells, 0.0)  # the reader without a key not
    # The summary table printed every reason as text: markup in a link target did not break it.
    assert "(to [/bold])" in proc.stdout
    assert not (root / "autograded" / "mallory").exists()


def test_the_sandbox_stages_only_plain_files(sandbox_kind: str, tmp_path_factory: pytest.TempPathFactory,
                                             request: pytest.FixtureRequest) -> None:
    """Below validation: whatever the assignment folder nbgrader made holds (a link swapped in after validation),
    the sandbox's copy holds plain files only, so the kernel can read no key through it."""
    base = tmp_path_factory.mktemp(f"stage-{sandbox_kind}")
    root = LAB.build_course(base / "course", base / "roster.csv")
    work = base / "work"
    (work / "sub").mkdir(parents=True)
    (work / "plain.txt").write_text("plain\n")
    (work / "sub" / "inner.txt").write_text("inner\n")
    key = _key(root, "alice")
    os.symlink(key, work / "notes.json")
    os.symlink("../..", work / "sub" / "up")
    os.link(key, work / "hard.json")
    hf.fifo(work / "sub")
    for attack in (hf.char_device, hf.block_device, hf.unix_socket):
        attack(work)
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nb.cells = [new_code_cell(LISTING)]
    image = request.getfixturevalue("trainee_image") if sandbox_kind == "docker" else "unused"
    sandbox = pick_sandbox(sandbox_kind, image, hide=[root])
    result = sandbox.run(nb, work, root / "evidence" / "alice" / "evidence", Limits(cell_timeout_s=120))
    assert result.status == "ok" and result.notebook is not None, result.reason
    printed = "".join(o.get("text", "") for o in result.notebook.cells[0].outputs)
    listing, notes = printed.strip().splitlines()
    assert json.loads(listing) == [["./plain.txt", "-"], ["./sub", "d"], ["./sub/inner.txt", "-"]], printed
    assert notes == "notes: FileNotFoundError"
    assert json.loads(key.read_text())["answers"]["payload_sha256"] not in printed


LISTING = """
import json, os, stat
found = []
for base, dirs, names in os.walk("."):
    found += [[os.path.join(base, n), stat.filemode(os.lstat(os.path.join(base, n)).st_mode)[0]] for n in dirs + names]
print(json.dumps(sorted(found)))
try:
    print("notes:", open("notes.json").read())
except Exception as exc:
    print("notes:", type(exc).__name__)
"""


@pytest.fixture(params=SANDBOXES)
def sandbox_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.mark.xdist_group("hostile_files_local")
def test_a_submission_swapped_after_validation_is_not_graded(tmp_path: Path) -> None:
    """The worker grades a private copy only if it hashes to what was validated: a notebook's neighbour replaced
    by a link to the key, or edited, between validation and grading is failed with a reason; an unchanged
    submission of the same run is graded."""
    (tmp_path / "roster.csv").write_text(ROSTER)
    root = init_course(tmp_path / "course", tmp_path / "roster.csv", LAB.id, SECRET,
                       scenario=small_spec_file("nightjar", tmp_path)).root
    reader = hf.key_reader(LAB.source_nb(root))
    url = gradebook.normalise_url(gradebook.default_url(root))
    shape = LabShape.from_source(root, LAB.id)
    state = root / ".dflab-grading"
    state.mkdir()
    queue = Queue(state / "queue.sqlite")
    for student in ("alice", "bob", "mallory"):
        (_submit(root, student, reader) / hf.NOTES).write_text('{"answers": {}}')
        verdict = validate(root, student, shape, {"alice", "bob", "mallory"}, COURSE_IGNORE)
        assert verdict.ok, verdict.reason
        assert queue.enqueue(gradebook.queue_key(url), LAB.id, student, verdict.sha256, force=True)
    notes = root / "submitted" / "alice" / LAB.id / hf.NOTES
    notes.unlink()
    hf.symlink_to_key(notes.parent, _key(root, "alice"))  # swapped for a link to the key after validation
    (root / "submitted" / "mallory" / LAB.id / hf.NOTES).write_text(json.dumps(json.loads(
        _key(root, "mallory").read_text())))  # or for a copy of the key (mallory could read it, say)
    proc = subprocess.run([sys.executable, "-m", "dflab.grading.worker", str(root), LAB.id, "--db", url,
                           "--gradebook", gradebook.queue_key(url), "--queue", str(state / "queue.sqlite"),
                           "--set", "SandboxedExecute.sandbox=local"], cwd=root, capture_output=True, text=True,
                          timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = {j.student: j for j in queue.jobs(gradebook.queue_key(url), LAB.id)}
    assert (jobs["alice"].state, jobs["alice"].reason) == ("failed", "not graded: notes.json is a symbolic link (to "
                                                           f"../../../evidence/alice/key/answer_key.json): {PLAIN}")
    assert (jobs["mallory"].state, jobs["mallory"].reason) == (
        "failed", "the submission changed after it was checked: run `dflab grade` again")
    assert jobs["bob"].state == "done", jobs["bob"]
    assert not (root / "autograded" / "alice").exists() and not (root / "autograded" / "mallory").exists()
    assert not list((state / "staged").glob("*/*")), "a worker left its private copies behind"
    queue.close()


# -- the limits, one notebook at a time (no course) ---------------------------------------------------------
def _notebook() -> nbformat.NotebookNode:
    meta = {"nbgrader": {"grade_id": "a", "grade": False, "solution": True, "locked": False}}
    return new_notebook(cells=[new_code_cell("import os", metadata=meta)])


@pytest.mark.parametrize(("build", "reason"), [
    (hf.huge_int, f"n.ipynb is not a notebook nbgrader can read: it holds a number of 5,000 digits (the limit is "
                  f"{LIMITS.int_digits})"),
    (hf.deep_nesting, f"n.ipynb is not a notebook nbgrader can read: it nests its JSON more than {LIMITS.json_depth} "
                      "levels deep"),
    (lambda nb: hf._with_metadata(nb, "[" * 70 + "]" * 70), "n.ipynb is not a notebook nbgrader can read: it nests "
                                                            f"its JSON more than {LIMITS.json_depth} levels deep"),
    (hf.many_cells, "n.ipynb has 100,001 cells, the limit is 1,000"),
    (hf.many_lists, "n.ipynb is not a notebook nbgrader can read: parsing it needs more than 1024 MiB of memory"),
    (hf.bad_utf8, "n.ipynb is not a notebook (not UTF-8 text)"),
    (hf.lone_surrogate, "n.ipynb is not a notebook nbgrader can read: it holds text that is not valid Unicode (an "
                        "unpaired surrogate)"),
    (hf.not_a_dict, "n.ipynb is not a notebook (JSON without a list of cells)"),
    (hf.invalid_cells, "n.ipynb is not a valid notebook (cells/0: it does not match nbformat's schema)"),
    (lambda nb: nbformat.writes(nb).encode().replace(b'"outputs": []', b'"outputs": [{"output_type": "stream", '
                                                     b'"name": "stdout", "text": "' + b"y" * LIMITS.output_chars +
                                                     b'"}]'),
     "n.ipynb is not a notebook nbgrader can read: it holds 20 MiB of saved outputs (the limit is 20 MiB): clear "
     "the outputs and resubmit"),
    (lambda nb: nbformat.writes(nb).replace("import os", "x = 1  " * (LIMITS.source_chars // 7 + 1)).encode(),
     "n.ipynb is not a notebook nbgrader can read: it holds 2.0 MiB of sources (the limit is 2 MiB)"),
])
def test_each_notebook_limit_refuses_with_one_reason(build, reason: str) -> None:  # noqa: ANN001
    data = build(_notebook())
    assert notebook_problem("n.ipynb", data, {"a"}, "lab") == reason
    assert notebook_problem("n.ipynb", nbformat.writes(_notebook()).encode(), {"a"}, "lab") == ""


def test_a_parser_over_its_time_or_memory_is_stopped_and_refuses_the_notebook() -> None:
    """The child's own limits, forced to nothing: no time at all, no memory beyond what it was forked with."""
    data = nbformat.writes(_notebook()).encode()
    assert check_notebook("n.ipynb", data, {"a"}, "lab") == ""
    no_time = dataclasses.replace(LIMITS, parse_wall_s=0)
    assert notebook_problem("n.ipynb", data, {"a"}, "lab", no_time) == \
        "n.ipynb is not a notebook nbgrader can read: reading it took more than 0 s"
    no_memory = dataclasses.replace(LIMITS, parse_memory_bytes=0)
    reason = notebook_problem("n.ipynb", hf.many_lists(_notebook(), 2_000_000), {"a"}, "lab", no_memory)  # ~130 MB
    assert reason.startswith("n.ipynb is not a notebook nbgrader can read: ") and " 0 MiB of memory" in reason


def test_a_name_shows_as_one_printable_line_whatever_it_holds() -> None:
    """Controls, an undecodable byte (surrogate-escaped by the file system) and a lone surrogate from elsewhere."""
    assert shown("a\x1b[2Jb\n") == "a\\x1b[2Jb\\n"
    assert shown(os.fsdecode(b"caf\xe9.ipynb")) == "caf\\xe9.ipynb"
    assert shown("x\ud800y") == "x\\ud800y"
    assert shown("n" * 300, limit=10) == "n" * 9 + "…"


@pytest.mark.parametrize(("tail", "truncated"), [
    ('"source": "print(\\"half', True),        # cut inside a string holding escaped quotes: it runs to the end
    ('"source": "x\\\\', True),                # an escaped backslash last: still the same string
    ('"source": "a\nb", "x": 1}', False),     # a raw newline in a string that closes later: damaged, not truncated
])
def test_a_notebook_cut_inside_a_string_is_truncated_whatever_quotes_it_escapes(tail: str, truncated: bool) -> None:
    reason = check_notebook("n.ipynb", ('{"cells": [{"cell_type": "code", ' + tail).encode(), {"a"}, "lab")
    assert reason.startswith("n.ipynb is truncated" if truncated else "n.ipynb is not a notebook (invalid JSON"), reason
