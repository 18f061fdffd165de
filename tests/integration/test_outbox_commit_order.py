"""Outbox writers never wait for each other, and a consumer's cursor never skips a late commit.

On PostgreSQL two writing transactions are interleaved: the first emits and stays open, the
second emits and commits while the first is open (it does not wait), so the higher id commits
first. A consumer reading in between gets the second event and keeps the first's id as a gap;
when the first commits, the next delivery brings it. A gap whose transaction rolled back is
dropped once no transaction that could hold it is open."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from citycredit.bootstrap import Container
from citycredit.kernel import outbox
from citycredit.kernel.db import DisclosureRow, OutboxCursorRow, OutboxEventRow
from citycredit.ledger.verify import _pending_refs

pytestmark = pytest.mark.db
AT = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)


def _emit(session: object, n: int, payload: dict[str, Any] | None = None) -> None:
    outbox.emit(
        session,  # type: ignore[arg-type]
        event_type="test.event",
        aggregate_type="test",
        aggregate_id=str(n),
        at=AT,
        payload=payload,
    )


def _recorder() -> tuple[list[str], outbox.Consumer]:
    """A consumer that records the aggregate ids it is given, and its record."""
    seen: list[str] = []

    def consumer(_s: object, events: Sequence[outbox.Event]) -> None:
        seen.extend(e.aggregate_id for e in events)

    return seen, consumer


def _gaps(c: Container, name: str) -> list[dict[str, Any]]:
    with c.uow() as uow:
        cursor = uow.session.get(OutboxCursorRow, name)
        return list(cursor.gaps) if cursor is not None else []


def _second_writer(c: Container, hot_path: bool, n: int = 2) -> None:
    """Emit event n and commit in another thread; fail if it has to wait for anything."""
    done = threading.Event()
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with c.uow() as uow:
                if hot_path:
                    _commit_with_event(uow.session, n)
                else:
                    _emit(uow.session, n)
                    uow.session.flush()
                    uow.commit()
            done.set()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    t = threading.Thread(target=second)
    t.start()
    t.join(10)
    assert done.is_set() and not errors, "the second writer waited for the first"


@pytest.mark.parametrize("hot_path", [False, True], ids=["emit", "commit_with_event"])
def test_a_late_commit_is_never_skipped(container: Container, hot_path: bool) -> None:
    """The second writer emits through the ORM unit of work, or through the one-statement hot
    path (`commit_with_event`)."""
    c = container
    seen, consumer = _recorder()

    first = c.uow()
    first.__enter__()
    _emit(first.session, 1)
    first.session.flush()  # id taken, not committed
    if c.engine.dialect.name == "sqlite":
        # One writer at a time: the second writer would wait for the database lock itself.
        first.commit()
        first.__exit__(None, None, None)
        _second_writer(c, hot_path)
        outbox.deliver(c.uow, "probe", consumer, at=AT)
        assert seen == ["1", "2"] and _gaps(c, "probe") == []
    else:
        _second_writer(c, hot_path)  # commits while the first is still open
        outbox.deliver(c.uow, "probe", consumer, at=AT)
        assert seen == ["2"]
        (gap,) = _gaps(c, "probe")
        first.commit()
        first.__exit__(None, None, None)
        outbox.deliver(c.uow, "probe", consumer, at=AT)
        assert seen == ["2", "1"]  # the late event, once
        assert _gaps(c, "probe") == []
        outbox.deliver(c.uow, "probe", consumer, at=AT)
        assert seen == ["2", "1"]  # and never again
    with c.uow() as uow:
        ids = uow.session.execute(
            select(OutboxEventRow.aggregate_id, OutboxEventRow.id).order_by(OutboxEventRow.id)
        ).all()
    assert [a for a, _ in ids] == ["1", "2"]  # ids in insert order, whatever the commit order
    if c.engine.dialect.name != "sqlite":
        assert gap["lo"] == gap["hi"] == ids[0][1]
    if hot_path:  # its row and event stored with their values
        with c.uow() as uow:
            event = uow.session.scalars(
                select(OutboxEventRow).where(OutboxEventRow.aggregate_id == "2")
            ).one()
            (log,) = uow.session.scalars(select(DisclosureRow))
        assert event.payload == {"n": 2, "ledger": {"k": [1, 2]}} and event.created_at == AT
        assert log.subject_id == "s2" and log.detail == {"n": 2, "名": "值"}
        assert log.items == ["penalty"] and log.at == AT


def test_a_rolled_back_gap_is_dropped(
    pg_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = pg_container
    monkeypatch.setattr(outbox, "GAP_GRACE_SECONDS", 0.0)
    seen, consumer = _recorder()

    gone = c.uow()
    gone.__enter__()
    _emit(gone.session, 1)
    gone.session.flush()
    _second_writer(c, hot_path=False)
    outbox.deliver(c.uow, "probe", consumer, at=AT)
    assert seen == ["2"] and len(_gaps(c, "probe")) == 1
    outbox.deliver(c.uow, "probe", consumer, at=AT)
    assert len(_gaps(c, "probe")) == 1  # its transaction is still open: it may yet commit
    gone.__exit__(None, None, None)  # rolled back
    for _ in range(3):  # first horizon, second horizon, last read
        outbox.deliver(c.uow, "probe", consumer, at=AT)
    assert _gaps(c, "probe") == [] and seen == ["2"]


def test_the_ledger_check_counts_late_events_in_the_sequencer_gaps_as_pending(
    pg_container: Container,
) -> None:
    """ledger verify: a version whose event committed late (in the sequencer's gap) is pending,
    not 'inserted behind the platform's back'."""
    c = pg_container
    first = c.uow()
    first.__enter__()
    _emit(first.session, 1, {"ledger": {"ref": "rec-1/1"}})
    first.session.flush()
    with c.uow() as uow:
        _emit(uow.session, 2, {"ledger": {"ref": "rec-2/1"}})
        uow.commit()
    outbox.deliver(c.uow, "ledger", lambda _s, _e: None, at=AT)  # the sequencer's cursor
    first.commit()
    first.__exit__(None, None, None)
    with c.uow() as uow:
        assert _pending_refs(uow.session) == {"rec-1/1"}


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


def test_a_late_submission_larger_than_a_batch_comes_a_batch_at_a_time(
    pg_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large submission that commits behind the high water is read in batches (never all its
    events at once), each event once, and its gap closes only when it has been read through."""
    c = pg_container
    monkeypatch.setattr(outbox, "GAP_GRACE_SECONDS", 0.0)
    batches: list[list[str]] = []

    def consumer(_s: object, events: Sequence[outbox.Event]) -> None:
        batches.append([e.aggregate_id for e in events])

    big = c.uow()
    big.__enter__()
    for n in range(1, 8):
        _emit(big.session, n)
    big.session.flush()  # ids 1..7 taken, not committed
    _second_writer(c, hot_path=False, n=8)
    outbox.deliver(c.uow, "probe", consumer, at=AT, batch=3)
    assert batches == [["8"]]
    big.commit()
    big.__exit__(None, None, None)
    # The gap's horizons have passed by now (its transaction ended): only reading it through
    # may close it.
    outbox.deliver(c.uow, "probe", consumer, at=AT, batch=3)
    assert batches == [["8"], ["1", "2", "3"], ["4", "5", "6"], ["7"]]
    assert _gaps(c, "probe") == []
    outbox.deliver(c.uow, "probe", consumer, at=AT, batch=3)
    assert len(batches) == 4
