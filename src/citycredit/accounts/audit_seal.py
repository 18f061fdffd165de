"""Sealing the operator audit trail into the 信用数据链, and verifying it (security goal G11).

Audit events are inserted by many transactions at once, some long, so ids can commit out of
order: nothing is chained at insert time. Sealing (`seal_audit`: the `audit_seal` job and
`citycredit audit seal`) takes every committed, not yet sealed event in id order, hashes each
row over a canonical encoding of all its columns (the ledger suite's hash: SM3 or SHA-256),
stores one `audit_seal_items` row per event and one `audit_seals` row per batch — the digest of
its (event id, time, row hash) list, chained to the previous seal's digest — and, in the same
transaction, hands the sequencer an ``audit.seal`` leaf committing to the seal (digests and ids
only: no personal data enters the log). An event whose id is below an earlier seal's last id
(it committed late) is simply sealed by the next batch: items list ids exactly.

`verify_audit` (`citycredit audit verify`) recomputes every sealed row's hash, every seal's
items digest, digest and chain, and compares every seal with its ledger leaf (or the pending
entry the sequencer has not integrated yet). It reports, with the first bad event id and seal
id: edited events, deleted events (an item whose event is gone, unless a recorded retention
purge deleted exactly that id and the event was older than its cutoff), changed or deleted
items, changed or missing seals, a broken chain, seals without a leaf, and events older than
`security.audit_seal_grace_minutes` still unsealed. Everything is read in one snapshot.
"""

from __future__ import annotations

import base64
import json
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, exists, func, select, text
from sqlalchemy.orm import Session

from citycredit.accounts.db import AuditEventRow, AuditPurgeRow, AuditSealItemRow, AuditSealRow
from citycredit.accounts.model import SYSTEM, Permission, Principal, require
from citycredit.bootstrap import Container
from citycredit.db.sql import one_of
from citycredit.kernel import outbox
from citycredit.kernel.db import OutboxEventRow
from citycredit.ledger.db import LedgerLeafRow
from citycredit.ledger.entries import field_digest, workflow_entry
from citycredit.ledger.merkle import leaf_hash
from citycredit.ledger.suites import SHA256, SM3, HashSuite, Suite, hash_suite
from citycredit.shared.canonical import canonical_bytes, json_value
from citycredit.shared.errors import FieldError

ENTRY_TYPE = "audit.seal"  # the ledger leaf type of a seal
AGGREGATE = "audit_seal"  # outbox aggregate type (aggregate id: the seal id)
SEAL_BATCH = 5000  # events per seal (one transaction and one leaf each)
# Late-committed events (ids below the highest sealed id) are looked for this far back; an
# older one is found by `seal_audit(full=True)` (`citycredit audit seal --full`) and reported
# by verify meanwhile.
LOOKBACK = timedelta(days=1)
CHUNK = 1000  # ids per IN (...) query
MAX_LISTED = 200
_PG_LOCK = 0x43435F4155444954  # pg_advisory_xact_lock key: one sealer at a time ("CC_AUDIT")
_ROW_TAG = b"citycredit/audit-event/1\x00"
_ITEMS_TAG = b"citycredit/audit-items/1\x00"
_SEAL_TAG = b"citycredit/audit-seal/1\x00"
_HASHES: dict[str, HashSuite] = {SHA256.name: SHA256, SM3.name: SM3}

EVENTS = cast(Table, AuditEventRow.__table__)
ITEMS = cast(Table, AuditSealItemRow.__table__)
SEALS = cast(Table, AuditSealRow.__table__)
FIELDS = ("digest", "seal_id", "count", "first_event_id", "last_event_id")


# -- the hashes ---------------------------------------------------------------------------------


def row_hash(h: HashSuite, row: Mapping[Any, Any]) -> str:
    """Hash of one audit event over a canonical encoding of all its columns."""
    values = {col.key: json_value(row[col.key]) for col in EVENTS.columns}
    return h.hash(_ROW_TAG + canonical_bytes(values)).hex()


def items_digest(h: HashSuite, items: Iterable[tuple[int, datetime, str]]) -> str:
    """Hash over a seal's (event id, event time, row hash) list, in event id order."""
    listed = [[eid, at.isoformat(), rh] for eid, at, rh in sorted(items, key=lambda i: i[0])]
    return h.hash(_ITEMS_TAG + canonical_bytes(listed)).hex()


def seal_digest(h: HashSuite, seal: Mapping[Any, Any]) -> str:
    """A seal's digest: its ids, count, time, items digest and the previous seal's digest."""
    body = {
        "id": seal["id"],
        "sealed_at": seal["sealed_at"].isoformat(),
        "suite": seal["suite"],
        "first_event_id": seal["first_event_id"],
        "last_event_id": seal["last_event_id"],
        "count": seal["count"],
        "items_digest": seal["items_digest"],
        "prev_digest": seal["prev_digest"] or "",
    }
    return h.hash(_SEAL_TAG + canonical_bytes(body)).hex()


def leaf_ref(seal_id: int) -> str:
    """The ledger ref of a seal's leaf."""
    return f"audit-seal/{seal_id}"


def _leaf_fields(seal: Mapping[Any, Any]) -> dict[str, Any]:
    return {k: seal["id"] if k == "seal_id" else seal[k] for k in FIELDS}


# -- sealing ------------------------------------------------------------------------------------


def _unsealed(s: Session, now: datetime, *, full: bool, limit: int) -> list[Any]:
    """Committed events with no seal item, in id order (at most `limit`)."""
    top = s.scalar(select(func.max(ITEMS.c.event_id)))
    if top is None:
        return list(s.execute(select(EVENTS).order_by(EVENTS.c.id).limit(limit)))
    above = select(EVENTS).where(EVENTS.c.id > top).order_by(EVENTS.c.id).limit(limit)
    late = select(EVENTS).where(
        EVENTS.c.id <= top, ~exists().where(ITEMS.c.event_id == EVENTS.c.id)
    )
    if not full:
        late = late.where(EVENTS.c.at >= now - LOOKBACK)
    rows = list(s.execute(late.order_by(EVENTS.c.id).limit(limit)))
    rows += list(s.execute(above))
    return rows[:limit]


def _seal_batch(c: Container, *, full: bool, batch: int) -> dict[str, Any] | None:
    """One seal of the next unsealed events, with its leaf, in one transaction (None: none)."""
    suite = Suite(c.settings.ledger_suite)
    h = hash_suite(suite)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        rows = _unsealed(s, now, full=full, limit=batch)
        if not rows:
            uow.finish_read()
            return None
        prev = s.execute(select(SEALS).order_by(SEALS.c.id.desc()).limit(1)).first()
        items = [(r.id, r.at, row_hash(h, r._mapping)) for r in rows]
        seal: dict[str, Any] = {
            "id": (prev.id + 1) if prev is not None else 1,
            "sealed_at": now,
            "suite": h.name,
            "first_event_id": min(i[0] for i in items),
            "last_event_id": max(i[0] for i in items),
            "count": len(items),
            "items_digest": items_digest(h, items),
            "prev_digest": prev.digest if prev is not None else None,
        }
        seal["digest"] = seal_digest(h, seal)
        s.execute(SEALS.insert(), [seal])
        s.execute(
            ITEMS.insert(),
            [
                {"event_id": eid, "seal_id": seal["id"], "event_at": at, "row_hash": rh}
                for eid, at, rh in items
            ],
        )
        entry = workflow_entry(
            suite,
            entry_type=ENTRY_TYPE,
            ref=leaf_ref(seal["id"]),
            subject_id=None,
            fields=_leaf_fields(seal),
            at=now,
        )
        outbox.emit(
            s,
            event_type=ENTRY_TYPE,
            aggregate_type=AGGREGATE,
            aggregate_id=str(seal["id"]),
            payload={"ledger": entry.as_payload()},
            at=now,
        )
        uow.commit()
    return seal


def seal_audit(
    c: Container, actor: Principal = SYSTEM, *, full: bool = False, batch: int = SEAL_BATCH
) -> dict[str, Any]:
    """Seal every committed, unsealed audit event (in batches of `batch`, one seal each).

    `full` also looks for unsealed events older than LOOKBACK below the highest sealed id (a
    scan of the whole trail). Safe to run concurrently: sealers take turns (PostgreSQL advisory
    lock); running it again with nothing new does nothing."""
    require(actor, Permission.configure_system)
    if batch < 1:
        raise FieldError("batch", str(batch), "out_of_range", "batch 必须是正整数")
    seals: list[dict[str, Any]] = []
    while (seal := _seal_batch(c, full=full, batch=batch)) is not None:
        seals.append(seal)
    return {
        "seals": len(seals),
        "events": sum(x["count"] for x in seals),
        "seal_ids": [x["id"] for x in seals],
        "last_digest": seals[-1]["digest"] if seals else None,
    }


# -- verification -------------------------------------------------------------------------------


@dataclass
class AuditVerifyReport:
    """What `audit verify` found. Lists hold at most MAX_LISTED ids each (the first ones)."""

    events: int = 0  # audit events present
    seals: int = 0
    sealed: int = 0  # seal items
    purged: int = 0  # items whose event a recorded purge deleted
    pending_leaves: int = 0  # seals whose leaf is still in the outbox (within the grace period)
    edited_events: list[int] = field(default_factory=list)  # row hash no longer matches
    deleted_events: list[int] = field(default_factory=list)  # sealed, gone, not purged
    unsealed_events: list[int] = field(default_factory=list)  # older than the grace period
    changed_items: list[int] = field(default_factory=list)  # seal ids: items ≠ items digest
    changed_seals: list[int] = field(default_factory=list)  # seal ids: digest ≠ recomputed
    broken_chain: list[int] = field(default_factory=list)  # seal ids: prev ≠ previous digest
    missing_seals: list[int] = field(default_factory=list)  # seal ids gone (gap, items, leaf)
    leaf_mismatch: list[int] = field(default_factory=list)  # seal ids: leaf ≠ seal
    without_leaf: list[int] = field(default_factory=list)  # seal ids with no leaf
    first_bad_event_id: int | None = None
    first_bad_seal_id: int | None = None

    @property
    def ok(self) -> bool:
        return not any(
            (
                self.edited_events,
                self.deleted_events,
                self.unsealed_events,
                self.changed_items,
                self.changed_seals,
                self.broken_chain,
                self.missing_seals,
                self.leaf_mismatch,
                self.without_leaf,
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def event(self, kind: list[int], event_id: int) -> None:
        _add(kind, event_id)
        if self.first_bad_event_id is None or event_id < self.first_bad_event_id:
            self.first_bad_event_id = event_id

    def seal(self, kind: list[int], seal_id: int) -> None:
        _add(kind, seal_id)
        if self.first_bad_seal_id is None or seal_id < self.first_bad_seal_id:
            self.first_bad_seal_id = seal_id


def _add(kind: list[int], value: int) -> None:
    if value not in kind and len(kind) < MAX_LISTED:
        kind.append(value)
        kind.sort()


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


class _Purges:
    """The recorded retention purges: which ids each deleted, and its cutoff."""

    def __init__(self, conn: Connection) -> None:
        spans: list[tuple[int, int, datetime]] = []
        for p in conn.execute(select(AuditPurgeRow.cutoff, AuditPurgeRow.ranges)):
            for lo, hi in p.ranges or []:
                spans.append((int(lo), int(hi), p.cutoff))
        spans.sort()
        self.spans = spans
        self.starts = [lo for lo, _, _ in spans]

    def purged(self, event_id: int, event_at: datetime) -> bool:
        """Whether a recorded purge deleted this id, the event being older than its cutoff
        (purges delete each id once: the ranges of all purges are disjoint)."""
        i = bisect_right(self.starts, event_id) - 1
        if i < 0:
            return False
        _, hi, cutoff = self.spans[i]
        return event_id <= hi and event_at < cutoff


def _check_leaf(h: HashSuite, seal: Mapping[Any, Any], data: bytes, salt: bytes) -> bool:
    """The leaf (or pending entry) commits to exactly this seal."""
    try:
        d = json.loads(data)
        committed = d["fields"]
    except (ValueError, KeyError, TypeError):
        return False
    if d.get("type") != ENTRY_TYPE or d.get("ref") != leaf_ref(seal["id"]):
        return False
    want = {k: field_digest(h, salt, k, v) for k, v in _leaf_fields(seal).items()}
    return bool(committed == want)


def _snapshot(s: Session) -> None:
    if s.get_bind().dialect.name == "postgresql":
        s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    else:  # pysqlite starts no transaction for a SELECT: each would see a newer database
        s.connection().exec_driver_sql("BEGIN")


def _verify(c: Container, conn: Connection, report: AuditVerifyReport, now: datetime) -> None:
    ledger_h = hash_suite(Suite(c.settings.ledger_suite))
    grace = timedelta(minutes=c.settings.security.audit_seal_grace_minutes)
    purges = _Purges(conn)
    seals = [r._mapping for r in conn.execute(select(SEALS).order_by(SEALS.c.id))]
    report.seals = len(seals)
    report.events = int(conn.scalar(select(func.count()).select_from(EVENTS)) or 0)
    known = {s["id"] for s in seals}

    # the chain: ids 1..n without gaps, each seal's digest and its link to the previous one
    prev: Mapping[Any, Any] | None = None
    for seal in seals:
        expected = (prev["id"] + 1) if prev is not None else 1
        for gone in range(expected, seal["id"]):
            report.seal(report.missing_seals, gone)
        h = _HASHES.get(seal["suite"])
        if h is None or seal_digest(h, seal) != seal["digest"]:
            report.seal(report.changed_seals, seal["id"])
        want_prev = prev["digest"] if prev is not None and prev["id"] == seal["id"] - 1 else None
        if (prev is None and seal["prev_digest"] is not None) or (
            want_prev is not None and seal["prev_digest"] != want_prev
        ):
            report.seal(report.broken_chain, seal["id"])
        prev = seal

    # every seal against its leaf, or against its pending entry while the sequencer catches up
    leaves = {
        r.ref: r
        for r in conn.execute(
            select(
                LedgerLeafRow.ref, LedgerLeafRow.data, LedgerLeafRow.salt, LedgerLeafRow.leaf_hash
            ).where(LedgerLeafRow.entry_type == ENTRY_TYPE)
        )
    }
    for ref in leaves:
        sid = ref.removeprefix("audit-seal/")
        if sid.isdigit() and int(sid) not in known:
            report.seal(report.missing_seals, int(sid))
    no_leaf = [s for s in seals if leaf_ref(s["id"]) not in leaves]
    pending: dict[str, Any] = {}
    for part in _chunks([str(s["id"]) for s in no_leaf]):
        query = select(
            OutboxEventRow.aggregate_id, OutboxEventRow.payload, OutboxEventRow.created_at
        ).where(OutboxEventRow.aggregate_type == AGGREGATE, OutboxEventRow.aggregate_id.in_(part))
        for found in conn.execute(query):
            pending[found.aggregate_id] = found
    for seal in seals:
        leaf = leaves.get(leaf_ref(seal["id"]))
        if leaf is not None:
            data = bytes(leaf.data)
            if bytes(leaf.leaf_hash) != leaf_hash(ledger_h, data) or not _check_leaf(
                ledger_h, seal, data, bytes(leaf.salt)
            ):
                report.seal(report.leaf_mismatch, seal["id"])
            continue
        ev = pending.get(str(seal["id"]))
        payload = ev.payload if ev is not None else None
        entry = payload.get("ledger") if isinstance(payload, dict) else None
        if ev is None or not isinstance(entry, dict):
            report.seal(report.without_leaf, seal["id"])
            continue
        try:
            ok = _check_leaf(
                ledger_h, seal, base64.b64decode(entry["data"]), bytes.fromhex(entry["salt"])
            )
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            report.seal(report.leaf_mismatch, seal["id"])
        elif ev.created_at < now - grace:
            report.seal(report.without_leaf, seal["id"])  # the sequencer never took it
        else:
            report.pending_leaves += 1

    # items of seals that are gone (only possible with the foreign key bypassed)
    orphans = conn.execute(
        select(ITEMS.c.seal_id)
        .where(~exists().where(SEALS.c.id == ITEMS.c.seal_id))
        .group_by(ITEMS.c.seal_id)
    )
    for (sid,) in orphans:
        report.seal(report.missing_seals, sid)

    # every seal's items against its items digest, and every sealed event against its hash
    group: list[Mapping[Any, Any]] = []
    size = 0
    for seal in seals:
        group.append(seal)
        size += max(int(seal["count"]), 1)
        if size >= SEAL_BATCH * 4:
            _check_items(conn, report, purges, group)
            group, size = [], 0
    if group:
        _check_items(conn, report, purges, group)

    # events older than the grace period that no seal covers
    limit = now - grace
    unsealed = (
        select(EVENTS.c.id)
        .where(EVENTS.c.at < limit, ~exists().where(ITEMS.c.event_id == EVENTS.c.id))
        .order_by(EVENTS.c.id)
        .limit(MAX_LISTED)
    )
    for (eid,) in conn.execute(unsealed):
        report.event(report.unsealed_events, eid)


def _check_items(
    conn: Connection,
    report: AuditVerifyReport,
    purges: _Purges,
    seals: Sequence[Mapping[Any, Any]],
) -> None:
    by_seal: dict[int, list[Any]] = {s["id"]: [] for s in seals}
    for part in _chunks([s["id"] for s in seals]):
        for item in conn.execute(
            select(ITEMS).where(one_of(conn.dialect.name, ITEMS.c.seal_id, part))
        ):
            by_seal[item.seal_id].append(item)
    ids = sorted(i.event_id for items in by_seal.values() for i in items)
    report.sealed += len(ids)
    events: dict[int, Any] = {}
    for part in _chunks(ids):
        for got in conn.execute(select(EVENTS).where(one_of(conn.dialect.name, EVENTS.c.id, part))):
            events[got.id] = got
    for seal in seals:
        h = _HASHES.get(seal["suite"], SHA256)
        items = sorted(by_seal[seal["id"]], key=lambda i: i.event_id)
        triples = [(i.event_id, i.event_at, i.row_hash) for i in items]
        if (
            len(items) != seal["count"]
            or not items
            or items[0].event_id != seal["first_event_id"]
            or items[-1].event_id != seal["last_event_id"]
            or items_digest(h, triples) != seal["items_digest"]
        ):
            report.seal(report.changed_items, seal["id"])
        for item in items:
            row = events.get(item.event_id)
            if row is None:
                if purges.purged(item.event_id, item.event_at):
                    report.purged += 1
                else:
                    report.event(report.deleted_events, item.event_id)
            elif row.at != item.event_at or row_hash(h, row._mapping) != item.row_hash:
                report.event(report.edited_events, item.event_id)


def verify_audit(
    c: Container, actor: Principal = SYSTEM, *, record: bool = True
) -> AuditVerifyReport:
    """Recompute the sealed audit trail from the database (one snapshot) and report what does
    not match; the run itself is recorded in the trail (`record`)."""
    require(actor, Permission.read_audit)
    report = AuditVerifyReport()
    now = c.clock.now()
    with c.uow() as uow:
        _snapshot(uow.session)
        _verify(c, uow.session.connection(), report, now)
        uow.finish_read()
    if record:
        from citycredit.accounts.audit import write_event

        summary = {k: (len(v) if isinstance(v, list) else v) for k, v in asdict(report).items()}
        write_event(
            c,
            action="audit.verify",
            result="success" if report.ok else "failure",
            actor=actor,
            detail=summary,
        )
    return report


# -- the retention purge's record ---------------------------------------------------------------


def id_ranges(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as [first, last] runs of consecutive ids."""
    out: list[list[int]] = []
    for i in sorted(set(ids)):
        if out and out[-1][1] == i - 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


__all__ = [
    "ENTRY_TYPE",
    "AuditVerifyReport",
    "id_ranges",
    "items_digest",
    "row_hash",
    "seal_audit",
    "seal_digest",
    "verify_audit",
]
