"""The oldest Python dflab supports is declared, and the suite proves it.

Instructors install on a distribution's own Python (Debian 12: 3.11.2), not the newer one a developer may
have, and an API added in a patch release (``tarfile.extractall(filter=)`` came in 3.11.4) breaks them
silently.  Two checks hold the floor:

* the whole suite runs on the distribution's interpreter (``install-deps.sh`` makes ``.venv`` from
  ``/usr/bin/python3``), which on Debian 12 *is* the floor: any newer API fails the tests that use it;
* ``vermin`` finds no language feature or standard-library name newer than the floor's minor version,
  including in code no test reaches.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTION_PYTHON = Path("/usr/bin/python3")
VERMIN = str(Path(sys.executable).parent / "vermin")  # a test extra, beside this interpreter


def declared_floor() -> tuple[int, int, int]:
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    found = re.fullmatch(r">=(\d+)\.(\d+)\.(\d+)", spec)
    assert found, f"requires-python must name an exact floor (>=X.Y.Z), not {spec!r}"
    return int(found[1]), int(found[2]), int(found[3])


def test_the_floor_is_debian_12s_python() -> None:
    assert declared_floor() == (3, 11, 2)


def test_the_suite_runs_on_the_distributions_python() -> None:
    """What `make test` runs on is what instructors have: the distribution's interpreter, at or above the floor."""
    assert DISTRIBUTION_PYTHON.exists(), "install python3 from the distribution (install-deps.sh does)"
    distro = subprocess.run([str(DISTRIBUTION_PYTHON), "-c", "import sys; print(*sys.version_info[:3], sys.prefix)"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert tuple(int(v) for v in distro[:3]) == sys.version_info[:3], (
        f"the suite runs on Python {sys.version.split()[0]} ({sys.base_prefix}), the distribution has "
        f"{'.'.join(distro[:3])}: make .venv with environments/host/install-deps.sh")
    assert Path(sys.base_prefix).resolve() == Path(distro[3]).resolve()
    assert sys.version_info[:3] >= declared_floor()


def test_no_feature_newer_than_the_floors_minor_version() -> None:
    major, minor, _ = declared_floor()
    proc = subprocess.run([VERMIN, f"--target={major}.{minor}-", "--violations", "--no-tips",
                           "--eval-annotations", "--no-parse-comments",
                           "dflab", "tests", "benchmarks", "labs"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_vermin_catches_a_newer_api(tmp_path: Path) -> None:
    """The check above can fail: a 3.12 name in a file is a violation."""
    (tmp_path / "newer.py").write_text("import itertools\nprint(itertools.batched([1, 2, 3], 2))\n")
    major, minor, _ = declared_floor()
    proc = subprocess.run([VERMIN, f"--target={major}.{minor}-", "--violations", "--no-tips",
                           str(tmp_path / "newer.py")], capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "itertools.batched" in proc.stdout
