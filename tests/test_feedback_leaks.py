"""Feedback withholds any value the trainee did not hand in, however it was printed (dflab.grading.export.leaks).

A small course on disk: two trainees' keys, one lab's checks, alice's submission, what grading made of it and
the feedback HTML.  A neighbour's value that alice's cell *computed* at grading time (so it is nowhere in what
she handed in) is a leak; her own value computed by her own cell is not; a neighbour's value she typed in is hers.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from dflab.grading.export import leaks

LAB = "02-disk"
CHECKS = "lab: 02-disk\nchecks:\n  payload_sha256: {compare: hex}\n  slack_secret: {compare: exact}\n"
KEYS = {"alice": {"payload_sha256": "a" * 64, "slack_secret": "alice-secret-1"},
        "bob": {"payload_sha256": "b" * 64, "slack_secret": "bob-secret-22"}}


def course(tmp_path: Path, source: str, printed: str) -> Path:
    root = tmp_path / "course"
    (root / "graders").mkdir(parents=True)
    (root / "graders" / f"{LAB}.yaml").write_text(CHECKS)
    for student, answers in KEYS.items():
        (root / "evidence" / student / "key").mkdir(parents=True)
        (root / "evidence" / student / "key" / "answer_key.json").write_text(json.dumps({"answers": answers}))
    for top, outputs in (("submitted", []), ("autograded", [new_output("stream", name="stdout", text=printed)])):
        folder = root / top / "alice" / LAB
        folder.mkdir(parents=True)
        nb = new_notebook(cells=[new_code_cell(source, outputs=outputs)])
        nbformat.write(nb, folder / f"{LAB}.ipynb")
    (root / "feedback" / "alice" / LAB).mkdir(parents=True)
    (root / "feedback" / "alice" / LAB / f"{LAB}.html").write_text(f"<pre>{printed}</pre>")
    return root


def test_a_neighbours_value_computed_at_grading_time_is_withheld(tmp_path: Path) -> None:
    root = course(tmp_path, "print(''.join(reversed('22-terces-bob')))", "bob-secret-22\n")
    assert leaks(root, LAB, "alice", ["alice", "bob"]) == ["bob-secret-22"]


def test_her_own_value_computed_by_her_own_cell_is_hers(tmp_path: Path) -> None:
    root = course(tmp_path, "print(open('slack').read())", "alice-secret-1\n")
    assert leaks(root, LAB, "alice", ["alice", "bob"]) == []


def test_a_neighbours_value_she_typed_in_is_what_she_handed_in(tmp_path: Path) -> None:
    root = course(tmp_path, "print('bob-secret-22')", "bob-secret-22\n")
    assert leaks(root, LAB, "alice", ["alice", "bob"]) == []


def test_a_linked_submission_is_not_read(tmp_path: Path) -> None:
    root = course(tmp_path, "print(''.join(reversed('22-terces-bob')))", "bob-secret-22\n")
    submitted = root / "submitted" / "alice" / LAB / f"{LAB}.ipynb"
    elsewhere = tmp_path / "typed.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("'bob-secret-22'")]), elsewhere)
    submitted.unlink()
    submitted.symlink_to(elsewhere)
    assert leaks(root, LAB, "alice", ["alice", "bob"]) == ["bob-secret-22"]
