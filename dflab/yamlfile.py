"""YAML files authors write (scenario specs, lab.yaml), read bounded and checked with every error at ``file:line``.

PyYAML's composed node tree keeps each node's line; it is indexed by field path so a pydantic validation
error (which knows the path, not the line) is reported where the author can find it.

The YAML is bounded before anything walks it, because these files are untrusted input (instructors and
course teams share them): at most ``max_bytes`` of text, nested at most ``MAX_DEPTH`` levels, at most
``MAX_ALIASES`` alias uses (``*name``), and at most ``MAX_NODES`` values once aliases are expanded.  PyYAML
shares an aliased node instead of copying it, so loading a "billion laughs" is cheap; it is the schema check
that walks every expanded copy, so the expanded size is counted first (linear in the composed graph, memoised
per node) and a file over the limit is refused at the line of its first alias.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from dflab.errors import DflabError

PathKey = tuple[str | int, ...]
Lines = dict[PathKey, int]
MAX_DEPTH = 64  # mappings and sequences inside each other (the bundled spec: 6)
MAX_ALIASES = 100  # alias uses (the bundled files: none)
MAX_NODES = 100_000  # values after alias expansion (the bundled spec: about 2,000)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster
Model = TypeVar("Model", bound=BaseModel)


class FieldError(ValueError):
    """A validator's error about a field *below* the one it validates: a model validator that checks references
    across sections raises it with ``loc``, the path from its model to the field holding the bad reference
    (``("timeline", 3, "after")``), so :func:`validate` reports that field's line rather than the model's."""

    def __init__(self, loc: tuple[str | int, ...], what: str) -> None:
        super().__init__(what)
        self.loc = tuple(loc)


def index_lines(node: yaml.Node, path: PathKey, out: dict[PathKey, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            out[(*path, k)] = key.start_mark.line + 1
            index_lines(value, (*path, k), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index_lines(item, (*path, i), out)


def line_for(lines: dict[PathKey, int], loc: tuple[Any, ...]) -> int | None:
    """The line of the deepest existing prefix of ``loc`` (pydantic adds union-member names to paths)."""
    path: list[str | int] = []
    best = lines.get(())
    for part in loc:
        candidate = (*path, part)
        if candidate in lines:
            path.append(part)
            best = lines[candidate]
    return best


def dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top)"


def read_text(path: str | Path, max_bytes: int, what: str, error: type[DflabError] = DflabError) -> str:
    """``path``'s text, reading at most one byte past ``max_bytes`` (a huge file or a device is refused, not read)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except FileNotFoundError as exc:
        raise error(f"{what} not found", str(path)) from exc
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", str(path)) from exc
    if len(raw) > max_bytes:
        raise error(f"{what} is larger than {max_bytes // 1024} KiB", str(path))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"cannot read {what}: not UTF-8 text ({exc.reason} at byte {exc.start})", str(path)) from exc


def _scan(text: str, name: str, error: type[DflabError]) -> list[yaml.Mark]:
    """Check nesting depth and alias count from the event stream (no tree is built); return the aliases' marks."""
    depth = 0
    aliases: list[yaml.Mark] = []
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise error(f"YAML nested more than {MAX_DEPTH} levels deep", f"{name}:{event.start_mark.line + 1}")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases.append(event.start_mark)
            if len(aliases) > MAX_ALIASES:
                raise error(f"more than {MAX_ALIASES} YAML aliases (*name): write the values out",
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


def _load_yaml(text: str, name: str, error: type[DflabError]) -> tuple[Any, yaml.Node | None]:
    """The document's data and its composed node tree, both bounded (see the module docstring)."""
    aliases = _scan(text, name, error)
    loader = _LOADER(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        where = f"{name}:{aliases[0].line + 1}" if aliases else name
        expanded = _expanded(root, MAX_NODES)
        if expanded is None:
            raise error("a YAML alias refers to a value that contains it (a recursive structure)", where)
        if expanded[0] > MAX_NODES:
            raise error(f"YAML aliases expand the file to more than {MAX_NODES} values ('billion laughs'): "
                            "write the values out or use fewer aliases", where)
        if expanded[1] > MAX_DEPTH:
            raise error(f"YAML aliases nest the file more than {MAX_DEPTH} levels deep", where)
        return loader.construct_document(root), root
    finally:
        loader.dispose()


def load_yaml(text: str, name: str, error: type[DflabError] = DflabError) -> tuple[Any, Lines]:
    """The bounded document in ``text`` and the line of every field path; YAML errors as ``name:line: what``."""
    try:
        data, root = _load_yaml(text, name, error)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise error(f"not valid YAML: {exc.problem or exc}", f"{name}{line}") from exc
    except yaml.YAMLError as exc:
        raise error(f"not valid YAML: {exc}", name) from exc
    lines: Lines = {}
    if root is not None:
        index_lines(root, (), lines)
    return data, lines


def where(name: str, lines: Lines, loc: tuple[Any, ...]) -> str:
    """``name:line`` of field path ``loc`` (its deepest part the file has), or ``name``."""
    line = line_for(lines, loc)
    return f"{name}:{line}" if line else name


def validate(model: type[Model], data: Any, name: str, lines: Lines, error: type[DflabError] = DflabError) -> Model:
    """``data`` as ``model``, or ``error`` naming ``file:line`` and the field path of the first problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, FieldError):
            loc += cause.loc
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "literal_error":
            msg = f"must be one of {err.get('ctx', {}).get('expected', '')}"
        raise error(f"{dotted(loc)}: {msg}{more}", where(name, lines, loc)) from exc
