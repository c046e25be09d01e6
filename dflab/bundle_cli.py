"""``dflab bundle``: write, verify and load an offline bundle for an air-gapped training room (mounted by cli.py)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

from dflab.bundle import Track
from dflab.errors import EvidenceError

SECRET_ENV = "DFLAB_COURSE_SECRET"
DEFAULT_IMAGE = "dflab/trainee"
DEFAULT_WHEELHOUSE = os.environ.get("DFLAB_WHEELHOUSE", "/var/tmp/dflab-wheelhouse")  # noqa: S108 -- wheelhouse.sh's documented place

console = Console()
err_console = Console(stderr=True)


class _Amount(ProgressColumn):
    """``1.1/1.2 GiB`` for byte tasks, ``3/30`` for counted ones."""

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") != "bytes":
            return Text(f"{task.completed:.0f}/{task.total:.0f}" if task.total else f"{task.completed:.0f}")
        done = task.completed / 2**30
        return Text(f"{done:.2f}/{task.total / 2**30:.2f} GiB" if task.total else f"{done:.2f} GiB")


@contextmanager
def _progress() -> Iterator[Track]:
    """A rich progress display on stderr; yields the hook the bundle functions report to."""
    columns = (TextColumn("{task.description}"), BarColumn(), _Amount(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=False) as progress:

        def track(description: str, total: int | None, unit: str) -> Callable[[int], None]:
            task = progress.add_task(description, total=total, unit=unit)
            return lambda n: progress.update(task, advance=n)

        yield track


class _BundleGroup(click.Group):
    """``dflab bundle OUT ...`` is short for ``dflab bundle create OUT ...``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["create", *args]
        return super().parse_args(ctx, args)


@click.group("bundle", cls=_BundleGroup)
def bundle() -> None:
    """Offline bundle for an air-gapped training room: image, wheelhouse, evidence, keys, lab.

    \b
      dflab bundle OUT --roster roster.csv --lab labs/02-disk [--image IMG] [--wheelhouse DIR]
      dflab bundle verify OUT        re-hash every file against OUT/bundle.json (exit 3 on a mismatch)
      dflab bundle load OUT          verify, then `docker load` the image; prints what to run next
    """


@bundle.command("create")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="CSV roster with an 'id' column: one evidence variant and key each.")
@click.option("--lab", "lab", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Lab directory (its lab.yaml names the scenario).")
@click.option("--image", default=DEFAULT_IMAGE, show_default=True, help="Trainee image to `docker save`.")
@click.option("--wheelhouse", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_WHEELHOUSE,
              show_default=True, help="Wheelhouse made by environments/docker/wheelhouse.sh.")
@click.option("--secret", envvar=SECRET_ENV, default=None,
              help=f"Course secret keying every variant (default: ${SECRET_ENV}, else the public demo secret).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Parallel evidence builds.")
def bundle_create(out: Path, roster: Path, lab: Path, image: str, wheelhouse: Path, secret: str | None,
                  workers: int | None) -> None:
    """Write OUT (a new folder): the image, the wheelhouse, every trainee's evidence and key, the lab.

    Keys go to OUT/keys/, apart from OUT/evidence/: the bundle as a whole is the instructor's.
    Nothing is left behind if anything fails (no engine, image missing, disk full).
    """
    from dflab.bundle import write_bundle
    from dflab.scenario.draw import DEMO_SECRET
    from dflab.session.manager import secret_fingerprint

    if not secret:
        err_console.print(f"[yellow]note:[/yellow] no course secret (--secret or ${SECRET_ENV}): using the public "
                          "demo secret; answers are reproducible by anyone.")
    secret = secret or DEMO_SECRET
    with _progress() as track:
        summary = write_bundle(out, roster, lab, image, wheelhouse, secret, secret_fingerprint(secret),
                               workers=workers, track=track)
    console.print(f"[green]bundle written[/green] {summary.out}: {summary.files} files, "
                  f"{summary.bytes / 2**30:.2f} GiB, image {summary.image} ({summary.image_id[:19]}), "
                  f"{len(summary.trainees)} trainees", highlight=False)


@bundle.command("verify")
@click.argument("bundle_dir", type=click.Path(path_type=Path))
def bundle_verify(bundle_dir: Path) -> None:
    """Re-hash every file in BUNDLE_DIR against its bundle.json; exit 3 on any mismatch."""
    from dflab.bundle import verify_bundle

    with _progress() as track:
        problems = verify_bundle(bundle_dir, track)
    if problems:
        for p in problems:
            err_console.print(f"[red]MISMATCH[/red] {bundle_dir / p.path}: {p.problem}", highlight=False,
                              soft_wrap=True)
        raise EvidenceError(f"{len(problems)} file(s) do not match bundle.json", str(bundle_dir))
    console.print(f"[green]verified[/green] {bundle_dir}: every file matches bundle.json", highlight=False)


@bundle.command("load")
@click.argument("bundle_dir", type=click.Path(path_type=Path))
def bundle_load(bundle_dir: Path) -> None:
    """Verify every hash in BUNDLE_DIR, then `docker load` its image; needs no network.

    A damaged bundle loads nothing. Installs nothing either: the commands to run next are printed.
    """
    from dflab.bundle import load_bundle, next_steps

    with _progress() as track:
        manifest = load_bundle(bundle_dir, track)
    console.print(f"[green]loaded[/green] {manifest['image']['ref']} ({manifest['image']['id'][:19]}) "
                  f"for {len(manifest['trainees'])} trainees; next:", highlight=False)
    for step in next_steps(bundle_dir, manifest):
        console.print(f"  {step}", highlight=False, markup=False, soft_wrap=True)
