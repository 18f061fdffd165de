"""G29 beyond authentication: per-client limits on requests without credentials (portal pages and
public lookups) and on starting 双公示 exports; log monitors and identified callers unaffected."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from citycredit.accounts.auth import SESSION_COOKIE
from citycredit.accounts.db import AuditEventRow
from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.policy import SecurityPolicy
from citycredit.accounts.service import add_department, add_user, sign_up
from citycredit.bootstrap import Container
from citycredit.exports.db import ExportRow
from citycredit.shared.clock import FixedClock
from citycredit.web.app import create_app
from citycredit.web.ratelimit import PUBLIC, group_of
from support import SAMR, uscc

pytestmark = pytest.mark.db


def _app(c: Container, **limits: int) -> Any:
    c.settings = c.settings.model_copy(update={"security": SecurityPolicy(**limits)})
    return create_app(c, scheduler=False)


def _audit_rows(c: Container) -> int:
    with c.uow() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(AuditEventRow)) or 0)


def test_anonymous_requests_are_limited_per_client(container: Container, clock: FixedClock) -> None:
    c = container
    token = add_department(c, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1")).token
    app = _app(c, public_rate_per_minute=3)
    noisy = TestClient(app, client=("10.0.0.7", 40000))
    quiet = TestClient(app, client=("10.0.0.8", 40000))
    search = {"q": "榆林"}
    assert [noisy.get("/api/v1/subjects", params=search).status_code for _ in range(3)] == [200] * 3
    audited = _audit_rows(c)
    over = noisy.get("/api/v1/subjects", params=search)
    assert over.status_code == 429 and over.json()["error"] == "rate_limited"
    assert 1 <= int(over.headers["retry-after"]) <= 60
    page = noisy.get("/", params=search)  # the portal gets a page, not JSON
    assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
    assert "请求过于频繁" in page.text
    assert noisy.get("/api/v1/lists").status_code == 429  # one window for every public lookup
    assert _audit_rows(c) == audited  # refused before the audit trail and the database
    # log monitors, health checks and static files are never counted
    assert noisy.get("/api/v1/ledger/checkpoint").status_code != 429
    assert noisy.get("/healthz").status_code == 200
    assert noisy.get("/static/site.css").status_code == 200
    # an identified caller from the same address is not in the public group …
    bearer = {"Authorization": f"Bearer {token}"}
    assert noisy.get("/api/v1/subjects", params=search, headers=bearer).status_code == 200
    # … and made-up credentials get authentication's refusal, not data
    fake = noisy.get("/api/v1/subjects", params=search, headers={"Authorization": "Bearer nope"})
    assert fake.status_code == 401 and "results" not in fake.json()
    # other clients are unaffected; the next window lets the noisy one in again
    assert quiet.get("/api/v1/subjects", params=search).status_code == 200
    clock.advance(seconds=61)
    assert noisy.get("/api/v1/subjects", params=search).status_code == 200


def test_public_limit_off(container: Container) -> None:
    """0 turns the limit off: more requests than the default allows in one window all pass."""
    default = SecurityPolicy().public_rate_per_minute
    client = TestClient(_app(container, public_rate_per_minute=0))
    assert {client.get("/api/v1/lists").status_code for _ in range(default + 5)} == {200}


def test_exports_are_limited_per_client_and_hour(container: Container, clock: FixedClock) -> None:
    c = container
    admin = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    ).token
    client = TestClient(_app(c, export_rate_per_hour=2))
    h = {"Authorization": f"Bearer {admin}"}
    made = []
    for _ in range(3):  # each continues from the last one: a minute apart, in one hour window
        clock.advance(minutes=1)
        made.append(client.post("/api/v1/exports/dual-publicity", json={}, headers=h).status_code)
    assert made == [201, 201, 429]
    with c.uow() as uow:  # the refused one started nothing
        assert uow.session.scalar(select(func.count()).select_from(ExportRow)) == 2
    assert client.get("/api/v1/exports", headers=h).status_code == 200  # reading is not limited
    clock.advance(minutes=61)
    assert client.post("/api/v1/exports/dual-publicity", json={}, headers=h).status_code == 201


@pytest.mark.parametrize(
    ("method", "path", "headers", "group"),
    [
        ("GET", "/", [], PUBLIC),
        ("GET", "/api/v1/subjects/s1/archive", [], PUBLIC),
        ("GET", "/api/v1/ledger/bundles/r1", [], PUBLIC),
        ("GET", "/api/v1/ledger/checkpoint", [], None),
        ("GET", "/api/v1/ledger/proofs/inclusion", [], None),
        ("GET", "/static/site.css", [], None),
        ("GET", "/healthz", [], None),
        ("GET", "/api/v1/subjects/s1", [(b"authorization", b"Bearer t")], None),
        ("GET", "/", [(b"cookie", f"a=1; {SESSION_COOKIE}=x".encode())], None),
        ("GET", "/", [(b"cookie", f"x{SESSION_COOKIE}=x; {SESSION_COOKIE}=".encode())], PUBLIC),
        ("POST", "/api/v1/auth/login", [], "auth"),
        ("POST", "/api/v1/exports/dual-publicity", [(b"authorization", b"Bearer t")], "export"),
    ],
)
def test_groups(method: str, path: str, headers: list[Any], group: str | None) -> None:
    assert group_of({"method": method, "path": path, "headers": headers}) == group


def test_made_up_credentials_fill_the_clients_auth_window(
    container: Container, clock: FixedClock
) -> None:
    """Unknown tokens and session cookies count like failed logins; then the client's requests
    with credentials get 429 for the rest of the window. Refusals of a valid caller don't count."""
    c = container
    token = add_department(c, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1")).token
    app = _app(c, auth_rate_per_minute=3)
    noisy = TestClient(app, client=("10.0.0.7", 40000))
    quiet = TestClient(app, client=("10.0.0.8", 40000))
    good = {"Authorization": f"Bearer {token}"}
    # a valid token refused for lack of permission is not a failed credential
    assert {noisy.get("/api/v1/exports", headers=good).status_code for _ in range(5)} == {403}
    fakes = [{"Authorization": f"Bearer fake-{i}"} for i in range(3)]
    refused = [noisy.get("/api/v1/subjects/s1", headers=h) for h in fakes]
    assert {r.json()["error"] for r in refused} == {"invalid_token"}
    assert (
        noisy.get("/api/v1/subjects/s1", headers={"Authorization": "Bearer x"}).status_code == 429
    )
    assert noisy.get("/api/v1/subjects", params={"q": "榆林"}, headers=good).status_code == 429
    assert noisy.get("/api/v1/lists").status_code == 200  # no credentials: the public window
    assert quiet.get("/api/v1/subjects", params={"q": "榆林"}, headers=good).status_code == 200
    clock.advance(seconds=61)
    assert noisy.get("/api/v1/subjects", params={"q": "榆林"}, headers=good).status_code == 200
    # a cookie that names no session counts the same way
    noisy.cookies.set(SESSION_COOKIE, "made-up")
    for _ in range(3):
        r = noisy.get("/api/v1/auth/me")
        assert r.status_code == 401 and r.json()["error"] == "session_invalid"
    assert noisy.get("/api/v1/auth/me").status_code == 429


PW = "榆林信用-correct-horse"
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


def _signed_up_session(app: Any, c: Container, address: str, username: str) -> TestClient:
    sign_up(c, username=username, password=PW, display_name=username, role=Role.enterprise_agent)
    client = TestClient(app, client=(address, 40000))
    assert (
        client.post("/api/v1/auth/login", json={"username": username, "password": PW}).status_code
        == 200
    )
    return client


def test_subject_side_sessions_get_the_public_limit_of_their_address(
    container: Container, clock: FixedClock
) -> None:
    """Security audit D8: a self-signed-up session skipped the public limit altogether. Now it
    counts in its address's public window, shared with the anonymous requests from there."""
    c = container
    app = _app(c, **FAST_HASHING, public_rate_per_minute=3)
    agent = _signed_up_session(app, c, "10.0.0.20", "scraper")
    assert [agent.get("/api/v1/quality").status_code for _ in range(4)] == [200] * 3 + [429]
    over = agent.get("/api/v1/subjects", params={"q": "榆林"})  # a route that resolves it
    assert over.status_code == 429 and 1 <= int(over.headers["retry-after"]) <= 60
    anon = TestClient(app, client=("10.0.0.20", 40001))  # same address, no credentials
    assert anon.get("/api/v1/lists").status_code == 429
    # anonymous first, then the session: still one window for the address
    clock.advance(seconds=61)
    anon2 = TestClient(app, client=("10.0.0.21", 40000))
    assert [anon2.get("/api/v1/lists").status_code for _ in range(3)] == [200] * 3
    late = _signed_up_session(app, c, "10.0.0.21", "scraper2")
    # its first request, before this process knows the session, counts in the credentials
    # window (and then in the public one); from then on the public window, full, refuses it
    assert late.get("/api/v1/quality").status_code == 200
    assert {late.get("/api/v1/quality").status_code for _ in range(5)} == {429}
    # the next window lets the account in again
    clock.advance(seconds=61)
    assert agent.get("/api/v1/quality").status_code == 200


def test_made_up_credentials_count_on_routes_that_never_resolve_them(
    container: Container,
) -> None:
    """Security audit D8: a made-up bearer token or session cookie on a public route (which never
    looks at credentials) skipped every limit. Now it counts like the public."""
    app = _app(container, public_rate_per_minute=3)
    fake = TestClient(app, client=("10.0.0.30", 40000), headers={"Authorization": "Bearer x"})
    assert [fake.get("/api/v1/catalog").status_code for _ in range(4)] == [200] * 3 + [429]
    # new made-up credentials each time, at another address: the same
    other = TestClient(app, client=("10.0.0.31", 40000))
    codes = [
        other.get("/api/v1/catalog", headers={"Authorization": f"Bearer fake-{i}"}).status_code
        for i in range(4)
    ]
    assert codes == [200] * 3 + [429]
    cookie = TestClient(app, client=("10.0.0.32", 40000))
    cookie.cookies.set(SESSION_COOKIE, "made-up")
    assert [cookie.get("/api/v1/catalog").status_code for _ in range(4)] == [200] * 3 + [429]
    # the requests it got answered used up the address's public allowance too
    assert TestClient(app, client=("10.0.0.32", 40001)).get("/api/v1/lists").status_code == 429


def test_staff_are_outside_the_public_window(container: Container, clock: FixedClock) -> None:
    """Departments' systems and the credit office are not limited like the public — also at an
    address whose public window is full, and on public routes once their credential is known."""
    c = container
    token = add_department(c, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1")).token
    app = _app(c, public_rate_per_minute=3)
    office = TestClient(app, client=("10.0.0.40", 40000))
    assert [office.get("/api/v1/lists").status_code for _ in range(4)][-1] == 429  # public: full
    staff = {"Authorization": f"Bearer {token}"}
    search = {"q": "榆林"}
    assert {
        office.get("/api/v1/subjects", params=search, headers=staff).status_code for _ in range(10)
    } == {200}
    assert {office.get("/api/v1/catalog", headers=staff).status_code for _ in range(10)} == {200}
    # a credential is remembered for a while after it last resolved, then learnt again
    clock.advance(seconds=601)
    assert office.get("/api/v1/subjects", params=search, headers=staff).status_code == 200
    assert {office.get("/api/v1/catalog", headers=staff).status_code for _ in range(10)} == {200}
