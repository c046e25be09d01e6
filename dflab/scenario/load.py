"""Load a scenario spec from YAML, reporting every error as ``file:line: field.path: what``.

Reading is bounded and errors carry their line (dflab/yamlfile.py, shared with lab.yaml); this module adds the
spec's own limit and remembers where each loaded spec came from, so errors found later, when a variant is
resolved, still name file and line (:func:`locate`).
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dflab.errors import SpecError
from dflab.scenario.spec import Spec, WindowsSpec, layout_problems
from dflab.yamlfile import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_NODES,
    Lines,
    dotted,
    line_for,
    load_yaml,
    read_text,
    validate,
    where,
)

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_NODES", "MAX_SPEC_BYTES", "PLATFORMS", "AnySpec", "load_spec", "locate",
           "locate_path", "parse_spec", "platform_of"]
MAX_SPEC_BYTES = 1024 * 1024  # a story, not a data set: the bundled spec is 12 KB
# Where each loaded spec came from (file name and line index), so errors found later, when a variant is resolved,
# still name file and line. Keyed by id(): a frozen pydantic model with dict fields is not hashable.
_ORIGINS: dict[int, tuple[weakref.ref[AnySpec], str, Lines]] = {}


PLATFORMS = ("linux", "windows")
"""``platform:`` at a spec's top: a Linux case (the default; :class:`Spec`) or a Windows workstation's
(:class:`WindowsSpec`, resolved by :mod:`dflab.scenario.workstation`)."""
AnySpec = Spec | WindowsSpec


def platform_of(spec: AnySpec) -> str:
    """``linux`` or ``windows``: which evidence a spec's variants hold, so which labs can read them."""
    return "windows" if isinstance(spec, WindowsSpec) else "linux"


def load_spec(path: str | Path) -> AnySpec:
    """Read and validate a spec file; raise :class:`SpecError` naming file, line and field."""
    return parse_spec(read_text(path, MAX_SPEC_BYTES, "scenario spec", SpecError), os.fspath(path))


def parse_spec(text: str, name: str = "<spec>") -> AnySpec:
    """Validate spec text; ``name`` is used in error messages. ``platform:`` chooses the schema."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"scenario spec is larger than {MAX_SPEC_BYTES // 1024} KiB", name)
    data, lines = load_yaml(text, name, SpecError)
    if not isinstance(data, dict):
        raise SpecError("a scenario spec is a YAML mapping (scenario:, title:, hosts:, ...)", name)
    platform = data.get("platform", "linux")
    if platform not in PLATFORMS:
        raise SpecError(f"platform: {platform!r} is not one dflab builds (choose from {', '.join(PLATFORMS)})",
                        where(name, lines, ("platform",)))
    spec: AnySpec
    if platform == "windows":
        spec = validate(WindowsSpec, data, name, lines, SpecError)
    else:
        # The Linux schema has no platform field: saying the default aloud changes nothing (nor any byte).
        spec = validate(Spec, {k: v for k, v in data.items() if k != "platform"}, name, lines, SpecError)
        for loc, msg in layout_problems(spec):
            raise SpecError(f"{dotted(loc)}: {msg}", where(name, lines, loc))
    key = id(spec)
    _ORIGINS[key] = (weakref.ref(spec, lambda _: _ORIGINS.pop(key, None)), name, lines)
    return spec


def locate_path(spec: AnySpec, loc: tuple[str | int, ...]) -> str | None:
    """``file:line`` of a field given by its pydantic path (``("answers", "tool_sha256")``), for a spec read by
    :func:`parse_spec`; None for one built in code."""
    entry = _ORIGINS.get(id(spec))
    if entry is None or entry[0]() is not spec:
        return None
    return where(entry[1], entry[2], loc)


def locate(spec: AnySpec, field: str) -> str | None:
    """``file:line`` of a field named the way the resolver names it (``disk.files.payload.created``: list items by
    their ``id``, or by index), for a spec read by :func:`parse_spec`; None for one built in code."""
    entry = _ORIGINS.get(id(spec))
    if entry is None or entry[0]() is not spec:
        return None
    _, name, lines = entry
    node: Any = spec
    loc: list[str | int] = []
    for part in field.split("."):
        if isinstance(node, BaseModel) and part in type(node).model_fields:
            node = getattr(node, part)
            loc.append(part)
        elif isinstance(node, tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            loc.append(int(part))
        elif isinstance(node, tuple) and (i := next((k for k, item in enumerate(node)
                                                     if getattr(item, "id", None) == part), None)) is not None:
            node = node[i]
            loc.append(i)
        elif isinstance(node, dict) and part in node:
            node = node[part]
            loc.append(part)
        elif isinstance(node, dict) and part.isdigit() and int(part) in node:  # open_files: {3: path}
            node = node[int(part)]
            loc.append(part)  # the YAML key's text, as the line index has it
        else:
            break
    line = line_for(lines, tuple(loc)) if loc else None
    return f"{name}:{line}" if line else name
