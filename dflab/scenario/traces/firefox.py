"""A Firefox ESR 115 profile: ``places.sqlite`` (history, downloads), ``profiles.ini``, ``installs.ini``.

places.sqlite has Firefox 115's schema (``user_version`` 75): moz_places with ``url_hash`` computed as Firefox
computes it (so its own lookups would find the rows), moz_historyvisits, moz_origins, the bookmark roots, and a
download as Firefox 115 records one: a visit of type TRANSITION_DOWNLOAD and two page annotations,
``downloads/destinationFileURI`` (the ``file://`` URI of the saved file) and ``downloads/metaData`` (JSON with
``state``, ``endTime`` in milliseconds and ``fileSize``); visit and annotation times are PRTime (microseconds).

Determinism: the database is built in memory by Python's sqlite3 in one transaction with rows in a fixed order,
``VACUUM``ed into a file with Firefox's page size (32 KiB) and incremental auto-vacuum, then switched to WAL mode
as Firefox leaves it (header bytes 18-19 = 2) and closed, which checkpoints and removes the ``-wal`` file. The
header's "written by SQLite version" field (offset 96) and its validity counter (offset 92) are then set to
Firefox 115's bundled SQLite (3.42.0), the one field that would otherwise name the builder's library. The b-tree
layout is SQLite's file format, stable across versions for the same statements (tests build twice and compare).
"""

from __future__ import annotations

import base64
import json
import sqlite3
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from dflab.scenario.draw import rng

SCHEMA_VERSION = 75  # Firefox 115's places schema (toolkit/components/places/Database.cpp)
SQLITE_VERSION_NUMBER = 3042000  # SQLite bundled with Firefox 115
PAGE_SIZE = 32768
VERSION = "115.8.0esr"
BUILD_ID = "20240213150803"
INSTALL_HASH = "3B6073811A6ABF12"  # CityHash of /usr/lib/firefox-esr, what Debian's firefox-esr writes as its install
TRANSITION_LINK, TRANSITION_TYPED, TRANSITION_DOWNLOAD = 1, 2, 7

SCHEMA = (
    "CREATE TABLE moz_origins ( id INTEGER PRIMARY KEY, prefix TEXT NOT NULL, host TEXT NOT NULL, frecency INTEGER "
    "NOT NULL, recalc_frecency INTEGER NOT NULL DEFAULT 0, alt_frecency INTEGER, recalc_alt_frecency INTEGER NOT NULL "
    "DEFAULT 0, UNIQUE (prefix, host) )",
    "CREATE TABLE moz_places (   id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR, rev_host LONGVARCHAR, "
    "visit_count INTEGER DEFAULT 0, hidden INTEGER DEFAULT 0 NOT NULL, typed INTEGER DEFAULT 0 NOT NULL, frecency "
    "INTEGER DEFAULT -1 NOT NULL, last_visit_date INTEGER , guid TEXT, foreign_count INTEGER DEFAULT 0 NOT NULL, "
    "url_hash INTEGER DEFAULT 0 NOT NULL , description TEXT, preview_image_url TEXT, site_name TEXT, origin_id "
    "INTEGER REFERENCES moz_origins(id), recalc_frecency INTEGER NOT NULL DEFAULT 0, alt_frecency INTEGER, "
    "recalc_alt_frecency INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE moz_historyvisits (  id INTEGER PRIMARY KEY, from_visit INTEGER, place_id INTEGER, visit_date "
    "INTEGER, visit_type INTEGER, session INTEGER, source INTEGER DEFAULT 0 NOT NULL, triggeringPlaceId INTEGER)",
    "CREATE TABLE moz_inputhistory (  place_id INTEGER NOT NULL, input LONGVARCHAR NOT NULL, use_count INTEGER, "
    "PRIMARY KEY (place_id, input))",
    "CREATE TABLE moz_bookmarks (  id INTEGER PRIMARY KEY, type INTEGER, fk INTEGER DEFAULT NULL, parent INTEGER, "
    "position INTEGER, title LONGVARCHAR, keyword_id INTEGER, folder_type TEXT, dateAdded INTEGER, lastModified "
    "INTEGER, guid TEXT, syncStatus INTEGER NOT NULL DEFAULT 0, syncChangeCounter INTEGER NOT NULL DEFAULT 1)",
    "CREATE TABLE moz_bookmarks_deleted (  guid TEXT PRIMARY KEY, dateRemoved INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE moz_keywords (  id INTEGER PRIMARY KEY AUTOINCREMENT, keyword TEXT UNIQUE, place_id INTEGER, "
    "post_data TEXT)",
    "CREATE TABLE moz_anno_attributes (  id INTEGER PRIMARY KEY, name VARCHAR(32) UNIQUE NOT NULL)",
    "CREATE TABLE moz_annos (  id INTEGER PRIMARY KEY, place_id INTEGER NOT NULL, anno_attribute_id INTEGER, content "
    "LONGVARCHAR, flags INTEGER DEFAULT 0, expiration INTEGER DEFAULT 0, type INTEGER DEFAULT 0, dateAdded INTEGER "
    "DEFAULT 0, lastModified INTEGER DEFAULT 0)",
    "CREATE TABLE moz_items_annos (  id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL, anno_attribute_id INTEGER, "
    "content LONGVARCHAR, flags INTEGER DEFAULT 0, expiration INTEGER DEFAULT 0, type INTEGER DEFAULT 0, dateAdded "
    "INTEGER DEFAULT 0, lastModified INTEGER DEFAULT 0)",
    "CREATE TABLE moz_meta (key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID ",
    "CREATE TABLE moz_places_metadata_search_queries ( id INTEGER PRIMARY KEY, terms TEXT NOT NULL UNIQUE )",
    "CREATE TABLE moz_places_metadata (  id INTEGER PRIMARY KEY, place_id INTEGER NOT NULL, referrer_place_id "
    "INTEGER, created_at INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL DEFAULT 0, total_view_time INTEGER "
    "NOT NULL DEFAULT 0, typing_time INTEGER NOT NULL DEFAULT 0, key_presses INTEGER NOT NULL DEFAULT 0, "
    "scrolling_time INTEGER NOT NULL DEFAULT 0, scrolling_distance INTEGER NOT NULL DEFAULT 0, document_type INTEGER "
    "NOT NULL DEFAULT 0, search_query_id INTEGER, FOREIGN KEY (place_id) REFERENCES moz_places(id) ON DELETE CASCADE, "
    "FOREIGN KEY (referrer_place_id) REFERENCES moz_places(id) ON DELETE CASCADE, FOREIGN KEY(search_query_id) "
    "REFERENCES moz_places_metadata_search_queries(id) ON DELETE CASCADE CHECK(place_id != referrer_place_id) )",
    "CREATE TABLE moz_previews_tombstones ( hash TEXT PRIMARY KEY ) WITHOUT ROWID",
    "CREATE INDEX moz_places_url_hashindex ON moz_places (url_hash)",
    "CREATE INDEX moz_places_hostindex ON moz_places (rev_host)",
    "CREATE INDEX moz_places_visitcount ON moz_places (visit_count)",
    "CREATE INDEX moz_places_frecencyindex ON moz_places (frecency)",
    "CREATE INDEX moz_places_lastvisitdateindex ON moz_places (last_visit_date)",
    "CREATE UNIQUE INDEX moz_places_guid_uniqueindex ON moz_places (guid)",
    "CREATE INDEX moz_places_originidindex ON moz_places (origin_id)",
    "CREATE INDEX moz_places_altfrecencyindex ON moz_places (alt_frecency)",
    "CREATE INDEX moz_historyvisits_placedateindex ON moz_historyvisits (place_id, visit_date)",
    "CREATE INDEX moz_historyvisits_fromindex ON moz_historyvisits (from_visit)",
    "CREATE INDEX moz_historyvisits_dateindex ON moz_historyvisits (visit_date)",
    "CREATE INDEX moz_bookmarks_itemindex ON moz_bookmarks (fk, type)",
    "CREATE INDEX moz_bookmarks_parentindex ON moz_bookmarks (parent, position)",
    "CREATE INDEX moz_bookmarks_itemlastmodifiedindex ON moz_bookmarks (fk, lastModified)",
    "CREATE INDEX moz_bookmarks_dateaddedindex ON moz_bookmarks (dateAdded)",
    "CREATE UNIQUE INDEX moz_bookmarks_guid_uniqueindex ON moz_bookmarks (guid)",
    "CREATE UNIQUE INDEX moz_keywords_placepostdata_uniqueindex ON moz_keywords (place_id, post_data)",
    "CREATE UNIQUE INDEX moz_annos_placeattributeindex ON moz_annos (place_id, anno_attribute_id)",
    "CREATE UNIQUE INDEX moz_items_annos_itemattributeindex ON moz_items_annos (item_id, anno_attribute_id)",
    "CREATE UNIQUE INDEX moz_places_metadata_placecreated_uniqueindex ON moz_places_metadata (place_id, created_at)",
    "CREATE INDEX moz_places_metadata_referrerindex ON moz_places_metadata (referrer_place_id)",
)
ROOTS = (("root________", "", 0), ("menu________", "menu", 1), ("toolbar_____", "toolbar", 1),
         ("tags________", "tags", 1), ("unfiled_____", "unfiled", 1), ("mobile______", "mobile", 1))


@dataclass(frozen=True)
class Visit:
    """One page load: what the address bar or a link opened, and when (epoch seconds)."""

    url: str
    title: str
    time: float
    typed: bool = False


@dataclass(frozen=True)
class Download:
    """A file Firefox saved: where from, where to, when it started and finished, its size."""

    url: str
    path: str
    start: float
    end: float
    size: int


def hash_string(text: str) -> int:
    """mozilla::HashString over UTF-8 bytes: the golden-ratio hash of mfbt/HashFunctions.h (32 bits)."""
    h = 0
    for b in text.encode():
        h = (0x9E3779B9 * ((((h << 5) | (h >> 27)) & 0xFFFFFFFF) ^ b)) & 0xFFFFFFFF
    return h


def url_hash(url: str) -> int:
    """Places' ``hash(url)``: the scheme's hash in bits 32-47, the whole URL's hash below."""
    scheme = url.split(":", 1)[0]
    return ((hash_string(scheme) & 0xFFFF) << 32) + hash_string(url)


def rev_host(host: str) -> str:
    return host[::-1] + "."


def prtime(t: float) -> int:
    return int(round(t * 1_000_000))


def places(seed: bytes, visits: list[Visit], downloads: list[Download]) -> bytes:
    """places.sqlite holding ``visits`` and ``downloads`` (each download also a visit), byte-identical per input."""
    r = rng(seed, "traces", "places")

    def guid() -> str:
        return base64.urlsafe_b64encode(r.getrandbits(72).to_bytes(9, "big")).decode()

    loads = sorted([(v.time, v.url, v.title, TRANSITION_TYPED if v.typed else TRANSITION_LINK) for v in visits]
                   + [(d.start, d.url, "", TRANSITION_DOWNLOAD) for d in downloads])
    with tempfile.TemporaryDirectory(prefix="dflab-places-") as tmp:
        path = Path(tmp) / "places.sqlite"
        db = sqlite3.connect(path, isolation_level=None)
        db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("BEGIN")
        for statement in SCHEMA:
            db.execute(statement)
        origins: dict[tuple[str, str], int] = {}
        place_ids: dict[str, int] = {}
        counts: dict[str, list[tuple[float, int]]] = {}
        for t, url, title, kind in loads:
            parts = urlsplit(url)
            prefix, host = f"{parts.scheme}://", parts.hostname or ""
            if (prefix, host) not in origins:
                origins[(prefix, host)] = len(origins) + 1
            if url not in place_ids:
                place_ids[url] = len(place_ids) + 1
                db.execute("INSERT INTO moz_places (id, url, title, rev_host, hidden, typed, guid, url_hash, "
                           "origin_id) VALUES (?, ?, ?, ?, 0, 0, ?, ?, ?)",
                           (place_ids[url], url, title or None, rev_host(host), guid(), url_hash(url),
                            origins[(prefix, host)]))
            counts.setdefault(url, []).append((t, kind))
        visit_id = 0
        for t, url, _title, kind in loads:
            visit_id += 1
            db.execute("INSERT INTO moz_historyvisits (id, from_visit, place_id, visit_date, visit_type, session, "
                       "source) VALUES (?, 0, ?, ?, ?, 0, 0)", (visit_id, place_ids[url], prtime(t), kind))
        for url, seen in counts.items():
            shown = [k for _, k in seen if k != TRANSITION_DOWNLOAD]
            frecency = 100 * len(seen) + (2000 if TRANSITION_TYPED in shown else 0)
            db.execute("UPDATE moz_places SET visit_count = ?, typed = ?, frecency = ?, last_visit_date = ? "
                       "WHERE id = ?", (len(shown), int(TRANSITION_TYPED in shown), frecency,
                                        prtime(max(t for t, _ in seen)), place_ids[url]))
        hosts = {u: urlsplit(u).hostname for u in counts}  # once per URL, not once per URL and origin
        for (prefix, host), oid in origins.items():
            score = sum(100 * len(v) for u, v in counts.items() if hosts[u] == host and u.startswith(prefix))
            db.execute("INSERT INTO moz_origins (id, prefix, host, frecency) VALUES (?, ?, ?, ?)",
                       (oid, prefix, host, score))
        created = prtime(min((t for t, *_ in loads), default=0.0))
        for k, (root_guid, title, parent) in enumerate(ROOTS):
            db.execute("INSERT INTO moz_bookmarks (id, type, fk, parent, position, title, dateAdded, lastModified, "
                       "guid) VALUES (?, 2, NULL, ?, ?, ?, ?, ?, ?)",
                       (k + 1, parent, max(k - 1, 0), title, created, created, root_guid))
        if downloads:
            db.execute("INSERT INTO moz_anno_attributes (id, name) VALUES (1, 'downloads/destinationFileURI'), "
                       "(2, 'downloads/metaData')")
        anno = 0
        for d in downloads:
            meta = json.dumps({"state": 1, "deleted": False, "endTime": int(d.end * 1000), "fileSize": d.size},
                              separators=(",", ":"))
            for attribute, value in ((1, "file://" + quote(d.path)), (2, meta)):
                anno += 1
                db.execute("INSERT INTO moz_annos (id, place_id, anno_attribute_id, content, flags, expiration, type, "
                           "dateAdded, lastModified) VALUES (?, ?, ?, ?, 0, 4, 3, ?, ?)",
                           (anno, place_ids[d.url], attribute, value, prtime(d.end), prtime(d.end)))
        db.execute("INSERT INTO moz_meta (key, value) VALUES ('origin_frecency_count', ?), "
                   "('origin_frecency_sum', ?), ('origin_frecency_sum_of_squares', ?)",
                   (len(origins), sum(100 * len(v) for v in counts.values()),
                    sum((100 * len(v)) ** 2 for v in counts.values())))
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
        db.execute("VACUUM")
        db.execute("PRAGMA journal_mode = WAL")
        db.close()
        data = bytearray(path.read_bytes())
    counter = data[24:28]
    data[92:96] = counter
    data[96:100] = struct.pack(">I", SQLITE_VERSION_NUMBER)
    return bytes(data)


def profiles_ini(name: str) -> bytes:
    """~/.mozilla/firefox/profiles.ini as Firefox 115 writes it for one profile (folder ``name``, relative) locked
    to Debian's install."""
    return (f"[Install{INSTALL_HASH}]\nDefault={name}\nLocked=1\n\n"
            f"[Profile0]\nName=default-esr\nIsRelative=1\nPath={name}\nDefault=1\n\n"
            "[General]\nStartWithLastProfile=1\nVersion=2\n\n").encode()


def installs_ini(name: str) -> bytes:
    """~/.mozilla/firefox/installs.ini: which profile Debian's firefox-esr install opens."""
    return f"[{INSTALL_HASH}]\nDefault={name}\nLocked=1\n\n".encode()
