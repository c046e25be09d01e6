"""Run volatility3 plugins on a memory image and get the rows back as a pandas DataFrame.

::

    from dflab.forensics import memory
    memory.run_plugin("evidence/memory.lime", "linux.pstree")       # process tree, with a depth column
    memory.run_plugin("evidence/memory.lime", "linux.psaux", pid=[1502])
    memory.run_plugin("evidence/memory.lime", "linux.bash")         # shell history with times

Why a subprocess running the ``vol`` command line rather than volatility's
Python API: the CLI is the interface volatility keeps stable and documents,
its JSON renderer gives plain rows, and a crash or hang inside a plugin
cannot take the notebook kernel down with it.  It is started with the same
Python interpreter, so it is always the pinned volatility3 installed with
dflab, whatever ``vol`` happens to be first on ``PATH``.

Every run is ``--offline`` (labs never download symbols) with
``-s <symbols_dir>`` and a **per-image volatility cache**: volatility
remembers "banner -> symbol file" in its cache and will not notice a
regenerated symbol file with the same name for days, so sharing one cache
between images (or between two versions of a lab) gives wrong answers.

Results are cached on disk per (image identity, symbols, plugin, arguments),
so re-running a notebook cell is instant.  The image identity is its path,
size and modification time: regenerate the evidence and the cache is
bypassed automatically.

Volatility's own words reach the caller.  A plugin that fails is one line
quoting volatility's error (the unknown symbol, the exception it raised),
not the "No further results will be produced" its output ends with.  A
plugin that logs ``ERROR`` lines and still exits 0 has usually given up
("Unable to find the system call table. Exiting."): with no rows that is an
error, never an empty table that reads as "nothing found"; with rows, the
lines come as a :class:`VolatilityErrorWarning` and in the table's
``attrs["volatility_errors"]``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from dflab.atomic import write_bytes
from dflab.errors import EvidenceError, ToolError

__all__ = ["VOL_TIMEOUT_SECONDS", "VolatilityErrorWarning", "default_cache_dir", "run_plugin"]

VOL_TIMEOUT_SECONDS = 900
# volatility re-validates a symbol table against its JSON schema when jsonschema is importable. Importing
# jsonschema alone costs several seconds per process here (its optional format checkers compile grammars), so
# the first plugin run of a lab took ~8 s instead of ~1.5 s. Validation is optional in volatility (a plain
# `pip install volatility3` has no jsonschema); dflab's tests validate every generated ISF against the schema.
_VOL_ENTRY = ("import sys; sys.modules['jsonschema'] = None; from volatility3.cli import main; "
              "sys.argv[0] = 'vol'; main()")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_UNSATISFIED = ("Unsatisfied requirement", "Unable to validate the plugin requirements")
# volatility's console log lines: "ERROR    volatility3.plugins.linux.kmsg: Unsupported kernel ring buffer ..."
_LOG_ERROR = re.compile(r"^(?:ERROR|CRITICAL)\s+(\S+?):\s*(.*)$")
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b:?.*$")
# What volatility's CLI prints before the line that says what went wrong (volatility3/cli/__init__.py).
_EXPLAINED = ("Volatility experienced a symbol-related issue:", "Volatility was unable to read a requested page:",
              "Volatility experienced an issue related to the Windows symbol cache:")
_MAX_SHOWN = 3


class VolatilityErrorWarning(UserWarning):
    """volatility logged ERROR lines while producing rows: the table may be partial."""


def default_cache_dir() -> Path:
    """Where results are cached when no ``cache_dir`` is given: ``$XDG_CACHE_HOME/dflab/memory``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dflab" / "memory"


def run_plugin(
    image: str | os.PathLike[str],
    plugin: str,
    symbols_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    **plugin_args: Any,
) -> pd.DataFrame:
    """Run one volatility3 plugin and return its rows.

    * ``plugin`` -- as on the command line: ``"linux.pslist"``, ``"linux.pstree"``,
      ``"linux.sockstat"``, ``"linux.malware.malfind"``, ...
    * ``symbols_dir`` -- folder holding the ISF symbol tables (the one that
      contains ``linux/``); default: ``symbols/`` next to the image when it
      exists.
    * ``cache_dir`` -- where results and volatility's own cache live;
      default :func:`default_cache_dir`.
    * ``plugin_args`` -- plugin options as keywords, e.g. ``pid=[1502]`` for
      ``--pid 1502``; ``True`` gives a bare flag, ``False``/``None`` omit it,
      underscores become dashes.

    Tree plugins (pstree) nest rows; they are flattened in tree order and the
    ``depth`` column says how deep each row sits (0 = top level, present for
    every plugin).  ISO time strings become UTC timestamps.

    Raises :class:`EvidenceError` when the image is missing or volatility
    cannot make sense of it (corrupt image, or no matching symbols), and
    :class:`ToolError` when volatility itself is missing or fails, or logs
    ERROR lines and produces no row; the message names the image and the
    plugin and quotes volatility.  ERROR lines beside rows are a
    :class:`VolatilityErrorWarning` and ``table.attrs["volatility_errors"]``.
    """
    target = Path(image)
    where = f"{target} [{plugin}]"
    if not target.is_file():
        raise EvidenceError("memory image not found", where)
    symbols = _symbols_dir(target, symbols_dir, where)
    version = _volatility_version(where)
    workdir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    image_dir = workdir / _identity(target, symbols, version)
    result_file = image_dir / "results" / f"{_safe(plugin)}-{_digest(_arguments(plugin_args))}.json"
    if result_file.is_file():
        stored = json.loads(result_file.read_bytes())
        # Caches written before errors were kept hold the bare row list.
        rows, errors = (stored, []) if isinstance(stored, list) else (stored["rows"], stored["errors"])
    else:
        rows, errors = _run_vol(target, plugin, symbols, image_dir, plugin_args, where)
        write_bytes(result_file, json.dumps({"rows": rows, "errors": errors}, sort_keys=True).encode())
    table = _table(rows)
    if errors:
        table.attrs["volatility_errors"] = errors
        warnings.warn(VolatilityErrorWarning(f"{where}: volatility logged {len(errors)} error(s) while producing "
                                             f"{len(table)} rows: {_shown(errors)}"), stacklevel=2)
    return table


def _run_vol(image: Path, plugin: str, symbols: Path | None, image_dir: Path, plugin_args: dict[str, Any],
             where: str) -> tuple[list[dict], list[str]]:
    """volatility's rows and the ERROR lines it logged; raises when it failed or gave up without a row."""
    vol_cache = image_dir / "volatility"
    output = image_dir / "output"
    for folder in (vol_cache, output):
        folder.mkdir(parents=True, exist_ok=True)  # volatility fails if its cache folder is absent
    command = [sys.executable, "-c", _VOL_ENTRY, "-q", "-r", "json", "--offline", "--cache-path", str(vol_cache),
               "-o", str(output), "-f", str(image)]
    if symbols is not None:
        command += ["-s", str(symbols)]
    command += [plugin, *_arguments(plugin_args)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=VOL_TIMEOUT_SECONDS,
                              stdin=subprocess.DEVNULL, check=False)  # the exit code is classified below
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"volatility did not finish within {VOL_TIMEOUT_SECONDS} s", where) from exc
    stderr = done.stderr.strip()
    if done.returncode != 0:
        raise _error_from(stderr, done.returncode, symbols, where)
    try:
        rows = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise ToolError(f"volatility printed something that is not JSON: {_last_line(done.stdout)!r}",
                        where) from exc
    if not isinstance(rows, list):
        raise ToolError("volatility's JSON output is not a list of rows", where)
    errors = _logged_errors(stderr)
    if errors and not rows:
        raise ToolError(f"volatility logged {len(errors)} error(s) and produced no rows: {_shown(errors)}", where)
    return rows, errors


def _error_from(stderr: str, returncode: int, symbols: Path | None, where: str) -> Exception:
    if any(marker in stderr for marker in _UNSATISFIED):
        hint = f"symbols in {symbols}" if symbols is not None else "no symbols directory given"
        return EvidenceError(
            f"volatility found no usable kernel: the image is corrupt or does not match its symbols ({hint}); "
            f"volatility said: {_reason(stderr)}", where)
    if "invalid choice" in stderr:
        return ToolError("volatility has no such plugin (run `vol --help` for the list)", where)
    if "No module named" in stderr:
        return ToolError("volatility3 is not installed in this Python environment", where)
    return ToolError(f"volatility failed (exit {returncode}): {_reason(stderr)}", where)


def _reason(stderr: str) -> str:
    """What volatility said went wrong, in one line, from its stderr.

    In order: the line after the CLI's explanation header (``symbol_table_name1!modules: Unknown symbol:
    modules``), the exception a traceback ends in, the ERROR lines it logged, the unsatisfied requirements;
    else its last line.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for index, line in enumerate(lines[:-1]):
        if line in _EXPLAINED:
            return lines[index + 1]
    if any(line.startswith("Traceback (most recent call last)") for line in lines):
        raised = [line for line in lines if _EXCEPTION.match(line) and not line.startswith("During handling")]
        if raised:
            return raised[-1]
    errors = _logged_errors(stderr)
    if errors:
        return _shown(errors)
    unsatisfied = [line for line in lines if line.startswith(_UNSATISFIED)]
    return "; ".join(unsatisfied) if unsatisfied else _last_line(stderr)


def _logged_errors(stderr: str) -> list[str]:
    """volatility's ERROR/CRITICAL log lines as ``"module: message"``."""
    found = []
    for line in stderr.splitlines():
        match = _LOG_ERROR.match(line.strip())
        if match:
            found.append(f"{match.group(1)}: {match.group(2)}")
    return found


def _shown(errors: list[str]) -> str:
    more = f" (and {len(errors) - _MAX_SHOWN} more)" if len(errors) > _MAX_SHOWN else ""
    return " | ".join(errors[:_MAX_SHOWN]) + more


def _table(rows: list[dict]) -> pd.DataFrame:
    flat = list(_flatten(rows, 0))
    columns: list[str] = []
    for row in flat:
        columns.extend(name for name in row if name not in columns)
    frame = pd.DataFrame(flat, columns=columns or ["depth"])
    for name in frame.columns:
        values = frame[name].dropna()
        if len(values) and values.map(lambda v: isinstance(v, str) and bool(_ISO_TIME.match(v))).all():
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame


def _flatten(rows: list[dict], depth: int) -> Iterator[dict]:
    """Pre-order walk of volatility's ``__children`` tree, adding each row's depth."""
    for row in rows:
        children = row.get("__children") or []
        yield {**{k: v for k, v in row.items() if k != "__children"}, "depth": depth}
        yield from _flatten(children, depth + 1)


def _arguments(plugin_args: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name in sorted(plugin_args):
        value = plugin_args[name]
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, (list, tuple)):
            args += [flag, *(str(v) for v in value)]
        else:
            args += [flag, str(value)]
    return args


def _symbols_dir(image: Path, symbols_dir: str | os.PathLike[str] | None, where: str) -> Path | None:
    if symbols_dir is None:
        beside = image.parent / "symbols"
        return beside if beside.is_dir() else None
    folder = Path(symbols_dir)
    if not folder.is_dir():
        raise EvidenceError(f"symbols directory not found: {folder}", where)
    return folder


def _volatility_version(where: str) -> str:
    if importlib.util.find_spec("volatility3") is None:
        raise ToolError("volatility3 is not installed in this Python environment", where)
    return importlib.metadata.version("volatility3")


def _identity(image: Path, symbols: Path | None, version: str) -> str:
    """A short key that changes whenever the image, its symbol files or volatility change."""
    stat = image.stat()
    parts = [str(image.resolve()), str(stat.st_size), str(stat.st_mtime_ns), version]
    if symbols is not None:
        for isf in sorted(p for p in symbols.rglob("*") if p.is_file()):
            info = isf.stat()
            parts += [str(isf.resolve()), str(info.st_size), str(info.st_mtime_ns)]
    return f"{_safe(image.name)}-{_digest(parts)}"


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"
