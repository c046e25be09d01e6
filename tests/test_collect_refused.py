"""A trainee whose folder cannot be brought back (a file past any quota, the engine failing for that lab) is one
line in the collect's results; the rest of the cohort is collected, and what was collected before stays."""

from __future__ import annotations

import json
from pathlib import Path

from dflab.errors import DflabError
from dflab.session.collect import NOT_COLLECTED, collect_one


def _export_notebook(text: str):
    def export(dest: Path) -> bool:
        dest.mkdir(parents=True)
        (dest / "lab.ipynb").write_text(text, encoding="utf-8")
        return True
    return export


def _refuse(dest: Path) -> bool:
    dest.mkdir(parents=True)
    (dest / "half.bin").write_bytes(b"\0" * 10)  # what the export had written before it stopped
    raise DflabError("is 9223372036854775807 bytes, past the workspace's quota: not collected", "lab/huge.img")


def test_a_refused_trainee_keeps_their_earlier_submission_and_the_next_is_collected(tmp_path: Path) -> None:
    (tmp_path / "release" / "lab").mkdir(parents=True)
    first = collect_one("mallory", "lab", tmp_path, "local", _export_notebook('{"cells": 1}'))
    assert first.status == "collected"
    submitted = tmp_path / "submitted" / "mallory" / "lab"
    before = {p.name: p.read_bytes() for p in submitted.iterdir()}

    refused = collect_one("mallory", "lab", tmp_path, "local", _refuse)
    assert (refused.status, refused.files) == (NOT_COLLECTED, 0)
    assert "lab/huge.img" in refused.reason and "\n" not in refused.reason
    assert {p.name: p.read_bytes() for p in submitted.iterdir()} == before  # nothing lost, nothing half-written
    assert json.loads((submitted / "dflab-collect.json").read_bytes())["files"].keys() == {"lab.ipynb"}
    assert not [p for p in (tmp_path / "submitted" / "mallory").iterdir() if p.name != "lab"]  # no scratch left

    other = collect_one("alice", "lab", tmp_path, "local", _export_notebook('{"cells": 2}'))
    assert other.status == "collected" and other.files == 1
