"""``dflab grade``: grade a cohort's submissions of one lab, in parallel and resumably (mounted by dflab/cli.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("grade")
@click.argument("lab")
@click.option("--course", "course_dir", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="The course directory made by `dflab course init`.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Submissions graded at once (default: number of cores).")
@click.option("--student", default=None, help="Re-grade this one trainee now, even if already graded.")
@click.option("--force", is_flag=True, help="Re-grade every submission, even those graded and unchanged.")
@click.option("--db", default=None, metavar="URL",
              help="Gradebook database (default: the course's gradebook.db), e.g. "
                   "postgresql://user:pass@host:5432/grades. Students and the lab are copied into it.")
@click.option("--sandbox", type=click.Choice(["auto", "docker", "local"]), default=None,
              help="Where trainee code runs (default: as the course's nbgrader_config.py says). auto: Docker "
                   "when an engine answers and has the trainee image, else local (with a notice).")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None,
              help="Also write the gradebook to this CSV file: status, score and reason per trainee, then one column "
                   "per question (named by the answer it records) with its points.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as one JSON object (the CSV's columns and rows) instead of the table.")
@click.option("--feedback", is_flag=True,
              help="Also write each trainee's HTML feedback to feedback/<trainee>/LAB/.")
def grade(lab: str, course_dir: Path, workers: int | None, student: str | None, force: bool, db: str | None,
          sandbox: str | None, csv_path: Path | None, as_json: bool, feedback: bool) -> None:
    """Autograde every submission of LAB in the course with nbgrader, N at a time.

    \b
    Submissions are read from submitted/<trainee>/LAB/ (nbgrader's layout;
    `dflab session collect` writes it). Each one is first checked in this
    process and *rejected* with a reason, while the others are graded, when
    it is not plain files (a symbolic link, a file hard-linked outside it, a
    pipe, device or socket), not a notebook (bad UTF-8, truncated or invalid
    JSON), another lab's notebook, over a limit (50 MiB in all, 1,000 cells,
    JSON nested 64 deep, 2 MiB of sources, 20 MiB of saved outputs: see
    dflab/grading/validate.py; a lab whose trainees hand in files may allow
    more in all: grading.hand_in_mib in its lab.yaml), or from a trainee
    not in the gradebook or without evidence. Scores go to nbgrader's gradebook; every trainee's
    status and reason to its dflab_grading_status table.

    \b
    Resumable: the queue lives in <course>/.dflab-grading/. After Ctrl-C,
    a crash or a killed machine, run the same command again: graded
    submissions that did not change are kept, the rest are graded.
      dflab grade 02-disk --course course/              # whole cohort
      dflab grade 02-disk --course course/ --student bob   # re-grade one
      dflab grade 02-disk --course course/ --csv grades.csv --feedback
      dflab grade 02-disk --course course/ --json > grades.json

    \b
    Exit status:
      0  every submission was graded (trainees without one are listed as missing)
      5  some submissions were rejected or failed: see their reasons
      6  nothing to grade: no submission of LAB in submitted/
      2  an error stopped the run (one line says why); 130 interrupted
    """
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from dflab.grading.export import export_csv, export_json
    from dflab.grading.service import EXIT_NOTHING_TO_GRADE, Coordinator

    err = Console(stderr=True)
    coordinator = Coordinator(course_dir, lab, workers=workers, db=db, sandbox=sandbox, feedback=feedback)
    for notice in coordinator.notices:
        err.print(f"note: {notice}", markup=False, highlight=False)
    columns = (TextColumn(f"[bold]grading {lab}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("", total=None)
        coordinator.on_progress = lambda done, total, row: progress.update(
            task, completed=done, total=total, description=escape(f"{row.student}: {row.status}"))
        report = coordinator.run(student=student, force=force)
    table = Table(title=f"{lab}: {report.count('done')} graded, {report.count('rejected')} rejected, "
                        f"{report.count('failed')} failed, {report.count('missing')} missing "
                        f"({report.seconds:.1f} s)")
    for col in ("student", "status", "score", "reason"):
        table.add_column(col, overflow="fold")
    colour = {"done": "green", "rejected": "yellow", "failed": "red", "missing": "dim"}
    for row in report.rows:
        score = f"{row.score:g}/{row.max_score:g}" if row.score is not None and row.max_score is not None else ""
        note = "unchanged, kept" if row.student in report.skipped else ""
        # Names and reasons come from submissions (file names): shown as text, never as rich markup.
        table.add_row(escape(row.student), f"[{colour.get(row.status, 'white')}]{escape(row.status)}[/]", score,
                      escape(row.reason or note))
    if as_json:
        counts = {status: report.count(status) for status in ("done", "rejected", "failed", "missing")}
        result = {**export_json(report.gradebook_url, lab, coordinator.root), "counts": counts,
                  "seconds": round(report.seconds, 1), "exit_code": report.exit_code,
                  "unchanged": sorted(report.skipped), "feedback_withheld": sorted(report.withheld)}
        click.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        Console().print(table)
    for trainee, values in report.withheld.items():
        err.print(f"[red]feedback withheld[/red] for {escape(trainee)}: it showed {len(values)} answer value(s) "
                  "they did not submit", highlight=False)
    if csv_path:
        lines = export_csv(report.gradebook_url, csv_path, lab, coordinator.root)
        err.print(f"wrote {csv_path} ({lines} trainees)", highlight=False)
    if report.exit_code == EXIT_NOTHING_TO_GRADE:
        err.print(f"nothing to grade: no submission of {lab} in {course_dir / 'submitted'}/ (collect them with "
                  "`dflab session collect`)", markup=False, highlight=False)
    sys.exit(report.exit_code)
