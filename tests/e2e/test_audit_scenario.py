"""G10: one scripted session over HTTP, and exactly the audit events it must leave.

A failed login, a login (password, then TOTP for the administrator), an authorisation denial,
reads of a natural person's personal data (the authorised archive, 明文查看), an administrator's
change and a 双公示 export. Every class of G10 is there, and the test asserts the complete list of
events the session wrote — nothing missing, nothing extra — each with its UTC time, actor, role,
action, object id, result, source address and the request id the response carried in
``X-Request-ID``.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from citycredit.accounts import manage, totp
from citycredit.accounts.auth import CSRF_HEADER
from citycredit.accounts.db import AuditEventRow
from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.policy import SecurityPolicy
from citycredit.accounts.service import add_user
from citycredit.bootstrap import Container
from citycredit.ingest.db import RecordRow
from citycredit.ingest.service import ingest_submission
from citycredit.shared.clock import FixedClock
from citycredit.web.app import create_app
from citycredit.web.audit import REQUEST_ID_HEADER
from support import SAMR, department, id_number, uscc, write_csv

pytestmark = pytest.mark.db

PASSWORD = "榆林信用-correct-horse"
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}
AUTH = uscc("11", "610800", "MA0CAMR1")
PERSON_ID = id_number("610802", "19800304", "123")
PENALTY = [
    "CF_XDR_MC",
    "CF_XDR_LB",
    "CF_XDR_ZJLX",
    "CF_XDR_ZJHM",
    "CF_WSH",
    "CF_WFXW",
    "CF_SY",
    "CF_YJ",
    "CF_CFLB",
    "CF_NR",
    "CF_NR_FK",
    "CF_JDRQ",
    "CF_CFJG",
    "CF_CFJGDM",
    "CF_SJLY",
    "CF_SJLYDM",
]
ROW = [
    "王小明",
    "自然人",
    "身份证",
    PERSON_ID,
    "神市监罚〔2026〕8号",
    "无照经营",
    "事实",
    "《无证无照经营查处办法》第十三条",
    "罚款",
    "罚款2万元",
    "2",
    "2026-11-01",
    "神木市市场监督管理局",
    AUTH,
    SAMR,
    AUTH,
]
SOURCE = "testclient"  # the TestClient's client address


def _login(cl: TestClient, username: str, password: str) -> Response:
    r = cl.post("/api/v1/auth/login", json={"username": username, "password": password})
    if r.status_code == 200:
        cl.headers[CSRF_HEADER] = r.json()["csrf_token"]
    return r


def _totp(cl: TestClient, secret: str, c: Container) -> Response:
    r = cl.post("/api/v1/auth/totp", json={"code": totp.code_at(secret, c.clock.now())})
    assert r.status_code == 200, r.text
    cl.headers[CSRF_HEADER] = r.json()["csrf_token"]
    return r


def _change_initial(cl: TestClient, initial: str) -> None:
    r = cl.post(
        "/api/v1/auth/password", json={"current_password": initial, "new_password": PASSWORD}
    )
    assert r.status_code == 200 and r.json()["status"] == "active", r.text


@pytest.fixture
def ready(container: Container, clock: FixedClock, tmp_path: Path) -> dict[str, Any]:
    """Accounts with their passwords changed, a natural person's penalty on record; the
    scripted session starts afterwards, on new clients and a clock 2 minutes later."""
    container.settings = container.settings.model_copy(
        update={"security": SecurityPolicy(**FAST_HASHING)}
    )
    c = container
    app = create_app(c, scheduler=False)
    receipt = ingest_submission(
        c, department(c), path=write_csv(tmp_path / "p.csv", PENALTY, [ROW]), item_code="penalty"
    )
    assert receipt.counts.new == 1, receipt.notes
    add_user(
        c,
        SYSTEM,
        username="clerk",
        display_name="信用办经办",
        role=Role.credit_office_admin,
        password="initial-1",
    )
    add_user(
        c,
        SYSTEM,
        username="agent",
        display_name="经办人",
        role=Role.enterprise_agent,
        password="initial-2",
    )
    enrol = manage.add_admin(
        c, SYSTEM, username="secadm", display_name="安全管理员", role=Role.security_admin
    )
    setup = TestClient(app)
    assert _login(setup, "clerk", "initial-1").status_code == 200
    _change_initial(setup, "initial-1")
    setup = TestClient(app)
    assert _login(setup, "secadm", enrol.initial_password).status_code == 200
    _totp(setup, enrol.totp_secret, c)
    _change_initial(setup, enrol.initial_password)
    clock.advance(minutes=2)  # the next TOTP step; the setup's code is spent
    with c.uow() as uow:
        record = uow.session.scalars(select(RecordRow)).one()
        high = uow.session.scalar(select(func.max(AuditEventRow.id))) or 0
    return {
        "app": app,
        "secret": enrol.totp_secret,
        "record_id": record.id,
        "subject_id": record.subject_id,
        "high": high,
    }


def test_a_scripted_session_leaves_exactly_its_audit_events(
    ready: dict[str, Any], container: Container
) -> None:
    c = container
    app = ready["app"]
    sid, record_id = ready["subject_id"], ready["record_id"]
    rid: dict[str, str] = {}

    def keep(step: str, r: Response) -> Response:
        rid[step] = r.headers[REQUEST_ID_HEADER]
        return r

    # the credit office's clerk: a wrong password, then a login (no second factor for the role)
    clerk = TestClient(app)
    assert keep("bad_login", _login(clerk, "clerk", "wrong-password")).status_code == 401
    assert keep("login", _login(clerk, "clerk", PASSWORD)).json()["status"] == "active"
    # an authorisation denial: the audit trail is the audit administrator's
    assert keep("denied", clerk.get("/api/v1/audit")).status_code == 403
    # reads of the person's data: the authorised archive (a GET), then 明文查看 (a POST)
    archive = f"/api/v1/subjects/{sid}/archive"
    r = clerk.get(archive, params={"view": "authorised", "purpose": "案件核查"})
    assert keep("archive", r).status_code == 200, r.text
    assert PERSON_ID not in r.text  # shown masked
    r = clerk.post(f"/api/v1/records/{record_id}/personal", json={"purpose": "案件核查"})
    assert keep("reveal", r).status_code == 200 and PERSON_ID in r.text
    # the security administrator: password, TOTP, then an account's role changed
    adm = TestClient(app)
    assert keep("admin_login", _login(adm, "secadm", PASSWORD)).json()["status"] == (
        "second_factor_required"
    )
    keep("admin_totp", _totp(adm, ready["secret"], c))
    r = adm.post("/api/v1/accounts/agent/role", json={"role": "financial_institution"})
    assert keep("admin_change", r).status_code == 200, r.text
    # the clerk's 双公示 export: the person's ID number goes to the province
    r = clerk.post("/api/v1/exports/dual-publicity", json={"formats": ["csv"]})
    assert keep("export", r).status_code == 201, r.text
    export_id = r.json()["id"]

    assert len(set(rid.values())) == len(rid)  # one id per request, in its response header
    with c.uow() as uow:
        events = list(
            uow.session.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.id > ready["high"])
                .order_by(AuditEventRow.id)
            )
        )
    step_of = {v: k for k, v in rid.items()}
    clerk_label, adm_label = "信用办经办（clerk）", "安全管理员（secadm）"
    office, security = "credit_office_admin", "security_admin"
    reveal = f"/api/v1/records/{record_id}/personal"
    got = [
        (
            step_of.get(e.request_id or ""),
            e.action,
            e.result,
            e.actor_label,
            e.actor_role,
            e.object_id,
            e.status_code,
        )
        for e in events
    ]
    assert got == [
        ("bad_login", "auth.login", "failure", "login:clerk", office, "clerk", None),
        ("login", "auth.login", "success", clerk_label, office, "clerk", None),
        ("denied", "http.GET /api/v1/audit", "denied", clerk_label, office, None, 403),
        ("archive", "data.read", "success", clerk_label, office, sid, None),
        # a write's first event is written before the handler runs (fail closed): before the
        # credential is checked, so it names the credential claimed, not yet the actor
        ("reveal", f"http.POST {reveal}", "started", "anonymous", "public", None, None),
        ("reveal", "data.read", "success", clerk_label, office, record_id, None),
        (
            "reveal",
            "http.POST /api/v1/records/{record_id}/personal",
            "success",
            clerk_label,
            office,
            record_id,
            200,
        ),
        ("admin_login", "auth.login", "success", adm_label, security, "secadm", None),
        ("admin_totp", "auth.second_factor", "success", adm_label, security, "secadm", None),
        (
            "admin_change",
            "http.POST /api/v1/accounts/agent/role",
            "started",
            "anonymous",
            "public",
            None,
            None,
        ),
        ("admin_change", "account.role", "success", adm_label, security, "agent", None),
        (
            "admin_change",
            "http.POST /api/v1/accounts/{username}/role",
            "success",
            adm_label,
            security,
            "agent",
            200,
        ),
        (
            "export",
            "http.POST /api/v1/exports/dual-publicity",
            "started",
            "anonymous",
            "public",
            None,
            None,
        ),
        ("export", "data.read", "success", clerk_label, office, sid, None),
        (
            "export",
            "http.POST /api/v1/exports/dual-publicity",
            "success",
            clerk_label,
            office,
            export_id,
            201,
        ),
    ]
    # every event: UTC time, the source address, a request id; the started events name the
    # credential presented
    assert all(e.at == c.clock.now() and e.at.utcoffset() == timedelta(0) for e in events)
    assert {e.source_ip for e in events} == {SOURCE}
    assert all(e.request_id for e in events)
    for e in events:
        if e.result == "started":
            assert str(e.detail["credential"]).startswith("session:")
    # the reads name the personal fields opened, never their values
    reads = [e for e in events if e.action == "data.read"]
    assert [(e.detail["fields"], e.detail["channel"]) for e in reads] == [
        (["CF_XDR_ZJHM"], "api"),
        (["CF_XDR_ZJHM"], "api"),
        (["CF_XDR_ZJHM", "CF_XDR_ZJLX"], "export"),
    ]
    assert all(e.detail["subject_id"] == sid and e.detail["items"] == ["penalty"] for e in reads)
    assert reads[2].detail["export_id"] == export_id
    assert all(PERSON_ID not in str(e.detail) for e in events)
