"""G25: storage full. A write that fails because the disk (or the database's size limit) is full
is not an outage to retry in five seconds: the operator must free space. This module tells such
errors apart from others — SQLite's SQLITE_FULL ("database or disk is full"), PostgreSQL's
disk_full (SQLSTATE 53100), ENOSPC/EDQUOT from a file being written — and keeps the alert: the
first occurrence of an incident is logged at CRITICAL (code ``storage_full``, what failed and
where), later ones at WARNING until `STORAGE_ALERT_QUIET` has passed without one; ``status()``
says when the last one happened (the health endpoint shows it).

Nothing partial is left behind by such a failure: every submission is one transaction (ADR
0003), rolled back whole, and files are written to a temporary name and renamed when complete.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError

log = logging.getLogger("citycredit.storage")

STORAGE_FULL_MESSAGE = (
    "存储空间不足：本次操作未保存任何内容。"
    "请联系系统管理员清理磁盘空间（或提高数据库容量上限）后重试"
)
STORAGE_ALERT_QUIET = 300.0  # seconds without a failure that end an incident
_FILE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_PG_DISK_FULL = "53100"

_lock = threading.Lock()
_last_at: float | None = None  # monotonic time of the last storage-full failure
_last_wall: datetime | None = None
_incident_started: datetime | None = None
_count = 0


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


def record_storage_full(where: str, exc: BaseException) -> None:
    """Raise (or continue) the storage-full alert for a failure at `where`."""
    global _last_at, _last_wall, _incident_started, _count
    now = time.monotonic()
    with _lock:
        new = _last_at is None or now - _last_at > STORAGE_ALERT_QUIET
        _last_at, _last_wall = now, datetime.now(UTC)
        if new:
            _incident_started, _count = _last_wall, 0
        _count += 1
    detail = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    if new:
        log.critical("storage_full: %s — %s; free space, then retry", where, detail)
    else:
        log.warning("storage_full (continuing, %d so far): %s — %s", _count, where, detail)


def status() -> dict[str, Any]:
    """The alert's state: full (a failure within the quiet period), since, last, count."""
    with _lock:
        active = _last_at is not None and time.monotonic() - _last_at <= STORAGE_ALERT_QUIET
        return {
            "storage_full": active,
            "since": _incident_started.isoformat() if active and _incident_started else None,
            "last": _last_wall.isoformat() if _last_wall else None,
            "failures": _count if active else 0,
        }


def reset() -> None:
    """Forget the alert (tests; an operator restarting the process starts clean anyway)."""
    global _last_at, _last_wall, _incident_started, _count
    with _lock:
        _last_at = _last_wall = _incident_started = None
        _count = 0
