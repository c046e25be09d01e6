"""``dflab grade``: grade a cohort's submissions of one lab, in parallel and resumably (mounted by dflab/cli.py)."""

from __future__ import annotations

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
              help="Where trainee code runs (default: as the course's nbgrader_config.py says).")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), default=None,
              help="Also write the gradebook (status, score, reason per trainee) to this CSV file.")
@click.option("--feedback", is_flag=True,
              help="Also write each trainee's HTML feedback to feedback/<trainee>/LAB/.")
def grade(lab: str, course_dir: Path, workers: int | None, student: str | None, force: bool, db: str | None,
          sandbox: str | None, csv_path: Path | None, feedback: bool) -> None:
    """Autograde every submission of LAB in the course with nbgrader, N at a time.

    \b
    Submissions are read from submitted/<trainee>/LAB/ (nbgrader's layout).
    Each one is first checked in this process: a file that is not a
    notebook, truncated JSON, more than 50 MiB, a notebook of another lab,
    a trainee not in the gradebook or without evidence is *rejected* with a
    reason and the others are graded. Scores go to nbgrader's gradebook;
    every trainee's status and reason to its dflab_grading_status table.

    \b
    Resumable: the queue lives in <course>/.dflab-grading/. After Ctrl-C,
    a crash or a killed machine, run the same command again: graded
    submissions that did not change are kept, the rest are graded.
      dflab grade 02-disk --course course/              # whole cohort
      dflab grade 02-disk --course course/ --student bob   # re-grade one
      dflab grade 02-disk --course course/ --csv grades.csv --feedback
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from dflab.grading.export import export_csv
    from dflab.grading.service import Coordinator

    err = Console(stderr=True)
    coordinator = Coordinator(course_dir, lab, workers=workers, db=db, sandbox=sandbox, feedback=feedback)
    columns = (TextColumn(f"[bold]grading {lab}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task("", total=None)
        coordinator.on_progress = lambda done, total, row: progress.update(
            task, completed=done, total=total, description=f"{row.student}: {row.status}")
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
        table.add_row(row.student, f"[{colour.get(row.status, 'white')}]{row.status}[/]", score,
                      row.reason or note)
    Console().print(table)
    for trainee, values in report.withheld.items():
        err.print(f"[red]feedback withheld[/red] for {trainee}: it showed {len(values)} answer value(s) "
                  "they did not submit", highlight=False)
    if csv_path:
        lines = export_csv(report.gradebook_url, csv_path, lab)
        err.print(f"wrote {csv_path} ({lines} trainees)", highlight=False)
