"""The role × endpoint matrix (security.md G7, G8; 等保 CES1-09): every route of the app, called as
every identity, against one declared policy table.

* `POLICY` declares, for each (method, path) of the app, who may call it: ``public()`` (everyone,
  including the anonymous public), ``authn()`` (an authentication step: the credential is in the
  request itself, so a 401 is an answer about that credential and a 403 never happens), or
  ``allow(...)`` with the identities that may. A route missing from the table, or an entry for a
  route that no longer exists, fails `test_every_route_has_a_declared_policy`.
* `test_role_matrix` calls each route as each identity: an identity not allowed must get 401 or
  403; an allowed one must get anything else, and never a 5xx. Object scope is part of the
  identities: ``dept_a`` owns the submission, the records and the cases, ``dept_b`` does not;
  ``agent_a`` is bound to subject A, ``agent_b`` to subject B, ``person`` to the natural person P.
* `test_no_idor_through_subject_scoped_routes`: for every GET route that names a subject (path or
  query), ``agent_a`` asking for subject B gets either a refusal or exactly what the anonymous
  public gets for B — never B's non-public data.

To add a route: add one entry to `POLICY` (and, if it needs an object, an id in `build_world`).
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.routing import Mount

from citycredit.accounts import auth, bindings, manage, totp
from citycredit.accounts.auth import CSRF_HEADER, SESSION_COOKIE
from citycredit.accounts.idp import FakeIdentityProvider
from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.accounts.policy import SecurityPolicy
from citycredit.accounts.service import add_department, add_user, department_principal
from citycredit.bootstrap import Container, build_container
from citycredit.checks import service as checks
from citycredit.commitments import service as commitments
from citycredit.ingest import service as ingest
from citycredit.ingest.db import RecordRow, UnresolvedRow
from citycredit.lists import service as lists
from citycredit.rights import authorisations, disclosures, objections, registration, repairs
from citycredit.rights.db import RepairReceiptRow
from citycredit.settings import Settings
from citycredit.sharing import service as sharing
from citycredit.subjects import archive
from citycredit.subjects.db import SubjectRow
from citycredit.web.app import create_app
from support import (
    PENALTY_COLUMNS,
    PENALTY_COLUMNS_WITH_ID,
    SAMR,
    id_number,
    penalty_row,
    uscc,
    write_csv,
)

pytestmark = pytest.mark.db

# -- identities ---------------------------------------------------------------------------------

ANON = "anonymous"
DEPT_A = "dept_a"  # 市场监管局 staff token: owns the submission, records and cases
DEPT_B = "dept_b"  # 税务局 staff token: another department
OFFICE = "office"  # 市信用办 (credit_office_admin token)
SYS_ADMIN = "system_admin"  # web session after password + TOTP
SEC_ADMIN = "security_admin"
AUDIT_ADMIN = "audit_admin"
AGENT_A = "agent_a"  # enterprise agent bound to subject A (web session)
AGENT_B = "agent_b"  # enterprise agent bound to subject B (token)
PERSON = "person"  # natural person bound to the person P (token)
BANK = "bank"  # financial institution, no binding (token)
AGENCY = "agency"  # credit service agency, no binding (token)

IDENTITIES = (
    ANON,
    DEPT_A,
    DEPT_B,
    OFFICE,
    SYS_ADMIN,
    SEC_ADMIN,
    AUDIT_ADMIN,
    AGENT_A,
    AGENT_B,
    PERSON,
    BANK,
    AGENCY,
)
STAFF = (DEPT_A, DEPT_B, OFFICE)
SUBJECT_SIDE = (AGENT_A, AGENT_B, PERSON, BANK, AGENCY)
DENIED = (401, 403)

PUBLIC = "public"
AUTHN = "authn"


@dataclass(frozen=True)
class Rule:
    """Who may call a route, and how to call it (path ids and request kwargs)."""

    who: frozenset[str] | str
    path: Mapping[str, str] = field(default_factory=dict)  # path param → world id key
    request: Callable[[World], dict[str, Any]] | None = None
    last: bool = False  # ends sessions: called after every other route
    # How a refusal looks: 401/403, or also 404 where another's object answers exactly like a
    # missing one (no existence oracle, security.md G8).
    refused: tuple[int, ...] = DENIED

    def allows(self, identity: str) -> bool:
        if self.who in (PUBLIC, AUTHN):
            return True
        assert isinstance(self.who, frozenset)
        return identity in self.who


def hidden(*who: str, **kw: Any) -> Rule:
    """Like allow(), but others' objects answer 404, like missing ones."""
    return allow(*who, refused=(401, 403, 404), **kw)


def allow(*who: str, **kw: Any) -> Rule:
    unknown = set(who) - set(IDENTITIES)
    assert not unknown, unknown
    return Rule(frozenset(who), **kw)


def public(**kw: Any) -> Rule:
    return Rule(PUBLIC, **kw)


def authn(**kw: Any) -> Rule:
    return Rule(AUTHN, **kw)


# -- the world ----------------------------------------------------------------------------------

PASSWORD = "榆林信用-correct-horse"
PDF = b"%PDF-1.7\n% letter of authorisation\n" + b"0" * 100
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}
TAX = "榆林市税务局"
CO = {k: uscc("91", "610802", f"MA6RM{n:03d}") for n, k in enumerate("ABCWK", start=1)}
# repairable penalties (past the 3-month minimum, still published on 2026-11-25): two of A's,
# one of C's (repaired in the world: a repair bars the subject's next one for a year)
REPAIRABLE = {
    "record_r1": ("A", "2026-07-01"),
    "record_r3": ("A", "2026-07-03"),
    "record_rc": ("C", "2026-07-02"),
}
PERSON_ID = id_number("610802", "19800304", "123")
SAMR_LIST = "market_supervision_serious"
MATTER = "food_business_licence"


@dataclass
class World:
    app: FastAPI
    c: Container
    creds: dict[str, tuple[dict[str, str], dict[str, str]]]  # identity → (headers, cookies)
    ids: dict[str, str]

    def call(self, who: str, method: str, url: str, **kwargs: Any) -> Any:
        headers, cookies = self.creds[who]
        client = TestClient(
            self.app, headers=headers, cookies=cookies, raise_server_exceptions=False
        )
        return client.request(method, url, **kwargs)


def _session(issued: auth.SessionIssued) -> tuple[dict[str, str], dict[str, str]]:
    return {CSRF_HEADER: issued.csrf_token}, {SESSION_COOKIE: issued.cookie}


def _token(token: str) -> tuple[dict[str, str], dict[str, str]]:
    return {"Authorization": f"Bearer {token}"}, {}


def _user(c: Container, username: str, role: Role) -> tuple[str, auth.SessionIssued]:
    """An account past its initial password: (its token, an active web session)."""
    issued = add_user(
        c, SYSTEM, username=username, display_name=username, role=role, password="initial"
    )
    step = auth.login(c, username=username, password="initial")
    done = auth.change_password(
        c, cookie=step.cookie, current_password="initial", new_password=PASSWORD
    )
    assert done is not None
    return issued.token, done


def _admin(c: Container, username: str, role: Role) -> auth.SessionIssued:
    enrol = manage.add_admin(c, SYSTEM, username=username, display_name=username, role=role)
    step = auth.login(c, username=username, password=enrol.initial_password)
    code = totp.code_at(enrol.totp_secret, c.clock.now())
    step = auth.verify_second_factor(c, cookie=step.cookie, code=code)
    done = auth.change_password(
        c, cookie=step.cookie, current_password=enrol.initial_password, new_password=PASSWORD
    )
    assert done is not None
    return done


def _principal(c: Container, issued: auth.SessionIssued) -> Principal:
    return auth.authenticate_session(c, issued.cookie)


def _subject_id(c: Container, code: str) -> str:
    with c.uow() as uow:
        sid = uow.session.scalar(select(SubjectRow.subject_id).where(SubjectRow.uscc == code))
        assert sid is not None, code
        return sid


def _person_id(c: Container) -> str:
    with c.uow() as uow:
        digest = c.digester.digest("id-number", PERSON_ID)
        sid = uow.session.scalar(
            select(SubjectRow.subject_id).where(SubjectRow.id_digest == digest)
        )
        assert sid is not None
        return sid


def build_world(c: Container, tmp: Path) -> World:
    # No rate limits here: every identity calls every route, and a 429 would answer for the
    # limiter (tests/e2e/test_auth_http.py), not for the authorization being tested.
    policy = SecurityPolicy(
        **FAST_HASHING, auth_rate_per_minute=0, signup_rate_per_hour=0, public_rate_per_minute=0
    )
    c.settings = c.settings.model_copy(update={"security": policy})
    idp = FakeIdentityProvider()
    c.identity_providers["fake"] = idp
    ids: dict[str, str] = {}
    creds: dict[str, tuple[dict[str, str], dict[str, str]]] = {ANON: ({}, {})}
    auth_code = uscc("11", "610800", "MA0CAMR1")
    creds[DEPT_A] = _token(add_department(c, SYSTEM, name=SAMR, code=auth_code).token)
    creds[DEPT_B] = _token(
        add_department(c, SYSTEM, name=TAX, code=uscc("11", "610800", "MA0TAX01")).token
    )
    creds[OFFICE] = _token(
        add_user(
            c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin
        ).token
    )
    samr = department_principal(c, SAMR)

    # records: a penalty for A, B, C, W (W is withdrawn by the matrix), P, and one codeless row
    rows = [
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC=f"榆林{k}公司",
            CF_XDR_SHXYM=code,
            CF_WSH=f"榆市监罚〔2026〕{n}号",
        )
        for n, (k, code) in enumerate(CO.items(), start=1)
    ]
    rows.append(
        penalty_row(
            PENALTY_COLUMNS_WITH_ID,
            CF_XDR_MC="王小明",
            CF_XDR_LB="自然人",
            CF_XDR_ZJHM=PERSON_ID,
            CF_WSH="榆市监罚〔2026〕9号",
        )
    )
    rows.append(
        penalty_row(PENALTY_COLUMNS_WITH_ID, CF_XDR_MC="无码商贸行", CF_WSH="榆市监罚〔2026〕10号")
    )
    for n, (who, day) in enumerate(REPAIRABLE.values(), start=20):
        rows.append(
            penalty_row(
                PENALTY_COLUMNS_WITH_ID,
                CF_XDR_MC=f"榆林{who}公司",
                CF_XDR_SHXYM=CO[who],
                CF_WSH=f"榆市监罚〔2026〕{n}号",
                CF_JDRQ=day,
            )
        )
    path = write_csv(tmp / "penalties.csv", PENALTY_COLUMNS_WITH_ID, rows)
    receipt = ingest.ingest_submission(
        c, samr, path=path, item_code="penalty", department=None, filename="penalties.csv"
    )
    ids["submission"] = receipt.submission_id
    for k, code in CO.items():
        ids[f"subject_{k.lower()}"] = _subject_id(c, code)
    ids["subject_p"] = _person_id(c)
    with c.uow() as uow:
        for key in ("a", "b", "w", "p"):
            rid = uow.session.scalar(
                select(RecordRow.id).where(
                    RecordRow.subject_id == ids[f"subject_{key}"],
                    RecordRow.decision_date == date(2026, 11, 2),
                )
            )
            assert rid is not None
            ids[f"record_{key}"] = rid
        for key, (_who, day) in REPAIRABLE.items():
            rid = uow.session.scalar(
                select(RecordRow.id).where(RecordRow.decision_date == date.fromisoformat(day))
            )
            assert rid is not None
            ids[key] = rid
        unresolved = uow.session.scalar(select(UnresolvedRow.id))
        assert unresolved is not None
        ids["unresolved"] = str(unresolved)

    # subject-side accounts and their bindings
    office = Principal(role=Role.credit_office_admin, label="信用办", user_id=None)
    _, agent_a = _user(c, "agent_a", Role.enterprise_agent)
    creds[AGENT_A] = _session(agent_a)
    pa = _principal(c, agent_a)
    made = bindings.request_letter_binding(c, pa, subject=CO["A"], content=PDF, filename="a.pdf")
    bindings.decide_binding(c, office, made["id"], approve=True)
    ids["binding_a"] = made["id"]
    ids["binding_pending"] = bindings.request_letter_binding(
        c, pa, subject=CO["C"], content=PDF, filename="c.pdf"
    )["id"]
    ids["binding_revoke"] = bindings.request_letter_binding(
        c, pa, subject=CO["W"], content=PDF, filename="w.pdf"
    )["id"]
    token_b, agent_b = _user(c, "agent_b", Role.enterprise_agent)
    creds[AGENT_B] = _token(token_b)
    pb = _principal(c, agent_b)
    nonce = bindings.idp_nonce(c, pb)["nonce"]
    bindings.bind_by_identity_provider(
        c, pb, provider="fake", id_token=idp.issue(nonce=nonce, now=c.clock.now(), uscc=CO["B"])
    )
    token_p, person = _user(c, "person", Role.natural_person)
    creds[PERSON] = _token(token_p)
    pp = _principal(c, person)
    nonce = bindings.idp_nonce(c, pp)["nonce"]
    bindings.bind_by_identity_provider(
        c,
        pp,
        provider="fake",
        id_token=idp.issue(nonce=nonce, now=c.clock.now(), id_number=PERSON_ID),
    )
    token_k, bank = _user(c, "bank", Role.financial_institution)
    creds[BANK] = _token(token_k)
    made = bindings.request_letter_binding(
        c, _principal(c, bank), subject=CO["K"], content=PDF, filename="k.pdf"
    )
    bindings.decide_binding(c, office, made["id"], approve=True)
    creds[AGENCY] = _token(_user(c, "agency", Role.credit_service_agency)[0])
    _user(c, "target", Role.enterprise_agent)  # the object of the account routes

    # administrators (password + TOTP)
    creds[SYS_ADMIN] = _session(_admin(c, "sys", Role.system_admin))
    creds[SEC_ADMIN] = _session(_admin(c, "sec", Role.security_admin))
    creds[AUDIT_ADMIN] = _session(_admin(c, "aud", Role.audit_admin))

    # cases of dept A about subject A
    ids["membership"] = lists.propose(
        c,
        samr,
        list_type=SAMR_LIST,
        subject_id=ids["subject_a"],
        document_no="榆市监〔2026〕1号",
        reasons="严重违法失信",
    )
    ids["check"] = checks.run_check(c, samr, subject_id=ids["subject_a"], matter=MATTER)["check_id"]
    ids["commitment"] = commitments.create_commitment(
        c,
        samr,
        subject_id=ids["subject_a"],
        kind="approval_substitute",
        matter=MATTER,
        text="承诺申报材料真实有效",
        made_on=date(2026, 11, 1),
    )["commitment_id"]

    # subjects' rights: A authorised the bank; objections and repairs filed by agent A
    pa = auth.authenticate_session(c, agent_a.cookie)
    until = date(2027, 5, 1)
    for key in ("authorisation", "authorisation_revoke"):
        ids[key] = authorisations.grant(
            c,
            pa,
            subject_id=ids["subject_a"],
            grantee=CO["K"],
            purpose="贷款审批",
            valid_until=until,
        )["id"]
    ids["objection"] = objections.file_objection(
        c, pa, target_type="record", target_id=ids["record_a"], ground="wrong", reasons="金额有误"
    )["id"]
    materials = [
        {"code": "performance_proof", "name": "缴款凭证.pdf", "sha256": "0" * 64},
        {"code": "commitment", "name": "承诺书.pdf", "sha256": "1" * 64},
    ]
    repair = {
        "target_type": "record",
        "reasons": "已缴纳罚款并完成整改",
        "commitment_text": "本单位承诺今后依法经营，如有违反愿承担责任",
        "materials": materials,
    }
    ids["repair"] = repairs.file_repair(c, pa, target_id=ids["record_r1"], **repair)["id"]
    # a repair of C carried through: dept B read C's archive, so it gets a stop-use receipt
    tax = department_principal(c, TAX)
    archive.authorised_archive(c, tax, ids["subject_c"], purpose="纳税信用评价")
    done = repairs.file_repair(c, office, target_id=ids["record_rc"], **repair)["id"]
    repairs.accept(c, office, done)
    repairs.decide(c, samr, done, approve=True, reason="已履行法定义务")
    with c.uow() as uow:
        receipt = uow.session.scalar(
            select(RepairReceiptRow.id).where(RepairReceiptRow.repair_id == done)
        )
        assert receipt is not None
        ids["receipt"] = str(receipt)
    # 自愿注册 and 自主公示 of A (the credit office is the receiving unit of disclosures)
    add_department(
        c,
        SYSTEM,
        name="榆林市发展和改革委员会",
        code=uscc("11", "610800", "MA0CRED1"),
        kind="credit_office",
    )
    registration.register(
        c,
        pa,
        provider="fake",
        id_token=idp.issue(
            nonce=bindings.idp_nonce(c, pa)["nonce"], now=c.clock.now(), uscc=CO["A"]
        ),
        profile={"introduction": "榆林本地企业"},
    )
    ids["disclosure"] = disclosures.publish(
        c,
        pa,
        subject_id=ids["subject_a"],
        kind="honour",
        title="榆林市守合同重信用企业",
        obtained_on=date(2026, 5, 1),
    )["id"]
    ids["subscription"] = sharing.subscribe(
        c, samr, sharing.NewSubscription(name="处罚订阅", items=["penalty"])
    )["id"]
    return World(create_app(c, scheduler=False), c, creds, ids)


# -- how routes are called ----------------------------------------------------------------------

DEFAULT_PATH = {
    "subject_id": "subject_a",
    "submission_id": "submission",
    "record_id": "record_a",
    "binding_id": "binding_a",
    "unresolved_id": "unresolved",
    "membership_id": "membership",
    "check_id": "check",
    "commitment_id": "commitment",
    "authorisation_id": "authorisation_revoke",
    "objection_id": "objection",
    "repair_id": "repair",
    "receipt_id": "receipt",
    "subscription_id": "subscription",
    "disclosure_id": "disclosure",
}
LITERAL_PATH = {
    "username": "target",
    "job": "audit_purge",
    "list_type": SAMR_LIST,
    "alarm_id": "1",
    "run_id": "run-none",
    "export_id": "export-none",
    "download_id": "xd-none",
    "name": "penalty.csv",
    "item": "penalty",
    "report_no": "YLCR20261125NONE000000",
}


def json_body(**body: Any) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"json": body}


def letter(w: World) -> dict[str, Any]:
    return {
        "data": {"method": "letter", "subject": CO["B"]},
        "files": {"file": ("l.pdf", io.BytesIO(PDF), "application/pdf")},
    }


def submission_file(w: World) -> dict[str, Any]:
    row = penalty_row(CF_XDR_MC="榆林A公司", CF_XDR_SHXYM=CO["A"], CF_WSH="榆市监罚〔2026〕99号")
    buf = io.StringIO()
    csv.writer(buf).writerows([PENALTY_COLUMNS, row])
    return {
        "data": {"item": "penalty", "department": SAMR},
        "params": {"dry_run": "true"},
        "files": {"file": ("p.csv", io.BytesIO(buf.getvalue().encode()), "text/csv")},
    }


def with_subject(key: str = "subject_a", **params: Any) -> Callable[[World], dict[str, Any]]:
    return lambda w: {"params": {"subject_id": w.ids[key], **params}}


POLICY: dict[tuple[str, str], Rule] = {
    # framework, portal pages and static files
    ("GET", "/openapi.json"): public(),
    ("GET", "/docs"): public(),
    ("GET", "/docs/oauth2-redirect"): public(),
    ("GET", "/redoc"): public(),
    ("GET", "/healthz"): public(),
    ("GET", "/static"): public(),
    ("GET", "/static/apidocs"): public(),  # Swagger UI / ReDoc files (not in production)
    ("GET", "/"): public(request=lambda w: {"params": {"q": "榆林"}}),
    ("GET", "/subjects/{subject_id}"): public(),
    ("GET", "/quality"): public(),
    ("GET", "/subjects/{subject_id}/evaluation"): public(),
    ("GET", "/publicity/{item}"): public(),
    ("POST", "/subjects/{subject_id}/report"): public(),
    # 信用账户 pages (web/account_pages.py)
    ("GET", "/login"): public(),
    ("POST", "/login"): authn(request=lambda w: {"data": {"username": "x", "password": "y"}}),
    ("POST", "/login/totp"): authn(request=lambda w: {"data": {"code": "123456"}}),
    ("POST", "/login/password"): authn(
        request=lambda w: {"data": {"current_password": "x", "new_password": "y" * 16}}
    ),
    ("POST", "/logout"): authn(last=True),  # after /api/v1/auth/logout: sessions already ended
    ("GET", "/account"): allow(*SUBJECT_SIDE),
    ("POST", "/account/objections"): hidden(
        AGENT_A,
        request=lambda w: {
            "data": {
                "target_type": "record",
                "target_id": w.ids["record_a"],
                "ground": "wrong",
                "reasons": "处罚金额有误",
            }
        },
    ),
    ("GET", "/reports"): public(),
    ("GET", "/reports/{report_no}"): public(),
    ("GET", "/reports/{report_no}/pdf"): public(),
    ("GET", "/lists"): public(),
    ("GET", "/lists/{list_type}"): public(),
    ("GET", "/ledger/verify"): public(),
    # accounts: login and sessions (auth_api)
    ("POST", "/api/v1/auth/login"): public(request=json_body(username="target", password=PASSWORD)),
    ("POST", "/api/v1/auth/totp"): authn(request=json_body(code="123456")),
    ("POST", "/api/v1/auth/password"): authn(
        request=json_body(current_password="not-the-password", new_password="x" * 16)
    ),
    ("POST", "/api/v1/auth/logout"): public(last=True),
    ("GET", "/api/v1/auth/me"): public(),
    # bindings
    ("GET", "/api/v1/bindings"): allow(OFFICE, *SUBJECT_SIDE),
    ("GET", "/api/v1/bindings/nonce"): allow(*SUBJECT_SIDE),
    ("POST", "/api/v1/bindings"): allow(*SUBJECT_SIDE, request=letter),
    ("GET", "/api/v1/bindings/{binding_id}"): hidden(OFFICE, AGENT_A),
    ("GET", "/api/v1/bindings/{binding_id}/evidence"): hidden(OFFICE, AGENT_A),
    ("POST", "/api/v1/bindings/{binding_id}/approve"): allow(
        OFFICE, path={"binding_id": "binding_pending"}, request=json_body(note="核验一致")
    ),
    ("POST", "/api/v1/bindings/{binding_id}/reject"): allow(
        OFFICE, path={"binding_id": "binding_pending"}, request=json_body(note="印章不清")
    ),
    ("POST", "/api/v1/bindings/{binding_id}/revoke"): hidden(
        OFFICE, AGENT_A, path={"binding_id": "binding_revoke"}, request=json_body()
    ),
    # account administration (security administrator)
    ("GET", "/api/v1/accounts"): allow(SEC_ADMIN),
    ("POST", "/api/v1/accounts"): allow(
        SEC_ADMIN, request=json_body(username="newbie", role="enterprise_agent")
    ),
    ("POST", "/api/v1/accounts/{username}/role"): allow(
        SEC_ADMIN, request=json_body(role="financial_institution")
    ),
    ("POST", "/api/v1/accounts/{username}/disable"): allow(SEC_ADMIN),
    ("POST", "/api/v1/accounts/{username}/enable"): allow(SEC_ADMIN),
    ("POST", "/api/v1/accounts/{username}/unlock"): allow(SEC_ADMIN),
    ("POST", "/api/v1/accounts/{username}/reset-password"): allow(SEC_ADMIN),
    # system administrator and audit administrator
    ("GET", "/api/v1/system/settings"): allow(SYS_ADMIN),
    ("POST", "/api/v1/system/jobs/{job}/run"): allow(SYS_ADMIN),
    ("GET", "/api/v1/audit"): allow(AUDIT_ADMIN),
    # the security policy (G3): the security administrator changes it, the auditor reads it
    ("GET", "/api/v1/admin/security-policy"): allow(SEC_ADMIN, AUDIT_ADMIN),
    ("PUT", "/api/v1/admin/security-policy"): allow(
        SEC_ADMIN, request=json_body(lockout_threshold=6, reason="等保测评整改")
    ),
    # subjects, intake, quality (api)
    ("GET", "/api/v1/subjects"): public(request=lambda w: {"params": {"q": "榆林"}}),
    ("GET", "/api/v1/subjects/{subject_id}"): public(),
    ("GET", "/api/v1/publicity/{item}"): public(),
    ("POST", "/api/v1/subjects/{subject_id}/reports"): public(),
    ("GET", "/api/v1/reports/{report_no}"): public(),
    ("GET", "/api/v1/reports/{report_no}/bundle"): public(),
    ("GET", "/api/v1/subjects/{subject_id}/archive"): public(),
    ("POST", "/api/v1/submissions"): allow(DEPT_A, OFFICE, request=submission_file),
    ("GET", "/api/v1/submissions/{submission_id}"): hidden(DEPT_A, OFFICE),
    ("GET", "/api/v1/submissions/{submission_id}/rejects"): hidden(DEPT_A, OFFICE),
    ("GET", "/api/v1/submissions/{submission_id}/rejects.csv"): hidden(DEPT_A, OFFICE),
    ("GET", "/api/v1/submissions"): allow(*STAFF),
    ("POST", "/api/v1/records/{record_id}/withdraw"): hidden(
        DEPT_A, OFFICE, path={"record_id": "record_w"}, request=json_body(reason="复议撤销")
    ),
    ("GET", "/api/v1/records/{record_id}/history"): hidden(DEPT_A, OFFICE),
    # 不予公示 / 恢复公示 (web/withhold_api.py, G31): the source department or the credit office
    ("POST", "/api/v1/records/{record_id}/withhold"): hidden(
        DEPT_A,
        OFFICE,
        path={"record_id": "record_w"},
        request=json_body(reason="privacy", basis="榆市监不予公示审批 1 号"),
    ),
    ("POST", "/api/v1/records/{record_id}/release"): hidden(
        DEPT_A, OFFICE, path={"record_id": "record_w"}, request=json_body(basis="经复核恢复公示")
    ),
    ("GET", "/api/v1/unresolved"): allow(OFFICE),
    ("POST", "/api/v1/unresolved/{unresolved_id}/attach"): allow(
        OFFICE, request=lambda w: {"json": {"subject_id": w.ids["subject_c"]}}
    ),
    ("POST", "/api/v1/unresolved/{unresolved_id}/dismiss"): allow(
        OFFICE, request=json_body(reason="非本市主体")
    ),
    ("GET", "/api/v1/quality"): public(),
    ("POST", "/api/v1/quality/refresh"): allow(OFFICE),  # a full scan: the credit office only
    ("GET", "/api/v1/catalog"): public(),
    # ledger
    ("GET", "/api/v1/ledger/checkpoint"): public(),
    ("GET", "/api/v1/ledger/merge-delay"): public(),
    ("GET", "/api/v1/ledger/proofs/inclusion"): public(
        request=lambda w: {"params": {"index": 0, "size": 1}}
    ),
    ("GET", "/api/v1/ledger/proofs/consistency"): public(
        request=lambda w: {"params": {"first": 1, "second": 1}}
    ),
    ("GET", "/api/v1/ledger/leaves"): allow(
        DEPT_A, DEPT_B, OFFICE, request=lambda w: {"params": {"purpose": "数据核验"}}
    ),
    ("GET", "/api/v1/ledger/bundles/{record_id}"): public(),
    ("GET", "/api/v1/ledger/verification"): allow(OFFICE),
    ("GET", "/api/v1/ledger/alarms"): allow(OFFICE),
    ("POST", "/api/v1/ledger/alarms/{alarm_id}/ack"): allow(OFFICE),
    # system alarms (G25): the system administrator frees the space and acknowledges; the
    # credit office sees why departments' submissions were refused
    ("GET", "/api/v1/admin/alarms"): allow(SYS_ADMIN, OFFICE),
    ("POST", "/api/v1/admin/alarms/{alarm_id}/ack"): allow(SYS_ADMIN),
    # lists
    ("GET", "/api/v1/lists"): public(),
    ("GET", "/api/v1/lists/{list_type}"): public(),
    ("GET", "/api/v1/subjects/{subject_id}/lists"): public(),
    ("POST", "/api/v1/memberships"): allow(
        DEPT_A,
        OFFICE,
        request=lambda w: {
            "json": {
                "list_type": SAMR_LIST,
                "subject_id": w.ids["subject_b"],
                "document_no": "榆市监〔2026〕2号",
                "reasons": "严重违法失信",
                "department": SAMR,
            }
        },
    ),
    ("GET", "/api/v1/memberships/{membership_id}"): hidden(DEPT_A, OFFICE),
    ("POST", "/api/v1/memberships/{membership_id}/notify"): hidden(DEPT_A, OFFICE),
    ("POST", "/api/v1/memberships/{membership_id}/objections"): hidden(
        DEPT_A, OFFICE, request=json_body(note="当事人陈述申辩")
    ),
    ("POST", "/api/v1/memberships/{membership_id}/objections/answer"): hidden(
        DEPT_A, OFFICE, request=json_body(note="不予采纳")
    ),
    ("POST", "/api/v1/memberships/{membership_id}/decide"): hidden(
        DEPT_A, OFFICE, request=json_body(decision_no="榆市监决〔2026〕1号")
    ),
    ("POST", "/api/v1/memberships/{membership_id}/publish"): hidden(DEPT_A, OFFICE),
    ("POST", "/api/v1/memberships/{membership_id}/withdraw"): hidden(
        DEPT_A, OFFICE, request=json_body(reason="撤回")
    ),
    ("POST", "/api/v1/memberships/{membership_id}/exit"): hidden(
        DEPT_A, OFFICE, request=json_body(exit_code="court_release", ref="（2026）陕08执1号")
    ),
    # checks and commitments
    ("POST", "/api/v1/checks"): allow(
        DEPT_A,
        OFFICE,
        request=lambda w: {
            "json": {"subject_id": w.ids["subject_a"], "matter": MATTER, "department": SAMR}
        },
    ),
    ("GET", "/api/v1/checks/stats"): allow(OFFICE),
    ("GET", "/api/v1/checks/{check_id}"): hidden(DEPT_A, OFFICE),
    ("POST", "/api/v1/checks/{check_id}/feedback"): hidden(
        DEPT_A, OFFICE, request=json_body(measure_code="x", applied=True)
    ),
    ("POST", "/api/v1/commitments"): allow(
        DEPT_A,
        OFFICE,
        request=lambda w: {
            "json": {
                "subject_id": w.ids["subject_a"],
                "kind": "approval_substitute",
                "matter": MATTER,
                "text": "承诺申报材料真实有效",
                "made_on": "2026-11-01",
                "department": SAMR,
            }
        },
    ),
    ("POST", "/api/v1/commitments/{commitment_id}/outcome"): hidden(
        DEPT_A, OFFICE, request=json_body(result="fulfilled", checked_on="2026-11-20")
    ),
    ("GET", "/api/v1/commitments"): public(request=with_subject()),
    # personal data in clear (privacy)
    ("POST", "/api/v1/records/{record_id}/personal"): hidden(
        DEPT_A, OFFICE, path={"record_id": "record_p"}, request=json_body(purpose="案件核查")
    ),
    ("POST", "/api/v1/personal/lookup"): allow(
        DEPT_A,
        DEPT_B,
        OFFICE,
        request=json_body(kind="id_number", value=PERSON_ID, purpose="案件核查"),
    ),
    # evaluation
    ("GET", "/api/v1/subjects/{subject_id}/evaluation"): public(),
    ("GET", "/api/v1/evaluation/runs"): allow(OFFICE),
    ("GET", "/api/v1/evaluation/runs/{run_id}"): allow(OFFICE),
    # exports to the provincial platform
    ("GET", "/api/v1/exports"): allow(OFFICE),
    ("POST", "/api/v1/exports/dual-publicity"): allow(OFFICE, request=json_body()),
    ("GET", "/api/v1/exports/{export_id}"): allow(OFFICE),
    ("GET", "/api/v1/exports/{export_id}/proof"): allow(OFFICE),  # its ledger proof
    ("GET", "/api/v1/exports/{export_id}/files/{name}"): allow(
        OFFICE, request=lambda w: {"params": {"purpose": "报送核对"}}
    ),
    # G35: downloads of files with natural persons' data (asked, approved by another account)
    ("POST", "/api/v1/exports/{export_id}/download-requests"): allow(
        OFFICE, request=json_body(purpose="报送核对")
    ),
    ("GET", "/api/v1/exports/download-requests"): allow(OFFICE),
    ("GET", "/api/v1/exports/download-requests/{download_id}"): allow(OFFICE),
    ("POST", "/api/v1/exports/download-requests/{download_id}/approve"): allow(OFFICE),
    ("POST", "/api/v1/exports/download-requests/{download_id}/refuse"): allow(
        OFFICE, request=json_body(reason="用途不明确")
    ),
    ("GET", "/api/v1/exports/download-requests/{download_id}/files/{name}"): allow(OFFICE),
    # subjects' rights: objections
    ("POST", "/api/v1/objections"): hidden(
        OFFICE,
        AGENT_A,
        request=lambda w: {
            "json": {
                "target_type": "record",
                "target_id": w.ids["record_a"],
                "ground": "wrong",
                "reasons": "处罚金额有误",
            }
        },
    ),
    ("GET", "/api/v1/objections"): allow(*STAFF),
    ("GET", "/api/v1/objections/{objection_id}"): hidden(DEPT_A, OFFICE, AGENT_A),
    ("POST", "/api/v1/objections/{objection_id}/accept"): allow(OFFICE, request=json_body()),
    ("POST", "/api/v1/objections/{objection_id}/reject"): allow(
        OFFICE, request=json_body(reason="不属于异议范围")
    ),
    # a record's objection is decided by its source department only (the office routes)
    ("POST", "/api/v1/objections/{objection_id}/decide"): hidden(
        DEPT_A, request=json_body(outcome="kept", reason="经核实信息无误")
    ),
    ("POST", "/api/v1/objections/{objection_id}/route"): allow(
        OFFICE, request=json_body(note="请于期限内核查处理")
    ),
    ("POST", "/api/v1/objections/{objection_id}/statement"): hidden(
        OFFICE, AGENT_A, request=json_body(text="本单位对处罚金额仍有异议")
    ),
    ("GET", "/api/v1/inbox"): allow(*STAFF),
    ("POST", "/api/v1/inbox/read"): allow(*STAFF, request=json_body(up_to=1)),
    # subjects' rights: repairs
    ("GET", "/api/v1/records/{record_id}/repair-eligibility"): hidden(DEPT_A, OFFICE, AGENT_A),
    ("POST", "/api/v1/repairs"): hidden(
        OFFICE,
        AGENT_A,
        request=lambda w: {
            "json": {
                "target_type": "record",
                "target_id": w.ids["record_r3"],
                "reasons": "已缴纳罚款并完成整改",
                "commitment_text": "本单位承诺今后依法经营，如有违反愿承担责任",
                "materials": [
                    {"code": "performance_proof", "name": "凭证.pdf", "sha256": "0" * 64},
                    {"code": "commitment", "name": "承诺书.pdf", "sha256": "1" * 64},
                ],
            }
        },
    ),
    ("GET", "/api/v1/repairs"): allow(*STAFF),
    ("GET", "/api/v1/repairs/{repair_id}"): hidden(DEPT_A, OFFICE, AGENT_A),
    ("POST", "/api/v1/repairs/{repair_id}/accept"): allow(OFFICE, request=json_body()),
    ("POST", "/api/v1/repairs/{repair_id}/reject"): allow(
        OFFICE, request=json_body(reason="材料不齐全")
    ),
    ("POST", "/api/v1/repairs/{repair_id}/decide"): hidden(
        DEPT_A, request=json_body(approve=False, reason="整改未到位")
    ),
    ("POST", "/api/v1/repairs/{repair_id}/revoke"): allow(
        OFFICE, request=json_body(reason="提供虚假材料")
    ),
    ("POST", "/api/v1/repair-receipts/{receipt_id}/acknowledge"): hidden(OFFICE, DEPT_B),
    # subjects' rights: authorisations, institutions, the subject's own account
    ("POST", "/api/v1/authorisations"): allow(
        OFFICE,
        AGENT_A,
        request=lambda w: {
            "json": {
                "subject_id": w.ids["subject_a"],
                "grantee": CO["K"],
                "purpose": "贷款审批",
                "valid_until": "2027-05-01",
            }
        },
    ),
    ("GET", "/api/v1/authorisations"): allow(OFFICE, AGENT_A, request=with_subject()),
    ("POST", "/api/v1/authorisations/{authorisation_id}/revoke"): hidden(OFFICE, AGENT_A),
    ("GET", "/api/v1/institution/subjects/{subject_id}/archive"): allow(BANK),
    ("GET", "/api/v1/me/archive"): allow(AGENT_A, request=with_subject()),
    ("GET", "/api/v1/me/queries"): allow(AGENT_A, request=with_subject()),
    ("GET", "/api/v1/me/inbox"): allow(AGENT_A, request=with_subject()),
    ("POST", "/api/v1/me/inbox/read"): allow(
        AGENT_A, request=lambda w: {"json": {"up_to": 1, "subject_id": w.ids["subject_a"]}}
    ),
    # self-service: sign-up, 自愿注册, 自主公示
    ("POST", "/api/v1/accounts/sign-up"): public(
        request=json_body(username="newcomer", password=PASSWORD, role="enterprise_agent")
    ),
    ("POST", "/api/v1/me/registration"): allow(
        *SUBJECT_SIDE, request=json_body(provider="fake", id_token="not-a-token")
    ),
    ("GET", "/api/v1/me/registration"): allow(AGENT_A, request=with_subject()),
    ("POST", "/api/v1/me/registration/profile"): allow(
        AGENT_A,
        request=lambda w: {
            "json": {"subject_id": w.ids["subject_a"], "profile": {"website": "https://a.example"}}
        },
    ),
    ("POST", "/api/v1/me/registration/withdraw"): allow(
        AGENT_A, request=lambda w: {"json": {"subject_id": w.ids["subject_a"]}}
    ),
    ("POST", "/api/v1/disclosures"): allow(
        OFFICE,
        AGENT_A,
        request=lambda w: {
            "json": {
                "subject_id": w.ids["subject_a"],
                "kind": "certification",
                "title": "ISO 9001 质量管理体系认证",
                "obtained_on": "2026-03-01",
            }
        },
    ),
    ("GET", "/api/v1/disclosures"): allow(OFFICE, AGENT_A, request=with_subject()),
    ("GET", "/api/v1/disclosures/{disclosure_id}"): hidden(OFFICE, AGENT_A),
    ("POST", "/api/v1/disclosures/{disclosure_id}/withdraw"): hidden(OFFICE, AGENT_A),
    ("POST", "/api/v1/disclosures/{disclosure_id}/verify"): allow(
        OFFICE, request=json_body(note="证书核验一致")
    ),
    ("POST", "/api/v1/disclosures/{disclosure_id}/reject"): allow(
        OFFICE, request=json_body(reason="证书编号查无此证")
    ),
    # sharing (another department's subscription answers like a missing one)
    ("POST", "/api/v1/subscriptions"): allow(
        DEPT_A,
        OFFICE,
        request=json_body(name="许可订阅", items=["licence"], department=SAMR),
    ),
    ("GET", "/api/v1/subscriptions"): allow(*STAFF),
    ("GET", "/api/v1/subscriptions/{subscription_id}"): hidden(DEPT_A, OFFICE),
    ("POST", "/api/v1/subscriptions/{subscription_id}/status"): hidden(
        DEPT_A, OFFICE, request=json_body(status="cancelled")
    ),
    ("GET", "/api/v1/feeds/{subscription_id}"): hidden(DEPT_A),
    ("GET", "/api/v1/feeds/{subscription_id}/files"): hidden(DEPT_A, OFFICE),
    ("GET", "/api/v1/feeds/{subscription_id}/files/{name}"): hidden(DEPT_A, OFFICE),
    ("GET", "/api/v1/records/{record_id}/consumers"): hidden(DEPT_A, OFFICE),
}


# -- enumerating the app ------------------------------------------------------------------------


def app_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route and mount of the app (HEAD answered by GET)."""
    out: list[tuple[str, str]] = []
    for rc in iter_route_contexts(app.routes):
        route = rc.original_route
        if isinstance(route, Mount):
            out.append(("GET", route.path))
            continue
        assert rc.path is not None
        for method in sorted((rc.methods or set()) - {"HEAD"}):
            out.append((method, rc.path))
    return out


def url_for(w: World, path: str, rule: Rule) -> str:
    if path == "/static":
        return "/static/site.css"
    if path == "/static/apidocs":
        return "/static/apidocs/swagger-ui.css"
    url = path
    for name in _params(path):
        key = rule.path.get(name) or DEFAULT_PATH.get(name)
        if key is not None:
            value = w.ids[key]
        elif name in LITERAL_PATH:
            value = LITERAL_PATH[name]
        else:
            raise AssertionError(f"no value for path parameter {{{name}}} of {path}")
        url = url.replace("{" + name + "}", value)
    return url


def _params(path: str) -> list[str]:
    return re.findall(r"{(\w+)(?::\w+)?}", path)


def _bare_app() -> FastAPI:
    """The app's routes do not depend on the database: enumerate them without one."""
    c = build_container(
        Settings(environment="test", data_dir=Path(tempfile.mkdtemp()), seed_synthetic_city=False)
    )
    return create_app(c, scheduler=False)


def test_every_route_has_a_declared_policy() -> None:
    routes = set(app_routes(_bare_app()))
    missing = sorted(routes - POLICY.keys())
    stale = sorted(POLICY.keys() - routes)
    assert not missing, "routes without a declared policy (add them to POLICY): " + "; ".join(
        f"{m} {p}" for m, p in missing
    )
    assert not stale, "policy entries for routes that no longer exist: " + "; ".join(
        f"{m} {p}" for m, p in stale
    )


@pytest.fixture
def world(container: Container, tmp_path: Path) -> World:
    return build_world(container, tmp_path)


def test_role_matrix(world: World) -> None:
    routes = [r for r in app_routes(world.app) if r in POLICY]
    routes.sort(key=lambda r: POLICY[r].last)
    problems: list[str] = []
    for method, path in routes:
        rule = POLICY[(method, path)]
        url = url_for(world, path, rule)
        # refused identities first: a refused call must not depend on what others changed
        order = sorted(IDENTITIES, key=rule.allows)
        for who in order:
            kwargs = rule.request(world) if rule.request else {}
            r = world.call(who, method, url, **kwargs)
            status = r.status_code
            if status >= 500:
                problems.append(f"{who:>14} {method} {path}: {status} {r.text[:200]}")
            elif rule.who == AUTHN:
                if status == 403:
                    problems.append(f"{who:>14} {method} {path}: 403 on an authentication step")
            elif rule.allows(who) and status in rule.refused:
                problems.append(
                    f"{who:>14} {method} {path}: allowed but got {status} {r.text[:160]}"
                )
            elif not rule.allows(who) and status not in rule.refused:
                problems.append(f"{who:>14} {method} {path}: must be refused, got {status}")
            elif not rule.allows(who) and who == ANON:
                # no credential at all: 401 and a challenge (RFC 9110), never a 403
                challenge = r.headers.get("www-authenticate", "")
                if status != 401 or not challenge.startswith("Bearer"):
                    problems.append(
                        f"{who:>14} {method} {path}: anonymous refusal must be 401 with a "
                        f"challenge, got {status} {challenge!r}"
                    )
            elif not rule.allows(who) and status == 401:
                # an identified caller whose role may not: 403 (or 404), never "log in"
                problems.append(f"{who:>14} {method} {path}: authenticated caller got 401")
    assert not problems, "\n" + "\n".join(problems)


def _subject_request(w: World, path: str, rule: Rule) -> tuple[str, dict[str, Any]] | None:
    """The route's call for agent A, if it names subject A (path or query)."""
    url = url_for(w, path, rule)
    kwargs = rule.request(w) if rule.request else {}
    a = w.ids["subject_a"]
    if a in url or a in str(kwargs.get("params", {})):
        return url, kwargs
    return None


def test_no_idor_through_subject_scoped_routes(world: World) -> None:
    a, b = world.ids["subject_a"], world.ids["subject_b"]
    checked = []
    for method, path in app_routes(world.app):
        rule = POLICY.get((method, path))
        if method != "GET" or rule is None:
            continue
        found = _subject_request(world, path, rule)
        if found is None:
            continue
        url, kwargs = found
        own = world.call(AGENT_A, method, url, **kwargs)
        url_b = url.replace(a, b)
        params_b = {k: (b if v == a else v) for k, v in kwargs.get("params", {}).items()}
        kwargs_b = {**kwargs, "params": params_b} if "params" in kwargs else kwargs
        theirs = world.call(AGENT_A, method, url_b, **kwargs_b)
        anon = world.call(ANON, method, url_b, **kwargs_b)
        checked.append(path)
        if rule.allows(AGENT_A):  # its own subject: allowed
            assert own.status_code not in DENIED and own.status_code < 500, (path, own.text)
        assert theirs.status_code < 500, (path, theirs.text)
        if theirs.status_code in DENIED:
            continue
        assert theirs.status_code == anon.status_code, (path, theirs.status_code, anon.status_code)
        assert theirs.content == anon.content, f"{path}: agent A sees more of B than the public"
    assert {
        "/api/v1/subjects/{subject_id}/archive",
        "/api/v1/subjects/{subject_id}/evaluation",
        "/api/v1/me/archive",
        "/api/v1/me/queries",
        "/api/v1/authorisations",
        "/api/v1/institution/subjects/{subject_id}/archive",
        "/subjects/{subject_id}",
    } <= set(checked)
