"""Load a scenario spec from YAML, reporting every error as ``file:line: field.path: what``.

PyYAML's composed node tree keeps each node's line; we index it by field path
so a pydantic validation error (which knows the path, not the line) can be
reported where the author can find it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dflab.errors import SpecError, read_user_text
from dflab.scenario.spec import Spec

PathKey = tuple[str | int, ...]


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


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; raise :class:`SpecError` naming file, line and field."""
    return parse_spec(read_user_text(path, "scenario spec", SpecError), str(path))


def parse_spec(text: str, name: str = "<spec>") -> Spec:
    """Validate spec text; ``name`` is used in error messages."""
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 10x faster
        data = yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
        root = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise SpecError(f"not valid YAML: {exc.problem or exc}", f"{name}{line}") from exc
    if not isinstance(data, dict):
        raise SpecError("a scenario spec is a YAML mapping (scenario:, title:, hosts:, ...)", name)
    lines: dict[PathKey, int] = {}
    if root is not None:
        _index_lines(root, (), lines)
    try:
        return Spec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        line = _line_for(lines, loc)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        where = f"{name}:{line}" if line else name
        raise SpecError(f"{_dotted(loc)}: {msg}{more}", where) from exc
