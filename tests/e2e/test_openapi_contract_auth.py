"""The OpenAPI contract of the accounts and self-service APIs (登录、账号与身份绑定, 自助注册,
自愿注册, 自主公示).

Integration engineers and operators build login, binding and account clients from
``/openapi.json``: every operation of web/auth_api.py and selfservice_api.py declares a closed,
exemplified answer and its error bodies (the binding letter: its media types), and real answers
— an administrator's login through TOTP and the password change, the caller's identity and
logout, bindings by letter and identity provider through review and revocation, the security
administrator's account work, the system administrator's settings and jobs, a sign-up carried to
自愿注册 and its withdrawal, 自主公示 verified, withdrawn and rejected — validate against the
schema **taken from /openapi.json** (`openapi_support`). The world is the role matrix's
(`test_role_matrix.build_world`), on both databases.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import test_role_matrix as rm
from fastapi.testclient import TestClient

from citycredit.accounts import manage, totp
from citycredit.accounts.auth import CSRF_HEADER, SESSION_COOKIE
from citycredit.accounts.idp import FakeIdentityProvider
from citycredit.accounts.model import SYSTEM, Role
from citycredit.accounts.policy import SecurityPolicy
from citycredit.bootstrap import Container
from citycredit.kernel.joblock import job_lock
from citycredit.rights import disclosures
from citycredit.web import auth_api, selfservice_api
from citycredit.web.app import create_app
from openapi_support import (
    check_answer,
    check_declares_answer,
    check_examples,
    check_published_examples,
    operations,
    published_spec,
    response_models,
)
from support import uscc

OPERATIONS = operations((auth_api.router, selfservice_api.router))
EVIDENCE = ("GET", "/api/v1/bindings/{binding_id}/evidence")
# Anonymous callers reach these: a login step, logout, who-am-I (the public too) and sign-up.
PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/totp"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/accounts/sign-up"),
}
NEW_CO = uscc("91", "610802", "MA6RM099")
RATE_LIMITED = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/totp"),
    ("POST", "/api/v1/auth/password"),
    ("POST", "/api/v1/accounts/sign-up"),
}
FORGED = "forged"  # a bearer token the platform never issued: 401


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return published_spec()


def test_the_contract_covers_every_operation_of_the_two_routers() -> None:
    assert len(OPERATIONS) == 22 + 11  # accounts 22, self-service 11


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in OPERATIONS])
def test_every_operation_declares_its_answer(spec: dict[str, Any], method: str, path: str) -> None:
    check_declares_answer(spec, method, path, public=(method, path) in PUBLIC)


def test_the_binding_letter_declares_its_media_types(spec: dict[str, Any]) -> None:
    content = spec["paths"][EVIDENCE[1]]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/pdf", "image/jpeg", "image/png"}


def test_the_rate_limited_operations_declare_their_429(spec: dict[str, Any]) -> None:
    declared = {
        (m, p) for m, p, _ in OPERATIONS if "429" in spec["paths"][p][m.lower()]["responses"]
    }
    assert declared == RATE_LIMITED


def test_every_response_model_has_an_example_that_validates() -> None:
    models = response_models(OPERATIONS)
    assert len(models) == 19
    check_examples(models)


def test_the_published_schema_carries_the_examples(spec: dict[str, Any]) -> None:
    check_published_examples(spec, response_models(OPERATIONS))


def test_no_example_carries_a_real_looking_secret() -> None:
    """Initial passwords, CSRF tokens and nonces in the examples are visible placeholders."""
    for model in response_models(OPERATIONS):
        extra = model.model_config.get("json_schema_extra")
        assert isinstance(extra, dict)
        for example in extra["examples"]:
            for key in ("initial_password", "csrf_token", "nonce"):
                if example.get(key) is not None:
                    assert "EXAMPLE" in example[key], (model.__name__, key)


# -- real answers against /openapi.json --------------------------------------------------------


@pytest.fixture
def world(container: Container, tmp_path: Path) -> rm.World:
    w = rm.build_world(container, tmp_path)
    w.creds[FORGED] = ({"Authorization": "Bearer cct_EXAMPLEforged"}, {})
    return w


def answer(
    spec: dict[str, Any],
    w: rm.World,
    who: str | TestClient,
    method: str,
    path: str,
    status: int = 200,
    **kwargs: Any,
) -> Any:
    """Call ``path`` (its ``{name}`` filled from ``kwargs["ids"]``) as ``who`` (an identity of
    the world, or a client with its own cookies); the answer has ``status`` and validates
    against the schema /openapi.json declares for it. A refused answer raises here."""
    ids = kwargs.pop("ids", {})
    if isinstance(who, TestClient):
        client = who
    else:
        headers, cookies = w.creds[who]
        client = TestClient(w.app, headers=headers, cookies=cookies)
    r = client.request(method.upper(), path.format(**ids), **kwargs)
    assert r.status_code == status, r.text
    return check_answer(spec, method, path, r)


def _csrf(cl: TestClient, body: dict[str, Any]) -> None:
    cl.headers[CSRF_HEADER] = body["csrf_token"]


@pytest.mark.db
def test_an_administrators_login_to_logout_matches_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w, c = world, world.c
    enrol = manage.add_admin(
        c, SYSTEM, username="sec2", display_name="安全员", role=Role.security_admin
    )
    cl = TestClient(w.app)
    login, two, pw = "/api/v1/auth/login", "/api/v1/auth/totp", "/api/v1/auth/password"
    me, out = "/api/v1/auth/me", "/api/v1/auth/logout"
    bad = answer(spec, w, cl, "post", login, 401, json={"username": "sec2", "password": "nope"})
    assert bad["error"] == "login_failed"
    empty = answer(spec, w, cl, "post", login, 422, json={"username": "", "password": "x"})
    assert empty["field"] == "username"
    r = cl.post(login, json={"username": "sec2", "password": enrol.initial_password})
    step = check_answer(spec, "post", login, r)
    assert step["status"] == "second_factor_required"
    assert step["user"] == {
        "username": "sec2",
        "display_name": "安全员",
        "role": "security_admin",
        "role_label": "安全管理员",
    }
    assert r.cookies.get(SESSION_COOKIE) and r.headers["cache-control"] == "no-store"
    assert SESSION_COOKIE not in r.text  # the cookie travels only in Set-Cookie
    pending = answer(spec, w, cl, "get", me, 401)
    assert pending["error"] == "login_incomplete"
    wrong = answer(spec, w, cl, "post", two, 422, json={"code": "12ab"})
    assert wrong["error"]
    r = cl.post(two, json={"code": totp.code_at(enrol.totp_secret, c.clock.now())})
    assert r.status_code == 200, r.text
    step = check_answer(spec, "post", two, r)
    assert step["status"] == "password_change_required" and r.cookies.get(SESSION_COOKIE)
    _csrf(cl, step)
    new = {"current_password": enrol.initial_password, "new_password": rm.PASSWORD}
    done = answer(spec, w, cl, "post", pw, json=new)
    assert done["status"] == "active" and set(done) == {
        "status",
        "csrf_token",
        "expires_at",
        "idle_timeout_minutes",
        "user",
    }
    _csrf(cl, done)
    who = answer(spec, w, cl, "get", me)
    assert (who["role"], who["via"], who["subject_ids"]) == ("security_admin", "session", [])
    assert "manage_accounts" in who["permissions"]
    ended = answer(spec, w, cl, "post", out)
    assert ended == {"status": "logged_out", "ended": True}
    assert answer(spec, w, cl, "post", out) == {"status": "logged_out", "ended": False}
    public = answer(spec, w, cl, "get", me)
    assert (public["role"], public["via"], public["department"]) == ("public", None, None)
    assert answer(spec, w, TestClient(w.app), "post", two, 401, json={"code": "123456"})


@pytest.mark.db
def test_a_bearer_tokens_password_change_and_identity_match_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w, pw = world, "/api/v1/auth/password"
    who = answer(spec, w, rm.AGENT_B, "get", "/api/v1/auth/me")
    assert (who["via"], who["subject_ids"]) == ("token", [w.ids["subject_b"]])
    dept = answer(spec, w, rm.DEPT_A, "get", "/api/v1/auth/me")
    assert dept["role"] == "department_staff" and dept["department"] == rm.SAMR
    wrong = {"current_password": "not-it", "new_password": "榆林信用-another-horse"}
    assert answer(spec, w, rm.AGENT_B, "post", pw, 401, json=wrong)["error"] == "login_failed"
    same = {"current_password": rm.PASSWORD, "new_password": rm.PASSWORD}
    assert answer(spec, w, rm.AGENT_B, "post", pw, 422, json=same)["field"] == "new_password"
    body = {"current_password": rm.PASSWORD, "new_password": "榆林信用-another-horse"}
    assert answer(spec, w, rm.AGENT_B, "post", pw, json=body) == {"status": "password_changed"}
    assert answer(spec, w, rm.ANON, "post", pw, 401, json=body)["error"]


@pytest.mark.db
def test_bindings_from_request_to_revocation_match_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w, base = world, "/api/v1/bindings"
    one = base + "/{binding_id}"
    mine = answer(spec, w, rm.AGENT_A, "get", base)
    assert mine["count"] == len(mine["bindings"]) >= 3
    assert {b["username"] for b in mine["bindings"]} == {"agent_a"}
    queue = answer(spec, w, rm.OFFICE, "get", base, params={"status": "pending"})
    assert w.ids["binding_pending"] in {b["id"] for b in queue["bindings"]}
    nonce = answer(spec, w, rm.AGENT_B, "get", base + "/nonce")
    assert "fake" in nonce["providers"]
    # by letter: asked, read back, its file downloaded, rejected
    letter = answer(
        spec,
        w,
        rm.AGENT_A,
        "post",
        base,
        201,
        data={"method": "letter", "subject": rm.CO["K"]},
        files={"file": ("委托书.pdf", rm.PDF, "application/pdf")},
    )
    assert (letter["method"], letter["status"], letter["subject_name"]) == (
        "letter",
        "pending",
        "榆林K公司",
    )
    bid = {"binding_id": letter["id"]}
    assert answer(spec, w, rm.AGENT_A, "get", one, ids=bid) == letter
    r = TestClient(w.app, headers=w.creds[rm.AGENT_A][0], cookies=w.creds[rm.AGENT_A][1]).get(
        one.format(**bid) + "/evidence"
    )
    assert r.status_code == 200 and r.content == rm.PDF
    assert r.headers["content-type"] == "application/pdf"
    no_reason = answer(spec, w, rm.OFFICE, "post", one + "/reject", 422, json={}, ids=bid)
    assert no_reason["field"] == "note"
    rejected = answer(
        spec, w, rm.OFFICE, "post", one + "/reject", json={"note": "委托书未盖章"}, ids=bid
    )
    assert (rejected["status"], rejected["note"]) == ("rejected", "委托书未盖章")
    # the pending letter approved; approved twice: 409
    pid = {"binding_id": w.ids["binding_pending"]}
    approved = answer(spec, w, rm.OFFICE, "post", one + "/approve", json={}, ids=pid)
    assert approved["status"] == "approved" and approved["decided_at"]
    again = answer(spec, w, rm.OFFICE, "post", one + "/approve", 409, ids=pid)
    assert again["error"] == "binding_not_pending"
    # revoked by its account
    rid = {"binding_id": w.ids["binding_revoke"]}
    revoked = answer(
        spec, w, rm.AGENT_A, "post", one + "/revoke", json={"note": "不再代办"}, ids=rid
    )
    assert revoked["status"] == "revoked"
    # through the identity provider: approved at once
    idp = w.c.identity_providers["fake"]
    assert isinstance(idp, FakeIdentityProvider)
    token = idp.issue(nonce=nonce["nonce"], now=w.c.clock.now(), uscc=rm.CO["C"])
    bound = answer(
        spec,
        w,
        rm.AGENT_B,
        "post",
        base,
        201,
        data={"method": "idp", "provider": "fake", "id_token": token},
    )
    assert (bound["method"], bound["status"], bound["idp"]) == ("idp", "approved", "fake")
    assert isinstance(bound["assurance"], int)
    # errors
    aid = {"binding_id": w.ids["binding_a"]}
    assert answer(spec, w, rm.AGENT_B, "get", one, 404, ids=aid)["error"] == "binding_not_found"
    assert answer(spec, w, rm.DEPT_A, "get", base, 403)["error"]
    assert answer(spec, w, FORGED, "get", base, 401)["error"]
    assert answer(spec, w, rm.OFFICE, "get", base, 422, params={"status": "x"})["field"] == "status"
    bad = answer(spec, w, rm.AGENT_A, "post", base, 422, data={"method": "fax"})
    assert bad["field"] == "method"
    gone = answer(spec, w, rm.OFFICE, "post", one + "/approve", 404, ids={"binding_id": "nope"})
    assert gone["error"] == "binding_not_found"


@pytest.mark.db
def test_account_and_system_administration_match_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w, base = world, "/api/v1/accounts"
    one = base + "/{username}"
    listed = answer(spec, w, rm.SEC_ADMIN, "get", base)
    assert listed["count"] == len(listed["accounts"])
    sec = next(a for a in listed["accounts"] if a["username"] == "sec")
    assert sec["totp_enrolled"] and sec["last_login_at"] and not sec["must_change_password"]
    body = {"username": "clerk", "display_name": "办事员", "role": "department_staff"}
    r = TestClient(w.app, headers=w.creds[rm.SEC_ADMIN][0], cookies=w.creds[rm.SEC_ADMIN][1]).post(
        base, json={**body, "department": rm.SAMR}
    )
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store", r.text
    made = check_answer(spec, "post", base, r)
    assert (made["username"], made["department"]) == ("clerk", rm.SAMR)
    assert made["initial_password"] and made["initial_password_hours"] > 0
    dup = answer(spec, w, rm.SEC_ADMIN, "post", base, 409, json={**body, "department": rm.SAMR})
    assert dup["error"] == "user_exists"
    bad_role = answer(spec, w, rm.SEC_ADMIN, "post", base, 422, json={**body, "role": "king"})
    assert bad_role["error"]
    tid = {"username": "target"}
    role = answer(
        spec, w, rm.SEC_ADMIN, "post", one + "/role", json={"role": "natural_person"}, ids=tid
    )
    assert role == {"username": "target", "role": "natural_person", "tokens_revoked": 1}
    off = answer(spec, w, rm.SEC_ADMIN, "post", one + "/disable", ids=tid)
    assert off == {"username": "target", "disabled": True}
    on = answer(spec, w, rm.SEC_ADMIN, "post", one + "/enable", ids=tid)
    assert on == {"username": "target", "disabled": False}
    unlocked = answer(spec, w, rm.SEC_ADMIN, "post", one + "/unlock", ids=tid)
    assert unlocked == {"username": "target", "locked": False}
    r = TestClient(w.app, headers=w.creds[rm.SEC_ADMIN][0], cookies=w.creds[rm.SEC_ADMIN][1]).post(
        one.format(**tid) + "/reset-password"
    )
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store", r.text
    reset = check_answer(spec, "post", one + "/reset-password", r)
    assert reset["username"] == "target" and reset["initial_password"]
    ghost = {"username": "ghost"}
    missing = answer(spec, w, rm.SEC_ADMIN, "post", one + "/disable", 404, ids=ghost)
    assert missing["error"] == "user_not_found"
    assert answer(spec, w, rm.OFFICE, "get", base, 403)["error"]
    assert answer(spec, w, FORGED, "get", base, 401)["error"]
    # the system administrator
    view = answer(spec, w, rm.SYS_ADMIN, "get", "/api/v1/system/settings")
    assert view["settings"]["database"] in ("sqlite", "postgresql")
    assert "secret_key" not in view["settings"]
    jobs = {j["name"] for j in view["jobs"]}
    assert "audit_purge" in jobs
    run = "/api/v1/system/jobs/{job}/run"
    ran = answer(spec, w, rm.SYS_ADMIN, "post", run, ids={"job": "audit_purge"})
    assert ran["job"] == "audit_purge" and ran["status"] in ("ok", "failed")
    unknown = answer(spec, w, rm.SYS_ADMIN, "post", run, 422, ids={"job": "nope"})
    assert unknown["field"] == "job"
    with job_lock(w.c.engine, "audit_purge") as held:  # the scheduler's run, in effect
        assert held
        busy = answer(spec, w, rm.SYS_ADMIN, "post", run, 409, ids={"job": "audit_purge"})
    assert busy["error"] == "job_busy"
    after = answer(spec, w, rm.SYS_ADMIN, "get", "/api/v1/system/settings")
    purge = {j["name"]: j for j in after["jobs"]}["audit_purge"]
    assert (purge["lane"], purge["last_run"]["status"]) == ("sweep", ran["status"])
    if ran["status"] == "ok":
        started = datetime.fromisoformat(purge["last_run"]["started_at"])
        assert datetime.fromisoformat(purge["last_ok_at"]) == started
        assert datetime.fromisoformat(purge["next_due_at"]) == started + timedelta(days=1)
    assert answer(spec, w, rm.SEC_ADMIN, "get", "/api/v1/system/settings", 403)["error"]


@pytest.mark.db
def test_sign_up_and_voluntary_registration_match_the_published_schema(
    spec: dict[str, Any], world: rm.World
) -> None:
    w, reg = world, "/api/v1/me/registration"
    cl = TestClient(w.app)
    sign_up = "/api/v1/accounts/sign-up"
    new = {"username": "yl_new", "password": rm.PASSWORD, "role": "enterprise_agent"}
    r = cl.post(sign_up, json=new)
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store", r.text
    made = check_answer(spec, "post", sign_up, r)
    assert made == {"username": "yl_new", "role": "enterprise_agent", "display_name": "yl_new"}
    assert answer(spec, w, cl, "post", sign_up, 409, json=new)["error"] == "user_exists"
    bank = {**new, "username": "yl_bank", "role": "financial_institution"}
    assert answer(spec, w, cl, "post", sign_up, 422, json=bank)["field"] == "role"
    session = cl.post("/api/v1/auth/login", json={"username": "yl_new", "password": rm.PASSWORD})
    assert session.status_code == 200 and session.json()["status"] == "active"
    _csrf(cl, session.json())
    assert answer(spec, w, cl, "get", reg, 403)["error"] == "subject_not_bound"
    nonce = answer(spec, w, cl, "get", "/api/v1/bindings/nonce")["nonce"]
    idp = w.c.identity_providers["fake"]
    assert isinstance(idp, FakeIdentityProvider)
    token = idp.issue(nonce=nonce, now=w.c.clock.now(), uscc=NEW_CO, name="榆林新开商贸有限公司")
    unknown = {"provider": "fake", "id_token": token, "profile": {"motto": "诚信"}}
    assert answer(spec, w, cl, "post", reg, 422, json=unknown)["field"] == "profile.motto"
    body = {"provider": "fake", "id_token": token, "profile": {"introduction": "新开企业"}}
    done = answer(spec, w, cl, "post", reg, 201, json=body)
    assert (done["status"], done["created_subject"], done["profile_public"]) == (
        "active",
        True,
        True,
    )
    assert done["subject_name"] == "榆林新开商贸有限公司" and done["withdrawn_at"] is None
    cl.cookies.clear()  # the binding is read at login: log in again
    again = cl.post("/api/v1/auth/login", json={"username": "yl_new", "password": rm.PASSWORD})
    _csrf(cl, again.json())
    assert answer(spec, w, cl, "get", reg) == done
    profile = {"profile": {"website": "https://example.com", "service_phone": "0912-1234567"}}
    updated = answer(spec, w, cl, "post", reg + "/profile", json=profile)
    assert updated["profile"] == profile["profile"]
    withdrawn = answer(spec, w, cl, "post", reg + "/withdraw", json={})
    assert withdrawn["status"] == "withdrawn" and withdrawn["withdrawn_at"]
    twice = answer(spec, w, cl, "post", reg + "/withdraw", 409, json={})
    assert twice["error"] == "registration_withdrawn"
    # the world's registration of A, read by its agent; another subject: refused
    mine = answer(spec, w, rm.AGENT_A, "get", reg)
    assert mine["subject_id"] == w.ids["subject_a"] and mine["profile"] == {
        "introduction": "榆林本地企业"
    }
    other = {"subject_id": w.ids["subject_b"]}
    assert answer(spec, w, rm.AGENT_A, "get", reg, 403, params=other)["error"]
    assert answer(spec, w, FORGED, "get", reg, 401)["error"]


@pytest.mark.db
def test_self_disclosures_match_the_published_schema(spec: dict[str, Any], world: rm.World) -> None:
    w, base = world, "/api/v1/disclosures"
    one = base + "/{disclosure_id}"
    item = {
        "kind": "certification",
        "title": "ISO 9001 质量管理体系认证",
        "obtained_on": "2026-03-01",
    }
    filed = [answer(spec, w, rm.AGENT_A, "post", base, 201, json=item) for _ in range(2)]
    assert filed[0]["status"] == "unverified" and filed[0]["kind_label"] == "资质认证"
    own = answer(spec, w, rm.AGENT_A, "get", base)
    assert own["count"] == 3 and {d["subject_id"] for d in own["items"]} == {w.ids["subject_a"]}
    queue = answer(spec, w, rm.OFFICE, "get", base, params={"status": "unverified"})
    assert queue["count"] == 3
    did = {"disclosure_id": w.ids["disclosure"]}
    assert answer(spec, w, rm.AGENT_A, "get", one, ids=did)["title"] == "榆林市守合同重信用企业"
    verified = answer(
        spec, w, rm.OFFICE, "post", one + "/verify", json={"note": "已与颁发单位核实"}, ids=did
    )
    assert (verified["status_label"], verified["decision_note"]) == ("已核实", "已与颁发单位核实")
    assert verified["decided_at"]
    first, second = ({"disclosure_id": d["id"]} for d in filed)
    taken = answer(spec, w, rm.AGENT_A, "post", one + "/withdraw", ids=first)
    assert taken["status"] == "withdrawn"
    rejected = answer(
        spec, w, rm.OFFICE, "post", one + "/reject", json={"reason": "证书已被注销"}, ids=second
    )
    assert rejected["status"] == disclosures.REJECTED
    # errors
    late = answer(spec, w, rm.OFFICE, "post", one + "/verify", 409, json={}, ids=first)
    assert late["error"]
    assert answer(spec, w, rm.AGENT_B, "get", one, 404, ids=did)["error"]
    assert answer(spec, w, rm.AGENT_A, "post", one + "/verify", 403, json={}, ids=second)["error"]
    bad = answer(spec, w, rm.OFFICE, "get", base, 422, params={"status": "maybe"})
    assert bad["field"] == "status"
    odd = answer(spec, w, rm.AGENT_A, "post", base, 422, json={**item, "kind": "medal"})
    assert odd["field"] == "kind"
    assert answer(spec, w, FORGED, "get", base, 401)["error"]


@pytest.mark.db
def test_an_undocumented_key_is_refused_not_dropped(
    world: rm.World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service that adds a key the model does not describe: the answer is refused (500), not
    sent with the key dropped — an initial password's answer included."""
    real = manage.reset_password

    def with_extra(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return {**real(*args, **kwargs), "totp_secret": "leaked"}

    url = "/api/v1/accounts/target/reset-password"
    assert world.call(rm.SEC_ADMIN, "POST", url).status_code == 200
    monkeypatch.setattr(manage, "reset_password", with_extra)
    assert world.call(rm.SEC_ADMIN, "POST", url).status_code == 500


@pytest.mark.db
def test_a_rate_limited_login_and_sign_up_match_the_published_schema(
    spec: dict[str, Any], container: Container
) -> None:
    """Over the per-client limit: 429 with the platform's error body, as declared."""
    c = container
    policy = SecurityPolicy(**rm.FAST_HASHING, auth_rate_per_minute=1, signup_rate_per_hour=1)
    c.settings = c.settings.model_copy(update={"security": policy})
    app = create_app(c, scheduler=False)
    cl = TestClient(app, client=("10.0.0.9", 40000))
    login, sign_up = "/api/v1/auth/login", "/api/v1/accounts/sign-up"
    bad = {"username": "nobody", "password": "wrong-password-123"}
    assert cl.post(login, json=bad).status_code == 401
    over = cl.post(login, json=bad)
    assert over.status_code == 429 and over.headers["retry-after"]
    assert check_answer(spec, "post", login, over)["error"] == "rate_limited"
    new = {"username": "yl_once", "password": rm.PASSWORD, "role": "natural_person"}
    assert cl.post(sign_up, json=new).status_code == 201
    again = cl.post(sign_up, json={**new, "username": "yl_twice"})
    assert again.status_code == 429
    assert check_answer(spec, "post", sign_up, again)["error"] == "rate_limited"
