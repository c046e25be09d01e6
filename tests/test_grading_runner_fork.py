"""The grading runner forks its kernel: it must still behave like a kernel started on its own.

These run the real runner program (``python -m dflab.grading.sandbox.runner``) with a real ipykernel,
outside any sandbox: what is checked here is the fork, not the confinement (tests/test_grading_sandbox.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

RUNNER = [sys.executable, "-m", "dflab.grading.sandbox.runner"]


def notebook(path: Path, *sources: str) -> Path:
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def texts(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return ["".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream")
            for c in nb.cells]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] != "Z"


def test_the_kernel_is_a_child_of_the_runner_with_its_own_session_and_cwd(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    src = notebook(tmp_path / "in.ipynb",
                   "import os, sys, json\n"
                   "print(json.dumps({'ppid': os.getppid(), 'sid': os.getsid(0), 'pid': os.getpid(),"
                   " 'cwd': os.getcwd(), 'argv0': sys.argv[0], 'path0': sys.path[0],"
                   " 'debugpy': sys.modules.get('debugpy', 'absent') is None, 'nbclient': 'nbclient' in sys.modules}))",
                   "x = 6 * 7\nprint(x)", "raise ValueError('boom')", "print('after the error')")
    out = tmp_path / "out.ipynb"
    proc = subprocess.Popen([*RUNNER, str(src), str(out), "--cell-timeout", "30", "--max-output", "100000",
                             "--cwd", str(work)], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    facts = json.loads(texts(out)[0])
    assert facts["ppid"] == proc.pid
    assert facts["nbclient"]  # forked: it holds what the runner imported, no second interpreter started
    assert facts["sid"] == facts["pid"]  # its own session: interrupts and kills reach the kernel alone
    assert facts["cwd"] == str(work)
    assert facts["path0"] != str(Path(__file__).parents[1] / "dflab" / "grading" / "sandbox")
    assert facts["debugpy"] is False  # the debugger stub is gone once the kernel is up
    assert texts(out)[1:] == ["42\n", "", "after the error\n"]
    assert json.loads(err.strip().splitlines()[-1])["status"] == "ok"


def test_an_interrupted_loop_costs_its_cell_only(tmp_path: Path) -> None:
    src = notebook(tmp_path / "in.ipynb", "while True:\n    pass", "print('next cell ran')")
    out = tmp_path / "out.ipynb"
    subprocess.run([*RUNNER, str(src), str(out), "--cell-timeout", "2", "--max-output", "100000"],
                   cwd=tmp_path, check=True, timeout=120, capture_output=True)
    nb = nbformat.read(out, as_version=4)
    assert "KeyboardInterrupt" in [o.get("ename") for o in nb.cells[0].outputs]
    assert texts(out)[1] == "next cell ran\n"


def test_the_kernel_ends_when_the_runner_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "kernel.pid"
    src = notebook(tmp_path / "in.ipynb", f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\n"
                   "time.sleep(600)")
    proc = subprocess.Popen([*RUNNER, str(src), str(tmp_path / "out.ipynb"), "--cell-timeout", "600",
                             "--max-output", "100000"], cwd=tmp_path, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 120
        while not (pidfile.exists() and pidfile.read_text()):
            assert time.monotonic() < end and proc.poll() is None, "the kernel never ran its cell"
            time.sleep(0.1)
        kernel = int(pidfile.read_text())
        assert alive(kernel)
    finally:
        proc.kill()
        proc.wait()
    end = time.monotonic() + 30
    while alive(kernel) and time.monotonic() < end:  # ipykernel's parent poller checks once a second
        time.sleep(0.2)
    assert not alive(kernel), f"kernel {kernel} outlived its runner"
