"""The platform's one deterministic encoding: canonical JSON bytes (docs/ledger.md §Encoding).

Sorted keys, no insignificant whitespace, UTF-8 without escaping, values made JSON-safe first
(dates ISO 8601, decimals as plain strings). Content hashes and ledger leaves hash these bytes.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def json_value(value: Any) -> Any:
    """A JSON-safe form of a parsed field value (dates ISO, money as a decimal string)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, tuple | list):
        return [json_value(v) for v in value]
    return value


def canonical_bytes(obj: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
