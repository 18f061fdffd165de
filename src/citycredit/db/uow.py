"""Unit of work: one transaction per user intent; the outbox row commits with the change."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker


class UnitOfWork:
    """Wraps a session; commit() is explicit, leaving the block without it rolls back."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        return self

    def __exit__(self, *exc: object) -> None:
        # close() rolls back whatever was not committed and detaches objects without expiring
        # them, so rows read inside the block stay readable after it (rollback() would expire).
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def finish_read(self) -> None:
        """End a unit of work that only read with COMMIT instead of leaving it to roll back.

        For a transaction that wrote nothing both end the same, but on PostgreSQL psycopg
        discards every prepared statement of the connection after a ROLLBACK: a hot read path
        that rolls back makes each later statement on that pooled connection be parsed and
        planned afresh (a credit check's standing read spent 0.5 ms of server CPU planning per
        call). Hot read paths — subject lookups, the public archive — finish with this
        (authentication reads in autocommit mode instead: no transaction at all). Never call
        it after a write: it commits.
        """
        self.session.commit()


@contextmanager
def read_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for reads; anything written through it is rolled back."""
    session = session_factory()
    try:
        yield session
    finally:
        session.rollback()
        session.close()
