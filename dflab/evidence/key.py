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
