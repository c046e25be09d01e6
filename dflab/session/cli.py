"""``dflab session``: run a cohort's lab environments (mounted by dflab/cli.py).

Every command reads and updates the session directory's state, so each can be re-run: after a
crash, after a reboot, or just to be sure.
"""

from __future__ import annotations

import signal
import time
from datetime import timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from dflab.checker.process import CheckerStatus
from dflab.dashboard.progress import DEFAULT_STUCK_MINUTES
from dflab.errors import DflabError
from dflab.session.collect import NO_WORK, NOT_COLLECTED, tally
from dflab.session.manager import READY_TIMEOUT, Outcome, Session, check_isolation

SECRET_ENV = "DFLAB_COURSE_SECRET"
DEFAULT_IMAGE = "dflab/trainee"

console = Console()
err_console = Console(stderr=True)

session_dir_option = click.option(
    "--session-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("dflab-session"),
    show_default=True, help="Where the session keeps its state, evidence and access list.")
timeout_option = click.option("--timeout", type=click.FloatRange(1, 3600), default=READY_TIMEOUT, show_default=True,
                              help="Seconds to wait for each lab server to answer with its token.")


@click.group("session")
def session() -> None:
    """Run one isolated JupyterLab per trainee, each with their own evidence variant.

    \b
      dflab session start --lab labs/LAB --roster roster.csv [--backend docker] [--serve]
        (LAB: a folder of labs/, e.g. the disk lab; `ls labs` lists them)
      dflab session status [--json]
      dflab session dashboard   (the instructor's live view, in a browser)
      dflab session collect
      dflab session release-feedback   (after `dflab grade`)
      dflab session restart alice
      dflab session stop [--purge]
    """


def _outcome_table(title: str, outcomes: list[Outcome]) -> Table:
    table = Table(title=title)
    for column in ("trainee", "state", "action", "url", "detail"):
        table.add_column(column, overflow="fold")
    for o in outcomes:
        table.add_row(o.trainee, o.status, o.action, o.url or "", o.detail)
    return table


# What became of the instant checker, in words of its own: "started" and "kept" in the output are the labs'.
_CHECKER_SAYS = {"started": "listening", "kept": "already listening", "restarted": "listening again",
                 "running": "listening", "not needed": "not needed (no trainees)"}


def _checker_line(label: str, checked: CheckerStatus) -> str:
    """``checker   listening (pid 4242, 3 trainees)``: the instant checker's state after a command."""
    served = f"{checked.trainees} trainee{'s' * (checked.trainees != 1)}"
    return f"{label}{_CHECKER_SAYS.get(checked.action, checked.action)}" + \
        (f" (pid {checked.pid}, {served})" if checked.running else "")


def _fail_on(outcomes: list[Outcome]) -> None:
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        raise DflabError(f"{len(failed)} lab(s) failed to start: "
                         + "; ".join(f"{o.trainee}: {o.detail}" for o in failed))


@session.command("start")
@click.option("--lab", "lab", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Lab directory (lab.yaml: id, scenario, notebook, source); trainees get nbgrader's released copy.")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV roster with an 'id' column: one lab environment each; trainees no longer listed are stopped.")
@click.option("--backend", type=click.Choice(["local", "docker"]), default="local", show_default=True,
              help="local: one JupyterLab process per trainee (each confined as a uid of its own when dflab runs as "
                   "root); docker: one confined container each.")
@click.option("--scenario", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Run the lab on this case (a scenario spec) instead of the one its lab.yaml names; it must hold "
                   "the roles the lab requires (e.g. labs/scenarios/kestrel.yaml).")
@session_dir_option
@click.option("--image", default=DEFAULT_IMAGE, show_default=True, help="Trainee image (docker backend).")
@click.option("--secret", envvar=SECRET_ENV, default=None,
              help=f"Course secret keying every variant (default: ${SECRET_ENV}, else the public demo secret).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Parallel evidence builds.")
@click.option("--purge", is_flag=True, help="Also delete the workspaces of trainees the roster no longer lists.")
@click.option("--serve", is_flag=True,
              help="Print each trainee's link, keep serving until Ctrl-C, then stop the session (workspaces kept).")
@click.option("--practice", is_flag=True,
              help="Local backend: allow several trainees even where their labs cannot be isolated (not root, no "
                   "namespaces): each can then read the others' work and every key. Never for graded work.")
@timeout_option
def session_start(lab: Path, roster: Path, backend: str, scenario: Path | None, session_dir: Path, image: str,
                  secret: str | None, workers: int | None, purge: bool, serve: bool, practice: bool,
                  timeout: float) -> None:
    """Make the session an nbgrader course, build each trainee's evidence, start their labs, write the access list.

    Re-running it adds new roster lines, stops the labs of trainees no longer listed and starts stopped
    labs; running ones are kept and labs that died are left to `dflab session restart` (so nobody is
    restarted behind their back).
    """
    from dflab.roster import read_roster
    from dflab.scenario.draw import DEMO_SECRET
    from dflab.session.lab import load_lab

    trainees = read_roster(roster)  # a bad line stops here, before anything is created
    load_lab(lab, scenario)  # so does a bad lab directory, or a case that lacks what the lab needs
    if notice := check_isolation(backend, len(trainees), practice):  # and so do trainees this host cannot keep apart
        err_console.print(f"[yellow]note:[/yellow] {notice}", highlight=False, soft_wrap=True)
    if not secret:
        err_console.print(f"[yellow]note:[/yellow] no course secret (--secret or ${SECRET_ENV}): using the public "
                          "demo secret; answers are reproducible by anyone.")
    secret = secret or DEMO_SECRET
    s = Session(session_dir)
    lab_info = s.configure(backend, lab, image, secret, scenario)
    s.add_trainees(trainees, secret)
    s.backend().preflight()  # no engine, no image: one line before any evidence is built
    # Evidence variants are built while the course (gradebook, released notebook, handout) is prepared beside
    # them; each lab starts once the handout exists and its trainee's variant is done (an "evidence <trainee>"
    # line each).
    if not s.unbuilt_evidence():
        err_console.print("evidence  up to date", highlight=False)
    outcomes = s.start(timeout, [t.id for t in trainees], purge, secret=secret, workers=workers,
                       on_evidence=lambda t: err_console.print(f"evidence  {t}", highlight=False),
                       before_labs=lambda: s.prepare_course(lab_info, roster, secret, workers, build_evidence=False),
                       on_checker=lambda c: err_console.print(_checker_line("checker   ", c), highlight=False))
    console.print(_outcome_table(f"session {s.dir} ({backend})", outcomes))
    console.print(f"access list: {s.dir / 'access.csv'} (links include tokens: hand each only to its trainee)")
    _fail_on(outcomes)
    if serve:
        _serve(s)


def _serve(s: Session) -> None:
    """Print the links, wait for Ctrl-C (or SIGTERM), then stop every lab; workspaces are kept."""
    for trainee, url in s.access_links().items():
        click.echo(f"{trainee}: {url}")
    click.echo(f"serving; press Ctrl-C to stop (work is kept; `dflab session start` with the same options resumes; "
               f"evidence in {s.dir / 'evidence'})")

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
    try:
        outcomes = s.stop()
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    console.print(_outcome_table(f"session {s.dir} stopped", outcomes))


@session.command("collect")
@session_dir_option
def session_collect(session_dir: Path) -> None:
    """Copy each trainee's lab folder into submitted/<trainee>/<lab>/ (nbgrader's layout) for `dflab grade`.

    Works while labs run and after `stop`. Each submission gets timestamp.txt and dflab-collect.json
    (SHA-256 of every file, when, from where); an unchanged folder is not collected again.
    """
    s = Session.existing(session_dir)
    results = s.collect()
    table = Table(title=f"collected into {s.dir / 'submitted'}")
    for column in ("trainee", "status", "files", "timestamp"):
        table.add_column(column)
    for c in results:
        table.add_row(c.trainee, c.status if not c.reason else f"{c.status}: {c.reason}",
                      str(c.files) if c.status not in (NO_WORK, NOT_COLLECTED) else "", c.timestamp)
    console.print(table)
    console.print(tally(results), highlight=False)
    refused = [c for c in results if c.status == NOT_COLLECTED]
    if refused:  # the others were collected; the exit status and one line say who was not, and why
        more = f" ({len(refused) - 1} more not collected: {', '.join(c.trainee for c in refused[1:])})" \
            if len(refused) > 1 else ""
        raise DflabError(refused[0].reason + more)


@session.command("release-feedback")
@session_dir_option
def session_release_feedback(session_dir: Path) -> None:
    """After `dflab grade`: write each trainee's feedback into their workspace (feedback/<lab>.md).

    Each step's questions by title, right or not (never a value), and what the step teaches; written as the
    trainee, atomically; re-running rewrites the same file. Docker labs must be running.
    """
    from dflab.session.feedback import release_feedback

    results = release_feedback(session_dir)
    table = Table(title=f"feedback of session {session_dir}")
    for column in ("trainee", "status", "detail"):
        table.add_column(column)
    for r in results:
        table.add_row(r.trainee, r.status, r.detail)
    console.print(table)
    if problems := [f"{r.trainee}: {r.detail}" for r in results if r.status in ("held back", "failed")]:
        raise DflabError("; ".join(problems), str(session_dir))


stuck_option = click.option("--stuck-after", type=click.FloatRange(0.1, 24 * 60), default=DEFAULT_STUCK_MINUTES,
                            show_default=True, metavar="MINUTES",
                            help="A running trainee with no answer done for this long is flagged stuck.")


gradebook_option = click.option(
    "--db", "gradebook_url", default=None, metavar="URL",
    help="The gradebook `dflab grade --db URL` wrote, e.g. postgresql://user@host:5432/grades (default: the "
         "session's gradebook.db). Not remembered: give it each time, as to `dflab grade`.")


@session.command("status")
@session_dir_option
@stuck_option
@gradebook_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table (for scripts).")
def session_status(session_dir: Path, stuck_after: float, gradebook_url: str | None, as_json: bool) -> None:
    """Every trainee's lab (health, CPU, memory), progress (steps done, last activity, stuck), instant checks and,
    once graded, grading status and score (from the session's gradebook, or --db's).

    Progress is what `dflab session dashboard` shows: steps whose answers the saved notebook records or an
    instant check found right, and the Jupyter server's last activity (each lab asked with a bounded wait).
    """
    import json

    from dflab.dashboard.grades import GradebookSource
    from dflab.dashboard.live import Watcher
    from dflab.dashboard.snapshot import Dashboard

    s = Session.existing(session_dir)
    if gradebook_url is not None:  # a gradebook asked for by URL that does not answer is the command's error
        GradebookSource(s.dir, gradebook_url).graded()
    health = {h.trainee: h for h in s.status()}
    try:
        watcher = Watcher(s)
        watcher.refresh()
        dashboard = Dashboard(s, watcher, timedelta(minutes=stuck_after), gradebook_url)
        view = {t["id"]: t for t in dashboard.snapshot()["trainees"]}
    except DflabError as exc:  # e.g. the lab folder moved: health and checks are still worth showing
        err_console.print(f"[yellow]note:[/yellow] no progress shown: {exc}", highlight=False, soft_wrap=True)
        view = {}
    checks: dict[str, list[int]] = {}  # trainee -> [answers checked, answers found right, tries]
    for tried in s.state.attempt_summary():
        counts = checks.setdefault(tried.trainee, [0, 0, 0])
        counts[0] += 1
        counts[1] += tried.solved_at is not None
        counts[2] += tried.tries
    checked = s.checker_status()
    problems = s.problems()
    if as_json:
        trainees = [{"id": h.trainee, **view.get(h.trainee, {}), "state": h.state, "url": h.url, "lang": h.lang,
                     "checks": dict(zip(("answers", "right", "tries"), checks.get(h.trainee, (0, 0, 0)), strict=True)),
                     "cpu_percent": h.stats.cpu_percent if h.stats else None,
                     "memory_bytes": h.stats.memory_bytes if h.stats else None} for h in health.values()]
        click.echo(json.dumps({"session": str(s.dir), "lab": s.lab_id, "stuck_after_minutes": stuck_after,
                               "trainees": trainees, "checker": {"running": checked.running, "pid": checked.pid},
                               "problems": problems}, indent=2, sort_keys=True))
    else:
        table = Table(title=f"session {session_dir}")
        right = ("CPU %", "memory", "checks", "steps")
        right = (*right, "score")
        for column in ("trainee", "state", "url", "CPU %", "memory", "checks", "steps", "last activity", "stuck",
                       "graded", "score"):
            table.add_column(column, justify="right" if column in right else "left")
        for h in health.values():
            t = view.get(h.trainee)
            answers, solved, tries = checks.get(h.trainee, (0, 0, 0))
            score = f"{t['score']:g}/{t['max_score']:g}" if t and t["score"] is not None and t["max_score"] else ""
            progress = (f"{t['steps_done']}/{t['steps_total']}", (t["last_activity"] or "").replace("T", " "),
                        "stuck" if t["stuck"] else "", t["grading"] or "", score) if t else ("",) * 5
            table.add_row(h.trainee, h.state, h.url or "", f"{h.stats.cpu_percent:.1f}" if h.stats else "",
                          f"{h.stats.memory_bytes / 2**20:.0f} MiB" if h.stats else "",
                          f"{solved}/{answers} right, {tries} tries" if tries else "", *progress)
        console.print(table)
        console.print(_checker_line("instant checker: ", checked), highlight=False)
    if problems:
        raise DflabError("; ".join(problems), str(session_dir))


@session.command("dashboard")
@click.argument("session_dir", metavar="[SESSION]", required=False, default=Path("dflab-session"),
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0: any free one).")
@stuck_option
@gradebook_option
def session_dashboard(session_dir: Path, port: int, stuck_after: float, gradebook_url: str | None) -> None:
    """Serve the instructor's live view of the session on 127.0.0.1 until Ctrl-C (SESSION: default dflab-session).

    Per trainee: lab state, last activity, steps done, checks and hints, stuck, collected, graded and score; per
    step: how many are past it and the time it took; after grading: the score distribution and each question's
    difficulty and discrimination. Collect, Grade, Release feedback and Restart run from the page. The link printed
    holds the session's instructor token: a trainee's token is refused. With --db the scores come from that
    gradebook and the Grade button writes to it (as `dflab grade --db`).
    """
    from dflab.dashboard.server import App, serve

    app = App(Session.existing(session_dir), timedelta(minutes=stuck_after), gradebook_url=gradebook_url)
    app.dashboard.check_gradebook()

    def listening(bound: int) -> None:
        click.echo(f"dashboard: http://127.0.0.1:{bound}/?token={app.token}")
        click.echo("the link holds the instructor's token: keep it to yourself; Ctrl-C stops the dashboard")

    try:
        serve(app, port, listening)
    except OSError as exc:
        raise DflabError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", "--port") from None
    except KeyboardInterrupt:
        pass


@session.command("restart")
@click.argument("trainee")
@session_dir_option
@timeout_option
def session_restart(trainee: str, session_dir: Path, timeout: float) -> None:
    """Restart one trainee's lab (their workspace is kept), e.g. after it died."""
    outcome = Session.existing(session_dir).restart(trainee, timeout)
    console.print(_outcome_table(f"session {session_dir}", [outcome]))
    _fail_on([outcome])


@session.command("stop")
@session_dir_option
@click.option("--purge", is_flag=True, help="Also delete every workspace (trainees' saved work is lost).")
def session_stop(session_dir: Path, purge: bool) -> None:
    """Stop every trainee's lab; workspaces are kept unless --purge, so `start` resumes where they were."""
    outcomes = Session.existing(session_dir).stop(purge)
    console.print(_outcome_table(f"session {session_dir}", outcomes))
