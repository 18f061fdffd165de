"""Writing the blind index of a record version (intake, rotation, re-indexing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from citycredit.catalog.model import CatalogItem
from citycredit.privacy.db import PersonalIndexRow
from citycredit.privacy.records import index_entries
from citycredit.shared.personal import PersonalCodec


def index_rows(
    codec: PersonalCodec,
    item: CatalogItem,
    record_id: str,
    version: int,
    personal: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Rows of personal_index for one version's clear personal fields (for bulk inserts)."""
    return [
        {
            "kind": kind,
            "digest": digest,
            "index_kid": codec.keyring.index_kid,
            "record_id": record_id,
            "version": version,
            "field": code,
        }
        for code, kind, digest in index_entries(codec, item, personal)
    ]


def write_index(
    s: Session,
    codec: PersonalCodec,
    item: CatalogItem,
    record_id: str,
    version: int,
    personal: Mapping[str, Any],
    *,
    replace: bool = False,
) -> int:
    """Add (or, with replace, rewrite) the blind-index rows of one version; returns how many."""
    if replace:
        s.execute(
            delete(PersonalIndexRow).where(
                PersonalIndexRow.record_id == record_id, PersonalIndexRow.version == version
            )
        )
    rows = index_rows(codec, item, record_id, version, personal)
    for r in rows:
        s.add(PersonalIndexRow(**r))
    return len(rows)
