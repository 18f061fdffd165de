"""G11 on PostgreSQL: the application's role may read and append the audit trail, never change it.

`citycredit db grant-app-role ROLE` (db/grants.py), run by the owner after `db upgrade`, gives
the role SELECT/INSERT/UPDATE/DELETE on business tables, USAGE on sequences, TEMP on the
database, and only SELECT/INSERT on the audit tables; no TRUNCATE and no DDL anywhere. Connected
as that role, the application still works — the row and the vectorised intake (COPY, TEMP
tables), archive reads, the ledger sequencer (COPY), sealing, verification and the retention
purge (through the owner's SECURITY DEFINER function).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from psycopg import errors
from sqlalchemy import Engine, create_engine, func, make_url, select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from citycredit.accounts.audit import purge_expired, write_event
from citycredit.accounts.audit_seal import seal_audit, verify_audit
from citycredit.accounts.db import AuditEventRow, AuditPurgeRow
from citycredit.accounts.model import SYSTEM
from citycredit.accounts.service import add_department, department_principal
from citycredit.bootstrap import Container, build_container
from citycredit.cli.main import app as cli
from citycredit.db.grants import AUDIT_TABLES, GrantError, grant_app_role
from citycredit.ingest.db import RecordRow, RecordVersionRow
from citycredit.ingest.service import ingest_submission
from citycredit.kernel.deliveries import deliver_all
from citycredit.ledger.db import LedgerLeafRow
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import FieldError
from citycredit.subjects.archive import authorised_archive, public_archive
from citycredit.subjects.db import SubjectRow
from support import PENALTY_COLUMNS, SAMR, penalty_row, uscc, write_csv

pytestmark = pytest.mark.db

PASSWORD = "app-role-password-1"
SAMR_CODE = uscc("11", "610800", "MA0CAMR1")
CO_A = uscc("91", "610881", "MA6GR01A")
CO_B = uscc("91", "610802", "MA6GR02B")


def _drop_role(owner: Engine, role: str) -> None:
    with owner.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))


@pytest.fixture
def owner(pg_container: Container) -> Container:
    """The owner's container (the role that ran the migrations), on an emptied database."""
    return pg_container


@pytest.fixture
def role(owner: Container) -> Iterator[str]:
    """A fresh application role with the grants; dropped afterwards."""
    name = f"cc_app_{uuid.uuid4().hex[:10]}"
    grant_app_role(owner.engine, name, password=PASSWORD)
    try:
        yield name
    finally:
        _drop_role(owner.engine, name)


@pytest.fixture
def app_c(owner: Container, role: str, tmp_path: Path) -> Iterator[Container]:
    """The application connected as the role (same settings, same fixed clock)."""
    url = make_url(owner.settings.effective_database_url).set(username=role, password=PASSWORD)
    settings = owner.settings.model_copy(
        update={
            "database_url": url.render_as_string(hide_password=False),
            "intake_fast_min_bytes": None,
        }
    )
    c = build_container(settings, clock=owner.clock)
    try:
        yield c
    finally:
        c.dispose()


def privilege(c: Container, kind: str, *args: str) -> bool:
    with c.engine.connect() as conn:
        params = {f"a{i}": a for i, a in enumerate(args)}
        marks = ", ".join(f":a{i}" for i in range(len(args)))
        return bool(conn.execute(text(f"SELECT has_{kind}_privilege({marks})"), params).scalar())


def test_the_role_has_exactly_the_run_time_privileges(owner: Container, role: str) -> None:
    c = owner
    for table in AUDIT_TABLES:
        assert privilege(c, "table", role, table, "SELECT")
        assert privilege(c, "table", role, table, "INSERT")
        for p in ("UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"):
            assert not privilege(c, "table", role, table, p), (table, p)
    for table in ("records", "record_versions", "outbox", "ledger_leaves", "subjects"):
        for p in ("SELECT", "INSERT", "UPDATE", "DELETE"):
            assert privilege(c, "table", role, table, p), (table, p)
    assert privilege(c, "table", role, "alembic_version", "SELECT")
    assert not privilege(c, "table", role, "alembic_version", "UPDATE")
    with c.engine.connect() as conn:
        tables = list(
            conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
            .scalars()
            .all()
        )
        sequences = list(
            conn.execute(text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"))
            .scalars()
            .all()
        )
        flags = conn.execute(
            text(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolcanlogin"
                " FROM pg_roles WHERE rolname = :r"
            ),
            {"r": role},
        ).one()
    assert len(tables) > 40 and sequences
    for table in tables:
        assert not privilege(c, "table", role, table, "TRUNCATE"), table
    for seq in sequences:
        assert privilege(c, "sequence", role, seq, "USAGE"), seq
    assert not privilege(c, "schema", role, "public", "CREATE")  # no DDL
    assert privilege(c, "schema", role, "public", "USAGE")
    assert privilege(c, "database", role, _db(c), "TEMPORARY")
    assert not privilege(c, "database", role, _db(c), "CREATE")
    sig = "citycredit_audit_purge(timestamptz, integer, timestamptz)"
    assert privilege(c, "function", role, sig, "EXECUTE")
    assert tuple(flags) == (False, False, False, False, True)


def _db(c: Container) -> str:
    return str(make_url(c.settings.effective_database_url).database)


def test_granting_again_takes_back_what_was_added(owner: Container, role: str) -> None:
    c = owner
    with c.engine.begin() as conn:
        conn.execute(text(f'GRANT UPDATE, DELETE, TRUNCATE ON audit_events TO "{role}"'))
        conn.execute(text(f'GRANT TRUNCATE ON records TO "{role}"'))
    assert privilege(c, "table", role, "audit_events", "UPDATE")
    again = grant_app_role(c.engine, role)
    assert not again.created and "audit_events" in again.audit_tables
    assert len(again.business_tables) > 40 and again.read_only_tables == ["alembic_version"]
    for p in ("UPDATE", "DELETE", "TRUNCATE"):
        assert not privilege(c, "table", role, "audit_events", p)
    assert not privilege(c, "table", role, "records", "TRUNCATE")
    assert privilege(c, "table", role, "records", "UPDATE")


def _refused(c: Container, sql: str) -> None:
    with pytest.raises(DBAPIError) as exc, c.engine.begin() as conn:
        conn.execute(text(sql))
    assert isinstance(exc.value.orig, errors.InsufficientPrivilege), exc.value


def test_the_role_cannot_change_the_audit_trail(app_c: Container) -> None:
    c = app_c
    write_event(c, action="test.as_app_role", result="success", actor=SYSTEM)  # INSERT works
    seal_audit(c)
    with c.engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() != "postgres"
        n = conn.execute(select(func.count()).select_from(AuditEventRow)).scalar_one()
    assert n == 1
    for table in AUDIT_TABLES:
        _refused(c, f"DELETE FROM {table}")
        _refused(c, f"TRUNCATE {table}")
    _refused(c, "UPDATE audit_events SET result = 'failure'")
    _refused(c, "UPDATE audit_seals SET digest = 'x'")
    _refused(c, "UPDATE audit_seal_items SET row_hash = 'x'")
    _refused(c, "TRUNCATE records")
    _refused(c, "CREATE TABLE sneaky (id int)")
    _refused(c, "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
    with c.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEventRow)).scalar_one() == 1


def penalty_csv(tmp: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    return write_csv(tmp / name, PENALTY_COLUMNS, [penalty_row(PENALTY_COLUMNS, **r) for r in rows])


def test_the_application_works_through_the_role(app_c: Container, tmp_path: Path) -> None:
    c = app_c
    clock = c.clock
    assert isinstance(clock, FixedClock)
    now = clock.current
    # events old enough to be purged, written by the application role itself
    clock.current = datetime(2025, 9, 1, 2, 0, tzinfo=UTC)
    for i in range(3):
        write_event(c, action=f"old.{i}", result="success", actor=SYSTEM)
    clock.current = now

    add_department(c, SYSTEM, name=SAMR, code=SAMR_CODE)
    actor = department_principal(c, SAMR)
    first = penalty_csv(
        tmp_path, "a.csv", [{"CF_XDR_SHXYM": CO_A, "CF_XDR_MC": "神木市甲公司", "CF_WSH": "罚1"}]
    )
    row_path = ingest_submission(c, actor, path=first, item_code="penalty", fast=False).as_dict()
    assert row_path["new"] == 1, row_path
    rows = [
        {"CF_XDR_SHXYM": CO_A, "CF_XDR_MC": "神木市甲公司", "CF_WSH": "罚1", "CF_NR_FK": "3"},
        {"CF_XDR_SHXYM": CO_B, "CF_XDR_MC": "榆阳区乙公司", "CF_WSH": "罚2"},
    ]
    fast = ingest_submission(
        c, actor, path=penalty_csv(tmp_path, "b.csv", rows), item_code="penalty", fast=True
    ).as_dict()
    assert (fast["new"], fast["corrected"]) == (1, 1), fast  # COPY + TEMP table update
    with c.uow() as uow:
        s = uow.session
        subject = s.scalar(select(SubjectRow.subject_id).where(SubjectRow.uscc == CO_A))
        assert subject is not None
        assert s.scalar(select(func.count()).select_from(RecordRow)) == 2
        assert s.scalar(select(func.count()).select_from(RecordVersionRow)) == 3
    view = public_archive(c, SYSTEM, subject)
    assert view["subject"]["subject_id"] == subject
    staff = authorised_archive(c, actor, subject, purpose="行政审批核查")
    assert staff["subject"]["subject_id"] == subject
    deliver_all(c)  # the ledger sequencer COPYs leaves and nodes
    with c.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(LedgerLeafRow)) == 3

    sealed = seal_audit(c)
    assert sealed["events"] >= 3
    purged = purge_expired(c, SYSTEM)  # through the owner's SECURITY DEFINER function
    assert purged["deleted"] == 3
    with c.uow() as uow:
        (purge,) = uow.session.scalars(select(AuditPurgeRow))
        assert purge.deleted == 3 and len(purge.ranges) == 1
    seal_audit(c)
    deliver_all(c)
    clock.advance(minutes=15)
    report = verify_audit(c, SYSTEM)
    assert report.ok and report.purged == 3, report.as_dict()


def test_grant_refuses_what_would_not_be_an_application_role(owner: Container) -> None:
    c = owner
    for bad in ("App", "1abc", "a-b", "x" * 64, "pg_app", "postgres", 'a"; drop'):
        with pytest.raises(FieldError) as exc:
            grant_app_role(c.engine, bad)
        assert exc.value.field == "role" and exc.value.value == bad
    with pytest.raises(FieldError) as empty:
        grant_app_role(c.engine, "cc_app_x", password="")
    assert empty.value.field == "password"
    sqlite = create_engine("sqlite://")
    with pytest.raises(GrantError) as not_pg:
        grant_app_role(sqlite, "cc_app_x")
    assert not_pg.value.code == "not_postgresql"

    su = f"cc_su_{uuid.uuid4().hex[:8]}"
    member = f"cc_member_{uuid.uuid4().hex[:8]}"
    with c.engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{su}" SUPERUSER'))
        conn.execute(text(f'CREATE ROLE "{member}" LOGIN'))
        me = conn.execute(text("SELECT current_user")).scalar_one()
        conn.execute(text(f'GRANT "{me}" TO "{member}"'))
    try:
        with pytest.raises(FieldError) as superuser:
            grant_app_role(c.engine, su)
        assert superuser.value.code == "superuser"
        with pytest.raises(FieldError) as inherits:
            grant_app_role(c.engine, member)
        assert inherits.value.code == "owner_member"
    finally:
        _drop_role(c.engine, su)
        _drop_role(c.engine, member)


def test_the_grant_command(owner: Container) -> None:
    c = owner
    name = f"cc_app_{uuid.uuid4().hex[:10]}"
    env = {
        "CITYCREDIT_DATABASE_URL": c.settings.effective_database_url,
        "CITYCREDIT_DATA_DIR": str(c.settings.data_dir),
        "CITYCREDIT_SECRET_KEY": c.settings.secret_key.get_secret_value(),
        "CITYCREDIT_ENVIRONMENT": "test",
        "CITYCREDIT_APP_ROLE_PASSWORD": PASSWORD,
    }
    runner = CliRunner()
    try:
        done = runner.invoke(cli, ["db", "grant-app-role", name], env=env)
        assert done.exit_code == 0, done.output
        assert f"应用角色 {name} 已创建" in done.output and "无 TRUNCATE" in done.output
        assert not privilege(c, "table", name, "audit_events", "DELETE")
        again = runner.invoke(cli, ["db", "grant-app-role", name], env=env)
        assert again.exit_code == 0 and "已更新" in again.output
    finally:
        _drop_role(c.engine, name)
    bad = runner.invoke(cli, ["db", "grant-app-role", "Bad-Name"], env=env)
    assert bad.exit_code == 2 and "字段 role" in bad.output and "Bad-Name" in bad.output
