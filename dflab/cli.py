"""The ``dflab`` command line.

Every user mistake surfaces as one line on stderr (``dflab: error: <where>: <what>``)
and a non-zero exit code; tracebacks are kept for real bugs.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dflab.errors import DflabError
from dflab.evidence.kinds import CASE_KINDS, EVIDENCE_KINDS

console = Console()
err_console = Console(stderr=True)

SECRET_ENV = "DFLAB_COURSE_SECRET"
SECRET_HELP = (f"Course secret that keys every trainee's variant (default: ${SECRET_ENV}, else a public demo "
               "secret: fine for practice, not for graded sessions, since anyone can rebuild the answers).")


class LazyGroup(click.Group):
    """A group whose subcommands in ``LAZY_COMMANDS`` are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module, _, name = LAZY_COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), name), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dflab")
def cli() -> None:
    """dflab: a hands-on digital forensics lab.

    \b
    Evidence is generated from a scenario spec, deterministically, one unique
    variant per trainee, with an answer key:
      dflab scenario validate labs/scenarios/nightjar.yaml
      dflab evidence build labs/scenarios/nightjar.yaml --out build/nightjar --trainee alice
      dflab evidence verify build/nightjar/alice/evidence
    """


# -- scenario -----------------------------------------------------------------------------------------
@cli.group()
def scenario() -> None:
    """Check and inspect scenario specs (the YAML that every piece of evidence derives from)."""


@scenario.command("validate")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--trainee", default="default", show_default=True, help="Also resolve this trainee's variant.")
@click.option("--secret", envvar=SECRET_ENV, default=None, help=SECRET_HELP)
@click.option("--lab", "labs", multiple=True, metavar="LAB",
              help="Check SPEC against this lab (a bundled lab's id or a lab folder; repeatable) instead of every "
                   "bundled lab whose lab.yaml names SPEC's scenario.")
def scenario_validate(spec: Path, trainee: str, secret: str | None, labs: tuple[str, ...]) -> None:
    """Validate SPEC against the schema and resolve one variant; print what it plans.

    Then check it against the labs that use it: every role a lab's lab.yaml requires (volumes.root,
    files.payload, hosts.c2 ...) and every answer its grader reads must be in SPEC, as the lab needs it.
    Errors name the file, line and field (e.g. `nightjar.yaml:87: disk.files[5].mode: ...`), one line each.
    """
    from dflab.errors import SpecError
    from dflab.lab_requires import find_lab, lab_platform, lab_problems, labs_for
    from dflab.scenario.draw import DEMO_SECRET, variant_seed
    from dflab.scenario.load import load_spec, platform_of
    from dflab.scenario.resolve import resolve
    from dflab.scenario.spec import WindowsSpec
    from dflab.scenario.workstation import plan_rows, resolve_workstation

    s = load_spec(spec)
    lab_dirs = [find_lab(lab) for lab in labs] if labs else labs_for(s.scenario)
    for lab_dir in lab_dirs:  # a lab of the other platform lacks everything: say that once, not role by role
        if (wanted := lab_platform(lab_dir)) not in (None, platform_of(s)):
            raise SpecError(f"lab {lab_dir.name} reads a {wanted} case and {Path(spec).name} is a {platform_of(s)} "
                            f"one: choose a {wanted} scenario", "--lab")
    table = Table(title=f"{s.scenario} v{s.version}: {s.title}", show_lines=False)
    table.add_column("evidence")
    table.add_column("planned", overflow="fold")
    if isinstance(s, WindowsSpec):
        for row in plan_rows(resolve_workstation(s, variant_seed(secret or DEMO_SECRET, s.scenario, trainee), trainee)):
            table.add_row(*row)
    else:
        _linux_rows(table, resolve(s, variant_seed(secret or DEMO_SECRET, s.scenario, trainee), trainee))
    console.print(table)
    console.print(f"[green]ok[/green] {spec} is valid (variant {trainee!r} resolved)")
    if not lab_dirs:
        console.print(f"no bundled lab uses scenario {s.scenario!r} (check it against one with --lab)")
        return
    problems = {d.name: lab_problems(d, s, str(spec)) for d in lab_dirs}
    for line in (line for lines in problems.values() for line in lines):
        err_console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
    if failed := [name for name, lines in problems.items() if lines]:
        raise SpecError(f"{sum(map(len, problems.values()))} problem(s) above: lab(s) {', '.join(failed)} cannot run "
                        "on this spec", str(spec))
    console.print(f"[green]ok[/green] {spec} has every role and answer lab(s) {', '.join(problems)} require")


def _linux_rows(table: Table, case: Any) -> None:
    """What ``scenario validate`` shows of a Linux variant."""
    from dflab.scenario.draw import iso

    deleted = [f.path for f in case.disk.files if f.deleted_at]
    table.add_row("disk", f"{case.disk.table.upper()} {case.disk.size_bytes // 2**20} MiB; "
                  + ", ".join(f"{v.fs} '{v.label}' {v.size_bytes // 2**20} MiB" for v in case.disk.volumes)
                  + f"; {len(case.disk.files)} files, deleted: {', '.join(deleted) or 'none'}"
                  + (f"; + disk.E01 acquired {iso(case.disk.e01.acquired_at)}" if case.disk.e01 else ""))
    story = [p for p in case.memory.processes if p.pid in dict(case.facts['process_ids']).values()]
    table.add_row("memory", f"{case.memory.size_bytes // 2**20} MiB, {len(case.memory.processes)} processes; story: "
                  + ", ".join(f"{p.comm}({p.pid}{', hidden' if p.hidden else ''})" for p in story))
    n = case.network
    mail = f", {len(n.smtp)} SMTP, {len(n.imap)} IMAP" if n.smtp or n.imap else ""
    table.add_row("network", f"{len(n.dns)} DNS, {len(n.http)} HTTP, {len(n.ftp)} FTP, {len(n.raw)} raw{mail} flows "
                  f"+ {n.noise_packets} background packets")
    table.add_row("timeline", f"{len(case.timeline)} events")


@scenario.command("new")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Write NAME.yaml here (created if missing). Default: labs/scenarios/ when the current directory "
                   "has one (a dflab checkout or course tree, where labs find their case), else the current "
                   "directory.")
@click.option("--force", is_flag=True, help="Replace an existing NAME.yaml.")
def scenario_new(name: str, directory: Path | None, force: bool) -> None:
    """Write NAME.yaml: a commented starting spec for a new case, valid as written.

    \b
    A small case to edit into yours: one suspect host, a user, a short
    timeline, a disk with a root volume and a few files, memory, network,
    per-trainee variables and named answers; the comments say what each
    field means and which values it allows. NAME is the scenario's id:
    a lowercase letter, then lowercase letters, digits, '-' or '_'.
    Example, then what to do next:
      dflab scenario new plover
      dflab scenario validate labs/scenarios/plover.yaml
      dflab evidence build labs/scenarios/plover.yaml --out build/plover --trainee alice --trainee bob
    Guide: docs/authoring-scenarios.md. (`dflab lab check`, which proves a
    lab on your case, is coming.)
    """
    from rich.markup import escape

    from dflab.scenario.new import write_starter

    path = write_starter(name, directory, force=force)
    console.print(f"[green]wrote[/green] {escape(str(path))}: a starting spec for scenario {name!r} (valid as written)",
                  highlight=False, soft_wrap=True)
    console.print(f"next: dflab scenario validate {path}\n"
                  f"      dflab evidence build {path} --out build/{name} --trainee alice --trainee bob",
                  highlight=False, markup=False, soft_wrap=True)


# -- evidence -----------------------------------------------------------------------------------------
@cli.group()
def evidence() -> None:
    """Build evidence variants and verify them against their hash manifests."""


@evidence.command("build")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Output directory; each trainee's build goes to OUT/<trainee>/.")
@click.option("--trainee", "trainees", multiple=True, help="Trainee id (repeatable). Default: 'default'.")
@click.option("--roster", type=click.Path(path_type=Path), help="CSV roster with an 'id' column: one variant each.")
@click.option("--secret", envvar=SECRET_ENV, default=None, help=SECRET_HELP)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Parallel builds (default: all cores).")
@click.option("--force", is_flag=True, help="Replace existing builds (the old one is kept until the new is complete).")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(EVIDENCE_KINDS),
              help="Build only this kind of evidence (repeatable; default: disk, memory and network). The disk is "
                   "always built: answer keys name its layout. materials: what the labs' hooks derive from the "
                   "case (a court file to review), only when asked.")
def evidence_build(spec: Path, out: Path, trainees: tuple[str, ...], roster: Path | None, secret: str | None,
                   workers: int | None, force: bool, kinds: tuple[str, ...]) -> None:
    """Generate disk, memory and network evidence plus the answer key for each trainee.

    \b
    The same SPEC, secret and trainee id always give byte-identical files
    (compare the manifests). Layout of OUT/<trainee>/:
      evidence/  disk.img (+ disk.E01 if the spec sets disk.e01), memory.lime (+ .raw), symbols/,
                 network.pcap(ng), manifest.json
      key/       answer_key.json  (instructors only: never hand this to trainees)
    """
    from dflab.atomic import ensure_writable_dir
    from dflab.evidence.build import build_cohort
    from dflab.roster import check_trainee_id, read_roster
    from dflab.scenario.draw import DEMO_SECRET
    from dflab.scenario.load import load_spec

    names = [check_trainee_id(t, "--trainee") for t in trainees]
    if roster:
        names += [t.id for t in read_roster(roster)]
    names = list(dict.fromkeys(names)) or ["default"]
    load_spec(spec)
    ensure_writable_dir(out)
    if not secret:
        err_console.print(f"[yellow]note:[/yellow] no course secret (--secret or ${SECRET_ENV}): using the public "
                          "demo secret; answers are reproducible by anyone.")
    columns = (TextColumn("[bold]building evidence"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.description}"))
    with Progress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task("", total=len(names))
        results = build_cohort(spec, secret or DEMO_SECRET, names, out, workers=workers, force=force,
                               on_done=lambda r: progress.update(task, advance=1, description=r.variant),
                               kinds=kinds or CASE_KINDS)
    table = Table(title=f"evidence built in {out}")
    for col in ("trainee", "manifest sha256", "seconds", "on disk"):
        table.add_column(col)
    for r in results:
        table.add_row(r.variant, r.manifest_sha256[:16] + "…", f"{r.seconds:.2f}", f"{r.bytes_written / 2**20:.1f} MiB")
    console.print(table)


@evidence.command("verify")
@click.argument("evidence_dir", type=click.Path(path_type=Path))
def evidence_verify(evidence_dir: Path) -> None:
    """Re-hash every file in EVIDENCE_DIR against its manifest.json; exit 3 on any mismatch.

    Run it before and after analysis: it is the integrity check of ISO/IEC 27037.
    """
    from dflab.errors import EvidenceError
    from dflab.evidence.manifest import verify

    if (evidence_dir / "evidence").is_dir() and not (evidence_dir / "manifest.json").exists():
        evidence_dir = evidence_dir / "evidence"
    problems = verify(evidence_dir)
    if problems:
        for p in problems:
            err_console.print(f"[red]MISMATCH[/red] {evidence_dir / p.path}: {p.problem}", highlight=False,
                              soft_wrap=True)  # one line per file, however long its path (grep, logs)
        raise EvidenceError(f"{len(problems)} file(s) do not match the manifest", str(evidence_dir))
    console.print(f"[green]verified[/green] {evidence_dir}: every file matches manifest.json", highlight=False,
                  soft_wrap=True)


# Command groups that live beside their feature, imported only when named: session, grade and course pull in
# nbgrader, the docker SDK and JupyterHub (seconds of imports), which `dflab evidence build` or `--help` must
# not pay for. Click's documented lazy-group pattern.
LAZY_COMMANDS = {
    "bundle": "dflab.bundle_cli:bundle",
    "course": "dflab.course_cli:course",
    "grade": "dflab.grade_cli:grade",
    "hub": "dflab.hub.cli:hub",
    "lab": "dflab.lab_cli:lab",
    "live": "dflab.live.cli:live",
    "session": "dflab.session.cli:session",
}


def main() -> None:
    """Entry point: run the CLI, turning user errors into one line and an exit code."""
    try:
        cli.main(standalone_mode=False)
    except DflabError as exc:
        err_console.print(f"dflab: error: {exc}", markup=False, highlight=False, emoji=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        err_console.print("dflab: aborted", highlight=False)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("dflab: interrupted; nothing half-written was left behind", highlight=False)
        sys.exit(130)
    except BrokenPipeError:
        os._exit(1)
    except OSError as exc:
        # The docker SDK talks HTTP through requests: an engine that stops mid-command surfaces as
        # requests' ConnectionError (an OSError), not as a docker error. That is an outage, not a bug.
        if not type(exc).__module__.startswith(("requests", "urllib3")):
            raise
        err_console.print(f"dflab: error: docker backend: the Docker engine stopped answering ({exc}); "
                          "nothing is lost: start it again and re-run the command", markup=False, highlight=False,
                          emoji=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
