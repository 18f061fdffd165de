"""The fan-out and a subscription's initial load find record versions by record id, and write
their feed entries in one statement per batch (benchmarks/sharing.py, docs/benchmarks.md: a
row-value IN list of 500 pairs took PostgreSQL 50–200 ms to plan, 0.35 ms by record id, and the
ORM's unit of work for the entries was the next largest cost; the fan-out runs 1.2–2× as fast).
The feeds themselves are checked by the sharing suite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import event, select

from citycredit.accounts.model import SYSTEM
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.sharing import service as sharing
from citycredit.sharing.db import FeedEntryRow
from citycredit.sharing.fanout import fan_out, load_versions
from citycredit.sharing.service import NewSubscription
from support import submit_penalties, uscc

pytestmark = pytest.mark.db

TAX = "榆林市税务局"


def subscribe(c: Container) -> str:
    from citycredit.accounts.service import add_department

    add_department(c, SYSTEM, name=TAX, code=uscc("11", "610800", "MA0TAX02"))
    made = sharing.subscribe(
        c,
        SYSTEM,
        NewSubscription(
            name="全部处罚",
            items=["penalty"],
            purpose="联合奖惩",
            legal_basis="协议",
            department=TAX,
        ),
    )
    return str(made["id"])


def test_versions_are_found_by_record_id(container: Container, tmp_path: Path) -> None:
    c = container
    submit_penalties(c, tmp_path, 6)
    sent: list[str] = []

    def capture(_conn: object, _cur: object, statement: str, *_: object) -> None:
        if "FROM record_versions" in statement:
            sent.append(" ".join(statement.split()))

    with c.uow() as uow:
        pairs = [(rid, 1) for rid in uow.session.scalars(select(RecordRow.id))]
        event.listen(c.engine, "before_cursor_execute", capture)
        try:
            found = load_versions(uow.session, [*pairs, (pairs[0][0], 2)])  # no version 2
        finally:
            event.remove(c.engine, "before_cursor_execute", capture)
    assert sorted(found) == sorted(pairs)
    assert all(v.version == 1 and v.record_id == rid for (rid, _), v in found.items())
    assert len(sent) == 1, sent
    assert any(f"record_versions.record_id {op}" in sent[0] for op in ("IN", "= ANY")), sent
    assert "(record_versions.record_id, record_versions.version) IN" not in sent[0], sent


def test_feed_entries_are_written_in_one_statement_per_batch(
    container: Container, tmp_path: Path
) -> None:
    c = container
    sub = subscribe(c)
    fan_out(c, grace=0)
    submit_penalties(c, tmp_path, 5)
    statements: list[str] = []

    def count(_conn: object, _cur: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO SHARING_FEED_ENTRIES"):
            statements.append(statement)

    event.listen(c.engine, "before_cursor_execute", count)
    try:
        assert fan_out(c, grace=0) >= 5
    finally:
        event.remove(c.engine, "before_cursor_execute", count)
    # five entries: one multi-row INSERT on SQLite; on PostgreSQL one COPY (no INSERT)
    assert len(statements) == (0 if c.engine.dialect.name == "postgresql" else 1)
    with c.uow() as uow:
        rows = uow.session.execute(
            select(FeedEntryRow.seq, FeedEntryRow.kind, FeedEntryRow.payload)
            .where(FeedEntryRow.subscription_id == sub)
            .order_by(FeedEntryRow.seq)
        ).all()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert {r.kind for r in rows} == {"original"}
    assert all(r.payload["fields"]["CF_XDR_MC"].startswith("榆阳区第") for r in rows)


def test_a_growing_feed_keeps_fresh_statistics(
    pg_container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL only (statistics): once a process has appended ANALYZE_EVERY entries, the
    fan-out has the feed table analysed, so a bulk load is not planned as a small table."""
    from citycredit.sharing import fanout

    c = pg_container
    monkeypatch.setattr(fanout, "ANALYZE_EVERY", 4)
    monkeypatch.setattr(fanout, "_since_analyze", 0)
    subscribe(c)
    fan_out(c, grace=0)

    def counted() -> float:
        with c.engine.connect() as conn:
            return float(
                conn.exec_driver_sql(
                    "SELECT reltuples FROM pg_class WHERE relname = 'sharing_feed_entries'"
                ).scalar_one()
            )

    submit_penalties(c, tmp_path, 3)
    fan_out(c, grace=0)
    before = counted()
    assert before <= 0  # never analysed since the tables were emptied (-1) or empty (0)
    submit_penalties(c, tmp_path, 2, start=10)
    fan_out(c, grace=0)  # 5 entries: past 4
    assert counted() == 5
    assert fanout._since_analyze == 0


def test_subscriptions_that_see_a_record_alike_share_one_projection(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two subscriptions with the same access, personal mode and fields get one projection of
    each version (sharing.model.project runs once for both); one asking for fewer fields gets
    its own — and each feed holds what its own projection says."""
    from citycredit.accounts.service import add_department
    from citycredit.sharing import fanout

    c = container
    add_department(c, SYSTEM, name=TAX, code=uscc("11", "610800", "MA0TAX02"))

    def new(name: str, fields: dict[str, list[str]] | None = None) -> str:
        cmd = NewSubscription(
            name=name,
            items=["penalty"],
            fields=fields or {},
            purpose="联合奖惩",
            legal_basis="协议",
            department=TAX,
        )
        return str(sharing.subscribe(c, SYSTEM, cmd)["id"])

    first, second = new("甲"), new("乙")
    narrow = new("丙", {"penalty": ["CF_WSH"]})
    fan_out(c, grace=0)
    submit_penalties(c, tmp_path, 3)
    calls: list[tuple[str, ...]] = []
    real = fanout.project

    def counting(*args: object, **kw: object) -> object:
        calls.append(tuple(kw["wanted"]))  # type: ignore[arg-type]
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(fanout, "project", counting)
    assert fan_out(c, grace=0) >= 3
    assert sorted(calls) == [(), (), (), ("CF_WSH",), ("CF_WSH",), ("CF_WSH",)]
    with c.uow() as uow:
        feeds = {
            sub: [
                p["fields"]
                for p in uow.session.scalars(
                    select(FeedEntryRow.payload)
                    .where(FeedEntryRow.subscription_id == sub)
                    .order_by(FeedEntryRow.seq)
                )
            ]
            for sub in (first, second, narrow)
        }
    assert len(feeds[first]) == 3 and feeds[first] == feeds[second]
    assert all("CF_XDR_MC" in f and "CF_WSH" in f for f in feeds[first])
    assert [set(f) for f in feeds[narrow]] == [{"CF_WSH"}] * 3
    assert [f["CF_WSH"] for f in feeds[narrow]] == [f["CF_WSH"] for f in feeds[first]]
