"""The volatility3 ISF (intermediate symbol format) document of a generated kernel.

volatility3 indexes every ISF on its symbol path by the decoded
``linux_banner`` constant and caches that index by file name for days, so
each variant's ISF is named after a hash of its banner: two variants can
share one symbols directory and one cache without being mixed up.
"""

from __future__ import annotations

import base64
import hashlib
import json

from dflab.evidence.memory.cstruct import TypeTable

ISF_FORMAT = "6.2.0"  # validated by volatility3/schemas/schema-6.2.0.json
# volatility3 gates plugins on the producer: hidden_modules refuses an ISF unless dwarf2json >= 0.8.0 made it,
# kmsg unless > 0.4.1.  The document has dwarf2json 0.9's layout, so it says so, and names dflab as what wrote it.
PRODUCER = {"name": "dwarf2json", "version": "0.9.0", "generator": "dflab 0.1.0"}


def isf_name(banner: str) -> str:
    """File name of the ISF for ``banner`` (unique per banner)."""
    return f"dflab-{hashlib.sha256(banner.encode()).hexdigest()[:24]}.json"


def isf_document(types: TypeTable, symbols: dict[str, dict[str, object]]) -> dict[str, object]:
    """The ISF as a JSON-ready dict; ``constant_data`` bytes are base64-encoded."""
    base_types, user_types, enums = types.isf_types()
    out_symbols: dict[str, object] = {}
    for name in sorted(symbols):
        entry = dict(symbols[name])
        constant = entry.get("constant_data")
        if isinstance(constant, bytes):
            entry["constant_data"] = base64.b64encode(constant).decode()
        out_symbols[name] = entry
    return {
        "metadata": {"format": ISF_FORMAT, "producer": dict(PRODUCER), "linux": {}},
        "base_types": base_types,
        "user_types": user_types,
        "enums": enums,
        "symbols": out_symbols,
    }


def isf_bytes(document: dict[str, object]) -> bytes:
    """Canonical serialisation (sorted keys), so equal documents give equal files."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
