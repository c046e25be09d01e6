"""Mail in the capture (issue #15, item 5): ``smtp`` and ``imap`` flows, checked with parsers dflab did not write.

A small case (the starter ``dflab scenario new`` writes, plus a mail relay) sends three messages over SMTP (a login
with AUTH LOGIN and a PDF attachment, a login with AUTH PLAIN and lines that need dot-stuffing, an unauthenticated
relay on port 25) and reads a mailbox over IMAP (the second message as delivered, and a stored ``.eml`` file with LF
line ends). Every check compares what an independent reader finds with the answer key or the case's own bytes:

* tshark's smtp, imap and imf dissectors (commands, reply codes, the decoded login, the message headers) and its
  IMF object export;
* scapy, through ``dflab.forensics.pcap.tcp_stream``, reassembling each side of each connection, and Python's
  ``email`` parser on the DATA phase (un-dot-stuffed) and on each FETCH literal: message, attachment and hashes.

Then: two builds are byte-identical; a mistaken mail field is one line at its ``file:line``; the names the spec
checks are the names the resolver and the key produce.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest

from dflab.errors import SpecError
from dflab.evidence.build import build_variant
from dflab.evidence.disk.writer import write_disk
from dflab.evidence.key import namespace
from dflab.forensics.pcap import tcp_stream
from dflab.scenario import resolve as resolve_mod
from dflab.scenario.case import Case
from dflab.scenario.draw import DEMO_SECRET, variant_seed
from dflab.scenario.load import parse_spec
from dflab.scenario.new import PLACEHOLDER, template_text
from dflab.scenario.resolve import resolve
from dflab.scenario.spec import FLOW_FACTS, answer_groups, names, template_groups, templated_strings
from tests.test_lab_requires import edited
from tests.test_spec_errors import _field, line_of

pytestmark = pytest.mark.xdist_group("mail")

ROOT = Path(__file__).resolve().parents[1]
TRAINEE = "alice"
HARVEST = ("From: Drop <drop@{share_domain}>\\nTo: ops@{share_domain}\\nSubject: harvest {customer_code}\\n"
           "Message-ID: <h-{customer_code}@{share_domain}>\\n\\nalice@example.com:Summer2026!\\n.\\n")
MAIL_EDITS = (
    ("  customer_code: {hex: 8}\n", "  customer_code: {hex: 8}\n  relay_password: {password: 14}\n"),
    ('  - {id: share, hostname: "{share_domain}", ip: {ip_in: 203.0.113.0/24}, on_link: false}\n',
     '  - {id: share, hostname: "{share_domain}", ip: {ip_in: 203.0.113.0/24}, on_link: false}\n'
     '  - {id: relay, hostname: "mail.{share_domain}", ip: {ip_in: 198.51.100.0/24}, on_link: false}\n'),
    ('    - {id: passwd, volume: root, path: /etc/passwd, content: {kind: passwd}, created: "@start-90d"}\n',
     '    - {id: passwd, volume: root, path: /etc/passwd, content: {kind: passwd}, created: "@start-90d"}\n'
     '    - {id: invoice, volume: root, path: "/home/{user}/Documents/invoice_{customer_code}.pdf",\n'
     '       content: {kind: pdf, text: "Invoice {customer_code}"}, created: "@start-2d", owner: employee}\n'
     '    - {id: letter, volume: root, path: "/home/{user}/kit/letter.html", owner: employee, created: "@start-2d",\n'
     '       content: {kind: literal, text: "<html><body><p>Dear customer,</p>\\n.<p>Verify at '
     'http://{share_domain}/</p></body></html>\\n"}}\n'
     '    - {id: harvest, volume: root, path: "/home/{user}/Maildir/cur/1.eml", owner: employee,\n'
     f'       content: {{kind: literal, text: "{HARVEST}"}}, created: "@start-1d"}}\n'),
    ('       body: {text: "stored\\n"}}\n',
     '       body: {text: "stored\\n"}}\n'
     '    - {id: phish, kind: smtp, at: "@upload+5s", client: suspect, server: relay, user: "kit@{share_domain}",\n'
     '       password: "{relay_password}", auth: login, mail_from: "billing@{share_domain}",\n'
     '       rcpt_to: [alice@example.com, bob@example.org], subject: "Invoice {customer_code} – action required",\n'
     '       from_header: "Accounts Payable <billing@{share_domain}>", body: {file: letter},\n'
     '       attachments: [{file: invoice}]}\n'
     '    - {id: report, kind: smtp, at: "@upload+9s", client: suspect, server: relay, user: "{user}",\n'
     '       password: "{relay_password}", mail_from: "{user}@{share_domain}", rcpt_to: ["drop@{share_domain}"],\n'
     '       subject: "2 sent", body: {text: "alice@example.com\\n.\\n..done\\n"}}\n'
     '    - {id: notice, kind: smtp, at: "@upload+12s", client: suspect, server: relay,\n'
     '       mail_from: "noreply@{share_domain}", rcpt_to: [carol@example.net], subject: "Delivery notice"}\n'
     '    - {id: inbox, kind: imap, at: "@upload+20s", client: suspect, server: relay, user: "drop@{share_domain}",\n'
     '       password: "{relay_password}", fetch: [{flow: report}, {file: harvest}]}\n'),
    ('  slack_secret: "{files.pricelist.slack}"\n',
     '  slack_secret: "{files.pricelist.slack}"\n  victims: "{flows.phish.rcpt_to}"\n'
     '  relay_password: "{flows.inbox.password}"\n  lure_sha256: "{flows.phish.message_sha256}"\n'),
)
SPEC_TEXT = edited(template_text().replace(PLACEHOLDER, "wren"), *MAIL_EDITS)
SMTP_FLOWS = ("phish", "report", "notice")
CHECKSUMS = ("-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE")
DECODE_AUTH = ("-o", "smtp.decryption:TRUE")  # Wireshark leaves AUTH's base64 undecoded unless asked


def tshark(*args: str) -> str:
    exe = shutil.which("tshark")
    if exe is None:
        pytest.fail("tshark is not installed (apt-get install tshark)")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def fields(pcap: Path, display_filter: str, *names: str, extra: tuple[str, ...] = ()) -> list[list[str]]:
    out = tshark("-r", str(pcap), *extra, "-Y", display_filter, "-T", "fields", "-E", "separator=|",
                 *(a for name in names for a in ("-e", name)))
    return [line.split("|") for line in out.splitlines()]


class Built:
    """One trainee's build of the mail case: the case, its key's namespace and its capture."""

    def __init__(self, out: Path) -> None:
        self.spec = parse_spec(SPEC_TEXT, "wren.yaml")
        build_variant(self.spec, DEMO_SECRET, TRAINEE, out, kinds=("network",))
        self.case: Case = resolve(self.spec, variant_seed(DEMO_SECRET, "wren", TRAINEE), TRAINEE)
        self.key: dict[str, Any] = json.loads((out / "key" / "answer_key.json").read_text())
        self.ns: dict[str, Any] = self.key["namespace"]
        self.pcap = out / "evidence" / "network.pcap"
        self.out = out

    def flow(self, flow_id: str) -> dict[str, Any]:
        """The key's facts of one flow, by role."""
        prefix = f"flows.{flow_id}."
        return {k.removeprefix(prefix): v for k, v in self.ns.items() if k.startswith(prefix)}

    def streams(self, flow_id: str) -> tuple[bytes, bytes]:
        """What the client and the server sent on the flow's connection, reassembled by scapy."""
        f = next(fl for fl in self.key["facts"]["network"]["flows"] if fl["id"] == flow_id)
        client, server = (f["client_ip"], f["client_port"]), (f["server_ip"], f["server_port"])
        return tcp_stream(self.pcap, (*client, *server)), tcp_stream(self.pcap, (*server, *client))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return Built(tmp_path_factory.mktemp("mail") / TRAINEE)


# -- SMTP ---------------------------------------------------------------------------------------------------------
def data_phase(client: bytes) -> tuple[list[bytes], bytes]:
    """The client's command lines, and the DATA phase's bytes as sent (dot-stuffed, without the final ``.``)."""
    lines = client.split(b"\r\n")
    start = lines.index(b"data") + 1
    end = lines.index(b".", start)
    return lines[:start] + lines[end + 1:-1], b"".join(line + b"\r\n" for line in lines[start:end])


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unstuffed(data: bytes) -> bytes:
    """RFC 5321 4.5.2, the receiver's side: a line that starts with ``.`` loses that first ``.``."""
    return re.sub(rb"(?m)^\.", b"", data)


@pytest.mark.parametrize("flow_id", SMTP_FLOWS)
def test_smtp_dialogue_in_tshark(built: Built, flow_id: str) -> None:
    """Commands in smtplib's order, Postfix's reply codes, and the envelope the key names."""
    f = built.flow(flow_id)
    port = f"tcp.port == {f['client_port']}"
    requests = fields(built.pcap, f"{port} && smtp.req.command", "smtp.req.command", "smtp.req.parameter")
    login = [] if f["auth"] is None else [["AUTH", f"{f['auth'].upper()} " + b64(
        f["user"] if f["auth"] == "login" else f"\0{f['user']}\0{f['password']}")]]  # RFC 4616: no authzid
    assert requests == [["ehlo", built.case.host("suspect").hostname], *login,
                        ["mail", f"FROM:<{f['mail_from']}> size={f['message_bytes']}"],
                        *(["rcpt", f"TO:<{r}>"] for r in f["rcpt_to"]), ["data", ""], ["quit", ""]]
    codes = [int(c) for c, in fields(built.pcap, f"{port} && smtp.response.code", "smtp.response.code")]
    assert codes == [220, 250, *{"login": [334, 235], "plain": [235], None: []}[f["auth"]], 250,
                     *[250] * len(f["rcpt_to"]), 354, 250, 221]
    queued = fields(built.pcap, f"{port} && smtp.response.code == 250", "smtp.rsp.parameter")[-1][0]
    assert queued == f"2.0.0 Ok: queued as {f['queue_id']}"
    assert f["server_port"] == (587 if f["auth"] else 25)


@pytest.mark.parametrize("flow_id", ["phish", "report"])
def test_tshark_decodes_the_login_the_key_names(built: Built, flow_id: str) -> None:
    f = built.flow(flow_id)
    rows = fields(built.pcap, f"tcp.port == {f['client_port']} && (smtp.auth.username || smtp.auth.password)",
                  "smtp.auth.username", "smtp.auth.password", extra=DECODE_AUTH)
    users = {u for u, _ in rows if u}
    passwords = {p for _, p in rows if p}
    assert users == {f["user"]} and passwords == {f["password"]}
    assert f["password"] == built.case.facts["variables"]["relay_password"]


def test_an_unauthenticated_relay_sends_no_login(built: Built) -> None:
    f = built.flow("notice")
    assert f["auth"] is None and f["user"] is None and f["password"] is None
    assert not fields(built.pcap, f"tcp.port == {f['client_port']} && smtp.req.command == \"AUTH\"", "frame.number")
    ehlo = fields(built.pcap, f"tcp.port == {f['client_port']} && smtp.response.code == 250", "smtp.rsp.parameter")[0]
    assert not any(p.startswith("AUTH") for p in ehlo[0].split(",")), ehlo  # port 25 offers no login


@pytest.mark.parametrize("flow_id", SMTP_FLOWS)
def test_tshark_imf_reads_the_headers_the_key_names(built: Built, flow_id: str) -> None:
    f = built.flow(flow_id)
    (row,) = fields(built.pcap, f"tcp.port == {f['client_port']} && imf", "imf.from", "imf.to", "imf.subject",
                    "imf.message_id", "imf.date")
    sender, to, subject, message_id, date = row
    assert (sender, to, message_id) == (f["from_header"], f["to_header"], f["message_id"])
    assert str(make_header(decode_header(subject))) == f["subject"]  # tshark 4.0 shows RFC 2047 words undecoded
    flow = next(s for s in built.case.network.smtp if s.id == flow_id)
    assert parsedate_to_datetime(date).timestamp() == int(flow.time)  # the flow's time, not the build's


@pytest.mark.parametrize("flow_id", SMTP_FLOWS)
def test_the_data_phase_reassembled_by_scapy_is_the_message(built: Built, flow_id: str) -> None:
    """scapy's streams, un-dot-stuffed, give the key's message hash; Python's email parser reads it back."""
    f = built.flow(flow_id)
    client, server = built.streams(flow_id)
    commands, sent = data_phase(client)
    assert commands[0].startswith(b"ehlo ") and commands[-1] == b"quit"
    message = unstuffed(sent)
    assert hashlib.sha256(message).hexdigest() == f["message_sha256"] and len(message) == f["message_bytes"]
    parsed = message_from_bytes(message, policy=policy.default)
    assert (parsed["From"], parsed["To"], parsed["Subject"], parsed["Message-ID"]) == \
        (f["from_header"], f["to_header"], f["subject"], f["message_id"])
    assert not parsed.defects and b"\n" not in message.replace(b"\r\n", b"")  # CRLF line ends, nothing else
    assert server.startswith(b"220 ") and f"250 2.0.0 Ok: queued as {f['queue_id']}\r\n".encode() in server


def test_dot_stuffing_is_on_the_wire(built: Built) -> None:
    """Lines of the message that start with ``.`` go out with a second one (else ``.`` would end the DATA phase):
    un-stuffing matters, the hash of the raw DATA bytes is not the message's."""
    f = built.flow("report")
    _, sent = data_phase(built.streams("report")[0])
    assert b"\r\n..\r\n...done\r\n" in sent
    assert hashlib.sha256(sent).hexdigest() != f["message_sha256"]
    assert hashlib.sha256(unstuffed(sent)).hexdigest() == f["message_sha256"]


def test_the_attachment_is_the_disk_files_bytes(built: Built) -> None:
    f = built.flow("phish")
    parsed = message_from_bytes(unstuffed(data_phase(built.streams("phish")[0])[1]), policy=policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    body = parsed.get_body(("html", "plain"))
    assert body is not None and body.get_content_type() == "text/html"
    assert body.get_content().replace("\r\n", "\n").encode() == built.case.file("letter").content  # CRLF on the wire
    (attachment,) = parsed.iter_attachments()
    invoice = built.case.file("invoice")
    assert attachment.get_filename() == invoice.name == f["attachments"][0]
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == invoice.content
    assert hashlib.sha256(attachment.get_content()).hexdigest() == built.ns["files.invoice.sha256"]


# -- IMAP ---------------------------------------------------------------------------------------------------------
LITERAL = re.compile(rb"\* (\d+) FETCH \(FLAGS \([^)]*\) BODY\[\] \{(\d+)\}\r\n")


def fetched(server: bytes) -> list[bytes]:
    """Each FETCH response's ``BODY[]`` literal: the ``{n}`` bytes after its announcement, then ``)``."""
    out, pos = [], 0
    while m := LITERAL.search(server, pos):
        start = m.end()
        out.append(server[start:start + int(m[2])])
        pos = start + int(m[2])
        assert server[pos:pos + 3] == b")\r\n"
    return out


def test_imap_dialogue_in_tshark(built: Built) -> None:
    f = built.flow("inbox")
    port = f"tcp.port == {f['client_port']}"
    rows = fields(built.pcap, f"{port} && imap.request", "imap.request.command", "imap.request.username",
                  "imap.request.password", "imap.request.folder")
    assert [r[0].upper() for r in rows] == ["LOGIN", "SELECT", *["FETCH"] * f["messages"], "LOGOUT"]
    assert rows[0][1:3] == [f["user"], f["password"]] and rows[1][3] == f["mailbox"] == "INBOX"
    statuses = fields(built.pcap, f"{port} && imap.response.status", "imap.response.status")
    assert [s.upper() for s, in statuses] == ["OK"] * (f["messages"] + 3)


def test_imap_fetch_literals_are_the_mailbox_messages(built: Built) -> None:
    """Exact ``{n}`` counts: scapy's server stream cut at them gives the key's hashes; the first is the report flow's
    message as delivered (Received names its SMTP session), the second the stored file with CRLF line ends."""
    f, report = built.flow("inbox"), built.flow("report")
    messages = fetched(built.streams("inbox")[1])
    assert [hashlib.sha256(m).hexdigest() for m in messages] == f["messages_sha256"]
    delivered = message_from_bytes(messages[0], policy=policy.default)
    assert delivered["Message-ID"] == report["message_id"] == f["message_ids"][0]
    assert delivered["Return-Path"] == f"<{report['mail_from']}>"
    received = " ".join(delivered["Received"].split())
    relay, suspect = built.case.host("relay"), built.case.host("suspect")
    assert received.startswith(f"from {suspect.hostname} (unknown [{suspect.ip}]) by {relay.hostname} (Postfix) "
                               f"with ESMTPA id {report['queue_id']} for <{report['rcpt_to'][0]}>;"), received
    submitted = next(s for s in built.case.network.smtp if s.id == "report").message
    assert messages[0].endswith(submitted)  # the delivery agent only adds header lines on top
    stored = built.case.file("harvest").content
    assert b"\r" not in stored and messages[1] == stored.replace(b"\n", b"\r\n")
    assert f["message_ids"][1] == message_from_bytes(stored, policy=policy.default)["Message-ID"]


def test_tshark_exports_the_fetched_messages_the_key_hashes(built: Built, tmp_path: Path) -> None:
    """Wireshark's Export Objects > IMF writes each fetched message byte for byte."""
    tshark("-r", str(built.pcap), "-q", "--export-objects", f"imf,{tmp_path}")
    exported = {hashlib.sha256(p.read_bytes()).hexdigest() for p in tmp_path.iterdir()}
    assert set(built.flow("inbox")["messages_sha256"]) <= exported


# -- the capture as a whole ---------------------------------------------------------------------------------------
def test_tshark_finds_nothing_malformed(built: Built) -> None:
    """Nothing tshark calls malformed or warns about, but the background's few TCP resets (a reset is a warning to
    tshark, and real captures have them: issue 14)."""
    bad = tshark("-r", str(built.pcap), *CHECKSUMS, *DECODE_AUTH, "-Y",
                 "_ws.malformed || (_ws.expert.severity >= warning && !tcp.connection.rst)")
    assert bad == ""
    assert fields(built.pcap, "imap || smtp", "frame.number")  # the filter matched mail at all


def test_builds_are_byte_identical(built: Built, tmp_path: Path) -> None:
    again = tmp_path / TRAINEE
    build_variant(built.spec, DEMO_SECRET, TRAINEE, again, kinds=("network",))
    for name in ("network.pcap", "network.pcapng"):
        assert (again / "evidence" / name).read_bytes() == (built.out / "evidence" / name).read_bytes()
    assert (again / "key" / "answer_key.json").read_bytes() == (built.out / "key" / "answer_key.json").read_bytes()
    other = resolve(built.spec, variant_seed(DEMO_SECRET, "wren", "bob"), "bob")
    assert {s.id: s.message for s in other.network.smtp} != {s.id: s.message for s in built.case.network.smtp}


def test_answers_read_mail_facts_with_their_types(built: Built) -> None:
    answers = built.key["answers"]
    assert answers["victims"] == ["alice@example.com", "bob@example.org"]
    assert answers["relay_password"] == built.case.facts["variables"]["relay_password"]
    assert answers["lure_sha256"] == built.flow("phish")["message_sha256"]


# -- the names the spec checks are the names dflab produces -------------------------------------------------------
def test_flow_facts_are_the_keys_names(tmp_path: Path) -> None:
    spec = parse_spec(SPEC_TEXT, "wren.yaml")
    for trainee in ("a", "b"):
        case = resolve(spec, variant_seed(DEMO_SECRET, "wren", trainee), trainee)
        ns = namespace(case, write_disk(case, tmp_path / f"{trainee}.img"))
        key_names = {n for n in ns if not n.startswith("files.filler-")}
        not_text = {f"files.{f.id}.text" for f in case.disk.files if f.true_type != "text"}
        assert key_names == names(set(), answer_groups(spec)) - not_text
        for kind in ("smtp", "imap"):
            flow = next(f for f in spec.network.flows if f.kind == kind)
            assert {n.removeprefix(f"flows.{flow.id}.") for n in ns if n.startswith(f"flows.{flow.id}.")} == \
                set(FLOW_FACTS[kind])
        resolver = resolve_mod._Resolver(spec, variant_seed(DEMO_SECRET, "wren", trainee), trainee)
        resolver.resolve()
        assert set(resolver.ns) == names(*template_groups(spec))


def test_every_mail_string_the_resolver_fills_is_checked_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = parse_spec(SPEC_TEXT, "wren.yaml")
    filled: set[str] = set()
    fill = resolve_mod._Resolver.fill

    def recording(self: Any, template: str, where: str) -> str:
        filled.add(_field(where.split(".")))
        return fill(self, template, where)

    monkeypatch.setattr(resolve_mod._Resolver, "fill", recording)
    resolve(spec, variant_seed(DEMO_SECRET, "wren", "a"), "a")
    checked = {_field(loc) for loc, _ in templated_strings(spec)}
    flows = {f for f in filled if f.startswith("network.flows.")}
    mail = {"network.flows." + f for f in ("mail_from", "rcpt_to", "subject", "from_header", "user", "password",
                                            "mailbox", "body.text")}
    assert mail <= flows <= checked, (sorted(mail - flows), sorted(flows - checked))


# -- mistakes: one line at the mistaken field ---------------------------------------------------------------------
# (the mail case's text, the mistake, the text on the mistaken field's line, the field, what is said: a regex)
MISTAKES = [
    ('mail_from: "noreply@{share_domain}"', 'mail_from: "Notices <noreply@example.net>"', "Notices <",
     "network.flows[5].mail_from", r"'Notices <noreply@example.net>' is not a mail address such as "
                                   r"clerk@example.org \(no name, no <>\)"),
    ("rcpt_to: [carol@example.net]", "rcpt_to: [carol@example.net, carol]", "carol@example.net, carol",
     "network.flows[5].rcpt_to[1]", r"'carol' is not a mail address .*"),
    ('rcpt_to: [carol@example.net], subject: "Delivery notice"}', "rcpt_to: [carol@example.net]}",
     "- {id: notice", "network.flows[5]", r"an smtp flow needs subject"),
    ("fetch: [{flow: report}", "fetch: [{flow: reprot}", "reprot", "network.flows[6].fetch[0].flow",
     r"unknown flow 'reprot' \(smtp flows are: notice, phish, report\)"),
    ("fetch: [{flow: report}", "fetch: [{flow: download}", "{flow: download}", "network.flows[6].fetch[0].flow",
     r"flow 'download' is an http flow: a fetched message is an smtp flow's \(smtp flows are: notice, phish, "
     r"report\)"),
    ("{file: harvest}]", "{file: harvst}]", "harvst", "network.flows[6].fetch[1].file",
     r"unknown file 'harvst' \(files are: .*harvest.*\)"),
    ("{flow: report}, {file: harvest}]", "{flow: report, file: harvest}]", "{flow: report, file: harvest}",
     "network.flows[6].fetch[0]", r"a fetched message is either \{flow: id\} .*"),
    ("attachments: [{file: invoice}]", "attachments: [{file: invoices}]", "invoices",
     "network.flows[3].attachments[0].file", r"unknown file 'invoices' \(files are: .*\)"),
    ("attachments: [{file: invoice}]", "attachments: [{text: invoice}]", "attachments: [{text",
     "network.flows[3].attachments[0]", r"an attachment is \{file: id\}: a disk file gives its name and bytes"),
    ('subject: "Delivery notice"}', 'subject: "Delivery notice", mailbox: Sent}', "mailbox: Sent",
     "network.flows[5].mailbox", r"mailbox is for imap flows \(this is an smtp flow\)"),
    ("password: \"{relay_password}\", fetch:", "password: \"{relay_password}\", subject: x, fetch:", "subject: x",
     "network.flows[6].subject", r"subject is for smtp flows \(this is an imap flow\)"),
    ("auth: login", "auth: cram-md5", "auth: cram-md5", "network.flows[3].auth", r"must be one of 'plain' or 'login'"),
    ('subject: "Delivery notice"}', 'subject: "Delivery notice", auth: plain}', "auth: plain",
     "network.flows[5].auth", r"auth is the smtp login's mechanism: it needs user and password"),
    ('server: relay, user: "{user}",', "server: relay,", "- {id: report", "network.flows[4].user",
     r"an smtp login needs both user and password"),
    # found while resolving a variant (a template's value), still at the field's line
    ('mail_from: "{user}@{share_domain}"', 'mail_from: "{user}"', 'mail_from: "{user}"',
     "network.flows.report.mail_from", r"'\w+' is not a mail address such as clerk@example.org \(no name, no <>\)"),
    ('subject: "Delivery notice"', 'subject: "Delivery notice\\nBcc: {user}@example.net"', "Bcc:",
     "network.flows.notice.subject", r"a mail header is one line: .* holds a line break"),
    ("body: {file: letter}", "body: {file: tool}", '>", body: {file: tool}', "network.flows.phish.body.file",
     r"file 'tool' is not UTF-8 text: a mail body is text \(send other files as attachments\)"),
    ('at: "@upload+20s"', 'at: "@upload+7s"', "fetch: [{flow: report}", "network.flows.inbox.fetch.0.flow",
     r"smtp flow 'report' sends its message at \S+, not before this fetch \(\S+\)"),
    ('user: "drop@{share_domain}"', 'user: "dröp@{share_domain}"', "dröp", "network.flows.inbox.user",
     r"IMAP sends the user as a quoted string: printable ASCII, not empty \(got 'dröp@.*'\)"),
]


@pytest.mark.parametrize(("good", "bad", "needle", "field", "what"), MISTAKES,
                         ids=[f"{m[3]}:{m[1][:30]}" for m in MISTAKES])
def test_a_mail_mistake_is_one_line_at_its_field(good: str, bad: str, needle: str, field: str, what: str) -> None:
    text = edited(SPEC_TEXT, (good, bad))
    with pytest.raises(SpecError) as err:
        resolve(parse_spec(text, "wren.yaml"), variant_seed(DEMO_SECRET, "wren", TRAINEE), TRAINEE)
    expected = rf"wren\.yaml:{line_of(text, needle)}: {re.escape(field)}: {what}"
    assert "\n" not in str(err.value) and re.fullmatch(expected, str(err.value)), \
        f"{err.value}\n   does not match\n{expected}"


def test_validate_knows_mail_flows(tmp_path: Path) -> None:
    """`dflab scenario validate` counts them, and prints a mail mistake as its one error line."""
    spec = tmp_path / "wren.yaml"
    env = {"PATH": "/usr/bin:/bin", "COLUMNS": "400", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}

    def validate() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dflab.cli", "scenario", "validate", str(spec)],
                              capture_output=True, text=True, cwd=tmp_path, timeout=300, env=env)

    spec.write_text(SPEC_TEXT)
    proc = validate()
    assert proc.returncode == 0 and "3 SMTP, 1 IMAP flows" in proc.stdout, proc.stdout + proc.stderr
    text = edited(SPEC_TEXT, ("auth: login", "auth: cram-md5"))
    spec.write_text(text)
    proc = validate()
    assert "Traceback" not in proc.stderr and proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines() == [f"dflab: error: {spec}:{line_of(text, 'cram-md5')}: network.flows[3].auth: "
                                        "must be one of 'plain' or 'login'"]
