"""NTFS volumes written in pure Python, as Windows 10 formats them (see ``volume`` for why not ntfs-3g).

``VolumePlan`` says what the volume holds (files, directories, alternate data streams, every time, files deleted for
good, the change journal's records: ``usn``; Recycle Bin pairs: ``recyclebin``); ``build_volume`` returns its bytes
as the extents in use (``Volume.pieces``, written sparse). ``dflab.evidence.windows.gptdisk`` puts the volume on a
GPT disk as Windows Setup partitions it. Read back by The Sleuth Kit, ntfs-3g and libfsntfs in
``tests/test_windows_ntfs*.py``.
"""

from dflab.evidence.windows.ntfs.attributes import Times
from dflab.evidence.windows.ntfs.plan import PlannedFile, Stream, VolumePlan, creation_order, record_numbers, times
from dflab.evidence.windows.ntfs.volume import Volume, build_volume

__all__ = ["PlannedFile", "Stream", "Times", "Volume", "VolumePlan", "build_volume", "creation_order", "record_numbers",
           "times"]
