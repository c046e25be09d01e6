"""Chrome's ``History`` database (``history``) and the visits that lead to a download (``session``).

Chromium-based Edge writes the same file with the same schema under ``%LOCALAPPDATA%\\Microsoft\\Edge``.
"""

from dflab.evidence.windows.browser.history import Download, Visit, history, webkit
from dflab.evidence.windows.browser.session import leading_to, search_url
from dflab.evidence.windows.browser.version import CHROME_VERSION, USER_AGENT

__all__ = ["CHROME_VERSION", "USER_AGENT", "Download", "Visit", "history", "leading_to", "search_url", "webkit"]
