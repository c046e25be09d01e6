"""What the kernel sends reaches the grading runner through bounded queues, and nothing an honest cell shows is lost.

The real runner program with a real ipykernel, outside any sandbox (the sandboxes' memory limits are
tests/test_grading_sandbox.py).  The runner's own peak memory is read from ``/proc/<pid>/status`` (VmHWM)
while it runs: before the queues were bounded, a cell printing 1 GiB took the runner to 2 GiB, and a
sandbox's memory limit then killed it and with it every cell already graded.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from dflab.grading.sandbox import runner

MiB = 1 << 20
MAX_OUTPUT = 10 * MiB
# ZeroMQ's queue for the runner at its fullest, plus the runner itself (about 60 MiB).
RUNNER_BOUND = runner.IOPUB_QUEUE * (max(1024, MAX_OUTPUT // 4) + runner.ENVELOPE) + 200 * MiB


def run(tmp_path: Path, *sources: str) -> tuple[nbformat.NotebookNode, int]:
    """Run ``sources`` as one notebook through the runner; return the executed notebook and the runner's peak RSS."""
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, src)
    proc = subprocess.Popen([sys.executable, "-m", "dflab.grading.sandbox.runner", str(src), str(out),
                             "--cell-timeout", "120", "--max-output", str(MAX_OUTPUT)],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    end = time.monotonic() + 300
    while proc.poll() is None:
        assert time.monotonic() < end, "the runner did not finish in 300 s"
        try:
            with open(f"/proc/{proc.pid}/status", encoding="ascii") as fh:
                peak = max([peak] + [int(line.split()[1]) << 10 for line in fh if line.startswith("VmHWM:")])
        except OSError:
            pass  # it just ended
        time.sleep(0.02)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    assert proc.returncode == 0, err[-2000:]
    return nbformat.read(out, as_version=4), peak


def errors(cell: nbformat.NotebookNode) -> list[str]:
    return [o["ename"] for o in cell.outputs if o["output_type"] == "error"]


def test_a_printed_flood_leaves_the_runner_small_and_the_next_cell_runs(tmp_path: Path) -> None:
    nb, peak = run(tmp_path, "x = 6 * 7", "for _ in range(1024):\n    print('x' * 2**20)  # 1 GiB in all",
                   "print('after', x)")
    assert peak < RUNNER_BOUND, f"runner peaked at {peak >> 20} MiB"
    assert runner.OUTPUT_LIMIT in errors(nb.cells[1])
    assert sum(runner.output_size(o) for o in nb.cells[1].outputs) < MAX_OUTPUT + MiB
    assert [o.get("text") for o in nb.cells[2].outputs] == ["after 42\n"]
    assert nb.metadata[runner.STATUS_KEY]["status"] == "output_too_large"


def test_displayed_outputs_just_under_the_cap_flood_nothing_but_their_cell(tmp_path: Path) -> None:
    """Each display is its own message, each under the per-output cap: the queue's length is what bounds them."""
    nb, peak = run(tmp_path, "from IPython.display import display\nfor _ in range(1000):\n"
                   "    display({'text/plain': 'x' * (2 << 20)}, raw=True)", "print('after')")
    assert peak < RUNNER_BOUND, f"runner peaked at {peak >> 20} MiB"
    assert runner.OUTPUT_LIMIT in errors(nb.cells[0])
    assert [o.get("text") for o in nb.cells[1].outputs] == ["after\n"]


def test_one_message_over_the_bound_is_refused_and_the_channel_comes_back(tmp_path: Path) -> None:
    """A single 300 MiB print: ZeroMQ refuses it and closes the connection; the runner reconnects."""
    nb, peak = run(tmp_path, "x = 1", "print('x' * (300 << 20))", "print('after', x)")
    assert peak < RUNNER_BOUND, f"runner peaked at {peak >> 20} MiB"
    assert errors(nb.cells[1]) == [runner.OUTPUT_LIMIT]
    assert [o.get("text") for o in nb.cells[2].outputs] == ["after 1\n"]


def test_a_burst_of_small_outputs_loses_none_of_them(tmp_path: Path) -> None:
    """10 000 displays faster than the runner reads them, then the one that matters (an answer, say): all kept.

    ZeroMQ drops what a slow subscriber cannot take; the kernel waits instead (``XPUB_NODROP``)."""
    nb, _ = run(tmp_path, "from IPython.display import display\nfor i in range(10000):\n"
                "    display({'text/plain': str(i)}, raw=True)\ndisplay({'text/plain': 'last'}, raw=True)")
    shown = [o["data"]["text/plain"] for o in nb.cells[0].outputs]
    assert shown == [str(i) for i in range(10000)] + ["last"]
