"""dflab.forensics.memory: error paths, result cache, and real volatility3 runs on a generated image.

No public memory image is small enough to ship, so the real-vol tests
generate one from ``tests.small_case`` with ``dflab.evidence.memory`` and
assert the processes and shell history the Case planned.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from dflab.errors import EvidenceError, ToolError
from dflab.forensics import memory
from tests.small_case import small_case


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``memory.lime`` + ``symbols/linux/*.json`` for the small case, written by the real generator."""
    from dflab.evidence.memory.writer import write_memory

    out = tmp_path_factory.mktemp("memory")
    write_memory(small_case(), out, formats=("lime",))
    return out / "memory.lime"


# ----------------------------------------------------------------- error paths (no volatility needed to fail)

def test_missing_image_is_evidence_error(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match=r"absent\.lime \[linux\.pslist\]: memory image not found"):
        memory.run_plugin(tmp_path / "absent.lime", "linux.pslist", cache_dir=tmp_path / "cache")


def test_garbage_image_is_one_line_evidence_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.lime"
    garbage.write_bytes(bytes(range(256)) * 4096)
    with pytest.raises(EvidenceError) as caught:
        memory.run_plugin(garbage, "linux.pslist", cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{garbage} [linux.pslist]: volatility found no usable kernel")
    assert not list((tmp_path / "cache").rglob("results/*.json")), "failures must not be cached"


def test_missing_symbols_dir_is_evidence_error(tmp_path: Path) -> None:
    image = tmp_path / "m.lime"
    image.write_bytes(b"\0" * 4096)
    with pytest.raises(EvidenceError, match="symbols directory not found"):
        memory.run_plugin(image, "linux.pslist", symbols_dir=tmp_path / "nope", cache_dir=tmp_path / "c")


# ----------------------------------------------------------------- real volatility3 on a generated image

def test_pstree_matches_the_planned_process_tree(generated: Path, tmp_path: Path) -> None:
    case = small_case()
    tree = memory.run_plugin(generated, "linux.pstree", cache_dir=tmp_path)
    visible = {p.pid: p for p in case.memory.processes if not p.hidden}
    assert sorted(tree.PID) == sorted(visible)
    assert {(r.PID, r.PPID, r.COMM) for r in tree.itertuples()} == {(p.pid, p.ppid, p.comm) for p in visible.values()}
    depth = {}
    for p in sorted(visible.values(), key=lambda p: p.pid):
        depth[p.pid] = depth.get(p.ppid, -1) + 1 if p.ppid in visible else 0
    assert dict(zip(tree.PID, tree.depth, strict=True)) == depth
    # pre-order: every child comes after its parent
    order = list(tree.PID)
    assert all(order.index(p.ppid) < order.index(p.pid) for p in visible.values() if p.ppid in visible)
    assert "__children" not in tree.columns


def test_hidden_process_only_in_psscan(generated: Path, tmp_path: Path) -> None:
    case = small_case()
    hidden = {p.pid for p in case.memory.processes if p.hidden}
    assert hidden
    listed = set(memory.run_plugin(generated, "linux.pslist", cache_dir=tmp_path).PID)
    scanned = set(memory.run_plugin(generated, "linux.psscan", cache_dir=tmp_path).PID)
    assert not hidden & listed
    assert hidden <= scanned


def test_psaux_args_and_bash_history(generated: Path, tmp_path: Path) -> None:
    case = small_case()
    beacon = next(p for p in case.memory.processes if p.injected is not None)
    aux = memory.run_plugin(generated, "linux.psaux", cache_dir=tmp_path, pid=[beacon.pid])
    assert aux[["PID", "ARGS"]].values.tolist() == [[beacon.pid, " ".join(beacon.args)]]
    history = memory.run_plugin(generated, "linux.bash", cache_dir=tmp_path)
    planned = [(p.pid, h.command, pd.Timestamp(h.time, unit="s", tz="UTC"))
               for p in case.memory.processes for h in p.bash_history]
    assert planned
    assert list(zip(history.PID, history.Command, history.CommandTime, strict=True)) == planned
    assert str(history.CommandTime.dtype).startswith("datetime64")


def test_results_are_cached_per_image_and_arguments(generated: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    first = memory.run_plugin(generated, "linux.pslist", cache_dir=tmp_path)
    results = list(tmp_path.rglob("results/*.json"))
    assert len(results) == 1
    vol_caches = list(tmp_path.glob("*/volatility"))
    assert len(vol_caches) == 1 and generated.name in vol_caches[0].parent.name

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError("volatility must not run again for a cached result")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    again = memory.run_plugin(generated, "linux.pslist", cache_dir=tmp_path)
    pd.testing.assert_frame_equal(first, again)
    with pytest.raises(AssertionError, match="must not run again"):
        memory.run_plugin(generated, "linux.pslist", cache_dir=tmp_path, pid=[1])  # new arguments: new run
    monkeypatch.undo()
    # A regenerated (re-written) image is a different image: its own cache folder.
    stat = generated.stat()
    os.utime(generated, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    memory.run_plugin(generated, "linux.pslist", cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*/volatility"))) == 2


def test_unknown_plugin_is_tool_error(generated: Path, tmp_path: Path) -> None:
    with pytest.raises(ToolError, match=r"\[linux\.no_such_plugin\]: volatility has no such plugin"):
        memory.run_plugin(generated, "linux.no_such_plugin", cache_dir=tmp_path)


# ----------------------------------------------------------------- volatility's own errors reach the caller

def _doctored(generated: Path, folder: Path, drop_symbols: tuple[str, ...] = ()) -> Path:
    """A copy of the generated image whose symbol table lacks ``drop_symbols``: what a mismatched ISF looks like."""
    folder.mkdir()
    image = folder / generated.name
    image.write_bytes(generated.read_bytes())
    for isf in (generated.parent / "symbols").rglob("*.json"):
        table = json.loads(isf.read_text())
        for name in drop_symbols:
            table["symbols"].pop(name, None)
        target = folder / isf.relative_to(generated.parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(table))
    return image


@pytest.mark.parametrize("plugin,symbol,said", [
    # volatility's CLI: "Volatility experienced a symbol-related issue:" then the symbol; the output ends in
    # "No further results will be produced", which is what the caller saw before.
    ("linux.lsmod", "modules", "symbol_table_name1!modules: Unknown symbol: modules"),
    # A plugin raising: the exception line at the end of the traceback.
    ("linux.tty_check", "tty_drivers", "TypeError: This plugin requires the tty_drivers structure."),
])
def test_a_failing_plugin_is_volatility_s_own_error(generated: Path, tmp_path: Path, plugin: str, symbol: str,
                                                    said: str) -> None:
    image = _doctored(generated, tmp_path / "image", (symbol,))
    with pytest.raises(ToolError) as caught:
        memory.run_plugin(image, plugin, cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert message.startswith(f"{image} [{plugin}]: volatility failed (exit 1): {said}"), message
    assert "\n" not in message and "No further results" not in message


def test_errors_logged_with_no_rows_are_an_error_not_an_empty_table(generated: Path, tmp_path: Path) -> None:
    """check_syscall without sys_call_table logs ERROR "... Exiting." and exits 0 with no rows: no hooks found?"""
    image = _doctored(generated, tmp_path / "image", ("sys_call_table",))
    with pytest.raises(ToolError) as caught:
        memory.run_plugin(image, "linux.malware.check_syscall", cache_dir=tmp_path / "cache")
    assert str(caught.value) == (
        f"{image} [linux.malware.check_syscall]: volatility logged 1 error(s) and produced no rows: "
        "volatility3.plugins.linux.malware.check_syscall: Unable to find the system call table. Exiting.")
    assert not list((tmp_path / "cache").rglob("results/*.json")), "failures must not be cached"


# A volatility plugin in the shape of proc.list_vmas' "Task N has an invalid mm member": rows for every task it can
# read, an ERROR for the one it cannot. No bundled Linux plugin both yields rows and logs ERROR on a generated image
# (each that logs one gives up), so the case is made with volatility's own plugin API and loaded with its -p option.
_PARTIAL_PLUGIN = """
import logging

from volatility3.framework import interfaces, renderers
from volatility3.framework.configuration import requirements
from volatility3.plugins.linux import pslist

vollog = logging.getLogger(__name__)


class Partial(interfaces.plugins.PluginInterface):
    _required_framework_version = (2, 0, 0)
    _version = (1, 0, 0)

    @classmethod
    def get_requirements(cls):
        return [requirements.ModuleRequirement(name="kernel", architectures=["Intel32", "Intel64"]),
                requirements.VersionRequirement(name="pslist", component=pslist.PsList, version=(4, 0, 0))]

    def _generator(self):
        tasks = sorted(pslist.PsList.list_tasks(self.context, self.config["kernel"]), key=lambda t: int(t.pid))
        for task in tasks[:-1]:
            yield 0, (int(task.pid),)
        vollog.error("Task %d has an invalid mm member", tasks[-1].pid)

    def run(self):
        return renderers.TreeGrid([("PID", int)], self._generator())
"""


def test_errors_logged_beside_rows_are_a_warning_and_kept(generated: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "partial.py").write_text(_PARTIAL_PLUGIN)
    monkeypatch.setattr(memory, "_VOL_ENTRY", memory._VOL_ENTRY.replace(
        "sys.argv[0] = 'vol';", f"sys.argv[0] = 'vol'; sys.argv[1:1] = ['-p', {str(plugins)!r}];"))
    visible = sorted(p.pid for p in small_case().memory.processes if not p.hidden)

    with pytest.warns(memory.VolatilityErrorWarning, match=rf"logged 1 error\(s\) while producing "
                                                           rf"{len(visible) - 1} rows: volatility3\.plugins\.partial: "
                                                           rf"Task {visible[-1]} has an invalid mm member"):
        rows = memory.run_plugin(generated, "partial.Partial", cache_dir=tmp_path / "cache")
    assert rows.PID.tolist() == visible[:-1]
    assert rows.attrs["volatility_errors"] == [
        f"volatility3.plugins.partial: Task {visible[-1]} has an invalid mm member"]
    with pytest.warns(memory.VolatilityErrorWarning):  # the cached result says it again
        again = memory.run_plugin(generated, "partial.Partial", cache_dir=tmp_path / "cache")
    pd.testing.assert_frame_equal(rows, again)
    assert again.attrs == rows.attrs
