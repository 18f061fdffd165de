"""G25: storage full. A write that fails because the disk (or the database's size limit) is full
is not an outage to retry in five seconds: the operator must free space. This module tells such
errors apart from others — SQLite's SQLITE_FULL ("database or disk is full"), PostgreSQL's
disk_full (SQLSTATE 53100), ENOSPC/EDQUOT from a file being written — and keeps the alert: the
first occurrence of an incident is logged at CRITICAL (code ``storage_full``, what failed and
where), later ones at WARNING; ``status()`` says when the last one happened (the health endpoint
shows it).

The incident is also a stored alarm (`db/alarms.py`, table ``system_alarms``): one row per
incident, which the operators list and acknowledge (``/api/v1/admin/alarms``, ``citycredit
alarms``). A full disk may refuse that row too, so the incident is kept in this process until a
write of it succeeds: it is tried right after the failure (the failed transaction has rolled
back; on PostgreSQL the full tablespace may not hold ``system_alarms``), and otherwise after the
next transaction of this process that commits (any write path: a request, a command, the
scheduler's job loop — a SQLAlchemy ``after_commit`` hook). Later failures of the same incident
update its row (count, last failure) the same way.

An incident ends — ``resolved_at`` on its row — when the operation that was refused (the same
method and path, or the same command) succeeds in this process (`operation_succeeded`, called
by the web layer), or when `STORAGE_ALERT_QUIET` has passed without a failure. A failure after
that is a new incident (a new CRITICAL line, a new row).

Nothing partial is left behind by such a failure: every submission is one transaction (ADR
0003), rolled back whole, and files are written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

log = logging.getLogger("citycredit.storage")

STORAGE_FULL_MESSAGE = (
    "存储空间不足：本次操作未保存任何内容。"
    "请联系系统管理员清理磁盘空间（或提高数据库容量上限）后重试"
)
STORAGE_ALERT_QUIET = 300.0  # seconds without a failure that end an incident
_FILE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_PG_DISK_FULL = "53100"
_MAX_WHERES = 20  # operations remembered per incident (the row names them)


@dataclass
class Incident:
    """One storage-full incident of this process, and what of it is stored."""

    started: datetime
    last_mono: float
    last: datetime
    where: str  # the first failure's operation
    error: str  # its error class
    first_line: str  # its message's first line
    failures: int = 0
    wheres: dict[str, int] = field(default_factory=dict)  # operation → failures
    resolved_at: datetime | None = None
    ended_by: str | None = None  # operation_succeeded | quiet_period
    engine: weakref.ref[Engine] | None = None  # an engine on the database that failed
    database: str | None = None  # that database (its URL without the password)
    alarm_id: int | None = None  # its system_alarms row, once stored
    version: int = 0  # bumped on every change; stored_version: what the row holds
    stored_version: int = -1

    @property
    def dirty(self) -> bool:
        return self.version != self.stored_version

    def detail(self) -> dict[str, Any]:
        """The row's ``detail``: where, error class, first line, failure count, incident start."""
        return {
            "where": self.where,
            "error": self.error,
            "first_line": self.first_line,
            "failures": self.failures,
            "operations": dict(self.wheres),
            "incident_start": self.started.isoformat(),
            "last_failure": self.last.isoformat(),
            "ended_by": self.ended_by,
        }


_lock = threading.RLock()
_incident: Incident | None = None
_last_wall: datetime | None = None  # the last failure of any incident (status()["last"])
_noted_engine: weakref.ref[Engine] | None = None  # where the last storage-full DB error was
_storing = threading.local()


def is_storage_full(exc: BaseException) -> bool:
    """True for a write refused because storage is full (database or file)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FILE_ERRNOS:
            return True
        if isinstance(current, sqlite3.Error):
            code = getattr(current, "sqlite_errorcode", None)
            if code == sqlite3.SQLITE_FULL or "database or disk is full" in str(current):
                return True
        if getattr(current, "sqlstate", None) == _PG_DISK_FULL:  # psycopg errors.DiskFull
            return True
        if isinstance(current, DBAPIError) and current.orig is not None:
            current = current.orig
            continue
        current = current.__cause__ or current.__context__
    return False


def _database(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0][:200] if text else ""


def _quiet_over(inc: Incident, now_mono: float) -> bool:
    return now_mono - inc.last_mono > STORAGE_ALERT_QUIET


def _ended(inc: Incident | None, now_mono: float) -> bool:
    return inc is None or inc.resolved_at is not None or _quiet_over(inc, now_mono)


def record_storage_full(where: str, exc: BaseException, *, engine: Engine | None = None) -> None:
    """Raise (or continue) the storage-full alert for a failure at `where`, and try to store it.

    `engine`: the database the alarm belongs to (else the one whose error was last seen to be
    a full disk). Call it after the failed transaction has rolled back."""
    global _incident, _last_wall
    now, wall = time.monotonic(), datetime.now(UTC)
    detail = f"{type(exc).__name__}: {_first_line(exc)}"
    with _lock:
        new = _ended(_incident, now)
        if new:
            _end_quietly(now)
            _incident = Incident(
                started=wall,
                last_mono=now,
                last=wall,
                where=where,
                error=type(exc).__name__,
                first_line=_first_line(exc),
            )
        inc = _incident
        assert inc is not None
        inc.last_mono, inc.last, _last_wall = now, wall, wall
        inc.failures += 1
        if where in inc.wheres or len(inc.wheres) < _MAX_WHERES:
            inc.wheres[where] = inc.wheres.get(where, 0) + 1
        target = engine or (_noted_engine() if _noted_engine is not None else None)
        if target is not None and inc.engine is None:
            inc.engine, inc.database = weakref.ref(target), _database(target)
        inc.version += 1
        count = inc.failures
    if new:
        log.critical("storage_full: %s — %s; free space, then retry", where, detail)
    else:
        log.warning("storage_full (continuing, %d so far): %s — %s", count, where, detail)
    if target is not None:
        store_pending(target)


def operation_succeeded(
    where: str, *, engine: Engine | None = None, stored_too: bool = False
) -> bool:
    """The operation `where` (``POST /api/v1/submissions``, a command) worked: if it was refused
    in the open incident, the incident is over (space was freed). True when this ended one.

    ``stored_too`` (a command: each run is a process of its own, which knows nothing of the
    run that failed): also end the stored, unresolved incidents that this operation had."""
    if stored_too and engine is not None:
        from citycredit.db import alarms

        try:
            alarms.resolve_stored(engine, where, at=datetime.now(UTC))
        except Exception as exc:  # the command worked; the alarm stays open for the operator
            log.warning("storage_full: could not end the stored alarm: %s", _first_line(exc))
    with _lock:
        inc = _incident
        if inc is None or inc.resolved_at is not None or where not in inc.wheres:
            return False
        inc.resolved_at, inc.ended_by = datetime.now(UTC), "operation_succeeded"
        inc.version += 1
        target = engine or (inc.engine() if inc.engine is not None else None)
    log.warning("storage_full: resolved — %s succeeded again", where)
    if target is not None:
        store_pending(target)
    return True


def _end_quietly(now_mono: float) -> None:
    """Mark the current incident ended by the quiet period (if it is); caller holds the lock."""
    inc = _incident
    if inc is not None and inc.resolved_at is None and _quiet_over(inc, now_mono):
        inc.resolved_at = inc.last + timedelta(seconds=STORAGE_ALERT_QUIET)
        inc.ended_by = "quiet_period"
        inc.version += 1


def has_open_incident() -> bool:
    """Cheap: is there an incident not yet ended (the web layer's check on every request)?"""
    inc = _incident
    return inc is not None and inc.resolved_at is None


def pending() -> bool:
    """Cheap: is there something of the incident not stored yet (or an end to store)?"""
    inc = _incident
    if inc is None:
        return False
    if inc.dirty:
        return True
    return inc.resolved_at is None and _quiet_over(inc, time.monotonic())


def store_pending(engine: Engine) -> bool:
    """Write what is pending of the incident to `engine`'s ``system_alarms`` (insert the row,
    update its count, record its end). Never raises: if it cannot be written now (the disk is
    still full, the table does not exist yet), it stays pending. True when all is stored."""
    global _incident
    if getattr(_storing, "active", False):
        return False
    with _lock:
        _end_quietly(time.monotonic())
        inc = _incident
        if inc is None:
            return True
        if not inc.dirty:
            return True
        if inc.database is not None and inc.database != _database(engine):
            return False  # another database's incident: stored through an engine of its own
        snapshot = (inc.alarm_id, inc.version, inc.detail(), inc.started, inc.resolved_at)
    alarm_id, version, detail, started, resolved = snapshot
    from citycredit.db import alarms

    _storing.active = True
    try:
        stored_id = alarms.write_incident(
            engine, alarm_id, detail=detail, raised_at=started, resolved_at=resolved
        )
    except Exception as exc:
        if is_storage_full(exc):
            log.warning("storage_full: the alarm could not be stored yet (kept pending)")
        else:
            log.warning("storage_full: the alarm could not be stored: %s", _first_line(exc))
        return False
    finally:
        _storing.active = False
    with _lock:
        if _incident is inc:
            inc.alarm_id = stored_id
            inc.engine, inc.database = weakref.ref(engine), _database(engine)
            inc.stored_version = max(inc.stored_version, version)
            if inc.resolved_at is not None and not inc.dirty:
                _incident = None  # stored with its end: the next failure is a new incident
        return _incident is None or not _incident.dirty


def status() -> dict[str, Any]:
    """The alert's state: full (an incident not ended), since, last, count, the stored alarm."""
    with _lock:
        inc = _incident
        active = not _ended(inc, time.monotonic())
        return {
            "storage_full": active,
            "since": inc.started.isoformat() if active and inc else None,
            "last": _last_wall.isoformat() if _last_wall else None,
            "failures": inc.failures if active and inc else 0,
            "alarm_id": inc.alarm_id if active and inc else None,
        }


def reset() -> None:
    """Forget the alert (tests; an operator restarting the process starts clean anyway)."""
    global _incident, _last_wall, _noted_engine
    with _lock:
        _incident = _last_wall = _noted_engine = None


# -- hooks ----------------------------------------------------------------------------------


@event.listens_for(Engine, "handle_error")
def _note_engine(context: Any) -> None:
    """Remember which database refused a write for lack of space (the alarm goes there)."""
    global _noted_engine
    exc = context.original_exception
    if exc is not None and context.engine is not None and is_storage_full(exc):
        _noted_engine = weakref.ref(context.engine)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    """The next successful write path stores what is pending (a row the full disk refused)."""
    if _incident is None or getattr(_storing, "active", False) or not pending():
        return
    try:
        bind = session.get_bind()
    except Exception:
        return
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    if isinstance(engine, Engine):
        store_pending(engine)
