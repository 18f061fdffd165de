"""The server's start-up: catalog and lists parsed before the first request, heap frozen.

A full garbage collection in a server process scanned every object built at start-up (~190,000)
and stopped all of that worker's requests for ~130 ms on the benchmark machine; the app's
lifespan moves them to the permanent generation (gc.freeze) and gives them back on shutdown.
"""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from citycredit.bootstrap import Container, build_container
from citycredit.catalog.loader import default_catalog
from citycredit.db.migrate import upgrade
from citycredit.lists import default_lists
from citycredit.settings import Settings
from citycredit.web.app import create_app


def _container(tmp_path: Path, **extra: object) -> Container:
    c = build_container(_settings(tmp_path, **extra))
    upgrade(c.engine)
    return c


def _settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'heap.db'}",
        secret_key=SecretStr("test-secret-key-0123456789abcdef"),
        job_interval_seconds=0,
        seed_synthetic_city=False,
        **extra,
    )


def test_the_start_up_heap_is_frozen_while_the_server_runs(tmp_path: Path) -> None:
    c = _container(tmp_path)
    try:
        assert gc.get_freeze_count() == 0
        with TestClient(create_app(c, scheduler=False)) as client:
            frozen = gc.get_freeze_count()
            assert frozen > 10_000  # the app, the catalog, the lists, the mappers …
            assert client.get("/healthz").status_code == 200
            # A full collection leaves the frozen generation alone (only objects whose last
            # reference went away leave it, by reference counting).
            gc.collect()
            assert gc.get_freeze_count() > frozen * 0.9
        assert gc.get_freeze_count() == 0  # shutdown gives them back to the collector
    finally:
        c.dispose()


def test_freezing_can_be_turned_off(tmp_path: Path) -> None:
    c = _container(tmp_path, gc_freeze=False)
    try:
        with TestClient(create_app(c, scheduler=False)) as client:
            assert gc.get_freeze_count() == 0
            assert client.get("/healthz").status_code == 200
    finally:
        c.dispose()


def test_catalog_and_lists_are_parsed_before_the_first_request(tmp_path: Path) -> None:
    default_catalog.cache_clear()
    default_lists.cache_clear()
    c = _container(tmp_path, gc_freeze=False)
    try:
        with TestClient(create_app(c, scheduler=False)):
            assert default_catalog.cache_info().currsize == 1
            assert default_lists.cache_info().currsize == 1
    finally:
        c.dispose()
