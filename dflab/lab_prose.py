"""A lab's prose told from its case: the notebook's markdown cells are templates filled from the scenario at release.

The story a lab tells ("**Operation Nightjar: data theft from a finance workstation.** On the morning of the
incident ...") belongs to the case, not to the lab: pointed at another scenario (``dflab lab check LAB --scenario
other.yaml``, or a lab.yaml naming another ``scenario:``), a lab must tell that case's story. So markdown cells
may hold placeholders, ``{{ case.title }}``, ``{{ case.summary }}``, ``{{ volumes.transfer.label }}``, filled
when a course copies the source notebook in (``init_course``: ``dflab course init``, a session, ``dflab lab check``;
:func:`released_source`), before nbgrader releases it. Code cells are never touched.

The syntax is Jinja2's, in an immutable sandbox with undefined names as errors, no globals and no HTML escaping
(markdown is not HTML); an id that is not a Python name is written ``files['usb-note'].path``. What a placeholder
can name is :func:`case_facts`: the case (``case.id``, ``case.title``, ``case.summary``, ``case.version``), the
spec's roles by id (``hosts``, ``users``, ``volumes``, ``files``, ``processes``, ``flows``, ``events``) with their
descriptive fields, ``disk.table``, ``disk.size`` and ``memory.size`` (sizes as text: ``64 MiB``).

One release serves the whole cohort (nbgrader ``generate_assignment``) while most of a case is drawn per trainee.
Prose can therefore only show what is the same for every trainee of the case; a field whose spec value is drawn
(``{ip_in: ...}``) or holds a ``{variable}`` is withheld, and so is every fact an answer is compared with (the
spec's ``answers:`` and the lab's grader keys), even when it is fixed: prose never gives an answer away. A role
the prose names must be one lab.yaml's ``requires:`` lists, which stays the one list of what a lab takes from a
case. A withheld, unknown, undeclared or malformed placeholder is one line at the notebook's cell
(``source.ipynb: cell 3: {{ hosts.suspect.hostname }} differs per trainee; ...``, cells counted from 1), never
raw template text in a release: ``dflab scenario validate`` lists every such line (dflab/lab_requires.py),
``init_course`` refuses the first before it writes the course's copy.

Withheld facts are markers that hold no value at all, only why they are withheld: whatever a template does with
one, no drawn value or answer can reach the release through it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from dflab.errors import DflabError
from dflab.grading.checks import CheckFile, load_checks
from dflab.lab_meta import GRADER_FILE, LAB_FILE, LabMeta, read_lab
from dflab.scenario.load import load_spec
from dflab.scenario.spec import TEMPLATE as SPEC_REFERENCE
from dflab.scenario.spec import Spec, WindowsSpec
from dflab.yamlfile import read_text

MAX_NOTEBOOK_BYTES = 32 * 1024 * 1024  # a lab's source notebook (the bundled ones are under 40 KB)
_MARKS = ("{{", "{%", "{#")  # a cell holding none of these is not a template (and is left byte for byte)
PER_TRAINEE = "differs per trainee; prose can only use the case's fixed facts"
GROUPS = ("case", "hosts", "users", "volumes", "files", "processes", "flows", "events", "disk", "memory")


class Refused(Exception):
    """A placeholder prose cannot show (withheld, unknown, or a group rather than one fact)."""


def _shown(path: tuple[str | int, ...]) -> str:
    """A placeholder's path as an author writes it: ``hosts.suspect.hostname``, ``files['usb-note'].path``."""
    text = str(path[0])
    for part in path[1:]:
        text += f".{part}" if isinstance(part, str) and part.isidentifier() else f"[{part!r}]"
    return text


class _Withheld:
    """A fact prose may not show. It holds no value, only its path and why: every use of it raises."""

    __slots__ = ("path", "why")

    def __init__(self, path: str, why: str) -> None:
        self.path, self.why = path, why

    def refuse(self, *_: Any) -> Any:
        raise Refused(f"{{{{ {self.path} }}}} {self.why}")

    __str__ = __format__ = __bool__ = __len__ = __iter__ = __contains__ = __getitem__ = refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = refuse  # type: ignore[assignment]
    __add__ = __radd__ = __mod__ = __rmod__ = __mul__ = __rmul__ = __int__ = __float__ = __index__ = refuse
    __hash__ = None  # type: ignore[assignment]  # unhashable, like any value that defines __eq__

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.refuse()

    def __repr__(self) -> str:
        return f"<withheld {self.path}>"


class _Group:
    """Facts by name (the case, the hosts, one host ...): a placeholder names one of them, never the group."""

    __slots__ = ("_facts", "_path")

    def __init__(self, path: str, facts: Mapping[str, Any]) -> None:
        self._path, self._facts = path, dict(facts)

    def _fact(self, key: Any) -> Any:
        """The fact or group ``key`` names, or ``Refused`` (unknown) listing what there is. (Underscored, as is all
        of this class but the facts: a template cannot reach it, so no fact's name clashes with a method's.)"""
        if isinstance(key, str) and key in self._facts:
            return self._facts[key]
        known = ", ".join(self._facts) or "nothing"
        raise Refused(f"{{{{ {self._path}{f'.{key}' if str(key).isidentifier() else f'[{key!r}]'} }}}} is not a "
                      f"fact of the case ({self._path} has: {known})")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self._fact(name)

    def __getitem__(self, key: Any) -> Any:
        return self._fact(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._facts)

    def __len__(self) -> int:
        return len(self._facts)

    def __contains__(self, key: object) -> bool:
        return key in self._facts

    def __str__(self) -> str:
        raise Refused(f"{{{{ {self._path} }}}} is a group of facts, not one: name one of {', '.join(self._facts)}")

    def __repr__(self) -> str:
        return f"<facts {self._path}>"


def _references(text: str) -> list[str]:
    """The names ``text`` (a spec's string) references, escapes left out."""
    return [m["ref"] for m in SPEC_REFERENCE.finditer(text) if m["ref"]]


def _unescaped(text: str) -> str:
    """A spec's string without references as the evidence has it: ``{{name}}`` is ``{name}``."""
    return SPEC_REFERENCE.sub(lambda m: "{" + m["literal"] + "}" if m["literal"] else m[0], text)


def _size(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


def answer_paths(spec: Spec | WindowsSpec, checks: CheckFile | None = None) -> dict[str, str]:
    """Fact path (``files.payload.path``) -> the answer compared with it: every ``{ref}`` of the spec's ``answers:``
    and every key path the lab's grader reads (``facts.disk.volumes.root.fs`` is ``volumes.root.fs``)."""
    paths: dict[str, str] = {}
    for name, template in spec.answers.items():
        for ref in _references(template):
            paths.setdefault(ref, name)
    if checks is None:
        return paths
    for name, check in checks.checks.items():
        for key in (checks.key_path(name), *(p for listed in check.findings.values() for p in listed)):
            parts = key.split(".")  # answers.<name> is the spec's answers: above
            if parts[0] == "namespace":
                paths.setdefault(".".join(parts[1:]), name)
            elif parts[0] == "facts" and len(parts) > 2 and parts[1] in ("disk", "memory"):
                by_role = parts[1] == "disk" and parts[2] in ("volumes", "files")  # facts.disk.volumes.<id>...
                paths.setdefault(".".join(parts[2:] if by_role else parts[1:]), name)
    return paths


def case_facts(spec: Spec | WindowsSpec, answers: Mapping[str, str] | None = None) -> dict[str, _Group]:
    """What prose may name, by group: a fixed fact as its value, a drawn one or an answer as a withheld marker.

    ``answers``: fact path -> answer name (:func:`answer_paths`); a fact at such a path, or under it, is withheld.
    """
    guarded = dict(answers or {})

    def fact(path: str, raw: Any, shown: Any, drawn: bool = False) -> Any:
        if drawn or isinstance(raw, dict) or (isinstance(raw, str) and _references(raw)):
            return _Withheld(path, PER_TRAINEE)
        for at, name in guarded.items():
            if path == at or path.startswith(f"{at}."):
                return _Withheld(path, f"is what answer {name!r} is compared with; prose never gives an answer away")
        if shown is None:
            return _Withheld(path, "is not set in this case's spec")
        return _unescaped(shown) if isinstance(shown, str) else shown

    def group(kind: str, items: Mapping[str, Mapping[str, tuple[Any, ...]]]) -> _Group:
        """``items``: id -> field -> (raw spec value, shown value[, drawn])."""
        return _Group(kind, {
            ident: _Group(_shown((kind, ident)), {"id": ident} | {
                field: fact(f"{kind}.{ident}.{field}", *value) for field, value in fields.items()})
            for ident, fields in items.items()})

    common = {
        "case": _Group("case", {"id": spec.scenario, "title": spec.title.strip(), "summary": spec.summary.strip(),
                                "version": spec.version}),
        "hosts": group("hosts", {h.id: {"hostname": (h.hostname, h.hostname), "ip": (h.ip, h.ip),
                                        "mac": (h.mac, h.mac, h.mac is None), "on_link": (h.on_link, h.on_link)}
                                 for h in spec.hosts}),
        "events": group("events", {e.id: {"action": (e.action, e.action),
                                          "description": (e.description, e.description)} for e in spec.timeline}),
    }
    if isinstance(spec, WindowsSpec):  # a Windows workstation's case: no volumes, files ... of the Linux schema
        w = spec.workstation
        return common | {
            "users": group("users", {u.id: {"name": (u.name, u.name), "full_name": (u.full_name, u.full_name),
                                            "rid": (u.rid, u.rid)} for u in spec.users}),
            "workstation": _Group("workstation", {
                "computer_name": fact("workstation.computer_name", w.computer_name, w.computer_name),
                "time_zone": fact("workstation.time_zone", w.time_zone, w.time_zone),
                "domain": fact("workstation.domain", w.domain, w.domain)}),
        }
    return {
        "case": common["case"], "hosts": common["hosts"],
        "users": group("users", {u.id: {"name": (u.name, u.name), "full_name": (u.full_name, u.full_name),
                                        "uid": (u.uid, u.uid), "home": (u.name, f"/home/{u.name}"),
                                        "shell": (u.shell, u.shell)} for u in spec.users}),
        "volumes": group("volumes", {v.id: {"fs": (v.fs, v.fs), "label": (v.label, v.label),
                                            "mount": (v.mount, v.mount), "size": (v.size, _size(v.size))}
                                     for v in spec.disk.volumes}),
        "files": group("files", {f.id: {"path": (f.path, f.path), "volume": (f.volume, f.volume),
                                        "owner": (f.owner, f.owner or "root"), "kind": (f.content.kind, f.content.kind)}
                                 for f in spec.disk.files}),
        "processes": group("processes", {p.id: {"comm": (p.comm, p.comm), "exe": (p.exe, p.exe), "pid": (p.pid, p.pid),
                                                "user": (p.user, p.user or "root"), "hidden": (p.hidden, p.hidden)}
                                         for p in spec.memory.processes}),
        "flows": group("flows", {f.id: {"kind": (f.kind, f.kind), "client": (f.client, f.client),
                                        "server": (f.server, f.server), "uri": (f.uri, f.uri),
                                        "qname": (f.qname, f.qname), "label": (f.label, f.label)}
                                 for f in spec.network.flows}),
        "events": common["events"],
        "disk": _Group("disk", {"table": fact("disk.table", spec.disk.table, spec.disk.table),
                                "size": fact("disk.size", spec.disk.size, _size(spec.disk.size))}),
        "memory": _Group("memory", {"size": fact("memory.size", spec.memory.size, _size(spec.memory.size))}),
    }


def _finalize(value: Any) -> Any:
    """What a ``{{ ... }}`` may print: one fact (text or a number); a marker or a group refuses itself."""
    if isinstance(value, (_Withheld, _Group)):
        str(value)
    if isinstance(value, (str, int, float)):
        return value
    raise Refused(f"a placeholder shows one fact (text or a number), not {type(value).__name__} {value!r}")


ENV = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True,
                                    finalize=_finalize)
ENV.globals.clear()  # range, lipsum, dict ...: prose names the case's facts and nothing else


def _chains(node: nodes.Node) -> Iterator[tuple[tuple[str | int, ...], nodes.Node]]:
    """Every name with its static attribute/item chain (``hosts.suspect.hostname``, ``files['usb-note']``), longest
    first: what a placeholder names, checked before anything is rendered so each problem is one line of its own."""
    def path(n: nodes.Node) -> tuple[str | int, ...] | None:
        if isinstance(n, nodes.Name):
            return (n.name,) if n.ctx == "load" else None
        if isinstance(n, nodes.Getattr):
            head = path(n.node)
            return None if head is None else (*head, n.attr)
        if isinstance(n, nodes.Getitem) and isinstance(n.arg, nodes.Const) and isinstance(n.arg.value, (str, int)):
            head = path(n.node)
            return None if head is None else (*head, n.arg.value)
        return None

    found = path(node)
    if found is not None:
        yield found, node
        return
    for child in node.iter_child_nodes():
        yield from _chains(child)


def _static_problems(ast: nodes.Template, facts: Mapping[str, _Group],
                     declared: Mapping[str, tuple[str, ...]] | None) -> list[str]:
    """A line per placeholder that names a withheld or unknown fact, or a role the lab does not declare (names the
    template binds itself are left to rendering)."""
    problems: list[str] = []
    free = meta.find_undeclared_variables(ast)
    for path, _ in _chains(ast):
        root = path[0]
        if root not in free:
            continue
        if root not in facts:
            problems.append(f"{{{{ {_shown(path)} }}}} is not a fact of the case (prose can name "
                            f"{', '.join(GROUPS)})")
            continue
        value: Any = facts[str(root)]
        unknown = None
        for part in path[1:]:
            if not isinstance(value, _Group):
                break  # a method or item of one fact: rendering decides
            if part not in value:
                unknown = f"is not a fact of the case ({value._path} has: {', '.join(value) or 'nothing'})"
                break
            value = value._fact(part)
        if unknown:
            problems.append(f"{{{{ {_shown(path)} }}}} {unknown}")
        elif isinstance(value, _Withheld):
            problems.append(f"{{{{ {value.path} }}}} {value.why}")
        elif declared is not None and root in declared and len(path) > 1 and path[1] not in declared[str(root)]:
            problems.append(f"{{{{ {_shown(path)} }}}} names {_shown(path[:2])}, which {LAB_FILE}'s requires: does "
                            "not list (the roles a lab takes from a case are all listed there)")
    return list(dict.fromkeys(problems))


def render_markdown(source: str, facts: Mapping[str, _Group],
                    declared: Mapping[str, tuple[str, ...]] | None = None) -> tuple[str, list[str]]:
    """``source`` (one markdown cell) filled from ``facts``, and its problems (then the text is ``source``).
    ``declared``: the role ids by kind a lab's ``requires:`` lists, the only ones its prose may name."""
    if not any(mark in source for mark in _MARKS):
        return source, []
    try:
        ast = ENV.parse(source)
    except TemplateSyntaxError as exc:
        return source, [f"line {exc.lineno}: template syntax: {exc.message}"]
    problems = _static_problems(ast, facts, declared)
    if problems:
        return source, problems
    try:
        return ENV.from_string(ast).render(facts), []
    except Refused as exc:
        return source, [str(exc)]
    except TemplateError as exc:
        return source, [f"template: {exc.message or type(exc).__name__}"]
    except Exception as exc:  # an author's expression (``{{ 1 / 0 }}``): their mistake, one line, not a traceback
        return source, [f"template: {type(exc).__name__}: {exc}"]


def render_notebook(text: str, facts: Mapping[str, _Group], name: str,
                    declared: Mapping[str, tuple[str, ...]] | None = None) -> tuple[str, list[tuple[str, str]]]:
    """A notebook's JSON text with its markdown cells rendered, and (``name: cell N``, what) per problem (cells
    counted from 1, as JupyterLab shows them top down); with problems, or without placeholders, ``text`` as it was,
    byte for byte."""
    try:
        notebook = json.loads(text)
        cells = notebook["cells"]
        if not isinstance(cells, list):
            raise TypeError("cells is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise DflabError(f"not a notebook (nbformat 4 JSON): {exc}", name) from exc
    problems: list[tuple[str, str]] = []
    changed = False
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
            continue  # code cells are the lab's program, never a template
        raw = cell.get("source", "")
        source = "".join(raw) if isinstance(raw, list) else str(raw)
        rendered, found = render_markdown(source, facts, declared)
        problems += [(f"{name}: cell {number}", what) for what in found]
        if rendered != source:
            cell["source"] = rendered.splitlines(keepends=True) if isinstance(raw, list) else rendered
            changed = True
    if not changed or problems:
        return text, problems
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n", []  # nbformat's own layout


def lab_facts(lab_dir: Path, spec: Spec | WindowsSpec) -> dict[str, _Group]:
    """What the prose of the lab in ``lab_dir`` may name on ``spec``: its grader's answers withheld too."""
    return case_facts(spec, answer_paths(spec, load_checks(lab_dir / GRADER_FILE)))


def _render_lab(lab_dir: Path, meta: LabMeta, spec: Spec | WindowsSpec) -> tuple[str, list[tuple[str, str]]]:
    path = lab_dir / meta.source
    return render_notebook(read_text(path, MAX_NOTEBOOK_BYTES, "lab notebook"), lab_facts(lab_dir, spec), str(path),
                           meta.requires.roles())


def prose_problems(lab_dir: Path, spec: Spec | WindowsSpec, meta: LabMeta | None = None) -> list[str]:
    """One ``source.ipynb: cell N: what`` line per placeholder the lab's notebook cannot fill from ``spec``."""
    return [f"{where}: {what}" for where, what in _render_lab(lab_dir, meta or read_lab(lab_dir), spec)[1]]


def released_source(lab_dir: Path, meta: LabMeta, spec_path: Path) -> str:
    """The lab's source notebook as a course holds it: its prose told from the case in ``spec_path``.

    A placeholder it cannot fill is a :class:`DflabError` at the first one's cell, saying how many more there are.
    """
    text, problems = _render_lab(lab_dir, meta, load_spec(spec_path))
    if problems:
        (where, what), more = problems[0], len(problems) - 1
        raise DflabError(what + (f" (and {more} more: `dflab scenario validate {spec_path} --lab {lab_dir}` lists "
                                 "every one)" if more else ""), where)
    return text
