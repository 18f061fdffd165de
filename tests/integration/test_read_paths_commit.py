"""Hot read paths end their transaction with COMMIT, never ROLLBACK (db.uow.finish_read).

On PostgreSQL psycopg discards every prepared statement of a connection after a ROLLBACK, so a
read path that rolls back makes every statement after it on that pooled connection be parsed and
planned again. The subject lookup and the public archive finish with COMMIT (a failed read still
rolls back); authentication (every API request) reads in autocommit mode, with no transaction.
On PostgreSQL the statements they run stay prepared across requests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text

from citycredit.accounts.model import ANONYMOUS, SYSTEM
from citycredit.accounts.service import add_department, authenticate
from citycredit.bootstrap import Container
from citycredit.shared.errors import NotFound
from citycredit.subjects import archive
from citycredit.subjects.service import SubjectFacts, SubjectRegistry
from support import uscc

pytestmark = pytest.mark.db


@contextmanager
def endings(c: Container) -> Iterator[list[str]]:
    """How the engine's transactions end while the block runs."""
    seen: list[str] = []

    def on_commit(_conn: Any) -> None:
        seen.append("commit")

    def on_rollback(_conn: Any) -> None:
        seen.append("rollback")

    event.listen(c.engine, "commit", on_commit)
    event.listen(c.engine, "rollback", on_rollback)
    try:
        yield seen
    finally:
        event.remove(c.engine, "commit", on_commit)
        event.remove(c.engine, "rollback", on_rollback)


def subject(c: Container) -> str:
    with c.uow() as uow:
        reg = SubjectRegistry(uow.session, c.digester, now=c.clock.now(), actor_label="test")
        row = reg.create(
            SubjectFacts(
                name="榆林读取测试有限公司", category="企业", uscc=uscc("91", "610802", "MA6READ1")
            ),
            origin="registration",
        )
        uow.commit()
        return row.subject_id


def test_authentication_and_subject_reads_end_with_commit(container: Container) -> None:
    c = container
    token = add_department(
        c, SYSTEM, name="榆林市交通运输局", code=uscc("11", "610800", "MA0TRN01")
    ).token
    sid = subject(c)
    modes: list[Any] = []

    def on_execute(conn: Any, *_args: Any) -> None:
        modes.append(conn.get_execution_options().get("isolation_level"))

    # The token lookup runs in autocommit mode: no transaction to end (SQLAlchemy's rollback
    # at release is a no-op on the driver, which is idle), no BEGIN / COMMIT round trips.
    event.listen(c.engine, "before_cursor_execute", on_execute)
    try:
        principal = authenticate(c, token)
    finally:
        event.remove(c.engine, "before_cursor_execute", on_execute)
    assert modes == ["AUTOCOMMIT"]
    with endings(c) as seen:
        summary = archive.get_subject(c, principal, sid)
        view = archive.public_archive(c, ANONYMOUS, sid)
    assert principal.department_name == "榆林市交通运输局"
    assert summary["subject_id"] == sid and view["subject"]["subject_id"] == sid
    assert seen == ["commit", "commit"]
    with endings(c) as seen, pytest.raises(NotFound):
        archive.get_subject(c, principal, "snope")
    assert seen == ["rollback"]  # a failed read rolls back as before
    if c.engine.dialect.name == "postgresql":
        # More authentications than psycopg's prepare threshold on one pooled connection (a
        # fresh pool; calls in sequence reuse its one connection): the token lookup stays a
        # prepared statement of that connection.
        c.engine.dispose()
        for _ in range(8):
            authenticate(c, token)
        with c.engine.connect() as conn:
            prepared = conn.execute(
                text(
                    "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%api_tokens%'"
                )
            ).scalar_one()
        assert prepared == 1
