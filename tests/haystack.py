"""Nightjar and Kestrel with their root volume as an installed Debian 12 desktop (``disk.volumes[].os``, #14 item 5).

The bundled specs keep the haystack off for now: one variant with it costs several times the build time and a
1 GiB image per trainee copy (see the session note), so labs and most tests build the small case. The tests of the
installed system itself (tests/test_ostree.py, the fact model's mapped files) build these instead: the bundled spec
with the root enlarged and ``os:`` added, so the story stays the bundled one.
"""

from __future__ import annotations

from pathlib import Path

from dflab.scenario.load import parse_spec
from dflab.scenario.spec import Spec

SCENARIOS = Path(__file__).resolve().parents[1] / "labs" / "scenarios"

# (what the bundled spec says, what the haystack variant says instead), each expected exactly once
EDITS = {
    "nightjar": [
        ("  size: 96MiB\n", "  size: 1GiB\n"),
        ("label: rootfs, size: 28MiB, mount: /, start_mib: {int: [35, 66]}}",
         "label: rootfs, size: 940MiB, mount: /, start_mib: {int: [35, 66]},\n"
         "       os: {distribution: debian-12, profile: desktop, installed: \"@start-430d\", updated: \"@start-9d\"}}"),
    ],
    "kestrel": [
        ("  size: 112MiB\n", "  size: 1GiB\n"),
        ("label: ubuntu, size: 48MiB, mount: /, start_mib: {int: [1, 24]}}",
         "label: ubuntu, size: 900MiB, mount: /, start_mib: {int: [1, 24]},\n"
         "       os: {distribution: debian-12, profile: desktop, installed: \"@start-330d\", updated: \"@start-5d\"}}"),
    ],
}


def haystack_text(name: str) -> str:
    text = (SCENARIOS / f"{name}.yaml").read_text(encoding="utf-8")
    for old, new in EDITS[name]:
        assert text.count(old) == 1, f"{name}.yaml no longer holds {old!r} once: update tests/haystack.py"
        text = text.replace(old, new)
    return text


def haystack_spec(name: str = "nightjar") -> Spec:
    """The bundled ``name`` case with an installed system on its root volume."""
    return parse_spec(haystack_text(name), f"{name}.yaml (haystack)")


def with_memory_text(name: str, size: str) -> str:
    """The YAML of :func:`with_memory`: what ``benchmarks/evidence.py`` writes to a file for ``build_cohort``."""
    text = haystack_text(name)
    marker = "\nmemory:\n  size: "
    assert text.count(marker) == 1, f"{name}.yaml's memory size is not where tests/haystack.py looks"
    head, tail = text.split(marker)
    return head + marker + size + tail[tail.index("\n"):]


def with_memory(name: str, size: str) -> Spec:
    """The ``name`` case with an installed system and ``size`` of memory (e.g. ``256MiB``, #14 item 5's figure):
    the page cache has the installed files to hold."""
    return parse_spec(with_memory_text(name, size), f"{name}.yaml (haystack, memory {size})")
