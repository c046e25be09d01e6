"""Every scenario spec error names the file and the line of the mistaken field (issue #15, item 6).

Course teams write specs, not code: a mistake is one line, ``dflab: error: FILE:LINE: field: what``, from
`dflab scenario validate`, pointing at the field that holds it. Covered here, each as one mistake in the starter
that `dflab scenario new` writes (or in Nightjar):

* a reference from one section to another (an ``after:``, a flow's host or file, a socket's host ...) is reported
  at the referencing field, not at the top of the spec;
* every ``{...}`` of every templated string is checked when the spec is read, and of every answer when a variant
  is resolved (validate resolves one, before any evidence is built): a typo is found by `validate`, not by
  `dflab evidence build`, and never left in the evidence as text;
* a reference may name any id the schema accepts, ``-`` included (``{flows.dns-q.client_port}``); ``{{name}}``
  writes ``{name}`` as is, and other braces stay plain text;
* mistakes that used to escape as a traceback (a zip holding itself, a malformed MAC) are one line too.

The names the checks accept are held to what dflab really produces: the resolver's namespace and the answer key's.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from dflab.errors import SpecError
from dflab.evidence.disk.writer import write_disk
from dflab.evidence.key import namespace
from dflab.scenario import resolve as resolve_mod
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.load import load_spec, parse_spec
from dflab.scenario.new import PLACEHOLDER, template_text
from dflab.scenario.resolve import resolve
from tests.test_lab_requires import edited

ROOT = Path(__file__).resolve().parents[1]
NIGHTJAR = ROOT / "labs" / "scenarios" / "nightjar.yaml"
STARTER = template_text().replace(PLACEHOLDER, "plover")


def dflab(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real CLI, as a course team runs it."""
    return subprocess.run([sys.executable, "-m", "dflab.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "COLUMNS": "400", "HOME": str(cwd)})


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a failed command (exit 2, no traceback), without its ``dflab: error: `` prefix."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("dflab: error: "), proc.stderr
    return lines[0].removeprefix("dflab: error: ")


def line_of(text: str, needle: str) -> int:
    found = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


# (the starter's text, the mistake, the text on the mistaken field's line, the field, what is said: a regex)
MISTAKES = [
    # -- references across sections: at the referencing field ------------------------------------------------------
    ("after: upload, action: delete", "after: uploads, action: delete", "after: uploads", "timeline[4].after",
     r"'uploads' is not an earlier event: no event has that id \(earlier events: start, login, download, execute, "
     r"upload\)"),
    ("{id: execute, after: download,", "{id: execute, after: upload,", "{id: execute, after: upload,",
     "timeline[2].after", r"'upload' is not an earlier event: it comes later in the timeline .*"),
    ("client: suspect, server: share, method: POST", "client: suspekt, server: share, method: POST", "suspekt",
     "network.flows[2].client", r"unknown host 'suspekt' \(hosts are: gateway, resolver, share, suspect\)"),
    ("answer: share}", "answer: shares}", "answer: shares}", "network.flows[0].answer",
     r"unknown host 'shares' \(hosts are: gateway, resolver, share, suspect\)"),
    ("body: {file: tool}", "body: {file: tools}", "{file: tools}", "network.flows[1].body.file",
     r"unknown file 'tools' \(files are: history, hostname, passwd, pricelist, tool\)"),
    ("request_body: {file: pricelist}", "request_body: {file: pricelists}", "pricelists",
     "network.flows[2].request_body.file", r"unknown file 'pricelists' .*"),
    ("  resolver: resolver", "  resolver: dns", "resolver: dns", "network.resolver", r"unknown host 'dns' .*"),
    ('remote: "share:80"', 'remote: "shares:80"', "shares:80", "memory.processes[2].sockets[0].remote",
     r"unknown host 'shares' in 'shares:80' \(hosts are: .*; or an IPv4 address\)"),
    ("      parent: session", "      parent: sesion", "parent: sesion", "memory.processes[1].parent",
     r"unknown process 'sesion' \(processes are: bash, session, tool_proc\)"),
    ('owner: employee, mode: 0o600', 'owner: employe, mode: 0o600', "employe, mode: 0o600", "disk.files[4].owner",
     r"unknown user 'employe' \(users are: employee\)"),
    ("content: {kind: history, process: bash}", "content: {kind: history, process: bsh}", "process: bsh",
     "disk.files[4].content.process", r"unknown process 'bsh' .*"),
    ("- {id: download, kind: http", "- {id: dns, kind: http", "{id: dns, kind: http", "network.flows[1].id",
     r"duplicate flow id 'dns' \(also network.flows\[0\]\)"),
    # -- answers: every reference, checked by validate -------------------------------------------------------------
    ('"{files.tool.sha256}"', '"{files.tools.sha256}"', "tool_sha256:", "answers.tool_sha256",
     r"unknown reference \{files.tools.sha256\} \(files are: history, hostname, passwd, pricelist, tool\)"),
    ('"{files.tool.sha256}"', '"{files.tool.sha265}"', "tool_sha256:", "answers.tool_sha256",
     r"unknown reference \{files.tool.sha265\} \(file 'tool' has: path, name, .*sha256.*\)"),
    ('share_ip: "{hosts.share.ip}"', 'share_ip: "{hosts.share.ip} / {share_domain}"', "share_ip:", "answers.share_ip",
     r"unknown reference \{share_domain\} \(in answers: a variable is \{variables.share_domain\}\)"),
    ('"{processes.tool_proc.pid}"', '"{processes.tool-proc.pid}"', "tool_pid:", "answers.tool_pid",
     r"unknown reference \{processes.tool-proc.pid\} \(processes are: bash, session, tool_proc\)"),
    ('"{files.pricelist.slack}"', '"{files.tool.text}"', "slack_secret:", "answers.slack_secret",
     r"\{files.tool.text\}: file 'tool' is not text in this variant \(its content is elf\); .text is only for a "
     r"text file"),
    # -- templated strings: every {...} names something ------------------------------------------------------------
    ('path: "/home/{user}/Downloads/{tool}"', 'path: "/home/{usr}/Downloads/{tool}"', "{usr}", "disk.files[3].path",
     r"unknown reference \{usr\} in '/home/\{usr\}/Downloads/\{tool\}' \(variables are: customer_code, full_name, "
     r"hostname, share_domain, tool, user; or start\)"),
    ('description: "{tool} is downloaded', 'description: "{tol} is downloaded', "{tol}", "timeline[1].description",
     r"unknown reference \{tol\} .*"),
    ('command: "chmod +x {tool}"', 'command: "chmod +x {files.tool.path}"', "chmod",
     "memory.processes[1].history[2].command",
     r"unknown reference \{files.tool.path\} in 'chmod \+x \{files.tool.path\}' \(files.<id>.<field> is for "
     r"answers: only, read from the answer key after the build\)"),
    ('local: "suspect:{flows.upload.client_port}"', 'local: "suspect:{flows.uplaod.client_port}"', "uplaod",
     "memory.processes[2].sockets[0].local", r"unknown reference \{flows.uplaod.client_port\} .*\(flows are: dns, "
     r"download, upload\)"),
    ('user_agent: "{tool}/1.0"', 'user_agent: "{processes.tool_proc.comm}/1.0"', 'user_agent: "{processes',
     "network.flows[2].user_agent", r".*\(comm is for answers: only; here process 'tool_proc' has: pid\)"),
    ("mount: /,", 'mount: "/{mnt}",', "{mnt}", "disk.volumes[0].mount", r"unknown reference \{mnt\} .*"),
    ('"Pricing Officer"', '"{role}"', "{role}", "variables.full_name.choice[1]", r"unknown reference \{role\} .*"),
    # a reference dflab knows only later than the field using it: found while resolving, still at its line
    ("hostname: gw,", 'hostname: "gw-{processes.bash.pid}",', "gw-{processes", "hosts.gateway.hostname",
     r"\{processes.bash.pid\} in 'gw-\{processes.bash.pid\}' is not known yet here: .*"),
    # -- text that is never templated holds no reference -----------------------------------------------------------
    ('title: "Scenario plover: a price list leaves the company"', 'title: "Scenario {user}"', "title:", "title",
     r"this text is not a template: \{user\} would stay as written .*"),
    ("label: rootfs", 'label: "{hostname}"', "label:", "disk.volumes[0].label", r"this text is not a template: .*"),
    # -- once tracebacks ---------------------------------------------------------------------------------------------
    ("content: {kind: passwd}", "content: {kind: zip, members: [passwd]}", "members: [passwd]",
     "disk.files[1].content.members", r"zip 'passwd' would contain itself"),
    ('mac: "52:54:00:14:1e:01"', 'mac: "52:54:00:14:1e:zz"', "1e:zz", "hosts[1].mac",
     r"mac '52:54:00:14:1e:zz' is not a MAC address .*"),
    # -- variable names: each one usable as {name} -----------------------------------------------------------------
    ("customer_code: {hex: 8}", "start: {hex: 8}", "start: {hex", "variables.start",
     r"'start' is the story's start time \(\{start\}\): name the variable otherwise"),
    ("customer_code: {hex: 8}", "customer code: {hex: 8}", "customer code", "variables.customer code",
     r"variable name 'customer code' cannot be used as \{name\}: .*"),
    # -- ids dflab gives its own files -----------------------------------------------------------------------------
    ("- {id: passwd, volume: root", "- {id: filler-0-1, volume: root", "filler-0-1", "disk.files[1].id",
     r"'filler-0-1' is how dflab names its filler files \(filler-<rule>-<n>\): choose another id"),
]


@pytest.mark.parametrize(("good", "bad", "needle", "field", "what"), MISTAKES,
                         ids=[f"{m[3]}:{m[1][:30]}" for m in MISTAKES])
def test_one_mistake_is_one_line_at_the_mistaken_field(tmp_path: Path, good: str, bad: str, needle: str, field: str,
                                                        what: str) -> None:
    text = edited(STARTER, (good, bad))
    spec = tmp_path / "plover.yaml"
    spec.write_text(text)
    line = one_error_line(dflab("scenario", "validate", str(spec), cwd=tmp_path))
    expected = rf"{re.escape(str(spec))}:{line_of(text, needle)}: {re.escape(field)}: {what}"
    assert re.fullmatch(expected, line), f"{line}\n   does not match\n{expected}"


def test_build_reports_an_answer_typo_at_its_line_and_builds_nothing(tmp_path: Path) -> None:
    """`dflab evidence build` reads the spec the same way: the answer's line, before any evidence is written."""
    text = edited(STARTER, ('"{files.tool.sha256}"', '"{files.tools.sha256}"'))
    spec = tmp_path / "plover.yaml"
    spec.write_text(text)
    proc = dflab("evidence", "build", str(spec), "--out", str(tmp_path / "out"), "--trainee", "alice", "--secret", "s",
                 cwd=tmp_path)
    errors = [ln.removeprefix("dflab: error: ") for ln in proc.stderr.splitlines() if ln.startswith("dflab: error: ")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(errors) == 1, proc.stderr
    line = errors[0]  # after the progress bar's line
    assert line.startswith(f"{spec}:{line_of(text, 'tool_sha256:')}: answers.tool_sha256: unknown reference "
                           "{files.tools.sha256} (files are: ")
    assert not (tmp_path / "out" / "alice").exists()


def test_the_bundled_specs_validate(tmp_path: Path) -> None:
    spec = tmp_path / "plover.yaml"
    spec.write_text(STARTER)
    for path in (spec, NIGHTJAR):
        proc = dflab("scenario", "validate", str(path), cwd=tmp_path)
        assert proc.returncode == 0 and "is valid" in proc.stdout and "Traceback" not in proc.stderr, proc.stderr


# -- the reference grammar ----------------------------------------------------------------------------------------
def test_an_id_with_a_dash_is_a_reference_not_literal_text() -> None:
    """``{flows.dns-q.client_port}`` is the port (it used to stay in the evidence as written)."""
    text = edited(STARTER, ("- {id: dns, kind: dns", "- {id: dns-q, kind: dns"),
                  ('command: "chmod +x {tool}"', 'command: "chmod +x {tool} # {flows.dns-q.client_port}"'))
    case = resolve(parse_spec(text, "plover.yaml"), variant_seed(DEMO_SECRET, "plover", "t"), "t")
    port = next(q.client_port for q in case.network.dns if q.id == "dns-q")
    commands = [h.command for p in case.memory.processes for h in p.bash_history]
    assert any(c.endswith(f" # {port}") for c in commands) and not any("{" in c for c in commands), commands
    with pytest.raises(SpecError, match=r"unknown reference \{flows.dns-x.client_port\} .*\(flows are: dns-q, "):
        parse_spec(text.replace("{flows.dns-q.client_port}", "{flows.dns-x.client_port}"), "plover.yaml")


def test_doubled_braces_and_other_braces_are_plain_text() -> None:
    text = edited(STARTER, ('command: "chmod +x {tool}"', 'command: "echo ${{HOME}} {{user}} {tool}"'),
                  ('text: "{hostname}\\n"', 'text: "{hostname} {\\"a\\": 1} { x } {1..3} {}\\n"'))
    case = resolve(parse_spec(text, "plover.yaml"), variant_seed(DEMO_SECRET, "plover", "t"), "t")
    tool = case.facts["variables"]["tool"]
    commands = [h.command for p in case.memory.processes for h in p.bash_history]
    assert f"echo ${{HOME}} {{user}} {tool}" in commands, commands
    hostname = case.facts["variables"]["hostname"]
    assert case.file("hostname").content == f'{hostname} {{"a": 1}} {{ x }} {{1..3}} {{}}\n'.encode()


def test_nightjar_fills_the_reference_in_its_transfer_mount() -> None:
    """A volume's mount is templated (Nightjar's ``/media/{user}/TRANSFER`` used to stay as written)."""
    spec = load_spec(NIGHTJAR)
    case = resolve(spec, variant_seed(DEMO_SECRET, spec.scenario, "default"), "default")
    mounts = {v.id: v.mount_point for v in case.disk.volumes}
    assert mounts == {"transfer": f"/media/{case.facts['variables']['user']}/TRANSFER", "root": "/"}


# -- the names the checks accept are the names dflab produces -------------------------------------------------------
def spec_texts() -> list[tuple[str, str]]:
    return [("nightjar", NIGHTJAR.read_text()), ("plover", STARTER)]


@pytest.mark.parametrize(("scenario", "text"), spec_texts(), ids=["nightjar", "plover"])
def test_template_names_are_the_resolvers_namespace(scenario: str, text: str) -> None:
    from dflab.scenario.spec import names, template_groups

    spec = parse_spec(text, f"{scenario}.yaml")
    for trainee in ("a", "b"):
        resolver = resolve_mod._Resolver(spec, variant_seed(DEMO_SECRET, scenario, trainee), trainee)
        resolver.resolve()
        assert set(resolver.ns) == names(*template_groups(spec))


@pytest.mark.parametrize(("scenario", "text"), spec_texts(), ids=["nightjar", "plover"])
def test_answer_names_are_the_answer_keys_namespace(tmp_path: Path, scenario: str, text: str) -> None:
    """spec.answer_groups lists what dflab.evidence.key.namespace holds (``.text`` only for a text file)."""
    from dflab.scenario.spec import answer_groups, names

    spec = parse_spec(text, f"{scenario}.yaml")
    for trainee in ("a", "b"):
        case = resolve(spec, variant_seed(DEMO_SECRET, scenario, trainee), trainee)
        key_names = {name for name in namespace(case, write_disk(case, tmp_path / f"{trainee}.img"))
                     if not name.startswith("files.filler-")}  # drawn filler files: how many differs per variant
        not_text = {f"files.{f.id}.text" for f in case.disk.files if f.true_type != "text"}
        assert key_names == names(set(), answer_groups(spec)) - not_text


def _field(loc: tuple[str | int, ...] | list[str]) -> str:
    """A field path without list positions, ids and mapping keys: ``memory.processes.sockets.local``."""
    keyed = {"variables", "open_files", "environ"}  # the next part is a name of the author's
    listed = {"hosts", "users", "timeline", "volumes", "files", "processes", "flows"}  # resolver paths name ids
    out: list[str] = []
    parts = [str(p) for p in loc]
    skip = False
    for i, part in enumerate(parts):
        if skip or part.isdigit() or part == "choice":
            skip = False
            continue
        out.append(part)
        skip = part in keyed or (part in listed and isinstance(loc, list) and i + 1 < len(parts)
                                 and not parts[i + 1].isdigit())
    return ".".join(out)


@pytest.mark.parametrize(("scenario", "text"), spec_texts(), ids=["nightjar", "plover"])
def test_every_string_the_resolver_fills_is_checked_when_read(monkeypatch, scenario: str, text: str) -> None:
    """A string dflab fills must be one spec.templated_strings lists (and so is checked at its line when read)."""
    from dflab.scenario.spec import templated_strings

    spec = parse_spec(text, f"{scenario}.yaml")
    filled: set[str] = set()
    fill, value = resolve_mod._Resolver.fill, resolve_mod._Resolver.value
    drawing: list[bool] = [False]  # a drawn time, hex or password is text, but never a template

    def recording(self, template: str, where: str) -> str:
        if not drawing[0]:
            filled.add(_field(where.split(".")))
        return fill(self, template, where)

    def drawn(self, spec, name: str, where: str):
        drawing[0] = isinstance(spec, dict)
        try:
            return value(self, spec, name, where)
        finally:
            drawing[0] = False

    monkeypatch.setattr(resolve_mod._Resolver, "fill", recording)
    monkeypatch.setattr(resolve_mod._Resolver, "value", drawn)
    resolve(spec, variant_seed(DEMO_SECRET, scenario, "a"), "a")
    checked = {_field(loc) for loc, _ in templated_strings(spec)}
    assert filled and filled <= checked, sorted(filled - checked)
