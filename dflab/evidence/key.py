"""The answer key: what a correct analysis of one variant finds, derived from the case, never by analysis.

The key has three parts:

* ``answers`` — the named answers the scenario's ``answers:`` section defines
  (``payload_sha256``, ``hidden_pid`` ...), which labs and graders compare a
  trainee's findings against;
* ``facts`` — every fact the case planned, by evidence kind, including the
  layout facts the writers report (partition offsets, inode numbers, symbol
  table name), for instructors and for tests, and the sections labs' hooks add
  (``key_facts``, dflab/lab_hooks.py: facts of what runs in the trainee's lab
  rather than in the evidence);
* ``timeline`` — the story's events with their times.

Answer templates reference a flat namespace (``files.payload.sha256``,
``processes.implant.pid``, ``flows.exfil.upload_bytes``, ``events.download.time``,
``volumes.root.start_sector``); a template that is exactly one reference keeps
the value's type (an inode stays an int, a mail flow's ``rcpt_to`` a list).

Facts are addressed by role, the spec's ids, never by position: ``facts.disk.volumes.root``
is the partition holding volume ``root`` wherever the table puts it (``facts.disk.partitions``
keeps the table's order, for instructors), ``facts.disk.files.payload`` the payload's
layout; graders refuse a numeric key path (dflab.grading.checks).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from dflab.errors import SpecError
from dflab.scenario.case import Case, DiskFile
from dflab.scenario.draw import iso

KEY_FORMAT = "dflab-answer-key/1"
_REF = re.compile(r"\{([A-Za-z_][\w.-]*)\}")


def _file_ns(f: DiskFile, layout: dict[str, Any]) -> dict[str, Any]:
    ns: dict[str, Any] = {
        "path": f.path, "name": f.name, "volume": f.volume, "size": len(f.content), "sha256": f.sha256,
        "md5": f.md5, "true_type": f.true_type, "deleted": f.deleted_at is not None,
        "slack": f.slack.decode(errors="replace"), "mtime": iso(f.mtime), "atime": iso(f.atime),
        "ctime": iso(f.ctime), "crtime": iso(f.crtime),
    }
    if f.true_type == "text":
        ns["text"] = f.content.decode(errors="replace")
    if "inode" in layout:
        ns["inode"] = layout["inode"]
    return ns


def namespace(case: Case, disk_facts: dict[str, Any]) -> dict[str, Any]:
    """The flat name → value map that answer templates read."""
    ns: dict[str, Any] = {}
    for h in case.hosts:
        ns.update({f"hosts.{h.id}.{k}": v for k, v in (("ip", h.ip), ("hostname", h.hostname), ("mac", h.mac))})
    for u, uid in zip(case.users, _user_ids(case), strict=True):
        ns.update({f"users.{uid}.name": u.name, f"users.{uid}.uid": u.uid, f"users.{uid}.home": u.home})
    ns.update({f"variables.{k}": v for k, v in dict(case.facts.get("variables", {})).items()})
    placed = dict(disk_facts.get("volumes", {}))
    for v in case.disk.volumes:
        layout = {k: val for k, val in dict(placed.get(v.id, {})).items() if k != "volume"}
        ns.update({f"volumes.{v.id}.{k}": val for k, val in
                   {"fs": v.fs, "label": v.label, "mount": v.mount_point, "size": v.size_bytes, **layout}.items()})
    layouts = dict(disk_facts.get("files", {}))
    for f in case.disk.files:
        ns.update({f"files.{f.id}.{k}": v for k, v in _file_ns(f, layouts.get(f.id, {})).items()})
    by_pid = {p.pid: p for p in case.memory.processes}
    for pid_name, pid in dict(case.facts.get("process_ids", {})).items():
        p = by_pid[pid]
        ns.update({f"processes.{pid_name}.{k}": v for k, v in (
            ("pid", p.pid), ("ppid", p.ppid), ("comm", p.comm), ("cmdline", " ".join(p.args)), ("uid", p.uid),
            ("exe", p.exe_path), ("start_time", iso(p.start_time)), ("hidden", p.hidden))})
        if p.injected:
            ns[f"processes.{pid_name}.injected_start"] = hex(p.injected.start)
    net = case.network
    for d in net.dns:
        ns.update({f"flows.{d.id}.{k}": v for k, v in (("qname", d.qname), ("answer", d.answer),
                                                        ("client_port", d.client_port), ("server_port", 53))})
    for h in net.http:
        ns.update({f"flows.{h.id}.{k}": v for k, v in (
            ("uri", h.uri), ("host", h.host_header), ("client_port", h.client_port), ("server_port", h.server_port),
            ("body_sha256", h.response_sha256), ("body_bytes", len(h.response_body)),
            ("user", h.basic_auth[0] if h.basic_auth else None),
            ("password", h.basic_auth[1] if h.basic_auth else None))})
    for s in net.ftp:
        ns.update({f"flows.{s.id}.{k}": v for k, v in (
            ("user", s.user), ("password", s.password), ("client_port", s.client_port), ("server_port", 21),
            ("stored_name", s.stor_name), ("stored_sha256", hashlib.sha256(s.stor_data).hexdigest()))})
    for r in net.raw:
        ns.update({f"flows.{r.id}.{k}": v for k, v in (
            ("client_port", r.client_port), ("server_port", r.server_port), ("upload_bytes", len(r.upload)),
            ("upload_sha256", hashlib.sha256(r.upload).hexdigest()), ("label", r.label))})
    for m in net.smtp:
        ns.update({f"flows.{m.id}.{k}": v for k, v in (
            ("client_port", m.client_port), ("server_port", m.server_port), ("mail_from", m.mail_from),
            ("rcpt_to", list(m.rcpt_to)), ("from_header", m.from_header), ("to_header", m.to_header),
            ("subject", m.subject), ("message_id", m.message_id), ("message_sha256", m.message_sha256),
            ("message_bytes", len(m.message)), ("attachments", list(m.attachments)), ("queue_id", m.queue_id),
            ("auth", m.auth), ("user", m.user if m.auth else None), ("password", m.password if m.auth else None))})
    for i in net.imap:
        ns.update({f"flows.{i.id}.{k}": v for k, v in (
            ("client_port", i.client_port), ("server_port", i.server_port), ("user", i.user),
            ("password", i.password), ("mailbox", i.mailbox), ("messages", len(i.messages)),
            ("message_ids", list(i.message_ids)),
            ("messages_sha256", [hashlib.sha256(b).hexdigest() for b in i.messages]))})
    for ev in case.timeline:
        ns[f"events.{ev.id}.time"] = iso(ev.time)
    return ns


def _user_ids(case: Case) -> list[str]:
    ids = case.facts.get("user_ids")
    return list(ids) if isinstance(ids, (list, tuple)) else [u.name for u in case.users]


def render_answers(templates: dict[str, str], ns: dict[str, Any], scenario: str) -> dict[str, Any]:
    """Evaluate answer templates; an unknown reference is a spec error naming the answer."""
    out: dict[str, Any] = {}
    for name, template in templates.items():
        refs = _REF.findall(template)
        for ref in refs:
            if ref not in ns:
                raise SpecError(f"unknown reference {{{ref}}}", f"scenario {scenario}: answers.{name}")
        whole = _REF.fullmatch(template)
        out[name] = ns[whole.group(1)] if whole else _REF.sub(lambda m: str(ns[m.group(1)]), template)
    return out


def build_key(case: Case, disk: dict[str, Any], memory: dict[str, Any] | None, network: dict[str, Any] | None,
              manifest_sha256: str, evidence_items: list[dict[str, Any]] | None = None, *,
              lab_facts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The complete answer key for one variant (JSON-serialisable, deterministic key order).

    ``evidence_items`` are the manifest's entries (path, size, sha256): the exhibits a findings report cites,
    kept in the key so the grader checks citations without reading the trainee's evidence folder.
    ``memory`` / ``network`` are ``None`` when that kind was not built: the key then has no facts for it.
    ``lab_facts`` are the sections labs' hooks add (:func:`dflab.lab_hooks.labs_key_facts`), beside the evidence's.
    """
    ns = namespace(case, disk)
    return {
        "format": KEY_FORMAT,
        "scenario": case.scenario_id,
        "scenario_version": case.scenario_version,
        "title": case.title,
        "variant": case.variant,
        "evidence_manifest_sha256": manifest_sha256,
        "evidence_items": list(evidence_items or []),
        "answers": render_answers(dict(case.facts.get("answers", {})), ns, case.scenario_id),
        "timeline": [{"time": iso(e.time), "id": e.id, "action": e.action, "description": e.description,
                      "sources": list(e.sources), "refs": list(e.refs)} for e in case.timeline],
        "facts": {"disk": disk, **({"memory": memory} if memory is not None else {}),
                  **({"network": network} if network is not None else {}),
                  **{section: dict(values) for section, values in sorted((lab_facts or {}).items())}},
        "namespace": ns,
    }


# -- a Windows workstation's key (platform: windows) ---------------------------------------------------------------
# The same format and sections as the Linux key; ``facts.windows`` is the workstation's answer key
# (dflab.evidence.windows.workstation.answers) with its lists keyed by role, and the namespace addresses the same
# facts by the spec's roles: users and hosts by id, the story's steps by timeline id, documents by what the story
# does with them (opened, recycled, deleted), logons by the step that made them.
WINDOWS_FACTS = {
    "workstation": ("computer_name", "time_zone", "domain", "machine_sid"),
    "usb": ("serial", "device", "vid_pid", "inserted", "removed"),
    "files.payload": ("name", "path", "url", "sha256", "size", "mft_entry", "zone_id", "downloaded"),
    "files.implant": ("name", "path", "sha256", "size", "mft_entry", "si_created", "fn_created"),
    "service": ("name", "image_path", "start_type", "installed"),
    "run_value": ("name", "data", "last_written"),
    "processes.implant": ("pid", "command_line", "started"),
    "log_cleared": ("time", "user"),
    "recycled": ("original", "time", "index_file", "data_file", "mft_entry"),
    "intruder": ("ip", "workstation"),
    "prefetch.implant": ("run_count", "last_run"),
}
WINDOWS_ROLE_FACTS = {"users": ("name", "rid", "sid", "full_name"), "hosts": ("hostname", "ip"), "events": ("time",),
                      "documents": ("name", "path", "sha256", "size", "mft_entry"),
                      "logons": ("type", "time", "logon_id", "ip", "port")}
LOGON_STEPS = ("next_logon", "returned")
"""The logons whose 4624 survives the cleared Security log (dflab.evidence.windows.workstation.answers)."""


def windows_namespace_names(spec: Any) -> set[str]:
    """Every name a Windows spec's ``answers:`` can use (checked when a variant is resolved, before any build)."""
    from dflab.scenario.workstation import DOCUMENT_ROLES

    roles = {"users": [u.id for u in spec.users], "hosts": [h.id for h in spec.hosts],
             "events": [e.id for e in spec.timeline], "documents": list(DOCUMENT_ROLES), "logons": list(LOGON_STEPS)}
    out = {f"{group}.{field}" for group, fields in WINDOWS_FACTS.items() for field in fields}
    out |= {f"{group}.{ident}.{field}" for group, fields in WINDOWS_ROLE_FACTS.items() for ident in roles[group]
            for field in fields}
    return out | {f"variables.{name}" for name in spec.variables}


def _mft(ref: list[int]) -> dict[str, int]:
    return {"entry": ref[0], "sequence": ref[1]}


def windows_facts(resolved: Any, decided: Any, facts: dict[str, Any]) -> dict[str, Any]:
    """The workstation's answer key reshaped so that graders address it by role (no list index): accounts by user
    id, logons by timeline step, MFT references as {entry, sequence}, each document by its role; with the hashes
    and sizes of the files the story wrote (``decided.contents``)."""
    import hashlib

    from dflab.evidence.windows.workstation.decisions import windows_path
    from dflab.scenario.workstation import DOCUMENT_ROLES

    out = {k: dict(v) if isinstance(v, dict) else v for k, v in facts.items()}
    role_of = {u.rid: ident for ident, u in resolved.users.items()}  # by RID: two accounts may share a name's case
    out["accounts"] = {role_of[a["rid"]]: a for a in facts["accounts"]}
    step_of = {hex(n): step for step, n in decided.logon_ids.items()}
    out["logons"] = {step_of[entry["logon_id"]]: entry for entry in facts["logons"]}
    for section in out.values():
        if isinstance(section, dict) and isinstance(section.get("mft"), list):
            section["mft"] = _mft(section["mft"])

    def content(path: str) -> dict[str, Any]:
        data = decided.contents[path]
        return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    out["download"].update(content(decided.payload))
    out["implant"].update(content(decided.implant))
    mft_of = {"opened": out["document_opened"]["mft"], "recycled": out["recycled"]["mft"],
              "deleted": out["deleted"]["mft"]}
    out["documents"] = {role: {"name": resolved.documents[role], "path": windows_path(path), "mft": mft_of[role],
                               **content(path)}
                        for role, path in zip(DOCUMENT_ROLES, decided.documents, strict=True)}
    return out


def windows_namespace(resolved: Any, wfacts: dict[str, Any]) -> dict[str, Any]:
    """The flat name → value map a Windows spec's answer templates read (:func:`windows_namespace_names`)."""
    w = wfacts
    case = resolved.case
    groups: dict[str, dict[str, Any]] = {
        "workstation": {"computer_name": w["computer_name"], "time_zone": w["time_zone"], "domain": case.domain_name,
                        "machine_sid": w["machine_sid"]},
        "usb": {k: w["usb"][k] for k in WINDOWS_FACTS["usb"]},
        "files.payload": {"name": case.payload_name, "path": w["download"]["path"], "url": w["download"]["url"],
                          "sha256": w["download"]["sha256"], "size": w["download"]["size"],
                          "mft_entry": w["download"]["mft"]["entry"], "zone_id": w["download"]["zone_id"],
                          "downloaded": w["download"]["time"]},
        "files.implant": {"name": case.implant_name, "path": w["implant"]["path"], "sha256": w["implant"]["sha256"],
                          "size": w["implant"]["size"], "mft_entry": w["implant"]["mft"]["entry"],
                          "si_created": w["implant"]["si_created"], "fn_created": w["implant"]["fn_created"]},
        "service": {k: w["service"][k] for k in WINDOWS_FACTS["service"]},
        "run_value": {"name": w["run_key"]["value"], "data": w["run_key"]["data"],
                      "last_written": w["run_key"]["last_written"]},
        "processes.implant": {"pid": w["process"]["pid"], "command_line": w["process"]["command_line"],
                              "started": w["process"]["time"]},
        "log_cleared": {k: w["log_cleared"][k] for k in WINDOWS_FACTS["log_cleared"]},
        "recycled": {"original": w["recycled"]["original"], "time": w["recycled"]["time"],
                     "index_file": w["recycled"]["index_file"], "data_file": w["recycled"]["data_file"],
                     "mft_entry": w["recycled"]["mft"]["entry"]},
        "intruder": {k: w["intruder"][k] for k in WINDOWS_FACTS["intruder"]},
        "prefetch.implant": {k: w["prefetch"]["implant"][k] for k in WINDOWS_FACTS["prefetch.implant"]},
    }
    for ident, u in resolved.users.items():
        groups[f"users.{ident}"] = {"name": u.name, "rid": u.rid, "sid": w["accounts"][ident]["sid"],
                                    "full_name": u.full_name}
    for ident, (hostname, ip) in resolved.hosts.items():
        groups[f"hosts.{ident}"] = {"hostname": hostname, "ip": ip}
    for ev, when in resolved.events:
        groups[f"events.{ev.id}"] = {"time": iso(when.timestamp())}
    for role, doc in w["documents"].items():
        groups[f"documents.{role}"] = {"name": doc["name"], "path": doc["path"], "sha256": doc["sha256"],
                                       "size": doc["size"], "mft_entry": doc["mft"]["entry"]}
    for step, logon in w["logons"].items():
        groups[f"logons.{step}"] = {k: logon[k] for k in WINDOWS_ROLE_FACTS["logons"]}
    ns = {f"{group}.{field}": value for group, fields in groups.items() for field, value in fields.items()}
    return ns | {f"variables.{k}": v for k, v in resolved.variables.items()}


def build_windows_key(resolved: Any, decided: Any, facts: dict[str, Any], disk: dict[str, Any],
                      network: dict[str, Any] | None, manifest_sha256: str, evidence_items: list[dict[str, Any]], *,
                      lab_facts: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The answer key of one Windows variant: ``resolved`` (dflab.scenario.workstation), the ``decided`` facts and
    the workstation's ``facts`` (answers.py) from its build, the GPT disk's partitions by volume role (``disk``:
    ``volumes.windows.start_sector``), ``network`` when the capture was written."""
    wfacts = windows_facts(resolved, decided, facts)
    ns = windows_namespace(resolved, wfacts)
    return {
        "format": KEY_FORMAT,
        "scenario": resolved.scenario_id,
        "scenario_version": resolved.scenario_version,
        "title": resolved.title,
        "variant": resolved.variant,
        "evidence_manifest_sha256": manifest_sha256,
        "evidence_items": list(evidence_items),
        "answers": render_answers(resolved.answers, ns, resolved.scenario_id),
        "timeline": [{"time": iso(when.timestamp()), "id": ev.id, "action": ev.action, "description": ev.description,
                      "sources": list(ev.sources), "refs": list(ev.refs)} for ev, when in resolved.events],
        "facts": {"windows": wfacts, "disk": disk, **({"network": network} if network is not None else {}),
                  **{section: dict(values) for section, values in sorted((lab_facts or {}).items())}},
        "namespace": ns,
    }
