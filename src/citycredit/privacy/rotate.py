"""Key rotation: re-seal every stored personal value with the newest key, in resumable batches.

Rows written before encryption existed (plain JSON) are sealed on the way: a record version's
fields are re-split (a natural person's address moves into the sealed part), its content hash
becomes keyed and its blind index is written; a quarantined row's reasons lose their quoted
values. Each batch is its own transaction and selects only rows not yet under the newest key, so
an interrupted run is resumed by running it again. Nothing here needs a principal: it is the
server's own maintenance (CLI), and no clear value leaves this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select, text
from sqlalchemy.orm import Session

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.catalog.model import CatalogItem
from citycredit.db.durability import forget_deleted_pages
from citycredit.ingest.db import RecordRow, RecordVersionRow, RejectRow, UnresolvedRow
from citycredit.kernel.db import OutboxEventRow
from citycredit.privacy.access import Purpose, check_purpose
from citycredit.privacy.db import PersonalIndexRow
from citycredit.privacy.index import write_index
from citycredit.privacy.records import (
    content_digest,
    is_sealed_field,
    reject_aad,
    unresolved_aad,
    version_aad,
)
from citycredit.shared.personal import PersonalCodec, PersonalDataError, is_sealed
from citycredit.subjects.db import SubjectRow

BATCH = 500
PERSON_TYPES = ("natural_person", "farm_household")
TABLES = ("record_versions", "rejects", "unresolved")


@dataclass
class TableCounts:
    """What rotation did to one table."""

    resealed: int = 0  # sealed with an older key, now with the newest
    sealed_plaintext: int = 0  # legacy clear rows, now sealed
    failed: list[str] = field(default_factory=list)  # rows that could not be opened


@dataclass
class RotationReport:
    key_id: str
    tables: dict[str, TableCounts] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(t.failed for t in self.tables.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "ok": self.ok,
            "tables": {k: asdict(v) for k, v in self.tables.items()},
        }


def _stale(column: Any, kid: str) -> ColumnElement[bool]:
    """Rows of a JSON column not sealed with key `kid` (plaintext has no "enc"; the empty
    marker has no "kid", so the comparison is NULL and it is never selected)."""
    return or_(column["enc"].as_string().is_(None), column["kid"].as_string() != kid)


def key_usage(c: Container) -> dict[str, dict[str, int]]:
    """Per table: values per key id, "empty" markers (no personal value) and "plaintext" rows."""
    out: dict[str, dict[str, int]] = {}
    for name, col in _columns().items():
        kid = case(
            (col["enc"].as_string().is_(None), "plaintext"),
            else_=func.coalesce(col["kid"].as_string(), "empty"),
        )
        with c.uow() as uow:
            rows = uow.session.execute(select(kid, func.count()).group_by(kid))
            out[name] = {str(k): int(n) for k, n in rows}
    return out


def _columns() -> dict[str, Any]:
    return {
        "record_versions": RecordVersionRow.personal,
        "rejects": RejectRow.raw,
        "unresolved": UnresolvedRow.values,
    }


def rotate(
    c: Container,
    *,
    batch: int = BATCH,
    limit: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> RotationReport:
    """Re-seal every stored value not sealed with the newest key; `limit` caps rows per table."""
    check_purpose(SYSTEM, Purpose.processing)
    codec = c.personal_codec
    report = RotationReport(codec.key_id)
    for name, step in (
        ("record_versions", _versions_batch),
        ("rejects", _rejects_batch),
        ("unresolved", _unresolved_batch),
    ):
        counts = report.tables.setdefault(name, TableCounts())
        last, done = 0, 0
        while limit is None or done < limit:
            size = batch if limit is None else min(batch, limit - done)
            with c.uow() as uow:
                if c.settings.is_sqlite:
                    # Overwrite the space a replaced clear value occupied (G36: no plaintext
                    # left in free pages); per connection, so set on each batch's connection.
                    uow.session.execute(text("PRAGMA secure_delete=ON"))
                n, last = step(c, uow.session, codec, last, size, counts)
                uow.commit()
            done += n
            if progress:
                progress(name, done)
            if n < size:
                break
    forget_deleted_pages(c.engine)  # old page images leave the WAL file too
    return report


def _versions_batch(
    c: Container, s: Session, codec: PersonalCodec, after: int, size: int, counts: TableCounts
) -> tuple[int, int]:
    rows = s.execute(
        select(RecordVersionRow, RecordRow.item_code, SubjectRow.subject_type)
        .join(RecordRow, RecordRow.id == RecordVersionRow.record_id)
        .join(SubjectRow, SubjectRow.subject_id == RecordRow.subject_id)
        .where(RecordVersionRow.id > after, _stale(RecordVersionRow.personal, codec.key_id))
        .order_by(RecordVersionRow.id)
        .limit(size)
    ).all()
    rehashed: dict[tuple[str, int], str] = {}
    for v, item_code, subject_type in rows:
        aad = version_aad(v.record_id, v.version)
        if is_sealed(v.personal):
            try:
                v.personal = codec.seal(codec.open(v.personal, aad=aad), aad=aad)
                counts.resealed += 1
            except PersonalDataError as e:  # reported per row; rotation goes on
                counts.failed.append(f"{aad}: {e}")
            continue
        item = c.catalog.items.get(item_code)
        payload, personal = _resplit(item, v.payload or {}, v.personal or {}, subject_type)
        v.payload = payload
        v.personal = codec.seal(personal, aad=aad)
        if v.kind != "withdrawal":
            v.content_hash = content_digest(codec, payload, personal)
            rehashed[(v.record_id, v.version)] = v.content_hash
            if item is not None:
                write_index(s, codec, item, v.record_id, v.version, personal, replace=True)
        counts.sealed_plaintext += 1
    _fix_outbox_hashes(s, rehashed)
    return len(rows), rows[-1][0].id if rows else after


def _resplit(
    item: CatalogItem | None,
    payload: Mapping[str, Any],
    personal: Mapping[str, Any],
    subject_type: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Today's split of a legacy version's values (fields the catalog no longer has stay put)."""
    if item is None:
        return dict(payload), dict(personal)
    values = {**payload, **personal}
    out_payload: dict[str, Any] = {}
    out_personal: dict[str, Any] = dict(personal)
    for code, value in payload.items():
        if code in item.codes and is_sealed_field(
            item, item.field(code), values, natural_person=subject_type in PERSON_TYPES
        ):
            out_personal[code] = value
        else:
            out_payload[code] = value
    return out_payload, out_personal


def _fix_outbox_hashes(s: Session, rehashed: dict[tuple[str, int], str]) -> None:
    """Events of re-hashed versions carry the new (keyed) content hash, not the plain one."""
    if not rehashed:
        return
    ids = sorted({rid for rid, _ in rehashed})
    for ev in s.scalars(
        select(OutboxEventRow).where(
            OutboxEventRow.aggregate_type == "record", OutboxEventRow.aggregate_id.in_(ids)
        )
    ):
        p = ev.payload or {}
        new = rehashed.get((ev.aggregate_id, p.get("version")))  # type: ignore[arg-type]
        if new is not None and "content_hash" in p and p["content_hash"] != new:
            ev.payload = {**p, "content_hash": new}


def _rejects_batch(
    c: Container, s: Session, codec: PersonalCodec, after: int, size: int, counts: TableCounts
) -> tuple[int, int]:
    rows = list(
        s.scalars(
            select(RejectRow)
            .where(RejectRow.id > after, _stale(RejectRow.raw, codec.key_id))
            .order_by(RejectRow.id)
            .limit(size)
        )
    )
    for r in rows:
        aad = reject_aad(r.submission_id, r.row_number)
        if is_sealed(r.raw):
            try:
                r.raw = codec.seal(codec.open(r.raw, aad=aad), aad=aad)
                counts.resealed += 1
            except PersonalDataError as e:  # reported per row; rotation goes on
                counts.failed.append(f"{aad}: {e}")
            continue
        reasons = list(r.reasons or [])
        r.raw = codec.seal({"raw": dict(r.raw or {}), "reasons": reasons}, aad=aad)
        r.reasons = [{"field": x.get("field"), "code": x.get("code")} for x in reasons]
        counts.sealed_plaintext += 1
    return len(rows), rows[-1].id if rows else after


def _unresolved_batch(
    c: Container, s: Session, codec: PersonalCodec, after: int, size: int, counts: TableCounts
) -> tuple[int, int]:
    rows = list(
        s.scalars(
            select(UnresolvedRow)
            .where(UnresolvedRow.id > after, _stale(UnresolvedRow.values, codec.key_id))
            .order_by(UnresolvedRow.id)
            .limit(size)
        )
    )
    for u in rows:
        aad = unresolved_aad(u.submission_id, u.row_number)
        was_sealed = is_sealed(u.values)
        try:
            u.values = codec.seal(codec.open(u.values, aad=aad), aad=aad)
        except PersonalDataError as e:  # reported per row; rotation goes on
            counts.failed.append(f"{aad}: {e}")
            continue
        if was_sealed:
            counts.resealed += 1
        else:
            counts.sealed_plaintext += 1
    return len(rows), rows[-1].id if rows else after


def reindex(c: Container, *, batch: int = BATCH, codec: PersonalCodec | None = None) -> int:
    """Rebuild the blind index of every record version (after an index-key change, or for
    versions written by a path that did not index them). Returns the number of index rows.

    `codec`: a ring checked for its data keys only (`crypto reindex` after an index-key change,
    which `Container.personal_codec` refuses as not matching the index in the database)."""
    check_purpose(SYSTEM, Purpose.processing)
    codec = codec or c.personal_codec
    last, total = 0, 0
    while True:
        with c.uow() as uow:
            s = uow.session
            rows = s.execute(
                select(RecordVersionRow, RecordRow.item_code)
                .join(RecordRow, RecordRow.id == RecordVersionRow.record_id)
                .where(RecordVersionRow.id > last, RecordVersionRow.kind != "withdrawal")
                .order_by(RecordVersionRow.id)
                .limit(batch)
            ).all()
            for v, item_code in rows:
                item = c.catalog.items.get(item_code)
                if item is None:
                    continue
                clear = codec.open(v.personal, aad=version_aad(v.record_id, v.version))
                total += write_index(s, codec, item, v.record_id, v.version, clear, replace=True)
            uow.commit()
        if len(rows) < batch:
            return total
        last = rows[-1][0].id


def retire_check(c: Container, kid: str) -> dict[str, int]:
    """How many stored values still need key `kid` (all zero: it can leave the ring)."""
    usage = key_usage(c)
    return {table: counts.get(kid, 0) for table, counts in usage.items()}


def index_stats(c: Container) -> dict[str, int]:
    """Blind-index rows per index key id."""
    with c.uow() as uow:
        rows = uow.session.execute(
            select(PersonalIndexRow.index_kid, func.count()).group_by(PersonalIndexRow.index_kid)
        )
        return {str(k): int(n) for k, n in rows}


__all__ = [
    "TABLES",
    "RotationReport",
    "index_stats",
    "key_usage",
    "reindex",
    "retire_check",
    "rotate",
]
