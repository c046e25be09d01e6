"""Nightjar and Kestrel with an installed Debian 12 on the root volume (#14 item 5), as bundled, and small.

The haystack: the root volume holds an installed Debian 12 (``disk.volumes[].os``, some 6,800 files), the disk is
1 GiB apparent (sparse) and memory 256 MiB, as the bundled specs ship them. ``haystack_spec``/``haystack_text`` are
the bundled case with it (the tests of the installed system say so by asking for it); ``small_spec``/``small_text``
are the case without it, as small as it was shipped before (a story-only root, the small memory), for the tests
that are about the story alone and for ``benchmarks/evidence.py``'s baseline. Both are made from the bundled spec
by the edits below, whichever way it is shipped, so the story, its draws and every answer's role are the bundled
ones; only the sizes and the installed system differ.
"""

from __future__ import annotations

from pathlib import Path

from dflab.scenario.load import parse_spec
from dflab.scenario.spec import Spec

SCENARIOS = Path(__file__).resolve().parents[1] / "labs" / "scenarios"

# (what the haystack says, what the small case says instead), each expected exactly once
SMALL_EDITS = {
    "nightjar": [
        ("  size: 1GiB\n", "  size: 96MiB\n"),
        ("label: rootfs, size: 940MiB, mount: /, start_mib: {int: [35, 66]},\n"
         "       os: {distribution: debian-12, profile: desktop, installed: \"@start-430d\", updated: \"@start-9d\"}}",
         "label: rootfs, size: 28MiB, mount: /, start_mib: {int: [35, 66]}}"),
        ("\nmemory:\n  size: 256MiB\n", "\nmemory:\n  size: 64MiB\n"),
    ],
    "kestrel": [
        ("  size: 1GiB\n", "  size: 112MiB\n"),
        ("label: ubuntu, size: 900MiB, mount: /, start_mib: {int: [1, 24]},\n"
         "       os: {distribution: debian-12, profile: desktop, installed: \"@start-330d\", updated: \"@start-5d\"}}",
         "label: ubuntu, size: 48MiB, mount: /, start_mib: {int: [1, 24]}}"),
        ("\nmemory:\n  size: 256MiB\n", "\nmemory:\n  size: 48MiB\n"),
    ],
}


INSTALLED = "os: {distribution: debian-12"


def _edited(name: str, text: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        assert text.count(old) == 1, f"{name}.yaml no longer holds {old!r} once: update tests/haystack.py"
        text = text.replace(old, new)
    return text


def haystack_text(name: str) -> str:
    """The bundled ``name`` spec's YAML with an installed system on its root (as bundled when it has one)."""
    text = (SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8")
    if INSTALLED in text:
        return text
    return _edited(name, text, [(small, big) for big, small in SMALL_EDITS[name]])


def haystack_spec(name: str = "nightjar") -> Spec:
    """The bundled ``name`` case, with an installed system on its root volume."""
    return parse_spec(haystack_text(name), f"{name}.yaml (haystack)")


def small_text(name: str) -> str:
    """The YAML of :func:`small_spec` (as bundled when it installs nothing)."""
    text = (SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8")
    return _edited(name, text, SMALL_EDITS[name]) if INSTALLED in text else text


def small_spec_file(name: str, folder: Path) -> Path:
    """:func:`small_text` written to ``folder/<name>.yaml``: for a course whose tests are about grading, not the
    evidence (``init_course(scenario=...)``): the sandboxes, the grading service, hostile submissions. The labs'
    own tests and the no-code path run on the bundled case."""
    path = folder / f"{name}.yaml"
    path.write_text(small_text(name), encoding="utf-8")
    return path


def small_spec(name: str = "nightjar") -> Spec:
    """The bundled ``name`` case without the haystack: a small root of the story's files, the small memory."""
    return parse_spec(small_text(name), f"{name}.yaml (small)")


def with_memory_text(name: str, size: str) -> str:
    """The YAML of :func:`with_memory`."""
    text = haystack_text(name)
    marker = "\nmemory:\n  size: "
    assert text.count(marker) == 1, f"{name}.yaml's memory size is not where tests/haystack.py looks"
    head, tail = text.split(marker)
    return head + marker + size + tail[tail.index("\n"):]


def with_memory(name: str, size: str) -> Spec:
    """The ``name`` case (an installed system on its root) with ``size`` of memory (e.g. ``256MiB``, #14 item 5's
    figure): the page cache has the installed files to hold."""
    return parse_spec(with_memory_text(name, size), f"{name}.yaml (haystack, memory {size})")
