"""The grading sandboxes, for real: `nbgrader autograde` with SandboxedExecute on lab 02, in Docker and locally.

Every test runs once per sandbox (the Docker engine with the trainee image; the local namespaced subprocess)
and submits notebooks from the hostile corpus (tests/hostile): each attack must gain 0 points, the
well-behaved cells of the same notebook must keep theirs, and the next trainee must be graded normally.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from nbgrader.api import Gradebook

from dflab.errors import DflabError
from dflab.grading.execute import ERROR_NAME, merge_outputs
from dflab.grading.sandbox import Limits, SandboxResult, pick_sandbox
from dflab.grading.sandbox.local_sandbox import home_template
from tests import hostile
from tests.docker_fixtures import trainee_image  # noqa: F401 (pytest fixture)
from tests.labkit import Lab, key

LAB = Lab("02-disk", "02-disk.ipynb")
CELL_TIMEOUT = 60  # generous: a loaded machine must not time out the well-behaved cells
LOCAL_GROUP = pytest.mark.xdist_group("grading_sandbox_local")  # one course per group: tests share it
SANDBOXES = [pytest.param("local", marks=LOCAL_GROUP),
             pytest.param("docker", marks=pytest.mark.xdist_group("docker_image"))]


@functools.cache
def _course(base: Path) -> Path:
    """Lab 02's course for alice and bob, made once per test process (memoised here: pytest keeps one fixture
    definition per module that imports it, and tests/test_grading_sandbox_hardening.py grades the same course)."""
    root = base / "lab02-course"
    root.mkdir()
    return LAB.build_course(root, base / "lab02-roster.csv", small=True)  # about the sandboxes, not the evidence


@pytest.fixture(scope="module")
def course_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _course(tmp_path_factory.getbasetemp())


@pytest.fixture(params=SANDBOXES)
def sandbox(request: pytest.FixtureRequest) -> dict[str, str]:
    """SandboxedExecute settings selecting one sandbox, with a short cell timeout so hostile loops end soon."""
    opts = {"sandbox": request.param, "timeout": str(CELL_TIMEOUT)}
    if request.param == "docker":
        opts["image"] = request.getfixturevalue("trainee_image")
    return opts


LAST_LOG = [""]  # nbgrader's log of the last grade() call, for the assertion messages of the hostile tests


def grade(root: Path, student: str, nb: nbformat.NotebookNode, settings: dict[str, str],
          env: dict[str, str] | None = None) -> dict[str, float]:
    """Submit ``nb`` as ``student``, run the real `nbgrader autograde` with these SandboxedExecute
    ``settings``, return grade id -> auto score."""
    opts = [f"--SandboxedExecute.{name}={value}" for name, value in settings.items()]
    dest = root / "submitted" / student / LAB.id
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest / LAB.nb)
    base = {"PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]),
            "HOME": str(root)}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", LAB.id, "--student", student, "--force",
                           *opts], cwd=root, env=base | (env or {}), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    LAST_LOG[0] = proc.stderr
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        return {g.name: g.auto_score for g in gb.find_submission_notebook(LAB.id, LAB.id, student).grades}


def outputs(root: Path, student: str, grade_id: str) -> list[dict]:
    return LAB.feedback(root, student, grade_id)


def errors(root: Path, student: str, grade_id: str) -> list[str]:
    return [f"{o['ename']}: {o['evalue']}" for o in outputs(root, student, grade_id) if o["output_type"] == "error"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_solution_scores_full_and_blank_zero(course_dir: Path, sandbox: dict[str, str]) -> None:
    full = LAB.points(course_dir)
    assert grade(course_dir, "alice", LAB.source_nb(course_dir), sandbox) == full
    assert grade(course_dir, "bob", LAB.released_nb(course_dir), sandbox) == dict.fromkeys(full, 0.0)


def test_mixed_attacks_gain_nothing_and_the_rest_still_scores(course_dir: Path, sandbox: dict[str, str]) -> None:
    full = LAB.points(course_dir)
    bob_submission = course_dir / "submitted" / "bob" / LAB.id / LAB.nb
    bob_submission.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(LAB.released_nb(course_dir), bob_submission)
    before = digest(bob_submission)
    nb = hostile.mixed(LAB.source_nb(course_dir), str(course_dir))
    planted = key(course_dir, "alice")["answers"]["slack_secret"]
    assert planted not in hostile.source_text(nb)

    scores = grade(course_dir, "alice", nb, sandbox, env={hostile.PLANTED_ENV: planted})

    assert scores == full | dict.fromkeys(hostile.HOSTILE_MIXED, 0.0), LAST_LOG[0][-4000:]
    assert digest(bob_submission) == before
    assert not (course_dir / "autograded" / "bob" / LAB.id / "planted.txt").exists()
    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        assert all(g.auto_score is None or g.auto_score <= g.max_score
                   for s in gb.students for a in s.submissions for n in a.notebooks for g in n.grades)
    # The flood was stopped at its own cell, with a reason: by the runner's output cap, or by the memory
    # limit when the queued messages fill the sandbox first (which comes first depends on scheduling:
    # the container's cgroup stops it, or the local sandbox's RLIMIT_AS raises MemoryError in the cell).
    # The endless loop cost its own cell only.
    flood = errors(course_dir, "alice", "answer-download-time")
    assert any(e.startswith(("OutputLimit: output over", "Sandbox: stopped: memory limit",
                             "Sandbox: stopped: the kernel died", "MemoryError")) for e in flood), flood
    assert (course_dir / "autograded" / "alice" / LAB.id / LAB.nb).stat().st_size < 2 << 20
    graded = LAB.autograded_nb(course_dir, "alice")
    [loop] = [c for c in graded.cells if c.source == hostile.INFINITE_LOOP]
    assert [o["ename"] for o in loop.outputs if o["output_type"] == "error"] == ["KeyboardInterrupt",
                                                                                  "CellTimeoutError"]
    # The attack that looked for the key ran, and found none it could read.
    seen = "".join(o.get("text", "") for o in outputs(course_dir, "alice", "answer-payload-hash"))
    assert "key: " in seen


def test_direct_autograde_refuses_a_linked_file(course_dir: Path, sandbox: dict[str, str]) -> None:
    """`nbgrader autograde` on its own (no `dflab grade` validation before it): a link in the submission to the
    trainee's key, which nbgrader would copy as the key itself, makes the whole submission score 0."""
    link = course_dir / "submitted" / "alice" / LAB.id / "notes.json"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(course_dir / "evidence" / "alice" / "key" / "answer_key.json")
    try:
        scores = grade(course_dir, "alice", LAB.source_nb(course_dir), sandbox)
        assert scores == dict.fromkeys(LAB.points(course_dir), 0.0)
        assert "submission refused: notes.json is a symbolic link" in LAST_LOG[0], LAST_LOG[0][-3000:]
    finally:
        link.unlink(missing_ok=True)


def test_killed_kernel_costs_only_the_cells_after_it(course_dir: Path, sandbox: dict[str, str]) -> None:
    full = LAB.points(course_dir)
    scores = grade(course_dir, "alice", hostile.at_note(LAB.source_nb(course_dir), hostile.KILL_KERNEL), sandbox)
    assert scores == full | dict.fromkeys(hostile.AFTER_NOTE, 0.0)
    assert errors(course_dir, "alice", "answer-note") == [
        f"{ERROR_NAME}: stopped: the kernel died while running this cell"]


def test_memory_bomb_costs_its_cell(course_dir: Path, sandbox: dict[str, str]) -> None:
    full = LAB.points(course_dir)
    nb = hostile.at_note(LAB.source_nb(course_dir), hostile.MEMORY_BOMB)
    scores = grade(course_dir, "alice", nb, sandbox | {"memory_bytes": str(768 << 20)})
    assert scores["check-note"] == 0
    assert {g: s for g, s in scores.items() if g not in hostile.AFTER_NOTE} == \
        {g: s for g, s in full.items() if g not in hostile.AFTER_NOTE}
    found = errors(course_dir, "alice", "answer-note")
    if sandbox["sandbox"] == "docker":  # the cgroup's OOM killer takes the kernel
        assert found == [f"{ERROR_NAME}: stopped: memory limit of 768 MiB reached"]
    else:  # the address-space limit makes the allocation fail in the kernel
        assert found[0].startswith("MemoryError")


def test_fork_bomb_is_bounded_and_the_next_trainee_graded_normally(course_dir: Path, sandbox: dict[str, str]) -> None:
    full = LAB.points(course_dir)
    nb = hostile.at_note(LAB.source_nb(course_dir), hostile.FORK_BOMB)
    scores = grade(course_dir, "alice", nb, sandbox | {"pids": "128", "wall_s": "300"})
    assert scores["check-note"] == 0  # its answer never ran
    # The cell timeout's interrupt may end the loop in one forked copy of the kernel, which then answers the
    # remaining cells (CI, 2026-12-07): the cell after the note may score either way, every cell before it in full.
    assert scores["check-download-time"] in (0.0, full["check-download-time"])
    assert {g: s for g, s in scores.items() if g not in hostile.AFTER_NOTE} == \
        {g: s for g, s in full.items() if g not in hostile.AFTER_NOTE}
    assert grade(course_dir, "bob", LAB.source_nb(course_dir), sandbox) == full


def test_a_hostile_result_file_gains_nothing(course_dir: Path, sandbox: dict[str, str]) -> None:
    full = LAB.points(course_dir)
    nb = hostile.at_note(LAB.source_nb(course_dir), hostile.HOSTILE_RESULT, after=True)
    scores = grade(course_dir, "alice", nb, sandbox)
    # The runner is PID 1 of its namespace (both sandboxes): it survives, reaps the daemon, and writes its own result.
    assert scores == full | {"check-note": 0.0}
    assert errors(course_dir, "alice", "setup") == []


@LOCAL_GROUP
def test_course_keys_are_private_and_evidence_shared(course_dir: Path) -> None:
    for student in ("alice", "bob"):
        key_dir = course_dir / "evidence" / student / "key"
        assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
        assert {stat.S_IMODE(p.stat().st_mode) for p in key_dir.iterdir()} == {0o600}
        evidence = course_dir / "evidence" / student / "evidence"
        modes = {stat.S_IMODE(p.stat().st_mode) for p in [evidence, *evidence.rglob("*")]}
        assert modes <= {0o755, 0o644} and 0o644 in modes


def _merged(nb: nbformat.NotebookNode, ran: nbformat.NotebookNode | None, status: str = "ok",
            cell: int | None = None) -> nbformat.NotebookNode:
    merge_outputs(nb, SandboxResult(ran, status, "the reason", 1.0, cell))  # type: ignore[arg-type]
    return nb


@LOCAL_GROUP
def test_a_returned_notebook_that_does_not_line_up_marks_every_graded_cell(course_dir: Path) -> None:
    solution = LAB.source_nb(course_dir)
    graded = [i for i, c in enumerate(solution.cells) if c.metadata.get("nbgrader", {}).get("grade")]
    forged = copy.deepcopy(solution)
    forged.cells[graded[0]].source = "pass"  # a source changed in the sandbox
    extra = copy.deepcopy(solution)
    extra.cells.append(new_code_cell("pass"))
    bad_output = copy.deepcopy(solution)
    bad_output.cells[graded[0]].outputs = [{"output_type": "nonsense"}]
    for ran in (forged, extra, bad_output):
        nb = _merged(copy.deepcopy(solution), ran)
        assert all([o["ename"] for o in nb.cells[i].outputs] == [ERROR_NAME] for i in graded)
        assert [c.source for c in nb.cells] == [c.source for c in solution.cells]


@LOCAL_GROUP
def test_only_outputs_come_back_and_the_stop_is_marked(course_dir: Path) -> None:
    solution = LAB.source_nb(course_dir)
    ran = copy.deepcopy(solution)
    code = [i for i, c in enumerate(ran.cells) if c.cell_type == "code"]
    for i in code:
        ran.cells[i].outputs = [nbformat.from_dict({"output_type": "stream", "name": "stdout", "text": f"{i}\n"})]
        ran.cells[i].metadata["nbgrader"] = {"grade": True, "points": 100, "grade_id": "forged"}
    nb = _merged(copy.deepcopy(solution), ran, "timeout", code[3])
    assert [c.metadata for c in nb.cells] == [c.metadata for c in solution.cells]
    assert [o["text"] for o in nb.cells[code[0]].outputs] == [f"{code[0]}\n"]
    assert nb.cells[code[3]].outputs[-1]["evalue"] == "stopped: the reason"
    nothing = _merged(copy.deepcopy(solution), None, "timeout")
    assert [len(nothing.cells[i].outputs) for i in code] == [1] + [0] * (len(code) - 1)


@LOCAL_GROUP
def test_local_runs_start_from_a_warm_home_of_their_own(course_dir: Path, tmp_path: Path) -> None:
    """Every run gets a copy of the prebuilt home (matplotlib's font cache): what one submission plants there
    reaches neither the template nor the next run, the template itself is out of reach, and the kernel, started
    without its debugger, still lets the submission import debugpy."""
    template = home_template(sys.executable)
    assert template is not None and list(template.glob(".cache/matplotlib/fontlist-*.json"))
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [new_code_cell(f"""
import os, pathlib
home = pathlib.Path.home()
try:
    template = os.listdir({str(template)!r})
except OSError:
    template = []
print(sorted(p.name[:9] for p in home.glob(".cache/matplotlib/*")), (home / "planted").exists(), template)
(home / ".cache" / "matplotlib" / "planted").write_text("x")
(home / "planted").write_text("x")
"""), new_code_cell("import debugpy\nprint(debugpy.__name__)")]
    (tmp_path / "work").mkdir()
    sandbox = pick_sandbox("local", "unused", hide=[course_dir])
    for _ in range(2):
        result = sandbox.run(copy.deepcopy(nb), tmp_path / "work", course_dir / "evidence" / "alice" / "evidence",
                             Limits(cell_timeout_s=CELL_TIMEOUT))
        assert result.status == "ok" and result.notebook is not None, result.reason
        printed = ["".join(o.get("text", "") for o in c.outputs) for c in result.notebook.cells]
        assert printed == ["['fontlist-'] False []\n", "debugpy\n"]
    assert not list(template.rglob("planted"))


def test_pick_sandbox_errors_are_one_clear_line() -> None:
    with pytest.raises(DflabError, match="unknown sandbox 'vm'"):
        pick_sandbox("vm", "x")
    assert pick_sandbox("local", "x").kind == "local"


@pytest.mark.xdist_group("docker_image")
def test_docker_sandbox_names_a_missing_image(trainee_image: str) -> None:  # noqa: F811
    with pytest.raises(DflabError, match=r"image dflab/no-such-image:1 is not on the Docker engine; build it with"):
        pick_sandbox("docker", "dflab/no-such-image:1")
    assert pick_sandbox("auto", trainee_image).kind == "docker"
