"""G24: durability settings are read back from the database, not assumed (both databases)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import create_engine, text

from citycredit.bootstrap import Container
from citycredit.db import durability
from citycredit.db.engine import make_engine

pytestmark = pytest.mark.db


def _server_values(c: Container) -> dict[str, str]:
    with c.engine.connect() as conn:
        return {
            n: str(conn.execute(text(f"SHOW {n}")).scalar())
            for n in ("fsync", "synchronous_commit", "full_page_writes", "data_checksums")
        }


def test_the_platform_database_is_configured_durably(container: Container) -> None:
    c = container
    findings = durability.check(c.engine)
    if c.settings.is_sqlite:
        assert findings == []  # WAL and synchronous=FULL by default
        with c.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        return
    values = _server_values(c)
    expected = {("data_checksums", values["data_checksums"], "warning")} - (
        {("data_checksums", "on", "warning")}
    )
    for name in ("fsync", "full_page_writes"):
        if values[name] != "on":
            expected.add((name, values[name], "error"))
    if values["synchronous_commit"] not in ("on", "remote_write", "remote_apply"):
        expected.add(("synchronous_commit", values["synchronous_commit"], "error"))
    assert {(f.setting, f.value, f.level) for f in findings} == expected


def test_weak_settings_are_errors_and_production_refuses_them(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    c = container
    url = c.settings.effective_database_url
    if c.settings.is_sqlite:
        weak = make_engine(url, sqlite_synchronous="NORMAL")
        expected = ("synchronous", "NORMAL")
    else:
        weak = create_engine(
            url.replace("postgresql://", "postgresql+psycopg://", 1)
            if url.startswith("postgresql://")
            else url,
            connect_args={"options": "-c synchronous_commit=off"},
        )
        expected = ("synchronous_commit", "off")
    try:
        findings = durability.check(weak)
        assert (findings[0].setting, findings[0].value, findings[0].level) == (*expected, "error")
        with caplog.at_level(logging.WARNING, logger="citycredit.db.durability"):
            assert durability.enforce(weak, production=False) == findings  # logged, not fatal
        assert expected[0] in caplog.text
        with pytest.raises(RuntimeError, match=expected[0]):
            durability.enforce(weak, production=True)
    finally:
        weak.dispose()
