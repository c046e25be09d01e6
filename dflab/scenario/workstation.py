"""A Windows scenario spec (``platform: windows``) and one trainee's seed → the workstation's case.

The Windows writers (:mod:`dflab.evidence.windows.workstation`) take a :class:`WorkstationCase`: names, accounts,
the story's fifteen times and a seed string. This module draws those from the spec the way the Linux resolver
draws a :class:`~dflab.scenario.case.Case`: variables first (each its own stream, :func:`dflab.scenario.draw.draw`),
then ``start`` and the timeline (``after`` + ``seconds``, one stream per event id), hosts, users, then the
workstation's strings with ``{name}`` filled in. The case's seed string is the variant seed in hex, so every fact
the writers decide (SIDs, serials, pids) is the trainee's too.

What the spec names by role (hosts, users, the story's steps, the documents by what happens to them) stays by role
in :class:`ResolvedWorkstation`, so the key can address it that way (``users.victim.sid``, ``events.returned.time``)
rather than by a list's position.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from dflab.errors import DflabError, SpecError
from dflab.evidence.windows.workstation.decisions import Decisions, decide
from dflab.evidence.windows.workstation.description import (
    Timeline,
    User,
    WorkstationCase,
    account_name_problem,
    computer_name_problem,
    file_name_problem,
    host_name_problem,
    service_name_problem,
    time_zone_at,
    unicast_problem,
    url_path_problem,
)
from dflab.scenario.draw import draw, epoch, rng
from dflab.scenario.load import locate, locate_path
from dflab.scenario.spec import REFERENCE, RIDS, TEMPLATE, WINDOWS_STEPS, Event, WindowsSpec
from dflab.yamlfile import dotted

DOCUMENT_ROLES = ("opened", "recycled", "deleted")
"""The documents copied from the stick, in the order ``WorkstationCase.documents`` holds them."""


@dataclass(frozen=True)
class ResolvedWorkstation:
    """One trainee's Windows case and the spec's roles it was drawn from."""

    scenario_id: str
    scenario_version: int
    title: str
    summary: str
    variant: str
    case: WorkstationCase
    hosts: dict[str, tuple[str, str]]
    """Host id → (hostname, ip)."""
    users: dict[str, User]
    """User id → account; the victim is ``case.user``."""
    user_role: str
    """The victim's user id."""
    events: tuple[tuple[Event, datetime], ...]
    """The spec's timeline (the story's steps, in order) with each step's time."""
    documents: dict[str, str]
    """Document role (``opened``, ``recycled``, ``deleted``) → file name."""
    variables: dict[str, Any]
    answers: dict[str, str]
    """The spec's answer templates."""
    decided: Decisions | None = dataclasses.field(default=None, compare=False, repr=False)
    """``decide(case)``, made once while resolving (it checks the writers' limits) and handed to the build, which
    would otherwise make it again: the payload's and implant's bytes are a fifth of a variant's CPU."""


class _Resolver:
    def __init__(self, spec: WindowsSpec, seed: bytes, variant: str) -> None:
        self.spec = spec
        self.seed = seed
        self.variant = variant
        self.ns: dict[str, Any] = {}

    def fail(self, loc: tuple[str | int, ...], what: str) -> SpecError:
        """``file:line: field: what`` for a spec read from a file (the field given by its pydantic path)."""
        field, at = dotted(loc), locate_path(self.spec, loc)
        return SpecError(f"{field}: {what}", at) if at else SpecError(what, f"scenario {self.spec.scenario}: {field}")

    def fill(self, text: str, loc: tuple[str | int, ...]) -> str:
        def sub(m: Any) -> str:
            if m["ref"] is None:
                return "{" + m["literal"] + "}"
            if m["ref"] not in self.ns:
                raise self.fail(loc, f"{{{m['ref']}}} in {text!r} is not known here: dflab resolves variables (in "
                                     "order), start, hosts, users, then the workstation")
            return str(self.ns[m["ref"]])

        return TEMPLATE.sub(sub, text)

    def value(self, spec: Any, name: str, loc: tuple[str | int, ...]) -> Any:
        try:
            v = draw(spec, self.seed, name)
        except (ValueError, TypeError) as exc:
            raise self.fail(loc, str(exc)) from exc
        if isinstance(v, (date, datetime)):  # YAML reads an unquoted 2024-01-15 as a date: the key holds text
            v = v.isoformat()
        return self.fill(v, loc) if isinstance(v, str) else v

    def times(self) -> dict[str, datetime]:
        start = self.value(self.spec.start, "start", ("start",))
        try:
            at = {"start": epoch(str(start))}
        except ValueError as exc:
            raise self.fail(("start",), str(exc)) from exc
        self.ns["start"] = start
        previous = None
        for i, ev in enumerate(self.spec.timeline):
            lo, hi = ev.seconds
            at[ev.id] = at[ev.after] + int(lo + (hi - lo) * rng(self.seed, "event", ev.id).random())
            if previous is not None and at[ev.id] <= at[previous]:
                raise self.fail(("timeline", i, "seconds"), f"step {ev.id} can fall at or before {previous} (it is "
                                                            f"placed after {ev.after}): the story's steps follow "
                                                            "each other")
            previous = ev.id
        return {k: datetime.fromtimestamp(t, UTC) for k, t in at.items()}

    def hosts(self) -> dict[str, tuple[str, str]]:
        out = {}
        for i, h in enumerate(self.spec.hosts):
            ip = str(self.value(h.ip, f"host:{h.id}:ip", ("hosts", i, "ip")))
            try:
                ipaddress.IPv4Address(ip)
            except ValueError as exc:
                raise self.fail(("hosts", i, "ip"), f"ip {ip!r} is not an IPv4 address") from exc
            out[h.id] = (self.fill(h.hostname, ("hosts", i, "hostname")), ip)
            self.ns.update({f"hosts.{h.id}.hostname": out[h.id][0], f"hosts.{h.id}.ip": ip})
        return out

    def users(self) -> dict[str, User]:
        out = {}
        for i, u in enumerate(self.spec.users):
            rid = self.value(u.rid, f"user:{u.id}:rid", ("users", i, "rid"))
            if isinstance(rid, bool) or not isinstance(rid, int) and not str(rid).isdigit():
                raise self.fail(("users", i, "rid"), f"{rid!r} is not a whole number")
            if not RIDS[0] <= int(rid) <= RIDS[1]:
                raise self.fail(("users", i, "rid"), f"{rid} is outside {RIDS[0]} .. {RIDS[1]}")
            name = self.fill(u.name, ("users", i, "name"))
            out[u.id] = User(name, int(rid), self.fill(u.full_name, ("users", i, "full_name")))
            self.ns[f"users.{u.id}.name"] = name
        return out

    def check_answers(self) -> None:
        """Every answer names facts the key will hold, found at the answer's line before any evidence is written."""
        from dflab.evidence.key import windows_namespace_names

        known = windows_namespace_names(self.spec)
        for name, template in self.spec.answers.items():
            for ref in REFERENCE.findall(template):
                if ref not in known:
                    group = ref.split(".", 1)[0]
                    near = sorted(k for k in known if k.startswith(group + ".")) or sorted({k.split(".")[0]
                                                                                           for k in known})
                    raise self.fail(("answers", name), f"unknown reference {{{ref}}} (known here: "
                                                       f"{', '.join(near)})")

    def resolve(self) -> ResolvedWorkstation:
        s = self.spec
        self.check_answers()
        for name, v in s.variables.items():
            self.ns[name] = self.value(v, f"var:{name}", ("variables", name))
        when = self.times()
        hosts = self.hosts()
        users = self.users()
        w = s.workstation

        def text(field: str) -> str:
            return self.fill(getattr(w, field), ("workstation", field))

        documents = {role: self.fill(getattr(w.documents, role), ("workstation", "documents", role))
                     for role in DOCUMENT_ROLES}
        server = hosts[w.download.server][0]
        url = f"{w.download.scheme}://{server}{self.fill(w.download.path, ('workstation', 'download', 'path'))}"
        self.check_names(hosts, users, documents, url)
        try:
            timeline = Timeline(**{step: when[step] for step in WINDOWS_STEPS})
            case = WorkstationCase(
                computer_name=text("computer_name"), user=users[w.user], timeline=timeline, download_url=url,
                payload_name=text("payload"), implant_name=text("implant"), service_name=text("service"),
                seed=self.seed.hex(), documents=tuple(documents[r] for r in DOCUMENT_ROLES),  # type: ignore[arg-type]
                other_users=tuple(users[u] for u in w.other_users),
                time_zone=time_zone_at(text("time_zone"), when["shutdown"]),
                domain_name=text("domain"), intruder_ip=hosts[w.intruder][1], download_ip=hosts[w.download.server][1],
                c2_ip=hosts[w.c2][1] if w.c2 else None, c2_host=hosts[w.c2][0] if w.c2 else None,
                run_value=text("run_value") if w.run_value is not None else None)
            decided = decide(case)  # the writers' own limits (a document opened before it was copied ...), found now
        except DflabError as exc:
            raise self.located(exc) from exc
        return ResolvedWorkstation(s.scenario, s.version, s.title, s.summary, self.variant, case, hosts, users, w.user,
                                   tuple((ev, when[ev.id]) for ev in s.timeline), documents,
                                   {k: self.ns[k] for k in s.variables}, dict(s.answers), decided)

    def check_names(self, hosts: dict[str, tuple[str, str]], users: dict[str, User], documents: dict[str, str],
                    url: str) -> None:
        """This trainee's names as Windows would take them (the spec's validation checks every choice; a name made
        of drawn parts is checked here too), each refused at its field's line before the case refuses it."""
        w = self.spec.workstation
        checks: list[tuple[tuple[str | int, ...], str, Any]] = [
            (("workstation", "computer_name"), self.fill(w.computer_name, ("workstation", "computer_name")),
             computer_name_problem),
            (("workstation", "download", "path"), url, url_path_problem),
            *((("workstation", f), self.fill(getattr(w, f), ("workstation", f)), file_name_problem)
              for f in ("payload", "implant")),
            *((("workstation", f), self.fill(getattr(w, f), ("workstation", f)), service_name_problem)
              for f in ("service", "run_value") if getattr(w, f) is not None),
            *((("workstation", "documents", role), name, file_name_problem) for role, name in documents.items()),
            *((("users", i, "name"), users[u.id].name, account_name_problem) for i, u in enumerate(self.spec.users)),
            *((("hosts", i, "hostname"), hosts[h.id][0], host_name_problem) for i, h in enumerate(self.spec.hosts)),
            *((("hosts", i, "ip"), hosts[h.id][1], unicast_problem) for i, h in enumerate(self.spec.hosts))]
        for loc, value, problem in checks:
            if why := problem(value):
                raise self.fail(loc, f"{value!r}: {why}")
        seen: dict[str, int] = {}
        for i, u in enumerate(self.spec.users):
            name = users[u.id].name.lower()
            if name in seen:
                raise self.fail(("users", i, "name"), f"{users[u.id].name!r} is also users[{seen[name]}]'s name "
                                                      "(ignoring case): Windows refuses a second account of that name")
            seen[name] = i

    def located(self, exc: DflabError) -> SpecError:
        """A writer's refusal (``where`` names a story step, ``timeline.returned ...``, or a value) at the spec's
        line: the step's event, else the workstation block."""
        step = (exc.where or "").split(" ", 1)[0].removeprefix("timeline.")
        if step in WINDOWS_STEPS:
            return SpecError(f"timeline.{step}: {exc.what} ({exc.where})", locate(self.spec, f"timeline.{step}")
                             or f"scenario {self.spec.scenario}")
        return SpecError(f"workstation: {exc.what}: {exc.where}", locate(self.spec, "workstation")
                         or f"scenario {self.spec.scenario}")


def resolve_workstation(spec: WindowsSpec, seed: bytes, variant: str = "default") -> ResolvedWorkstation:
    """The workstation case of ``variant`` (its seed from :func:`dflab.scenario.draw.variant_seed`)."""
    return _Resolver(spec, seed, variant).resolve()


def plan_rows(resolved: ResolvedWorkstation) -> list[tuple[str, str]]:
    """What ``dflab scenario validate`` shows of a Windows variant: (evidence, what it plans), one row each."""
    case = resolved.case
    t = case.timeline
    return [("disk", f"GPT: EFI system partition, MSR, NTFS of {case.computer_name} ({case.time_zone.key_name}); "
                     f"user {case.user.name}, payload {case.payload_name}, implant {case.implant_name}, service "
                     f"{case.service_name}; documents opened/recycled/deleted: {', '.join(case.documents)}"),
            ("network", f"capture.pcapng: Remote Desktop from {case.intruder_ip}, the download from "
                        f"{case.download_url}"),
            ("timeline", f"{len(resolved.events)} steps, {t.installed.isoformat()} .. {t.shutdown.isoformat()}")]
