"""Lab 07 (issue 16 item 5): the documents a court receives, with flaws planted per trainee, reviewed without tools.

The documents are built for real (`build_variant` runs lab 07's `materials` hook beside the evidence writers) and read
back from the files a trainee gets: the planted hash really differs from the manifest's, the missing hand-over really
leaves a gap, the contradicted finding really contradicts the key's timeline, and a reviewer reading every item (the
source notebook's solution) finds exactly what the key says was planted, no more, on hundreds of variants of both
cases. Lab check (solution full, release 0, a neighbour's copy low, no answer in the release) runs for lab 07 on
both cases in tests/test_lab_check.py, which finds every lab whose hooks need no running lab.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest

from dflab.errors import DflabError
from dflab.evidence.build import build_variant
from dflab.grading.checks import check_answer, load_checks
from dflab.lab.answers import ANSWER_MIME
from dflab.lab.form import AnswerForm, read_typed
from dflab.lab_hooks import hooks_at, labs_materials
from dflab.lab_meta import for_trainees, read_lab
from dflab.scenario.draw import variant_seed
from dflab.scenario.load import load_spec
from dflab.scenario.resolve import resolve
from tests.test_lab_check import CHECKED_LABS

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "07-review"
HOOKS = hooks_at(LAB / "hooks.py").module
ANSWERS = ("flawed_items", "flaw_kinds", "breaches", "unreliable_exhibits")
SECRET = "lab07-test"


def build(case: str, trainee: str, out: Path) -> Path:
    build_variant(load_spec(ROOT / "labs" / "scenarios" / f"{case}.yaml"), SECRET, trainee, out,
                  kinds=read_lab(LAB).evidence)
    return out


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lab07")
    return {name: build(case, trainee, root / name) for name, case, trainee in (
        ("alice", "nightjar", "alice"), ("alice-again", "nightjar", "alice"), ("bob", "nightjar", "bob"),
        ("kestrel", "kestrel", "alice"))}


def review(out: Path) -> dict[str, Any]:
    return json.loads((out / "key" / "answer_key.json").read_text(encoding="utf-8"))["facts"]["review"]


def documents(out: Path, lang: str = "en") -> dict[str, bytes]:
    """One language's court file (tests/test_lab07_i18n.py reads the others)."""
    return {p.name: p.read_bytes() for p in sorted((out / "evidence" / "07-review" / lang).iterdir())}


def table(text: str) -> list[dict[str, str]]:
    lines = [line.strip().strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    head, *body = [[cell.strip() for cell in line] for line in lines]
    return [dict(zip(head, row, strict=True)) for row in body]


def stated_times(timeline: list[dict[str, Any]]) -> dict[str, str]:
    """What the documents call each event of the key's timeline (its action's words, counted when repeated), and
    its time to the minute as they state it."""
    counts = {e["action"]: sum(x["action"] == e["action"] for x in timeline) for e in timeline}
    seen: dict[str, int] = {}
    out = {}
    for e in sorted(timeline, key=lambda e: e["time"]):
        seen[e["action"]] = seen.get(e["action"], 0) + 1
        phrase = HOOKS.ACTIONS[e["action"]]
        if counts[e["action"]] > 1:
            phrase += f" ({HOOKS.ORDINALS[seen[e['action']] - 1]})"
        out[phrase] = e["time"].replace("T", " ")[:16]
    return out


def reviewer() -> list[str]:
    """The source notebook's solution: the setup cell and every solution cell, as a reviewer reads the documents."""
    nb = nbformat.read(LAB / "source.ipynb", as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code" and (
        c.metadata.get("nbgrader", {}).get("solution") or c.metadata.get("nbgrader", {}).get("grade_id") == "setup")]


def read_as_reviewer(evidence: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("DFLAB_EVIDENCE", str(evidence))
    monkeypatch.delenv("DFLAB_LANG", raising=False)  # the solution reads the English court file
    namespace: dict[str, Any] = {}
    for source in reviewer():
        exec(compile(source, "source.ipynb", "exec"), namespace)  # noqa: S102 - the lab's own solution
    return {name: namespace[name] for name in ANSWERS}


def test_documents_are_deterministic_per_seed_and_differ_across_trainees(variants: dict[str, Path]) -> None:
    manifest = json.loads((variants["alice"] / "evidence" / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert sorted(p.name for p in (variants["alice"] / "evidence" / "07-review").iterdir()) == sorted(HOOKS.LANGUAGES)
    for lang in HOOKS.LANGUAGES:  # the court file in every language the labs ship
        alice, again, bob = (documents(variants[n], lang) for n in ("alice", "alice-again", "bob"))
        assert sorted(alice) == sorted(HOOKS.DOCUMENTS)
        assert alice == again
        assert all(alice[name] != bob[name] for name in alice)
        # The documents are evidence: the manifest covers them, so a changed document fails verification.
        for name, data in alice.items():
            assert listed[f"07-review/{lang}/{name}"] == hashlib.sha256(data).hexdigest()
    assert review(variants["alice"]) == review(variants["alice-again"])
    assert review(variants["alice"])["flawed_items"] != review(variants["bob"])["flawed_items"]


@pytest.mark.parametrize("name", ["alice", "bob", "kestrel"])
def test_each_planted_flaw_is_in_the_documents_and_no_other_item_is_flawed(
        variants: dict[str, Path], name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    out = variants[name]
    key = json.loads((out / "key" / "answer_key.json").read_text(encoding="utf-8"))
    facts, docs = key["facts"]["review"], {n: d.decode() for n, d in documents(out).items()}
    assert 3 <= len(facts["planted"]) <= 4 and facts["unreliable_exhibits"]
    manifest = {item["path"]: item["sha256"] for item in key["evidence_items"]}
    hashes = {row["Exhibit"]: row for row in table(docs["hashes.md"])}
    planted_hash = {p["exhibit"] for p in facts["planted"] if p["kind"] == "hash"}
    for ex, row in hashes.items():  # read back against the exhibit's manifest hash, not the document's own claim
        assert row["At acquisition"] == manifest[row["File"]]
        assert (row["At verification"] != manifest[row["File"]]) == (ex in planted_hash), ex
    custody = table(docs["custody.md"])
    happened = stated_times(key["timeline"])
    for p in facts["planted"]:
        if p["kind"] in ("gap", "order"):
            chain = [row for row in custody if row["Exhibit"] == p["exhibit"]]
            at = next(i for i, row in enumerate(chain) if row["Entry"] == p["ref"])
            assert at > 0
            if p["kind"] == "gap":  # the giver never received it: the hand-over to them is missing
                assert chain[at]["From"] != chain[at - 1]["To"]
            else:
                assert chain[at]["Date and time (UTC)"] < chain[at - 1]["Date and time (UTC)"]
        if p["kind"] == "concl":  # the finding states an order the key's timeline reverses
            before, after = re.search(rf"\*\*{p['ref']}\.\*\* The evidence shows that “(.+?)” happened before "
                                      r"“(.+?)”", docs["report.md"]).groups()
            assert happened[before] > happened[after]
    for row in table(docs["timeline.md"]):  # the excerpt is the key's timeline
        assert happened[row["Event"]] == row["Time (UTC)"]
    assert read_as_reviewer(out / "evidence", monkeypatch) == {n: facts[n] for n in ANSWERS}


def test_a_reviewer_finds_exactly_what_was_planted_on_many_variants(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every flaw kind, on both cases, at many positions: nothing planted is missed, nothing right is flagged."""
    kinds: set[str] = set()
    for case in ("nightjar", "kestrel"):
        spec = load_spec(ROOT / "labs" / "scenarios" / f"{case}.yaml")
        for n in range(40):
            trainee = f"t{n}"
            evidence = tmp_path / case / trainee
            (evidence / "07-review").mkdir(parents=True)  # the hook writes en/, fr/, es/ under it
            (evidence / "manifest.json").write_text("{}")
            exhibits = {f: hashlib.sha256(f"{trainee} {f}".encode()).hexdigest()
                        for f in ("disk.img", "memory.lime", "network.pcapng")}
            facts = HOOKS.materials(resolve(spec, variant_seed(SECRET, case, trainee), trainee), exhibits,
                                    evidence / "07-review")["review"]
            kinds |= set(facts["flaw_kinds"])
            assert read_as_reviewer(evidence, monkeypatch) == {n: facts[n] for n in ANSWERS}, (case, trainee)
    assert kinds == set(HOOKS.KINDS)


def test_the_reviewer_catches_a_missing_flaw_and_an_unplanted_one(
        variants: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above can fail: a document with a flaw repaired, or a right item broken, reads otherwise."""
    evidence = tmp_path / "evidence"
    shutil.copytree(variants["alice"] / "evidence", evidence)
    for folder in (evidence / "07-review", evidence / "07-review" / "en"):
        os.chmod(folder, 0o755)
    want = {n: review(variants["alice"])[n] for n in ANSWERS}
    assert read_as_reviewer(evidence, monkeypatch) == want
    hashes = evidence / "07-review" / "en" / "hashes.md"
    hashes.chmod(0o644)
    rows = table(hashes.read_text(encoding="utf-8"))
    right = next(r for r in rows if r["At verification"] == r["At acquisition"])
    text = hashes.read_text(encoding="utf-8")
    hashes.write_text(text.replace(f"| {right['At verification']} |\n", f"| {'0' * 64} |\n"), encoding="utf-8")
    found = read_as_reviewer(evidence, monkeypatch)
    assert right["Exhibit"] in found["flawed_items"] and found != want


def test_lab07_is_a_plugin_checked_on_every_case_and_releases_no_answer() -> None:
    meta = read_lab(LAB)
    assert meta.hooks == "hooks.py" and "07-review" in CHECKED_LABS  # lab check runs it on Nightjar and Kestrel
    released = (LAB / "source.ipynb").read_text(encoding="utf-8")
    assert "### BEGIN SOLUTION" in released  # the source holds the solution; nbgrader strips it from the release
    for value in ("hash", "gap", "acpo1", "rfc41"):  # the choices are short codes, under lab check's leak search
        assert len(value) < 6


def test_a_choice_field_records_its_selection_like_a_typed_answer(tmp_path: Path) -> None:
    shutil.copy(LAB / "lab.yaml", tmp_path / "lab.yaml")
    meta = read_lab(LAB)
    step = next(s for s in meta.steps if s.id == "standards")
    namespace: dict[str, Any] = {}
    options = {"acpo1": "ACPO principle 1", "rfc2": "RFC 3227 section 2", "rfc41": "RFC 3227 section 4.1"}
    form = AnswerForm(meta, step, tmp_path, namespace, {"breaches": options})
    widget = form.fields["breaches"].widget
    assert type(widget).__name__ == "SelectMultiple" and [v for _, v in widget.options] == list(options)
    widget.value = ("acpo1", "rfc41")
    assert namespace["breaches"] == ["acpo1", "rfc41"] and form.value("breaches") == ["acpo1", "rfc41"]
    assert read_typed(tmp_path, meta.id) == {"breaches": "acpo1, rfc41"}
    again = AnswerForm(meta, step, tmp_path, {}, {"breaches": options})  # a restart shows the saved selection
    assert again.fields["breaches"].widget.value == ("acpo1", "rfc41")


def test_a_materials_hook_claiming_a_taken_section_is_refused(tmp_path: Path) -> None:
    labs = tmp_path / "labs"
    shutil.copytree(LAB, labs / "07-review", ignore=shutil.ignore_patterns("__pycache__"))
    case = resolve(load_spec(ROOT / "labs" / "scenarios" / "nightjar.yaml"), variant_seed(SECRET, "nightjar", "a"),
                   "a")
    exhibits = {"disk.img": "a" * 64}
    (tmp_path / "ev").mkdir()
    facts = labs_materials(labs, case, exhibits, tmp_path / "ev")
    assert set(facts) == {"review"} and (tmp_path / "ev" / "07-review" / "en" / "report.md").is_file()
    (tmp_path / "ev2").mkdir()
    with pytest.raises(DflabError, match="section 'review' is already"):
        labs_materials(labs, case, exhibits, tmp_path / "ev2", taken=["review"])


def test_the_documents_hold_no_answer_another_lab_asks_for(variants: dict[str, Path]) -> None:
    """They sit in every variant built beside lab 07, so they state events in neutral words and to the minute: no
    answer of the case (a path, a port, a host name) and no event time to the second a lab grades."""
    for name in ("alice", "kestrel"):
        key = json.loads((variants[name] / "key" / "answer_key.json").read_text(encoding="utf-8"))
        text = "\n".join(d.decode() for lang in HOOKS.LANGUAGES for d in documents(variants[name], lang).values())
        values = {str(v) for v in key["answers"].values() if not isinstance(v, (bool, list)) and len(str(v)) >= 6}
        values |= {e["time"] for e in key["timeline"]} | {e["time"].replace("T", " ")[:19] for e in key["timeline"]}
        assert len(values) > 20
        assert [v for v in values if stated(v, text)] == []
        # The search finds a value that is there: the documents with an event time to the second added.
        second = key["timeline"][-1]["time"].replace("T", " ")[:19]
        assert [v for v in values if stated(v, f"{text}\n| {second} |")] == [second]


def stated(value: str, text: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(value)}(?![\w])", text) is not None


def test_answers_given_only_through_the_forms_are_recorded_and_score_full(
        variants: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path without code: a trainee who only selects and types in the forms (saved in .answers/, as the form
    saves them) and runs the notebook with its answer cells left as released has every answer recorded and right."""
    from nbclient import NotebookClient

    facts = review(variants["kestrel"])
    nb = nbformat.read(LAB / "source.ipynb", as_version=4)
    for cell in nb.cells:  # as released: nbgrader leaves a stub in place of each solution
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "# Optional (Python path): your code here"
    (tmp_path / "lab.yaml").write_text(for_trainees((LAB / "lab.yaml").read_text(encoding="utf-8"), "lab.yaml"))
    (tmp_path / ".answers").mkdir()
    typed = {name: ", ".join(facts[name]) for name in ANSWERS}
    (tmp_path / ".answers" / "07-review.json").write_text(json.dumps(typed), encoding="utf-8")
    monkeypatch.setenv("DFLAB_EVIDENCE", str(variants["kestrel"] / "evidence"))  # the kernel inherits it
    NotebookClient(nb, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    recorded = {out["data"][ANSWER_MIME]["name"]: out["data"][ANSWER_MIME]["value"] for cell in nb.cells
                for out in cell.get("outputs", []) if ANSWER_MIME in out.get("data", {})}
    assert sorted(recorded) == sorted(ANSWERS)
    key = json.loads((variants["kestrel"] / "key" / "answer_key.json").read_text(encoding="utf-8"))
    checks = load_checks(LAB / "grader.yaml")
    assert all(check_answer(checks, name, value, key, "key")[0] for name, value in recorded.items())
    # A neighbour's selections are recorded as well, and are wrong.
    neighbour = review(variants["alice"])
    assert not any(check_answer(checks, name, neighbour[name], key, "key")[0] for name in ("flawed_items",))


def test_only_a_lab_that_asks_for_materials_gets_them(tmp_path: Path) -> None:
    """The court file tells the case's story: a variant built for another lab's kinds (a session of lab 02) holds no
    lab's materials and its key no ``review`` facts; a course's variants hold them only when its lab asks."""
    from dflab.evidence.kinds import kinds_held
    from dflab.lab_meta import read_lab as meta_of

    spec = load_spec(ROOT / "labs" / "scenarios" / "nightjar.yaml")
    build_variant(spec, SECRET, "alice", tmp_path / "disk-lab", kinds=meta_of(ROOT / "labs" / "02-disk").evidence)
    assert not (tmp_path / "disk-lab" / "evidence" / "07-review").exists()
    assert "review" not in json.loads((tmp_path / "disk-lab" / "key" / "answer_key.json").read_text())["facts"]
    kinds = meta_of(LAB).evidence
    assert "materials" in kinds
    build_variant(spec, SECRET, "alice", tmp_path / "review-lab", kinds=kinds)
    manifest = json.loads((tmp_path / "review-lab" / "evidence" / "manifest.json").read_text())
    assert kinds_held(f["path"] for f in manifest["files"]) == set(kinds)
    assert 3 <= len(review(tmp_path / "review-lab")["planted"]) <= 4
