"""Outbox ids become visible in id order, so a consumer's cursor never skips a late commit.

On PostgreSQL two writing transactions are interleaved: the first emits and stays open, the
second tries to emit while the first is open. Without the outbox lock the second would take a
higher id, commit first, and a consumer reading in between would move its cursor past the
first's id for ever (the skip the sharing area found). With it, the second waits."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from citycredit.bootstrap import Container
from citycredit.kernel import outbox
from citycredit.kernel.db import OutboxEventRow

pytestmark = pytest.mark.db
AT = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def _emit(session: object, n: int) -> None:
    outbox.emit(
        session,  # type: ignore[arg-type]
        event_type="test.event",
        aggregate_type="test",
        aggregate_id=str(n),
        at=AT,
    )


def test_a_late_commit_is_never_skipped(container: Container) -> None:
    c = container
    seen: list[str] = []

    def consumer(_s: object, events: Sequence[outbox.Event]) -> None:
        seen.extend(e.aggregate_id for e in events)

    first = c.uow()
    first.__enter__()
    _emit(first.session, 1)
    first.session.flush()  # id taken, not committed
    second_done = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with c.uow() as uow:
                _emit(uow.session, 2)
                uow.session.flush()
                uow.commit()
            second_done.set()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    if c.engine.dialect.name == "sqlite":
        # One writer at a time: the second writer would wait for the database lock itself.
        first.commit()
        first.__exit__(None, None, None)
        second()
    else:
        t = threading.Thread(target=second)
        t.start()
        # The second writer waits for the first (the outbox lock), however long it takes …
        assert not second_done.wait(0.5)
        # … so a consumer reading now sees neither, and moves its cursor past nothing.
        outbox.deliver(c.uow, "probe", consumer, at=AT)
        assert seen == []
        first.commit()
        first.__exit__(None, None, None)
        t.join(30)
        assert second_done.is_set() and not errors
    outbox.deliver(c.uow, "probe", consumer, at=AT)
    assert seen == ["1", "2"]
    with c.uow() as uow:
        ids = uow.session.execute(
            select(OutboxEventRow.aggregate_id, OutboxEventRow.id).order_by(OutboxEventRow.id)
        ).all()
    assert [a for a, _ in ids] == ["1", "2"]  # ids in commit order
