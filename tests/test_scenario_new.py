"""`dflab scenario new NAME`: the starting spec it writes is valid as written, builds deterministic evidence, and its
comments tell the truth about the values the schema allows; bad input is one line and writes nothing.

The comment check derives every allowed value from the pydantic model (dflab/scenario/spec.py), so adding a file
system, a content kind, a flow kind, ... without updating the starter's comments fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic import BaseModel

from dflab.evidence.build import build_cohort
from dflab.evidence.manifest import verify
from dflab.scenario import case as case_mod
from dflab.scenario import spec as spec_mod
from dflab.scenario.draw import DEMO_SECRET
from dflab.scenario.load import load_spec
from dflab.scenario.new import PLACEHOLDER, template_text

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.xdist_group("scenario_new")


def dflab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI, run where a course team would run it."""
    return subprocess.run([sys.executable, "-m", "dflab.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(cwd)})


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("dflab: error: "), proc.stderr
    return lines[0].removeprefix("dflab: error: ")


def tree(path: Path) -> list[str]:
    """Every file and directory under ``path`` (temporary ``.part`` files included): "nothing written" means this
    did not change."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """`dflab scenario new plover` in a course tree that has labs/scenarios/ (where it writes by default)."""
    course = tmp_path_factory.mktemp("course")
    (course / "labs" / "scenarios").mkdir(parents=True)
    proc = dflab("scenario", "new", "plover", cwd=course)
    assert proc.returncode == 0, proc.stderr
    path = course / "labs" / "scenarios" / "plover.yaml"
    assert str(Path("labs") / "scenarios" / "plover.yaml") in proc.stdout and "dflab scenario validate" in proc.stdout
    return path


# -- the written spec -----------------------------------------------------------------------------------------
def test_the_written_spec_loads_validates_and_is_the_template(written):
    text = written.read_text()
    assert PLACEHOLDER not in text and text == template_text().replace(PLACEHOLDER, "plover")
    spec = load_spec(written)
    assert spec.scenario == "plover"
    # Smaller than Nightjar, with every section the guide describes.
    nightjar = load_spec(ROOT / "labs" / "scenarios" / "nightjar.yaml")
    assert len(spec.timeline) < len(nightjar.timeline) and len(spec.disk.files) < len(nightjar.disk.files)
    assert [v.id for v in spec.disk.volumes] == ["root"] and spec.suspect == "suspect"
    assert len(spec.users) == 1 and spec.memory.processes and spec.network.flows
    assert len(spec.variables) >= 2 and len(spec.answers) >= 2
    umask = os.umask(0o022)
    os.umask(umask)
    assert written.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600

    proc = dflab("scenario", "validate", str(written), cwd=written.parent)
    assert proc.returncode == 0 and "is valid" in proc.stdout, proc.stdout + proc.stderr


def test_the_written_spec_builds_deterministic_consistent_evidence(written, tmp_path):
    first = build_cohort(written, DEMO_SECRET, ["alice", "bob"], tmp_path / "one", workers=2)
    again = build_cohort(written, DEMO_SECRET, ["alice", "bob"], tmp_path / "two", workers=1)
    for a, b in zip(first, again, strict=True):
        assert verify(a.out / "evidence") == []
        assert tree(a.out) == tree(b.out)
        for rel in tree(a.out):
            if (a.out / rel).is_file():
                assert (a.out / rel).read_bytes() == (b.out / rel).read_bytes(), rel  # byte-identical per seed
    keys = {r.variant: json.loads((r.out / "key" / "answer_key.json").read_text()) for r in first}
    spec = load_spec(written)
    for key in keys.values():
        answers = key["answers"]
        assert set(answers) == set(spec.answers) and all(v not in (None, "") for v in answers.values())
        # One story on disk and on the wire: the downloaded tool and the uploaded price list are the disk's bytes.
        flows = {f["id"]: f for f in key["facts"]["network"]["flows"]}
        assert flows["download"]["response_sha256"] == answers["tool_sha256"]
        assert flows["upload"]["request_body_sha256"] == answers["pricelist_sha256"]
        assert key["facts"]["disk"]["files"]["tool"]["deleted"] is True
    assert keys["alice"]["answers"] != keys["bob"]["answers"]  # per-trainee variants


# The guide's examples of errors (docs/authoring-scenarios.md, "Reading an error"): each one mistake in the starter.
GUIDE = ROOT / "docs" / "authoring-scenarios.md"
MISTAKES = [("fs: ext4", "fs: ntfs"), ("owner: employee, mode: 0o755", "ownr: employee, mode: 0o755"),
            ('accessed: "@upload"', 'accessed: "@uplaod"'),
            ('path: "/home/{user}/Downloads/{tool}"', 'path: "/home/{usr}/Downloads/{tool}"'),
            ("user: {choice: [mlopez", "user: {choise: [mlopez"),
            ("uid: {int: [1000, 1010]}", "uid: {int: [1010, 1000]}"),
            ("size: 48MiB", "size: 30MiB"), ("      pid: {int: [2000, 2600]}", "      pid: {int: [2000, 2600]"),
            ("after: upload, action: delete", "after: uploads, action: delete"), ("answer: share}", "answer: shares}"),
            ('"{files.tool.sha256}"', '"{files.tools.sha256}"')]


def test_the_guide_shows_the_errors_dflab_gives(tmp_path):
    """Each example line in the guide is what dflab prints for that mistake in `dflab scenario new plover`'s spec, so
    the guide's line numbers follow the template."""
    from dflab.errors import SpecError
    from dflab.evidence.build import build_variant
    from dflab.scenario.load import parse_spec
    from dflab.scenario.resolve import resolve

    guide = GUIDE.read_text()
    text = template_text().replace(PLACEHOLDER, "plover")
    for i, (good, bad) in enumerate(MISTAKES):
        assert text.count(good) == 1, good
        with pytest.raises(SpecError) as err:
            spec = parse_spec(text.replace(good, bad), "plover.yaml")
            resolve(spec, b"\0" * 32, "default")
            build_variant(spec, DEMO_SECRET, "default", tmp_path / str(i))  # answers are rendered with the key
        assert f"dflab: error: {err.value}" in guide, f"the guide should show: dflab: error: {err.value}"


# -- the comments tell the truth ------------------------------------------------------------------------------
def literal_values(annotation: Any) -> tuple[str, ...] | None:
    """The values of the Literal inside ``annotation`` (``Literal[...]``, ``tuple[Literal[...], ...]``,
    ``Literal[...] | None``), or None."""
    if get_origin(annotation) is Literal:
        return get_args(annotation)
    for arg in get_args(annotation):
        found = literal_values(arg)
        if found:
            return found
    return None


def models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """Every model reachable from ``root`` through its fields."""
    seen: list[type[BaseModel]] = []

    def walk(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.append(tp)
            for field in tp.model_fields.values():
                walk(field.annotation)
        for arg in get_args(tp):
            walk(arg)

    walk(root)
    return seen


S = spec_mod
# Each "... one of: a, b, c" comment of the starter, by the words before "one of:", and where its values come from.
# An enum field of the schema (a Literal) not listed here fails test_every_enum_field_is_documented.
DOCUMENTED: dict[str, tuple[str, ...]] = {
    "A draw is": S.DRAWS,
    "sources where the event leaves traces; each": literal_values(S.Event.model_fields["sources"].annotation),
    "table": get_args(case_mod.TableType),
    "fs": literal_values(S.VolumeSpec.model_fields["fs"].annotation),
    "content kind is": literal_values(S.ContentSpec.model_fields["kind"].annotation),
    "zip wrap is": S.ZIP_WRAPS,
    "e01 compression is": literal_values(S.E01Spec.model_fields["compression"].annotation),
    "formats each": literal_values(S.MemorySpec.model_fields["formats"].annotation),
    "inject is": literal_values(S.ProcessSpec.model_fields["inject"].annotation),
    "socket state is": literal_values(S.SocketSpec.model_fields["state"].annotation),
    "socket proto is": literal_values(S.SocketSpec.model_fields["proto"].annotation),
    "flow kind is": literal_values(S.FlowSpec.model_fields["kind"].annotation),
    "http method is": literal_values(S.FlowSpec.model_fields["method"].annotation),
    "smtp auth is": literal_values(S.FlowSpec.model_fields["auth"].annotation),
    "os distribution is": literal_values(S.OsSpec.model_fields["distribution"].annotation),
    "os profile is": literal_values(S.OsSpec.model_fields["profile"].annotation),
}
ENUM_FIELDS = {("Event", "sources"), ("VolumeSpec", "fs"), ("ContentSpec", "kind"), ("E01Spec", "compression"),
               ("MemorySpec", "formats"), ("ProcessSpec", "inject"), ("SocketSpec", "state"), ("SocketSpec", "proto"),
               ("FlowSpec", "kind"), ("FlowSpec", "method"), ("FlowSpec", "auth"), ("OsSpec", "distribution"),
               ("OsSpec", "profile")}
ONE_OF = re.compile(r"^\s*#\s*(?P<label>.*?)\s*one of: (?P<values>[A-Za-z0-9_-]+(?:, [A-Za-z0-9_-]+)*)")


def documented() -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for line in template_text().splitlines():
        m = ONE_OF.match(line)
        if m:
            label = " ".join(m["label"].split())
            assert label not in out, f"two comments list values for {label!r}"
            out[label] = tuple(m["values"].split(", "))
    return out


def test_the_comments_list_exactly_the_allowed_values():
    found = documented()
    assert set(found) == set(DOCUMENTED), "a 'one of:' comment was added, renamed or removed: update DOCUMENTED"
    for label, values in found.items():
        assert sorted(values) == sorted(DOCUMENTED[label]), (
            f"starter.yaml's comment {label!r} lists {', '.join(values)}; the schema allows "
            f"{', '.join(DOCUMENTED[label])}")


def test_every_enum_field_is_documented():
    """A new enum field (or an enum where there was free text, such as a timeline action) needs a comment."""
    enums = {(m.__name__, name) for m in models(S.Spec) for name, f in m.model_fields.items()
             if literal_values(f.annotation)}
    assert enums == ENUM_FIELDS
    # The disk table is checked by a validator, not a Literal: the listed values pass it and nothing else does.
    def disk(table: str) -> dict[str, Any]:
        return {"table": table, "size": "8MiB", "files": [],
                "volumes": [{"id": "root", "fs": "ext4", "label": "root", "size": "4MiB", "mount": "/"}]}

    for table in DOCUMENTED["table"]:
        S.DiskSpec.model_validate(disk(table))
    with pytest.raises(ValueError, match="table is mbr, gpt"):
        S.DiskSpec.model_validate(disk("apm"))


# -- bad input: one line, nothing written ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Plover", "plover.yaml", "../plover", "my case", "9lives", "", "_x", "x!", "a" * 41])
def test_a_bad_name_is_one_line_and_writes_nothing(tmp_path, name):
    before = tree(tmp_path)
    line = one_error_line(dflab("scenario", "new", name, cwd=tmp_path))
    assert line.startswith("scenario new: ") and "is not a scenario name" in line
    assert tree(tmp_path) == before


def test_an_existing_file_is_kept_unless_forced(tmp_path):
    target = tmp_path / "plover.yaml"  # no labs/scenarios/ here: the current directory is the default
    target.write_text("mine\n")
    line = one_error_line(dflab("scenario", "new", "plover", cwd=tmp_path))
    assert line == "plover.yaml: already exists (use --force to replace it)"
    assert target.read_text() == "mine\n" and tree(tmp_path) == ["plover.yaml"]

    proc = dflab("scenario", "new", "plover", "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert load_spec(target).scenario == "plover" and tree(tmp_path) == ["plover.yaml"]


def test_dir_is_created_and_a_bad_dir_is_one_line(tmp_path):
    proc = dflab("scenario", "new", "kite", "--dir", "cases/new", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert load_spec(tmp_path / "cases" / "new" / "kite.yaml").scenario == "kite"

    (tmp_path / "afile").write_text("x")
    before = tree(tmp_path)
    assert "afile" in one_error_line(dflab("scenario", "new", "kite", "--dir", "afile", cwd=tmp_path))
    (tmp_path / "kite.yaml").mkdir()
    assert one_error_line(dflab("scenario", "new", "kite", "--force", cwd=tmp_path)) == "kite.yaml: is a directory"
    assert tree(tmp_path) == sorted([*before, "kite.yaml"])


def test_help_teaches_the_next_steps(tmp_path):
    proc = dflab("scenario", "new", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    # One example name throughout, a scenario no lab uses (dflab/cli.py's help still says heron, lab 08's case).
    name = re.search(r"dflab scenario new ([a-z][a-z0-9_-]*)", proc.stdout)
    assert name and f"labs/scenarios/{name[1]}.yaml" in proc.stdout, proc.stdout
    for words in ("dflab scenario validate", "dflab evidence build",
                  "docs/authoring-scenarios.md", "labs/scenarios/", "--force"):
        assert words in proc.stdout, words
