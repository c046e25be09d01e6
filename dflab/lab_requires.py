"""What a lab needs from a scenario, checked against a spec: ``dflab scenario validate``.

A lab names the roles it needs in lab.yaml's ``requires:`` (dflab.lab_meta.Requires: ``volumes.root``,
``files.payload``, ``hosts.c2`` ... the spec's ids, with what the lab relies on about each, e.g. an ext4 root or a
deleted payload). Its grader reads the answers it compares by name (``answers.<name>``, the spec's ``answers:``)
and may read role-addressed facts (``facts.disk.volumes.root``). A spec serves a lab when it has every one of
those, as described; each shortfall is one line at the spec's ``file:line`` (where the role should be), so a course
team that writes a new case sees at once what a lab would miss, before building a single variant.

A grader that reads a role its lab.yaml does not declare is the lab's own mistake, reported at the grader's line:
``requires:`` stays the one complete list of what the lab takes from a case.

The notebook's prose is filled from the spec too (dflab/lab_prose.py): a placeholder the spec cannot fill the same
way for every trainee (unknown, drawn per trainee, or an answer) is one line at the notebook's cell.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dflab.errors import DflabError
from dflab.grading.checks import MAX_CHECKS_BYTES, CheckFile, load_checks
from dflab.lab_meta import GRADER_FILE, LAB_FILE, REPO, LabMeta, Requires, read_lab
from dflab.lab_prose import prose_problems
from dflab.scenario.load import load_spec, locate, platform_of
from dflab.scenario.spec import Spec, WindowsSpec
from dflab.yamlfile import load_yaml, read_text, where

BUNDLED_LABS = REPO / "labs"
WORD = {"volumes": "volume", "files": "file", "hosts": "host", "users": "user", "processes": "process",
        "flows": "flow", "events": "event"}
# Where each kind of role lives in a spec (dflab.scenario.load.locate's field names: list items by id).
SPEC_FIELD = {"volumes": "disk.volumes", "files": "disk.files", "hosts": "hosts", "users": "users",
              "processes": "memory.processes", "flows": "network.flows", "events": "timeline"}
# Key paths that address a role (dflab.evidence.key): facts.disk.<kind>.<id>..., namespace.<kind>.<id>....
_FACT_ROLES = {("facts", "disk", "volumes"): "volumes", ("facts", "disk", "files"): "files"}


def spec_roles(spec: Spec | WindowsSpec) -> dict[str, dict[str, Any]]:
    """The spec's roles by kind: id -> its part of the spec, in the spec's order. A Windows spec has hosts, users
    and events (the story's steps); the Linux schema's volumes, files, processes and flows are none of its roles."""
    if isinstance(spec, WindowsSpec):
        return {"volumes": {}, "files": {}, "hosts": {h.id: h for h in spec.hosts},
                "users": {u.id: u for u in spec.users}, "processes": {}, "flows": {},
                "events": {e.id: e for e in spec.timeline}}
    return {"volumes": {v.id: v for v in spec.disk.volumes}, "files": {f.id: f for f in spec.disk.files},
            "hosts": {h.id: h for h in spec.hosts}, "users": {u.id: u for u in spec.users},
            "processes": {p.id: p for p in spec.memory.processes}, "flows": {f.id: f for f in spec.network.flows},
            "events": {e.id: e for e in spec.timeline}}


def _mismatches(kind: str, need: Any, part: Any, volumes: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(the spec field it concerns, what the lab needs and the spec says) for each way ``part`` is not ``need``;
    a file on a volume the spec lacks is that volume's problem, said once."""
    if kind == "volumes" and need.fs is not None and part.fs != need.fs:
        yield "fs", f"to be {need.fs} (the spec's is {part.fs})"
    elif kind == "files":
        if need.volume is not None and part.volume != need.volume and need.volume in volumes:
            yield "volume", f"on volume {need.volume!r} (the spec puts it on {part.volume!r})"
        if need.deleted is not None and (part.deleted is not None) != need.deleted:
            yield ("deleted", "not to be deleted (the spec deletes it)") if part.deleted else \
                  ("", "to be deleted (the spec never deletes it: set deleted:)")
        if need.type_lies is not None and part.type_lies != need.type_lies:
            yield "type_lies", ("to have an extension that lies about its content (type_lies: true)"
                                if need.type_lies else "to have an extension that tells its content")
        if need.slack is not None and bool(part.slack) != need.slack:
            yield "slack", "to hide text in its slack (slack:)" if need.slack else "to have no slack text"
    elif kind == "processes":
        if need.hidden is not None and part.hidden != need.hidden:
            yield "hidden", "to be hidden from the task list (hidden: true)" if need.hidden else "not to be hidden"
        if need.injected is not None and (part.inject is not None) != need.injected:
            yield "inject", "to hold injected code (inject:)" if need.injected else "to hold no injected code"
    elif kind == "flows" and need.kind is not None and part.kind != need.kind:
        yield "kind", f"to be a {need.kind} flow (the spec's is {part.kind})"


def unmet(lab: str, requires: Requires, answers: set[str], spec: Spec | WindowsSpec, name: str) -> list[str]:
    """One ``file:line: lab L requires ...`` line per role or answer ``spec`` lacks or has otherwise."""
    def at(field: str) -> str:
        return locate(spec, field) or name

    problems = []
    have = spec_roles(spec)
    for kind, needs in requires:
        word, parts = WORD[kind], have[kind]
        for role, need in needs.items():
            if role not in parts:
                problems.append(f"{at(SPEC_FIELD[kind])}: lab {lab} requires {word} {role!r} "
                                f"(the spec has: {', '.join(parts) or 'none'})")
                continue
            for field, what in _mismatches(kind, need, parts[role], have["volumes"]):
                problems.append(f"{at('.'.join(p for p in (SPEC_FIELD[kind], role, field) if p))}: lab {lab} "
                                f"requires {word} {role!r} {what}")
    problems += [f"{at('answers')}: lab {lab}'s grader reads answer {answer!r}, which the spec's answers: does not "
                 "define" for answer in sorted(answers - set(spec.answers))]
    return problems


def grader_reads(checks: CheckFile) -> Iterator[tuple[str, str, str]]:
    """(answer name, kind, id) of every role and answer a grader reads: kind ``answers`` for ``answers.<name>``."""
    for name, check in checks.checks.items():
        for path in (checks.key_path(name), *(p for listed in check.findings.values() for p in listed)):
            parts = tuple(path.split("."))
            if parts[0] == "answers" and len(parts) > 1:
                yield name, "answers", ".".join(parts[1:])
            elif parts[0] == "namespace" and len(parts) > 2 and parts[1] in WORD:
                yield name, parts[1], parts[2]
            elif parts[:3] in _FACT_ROLES and len(parts) > 3:
                yield name, _FACT_ROLES[parts[:3]], parts[3]
        if check.compare == "timeline":
            yield from ((name, "events", step) for step in check.require)


def undeclared(lab_dir: Path, meta: LabMeta, checks: CheckFile) -> list[str]:
    """A line at the grader's ``file:line`` for each role it reads that lab.yaml's ``requires:`` does not list."""
    path = lab_dir / GRADER_FILE
    _, lines = load_yaml(read_text(path, MAX_CHECKS_BYTES, "check file"), str(path))
    declared = meta.requires.roles()
    return [f"{where(str(path), lines, ('checks', name))}: the grader reads {WORD[kind]} {role!r}, which "
            f"{LAB_FILE}'s requires: does not list"
            for name, kind, role in grader_reads(checks) if kind != "answers" and role not in declared[kind]]


def lab_platform(lab_dir: Path, meta: LabMeta | None = None) -> str | None:
    """``linux`` or ``windows``: the platform of the case the lab is written for (lab.yaml ``scenario:``, beside the
    lab folder or bundled), or None when no such spec is found. A lab reads one platform's evidence (ext4 and
    volatility, or NTFS and the registry), never the other's."""
    meta = meta or read_lab(lab_dir)
    for folder in (lab_dir.parent / "scenarios", BUNDLED_LABS / "scenarios"):
        if (folder / f"{meta.scenario}.yaml").is_file():
            return platform_of(load_spec(folder / f"{meta.scenario}.yaml"))
    return None


def lab_problems(lab_dir: Path, spec: Spec | WindowsSpec, name: str) -> list[str]:
    """Everything that keeps the lab in ``lab_dir`` from running on ``spec`` (read from file ``name``): roles and
    answers the spec lacks, and placeholders in the notebook's prose it cannot fill (dflab/lab_prose.py: unknown,
    drawn per trainee, or an answer), each at the notebook's cell. A lab is checked on ``spec`` whatever case its
    lab.yaml names, so a lab of the other platform shows as the roles and answers it would miss."""
    meta = read_lab(lab_dir)
    checks = load_checks(lab_dir / GRADER_FILE)
    answers = {role for _, kind, role in grader_reads(checks) if kind == "answers"}
    return (undeclared(lab_dir, meta, checks) + unmet(meta.id, meta.requires, answers, spec, name)
            + prose_problems(lab_dir, spec, meta))


def labs_for(scenario: str, labs_dir: Path = BUNDLED_LABS) -> list[Path]:
    """The lab folders in ``labs_dir`` whose lab.yaml names ``scenario``, by id."""
    return [d for d in sorted(p.parent for p in labs_dir.glob(f"*/{LAB_FILE}")) if read_lab(d).scenario == scenario]


def find_lab(lab: str, labs_dir: Path = BUNDLED_LABS) -> Path:
    """``lab`` as a lab folder: a folder holding a lab.yaml, else a bundled lab's id."""
    for candidate in (Path(lab), labs_dir / lab):
        if (candidate / LAB_FILE).is_file():
            return candidate
    raise DflabError(f"no lab {lab!r}: neither a folder holding {LAB_FILE} nor a bundled lab "
                     f"({', '.join(sorted(p.parent.name for p in labs_dir.glob(f'*/{LAB_FILE}')))})", "--lab")
