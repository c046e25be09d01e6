"""Sandboxes that execute untrusted submissions for autograding (see base.py for the contract).

:func:`pick_sandbox` chooses the backend: a fresh Docker container per
submission when an engine answers, otherwise a confined local subprocess.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dflab.errors import DflabError
from dflab.grading.sandbox.base import Limits, Sandbox, SandboxResult
from dflab.grading.sandbox.docker_sandbox import DockerSandbox, engine
from dflab.grading.sandbox.local_sandbox import LocalSandbox

__all__ = ["KINDS", "Limits", "Sandbox", "SandboxResult", "pick_sandbox"]

KINDS = ("auto", "docker", "local")


def pick_sandbox(kind: str, image: str, hide: Sequence[Path] = ()) -> Sandbox:
    """The sandbox for ``kind``: ``auto`` is Docker when an engine answers and has ``image``, else local.

    ``image`` is the trainee image for Docker (checked now: a missing image is
    one clear error before any grading); ``hide`` lists directories the local
    sandbox covers (the course directory, the lab sources).
    """
    if kind not in KINDS:
        raise DflabError(f"unknown sandbox {kind!r} (choose one of {', '.join(KINDS)})", "SandboxedExecute.sandbox")
    if kind == "auto":  # Docker only when an engine answers and holds the image (as `dflab grade` decides)
        try:
            sandbox = DockerSandbox(image, engine(timeout=10))
            sandbox.preflight()
        except DflabError:
            return LocalSandbox(hide)
        return sandbox
    if kind == "docker":
        sandbox = DockerSandbox(image)
    else:
        return LocalSandbox(hide)
    sandbox.preflight()
    return sandbox
