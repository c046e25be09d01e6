"""Execute one notebook inside a grading sandbox: ``python -m dflab.grading.sandbox.runner IN OUT [options]``.

This program runs *inside* the sandbox, next to the trainee's kernel, so it is
as untrusted as the kernel once the first cell has run: the grader takes only
outputs from what it writes (never sources or metadata) and decides
correctness elsewhere.  Its job is to keep one hostile cell from costing more
than that cell:

* nbclient's own machinery executes the cells (errors allowed, a per-cell
  timeout that interrupts the kernel, so an infinite loop costs one cell);
* outputs are capped as they arrive, per output and in total, and replaced by
  a note; the kernel is interrupted when a cell floods;
* what ZeroMQ receives ahead of this process is bounded too (a few messages of
  bounded size per socket, :class:`GradingKernelClient`), so a cell printing
  1 GiB cannot blow up this process's memory before the cap sees it;
* a cell that ignores the interrupt (in a sandbox, ``--reap``) ends execution
  and everything the submission started is killed: otherwise every later
  cell would wait its full timeout behind it;
* a dead kernel (killed by the trainee, or by the memory limit) ends execution:
  the cell it died in gets an error output, later cells get nothing;
* a soft deadline stops before the sandbox's hard wall-clock limit so the
  cells run so far are kept;
* the kernel cannot turn on this process (:func:`guard_runner`): it ignores the signals the kernel could
  send it, is not dumpable (so not traceable, its memory and ``/proc`` files out of reach, though the kernel
  runs as the same uid), and the kernel writes into stdout and stderr of its own, never this process's log
  (the text a grader reads when no result came back);
* in a sandbox (``--reap``), this process is PID 1: it collects the orphans a cell leaves (:func:`collect_orphans`),
  and once everything else is killed it removes what the submission left in the run folder (and in the
  kernel's working folder when it is on the same file system: Docker's work copy), so a submission that
  filled them does not cost the result;
* OUT is always written, atomically (temporary file + rename).

It imports only the standard library, nbformat, nbclient and the parts of Jupyter they use (never dflab), so
the Docker sandbox can mount this one file into any trainee image.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

# jsonschema's format checkers import these optional libraries at import time; rfc3987-syntax (installed through
# jupyter-events) compiles an IRI grammar there: 2.6 s of every submission's run, the rest another 0.1 s.
JSONSCHEMA_FORMAT_LIBS = ("rfc3987_syntax", "rfc3987", "rfc3986_validator", "rfc3339_validator", "isoduration",
                          "fqdn", "idna", "webcolors", "jsonpointer", "uri_template")

if __name__ == "__main__":
    # nbformat imports jsonschema but validates with fastjsonschema: no format is ever checked in this process.
    # jsonschema skips a format checker whose import fails.
    for _lib in JSONSCHEMA_FORMAT_LIBS:
        sys.modules.setdefault(_lib, None)  # type: ignore[assignment]
    # The kernel is forked from this process (GradingKernelManager): importing ipykernel here, without the
    # debugger (see KERNEL_LAUNCHER), means the kernel starts with it and with jupyter_client, zmq, tornado and
    # traitlets already loaded, instead of a second interpreter importing them all again.
    sys.modules["debugpy"] = None  # type: ignore[assignment]
    try:
        import ipykernel.kernelapp  # noqa: F401
    except ImportError:  # another kernel (another language): it starts from its kernelspec
        pass
    del sys.modules["debugpy"]

import nbformat  # noqa: E402
import zmq  # noqa: E402
from jupyter_client.asynchronous import AsyncKernelClient  # noqa: E402
from jupyter_client.manager import AsyncKernelManager  # noqa: E402
from jupyter_core.utils import run_sync  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellTimeoutError, DeadKernelError  # noqa: E402
from nbformat.notebooknode import NotebookNode, from_dict  # noqa: E402
from traitlets import Integer, default  # noqa: E402
from zmq.utils.monitor import parse_monitor_message  # noqa: E402

# ipykernel's own launcher (ipykernel_launcher.py) less the debugger, which no one attaches to when grading:
# ipykernel turns it off when debugpy cannot be imported, and importing it is 0.17 s of CPU per kernel start.
# Once the kernel is set up, debugpy can be imported again by the submission.
KERNEL_LAUNCHER = """\
import sys
if sys.path and sys.path[0] == "":
    del sys.path[0]  # as ipykernel_launcher does: the kernel puts the working directory back itself
sys.modules["debugpy"] = None
from ipykernel.kernelapp import IPKernelApp
app = IPKernelApp.instance()
app.initialize()
del sys.modules["debugpy"]
import zmq
app.iopub_socket.setsockopt(zmq.XPUB_NODROP, 1)  # as lossless_iopub() below
app.start()
"""
STATUS_KEY = "dflab_sandbox"  # notebook metadata the runner leaves for the grader (untrusted, advisory)
OUTPUT_LIMIT = "OutputLimit"
ERROR_ROOM = 64 * 1024  # an error output (one per cell) is kept past the cap if it is this small
ENVELOPE = 64 * 1024  # a message's frame around its largest admissible output
IOPUB_QUEUE = 64  # output messages ZeroMQ holds for this process (the kernel waits meanwhile)
REPLY_QUEUE = 8  # messages on each other channel (replies come one at a time)
DEATH_GRACE_S = 0.5  # after its output channel closes, a dying kernel has exited within this time
TIMEOUT_ERROR = {"ename": "CellTimeoutError", "evalue": "",
                 "traceback": ["CellTimeoutError: no reply from the kernel before the cell timeout"]}
# Signals the kernel could send this process that would end or stop it (or, SIGINT, raise KeyboardInterrupt
# in it): ignored here, given back to the kernel as they were (run_forked_kernel).  SIGKILL and SIGSTOP cannot
# be ignored: where this process is the PID namespace's first (both sandboxes), the kernel's never arrive; the
# synchronous faults (SIGSEGV, SIGBUS, ...) stay as they are.
GUARDED_SIGNALS = tuple(getattr(signal, name) for name in (
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGIO",
    "SIGPWR", "SIGXCPU", "SIGTSTP", "SIGTTIN", "SIGTTOU") if hasattr(signal, name)) + tuple(
    range(getattr(signal, "SIGRTMIN", 0), getattr(signal, "SIGRTMAX", -1) + 1))
PR_SET_DUMPABLE = 4
RUNNER_SIGNALS: dict[int, Any] = {}  # what guard_runner changed: signal -> the handler it had before
KERNELS: set[int] = set()  # forked kernels not collected yet: their exit status is ForkedKernel.poll's


def output_size(out: Any) -> int:
    """An output's size as it will be stored (its JSON text)."""
    return len(json.dumps(out, default=str))


def limit_note(limit: int) -> NotebookNode:
    """The error output that replaces what a cell printed past the limit (it scores the cell 0)."""
    text = f"output over {limit} bytes: truncated by the grading sandbox"
    return from_dict({"output_type": "error", "ename": OUTPUT_LIMIT, "evalue": text,
                      "traceback": [f"{OUTPUT_LIMIT}: {text}"]})


class CappedClient(NotebookClient):
    """nbclient's ``NotebookClient`` with outputs capped as they arrive.

    ``per_output`` bounds one output, ``max_output`` all outputs of the
    notebook.  Past the cap an output is dropped (one note per cell) and the
    kernel is interrupted, so the flood stops instead of being read and thrown
    away until the cell timeout.
    """

    def __init__(self, nb: NotebookNode, *, max_output: int, deadline: float, **kw: Any) -> None:
        super().__init__(nb, **kw)
        self.max_output = max_output
        self.per_output = max(1024, max_output // 4)
        self.used = 0
        self.deadline = deadline
        self.flooded: set[int] = set()
        self.dropped: set[int] = set()  # cells whose output ZeroMQ refused (a message over the size bound)
        self.timeout_func = self._cell_timeout
        self.on_cell_executed = self._keep_reply_error
        self._monitor: zmq.asyncio.Socket | None = None

    def create_kernel_manager(self) -> AsyncKernelManager:
        km = super().create_kernel_manager()
        if isinstance(km, GradingKernelManager):
            km.max_message = self.per_output + ENVELOPE  # an output past per_output is dropped anyway
        return km

    async def async_execute_cell(self, cell: NotebookNode, cell_index: int, execution_count: int | None = None,
                                 store_history: bool = True) -> NotebookNode:
        watcher = asyncio.ensure_future(self._watch_iopub(cell_index))
        try:
            cell = await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        finally:
            watcher.cancel()
        if cell_index in self.dropped:  # (a cell that ended in an exception has a reason already)
            self._flood(cell.outputs, cell_index, interrupt=False)
        return cell

    execute_cell = run_sync(async_execute_cell)

    async def _watch_iopub(self, cell_index: int) -> None:
        """Reconnect the output channel when ZeroMQ drops it, and treat the cell as one that flooded.

        A message over the size bound ends the connection for good (libzmq does not reconnect after a
        protocol error): without this, every later cell's output, answers included, would be lost.
        A kernel that dies ends the connection too: that is told apart by waiting a moment and asking
        whether the kernel still runs.
        """
        socket = self.kc.iopub_channel.socket if self.kc is not None else None
        if socket is None:
            return
        if self._monitor is None:
            self._monitor = socket.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        while True:
            event = parse_monitor_message(await self._monitor.recv_multipart())
            if event["event"] != zmq.EVENT_DISCONNECTED:
                continue
            await asyncio.sleep(DEATH_GRACE_S)
            if self.km is None or not await self.km.is_alive():
                continue  # the kernel died (killed, out of memory): nbclient reports that, not a flood
            endpoint = event["endpoint"].decode()
            with contextlib.suppress(zmq.ZMQError):
                socket.disconnect(endpoint)
            socket.connect(endpoint)
            self.dropped.add(cell_index)  # no interrupt: the message was sent, the kernel may be idle already

    def _cell_timeout(self, cell: NotebookNode) -> int:
        return max(1, min(int(self.timeout or 0) or 10**9, int(self.deadline - time.monotonic())))

    @staticmethod
    def _keep_reply_error(cell: NotebookNode, execute_reply: dict[str, Any], **_: Any) -> None:
        """Add the reply's error when no output shows it (a timeout), as nbgrader's ``Execute`` does."""
        content = execute_reply.get("content", {})
        if content.get("status") == "error" and not any(
                o.get("output_type") == "error" and o.get("ename") == content.get("ename") for o in cell.outputs):
            cell.outputs.append(from_dict({"output_type": "error", "ename": content.get("ename", "Error"),
                                           "evalue": content.get("evalue", ""),
                                           "traceback": content.get("traceback") or ["ERROR"]}))

    def _admit(self, size: int, cell_index: int) -> bool:
        if cell_index not in self.flooded and size <= self.per_output and self.used + size <= self.max_output:
            self.used += size
            return True
        return False

    def _flood(self, outs: list[NotebookNode], cell_index: int, interrupt: bool = True) -> None:
        if cell_index in self.flooded:
            return
        self.flooded.add(cell_index)
        outs.append(limit_note(self.max_output))
        if interrupt:
            self._interrupt()

    def _interrupt(self) -> None:
        if self.km is not None:
            asyncio.ensure_future(self.km.interrupt_kernel())  # noqa: RUF006 -- fire and forget

    def output(self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None,
               cell_index: int) -> NotebookNode | None:
        size = output_size(msg.get("content", {}))
        if msg.get("msg_type") == "error" and size <= ERROR_ROOM:
            return super().output(outs, msg, display_id, cell_index)  # one per execution: how the cell ended
        if not self._admit(size, cell_index):
            self._flood(outs, cell_index)
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id: str, msg: dict[str, Any]) -> None:
        # An update rewrites earlier outputs in place: it is charged against the same budget.
        if self._admit(output_size(msg.get("content", {})), -1):
            super()._update_display_id(display_id, msg)


class ForkedKernel:
    """The part of ``subprocess.Popen`` jupyter_client's ``LocalProvisioner`` uses, for a forked kernel."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -signal.SIGKILL  # reaped elsewhere: gone all the same
            else:
                if pid:
                    self.returncode = os.waitstatus_to_exitcode(status)
            if self.returncode is not None:
                KERNELS.discard(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if end is not None and time.monotonic() >= end:
                raise TimeoutError(f"kernel {self.pid} still running after {timeout} s")
            time.sleep(0.01)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def lossless_iopub(app: Any) -> None:
    """Make the kernel wait for the runner instead of dropping output when the runner's queue is full.

    By default ZeroMQ drops messages for a subscriber that falls behind: a cell displaying thousands of
    items lost some of them, and an answer displayed after them could be lost too.  With the runner's
    queue bounded (:class:`GradingKernelClient`) the kernel's output thread now blocks until the runner
    catches up.  A submission may turn this off again in its own kernel: that costs only its own outputs.
    """
    app.iopub_socket.setsockopt(zmq.XPUB_NODROP, 1)


def set_dumpable(value: int) -> bool:
    """``prctl(PR_SET_DUMPABLE, value)``; False where it is not available (not Linux)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def guard_runner() -> None:
    """Keep the kernel, which runs as this process's uid, from ending, stopping or tracing this process.

    * The signals in :data:`GUARDED_SIGNALS` are ignored: Python's SIGINT handler made ``os.kill(1, SIGINT)``
      from a cell end the runner (exit 130) and every graded cell with it;
    * not dumpable: no ``PTRACE_ATTACH``, no ``/proc/<runner>/mem``, ``environ`` or ``fd`` for a process of the
      same uid without CAP_SYS_PTRACE (its ``/proc`` files become root's); no core dump either.

    The kernel, forked from here, inherits both and gets them back in :func:`run_forked_kernel` (it is the
    trainee's own process, and a notebook may read ``/proc/self``); a kernel started by ``exec`` is dumpable
    again through ``exec`` itself and gets the handlers back from :func:`restore_kernel_signals` (``preexec_fn``).
    """
    for signum in GUARDED_SIGNALS:
        with contextlib.suppress(OSError, ValueError):  # glibc keeps a few real-time signals to itself
            RUNNER_SIGNALS[signum] = signal.signal(signum, signal.SIG_IGN)
    set_dumpable(0)


def collect_orphans(signum: int = 0, frame: Any = None) -> None:  # noqa: ARG001 -- a signal handler
    """Collect the children that ended, but a forked kernel (SIGCHLD's handler in a sandbox).

    In a sandbox this process is the PID namespace's first: a process whose parent ended (a daemon a cell
    left behind) becomes its child, and would stay a zombie once it ends, counting against the sandbox's
    process limit, as long as the run (the Docker image's tini did this before the runner became PID 1).
    """
    while True:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if info is None or info.si_pid in KERNELS:
            return  # nothing more, or the kernel: ForkedKernel.poll collects it, and the rest come next time
        with contextlib.suppress(ChildProcessError):
            os.waitpid(info.si_pid, 0)


def adopt_orphans() -> None:
    """Collect orphans from now on (:func:`collect_orphans`); kernels get SIGCHLD's handler back."""
    RUNNER_SIGNALS[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, collect_orphans)


def restore_kernel_signals() -> None:
    """Give a kernel the signal handlers :func:`guard_runner` took from this process (inherited when forked)."""
    for signum, handler in RUNNER_SIGNALS.items():
        with contextlib.suppress(OSError, ValueError, TypeError):
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


def make_room(folder: str, keep: str) -> None:
    """Remove whatever is in ``folder`` but ``keep`` (a file name), best effort and never raising.

    Only once the submission's processes are gone (:func:`reap`): a submission that filled the run folder
    (or a file system it shares) must not leave the runner without room for OUT.  Folders the submission
    made unreadable are opened up first; links are removed, never followed.
    """
    try:
        for top, dirs, _ in os.walk(folder):
            for name in dirs:
                path = os.path.join(top, name)
                if not os.path.islink(path):
                    with contextlib.suppress(OSError):
                        os.chmod(path, 0o700)
        for entry in os.scandir(folder):
            if entry.name == keep:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
    except (OSError, RecursionError):  # a tree too deep to walk: OUT may then not fit, and the run says so
        pass


def same_file_system(folder: str, run_dir: str) -> bool:
    """``folder`` is a separate folder (neither holds the other) on the file system of ``run_dir``."""
    try:
        a, b = os.path.realpath(folder), os.path.realpath(run_dir)
        nested = os.path.commonpath([a, b]) in (a, b)
        return not nested and os.stat(a).st_dev == os.stat(b).st_dev
    except (OSError, ValueError):
        return False


def run_forked_kernel(argv: list[str], env: dict[str, str], cwd: str | None) -> None:
    """In the forked child: become the kernel ``KERNEL_LAUNCHER`` would have started, then exit; never return.

    The child starts as a copy of this runner: it gets the kernel's own session, environment, working
    directory, arguments and event loop, as ``launch_kernel`` would have given a new process, and back what
    :func:`guard_runner` took (signal handlers, dumpable).  Its stdin, stdout and stderr are ``/dev/null``:
    the runner's stderr is its log, which the sandbox reads a failure reason from, and a kernel holding it
    could write (or, through a shared offset, place) the line the grader shows.  What the kernel prints goes
    to the notebook through ipykernel, as always.
    """
    code = 1
    try:
        os.setsid()
        restore_kernel_signals()
        set_dumpable(1)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        if cwd:
            os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.dont_write_bytecode = bool(env.get("PYTHONDONTWRITEBYTECODE"))
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path[:] = [p for p in sys.path if p not in ("", here)]  # as KERNEL_LAUNCHER: no script directory
        sys.argv = ["-c", *argv]
        asyncio.set_event_loop(asyncio.new_event_loop())  # the runner's loop stays the runner's
        sys.modules["debugpy"] = None  # type: ignore[assignment]
        from ipykernel.kernelapp import IPKernelApp
        # parent_handle's default was read from the environment when the runner imported ipykernel
        app = IPKernelApp.instance(parent_handle=int(env.get("JPY_PARENT_PID") or 0))
        app.initialize(argv)
        del sys.modules["debugpy"]
        lossless_iopub(app)
        app.start()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 -- whatever happened, the child must not go on as a second runner
        import traceback
        traceback.print_exc()
    finally:
        for stream in (sys.__stdout__, sys.__stderr__):
            with contextlib.suppress(Exception):
                stream.flush()  # type: ignore[union-attr]
        os._exit(code)


class GradingKernelClient(AsyncKernelClient):
    """jupyter_client's client whose sockets hold only a few messages of bounded size.

    ZeroMQ reads what the kernel sends into this process ahead of the runner: by default up to 1000
    messages of any size per socket.  A cell printing 1 MiB lines had the runner at 2 GiB before the
    output cap saw them, and the sandbox's memory limit killed the runner and the whole result with it.
    Here iopub holds :data:`IOPUB_QUEUE` messages, the other channels :data:`REPLY_QUEUE`, and a message
    over ``max_message`` bytes ends its connection instead of being read (``CappedClient`` reconnects).
    Options set on the context apply to the sockets created after them, before they connect.
    """

    max_message = Integer(64 << 20, help="largest message accepted from the kernel, in bytes")

    def _bounded(self, queue: int) -> None:
        self.context.setsockopt(zmq.RCVHWM, queue)
        self.context.setsockopt(zmq.MAXMSGSIZE, self.max_message)

    def connect_iopub(self, identity: bytes | None = None) -> zmq.Socket:
        self._bounded(IOPUB_QUEUE)
        return super().connect_iopub(identity)

    def connect_shell(self, identity: bytes | None = None) -> zmq.Socket:
        self._bounded(REPLY_QUEUE)
        return super().connect_shell(identity)

    def connect_stdin(self, identity: bytes | None = None) -> zmq.Socket:
        self._bounded(REPLY_QUEUE)
        return super().connect_stdin(identity)

    def connect_control(self, identity: bytes | None = None) -> zmq.Socket:
        self._bounded(REPLY_QUEUE)
        return super().connect_control(identity)


class GradingKernelManager(AsyncKernelManager):
    """jupyter_client's kernel manager, starting an ipykernel without the debugger, forked from this runner.

    The kernelspec's ``python -m ipykernel_launcher`` becomes :data:`KERNEL_LAUNCHER`; when that command would
    run this very interpreter and ipykernel is already imported here, the kernel is forked instead of executed:
    0.4 s less CPU per submission.  ``_async_launch_kernel`` is jupyter_client's documented place to launch a
    kernel differently; everything else (ports, connection file, signals, shutdown) stays jupyter_client's.
    Any other kernel (another kernelspec, another language) starts exactly as its kernelspec says.
    Its clients are :class:`GradingKernelClient` instances, bounded by ``max_message``.
    """

    max_message = Integer(64 << 20, help="largest message a client accepts from the kernel, in bytes")

    @default("client_factory")
    def _client_factory_default(self) -> type[GradingKernelClient]:
        return GradingKernelClient

    def client(self, **kwargs: Any) -> GradingKernelClient:
        kwargs.setdefault("max_message", self.max_message)
        return super().client(**kwargs)  # type: ignore[return-value]

    @default("transport")
    def _transport_default(self) -> str:
        # Unix sockets, not TCP on loopback: the sandbox needs no network at all (and a host container
        # without CAP_NET_ADMIN could not even bring a new network namespace's loopback up).
        return "ipc"

    @default("ip")
    def _ip_default(self) -> str:
        # The sockets' path prefix: absolute and short (Unix socket paths stop at 107 bytes), in the
        # runtime directory the runner points at its own run folder.
        return os.path.join(os.environ.get("JUPYTER_RUNTIME_DIR") or tempfile.gettempdir(), f"k{os.getpid()}")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        if cmd[1:3] == ["-m", "ipykernel_launcher"]:
            cmd[1:3] = ["-c", KERNEL_LAUNCHER]
        return cmd

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        provisioner = self.provisioner
        forkable = ("ipykernel.kernelapp" in sys.modules and kernel_cmd[:3] == [sys.executable, "-c", KERNEL_LAUNCHER]
                    and type(provisioner).__name__ == "LocalProvisioner")
        if not forkable:  # its own stdout and stderr, and the handlers guard_runner took (see run_forked_kernel)
            kw.update(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=restore_kernel_signals)
            await super()._async_launch_kernel(kernel_cmd, **kw)
            return
        env = dict(kw.get("env") or os.environ)
        env["JPY_PARENT_PID"] = str(os.getpid())  # ipykernel's parent poller: the kernel ends with the runner
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:
            run_forked_kernel(kernel_cmd[3:], env, kw.get("cwd"))
        KERNELS.add(pid)
        provisioner.process = ForkedKernel(pid)  # type: ignore[union-attr]
        provisioner.pid = provisioner.pgid = pid  # type: ignore[union-attr]
        provisioner.cwd = kw.get("cwd") or os.getcwd()  # type: ignore[union-attr]
        self._reconcile_connection_info(provisioner.connection_info)  # type: ignore[union-attr]


def sacrifice_kernel(client: NotebookClient) -> None:
    """Make the kernel, not this runner, the one the OOM killer picks when the sandbox runs out of memory.

    A flood of output or a memory bomb fills the sandbox's memory in the kernel *and* in the message
    queues between kernel and runner; were the runner killed, the cells already graded would be lost
    with it. Raising another process's ``oom_score_adj`` needs no privilege for one's own processes.
    """
    process = getattr(getattr(client.km, "provisioner", None), "process", None)
    if process is not None:
        with contextlib.suppress(OSError):
            with open(f"/proc/{process.pid}/oom_score_adj", "w", encoding="ascii") as f:
                f.write("1000")


def stuck(cell: NotebookNode) -> bool:
    """The cell timed out and the kernel did not answer the interrupt (no KeyboardInterrupt came back)."""
    names = [o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    return TIMEOUT_ERROR["ename"] in names and "KeyboardInterrupt" not in names


def execute(nb: NotebookNode, cwd: str, cell_timeout: int, max_output: int, wall: float,
            reap_stuck: bool = False) -> dict[str, Any]:
    """Run ``nb`` in place; return the status the runner leaves in the notebook's metadata.

    ``reap_stuck`` (in a sandbox only): a cell that ignores the interrupt ends
    execution, and everything the submission runs is killed.
    """
    start = time.monotonic()
    deadline = start + wall
    client = CappedClient(
        nb, max_output=max_output, deadline=deadline, timeout=cell_timeout, allow_errors=True,
        interrupt_on_timeout=True, error_on_timeout=TIMEOUT_ERROR, raise_on_iopub_timeout=False,
        record_timing=False, kernel_name=nb.metadata.get("kernelspec", {}).get("name", "python3"),
        kernel_manager_class=GradingKernelManager,
        extra_arguments=["--HistoryManager.hist_file=:memory:"], resources={"metadata": {"path": cwd}},
        startup_timeout=120,
    )
    status: dict[str, Any] = {"status": "ok", "cell": None, "reason": ""}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    with client.setup_kernel(cwd=cwd):
        sacrifice_kernel(client)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if time.monotonic() >= deadline:
                status = {"status": "timeout", "cell": index, "reason": f"wall-clock limit of {wall:.0f} s reached"}
                break
            try:
                client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
            except DeadKernelError:
                status = {"status": "killed", "cell": index, "reason": "the kernel died while running this cell"}
                break
            except CellTimeoutError:
                cell.outputs.append(from_dict({"output_type": "error", **TIMEOUT_ERROR}))
            if stuck(cell) and reap_stuck:
                reap()  # every later cell would wait its full timeout behind this one
                status = {"status": "timeout", "cell": index,
                          "reason": f"the cell ignored the interrupt after {cell_timeout} s"}
                break
    if client.flooded and status["status"] == "ok":
        status = {"status": "output_too_large", "cell": min(client.flooded),
                  "reason": f"output over {max_output} bytes"}
    return status


def reap() -> None:
    """Kill whatever the submission left running (daemons that survived the kernel's shutdown).

    Only inside a sandbox: there this uid and PID namespace belong to this run
    alone, so nothing can replace OUT after it is written; a submission that
    kills the runner instead leaves a non-zero exit status, and the sandbox
    discards its result.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(-1, signal.SIGKILL)


def write_atomic(nb: NotebookNode, path: str) -> None:
    """Write ``nb`` to ``path`` through a temporary file in the same directory and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=".out-", suffix=".ipynb", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(nbformat.v4.writes(nb))  # unvalidated: the grader validates what comes back (read_result)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook_in")
    parser.add_argument("notebook_out")
    parser.add_argument("--cell-timeout", type=int, required=True)
    parser.add_argument("--max-output", type=int, required=True)
    parser.add_argument("--wall", type=float, default=600.0, help="soft deadline in seconds for all cells")
    parser.add_argument("--cwd", default=os.getcwd(), help="the kernel's working directory")
    parser.add_argument("--reap", action="store_true",
                        help="kill every other process this uid can signal before writing OUT (sandbox only)")
    args = parser.parse_args(argv)
    guard_runner()  # before the kernel exists
    if args.reap:  # in a sandbox, where this process is PID 1
        adopt_orphans()
    # Connection file and kernel sockets in the run folder: private to this run, and a short path.
    os.environ["JUPYTER_RUNTIME_DIR"] = os.path.dirname(os.path.abspath(args.notebook_out))
    with open(args.notebook_in, encoding="utf-8") as fh:
        # The grader's own v4 notebook: not validated again here (compiling the schema costs 0.07 s per run).
        nb = nbformat.v4.reads(fh.read())
    try:
        status = execute(nb, args.cwd, args.cell_timeout, args.max_output, args.wall, args.reap)
    except Exception as exc:  # noqa: BLE001 -- whatever happened, the grader gets a notebook and a reason
        status = {"status": "error", "cell": None, "reason": f"{type(exc).__name__}: {exc}"[:500]}
    nb.metadata[STATUS_KEY] = status
    if args.reap:
        reap()
        run_dir = os.path.dirname(os.path.abspath(args.notebook_out))
        make_room(run_dir, os.path.basename(args.notebook_in))
        if same_file_system(args.cwd, run_dir):  # the Docker sandbox's work copy: nothing reads it back
            make_room(args.cwd, "")
    write_atomic(nb, args.notebook_out)
    print(json.dumps(status), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
