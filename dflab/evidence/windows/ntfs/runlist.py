"""Mapping pairs: the compressed runlist of a non-resident attribute.

Each run is a header byte (size of the offset field << 4 | size of the length field), the length in clusters and
the LCN as a signed delta from the previous run's; a sparse run has no offset field. Field sizes are the smallest
that hold the value as a signed little-endian integer, as Windows writes them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    """``length`` clusters at ``lcn``, or a hole when ``lcn`` is None (a sparse run)."""

    lcn: int | None
    length: int


def _signed(value: int) -> bytes:
    size = 1
    while not -(1 << (8 * size - 1)) <= value < 1 << (8 * size - 1):
        size += 1
    return value.to_bytes(size, "little", signed=True)


def encode(runs: list[Run]) -> bytes:
    """The mapping pairs of ``runs``, terminated by a zero byte."""
    out = bytearray()
    previous = 0
    for run in runs:
        length = _signed(run.length)
        if run.lcn is None:
            out += bytes([len(length)]) + length
            continue
        offset = _signed(run.lcn - previous)
        previous = run.lcn
        out += bytes([len(offset) << 4 | len(length)]) + length + offset
    return bytes(out + b"\0")
