"""A generated Chrome ``History`` against the sqlite3 tool, histexport, browser-history, and a real History.

The sqlite3 command-line tool (Debian's, not the library that wrote the file) checks integrity and reads every
visit and download back; histexport (PyPI's command-line exporter an examiner runs) exports the URLs and each
download with its URL chain, times and byte counts; browser-history (PyPI) reads the visits with its own Chromium
query and WebKit-time conversion. The real Chrome 60 History in ``../shared/samples/windows/browser`` goes through
the same readers, and the structural comparison (page size, encoding, journal mode, meta keys, each shared
table's columns) holds the generated file to what Chrome wrote there, except for what Chrome itself changed since.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from browser_history.browsers import Chrome

from dflab.errors import DflabError
from dflab.evidence.windows.browser import Download, Visit, history, leading_to, search_url, webkit
from dflab.evidence.windows.browser.history import CHAIN_END, CHAIN_START, DANGER_USER_VALIDATED, LINK, TYPED
from tests.samples import sample, tool

REAL = "windows/browser/chrome60_History"
PAYLOAD = b"MZ" + bytes(73_214)
DOWNLOAD = Download(
    url_chain=("https://files.pdf-tools.example/get?id=7734", "https://cdn.pdf-tools.example/setup/PdfToolsSetup.exe"),
    target_path=r"C:\Users\alice\Downloads\PdfToolsSetup.exe",
    start=datetime(2026, 3, 2, 9, 14, 5, 412_000, tzinfo=UTC), end=datetime(2026, 3, 2, 9, 14, 7, 96_000, tzinfo=UTC),
    total_bytes=len(PAYLOAD), mime_type="application/x-msdownload", sha256=hashlib.sha256(PAYLOAD).digest(),
    referrer="https://www.pdf-tools.example/free-converter", tab_url="https://www.pdf-tools.example/free-converter",
    tab_referrer_url="https://www.google.com/", site_url="https://pdf-tools.example/",
    danger_type=DANGER_USER_VALIDATED, last_modified="Sun, 01 Mar 2026 22:10:43 GMT", etag='"11e02-6a1b2c3d"')
ROUTINE = (
    Visit("https://outlook.office.com/mail/", "Mail - Alice - Outlook", datetime(2026, 3, 2, 8, 51, 2, tzinfo=UTC),
          TYPED | CHAIN_START | CHAIN_END, timedelta(minutes=14)),
    Visit("https://www.bbc.co.uk/news", "Home - BBC News", datetime(2026, 3, 2, 9, 5, 40, tzinfo=UTC),
          TYPED | CHAIN_START | CHAIN_END, timedelta(minutes=3)),
    Visit("https://www.bbc.co.uk/news/technology", "Technology - BBC News", datetime(2026, 3, 2, 9, 7, 1,
                                                                                        tzinfo=UTC),
          LINK | CHAIN_START | CHAIN_END, timedelta(seconds=95), from_url="https://www.bbc.co.uk/news"),
)
VISITS = (*ROUTINE, *leading_to(DOWNLOAD, terms="free pdf converter", page_title="Free PDF Converter - PDF Tools"))
# What Chrome changed between the real file's schema (version 36, Chrome 60) and 70: columns it dropped (a renamed
# one counts as dropped and added), columns it added, and the sync metadata table it replaced.
DROPPED = {"keyword_search_terms": {"lower_term"}}
ADDED = {"visits": {"external_referrer_url", "incremented_omnibox_typed_score", "opener_visit", "originator_cache_guid",
                    "originator_visit_id", "originator_from_visit", "originator_opener_visit", "is_known_to_sync",
                    "consider_for_ntp_most_visited", "visited_link_id", "app_id"},
         "keyword_search_terms": {"normalized_term"},
         "downloads": {"embedder_download_data", "by_web_app_id"},
         "downloads_slices": {"finished"}}
REPLACED_TABLES = {"typed_url_sync_metadata"}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "History"
    path.write_bytes(history(VISITS, [DOWNLOAD]))
    return path


def cli(path: Path, sql: str) -> list[dict]:
    """Rows from Debian's sqlite3 tool, read-only (a BLOB's raw bytes come out mangled: read them with hex())."""
    out = subprocess.run([tool("sqlite3"), "-readonly", "-json", str(path), sql], capture_output=True,
                         check=True).stdout.decode(errors="replace")
    return json.loads(out) if out.strip() else []


def columns(path: Path) -> dict[str, list[str]]:
    tables = [r["name"] for r in cli(path, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: [r["name"] for r in cli(path, f"SELECT name FROM pragma_table_info('{t}')")] for t in tables}


def structure(path: Path) -> dict:
    head = path.read_bytes()[:100]
    return {"page_size": int.from_bytes(head[16:18], "big"), "journal": (head[18], head[19]),
            "encoding": int.from_bytes(head[56:60], "big"), "schema_format": int.from_bytes(head[44:48], "big"),
            "auto_vacuum_root": int.from_bytes(head[52:56], "big"),
            "meta": {r["key"] for r in cli(path, "SELECT key FROM meta")},
            "version": int(cli(path, "SELECT value FROM meta WHERE key = 'version'")[0]["value"]),
            "integrity": cli(path, "PRAGMA integrity_check")[0]["integrity_check"]}


def check_columns(real: dict[str, list[str]], mine: dict[str, list[str]]) -> None:
    """Every table both files have holds the real file's columns, less those Chrome dropped since, and only the ones
    it added since besides."""
    for table in set(real) & set(mine):
        assert set(real[table]) - DROPPED.get(table, set()) <= set(mine[table]), table
        assert set(mine[table]) - set(real[table]) == ADDED.get(table, set()), table


def test_structure_matches_real_chrome(db: Path) -> None:
    real, mine = structure(sample(REAL)), structure(db)
    assert real["integrity"] == mine["integrity"] == "ok"
    for key in ("page_size", "journal", "encoding", "schema_format", "auto_vacuum_root", "meta"):
        assert mine[key] == real[key], key
    assert (real["version"], mine["version"]) == (36, 70)
    real_columns, my_columns = columns(sample(REAL)), columns(db)
    assert set(real_columns) - set(my_columns) == REPLACED_TABLES
    assert "history_sync_metadata" in my_columns
    check_columns(real_columns, my_columns)
    # Every index Chrome 60 made is made the same way (the renamed search-term column aside).
    query = "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
    real_indexes = {r["name"]: r["sql"] for r in cli(sample(REAL), query)}
    my_indexes = {r["name"]: r["sql"] for r in cli(db, query)}
    assert set(real_indexes) <= set(my_indexes)
    assert {n: (q or "").replace("lower_term", "normalized_term") for n, q in real_indexes.items()} == {
        n: my_indexes[n] or "" for n in real_indexes}


def test_column_check_catches_a_renamed_column(db: Path) -> None:
    mine = columns(db)
    mine["downloads"] = [c if c != "target_path" else "target" for c in mine["downloads"]]
    with pytest.raises(AssertionError, match="downloads"):
        check_columns(columns(sample(REAL)), mine)


def test_sqlite3_reads_the_download(db: Path) -> None:
    (row,) = cli(db, "SELECT * FROM downloads")
    assert row["target_path"] == row["current_path"] == DOWNLOAD.target_path
    assert (row["start_time"], row["end_time"]) == (webkit(DOWNLOAD.start), webkit(DOWNLOAD.end))
    assert datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=row["start_time"]) == DOWNLOAD.start
    assert row["received_bytes"] == row["total_bytes"] == len(PAYLOAD) and row["state"] == 1
    assert row["danger_type"] == 7 and row["interrupt_reason"] == 0 and row["mime_type"] == "application/x-msdownload"
    assert (row["referrer"], row["tab_url"], row["tab_referrer_url"]) == (DOWNLOAD.referrer, DOWNLOAD.tab_url,
                                                                          DOWNLOAD.tab_referrer_url)
    assert row["guid"] == DOWNLOAD.guid and len(row["guid"]) == 36 and row["site_url"] == "https://pdf-tools.example/"
    (digest,) = cli(db, "SELECT hex(hash) AS h FROM downloads")
    assert digest["h"] == hashlib.sha256(PAYLOAD).hexdigest().upper()
    chain = cli(db, "SELECT chain_index, url FROM downloads_url_chains WHERE id = 1 ORDER BY chain_index")
    assert [r["url"] for r in chain] == list(DOWNLOAD.url_chain)


def test_sqlite3_reads_the_visits(db: Path) -> None:
    rows = cli(db, "SELECT v.id, u.url, u.title, v.visit_time, v.transition, v.from_visit, v.visit_duration "
                   "FROM visits v JOIN urls u ON u.id = v.url ORDER BY v.id")
    ordered = sorted(VISITS, key=lambda v: v.time)
    assert [(r["url"], r["visit_time"], r["transition"]) for r in rows] == [
        (v.url, webkit(v.time), v.transition) for v in ordered]
    by_url = {r["url"]: r["id"] for r in rows}
    landing = next(r for r in rows if r["url"] == DOWNLOAD.tab_url)
    assert landing["from_visit"] == by_url[search_url("free pdf converter")]
    (term,) = cli(db, "SELECT k.term, u.url FROM keyword_search_terms k JOIN urls u ON u.id = k.url_id")
    assert term == {"term": "free pdf converter", "url": search_url("free pdf converter")}
    assert max(r["visit_time"] for r in rows) < webkit(DOWNLOAD.start)
    (seq,) = cli(db, "SELECT seq FROM sqlite_sequence WHERE name = 'visits'")
    assert seq["seq"] == len(VISITS)


def histexport(path: Path, out: Path) -> tuple[list[dict], list[dict]]:
    """histexport's CSV exports of ``path``: its URLs and its downloads (one row per URL in a download's chain)."""
    subprocess.run([str(Path(sys.executable).with_name("histexport")), "-i", str(path), "-o", "x", "-d", str(out),
                    "-f", "csv", "-e", "urls", "downloads"], check=True, capture_output=True)
    rows = []
    for kind in ("urls", "downloads"):
        with (out / f"x_{kind}.csv").open(newline="", encoding="utf-8") as f:
            rows.append(list(csv.DictReader(f)))
    return rows[0], rows[1]


def test_histexport_reads_the_same(db: Path, tmp_path: Path) -> None:
    urls, downloads = histexport(db, tmp_path / "mine")
    expected = {v.url: v for v in VISITS}
    assert {r["URL"]: (r["Title"], datetime.fromisoformat(r["Last_Visit_Time"])) for r in urls} == {
        url: (v.title, v.time.replace(tzinfo=None)) for url, v in expected.items()}
    assert [r["URL"] for r in downloads] == list(DOWNLOAD.url_chain)
    for r in downloads:
        assert r["Target_Path"] == DOWNLOAD.target_path and r["Total_Bytes"] == r["Received_Bytes"] == str(len(PAYLOAD))
        assert datetime.fromisoformat(r["Start_Time"]) == DOWNLOAD.start.replace(tzinfo=None)
        assert datetime.fromisoformat(r["End_Time"]) == DOWNLOAD.end.replace(tzinfo=None)
        assert (r["Referrer"], r["Tab_Referrer_URL"]) == (DOWNLOAD.referrer, DOWNLOAD.tab_referrer_url)
    real_urls, real_downloads = histexport(sample(REAL), tmp_path / "real")
    assert len(real_urls) == 31 and {r["Target_Path"] for r in real_downloads} == {
        r["target_path"] for r in cli(sample(REAL), "SELECT target_path FROM downloads")}


def test_browser_history_reads_the_same(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        seen = Chrome().fetch_history(history_paths=[db], sort=True).histories
        real = Chrome().fetch_history(history_paths=[sample(REAL)]).histories
    finally:
        monkeypatch.undo()
        time.tzset()
    expected = sorted((v.time.replace(microsecond=0), v.url, v.title) for v in VISITS if v.duration)
    assert [(t.astimezone(UTC).replace(tzinfo=UTC), u, ti) for t, u, ti in seen] == expected
    assert len(real) > 0 and all(t.year == 2017 for t, _, _ in real)


def test_same_input_same_bytes(db: Path) -> None:
    again = history(list(reversed(VISITS)), [DOWNLOAD])
    assert again == db.read_bytes()
    assert int.from_bytes(again[96:100], "big") == 3_046_000
    assert history(VISITS, [Download(**{**DOWNLOAD.__dict__, "danger_type": 0})]) != again


def test_mistakes_are_one_line_errors() -> None:
    with pytest.raises(DflabError, match="no earlier visit"):
        history([Visit("https://a.example/", "A", DOWNLOAD.start, from_url="https://b.example/")])
    with pytest.raises(DflabError, match="SHA-256"):
        history([], [Download(**{**DOWNLOAD.__dict__, "sha256": b"short"})])
    with pytest.raises(DflabError, match="time zone"):
        history([Visit("https://a.example/", "A", datetime(2026, 3, 2))])  # noqa: DTZ001
