"""The local grading sandbox sees only its submission: a minimal root, private /tmp and /dev/shm, quotas.

Each test runs one small notebook in :class:`LocalSandbox` and reads what its cells printed.  A planted
"secret" next to the project checkout, a concurrent run's folder and a Unix socket on the host stand for
what an attacker looks for; the cells try the paths an attacker would.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from dflab.grading.sandbox.base import Limits
from dflab.grading.sandbox.local_sandbox import HOME_SIZE, TMP_SIZE, LocalSandbox, visible_paths

pytestmark = pytest.mark.xdist_group(name="local_sandbox")
REPO = Path(__file__).resolve().parents[1]
LIMITS = Limits(wall_s=120, cell_timeout_s=60)


def run(code: str, tmp_path: Path, *, hide: tuple[Path, ...] = ()) -> dict:
    """Run ``code`` (which prints one JSON object last) in the local sandbox; that object."""
    work, evidence = tmp_path / "work", tmp_path / "evidence"
    work.mkdir(exist_ok=True)
    evidence.mkdir(exist_ok=True)
    (evidence / "disk.img").write_bytes(b"evidence")
    (work / "notes.txt").write_text("the trainee's own file\n")
    result = LocalSandbox(hide).run(new_notebook(cells=[new_code_cell(code)]), work, evidence, LIMITS)
    assert result.status == "ok", (result.status, result.reason)
    texts = [o.get("text", "") for c in result.notebook.cells for o in c.outputs]  # type: ignore[union-attr]
    errors = [o for c in result.notebook.cells for o in c.outputs if o.get("output_type") == "error"]  # type: ignore[union-attr]
    assert not errors, errors
    return json.loads("".join(texts).strip().splitlines()[-1])


PROBE = """
import glob, json, os
def readable(path):
    try:
        with open(path, "rb") as fh:
            return fh.read(64).decode(errors="replace")
    except OSError as exc:
        return type(exc).__name__
out = {}
out["checkout"] = sorted(os.listdir(%(repo)r)) if os.path.isdir(%(repo)r) else []
out["labs"] = os.path.exists(%(labs)r)
out["git"] = os.path.exists(%(git)r)
out["secret"] = readable(%(secret)r)
out["other_runs"] = glob.glob("/tmp/dflab-sandbox-*") + glob.glob(%(other)r)
out["sockets"] = [p for top in ("/run", "/var/run", "/tmp", %(sockdir)r) if os.path.isdir(top)
                  for p in glob.glob(top + "/**", recursive=True) if os.path.exists(p) and
                  __import__("stat").S_ISSOCK(os.lstat(p).st_mode)]
out["evidence"] = readable(os.environ["DFLAB_EVIDENCE"] + "/disk.img")
out["own"] = readable("notes.txt")
out["cwd"] = os.getcwd()
out["dflab_lab"] = __import__("dflab.lab").lab.__name__
out["root"] = sorted(os.listdir("/"))
out["uid"] = os.getuid()
print(json.dumps(out))
"""


def test_a_submission_sees_no_checkout_course_other_run_or_socket(tmp_path: Path) -> None:
    secret = REPO / "labs" / "02-disk" / "source.ipynb"  # a solution notebook, readable to any host user
    other = Path(tempfile.mkdtemp(prefix="dflab-sandbox-"))  # another run's folder, world-readable
    (other / "work").mkdir()
    (other / "work" / "answers.json").write_text('{"payload_sha256": "stolen"}')
    os.chmod(other, 0o755)
    sockdir = Path(tempfile.mkdtemp(prefix="dflab-sock-"))
    os.chmod(sockdir, 0o755)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sockdir / "engine.sock"))
    os.chmod(sockdir / "engine.sock", 0o777)
    try:
        out = run(PROBE % {"repo": str(REPO), "labs": str(REPO / "labs"), "git": str(REPO / ".git"),
                           "secret": str(secret), "other": str(other) + "/*/*", "sockdir": str(sockdir)}, tmp_path)
    finally:
        server.close()
    assert secret.is_file() and (REPO / ".git").exists()  # they are there on the host
    assert "labs" not in out["checkout"] and "tests" not in out["checkout"] and not out["labs"] and not out["git"]
    assert out["secret"] == "FileNotFoundError"
    assert out["other_runs"] == []
    assert out["sockets"] == []
    assert out["evidence"] == "evidence" and out["own"] == "the trainee's own file\n"
    assert out["cwd"] == "/home/trainee/work"
    assert out["dflab_lab"] == "dflab.lab"  # what lab notebooks import is there
    # The top of every read-only path (the checkout's top folder holds only .venv and dflab/ there: see above).
    tops = {p.parts[1] for p in visible_paths(sys.executable) if len(p.parts) > 1}
    assert set(out["root"]) <= {"proc", "dev", "tmp", "home", "evidence", "grading"} | tops, (out["root"], tops)
    assert out["uid"] != 0


def test_tmp_and_shm_are_private_and_vanish_with_the_run(tmp_path: Path) -> None:
    marker = f"dflab-left-{os.getpid()}"
    out = run(f"""
import json, os
for top in ("/tmp", "/dev/shm", os.path.expanduser("~")):
    open(os.path.join(top, {marker!r}), "w").write("x")
print(json.dumps({{"home": os.path.expanduser("~")}}))
""", tmp_path)
    assert out["home"] == "/home/trainee"
    assert not Path("/tmp", marker).exists() and not Path("/dev/shm", marker).exists()
    second = run(f"""
import json, os
print(json.dumps({{"seen": [p for p in ("/tmp", "/dev/shm", os.path.expanduser("~"))
                            if os.path.exists(os.path.join(p, {marker!r}))]}}))
""", tmp_path)
    assert second["seen"] == []


@pytest.mark.parametrize(("where", "size"), [("/tmp", TMP_SIZE), ("/home/trainee/work", HOME_SIZE)])
def test_writes_stop_at_the_documented_quota(tmp_path: Path, where: str, size: str) -> None:
    limit = int(size.rstrip("m")) << 20
    out = run(f"""
import errno, json, os
written, error = 0, None
chunk = b"\\0" * (1 << 20)
try:
    for i in range({(limit >> 20) * 2}):
        with open(os.path.join({where!r}, f"fill-{{i}}"), "wb") as fh:
            fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        written += len(chunk)
except OSError as exc:
    error = errno.errorcode.get(exc.errno)
print(json.dumps({{"written": written, "error": error}}))
""", tmp_path)
    assert out["error"] == "ENOSPC", out
    assert limit - (8 << 20) <= out["written"] <= limit


def test_a_hidden_path_under_a_visible_one_is_covered(tmp_path: Path) -> None:
    hidden = Path(os.path.realpath(os.sys.prefix)) / "share"  # inside the (visible) virtual environment
    hidden.mkdir(exist_ok=True)
    out = run(f"import json, os\nprint(json.dumps({{'listing': os.listdir({str(hidden)!r}) if "
              f"os.access({str(hidden)!r}, os.R_OK) else 'denied'}}))", tmp_path, hide=(hidden,))
    assert out["listing"] in ("denied", [])


def test_the_sandbox_result_is_a_notebook(tmp_path: Path) -> None:
    """Sanity: what comes back is an nbformat-valid notebook (the grader merges its outputs)."""
    work = tmp_path / "w"
    work.mkdir()
    result = LocalSandbox().run(new_notebook(cells=[new_code_cell("print(1)")]), work, work, LIMITS)
    assert result.status == "ok"
    nbformat.validate(result.notebook)


def test_a_run_reaps_only_its_own_processes(tmp_path: Path) -> None:
    """Another grader on this kernel (a container of its own) uses the same sandbox uids: its processes in its own
    PID namespace must survive our runs' clean-up, which once killed them."""
    import subprocess

    from dflab.grading.sandbox.local_sandbox import UID_BASE, UID_SLOTS

    others = [subprocess.Popen(["unshare", "--pid", "--fork", "--kill-child", "setpriv", f"--reuid={UID_BASE + slot}",
                                f"--regid={UID_BASE + slot}", "--clear-groups", "sleep", "300"])
              for slot in range(UID_SLOTS)]  # whichever slot the run takes
    try:
        run("import json\nprint(json.dumps({'ok': 1}))", tmp_path)
        assert [p.poll() for p in others] == [None] * UID_SLOTS  # all still running
    finally:
        for p in others:
            p.kill()
            p.wait()
