"""The instructor's dashboard without a browser: its model on crafted input, its gradebook reading, its door.

The model: steps done (answers recorded in the saved notebook or checked right), the stuck flag, hints and time per
step from crafted rows; difficulty and discrimination from a crafted nbgrader gradebook (written with nbgrader's own
API, then read as ``dflab grade --csv`` and the dashboard read it). The door: the dashboard served for a session
whose state and saved notebooks are written here (no lab runs), asked with no token, a trainee's, a wrong one and
the instructor's, and actions sent every way but the right one.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import statistics
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner
from nbgrader.api import Gradebook

from dflab.cli import main
from dflab.dashboard.auth import INSTRUCTOR, NOBODY, TRAINEE, instructor_token, who
from dflab.dashboard.items import item_analysis
from dflab.dashboard.live import Watcher
from dflab.dashboard.progress import StepInfo, progress
from dflab.dashboard.server import App, serving
from dflab.dashboard.snapshot import Dashboard
from dflab.grading import gradebook
from dflab.grading.course import tools_on_path
from dflab.grading.export import export_csv, export_json, questions
from dflab.lab.answers import ANSWER_MIME
from dflab.lab.recorded import answer_names
from dflab.lab_meta import parse_answers, read_lab
from dflab.roster import read_roster
from dflab.session import cli
from dflab.session.cli import session as session_cli
from dflab.session.manager import Session
from dflab.session.state import AnswerTries
from tests.pgserver import postgres_server

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "labs" / "02-disk"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
STEPS = [StepInfo("one", "One", ("a",), 2), StepInfo("two", "Two", ("b", "c"), 3), StepInfo("manual", "By hand", (), 0)]
TEN = timedelta(minutes=10)


def tries(answer: str, n: int, right: int, first: datetime, solved: datetime | None) -> AnswerTries:
    return AnswerTries("t", answer, n, right, first, solved or first, solved)


# -- progress ------------------------------------------------------------------------------------------------------
def test_a_step_is_done_when_each_answer_is_recorded_or_checked_right() -> None:
    p = progress(STEPS, {"a": T0 + timedelta(minutes=3), "b": T0 + timedelta(minutes=5)},
                 [tries("c", 2, 1, T0, T0 + timedelta(minutes=9))], T0, True, T0 + timedelta(minutes=12), TEN)
    assert p.steps_done == ("one", "two") and p.current is None and p.answers_done == 3
    assert p.step_seconds == {"one": 180.0, "two": 360.0}  # from the start, then from step one's end
    assert not p.stuck  # nothing left to do
    half = progress(STEPS, {"b": T0}, [tries("c", 3, 0, T0, None)], T0, True, T0, TEN)
    assert half.steps_done == () and half.current == "one" and half.answers_done == 1  # b alone is not step two


def test_stuck_is_no_answer_done_for_the_set_time_while_the_lab_runs() -> None:
    recorded = {"a": T0 + timedelta(minutes=2)}
    wrong = [tries("b", 4, 0, T0 + timedelta(minutes=3), None)]  # wrong checks are activity, not progress
    assert progress(STEPS, recorded, wrong, T0, True, T0 + timedelta(minutes=12), TEN).stuck
    assert not progress(STEPS, recorded, wrong, T0, True, T0 + timedelta(minutes=11), TEN).stuck
    assert not progress(STEPS, recorded, wrong, T0, False, T0 + timedelta(minutes=30), TEN).stuck  # not running
    assert progress(STEPS, {}, [], T0, True, T0 + timedelta(minutes=10), TEN).stuck  # never started on it
    assert not progress(STEPS, {}, [], T0, True, T0 + timedelta(minutes=10), timedelta(minutes=15)).stuck
    solved = [tries("b", 4, 1, T0, T0 + timedelta(minutes=11))]  # checked right: progress
    assert not progress(STEPS, recorded, solved, T0, True, T0 + timedelta(minutes=12), TEN).stuck


def test_hints_are_counted_from_wrong_checks_up_to_the_steps_tiers() -> None:
    p = progress(STEPS, {}, [tries("a", 5, 1, T0, T0), tries("b", 2, 0, T0, None), tries("c", 1, 0, T0, None)],
                 T0, True, T0, TEN)
    assert p.hints == 2 + 2  # step one: 4 wrong, 2 tiers; step two: at least 2 (b's wrong tries) of 3
    assert (p.attempts, p.right) == (8, 1)


# -- item analysis -------------------------------------------------------------------------------------------------
def test_difficulty_and_discrimination_by_hand() -> None:
    scores = {"s1": {"q1": (1, 1), "q2": (2, 2), "q3": (0, 1)}, "s2": {"q1": (1, 1), "q2": (0, 2), "q3": (0, 1)},
              "s3": {"q1": (1, 1), "q2": (2, 2), "q3": (1, 1)}, "s4": {"q1": (0, 1), "q2": (1, 2), "q3": (0, 1)}}
    items = {i.question: i for i in item_analysis(scores, ["q1", "q2", "q3"])}
    assert (items["q1"].correct, items["q1"].difficulty) == (3, 0.75)
    assert items["q2"].difficulty == 0.5  # 1 of 2 points is not right
    # corrected point-biserial: q2 right (1/0) against the rest of the score (q1 + q3)
    expected = statistics.correlation([1, 0, 1, 0], [1, 1, 2, 0])
    assert items["q2"].discrimination == pytest.approx(expected)
    everyone = item_analysis({"s1": {"q": (1, 1)}, "s2": {"q": (1, 1)}}, ["q"])[0]
    assert everyone.difficulty == 1.0 and everyone.discrimination is None  # undefined, not 0


# -- a session written here ------------------------------------------------------------------------------------------
STEPS_02 = sum(1 for step in read_lab(LAB).steps if step.answers)
SHAPES = parse_answers((LAB / "lab.yaml").read_text(encoding="utf-8"), "lab.yaml")
VALUES = {"hex": "0f" * 32, "text": "mbr", "int": 2048, "path": "/home/x", "time": "2026-01-01T00:00:00Z"}


def saved_notebook(recorded: dict[str, Any]) -> nbformat.NotebookNode:
    """The lab's notebook with the test cells of ``recorded`` showing what ``answer()`` emits for each value."""
    nb = nbformat.read(LAB / "source.ipynb", as_version=4)
    for cell in nb.cells:
        names = answer_names(cell.source) if cell.metadata.get("nbgrader", {}).get("grade") else []
        if cell.cell_type == "code" and names:
            cell.outputs = [nbformat.v4.new_output("display_data", data={ANSWER_MIME: {"name": n, "value": v}})
                            for n in names if (v := recorded.get(n)) is not None]
    return nb


@pytest.fixture
def written(tmp_path: Path) -> Session:
    """A lab-02 session of three trainees, stopped: alice recorded step one, bob a malformed value, carol nothing."""
    roster = tmp_path / "roster.csv"
    roster.write_text("id\nalice\nbob\ncarol\n", encoding="utf-8")
    s = Session(tmp_path / "session")
    s.configure("local", LAB, "", "dashboard-test-secret")
    s.add_trainees(read_roster(roster), "dashboard-test-secret")
    values = {"alice": {"manifest_sha256": "0f" * 32}, "bob": {"manifest_sha256": "xyz"}, "carol": {}}
    for row in s.state.trainees():
        s.state.update(row.id, status="stopped", started_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
        folder = s.dir / "workspaces" / row.id / "02-disk"
        folder.mkdir(parents=True)
        nbformat.write(saved_notebook(values[row.id]), folder / "02-disk.ipynb")
    return s


def test_steps_done_come_from_the_saved_notebook_and_checks(written: Session) -> None:
    t = datetime.now(UTC)
    written.state.record_attempt("carol", "02-disk", "manifest_sha256", t, "0" * 64, False)
    written.state.record_attempt("carol", "02-disk", "manifest_sha256", t + timedelta(seconds=1), "1" * 64, True)
    dash = Dashboard(written)
    dash.watcher.refresh()
    by = {t["id"]: t for t in dash.snapshot()["trainees"]}
    assert (by["alice"]["steps_done"], by["alice"]["answers_done"]) == (1, 1)
    assert (by["bob"]["steps_done"], by["bob"]["answers_done"]) == (0, 0)  # malformed is not recorded
    assert (by["carol"]["steps_done"], by["carol"]["attempts"], by["carol"]["right"]) == (1, 2, 1)
    assert by["alice"]["state"] == "stopped" and not by["alice"]["stuck"] and by["alice"]["last_activity"]
    assert by["alice"]["current_step"] == "partitions"
    steps = {s["id"]: s["past"] for s in dash.snapshot()["steps"]}
    assert steps["integrity-before"] == 2 and steps["partitions"] == 0


def test_session_status_shows_progress_and_json(written: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(session_cli, ["status", "--session-dir", str(written.dir), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    by = {t["id"]: t for t in out["trainees"]}
    assert (by["alice"]["steps_done"], by["alice"]["steps_total"], by["alice"]["stuck"]) == (1, STEPS_02, False)
    assert by["bob"]["steps_done"] == 0 and by["alice"]["last_activity"]
    monkeypatch.setattr(cli.console, "width", 250)
    table = CliRunner().invoke(session_cli, ["status", "--session-dir", str(written.dir)])
    assert table.exit_code == 0, table.output
    assert "steps" in table.output and "last activity" in table.output and "stuck" in table.output
    assert f"1/{STEPS_02}" in next(line for line in table.output.splitlines() if "alice" in line)


# -- a crafted gradebook -------------------------------------------------------------------------------------------
def crafted_gradebook(root: Path, lab: str, points: dict[str, dict[str, float]], url: str | None = None) -> str:
    """An nbgrader gradebook of ``lab`` (one notebook, a test cell per question of 1 point), graded as ``points``
    says (student -> question -> auto score), with dflab's status rows; and the source notebook naming the cells.
    ``url``: the gradebook's database (default: ``root``'s gradebook.db), as `dflab grade --db` takes it."""
    tools_on_path()  # nbgrader runs `alembic` by name when it creates a gradebook
    if url is not None:  # the course row PostgreSQL's foreign keys want, as `dflab grade --db` makes it
        gradebook.prepare(url, url, lab, "", lambda: None)
    url = gradebook.normalise_url(url) if url is not None else gradebook.default_url(root)
    names = sorted({q for p in points.values() for q in p})
    nb = nbformat.v4.new_notebook()
    for q in names:
        nb.cells.append(nbformat.v4.new_code_cell(f"answer('{q}', {q})", metadata={"nbgrader": {
            "grade": True, "solution": False, "grade_id": f"test-{q}", "points": 1}}))
    (root / "source" / lab).mkdir(parents=True)
    nbformat.write(nb, root / "source" / lab / "lab.ipynb")
    with Gradebook(url) as gb:
        gb.add_assignment(lab)
        gb.add_notebook("lab", lab)
        for q in names:
            gb.add_grade_cell(f"test-{q}", "lab", lab, max_score=1, cell_type="code")
        for student, got in points.items():
            gb.add_student(student)
            gb.add_submission(lab, student)
            for q, score in got.items():
                grade = gb.find_grade(f"test-{q}", "lab", lab, student)
                grade.auto_score = score
            gb.db.commit()
    gradebook.prepare(url, url, lab, "", lambda: None)
    gradebook.write_statuses(url, lab, [gradebook.Status(s, "done", "", sum(p.values()), len(names))
                                        for s, p in points.items()])
    return url


POINTS = {"ann": {"q1": 1, "q2": 1, "q3": 1}, "ben": {"q1": 1, "q2": 0, "q3": 1},
          "cat": {"q1": 1, "q2": 1, "q3": 0}, "dan": {"q1": 0, "q2": 0, "q3": 0}}


def test_the_csv_has_a_named_column_per_question(tmp_path: Path) -> None:
    url = crafted_gradebook(tmp_path, "lab-x", POINTS)
    assert questions(tmp_path, "lab-x") == {"test-q1": "q1", "test-q2": "q2", "test-q3": "q3"}
    assert export_csv(url, tmp_path / "grades.csv", "lab-x", tmp_path) == 4
    with (tmp_path / "grades.csv").open(encoding="utf-8") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert list(rows["ann"])[-3:] == ["q1", "q2", "q3"] and "reason" in rows["ann"]  # old columns kept
    assert [(rows["ben"][q], rows["dan"][q]) for q in ("q1", "q2")] == [("1.0", "0.0"), ("0.0", "0.0")]
    data = export_json(url, "lab-x", tmp_path)
    assert {r["student"]: r["q3"] for r in data["rows"]} == {"ann": 1.0, "ben": 1.0, "cat": 0.0, "dan": 0.0}
    assert data["questions"][0] == {"grade_id": "test-q1", "name": "q1", "points": 1.0}


def test_the_dashboard_reads_difficulty_and_discrimination_from_the_gradebook(written: Session) -> None:
    crafted_gradebook(written.dir, "02-disk", POINTS)
    dash = Dashboard(written)
    grading = dash.snapshot()["grading"]
    assert grading["graded"] == 4 and grading["statuses"]["done"] == 4
    by = {q["name"]: q for q in grading["questions"]}
    assert [by[q]["difficulty"] for q in ("q1", "q2", "q3")] == [0.75, 0.5, 0.5]
    rest_q2 = [2, 2, 1, 0]  # q1 + q3 of ann, ben, cat, dan
    assert by["q2"]["discrimination"] == pytest.approx(statistics.correlation([1, 0, 1, 0], rest_q2))
    # dan 0 %, ben and cat 67 %, ann 100 % (the last bin holds its upper end)
    assert [b["trainees"] for b in grading["histogram"]] == [1, 0, 0, 0, 0, 0, 2, 0, 0, 1]
    assert grading["mean_percent"] == pytest.approx(100 * 7 / 12)


# -- the door ------------------------------------------------------------------------------------------------------
def call(port: int, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
         body: bytes | None = None, host: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=body,
                                     headers={**(headers or {}), **({"Host": host} if host else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_only_the_instructors_token_opens_it_and_actions_need_post_and_the_header(written: Session) -> None:
    app = App(written, TEN)
    trainee = written.state.get("alice").token
    assert who(app.token, written.state) == INSTRUCTOR and who(trainee, written.state) == TRAINEE
    assert who("x" + app.token, written.state) == NOBODY and instructor_token(written.state) == app.token  # kept
    with serving(app) as port:
        assert call(port, "/api/data")[0] == 401
        for path in ("/", "/view", "/api/data", "/chart/progress.svg", "/api/jobs"):
            assert call(port, f"{path}?token={trainee}")[0] == 403, path
            assert call(port, path, headers={"X-Dflab-Token": trainee})[0] == 403, path
            assert call(port, f"{path}?token=wrong")[0] == 403, path
            assert call(port, f"{path}?token={app.token}")[0] == 200, path
        status, text = call(port, "/api/data", headers={"Authorization": f"token {app.token}"})
        assert status == 200 and {t["id"] for t in json.loads(text)["trainees"]} == {"alice", "bob", "carol"}
        assert call(port, f"/api/data?token={app.token}", host="evil.example:80")[0] == 403  # rebinding
        # Actions: never a GET, never with the token in the URL, never with a trainee's token.
        assert call(port, f"/api/actions/collect?token={app.token}")[0] == 405
        assert call(port, f"/api/actions/collect?token={app.token}", method="POST", body=b"{}")[0] == 401
        assert call(port, "/api/actions/collect", method="POST", body=b"{}",
                    headers={"X-Dflab-Token": trainee})[0] == 403
        assert call(port, "/api/actions/restart", method="POST", body=b'{"trainee": "mallory"}',
                    headers={"X-Dflab-Token": app.token})[0] == 400
        assert not (written.dir / "submitted").exists()  # nothing above ran
        status, text = call(port, "/api/actions/collect", method="POST", body=b"{}",
                            headers={"X-Dflab-Token": app.token})
        assert status == 202, text
        job = json.loads(text)["job"]["id"]
        while (state := next(j for j in app.actions.jobs() if j.id == job)).state == "running":
            time.sleep(0.1)
        assert state.state == "done" and state.result.startswith("3 collected"), state
        assert (written.dir / "submitted" / "alice" / "02-disk" / "02-disk.ipynb").is_file()
        page = call(port, f"/?token={app.token}")[1]
        assert 'data-trainee="alice"' in page and "<th scope=\"col\">steps done</th>" in page


def test_a_failed_action_is_the_clis_one_line(written: Session) -> None:
    app = App(written, TEN)
    job = app.actions.submit("release-feedback")
    while (state := next(j for j in app.actions.jobs() if j.id == job.id)).state == "running":
        time.sleep(0.1)
    assert state.state == "failed" and "\n" not in state.result and "Traceback" not in state.result, state
    assert state.result.endswith("no course source notebook: was the session started by this dflab?"), state


def test_a_hung_lab_and_a_dead_one_are_told_apart_without_holding_the_view(written: Session) -> None:
    """alice's lab "runs" (this process stands in for it) on a port that accepts and never answers; bob's died."""
    start_time = int(Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19])
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        written.state.update("alice", status="running", url=f"http://127.0.0.1:{hung.getsockname()[1]}/",
                             backend_state={"pid": os.getpid(), "start_time": start_time})
        written.state.update("bob", status="running", url="http://127.0.0.1:9/", backend_state={"pid": 0})
        watcher = Watcher(written, timeout=0.5)
        seen = watcher.refresh()
    assert seen["alice"].state == "running" and seen["alice"].problem.startswith("its server did not answer")
    assert seen["bob"].state == "dead" and seen["carol"].state == "stopped"
    by = {t["id"]: t for t in Dashboard(written, watcher).snapshot()["trainees"]}
    assert by["alice"]["steps_done"] == 1  # read from her workspace instead
    assert by["bob"]["state"] == "dead" and by["alice"]["problem"]


# -- a gradebook at a URL (`--db`) -----------------------------------------------------------------------------------
def dflab_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """`dflab ARGS` through the real entry point (its one-line error handling included): (exit code, out, err)."""
    monkeypatch.setattr(sys, "argv", ["dflab", *args])
    capsys.readouterr()
    code = 0
    try:
        main()
    except SystemExit as exited:
        code = int(exited.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_scores_come_from_the_postgres_gradebook_given_by_url(written: Session, capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    points = {"alice": {"q1": 1, "q2": 1}, "bob": {"q1": 1, "q2": 0}, "carol": {"q1": 0, "q2": 0}}
    with postgres_server("grades") as url:
        crafted_gradebook(written.dir, "02-disk", points, url)
        assert not (written.dir / "gradebook.db").exists()  # nothing of it is in the session's own file
        code, out, err = dflab_main(capsys, monkeypatch, "session", "status", "--session-dir", str(written.dir),
                                    "--db", url, "--json")
        assert code == 0, err
        by = {t["id"]: t for t in json.loads(out)["trainees"]}
        assert [(by[t]["grading"], by[t]["score"], by[t]["max_score"]) for t in ("alice", "bob", "carol")] == [
            ("done", 2.0, 2.0), ("done", 1.0, 2.0), ("done", 0.0, 2.0)]
        code, out, _ = dflab_main(capsys, monkeypatch, "session", "status", "--session-dir", str(written.dir),
                                  "--json")
        assert code == 0 and {t["grading"] for t in json.loads(out)["trainees"]} == {None}  # the file: not graded
        monkeypatch.setattr(cli.console, "width", 250)
        code, out, _ = dflab_main(capsys, monkeypatch, "session", "status", "--session-dir", str(written.dir),
                                  "--db", url)
        assert code == 0 and "graded" in out and "score" in out, out
        bob = next(line for line in out.splitlines() if "│ bob" in line)
        assert "│ done" in bob and " 1/2 │" in bob, out
        app = App(written, TEN, gradebook_url=url)
        with serving(app) as port:
            status, text = call(port, f"/api/data?token={app.token}")
            assert status == 200, text
            grading = json.loads(text)["grading"]
            assert grading["graded"] == 3 and {q["name"]: q["correct"] for q in grading["questions"]} == {
                "q1": 2, "q2": 1}
            page = call(port, f"/?token={app.token}")[1]
            alice = page[page.index('data-trainee="alice"'):]
            assert '<td class="score">2/2</td>' in alice[:alice.index("</tr>")]


def test_an_unreachable_gradebook_url_is_one_line(written: Session, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://grader:secret-pw@127.0.0.1:{port}/grades"
    for command in ("status", "dashboard"):
        args = ["--session-dir", str(written.dir)] if command == "status" else [str(written.dir)]
        code, _, err = dflab_main(capsys, monkeypatch, "session", command, *args, "--db", url)
        assert code != 0 and err.count("\n") == 1 and "Traceback" not in err, err
        assert err.startswith(f"dflab: error: postgresql://grader@127.0.0.1:{port}/grades: cannot reach the "
                              "gradebook:"), err
        assert "secret-pw" not in err
