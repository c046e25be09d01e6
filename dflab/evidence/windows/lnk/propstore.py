"""The PropertyStoreDataBlock Explorer adds to a Recent link on Windows 10: System.VolumeId, the GUID of the volume
the target is on (MS-PROPSTORE serialized property storage, one VT_CLSID value).

That GUID is the one in ``\\\\?\\Volume{…}`` and in the SYSTEM hive's MountedDevices, so it ties the link to a
volume even when drive letters have changed.
"""

from __future__ import annotations

import struct
import uuid

PROPERTY_STORE_SIGNATURE = 0xA000_0009
STORAGE_VERSION = 0x5350_5331  # "1SPS"
VOLUME_ID_FORMAT = uuid.UUID("446d16b1-8dad-4870-a748-402ea43d788c")  # the property set of System.VolumeId
VOLUME_ID = 104
VT_CLSID = 0x0048


def _storage(format_id: uuid.UUID, values: bytes) -> bytes:
    body = struct.pack("<I", STORAGE_VERSION) + format_id.bytes_le + values + b"\0\0\0\0"
    return struct.pack("<I", 4 + len(body)) + body


def _clsid_value(property_id: int, value: uuid.UUID) -> bytes:
    body = struct.pack("<IBHH", property_id, 0, VT_CLSID, 0) + value.bytes_le
    return struct.pack("<I", 4 + len(body)) + body


def volume_id_block(volume_guid: uuid.UUID) -> bytes:
    """The extra data block holding System.VolumeId = ``volume_guid``."""
    store = _storage(VOLUME_ID_FORMAT, _clsid_value(VOLUME_ID, volume_guid)) + b"\0\0\0\0"
    return struct.pack("<II", 8 + len(store), PROPERTY_STORE_SIGNATURE) + store
