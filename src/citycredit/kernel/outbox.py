"""Outbox: every state change writes an event row in the same transaction.

Consumers (re-evaluation, notices, the ledger) read it in order through a cursor; the
`deliveries` sweep advances each registered consumer.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Dialect, Table, TextClause, bindparam, insert, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from citycredit.db.base import Base
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


# Outbox ids must become visible in id order, or a consumer that has read id n+1 and moved its
# cursor there would never see a late-committing id n. On PostgreSQL every transaction that
# writes outbox rows therefore takes one transaction-scoped advisory lock before its first
# outbox row: ids are handed out, and the rows committed, one writing transaction at a time
# (the lock is released only after the commit is visible). Writers without events never wait.
# SQLite has a single writer, so ids already commit in order there.
OUTBOX_LOCK_KEY = 0x63636F62  # "ccob"


def serialise_outbox_writes(session: Session) -> None:
    """Take the outbox lock for this transaction (once; a no-op on SQLite)."""
    tx = session.get_transaction()
    if tx is not None and session.info.get("outbox_locked_tx") is tx:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": OUTBOX_LOCK_KEY})
    session.info["outbox_locked_tx"] = session.get_transaction()


def commit_with_event(
    session: Session,
    rows: Sequence[tuple[type[Base], dict[str, Any]]],
    event: dict[str, Any],
) -> None:
    """Insert plain rows (mapped class, column values) and one outbox event (OutboxEventRow column
    values), then commit the session's transaction — a unit of work's last step, for hot paths
    that need no ORM identity. Every column with a Python-side default must be given.

    PostgreSQL: one statement — the rows as data-modifying CTEs and the event selected from a
    MATERIALIZED CTE that takes the outbox lock, so the event's id is drawn under the lock as
    `serialise_outbox_writes` would draw it — sent with its COMMIT in one psycopg pipeline (one
    round trip). The lock is released as soon as the commit is durable, not when this thread
    next gets the interpreter to send COMMIT: under load that wait (other request threads
    holding the GIL) stretched every lock holder's turn, and every writer queued behind it.
    On a PostgreSQL connection in autocommit mode (a unit of work that only read before, see
    checks.service.run_check) the statement is its own transaction: no BEGIN, no COMMIT.
    SQLite: one INSERT each, the event last, then COMMIT.
    """
    _require_defaults(rows)
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        for model, values in rows:
            conn.execute(insert(model), [values])
        serialise_outbox_writes(session)
        conn.execute(insert(OutboxEventRow), [event])
        session.commit()
        return
    sql, processors = _pipelined_insert(_shape(rows, event), conn.dialect)
    params: dict[str, Any] = {"outbox_lock": OUTBOX_LOCK_KEY}
    for i, (_, values) in enumerate((*rows, (None, event))):
        for k, v in values.items():
            name = f"r{i}_{k}"
            process = processors[name]
            params[name] = process(v) if process is not None and v is not None else v
    raw: Any = conn.connection.dbapi_connection
    cursor = raw.cursor()
    try:
        if raw.autocommit:  # the caller's connection commits each statement: one round trip
            cursor.execute(sql, params)
        else:
            with raw.pipeline():
                cursor.execute(sql, params)
                raw.commit()
    finally:
        cursor.close()
    session.commit()  # the server has committed: SQLAlchemy ends its transaction (no round trip)


@functools.lru_cache(maxsize=64)
def _pipelined_insert(
    shape: tuple[tuple[Table, tuple[str, ...]], ...], dialect: Dialect
) -> tuple[str, dict[str, Any]]:
    """The statement of `_combined_insert` as the driver's SQL, and each parameter's processor."""
    compiled = _combined_insert(shape).compile(dialect=dialect)
    processors: dict[str, Any] = {}
    for i, (table, keys) in enumerate(shape):
        for k in keys:
            col = table.columns[k]
            processors[f"r{i}_{k}"] = col.type.dialect_impl(dialect).bind_processor(dialect)
    return compiled.string, processors


def _shape(
    rows: Sequence[tuple[type[Base], dict[str, Any]]], event: dict[str, Any]
) -> tuple[tuple[Table, tuple[str, ...]], ...]:
    return (
        *((cast(Table, model.__table__), tuple(values)) for model, values in rows),
        (cast(Table, OutboxEventRow.__table__), tuple(event)),
    )


def _require_defaults(rows: Sequence[tuple[type[Base], dict[str, Any]]]) -> None:
    for model, values in rows:
        missing = [k for k in _python_defaults(model) if k not in values]
        if missing:
            raise ValueError(f"{model.__tablename__}: give {', '.join(missing)} (Python defaults)")


@functools.cache
def _python_defaults(model: type[Base]) -> tuple[str, ...]:
    return tuple(c.key for c in model.__table__.columns if c.default is not None)


@functools.lru_cache(maxsize=64)
def _combined_insert(shape: tuple[tuple[Table, tuple[str, ...]], ...]) -> TextClause:
    """The one PostgreSQL statement of `commit_with_event` for these tables and columns."""
    binds = []

    def columns(i: int, table: Table, keys: tuple[str, ...], cast: bool = False) -> tuple[str, str]:
        cols = [table.columns[k] for k in keys]
        for col in cols:
            binds.append(bindparam(f"r{i}_{col.key}", type_=col.type))
        if not cast:  # VALUES of an INSERT take the columns' types
            return ", ".join(c.name for c in cols), ", ".join(f":r{i}_{c.key}" for c in cols)
        # A SELECT list does not: say each parameter's type (text has no cast to jsonb).
        dialect = postgresql.dialect()
        typed = (f"CAST(:r{i}_{c.key} AS {c.type.compile(dialect=dialect)})" for c in cols)
        return ", ".join(c.name for c in cols), ", ".join(typed)

    parts = ["lk AS MATERIALIZED (SELECT pg_advisory_xact_lock(:outbox_lock))"]
    for i, (table, keys) in enumerate(shape[:-1]):
        names, values = columns(i, table, keys)
        parts.append(f"r{i} AS (INSERT INTO {table.name} ({names}) VALUES ({values}))")
    table, keys = shape[-1]
    names, values = columns(len(shape) - 1, table, keys, cast=True)
    sql = f"WITH {', '.join(parts)} INSERT INTO {table.name} ({names}) SELECT {values} FROM lk"
    return text(sql).bindparams(*binds)


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
    serialise_outbox_writes(session)
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
    # Plain columns, not ORM objects: a consumer gets frozen Events anyway, and the sequencer
    # reads thousands per batch (identity-map bookkeeping was most of its read cost).
    rows = session.execute(
        select(
            OutboxEventRow.id,
            OutboxEventRow.event_type,
            OutboxEventRow.aggregate_type,
            OutboxEventRow.aggregate_id,
            OutboxEventRow.subject_id,
            OutboxEventRow.payload,
            OutboxEventRow.created_at,
        )
        .where(OutboxEventRow.id > last_id)
        .order_by(OutboxEventRow.id)
        .limit(limit)
    )
    return [Event(*r) for r in rows]


# A consumer handles a batch of events inside the delivering transaction; raising rolls the
# batch back and leaves its cursor where it was, so delivery is at-least-once and ordered.
# A consumer may carry a `batch_size` attribute: the events it takes per transaction when the
# caller names none (the ledger sequencer takes larger batches, see ledger/store.py).
Consumer = Callable[[Session, Sequence[Event]], None]
DEFAULT_BATCH = 1000


def batch_size(consumer: Consumer, batch: int | None = None) -> int:
    """The batch given, else the consumer's own `batch_size`, else DEFAULT_BATCH."""
    size = batch if batch is not None else getattr(consumer, "batch_size", DEFAULT_BATCH)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"batch size must be a positive int, got {size!r}")
    return size


_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for one delivery batch (thread-safe, nestable).

    A batch keeps thousands of freshly parsed payloads alive until it ends, and they would
    trigger repeated full collections of the whole heap mid-batch (about a sixth of the ledger
    sequencer's time, benchmarks/ledger.py). Reference counting still frees everything; cyclic
    garbage of the batch, if any, is collected once the collector is back on.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def deliver_batch(
    session: Session, name: str, consumer: Consumer, *, at: datetime, batch: int | None = None
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
    with _gc_paused():
        events = events_after(session, cursor.last_event_id, limit=batch_size(consumer, batch))
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
    batch: int | None = None,
) -> int:
    """Deliver everything pending to one consumer, one committed transaction per batch."""
    batch = batch_size(consumer, batch)
    total = 0
    while True:
        with session_factory() as uow:
            n = deliver_batch(uow.session, name, consumer, at=at, batch=batch)
            uow.commit()
        if not n:
            return total
        total += n
