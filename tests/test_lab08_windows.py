"""Lab 08 on a real Heron variant: its readers checked against second parsers, its solution against the key, and the
no-code path (locked cells that run the real tools, answers typed into the forms) run as a trainee runs it.

The variant is built by `dflab evidence build` from labs/scenarios/heron.yaml, as a session builds it. The readers of
dflab.forensics.windows (pytsk3, regipy, the Rust evtx parser, sqlite3, and a few published layouts decoded by hand)
are compared with libfsntfs, libregf, libevtx, usnparser, LnkParse3 and histexport. The notebook runs in a real
kernel (nbclient); what it records is judged by dflab.grading.checks, the comparisons `dflab grade` makes.
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import LnkParse3
import nbformat
import pandas as pd
import pyevtx
import pyfsntfs
import pyregf
import pytest
from nbclient import NotebookClient

from dflab.forensics import disk, windows
from dflab.grading.checks import check_answer, load_checks, lookup
from dflab.lab_meta import read_lab
from tests.samples import sample
from tests.test_windows_browser import DOWNLOAD, REAL, VISITS, histexport
from tests.test_windows_browser import db as history_db  # noqa: F401 (a fixture)
from tests.test_windows_lnk import TARGET
from tests.test_windows_prefetch import NOTEPAD, windowsprefetch
from tests.test_windows_workstation import USNPARSER

pytestmark = pytest.mark.xdist_group("lab08")
ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "08-windows"
SPEC = ROOT / "labs" / "scenarios" / "heron.yaml"
MIME = "application/vnd.dflab.answer+json"


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One trainee's evidence folder and answer key, built the way a session builds them."""
    out = tmp_path_factory.mktemp("heron")
    subprocess.run([sys.executable, "-m", "dflab.cli", "evidence", "build", str(SPEC), "--out", str(out),
                    "--trainee", "t1", "--kind", "disk", "--secret", "lab08-test", "--workers", "1"],
                   check=True, capture_output=True, timeout=600, cwd=ROOT)
    key = json.loads((out / "t1" / "key" / "answer_key.json").read_text())
    return out / "t1" / "evidence", key


@pytest.fixture(scope="module")
def image(variant: tuple[Path, dict]) -> Path:
    return variant[0] / "disk.img"


@pytest.fixture(scope="module")
def part(image: Path) -> int:
    return windows.windows_partition(image)


@pytest.fixture(scope="module")
def exported(image: Path, part: int, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The hives and logs as the notebook exports them, and the raw Windows volume for libfsntfs."""
    folder = tmp_path_factory.mktemp("exported")
    files = disk.list_files(image, partition=part, include_deleted=False)
    out = {}
    for row in files[files["stream"] == ""].itertuples():
        lower = row.path.casefold()
        if lower.startswith("/windows/system32/config/") or row.name.casefold() == "ntuser.dat" \
                or lower.startswith("/windows/system32/winevt/logs/"):
            label = "NTUSER.DAT" if row.name.casefold() == "ntuser.dat" else row.name
            out[label] = windows.export(image, row.path, folder / label, part)
    journal = files[files["path"] == "/$Extend/$UsnJrnl:$J"].iloc[0]
    disk.extract(image, journal["address"], folder / "J", partition=part)
    out["J"] = folder / "J"
    parts = disk.partitions(image)
    row = parts[parts["index"] == part].iloc[0]
    with image.open("rb") as src, (folder / "volume.raw").open("wb") as dst:
        src.seek(int(row["offset"]))
        left = int(row["size"])
        while left:  # zero runs stay holes: the 2 GiB volume holds a few MiB
            chunk = src.read(min(left, 1 << 22))
            if chunk.count(0) == len(chunk):
                dst.seek(len(chunk), os.SEEK_CUR)
            else:
                dst.write(chunk)
            left -= len(chunk)
        dst.truncate()
    out["volume"] = folder / "volume.raw"
    return out


def iso(when: object) -> str:
    """A time as the key writes it; libyal's naive datetimes are UTC."""
    stamp = pd.Timestamp(when)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the readers against second parsers ------------------------------------------------------------------------------


def test_ntfs_times_agree_with_libfsntfs_and_find_the_timestomp(image, part, exported, variant):
    answers = variant[1]["answers"]
    vol = pyfsntfs.volume()
    vol.open(str(exported["volume"]))
    try:
        files = disk.list_files(image, partition=part, include_deleted=False)
        compared = 0
        for row in files[(files["type"] == "file") & (files["stream"] == "")].itertuples():
            if row.name.startswith("$"):
                continue
            entry = vol.get_file_entry(int(row.inode))
            mine = windows.mft_times(image, int(row.inode), part)
            si = mine[mine["attribute"] == "$STANDARD_INFORMATION"].iloc[0]
            assert iso(si["created"]) == iso(entry.get_creation_time()), row.path
            assert iso(si["modified"]) == iso(entry.get_modification_time()), row.path
            theirs = {entry.get_attribute(i).name: entry.get_attribute(i) for i in range(entry.number_of_attributes)
                      if entry.get_attribute(i).attribute_type == 0x30}
            for fn in mine[mine["attribute"] == "$FILE_NAME"].itertuples():
                assert iso(fn.created) == iso(theirs[fn.name].get_creation_time()), (row.path, fn.name)
            compared += 1
        assert compared >= 8
    finally:
        vol.close()
    stomped = windows.timestomped(image, part)
    assert [windows.windows_path(p) for p in stomped["path"]] == [answers["implant_path"]]
    assert iso(stomped["si_created"].iloc[0]) == answers["implant_si_created"]
    assert iso(stomped["fn_created"].iloc[0]) == answers["implant_fn_created"]


def test_registry_readers_agree_with_libregf(exported, variant):
    answers = variant[1]["answers"]

    def key(hive: str, path: str) -> pyregf.key:
        f = pyregf.file()
        f.open(str(exported[hive]))
        return f.get_key_by_path(path)

    name = key("SYSTEM", r"ControlSet001\Control\ComputerName\ComputerName").get_value_by_name("ComputerName")
    assert windows.computer_name(exported["SYSTEM"]) == name.get_data_as_string() == answers["computer_name"]
    run = key("SOFTWARE", r"Microsoft\Windows\CurrentVersion\Run")
    mine = windows.run_key(exported["SOFTWARE"])
    assert dict(zip(mine["name"], mine["command"], strict=True)) == {
        run.get_value(i).name: run.get_value(i).get_data_as_string() for i in range(run.number_of_values)}
    assert iso(mine["last_written"].iloc[0]) == iso(run.get_last_written_time())
    usbstor = key("SYSTEM", r"ControlSet001\Enum\USBSTOR")
    serials = [usbstor.get_sub_key(0).get_sub_key(i).name.rsplit("&", 1)[0]
               for i in range(usbstor.get_sub_key(0).number_of_sub_keys)]
    sticks = windows.usb_devices(exported["SYSTEM"])
    assert list(sticks["serial"]) == serials == [answers["usb_serial"]]
    assert iso(sticks["first_installed"].iloc[0]) == answers["usb_inserted_time"]
    assert iso(sticks["last_removal"].iloc[0]) == answers["usb_removed_time"]
    count = key("NTUSER.DAT", windows.USER_ASSIST + r"\{CEBFF5CD-ACE2-4F4F-9178-9926F41749EA}\Count")
    decoded = {codecs.decode(count.get_value(i).name, "rot13") for i in range(count.number_of_values)}
    assert set(windows.user_assist(exported["NTUSER.DAT"])["program"]) == decoded
    profiles = windows.profiles(exported["SOFTWARE"])
    assert answers["user_sid"] in set(profiles["sid"])
    assert iso(windows.shutdown_time(exported["SYSTEM"])) == answers["last_shutdown_time"]


def test_event_readers_agree_with_libevtx(exported, variant):
    answers = variant[1]["answers"]
    for name in ("Security.evtx", "System.evtx", "Microsoft-Windows-PowerShell%4Operational.evtx"):
        log = pyevtx.file()
        log.open(str(exported[name]))
        theirs = sorted((r.identifier, r.event_identifier, iso(r.get_written_time())) for r in log.records)
        mine = windows.events(exported[name])
        assert sorted(zip(mine["record_id"], mine["event_id"], mine["time"].map(iso), strict=True)) == theirs, name
    remote = windows.logons(exported["Security.evtx"])
    remote = remote[remote["logon_type"] == 10].iloc[-1]
    assert (remote["ip"], remote["workstation"], iso(remote["time"])) == (
        answers["intruder_ip"], answers["intruder_workstation"], answers["remote_logon_time"])
    cleared = windows.events(exported["Security.evtx"], (1102,))
    assert [iso(t) for t in cleared["time"]] == [answers["log_cleared_time"]]


def test_change_journal_agrees_with_usnparser(exported, tmp_path):
    out = tmp_path / "usn.body"
    subprocess.run([sys.executable, USNPARSER, "-b", "-f", str(exported["J"]), "-o", str(out)], check=True,
                   timeout=120)
    theirs = sorted((line.split("|")[1].split(" (USN: ")[0], int(line.split("|")[8]))
                    for line in out.read_text().splitlines())
    mine = windows.usn_journal(exported["J"].read_bytes())
    assert sorted(zip(mine["name"], mine["time"].map(lambda t: int(t.timestamp())), strict=True)) == theirs
    assert len(mine) > 20


def test_recycle_bin_and_deleted_file(image, part, variant):
    answers = variant[1]["answers"]
    recycled = windows.recycle_bin(image, part)
    assert list(recycled["original"]) == [answers["recycled_original_path"]]
    assert iso(recycled["deleted"].iloc[0]) == answers["recycled_time"]
    gone = windows.deleted_files(image, part)
    assert [windows.windows_path(p) for p in gone["path"]] == [answers["deleted_path"]]
    assert list(gone["entry"]) == [answers["deleted_mft_entry"]] and list(gone["sequence"]) == [2]
    assert windows.zone_identifier(b"[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=http://x/y\r\n") == {
        "ZoneId": "3", "HostUrl": "http://x/y"}


def test_chrome_history_agrees_with_histexport(history_db, tmp_path):  # noqa: F811
    mine = windows.chrome_history(history_db)
    urls, downloads = histexport(history_db, tmp_path / "histexport")
    assert set(mine["visits"]["url"]) == {row["URL"] for row in urls} == {v.url for v in VISITS}
    assert list(mine["downloads"]["target_path"]) == [DOWNLOAD.target_path]
    assert {row["Target_Path"] for row in downloads} == {DOWNLOAD.target_path}
    assert mine["downloads"]["url"].iloc[0] == DOWNLOAD.url_chain[-1] == downloads[-1]["URL"]
    start = mine["downloads"]["start"].iloc[0]
    assert start.tz_localize(None).to_pydatetime() == datetime.fromisoformat(downloads[0]["Start_Time"])
    assert abs(start - pd.Timestamp(DOWNLOAD.start)) < timedelta(milliseconds=1)
    # A real Chrome 60 History (../shared/samples): the same reader, the same rows as histexport.
    real = windows.chrome_history(sample(REAL))
    real_urls, real_downloads = histexport(sample(REAL), tmp_path / "real")
    assert len(real["visits"]) > 0 and set(real["visits"]["url"]) <= {r["URL"] for r in real_urls}
    assert set(real["downloads"]["target_path"]) == {r["Target_Path"] for r in real_downloads}


def test_shell_link_agrees_with_lnkparse3(tmp_path):
    from dflab.evidence.windows.lnk import shell_link

    data = shell_link(TARGET, r"C:\Users\alice\AppData\Roaming\Microsoft\Windows\Recent")
    mine = windows.shell_link(data)
    path = tmp_path / "x.lnk"
    path.write_bytes(data)
    with path.open("rb") as f:
        theirs = LnkParse3.lnk_file(f).get_json()
    header = theirs["header"]
    assert mine["target"] == theirs["link_info"]["local_base_path"]
    for field, their in (("created", "creation_time"), ("accessed", "accessed_time"), ("written", "modified_time")):
        assert iso(mine[field]) == iso(header[their])
    assert mine["size"] == header["file_size"]


def test_prefetch_reader_agrees_with_windowsprefetch_and_the_key(image, part, variant, tmp_path, monkeypatch):
    """libscca through dflab's reader against windowsprefetch (its own SCCA code, dissect's decoder) on the disk's
    .pf files, and the implant's run count, run times and path against the key."""
    table = windows.prefetch_files(image, part)
    facts = variant[1]["facts"]["windows"]["prefetch"]
    assert sorted(table["file"]) == sorted(f["file"].rsplit("\\", 1)[1] for f in facts.values())
    for row in table.itertuples():
        disk.extract(image, int(row.entry), tmp_path / row.file, partition=part)
        other = windowsprefetch(tmp_path / row.file, monkeypatch)
        assert (other.executableName, other.runCount) == (row.executable, row.run_count)
        assert other.timestamps == [str(t.to_pydatetime().replace(tzinfo=None)) for t in row.run_times]
        assert row.path in other.resources and row.path == row.volume_device + row.volume_path
        assert other.volumesInformationArray[0]["Serial Number"].upper() == row.volume_serial
    for role, want in facts.items():
        (got,) = table[table["file"].str.casefold() == want["file"].rsplit("\\", 1)[1].casefold()].itertuples()
        assert got.run_count == want["run_count"] and iso(got.last_run) == want["last_run"], role
        assert [iso(t) for t in got.run_times] == want["run_times"], role
        assert got.volume_path.casefold() == want["executable"][2:].casefold(), role
        assert got.mft_entry == want["mft"]["entry"], role
    assert facts["implant"]["run_count"] == 2  # at payload_run, and at the next logon through the Run value
    # a real Windows 10 file (1903+, two runs): the same reader, the path from its file metrics
    real = windows.prefetch(sample(NOTEPAD).read_bytes())
    assert (real["executable"], real["run_count"], len(real["run_times"])) == ("NOTEPAD.EXE", 2, 2)
    assert real["volume_path"] == "\\WINDOWS\\SYSTEM32\\NOTEPAD.EXE" and real["run_times"][0] == real["last_run"]
    assert real["run_times"] == sorted(real["run_times"], reverse=True)


def test_super_timeline_places_the_story(image, variant, tmp_path):
    answers = variant[1]["answers"]
    table = windows.super_timeline(image, tmp_path)
    assert list(table.columns) == ["datetime", *windows.L2TCSV]
    assert table["datetime"].is_monotonic_increasing
    when = table["datetime"].map(iso)

    def rows(at: str, source: str, text: str) -> pd.DataFrame:
        return table[(when == at) & (table["source"] == source) & table["desc"].str.contains(text, regex=False)]

    implant = answers["implant_path"][2:]
    assert not rows(answers["implant_fn_created"], "FILE", f"$FILE_NAME C:{implant}").empty
    assert not rows(answers["implant_si_created"], "FILE", f"$STANDARD_INFORMATION C:{implant}").empty
    assert not rows(answers["service_installed_time"], "EVT", "[7045").empty
    assert not rows(answers["log_cleared_time"], "EVT", "[1102").empty
    assert not rows(answers["recycled_time"], "RECBIN", answers["recycled_original_path"]).empty
    assert not rows(answers["usb_removed_time"], "REG", answers["usb_serial"]).empty
    deleted_name = answers["deleted_path"].rsplit("\\", 1)[1]
    assert not rows(answers["document_opened_time"], "REG", "RecentDocs").empty
    implant_pf = variant[1]["facts"]["windows"]["prefetch"]["implant"]
    ran = table[(table["source"] == "LOG") & (table["sourcetype"] == "WinPrefetch")
                & table["filename"].str.casefold().eq(implant_pf["file"].casefold())]
    assert ran["datetime"].map(iso).tolist() == sorted(implant_pf["run_times"])
    assert ran["type"].tolist()[-1] == "Last Time Executed" and set(ran["type"].tolist()[:-1]) == {
        "Previous Last Time Executed"}
    assert ran["short"].str.endswith(f"was run {implant_pf['run_count']} time(s)").all()
    assert table[table["desc"].str.contains(f": {deleted_name} ", regex=False)
                 & table["desc"].str.contains("FILE_DELETE", regex=False)]["datetime"].map(iso).tolist()
    assert table.equals(windows.super_timeline(image, tmp_path / "again"))  # the same evidence, the same table


# -- the notebook -----------------------------------------------------------------------------------------------------


def run_notebook(nb: nbformat.NotebookNode, folder: Path, evidence: Path) -> nbformat.NotebookNode:
    """Run ``nb`` in a real kernel in ``folder`` (the lab folder, holding lab.yaml) on ``evidence``."""
    shutil.copy(LAB / "lab.yaml", folder / "lab.yaml")
    env = {**os.environ, "DFLAB_EVIDENCE": str(evidence), "DFLAB_LAB_DIR": str(folder),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    old = dict(os.environ)
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=900, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    return nb


def recorded(nb: nbformat.NotebookNode) -> dict[str, object]:
    return {o["data"][MIME]["name"]: o["data"][MIME]["value"] for c in nb.cells for o in c.get("outputs", [])
            if MIME in o.get("data", {})}


def errors(nb: nbformat.NotebookNode, prefix: str) -> list[str]:
    return [f"{c.metadata['nbgrader']['grade_id']}: {o['ename']}: {o['evalue'][:200]}" for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith(prefix)
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def released(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What trainees receive: every solution cell emptied, as nbgrader's release does."""
    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in out.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "# YOUR CODE HERE (optional: the form above records what you type)"
    return out


def graded(values: dict[str, object], key: dict) -> dict[str, bool]:
    checks = load_checks(LAB / "grader.yaml")
    return {name: check_answer(checks, name, values.get(name), key, "answer_key.json")[0]
            for name in checks.checks}


@pytest.fixture(scope="module")
def solution_run(variant, tmp_path_factory) -> nbformat.NotebookNode:
    return run_notebook(nbformat.read(LAB / "source.ipynb", as_version=4), tmp_path_factory.mktemp("solution"),
                        variant[0])


def test_solution_earns_every_answer(solution_run, variant):
    assert not errors(solution_run, "")
    verdicts = graded(recorded(solution_run), variant[1])
    assert verdicts and all(verdicts.values()), [n for n, ok in verdicts.items() if not ok]
    meta = read_lab(LAB)
    assert set(recorded(solution_run)) == {a for s in meta.steps for a in s.answers} == set(meta.answers)


def test_a_wrong_answer_is_marked_wrong(solution_run, variant):
    values = recorded(solution_run)
    key = variant[1]
    wrong = {**values, "implant_fn_created": values["implant_si_created"], "intruder_ip": "203.0.113.0",
             "deleted_mft_entry": int(values["deleted_mft_entry"]) + 1,
             "download_path": str(values["download_path"]).replace("Downloads", "Desktop")}
    verdicts = graded(wrong, key)
    assert [n for n, ok in verdicts.items() if not ok] == sorted(
        ["implant_fn_created", "intruder_ip", "deleted_mft_entry", "download_path"], key=list(verdicts).index)


def shown(value: object) -> list[str]:
    """How a tools cell may print a key value: times as pandas prints them, Windows paths as fls prints them."""
    text = str(value)
    forms = [text.casefold()]
    if text.endswith("Z") and text[10:11] == "T":
        forms.append(text[:19].replace("T", " "))
    if text[1:3] == ":\\":
        forms.append(text[2:].replace("\\", "/").casefold())
    return forms


def test_no_code_path_tools_show_every_answer_and_the_forms_record_it(variant, tmp_path):
    evidence, key = variant
    meta = read_lab(LAB)
    folder = tmp_path / "lab"
    folder.mkdir()
    # 1. Only the locked cells: each step's tool output holds every answer of that step, as the trainee reads it.
    nb = run_notebook(released(nbformat.read(LAB / "source.ipynb", as_version=4)), folder, evidence)
    assert not errors(nb, "tools-") and not errors(nb, "setup") and not errors(nb, "form-")
    output = {}
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if gid.startswith("tools-"):
            text = "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)
            output[gid.removeprefix("tools-")] = text.replace("\\\\", "\\").casefold()
    checks = load_checks(LAB / "grader.yaml")

    def wanted(name: str) -> object:  # where the grader reads it: answers.<name>, or a fact until the spec names it
        return lookup(key, checks.key_path(name), "key")

    missing = []
    for step in meta.steps:
        for name in step.answers:
            want = wanted(name)
            if not any(form.casefold() in output.get(step.id, "") for form in shown(want)):
                missing.append(f"{step.id}: {name}")
    assert not missing
    assert recorded(nb) == {}  # nothing typed, nothing written: nothing recorded
    # 2. A trainee types what the tools showed into the forms (saved as the form saves it); the same released
    # notebook, run again as grading runs it, records each typed value, and the grader takes them all.
    typed = {name: str(wanted(name)) for name in meta.answers}
    (folder / ".answers").mkdir()
    (folder / ".answers" / "08-windows.json").write_text(json.dumps(typed))
    nb = run_notebook(released(nbformat.read(LAB / "source.ipynb", as_version=4)), folder, evidence)
    verdicts = graded(recorded(nb), key)
    assert verdicts and all(verdicts.values()), [n for n, ok in verdicts.items() if not ok]


def test_lab_folder_holds_no_answer_value(variant):
    """The lab's own source and lab.yaml name no value a trainee draws (the authoring mistake caught where it is made).
    What trainees receive, nbgrader's release and the handout, is searched by tests/test_no_answer_values.py (per
    scenario, heron's course for lab 08) and by `dflab lab check 08-windows` (tests/test_lab_check.py)."""
    text = (LAB / "source.ipynb").read_text() + (LAB / "lab.yaml").read_text()
    for name, value in variant[1]["answers"].items():
        if isinstance(value, str) and len(value) > 6:
            assert value not in text and json.dumps(value)[1:-1] not in text, name


def test_timeline_row_format_matches_psort():
    when = pd.Timestamp(datetime(2024, 2, 21, 14, 0, 26, tzinfo=UTC))
    row = windows._row(when, "...B", "FILE", "NTFS $FN", "Creation Time", "s", "d", "C:\\x", "85")
    assert (row["date"], row["time"], row["timezone"], row["version"]) == ("02/21/2024", "14:00:26", "UTC", 2)
    assert list(row)[1:] == windows.L2TCSV


@pytest.mark.parametrize("lang", ["fr", "es"])
def test_translations_are_complete_and_keep_code_and_shape(lang):
    """As tests/test_i18n_catalogs.py holds labs 01-05 and 07: every unit translated, code spans and markdown kept,
    and lab.pot the lab as it is."""
    from dflab.i18n.catalog import missing, read_catalog, template_path, translations
    from dflab.i18n.review import translation_problems
    from dflab.i18n.units import lab_units

    assert not missing(LAB, lang)
    cells = json.loads((LAB / "source.ipynb").read_text(encoding="utf-8"))["cells"]
    markdown = {f"source.ipynb: cell {n}" for n, c in enumerate(cells, start=1) if c["cell_type"] == "markdown"}
    done = translations(LAB, lang)
    problems = [f"{unit.where}: {problem}" for unit in lab_units(LAB) if unit.msgid in done
                for problem in translation_problems(unit.msgid, done[unit.msgid], unit.where in markdown)]
    assert not problems
    assert [m.id for m in read_catalog(template_path(LAB)) if m.id] == [u.msgid for u in lab_units(LAB)]
