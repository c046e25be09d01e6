"""Chrome's ``History`` database (``history``) and the visits that lead to a download (``session``).

Chromium-based Edge writes the same file with the same schema under ``%LOCALAPPDATA%\\Microsoft\\Edge``.
"""

from dflab.evidence.windows.browser.history import Download, Visit, history, webkit
from dflab.evidence.windows.browser.session import leading_to, search_url

__all__ = ["Download", "Visit", "history", "leading_to", "search_url", "webkit"]
