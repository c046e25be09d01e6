"""Answer checks: load ``graders/<lab>.yaml`` and compare a recorded answer with a trainee's key.

This module runs only in the grader's process (never in a trainee's kernel):
it is the single place where an answer meets its expected value.  Every
comparison returns ``(ok, reason)`` and the reason is shown to the trainee in
feedback, so it says *what kind* of mistake was made and never contains the
expected value (otherwise feedback would leak the key, and with it other
trainees' near-identical answers).
"""

from __future__ import annotations

import fnmatch
import math
import posixpath
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dflab.errors import DflabError

Compare = Literal["exact", "casefold", "hex", "int", "float", "set", "time", "path", "citations", "timeline",
                  "live_collection"]
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
    require: tuple[str, ...] = Field(default=(), description="citations: manifest paths (fnmatch patterns) that "
                                     "must be cited; timeline: step ids that must be listed")
    criterion: str | None = Field(default=None, description="live_collection: which criterion of the submitted "
                                  "case directory this answer is graded on (dflab.live.grading.CRITERIA)")

    @model_validator(mode="after")
    def _criterion_fits(self) -> Check:
        """A live_collection check names a known criterion; no other check names one."""
        if self.compare != "live_collection":
            if self.criterion is not None:
                raise ValueError("criterion is only for compare: live_collection")
            return self
        from dflab.live.grading import CRITERIA  # pandas-heavy, and only lab 01 needs it

        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}")
        return self


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


def _pairs(value: Any) -> list[tuple[str, Any]] | None:
    """A list of two-item [text, value] pairs as recorded (JSON has no tuples), else None."""
    if not isinstance(value, list) or not value:
        return None
    if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in value):
        return None
    return [(p[0].strip(), p[1]) for p in value]


def compare_citations(got: Any, want: Any, check: Check) -> Result:
    """Every cited [evidence item, sha256] pair names an item of the evidence manifest with its exact hash, and the
    ``require``d items (fnmatch patterns of manifest paths) are cited: a court can follow each finding to a sealed
    exhibit.  Item names are public (they are the manifest's), so reasons may name them; hashes are never shown."""
    pairs = _pairs(got)
    if pairs is None:
        return False, "expected a non-empty list of [evidence item, sha256] pairs"
    manifest = {str(entry["path"]): str(entry["sha256"]).lower() for entry in want}
    reasons = []
    for item, sha in pairs:
        if item not in manifest:
            reasons.append(f"cites {item!r}, which is not an item of the evidence manifest")
        elif not isinstance(sha, str) or "".join(sha.split()).lower() != manifest[item]:
            reasons.append(f"the SHA-256 cited for {item!r} is not the one in the evidence manifest")
    cited = {item for item, _ in pairs}
    reasons += [f"no finding cites {pattern!r}" for pattern in check.require
                if not any(fnmatch.fnmatchcase(item, pattern) for item in cited)]
    return (False, "; ".join(dict.fromkeys(reasons))) if reasons else (True, CORRECT)  # a finding per repeat


def compare_timeline(got: Any, want: Any, check: Check) -> Result:
    """[step id, time] pairs in chronological order, each step a step of the case listed once, each time within
    ``tolerance_s`` of the key's, every ``require``d step present.  Step ids are the case's public vocabulary."""
    pairs = _pairs(got)
    if pairs is None:
        return False, "expected a non-empty list of [step, time] pairs"
    times: dict[str, float] = {}
    for event in want:
        if (when := _instant(event["time"])) is None:
            raise DflabError(f"key timeline time is not a time: {event['time']!r}", "answer key")
        times[str(event["id"])] = when
    reasons, seen, instants = [], set(), []
    for step, value in pairs:
        if step in seen:
            reasons.append(f"step {step!r} is listed twice")
            continue
        seen.add(step)
        instant = _instant(value)
        if step not in times:
            reasons.append(f"{step!r} is not a step of this case")
        elif instant is None:
            reasons.append(f"step {step!r}: expected an ISO-8601 time with a zone or epoch seconds")
        elif abs(instant - times[step]) > check.tolerance_s:
            reasons.append(f"step {step!r}: not within {check.tolerance_s:g} s of the time in your evidence")
        if instant is not None:
            instants.append(instant)
    if instants != sorted(instants):
        reasons.append("the steps are not in chronological order")
    missing = [step for step in check.require if step not in seen]
    if missing:
        reasons.append(f"missing step(s): {', '.join(missing)}")
    return (False, "; ".join(reasons)) if reasons else (True, CORRECT)


COMPARES: dict[str, Callable[[Any, Any, Check], Result]] = {
    "exact": compare_exact, "casefold": compare_casefold, "hex": compare_hex, "int": compare_int,
    "float": compare_float, "set": compare_set, "time": compare_time, "path": compare_path,
    "citations": compare_citations, "timeline": compare_timeline,
}


def check_answer(checks: CheckFile, name: str, value: Any, key: dict[str, Any], key_where: str,
                 submission: Path | None = None) -> Result:
    """Compare answer ``name``'s recorded value with the key; an unknown name is a wrong answer, not a crash.

    ``submission`` is the trainee's submitted assignment folder, read by checks on handed-in files
    (``live_collection``: the case directory of lab 01, graded by :func:`dflab.live.grading.check_collection`).
    """
    if name not in checks.checks:
        return False, f"{name!r} is not an answer of lab {checks.lab}"
    check = checks.checks[name]
    if check.compare == "live_collection":
        from dflab.live.grading import check_collection  # pandas-heavy, and only lab 01 needs it

        return check_collection(value, lookup(key, checks.key_path(name), key_where), str(check.criterion),
                                submission)
    return COMPARES[check.compare](value, lookup(key, checks.key_path(name), key_where), check)
