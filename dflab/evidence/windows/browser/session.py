"""The page loads that lead to a download as Chrome records them: the search engine typed in the omnibox, the
search, the result followed, the page the download was started from.

Kept apart from the writer so a scenario can put its own routine around these visits; the chain here is what an
examiner reads backwards from ``downloads.tab_url`` through ``visits.from_visit`` to the search terms.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote_plus

from dflab.errors import DflabError
from dflab.evidence.windows.browser.history import (
    CHAIN_END,
    CHAIN_START,
    FROM_ADDRESS_BAR,
    GENERATED,
    LINK,
    TYPED,
    Download,
    Visit,
)

SEARCH_HOME = "https://www.google.com/"


def search_url(terms: str) -> str:
    """The results page Chrome opens for ``terms`` typed in the omnibox with Google as the default engine."""
    return f"https://www.google.com/search?q={quote_plus(terms)}&sourceid=chrome&ie=UTF-8"


def leading_to(download: Download, *, terms: str, page_title: str,
               reading: timedelta = timedelta(seconds=50)) -> list[Visit]:
    """The visits before ``download``: the search home typed, ``terms`` searched, ``download.tab_url`` (titled
    ``page_title``) followed from the results and read for ``reading`` before the download started."""
    if reading <= timedelta(0):
        raise DflabError("reading time before the download must be positive", download.tab_url)
    arrived = download.start - reading
    searched = arrived - timedelta(seconds=37)
    home = searched - timedelta(seconds=11)
    chain = CHAIN_START | CHAIN_END
    results = search_url(terms)
    return [
        Visit(SEARCH_HOME, "Google", home, TYPED | chain | FROM_ADDRESS_BAR, timedelta(seconds=11)),
        Visit(results, f"{terms} - Google Search", searched, GENERATED | chain | FROM_ADDRESS_BAR,
              timedelta(seconds=37), search_terms=terms),
        Visit(download.tab_url, page_title, arrived, LINK | chain, reading + timedelta(seconds=24),
              from_url=results),
    ]
