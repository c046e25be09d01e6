"""``dflab lab``: work on a lab as its author (mounted by dflab/cli.py)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click

from dflab.i18n.lang import DEFAULT_LANG, LANGUAGES

EXIT_CHECK_FAILED = 4  # the lab ran, and something it must prove did not hold


@click.group("lab")
def lab() -> None:
    """Check a lab (a folder under labs/) the way a course team changing it needs to."""


@lab.command("check")
@click.argument("lab_id", metavar="LAB")
@click.option("--scenario", "spec", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The case to check the lab on (default: the scenario its lab.yaml names).")
@click.option("--labs", "labs_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The folder holding LAB (default: the bundled labs/).")
@click.option("--sandbox", type=click.Choice(["auto", "docker", "local"]), default="local", show_default=True,
              help="Where the three submissions run (as `dflab grade --sandbox`).")
@click.option("--variants", type=click.IntRange(3, 100), default=12, show_default=True,
              help="Variants built: the first three are graded, all of them measure what copying gains "
                   "(more variants, a closer figure, a longer check).")
@click.option("--keep", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Work in this folder and keep it (the scratch course, its evidence and feedback) instead of "
                   "a temporary one.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
def lab_check(lab_id: str, spec: Path | None, labs_dir: Path | None, sandbox: str, variants: int,
              keep: Path | None, as_json: bool) -> None:
    """Prove LAB on a case: three variants, three real gradings, a leak check.

    \b
    Builds variants of the case in a scratch course and grades three submissions
    with nbgrader in the grading sandbox, exactly as `dflab grade` does:
      solution    the lab's notebook with its solutions       must score every
                                                              autograded point
      released    the notebook trainees receive, untouched    must score 0
      copier      the released notebook filled in with a      must score what the
                  neighbour's answers                         comparisons predict
      copy share  what a neighbour's answers earn, averaged   at most 10 %
                  over every ordered pair of variants
      release     every file trainees receive                 holds no answer value
    and shows how many distinct values the variants drew for each answer.
      dflab lab check 02-disk
      dflab lab check 02-disk --scenario my-case.yaml --keep /tmp/check-02

    \b
    Exit status: 0 everything held; 4 something did not (see the table);
    2 the check could not run (one line says why). Takes a minute or two.
    """
    from rich.console import Console
    from rich.table import Table

    from dflab.lab_meta import REPO, load_lab
    from dflab.labcheck import check_lab

    labs = labs_dir or REPO / "labs"
    case = spec or labs / "scenarios" / f"{load_lab(labs, lab_id).scenario}.yaml"
    err = Console(stderr=True)

    def step(message: str) -> None:
        if not as_json:
            err.print(f"lab check: {message}", markup=False, highlight=False)

    if keep is not None:
        result = check_lab(lab_id, case, keep, labs_dir=labs, sandbox=sandbox, variants=variants, step=step)
    else:
        with tempfile.TemporaryDirectory(prefix="dflab-lab-check-") as work:
            result = check_lab(lab_id, case, Path(work), labs_dir=labs, sandbox=sandbox, variants=variants,
                               step=step)
    if as_json:
        click.echo(json.dumps(result.as_dict(), sort_keys=True))
    else:
        table = Table(title=f"{lab_id} on {case.name}: {'passed' if result.ok else 'FAILED'} ({result.seconds:.0f} s)")
        for col in ("check", "result", "detail"):
            table.add_column(col, overflow="fold")
        for finding in result.findings:
            table.add_row(finding.name, "[green]ok[/]" if finding.ok else "[red]FAILED[/]", finding.detail)
        Console().print(table)
        drawn = Table(title=f"distinct values per answer over {result.variants} variants")
        drawn.add_column("answer")
        drawn.add_column("distinct", justify="right")
        for name, count in result.distinct.items():
            drawn.add_row(name, "graded on a case folder" if count is None else
                          (f"[yellow]{count}[/]" if count == 1 else str(count)))
        Console().print(drawn)
    sys.exit(0 if result.ok else EXIT_CHECK_FAILED)


@lab.command("translate")
@click.argument("lab_id", metavar="LAB")
@click.option("--lang", "langs", multiple=True, type=click.Choice([code for code in LANGUAGES if code != DEFAULT_LANG]),
              help="The language to refresh (repeat for several; default: every language dflab ships).")
@click.option("--labs", "labs_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The folder holding LAB (default: the bundled labs/).")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 4 when a unit of LAB is untranslated or fuzzy in a language (for CI).")
def lab_translate(lab_id: str, langs: tuple[str, ...], labs_dir: Path | None, check: bool) -> None:
    """Refresh LAB's catalogs and say how much of it each language translates.

    \b
    Extracts LAB's text (markdown paragraphs, comments of the code trainees see, lab.yaml's titles, hints,
    explanations and labels) into labs/LAB/locale/lab.pot and merges it into each language's
    labs/LAB/locale/LANG/LC_MESSAGES/lab.po: a changed paragraph becomes fuzzy (its old translation kept as a
    start), a new one empty; neither reaches a release until a translator fills it and clears the fuzzy flag.
    Then prints, per language, the units translated, fuzzy and empty (docs/translating-labs.md).
      dflab lab translate 02-disk
      dflab lab translate 02-disk --lang fr --check
    """
    from rich.console import Console
    from rich.table import Table

    from dflab.errors import DflabError
    from dflab.i18n.catalog import LANGUAGES, progress, update_catalogs
    from dflab.lab_meta import REPO

    lab_dir = (labs_dir or REPO / "labs") / lab_id
    if not lab_dir.is_dir():
        raise DflabError("lab not found", str(lab_dir))
    languages = langs or LANGUAGES
    if not check:
        for path in update_catalogs(lab_dir, languages):
            click.echo(f"wrote {path}")
    rows = [progress(lab_dir, lang) for lang in languages]
    table = Table(title=f"{lab_id}: {rows[0].units} units" if rows else lab_id)
    for column in ("language", "translated", "fuzzy", "empty"):
        table.add_column(column, justify="left" if column == "language" else "right")
    for row in rows:
        table.add_row(row.lang, str(row.translated), str(row.fuzzy), str(row.empty))
    Console().print(table)
    if check and any(row.missing for row in rows):
        sys.exit(EXIT_CHECK_FAILED)
