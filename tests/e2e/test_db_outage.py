"""G26: a database outage answers 503 + Retry-After (JSON for the API, a page for the portal),
logged without the statement or what was searched for, and the server recovers by itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.pool import NullPool

from citycredit.bootstrap import Container
from citycredit.web.app import create_app
from citycredit.web.errors import DATABASE_OUTAGES

pytestmark = pytest.mark.db

ID = "11010519491231002X"
SEARCH, Q = "/api/v1/subjects", {"q": "榆林"}  # a public search: one read of the database


class Outage:
    """The database taken away and given back: while it is away, pooled connections are closed
    and the driver refuses every new connection, as when the server is down."""

    def __init__(self, container: Container) -> None:
        self.engine = container.engine
        self.dbapi = self.engine.dialect.loaded_dbapi

    def _refuse(self, *_args: Any, **_kwargs: Any) -> Any:
        raise self.dbapi.OperationalError("connection refused (test outage)")

    def start(self) -> None:
        self.engine.dispose()
        event.listen(self.engine, "do_connect", self._refuse)

    def end(self) -> None:
        if event.contains(self.engine, "do_connect", self._refuse):
            event.remove(self.engine, "do_connect", self._refuse)


@pytest.fixture
def outage(container: Container) -> Iterator[Outage]:
    o = Outage(container)
    yield o
    o.end()


def test_outage_answers_503_with_retry_after(
    container: Container, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    client = TestClient(create_app(container, scheduler=False))
    assert client.get("/api/v1/subjects", params={"q": "榆林"}).status_code == 200
    outage.start()
    with caplog.at_level("ERROR", logger="citycredit.web.errors"):
        api = client.get("/api/v1/subjects", params={"q": ID})
        page = client.get("/", params={"q": ID})
        health = client.get("/healthz")
    assert api.status_code == 503 and api.headers["content-type"] == "application/json"
    assert api.json() == {"error": "database_unavailable", "message": api.json()["message"]}
    assert "数据库" in api.json()["message"]
    assert 1 <= int(api.headers["retry-after"]) <= 60
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
    assert "服务暂不可用" in page.text and "数据库" in page.text and "retry-after" in page.headers
    assert health.status_code == 503
    logged = caplog.text
    assert "database unavailable: GET /api/v1/subjects" in logged and "OperationalError" in logged
    assert ID not in logged and "SELECT" not in logged.upper()  # no statement, no parameters


def test_service_comes_back_without_a_restart(container: Container, outage: Outage) -> None:
    client = TestClient(create_app(container, scheduler=False))
    outage.start()
    assert client.get(SEARCH, params=Q).status_code == 503
    outage.end()  # the database is back
    assert client.get(SEARCH, params=Q).status_code == 200


def test_a_connection_the_server_dropped_fails_one_request_with_503(
    pg_container: Container,
) -> None:
    """No pre-ping (db/engine.py): a pooled connection the server ended fails the one request
    that meets it — with 503, not 500 — and SQLAlchemy replaces the pool's older connections.
    PostgreSQL only: an embedded SQLite file has no server to drop connections."""
    container = pg_container
    engine = container.engine
    client = TestClient(create_app(container, scheduler=False))
    assert client.get(SEARCH, params=Q).status_code == 200  # a pooled connection exists now
    admin = create_engine(engine.url, poolclass=NullPool)  # outside the app's pool
    with admin.connect() as conn:
        ended = conn.execute(
            text(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar()
    admin.dispose()
    assert ended
    answers = [client.get(SEARCH, params=Q) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 200, 200]
    assert (
        answers[0].json()["error"] == "database_unavailable" and answers[0].headers["retry-after"]
    )


def test_statement_errors_are_not_outages() -> None:
    """An integrity error is the request's fault, not the database's: it is not a 503."""
    assert not issubclass(IntegrityError, DATABASE_OUTAGES)


def test_database_errors_do_not_carry_the_statements_values(container: Container) -> None:
    """A 500's logged traceback holds the error's text: the statement, never its parameters."""
    with pytest.raises(DBAPIError) as caught, container.engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table WHERE x = :v"), {"v": ID})
    assert ID not in str(caught.value) and "hidden" in str(caught.value)
