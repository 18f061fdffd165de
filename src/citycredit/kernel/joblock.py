"""One run of a job at a time, across every process that can run it.

The server's scheduler (worker 0 of each server), a second server on another host and an
operator's `citycredit jobs run-due` or POST /system/jobs/{job}/run may all decide that the same
job is due. Two 双公示 exports or two monthly evaluation batches at once would do the work twice
and race each other's writes, so a run first takes the job's lock and a run that cannot take it
does not start (`busy`).

The lock is one the operating system or the database drops when its holder dies, so a crashed
or killed run never leaves a job locked out (no lease to expire, no row to clean up):

- PostgreSQL: a session-level advisory lock, ``pg_try_advisory_lock(classid, objid)`` — the
  two-key form, a key space apart from the platform's one-key transaction locks — on a
  connection of its own in autocommit mode (no transaction stays open for the job's duration,
  so the lock holds back no vacuum). It needs session pooling if a pooler sits between the
  platform and the database (PgBouncer's transaction pooling would lose it).
- SQLite: an ``flock`` on a file per job in ``<database>.job-locks/`` beside the database file
  (one host: SQLite is a file on it); an in-memory database uses a lock of the process.
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

# classid of the two-key advisory locks: "CCJB" (citycredit jobs), as a signed int4.
_CLASS_ID = int.from_bytes(b"CCJB", "big", signed=True)

_process_locks: dict[tuple[int, str], threading.Lock] = {}
_process_locks_guard = threading.Lock()


def object_id(job: str) -> int:
    """The job's objid: a signed int4 from its name (CRC-32; names are few and distinct)."""
    return int.from_bytes(zlib.crc32(job.encode()).to_bytes(4, "big"), "big", signed=True)


def lock_dir(engine: Engine) -> Path | None:
    """Where an SQLite database keeps its job locks (None: in memory, a process lock)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    path = Path(database)
    return path.with_name(path.name + ".job-locks")


@contextmanager
def job_lock(engine: Engine, job: str) -> Iterator[bool]:
    """Hold the job's lock for the block: yields True if taken, False if another run holds it."""
    if engine.dialect.name == "postgresql":
        with _pg_lock(engine, job) as taken:
            yield taken
        return
    directory = lock_dir(engine)
    if directory is None:
        with _process_lock(engine, job) as taken:
            yield taken
        return
    with _file_lock(directory / f"{job}.lock") as taken:
        yield taken


@contextmanager
def _pg_lock(engine: Engine, job: str) -> Iterator[bool]:
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    keys = {"c": _CLASS_ID, "o": object_id(job)}
    try:
        taken = bool(conn.execute(text("SELECT pg_try_advisory_lock(:c, :o)"), keys).scalar())
        try:
            yield taken
        finally:
            if taken:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:c, :o)"), keys)
                except Exception:
                    # The lock is the session's: a connection that cannot unlock must not go
                    # back to the pool still holding it. Dropped, it releases it.
                    conn.invalidate()
                    raise
    finally:
        conn.close()


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            taken = True
        except BlockingIOError:
            taken = False
        try:
            yield taken
        finally:
            if taken:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _process_lock(engine: Engine, job: str) -> Iterator[bool]:
    with _process_locks_guard:
        lock = _process_locks.setdefault((id(engine), job), threading.Lock())
    taken = lock.acquire(blocking=False)
    try:
        yield taken
    finally:
        if taken:
            lock.release()
