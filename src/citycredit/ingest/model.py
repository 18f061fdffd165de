"""Pure intake rules: receipts, record keys, canonical content."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any


@dataclass
class Counts:
    """Receipt counters; the invariant received = new + corrected + duplicate + rejected holds."""

    received: int = 0
    new: int = 0
    corrected: int = 0
    duplicate: int = 0
    rejected: int = 0
    unresolved: int = 0  # subset of rejected: valid rows whose subject could not be identified

    @property
    def balanced(self) -> bool:
        return self.received == self.new + self.corrected + self.duplicate + self.rejected


@dataclass(frozen=True)
class Reason:
    """Why one field of a row was quarantined."""

    field: str
    value: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "value": self.value,
            "code": self.code,
            "message": self.message,
        }


@dataclass
class RowOutcome:
    """What happened to one source row."""

    outcome: str  # new | corrected | duplicate | rejected
    reasons: list[Reason] = field(default_factory=list)
    record_id: str | None = None


def json_value(value: Any) -> Any:
    """A JSON-safe form of a parsed field value (dates ISO, money as a decimal string)."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, tuple | list):
        return [json_value(v) for v in value]
    return value


def canonical_bytes(obj: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no spaces, UTF-8 (used for content hashes)."""
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def record_key(item_code: str, subject_id: str, key_values: tuple[object, ...]) -> tuple[str, str]:
    """The stable key of a record: item + subject + the item's key fields (hash, readable text)."""
    parts = [item_code, subject_id, *("" if v is None else str(json_value(v)) for v in key_values)]
    text = "|".join(parts)
    return hashlib.sha256(text.encode()).hexdigest(), text[:400]
