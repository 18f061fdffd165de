"""G11: the operator audit trail is sealed into the 信用数据链 and tampering is reported.

On both databases: sealing is complete and idempotent, late-committed (lower) ids are sealed by
the next batch, `verify_audit` / `citycredit audit verify` name the first bad event and seal
after direct SQL edits and deletes (with the append-only triggers bypassed, as a database
superuser could), and a retention purge leaves a clean verification.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from citycredit.accounts.audit import event_row, event_values, purge_expired, write_event
from citycredit.accounts.audit_seal import (
    ENTRY_TYPE,
    LOOKBACK,
    AuditVerifyReport,
    items_digest,
    row_hash,
    seal_audit,
    seal_digest,
    verify_audit,
)
from citycredit.accounts.db import AuditEventRow, AuditPurgeRow, AuditSealItemRow, AuditSealRow
from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.bootstrap import Container
from citycredit.cli.main import app as cli
from citycredit.kernel.db import OutboxEventRow
from citycredit.kernel.deliveries import deliver_all
from citycredit.kernel.jobs import run_due
from citycredit.ledger.db import LedgerLeafRow
from citycredit.ledger.entries import field_digest
from citycredit.ledger.suites import Suite, hash_suite
from citycredit.ledger.verify import verify_log
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import FieldError, PermissionDenied
from support import id_number

pytestmark = pytest.mark.db

PERSON = id_number("610802", "19800304", "123")
STAFF = Principal(role=Role.department_staff, label="王小明", user_id=7, department_id=3)


def clock_of(c: Container) -> FixedClock:
    assert isinstance(c.clock, FixedClock)
    return c.clock


def record(c: Container, n: int, prefix: str = "test.action") -> None:
    """n audit events, with personal values in them (they must not reach the log)."""
    for i in range(n):
        write_event(
            c,
            action=f"{prefix}.{i}",
            result="success",
            actor=STAFF,
            object_id=PERSON,
            detail={"i": i, "name": "王小明", "nested": {"b": [1, 2.5, None], "a": "x"}},
        )


def insert_with_id(c: Container, event_id: int, at: datetime | None = None) -> None:
    """An event with a chosen id, as a transaction that drew it earlier and commits late."""
    row = event_row(at=at or c.clock.now(), action="late.commit", result="success", actor=SYSTEM)
    with c.engine.begin() as conn:
        conn.execute(insert(AuditEventRow), {"id": event_id, **event_values(row)})


def event_ids(c: Container) -> list[int]:
    with c.uow() as uow:
        return list(uow.session.scalars(select(AuditEventRow.id).order_by(AuditEventRow.id)))


def items(c: Container) -> dict[int, int]:
    """Event id → seal id."""
    with c.uow() as uow:
        rows = uow.session.execute(select(AuditSealItemRow.event_id, AuditSealItemRow.seal_id))
        return dict(rows.all())


def seals(c: Container) -> list[AuditSealRow]:
    with c.uow() as uow:
        return list(uow.session.scalars(select(AuditSealRow).order_by(AuditSealRow.id)))


def sealed_and_sequenced(c: Container, **kw: Any) -> dict[str, Any]:
    """Seal, then let the sequencer integrate the seals' leaves."""
    result = seal_audit(c, **kw)
    deliver_all(c)
    return result


def verify(c: Container) -> AuditVerifyReport:
    return verify_audit(c, record=False)


@contextmanager
def behind_the_back(c: Container) -> Iterator[Connection]:
    """A connection on which the append-only triggers and foreign keys do not apply: what a
    database superuser (or the file's owner) can do outside the application."""
    if c.settings.is_sqlite:
        engine = create_engine(c.settings.effective_database_url, poolclass=NullPool)
        try:
            with engine.begin() as conn:  # no foreign_keys pragma on this engine
                names = conn.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN"
                        " ('audit_events', 'audit_seals', 'audit_seal_items', 'audit_purges')"
                    )
                ).scalars()
                for name in list(names):
                    conn.execute(text(f'DROP TRIGGER "{name}"'))
                yield conn
        finally:
            engine.dispose()
        return
    with c.engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield conn


# -- sealing -------------------------------------------------------------------------------------


def test_sealing_is_complete_chained_and_idempotent(container: Container) -> None:
    c = container
    record(c, 7)
    first = seal_audit(c, batch=3)
    assert first["seals"] == 3 and first["events"] == 7 and first["seal_ids"] == [1, 2, 3]
    ids = event_ids(c)
    assert sorted(items(c)) == ids  # every event exactly once
    again = seal_audit(c, batch=3)
    assert again == {"seals": 0, "events": 0, "seal_ids": [], "last_digest": None}
    assert len(seals(c)) == 3 and sorted(items(c)) == ids

    h = hash_suite(Suite(c.settings.ledger_suite))
    rows = seals(c)
    assert [s.prev_digest for s in rows] == [None, rows[0].digest, rows[1].digest]
    assert [s.count for s in rows] == [3, 3, 1]
    assert (rows[0].first_event_id, rows[-1].last_event_id) == (ids[0], ids[-1])
    with c.uow() as uow:
        s = uow.session
        events = {r.id: r for r in s.execute(select(AuditEventRow.__table__))}
        for seal in rows:
            its = list(
                s.scalars(select(AuditSealItemRow).where(AuditSealItemRow.seal_id == seal.id))
            )
            for it in its:  # the hash covers every column of the row
                assert it.row_hash == row_hash(h, events[it.event_id]._mapping)
            triples = [(i.event_id, i.event_at, i.row_hash) for i in its]
            assert seal.items_digest == items_digest(h, triples)
            assert seal.digest == seal_digest(
                h, {c_.key: getattr(seal, c_.key) for c_ in AuditSealRow.__table__.columns}
            )

    # new events go into a new seal chained to the last one
    record(c, 2, "later")
    more = seal_audit(c)
    assert more["seal_ids"] == [4] and more["events"] == 2
    assert seals(c)[-1].prev_digest == rows[-1].digest
    report = verify(c)
    assert report.ok, report.as_dict()
    assert (report.seals, report.sealed, report.pending_leaves) == (4, 9, 4)


def test_the_hash_follows_the_ledger_suite(container: Container) -> None:
    c = container
    c.settings.ledger_suite = "sm3-sm2"
    record(c, 3)
    sealed_and_sequenced(c)
    (seal,) = seals(c)
    assert seal.suite == "sm3"
    sm3, sha = hash_suite(Suite.sm3_sm2), hash_suite(Suite.sha256_ed25519)
    with c.uow() as uow:
        s = uow.session
        first = s.execute(select(AuditEventRow.__table__).order_by(AuditEventRow.id)).first()
        assert first is not None
        item = s.get(AuditSealItemRow, first.id)
        assert item is not None
    assert item.row_hash == row_hash(sm3, first._mapping) != row_hash(sha, first._mapping)
    clock_of(c).advance(minutes=15)
    assert verify(c).ok and verify_log(c).ok


def test_each_seal_is_a_ledger_leaf_without_personal_data(container: Container) -> None:
    c = container
    record(c, 3)
    seal_audit(c)
    with c.uow() as uow:
        (event,) = uow.session.scalars(
            select(OutboxEventRow).where(OutboxEventRow.aggregate_type == "audit_seal")
        )
        assert event.event_type == ENTRY_TYPE and event.subject_id is None
    deliver_all(c)
    with c.uow() as uow:
        (leaf,) = uow.session.scalars(
            select(LedgerLeafRow).where(LedgerLeafRow.entry_type == ENTRY_TYPE)
        )
    (seal,) = seals(c)
    data = json.loads(leaf.data)
    assert leaf.ref == "audit-seal/1" and data["type"] == ENTRY_TYPE
    h = hash_suite(Suite(c.settings.ledger_suite))
    assert data["fields"]["digest"] == field_digest(h, bytes(leaf.salt), "digest", seal.digest)
    raw = bytes(leaf.data).decode() + base64.b64encode(bytes(leaf.data)).decode()
    payload = json.dumps(event.payload, ensure_ascii=False)
    for personal in (PERSON, "王小明"):
        assert personal not in raw and personal not in payload
    assert verify(c).ok and verify(c).pending_leaves == 0
    assert verify_log(c).ok  # `ledger verify` accepts the new leaf type


def test_a_late_commit_below_a_sealed_id_is_sealed_next_time(container: Container) -> None:
    c = container
    record(c, 3)
    top = event_ids(c)[-1]
    insert_with_id(c, top + 10)  # committed first, with the higher id
    assert seal_audit(c)["events"] == 4
    insert_with_id(c, top + 5)  # the transaction holding the lower id commits afterwards
    nxt = seal_audit(c)
    assert nxt["events"] == 1 and items(c)[top + 5] == nxt["seal_ids"][0]
    (last,) = [s for s in seals(c) if s.id == nxt["seal_ids"][0]]
    assert (last.first_event_id, last.last_event_id) == (top + 5, top + 5)
    deliver_all(c)
    clock_of(c).advance(minutes=11)
    assert verify(c).ok

    # a late row older than the look-back is reported by verify until a full seal takes it
    insert_with_id(c, top + 7, at=c.clock.now() - LOOKBACK - timedelta(hours=1))
    assert seal_audit(c)["events"] == 0
    report = verify(c)
    assert report.unsealed_events == [top + 7] and report.first_bad_event_id == top + 7
    assert seal_audit(c, full=True)["events"] == 1
    deliver_all(c)
    assert verify(c).ok


def test_events_not_older_than_the_grace_period_may_wait(container: Container) -> None:
    c = container
    record(c, 2)
    assert verify(c).ok  # unsealed, but just written
    clock_of(c).advance(minutes=c.settings.security.audit_seal_grace_minutes + 1)
    report = verify(c)
    ids = event_ids(c)
    assert report.unsealed_events == ids and report.first_bad_event_id == ids[0]


def test_a_seal_whose_leaf_never_came_is_reported(container: Container) -> None:
    c = container
    record(c, 2)
    seal_audit(c)  # the sequencer does not run
    assert verify(c).pending_leaves == 1 and verify(c).ok
    clock_of(c).advance(minutes=30)
    report = verify(c)
    assert report.without_leaf == [1] and report.first_bad_seal_id == 1


def test_the_seal_job_is_registered(container: Container) -> None:
    c = container
    record(c, 2)
    (job,) = run_due(c, only="audit_seal")
    assert job.status == "ok" and job.detail["events"] >= 2
    assert set(event_ids(c)) <= set(items(c))


def test_seal_and_verify_need_their_permissions(container: Container) -> None:
    c = container
    with pytest.raises(PermissionDenied):
        seal_audit(c, STAFF)
    with pytest.raises(PermissionDenied):
        verify_audit(c, Principal(role=Role.system_admin, label="sys"))
    with pytest.raises(FieldError) as bad:
        seal_audit(c, batch=0)
    assert bad.value.field == "batch" and bad.value.value == "0"
    report = verify_audit(c, Principal(role=Role.audit_admin, label="aud"))
    assert report.ok
    with c.uow() as uow:  # the verification itself is in the trail
        last = uow.session.scalar(select(AuditEventRow).order_by(AuditEventRow.id.desc()))
    assert last is not None and last.action == "audit.verify" and last.result == "success"


def test_the_seal_tables_are_append_only(container: Container) -> None:
    c = container
    record(c, 2)
    seal_audit(c)
    for sql in (
        "UPDATE audit_seals SET digest = 'x'",
        "DELETE FROM audit_seals",
        "UPDATE audit_seal_items SET row_hash = 'x'",
        "DELETE FROM audit_seal_items",
    ):
        with pytest.raises(DBAPIError), c.engine.begin() as conn:
            conn.execute(text(sql))
    assert len(seals(c)) == 1 and len(items(c)) == 2


# -- tampering -----------------------------------------------------------------------------------


@pytest.fixture
def sealed(container: Container) -> Container:
    """Nine events in three seals, each with its leaf; then the grace period passes."""
    c = container
    record(c, 9)
    sealed_and_sequenced(c, batch=3)
    clock_of(c).advance(minutes=15)
    assert verify(c).ok
    return c


def test_an_edited_row_is_reported(sealed: Container) -> None:
    c = sealed
    ids = event_ids(c)
    with behind_the_back(c) as conn:
        conn.execute(
            text("UPDATE audit_events SET result = 'failure' WHERE id IN (:a, :b)"),
            {"a": ids[7], "b": ids[4]},
        )
    report = verify(c)
    assert report.edited_events == [ids[4], ids[7]] and report.first_bad_event_id == ids[4]
    assert not report.ok and not report.changed_items and not report.changed_seals


def test_an_edited_time_is_reported(sealed: Container) -> None:
    c = sealed
    ids = event_ids(c)
    with behind_the_back(c) as conn:
        conn.execute(
            text("UPDATE audit_events SET at = :at WHERE id = :i"),
            {"at": datetime(2026, 1, 1, tzinfo=UTC), "i": ids[2]},
        )
    assert verify(c).first_bad_event_id == ids[2]


def test_a_deleted_row_is_reported(sealed: Container) -> None:
    c = sealed
    ids = event_ids(c)
    with behind_the_back(c) as conn:
        conn.execute(
            text("DELETE FROM audit_events WHERE id IN (:a, :b)"), {"a": ids[5], "b": ids[8]}
        )
    report = verify(c)
    assert report.deleted_events == [ids[5], ids[8]] and report.first_bad_event_id == ids[5]
    assert report.events == 7 and not report.edited_events


def test_a_deleted_item_is_reported(sealed: Container) -> None:
    c = sealed
    ids = event_ids(c)
    seal_of = items(c)
    with behind_the_back(c) as conn:
        conn.execute(text("DELETE FROM audit_seal_items WHERE event_id = :i"), {"i": ids[4]})
    report = verify(c)
    assert report.changed_items == [seal_of[ids[4]]]
    assert report.first_bad_seal_id == seal_of[ids[4]]
    assert report.unsealed_events == [ids[4]] and report.first_bad_event_id == ids[4]


def test_an_edited_item_is_reported(sealed: Container) -> None:
    c = sealed
    ids = event_ids(c)
    seal_of = items(c)
    with behind_the_back(c) as conn:
        conn.execute(
            text("UPDATE audit_seal_items SET row_hash = :h WHERE event_id = :i"),
            {"h": "0" * 64, "i": ids[6]},
        )
    report = verify(c)
    assert report.changed_items == [seal_of[ids[6]]] and report.first_bad_seal_id == 3
    assert report.first_bad_event_id == ids[6]


def test_an_edited_seal_digest_is_reported(sealed: Container) -> None:
    c = sealed
    with behind_the_back(c) as conn:
        conn.execute(text("UPDATE audit_seals SET digest = :d WHERE id = 2"), {"d": "f" * 64})
    report = verify(c)
    assert report.changed_seals == [2] and report.leaf_mismatch == [2]
    assert report.broken_chain == [3] and report.first_bad_seal_id == 2


def test_a_reforged_chain_still_disagrees_with_the_ledger(sealed: Container) -> None:
    """Edit a row and recompute its item, its seal and every later seal: the leaves differ."""
    c = sealed
    ids = event_ids(c)
    h = hash_suite(Suite(c.settings.ledger_suite))
    with behind_the_back(c) as conn:
        conn.execute(text("UPDATE audit_events SET action = 'x' WHERE id = :i"), {"i": ids[3]})
        row = conn.execute(select(AuditEventRow.__table__).where(AuditEventRow.id == ids[3])).one()
        conn.execute(
            text("UPDATE audit_seal_items SET row_hash = :h WHERE event_id = :i"),
            {"h": row_hash(h, row._mapping), "i": ids[3]},
        )
        prev = None
        for seal in conn.execute(select(AuditSealRow.__table__).order_by(AuditSealRow.id)).all():
            its = conn.execute(
                select(
                    AuditSealItemRow.event_id, AuditSealItemRow.event_at, AuditSealItemRow.row_hash
                ).where(AuditSealItemRow.seal_id == seal.id)
            ).all()
            values = {**seal._mapping, "items_digest": items_digest(h, [tuple(i) for i in its])}
            values["prev_digest"] = prev
            values["digest"] = seal_digest(h, values)
            conn.execute(
                text(
                    "UPDATE audit_seals SET items_digest = :i, prev_digest = :p, digest = :d"
                    " WHERE id = :s"
                ),
                {"i": values["items_digest"], "p": prev, "d": values["digest"], "s": seal.id},
            )
            prev = values["digest"]
    report = verify(c)
    assert not report.edited_events and not report.changed_seals and not report.broken_chain
    assert report.leaf_mismatch == [2, 3] and report.first_bad_seal_id == 2


def test_a_deleted_seal_is_reported(sealed: Container) -> None:
    c = sealed
    with behind_the_back(c) as conn:
        conn.execute(text("DELETE FROM audit_seal_items WHERE seal_id = 3"))
        conn.execute(text("DELETE FROM audit_seals WHERE id = 3"))
    report = verify(c)
    assert report.missing_seals == [3] and report.first_bad_seal_id == 3
    ids = event_ids(c)
    assert report.unsealed_events == ids[6:9]


def test_a_deleted_middle_seal_breaks_the_chain(sealed: Container) -> None:
    c = sealed
    with behind_the_back(c) as conn:
        conn.execute(text("DELETE FROM audit_seals WHERE id = 1"))
    report = verify(c)
    assert report.missing_seals == [1] and report.first_bad_seal_id == 1


# -- the retention purge ---------------------------------------------------------------------------


def test_purge_then_verify_is_clean_and_a_young_delete_is_still_caught(
    container: Container,
) -> None:
    c = container
    clock = clock_of(c)
    now = clock.current
    clock.current = datetime(2025, 9, 1, 2, 0, tzinfo=UTC)  # old enough for the database too
    record(c, 4, "old")
    old = event_ids(c)
    sealed_and_sequenced(c, batch=3)
    clock.current = now
    record(c, 3, "recent")
    sealed_and_sequenced(c)
    result = purge_expired(c, SYSTEM)
    assert result["deleted"] == len(old) and result["purge_id"] is not None
    with c.uow() as uow:
        (purge,) = uow.session.scalars(select(AuditPurgeRow))
        assert purge.deleted == len(old) and purge.ranges == [[old[0], old[-1]]]
        assert purge.cutoff <= now - timedelta(days=180)
        left = uow.session.scalar(select(func.count()).select_from(AuditEventRow))
    assert not set(old) & set(event_ids(c)) and left == 4  # 3 recent + the purge's own event
    sealed_and_sequenced(c)  # the purge's own event
    clock.advance(minutes=15)
    report = verify(c)
    assert report.ok, report.as_dict()
    assert report.purged == len(old) and report.sealed == len(old) + 4

    # the purge record covers exactly the ids it deleted: a recent deletion is still reported
    recent = event_ids(c)[0]
    with behind_the_back(c) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": recent})
    report = verify(c)
    assert report.deleted_events == [recent] and report.purged == len(old)


def test_a_forged_purge_record_does_not_excuse_a_recent_delete(sealed: Container) -> None:
    c = sealed
    ids = event_ids(c)
    with behind_the_back(c) as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": ids[1]})
        conn.execute(
            insert(AuditPurgeRow),
            {
                "at": c.clock.now(),
                "cutoff": datetime(2025, 1, 1, tzinfo=UTC),  # the event is younger than this
                "retention_days": 180,
                "deleted": 1,
                "ranges": [[ids[1], ids[1]]],
            },
        )
    report = verify(c)
    assert report.deleted_events == [ids[1]] and report.purged == 0


# -- the command line -------------------------------------------------------------------------------


def cli_env(c: Container) -> dict[str, str]:
    return {
        "CITYCREDIT_DATABASE_URL": c.settings.effective_database_url,
        "CITYCREDIT_DATA_DIR": str(c.settings.data_dir),
        "CITYCREDIT_SECRET_KEY": c.settings.secret_key.get_secret_value(),
        "CITYCREDIT_ENVIRONMENT": "test",
    }


def test_the_audit_commands(container: Container) -> None:
    c = container
    record(c, 4)
    runner = CliRunner()
    env = cli_env(c)
    sealed_ = runner.invoke(cli, ["audit", "seal"], env=env)
    assert sealed_.exit_code == 0 and "已封存 4 条审计记录" in sealed_.output, sealed_.output
    nothing = runner.invoke(cli, ["audit", "seal", "--json"], env=env)
    assert nothing.exit_code == 0 and json.loads(nothing.stdout)["seals"] == 0
    deliver_all(c)
    ok = runner.invoke(cli, ["audit", "verify"], env=env)
    assert ok.exit_code == 0 and "审计日志核验通过" in ok.output, ok.output
    ids = event_ids(c)
    with behind_the_back(c) as conn:
        conn.execute(
            text("UPDATE audit_events SET source_ip = '1.2.3.4' WHERE id = :i"), {"i": ids[2]}
        )
    bad = runner.invoke(cli, ["audit", "verify"], env=env)
    assert bad.exit_code == 1, bad.output
    assert f"首个异常审计记录编号 {ids[2]}" in bad.output and "审计记录被修改" in bad.output
    as_json = runner.invoke(cli, ["audit", "verify", "--json"], env=env)
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["edited_events"] == [ids[2]]


def test_concurrent_writers_committing_out_of_order(pg_container: Container) -> None:
    """PostgreSQL: a transaction holding a lower id commits after a seal took a higher one."""
    c = pg_container
    slow = c.engine.connect()
    try:
        tx = slow.begin()
        row = event_row(at=c.clock.now(), action="slow.tx", result="success", actor=SYSTEM)
        low = slow.execute(
            insert(AuditEventRow).returning(AuditEventRow.id), event_values(row)
        ).scalar_one()
        record(c, 1, "fast")  # commits first, with the next id
        high = event_ids(c)[-1]
        assert high > low
        first = seal_audit(c)
        assert first["events"] == 1 and set(items(c)) == {high}  # the open one is not seen
        tx.commit()
    finally:
        slow.close()
    second = seal_audit(c)
    assert second["events"] == 1 and items(c)[low] == second["seal_ids"][0]
    deliver_all(c)
    clock_of(c).advance(minutes=15)
    assert verify(c).ok
