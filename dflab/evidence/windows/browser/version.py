"""The one Chrome release the case's browser is: its full version and the User-Agent it sends.

The History schema (``schema``) is Chrome 127's, so the browser is a Chrome 127 stable build; the network capture
of the same download must send this User-Agent. Since Chrome 101's User-Agent reduction the header carries only
the major version (``127.0.0.0``) and always ``Windows NT 10.0; Win64; x64``, whatever the build or Windows release.
"""

from __future__ import annotations

from datetime import date

CHROME_VERSION = "127.0.6533.120"
"""A Chrome 127 stable release for Windows (August 2024)."""
CHROME_RELEASED = date(2024, 8, 13)
"""When ``CHROME_VERSION`` reached the Stable channel: Chrome Releases, "Stable Channel Update for Desktop",
Tuesday 13 August 2024 (127.0.6533.119/.120 for Windows and Mac). It stayed current until Chrome 128's stable
release (128.0.6613.84/.85, 20 August 2024), so a case's story falls between the two: the scenario spec refuses a
download before this day (dflab.scenario.spec), and heron's incident days are 14-19 August 2024. Source: the
Chrome Releases blog (chromereleases.googleblog.com, 2024/08); re-check there when changing the version. The
order of the builds (127.0.6533.100, then .120, then 128.0.6613.85) is confirmed by Chromium-based Brave's
desktop changelog (brave/brave-browser CHANGELOG_DESKTOP.md: 1.68.141 "Upgraded Chromium to 127.0.6533.120", the
next release to 128.0.6613.85 with the log range 127.0.6533.120..128.0.6613.85); the day is the blog's."""
CHROME_SUPERSEDED = date(2024, 8, 20)
"""Chrome 128's stable release: after it the browser would have updated itself within days."""
EDGE_VERSION = "127.0.2651.98"
"""The Edge build whose SSDP User-Agent the capture's background shows (winnoise.py states it, a literal there):
Microsoft Edge's Stable channel release notes date it 8 August 2024, current until Edge 128 (22 August 2024);
re-check there when changing it."""
EDGE_RELEASED = date(2024, 8, 8)
CHROME_MAJOR = CHROME_VERSION.split(".", 1)[0]
USER_AGENT = (f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              f"Chrome/{CHROME_MAJOR}.0.0.0 Safari/537.36")
"""What Chrome 127 sends on Windows 10 (and 11): the reduced User-Agent string."""
