"""tests/conftest.py frees the suite's temporary space: a module-scoped fixture's ``mktemp`` folders are emptied when
the module ends (after the fixture's own teardown, which still sees them), a session fixture's stay, a passing test's
``tmp_path`` is emptied and a failing one's kept; the folders stay, so a later test never gets an earlier one's path.
Checked in a pytest run of its own, with the suite's conftest and pyproject settings."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

KEPT = '''

@pytest.fixture(scope="session")
def kept(tmp_path_factory):
    return tmp_path_factory.mktemp("kept")
'''

FIRST = '''
import pytest

@pytest.fixture(scope="module")
def course(tmp_path_factory, kept):
    path = tmp_path_factory.mktemp("course")
    (path / "evidence").write_text("x")
    yield path
    # its own teardown still sees the folder
    (kept / "teardown-saw").write_text(str((path / "evidence").exists()))

def test_uses_the_course(course, kept):
    (kept / "course").write_text(str(course))
    assert (course / "evidence").exists()

def test_passes(tmp_path, kept):
    (tmp_path / "note").write_text("x")
    (kept / "passed").write_text(str(tmp_path))

def test_fails(tmp_path, kept):
    (tmp_path / "note").write_text("x")
    (kept / "failed").write_text(str(tmp_path))
    assert False
'''

SECOND = '''
from pathlib import Path

def test_after_the_module(kept, tmp_path):
    course = Path((kept / "course").read_text())
    assert not (course / "evidence").exists(), "the module's course outlived its module"
    assert course.is_dir()  # kept, empty: its number is never handed out again
    assert (kept / "teardown-saw").read_text() == "True"
    passed = Path((kept / "passed").read_text())
    assert passed.is_dir() and not any(passed.iterdir())
    assert (Path((kept / "failed").read_text()) / "note").exists()
    assert tmp_path not in (passed, Path((kept / "failed").read_text()))
'''


def run(project: Path, conftest: str, base: Path) -> str:
    """pytest on ``project`` (test_a.py, then test_b.py) with ``conftest`` and the suite's pyproject.toml."""
    (project / "tests").mkdir(parents=True)
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    (project / "tests" / "conftest.py").write_text(conftest + KEPT)
    shutil.copy(ROOT / "tests" / "tempspace.py", project / "tests" / "tempspace.py")
    (project / "tests" / "test_a.py").write_text(FIRST)
    (project / "tests" / "test_b.py").write_text(SECOND)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--basetemp", str(base),
                           "tests/test_a.py", "tests/test_b.py"], cwd=project, capture_output=True, text=True,
                          timeout=300)
    return done.stdout + done.stderr


def test_a_modules_folders_go_with_it_and_a_failing_tests_stay(tmp_path: Path) -> None:
    out = run(tmp_path / "project", (ROOT / "tests" / "conftest.py").read_text(), tmp_path / "base")
    # test_fails fails on purpose; everything else passes, test_after_the_module included
    assert "1 failed, 3 passed" in out and "test_a.py::test_fails" in out, out


def test_without_the_conftest_the_module_folder_would_stay(tmp_path: Path) -> None:
    """The check above can fail: without tests/conftest.py the course outlives its module."""
    out = run(tmp_path / "project", "import pytest\n", tmp_path / "base")
    assert "the module's course outlived its module" in out and "2 failed, 2 passed" in out, out
