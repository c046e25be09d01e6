"""A lab's metadata (``labs/<lab>/lab.yaml``): one strict model, read here and nowhere else.

Courses, sessions, bundles, the trainee's kernel (``answer()``) and the Validate button all read lab.yaml
through this module, and every mistake in it is one line naming ``file:line`` and the field
(dflab/yamlfile.py). The trainee's kernel and the Validate button need only the answers' shapes, so
:func:`parse_answers` checks that section alone (with the same :class:`AnswerRule`), and a notebook opened
beside any lab.yaml still records its answers.

Its own module, importing neither nbgrader nor the evidence writers: a session's command line reads it
before anything else, and those imports cost more than half a second it need not wait for.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from dflab.errors import DflabError
from dflab.evidence.kinds import CASE_KINDS, EVIDENCE_KINDS
from dflab.yamlfile import load_yaml, read_text, validate

REPO = Path(__file__).resolve().parents[1]
LAB_FILE = "lab.yaml"
GRADER_FILE = "grader.yaml"  # the lab's answer checks (dflab.grading.checks), beside lab.yaml
MAX_LAB_BYTES = 256 * 1024  # the bundled ones are under 16 KB, hints and explanations included
SHAPES = ("text", "hex", "int", "number", "path", "time", "list")
_LAB_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,126}$")
_CHOICE_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnswerRule(_Strict):
    """What kind of value one answer is (never what it is): ``answer()`` checks it in the trainee's kernel."""

    shape: Literal["text", "hex", "int", "number", "path", "time", "list"]
    length: int | None = Field(default=None, ge=1, le=4096)  # hex digits, for a hash
    # What the answer form (dflab.lab.form) calls the field; default: the name humanised. Trainee-facing.
    label: str | None = Field(default=None, min_length=1, max_length=80)
    # How many lines the form's field shows, for a text answer written on several (a note's text, as found).
    lines: int | None = Field(default=None, ge=2, le=40)
    # The fixed values the form offers instead of a typed field, code -> label (lab 07's kinds of flaw). The code is
    # the answer's value, the same in every language; the label is trainee-facing, so it is translated with the lab.
    choices: dict[str, str] | None = Field(default=None, min_length=2, max_length=40)

    @model_validator(mode="after")
    def _length_for_hex(self) -> AnswerRule:
        if self.length is not None and self.shape != "hex":
            raise ValueError("length applies to hex answers only")
        if self.lines is not None and self.shape != "text":
            raise ValueError("lines applies to text answers only")
        if self.choices is not None:
            if self.shape not in ("text", "list"):
                raise ValueError("choices apply to text and list answers only")
            bad = next((c for c in self.choices if not _CHOICE_CODE.match(c)), None)
            if bad is not None:
                raise ValueError(f"choice {bad!r}: a code is 1-32 of a-z 0-9 - _ (the answer's value, not its label)")
            for code, label in self.choices.items():
                _trainee_text(label, f"the label of choice {code!r}", 200)
        return self

    def as_dict(self) -> dict[str, Any]:
        """The shape rule alone (what ``check_shape`` reads): label, lines and choices are the form's, not the
        value's."""
        return self.model_dump(exclude_none=True, exclude={"label", "lines", "choices"})

    def field_label(self, name: str) -> str:
        """The label the answer form shows: ``label:``, or the name humanised (``root_fs`` -> "Root fs")."""
        return self.label or name.replace("_", " ").capitalize()


MIN_HINTS, MAX_HINTS = 2, 3
MAX_HINT_CHARS = 400  # a hint is a nudge, read under a form field, not a page
MAX_EXPLANATION_CHARS = 2000


def _trainee_text(value: str, what: str, limit: int) -> str:
    """``value`` stripped, refused when empty, too long or holding a template (lab.yaml is not filled from a case:
    a ``{{ ... }}`` would reach trainees as written)."""
    text = value.strip()
    if not text:
        raise ValueError(f"{what} is empty")
    if len(text) > limit:
        raise ValueError(f"{what} is {len(text)} characters long; at most {limit}")
    if "{{" in text or "{%" in text:
        raise ValueError(f"{what} holds a template ({{{{ ... }}}}); lab.yaml is not filled from the case: keep "
                         "it generic to every case")
    return text


class Step(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(min_length=1)
    answers: tuple[str, ...] = ()
    standards: tuple[str, ...] = ()  # "<key of the lab's standards>: <clause (what it asks)>"
    # Shown one tier per wrong try in the step's answer form (dflab.lab.form): a nudge, then the tool or place to
    # look, then how to read its output; never an answer value. Released to trainees with lab.yaml.
    hints: tuple[str, ...] = ()
    # What the step teaches and why, in the trainee's feedback after the lab closes (dflab session release-feedback).
    explanation: str | None = None

    @field_validator("hints")
    @classmethod
    def _hint_tiers(cls, hints: tuple[str, ...]) -> tuple[str, ...]:
        if hints and not MIN_HINTS <= len(hints) <= MAX_HINTS:
            raise ValueError(f"{len(hints)} hint tier(s): give {MIN_HINTS} to {MAX_HINTS} (a nudge, where to look, "
                             "how to read it), or none")
        tiers = tuple(_trainee_text(h, f"hint {i}", MAX_HINT_CHARS) for i, h in enumerate(hints, 1))
        if len(set(tiers)) != len(tiers):
            raise ValueError("two hint tiers say the same thing")
        return tiers

    @field_validator("explanation")
    @classmethod
    def _explanation(cls, value: str | None) -> str | None:
        return None if value is None else _trainee_text(value, "the explanation", MAX_EXPLANATION_CHARS)


class ManualGrade(_Strict):
    grade_id: str = Field(min_length=1)
    points: int = Field(ge=1, le=1000)
    rubric: str = Field(min_length=1)


class Grading(_Strict):
    autograded_points: int | None = Field(default=None, ge=0, le=10_000)
    manual: tuple[ManualGrade, ...] = ()
    # MiB a submission may hold, all its files together, for a lab whose trainees hand in files beside the notebook
    # (an evidence file): `dflab grade` refuses more. Unset: dflab.grading.validate's default (50 MiB).
    hand_in_mib: int | None = Field(default=None, ge=1, le=1024)


_ROLE_ID = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")  # a spec's ids (dflab.scenario.spec.ID)


class AnyRole(_Strict):
    """A role asked for by id alone (a host, a user, a timeline event)."""


# The file systems and flow kinds below are the spec's (VolumeSpec.fs, FlowSpec.kind; tests/test_lab_requires.py keeps
# them equal), written out rather than imported: the trainee's kernel reads this module, and not the spec's schema.
class VolumeRole(_Strict):
    fs: Literal["ext4", "fat32"] | None = None  # the file system the lab reads it as (ext4: birth times)


class FileRole(_Strict):
    volume: str | None = None  # the volume (a role requires: lists) the lab looks for it on
    deleted: bool | None = None  # true: the lab recovers it; false: the lab reads it as an allocated file
    type_lies: bool | None = None  # its extension lies about its content (the spec's type_lies)
    slack: bool | None = None  # true: the spec hides text in its slack


class ProcessRole(_Strict):
    hidden: bool | None = None  # unlinked from the task list (DKOM)
    injected: bool | None = None  # holds injected code (the spec's inject:)


class FlowRole(_Strict):
    kind: Literal["dns", "http", "ftp", "raw", "smtp", "imap"] | None = None


_ROLE_FORMS = "a list of role ids, or a mapping of role id to what the lab needs of it"


def _role_map(value: Any) -> dict[Any, Any]:
    """A kind of role as a mapping id -> what the lab needs of it; a list of ids is the short form (needs nothing)."""
    if isinstance(value, (list, tuple)):
        if not all(isinstance(item, str) for item in value):
            raise ValueError(_ROLE_FORMS)
        if len(set(value)) != len(value):
            raise ValueError(f"role {next(v for v in value if value.count(v) > 1)!r} is listed twice")
        value = {item: {} for item in value}
    if not isinstance(value, dict):
        raise ValueError(_ROLE_FORMS)
    for role in value:
        if not isinstance(role, str) or not _ROLE_ID.match(role):
            raise ValueError(f"role id {role!r}: a spec's id (lower-case letters, digits, _ and -, starting with a "
                             "letter)")
    return {role: {} if need is None else need for role, need in value.items()}


class Requires(_Strict):
    """The roles a lab's notebook, grader and story need from a scenario, by the spec's ids (``volumes.root``,
    ``files.payload``, ``hosts.c2``), with what the lab relies on about each; ``dflab scenario validate`` checks
    a spec against them (dflab/lab_requires.py). The answers the grader reads are not listed here: they are
    the grader's ``answers.<name>`` keys, which validate checks against the spec's ``answers:``."""

    volumes: dict[str, VolumeRole] = {}
    files: dict[str, FileRole] = {}
    hosts: dict[str, AnyRole] = {}
    users: dict[str, AnyRole] = {}
    processes: dict[str, ProcessRole] = {}
    flows: dict[str, FlowRole] = {}
    events: dict[str, AnyRole] = {}

    @field_validator("*", mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> dict[Any, Any]:
        return _role_map(value)

    @field_validator("files")
    @classmethod
    def _on_required_volumes(cls, files: dict[str, FileRole], info: ValidationInfo) -> dict[str, FileRole]:
        volumes = info.data.get("volumes")  # validated first (field order); absent when it failed on its own
        for name, need in files.items():
            if volumes is not None and need.volume is not None and need.volume not in volumes:
                raise ValueError(f"file {name!r} is needed on volume {need.volume!r}, which volumes: does not list")
        return files

    def roles(self) -> dict[str, tuple[str, ...]]:
        """Every required role id by kind (the kinds in this model's order)."""
        return {kind: tuple(getattr(self, kind)) for kind in type(self).model_fields}


class LabMeta(_Strict):
    """``lab.yaml``: what a lab is, hands out and asks. Unknown fields are errors (a typo never passes)."""

    id: str = Field(pattern=_LAB_ID)
    title: str = Field(min_length=1)
    scenario: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")  # labs/scenarios/<scenario>.yaml
    notebook: str  # the released notebook's file name
    source: str  # the instructor's notebook (solutions), in the lab folder
    evidence: tuple[str, ...] = CASE_KINDS  # the kinds each trainee's variant holds (disk always; materials if listed)
    hooks: str | None = None  # a Python file in the lab folder (dflab/lab_hooks.py): code beside the lab's lifecycle
    requires: Requires = Requires()  # the scenario's roles the lab needs (checked by `dflab scenario validate`)
    grading: Grading = Grading()
    objectives: tuple[str, ...] = ()
    # Before steps, which are checked against them (pydantic validates fields in this order).
    standards: dict[str, str] = {}
    answers: dict[str, AnswerRule] = Field(min_length=1)
    steps: tuple[Step, ...] = ()

    @field_validator("notebook", "source", "hooks")
    @classmethod
    def _file_name(cls, value: str | None) -> str | None:
        if value is not None and (not _FILE_NAME.match(value) or ".." in value):
            raise ValueError("a file name in the lab folder (letters, digits, . _ -; no folders)")
        return value

    @field_validator("notebook")
    @classmethod
    def _ipynb(cls, value: str) -> str:
        if not value.endswith(".ipynb"):
            raise ValueError("the notebook's name ends in .ipynb")
        return value

    @field_validator("evidence")
    @classmethod
    def _kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(EVIDENCE_KINDS))
        if unknown:
            raise ValueError(f"unknown evidence kind {', '.join(map(repr, unknown))} "
                             f"(choose from {', '.join(EVIDENCE_KINDS)})")
        return tuple(k for k in EVIDENCE_KINDS if k in value or k == "disk")  # writer order, disk included

    @field_validator("answers")
    @classmethod
    def _answer_names(cls, value: dict[str, AnswerRule]) -> dict[str, AnswerRule]:
        for name in value:
            if not re.match(r"^[a-z][a-z0-9_]{0,62}$", name):
                raise ValueError(f"answer name {name!r}: lower-case letters, digits and _")
        return value

    @field_validator("steps")
    @classmethod
    def _steps_agree(cls, steps: tuple[Step, ...], info: ValidationInfo) -> tuple[Step, ...]:
        if "answers" not in info.data or "standards" not in info.data:
            return steps  # they failed on their own: one error, theirs
        answers, standards = info.data["answers"], info.data["standards"]
        seen: set[str] = set()
        for step in steps:
            if step.id in seen:
                raise ValueError(f"step {step.id!r} is listed twice")
            seen.add(step.id)
            for name in step.answers:
                if name not in answers:
                    raise ValueError(f"step {step.id!r} names answer {name!r}, which answers: does not list")
            for cited in step.standards:
                if (key := cited.split(":", 1)[0]) not in standards:
                    raise ValueError(f"step {step.id!r} cites {key!r}, which standards: does not list")
        return steps

    def answer_rules(self) -> dict[str, dict[str, Any]]:
        """Each answer's shape rule as a plain mapping (what ``check_shape`` and the Validate report read)."""
        return {name: rule.as_dict() for name, rule in self.answers.items()}


class _AnswersOnly(BaseModel):
    """The part of a lab.yaml the trainee's kernel reads: the answers' shapes (other fields are not its business)."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    answers: dict[str, AnswerRule] = Field(min_length=1)


def parse_lab(text: str, where: str) -> LabMeta:
    """lab.yaml text as a :class:`LabMeta`; any problem is a :class:`DflabError` naming ``where:line`` and the field."""
    data, lines = load_yaml(text, where)
    if not isinstance(data, dict):
        raise DflabError("a lab.yaml is a YAML mapping (id:, title:, scenario:, ...)", where)
    return validate(LabMeta, data, where, lines)


def parse_answers(text: str, where: str) -> dict[str, dict[str, Any]]:
    """Only the ``answers:`` rules of a lab.yaml's text (the kernel's and the Validate button's view)."""
    data, lines = load_yaml(text, where)
    if not isinstance(data, dict):
        raise DflabError("a lab.yaml is a YAML mapping with an answers: section", where)
    model = validate(_AnswersOnly, data, where, lines)
    return {name: rule.as_dict() for name, rule in model.answers.items()}


def for_trainees(text: str, where: str) -> str:
    """lab.yaml's text as trainees receive it (with the released notebook): without ``requires:`` and the comment
    lines right above it, every other line as written.

    The roles are for course teams and ``dflab scenario validate``; in a trainee's hands they would hint at the
    solution (which file holds the slack, that the payload is deleted), and a role id can spell a drawn answer
    (Nightjar's stick is volume ``transfer``, one of the FTP user names its trainees draw), which no release may
    hold. The trainee's kernel reads only ``answers:`` and ``notebook:``.
    """
    data, _ = load_yaml(text, where)
    if not isinstance(data, dict) or "requires" not in data:
        return text
    root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    key, value = next((k, v) for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "requires")
    lines = text.splitlines(keepends=True)
    first = key.start_mark.line
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    # A block mapping ends where the next key starts (column 0); a flow one ({}) on its own last line.
    last = value.end_mark.line if value.end_mark.column == 0 else value.end_mark.line + 1
    while last > key.start_mark.line + 1 and lines[last - 1].lstrip().startswith("#"):
        last -= 1  # comments above the next key are that key's
    released = "".join(lines[:first] + lines[last:])
    if load_yaml(released, where)[0] != {k: v for k, v in data.items() if k != "requires"}:
        raise DflabError("requires: must be written on lines of its own (block style), so that the copy trainees "
                         "get can leave it out", where)
    return released


def graded_notebook(text: str) -> str | None:
    """The ``notebook:`` a lab.yaml's text names, when it names one (after :func:`parse_answers` accepted it)."""
    data, _ = load_yaml(text, LAB_FILE)
    value = data.get("notebook") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def read_lab(directory: Path) -> LabMeta:
    """``directory/lab.yaml``, whose ``id`` must be the folder's name."""
    path = directory / LAB_FILE
    if not path.is_file():
        raise DflabError(f"no lab {directory.name!r} (no {LAB_FILE})", str(path))
    meta = parse_lab(read_text(path, MAX_LAB_BYTES, "lab metadata"), str(path))
    if meta.id != directory.name:
        raise DflabError(f"id: {meta.id!r} does not match the folder name {directory.name!r}", str(path))
    return meta


def load_lab(labs_dir: Path, lab: str) -> LabMeta:
    """``labs_dir/<lab>/lab.yaml`` (see :func:`read_lab`)."""
    return read_lab(labs_dir / lab)
