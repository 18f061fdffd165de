"""HTTP end to end: login with cookies and CSRF, TOTP for administrators, logout, bindings over
HTTP, the audit middleware (recorded calls, fail closed) and the audit administrator's view."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from citycredit.accounts import audit, manage, totp
from citycredit.accounts.auth import CSRF_HEADER, SESSION_COOKIE
from citycredit.accounts.db import AuditEventRow, SubjectBindingRow
from citycredit.accounts.idp import FakeIdentityProvider
from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.policy import SecurityPolicy
from citycredit.accounts.service import add_department, add_user
from citycredit.bootstrap import Container
from citycredit.cli.main import app as cli_app
from citycredit.shared.clock import FixedClock
from citycredit.subjects.service import SubjectFacts, SubjectRegistry
from citycredit.web.app import create_app
from support import SAMR, uscc

pytestmark = pytest.mark.db

PASSWORD = "榆林信用-correct-horse"
PDF = b"%PDF-1.7\n% letter of authorisation\n" + b"0" * 100
CO_A = uscc("91", "610802", "MA6HTP01")
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


@pytest.fixture
def app_c(container: Container) -> tuple[Any, Container]:
    container.settings = container.settings.model_copy(
        update={"security": SecurityPolicy(**FAST_HASHING)}
    )
    return create_app(container, scheduler=False), container


def client(app: Any) -> TestClient:
    return TestClient(app)


def subject(c: Container, name: str, code: str) -> str:
    with c.uow() as uow:
        reg = SubjectRegistry(uow.session, c.digester, now=c.clock.now(), actor_label="test")
        row = reg.create(SubjectFacts(name=name, category="企业", uscc=code), origin="registration")
        uow.commit()
        return row.subject_id


def login(cl: TestClient, username: str, password: str) -> dict[str, Any]:
    r = cl.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    cl.headers[CSRF_HEADER] = body["csrf_token"]
    return body


def ready_user(c: Container, cl: TestClient, username: str, role: Role) -> None:
    add_user(c, SYSTEM, username=username, display_name=username, role=role, password="initial")
    assert login(cl, username, "initial")["status"] == "password_change_required"
    r = cl.post(
        "/api/v1/auth/password", json={"current_password": "initial", "new_password": PASSWORD}
    )
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    cl.headers[CSRF_HEADER] = r.json()["csrf_token"]


def ready_admin(c: Container, cl: TestClient, username: str, role: Role) -> str:
    enrol = manage.add_admin(c, SYSTEM, username=username, display_name=username, role=role)
    assert login(cl, username, enrol.initial_password)["status"] == "second_factor_required"
    assert cl.get("/api/v1/auth/me").status_code == 401  # password alone: no session
    code = totp.code_at(enrol.totp_secret, c.clock.now())
    r = cl.post("/api/v1/auth/totp", json={"code": code})
    assert r.status_code == 200 and r.json()["status"] == "password_change_required", r.text
    cl.headers[CSRF_HEADER] = r.json()["csrf_token"]
    r = cl.post(
        "/api/v1/auth/password",
        json={"current_password": enrol.initial_password, "new_password": PASSWORD},
    )
    assert r.status_code == 200 and r.json()["status"] == "active", r.text
    cl.headers[CSRF_HEADER] = r.json()["csrf_token"]
    return enrol.totp_secret


def trail(c: Container) -> list[AuditEventRow]:
    with c.uow() as uow:
        return list(uow.session.scalars(select(AuditEventRow).order_by(AuditEventRow.id)))


def test_login_sets_a_protected_cookie_and_never_returns_it(app_c: tuple[Any, Container]) -> None:
    app, c = app_c
    cl = client(app)
    add_user(
        c,
        SYSTEM,
        username="agent",
        display_name="经办人",
        role=Role.enterprise_agent,
        password="initial",
    )
    r = cl.post("/api/v1/auth/login", json={"username": "agent", "password": "initial"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    set_cookie = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
    session = next(v for v in set_cookie if v.startswith(SESSION_COOKIE + "="))
    assert "httponly" in session.lower() and "samesite=strict" in session.lower()
    value = session.split(";")[0].split("=", 1)[1]
    assert value not in r.text and r.json()["status"] == "password_change_required"
    # a session that must change its password reaches nothing else
    assert cl.get("/api/v1/auth/me").status_code == 401
    bad = cl.post("/api/v1/auth/login", json={"username": "agent", "password": "nope"})
    ghost = cl.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope"})
    assert bad.status_code == ghost.status_code == 401 and bad.json() == ghost.json()
    missing = cl.post("/api/v1/auth/login", json={"username": "", "password": "x"})
    assert missing.status_code == 422 and missing.json()["field"] == "username"


def test_admin_login_needs_totp_and_audit_admin_reads_the_trail(
    app_c: tuple[Any, Container],
) -> None:
    app, c = app_c
    aud = client(app)
    ready_admin(c, aud, "aud", Role.audit_admin)
    me = aud.get("/api/v1/auth/me").json()
    assert me["role"] == "audit_admin" and me["via"] == "session"
    assert me["permissions"] == ["read_audit", "read_public", "read_quality"]
    r = aud.get("/api/v1/audit", params={"action": "auth."})
    assert r.status_code == 200
    got = [(e["action"], e["result"]) for e in reversed(r.json()["events"])]
    assert got == [
        ("auth.login", "success"),
        ("auth.second_factor", "success"),
        ("auth.password_change", "success"),
    ]
    assert all(e["source_ip"] == "testclient" for e in r.json()["events"])
    assert aud.get("/api/v1/audit", params={"result": "nope"}).status_code == 422
    # wrong TOTP code: 401 and a failure in the trail
    other = client(app)
    enrol = manage.add_admin(
        c, SYSTEM, username="sys", display_name="系统员", role=Role.system_admin
    )
    login(other, "sys", enrol.initial_password)
    assert other.post("/api/v1/auth/totp", json={"code": "000000"}).status_code in (401,)
    assert other.post("/api/v1/auth/totp", json={"code": "12ab"}).status_code == 422
    assert client(app).post("/api/v1/auth/totp", json={"code": "123456"}).status_code == 401


def test_csrf_token_required_for_cookie_sessions_but_not_tokens(
    app_c: tuple[Any, Container],
) -> None:
    app, c = app_c
    subj = subject(c, "榆林甲公司", CO_A)
    cl = client(app)
    ready_user(c, cl, "agent", Role.enterprise_agent)
    files = {"file": ("委托书.pdf", io.BytesIO(PDF), "application/pdf")}
    form = {"method": "letter", "subject": subj}
    token = cl.headers.pop(CSRF_HEADER)
    r = cl.post("/api/v1/bindings", data=form, files=files)
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed"
    r = cl.post("/api/v1/bindings", data=form, files=files, headers={CSRF_HEADER: "x" * 32})
    assert r.status_code == 403
    files = {"file": ("委托书.pdf", io.BytesIO(PDF), "application/pdf")}
    r = cl.post("/api/v1/bindings", data=form, files=files, headers={CSRF_HEADER: token})
    assert r.status_code == 201 and r.json()["status"] == "pending", r.text
    # bearer tokens (API clients) need no CSRF token and keep working
    office = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    )
    api = client(app)
    auth = {"Authorization": f"Bearer {office.token}"}
    listed = api.get("/api/v1/bindings", params={"status": "pending"}, headers=auth).json()
    assert listed["count"] == 1
    bid = listed["bindings"][0]["id"]
    ok = api.post(f"/api/v1/bindings/{bid}/approve", json={"note": "核验一致"}, headers=auth)
    assert ok.status_code == 200 and ok.json()["status"] == "approved"
    ev = api.get(f"/api/v1/bindings/{bid}/evidence", headers=auth)
    assert ev.status_code == 200 and ev.content == PDF
    assert ev.headers["content-type"] == "application/pdf"
    assert cl.get("/api/v1/auth/me").json()["subject_ids"] == [subj]


def test_logout_ends_the_session_server_side(app_c: tuple[Any, Container]) -> None:
    app, c = app_c
    cl = client(app)
    ready_user(c, cl, "agent", Role.enterprise_agent)
    stolen = cl.cookies.get(SESSION_COOKIE)
    assert stolen and cl.get("/api/v1/auth/me").json()["role"] == "enterprise_agent"
    token = cl.headers.pop(CSRF_HEADER)
    # another site's form can make the browser send the cookie, never the header
    r = cl.post("/api/v1/auth/logout")
    assert r.status_code == 403 and r.json()["error"] == "csrf_failed", r.text
    assert cl.get("/api/v1/auth/me").json()["role"] == "enterprise_agent"  # still logged in
    r = cl.post("/api/v1/auth/logout", headers={CSRF_HEADER: token})
    assert r.status_code == 200 and r.json()["ended"] is True
    assert cl.get("/api/v1/auth/me").json()["role"] == "public"  # cookie cleared
    replay = client(app)
    replay.cookies.set(SESSION_COOKIE, stolen)
    assert replay.get("/api/v1/auth/me").status_code == 401


def test_identity_provider_binding_over_http(app_c: tuple[Any, Container]) -> None:
    app, c = app_c
    idp = FakeIdentityProvider()
    c.identity_providers["fake"] = idp
    subj = subject(c, "榆林甲公司", CO_A)
    cl = client(app)
    ready_user(c, cl, "agent", Role.enterprise_agent)
    nonce = cl.get("/api/v1/bindings/nonce").json()
    assert nonce["providers"] == ["fake"]
    token = idp.issue(nonce=nonce["nonce"], now=c.clock.now(), uscc=CO_A)
    r = cl.post("/api/v1/bindings", data={"method": "idp", "provider": "fake", "id_token": token})
    assert r.status_code == 201 and r.json()["status"] == "approved", r.text
    assert cl.get("/api/v1/auth/me").json()["subject_ids"] == [subj]
    bad = cl.post("/api/v1/bindings", data={"method": "fax"})
    assert bad.status_code == 422 and bad.json()["field"] == "method"


def test_state_changes_are_recorded_with_actor_route_and_outcome(
    app_c: tuple[Any, Container],
) -> None:
    app, c = app_c
    office = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
    )
    dept = add_department(c, SYSTEM, name=SAMR, code=uscc("11", "610800", "MA0CAMR1"))
    cl = client(app)
    before = len(trail(c))
    r = cl.post(
        "/api/v1/bindings/bdnothere/approve", headers={"Authorization": f"Bearer {office.token}"}
    )
    assert r.status_code == 404
    r = cl.post(
        "/api/v1/bindings/bdnothere/approve", headers={"Authorization": f"Bearer {dept.token}"}
    )
    assert r.status_code == 403
    assert cl.get("/api/v1/unresolved").status_code == 401  # a refused read is recorded too
    rows = [e for e in trail(c)[before:] if not e.action.startswith("config.")]
    got = [(e.action, e.result, e.status_code, e.actor_role, e.object_id) for e in rows]
    route = "http.POST /api/v1/bindings/{binding_id}/approve"
    assert got == [
        ("http.POST /api/v1/bindings/bdnothere/approve", "started", None, "public", None),
        (route, "failure", 404, "credit_office_admin", "bdnothere"),
        ("http.POST /api/v1/bindings/bdnothere/approve", "started", None, "public", None),
        (route, "denied", 403, "department_staff", "bdnothere"),
        ("http.GET /api/v1/unresolved", "denied", 401, "public", None),
    ]
    assert rows[0].detail["credential"] == f"bearer:{office.token[:10]}"
    assert rows[1].request_id == rows[0].request_id and rows[1].credential.startswith("token:")
    assert all(e.source_ip == "testclient" for e in rows)
    assert office.token not in str([e.detail for e in rows])


def test_audit_unavailable_means_the_change_is_refused(
    app_c: tuple[Any, Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, c = app_c
    subj = subject(c, "榆林甲公司", CO_A)
    cl = client(app)
    ready_user(c, cl, "agent", Role.enterprise_agent)
    real = audit.write_event

    def broken(c_: Container, **kw: Any) -> None:
        if kw.get("result") == "started":
            raise RuntimeError("audit store is read-only")
        real(c_, **kw)

    monkeypatch.setattr(audit, "write_event", broken)
    files = {"file": ("l.pdf", io.BytesIO(PDF), "application/pdf")}
    r = cl.post("/api/v1/bindings", data={"method": "letter", "subject": subj}, files=files)
    assert r.status_code == 503 and r.json()["error"] == "audit_unavailable"
    with c.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(SubjectBindingRow)) == 0
    monkeypatch.setattr(audit, "write_event", real)
    files = {"file": ("l.pdf", io.BytesIO(PDF), "application/pdf")}
    r = cl.post("/api/v1/bindings", data={"method": "letter", "subject": subj}, files=files)
    assert r.status_code == 201


def test_security_admin_manages_accounts_over_http(app_c: tuple[Any, Container]) -> None:
    app, c = app_c
    sec = client(app)
    ready_admin(c, sec, "sec", Role.security_admin)
    r = sec.post(
        "/api/v1/accounts",
        json={"username": "bank1", "display_name": "某银行", "role": "financial_institution"},
    )
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    initial = r.json()["initial_password"]
    bank = client(app)
    assert login(bank, "bank1", initial)["status"] == "password_change_required"
    grant = sec.post("/api/v1/accounts/bank1/role", json={"role": "audit_admin"})
    assert grant.status_code == 403 and grant.json()["error"] == "admin_role_change"
    assert sec.post("/api/v1/accounts/sec/disable").status_code == 403  # not oneself
    assert sec.post("/api/v1/accounts/bank1/disable").json()["disabled"] is True
    assert sec.get("/api/v1/audit").status_code == 403
    names = [a["username"] for a in sec.get("/api/v1/accounts").json()["accounts"]]
    assert names == ["sec", "bank1"]


def test_console_creates_an_administrator_who_then_logs_in_over_http(
    app_c: tuple[Any, Container], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, c = app_c
    s = c.settings
    monkeypatch.setenv("CITYCREDIT_DATABASE_URL", s.effective_database_url)
    monkeypatch.setenv("CITYCREDIT_DATA_DIR", str(s.data_dir))
    monkeypatch.setenv("CITYCREDIT_SECRET_KEY", s.secret_key.get_secret_value())
    monkeypatch.setenv("CITYCREDIT_SECURITY", json.dumps(FAST_HASHING))
    runner = CliRunner()
    out = runner.invoke(
        cli_app, ["accounts", "add-admin", "sec", "--role", "security_admin", "--json"]
    )
    assert out.exit_code == 0, out.output
    enrol = json.loads(out.output)
    assert enrol["provisioning_uri"].startswith("otpauth://totp/citycredit:sec?")
    bad = runner.invoke(cli_app, ["accounts", "add-admin", "x", "--role", "credit_office_admin"])
    assert bad.exit_code == 2 and "--role" in bad.output
    again = runner.invoke(cli_app, ["accounts", "add-admin", "sec", "--role", "audit_admin"])
    assert again.exit_code == 2 and "已存在" in again.output
    cl = client(app)
    assert login(cl, "sec", enrol["initial_password"])["status"] == "second_factor_required"
    r = cl.post(
        "/api/v1/auth/totp", json={"code": totp.code_at(enrol["totp_secret"], c.clock.now())}
    )
    assert r.status_code == 200 and r.json()["status"] == "password_change_required"
    listed = runner.invoke(cli_app, ["accounts", "list", "--json"])
    assert [a["username"] for a in json.loads(listed.output)] == ["sec"]
    purge = runner.invoke(cli_app, ["accounts", "audit-purge"])
    assert purge.exit_code == 0 and "保留期 180 天" in purge.output
    assert [e.actor_label for e in trail(c) if e.action == "account.create"] == ["system"]


def test_an_expired_session_gets_401_once_then_browses_as_the_public(
    app_c: tuple[Any, Container],
) -> None:
    app, c = app_c
    cl = client(app)
    ready_user(c, cl, "agent", Role.enterprise_agent)
    assert cl.get("/api/v1/auth/me").json()["role"] == "enterprise_agent"
    clock = c.clock
    assert isinstance(clock, FixedClock)
    clock.advance(minutes=31)
    r = cl.get("/api/v1/auth/me")
    assert r.status_code == 401 and r.json()["error"] == "session_expired"
    assert cl.cookies.get(SESSION_COOKIE) is None
    assert cl.get("/api/v1/auth/me").json()["role"] == "public"
    assert cl.get("/quality").status_code == 200
    ends = [e.detail["reason"] for e in trail(c) if e.action == "auth.session_end"]
    assert ends == ["idle"]
    # on a portal page the expired session is the error page, with the way to log in again
    login(cl, "agent", PASSWORD)
    clock.advance(minutes=31)
    page = cl.get("/account")
    assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
    assert "会话" in page.text and 'href="/login"' in page.text
    assert cl.cookies.get(SESSION_COOKIE) is None


def test_logins_and_sign_ups_are_rate_limited_per_client(
    container: Container, clock: FixedClock
) -> None:
    """G29: over the limit a client gets 429 + Retry-After before anything is hashed or audited;
    other clients are not affected; the next window lets the client in again."""
    c = container
    c.settings = c.settings.model_copy(
        update={
            "security": SecurityPolicy(
                **FAST_HASHING, auth_rate_per_minute=3, signup_rate_per_hour=2
            )
        }
    )
    app = create_app(c, scheduler=False)
    noisy, quiet = (
        TestClient(app, client=("10.0.0.7", 40000)),
        TestClient(app, client=("10.0.0.8", 40000)),
    )
    bad = {"username": "nobody", "password": "wrong-password-123"}
    assert [noisy.post("/api/v1/auth/login", json=bad).status_code for _ in range(3)] == [401] * 3
    with c.uow() as uow:
        events = uow.session.scalar(select(func.count()).select_from(AuditEventRow))
    over = noisy.post("/api/v1/auth/login", json=bad)
    assert over.status_code == 429 and over.json()["error"] == "rate_limited"
    assert 1 <= int(over.headers["retry-after"]) <= 60
    assert noisy.post("/api/v1/auth/totp", json={"code": "123456"}).status_code == 429
    with c.uow() as uow:  # refused before the audit trail: a flood writes nothing
        assert uow.session.scalar(select(func.count()).select_from(AuditEventRow)) == events
    assert quiet.post("/api/v1/auth/login", json=bad).status_code == 401
    clock.advance(seconds=61)
    assert noisy.post("/api/v1/auth/login", json=bad).status_code == 401
    body = {"password": PASSWORD, "role": "enterprise_agent"}
    made = [
        noisy.post("/api/v1/accounts/sign-up", json={**body, "username": f"u{i}"}).status_code
        for i in range(3)
    ]
    assert made == [201, 201, 429]
    c.settings = c.settings.model_copy(
        update={"security": SecurityPolicy(**FAST_HASHING, signup_rate_per_hour=0)}
    )
    assert (
        noisy.post("/api/v1/accounts/sign-up", json={**body, "username": "u9"}).status_code == 201
    )


def test_production_publishes_no_api_docs(container: Container) -> None:
    dev = TestClient(create_app(container, scheduler=False))
    assert [dev.get(p).status_code for p in ("/docs", "/redoc", "/openapi.json")] == [200] * 3
    container.settings = container.settings.model_copy(update={"environment": "production"})
    prod = TestClient(create_app(container, scheduler=False))
    assert [prod.get(p).status_code for p in ("/docs", "/redoc", "/openapi.json")] == [404] * 3
    assert prod.get("/healthz").status_code == 200
    assert prod.get("/static/apidocs/swagger-ui-bundle.js").status_code == 404


def test_api_docs_load_nothing_from_outside_the_platform(container: Container) -> None:
    """A closed government network reaches no CDN: /docs and /redoc name only local files,
    and those files are served (Swagger UI 5 renders FastAPI's OpenAPI 3.1)."""
    client = TestClient(create_app(container, scheduler=False))
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assert "http://" not in html and "https://" not in html and "//cdn" not in html, page
        assets = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', html)
        assert assets, page
        for url in assets:
            assert url.startswith("/"), (page, url)
            r = client.get(url)
            assert r.status_code == 200 and len(r.content) > 1000, (page, url, r.status_code)
    bundle = client.get("/static/apidocs/swagger-ui-bundle.js").text
    assert re.search(r'"5\.\d+\.\d+"', bundle)  # Swagger UI 5: OpenAPI 3.1 support
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")


def test_every_documented_operation_has_a_group_and_a_written_summary(
    container: Container,
) -> None:
    """/docs groups operations by area and names each with the first sentence of its
    handler's docstring, not FastAPI's title-cased function name ("Get Feed")."""
    spec = TestClient(create_app(container, scheduler=False)).get("/openapi.json").json()
    ops = [(m.upper(), p, op) for p, item in spec["paths"].items() for m, op in item.items()]
    assert len(ops) > 100
    untagged = [(m, p) for m, p, op in ops if op.get("tags", []) in ([], ["其他"])]
    assert not untagged
    generated = [
        (m, p, op.get("summary"))
        for m, p, op in ops
        if not op.get("summary") or re.fullmatch(r"(?:[A-Z][a-z0-9]* ?)+", op["summary"])
    ]
    assert not generated
    by_path = {(m, p): op for m, p, op in ops}
    assert by_path[("GET", "/api/v1/feeds/{subscription_id}")]["tags"] == [
        "共享调度（订阅与数据推送）"
    ]
    assert by_path[("POST", "/api/v1/exports/dual-publicity")]["tags"] == ["双公示上报"]
    assert by_path[("GET", "/api/v1/exports/download-requests")]["summary"].endswith(
        "request a copy was made for."
    )


def test_the_archive_pages_report_button_works_for_a_logged_in_visitor(
    app_c: tuple[Any, Container],
) -> None:
    """A browser form cannot send X-CSRF-Token: the page puts the session's token into the form
    (from the cc_csrf cookie) and the form route takes it from there; without it, or with
    another, a session's POST is still refused."""
    app, c = app_c
    subj = subject(c, "榆林甲公司", CO_A)
    cl = client(app)
    ready_user(c, cl, "agent", Role.enterprise_agent)
    cl.headers.pop(CSRF_HEADER)  # a browser: cookies only
    page = cl.get(f"/subjects/{subj}")
    assert page.status_code == 200
    field = re.search(r'<input type="hidden" name="csrf_token" value="([^"]+)">', page.text)
    assert field is not None and field.group(1) == cl.cookies.get("cc_csrf")
    r = cl.post(
        f"/subjects/{subj}/report", data={"csrf_token": field.group(1)}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/reports/YLCR"), r.text
    assert cl.get(r.headers["location"]).status_code == 200
    for data in ({}, {"csrf_token": "x" * 43}):
        refused = cl.post(f"/subjects/{subj}/report", data=data)
        assert refused.status_code == 403 and "防跨站请求令牌" in refused.text
    # the public's page has no token field and its button works as before
    public = client(app)
    assert 'name="csrf_token"' not in public.get(f"/subjects/{subj}").text
    assert public.post(f"/subjects/{subj}/report", follow_redirects=False).status_code == 303
