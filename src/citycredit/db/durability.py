"""Durability configuration, asserted rather than assumed (security.md G24).

An acknowledged record must survive a crash of the process, of the database and of the machine.
That holds only with the right settings, so they are read back from the database at start-up:

* SQLite: ``journal_mode = wal`` and ``synchronous = FULL`` (2);
* PostgreSQL: ``fsync``, ``synchronous_commit`` and ``full_page_writes`` on; ``data_checksums``
  on is recommended (it is chosen at ``initdb`` and cannot be switched on later without
  ``pg_checksums``), so its absence is a warning, not an error.

`check` returns findings; the server logs every one at start-up and, in production, refuses to
start on an error (`enforce`). ``citycredit db check`` prints them too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)

ERROR, WARNING = "error", "warning"
# synchronous_commit values that wait for the local WAL flush (remote_* also do).
_PG_SYNC_OK = {"on", "remote_write", "remote_apply"}


@dataclass(frozen=True)
class Finding:
    level: str  # error | warning
    setting: str
    value: str
    expected: str

    def message(self) -> str:
        return f"{self.setting} = {self.value}（应为 {self.expected}）"


def check(engine: Engine) -> list[Finding]:
    """What the database's durability settings lack (empty: all as required)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            mode = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
            sync = int(conn.exec_driver_sql("PRAGMA synchronous").scalar() or 0)
            out = []
            if mode != "wal":
                out.append(Finding(ERROR, "journal_mode", mode, "wal"))
            if sync != 2:
                names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
                if sync != 3:  # EXTRA is stronger still
                    out.append(Finding(ERROR, "synchronous", names.get(sync, str(sync)), "FULL"))
            return out
        values = {
            name: str(conn.execute(text(f"SHOW {name}")).scalar())
            for name in ("fsync", "synchronous_commit", "full_page_writes", "data_checksums")
        }
    out = []
    if values["fsync"] != "on":
        out.append(Finding(ERROR, "fsync", values["fsync"], "on"))
    if values["synchronous_commit"] not in _PG_SYNC_OK:
        out.append(Finding(ERROR, "synchronous_commit", values["synchronous_commit"], "on"))
    if values["full_page_writes"] != "on":
        out.append(Finding(ERROR, "full_page_writes", values["full_page_writes"], "on"))
    if values["data_checksums"] != "on":
        out.append(Finding(WARNING, "data_checksums", values["data_checksums"], "on"))
    return out


def enforce(engine: Engine, *, production: bool) -> list[Finding]:
    """Log every finding; in production raise on an error (the server does not start)."""
    findings = check(engine)
    for f in findings:
        log.warning("持久性配置：%s", f.message())
    errors = [f for f in findings if f.level == ERROR]
    if production and errors:
        raise RuntimeError(
            "数据库持久性配置不满足要求，拒绝启动：" + "；".join(f.message() for f in errors)
        )
    return findings


def forget_deleted_pages(engine: Engine) -> None:
    """After personal data was deleted (G36): on SQLite, `secure_delete` zeroes the freed pages
    in the database file, but the WAL still holds the old page images until a checkpoint
    rewrites it — a TRUNCATE checkpoint empties it. Nothing to do on PostgreSQL (its dead tuples
    go with VACUUM; the server's own files are the operator's, docs/operations.md)."""
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
