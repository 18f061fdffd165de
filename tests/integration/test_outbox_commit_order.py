"""Outbox ids become visible in id order, so a consumer's cursor never skips a late commit.

On PostgreSQL two writing transactions are interleaved: the first emits and stays open, the
second tries to emit while the first is open. Without the outbox lock the second would take a
higher id, commit first, and a consumer reading in between would move its cursor past the
first's id for ever (the skip the sharing area found). With it, the second waits."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from citycredit.bootstrap import Container
from citycredit.kernel import outbox
from citycredit.kernel.db import DisclosureRow, OutboxEventRow

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


@pytest.mark.parametrize("hot_path", [False, True], ids=["emit", "commit_with_event"])
def test_a_late_commit_is_never_skipped(container: Container, hot_path: bool) -> None:
    """The second writer emits through the ORM unit of work, or through the one-statement hot
    path (`commit_with_event`, which must draw its event id under the same lock)."""
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
                if hot_path:
                    _commit_with_event(uow.session, 2)
                else:
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
    if hot_path:  # its row and event stored with their values
        with c.uow() as uow:
            event = uow.session.scalars(
                select(OutboxEventRow).where(OutboxEventRow.aggregate_id == "2")
            ).one()
            (log,) = uow.session.scalars(select(DisclosureRow))
        assert event.payload == {"n": 2, "ledger": {"k": [1, 2]}} and event.created_at == AT
        assert log.subject_id == "s2" and log.detail == {"n": 2, "名": "值"}
        assert log.items == ["penalty"] and log.at == AT


def _rows_and_event(n: int) -> tuple[list[tuple[Any, dict[str, Any]]], dict[str, Any]]:
    """A disclosure-log row and an event."""
    rows: list[tuple[Any, dict[str, Any]]] = [
        (
            DisclosureRow,
            {
                "at": AT,
                "actor_role": "department_staff",
                "actor_label": "测试",
                "user_id": None,
                "department_id": None,
                "subject_id": f"s{n}",
                "items": ["penalty"],
                "purpose": "信用核查：测试",
                "channel": "api",
                "detail": {"n": n, "名": "值"},
            },
        )
    ]
    event = {
        "event_type": "test.event",
        "aggregate_type": "test",
        "aggregate_id": str(n),
        "subject_id": f"s{n}",
        "payload": {"n": n, "ledger": {"k": [1, 2]}},
        "created_at": AT,
    }
    return rows, event


def _commit_with_event(session: Any, n: int) -> None:
    """The same, committed with them (one round trip on PostgreSQL)."""
    outbox.commit_with_event(session, *_rows_and_event(n))


def test_the_hot_path_refuses_rows_without_their_python_defaults(container: Container) -> None:
    with container.uow() as uow, pytest.raises(ValueError, match="detail"):
        outbox.commit_with_event(
            uow.session,
            [(DisclosureRow, {"at": AT, "actor_role": "x", "actor_label": "x", "purpose": "x"})],
            {"event_type": "t", "aggregate_type": "t", "aggregate_id": "1", "created_at": AT},
        )


def test_commit_with_event_commits_the_unit_of_work(container: Container) -> None:
    """Before the unit of work's own commit, another connection already sees the rows and the
    event; the unit of work's commit after it is a no-op."""
    c = container
    with c.uow() as uow:
        _commit_with_event(uow.session, 7)
        with c.engine.connect() as other:
            seen = other.execute(select(OutboxEventRow.aggregate_id)).scalars().all()
            logs = other.execute(select(DisclosureRow.subject_id)).scalars().all()
        assert seen == ["7"] and logs == ["s7"]
        uow.commit()
    with c.uow() as uow:
        assert uow.session.scalars(select(OutboxEventRow.aggregate_id)).all() == ["7"]
