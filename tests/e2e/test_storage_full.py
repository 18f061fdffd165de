"""G25: storage full. A submission that cannot be stored because the disk (here: SQLite's
``max_page_count``, the same SQLITE_FULL a full disk gives) is full answers 507 with a message
saying nothing was saved, leaves the database consistent (integrity_check ok, no partial rows),
raises the storage alert (CRITICAL once per incident) — stored as one ``system_alarms`` row per
incident, kept pending while the database takes no write and stored by the next write that
succeeds, resolved when the refused operation works again — and works again once space is
freed. The operators list and acknowledge the alarms (``/api/v1/admin/alarms``, ``citycredit
alarms``; the acknowledgement is audited)."""

from __future__ import annotations

import errno
import io
import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError

from citycredit.accounts.db import AuditEventRow
from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.accounts.service import add_department, add_user
from citycredit.bootstrap import Container, build_container
from citycredit.db import storage
from citycredit.db.alarms import SystemAlarmRow
from citycredit.ingest.db import RecordRow
from citycredit.kernel.jobs import run_due
from citycredit.settings import Settings
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import NotFound, PermissionDenied
from citycredit.web.app import create_app
from support import SAMR, uscc

AUTH = uscc("11", "610800", "MA0CAMR1")
HEADER = "CF_XDR_MC,CF_XDR_LB,CF_XDR_SHXYM,CF_WSH,CF_WFXW,CF_SY,CF_YJ,CF_CFLB,CF_NR,CF_NR_FK,CF_JDRQ,CF_CFJG,CF_CFJGDM,CF_SJLY,CF_SJLYDM"


def _body(first: int, n: int) -> bytes:
    rows = [HEADER]
    for i in range(first, first + n):
        co = uscc("91", "610802", f"MA{i:06d}")
        rows.append(
            f"榆阳区某{i}号商贸有限公司,法人及非法人组织,{co},榆市监罚〔2026〕{i}号,"
            f"{'违法事实' * 40},x,x,罚款,罚款2万元,2,2026-11-01,{SAMR},{AUTH},{SAMR},{AUTH}"
        )
    return "\n".join(rows).encode("utf-8")


@pytest.fixture
def sqlite_container(
    sqlite_template: Path, tmp_path: Path, clock: FixedClock
) -> Iterator[Container]:
    path = tmp_path / "citycredit.sqlite3"
    shutil.copy(sqlite_template, path)
    settings = Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{path}",
        secret_key=SecretStr("test-secret-key-0123456789abcdef"),
        job_interval_seconds=0,
        seed_synthetic_city=False,
    )
    c = build_container(settings, clock=clock)
    storage.reset()
    yield c
    storage.reset()
    c.dispose()


class DiskLimit:
    """Cap the database file at its current size plus `spare` pages on every new connection."""

    def __init__(self, c: Container) -> None:
        self.engine = c.engine
        self.limit = 0

    def _cap(self, dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {self.limit}")

    def start(self, spare: int) -> None:
        with self.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
        self.limit = pages + spare
        self.engine.dispose()
        event.listen(self.engine, "connect", self._cap)

    def end(self) -> None:
        event.remove(self.engine, "connect", self._cap)
        self.engine.dispose()


def _records(c: Container) -> int:
    with c.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(RecordRow)).scalar_one())


def _alarms(c: Container) -> list[SystemAlarmRow]:
    with c.uow() as uow:
        return list(uow.session.scalars(select(SystemAlarmRow).order_by(SystemAlarmRow.id)))


def _submit(client: TestClient, token: str, body: bytes) -> Any:
    return client.post(
        "/api/v1/submissions",
        headers={"Authorization": f"Bearer {token}"},
        data={"item": "penalty"},
        files={"file": ("p.csv", io.BytesIO(body), "text/csv")},
    )


def test_a_full_disk_answers_507_saves_nothing_alerts_and_recovers(
    sqlite_container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    c = sqlite_container
    token = add_department(c, SYSTEM, name=SAMR, code=AUTH).token
    client = TestClient(create_app(c, scheduler=False))
    assert _submit(client, token, _body(1, 2)).json()["new"] == 2
    before = _records(c)
    limit = DiskLimit(c)
    limit.start(spare=3)
    with caplog.at_level("WARNING", logger="citycredit.storage"):
        full = _submit(client, token, _body(100, 300))
        again = _submit(client, token, _body(100, 300))
    assert full.status_code == 507, full.text
    assert full.json()["error"] == "storage_full" and "未保存任何内容" in full.json()["message"]
    assert again.status_code == 507
    criticals = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert len(criticals) == 1 and "storage_full" in criticals[0].getMessage()  # once
    assert storage.status()["storage_full"] and storage.status()["failures"] == 2
    assert client.get("/healthz").json()["storage"]["storage_full"] is True
    # nothing partial: the records are those before, the file is consistent
    assert _records(c) == before
    with c.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    # the alert is a stored alarm: one row for the incident, two failures, still open
    (alarm,) = _alarms(c)
    assert alarm.kind == "storage_full" and alarm.resolved_at is None
    assert alarm.acknowledged_at is None
    assert alarm.detail["where"] == "POST /api/v1/submissions"
    assert alarm.detail["failures"] == 2 and alarm.detail["error"] == "OperationalError"
    assert "full" in alarm.detail["first_line"]
    assert alarm.detail["incident_start"] == storage.status()["since"]
    assert storage.status()["alarm_id"] == alarm.id
    # space freed: the same file is stored in full, and that ends the incident
    limit.end()
    ok = _submit(client, token, _body(100, 300))
    assert ok.status_code == 200 and ok.json()["new"] == 300
    assert _records(c) == before + 300
    (alarm,) = _alarms(c)
    assert alarm.resolved_at is not None and alarm.resolved_at >= alarm.raised_at
    assert alarm.detail["ended_by"] == "operation_succeeded" and alarm.detail["failures"] == 2
    assert client.get("/healthz").json()["storage"]["storage_full"] is False


def _wrapped(orig: BaseException) -> OperationalError:
    return OperationalError("INSERT …", {}, orig)


def test_what_counts_as_storage_full() -> None:
    assert storage.is_storage_full(_wrapped(sqlite3.OperationalError("database or disk is full")))
    assert storage.is_storage_full(_wrapped(psycopg.errors.DiskFull("could not extend file")))
    assert storage.is_storage_full(OSError(errno.ENOSPC, "No space left on device"))
    assert storage.is_storage_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    outer = RuntimeError("export failed")  # raised from an ENOSPC (a file export)
    outer.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert storage.is_storage_full(outer)
    assert not storage.is_storage_full(_wrapped(sqlite3.OperationalError("database is locked")))
    assert not storage.is_storage_full(_wrapped(psycopg.errors.AdminShutdown("terminating")))
    assert not storage.is_storage_full(OSError(errno.EACCES, "Permission denied"))
    assert not storage.is_storage_full(ValueError("x"))


def test_the_cli_says_the_disk_is_full_and_exits_2(
    sqlite_container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from citycredit.cli import main as cli_main

    c = sqlite_container
    add_department(c, SYSTEM, name=SAMR, code=AUTH)
    monkeypatch.setattr(cli_main, "build_container", lambda: c)
    path = tmp_path / "p.csv"
    path.write_bytes(_body(1, 300))
    before = _records(c)
    limit = DiskLimit(c)
    limit.start(spare=3)
    args = ["ingest", str(path), "--item", "penalty", "--department", SAMR]
    result = CliRunner().invoke(cli_main.app, args)
    assert result.exit_code == 2, result.output
    assert "存储空间不足" in result.output and "Traceback" not in result.output
    assert _records(c) == before and storage.status()["storage_full"]
    limit.end()
    assert CliRunner().invoke(cli_main.app, args).exit_code == 0
    assert _records(c) == before + 300


def test_a_later_run_of_the_command_ends_the_alarm_an_earlier_run_raised(
    sqlite_container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each command is a process of its own: the run that works again ends the stored alarm
    the failed run raised (not only the export's), and a different command does not."""
    from typer.testing import CliRunner

    from citycredit.cli import main as cli_main

    c = sqlite_container
    add_department(c, SYSTEM, name=SAMR, code=AUTH)
    monkeypatch.setattr(cli_main, "build_container", lambda: c)
    path = tmp_path / "p.csv"
    path.write_bytes(_body(1, 300))
    limit = DiskLimit(c)
    limit.start(spare=3)
    args = ["ingest", str(path), "--item", "penalty", "--department", SAMR]
    assert CliRunner().invoke(cli_main.app, args).exit_code == 2
    limit.end()
    storage.store_pending(c.engine)  # the alarm row, once the disk takes it
    storage.reset()  # the failed command's process has ended
    (alarm,) = _alarms(c)
    assert alarm.resolved_at is None and alarm.detail["where"] == "ingest_submission"
    assert CliRunner().invoke(cli_main.app, ["unresolved"]).exit_code == 0
    assert _alarms(c)[0].resolved_at is None  # another command working proves nothing
    assert CliRunner().invoke(cli_main.app, args).exit_code == 0
    (alarm,) = _alarms(c)
    assert alarm.resolved_at is not None and alarm.detail["ended_by"] == "operation_succeeded"


def test_no_room_for_the_audit_row_is_507_too(
    sqlite_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from citycredit.accounts import audit

    c = sqlite_container
    token = add_department(c, SYSTEM, name=SAMR, code=AUTH).token
    client = TestClient(create_app(c, scheduler=False))

    def full(*_args: Any, **_kwargs: Any) -> None:
        raise _wrapped(sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(audit, "write_event", full)  # the middleware's "started" event
    resp = _submit(client, token, _body(1, 2))
    assert resp.status_code == 507 and resp.json()["error"] == "storage_full"
    assert _records(c) == 0 and storage.status()["storage_full"]


class RefuseAlarmRows:
    """The database refuses every row of system_alarms as a full disk does (SQLITE_FULL), so
    the alarm cannot be stored when the failure happens — only afterwards."""

    def __init__(self, c: Container) -> None:
        self.engine = c.engine
        self.tried = 0

    def _refuse(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "system_alarms" in statement and statement.lstrip().upper().startswith("INSERT"):
            self.tried += 1
            raise sqlite3.OperationalError("database or disk is full")

    def __enter__(self) -> RefuseAlarmRows:
        event.listen(self.engine, "before_cursor_execute", self._refuse)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._refuse)


def test_an_alarm_the_full_disk_refused_is_stored_by_the_next_write(
    sqlite_container: Container,
) -> None:
    c = sqlite_container
    token = add_department(c, SYSTEM, name=SAMR, code=AUTH).token
    client = TestClient(create_app(c, scheduler=False))
    limit = DiskLimit(c)
    limit.start(spare=3)
    with RefuseAlarmRows(c) as refusing:
        assert _submit(client, token, _body(100, 300)).status_code == 507
        # tried right after the failure (and after the audit row of the refused request)
        assert refusing.tried >= 1
        assert _alarms(c) == [] and storage.pending()
        assert storage.status()["storage_full"] and storage.status()["alarm_id"] is None
    limit.end()
    # the scheduler's job loop is the next write here: its job_runs row commits, and the alarm
    # kept in the process is stored with it
    run_due(c, only="publication_end")
    (alarm,) = _alarms(c)
    assert alarm.kind == "storage_full" and alarm.detail["failures"] == 1
    assert alarm.detail["where"] == "POST /api/v1/submissions" and alarm.resolved_at is None
    assert not storage.pending() and storage.status()["alarm_id"] == alarm.id
    # the refused file goes through now: the incident ends on its row
    assert _submit(client, token, _body(100, 300)).status_code == 200
    (alarm,) = _alarms(c)
    assert alarm.resolved_at is not None and not storage.status()["storage_full"]


def test_a_new_failure_after_the_end_is_a_new_incident(
    sqlite_container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    c = sqlite_container
    token = add_department(c, SYSTEM, name=SAMR, code=AUTH).token
    client = TestClient(create_app(c, scheduler=False))
    limit = DiskLimit(c)
    with caplog.at_level("WARNING", logger="citycredit.storage"):
        for first in (100, 1000):
            limit.start(spare=3)
            assert _submit(client, token, _body(first, 300)).status_code == 507
            limit.end()
            assert _submit(client, token, _body(first, 300)).status_code == 200
    assert len([r for r in caplog.records if r.levelname == "CRITICAL"]) == 2
    alarms = _alarms(c)
    assert len(alarms) == 2 and all(a.resolved_at is not None for a in alarms)
    assert [a.detail["failures"] for a in alarms] == [1, 1]


def test_the_quiet_period_ends_an_incident(
    sqlite_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = sqlite_container
    storage.record_storage_full(
        "export dual-publicity", OSError(errno.ENOSPC, "No space left on device"), engine=c.engine
    )
    (alarm,) = _alarms(c)
    assert alarm.detail["error"] == "OSError" and alarm.resolved_at is None
    monkeypatch.setattr(storage, "STORAGE_ALERT_QUIET", 0.0)
    assert not storage.status()["storage_full"]
    add_department(c, SYSTEM, name=SAMR, code=AUTH)  # any write: the end is stored with it
    (alarm,) = _alarms(c)
    assert alarm.resolved_at is not None and alarm.detail["ended_by"] == "quiet_period"


# -- the operators' view: list and acknowledge -------------------------------------------------


def _raise_alarm(c: Container) -> int:
    storage.reset()
    storage.record_storage_full(
        "POST /api/v1/submissions",
        _wrapped(sqlite3.OperationalError("database or disk is full")),
        engine=c.engine,
    )
    alarm_id = storage.status()["alarm_id"]
    storage.reset()
    assert isinstance(alarm_id, int)
    return alarm_id


SYS = Principal(role=Role.system_admin, label="sys", user_id=None)
OFFICE = Principal(role=Role.credit_office_admin, label="信用办", user_id=None)


@pytest.mark.db
def test_operators_list_and_acknowledge_alarms_and_the_ack_is_audited(
    container: Container,
) -> None:
    from citycredit.db import alarms

    c = container
    alarm_id = _raise_alarm(c)
    assert [a["id"] for a in alarms.list_alarms(c, SYS)] == [alarm_id]
    assert [a["id"] for a in alarms.list_alarms(c, OFFICE)] == [alarm_id]
    for who in (Role.department_staff, Role.security_admin, Role.audit_admin, Role.public):
        with pytest.raises(PermissionDenied):
            alarms.list_alarms(c, Principal(role=who, label=who.value))
    for who in (OFFICE, Principal(role=Role.security_admin, label="sec")):
        with pytest.raises(PermissionDenied):
            alarms.acknowledge(c, who, alarm_id)
    with pytest.raises(NotFound):
        alarms.acknowledge(c, SYS, alarm_id + 1000)
    done = alarms.acknowledge(c, SYS, alarm_id)
    assert done["acknowledged_by"] == "sys" and done["acknowledged_at"]
    assert alarms.list_alarms(c, SYS) == []  # open = not yet acknowledged
    assert [a["id"] for a in alarms.list_alarms(c, SYS, open_only=False)] == [alarm_id]
    with c.uow() as uow:
        events = list(
            uow.session.scalars(
                select(AuditEventRow).where(AuditEventRow.action == "system.alarm_ack")
            )
        )
    assert [(e.object_id, e.actor_label, e.result) for e in events] == [
        (str(alarm_id), "sys", "success")
    ]


@pytest.mark.db
def test_the_alarms_api_for_the_credit_office(container: Container) -> None:
    c = container
    alarm_id = _raise_alarm(c)
    office = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    ).token
    dept = add_department(c, SYSTEM, name=SAMR, code=AUTH).token
    client = TestClient(create_app(c, scheduler=False))
    got = client.get("/api/v1/admin/alarms", headers={"Authorization": f"Bearer {office}"})
    assert got.status_code == 200, got.text
    (shown,) = got.json()["alarms"]
    assert shown["id"] == alarm_id and shown["kind"] == "storage_full"
    assert shown["detail"]["where"] == "POST /api/v1/submissions"
    assert got.headers["cache-control"] == "no-store"
    denied = client.get("/api/v1/admin/alarms", headers={"Authorization": f"Bearer {dept}"})
    assert denied.status_code == 403
    ack = client.post(
        f"/api/v1/admin/alarms/{alarm_id}/ack", headers={"Authorization": f"Bearer {office}"}
    )
    assert ack.status_code == 403  # the system administrator acknowledges
    bad = client.get(
        "/api/v1/admin/alarms",
        params={"all": "maybe"},
        headers={"Authorization": f"Bearer {office}"},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "all"


def test_the_alarms_cli_lists_and_acknowledges(
    sqlite_container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from citycredit.cli import alarms as alarms_cli
    from citycredit.cli import main as cli_main

    c = sqlite_container
    alarm_id = _raise_alarm(c)
    monkeypatch.setattr(alarms_cli, "build_container", lambda: c)
    monkeypatch.setattr(c, "dispose", lambda: None)
    listed = CliRunner().invoke(cli_main.app, ["alarms", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [a["id"] for a in json.loads(listed.output)] == [alarm_id]
    acked = CliRunner().invoke(cli_main.app, ["alarms", "ack", str(alarm_id)])
    assert acked.exit_code == 0 and "已确认" in acked.output
    assert CliRunner().invoke(cli_main.app, ["alarms", "list"]).output.strip() == (
        "没有未确认的系统告警"
    )
    missing = CliRunner().invoke(cli_main.app, ["alarms", "ack", str(alarm_id + 99)])
    assert missing.exit_code == 2 and "不存在" in missing.output


@pytest.mark.db
def test_models_and_migration_0033_agree(container: Container) -> None:
    from citycredit.db.migrate import drift

    assert [d for d in drift(container.engine) if "system_alarms" in repr(d)] == []


def test_the_application_role_keeps_alarms_it_cannot_delete(pg_container: Container) -> None:
    import uuid

    from citycredit.db.grants import grant_app_role

    c, role = pg_container, f"cc_app_{uuid.uuid4().hex[:10]}"
    grant_app_role(c.engine, role, password="app-role-password-1")
    try:
        with c.engine.connect() as conn:

            def may(p: str) -> bool:
                sql = text("SELECT has_table_privilege(:r, 'system_alarms', :p)")
                return bool(conn.execute(sql, {"r": role, "p": p}).scalar())

            assert [may(p) for p in ("SELECT", "INSERT", "UPDATE")] == [True] * 3
            assert [may(p) for p in ("DELETE", "TRUNCATE")] == [False] * 2
    finally:
        with c.engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
