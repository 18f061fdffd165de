"""Residual information (security goal G36): deleted personal data is not left in the SQLite file,
and uploaded department files leave no temporary file behind.

Logout ending the session on the server is tested in tests/integration/test_accounts_security.py
(`test_logout_ends_the_session_on_the_server`) and over HTTP in tests/e2e/test_auth_http.py
(`test_logout_ends_the_session_server_side`: the old cookie is answered 401).

What the platform really deletes: records are never deleted (a withdrawal adds a tombstone
version), so the path that removes rows with personal data is the audit trail's retention purge
(`accounts.audit.purge_expired`). A failed login records the attempted username — which can be a
person's name — in the event (actor label and object id) and nowhere else.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from citycredit.accounts import auth
from citycredit.accounts.audit import purge_expired
from citycredit.accounts.auth import Unauthenticated
from citycredit.accounts.db import AuditEventRow
from citycredit.accounts.model import SYSTEM
from citycredit.accounts.service import add_department
from citycredit.bootstrap import Container, build_container
from citycredit.settings import Settings
from citycredit.shared.clock import FixedClock
from citycredit.web import api as web_api
from citycredit.web.app import create_app
from support import (
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    TEST_SECRET,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)

pytestmark = pytest.mark.db

# A natural person's name typed as a username (nowhere else in the database).
PERSON = "柳如烟测试"
PERSON_ID = id_number("610802", "19850314", "271")
AUTH = uscc("11", "610800", "MA0CAMR1")


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
        secret_key=SecretStr(TEST_SECRET),
        job_interval_seconds=0,
        seed_synthetic_city=False,
    )
    c = build_container(settings, clock=clock)
    yield c
    c.dispose()


def _db_bytes(c: Container) -> tuple[bytes, bytes]:
    """The raw database file and its -wal file, after a checkpoint that empties the WAL."""
    with c.engine.connect() as conn:
        busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        assert busy == 0
    db = Path(str(c.engine.url.database))
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes(), wal.read_bytes() if wal.exists() else b""


def test_purged_audit_events_leave_no_plaintext_in_the_sqlite_file(
    sqlite_container: Container,
) -> None:
    c = sqlite_container
    clock = c.clock
    assert isinstance(clock, FixedClock)
    with c.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    clock.current = datetime(2025, 9, 1, 2, 0, tzinfo=UTC)  # past the 180 days, for the DB too
    with pytest.raises(Unauthenticated):
        auth.login(c, username=PERSON, password="x")
    needle = PERSON.encode()
    db, wal = _db_bytes(c)
    assert needle in db + wal  # the search finds it while the event is there

    clock.current = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    # A recent event (younger than 180 days) stays.
    with pytest.raises(Unauthenticated):
        auth.login(c, username="someone-else", password="x")
    assert purge_expired(c, SYSTEM)["deleted"] >= 1
    with c.uow() as uow:
        left = list(uow.session.scalars(select(AuditEventRow.object_id)))
    assert PERSON not in left and "someone-else" in left
    # the purge itself empties the WAL of the old page images (no checkpoint by the test)
    path = Path(str(c.engine.url.database))
    wal_path = path.with_name(path.name + "-wal")
    assert needle not in path.read_bytes()
    assert not wal_path.exists() or needle not in wal_path.read_bytes()


# -- temporary files of uploads ---------------------------------------------------------------


def _person_file(tmp: Path, name: str) -> bytes:
    row = penalty_row(
        PENALTY_COLUMNS_WITH_ID,
        CF_XDR_MC=name,
        CF_XDR_LB="自然人",
        CF_XDR_ZJHM=PERSON_ID,
        CF_WSH="榆市监罚〔2026〕77号",
    )
    return write_csv(tmp / "upload.csv", PENALTY_COLUMNS_WITH_ID, [row]).read_bytes()


def _files_under(root: Path) -> list[Path]:
    return [Path(d) / f for d, _dirs, names in os.walk(root) for f in names]


def _holding(root: Path, needle: bytes) -> list[Path]:
    return [p for p in _files_under(root) if needle in p.read_bytes()]


def test_an_upload_leaves_no_temporary_file_on_success_or_failure(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    spool = tmp_path / "spool"
    spool.mkdir()
    # Every temporary file the server makes (UploadFile's spool, the intake's copy) goes here.
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    token = add_department(c, SYSTEM, name=SAMR, code=AUTH).token
    work = tmp_path / "work"
    work.mkdir()

    seen: list[list[Path]] = []
    real = web_api.ingest.ingest_submission

    def watched(*args: Any, **kw: Any) -> Any:
        seen.append(_holding(spool, PERSON_ID.encode()))
        if kw.get("item_code") == "fail-inside":
            raise RuntimeError("the intake fails after the upload was written")
        return real(*args, **kw)

    monkeypatch.setattr(web_api.ingest, "ingest_submission", watched)
    client = TestClient(create_app(c, scheduler=False), raise_server_exceptions=False)

    def submit(body: bytes, item: str = "penalty") -> Any:
        return client.post(
            "/api/v1/submissions",
            headers={"Authorization": f"Bearer {token}"},
            data={"item": item},
            files={"file": ("upload.csv", body, "text/csv")},
        )

    body = _person_file(work, "李四")
    ok = submit(body)
    assert ok.status_code == 200 and ok.json()["new"] == 1, ok.text
    # While the intake ran, the upload was a file in the redirected temporary directory …
    assert len(seen) == 1 and [p.parent.name[:10] for p in seen[0]] == ["cc-upload-"]
    # … and afterwards nothing there holds it.
    assert _files_under(spool) == [] and list(spool.iterdir()) == []

    bad = submit(body, item="no-such-item")  # refused by the intake (unknown catalog item)
    assert bad.status_code in (404, 422), bad.text
    assert len(seen) == 2 and seen[1]  # written, then refused
    assert list(spool.iterdir()) == []

    crash = submit(body, item="fail-inside")  # an unexpected error inside the intake
    assert crash.status_code == 500
    assert list(spool.iterdir()) == []

    c.settings.max_upload_mb = 1  # over the limit: refused after the copy, before the intake
    padded = body + b"\n" * (1024 * 1024 + 1)  # larger than UploadFile's in-memory spool too
    big = submit(padded)
    assert big.status_code == 422 and big.json()["field"] == "file", big.text
    assert len(seen) == 3
    assert list(spool.iterdir()) == []
