"""Chrome's ``History`` database (SQLite) holding a browsing session and its downloads, byte-identical per input.

What Chrome records, and so what is written here: every page load is a ``visits`` row (``transition`` = core type |
qualifiers, ``from_visit`` the referring visit, ``visit_duration`` in microseconds) of a ``urls`` row whose
``visit_count``/``typed_count``/``last_visit_time`` summarise them; a search typed in the omnibox adds a
``keyword_search_terms`` row; a download is a ``downloads`` row (paths, WebKit start/end times, bytes, state,
danger type, SHA-256, referrer, tab URL, MIME types) plus its redirect chain in ``downloads_url_chains``, and no
visit of its own. Times are WebKit microseconds since 1601-01-01 UTC (a FILETIME / 10).

Determinism: rows are inserted with explicit ids in time order in one transaction, the file is ``VACUUM``ed with
Chrome's 4 KiB pages and rollback journal, and the header's "written by SQLite" number (offset 96) and its
validity counter (offset 92) are set to Chrome's bundled SQLite, the one field that would name the builder's
library. The b-tree layout is SQLite's file format, stable across library versions for the same statements.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from dflab.errors import DflabError
from dflab.evidence.windows.browser import schema
from dflab.evidence.windows.wintypes import filetime

# ui::PageTransition core types and qualifiers (ui/base/page_transition_types.h).
LINK, TYPED, AUTO_BOOKMARK, GENERATED, RELOAD = 0, 1, 2, 5, 8
CHAIN_START, CHAIN_END = 0x1000_0000, 0x2000_0000
CLIENT_REDIRECT, SERVER_REDIRECT = 0x4000_0000, 0x8000_0000
FROM_ADDRESS_BAR = 0x0200_0000
CORE_MASK = 0xFF

# download::DownloadItem::DownloadState and DownloadDangerType as History stores them (download_types.h).
STATE_COMPLETE = 1
DANGER_NOT_DANGEROUS, DANGER_DANGEROUS_FILE, DANGER_USER_VALIDATED = 0, 1, 7

GOOGLE_KEYWORD_ID = 2  # the prepopulated default search engine's row in Web Data's keywords table


def webkit(when: datetime) -> int:
    """``when`` in WebKit/Chrome time: microseconds since 1601-01-01 UTC."""
    return filetime(when) // 10


@dataclass(frozen=True)
class Visit:
    """One page load. ``from_url`` names the page whose link led here (its latest earlier visit becomes
    ``from_visit``); ``search_terms`` is set for a results page of a search typed in the omnibox."""

    url: str
    title: str
    time: datetime
    transition: int = LINK | CHAIN_START | CHAIN_END
    duration: timedelta = timedelta(0)
    from_url: str | None = None
    search_terms: str | None = None


@dataclass(frozen=True)
class Download:
    """One finished download. ``url_chain`` is the request URL followed by its redirects (the last one served the
    bytes); ``tab_url`` the page the download started from; ``sha256`` the bytes' digest Chrome stores."""

    url_chain: tuple[str, ...]
    target_path: str
    start: datetime
    end: datetime
    total_bytes: int
    mime_type: str
    referrer: str
    tab_url: str
    tab_referrer_url: str = ""
    site_url: str = ""
    sha256: bytes = b""
    danger_type: int = DANGER_NOT_DANGEROUS
    opened: bool = False
    last_access: datetime | None = None
    etag: str = ""
    last_modified: str = ""

    @property
    def guid(self) -> str:
        """A version-4-shaped GUID fixed by the download itself (Chrome draws a random one; a build must not)."""
        digest = hashlib.sha256("\n".join((*self.url_chain, self.target_path, self.start.isoformat())).encode())
        return str(uuid.UUID(bytes=digest.digest()[:16], version=4))


def _check(visits: Sequence[Visit], downloads: Sequence[Download]) -> None:
    for v in visits:
        if v.duration < timedelta(0):
            raise DflabError("visit duration is negative", v.url)
    for d in downloads:
        if not d.url_chain:
            raise DflabError("download has an empty URL chain", d.target_path)
        if d.end < d.start:
            raise DflabError("download ends before it starts", d.target_path)
        if len(d.sha256) not in (0, 32):
            raise DflabError("download hash is not a SHA-256 digest (32 bytes)", d.target_path)


def history(visits: Sequence[Visit], downloads: Sequence[Download] = ()) -> bytes:
    """The ``History`` file holding ``visits`` (any order; stored by time) and ``downloads``."""
    _check(visits, downloads)
    ordered = sorted(visits, key=lambda v: (v.time, v.url))
    with tempfile.TemporaryDirectory(prefix="dflab-history-") as tmp:
        path = Path(tmp) / "History"
        db = sqlite3.connect(path, isolation_level=None)
        try:
            db.execute(f"PRAGMA page_size = {schema.PAGE_SIZE}")
            db.execute("BEGIN")
            for statement in (*schema.TABLES, *schema.INDEXES):
                db.execute(statement)
            _fill(db, ordered, downloads)
            db.execute("COMMIT")
            db.execute("VACUUM")
        finally:
            db.close()
        data = bytearray(path.read_bytes())
    data[92:96] = data[24:28]
    data[96:100] = struct.pack(">I", schema.SQLITE_VERSION_NUMBER)
    return bytes(data)


def _fill(db: sqlite3.Connection, visits: list[Visit], downloads: Sequence[Download]) -> None:
    first = min((v.time for v in visits), default=min((d.start for d in downloads), default=None))
    threshold = webkit(first) if first is not None else 0
    db.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                   [("mmap_status", "-1"), ("version", str(schema.VERSION)),
                    ("last_compatible_version", str(schema.LAST_COMPATIBLE_VERSION)),
                    ("early_expiration_threshold", str(threshold))])
    url_ids: dict[str, int] = {}
    titles: dict[str, str] = {}
    for v in visits:
        url_ids.setdefault(v.url, len(url_ids) + 1)
        titles[v.url] = v.title
    latest_visit: dict[str, int] = {}
    for visit_id, v in enumerate(visits, start=1):
        from_visit = latest_visit.get(v.from_url, 0) if v.from_url else 0
        if v.from_url and not from_visit:
            raise DflabError("visit's referring page has no earlier visit", f"{v.url} <- {v.from_url}")
        db.execute("INSERT INTO visits (id, url, visit_time, from_visit, external_referrer_url, transition, "
                   "segment_id, visit_duration, incremented_omnibox_typed_score, opener_visit, is_known_to_sync, "
                   "consider_for_ntp_most_visited, visited_link_id) VALUES (?, ?, ?, ?, NULL, ?, 0, ?, ?, 0, 0, ?, 0)",
                   (visit_id, url_ids[v.url], webkit(v.time), from_visit, v.transition,
                    v.duration // timedelta(microseconds=1), int(v.transition & CORE_MASK == TYPED),
                    int(v.transition & CORE_MASK in (LINK, TYPED))))
        latest_visit[v.url] = visit_id
        if v.search_terms:
            db.execute("INSERT INTO keyword_search_terms (keyword_id, url_id, term, normalized_term) "
                       "VALUES (?, ?, ?, ?)", (GOOGLE_KEYWORD_ID, url_ids[v.url], v.search_terms,
                                               v.search_terms.casefold()))
    for url, url_id in url_ids.items():
        seen = [v for v in visits if v.url == url]
        shown = [v for v in seen if not v.transition & (CLIENT_REDIRECT | SERVER_REDIRECT) or
                 v.transition & CHAIN_END]
        typed = sum(1 for v in seen if v.transition & CORE_MASK == TYPED)
        db.execute("INSERT INTO urls (id, url, title, visit_count, typed_count, last_visit_time, hidden) "
                   "VALUES (?, ?, ?, ?, ?, ?, 0)",
                   (url_id, url, titles[url], len(shown), typed, webkit(max(v.time for v in seen))))
    for download_id, d in enumerate(sorted(downloads, key=lambda d: (d.start, d.target_path)), start=1):
        db.execute("INSERT INTO downloads (id, guid, current_path, target_path, start_time, received_bytes, "
                   "total_bytes, state, danger_type, interrupt_reason, hash, end_time, opened, last_access_time, "
                   "transient, referrer, site_url, embedder_download_data, tab_url, tab_referrer_url, http_method, "
                   "by_ext_id, by_ext_name, by_web_app_id, etag, last_modified, mime_type, original_mime_type) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 0, ?, ?, '', ?, ?, '', '', '', '', ?, ?, ?, ?)",
                   (download_id, d.guid, d.target_path, d.target_path, webkit(d.start), d.total_bytes,
                    d.total_bytes, STATE_COMPLETE, d.danger_type, d.sha256, webkit(d.end), int(d.opened),
                    webkit(d.last_access) if d.last_access else 0, d.referrer, d.site_url, d.tab_url,
                    d.tab_referrer_url, d.etag, d.last_modified, d.mime_type, d.mime_type))
        db.executemany("INSERT INTO downloads_url_chains (id, chain_index, url) VALUES (?, ?, ?)",
                       [(download_id, k, url) for k, url in enumerate(d.url_chain)])
