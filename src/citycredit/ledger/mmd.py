"""Merge delay of the 信用数据链 (security goal G21; docs/ledger.md "Merge delay").

The platform declares a maximum merge delay (MMD, `ledger_mmd_seconds`): every entry a business
transaction puts in the outbox is in a signed checkpoint within it. It is kept by the server's
sequencer loop (web/app.py, every `ledger_sequence_seconds`, calling `sequence_pending`) and
watched by the `ledger_merge_delay` job: the oldest outbox event whose ledger entry the sequencer
has not integrated yet, older than the MMD, raises a `merge_delay` alarm for the credit office
(ledger.service.alarms) — once per incident: the incident stays open (no new alarm) until a run
finds the delay back within the MMD, which records `resolved_at` in the alarm's detail.
`merge_delay_status` gives the current figures to whoever shows them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from citycredit.bootstrap import Container
from citycredit.kernel.db import OutboxCursorRow, OutboxEventRow
from citycredit.kernel.jobs import Job
from citycredit.kernel.outbox import deliver
from citycredit.ledger.db import LedgerAlarmRow, LedgerLeafRow

log = logging.getLogger(__name__)

ALARM_KIND = "merge_delay"
CONSUMER = "ledger"


def sequence_pending(c: Container) -> int:
    """Run the sequencer once: integrate every pending ledger entry (one checkpoint per batch).
    Safe beside the `deliveries` sweep: one deliverer per consumer at a time (kernel.outbox)."""
    return deliver(c.uow, CONSUMER, c.consumers[CONSUMER], at=c.clock.now())


@dataclass(frozen=True)
class Oldest:
    """The oldest outbox event whose ledger entry is not in the log yet."""

    event_id: int
    event_type: str
    ref: str | None
    created_at: datetime


def _has_ledger_entry(s: Session) -> Any:
    if s.get_bind().dialect.name == "postgresql":
        return OutboxEventRow.payload.bool_op("?")(literal("ledger", String))
    return func.json_type(OutboxEventRow.payload, "$.ledger").is_not(None)


def _pending_where(s: Session) -> Any:
    """Events the sequencer has not read (after its high water or in its gaps) that carry a
    ledger entry and have no leaf."""
    cursor = s.get(OutboxCursorRow, CONSUMER)
    last = cursor.last_event_id if cursor else 0
    unread = [OutboxEventRow.id > last]
    unread += [OutboxEventRow.id.between(g["lo"], g["hi"]) for g in (cursor.gaps if cursor else [])]
    leaf = exists().where(LedgerLeafRow.event_id == OutboxEventRow.id)
    return or_(*unread) & _has_ledger_entry(s) & ~leaf


def pending(s: Session) -> tuple[int, Oldest | None]:
    """How many ledger entries wait for the sequencer, and the oldest of them."""
    where = _pending_where(s)
    count = s.scalar(select(func.count()).select_from(OutboxEventRow).where(where)) or 0
    if not count:
        return 0, None
    row = s.execute(
        select(
            OutboxEventRow.id,
            OutboxEventRow.event_type,
            OutboxEventRow.payload,
            OutboxEventRow.created_at,
        )
        .where(where)
        .order_by(OutboxEventRow.created_at, OutboxEventRow.id)
        .limit(1)
    ).one()
    ledger = row.payload.get("ledger") if isinstance(row.payload, dict) else None
    ref = ledger.get("ref") if isinstance(ledger, dict) else None
    return count, Oldest(row.id, row.event_type, ref, row.created_at)


def _age(now: datetime, then: datetime) -> float:
    return round(max((now - then) / timedelta(seconds=1), 0.0), 3)


def merge_delay_status(c: Container) -> dict[str, Any]:
    """{mmd_s, oldest_pending_age_s, pending}: the declared MMD, the age in seconds of the
    oldest entry not yet in a checkpoint (None when nothing waits) and how many wait."""
    with c.uow() as uow:
        count, oldest = pending(uow.session)
        uow.finish_read()
    return {
        "mmd_s": c.settings.ledger_mmd_seconds,
        "oldest_pending_age_s": _age(c.clock.now(), oldest.created_at) if oldest else None,
        "pending": count,
    }


def _open_incident(s: Session) -> LedgerAlarmRow | None:
    """The latest merge-delay alarm, unless the delay was seen back within the MMD since."""
    latest = s.scalar(
        select(LedgerAlarmRow)
        .where(LedgerAlarmRow.kind == ALARM_KIND)
        .order_by(LedgerAlarmRow.id.desc())
        .limit(1)
    )
    if latest is None or "resolved_at" in (latest.detail or {}):
        return None
    return latest


def watch(c: Container) -> dict[str, Any]:
    """The `ledger_merge_delay` job: alarm once per incident when the oldest pending entry is
    older than the MMD; close the incident when the delay is back within it."""
    mmd = c.settings.ledger_mmd_seconds
    now = c.clock.now()
    raised = resolved = False
    with c.uow() as uow:
        s = uow.session
        count, oldest = pending(s)
        age = _age(now, oldest.created_at) if oldest else None
        incident = _open_incident(s)
        if oldest is not None and age is not None and age > mmd:
            if incident is None:
                detail = {
                    "event_id": oldest.event_id,
                    "event_type": oldest.event_type,
                    "ref": oldest.ref,
                    "created_at": oldest.created_at.isoformat(),
                    "age_s": age,
                    "mmd_s": mmd,
                    "pending": count,
                    "message": (
                        f"事件 {oldest.event_id}（{oldest.event_type}）的数据链条目已等待 "
                        f"{age:.0f} 秒仍未进入签名检查点，超过承诺的最大合并延迟 {mmd} 秒"
                    ),
                }
                s.add(LedgerAlarmRow(raised_at=now, kind=ALARM_KIND, detail=detail))
                raised = True
        elif incident is not None:
            incident.detail = {**incident.detail, "resolved_at": now.isoformat()}
            resolved = True
        uow.commit()
    if raised:
        log.error(
            "ledger merge delay over the MMD: event %s waits %.0f s (MMD %d s, %d pending)",
            oldest.event_id if oldest else None,
            age or 0.0,
            mmd,
            count,
        )
    return {
        "mmd_s": mmd,
        "oldest_pending_age_s": age,
        "pending": count,
        "alarm": raised,
        "resolved": resolved,
    }


JOBS = [
    Job(
        "ledger_merge_delay",
        timedelta(seconds=30),
        watch,
        "检查数据链的最大合并延迟（MMD）：最早一条尚未进入签名检查点的条目超过承诺时限即告警（每次事件告警一次）",
    ),
]
