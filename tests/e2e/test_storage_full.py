"""G25: storage full. A submission that cannot be stored because the disk (here: SQLite's
``max_page_count``, the same SQLITE_FULL a full disk gives) is full answers 507 with a message
saying nothing was saved, leaves the database consistent (integrity_check ok, no partial rows),
raises the storage alert (CRITICAL once per incident) and works again once space is freed."""

from __future__ import annotations

import errno
import io
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

from citycredit.accounts.model import SYSTEM
from citycredit.accounts.service import add_department
from citycredit.bootstrap import Container, build_container
from citycredit.db import storage
from citycredit.ingest.db import RecordRow
from citycredit.settings import Settings
from citycredit.shared.clock import FixedClock
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
    # space freed: the same file is stored in full
    limit.end()
    ok = _submit(client, token, _body(100, 300))
    assert ok.status_code == 200 and ok.json()["new"] == 300
    assert _records(c) == before + 300


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
