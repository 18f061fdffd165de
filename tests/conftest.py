"""Shared fixtures: a container on every configured database, each test isolated.

CITYCREDIT_TEST_DATABASES (default "sqlite,postgresql") chooses the backends; PostgreSQL tests
create their own database per test session (and worker) and drop it at the end, and empty
every table before each test — nothing depends on what a previous run left in the server.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from citycredit.bootstrap import Container, build_container
from citycredit.db.migrate import upgrade
from citycredit.db.models import metadata
from citycredit.settings import Settings
from citycredit.shared.clock import FixedClock
from support import settings_for

DATABASES = [
    d.strip()
    for d in os.environ.get("CITYCREDIT_TEST_DATABASES", "sqlite,postgresql").split(",")
    if d.strip()
]
PG_SERVER = os.environ.get("CITYCREDIT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")

# -- G14: the suite-wide log scan (tests/log_scan.py; CITYCREDIT_LOG_SCAN=0 turns it off) --------
pytest_plugins = ["log_scan"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating every time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (worker), migrated, dropped at the end."""
    name = f"cc_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{PG_SERVER}/{name}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=DATABASES)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each configured kind."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "citycredit.sqlite3"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_url")
        _truncate_pg(url)
        return url
    raise ValueError(f"unknown test database {request.param!r}")


@pytest.fixture
def clock() -> FixedClock:
    """2026-11-25 10:00 in Asia/Shanghai."""
    return FixedClock(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return settings_for(db_url, tmp_path)


@pytest.fixture
def container(settings: Settings, clock: FixedClock) -> Iterator[Container]:
    """The composition root on a test database with a fixed clock."""
    c = build_container(settings, clock=clock)
    yield c
    c.dispose()


@pytest.fixture
def pg_container(pg_url: str, tmp_path: Path, clock: FixedClock) -> Iterator[Container]:
    """A container on PostgreSQL only, emptied first: for interleavings of several open
    transactions, which SQLite (one writer at a time) cannot have."""
    _truncate_pg(pg_url)
    c = build_container(settings_for(pg_url, tmp_path), clock=clock)
    yield c
    c.dispose()
