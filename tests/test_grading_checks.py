"""Answer checks and the CheckAnswers preprocessor, without a kernel: exact reasons, never the expected value."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from nbgrader.api import Gradebook

from dflab.errors import DflabError
from dflab.grading.checks import Check, CheckFile, check_answer, load_checks, lookup
from dflab.grading.course import tools_on_path
from dflab.grading.preprocessor import NOT_RUN, CheckAnswers, TraineeEvidence, answer_names
from dflab.lab.answers import ANSWER_MIME

ROOT = Path(__file__).resolve().parents[1]
SHA = "04da0f0ff296d885f7497ac72d77777682aedefca5a9077f1d09d227496da65e"
KEY = {
    "answers": {"payload_sha256": SHA, "payload_inode": 27, "payload_path": "/home/mokoro/Downloads/chrome-helper",
                "archive_true_type": "zip", "slack_secret": "DRAFT wire transfer to account 404bdae4fa",
                "payload_download_time": "2026-03-02T08:37:33Z"},
    "facts": {"disk": {"table": "mbr", "partitions": [{"start_sector": 2048}, {"start_sector": 71680}],
                       "volumes": {"transfer": {"start_sector": 2048}, "root": {"start_sector": 71680}}}},
    "scores": [1.5, 2.5],
}


def run(compare: str, got: object, want: object, **opts: float) -> tuple[bool, str]:
    from dflab.grading.checks import COMPARES

    return COMPARES[compare](got, want, Check(compare=compare, **opts))


@pytest.mark.parametrize("compare,got,want,ok,reason", [
    ("exact", " DRAFT x ", "DRAFT x", True, "correct"),
    ("exact", "draft x", "DRAFT x", False, "not the value found in your evidence"),
    ("exact", 27, 27, True, "correct"),
    ("casefold", "ZIP ", "zip", True, "correct"),
    ("casefold", "jpeg", "zip", False, "not the value found in your evidence"),
    ("casefold", 3, "zip", False, "expected text, got int"),
    ("hex", SHA.upper(), SHA, True, "correct"),
    ("hex", " ".join([SHA[:32], SHA[32:]]), SHA, True, "correct"),
    ("hex", "0x7F00119A0000", "0x7f00119a0000", True, "correct"),
    ("hex", SHA[:40], SHA, False, "wrong length: 40 hex digits, expected 64"),
    ("hex", "f" * 64, SHA, False, "hash/hex value does not match your evidence"),
    ("hex", "xyz", SHA, False, "not a hex string (only 0-9 and a-f)"),
    ("hex", 12, SHA, False, "expected a hex string, got int"),
    ("int", 27, 27, True, "correct"),
    ("int", "27", 27, True, "correct"),
    ("int", 27.0, 27, True, "correct"),
    ("int", 28, 27, False, "not the number found in your evidence"),
    ("int", True, 1, False, "expected an integer, got bool"),
    ("int", 27.5, 27, False, "expected an integer, got float"),
    ("float", 1.04, 1.0, True, "correct"),
    ("float", 1.2, 1.0, False, "not within 0.05 of the value in your evidence"),
    ("float", "1.0", 1.0, False, "expected a number, got str"),
    ("set", ["/A", "/b"], ["/a", "/B"], True, "correct"),
    ("set", ["/a", "/c", "/d"], ["/a", "/b"], False, "1 missing and 2 wrong item(s)"),
    ("set", "/a", ["/a"], False, "expected a list, got str"),
    ("time", "2026-03-02T08:37:34Z", "2026-03-02T08:37:33Z", True, "correct"),
    ("time", "2026-03-02T09:37:33+01:00", "2026-03-02T08:37:33Z", True, "correct"),
    ("time", 1772440653, "2026-03-02T08:37:33Z", True, "correct"),
    ("time", "2026-03-02T08:37:40Z", "2026-03-02T08:37:33Z", False, "not within 2 s of the time in your evidence"),
    ("time", "2026-03-02T08:37:33", "2026-03-02T08:37:33Z", False,
     "expected an ISO-8601 time with a zone (YYYY-MM-DDTHH:MM:SSZ) or epoch seconds"),
    ("path", "/home//u/./Downloads/x/", "/home/u/Downloads/x", True, "correct"),
    ("path", "/home/u/Downloads/X", "/home/u/Downloads/x", False, "not the path found in your evidence"),
    ("path", "home/u/x", "/home/u/x", False, "expected an absolute path (starting with /)"),
    ("path", "/home/u/../u/x", "/home/u/x", False, "the path has a '..' segment (or a NUL): give the file's own path"),
    ("exact", True, 1, False, "not the value found in your evidence"),
    ("exact", 5, "DRAFT x", False, "expected text, got int"),
    ("int", "9" * 5000, 27, False, "expected an integer, got str"),
    ("int", math.nan, 27, False, "expected an integer, got float"),
    ("float", math.nan, 1.0, False, "expected a finite number"),
    ("float", -math.inf, 1.0, False, "expected a finite number"),
    ("float", 10 ** 400, 1.0, False, "not within 0.05 of the value in your evidence"),
    ("set", ["/a", math.nan], ["/a"], False, "expected a list of text items, got a float item"),
    ("time", math.nan, "2026-03-02T08:37:33Z", False,
     "expected an ISO-8601 time with a zone (YYYY-MM-DDTHH:MM:SSZ) or epoch seconds"),
    ("time", "0001-01-01T00:00:00+01:00", "2026-03-02T08:37:33Z", False, "not within 2 s of the time in your evidence"),
    ("ip", "::ffff:10.13.37.5", "10.13.37.5", True, "correct"),
    ("ip", "10.13.37.6", "10.13.37.5", False, "not the value found in your evidence"),
    ("ip", "10.13.37", "10.13.37.5", False, "not an IPv4 or IPv6 address"),
    ("ip", 168633605, "10.13.37.5", False, "expected an IP address as text, got int"),
    ("domain", "Share.Example.NET.", "share.example.net", True, "correct"),
    ("domain", "www.share.example.net", "share.example.net", False, "not the value found in your evidence"),
    ("domain", ["share.example.net"], "share.example.net", False, "expected a DNS name, got list"),
    ("address", "0x00007f00119a0000", "0x7f00119a0000", True, "correct"),
    ("address", "0x7f00119a1000", "0x7f00119a0000", False, "hash/hex value does not match your evidence"),
    ("address", "0x7f00119g0000", "0x7f00119a0000", False,
     "expected an address in hex (0x...) or a whole number, got str"),
    ("address", True, "0x7f00119a0000", False, "expected an address in hex (0x...) or a whole number, got bool"),
])
def test_compare(compare: str, got: object, want: object, ok: bool, reason: str) -> None:
    opts = {"float": {"tolerance": 0.05}, "time": {"tolerance_s": 2}}.get(compare, {})
    assert run(compare, got, want, **opts) == (ok, reason)
    if not ok:
        assert str(want).strip().lower() not in reason.lower()


def test_check_file_loads_and_errors_name_file_and_field(tmp_path: Path) -> None:
    checks = load_checks(ROOT / "labs" / "02-disk" / "grader.yaml")
    assert checks.lab == "02-disk" and checks.key_path("payload_sha256") == "answers.payload_sha256"
    assert checks.key_path("root_start_sector") == "facts.disk.volumes.root.start_sector"
    bad = tmp_path / "02-disk.yaml"
    bad.write_text("lab: 02-disk\nchecks:\n  x: {compare: fuzzy}\n")
    with pytest.raises(DflabError, match=r"02-disk.yaml:3: checks.x.compare: 'fuzzy' is neither a dflab kind "
                       r"\(exact, casefold, .*\) nor one the lab's hooks define \(none\)"):
        load_checks(bad)
    bad.write_text("lab: 02-disk\nchecks:\n  x: {compare: int, tolerence: 1}\n")
    with pytest.raises(DflabError, match=r"02-disk.yaml:3: checks.x.tolerence: unknown field"):
        load_checks(bad)
    bad.write_text("lab: 03-memory\nchecks:\n  x: {compare: int}\n")
    with pytest.raises(DflabError, match=r"02-disk.yaml:1: lab: '03-memory' does not match its lab '02-disk'"):
        load_checks(bad)
    with pytest.raises(DflabError, match="check file not found"):
        load_checks(tmp_path / "nope.yaml")
    folder = tmp_path / "03-memory"
    folder.mkdir()
    (folder / "grader.yaml").write_text("lab: 02-disk\nchecks:\n  x: {compare: int}\n")
    with pytest.raises(DflabError, match=r"03-memory/grader.yaml:1: lab: '02-disk' does not match its lab '03-memory'"):
        load_checks(folder / "grader.yaml")


def test_check_options_belong_to_their_kind(tmp_path: Path) -> None:
    bad = tmp_path / "02-disk.yaml"
    for line, error in [
        ("x: {compare: time, vocabulary: file_type}", "vocabulary is only for compare: casefold"),
        ("x: {compare: casefold, vocabulary: colours}", "vocabulary must be one of file_type, partition_table"),
        ("x: {compare: set, findings: {disk.img: {answers.x: hex}}}", "findings is only for compare: citations"),
        ("x: {compare: citations, findings: {disk.img: {answers.x: float}}}", "must be one of 'exact'"),
        ("x: {compare: float, tolerance: .inf}", "checks.x.tolerance: Input should be a finite number"),
        ("x: {compare: time, tolerance_s: .nan}", "checks.x.tolerance_s: Input should be a finite number"),
    ]:
        bad.write_text(f"lab: 02-disk\nchecks:\n  {line}\n")
        with pytest.raises(DflabError, match=re.escape(error)):
            load_checks(bad)


def test_a_timeline_of_nan_times_scores_nothing() -> None:
    """Issue 13: ``abs(nan - t) > tol`` is False and NaNs pass any sort check, so NaN times used to score full."""
    timeline = [{"id": "download", "time": "2026-03-02T08:37:33Z"}, {"id": "exfil", "time": "2026-03-02T08:51:10Z"}]
    nan_steps = [["download", math.nan], ["exfil", math.nan]]
    assert run("timeline", nan_steps, timeline, tolerance_s=2) == (
        False, "step 'download': expected an ISO-8601 time with a zone or epoch seconds; "
               "step 'exfil': expected an ISO-8601 time with a zone or epoch seconds")
    ok, why = run("timeline", [["download", "2026-03-02T08:37:33Z"], ["exfil", math.inf]], timeline, tolerance_s=2)
    assert not ok and why == "step 'exfil': expected an ISO-8601 time with a zone or epoch seconds"


def test_long_and_many_reasons_stay_short() -> None:
    """A hostile list gets a bounded reason: each quoted name cut short, at most 8 problems listed."""
    manifest = [{"path": "disk.img", "sha256": "a" * 64}]
    ok, why = run("citations", [[f"item-{i}", "a" * 64] for i in range(1000)], manifest)
    assert not ok and why.endswith("(and 992 more)") and len(why) < 1000
    ok, why = run("citations", [["x" * 100_000, "a" * 64]], manifest)
    assert (ok, why) == (False, f"cites {'x' * 57 + '...'!r}, which is not an item of the evidence manifest")
    ok, why = run("citations", [["disk.img\ud800", "a" * 64]], manifest)
    assert not ok and "\\ud800" in why and why.encode("utf-8")  # a lone surrogate is escaped, so it can be written


def test_lookup_follows_dicts_by_name_never_lists_by_position() -> None:
    assert lookup(KEY, "facts.disk.volumes.root.start_sector", "k") == 71680
    flat = {"namespace": {"flows.dns-drop.qname": "share.example.net", "flows": "not this"}}
    assert lookup(flat, "namespace.flows.dns-drop.qname", "k") == "share.example.net"
    assert lookup(KEY, "scores", "k") == [1.5, 2.5]  # a list is a value, compared whole
    for path, stop in (("facts.disk.volumes.data.start_sector", "data"), ("facts.disk.partitions.1.start_sector", "1")):
        with pytest.raises(DflabError, match=rf"^k: answer key has no '{re.escape(path)}' \(stops at '{stop}'\)$"):
            lookup(KEY, path, "k")


@pytest.mark.parametrize(("line", "field", "at"), [
    ("x: {compare: int, key: facts.disk.partitions.1.start_sector}", "checks.x.key", 4),
    ("x: {compare: exact, key: timeline.0.time}", "checks.x.key", 4),
    ("x: {compare: citations, key: evidence_items,\n     findings: {disk.img: {facts.disk.partitions.1.sectors: int}}}",
     "checks.x.findings", 5),
])
def test_a_grader_addressing_a_list_item_by_position_is_refused_at_its_line(tmp_path: Path, line: str, field: str,
                                                                           at: int) -> None:
    """Positions differ between cases (Nightjar's root is its second partition, another case's its first): a grader
    names facts by role, and a numeric key path is refused when the file is read, one line at its file and line."""
    bad = tmp_path / "02-disk.yaml"
    bad.write_text(f"lab: 02-disk\nchecks:\n  ok: {{compare: int, key: facts.disk.volumes.root.start_sector}}\n"
                   f"  {line}\n")
    with pytest.raises(DflabError) as err:
        load_checks(bad)
    path = re.search(r"[a-z_.]*\.\d+\.[a-z_]*", line).group()
    position = re.search(r"\.(\d+)\.", path).group(1)
    assert str(err.value) == (f"{bad}:{at}: {field}: {path!r} picks a list item by position ({position}): address the "
                              "fact by role (e.g. facts.disk.volumes.<volume id>)")
    bad.write_text(f"lab: 02-disk\nchecks:\n  {line.replace(path, path.replace(f'.{position}.', '.root.'))}\n")
    load_checks(bad)  # the same file by role loads


def test_check_answer_unknown_name_is_wrong_not_crash() -> None:
    checks = CheckFile(lab="02-disk", checks={"payload_inode": Check(compare="int")})
    assert check_answer(checks, "payload_inode", 27, KEY, "k") == (True, "correct")
    assert check_answer(checks, "hidden_pid", 27, KEY, "k") == (False, "'hidden_pid' is not an answer of lab 02-disk")


# -- the preprocessor ----------------------------------------------------------------------------------

def answer_out(name: str, value: object) -> nbformat.NotebookNode:
    return new_output("display_data", data={ANSWER_MIME: {"name": name, "value": value}, "text/plain": "recorded"})


def grade_cell(source: str, outputs: list, grade_id: str = "t") -> nbformat.NotebookNode:
    cell = new_code_cell(source, outputs=outputs)
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1, "grade_id": grade_id,
                                 "schema_version": 3}
    return cell


def add_test_cell(course: Path, grade_id: str, points: float, source: str) -> None:
    """Record a test cell of the instructor's notebook in a real nbgrader gradebook, as generate_assignment does."""
    tools_on_path()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment("02-disk")
        gb.update_or_create_notebook("n", "02-disk")
        gb.update_or_create_grade_cell(grade_id, "n", "02-disk", max_score=points, cell_type="code")
        gb.update_or_create_source_cell(grade_id, "n", "02-disk", source=source, cell_type="code", locked=True,
                                        checksum="x")


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A gradebook holding test cell "t" (creating one runs nbgrader's migrations: seconds, so once)."""
    template = tmp_path_factory.mktemp("gradebook")
    add_test_cell(template, "t", 1, "answer('payload_inode', i)")
    return (template / "gradebook.db").read_bytes()


@pytest.fixture()
def course(tmp_path: Path, gradebook: bytes) -> Path:
    (tmp_path / "gradebook.db").write_bytes(gradebook)
    (tmp_path / "evidence" / "alice" / "key").mkdir(parents=True)
    (tmp_path / "evidence" / "alice" / "evidence").mkdir()
    (tmp_path / "evidence" / "alice" / "evidence" / "manifest.json").write_text("{}")
    (tmp_path / "evidence" / "alice" / "key" / "answer_key.json").write_text(json.dumps(KEY))
    (tmp_path / "graders").mkdir()
    (tmp_path / "graders" / "02-disk.yaml").write_text(
        "lab: 02-disk\nchecks:\n  payload_sha256: {compare: hex}\n  payload_inode: {compare: int}\n"
        "  archive_true_type: {compare: casefold}\n")
    return tmp_path


def grade(course: Path, cells: list, student: str = "alice") -> list[list]:
    pre = CheckAnswers(evidence_root=str(course / "evidence"), checks_dir=str(course / "graders"))
    nb = new_notebook(cells=cells)
    out, _ = pre.preprocess(nb, {"nbgrader": {"student": student, "assignment": "02-disk", "notebook": "n",
                                              "db_url": f"sqlite:///{course / 'gradebook.db'}"}})
    return [c.outputs for c in out.cells]


def error_text(outputs: list) -> str:
    assert len(outputs) == 1 and outputs[0].output_type == "error" and outputs[0].ename == "AnswerCheck"
    return outputs[0].evalue


def test_answer_names_come_from_literal_calls() -> None:
    src = "from dflab.lab import answer\nanswer('payload_sha256', x)\ndflab.lab.answer(\"payload_inode\", y)\nprint(1)"
    assert answer_names(src) == ["payload_sha256", "payload_inode"]
    assert answer_names("assert 1 == 1") == [] and answer_names("answer(name, x") == []


def test_correct_answer_clears_outputs_and_wrong_one_explains(course: Path) -> None:
    stderr = new_output("stream", name="stderr", text="a warning\n")
    right = grade_cell("answer('payload_sha256', h)", [answer_out("payload_sha256", SHA.upper()), stderr])
    wrong = grade_cell("answer('payload_inode', i)", [answer_out("payload_inode", 28)])
    outs = grade(course, [right, wrong])
    assert outs[0] == []
    assert error_text(outs[1]) == "payload_inode: not the number found in your evidence"
    assert "27" not in json.dumps(outs[1])


def test_missing_tampered_malformed_and_foreign_answers_score_zero(course: Path) -> None:
    err = new_output("error", ename="NameError", evalue="name 'h' is not defined", traceback=[])
    missing = grade_cell("answer('payload_sha256', h)", [err])
    not_run = grade_cell("answer('payload_sha256', h)", [])
    twice = grade_cell("answer('payload_inode', i)", [answer_out("payload_inode", 27), answer_out("payload_inode", 27)])
    malformed = grade_cell("answer('payload_inode', i)", [
        new_output("display_data", data={ANSWER_MIME: "{not json"}), answer_out("payload_inode", 27)])
    no_value = grade_cell("answer('payload_inode', i)", [
        new_output("display_data", data={ANSWER_MIME: {"name": "payload_inode"}}), answer_out("payload_inode", 27)])
    foreign = grade_cell("answer('payload_inode', i)", [answer_out("payload_inode", 27),
                                                      answer_out("archive_true_type", "zip")])
    outs = grade(course, [missing, not_run, twice, malformed, no_value, foreign])
    assert error_text(outs[0]) == f"payload_sha256: {NOT_RUN} [NameError: name 'h' is not defined]"
    assert error_text(outs[1]) == f"payload_sha256: {NOT_RUN}"
    assert error_text(outs[2]) == "payload_inode: tampered (2 answer outputs, expected exactly one)"
    assert error_text(outs[3]) == "malformed answer output (expected {name, value})"
    assert error_text(outs[4]) == "malformed answer output (expected {name, value})"
    assert error_text(outs[5]) == "tampered: this cell does not record 'archive_true_type'"


def test_cells_without_answers_and_solution_cells_are_left_to_nbgrader(course: Path) -> None:
    plain_test = grade_cell("assert True", [new_output("stream", name="stdout", text="ok\n")])
    solution = grade_cell("x = 1", [new_output("stream", name="stdout", text="1\n")])
    solution.metadata["nbgrader"]["solution"] = True
    outs = grade(course, [plain_test, solution])
    assert outs[0][0].text == "ok\n" and outs[1][0].text == "1\n"


def test_missing_key_or_evidence_is_a_clear_error_for_that_submission(course: Path) -> None:
    with pytest.raises(DflabError, match=r"answer_key.json: no answer key for trainee 'bob'"):
        grade(course, [], student="bob")
    pre = TraineeEvidence(evidence_root=str(course / "evidence"))
    with pytest.raises(DflabError, match=r"no evidence for trainee 'bob'"):
        pre.preprocess(new_notebook(), {"nbgrader": {"student": "bob"}})


def test_trainee_evidence_points_the_kernel_at_that_trainee(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DFLAB_EVIDENCE", raising=False)
    pre = TraineeEvidence(evidence_root=str(course / "evidence"))
    pre.preprocess(new_notebook(), {"nbgrader": {"student": "alice"}})
    assert os.environ["DFLAB_EVIDENCE"] == str(course / "evidence" / "alice" / "evidence")


def test_deleted_test_cell_comes_back_scoring_zero(course: Path) -> None:
    add_test_cell(course, "gone", 2, "answer('payload_sha256', h)")
    kept = grade_cell("answer('payload_inode', i)", [answer_out("payload_inode", 27)], grade_id="t")
    pre = CheckAnswers(evidence_root=str(course / "evidence"), checks_dir=str(course / "graders"))
    resources = {"nbgrader": {"student": "alice", "assignment": "02-disk", "notebook": "n",
                              "db_url": f"sqlite:///{course / 'gradebook.db'}"}}
    out, _ = pre.preprocess(new_notebook(cells=[kept]), resources)
    assert [c.metadata["nbgrader"]["grade_id"] for c in out.cells] == ["t", "gone"]
    restored = out.cells[1]
    assert restored.source == "answer('payload_sha256', h)" and restored.metadata["nbgrader"]["points"] == 2
    assert error_text(restored.outputs) == "tampered: test cell 'gone' was deleted"
    assert out.cells[0].outputs == []


@pytest.mark.parametrize("vocabulary, got, want", [
    ("file_type", "Archive ZIP", "zip"), ("file_type", "archivo zip", "zip"),
    ("file_type", "Exécutable ELF", "elf"), ("file_type", "ejecutable  elf", "elf"),
    ("partition_table", "Table de partitions GPT", "gpt"), ("partition_table", "tabla de particiones DOS", "mbr"),
    ("file_system", "Système de fichiers ext4", "ext4"), ("file_system", "sistema de archivos FAT32", "fat32"),
])
def test_a_french_or_spanish_name_counts_as_the_canonical_value(vocabulary: str, got: str, want: str) -> None:
    """Answers do not depend on the lab's language: the key holds canonical values, the trainee's words count."""
    assert run("casefold", got, want, vocabulary=vocabulary) == (True, "correct")


@pytest.mark.parametrize("vocabulary, got, want", [
    ("file_type", "archive zip", "gzip"), ("file_type", "archivo gzip", "zip"),
    ("partition_table", "table de partitions gpt", "mbr"), ("file_system", "système de fichiers ext4", "fat32"),
])
def test_a_localised_name_of_another_value_stays_wrong(vocabulary: str, got: str, want: str) -> None:
    assert run("casefold", got, want, vocabulary=vocabulary)[0] is False


def test_no_localised_name_means_two_values() -> None:
    """A name listed for two canonical values would make a wrong answer right: every name is in one list only."""
    from dflab.grading.checks import TERMS
    for table, names in TERMS.items():
        seen: dict[str, str] = {}
        for canonical, synonyms in names.items():
            for name in (canonical, *synonyms):
                assert seen.setdefault(name.casefold(), canonical) == canonical, (table, name)
