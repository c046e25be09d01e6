"""Answer checks: load ``graders/<lab>.yaml`` and compare a recorded answer with a trainee's key.

This module runs only in the grader's process (never in a trainee's kernel):
it is the single place where an answer meets its expected value.  Every
comparison returns ``(ok, reason)`` and the reason is shown to the trainee in
feedback, so it says *what kind* of mistake was made and never contains the
expected value (otherwise feedback would leak the key, and with it other
trainees' near-identical answers).
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dflab.errors import DflabError

Compare = Literal["exact", "casefold", "hex", "int", "float", "set", "time", "path"]
Result = tuple[bool, str]
CORRECT = "correct"
_HEX = re.compile(r"^(0x)?[0-9a-f]+$")


class Check(BaseModel):
    """How one named answer is compared with the key (see graders/README.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    compare: Compare
    key: str | None = Field(default=None, description="dotted path in the answer key; default answers.<name>")
    tolerance: float = Field(default=0.0, ge=0)
    tolerance_s: float = Field(default=0.0, ge=0)


class CheckFile(BaseModel):
    """A whole ``graders/<lab>.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lab: str
    checks: dict[str, Check] = Field(min_length=1)

    def key_path(self, name: str) -> str:
        """Where answer ``name`` lives in the answer key."""
        return self.checks[name].key or f"answers.{name}"


def load_checks(path: Path) -> CheckFile:
    """Read and validate a check file; any problem is one DflabError naming ``file: field``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DflabError("check file not found", str(path)) from exc
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DflabError(f"cannot read check file: {exc}", str(path)) from exc
    try:
        checks = CheckFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise DflabError(f"{field}: {err['msg']}", str(path)) from exc
    if checks.lab != path.stem:
        raise DflabError(f"lab: {checks.lab!r} does not match the file name {path.stem!r}", str(path))
    return checks


def checks_for(checks_dir: Path, lab: str) -> CheckFile:
    """The check file of ``lab`` in ``checks_dir``."""
    return load_checks(checks_dir / f"{lab}.yaml")


def lookup(key: dict[str, Any], path: str, where: str) -> Any:
    """Follow a dotted key path; a missing part is an instructor error.

    Numeric parts index lists.  Dict keys may themselves contain dots (the
    key's ``namespace`` is flat: ``namespace.flows.dns-drop.qname``), so at
    each level the longest matching key wins.
    """
    node: Any = key
    parts = path.split(".")
    i = 0
    while i < len(parts):
        if isinstance(node, dict):
            j = next((j for j in range(len(parts), i, -1) if ".".join(parts[i:j]) in node), None)
            if j is None:
                raise DflabError(f"answer key has no {path!r} (stops at {parts[i]!r})", where)
            node, i = node[".".join(parts[i:j])], j
        elif isinstance(node, list) and parts[i].isdigit() and int(parts[i]) < len(node):
            node, i = node[int(parts[i])], i + 1
        else:
            raise DflabError(f"answer key has no {path!r} (stops at {parts[i]!r})", where)
    return node


# -- comparisons: (recorded value, expected value, check) -> (ok, reason) --------------------------------

def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def compare_exact(got: Any, want: Any, check: Check) -> Result:
    """Equal as JSON values (strings are compared with surrounding whitespace trimmed)."""
    if isinstance(got, str) and isinstance(want, str):
        got, want = got.strip(), want.strip()
    return (True, CORRECT) if got == want else (False, "not the value found in your evidence")


def compare_casefold(got: Any, want: Any, check: Check) -> Result:
    """Equal as text, ignoring case and surrounding whitespace."""
    if _text(got) is None:
        return False, f"expected text, got {type(got).__name__}"
    if got.strip().casefold() == str(want).strip().casefold():
        return True, CORRECT
    return False, "not the value found in your evidence"


def compare_hex(got: Any, want: Any, check: Check) -> Result:
    """Equal hex strings ignoring case, whitespace and a 0x prefix; a length mismatch is named as such."""
    if _text(got) is None:
        return False, f"expected a hex string, got {type(got).__name__}"
    norm = "".join(got.split()).lower()
    if not _HEX.match(norm):
        return False, "not a hex string (only 0-9 and a-f)"
    norm, expected = norm.removeprefix("0x"), "".join(str(want).split()).lower().removeprefix("0x")
    if len(norm) != len(expected):
        return False, f"wrong length: {len(norm)} hex digits, expected {len(expected)}"
    return (True, CORRECT) if norm == expected else (False, "hash/hex value does not match your evidence")


def compare_int(got: Any, want: Any, check: Check) -> Result:
    """Equal integers; integral floats and decimal strings are accepted, booleans are not."""
    value = _as_int(got)
    if value is None:
        return False, f"expected an integer, got {type(got).__name__}"
    return (True, CORRECT) if value == int(want) else (False, "not the number found in your evidence")


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    return None


def compare_float(got: Any, want: Any, check: Check) -> Result:
    """Equal within ``tolerance`` (absolute)."""
    if isinstance(got, bool) or not isinstance(got, (int, float)) or not math.isfinite(got):
        return False, f"expected a number, got {type(got).__name__}"
    if abs(float(got) - float(want)) <= check.tolerance:
        return True, CORRECT
    return False, f"not within {check.tolerance:g} of the value in your evidence"


def compare_set(got: Any, want: Any, check: Check) -> Result:
    """Same members, order-free, strings casefolded; says how many are missing or extra, not which."""
    if not isinstance(got, (list, tuple)):
        return False, f"expected a list, got {type(got).__name__}"
    have = {str(x).strip().casefold() for x in got}
    need = {str(x).strip().casefold() for x in want}
    if have == need:
        return True, CORRECT
    missing, extra = len(need - have), len(have - need)
    return False, f"{missing} missing and {extra} wrong item(s)"


def compare_time(got: Any, want: Any, check: Check) -> Result:
    """Same instant within ``tolerance_s``; ISO-8601 (zone required) or epoch seconds."""
    have, expected = _instant(got), _instant(want)
    if have is None:
        return False, "expected an ISO-8601 time with a zone (YYYY-MM-DDTHH:MM:SSZ) or epoch seconds"
    if expected is None:
        raise DflabError(f"key value is not a time: {type(want).__name__}", "answer key")
    if abs(have - expected) <= check.tolerance_s:
        return True, CORRECT
    return False, f"not within {check.tolerance_s:g} s of the time in your evidence"


def _instant(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC).timestamp()


def compare_path(got: Any, want: Any, check: Check) -> Result:
    """Equal POSIX paths after normalisation (``//``, ``/./``, trailing ``/``); case matters."""
    if _text(got) is None:
        return False, f"expected a path string, got {type(got).__name__}"
    norm = posixpath.normpath(got.strip())
    if not norm.startswith("/"):
        return False, "expected an absolute path (starting with /)"
    return (True, CORRECT) if norm == posixpath.normpath(str(want)) else (False, "not the path found in your evidence")


COMPARES: dict[str, Callable[[Any, Any, Check], Result]] = {
    "exact": compare_exact, "casefold": compare_casefold, "hex": compare_hex, "int": compare_int,
    "float": compare_float, "set": compare_set, "time": compare_time, "path": compare_path,
}


def check_answer(checks: CheckFile, name: str, value: Any, key: dict[str, Any], key_where: str) -> Result:
    """Compare answer ``name``'s recorded value with the key; an unknown name is a wrong answer, not a crash."""
    if name not in checks.checks:
        return False, f"{name!r} is not an answer of lab {checks.lab}"
    check = checks.checks[name]
    return COMPARES[check.compare](value, lookup(key, checks.key_path(name), key_where), check)
