"""Load a scenario spec from YAML, reporting every error as ``file:line: field.path: what``.

PyYAML's composed node tree keeps each node's line; we index it by field path
so a pydantic validation error (which knows the path, not the line) can be
reported where the author can find it.

The YAML is bounded before anything walks it, because a spec is untrusted
input (instructors share them): at most ``MAX_SPEC_BYTES`` of text, nested at
most ``MAX_DEPTH`` levels, at most ``MAX_ALIASES`` alias uses (``*name``), and
at most ``MAX_NODES`` values once aliases are expanded.  PyYAML shares an
aliased node instead of copying it, so loading a "billion laughs" is cheap;
it is the schema check that walks every expanded copy, so the expanded size
is counted first (linear in the composed graph, memoised per node) and a
spec over the limit is refused at the line of its first alias.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from dflab.errors import SpecError
from dflab.scenario.spec import Spec, layout_problems

PathKey = tuple[str | int, ...]
MAX_SPEC_BYTES = 1024 * 1024  # a story, not a data set: the bundled spec is 12 KB
MAX_DEPTH = 64  # mappings and sequences inside each other (the bundled spec: 6)
MAX_ALIASES = 100  # alias uses (the bundled spec: none)
MAX_NODES = 100_000  # values after alias expansion (the bundled spec: about 2,000)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster
# Where each loaded spec came from (file name and line index), so errors found later, when a variant is resolved,
# still name file and line. Keyed by id(): a frozen pydantic model with dict fields is not hashable.
_ORIGINS: dict[int, tuple[weakref.ref[Spec], str, dict[PathKey, int]]] = {}


def _index_lines(node: yaml.Node, path: PathKey, out: dict[PathKey, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            out[(*path, k)] = key.start_mark.line + 1
            _index_lines(value, (*path, k), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), out)


def _line_for(lines: dict[PathKey, int], loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest existing prefix of ``loc`` (pydantic adds union-member names to paths)."""
    path: list[str | int] = []
    best = lines.get(())
    for part in loc:
        candidate = (*path, part)
        if candidate in lines:
            path.append(part)
            best = lines[candidate]
    return best


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top)"


def _read_spec(path: str | Path) -> str:
    """The spec's text, reading at most one byte past the limit (a huge file or a device is refused, not read)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError as exc:
        raise SpecError("scenario spec not found", str(path)) from exc
    except OSError as exc:
        raise SpecError(f"cannot read scenario spec: {exc.strerror or exc}", str(path)) from exc
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(f"scenario spec is larger than {MAX_SPEC_BYTES // 1024} KiB", str(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"cannot read scenario spec: not UTF-8 text ({exc.reason} at byte {exc.start})",
                        str(path)) from exc


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; raise :class:`SpecError` naming file, line and field."""
    return parse_spec(_read_spec(path), os.fspath(path))


def _scan(text: str, name: str) -> list[yaml.Mark]:
    """Check nesting depth and alias count from the event stream (no tree is built); return the aliases' marks."""
    depth = 0
    aliases: list[yaml.Mark] = []
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError(f"YAML nested more than {MAX_DEPTH} levels deep", f"{name}:{event.start_mark.line + 1}")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases.append(event.start_mark)
            if len(aliases) > MAX_ALIASES:
                raise SpecError(f"more than {MAX_ALIASES} YAML aliases (*name): write the values out",
                                f"{name}:{event.start_mark.line + 1}")
    return aliases


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _expanded(root: yaml.Node, limit: int) -> tuple[int, int] | None:
    """(values, depth) of ``root`` with every alias expanded, or None when an alias refers to a value that
    contains it (a recursive structure).  Iterative and memoised per shared node, so a "billion laughs" costs
    what its text costs; counts stop at ``limit + 1``."""
    done: dict[int, tuple[int, int]] = {}
    started: set[int] = set()  # begun and not finished: exactly the ancestors of the node being visited
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finishing = stack.pop()
        key = id(node)
        if finishing:
            kids = [done[id(c)] for c in _children(node)]
            done[key] = (min(1 + sum(n for n, _ in kids), limit + 1), 1 + max((d for _, d in kids), default=0))
            started.discard(key)
        elif key in started:
            return None
        elif key not in done:
            started.add(key)
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node))
    return done[id(root)]


def _load_yaml(text: str, name: str) -> tuple[Any, yaml.Node | None]:
    """The document's data and its composed node tree, both bounded (see the module docstring)."""
    aliases = _scan(text, name)
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        where = f"{name}:{aliases[0].line + 1}" if aliases else name
        expanded = _expanded(root, MAX_NODES)
        if expanded is None:
            raise SpecError("a YAML alias refers to a value that contains it (a recursive structure)", where)
        if expanded[0] > MAX_NODES:
            raise SpecError(f"YAML aliases expand the spec to more than {MAX_NODES} values ('billion laughs'): "
                            "write the values out or use fewer aliases", where)
        if expanded[1] > MAX_DEPTH:
            raise SpecError(f"YAML aliases nest the spec more than {MAX_DEPTH} levels deep", where)
        return loader.construct_document(root), root
    finally:
        loader.dispose()


def parse_spec(text: str, name: str = "<spec>") -> Spec:
    """Validate spec text; ``name`` is used in error messages."""
    if len(text) > MAX_SPEC_BYTES:
        raise SpecError(f"scenario spec is larger than {MAX_SPEC_BYTES // 1024} KiB", name)
    try:
        data, root = _load_yaml(text, name)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise SpecError(f"not valid YAML: {exc.problem or exc}", f"{name}{line}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML: {exc}", name) from exc
    if not isinstance(data, dict):
        raise SpecError("a scenario spec is a YAML mapping (scenario:, title:, hosts:, ...)", name)
    lines: dict[PathKey, int] = {}
    if root is not None:
        _index_lines(root, (), lines)

    def where(loc: tuple[Any, ...]) -> str:
        line = _line_for(lines, loc)
        return f"{name}:{line}" if line else name

    try:
        spec = Spec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        raise SpecError(f"{_dotted(loc)}: {msg}{more}", where(loc)) from exc
    for loc, msg in layout_problems(spec):
        raise SpecError(f"{_dotted(loc)}: {msg}", where(loc))
    key = id(spec)
    _ORIGINS[key] = (weakref.ref(spec, lambda _: _ORIGINS.pop(key, None)), name, lines)
    return spec


def locate(spec: Spec, field: str) -> str | None:
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
        else:
            break
    line = _line_for(lines, tuple(loc)) if loc else None
    return f"{name}:{line}" if line else name
