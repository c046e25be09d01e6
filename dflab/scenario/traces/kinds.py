"""The content kinds of this package, as a spec's ``files:`` entry names them, and how each reads the case.

``content.kind`` picks the artefact; the other content fields keep their meaning:

- ``authlog``, ``syslog``, ``wtmp``, ``btmp``, ``lastlog``: ``process`` names the story's login shell (its parent
  is the sshd that accepted the login), whose user is the one the logs show.
- ``places``: ``process`` as for the logs (the user's working days are the logs' days), ``members`` files Firefox
  downloaded, ``text`` the URL folder they came from (templated); the history holds the user's browsing during
  the earlier days' desktop sessions, and every page the capture shows the workstation's Firefox fetching (the
  spec's HTTP flows from the suspect whose User-Agent is Firefox's) up to the file's last write: what another
  client fetched (wget's download of the payload) is in the capture only.
- ``profiles_ini``, ``installs_ini``: profiles.ini and installs.ini naming the profile folder: the folder
  of the spec's ``places`` file on the same volume under the same ``.mozilla/firefox`` (the spec names it once).
- ``docx``, ``xlsx``, ``pdf_report``, ``jpeg``: a document by its library; ``text`` (templated) is a DOCX's or
  PDF's lines (first line the title), the author is the owner, the times are the file's ``created`` and
  ``modified``; a JPEG's EXIF says it was taken at ``created``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dflab.scenario.case import DiskFile, Process, User
from dflab.scenario.draw import rng
from dflab.scenario.traces import documents, firefox, syslog, utmp
from dflab.scenario.traces.story import Plan, Source, plan

LOGS = ("authlog", "syslog", "wtmp", "btmp", "lastlog")
KINDS = (*LOGS, "places", "profiles_ini", "installs_ini", "docx", "xlsx", "pdf_report", "jpeg")
_RENDER: dict[str, Callable[[Plan], bytes]] = {"authlog": syslog.auth_log, "syslog": syslog.syslog,
                                               "wtmp": utmp.wtmp, "btmp": utmp.btmp, "lastlog": utmp.lastlog}


def make(src: Source, f: Any, users: dict[str, User], procs: dict[str, Process],
         member: Callable[[str], DiskFile]) -> bytes:
    """The bytes of spec file ``f`` (a ``FileSpec`` whose content kind is one of :data:`KINDS`)."""
    where = f"disk.files.{f.id}"
    c = f.content
    owner = users[f.owner] if f.owner else None
    times = src.file_times(f)  # the file's own times, as the disk keeps them
    created, modified = times.created, times.modified
    r = rng(src.seed, "file", f.id, c.kind)
    if c.kind in LOGS:
        return _RENDER[c.kind](story(src, users, procs, c.process, f"{where}.content.process", created, modified))
    if c.kind == "places":
        if owner is None:
            raise src.fail(f"{where}.owner", "a Firefox profile belongs to a user: set owner")
        base = src.fill(c.text or "", f"{where}.content.text")
        days = story(src, users, procs, c.process, f"{where}.content.process", created, modified)
        visits = sorted(browsing(days, r) + captured(src, created, modified), key=lambda v: v.time)
        return firefox.places(src.seed, visits, [download(r, base, member(m)) for m in c.members])
    if c.kind in ("profiles_ini", "installs_ini"):
        name = _profile(src, f, where)
        return firefox.profiles_ini(name) if c.kind == "profiles_ini" else firefox.installs_ini(name)
    author = (owner.full_name or owner.name) if owner else "root"
    lines = src.fill(c.text, f"{where}.content.text").splitlines() if c.text else []
    name = src.fill(f.path, f"{where}.path").rsplit("/", 1)[-1]
    title = lines[0] if lines else name.rsplit(".", 1)[0].replace("_", " ")
    if c.kind == "docx":
        return documents.docx(title, lines[1:] or _paragraphs(r), author, created, modified)
    if c.kind == "xlsx":
        header, rows = _ledger(r)
        return documents.xlsx(title, header, rows, author, created, modified)
    if c.kind == "pdf_report":
        return documents.pdf([title, *(lines[1:] or _paragraphs(r))], title, author, created)
    return documents.jpeg(r, created, name=name)


def story(src: Source, users: dict[str, User], procs: dict[str, Process], shell_id: str | None, where: str,
          since: int, until: int) -> Plan:
    if shell_id is None or shell_id not in procs:
        raise src.fail(where, "the logs need the story's login shell: set content.process to its process id")
    shell = procs[shell_id]
    by_uid = {u.uid: u for u in users.values()}
    if shell.uid not in by_uid:
        raise src.fail(where, f"process {shell_id} does not run as one of the spec's users")
    everyone = {p.pid: p for p in procs.values()}
    return plan(src, by_uid[shell.uid], shell, everyone, where, since, until)


def _profile(src: Source, f: Any, where: str) -> str:
    """The profile folder of the ``places`` file beside this profiles.ini or installs.ini."""
    home = f.path.rsplit("/", 1)[0]
    for other in src.spec.disk.files:
        if other.content.kind == "places" and other.volume == f.volume and other.path.startswith(home + "/"):
            folder = other.path[len(home) + 1:].split("/")
            if len(folder) == 2:
                return src.fill(folder[0], f"disk.files.{other.id}.path")
    raise src.fail(f"{where}.path", f"no places file in a profile folder under {home}: add one "
                                    f"({home}/<salt>.default-esr/places.sqlite)")


def browsing(p: Plan, r: Any) -> list[firefox.Visit]:
    """The user's browsing during each earlier working day's desktop session, up to the profile's last write: the
    capture's sites, a few visits an hour, the first of the day typed."""
    # Imported here: the network package loads scapy, which a spec's validation (dflab scenario new/validate)
    # never needs and which writes its cache under $HOME on import.
    from dflab.evidence.network.sites import LONG_TAIL, SITES

    sites = [s.main.name for s in SITES + LONG_TAIL]
    visits = []
    for day in p.days:
        t = day.login + r.uniform(40, 400)
        first = True
        while t < min(day.logout - 60, p.until):
            host = r.choice(sites)
            path = r.choice(("/", "/", "/news/", "/search?q=" + r.choice(("budget", "invoice", "vat+rates")),
                             "/article/" + str(r.randint(100000, 999999))))
            if t >= p.since:
                visits.append(firefox.Visit(f"https://{host}{path}", _title(host), t, typed=first))
                first = False
            t += r.expovariate(1 / 900.0)
    return visits


def captured(src: Source, since: int, until: int) -> list[firefox.Visit]:
    """The pages the capture shows Firefox loading on the workstation (HTTP flows from the suspect host with a
    Firefox User-Agent) between the profile's creation and its last write: one story in history and capture."""
    visits = []
    for flow in src.spec.network.flows:
        if flow.kind != "http" or flow.client != src.spec.suspect:
            continue
        where = f"network.flows.{flow.id}"
        if "Firefox/" not in src.fill(flow.user_agent, f"{where}.user_agent"):
            continue  # wget, curl, a script: not the browser's history
        at = src.at(flow.at, f"{where}.at")
        if not since <= at <= until:
            continue
        host = src.fill(flow.host_header, f"{where}.host_header") if flow.host_header else \
            src.ns[f"hosts.{flow.server}.hostname"]
        port = src.ns[f"flows.{flow.id}.port"]  # decided with the flows' ports, before any file
        authority = host if port == 80 else f"{host}:{port}"
        uri = src.fill(flow.uri or "/", f"{where}.uri")
        body = src.fill(flow.body.text, f"{where}.body.text") if flow.body and flow.body.text else ""
        title = body.split("<title>", 1)[1].split("</title>", 1)[0] if "<title>" in body else ""
        visits.append(firefox.Visit(f"http://{authority}{uri}", title, float(at), typed=True))
    return visits


def download(r: Any, base: str, f: DiskFile) -> firefox.Download:
    url = base.rstrip("/") + "/" + f.name
    seconds = max(len(f.content) / r.uniform(2e6, 8e6), 0.2)
    return firefox.Download(url, f.path, f.mtime - seconds, float(f.mtime), len(f.content))


def _title(host: str) -> str:
    name = host.removeprefix("www.").split(".")[0]
    return name.replace("-", " ").title()


def _paragraphs(r: Any) -> list[str]:
    from dflab.scenario.content import text

    return [p.replace("\n", " ").strip() for p in text(r, r.randint(900, 2400)).decode().split("\n\n") if p.strip()]


def _ledger(r: Any) -> tuple[list[str], list[list[object]]]:
    from dflab.scenario.content import WORDS

    header = ["Cost centre", "Vendor", "Q1", "Q2", "Q3", "Q4", "Approved"]
    rows: list[list[object]] = []
    for _ in range(r.randint(12, 40)):
        quarters = [round(r.uniform(500, 90000), 2) for _ in range(4)]
        rows.append([f"CC-{r.randint(100, 999)}", " ".join(r.sample(WORDS, 2)).title(), *quarters,
                     r.choice(("yes", "yes", "pending", "no"))])
    return header, rows
