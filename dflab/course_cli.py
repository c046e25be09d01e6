"""``dflab course``: set up and inspect an nbgrader course for a cohort (mounted by dflab/cli.py)."""

from __future__ import annotations

from pathlib import Path

import click

SECRET_ENV = "DFLAB_COURSE_SECRET"


@click.group("course")
def course() -> None:
    """Create nbgrader courses whose labs are graded against each trainee's own evidence."""


@course.command("init")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--roster", type=click.Path(path_type=Path), required=True,
              help="CSV roster with an 'id' column (name, email optional): one student and one variant each.")
@click.option("--lab", "lab", required=True, help="Lab id, a folder under labs/ (e.g. 02-disk).")
@click.option("--secret", envvar=SECRET_ENV, default=None,
              help=f"Course secret keying every variant (default: ${SECRET_ENV}, else the public demo secret, "
                   "which anyone can use to rebuild the answers: never for graded sessions).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Parallel evidence builds (default: all cores).")
def course_init(directory: Path, roster: Path, lab: str, secret: str | None, workers: int | None) -> None:
    """Create or update the nbgrader course in DIRECTORY for ROSTER and LAB.

    \b
    Writes nbgrader_config.py (cell timeout, solution stubs, dflab's answer
    checking in autograde), adds the roster's students to the gradebook,
    copies the lab's source notebook, builds each trainee's evidence into
    DIRECTORY/evidence/<trainee>/ and runs `nbgrader generate_assignment`.
    Running it again changes nothing; new roster lines get their evidence.
    """
    from dflab.grading.course import init_course
    from dflab.scenario.draw import DEMO_SECRET

    if not secret:
        click.echo(f"note: no course secret (--secret or ${SECRET_ENV}): using the public demo secret; answers are "
                   "reproducible by anyone.", err=True)
    result = init_course(directory, roster, lab, secret or DEMO_SECRET, workers=workers)
    for path in result.written:
        click.echo(f"wrote     {path}")
    for trainee in result.evidence_built:
        click.echo(f"evidence  {trainee}")
    for trainee in result.students_added:
        click.echo(f"student   {trainee}")
    if result.released:
        click.echo(f"released  release/{lab}/")
    if not (result.written or result.evidence_built or result.students_added or result.released):
        click.echo(f"{result.root}: up to date, nothing changed")
    else:
        click.echo(f"{result.root}: course ready; grade with `dflab grade {lab} --course {result.root}`")
