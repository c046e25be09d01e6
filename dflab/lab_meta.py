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

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from dflab.errors import DflabError
from dflab.evidence.kinds import EVIDENCE_KINDS
from dflab.yamlfile import load_yaml, read_text, validate

REPO = Path(__file__).resolve().parents[1]
LAB_FILE = "lab.yaml"
GRADER_FILE = "grader.yaml"  # the lab's answer checks (dflab.grading.checks), beside lab.yaml
MAX_LAB_BYTES = 256 * 1024  # the bundled ones are under 8 KB
SHAPES = ("text", "hex", "int", "number", "path", "time", "list")
_LAB_ID = r"^[a-z0-9][a-z0-9-]{0,62}$"
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,126}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnswerRule(_Strict):
    """What kind of value one answer is (never what it is): ``answer()`` checks it in the trainee's kernel."""

    shape: Literal["text", "hex", "int", "number", "path", "time", "list"]
    length: int | None = Field(default=None, ge=1, le=4096)  # hex digits, for a hash

    @model_validator(mode="after")
    def _length_for_hex(self) -> AnswerRule:
        if self.length is not None and self.shape != "hex":
            raise ValueError("length applies to hex answers only")
        return self

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Step(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = Field(min_length=1)
    answers: tuple[str, ...] = ()
    standards: tuple[str, ...] = ()  # "<key of the lab's standards>: <clause (what it asks)>"


class ManualGrade(_Strict):
    grade_id: str = Field(min_length=1)
    points: int = Field(ge=1, le=1000)
    rubric: str = Field(min_length=1)


class Grading(_Strict):
    autograded_points: int | None = Field(default=None, ge=0, le=10_000)
    manual: tuple[ManualGrade, ...] = ()


class LabMeta(_Strict):
    """``lab.yaml``: what a lab is, hands out and asks. Unknown fields are errors (a typo never passes)."""

    id: str = Field(pattern=_LAB_ID)
    title: str = Field(min_length=1)
    scenario: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")  # labs/scenarios/<scenario>.yaml
    notebook: str  # the released notebook's file name
    source: str  # the instructor's notebook (solutions), in the lab folder
    evidence: tuple[str, ...] = EVIDENCE_KINDS  # the kinds each trainee's variant holds (disk always)
    hooks: str | None = None  # a Python file in the lab folder (dflab/lab_hooks.py): code beside the lab's lifecycle
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
