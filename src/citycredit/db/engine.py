"""Engine and session factory construction (called only from bootstrap)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(synchronous: str) -> Any:
    def apply(dbapi_conn: Any, _record: Any) -> None:
        _pragmas(dbapi_conn, synchronous)

    return apply


def _pragmas(dbapi_conn: Any, synchronous: str) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed transaction survives a power loss too, not only a crash of the process
    # (security.md G24; checked at start-up by db.durability).
    cur.execute(f"PRAGMA synchronous={synchronous}")
    cur.execute("PRAGMA busy_timeout=30000")
    # Deleted and overwritten content (e.g. personal values re-sealed by key rotation) is zeroed
    # on disk, not left in free pages (security goal G36).
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


SQLITE_SYNCHRONOUS = ("FULL", "NORMAL")


def make_engine(
    url: str,
    *,
    echo: bool = False,
    sqlite_synchronous: str = "FULL",
    pool_size: int = 20,
    max_overflow: int = 10,
) -> Engine:
    """Create the engine for a URL, with SQLite pragmas when embedded."""
    if url.startswith("sqlite"):
        if sqlite_synchronous not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"sqlite_synchronous must be one of {SQLITE_SYNCHRONOUS}")
        engine = create_engine(
            url,
            echo=echo,
            hide_parameters=True,
            connect_args={"check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_pragmas(sqlite_synchronous))
        return engine
    # No pre-ping: it cost a round trip on every checkout (every unit of work; the credit
    # check's latency budget, docs/benchmarks-checks-archive.md). A connection the server
    # dropped fails the one request that meets it — answered 503 with Retry-After, not 500
    # (web/errors.py, G26) — and SQLAlchemy then invalidates the pool (every connection older
    # than the failure is replaced on its next checkout), so the next request gets a fresh one;
    # pool_recycle retires connections before idle-timeouts on the way could cut them.
    # pool_size / max_overflow: settings.database_pool_size / database_max_overflow.
    # hide_parameters: a database error's text (logged with a 500's traceback) names the
    # statement but not its values, which can be a name or a number someone searched for.
    return create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_size=pool_size,
        max_overflow=max_overflow,
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
