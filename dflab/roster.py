"""Cohort rosters: a CSV with one trainee per line (``id`` column required; ``name``, ``email``, ``lang`` optional).

``lang`` is the language a trainee works in (their released notebook, the lab's messages, JupyterLab's menus):
``en`` when absent or empty, else one of the labs' languages (``fr``, ``es``); a region or encoding spelling
(``fr-FR``, ``es_ES``, ``fr_FR.UTF-8``) names the same language (:mod:`dflab.i18n.lang`).

Trainee ids become directory names, container names and seed inputs, so they
are restricted to a safe alphabet; every bad line is reported with its line
number rather than silently skipped.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from dflab.errors import DflabError, read_user_text
from dflab.i18n.lang import DEFAULT_LANG, normalise_lang

TRAINEE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Trainee:
    id: str
    name: str = ""
    email: str = ""
    lang: str = DEFAULT_LANG


def check_trainee_id(value: str, where: str) -> str:
    if not TRAINEE_ID.match(value):
        raise DflabError(f"trainee id {value!r} must be 1-63 of a-z 0-9 . _ - (starting with a letter or digit)",
                         where)
    return value


def read_roster(path: Path) -> list[Trainee]:
    """Parse a roster; raise DflabError naming ``file:line`` for the first bad line."""
    text = read_user_text(path, "roster", encoding="utf-8-sig")
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "id" not in [f.strip().lower() for f in reader.fieldnames]:
        raise DflabError("roster needs a header line with an 'id' column (id,name,email,lang)", f"{path}:1")
    trainees: list[Trainee] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        tid = row.get("id", "")
        if not tid:
            raise DflabError("empty trainee id", f"{path}:{line}")
        check_trainee_id(tid, f"{path}:{line}")
        if tid in seen:
            raise DflabError(f"duplicate trainee id {tid!r} (first on line {seen[tid]})", f"{path}:{line}")
        seen[tid] = line
        lang = normalise_lang(row.get("lang", ""), f"{path}:{line}")
        trainees.append(Trainee(tid, row.get("name", ""), row.get("email", ""), lang))
    if not trainees:
        raise DflabError("roster lists no trainees", str(path))
    return trainees
