"""Leaf entries: what a business transaction hands the sequencer through the outbox.

A leaf's canonical bytes (docs/ledger.md) carry, for each field, only a salted digest
H(field_salt || canonical(value)); the field salts derive from a random per-record salt kept in
the database. So the leaf data can be published and a holder of a proof bundle can check exactly
the fields disclosed to them. Since leaf version 2, a personal value enters the leaf as its keyed
digest under a key kept outside the database (`privacy.records.ledger_personal`), so not even a
database dump (salt + digest) lets anyone brute-force an ID number; callers pass it so.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from citycredit.ledger.suites import HashSuite, Suite, hash_suite
from citycredit.shared.canonical import canonical_bytes, json_value

LEAF_VERSION = 2  # 2: personal values committed as keyed digests (1: raw values)
REASON_FIELD = "__reason__"  # the withdrawal reason, committed like a field


def new_salt() -> bytes:
    """A fresh 16-byte record salt."""
    return secrets.token_bytes(16)


def field_salt(h: HashSuite, record_salt: bytes, code: str) -> bytes:
    """The salt of one field, derived from the record salt (disclosing it reveals no other)."""
    return h.hash(record_salt + b"\x00field\x00" + code.encode())[:16]


def field_digest(h: HashSuite, record_salt: bytes, code: str, value: Any) -> str:
    """Hex digest committing to one field value."""
    return h.hash(field_salt(h, record_salt, code) + canonical_bytes(json_value(value))).hex()


@dataclass(frozen=True)
class LedgerEntry:
    """A pending leaf: its canonical bytes and the salt behind them."""

    entry_type: str
    ref: str
    subject_id: str | None
    record_key: str | None
    data: bytes
    salt: bytes

    def as_payload(self) -> dict[str, Any]:
        """The JSON form carried in an outbox event's payload["ledger"]."""
        return {
            "type": self.entry_type,
            "ref": self.ref,
            "subject_id": self.subject_id,
            "record_key": self.record_key,
            "data": base64.b64encode(self.data).decode(),
            "salt": self.salt.hex(),
        }

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> LedgerEntry:
        """Rebuild an entry from an outbox payload."""
        return cls(
            p["type"],
            p["ref"],
            p.get("subject_id"),
            p.get("record_key"),
            base64.b64decode(p["data"]),
            bytes.fromhex(p["salt"]),
        )


def record_version_entry(
    suite: Suite | str,
    *,
    record_id: str,
    version: int,
    kind: str,
    item: str,
    subject_id: str,
    department_id: int,
    record_key: str,
    fields: Mapping[str, Any],
    at: datetime,
    reason: str | None = None,
    salt: bytes | None = None,
) -> LedgerEntry:
    """The leaf of one record version (original, correction or withdrawal)."""
    h = hash_suite(Suite(suite))
    salt = salt or new_salt()
    digests = {
        code: field_digest(h, salt, code, value)
        for code, value in fields.items()
        if value is not None
    }
    if reason is not None:
        digests[REASON_FIELD] = field_digest(h, salt, REASON_FIELD, reason)
    data = {
        "v": LEAF_VERSION,
        "type": "record.version",
        "ref": f"{record_id}/{version}",
        "record_id": record_id,
        "version": version,
        "kind": kind,
        "item": item,
        "subject_id": subject_id,
        "department_id": department_id,
        "record_key": record_key,
        "at": at.isoformat(),
        "fields": digests,
    }
    ref = f"{record_id}/{version}"
    return LedgerEntry("record.version", ref, subject_id, record_key, canonical_bytes(data), salt)


def workflow_entry(
    suite: Suite | str,
    *,
    entry_type: str,
    ref: str,
    subject_id: str | None,
    fields: Mapping[str, Any],
    at: datetime,
    salt: bytes | None = None,
) -> LedgerEntry:
    """The leaf of a workflow step (a listing decided, a commitment breached, a check made …).

    `ref` names the step uniquely (e.g. "m…/published"); `fields` are committed as salted
    digests exactly like a record version's, so personal values never enter the log.
    """
    h = hash_suite(Suite(suite))
    salt = salt or new_salt()
    digests = {k: field_digest(h, salt, k, v) for k, v in fields.items() if v is not None}
    data = {
        "v": LEAF_VERSION,
        "type": entry_type,
        "ref": ref,
        "subject_id": subject_id,
        "at": at.isoformat(),
        "fields": digests,
    }
    return LedgerEntry(entry_type, ref, subject_id, None, canonical_bytes(data), salt)


def disclose(
    suite: Suite | str, salt: bytes, fields: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Values and field salts of the fields a bundle reveals (the record salt stays secret)."""
    h = hash_suite(Suite(suite))
    return {
        code: {"value": json_value(v), "salt": field_salt(h, salt, code).hex()}
        for code, v in fields.items()
        if v is not None
    }


class DisclosureMismatch(ValueError):
    """A disclosed value does not match the digest committed in the leaf."""


def check_disclosed(
    suite: Suite | str, leaf_data: bytes, disclosed: Mapping[str, Mapping[str, Any]]
) -> None:
    """Every disclosed field must hash to the digest in the leaf's canonical bytes."""
    import json

    h = hash_suite(Suite(suite))
    digests = json.loads(leaf_data)["fields"]
    for code, d in disclosed.items():
        want = digests.get(code)
        got = h.hash(bytes.fromhex(d["salt"]) + canonical_bytes(d["value"])).hex()
        if want is None or got != want:
            raise DisclosureMismatch(f"字段 {code} 的公开值与数据链叶子中的摘要不符")
