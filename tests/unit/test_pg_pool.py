"""The PostgreSQL connection pool follows the settings (no connection is opened here)."""

from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy.pool import QueuePool

from citycredit.bootstrap import build_container
from citycredit.settings import Settings

URL = "postgresql+psycopg://nobody@127.0.0.1:1/nothing"  # never connected to


def _pool(**settings: object) -> QueuePool:
    c = build_container(
        Settings(
            environment="test",
            database_url=URL,
            secret_key=SecretStr("test-secret-key-0123456789abcdef"),
            **settings,
        )
    )
    pool = c.engine.pool
    assert isinstance(pool, QueuePool)
    return pool


def test_the_pool_keeps_twenty_connections_per_process_by_default() -> None:
    # Ten kept connections let 16 concurrent requests of one worker open and close a new
    # connection for every request above ten (benchmarks/checks.py saw up to 150 per 5 s).
    pool = _pool()
    assert pool.size() == 20
    assert pool._max_overflow == 10


def test_pool_size_and_overflow_are_settings() -> None:
    pool = _pool(database_pool_size=7, database_max_overflow=0)
    assert pool.size() == 7
    assert pool._max_overflow == 0
