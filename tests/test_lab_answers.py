"""dflab.lab in the trainee's kernel: shape checks, the emitted answer output, finding and verifying evidence.

Also checks that the lab's answers (lab.yaml), its checks (graders/) and the answer key agree, for two real
trainee variants, so every answer a notebook can record is gradable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from nbclient import NotebookClient

from dflab.errors import DflabError, EvidenceError
from dflab.evidence.build import build_cohort
from dflab.grading.checks import load_checks, lookup
from dflab.lab import ANSWER_MIME, AnswerError, answer, evidence_dir, lab_answers, verify_evidence
from dflab.scenario.load import load_spec

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "02-disk"
pytestmark = pytest.mark.xdist_group("lab-answers")


@pytest.fixture()
def in_lab(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFLAB_LAB_DIR", str(LAB))
    InteractiveShell.instance()


def record(name: str, value: object) -> dict:
    with capture_output() as cap:
        assert answer(name, value) is value
    [out] = cap.outputs
    assert out.data["text/plain"].startswith(f"recorded {name} = ")
    return out.data[ANSWER_MIME]


def test_answer_emits_one_json_output(in_lab: None) -> None:
    sha = "ab" * 32
    assert record("payload_sha256", sha) == {"name": "payload_sha256", "value": sha}
    assert record("payload_inode", np.int64(27)) == {"name": "payload_inode", "value": 27}
    assert record("payload_download_time", "2026-01-01T00:00:00Z")["value"] == "2026-01-01T00:00:00Z"
    assert record("payload_path", Path("/home/u/x"))["value"] == "/home/u/x"
    assert record("deleted_note_text", b"drop: x\n")["value"] == "drop: x\n"


@pytest.mark.parametrize("name,value,message", [
    ("payload_sha256", "ab" * 20, "payload_sha256: expected 64 hex digits, got 40"),
    ("payload_sha256", "zz" * 32, "payload_sha256: expected hex digits"),
    ("payload_inode", "27", "payload_inode: expected a whole number, got str"),
    ("payload_inode", True, "payload_inode: expected a whole number, got bool"),
    ("payload_path", "Downloads/x", "payload_path: expected an absolute path"),
    ("payload_download_time", "2026-01-01 00:00:00", "payload_download_time: the time has no zone"),
    ("payload_download_time", "yesterday", "payload_download_time: expected an ISO-8601 time"),
    ("slack_secret", "", "slack_secret: no value yet"),
    ("slack_secret", None, "slack_secret: no value yet"),
    ("hidden_pid", 3, "'hidden_pid' is not an answer of this lab"),
    ("payload_download_time", pd.Timestamp("2026-01-01"), "the time has no time zone"),
    ("slack_secret", object(), "cannot record a object"),
])
def test_answer_rejects_wrong_shapes(in_lab: None, name: str, value: object, message: str) -> None:
    with capture_output() as cap, pytest.raises(AnswerError, match=message.replace("(", r"\(")) as raised:
        answer(name, value)
    assert cap.outputs == []  # a malformed answer is not recorded (graders/README.md)
    # Still a ValueError (what answer() raises), and shown by IPython as its one line, never a traceback.
    assert isinstance(raised.value, ValueError)
    assert raised.value._render_traceback_() == [f"AnswerError: {raised.value} (not recorded)"]


def run_in_kernel(cwd: Path, *sources: str) -> list[nbformat.NotebookNode]:
    """Run ``sources`` as the cells of a notebook in a real IPython kernel started in ``cwd``; the cells run."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=120,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb.cells


def test_a_malformed_answer_is_one_line_in_a_real_kernel(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What the trainee sees in the notebook: one error line saying what to fix, and nothing recorded."""
    monkeypatch.delenv("DFLAB_LAB_DIR", raising=False)  # the kernel finds lab.yaml in its working directory
    good, short, no_value, unknown = run_in_kernel(
        LAB, "from dflab.lab import answer\nanswer('payload_sha256', 'ab' * 32);",
        "answer('payload_sha256', 'ab' * 20);", "answer('slack_secret', '');", "answer('hidden_pid', 3);")
    assert [o.output_type for o in good.outputs] == ["display_data"]
    assert good.outputs[0].data[ANSWER_MIME] == {"name": "payload_sha256", "value": "ab" * 32}
    for cell, line in [
        (short, "AnswerError: payload_sha256: expected 64 hex digits, got 40 (not recorded)"),
        (no_value, "AnswerError: slack_secret: no value yet (got ''); assign your finding first (not recorded)"),
        (unknown, "AnswerError: 'hidden_pid' is not an answer of this lab; expected one of archive_path, "),
    ]:
        [out] = cell.outputs  # the error alone: no answer output, no traceback frames
        assert out.output_type == "error" and out.ename == "AnswerError", out
        assert len(out.traceback) == 1 and "\n" not in out.traceback[0], out.traceback
        assert out.traceback[0].startswith(line), out.traceback
    # Outside a lab folder: still one line, naming what to do.
    [cell] = run_in_kernel(tmp_path, "from dflab.lab import answer\nanswer('payload_sha256', 'ab' * 32);")
    [out] = cell.outputs
    assert out.ename == "AnswerError" and len(out.traceback) == 1
    assert "no lab.yaml here: open the notebook from its lab folder" in out.traceback[0]


def test_lab_yaml_is_required_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFLAB_LAB_DIR", str(tmp_path))
    with pytest.raises(DflabError, match="no lab.yaml here"):
        lab_answers()
    (tmp_path / "lab.yaml").write_text("answers:\n  x: {shape: colour}\n")
    with pytest.raises(DflabError, match=r"lab.yaml:2: answers.x.shape: must be one of 'text', 'hex'"):
        lab_answers()


def test_evidence_dir_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFLAB_EVIDENCE", str(tmp_path))
    with pytest.raises(EvidenceError, match=rf"{tmp_path}: no evidence here .*set \$DFLAB_EVIDENCE"):
        evidence_dir()
    monkeypatch.delenv("DFLAB_EVIDENCE")
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(EvidenceError, match=rf"{tmp_path}/evidence: no evidence here"):
        evidence_dir()


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("variants")
    build_cohort(ROOT / "labs" / "scenarios" / "nightjar.yaml", "test-secret", ["alice", "bob"], out, workers=1)
    return out


def test_verify_evidence_before_and_after(variants: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "ev"
    shutil.copytree(variants / "alice" / "evidence", copy)
    monkeypatch.setenv("DFLAB_EVIDENCE", str(copy))
    assert evidence_dir() == copy
    table = verify_evidence()
    assert list(table.columns) == ["path", "size", "sha256"] and "disk.img" in set(table["path"])
    with (copy / "disk.img").open("r+b") as fh:
        fh.seek(1 << 20)
        fh.write(b"X")
    with pytest.raises(EvidenceError, match=r"disk.img: sha256 differs \(altered\)"):
        verify_evidence()


def test_lab_answers_checks_and_keys_agree(variants: Path) -> None:
    shapes = lab_answers(LAB)
    checks = load_checks(ROOT / "labs" / "02-disk" / "grader.yaml")
    assert set(shapes) == set(checks.checks)
    scenario_answers = set(load_spec(ROOT / "labs" / "scenarios" / "nightjar.yaml").answers)
    for name, check in checks.checks.items():
        assert name in scenario_answers or check.key, f"{name}: neither a scenario answer nor an explicit key"
    for trainee in ("alice", "bob"):
        key_path = variants / trainee / "key" / "answer_key.json"
        key = json.loads(key_path.read_text())
        for name in checks.checks:
            assert lookup(key, checks.key_path(name), str(key_path)) not in (None, "")
