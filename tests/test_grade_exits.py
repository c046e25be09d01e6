"""Truthful exits (issue 13, item 8): `dflab grade`'s exit status says whether everything was graded, `missing`
rows say how to collect, `--sandbox auto` uses Docker only when it can, and `dflab session collect` tells an
untouched notebook from work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from traitlets.config import Config

from dflab.grading import gradebook
from dflab.grading.course import CONFIG_FILE, init_course
from dflab.grading.gradebook import Status
from dflab.grading.service import (
    EXIT_GRADED,
    EXIT_NOT_ALL_GRADED,
    EXIT_NOTHING_TO_GRADE,
    Report,
    grade,
    resolve_sandbox,
)
from dflab.grading.validate import LIMITS
from dflab.session.collect import collect_one
from tests.docker_fixtures import trainee_image  # noqa: F401 (pytest fixture)
from tests.haystack import small_spec_file
from tests.hostile import files as hf
from tests.labkit import SECRET, Lab

LAB = Lab("02-disk", "02-disk.ipynb")
ROSTER = "id,name\nalice,Alice\nbob,Bob\n"


def _course(base: Path) -> Path:
    (base / "roster.csv").write_text(ROSTER)
    return init_course(base / "course", base / "roster.csv", LAB.id, SECRET,
                       scenario=small_spec_file("nightjar", base)).root


def _grade(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                        "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "dflab.cli", "grade", LAB.id, "--course", str(root), *args],
                          cwd=root, env=env, capture_output=True, text=True, timeout=900, check=False)


def _submit(root: Path, student: str, data: bytes) -> None:
    folder = root / "submitted" / student / LAB.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LAB.nb).write_bytes(data)


@pytest.mark.xdist_group("grade_exits")
def test_exit_status_says_whether_every_submission_was_graded(tmp_path: Path) -> None:
    root = _course(tmp_path)
    nothing = _grade(root, "--sandbox", "local")
    assert nothing.returncode == EXIT_NOTHING_TO_GRADE == 6, nothing.stdout + nothing.stderr
    assert f"nothing to grade: no submission of {LAB.id} in {root / 'submitted'}/" in nothing.stderr
    rows = {r["student"]: r for r in gradebook.read_statuses(gradebook.default_url(root), LAB.id)}
    assert {s: r["status"] for s, r in rows.items()} == {"alice": "missing", "bob": "missing"}
    assert rows["alice"]["reason"] == (f"no submission in submitted/alice/{LAB.id}/: collect it with `dflab session "
                                       "collect` (or copy it there)")
    assert "dflab session collect" in nothing.stdout

    released = nbformat.writes(LAB.released_nb(root)).encode()
    _submit(root, "alice", released)
    graded = _grade(root, "--sandbox", "local")
    assert graded.returncode == EXIT_GRADED == 0, graded.stdout + graded.stderr  # bob is missing: not a failure

    _submit(root, "bob", released[: len(released) // 2])
    some = _grade(root, "--sandbox", "local")
    assert some.returncode == EXIT_NOT_ALL_GRADED == 5, some.stdout + some.stderr
    assert "unchanged, kept" in some.stdout and "is truncated" in some.stdout
    assert _grade(root, "--sandbox", "local", "--student", "alice").returncode == 0
    assert _grade(root, "--sandbox", "local", "--student", "bob").returncode == 5


@pytest.mark.xdist_group("grade_exits")
def test_a_job_over_its_time_is_failed_with_a_reason_and_its_worker_stopped(tmp_path: Path) -> None:
    """Whatever holds a job outside the sandbox, the coordinator fails it after the sandbox's wall clock plus
    nbgrader's allowance (here: at once) and stops its worker, instead of waiting for it."""
    root = _course(tmp_path)
    _submit(root, "alice", nbformat.writes(LAB.released_nb(root)).encode())
    report = grade(root, LAB.id, workers=1, sandbox="local", job_timeout_s=0.001)
    assert [(r.student, r.status) for r in report.rows] == [("alice", "failed"), ("bob", "missing")]
    assert report.rows[0].reason == "grading took more than 0 s (the sandbox's limit plus 300 s for nbgrader): stopped"
    assert report.exit_code == EXIT_NOT_ALL_GRADED


def test_report_exit_codes() -> None:
    def report(*statuses: str, submissions: int | None = None) -> Report:
        return Report("lab", "gb", "gb", rows=[Status(f"s{i}", s) for i, s in enumerate(statuses)],
                      submissions=submissions)

    assert report("done", "done", "missing").exit_code == EXIT_GRADED
    assert report("done", "rejected").exit_code == EXIT_NOT_ALL_GRADED
    assert report("failed", "missing").exit_code == EXIT_NOT_ALL_GRADED
    assert report("missing", "missing").exit_code == EXIT_NOTHING_TO_GRADE
    assert report().exit_code == EXIT_NOTHING_TO_GRADE
    assert report("done", submissions=2).exit_code == EXIT_NOT_ALL_GRADED  # one never reached a final state


def test_help_documents_the_exit_codes_and_the_limits() -> None:
    from dflab.grade_cli import grade

    text = CliRunner().invoke(grade, ["--help"], terminal_width=200).output
    for line in ("0  every submission was graded", "5  some submissions were rejected or failed",
                 "6  nothing to grade"):
        assert line in text
    flat = " ".join(text.split())
    assert f"{LIMITS.submission_bytes >> 20} MiB in all, {LIMITS.cells:,} cells, JSON nested {LIMITS.json_depth} " \
           f"deep, {LIMITS.source_chars >> 20} MiB of sources, {LIMITS.output_chars >> 20} MiB of saved outputs" in flat


def _config(sandbox: str | None = "auto", image: str = "dflab/trainee:latest", sandboxed: bool = True) -> Config:
    config = Config()
    if sandboxed:
        config.Autograde.autograde_preprocessors = ["dflab.grading.execute.SandboxedExecute"]
    if sandbox is not None:
        config.SandboxedExecute.sandbox = sandbox
    config.SandboxedExecute.image = image
    return config


def test_auto_without_an_engine_is_the_local_sandbox_with_a_notice(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path / 'no-engine.sock'}")
    choice, notice = resolve_sandbox(None, _config())
    assert choice == "local" and notice.startswith("--sandbox auto: no Docker engine answers (")
    assert notice.endswith("); grading in the local sandbox") and "\n" not in notice
    assert resolve_sandbox("auto", _config("docker"))[0] == "local"
    assert resolve_sandbox("local", _config()) == ("local", "")
    assert resolve_sandbox("docker", _config()) == ("docker", "")  # asked for: its own errors say what is wrong
    assert resolve_sandbox(None, _config("docker")) == (None, "")  # the course's choice, left to the workers
    assert resolve_sandbox(None, _config(sandboxed=False)) == (None, "")  # a course without the sandbox


@pytest.mark.xdist_group("docker_image")
def test_auto_uses_docker_only_with_the_trainee_image(trainee_image: str, tmp_path: Path) -> None:  # noqa: F811
    assert resolve_sandbox(None, _config(image=trainee_image)) == ("docker", "")
    assert resolve_sandbox("auto", _config("local", image="dflab/no-such-image:1")) == (
        "local", "--sandbox auto: the Docker engine has no image dflab/no-such-image:1; grading in the local sandbox")
    # For real: the course says auto and names an image the engine lacks; `dflab grade` grades locally, says so once.
    root = _course(tmp_path)
    with (root / CONFIG_FILE).open("a") as fh:
        fh.write('c.SandboxedExecute.image = "dflab/no-such-image:1"\n')
    _submit(root, "alice", nbformat.writes(LAB.released_nb(root)).encode())
    proc = _grade(root, "--student", "alice")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.count("note: --sandbox auto: the Docker engine has no image dflab/no-such-image:1; grading "
                             "in the local sandbox") == 1
    logs = "".join(p.read_text() for p in (root / ".dflab-grading" / "logs").glob("*.log"))
    assert "local sandbox: ok" in logs and "docker sandbox" not in logs


# -- dflab session collect: untouched ---------------------------------------------------------------------------
SOURCE = "import os\nx = None  # YOUR CODE HERE"


def _release(root: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lab"),
                                         nbformat.v4.new_code_cell(SOURCE)])
    (root / "release" / "lab").mkdir(parents=True)
    nbformat.write(nb, root / "release" / "lab" / "lab.ipynb")
    (root / "release" / "lab" / "lab.yaml").write_text("id: lab\n")
    return nb


def _collect(root: Path, workspace: Path) -> str:
    def export(dest: Path) -> bool:
        shutil.copytree(workspace, dest, symlinks=True)
        return True

    return collect_one("alice", "lab", root, "test", export).status


def test_collect_marks_a_notebook_identical_to_the_release_untouched(tmp_path: Path) -> None:
    nb = _release(tmp_path)
    work = tmp_path / "workspace"
    shutil.copytree(tmp_path / "release" / "lab", work)
    hf.fifo(work)  # a pipe and a socket the lab left behind: the export cannot copy them, collect leaves them out
    hf.unix_socket(work)
    assert _collect(tmp_path, work) == "untouched"
    assert sorted(p.name for p in (tmp_path / "submitted" / "alice" / "lab").iterdir()) == \
        ["dflab-collect.json", "lab.ipynb", "lab.yaml", "timestamp.txt"]
    assert (tmp_path / "submitted" / "alice" / "lab" / "lab.ipynb").is_file()  # collected all the same
    assert _collect(tmp_path, work) == "unchanged"
    # Opened, run without output, saved by Jupyter: new metadata and an execution count, still no work.
    saved = json.loads(nbformat.writes(nb))
    saved["metadata"]["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    saved["cells"][1]["execution_count"] = 1
    (work / "lab.ipynb").write_text(json.dumps(saved, indent=2))
    assert _collect(tmp_path, work) == "untouched"
    saved["cells"][1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi\n"}]
    (work / "lab.ipynb").write_text(json.dumps(saved))
    assert _collect(tmp_path, work) == "collected"  # an output added
    saved["cells"][1]["outputs"] = []
    saved["cells"][1]["source"] = "x = 42"
    (work / "lab.ipynb").write_text(json.dumps(saved))
    assert _collect(tmp_path, work) == "collected"  # an answer typed
    saved["cells"][1]["source"] = SOURCE
    saved["cells"].append(nbformat.v4.new_code_cell("print(1)"))
    (work / "lab.ipynb").write_text(json.dumps(saved))
    assert _collect(tmp_path, work) == "collected"  # a cell added
    for hostile in (hf.deep_nesting(nb, 20_000), hf.huge_int(nb), hf.bad_utf8(nb), hf.not_a_dict(nb)):
        (work / "lab.ipynb").write_bytes(hostile)
        assert _collect(tmp_path, work) == "collected"  # not the release, and never a crash
    (work / "lab.ipynb").unlink()
    assert _collect(tmp_path, work) == "collected"  # no notebook at all is not "untouched" either
