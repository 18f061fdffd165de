"""Outbox: every state change writes an event row in the same transaction.

Consumers (re-evaluation, notices, the ledger) read it in order through a cursor; the
`deliveries` sweep advances each registered consumer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.kernel.db import OutboxCursorRow, OutboxEventRow


@dataclass(frozen=True)
class Event:
    """An outbox event as consumers see it."""

    id: int
    event_type: str
    aggregate_type: str
    aggregate_id: str
    subject_id: str | None
    payload: dict[str, Any]
    created_at: datetime


def emit(
    session: Session,
    *,
    event_type: str,
    aggregate_type: str,
    aggregate_id: str,
    at: datetime,
    subject_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Add an event to the current transaction (it commits or rolls back with the change)."""
    session.add(
        OutboxEventRow(
            event_type=event_type,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            subject_id=subject_id,
            payload=payload or {},
            created_at=at,
        )
    )


def events_after(session: Session, last_id: int, *, limit: int = 1000) -> list[Event]:
    """Events with id > last_id, oldest first."""
    rows = session.scalars(
        select(OutboxEventRow)
        .where(OutboxEventRow.id > last_id)
        .order_by(OutboxEventRow.id)
        .limit(limit)
    )
    return [
        Event(
            r.id,
            r.event_type,
            r.aggregate_type,
            r.aggregate_id,
            r.subject_id,
            r.payload,
            r.created_at,
        )
        for r in rows
    ]


# A consumer handles a batch of events inside the delivering transaction; raising rolls the
# batch back and leaves its cursor where it was, so delivery is at-least-once and ordered.
Consumer = Callable[[Session, Sequence[Event]], None]


def deliver_batch(
    session: Session, name: str, consumer: Consumer, *, at: datetime, batch: int = 1000
) -> int:
    """Feed one consumer at most one batch after its cursor; returns how many were delivered.

    The caller commits; committing after each batch keeps transactions short and makes every
    batch durable on its own (the ledger signs one checkpoint per batch).
    """
    # FOR UPDATE: one deliverer per consumer at a time (the ledger sequencer relies on it).
    cursor = session.get(OutboxCursorRow, name, with_for_update=True)
    if cursor is None:
        cursor = OutboxCursorRow(consumer=name, last_event_id=0, updated_at=at)
        session.add(cursor)
    events = events_after(session, cursor.last_event_id, limit=batch)
    if not events:
        return 0
    consumer(session, events)
    cursor.last_event_id = events[-1].id
    cursor.updated_at = at
    return len(events)


def deliver(
    session_factory: Callable[[], Any],
    name: str,
    consumer: Consumer,
    *,
    at: datetime,
    batch: int = 1000,
) -> int:
    """Deliver everything pending to one consumer, one committed transaction per batch."""
    total = 0
    while True:
        with session_factory() as uow:
            n = deliver_batch(uow.session, name, consumer, at=at, batch=batch)
            uow.commit()
        if not n:
            return total
        total += n
