"""Lab 01 cannot be forged: a case folder not collected from the trainee's running suspect scores nothing.

One honest collection from a real running suspect is made once; every attack starts from a copy of it (or from
nothing) and goes as far as dflab's public source lets a trainee go (tests/forgekit.py): re-chaining the log,
making clocks agree, signing with ``close_case``.  Each attack must score 0 on the four procedural criteria
(order, hashes, completeness, custody) with a reason, and the honest collection full marks.  The insider
variants are re-sealed with the trainee's real key, so the clock and order checks are tested on their own.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dflab.errors import EvidenceError
from dflab.live import suspect, witness
from dflab.live.collect import LOG_NAME, read_log, utc_us, verify_log
from dflab.live.custody import CUSTODY_FILE, Transfer, close_case, custody_problems
from dflab.live.grading import POINTS, check_collection, grade_collection, grade_custody, sealed
from dflab.live.traits import expected_traits, suspect_seed
from dflab.scenario.draw import DEMO_SECRET
from tests.forgekit import edit_log, fabricate, rewrite_log, shifted, sign
from tests.livekit import collect_all, start_fresh_suspect

pytestmark = pytest.mark.xdist_group("live")

FOUR = ("order", "hashes", "completeness", "custody")
ZERO = dict.fromkeys(FOUR, 0.0)
FULL = {"order": POINTS["order"], "hashes": POINTS["hashes"], "completeness": POINTS["completeness"],
        "custody": 2.0}
TRANSFER = [Transfer("Det. Insp. Ada Example", "Nightjar evidence custodian", "sealed storage")]
UNSEALED = "carry no seal of your running suspect for the time they state"


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict, bytes]]:
    """A real collection (not closed) from a suspect started for a fresh trainee; the suspect is gone after it."""
    root = tmp_path_factory.mktemp("honest")
    info, seed = start_fresh_suspect(root / "state", "forgery-course-secret")
    try:
        notes = root / "notes.txt"
        notes.write_bytes(b"handover notes\n")
        collect_all(root / "case", info.suspect_pid, notes, case_id="NIGHTJAR-LR-01")
    finally:
        suspect.stop(root / "state")
    yield root / "case", expected_traits(seed), seed


def copy(honest: tuple[Path, dict, bytes], tmp_path: Path) -> Path:
    case = tmp_path / "case"
    shutil.copytree(honest[0], case)
    return case


def key_of(expected: dict) -> bytes:
    return bytes.fromhex(expected["witness"]["key"])


def graded(case: Path, expected: dict) -> dict[str, float]:
    """The four procedural criteria, each as the grader's check would score it."""
    report = grade_collection(case, expected).by_name()
    return {n: report[n].points for n in FOUR[:3]} | {"custody": grade_custody(case, expected).points}


def reasons(case: Path, expected: dict, criterion: str) -> str:
    ok, why = check_collection(case.name, expected, criterion, case.parent)
    assert not ok
    return why


def test_honest_collection_scores_full_marks(honest, tmp_path: Path) -> None:
    case, expected = copy(honest, tmp_path), honest[1]
    entries = read_log(case / LOG_NAME)
    assert verify_log(entries) == [] and all(sealed(e, key_of(expected)) for e in entries)
    tokens = {t for e in entries for t in witness.tokens_for(key_of(expected), utc_us(e.utc))}
    assert not any(t.encode() in p.read_bytes() for p in case.iterdir() for t in tokens)   # only seals are kept
    close_case(case, TRANSFER)
    assert custody_problems(case) == []
    assert graded(case, expected) == FULL
    report = grade_collection(case, expected)
    assert report.total == report.max_total, report.as_dict()
    for criterion in FOUR:
        assert check_collection("case", expected, criterion, tmp_path) == (True, "correct")


@pytest.mark.parametrize("seal_key", ["none", "public-demo-secret", "another-trainee"])
def test_a_fabricated_folder_scores_zero(honest, tmp_path: Path, seal_key: str) -> None:
    """No collection at all: a sound chain, clocks that agree, close_case's record; seals from keys a forger has."""
    expected = honest[1]
    key = {"none": None,
           "public-demo-secret": witness.slot_key(suspect_seed("alice", DEMO_SECRET)),
           "another-trainee": key_of(expected_traits(suspect_seed("bob", "forgery-course-secret")))}[seal_key]
    case = tmp_path / "case"
    fabricate(case, seal_key=key)
    assert verify_log(read_log(case / LOG_NAME)) == []     # as sound as an unkeyed log can be
    close_case(case, TRANSFER)
    assert custody_problems(case) == []
    assert graded(case, expected) == ZERO
    for criterion in FOUR:
        assert UNSEALED in reasons(case, expected, criterion)


def test_the_reproduced_attack_scores_zero(honest, tmp_path: Path) -> None:
    """Issue 13 item 5 as reported: no collection, the log's clock running backwards, a record signed anyway."""
    expected = honest[1]
    case = tmp_path / "case"
    fabricate(case, step_s=-7.0)
    with pytest.raises(EvidenceError, match="fails its own checks.*the wall clock ran backwards"):
        close_case(case, TRANSFER)
    sign(case)
    assert graded(case, expected) == ZERO
    why = reasons(case, expected, "order")
    assert "entry 2: its utc time is not after entry 1's (the wall clock ran backwards" in why


def test_a_reordered_log_scores_zero(honest, tmp_path: Path) -> None:
    """The disk copy moved before the volatile data: swapped lines, then re-numbered, re-chained and re-timed."""
    expected = honest[1]

    def disk_first(entries):
        return [entries[0], entries[-1], *entries[1:-1]]

    naive = copy(honest, tmp_path / "naive")
    lines = (naive / LOG_NAME).read_bytes().splitlines(keepends=True)
    (naive / LOG_NAME).write_bytes(b"".join(disk_first(lines)))
    close_case_refused(naive)
    sign(naive)
    assert graded(naive, expected) == ZERO
    assert "entry 2: sequence number 9, expected 2" in reasons(naive, expected, "hashes")

    careful = copy(honest, tmp_path / "careful")       # times rewritten so both clocks run forward in the new order

    def retimed(entries):
        moved = disk_first(entries)
        first = moved[1]
        return [moved[0], shifted(first, (moved[0].monotonic_ns - first.monotonic_ns) / 1e9 + 0.5),
                *(shifted(e, 1.0) for e in moved[2:])]

    edit_log(careful, retimed)
    assert verify_log(read_log(careful / LOG_NAME)) == []
    close_case(careful, TRANSFER)
    assert graded(careful, expected) == ZERO
    assert UNSEALED in reasons(careful, expected, "order")

    insider = copy(honest, tmp_path / "insider")       # re-sealed, but the times still say what happened when
    edit_log(insider, disk_first, key=key_of(expected))
    close_case_refused(insider)
    sign(insider)
    assert graded(insider, expected) == ZERO
    why = reasons(insider, expected, "order")
    assert UNSEALED not in why and "entry 3: its utc time is not after entry 2's" in why


def close_case_refused(case: Path) -> None:
    with pytest.raises(EvidenceError, match="fails its own checks"):
        close_case(case, TRANSFER)
    assert not (case / CUSTODY_FILE).exists()


def test_a_log_whose_clock_runs_backwards_scores_zero(honest, tmp_path: Path) -> None:
    """One entry's time moved back before its predecessor's, on both clocks (so they still agree)."""
    expected = honest[1]

    def back(entries):
        gap = (entries[4].monotonic_ns - entries[2].monotonic_ns) / 1e9
        return [*entries[:4], shifted(entries[4], -gap - 1.0), *entries[5:]]

    for who, key in (("outsider", None), ("insider", key_of(expected))):
        case = copy(honest, tmp_path / who)
        edit_log(case, back, key=key)
        close_case_refused(case)
        sign(case)
        assert graded(case, expected) == ZERO, who
        why = reasons(case, expected, "order")
        assert "entry 5: its utc time is not after entry 4's" in why
        assert (UNSEALED in why) == (key is None)


def test_wall_and_monotonic_clocks_that_disagree_score_zero(honest, tmp_path: Path) -> None:
    """The utc of the later entries moved 5 s on, the monotonic clock left: each still increases."""
    expected = honest[1]

    def skew(entries):
        return [*entries[:6], *(shifted(e, 5.0, monotonic=False) for e in entries[6:])]

    for who, key in (("outsider", None), ("insider", key_of(expected))):
        case = copy(honest, tmp_path / who)
        edit_log(case, skew, key=key)
        close_case_refused(case)
        sign(case)
        assert graded(case, expected) == ZERO, who
        why = reasons(case, expected, "hashes")
        assert "entry 7: since entry 6 the wall clock advanced" in why and (UNSEALED in why) == (key is None)


def test_a_neighbours_folder_scores_zero(honest, tmp_path: Path) -> None:
    """Another trainee's sound, closed collection handed in as one's own: sealed, but by their suspect."""
    case = copy(honest, tmp_path)
    close_case(case, TRANSFER)
    neighbour = expected_traits(suspect_seed("bob", "forgery-course-secret"))
    assert graded(case, honest[1]) == FULL
    assert graded(case, neighbour) == ZERO
    assert UNSEALED in reasons(case, neighbour, "custody")
    report = grade_collection(case, neighbour)
    assert report.total == 0, report.as_dict()


def test_an_edited_collection_re_signed_by_close_case_scores_zero(honest, tmp_path: Path) -> None:
    """Honest, then changed: an exhibit and its logged hash, the chain recomputed, and close_case signs it."""
    expected = honest[1]
    case = copy(honest, tmp_path / "exhibit")
    entries = read_log(case / LOG_NAME)
    procs = next(e for e in entries if e.action == "processes")
    data = (case / procs.output).read_bytes() + b"4242,1,4242,0,root,S,innocent,innocent,/usr/bin/innocent,False,1\n"
    (case / procs.output).write_bytes(data)

    def rehash(entries):
        return [dataclasses.replace(e, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
                if e.seq == procs.seq else e for e in entries]

    edit_log(case, rehash)
    assert verify_log(read_log(case / LOG_NAME)) == []
    close_case(case, TRANSFER)                          # the trainee's kernel cannot tell: it has no key
    assert custody_problems(case) == []
    assert graded(case, expected) == ZERO
    # The chain changed from there on, so every later entry lost its seal too.
    assert f"{10 - procs.seq} of 9 log entries (entry {procs.seq}, " in reasons(case, expected, "completeness")

    closed = copy(honest, tmp_path / "closed")          # closed first, then edited, old record removed, re-closed
    close_case(closed, TRANSFER)
    for name in (CUSTODY_FILE, "custody.jsonld"):
        (closed / name).unlink()
    edit_log(closed, lambda es: [dataclasses.replace(e, examiner="someone else") for e in es])
    close_case(closed, TRANSFER)
    assert graded(closed, expected) == ZERO
    assert "9 of 9 log entries" in reasons(closed, expected, "custody")


def test_a_custody_record_must_match_its_log(honest, tmp_path: Path) -> None:
    """The record vouches for the log: items, case, examiner and times are the log's, created after it ended."""
    expected = honest[1]
    for field, value in (("acquired_utc", "2020-01-01T00:00:00Z"), ("acquired_by", "someone else")):
        case = copy(honest, tmp_path / field)
        close_case(case, TRANSFER)
        record = json.loads((case / CUSTODY_FILE).read_text())
        record["items"][0][field] = value
        (case / CUSTODY_FILE).write_text(json.dumps(record))
        assert graded(case, expected)["custody"] == 0.0
        assert reasons(case, expected, "custody") == (
            "the custody record's items differ from the collection log's outputs")
    case = copy(honest, tmp_path / "created")
    close_case(case, TRANSFER)
    record = json.loads((case / CUSTODY_FILE).read_text())
    record["created_utc"] = "2020-01-01T00:00:00Z"
    (case / CUSTODY_FILE).write_text(json.dumps(record))
    assert reasons(case, expected, "custody") == "the custody record was created before the collection it records ended"


def test_close_case_refuses_an_altered_exhibit(honest, tmp_path: Path) -> None:
    case = copy(honest, tmp_path)
    exe = next(e for e in read_log(case / LOG_NAME) if e.action == "recover_deleted_exe")
    (case / exe.output).write_bytes(b"altered")
    with pytest.raises(EvidenceError, match=f"exhibit of entry {exe.seq} does not match its logged SHA-256"):
        close_case(case, TRANSFER)
    assert not (case / CUSTODY_FILE).exists()


def test_an_answer_key_without_a_witness_key_credits_nothing(honest, tmp_path: Path) -> None:
    """A key built before the witness existed cannot authenticate a collection: zero with a reason, no crash."""
    case = copy(honest, tmp_path)
    close_case(case, TRANSFER)
    old = {k: v for k, v in honest[1].items() if k != "witness"}
    assert graded(case, old) == ZERO
    assert "holds no witness key" in reasons(case, old, "order")
    for junk in ({"key": "00"}, {"key": "zz" * 16, "slot_s": 30}, {"key": "00" * 16, "slot_s": True}, "x", None):
        assert graded(case, old | {"witness": junk}) == ZERO


def test_a_log_with_entries_of_the_wrong_type_is_graded_not_crashed(honest, tmp_path: Path) -> None:
    expected = honest[1]
    for field, value in (("monotonic_ns", "12"), ("utc", 5), ("seal", "abc"), ("seal", [1]), ("seq", True),
                         ("details", []), ("extra", 1)):
        case = copy(honest, tmp_path / f"{field}-{type(value).__name__}")
        lines = (case / LOG_NAME).read_bytes().splitlines()
        lines[2] = json.dumps(json.loads(lines[2]) | {field: value}).encode()
        (case / LOG_NAME).write_bytes(b"\n".join(lines) + b"\n")
        report = grade_collection(case, expected)
        assert report.total == 0 and f"{LOG_NAME}:3: malformed log entry" in report.criteria[0].reasons[0], field
        assert graded(case, expected) == ZERO
    case = copy(honest, tmp_path / "utc-text")
    rewrite_log(case, [dataclasses.replace(e, utc="yesterday") if e.seq == 3 else e
                       for e in read_log(case / LOG_NAME)])
    assert graded(case, expected) == ZERO
    assert "entry 3: utc 'yesterday' is not a UTC time" in reasons(case, expected, "order")
