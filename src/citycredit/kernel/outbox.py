"""Outbox: every state change writes an event row in the same transaction.

Consumers (re-evaluation, notices, the ledger, sharing) read it through a gap-aware cursor; the
`deliveries` sweep advances each registered consumer.

Writers do not wait for each other. An event's id is drawn when its row is inserted, not when
its transaction commits, so on PostgreSQL a long submission can hold id 10 while a credit check
commits id 11. A cursor that has read 11 therefore keeps the *gap* at 10 (with the transaction
horizon that tells when it can no longer fill) and re-reads it on every batch: the late event
is delivered when it commits (after 11 — consumers get each event once, in id order within a
batch, not in global id order), and a gap whose ids were rolled back is dropped once every
transaction that could hold them has ended:

- a gap records the horizon (``pg_snapshot_xmax``) when it was found (h1). Once every
  transaction older than h1 has ended and ``GAP_GRACE_SECONDS`` have passed, a second horizon
  h2 is taken — by then the transaction that drew the id (even one that had not yet been given
  its xid when h1 was taken) is below h2. Once every transaction older than h2 has ended, the
  gap is read one last time and dropped.
- SQLite has one writer at a time and ids are drawn under its write lock: ids commit in order
  and there are never gaps to keep.

(Until 2026-11-26 every event-writing transaction took one advisory lock instead, so ids
committed in order; a 1,000,000-row submission then held every credit check for minutes.)
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Dialect,
    Table,
    TextClause,
    bindparam,
    case,
    insert,
    null,
    or_,
    select,
    text,
)
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


GAP_GRACE_SECONDS = 1.0
GAP_CHUNK = 500  # gaps per OR-list of ranges (SQLite's variable limit)


@dataclass(frozen=True)
class Horizon:
    """PostgreSQL transaction horizon: every xid < xmin has ended; xids >= xmax had not begun."""

    xmin: int
    xmax: int
    at: float  # database clock, epoch seconds


# Transactions of *this* database only: a long transaction in another database of the same
# server (another application, a benchmark) cannot write our outbox and must not hold our gaps
# open. backend_xid is 32 bits; it is widened against the current 64-bit xmax. If some
# session's details are hidden from our role, fall back to the server-wide snapshot xmin.
_PG_HORIZON = text(
    "SELECT pg_snapshot_xmax(pg_current_snapshot())::text,"
    " pg_snapshot_xmin(pg_current_snapshot())::text,"
    " extract(epoch from clock_timestamp()),"
    " (SELECT array_agg(backend_xid::text) FROM pg_stat_activity"
    "   WHERE datname = current_database() AND pid <> pg_backend_pid()"
    "   AND backend_xid IS NOT NULL),"
    " (SELECT count(*) FROM pg_stat_activity"
    "   WHERE datname = current_database() AND pid <> pg_backend_pid()"
    "   AND query = '<insufficient privilege>')"
)


def horizon(s: Session) -> Horizon | None:
    """The transaction horizon now (PostgreSQL); None on SQLite, where ids commit in order."""
    if s.get_bind().dialect.name != "postgresql":
        return None
    xmax_t, cluster_xmin_t, at, xids, hidden = s.execute(_PG_HORIZON).one()
    xmax = int(xmax_t)
    if hidden:
        return Horizon(int(cluster_xmin_t), xmax, float(at))
    running = [xmax - ((xmax - int(x)) % 2**32) for x in xids or []]
    return Horizon(min(running, default=xmax), xmax, float(at))


def _subtract(gaps: list[dict[str, Any]], found: set[int]) -> list[dict[str, Any]]:
    """Split gap ranges around the ids that have now been seen."""
    out: list[dict[str, Any]] = []
    for g in gaps:
        inside = sorted(i for i in found if g["lo"] <= i <= g["hi"])
        lo = g["lo"]
        for i in inside:
            if i > lo:
                out.append({**g, "lo": lo, "hi": i - 1})
            lo = i + 1
        if lo <= g["hi"]:
            out.append({**g, "lo": lo})
    return out


def _split(
    gaps: list[dict[str, Any]], cut: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Gap ranges at or below `cut`, and those above it (a range across it in both)."""
    below: list[dict[str, Any]] = []
    above: list[dict[str, Any]] = []
    for g in gaps:
        if g["hi"] <= cut:
            below.append(g)
        elif g["lo"] > cut:
            above.append(g)
        else:
            below.append({**g, "hi": cut})
            above.append({**g, "lo": cut + 1})
    return below, above


def _advance(gaps: list[dict[str, Any]], h: Horizon, grace: float) -> list[dict[str, Any]]:
    """Move each gap through its two horizons; drop those that can no longer fill."""
    kept = []
    for g in gaps:
        if g.get("h2") is None:
            if h.xmin >= g["h1"] and h.at - g["seen"] >= grace:
                g = {**g, "h2": h.xmax}
            kept.append(g)
        elif h.xmin < g["h2"]:
            kept.append(g)
    return kept


Fetch = Callable[[Session, Any, int | None], list[Event]]


def fetch_events(
    s: Session,
    where: Any,
    limit: int | None = None,
    *,
    payload_of: Sequence[str] | None = None,
) -> list[Event]:
    """Events matching `where`, oldest first (plain columns: consumers get frozen Events, and
    the sequencer reads thousands per batch — identity-map bookkeeping was most of its cost).
    `payload_of`: read the payload only of these event types ({} for the others)."""
    payload: Any = OutboxEventRow.payload
    if payload_of is not None:
        wanted = OutboxEventRow.event_type.in_(list(payload_of))
        payload = case((wanted, OutboxEventRow.payload), else_=null())
    stmt = (
        select(
            OutboxEventRow.id,
            OutboxEventRow.event_type,
            OutboxEventRow.aggregate_type,
            OutboxEventRow.aggregate_id,
            OutboxEventRow.subject_id,
            payload,
            OutboxEventRow.created_at,
        )
        .where(where)
        .order_by(OutboxEventRow.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [Event(r[0], r[1], r[2], r[3], r[4], r[5] or {}, r[6]) for r in s.execute(stmt)]


@dataclass(frozen=True)
class Unread:
    """What a gap-aware cursor reads in one step, and where it stands afterwards."""

    events: list[Event]  # late events from the gaps, then fresh ones; in id order
    high_water: int
    gaps: list[dict[str, Any]]
    more: bool  # the fresh read was full: more may follow


def read_unread(
    s: Session,
    high_water: int,
    gaps: Sequence[dict[str, Any]],
    *,
    limit: int,
    grace: float | None = None,
    fetch: Fetch = fetch_events,
) -> Unread:
    """Events a cursor (high water, open gaps) has not seen: late commits in its gaps, then
    after its high water — at most `limit` of each. The caller stores the returned high water
    and gaps in the same transaction as its handling of the events. `grace`:
    GAP_GRACE_SECONDS unless given."""
    grace = GAP_GRACE_SECONDS if grace is None else grace
    h = horizon(s)  # before any read: what it says ended is visible to the reads below
    open_gaps = sorted((dict(g) for g in gaps), key=lambda g: int(g["lo"]))
    late: list[Event] = []
    for i in range(0, len(open_gaps), GAP_CHUNK):
        part = open_gaps[i : i + GAP_CHUNK]
        where = or_(*(OutboxEventRow.id.between(g["lo"], g["hi"]) for g in part))
        late += fetch(s, where, limit - len(late))
        if len(late) >= limit:
            break
    if late and len(late) >= limit:
        # More late events than one batch (a large submission committed behind the high
        # water): this batch is the first `limit` of them in id order. Gaps at or below the
        # last one were read through and move on; the rest stay as they were, for next time.
        read, unread = _split(open_gaps, late[-1].id)
        read = _subtract(read, {e.id for e in late})
        if h is not None:
            read = _advance(read, h, grace)
        return Unread(events=late, high_water=high_water, gaps=read + unread, more=True)
    fresh = fetch(s, OutboxEventRow.id > high_water, limit)
    open_gaps = _subtract(open_gaps, {e.id for e in late})
    if h is not None:
        open_gaps = _advance(open_gaps, h, grace)
        prev = high_water
        for e in fresh:
            if e.id > prev + 1:
                open_gaps.append(
                    {"lo": prev + 1, "hi": e.id - 1, "h1": h.xmax, "h2": None, "seen": h.at}
                )
            prev = e.id
    return Unread(
        events=sorted(late + fresh, key=lambda e: e.id),
        high_water=fresh[-1].id if fresh else high_water,
        gaps=open_gaps,
        more=len(fresh) >= limit,
    )


def commit_with_event(
    session: Session,
    rows: Sequence[tuple[type[Base], dict[str, Any]]],
    event: dict[str, Any],
) -> None:
    """Insert plain rows (mapped class, column values) and one outbox event (OutboxEventRow column
    values), then commit the session's transaction — a unit of work's last step, for hot paths
    that need no ORM identity. Every column with a Python-side default must be given.

    PostgreSQL: one statement — the rows as data-modifying CTEs, the event as its main INSERT —
    sent with its COMMIT in one psycopg pipeline (one round trip). On a PostgreSQL connection
    in autocommit mode (a unit of work that only read before, see checks.service.run_check)
    the statement is its own transaction: no BEGIN, no COMMIT.
    SQLite: one INSERT each, the event last, then COMMIT.
    """
    _require_defaults(rows)
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        for model, values in rows:
            conn.execute(insert(model), [values])
        conn.execute(insert(OutboxEventRow), [event])
        session.commit()
        return
    sql, processors = _pipelined_insert(_shape(rows, event), conn.dialect)
    params: dict[str, Any] = {}
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

    def columns(i: int, table: Table, keys: tuple[str, ...]) -> tuple[str, str]:
        cols = [table.columns[k] for k in keys]
        for col in cols:
            binds.append(bindparam(f"r{i}_{col.key}", type_=col.type))
        return ", ".join(c.name for c in cols), ", ".join(f":r{i}_{c.key}" for c in cols)

    parts = []
    for i, (table, keys) in enumerate(shape[:-1]):
        names, values = columns(i, table, keys)
        parts.append(f"r{i} AS (INSERT INTO {table.name} ({names}) VALUES ({values}))")
    table, keys = shape[-1]
    names, values = columns(len(shape) - 1, table, keys)
    head = f"WITH {', '.join(parts)} " if parts else ""
    sql = f"{head}INSERT INTO {table.name} ({names}) VALUES ({values})"
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


def _create_cursor(session: Session, name: str, at: datetime) -> None:
    """Insert a consumer's cursor unless it exists (a concurrent insert waits, then no-ops)."""
    from sqlalchemy.dialects import postgresql, sqlite

    values = {"consumer": name, "last_event_id": 0, "gaps": [], "updated_at": at}
    if session.get_bind().dialect.name == "postgresql":
        stmt: Any = postgresql.insert(OutboxCursorRow).values(values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(OutboxCursorRow).values(values).on_conflict_do_nothing()
    session.execute(stmt)


def deliver_batch(
    session: Session, name: str, consumer: Consumer, *, at: datetime, batch: int | None = None
) -> int:
    """Feed one consumer at most one batch of the events it has not seen (late commits in its
    cursor's gaps first, then after its high water); returns how many were delivered.

    The caller commits; committing after each batch keeps transactions short and makes every
    batch durable on its own (the ledger signs one checkpoint per batch).
    """
    # One deliverer per consumer at a time (the ledger sequencer relies on it): PostgreSQL locks
    # the cursor row FOR UPDATE. SQLite ignores FOR UPDATE; there `deliver` serialises the
    # deliverers of a consumer within the process (the server's scheduler and its sequencer
    # loop). Taking SQLite's write lock here instead would hold it while a consumer writes in a
    # transaction of its own (the sequencer's tamper alarm), which then waits for it.
    cursor = session.get(OutboxCursorRow, name, with_for_update=True)
    if cursor is None:  # first delivery: two deliverers must not both insert it
        _create_cursor(session, name, at)
        cursor = session.get(OutboxCursorRow, name, with_for_update=True)
        assert cursor is not None
    with _gc_paused():
        got = read_unread(
            session, cursor.last_event_id, cursor.gaps or [], limit=batch_size(consumer, batch)
        )
        if got.events:
            consumer(session, got.events)
    if got.high_water != cursor.last_event_id or got.gaps != (cursor.gaps or []):
        cursor.last_event_id = got.high_water
        cursor.gaps = got.gaps
        cursor.updated_at = at
    return len(got.events)


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
            one_at_a_time = uow.session.get_bind().dialect.name == "sqlite"
            with _consumer_lock(name) if one_at_a_time else contextlib.nullcontext():
                n = deliver_batch(uow.session, name, consumer, at=at, batch=batch)
                uow.commit()
        if not n:
            return total
        total += n


_CONSUMER_LOCKS: dict[str, threading.Lock] = {}
_CONSUMER_LOCKS_GUARD = threading.Lock()


def _consumer_lock(name: str) -> threading.Lock:
    """SQLite: the process's lock for delivering to `name` (a batch and its commit). Another
    process delivering to the same consumer at the same moment (a CLI run beside the server)
    fails on the unique keys of what it writes and rolls back; the next run delivers."""
    with _CONSUMER_LOCKS_GUARD:
        return _CONSUMER_LOCKS.setdefault(name, threading.Lock())
