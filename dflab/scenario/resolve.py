"""Resolve a spec and a variant seed into a :class:`~dflab.scenario.case.Case`.

Order matters only where facts depend on each other, and it is fixed:
variables → times → hosts and users → flow ports → processes → files →
flows → timeline.  Every draw has its own RNG stream (see draw.py), so the
result is a pure function of ``(spec, seed)``.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dflab.errors import SpecError
from dflab.forensics.magic import extension_lies, file_type
from dflab.scenario import content, mail
from dflab.scenario.case import (
    Case,
    Disk,
    DiskFile,
    DnsQuery,
    E01Header,
    FtpSession,
    HistoryEntry,
    Host,
    HttpTransfer,
    ImapSession,
    InjectedRegion,
    Memory,
    Network,
    OpenFile,
    OsInstall,
    Process,
    RawTransfer,
    SmtpSubmission,
    Socket,
    TimelineEvent,
    User,
    Volume,
)
from dflab.scenario.draw import draw, epoch, iso, rng
from dflab.scenario.environ import Login, SshPeer, with_environments
from dflab.scenario.hours import Hours
from dflab.scenario.kernel import kernel_identity, logind_session
from dflab.scenario.load import locate, locate_path
from dflab.scenario.ostree import accounts
from dflab.scenario.spec import (
    ALIGN_SECTORS,
    FDS,
    MAX_DISK_BYTES,
    MAX_NOISE_PACKETS,
    PIDS,
    PORTS,
    REFERENCE,
    TEMPLATE,
    TIME_REF,
    UIDS,
    BodyRef,
    FileSpec,
    FillerSpec,
    FlowSpec,
    OsSpec,
    ProcessSpec,
    Spec,
    answer_problems,
    names,
    template_groups,
)
from dflab.scenario.system import Desktop, ssh_sessions, system_processes
from dflab.scenario.traces import kinds as story_kinds
from dflab.scenario.traces.story import FileTimes, rotation
from dflab.yamlfile import dotted

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EPHEMERAL = (32768, 60999)
SECTOR_BYTES = 512  # every cluster and block size of the disk writers is a multiple of it
SHUTDOWN_AFTER_S = (60, 600)  # the last of memory acquisition and disk writes, to the host's shutdown
# What dpkg's runs take (dflab.scenario.ostree.tree: a few seconds per package), kept inside the user's session
INSTALL_SPAN_S = 3 * 3600
UPGRADE_SPAN_S = 30 * 60
ROTATED = ("authlog", "syslog", "wtmp", "btmp")  # the logs logrotate makes anew (rsyslog's weekly, wtmp/btmp monthly)


class _Resolver:
    def __init__(self, spec: Spec, seed: bytes, variant: str) -> None:
        self.spec = spec
        self.seed = seed
        self.variant = variant
        self.ns: dict[str, Any] = {}
        self.times: dict[str, int] = {}
        self.names = names(*template_groups(spec))  # every name the spec's strings can use (checked when loaded)
        self._hours: Hours | None = None
        self._file_times: dict[str, FileTimes] = {}

    # -- helpers -----------------------------------------------------------------------------------
    def fail(self, where: str, what: str) -> SpecError:
        """A spec error found while resolving: ``file:line: field: what`` when the spec was loaded from a file."""
        at = locate(self.spec, where)
        return SpecError(f"{where}: {what}", at) if at else SpecError(what, f"scenario {self.spec.scenario}: {where}")

    def fail_at(self, loc: tuple[str | int, ...], what: str) -> SpecError:
        """:meth:`fail` for a field given by its pydantic path (``("answers", name)``: a name may hold a dot)."""
        field, at = dotted(loc), locate_path(self.spec, loc)
        return SpecError(f"{field}: {what}", at) if at else SpecError(what, f"scenario {self.spec.scenario}: {field}")

    def fill(self, text: str, where: str) -> str:
        """Substitute ``{name}`` references from the namespace; ``{{name}}`` is the literal text ``{name}``."""

        def sub(m: re.Match[str]) -> str:
            key = m["ref"]
            if key is None:
                return "{" + m["literal"] + "}"
            if key not in self.ns:
                if key in self.names:
                    raise self.fail(where, f"{{{key}}} in {text!r} is not known yet here: dflab resolves variables "
                                           "(in order), start, hosts, users, flow ports, process pids, processes, "
                                           "files, flows, then the timeline")
                raise self.fail(where, f"unknown reference {{{key}}} in {text!r}")
            return str(self.ns[key])

        return TEMPLATE.sub(sub, text)

    def value(self, spec: Any, name: str, where: str) -> Any:
        try:
            v = draw(spec, self.seed, name)
        except (ValueError, TypeError) as exc:
            raise self.fail(where, str(exc)) from exc
        return self.fill(v, where) if isinstance(v, str) else v

    def number(self, spec: Any, name: str, where: str, lo: int, hi: int) -> int:
        """A drawn or templated whole number, checked against ``[lo, hi]`` (a template is only known now)."""
        v = self.value(spec, name, where)
        try:
            n = int(v) if not isinstance(v, (bool, float)) else None
        except ValueError:
            n = None
        if n is None:
            raise self.fail(where, f"{v!r} is not a whole number")
        if not lo <= n <= hi:
            raise self.fail(where, f"{n} is outside {lo} .. {hi}")
        return n

    def at(self, ref: str, where: str) -> int:
        """The time ``ref`` names, exactly (a planned disk file's own times are :meth:`file_times`')."""
        return self.exact(ref, where)

    def exact(self, ref: str, where: str) -> int:
        """The time ``ref`` names to the second: its event's, plus or minus its offset."""
        m = TIME_REF.match(ref)
        if not m:
            raise self.fail(where, f"not a time reference: {ref!r} (use @event, @event+30s, @event-2d)")
        if m["event"] not in self.times:
            raise self.fail(where, f"time {ref!r} names unknown event {m['event']!r}")
        t = self.times[m["event"]]
        if m["num"]:
            delta = float(m["num"]) * _UNIT_SECONDS[m["unit"]]
            t += int(delta) if m["sign"] == "+" else -int(delta)
        return t

    @property
    def hours(self) -> Hours:
        """The machine's on-periods (:mod:`dflab.scenario.hours`), from memory's boot to the acquisition."""
        if self._hours is None:
            mem = self.spec.memory
            self._hours = Hours(self.seed, self.exact(mem.boot, "memory.boot"),
                                self.exact(mem.acquired, "memory.acquired"))
        return self._hours

    def on_hours(self, ref: str, t: int, label: str, *names: str, span: int = 0) -> int:
        """``t`` (what ``ref`` names exactly) as the machine's routine allows it: a day offset (``@start-20d``)
        keeps its date, its time of day drawn from ``(label, *names, ref)`` within the user's session that day
        (the latest working day before it when the machine was off), never past the event it is counted from.
        Any other reference stays exact."""
        m = TIME_REF.match(ref)
        if m is None or m["unit"] != "d":
            return t
        event = self.times[m["event"]]
        r = rng(self.seed, label, *names, ref)
        if m["sign"] == "-":
            return self.hours.place(t, r, before=event, span=span)
        return self.hours.place(t, r, after=event, span=span)

    def file_times(self, f: FileSpec) -> FileTimes:
        """A planned file's created, modified, accessed, changed and deleted times: day offsets inside the machine's
        on-periods (:meth:`on_hours`, drawn per file and reference: equal references of one file stay equal), in
        the order a file system keeps them where the spec's exact times have it (created <= modified <= changed,
        accessed not before created; an archive's member may keep an older modification)."""
        if f.id in self._file_times:
            return self._file_times[f.id]
        where = f"disk.files.{f.id}"

        def t(field: str) -> int | None:
            ref = getattr(f, field)
            if not ref:
                return None
            return self.on_hours(ref, self.exact(ref, f"{where}.{field}"), "file-time", f.id)

        def exact(field: str) -> int | None:
            ref = getattr(f, field)
            return self.exact(ref, f"{where}.{field}") if ref else None

        def after(placed: int | None, was: int | None, first: int, first_was: int) -> int | None:
            """``placed`` kept not before ``first`` when the spec has it so (an unpacked archive's member keeps
            its older modification: only an order the spec's times hold is kept)."""
            return max(placed, first) if placed is not None and was is not None and was >= first_was else placed

        c0 = exact("created")
        created = t("created")
        assert created is not None and c0 is not None
        if f.content.kind in ROTATED and created != c0:
            created = self.rotated(created, f.created)
        m0 = exact("modified") or c0
        modified = after(t("modified"), m0, created, c0) or created
        accessed = after(t("accessed"), exact("accessed"), created, c0) or modified
        deleted = t("deleted")
        changed = after(t("changed"), exact("changed") or exact("deleted") or m0, modified, m0) or (deleted or modified)
        assert modified is not None and accessed is not None and changed is not None
        self._file_times[f.id] = FileTimes(created, modified, accessed, changed, deleted)
        return self._file_times[f.id]

    def rotated(self, placed: int, ref: str) -> int:
        """A rotated log's creation on ``placed``'s day: logrotate's run that day in the routine (the one syslog
        shows as ``Starting logrotate.service``), not past the event ``ref`` counts from; else ``placed``."""
        m = TIME_REF.match(ref)
        assert m is not None
        day = datetime.fromtimestamp(placed, tz=UTC).replace(hour=0, minute=0, second=0)
        start, end = rotation(self.seed, day.timestamp(), self.hours.boot)
        at = math.ceil((start + end) / 2)
        if at > end:
            at = int(start) + 1
        if at - day.timestamp() >= 86400 or at > self.times[m["event"]]:
            return placed
        return at

    # -- stages ------------------------------------------------------------------------------------
    def variables(self) -> None:
        for name, spec in self.spec.variables.items():
            self.ns[name] = self.value(spec, f"var:{name}", f"variables.{name}")

    def timeline_times(self) -> None:
        start = self.value(self.spec.start, "start", "start")
        try:
            self.times["start"] = epoch(str(start))
        except ValueError as exc:
            raise self.fail("start", str(exc)) from exc
        self.ns["start"] = start
        for ev in self.spec.timeline:
            lo, hi = ev.seconds
            r = rng(self.seed, "event", ev.id)
            self.times[ev.id] = self.times[ev.after] + int(lo + (hi - lo) * r.random())

    def hosts(self) -> tuple[Host, ...]:
        out = []
        macs = {h.mac.lower() for h in self.spec.hosts if h.mac}
        for h in self.spec.hosts:
            where = f"hosts.{h.id}"
            ip = str(self.value(h.ip, f"host:{h.id}:ip", f"{where}.ip"))
            try:
                ipaddress.IPv4Address(ip)
            except ValueError as exc:
                raise self.fail(f"{where}.ip", f"ip {ip!r} is not an IPv4 address") from exc
            if h.mac:
                mac = h.mac
            else:
                # The NIC memory's kernel log names is QEMU's e1000 (dflab.evidence.memory.printk): a libvirt guest's
                # MAC, QEMU's OUI 52:54:00 and three drawn bytes (never one another host of the spec holds).
                r = rng(self.seed, "mac", h.id)
                mac = "52:54:00:" + ":".join(f"{r.randrange(256):02x}" for _ in range(3))
                while mac in macs:
                    mac = "52:54:00:" + ":".join(f"{r.randrange(256):02x}" for _ in range(3))
                macs.add(mac)
            host = Host(h.id, self.fill(h.hostname, f"{where}.hostname"), ip, mac)
            self.ns.update({f"hosts.{h.id}.ip": host.ip, f"hosts.{h.id}.hostname": host.hostname,
                            f"hosts.{h.id}.mac": host.mac})
            out.append(host)
        return tuple(out)

    def users(self) -> tuple[User, ...]:
        out = []
        for u in self.spec.users:
            where = f"users.{u.id}"
            name = self.fill(u.name, f"{where}.name")
            uid = self.number(u.uid, f"user:{u.id}:uid", f"{where}.uid", *UIDS)
            user = User(name, uid, uid, f"/home/{name}", self.fill(u.shell, f"{where}.shell"),
                        self.fill(u.full_name, f"{where}.full_name"))
            self.ns.update({f"users.{u.id}.name": name, f"users.{u.id}.uid": uid,
                            f"users.{u.id}.home": user.home})
            out.append(user)
        return tuple(out)

    def flow_ports(self) -> None:
        used: set[int] = set()
        for f in self.spec.network.flows:
            where = f"network.flows.{f.id}"
            if f.client_port is not None:
                port = self.number(f.client_port, f"flow:{f.id}:cport", f"{where}.client_port", *PORTS)
            else:
                r = rng(self.seed, "port", f.id)
                port = r.randint(*EPHEMERAL)
                while port in used:
                    port = port + 1 if port < EPHEMERAL[1] else EPHEMERAL[0]
            used.add(port)
            self.ns[f"flows.{f.id}.client_port"] = port
            # A mail client that logs in submits on 587 (RFC 6409); an unauthenticated one relays on 25.
            default = {"dns": 53, "http": 80, "ftp": 21, "raw": 0, "smtp": 587 if f.user is not None else 25,
                       "imap": 143}[f.kind]
            self.ns[f"flows.{f.id}.port"] = self.number(f.port, f"flow:{f.id}:port", f"{where}.port", *PORTS) \
                if f.port is not None else default

    def processes(self, users: dict[str, User], boot: int) -> tuple[Process, ...]:
        specs = self.spec.memory.processes
        pids: dict[str, int] = {}
        for p in specs:
            pid = self.number(p.pid, f"proc:{p.id}:pid", f"memory.processes.{p.id}.pid", *PIDS)
            while pid in pids.values():
                pid += 1
            pids[p.id] = pid
            self.ns[f"processes.{p.id}.pid"] = pid
        story = [self.process(p, pids, users) for p in specs]
        # The routine the logs tell (dflab.scenario.traces.story) is decided before the system's processes, from
        # the story's alone, and memory's daemons and desktop are the ones it names: logind's and
        # NetworkManager's pids, rsyslog's, the user's GNOME session opened at the greeter that morning.
        routine = self.routine(users, {p.id: pr for p, pr in zip(specs, story, strict=True)})
        root = next((k for k, v in enumerate(self.spec.disk.volumes, start=1) if v.mount == "/"), None)
        places = next((f for f in self.spec.disk.files if f.content.kind == "places"), None)
        mounts = {v.id: v.mount.rstrip("/") for v in self.spec.disk.volumes}
        profile = None if places is None else mounts[places.volume] + self.fill(places.path.rsplit("/", 1)[0],
                                                                                f"disk.files.{places.id}.path")
        system = system_processes(boot, set(pids.values()), root_device=None if root is None else f"sda{root}",
                                  firefox_profile=profile, **routine)
        story = ssh_sessions(story, {p.pid for p in system})  # sshd: USER@pts/0 between [priv] and the shell
        procs = sorted(system + story, key=lambda pr: pr.pid)
        by_uid = {u.uid: u for u in users.values()}
        return with_environments(procs, Login(by_uid, self.ssh_peer(), logind_session(self.seed),
                                              self.seed))

    def routine(self, users: dict[str, User], story: dict[str, Process]) -> dict[str, Any]:
        """What the system's processes take from the logs' plan: the incident boot's daemon pids and the user's
        desktop session (its uid, login time, worker pid), when a log file names the story's login shell; else
        only the host's name (the defaults: the greeter at the login screen)."""
        hostname = self.ns[f"hosts.{self.spec.suspect}.hostname"]  # what avahi announces
        logs = [f for f in self.spec.disk.files if f.content.kind in story_kinds.LOGS and f.content.process]
        if not logs:
            return {"hostname": hostname}
        f = logs[0]
        where = f"disk.files.{f.id}.content.process"
        boot = self.at(self.spec.memory.boot, "memory.boot")
        p = story_kinds.story(self, users, story, f.content.process, where, boot, boot)
        today = p.today
        return {"hostname": hostname, "logind": today.logind, "network_manager": today.network_manager,
                "rsyslog": today.rsyslog, "greeter": today.greeter,
                "desktop": Desktop(p.user.uid, p.user.gid, int(p.desktop), today.pid_at(p.desktop))}

    def ssh_peer(self) -> SshPeer:
        """The workstation a remote login to the suspect came from: an address of the suspect's /24 that no host
        of the spec holds, and an ephemeral port."""
        suspect = self.ns[f"hosts.{self.spec.suspect}.ip"]
        taken = {self.ns[f"hosts.{h.id}.ip"] for h in self.spec.hosts}
        r = rng(self.seed, "ssh-client")
        hosts = [str(a) for a in ipaddress.IPv4Network(f"{suspect}/24", strict=False).hosts() if str(a) not in taken]
        return SshPeer(r.choice(hosts[1:]), r.randint(*EPHEMERAL), suspect)

    def process(self, p: ProcessSpec, pids: dict[str, int], users: dict[str, User]) -> Process:
        where = f"memory.processes.{p.id}"
        user = users[p.user] if p.user else None
        uid = user.uid if user else 0
        sockets = tuple(self.socket(s.proto, s.state, s.local, s.remote, s.fd, f"{where}.sockets.{k}")
                        for k, s in enumerate(p.sockets))
        injected = None
        if p.inject:
            r = rng(self.seed, "inject", p.id)
            start = 0x7F00_0000_0000 + r.randrange(0x10000, 0x7FFFF) * 0x1000
            sled = b"\x90" * r.randint(8, 24)
            stub = b"\xfc\x48\x83\xe4\xf0\xe8" + content.random_bytes(r, 96) + b"\x48\x31\xc0\xc3"
            injected = InjectedRegion(start, sled + stub)
        return Process(
            pid=pids[p.id],
            ppid=1 if p.parent == "init" else int(p.parent[4:]) if p.parent.startswith("pid:") else pids[p.parent],
            comm=self.fill(p.comm, f"{where}.comm")[:15],
            args=tuple(self.fill(a, f"{where}.args.{k}") for k, a in enumerate(p.args)),
            uid=uid,
            gid=uid,
            start_time=self.at(p.started, f"{where}.started"),
            exe_path=self.fill(p.exe, f"{where}.exe"),
            hidden=p.hidden,
            open_files=tuple(OpenFile(fd, self.fill(path, f"{where}.open_files.{fd}"))
                             for fd, path in sorted(p.open_files.items())),
            sockets=sockets,
            bash_history=tuple(HistoryEntry(self.at(h.at, f"{where}.history.{k}.at"),
                                            self.fill(h.command, f"{where}.history.{k}.command"))
                               for k, h in enumerate(p.history)),
            environ=tuple((k, self.fill(v, f"{where}.environ.{k}")) for k, v in p.environ.items()),
            injected=injected,
        )

    def socket(self, proto: str, state: str, local: str, remote: str | None, fd: int, where: str) -> Socket:
        lip, lport = self.endpoint(local, f"{where}.local")
        rip, rport = self.endpoint(remote, f"{where}.remote") if remote else ("0.0.0.0", 0)
        if not FDS[0] <= fd <= FDS[1]:
            raise self.fail(f"{where}.fd", f"fd {fd} is outside {FDS[0]} .. {FDS[1]}")
        return Socket(proto, state, lip, lport, rip, rport, fd)  # type: ignore[arg-type]

    def endpoint(self, text: str, where: str) -> tuple[str, int]:
        host, _, port = self.fill(text, where).rpartition(":")
        ip = self.ns.get(f"hosts.{host}.ip", host)
        try:
            ipaddress.IPv4Address(ip)
            number = int(port)
        except ValueError as exc:
            raise self.fail(where, f"endpoint {text!r} is not host:port") from exc
        if not 0 <= number <= PORTS[1]:
            raise self.fail(where, f"endpoint {text!r}: port {number} is outside 0 .. {PORTS[1]}")
        return ip, number

    def files(self, users: dict[str, User], procs: dict[str, Process]) -> tuple[DiskFile, ...]:
        d = self.spec.disk
        by_id = {f.id: f for f in d.files}
        made: dict[str, DiskFile] = {}

        def make(f: FileSpec) -> DiskFile:
            if f.id in made:
                return made[f.id]
            made[f.id] = self.file(f, users, procs, lambda mid: make(by_id[mid]))
            return made[f.id]

        for f in d.files:
            make(f)
        out = [made[f.id] for f in d.files]
        taken = {(f.volume, f.path.lower()) for f in out}
        for i, fill in enumerate(d.filler):
            out.extend(self.filler(i, fill, users, taken))
        paths: set[tuple[str, str]] = set()
        for f in out:
            if (f.volume, f.path) in paths and f.deleted_at is None:
                raise self.fail(f"disk.files.{f.id}.path", f"path {f.path} is used twice on volume {f.volume}")
            paths.add((f.volume, f.path))
        return tuple(out)

    def file(self, f: FileSpec, users: dict[str, User], procs: dict[str, Process],
             member: Callable[[str], DiskFile]) -> DiskFile:
        where = f"disk.files.{f.id}"
        r = rng(self.seed, "file", f.id)
        c = f.content
        size = c.size if isinstance(c.size, int) or c.size is None else r.randint(*c.size)
        slack = self.fill(f.slack, f"{where}.slack").encode() if f.slack else b""
        if slack and size is not None and not isinstance(c.size, int):
            size = _room_for_slack(size, len(slack), c.size[0], c.size[1])
        kind = c.kind
        created = self.file_times(f).created
        if kind == "text":
            data = content.text(r, size or 2048)
        elif kind == "literal":
            data = self.fill(c.text or "", f"{where}.content.text").encode()
        elif kind == "elf":
            data = content.elf(r, size or 16384, [self.fill(c.text, f"{where}.content.text")] if c.text else [])
        elif kind == "random":
            data = content.random_bytes(r, size or 4096)
        elif kind == "png":
            data = content.png(r)
        elif kind == "pdf":
            body = (self.fill(c.text, f"{where}.content.text").splitlines() if c.text
                    else content.text(r, 600).decode().splitlines())
            data = content.pdf(body)
        elif kind == "zip":
            members = [member(m) for m in c.members]
            data = content.zip_stored((m.name, m.content, m.mtime) for m in members)
            wrap = self.value(c.wrap, f"file:{f.id}:wrap", f"{where}.content.wrap") if c.wrap is not None else "none"
            inner = self.fill(f.path, f"{where}.path").rsplit("/", 1)[-1].rsplit(".", 1)[0] + ".zip"
            if wrap == "tar":
                data = content.tar_one(inner, data, created)
            elif wrap == "gzip":
                data = content.gzip_stored(inner, data, created)
            elif wrap == "xz":
                data = content.xz_stored(data)
        elif kind == "history":
            proc = procs[c.process or ""]
            data = content.bash_history((h.time, h.command) for h in proc.bash_history)
        elif kind in content.TRACE_KINDS:
            data = content.trace(self, f, users, procs, member)
        else:  # passwd: Debian 12's system accounts and the case's users, installed system or not
            data = accounts.passwd(users.values())
        times = self.file_times(f)
        modified, accessed, changed, deleted = times.modified, times.accessed, times.changed, times.deleted
        owner = users[f.owner] if f.owner else None
        path = self.fill(f.path, f"{where}.path")
        if f.type_lies and not extension_lies(path, data):
            raise self.fail(f"{where}.type_lies", "type_lies is set but the content's magic bytes do not contradict "
                                                  "the name")
        return DiskFile(f.id, f.volume, path, data, modified, accessed, changed, created,
                        uid=owner.uid if owner else 0,
                        gid=owner.gid if owner else accounts.GID[LOG_GROUPS.get(kind, "root")], mode=f.mode,
                        deleted_at=deleted, slack=slack,
                        true_type=file_type(data))

    def filler(self, index: int, fill: FillerSpec, users: dict[str, User],
               taken: set[tuple[str, str]]) -> list[DiskFile]:
        """The rule's files, each saved in the user's session of a working day within ``created`` and opened again
        later that day or the next, named as people name documents (``taken``: the volume's paths so far, in
        lower case, since FAT ignores case; a name already there gets `` (2)``, as a file manager's copy does)."""
        r = rng(self.seed, "filler", str(index))
        owner = users[fill.owner] if fill.owner else None
        where = f"disk.filler.{index}"
        lo = self.at(fill.created[0], f"{where}.created")
        hi = self.at(fill.created[1], f"{where}.created")
        if lo > hi:
            raise self.fail(f"{where}.created", "created needs [earlier, later]")
        out = []
        for n in range(r.randint(*fill.count)):
            ext = r.choice(("txt", "txt", "pdf", "png", "csv"))
            template = r.choice([d for d in fill.directories if _holds(d, ext)] or fill.directories)
            directory = self.fill(template, f"{where}.directories.{fill.directories.index(template)}")
            if ext == "pdf":
                data = content.pdf(content.text(r, 500).decode().splitlines())
            elif ext == "png":
                data = content.png(r, r.randint(8, 48), r.randint(8, 48))
            else:
                data = content.text(r, r.randint(300, 12000))
            t = self.hours.between(lo, hi, r)
            if t is None:  # the machine was off all along: the latest working day before ``hi``
                t = self.hours.place(hi, r, before=hi)
            # opened again later, the same day or the next, before the incident's boot
            read = self.hours.between(t, max(t, min(t + 86400, int(self.hours.boot) - 1)), r) or t
            path = _free(fill.volume, f"{directory}/{_document_name(r, ext, t)}", taken)
            out.append(DiskFile(f"filler-{index}-{n}", fill.volume, path, data, t, read, t, t,
                                uid=owner.uid if owner else 0, gid=owner.gid if owner else 0,
                                true_type=file_type(data)))
        return out

    def flows(self, files: dict[str, DiskFile], hosts: dict[str, Host]) -> Network:
        n = self.spec.network
        dns, http, ftp, raw, smtp = [], [], [], [], []

        def body(ref: BodyRef | None, where: str) -> bytes:
            if ref is None:
                return b""
            return files[ref.file].content if ref.file else self.fill(ref.text or "", f"{where}.text").encode()

        for f in n.flows:
            where = f"network.flows.{f.id}"
            t = float(self.at(f.at, f"{where}.at"))
            cport = self.ns[f"flows.{f.id}.client_port"]
            sport = self.ns[f"flows.{f.id}.port"]
            if f.kind == "dns":
                txid = rng(self.seed, "txid", f.id).randrange(1, 65536)
                dns.append(DnsQuery(t, f.client, f.server, self.fill(f.qname or "", f"{where}.qname"),
                                    hosts[f.answer or ""].ip, cport, txid, f.id))
            elif f.kind == "http":
                auth = tuple(self.fill(x, f"{where}.basic_auth.{k}") for k, x in enumerate(f.basic_auth)) \
                    if f.basic_auth else None
                host_header = self.fill(f.host_header, f"{where}.host_header") if f.host_header \
                    else hosts[f.server].hostname
                http.append(HttpTransfer(t, f.client, f.server, cport, sport, f.method, host_header,
                                         self.fill(f.uri or "/", f"{where}.uri"),
                                         self.fill(f.user_agent, f"{where}.user_agent"), f.status,
                                         self.fill(f.content_type, f"{where}.content_type"),
                                         body(f.body, f"{where}.body"), body(f.request_body, f"{where}.request_body"),
                                         auth, f.id))  # type: ignore[arg-type]
            elif f.kind == "ftp":
                r = rng(self.seed, "ftp", f.id)
                stor = files[f.stor.file] if f.stor and f.stor.file else None
                ftp.append(FtpSession(t, f.client, f.server, cport, self.fill(f.user or "", f"{where}.user"),
                                      self.fill(f.password or "", f"{where}.password"), stor.name if stor else "",
                                      stor.content if stor else b"", r.randint(50000, 50999) if stor else 0,
                                      cport + 1 if stor else 0, f.id))
            elif f.kind == "raw":
                raw.append(RawTransfer(t, f.client, f.server, cport, sport, body(f.upload, f"{where}.upload"), b"",
                                       self.fill(f.label, f"{where}.label"), f.id))
            elif f.kind == "smtp":
                smtp.append(self.smtp(f, t, cport, sport, files, hosts))
        sent = {s.id: s for s in smtp}  # an imap flow may fetch the message of an smtp flow listed after it
        imap = [self.imap(f, float(self.at(f.at, f"network.flows.{f.id}.at")), files, hosts, sent)
                for f in n.flows if f.kind == "imap"]
        noise = self.number(n.noise_packets, "noise", "network.noise_packets", 0, MAX_NOISE_PACKETS)
        noise_seed = int.from_bytes(hashlib.sha256(self.seed + b"noise").digest()[:4], "big")
        return Network(float(self.at(n.start, "network.start")), float(self.at(n.end, "network.end")),
                       n.capture_host, tuple(dns), tuple(http), tuple(ftp), tuple(raw), noise, noise_seed,
                       n.gateway, tuple(smtp), tuple(imap))

    def header(self, text: str, where: str) -> str:
        """A templated mail header value, refused when it would break the header into two."""
        value = self.fill(text, where)
        if "\r" in value or "\n" in value:
            raise self.fail(where, f"a mail header is one line: {value!r} holds a line break")
        return value

    def address(self, text: str, where: str) -> str:
        """A templated envelope address (MAIL FROM, RCPT TO), checked once it is filled in."""
        value = self.fill(text, where)
        if not mail.is_address(value):
            raise self.fail(where, f"{value!r} is not a mail address such as clerk@example.org (no name, no <>)")
        return value

    def smtp(self, f: FlowSpec, t: float, cport: int, sport: int, files: dict[str, DiskFile],
             hosts: dict[str, Host]) -> SmtpSubmission:
        """The submission of one message: its envelope, its composed bytes, the login and the server's queue id."""
        where = f"network.flows.{f.id}"
        r = rng(self.seed, "smtp", f.id)
        mail_from = self.address(f.mail_from or "", f"{where}.mail_from")
        rcpt_to = tuple(self.address(a, f"{where}.rcpt_to.{k}") for k, a in enumerate(f.rcpt_to or ()))
        from_header = self.header(f.from_header, f"{where}.from_header") if f.from_header else mail_from
        to_header = self.header(f.to_header, f"{where}.to_header") if f.to_header else ", ".join(rcpt_to)
        subject = self.header(f.subject or "", f"{where}.subject")
        text, subtype = "", "plain"
        if f.body is not None and f.body.file:
            source = files[f.body.file]
            try:
                text = source.content.decode()
            except UnicodeDecodeError:
                raise self.fail(f"{where}.body.file", f"file {f.body.file!r} is not UTF-8 text: a mail body is text "
                                                      "(send other files as attachments)") from None
            subtype = mail.body_subtype(source.name)
        elif f.body is not None:
            text = self.fill(f.body.text or "", f"{where}.body.text")
        attached = [files[a.file or ""] for a in f.attachments]
        message_id = mail.message_id(r, t, mail_from.rpartition("@")[2])
        message = mail.compose(from_header=from_header, to_header=to_header, subject=subject, date=t,
                               message_id=message_id, body=text, subtype=subtype,
                               attachments=[(a.name, a.content) for a in attached], mime_boundary=mail.boundary(r))
        login = (self.fill(f.user, f"{where}.user"), self.fill(f.password or "", f"{where}.password")) \
            if f.user is not None else ("", "")
        queue_id = "".join(r.choice("0123456789ABCDEF") for _ in range(10))
        return SmtpSubmission(t, f.client, f.server, cport, sport, hosts[f.client].hostname, mail_from, rcpt_to,
                              message, message_id, from_header, to_header, subject, tuple(a.name for a in attached),
                              (f.auth or "plain") if f.user is not None else None, *login, queue_id, f.id)

    def imap(self, f: FlowSpec, t: float, files: dict[str, DiskFile], hosts: dict[str, Host],
             sent: dict[str, SmtpSubmission]) -> ImapSession:
        """A login and the fetch of every message of one mailbox: smtp flows' messages as delivered, or files."""
        where = f"network.flows.{f.id}"
        user, password = self.fill(f.user or "", f"{where}.user"), self.fill(f.password or "", f"{where}.password")
        mailbox = self.fill(f.mailbox, f"{where}.mailbox")
        for field, value in (("user", user), ("password", password), ("mailbox", mailbox)):
            if not value or not all(" " <= c <= "~" for c in value):
                raise self.fail(f"{where}.{field}", f"IMAP sends the {field} as a quoted string: printable ASCII, "
                                                    f"not empty (got {value!r})")
        messages = []
        for k, ref in enumerate(f.fetch or ()):
            if ref.flow is not None:
                s = sent[ref.flow]
                if s.time >= t:
                    raise self.fail(f"{where}.fetch.{k}.flow", f"smtp flow {ref.flow!r} sends its message at "
                                                               f"{iso(s.time)}, not before this fetch ({iso(t)})")
                messages.append(mail.delivered(s.message, mail_from=s.mail_from, rcpt_to=s.rcpt_to, helo=s.helo,
                                               client_ip=hosts[s.client].ip, server_name=hosts[s.server].hostname,
                                               queue_id=s.queue_id, authenticated=s.auth is not None, t=s.time))
            else:
                messages.append(mail.crlf(files[ref.file or ""].content))
        return ImapSession(t, f.client, f.server, self.ns[f"flows.{f.id}.client_port"], self.ns[f"flows.{f.id}.port"],
                           user, password, mailbox, tuple(messages), tuple(map(mail.header_message_id, messages)),
                           f.id)

    def volume_start(self, volume_id: str, start_mib: Any) -> int | None:
        """The drawn or literal first sector of a volume placed with ``start_mib`` (None: after the previous)."""
        if start_mib is None:
            return None
        where = f"disk.volumes.{volume_id}.start_mib"
        return self.number(start_mib, f"vol:{volume_id}:start", where, 1, MAX_DISK_BYTES // 2**20) * ALIGN_SECTORS

    def os_install(self, volume_id: str, os: OsSpec | None) -> OsInstall | None:
        """When the volume's operating system was installed and last upgraded, both before its story."""
        if os is None:
            return None
        where = f"disk.volumes.{volume_id}.os"
        installed = self.on_system_hours(os.installed, f"{where}.installed", volume_id, INSTALL_SPAN_S)
        updated = self.on_system_hours(os.updated, f"{where}.updated", volume_id, UPGRADE_SPAN_S)
        if not installed < updated:
            raise self.fail(f"{where}.updated", "the last upgrade comes after the install")
        first = min((self.file_times(f).created for f in self.spec.disk.files
                     if f.volume == volume_id), default=installed + 1)
        if installed >= first:
            raise self.fail(f"{where}.installed", "the operating system is installed before the volume's first "
                                                  "planned file is created")
        return OsInstall(os.distribution, os.profile, installed, updated)

    def on_system_hours(self, ref: str, where: str, volume_id: str, span: int) -> int:
        """The install or the last upgrade (``sudo apt upgrade``, the user's: apt's history names them) of a
        volume's system, with ``span`` seconds for dpkg's run: in the user's session of its day, as every file's
        day offset (:meth:`on_hours`); any other reference exact when the machine is up all along, else moved into
        that day's session (or the latest working day's before it) too. One decision, which the installed tree's
        files and dpkg's and apt's logs all read (:class:`~dflab.scenario.case.OsInstall`)."""
        t = self.exact(ref, where)
        placed = self.on_hours(ref, t, "os-time", volume_id, where.rsplit(".", 1)[1], span=span)
        if placed != t or (self.hours.on(t) and self.hours.on(t + span)):
            return placed
        return self.hours.place(t, rng(self.seed, "os-time", volume_id, where.rsplit(".", 1)[1], ref),
                                before=t, span=span)

    def shutdown_at(self, memory_acquired: int, files: tuple[DiskFile, ...]) -> int:
        """When the suspect host stopped: a drawn while after the memory acquisition and the disk's last write
        (responders acquire memory first, then shut the host down to image its disk), and no later than an E01
        acquisition the spec dates. What the running processes held is released here (the disk writer frees a
        deleted file still open or mapped at this moment), and the file system is unmounted right after it."""
        times = [t for f in files for t in (f.mtime, f.atime, f.ctime, f.crtime, f.deleted_at) if t is not None]
        latest = max([memory_acquired, *times])
        shutdown = latest + rng(self.seed, "shutdown").randint(*SHUTDOWN_AFTER_S)
        e = self.spec.disk.e01
        if e is not None and e.acquired:
            imaged = self.at(e.acquired, "disk.e01.acquired")
            if imaged < latest:
                raise self.fail("disk.e01.acquired", f"the disk is imaged at {iso(imaged)}, before the memory "
                                                     f"acquisition or a write on it ({iso(latest)})")
            shutdown = min(shutdown, imaged)
        return shutdown

    def e01_header(self) -> E01Header | None:
        e = self.spec.disk.e01
        if e is None:
            return None
        acquired = self.at(e.acquired or self.spec.memory.acquired, "disk.e01.acquired")
        return E01Header(acquired, e.case_number or self.spec.scenario, e.description or self.spec.title, e.examiner,
                         e.evidence_number, e.notes, e.compression)

    def check_answers(self) -> None:
        """Every answer's references name facts the key will hold (:func:`dflab.scenario.spec.answer_problems`):
        found here, at the answer's line, rather than by the key when the evidence is already built."""
        for loc, what in answer_problems(self.spec):
            raise self.fail_at(loc, what)

    def check_text_answers(self, files: tuple[DiskFile, ...]) -> None:
        """``{files.<id>.text}`` in an answer needs text content in this variant: the one answer name the spec alone
        cannot settle (the key has ``.text`` only for a file whose bytes are text)."""
        kinds = {f.id: f.true_type for f in files}
        for name, template in self.spec.answers.items():
            for ref in REFERENCE.findall(template):
                group, _, rest = ref.partition(".")
                ident, _, field = rest.partition(".")
                if group == "files" and field == "text" and kinds.get(ident, "text") != "text":
                    raise self.fail_at(("answers", name), f"{{{ref}}}: file {ident!r} is not text in this variant "
                                                          f"(its content is {kinds[ident]}); .text is only for a text "
                                                          "file")

    def resolve(self) -> Case:
        s = self.spec
        self.check_answers()
        self.variables()
        self.timeline_times()
        case_hosts = self.hosts()
        hosts = {h.id: h for h in case_hosts}
        users_t = self.users()
        users = {us.id: u for us, u in zip(s.users, users_t, strict=True)}
        self.flow_ports()
        mem = s.memory
        boot = self.at(mem.boot, "memory.boot")
        procs_t = self.processes(users, boot)
        by_pid = {p.pid: p for p in procs_t}
        procs = {p.id: by_pid[self.ns[f"processes.{p.id}.pid"]] for p in mem.processes}
        files_t = self.files(users, procs)
        files = {f.id: f for f in files_t}
        volumes = tuple(Volume(v.id, v.fs, v.label, v.size, rng(self.seed, "vol", v.id).getrandbits(32),
                               _uuid(self.seed, "vol", v.id), self.fill(v.mount, f"disk.volumes.{v.id}.mount"),
                               self.volume_start(v.id, v.start_mib), self.os_install(v.id, v.os))
                        for v in s.disk.volumes)
        table = self.value(s.disk.table, "disk:table", "disk.table")
        acquired = self.at(mem.acquired, "memory.acquired")
        shutdown = self.shutdown_at(acquired, files_t)
        disk = Disk(table, s.disk.size, rng(self.seed, "disk").getrandbits(32), _uuid(self.seed, "disk"),
                    volumes, files_t, self.e01_header())
        suspect = hosts[s.suspect]
        release, banner = kernel_identity(mem.kernel, self.seed)
        memory = Memory(mem.size, release, banner, boot, acquired, suspect.hostname,
                        procs_t, tuple(mem.formats))
        network = self.flows(files, hosts)
        timeline = tuple(
            TimelineEvent(float(self.times[e.id]), e.id, self.fill(e.action, f"timeline.{e.id}.action"),
                          self.fill(e.description, f"timeline.{e.id}.description"), e.sources,
                          tuple(self.fill(r, f"timeline.{e.id}.refs.{k}") for k, r in enumerate(e.refs)))
            for e in s.timeline)
        self.check_text_answers(files_t)
        return Case(s.scenario, s.version, s.title, self.variant, self.seed.hex(), case_hosts, users_t,
                    s.suspect, disk, memory, network, timeline,
                    facts={"answers": dict(s.answers), "process_ids": {k: v.pid for k, v in procs.items()},
                           "user_ids": [u.id for u in s.users],
                           "variables": {k: self.ns[k] for k in s.variables}},
                    shutdown_at=shutdown)


# The group Debian 12 gives a log nobody owns: rsyslog's files are root:adm (its ``$FileGroup adm``, so members
# of adm read them), the login records root:utmp (systemd-tmpfiles' wtmp/btmp lines, lastlog by login(1)).
LOG_GROUPS = {"authlog": "adm", "syslog": "adm", "wtmp": "utmp", "btmp": "utmp", "lastlog": "utmp"}


def _room_for_slack(size: int, slack: int, lo: int, hi: int) -> int:
    """The drawn ``size``, moved (within ``[lo, hi]`` where it can) so its last cluster keeps ``slack`` bytes free.

    Why: file slack is the room between a file's end and its last cluster's end, and a size drawn at random
    can leave less room than the planned slack text needs (the disk writer then refuses that variant).
    Clusters of every file system dflab writes are multiples of 512 bytes, so a size ending at most
    ``512 - slack`` bytes into a 512-byte sector (and not on its boundary) leaves room in any of them.
    """
    if slack >= SECTOR_BYTES:
        return size  # no size can help: the writer names the file and the room its cluster has
    offset = size % SECTOR_BYTES
    wanted = min(max(offset, 1), SECTOR_BYTES - slack)
    moved = size - offset + wanted
    return moved + SECTOR_BYTES if moved < lo and moved + SECTOR_BYTES <= hi else moved


_TOPICS = ("budget", "expenses", "invoices", "vendor list", "payments", "travel claims", "training plan",
           "team meeting", "quarterly review", "cash flow", "bank reconciliation", "forecast", "headcount",
           "suppliers", "petty cash", "audit findings", "accruals", "purchase orders", "timesheet", "month end",
           "pricing", "contracts", "insurance", "fixed assets", "payroll changes", "board pack", "tax return")


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")


# What people keep in folders named for a kind of file (the last part of the path, case ignored): pictures and
# screenshots in Pictures, scans as images or PDFs, papers in Documents; any other folder (Downloads, Desktop, a
# project's) holds anything.
_FOLDER_TYPES = {"pictures": {"png"}, "photos": {"png"}, "screenshots": {"png"}, "assets": {"png"},
                 "scans": {"png", "pdf"}, "documents": {"txt", "pdf", "csv"}, "reports": {"txt", "pdf", "csv"}}


def _holds(directory: str, ext: str) -> bool:
    """Whether a file of type ``ext`` is at home in ``directory`` (a spec's template, placeholders unfilled)."""
    return ext in _FOLDER_TYPES.get(directory.rstrip("/").rsplit("/", 1)[-1].lower(), {ext})


def _document_name(r: Any, ext: str, t: int) -> str:
    """A name as people give documents: a topic, maybe a date or a version, in one of the usual spellings, or the
    name GNOME's screenshot tool gives (its second is the file's creation)."""
    d = datetime.fromtimestamp(t, tz=UTC)
    month = _MONTHS[d.month - 1]  # not strftime's %B: that follows the process's locale
    topic = r.choice(_TOPICS)
    if ext == "png" and r.random() < 0.5:
        return f"Screenshot from {d:%Y-%m-%d %H-%M-%S}.png"
    forms = {
        "txt": [topic + " notes", f"notes {d.day} {month[:3]}", topic, topic + " todo",
                f"{topic} {d:%Y-%m-%d}", "call with " + r.choice(("supplier", "bank", "auditors", "it support"))],
        "pdf": [f"{topic} {month} {d.year}", f"invoice {r.randint(1000, 99999)}", f"statement {d:%Y%m}",
                topic + " final", f"{topic} v{r.randint(2, 5)}", f"scan {d:%Y%m%d}"],
        "csv": [f"{topic} {d:%Y-%m}", f"export {d:%Y%m%d}", f"{topic} q{(d.month - 1) // 3 + 1} {d.year}",
                topic + " export"],
        "png": [topic + " chart", f"scan {d:%Y%m%d}", topic + " diagram"],
    }
    stem = r.choice(forms[ext])
    style = r.random()
    if style < 0.4:
        stem = stem.replace(" ", "_")
    elif style < 0.7:
        stem = " ".join(w[:1].upper() + w[1:] for w in stem.split(" "))
    return f"{stem}.{ext}"


def _free(volume: str, path: str, taken: set[tuple[str, str]]) -> str:
    """``path``, or ``name (2).ext`` and on when the volume already holds it (case ignored, as FAT does)."""
    head, dot, ext = path.rpartition(".")
    candidate, k = path, 1
    while (volume, candidate.lower()) in taken:
        k += 1
        candidate = f"{head} ({k}){dot}{ext}"
    taken.add((volume, candidate.lower()))
    return candidate


def _uuid(seed: bytes, *labels: str) -> str:
    """A version-4-shaped UUID drawn from the seed."""
    b = bytearray(hashlib.sha256(seed + "\0".join(labels).encode()).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def resolve(spec: Spec, seed: bytes, variant: str = "default") -> Case:
    """Draw every value of ``spec`` from ``seed``: the case of one trainee (``variant``)."""
    return _Resolver(spec, seed, variant).resolve()
