"""Operation Kestrel, the second bundled case (labs/scenarios/kestrel.yaml; issue 15, item 5).

A credential-harvesting ring with a different shape from Nightjar, so that no lab can lean on Nightjar's: a GPT disk
with the root file system first and the EFI system partition as its only FAT32 volume (no USB stick), the kit's PHP
server in memory, the operator's sent mailbox on disk, the victims' credentials on the wire. Every variant is built
for real and read back with the tools a trainee uses (The Sleuth Kit's `mmls` and pytsk3, Python's `mailbox`,
tshark); that labs 02-05 pass `dflab lab check` on it is tests/test_lab_check.py's part.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import mailbox
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dflab.evidence.build import build_variant
from dflab.forensics import disk
from dflab.lab_meta import load_lab
from dflab.lab_prose import released_source
from dflab.lab_requires import lab_problems
from dflab.scenario.load import load_spec

ROOT = Path(__file__).resolve().parents[1]
LABS = ROOT / "labs"
KESTREL = LABS / "scenarios" / "kestrel.yaml"
NIGHTJAR = LABS / "scenarios" / "nightjar.yaml"
SERVED_LABS = ("02-disk", "03-memory", "04-network", "05-capstone")
SECRET = "kestrel-test"
# GPT partition type GUIDs (UEFI 2.10, 5.3.3; the Discoverable Partitions Specification for Linux).
LINUX_FS = uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4")
EFI_SYSTEM = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b")
pytestmark = pytest.mark.xdist_group("case-kestrel")  # one worker builds the variants once


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Kestrel for alice (twice, into two folders) and bob; Nightjar for alice, to show the checks tell them apart."""
    root = tmp_path_factory.mktemp("kestrel")
    kestrel = load_spec(KESTREL)
    out = {name: build_variant(kestrel, SECRET, trainee, root / name).out
           for name, trainee in (("alice", "alice"), ("alice-again", "alice"), ("bob", "bob"))}
    out["nightjar"] = build_variant(load_spec(NIGHTJAR), SECRET, "alice", root / "nightjar").out
    return out


def key(build: Path) -> dict:
    return json.loads((build / "key" / "answer_key.json").read_text(encoding="utf-8"))


def digests(build: Path) -> dict[str, str]:
    """SHA-256 of every file a build wrote (evidence and key), by its path in the build: computed here, not read
    from the manifest the build wrote."""
    return {str(p.relative_to(build)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(build.rglob("*")) if p.is_file()}


def test_the_same_trainee_gets_the_same_bytes_and_another_trainee_other_ones(builds: dict[str, Path]) -> None:
    alice, again, bob = digests(builds["alice"]), digests(builds["alice-again"]), digests(builds["bob"])
    assert {"evidence/disk.img", "evidence/memory.lime", "evidence/network.pcap", "evidence/network.pcapng",
            "evidence/manifest.json", "key/answer_key.json"} <= set(alice)
    assert alice == again
    assert len(bob) == len(alice) and not {path for path in alice.keys() & bob.keys() if alice[path] == bob[path]}


def gpt_layout(image: Path) -> list[tuple[str, uuid.UUID, str | None, bool]]:
    """(name, type GUID, file system, holds /etc/passwd) of each partition, in disk order: the GPT entries read from
    the bytes (LBA 2 on), the file systems by pytsk3. Empty for a disk that is not GPT (no ``EFI PART`` in LBA 1)."""
    with open(image, "rb") as fh:
        fh.seek(512)
        header = fh.read(92)
        if header[:8] != b"EFI PART":
            return []
        entries_lba, count, size = int.from_bytes(header[72:80], "little"), int.from_bytes(header[80:84], "little"), \
            int.from_bytes(header[84:88], "little")
        fh.seek(entries_lba * 512)
        table = fh.read(count * size)
    entries = [table[i:i + size] for i in range(0, len(table), size) if table[i:i + 16] != bytes(16)]
    parts = disk.partitions(image)
    assert len(parts) == len(entries)
    layout = []
    for entry, (_, part) in zip(sorted(entries, key=lambda e: int.from_bytes(e[32:40], "little")), parts.iterrows(),
                                strict=True):
        assert int.from_bytes(entry[32:40], "little") == part["start"]
        has_passwd = part["filesystem"] == "ext4" and \
            (disk.list_files(image, partition=int(part["index"]))["path"] == "/etc/passwd").any()
        layout.append((entry[56:128].decode("utf-16-le").rstrip("\x00"), uuid.UUID(bytes_le=entry[:16]),
                       part["filesystem"], bool(has_passwd)))
    return layout


def test_the_disk_is_gpt_with_the_root_first_and_the_esp_its_only_fat32_volume(builds: dict[str, Path]) -> None:
    for name in ("alice", "bob"):
        image = builds[name] / "evidence" / "disk.img"
        assert gpt_layout(image) == [("ubuntu", LINUX_FS, "ext4", True), ("ESP", EFI_SYSTEM, "fat32", False)], name
        mmls = subprocess.run(["mmls", str(image)], capture_output=True, text=True, check=True).stdout
        assert mmls.startswith("GUID Partition Table (EFI)")
        assert re.findall(r"^\d{3}:\s+\d{3}\s+(\d+)\s+\d+\s+\d+\s+(\S+)", mmls, re.M) == [
            (f"{key(builds[name])['facts']['disk']['volumes'][vol]['start_sector']:010d}", label)
            for vol, label in (("root", "ubuntu"), ("transfer", "ESP"))]
    # The same reading tells Nightjar's other shape apart (its stick first, on MBR or GPT as drawn).
    assert gpt_layout(builds["nightjar"] / "evidence" / "disk.img")[:1] != [("ubuntu", LINUX_FS, "ext4", True)]


def mbox_messages(data: bytes, folder: Path) -> list[mailbox.mboxMessage]:
    """The messages of an mbox as Python's `mailbox` reads them, each checked as a mail client wrote it: a ``From``
    line whose date is the message's ``Date:`` header (RFC 5322), every header a mail client shows present."""
    path = folder / "sent"
    path.write_bytes(data)
    box = mailbox.mbox(path, create=False)
    try:
        messages = list(box)
    finally:
        box.close()
    for message in messages:
        for header in ("Date", "From", "To", "Subject", "Message-ID"):
            assert message[header], f"{header} missing in {message.get_from()!r}"
        stamped = datetime.strptime(message.get_from().split(" ", 1)[1], "%a %b %d %H:%M:%S %Y").replace(tzinfo=UTC)
        assert email.utils.parsedate_to_datetime(message["Date"]) == stamped, message.get_from()
    return messages


def test_the_operators_sent_mailbox_is_an_mbox_of_lures_sent_before_the_morning(builds: dict[str, Path],
                                                                                 tmp_path: Path) -> None:
    answers, timeline = key(builds["alice"])["answers"], key(builds["alice"])["timeline"]
    image = builds["alice"] / "evidence" / "disk.img"
    root = int(disk.partitions(image).query("filesystem == 'ext4'")["index"].iloc[0])
    files = disk.list_files(image, partition=root)
    [row] = files[files["path"] == f"/home/{answers['suspect_user']}/Mail/sent"].itertuples()
    data = disk.read_file(image, row.inode, partition=root)
    messages = mbox_messages(data, tmp_path)
    assert [m["Subject"] for m in messages] == ["Action required: confirm your online banking details"] * 2 + [
        "Re: new HM pack"]
    first_event = min(datetime.fromisoformat(e["time"].replace("Z", "+00:00")) for e in timeline)
    sent = [email.utils.parsedate_to_datetime(m["Date"]) for m in messages]
    assert sent == sorted(sent) and sent[-1] < row.mtime.to_pydatetime() < first_event
    lures = [m.get_payload() for m in messages[:2]]
    assert all("http://" in body and "Harbor Mutual" in body for body in lures)
    # The checks catch a mailbox a client would not have written: a Date that is not the From line's.
    forged = data.replace(b"Date: Tue, 14 Apr 2026 19:42:07", b"Date: Tue, 14 Apr 2026 19:42:08", 1)
    assert forged != data
    with pytest.raises(AssertionError, match="Tue Apr 14 19:42:07 2026"):
        mbox_messages(forged, tmp_path)


def test_the_kits_log_on_disk_holds_what_the_victims_sent_over_the_wire(builds: dict[str, Path]) -> None:
    """Two sources, one fact: the credentials in the kit's results.csv are the ones the capture's POSTs carried."""
    build = builds["bob"]
    answers, namespace = key(build)["answers"], key(build)["namespace"]
    image = build / "evidence" / "disk.img"
    root = int(disk.partitions(image).query("filesystem == 'ext4'")["index"].iloc[0])
    files = disk.list_files(image, partition=root)
    [log] = files[files["path"].str.endswith("/data/results.csv") & ~files["deleted"]].itertuples()
    on_disk = [line.split(",")[:3] for line in disk.read_file(image, log.inode, partition=root).decode().splitlines()]
    posts = subprocess.run(["tshark", "-r", str(build / "evidence" / "network.pcap"), "-Y",
                            'http.request.method == "POST"', "-T", "fields", "-e", "ip.src", "-e", "http.file_data"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    on_wire = []
    for line in posts:
        source, body = line.split("\t")
        sent = json.loads(bytes.fromhex(body.replace(":", "")).decode() if re.fullmatch(r"[0-9a-f:]+", body)
                          else body)
        on_wire.append([sent["e"], sent["p"], source])
    assert on_disk == on_wire and len(on_wire) == 2
    assert on_wire[0][1] == answers["victim_password"]
    assert [row[2] for row in on_wire] == [namespace["hosts.victim1.ip"], namespace["hosts.victim2.ip"]]


def tshark(capture: Path, *args: str) -> list[list[str]]:
    """tshark's ``-T fields`` output, one list of fields per packet."""
    out = subprocess.run(["tshark", "-r", str(capture), *args], capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def test_the_lure_goes_out_over_smtp_with_a_login_and_the_kits_mail_comes_back_over_imap(
        builds: dict[str, Path]) -> None:
    """The mail in the capture, read by tshark: the relay login, the lure (its text the file on disk, its subject the
    mailbox's), the kit's notifications submitted to the relay and fetched again by the operator's IMAP login."""
    build = builds["alice"]
    answers = key(build)["answers"]
    capture = build / "evidence" / "network.pcap"
    image = build / "evidence" / "disk.img"
    root = int(disk.partitions(image).query("filesystem == 'ext4'")["index"].iloc[0])
    files = disk.list_files(image, partition=root)
    [lure] = files[files["path"].str.endswith("/campaign/lure_harbor.txt")].itertuples()
    lure_text = disk.read_file(image, lure.inode, partition=root).decode()

    logins = tshark(capture, "-Y", 'smtp.req.command == "AUTH"', "-T", "fields", "-e", "smtp.req.parameter")
    assert logins and {base64.b64decode(p[0].split()[1]).decode() if p[0].startswith("LOGIN") else
                       base64.b64decode(p[0].split()[1]).split(b"\0")[1].decode() for p in logins} == {
        answers["relay_user"]}
    mail = tshark(capture, "-Y", "imf", "-T", "fields", "-e", "tcp.dstport", "-e", "imf.subject", "-e", "tcp.stream")
    submitted = [(subject, stream) for port, subject, stream in mail if port == "587"]
    fetched = sorted(subject for port, subject, _ in mail if port != "587")
    lure_subject, lure_stream = submitted[0]
    assert lure_subject == "Action required: confirm your online banking details"
    assert fetched == sorted(subject for subject, _ in submitted[1:]) == sorted(
        f"HM log {victim}" for victim in (answers["victim_email"], answers["victim2_email"]))
    conversation = subprocess.run(["tshark", "-r", str(capture), "-q", "-z", f"follow,tcp,ascii,{lure_stream}"],
                                  capture_output=True, text=True, check=True).stdout
    data = conversation[conversation.index("\nFrom: "):conversation.index("\n.\n") + 1]  # what followed DATA
    assert email.message_from_string(data.lstrip()).get_payload(decode=True).decode() == lure_text
    [[imap_login]] = tshark(capture, "-Y", 'imap.request contains "LOGIN"', "-T", "fields", "-e", "imap.request")
    assert imap_login.split()[1:3] == ["LOGIN", answers["suspect_user"]]


def test_kestrel_serves_labs_02_to_05_and_their_prose_tells_its_story(tmp_path: Path) -> None:
    spec = load_spec(KESTREL)
    for lab in SERVED_LABS:
        assert lab_problems(LABS / lab, spec, str(KESTREL)) == [], lab
        text = released_source(LABS / lab, load_lab(LABS, lab), KESTREL)
        told = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "markdown")
        assert f"**{spec.title}.** {spec.summary.strip()}" in told and "{{" not in told, lab
        assert "Nightjar" not in told and "Downloads" not in told and "USB" not in told, lab
    lab_02 = released_source(LABS / "02-disk", load_lab(LABS, "02-disk"), KESTREL)
    assert "the partition labelled `ESP` (34 MiB)" in lab_02
    proc = subprocess.run([sys.executable, "-m", "dflab.cli", "scenario", "validate", str(KESTREL),
                           *[arg for lab in SERVED_LABS for arg in ("--lab", lab)]],
                          capture_output=True, text=True, cwd=ROOT, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert "has every role and answer lab(s) 02-disk, 03-memory, 04-network, 05-capstone require" in proc.stdout
