"""The chain-of-custody record of a live collection, its validation, and a CASE/UCO JSON-LD export.

The record is built from the collection log, not typed by hand, so every item's hash and acquisition
time is the one computed when the exhibit was written.  What a log cannot know (who handed the items to
whom, when and why) is added as transfers.  ISO/IEC 27037 §5.2 and ACPO principle 3 ask exactly this: an
audit trail that lets an independent examiner repeat the process and reach the same result.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema

from dflab.atomic import write_bytes
from dflab.errors import DflabError, EvidenceError
from dflab.live.collect import CUSTODY_FILE, HASH_ALGORITHM, LOG_NAME, read_log, tool_version, utc_us, verify_log
from dflab.live.custody_schema import SCHEMA

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "graders" / "schemas" / "chain_of_custody.schema.json"  # published
CASE_UCO_FILE = "custody.jsonld"

DESCRIPTIONS = {
    "network_connections": "TCP connection table with owning processes",
    "logged_in_users": "login sessions (utmp and SSH session environments)",
    "processes": "process table with executable links",
    "open_files": "open file descriptors of one process",
    "memory_maps": "memory map of one process",
    "recover_deleted_exe": "executable image of a running process, recovered via /proc/<pid>/exe",
    "recover_deleted_fd": "file held open by a running process, recovered via /proc/<pid>/fd",
    "file": "copy of a file from the file system",
}


@dataclass(frozen=True)
class Transfer:
    """One hand-over of items: from whom, to whom, why, when (default: now) and which items (default: all)."""

    from_: str
    to: str
    purpose: str
    utc: str | None = None
    items: tuple[str, ...] = field(default_factory=tuple)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_custody(case_dir: str | os.PathLike[str], transfers: list[Transfer] | tuple[Transfer, ...] = ()
                  ) -> dict[str, Any]:
    """The chain-of-custody record for the collection in ``case_dir`` (one item per logged output)."""
    case = Path(case_dir)
    log_path = case / LOG_NAME
    entries = read_log(log_path)
    if not entries:
        raise EvidenceError("the collection log is empty", str(log_path))
    opened = entries[0]
    items = [{
        "item_id": f"{opened.case_id}-{e.seq:03d}",
        "seq": e.seq,
        "description": DESCRIPTIONS.get(e.action, e.action),
        "action": e.action,
        "source": e.target,
        "file": e.output,
        "sha256": e.sha256,
        "size_bytes": e.size,
        "acquired_utc": e.utc,
        "acquired_by": e.examiner,
    } for e in entries if e.output is not None]
    all_ids = [i["item_id"] for i in items]
    return {
        "record_version": 1,
        "case_id": opened.case_id,
        "examiner": opened.examiner,
        "created_utc": _now(),
        "tool": {"name": "dflab", "version": tool_version()},
        "hash_algorithm": HASH_ALGORITHM,
        "acquisition": {"host": opened.target, "started_utc": entries[0].utc, "ended_utc": entries[-1].utc},
        "items": items,
        "transfers": [{"utc": t.utc or _now(), "from": t.from_, "to": t.to, "purpose": t.purpose,
                       "items": list(t.items) or all_ids} for t in transfers],
        "log": {"file": LOG_NAME, "sha256": hashlib.sha256(log_path.read_bytes()).hexdigest(),
                "entries": len(entries)},
    }


def _schema(schema_path: Path | None) -> dict[str, Any]:
    """The schema at ``schema_path``; by default the copy in the package (:mod:`dflab.live.custody_schema`), which a
    lab's kernel can read where the repository's ``graders/`` folder is not there to read."""
    if schema_path is None:
        return SCHEMA
    path = schema_path
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DflabError(f"cannot load the chain-of-custody schema: {exc}", str(path)) from exc


def custody_errors(record: Any, schema_path: Path | None = None) -> list[str]:
    """Every schema violation as "field.path: message", plus transfers naming unknown items."""
    validator = jsonschema.Draft202012Validator(_schema(schema_path))
    errors = [f"{'.'.join(str(p) for p in err.absolute_path) or '<record>'}: {err.message}"
              for err in sorted(validator.iter_errors(record), key=lambda e: list(map(str, e.absolute_path)))]
    if not errors:
        known = {i["item_id"] for i in record["items"]}
        for n, t in enumerate(record["transfers"]):
            errors += [f"transfers.{n}.items: unknown item {i!r}" for i in t["items"] if i not in known]
    return errors


def validate_custody(record: Any, schema_path: Path | None = None) -> None:
    """Raise :class:`DflabError` naming the first invalid field of ``record``."""
    errors = custody_errors(record, schema_path)
    if errors:
        raise DflabError(f"invalid chain-of-custody record ({len(errors)} problem(s)): {errors[0]}")


def write_custody(record: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Validate ``record`` and write it atomically as JSON."""
    validate_custody(record)
    write_bytes(path, json.dumps(record, indent=2, sort_keys=True).encode() + b"\n")


def close_case(case_dir: str | os.PathLike[str], transfers: list[Transfer] | tuple[Transfer, ...] = ()
               ) -> dict[str, Any]:
    """Close the case: write its custody record (``custody.json``) and CASE/UCO export; return the record.

    Closing seals the collection: afterwards :class:`dflab.live.collect.Collector` only replays the case.
    Closing a closed case writes nothing and returns the record written then (validated again), so the
    notebook cell that closed it can run again, e.g. when the grader re-executes the notebook.

    A record vouches for the log, so a log that fails its own checks (sequence, hash chain, clocks) or an
    exhibit that no longer matches its logged hash is refused, never signed.  (Whether each entry was sealed by
    the running suspect needs the trainee's key: the grader checks that, and a record does not make up for it.)
    """
    case = Path(case_dir)
    path = case / CUSTODY_FILE
    if path.is_file():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EvidenceError(f"unreadable custody record: {exc}", str(path)) from exc
        validate_custody(record)
        return record
    _refuse_unsound(case)
    record = build_custody(case, transfers)
    write_bytes(case / CASE_UCO_FILE, json.dumps(to_case_uco(record), indent=2).encode() + b"\n")
    write_custody(record, path)   # last: its presence is what closes the case
    return record


def _refuse_unsound(case: Path) -> None:
    log_path = case / LOG_NAME
    entries = read_log(log_path)
    if problems := verify_log(entries):
        raise EvidenceError(f"the collection log fails its own checks, so no custody record vouches for it "
                            f"({len(problems)} problem(s)): {problems[0]}", str(log_path))
    for e in entries:
        if e.output is None:
            continue
        path = case / e.output
        if Path(e.output).name != e.output or path.is_symlink() or not path.is_file():
            raise EvidenceError(f"exhibit of entry {e.seq} is not a file of the case folder", str(path))
        if hashlib.sha256(path.read_bytes()).hexdigest() != e.sha256:
            raise EvidenceError(f"exhibit of entry {e.seq} does not match its logged SHA-256 (altered?)", str(path))


def custody_problems(case_dir: str | os.PathLike[str]) -> list[str]:
    """Why the case's custody record does not vouch for its collection: schema errors, or items and log hash
    that differ from the collection log as it is now (empty: the record matches)."""
    case = Path(case_dir)
    path = case / CUSTODY_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"no custody record ({CUSTODY_FILE}): the case was not closed"]
    except (OSError, ValueError) as exc:
        return [f"unreadable custody record: {exc}"]
    problems = custody_errors(record)
    if problems:
        return problems
    try:
        log_bytes = (case / LOG_NAME).read_bytes()
        entries = read_log(case / LOG_NAME)
    except (OSError, EvidenceError) as exc:
        return [f"cannot read the collection log: {exc}"]
    if record["log"]["sha256"] != hashlib.sha256(log_bytes).hexdigest() or record["log"]["entries"] != len(entries):
        problems.append("the collection log changed after the custody record was written")
    if not entries:
        return [*problems, "the collection log is empty"]
    # Everything the record takes from the log must be what the log says (transfers and created_utc are its own).
    from_log = build_custody(case)
    if record["items"] != from_log["items"]:
        problems.append("the custody record's items differ from the collection log's outputs")
    if [record[k] for k in ("case_id", "examiner", "acquisition")] != [from_log[k] for k in
                                                                      ("case_id", "examiner", "acquisition")]:
        problems.append("the custody record's case, examiner or acquisition times differ from the collection log")
    created = utc_us(record["created_utc"])
    if created is None or created < (utc_us(entries[-1].utc) or 0) // 1_000_000 * 1_000_000:
        problems.append("the custody record was created before the collection it records ended")
    return problems


# -- CASE/UCO ------------------------------------------------------------------------------------------
CONTEXT = {
    "kb": "http://example.org/kb/",
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-tool": "https://ontology.unifiedcyberontology.org/uco/tool/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "uco-vocabulary": "https://ontology.unifiedcyberontology.org/uco/vocabulary/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


def to_case_uco(record: dict[str, Any]) -> dict[str, Any]:
    """The record as a CASE/UCO JSON-LD graph: one InvestigativeAction per item and per transfer.

    Each item becomes a ``uco-observable:File`` (FileFacet + ContentDataFacet with a ``uco-types:Hash``),
    the result of an acquisition action whose performer is the examiner and whose instrument is dflab,
    wrapped in a ``case-investigation:ProvenanceRecord`` carrying the item id as exhibit number.  Node ids
    are UUIDv5 of the case id and the node's role, so the same record always gives the same graph.
    """
    case_id = record["case_id"]

    def node(kind: str, key: str) -> str:
        return f"kb:{kind}-{uuid.uuid5(uuid.NAMESPACE_URL, f'dflab:{case_id}:{kind}:{key}')}"

    def when(utc: str) -> dict[str, str]:
        return {"@type": "xsd:dateTime", "@value": utc}

    people: dict[str, str] = {}

    def person(name: str) -> dict[str, str]:
        people.setdefault(name, node("identity", name))
        return {"@id": people[name]}

    tool = node("tool", f"{record['tool']['name']}-{record['tool']['version']}")
    graph: list[dict[str, Any]] = [{
        "@id": tool, "@type": "uco-tool:Tool", "uco-core:name": record["tool"]["name"],
        "uco-tool:version": record["tool"]["version"],
    }]
    provenance: dict[str, str] = {}
    for item in record["items"]:
        file_id, prov_id = node("file", item["item_id"]), node("provenance-record", item["item_id"])
        provenance[item["item_id"]] = prov_id
        graph.append({
            "@id": file_id, "@type": "uco-observable:File",
            "uco-core:description": item["description"],
            "uco-core:hasFacet": [
                {"@id": node("file-facet", item["item_id"]), "@type": "uco-observable:FileFacet",
                 "uco-observable:fileName": item["file"],
                 "uco-observable:sizeInBytes": {"@type": "xsd:integer", "@value": str(item["size_bytes"])}},
                {"@id": node("content-data-facet", item["item_id"]), "@type": "uco-observable:ContentDataFacet",
                 "uco-observable:hash": [{
                     "@id": node("hash", item["item_id"]), "@type": "uco-types:Hash",
                     "uco-types:hashMethod": {"@type": "uco-vocabulary:HashNameVocab", "@value": "SHA256"},
                     "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": item["sha256"]},
                 }]},
            ],
        })
        graph.append({"@id": prov_id, "@type": "case-investigation:ProvenanceRecord",
                      "case-investigation:exhibitNumber": item["item_id"], "uco-core:object": [{"@id": file_id}]})
        graph.append({
            "@id": node("investigative-action", item["item_id"]), "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": item["action"], "uco-core:description": f"acquired from {item['source']}",
            "uco-action:startTime": when(item["acquired_utc"]), "uco-action:endTime": when(item["acquired_utc"]),
            "uco-action:performer": person(item["acquired_by"]), "uco-action:instrument": {"@id": tool},
            "uco-action:result": [{"@id": prov_id}],
        })
    for n, t in enumerate(record["transfers"]):
        graph.append({
            "@id": node("investigative-action", f"transfer-{n}"), "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": "custody-transfer", "uco-core:description": f"{t['from']} to {t['to']}: {t['purpose']}",
            "uco-action:startTime": when(t["utc"]), "uco-action:performer": person(t["from"]),
            "uco-action:participant": [person(t["to"])],
            "uco-action:object": [{"@id": provenance[i]} for i in t["items"]],
        })
    graph += [{"@id": ident, "@type": "uco-identity:Identity", "uco-core:name": name}
              for name, ident in sorted(people.items())]
    graph.append({"@id": node("investigation", case_id), "@type": "case-investigation:Investigation",
                  "uco-core:name": case_id,
                  "uco-core:object": [{"@id": n["@id"]} for n in graph]})
    return {"@context": CONTEXT, "@graph": graph}
