"""The Docker sandbox: one fresh, confined container per submission, removed afterwards.

The container runs the trainee image (the same software the trainee worked
with) as the one trainee container (dflab.provision.trainee_container), in its
grading variation (``TRAINEE.for_grading()``):

* no network at all (``network_mode=none``), uid 1000, every capability
  dropped, no-new-privileges, read-only root file system with small tmpfs
  ``/tmp`` and home;
* memory (swap included), CPU and pids limits from :class:`Limits`; the
  wall-clock limit (``Limits.wall_s``) is enforced from outside (kill, status
  ``timeout``) and an OOM kill is read from the container's state (status ``oom``);
* mounts: the trainee's evidence read-only at ``/evidence`` (``$DFLAB_EVIDENCE``),
  a private copy of the assignment directory as the notebook's directory,
  the runner's in/out directory, and the runner itself (read-only).  Nothing
  else of the host, so no key, gradebook or other submission is reachable.
  The copy and the in/out directory are the host folders the container writes:
  both are in the run's private folder, which is, when the grader is root, a
  tmpfs of ``base.private_bytes`` (200 MiB with the default output cap) and
  ``base.PRIVATE_INODES`` files (not root: a plain host folder, no limit);
* the runner is the container's PID 1 (started under the image's no-ptrace filter,
  ``trainee_container.SERVE_ARGV``, but not under its tini): a signal from the
  kernel is then only delivered if the runner handles it (it ignores them),
  SIGKILL and SIGSTOP not at all, and no process of the trainee's uid is left
  holding the container's log (what the grader reads when no result came back);
  the runner collects orphans as tini did.

Containers are labelled ``dflab.grading=1`` so a crashed grader's leftovers can
be found (``docker ps -a --filter label=dflab.grading=1``).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import docker
import docker.errors
import requests.exceptions
from docker.types import Mount
from nbformat.notebooknode import NotebookNode

from dflab.engine import connect, engine_errors, timed_out
from dflab.errors import DflabError
from dflab.grading.sandbox import base, runner
from dflab.grading.sandbox.base import NOTEBOOK_IN, NOTEBOOK_OUT, Limits, Sandbox, SandboxResult, read_result, stage
from dflab.provision import trainee_container
from dflab.provision.trainee_container import HOME, TRAINEE_UID

LABEL = "dflab.grading"
DEFAULT_IMAGE = "dflab/trainee:latest"
WORK = f"{HOME}/work"
RUN = "/grading/run"
RUNNER = "/opt/dflab-sandbox/runner.py"


def engine(timeout: int | None = None) -> docker.DockerClient:
    """A connection to the Docker engine (``timeout``: seconds per request, else the configured ones)."""
    return connect("docker sandbox", "start one with `bash environments/docker/engine.sh start` or grade with the "
                   "local sandbox (--sandbox local)", seconds=timeout)


class DockerSandbox(Sandbox):
    """Execute each submission in its own container of ``image``."""

    kind = "docker"

    def __init__(self, image: str, client: docker.DockerClient | None = None) -> None:
        self.image = image
        self.client = client or engine()

    def preflight(self) -> None:
        """Fail before grading anything when the image is not on the engine."""
        with engine_errors("docker sandbox", f"looking up image {self.image}"):
            try:
                self.client.images.get(self.image)
            except docker.errors.ImageNotFound as exc:
                raise DflabError(f"image {self.image} is not on the Docker engine; build it with "
                                 f"`environments/docker/build-image.sh WHEELHOUSE {self.image}` (see README) or "
                                 "set --SandboxedExecute.image", "docker sandbox") from exc

    def run(self, notebook: NotebookNode, workdir: Path, evidence: Path, limits: Limits) -> SandboxResult:
        with engine_errors("docker sandbox", "running a submission's container"):
            return self._run(notebook, workdir, evidence, limits)

    def _run(self, notebook: NotebookNode, workdir: Path, evidence: Path, limits: Limits) -> SandboxResult:
        start = time.monotonic()
        with base.private_folder(limits, limited=os.geteuid() == 0) as private:
            try:
                work, run_dir = stage(notebook, workdir, private)
            except OSError as exc:
                if (failed := base.staging_failed(exc, limits)) is None:
                    raise
                return failed
            return self._run_in(work, run_dir, evidence, limits, start)

    def _run_in(self, work: Path, run_dir: Path, evidence: Path, limits: Limits, start: float) -> SandboxResult:
        container = None
        try:
            for path in (work, run_dir):
                _give(path)
            container = self._create(work, run_dir, evidence, limits)
            container.start()
            try:
                exit_code = container.wait(timeout=base.wall_clock_s(limits)).get("StatusCode")
            except requests.exceptions.RequestException as exc:
                if not timed_out(exc):
                    raise  # the engine went away: one line from run()
                with contextlib.suppress(docker.errors.APIError):  # it may have ended meanwhile
                    container.kill()
                return SandboxResult(None, "timeout", f"timed out after {base.wall_clock_s(limits):.0f} s",
                                     time.monotonic() - start)
            container.reload()
            state = container.attrs["State"]
            nb, status, reason, cell = read_result(run_dir / NOTEBOOK_OUT, limits, exit_code)
            if state.get("OOMKilled") and status in ("ok", "killed", "error"):
                status, reason = "oom", f"memory limit of {limits.memory_bytes >> 20} MiB reached"
            elif nb is None and status == "error":
                tail = container.logs(tail=3).decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
                reason = f"{reason}; exit {state.get('ExitCode')}: {tail[0][:200]}"
            return SandboxResult(nb, status, reason, time.monotonic() - start, cell)
        finally:
            if container is not None:
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)

    def _create(self, work: Path, run_dir: Path, evidence: Path, limits: Limits):  # noqa: ANN202 -- docker's type
        mounts = [
            Mount(WORK, str(work), type="bind"),
            Mount(RUN, str(run_dir), type="bind"),
            Mount("/evidence", str(evidence.resolve()), type="bind", read_only=True),
            Mount(RUNNER, str(Path(runner.__file__).resolve()), type="bind", read_only=True),
        ]
        command = [RUNNER, f"{RUN}/{NOTEBOOK_IN}", f"{RUN}/{NOTEBOOK_OUT}", *base.runner_args(limits), "--cwd", WORK]
        # Not the image's entrypoint (tini under the no-ptrace filter): the same filter, then the runner, as PID 1.
        return self.client.containers.create(
            self.image, command, entrypoint=[*trainee_container.SERVE_ARGV, "python"], mounts=mounts, working_dir=WORK,
            environment={"DFLAB_EVIDENCE": "/evidence", "HOME": HOME, "NBGRADER_EXECUTION": "autograde",
                         "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
            healthcheck={"test": ["NONE"]}, labels={LABEL: "1"},
            # The engine keeps what the container prints: bounded, so a flood to stderr cannot fill its disk.
            log_config={"type": "json-file", "config": {"max-size": "1m", "max-file": "1"}},
            **trainee_container.TRAINEE.for_grading().docker_kwargs(limits),  # no network, tmpfs, limits
        )  # fmt: skip


def _give(path: Path) -> None:
    """Hand a staged directory to the container's uid (when this grader may), private to it."""
    if os.geteuid() == 0:
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.lchown(os.path.join(root, name), TRAINEE_UID, TRAINEE_UID)
        os.chown(path, TRAINEE_UID, TRAINEE_UID)
        path.chmod(0o700)
    else:
        path.chmod(0o777)  # rootless engines map the container's uid elsewhere; the private parent stays 0700
