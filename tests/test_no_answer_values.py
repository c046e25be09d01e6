"""No answer value reaches a trainee: not in a released notebook, the handout, the evidence folder or the environment.

Issue #3 asks for proof that "the released notebooks and the trainee environment contain no answer values". For
every lab folder with a lab.yaml (data-driven: a new lab is covered by existing here), one course is built with
`init_course` for two trainees, and each trainee's answer values are searched for, as whole tokens
(`tests.labkit.leaked_forms`), in:

* every file nbgrader released (`release/<lab>/`) and the handout a session copies into workspaces
  (`dflab.session.lab.write_handout`), and every file of the lab's folder in the repository;
* the names of every file in the trainee's evidence folder, and its text files: `manifest.json` and the volatility
  symbol table (32 KB of JSON, small enough to read whole);
* a real Docker lab environment (the trainee image, started by the Docker backend on alice's evidence): its
  environment variables (container config and the server's own `/proc/1/environ`) and its mounts, and that no key
  file exists anywhere in it and none is reachable from `/evidence/..`.

Which values: every `answers.*` of the trainee's key, the step times of the key's `timeline` (lab 05 grades them),
and every scalar each lab's check file (labs/<lab>/grader.yaml) reads from the key (e.g. `facts.live.*` for lab 01,
`facts.memory.kernel_release` for lab 03). Times are searched as ISO-8601, as "YYYY-MM-DD HH:MM:SS" and as epoch
seconds.

What is skipped, and why:

* in the lab's folder, lab.yaml's `requires:` (left out of every release by `dflab.lab_meta.for_trainees`): the
  scenario's role ids, the same for every trainee, which may spell a drawn value by chance (Nightjar's FTP flow is
  `ftp-upload`, and `upload` is one of the FTP user names trainees draw);
* values too short to mean anything as a token: text under 6 characters (`zip`, `mbr`, `ext4`) and whole numbers
  under 1000 (an inode such as 31, a partition index): they occur in any notebook by chance, so finding them would
  prove nothing, and not finding them would prove nothing either;
* the binary evidence images (disk, memory, capture): they *are* the evidence the trainee analyses, so every
  finding is in them by design;
* in the evidence folder, check-file values that the acquisition record is meant to show: the manifest lists each
  exhibit's SHA-256 (lab 04 asks for the capture's, lab 05 cites them all) and the symbol table carries the kernel
  banner (lab 03 asks for its release). Only `answers.*` and the timeline are searched there;
* the local backend: it runs JupyterLab as the operator's user beside the key, isolating nothing by design
  (dflab/provision/local_backend.py); graded sessions use the Docker backend tested here.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import docker
import pytest

from dflab.grading.checks import load_checks, lookup
from dflab.grading.course import init_course
from dflab.lab_meta import for_trainees
from dflab.provision.base import TraineeEnv
from dflab.provision.docker_backend import LABEL, DockerBackend
from dflab.session.lab import load_lab, write_handout
from tests import docker_fixtures
from tests.labkit import ROOT, ROSTER, SECRET, key, leaked_forms

LABS = sorted(p.parent.name for p in (ROOT / "labs").glob("*/lab.yaml"))
# A course serves one scenario: the labs of each bundled case share one course (Nightjar's Linux labs, Heron's lab 08).
SCENARIOS = {lab: Path(str(load_lab(ROOT / "labs" / lab).scenario)).stem for lab in LABS}  # a name or a spec path
STUDENTS = ("alice", "bob")
MIN_TEXT = 6       # characters: shorter text is not a distinctive token
MIN_NUMBER = 1000  # whole numbers below this occur everywhere by chance
pytestmark = pytest.mark.xdist_group(name=docker_fixtures.XDIST_GROUP)  # one engine, one worker
trainee_image = docker_fixtures.trainee_image


@pytest.fixture(scope="module")
def courses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One course per bundled scenario holding every lab of it, for alice and bob (evidence is built once, by the
    first lab)."""
    roster = tmp_path_factory.mktemp("no-answers-roster") / "roster.csv"
    roster.write_text(ROSTER)
    out = {}
    for scenario in sorted(set(SCENARIOS.values())):
        root = out[scenario] = tmp_path_factory.mktemp(f"no-answers-{scenario}")
        labs = [lab for lab in LABS if SCENARIOS[lab] == scenario]
        # Labs that ask for materials first: a course's variants are built once, by its first lab, and hold a lab's
        # materials only when that lab asks (a later lab needing them is refused, as for any evidence kind).
        for lab in sorted(labs, key=lambda lab: "materials" not in load_lab(ROOT / "labs" / lab).evidence):
            result = init_course(root, roster, lab, SECRET)
            assert result.released, lab
            write_handout(root, load_lab(ROOT / "labs" / lab))
    return out


@pytest.fixture(scope="module")
def course(courses: dict[str, Path]) -> Path:
    """The Linux labs' course (Nightjar): the one the Docker lab environment below runs on."""
    return courses["nightjar"]


def _time_forms(value: str) -> list[str]:
    """An ISO-8601 time as typed, as pandas prints it, and as epoch seconds."""
    when = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return [value, when.strftime("%Y-%m-%d %H:%M:%S"), str(int(when.timestamp()))]


def _searchable(value: object) -> list[str]:
    """The forms of one scalar worth searching for (none when it is too short to be a distinctive token)."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int):
        return [str(value)] if abs(value) >= MIN_NUMBER else []
    if isinstance(value, float):
        return [repr(value)] if abs(value) >= MIN_NUMBER else []
    text = str(value).strip()
    if len(text) < MIN_TEXT:
        return []
    try:
        return _time_forms(text) if text[:4].isdigit() and "T" in text else [text]
    except ValueError:
        return [text]


def _leaves(value: object) -> Iterator[object]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def answer_values(root: Path, student: str, *, graded_facts: bool) -> dict[str, str]:
    """form -> where it comes from, for ``student``: answers.*, the timeline's times and (``graded_facts``) every
    scalar the check files of the course's labs (labs/<lab>/grader.yaml) read from the key."""
    k = key(root, student)
    found: dict[str, object] = {f"answers.{n}": v for n, v in k["answers"].items()}
    found |= {f"timeline.{e['id']}": e["time"] for e in k["timeline"]}
    if graded_facts:
        for lab in (lab for lab in LABS if SCENARIOS[lab] == k["scenario"]):
            checks = load_checks(ROOT / "labs" / lab / "grader.yaml")
            for name in checks.checks:
                value = lookup(k, checks.key_path(name), "key")
                if not isinstance(value, (dict, list)):  # lists (timeline, manifest entries) are covered above
                    found[f"{lab}:{checks.key_path(name)}"] = value
    forms: dict[str, str] = {}
    for where, value in found.items():
        for leaf in _leaves(value):
            forms.update(dict.fromkeys(_searchable(leaf), where))
    return forms


def assert_no_leak(text: str, values: dict[str, str], what: str) -> None:
    leaks = [(form, where) for form, where in values.items() if leaked_forms(text, form)]
    assert not leaks, f"{what}: answer values found: {leaks[:5]}"


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS.values())))
def test_every_lab_is_covered_and_the_values_are_real(courses: dict[str, Path], scenario: str) -> None:
    assert {"02-disk", "03-memory", "04-network", "05-capstone", "08-windows"} <= set(LABS)
    course = courses[scenario]
    for student in STUDENTS:  # the search is not vacuous: each trainee has many distinctive values
        values = answer_values(course, student, graded_facts=True)
        assert len(set(values.values())) >= {"nightjar": 40, "heron": 30}[scenario], sorted(set(values.values()))
        assert key(course, student)["answers"]["payload_sha256"] in values
    alice, bob = (set(answer_values(course, s, graded_facts=True)) for s in STUDENTS)
    assert alice != bob


def _as_released(path: Path) -> str:
    """A file's text; a lab.yaml's as trainees get it, without `requires:` (see the module doc)."""
    text = path.read_text(encoding="utf-8")
    return for_trainees(text, str(path)) if path.name == "lab.yaml" else text


@pytest.mark.parametrize("lab", LABS)
def test_released_notebook_handout_and_lab_folder_hold_no_answer_values(courses: dict[str, Path], lab: str) -> None:
    course = courses[SCENARIOS[lab]]
    places = {"release": course / "release" / lab, "handout": course / "handout" / lab,
              "lab folder": ROOT / "labs" / lab}
    texts = {}
    for name, folder in places.items():
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        assert files, f"{name} of {lab} is empty"
        texts[name] = "\n".join(f"{p.name}\n{_as_released(p)}" for p in files)
    assert sorted(p.name for p in (course / "handout" / lab).rglob("*") if p.is_file()) == \
        sorted(p.name for p in (course / "release" / lab).rglob("*") if p.is_file())
    for student in STUDENTS:
        values = answer_values(course, student, graded_facts=True)
        for name, text in texts.items():
            assert_no_leak(text, values, f"{lab} {name} ({student}'s values)")


@pytest.mark.parametrize("scenario", sorted(set(SCENARIOS.values())))
def test_evidence_folder_names_and_text_files_hold_no_answer_values(courses: dict[str, Path], scenario: str) -> None:
    course = courses[scenario]
    for student in STUDENTS:
        evidence = course / "evidence" / student / "evidence"
        names = sorted(p.relative_to(evidence).as_posix() for p in evidence.rglob("*"))
        assert "manifest.json" in names and not any("key" in n for n in names)
        texts = [(evidence / "manifest.json").read_text(encoding="utf-8")]
        texts += [p.read_text(encoding="utf-8") for p in (evidence / "symbols").rglob("*.json")]
        assert len(texts) == (2 if scenario != "heron" else 1)  # a Linux case ships its volatility symbol table
        values = answer_values(course, student, graded_facts=False)
        assert_no_leak("\n".join(names), values, f"{student}'s evidence file names")
        assert_no_leak("\n".join(texts), values, f"{student}'s manifest and symbol table")


@pytest.fixture(scope="module")
def lab_container(course: Path, trainee_image: str) -> Iterator[docker.models.containers.Container]:
    """alice's lab 05 environment as the Docker backend starts it; everything it made removed afterwards."""
    session_id = f"noans{uuid.uuid4().hex[:8]}"
    backend = DockerBackend(session_id, course, course / "handout", trainee_image)
    env = TraineeEnv("alice", secrets.token_hex(16), course / "evidence" / "alice" / "evidence")
    engine = docker.from_env(timeout=120)
    try:
        backend.prepare([env])
        backend.start(env)
        yield engine.containers.get(backend.container_name("alice"))
    finally:
        with contextlib.suppress(Exception):
            backend.stop(env, purge=True)
            backend.shutdown(purge=True)
        label = f"{LABEL}={session_id}"
        for container in engine.containers.list(all=True, filters={"label": label}):
            container.remove(force=True)
        for volume in engine.volumes.list(filters={"label": label}):
            volume.remove(force=True)
        for network in engine.networks.list(filters={"label": label}):
            network.remove()


def test_the_lab_environment_holds_no_answer_values_and_no_key(course: Path, lab_container) -> None:
    values = answer_values(course, "alice", graded_facts=True)
    config_env = lab_container.attrs["Config"]["Env"]
    assert "DFLAB_EVIDENCE=/evidence" in config_env
    assert_no_leak("\n".join(config_env), values, "container environment")
    result = lab_container.exec_run(["sh", "-c", "tr '\\0' '\\n' < /proc/1/environ"])  # the server's own
    assert result.exit_code == 0 and b"DFLAB_EVIDENCE=/evidence" in result.output, result.output
    assert_no_leak(result.output.decode(errors="replace"), values, "PID 1 environment")

    binds = {m["Destination"]: m for m in lab_container.attrs["Mounts"] if m["Type"] == "bind"}
    evidence = binds["/evidence"]
    assert Path(evidence["Source"]) == (course / "evidence" / "alice" / "evidence").resolve()
    assert evidence["RW"] is False and binds["/srv/lab"]["RW"] is False
    for mount in binds.values():  # no bind source holds a key, nor is it a parent of one
        source = Path(mount["Source"])
        assert not list(source.rglob("answer_key.json")) and source not in (course / "evidence" / "alice").parents \
            and source != course / "evidence" / "alice", mount

    listing = lab_container.exec_run(["sh", "-c", "ls -a /evidence/..; find / \\( -path /proc -o -path /sys \\) "
                                                  "-prune -o -name 'answer_key*' -print 2>/dev/null; echo done"])
    lines = listing.output.decode(errors="replace").split()
    assert lines[-1] == "done" and not any("answer_key" in ln for ln in lines), lines
    # /evidence/.. is the container's own root (bin, etc, usr ...), not the trainee's build folder with key/.
    assert {"evidence", "usr", "etc"} <= set(lines) and "key" not in lines, lines
    seeded = lab_container.exec_run(["sh", "-c", "cat /srv/lab/*/*"])
    assert seeded.exit_code == 0 and b"nbgrader" in seeded.output
    assert_no_leak(seeded.output.decode(errors="replace"), values, "files seeded into the workspace")
