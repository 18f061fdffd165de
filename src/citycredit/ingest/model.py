"""Pure intake rules: receipts, record keys, canonical content."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from citycredit.shared.canonical import canonical_bytes, json_value

__all__ = ["Counts", "Reason", "RowOutcome", "canonical_bytes", "json_value", "record_key"]


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


def record_key(item_code: str, subject_id: str, key_values: tuple[object, ...]) -> tuple[str, str]:
    """The stable key of a record: item + subject + the item's key fields (hash, readable text)."""
    parts = [item_code, subject_id, *("" if v is None else str(json_value(v)) for v in key_values)]
    text = "|".join(parts)
    return hashlib.sha256(text.encode()).hexdigest(), text[:400]
