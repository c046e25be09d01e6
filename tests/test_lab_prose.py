"""A lab's prose is a template filled from its case at release (issue 15, item 3; dflab/lab_prose.py).

The notebooks' markdown names the case through placeholders (``{{ case.title }}``, ``{{ case.summary }}``,
``{{ volumes.transfer.label }}``), so a lab pointed at another spec tells that spec's story. One release serves a
whole cohort, so a placeholder whose value is drawn per trainee, an unknown one, or one naming an answer is refused
as one line at the notebook's cell: by the real `dflab scenario validate` and by `init_course`, which never
releases raw template text. Everything is real: the spec loader, Jinja2's sandbox, nbgrader's release, the CLI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dflab.errors import DflabError
from dflab.grading.course import init_course
from dflab.lab_meta import load_lab
from dflab.lab_prose import released_source
from dflab.scenario.load import load_spec

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "labs"
NIGHTJAR = LABS / "scenarios" / "nightjar.yaml"
LAB_IDS = sorted(p.parent.name for p in LABS.glob("*/lab.yaml"))
SECRET = "test-secret"
MARKS = ("{{", "{%", "{#")
OTHER_TITLE = "Operation Kestrel: a price list leaves the civil registry"
OTHER_SUMMARY = ("A registry clerk's computer sent the municipal price list to a competitor overnight. "
                 "Find out how it left, and who received it.")


def cells(text: str, kind: str) -> list[dict]:
    return [c for c in json.loads(text)["cells"] if c["cell_type"] == kind]


def prose(text: str) -> str:
    """Every markdown cell of a notebook's JSON text, as one text."""
    return "\n\n".join("".join(c["source"]) for c in cells(text, "markdown"))


def other_case(tmp_path: Path) -> Path:
    """Nightjar's spec telling another story: another title and summary, and another label on the stick."""
    text = NIGHTJAR.read_text(encoding="utf-8")
    changes = [('title: "Operation Nightjar: data theft from a finance workstation"', f'title: "{OTHER_TITLE}"'),
               ("  On the morning of the incident the finance team's workstation contacted an unknown server. The\n"
                "  network team captured the segment's traffic; responders imaged the disk and acquired memory.\n"
                "  Establish what was downloaded, what ran, what left the building, and when.\n",
                f"  {OTHER_SUMMARY}\n"),
               ("label: TRANSFER", "label: KINGSTON"),
               ('mount: "/media/{user}/TRANSFER"', 'mount: "/media/{user}/KINGSTON"')]
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "kestrel.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("lab", LAB_IDS)
def test_every_bundled_lab_tells_its_case_from_the_spec(lab: str) -> None:
    """The story is a template in the lab (not Nightjar's words), and rendered with nightjar.yaml it reads as the
    case: no template text left, the title and summary told, the code cells byte for byte."""
    source = (LABS / lab / "source.ipynb").read_text(encoding="utf-8")
    assert "{{ case.title }}" in prose(source) and "Nightjar" not in prose(source)
    spec = load_spec(NIGHTJAR)
    rendered = released_source(LABS / lab, load_lab(LABS, lab), NIGHTJAR)
    told = prose(rendered)
    assert not [mark for mark in MARKS if mark in told], told
    assert f"**{spec.title}.** {spec.summary.strip()}" in told
    assert cells(rendered, "code") == cells(source, "code")
    assert released_source(LABS / lab, load_lab(LABS, lab), NIGHTJAR) == rendered  # a pure function of its input


def test_lab_02_on_another_case_tells_that_story(tmp_path: Path) -> None:
    rendered = prose(released_source(LABS / "02-disk", load_lab(LABS, "02-disk"), other_case(tmp_path)))
    assert f"**{OTHER_TITLE}.** {OTHER_SUMMARY}" in rendered
    assert "The case's FAT32 file system is the partition labelled `KINGSTON` (34 MiB)" in rendered
    assert "Nightjar" not in rendered and "finance" not in rendered and "TRANSFER" not in rendered


def planted_lab(labs: Path) -> Path:
    """A copy of lab 02 in ``labs`` whose prose names what no release may show: a per-trainee value, an unknown
    fact, an answer, a role lab.yaml's requires: does not list (cell 3), and a broken placeholder (cell 9)."""
    shutil.copytree(LABS / "02-disk", labs / "02-disk")
    path = labs / "02-disk" / "source.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["cells"][2]["cell_type"] == nb["cells"][8]["cell_type"] == "markdown"
    nb["cells"][2]["source"].append("\n\nThe workstation is {{ hosts.suspect.hostname }} ({{ hosts.suspect.hostnme }}"
                                    "), its root is {{ volumes.root.fs }}, its gateway {{ hosts.gateway.hostname }}.\n")
    nb["cells"][8]["source"].append("\n\nAs {{ case.title says.\n")  # on the cell's last line
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_placeholders_a_case_cannot_fill_are_one_line_each_at_their_cell(tmp_path: Path) -> None:
    notebook = planted_lab(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "dflab.cli", "scenario", "validate", str(NIGHTJAR), "--lab",
                           str(notebook.parent)], capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(tmp_path)})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    cell_9 = "".join(json.loads(notebook.read_text(encoding="utf-8"))["cells"][8]["source"]).splitlines()
    assert proc.stderr.splitlines() == [
        f"{notebook}: cell 3: {{{{ hosts.suspect.hostname }}}} differs per trainee; prose can only use the case's "
        "fixed facts",
        f"{notebook}: cell 3: {{{{ hosts.suspect.hostnme }}}} is not a fact of the case (hosts.suspect has: id, "
        "hostname, ip, mac, on_link)",
        f"{notebook}: cell 3: {{{{ volumes.root.fs }}}} is what answer 'root_fs' is compared with; prose never gives "
        "an answer away",
        f"{notebook}: cell 3: {{{{ hosts.gateway.hostname }}}} names hosts.gateway, which lab.yaml's requires: does "
        "not list (the roles a lab takes from a case are all listed there)",
        f"{notebook}: cell 9: line {len(cell_9)}: template syntax: expected token 'end of print statement', got "
        "'says'",
        f"dflab: error: {NIGHTJAR}: 5 problem(s) above: lab(s) 02-disk cannot run on this spec",
    ]


def test_a_course_refuses_a_placeholder_it_cannot_fill_before_releasing_anything(tmp_path: Path) -> None:
    notebook = planted_lab(tmp_path / "labs")
    (tmp_path / "roster.csv").write_text("id,name,email\nalice,Alice Adams,alice@example.org\n")
    with pytest.raises(DflabError) as err:
        init_course(tmp_path / "course", tmp_path / "roster.csv", "02-disk", SECRET, labs_dir=tmp_path / "labs",
                    scenario=NIGHTJAR)
    assert err.value.where == f"{notebook}: cell 3"
    assert err.value.what == ("{{ hosts.suspect.hostname }} differs per trainee; prose can only use the case's fixed "
                              f"facts (and 4 more: `dflab scenario validate {NIGHTJAR} --lab {notebook.parent}` "
                              "lists every one)")
    assert not (tmp_path / "course" / "source" / "02-disk").exists()
    assert not (tmp_path / "course" / "release").exists() and not (tmp_path / "course" / "evidence").exists()


def test_a_course_releases_the_story_of_its_case_and_a_rerun_writes_nothing(tmp_path: Path) -> None:
    spec = other_case(tmp_path)
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\nalice,Alice Adams,alice@example.org\n")
    first = init_course(tmp_path / "course", roster, "02-disk", SECRET, scenario=spec)
    assert first.released and first.evidence_built == ["alice"] and "source/02-disk/02-disk.ipynb" in first.written
    for copy in ("source", "release"):  # the instructor's copy and what trainees get
        told = prose((tmp_path / "course" / copy / "02-disk" / "02-disk.ipynb").read_text(encoding="utf-8"))
        assert f"**{OTHER_TITLE}.** {OTHER_SUMMARY}" in told and "`KINGSTON`" in told
        assert "Nightjar" not in told and not [mark for mark in MARKS if mark in told]
    again = init_course(tmp_path / "course", roster, "02-disk", SECRET, scenario=spec)
    assert again.written == [] and not again.released and again.evidence_built == [] and again.students_added == []
