"""The suite's temporary space: what a passing test and a finished module fixture made is emptied.

pytest keeps every ``tmp_path`` and every folder ``tmp_path_factory.mktemp`` made until a later run. A built variant
of the bundled cases holds some 400 MB (a 1 GiB disk with an installed system, 256 MiB of memory), and modules keep
courses, cohorts and sessions of them: kept to the end, they filled this machine's 67 GB before the suite was
through. So a passing test's ``tmp_path`` is emptied when the test ends (a failing one's is kept to look at), and
each folder a module- or class-scoped fixture made with ``mktemp`` is emptied right after that fixture's own
teardown (a session it started is stopped first). The folders themselves stay, empty: pytest numbers new ones after
the highest that exists, so no later test gets the path of an earlier one (whose background processes, stopped or
not, named it: pytest's own ``tmp_path_retention_policy = "failed"`` deletes them, and a session test then started
where the previous one had run). Nothing below a mount point left inside is touched.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.tempspace import empty

_making: list[list[Path]] = []  # the folders each module fixture being set up made, innermost last
_mktemp = pytest.TempPathFactory.mktemp
_PASSED = pytest.StashKey[bool]()


def _mktemp_tracked(self: pytest.TempPathFactory, basename: str, numbered: bool = True) -> Path:
    path = _mktemp(self, basename, numbered)
    if _making:
        _making[-1].append(path)
    return path


pytest.TempPathFactory.mktemp = _mktemp_tracked  # type: ignore[method-assign]


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest,
                         ) -> Generator[None, object, object]:
    if fixturedef.scope not in ("module", "class", "package"):
        return (yield)
    made: list[Path] = []
    # Registered before the fixture runs, so it runs after the fixture's own teardown (finalizers run last first).
    fixturedef.addfinalizer(lambda: [empty(path) for path in made])
    _making.append(made)
    try:
        return (yield)
    finally:
        _making.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Generator[None, pytest.TestReport,
                                                                                     pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[_PASSED] = report.passed
    return report


@pytest.fixture
def tmp_path(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """pytest's ``tmp_path``, emptied when the test passes."""
    yield tmp_path
    if request.node.stash.get(_PASSED, False):
        empty(tmp_path)
