"""``dflab session release-feedback``: each trainee's graded result, question by question, into their workspace.

nbgrader's own feedback is the autograded notebook as HTML, kept on the instructor's disk and naming each question
"Test cell". What a trainee gets here is written for them: per step of lab.yaml its title, per answer its label and
whether it was right (full points on its test cell) or not, and the step's explanation. No value is written: neither
the key's nor the trainee's, and not the grader's reason (which can quote what was typed). Each file is still checked
against every answer value of the trainee's key before it leaves (:func:`leaked_values`), as ``dflab grade`` checks
nbgrader's feedback: a value in it means a lab.yaml that spells one, and that trainee's feedback is held back.

The file is ``feedback/<lab>.md`` in the workspace (JupyterLab renders Markdown), written as the trainee:

* local labs: the workspace folder is opened by this process without following links, and a child running as the
  trainee's uid (under the no-ptrace filter, as every process of that uid) writes through that descriptor, so root
  never writes into a folder the trainee controls and a planted link leads nowhere;
* Docker labs: through the trainee's running lab container (``Backend.exec``), as its user; a lab that does not run
  is reported in one line (start the session again to release its feedback).

Each write is atomic (a temporary file beside it, renamed) and re-running writes the same bytes. Every trainee-facing
string is in :data:`MESSAGES`, so that it can move to a gettext catalog as it is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dflab.confine import drop_to
from dflab.errors import DflabError
from dflab.grading import gradebook
from dflab.grading.export import key_values
from dflab.lab_meta import LabMeta, read_lab
from dflab.provision.base import Backend, TraineeEnv
from dflab.session.manager import Session

FEEDBACK_DIR = "feedback"
DOCKER_WORKSPACE = "/home/trainee/work"
WRITE_TIMEOUT = 60.0

MESSAGES = {
    "title": "Feedback: {lab}",
    "score": "Automatic points: {score:g} of {max_score:g}.",
    "right": "✓ right",
    "wrong": "✗ not right",
    "why": "What this step teaches",
    "manual": "Graded by your instructor.",
    "not_graded": "Your work for this lab was not graded.",
}

# Writes stdin to <fd>/<folder>/<name> atomically, following no link: run as the trainee (dir fd inherited).
WRITER = r"""
import os, sys
base, folder, name = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = sys.stdin.buffer.read() if len(sys.argv) < 5 else os.environ[sys.argv[4]].encode()
try:
    os.mkdir(folder, 0o755, dir_fd=base)
except FileExistsError:
    pass
here = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=base)
tmp = f".{name}.{os.getpid()}.tmp"
out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=here)
try:
    with os.fdopen(out, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, name, src_dir_fd=here, dst_dir_fd=here)
except BaseException:
    os.unlink(tmp, dir_fd=here)
    raise
"""
DOCKER_WRITER = WRITER.replace("base, folder, name = int(sys.argv[1]),",
                               "base, folder, name = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY),")
CONTENT_ENV = "DFLAB_FEEDBACK"


@dataclass(frozen=True)
class Released:
    """What release-feedback did for one trainee: ``written``, or the one line saying why not."""

    trainee: str
    status: str  # written, not graded, held back, failed
    detail: str = ""


def answer_cells(source: Path) -> dict[str, str]:
    """Grade id -> the answer its test cell records (``answer('name', ...)``), from the instructor's notebook."""
    nb = nbformat.read(source, as_version=4)
    out: dict[str, str] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            if found := re.search(r"""\banswer\(\s*['"]([a-z][a-z0-9_]*)['"]""", cell.source):
                out[meta["grade_id"]] = found.group(1)
    return out


def points(source: Path) -> dict[str, float]:
    nb = nbformat.read(source, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"].get("points", 0))
            for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")}


def render(meta: LabMeta, verdicts: dict[str, bool], score: tuple[float, float]) -> str:
    """One trainee's feedback as Markdown: steps in order, each answer's label and verdict, the explanation."""
    lines = [f"# {MESSAGES['title'].format(lab=meta.title)}", "",
             MESSAGES["score"].format(score=score[0], max_score=score[1]), ""]
    for number, step in enumerate(meta.steps, 1):
        lines += [f"## {number}. {step.title}", ""]
        for name in step.answers:
            if name in verdicts:
                label = meta.answers[name].field_label(name)
                lines.append(f"- {label}: {MESSAGES['right' if verdicts[name] else 'wrong']}")
        if not step.answers and any(m.grade_id == step.id for m in meta.grading.manual):
            lines.append(f"- {MESSAGES['manual']}")
        if step.explanation:
            lines += ["", f"**{MESSAGES['why']}:** {step.explanation}"]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def leaked_values(text: str, values: set[str]) -> list[str]:
    """The values found in ``text`` as whole tokens (as typed, or JSON-escaped)."""
    return sorted(v for v in values if re.search(rf"(?<![\w.]){re.escape(v)}(?![\w])", text))


def write_local(workspace: Path, uid: int | None, name: str, data: bytes) -> None:
    """``data`` into ``workspace/feedback/name`` as ``uid`` (None: this process's user, an unconfined lab)."""
    try:
        base = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise DflabError(f"no workspace to write into ({exc.strerror})", str(workspace)) from None
    try:
        python = [sys.executable, "-I", "-c", WRITER, str(base), FEEDBACK_DIR, name]
        command = python if uid is None else [sys.executable, "-I", "-m", "dflab.noptrace", *drop_to(uid), *python]
        done = subprocess.run(command, input=data, capture_output=True, timeout=WRITE_TIMEOUT, pass_fds=(base,),
                              cwd="/", env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
                              check=False)
    finally:
        os.close(base)
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["failed"])[-1]
        raise DflabError(f"could not write the feedback: {last}", str(workspace))


def write_docker(backend: Backend, env: TraineeEnv, name: str, data: bytes) -> None:
    done = backend.exec(env, ["python", "-I", "-c", DOCKER_WRITER, DOCKER_WORKSPACE, FEEDBACK_DIR, name, CONTENT_ENV],
                        {CONTENT_ENV: data.decode("utf-8")})
    if done.code != 0:
        raise DflabError(f"could not write the feedback: {done.last_line()}", env.trainee)


def release_feedback(session_dir: Path) -> list[Released]:
    """Write every graded trainee's feedback into their workspace; one :class:`Released` per trainee."""
    s = Session.existing(session_dir)
    lab_id, lab_dir, notebook = s.lab_id, s.state.get_meta("lab"), s.state.get_meta("notebook")
    if not lab_id or not lab_dir or not notebook:
        raise DflabError("this session has no lab", str(session_dir))
    meta = read_lab(Path(lab_dir))
    source = s.dir / "source" / lab_id / notebook
    if not source.is_file():
        raise DflabError("no course source notebook: was the session started by this dflab?", str(source))
    names, full = answer_cells(source), points(source)
    url = gradebook.default_url(s.dir)
    cells, totals = gradebook.cell_scores(url, lab_id), gradebook.scores(url, lab_id)
    backend = s.backend()
    out = []
    for row in s.state.trainees():
        graded = cells.get(row.id)
        if graded is None:
            out.append(Released(row.id, "not graded", MESSAGES["not_graded"]))
            continue
        verdicts = {names[g]: (score or 0) >= full[g] > 0 for g, score in graded.items() if g in names}
        text = render(meta, verdicts, totals.get(row.id, (0.0, 0.0)))
        try:
            leaked = leaked_values(text, key_values(s.dir, lab_id, row.id))
        except (OSError, ValueError) as exc:
            out.append(Released(row.id, "failed", f"cannot read the answer key: {exc}"))
            continue
        if leaked:
            out.append(Released(row.id, "held back", f"it holds {len(leaked)} answer value(s) of the key: fix the "
                                                      "lab.yaml text that spells them"))
            continue
        name = f"{lab_id}.md"
        try:
            if backend.name == "local":
                write_local(backend.workspace(row.id), s.env(row).state.get("uid"), name,  # type: ignore[attr-defined]
                            text.encode("utf-8"))
            else:
                write_docker(backend, s.env(row), name, text.encode("utf-8"))
        except (DflabError, OSError, subprocess.TimeoutExpired) as exc:
            out.append(Released(row.id, "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            continue
        out.append(Released(row.id, "written", f"{FEEDBACK_DIR}/{name}"))
    return out
