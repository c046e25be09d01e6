"""Shell Link (.lnk) files as Explorer writes them in Recent (``link``), with their shell items (``shellitems``)."""

from dflab.evidence.windows.lnk.link import Target, Volume, object_id, relative_path, shell_link
from dflab.evidence.windows.lnk.shellitems import Entry, fat_datetime

__all__ = ["Entry", "Target", "Volume", "fat_datetime", "object_id", "relative_path", "shell_link"]
