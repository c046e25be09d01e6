# ruff: noqa: E501 -- SCHEMA_TEXT is the published schema file byte for byte, long lines included
"""The chain-of-custody record's JSON Schema, as the trainee's kernel validates a record before writing it.

``graders/schemas/chain_of_custody.schema.json`` is the published contract, but a lab's kernel sees only the
installed dflab package (a confined local lab binds in the package, the trainee image holds its wheel), never the
repository's ``graders/`` folder; so :func:`dflab.live.custody.close_case` reads this copy, and
tests/test_nocode_lab01.py holds its text equal to the published file.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_TEXT = r"""{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://dflab.example/schemas/chain_of_custody.schema.json",
  "title": "dflab chain-of-custody record",
  "description": "Who acquired which item, when, with what tool, its hash, and every hand-over since (ISO/IEC 27037 §5.2, ACPO principle 3).",
  "type": "object",
  "additionalProperties": false,
  "required": ["record_version", "case_id", "examiner", "created_utc", "tool", "hash_algorithm", "acquisition", "items", "transfers", "log"],
  "properties": {
    "record_version": {"const": 1},
    "case_id": {"$ref": "#/$defs/text"},
    "examiner": {"$ref": "#/$defs/text"},
    "created_utc": {"$ref": "#/$defs/utc"},
    "tool": {
      "type": "object",
      "additionalProperties": false,
      "required": ["name", "version"],
      "properties": {"name": {"$ref": "#/$defs/text"}, "version": {"$ref": "#/$defs/text"}}
    },
    "hash_algorithm": {"const": "SHA-256"},
    "acquisition": {
      "type": "object",
      "additionalProperties": false,
      "required": ["host", "started_utc", "ended_utc"],
      "properties": {
        "host": {"$ref": "#/$defs/text"},
        "started_utc": {"$ref": "#/$defs/utc"},
        "ended_utc": {"$ref": "#/$defs/utc"}
      }
    },
    "items": {
      "type": "array",
      "minItems": 1,
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["item_id", "seq", "description", "action", "source", "file", "sha256", "size_bytes", "acquired_utc", "acquired_by"],
        "properties": {
          "item_id": {"type": "string", "pattern": "^[A-Za-z0-9._-]+-[0-9]{3,}$"},
          "seq": {"type": "integer", "minimum": 1},
          "description": {"$ref": "#/$defs/text"},
          "action": {"$ref": "#/$defs/text"},
          "source": {"$ref": "#/$defs/text"},
          "file": {"$ref": "#/$defs/text"},
          "sha256": {"$ref": "#/$defs/sha256"},
          "size_bytes": {"type": "integer", "minimum": 0},
          "acquired_utc": {"$ref": "#/$defs/utc"},
          "acquired_by": {"$ref": "#/$defs/text"}
        }
      }
    },
    "transfers": {
      "type": "array",
      "items": {
        "type": "object",
        "additionalProperties": false,
        "required": ["utc", "from", "to", "purpose", "items"],
        "properties": {
          "utc": {"$ref": "#/$defs/utc"},
          "from": {"$ref": "#/$defs/text"},
          "to": {"$ref": "#/$defs/text"},
          "purpose": {"$ref": "#/$defs/text"},
          "items": {"type": "array", "minItems": 1, "uniqueItems": true, "items": {"type": "string"}}
        }
      }
    },
    "log": {
      "type": "object",
      "additionalProperties": false,
      "required": ["file", "sha256", "entries"],
      "properties": {
        "file": {"$ref": "#/$defs/text"},
        "sha256": {"$ref": "#/$defs/sha256"},
        "entries": {"type": "integer", "minimum": 1}
      }
    }
  },
  "$defs": {
    "text": {"type": "string", "minLength": 1},
    "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    "utc": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$"}
  }
}
"""
SCHEMA: dict[str, Any] = json.loads(SCHEMA_TEXT)
