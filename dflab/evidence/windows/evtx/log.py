"""An EVTX file: events in, the bytes Windows' event log service would have written out.

:class:`EventLog` collects events for one channel and :meth:`EventLog.to_bytes` lays them out: the 4 KiB
``ElfFile`` header (version 3.1, chunk count, next record id, CRC32, flags clean) and as many 64 KiB chunks as
the records need. Each event is a template instance shaped as Windows shapes it:

* a *manifest* provider (Security-Auditing, PowerShell) gets the 18-value ``System`` template: provider name and
  GUID, channel and the event's payload are substitutions 14-17, the computer name is literal;
* a provider written *in the template* (Eventlog's 1102, the Service Control Manager's 7045) gets the 20-value
  one: name, GUID, ``EventSourceName`` and channel literal, RelatedActivityID 18, payload 19.

The payload (``EventData`` or ``UserData``) is a second template nested as a BinXml value. Templates are
reused by every record of the same shape within a chunk. The same events always give the same bytes.
"""

from __future__ import annotations

import functools
import struct
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dflab.atomic import write_bytes
from dflab.errors import DflabError
from dflab.evidence.windows.evtx import values as v
from dflab.evidence.windows.evtx.binxml import Element, Instance, Sub, Template, Text
from dflab.evidence.windows.evtx.chunk import Chunk

FILE_MAGIC = b"ElfFile\0"
FILE_HEADER_SIZE = 128
FILE_HEADER_BLOCK = 4096
MAJOR_VERSION = 3
MINOR_VERSION = 1
EVENT_NAMESPACE = "http://schemas.microsoft.com/win/2004/08/events/event"

Field = tuple[str, v.Value]


@dataclass(frozen=True)
class Provider:
    """An event publisher. ``in_template``: Windows writes its name, GUID and channel literally (classic style)."""

    name: str
    guid: str | None
    event_source_name: str | None = None
    in_template: bool = False
    classic: bool = False
    """An NT event source (the EventLog service's 6005, 6006, 6009, 6013): a System without GUID, version, opcode,
    correlation or execution, and ``ClassicData`` as payload."""


@dataclass(frozen=True)
class EventData:
    """``<EventData><Data Name="…">`` fields in the order the provider's manifest declares them, and the
    ``<Binary>`` a classic-keyword event carries after them (the Service Control Manager's 7036: its service's key
    name and state); as in :class:`ClassicData`, the binary's length is a value between them, not shown."""

    fields: tuple[Field, ...]
    binary: bytes | None = None

    def template(self) -> Template:
        return _event_data_template(tuple((name, value.type) for name, value in self.fields), self.binary is not None)

    def values(self) -> tuple[v.Value, ...]:
        named = tuple(value for _, value in self.fields)
        if self.binary is None:
            return named
        return (*named, v.uint32(len(self.binary)), v.binary(self.binary))


@dataclass(frozen=True)
class ClassicData:
    """A classic event's ``<EventData><Data>`` (its insertion strings, an array) and ``<Binary>``; the value
    between them, the binary's length, is carried but not shown, as Windows writes it."""

    strings: tuple[str, ...] | None
    binary: bytes | None

    @property
    def fields(self) -> tuple[Field, ...]:
        return (("Data", v.null() if self.strings is None else v.string_array(self.strings)),
                ("Binary", v.null() if self.binary is None else v.binary(self.binary)))

    def template(self) -> Template:
        return _CLASSIC_DATA

    def values(self) -> tuple[v.Value, ...]:
        (_, strings), (_, binary) = self.fields
        return strings, v.uint32(len(self.binary or b"")), binary


@dataclass(frozen=True)
class UserData:
    """``<UserData><Element xmlns="…"><Field>…`` as providers with their own schema write it (1102's LogFileCleared)."""

    element: str
    namespace: str
    fields: tuple[Field, ...]

    def template(self) -> Template:
        return _user_data_template(self.element, self.namespace,
                                   tuple((name, value.type) for name, value in self.fields))

    def values(self) -> tuple[v.Value, ...]:
        return tuple(value for _, value in self.fields)


# Templates are built once per shape: the same object for every record of that shape, so its GUID (a hash of the
# whole shape) is computed once, not per record.
@functools.lru_cache(maxsize=1024)
def _event_data_template(fields: tuple[tuple[str, int], ...], binary: bool = False) -> Template:
    data = tuple(Element("Data", (("Name", Text(name)),), (Sub(index, kind, optional=False),))
                 for index, (name, kind) in enumerate(fields))
    if binary:
        data += (Element("Binary", children=(Sub(len(fields) + 1, v.BINARY),)),)
    return Template(Element("EventData", children=data))


_CLASSIC_DATA = Template(Element("EventData", children=(Element("Data", children=(Sub(0, v.STRING_ARRAY),)),
                                                       Element("Binary", children=(Sub(2, v.BINARY),)))))


@functools.lru_cache(maxsize=256)
def _user_data_template(element: str, namespace: str, fields: tuple[tuple[str, int], ...]) -> Template:
    return Template(Element(element, (("xmlns", Text(namespace)),), tuple(
        Element(name, children=(Sub(index, kind, optional=False),)) for index, (name, kind) in enumerate(fields))))


@dataclass(frozen=True)
class Event:
    """One event's header facts (the ``System`` element) and its payload."""

    provider: Provider
    event_id: int
    version: int
    level: int
    task: int
    opcode: int
    keywords: int
    time: datetime
    payload: EventData | UserData | ClassicData
    computer: str
    user_sid: str | None
    process_id: int
    thread_id: int
    qualifiers: int | None = None
    activity_id: str | None = None


@functools.lru_cache(maxsize=256)
def _system_template(provider: Provider, channel: str, computer: str, user_data: bool) -> Template:
    if provider.classic:
        return _classic_system_template(provider, channel, computer)
    if provider.in_template:
        names: tuple = (("Name", Text(provider.name)), ("Guid", Text("{" + str(uuid.UUID(provider.guid)) + "}")))
        if provider.event_source_name is not None:
            names += (("EventSourceName", Text(provider.event_source_name)),)
        related, channel_content, payload_index = Sub(18, v.GUID_TYPE), Text(channel), 19
    else:
        names = (("Name", Sub(14, v.STRING)), ("Guid", Sub(15, v.GUID_TYPE)))
        related, channel_content, payload_index = Sub(13, v.GUID_TYPE), Sub(16, v.STRING), 17
    payload: Element | Sub = Sub(payload_index, v.BINXML)
    if user_data:
        payload = Element("UserData", children=(payload,))
    system = Element("System", children=(
        Element("Provider", names),
        Element("EventID", (("Qualifiers", Sub(4, v.UINT16)),), (Sub(3, v.UINT16),)),
        Element("Version", children=(Sub(11, v.UINT8),)),
        Element("Level", children=(Sub(0, v.UINT8),)),
        Element("Task", children=(Sub(2, v.UINT16),)),
        Element("Opcode", children=(Sub(1, v.UINT8),)),
        Element("Keywords", children=(Sub(5, v.HEX_INT64),)),
        Element("TimeCreated", (("SystemTime", Sub(6, v.FILETIME_TYPE)),)),
        Element("EventRecordID", children=(Sub(10, v.UINT64),)),
        Element("Correlation", (("ActivityID", Sub(7, v.GUID_TYPE)), ("RelatedActivityID", related))),
        Element("Execution", (("ProcessID", Sub(8, v.UINT32)), ("ThreadID", Sub(9, v.UINT32)))),
        Element("Channel", children=(channel_content,)),
        Element("Computer", children=(Text(computer),)),
        Element("Security", (("UserID", Sub(12, v.SID_TYPE)),)),
    ))
    return Template(Element("Event", (("xmlns", Text(EVENT_NAMESPACE)),), (system, payload)))


def _classic_system_template(provider: Provider, channel: str, computer: str) -> Template:
    """The NT event source's System, as the real 6005/6009 carry it (python-evtx's template view of them)."""
    system = Element("System", children=(
        Element("Provider", (("Name", Text(provider.name)),)),
        Element("EventID", (("Qualifiers", Sub(4, v.UINT16)),), (Sub(3, v.UINT16),)),
        Element("Level", children=(Sub(0, v.UINT8),)),
        Element("Task", children=(Sub(2, v.UINT16),)),
        Element("Keywords", children=(Sub(5, v.HEX_INT64),)),
        Element("TimeCreated", (("SystemTime", Sub(6, v.FILETIME_TYPE)),)),
        Element("EventRecordID", children=(Sub(10, v.UINT64),)),
        Element("Channel", children=(Text(channel),)),
        Element("Computer", children=(Text(computer),)),
        Element("Security", (("UserID", Sub(12, v.SID_TYPE)),)),
    ))
    return Template(Element("Event", (("xmlns", Text(EVENT_NAMESPACE)),), (system, Sub(19, v.BINXML))))


def _instance(event: Event, channel: str, record_id: int) -> Instance:
    payload = Instance(event.payload.template(), event.payload.values())
    common = [
        v.uint8(event.level), v.uint8(event.opcode), v.uint16(event.task), v.uint16(event.event_id),
        v.null() if event.qualifiers is None else v.uint16(event.qualifiers), v.hex_int64(event.keywords),
        v.filetime_value(event.time), v.null() if event.activity_id is None else v.guid(event.activity_id),
        v.uint32(event.process_id), v.uint32(event.thread_id), v.uint64(record_id), v.uint8(event.version),
        v.null() if event.user_sid is None else v.sid(event.user_sid),
    ]
    if event.provider.in_template or event.provider.classic:
        rest: list = [v.null()] * 5 + [v.null(), payload]
    else:
        rest = [v.null(), v.string(event.provider.name), v.guid(event.provider.guid), v.string(channel), payload]
    system = _system_template(event.provider, channel, event.computer, isinstance(event.payload, UserData))
    return Instance(system, tuple(common + rest))


@dataclass
class EventLog:
    """The events of one channel (``Security``, ``System``, ``Microsoft-Windows-PowerShell/Operational``)."""

    channel: str
    first_record_id: int = 1
    events: list[Event] = field(default_factory=list)

    def event(self, provider: Provider, event_id: int, *, version: int, level: int, task: int, opcode: int,
              keywords: int, time: datetime, payload: EventData | UserData | ClassicData, computer: str,
              user_sid: str | None,
              process_id: int, thread_id: int, qualifiers: int | None = None,
              activity_id: str | None = None) -> int:
        """Append an event; returns its record id (EventRecordID), the next in this log."""
        self.events.append(Event(provider, event_id, version, level, task, opcode, keywords, time, payload,
                                 computer, user_sid, process_id, thread_id, qualifiers, activity_id))
        return self.first_record_id + len(self.events) - 1

    def to_bytes(self) -> bytes:
        """The whole file: the header block, then one 64 KiB chunk per run of records that fits in one."""
        chunks: list[Chunk] = []
        for ordinal, event in enumerate(self.events):
            record_id = self.first_record_id + ordinal
            try:
                instance = _instance(event, self.channel, record_id)
            except ValueError as exc:
                raise DflabError(str(exc), f"{self.channel}: event record {record_id}") from exc
            if not chunks or not chunks[-1].add(record_id, event.time, instance):
                chunks.append(Chunk(first_number=ordinal + 1))
                chunks[-1].add(record_id, event.time, instance)
        if len(chunks) > 0xFFFF:
            raise DflabError(f"{len(chunks)} chunks: more than an EVTX header counts", self.channel)
        header = bytearray(FILE_HEADER_BLOCK)
        struct.pack_into("<8sQQQIHHHH", header, 0, FILE_MAGIC, 0, max(len(chunks) - 1, 0),
                         self.first_record_id + len(self.events), FILE_HEADER_SIZE, MINOR_VERSION, MAJOR_VERSION,
                         FILE_HEADER_BLOCK, len(chunks))
        struct.pack_into("<I", header, 120, 0)  # flags: clean (not dirty, not full)
        struct.pack_into("<I", header, 124, zlib.crc32(header[:120]))
        return bytes(header) + b"".join(chunk.to_bytes() for chunk in chunks)

    def write(self, path: Path) -> int:
        """Write the file atomically; returns its size."""
        data = self.to_bytes()
        write_bytes(path, data)
        return len(data)
