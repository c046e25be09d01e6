"""Print the requirements the image's Python (3.11.2, Linux x86_64) needs that DEPS lacks, one per line.

``pip download --python-version`` picks wheels for the target but evaluates environment markers with the
interpreter running pip: on a host whose Python is newer than the image's (Debian 13's 3.13), a dependency
marked ``python_version < "3.12"`` is left out and the offline image build fails. wheelhouse.sh calls this
after each download and fetches what it prints, until it prints nothing.

    python wheelhouse_missing.py DEPS REQUIREMENTS.txt
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

TARGET = {"python_version": "3.11", "python_full_version": "3.11.2", "implementation_name": "cpython",
          "implementation_version": "3.11.2", "platform_python_implementation": "CPython", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix", "platform_release": "",
          "platform_version": ""}


def applies(req: Requirement, extras: frozenset[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**TARGET, "extra": extra}) for extra in ({""} | set(extras)))


def requires(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        text = archive.read(meta).decode("utf-8", "replace")
    return [Requirement(line.split(":", 1)[1].strip()) for line in text.splitlines()
            if line.startswith("Requires-Dist:")]


def main(deps: Path, requirements: Path) -> None:
    wheels = {}
    for wheel in deps.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        wheels.setdefault(canonicalize_name(name), []).append((version, wheel))
    todo = [(Requirement(line), frozenset()) for line in requirements.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    seen: set[tuple[str, frozenset[str]]] = set()
    missing: set[str] = set()
    while todo:
        req, parent_extras = todo.pop()
        if not applies(req, parent_extras):
            continue
        name = canonicalize_name(req.name)
        found = [w for v, w in wheels.get(name, []) if req.specifier.contains(v, prereleases=True)]
        if not found:
            missing.add(str(Requirement(f"{req.name}{req.specifier}")))
            continue
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        todo.extend((dep, frozenset(req.extras)) for dep in requires(found[0]))
    for requirement in sorted(missing):
        print(requirement)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
