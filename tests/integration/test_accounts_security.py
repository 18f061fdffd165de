"""等保 2.0 level-3 controls of accounts, on both databases (security.md G1–G8, G10–G13, G36).

Login with password + TOTP for administrators, lockout, idle and absolute timeouts, password
rotation as a setting, initial passwords, three separated administrators, subject bindings by
letter and by identity provider, and the append-only audit trail with its retention purge.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from citycredit.accounts import auth, bindings, manage, totp
from citycredit.accounts.audit import list_events, purge_expired
from citycredit.accounts.auth import Unauthenticated
from citycredit.accounts.db import ApiTokenRow, AuditEventRow, SubjectBindingRow, UserRow
from citycredit.accounts.idp import FakeIdentityProvider
from citycredit.accounts.model import SYSTEM, Principal, Role, require_subject_access
from citycredit.accounts.policy import SecurityPolicy
from citycredit.accounts.principals import approved_subjects
from citycredit.accounts.service import acting_department, add_department, add_user, authenticate
from citycredit.accounts.system import run_job_now, settings_view
from citycredit.bootstrap import Container
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import (
    Conflict,
    FieldError,
    InvalidTransition,
    NotFound,
    PermissionDenied,
)
from citycredit.subjects.service import SubjectFacts, SubjectRegistry
from support import id_number, uscc

pytestmark = pytest.mark.db

PASSWORD = "榆林信用-correct-horse"
PDF = b"%PDF-1.7\n% letter of authorisation scan\n" + b"0" * 200
CO_A = uscc("91", "610802", "MA6ACC01")
CO_B = uscc("91", "610802", "MA6ACC02")
PERSON = id_number("610802", "19800304", "123")


# Cheap Argon2 parameters keep the suite fast on a loaded machine; the defaults are checked in
# tests/unit/accounts/test_accounts_passwords.py.
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


@pytest.fixture(autouse=True)
def fast_hashing(container: Container) -> None:
    with_policy(container)


def make_subject(
    c: Container, *, name: str, uscc_: str | None = None, idn: str | None = None
) -> str:
    with c.uow() as uow:
        reg = SubjectRegistry(uow.session, c.digester, now=c.clock.now(), actor_label="test")
        facts = SubjectFacts(
            name=name, category="自然人" if idn else "企业", uscc=uscc_, id_number=idn
        )
        row = reg.create(facts, origin="registration")
        uow.commit()
        return row.subject_id


def user_with_password(c: Container, username: str, role: Role, **kw: Any) -> None:
    """An account whose initial password has already been changed to PASSWORD."""
    add_user(c, SYSTEM, username=username, display_name=username, role=role, password="x", **kw)
    issued = auth.login(c, username=username, password="x")
    assert issued.status == "password_change_required"
    auth.change_password(c, cookie=issued.cookie, current_password="x", new_password=PASSWORD)


def admin(c: Container, username: str, role: Role) -> tuple[str, str]:
    """A ready administrator: (TOTP secret, active session cookie)."""
    enrol = manage.add_admin(c, SYSTEM, username=username, display_name=username, role=role)
    first = auth.login(c, username=username, password=enrol.initial_password)
    assert first.status == "second_factor_required"
    code = totp.code_at(enrol.totp_secret, c.clock.now())
    second = auth.verify_second_factor(c, cookie=first.cookie, code=code)
    assert second.status == "password_change_required"
    done = auth.change_password(
        c, cookie=second.cookie, current_password=enrol.initial_password, new_password=PASSWORD
    )
    assert done is not None and done.status == "active"
    return enrol.totp_secret, done.cookie


def events(c: Container, action: str | None = None) -> list[AuditEventRow]:
    with c.uow() as uow:
        stmt = select(AuditEventRow).order_by(AuditEventRow.id)
        if action:
            stmt = stmt.where(AuditEventRow.action == action)
        return list(uow.session.scalars(stmt))


def advance(c: Container, **kw: float) -> None:
    clock = c.clock
    assert isinstance(clock, FixedClock)
    clock.advance(**kw)


def with_policy(c: Container, **kw: Any) -> None:
    """Replace the security policy (defaults, cheap hashing, and the given fields)."""
    c.settings = c.settings.model_copy(update={"security": SecurityPolicy(**FAST_HASHING, **kw)})


# -- G1, G2, G5: administrators ---------------------------------------------------------------


def test_admin_password_alone_never_yields_a_session(container: Container) -> None:
    c = container
    enrol = manage.add_admin(
        c, SYSTEM, username="sec1", display_name="安全员", role=Role.security_admin
    )
    assert enrol.initial_password and enrol.provisioning_uri.startswith("otpauth://totp/")
    step1 = auth.login(c, username="sec1", password=enrol.initial_password)
    assert step1.status == "second_factor_required"
    with pytest.raises(Unauthenticated) as exc:
        auth.authenticate_session(c, step1.cookie)
    assert exc.value.code == "login_incomplete"
    # the stored TOTP secret is sealed, not the base32 secret itself
    with c.uow() as uow:
        row = uow.session.scalar(select(UserRow).where(UserRow.username == "sec1"))
        assert row is not None and row.totp_secret and enrol.totp_secret not in row.totp_secret
        assert row.password_hash and row.password_hash.startswith("$argon2id$")
    code = totp.code_at(enrol.totp_secret, c.clock.now())
    step2 = auth.verify_second_factor(c, cookie=step1.cookie, code=code)
    assert step2.status == "password_change_required"  # initial password (G5)
    with pytest.raises(Unauthenticated):
        auth.authenticate_session(c, step2.cookie)
    with pytest.raises(Unauthenticated):  # the pending session was replaced (no fixation)
        auth.verify_second_factor(c, cookie=step1.cookie, code=code)
    step3 = auth.change_password(
        c, cookie=step2.cookie, current_password=enrol.initial_password, new_password=PASSWORD
    )
    assert step3 is not None and step3.status == "active"
    who = auth.authenticate_session(c, step3.cookie)
    assert who.role is Role.security_admin and who.session_id == step3.session_id
    actions = [(e.action, e.result) for e in events(c) if e.action.startswith("auth.")]
    assert actions == [
        ("auth.login", "success"),
        ("auth.second_factor", "success"),
        ("auth.password_change", "success"),
    ]


def test_totp_code_is_single_use_and_older_codes_fail(container: Container) -> None:
    c = container
    secret, _ = admin(c, "aud1", Role.audit_admin)
    # the code used during enrolment's login cannot be used again in the same step
    s1 = auth.login(c, username="aud1", password=PASSWORD)
    with pytest.raises(Unauthenticated) as exc:
        auth.verify_second_factor(c, cookie=s1.cookie, code=totp.code_at(secret, c.clock.now()))
    assert exc.value.code == "second_factor_failed"
    advance(c, seconds=30)
    s2 = auth.login(c, username="aud1", password=PASSWORD)
    fresh = totp.code_at(secret, c.clock.now())
    assert auth.verify_second_factor(c, cookie=s2.cookie, code=fresh).status == "active"
    s3 = auth.login(c, username="aud1", password=PASSWORD)
    older = totp.code_at(secret, c.clock.now() - timedelta(seconds=30))
    with pytest.raises(Unauthenticated):
        auth.verify_second_factor(c, cookie=s3.cookie, code=older)
    failures = [e for e in events(c, "auth.second_factor") if e.result == "failure"]
    assert [e.detail["reason"] for e in failures] == ["bad_code", "bad_code"]


def test_second_factor_must_follow_within_its_time(container: Container) -> None:
    c = container
    enrol = manage.add_admin(
        c, SYSTEM, username="sys1", display_name="系统员", role=Role.system_admin
    )
    s1 = auth.login(c, username="sys1", password=enrol.initial_password)
    advance(c, minutes=6)
    with pytest.raises(Unauthenticated) as exc:
        auth.verify_second_factor(
            c, cookie=s1.cookie, code=totp.code_at(enrol.totp_secret, c.clock.now())
        )
    assert exc.value.code == "second_factor_expired"


def test_no_default_credentials_and_initial_password_expires(container: Container) -> None:
    c = container
    for username in ("admin", "root", "sysadmin", "security", "audit"):
        with pytest.raises(Unauthenticated):
            auth.login(c, username=username, password="admin123")
    enrol = manage.add_admin(
        c, SYSTEM, username="sec2", display_name="安全员", role=Role.security_admin
    )
    advance(c, hours=25)
    with pytest.raises(Unauthenticated):
        auth.login(c, username="sec2", password=enrol.initial_password)
    assert events(c, "auth.login")[-1].detail["reason"] == "initial_password_expired"
    # only the console creates administrators; never the security administrator
    _, cookie = admin(c, "sec3", Role.security_admin)
    sec = auth.authenticate_session(c, cookie)
    with pytest.raises(PermissionDenied):
        manage.add_admin(c, sec, username="x", display_name="x", role=Role.audit_admin)


def test_administrators_never_use_bearer_tokens(container: Container) -> None:
    c = container
    with pytest.raises(FieldError) as exc:
        add_user(c, SYSTEM, username="a1", display_name="a", role=Role.audit_admin)
    assert exc.value.field == "role"
    # even a token row forged in the database for an administrator is refused
    admin(c, "sys2", Role.system_admin)
    token = "cc_forged-admin-token-0123456789"
    with c.uow() as uow:
        user = uow.session.scalar(select(UserRow).where(UserRow.username == "sys2"))
        assert user is not None
        uow.session.add(
            ApiTokenRow(
                token_hash=c.digester.digest("api-token", token),
                prefix=token[:10],
                role=Role.system_admin.value,
                user_id=user.id,
                label="forged",
                created_at=c.clock.now(),
            )
        )
        uow.commit()
    with pytest.raises(PermissionDenied) as denied:
        authenticate(c, token)
    assert denied.value.code == "invalid_token"


# -- G3, G4: lockout, timeouts, rotation ------------------------------------------------------


def test_lockout_after_five_failures_then_released_after_thirty_minutes(
    container: Container,
) -> None:
    c = container
    user_with_password(c, "agent1", Role.enterprise_agent)
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            auth.login(c, username="agent1", password="wrong password!")
    with pytest.raises(Unauthenticated) as exc:  # the right password is refused while locked
        auth.login(c, username="agent1", password=PASSWORD)
    assert exc.value.code == "login_failed"
    reasons = [e.detail.get("reason") for e in events(c, "auth.login") if e.result == "failure"]
    assert reasons == ["bad_password"] * 5 + ["locked"]
    (lock,) = events(c, "auth.lockout")
    assert lock.object_id == "agent1" and lock.detail["threshold"] == 5
    advance(c, minutes=29)
    with pytest.raises(Unauthenticated):
        auth.login(c, username="agent1", password=PASSWORD)
    advance(c, minutes=2)
    assert auth.login(c, username="agent1", password=PASSWORD).status == "active"


def test_failures_outside_the_window_do_not_add_up(container: Container) -> None:
    c = container
    with_policy(c, lockout_threshold=3, lockout_window_minutes=10)
    user_with_password(c, "agent2", Role.enterprise_agent)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.login(c, username="agent2", password="wrong password!")
    advance(c, minutes=11)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            auth.login(c, username="agent2", password="wrong password!")
    assert auth.login(c, username="agent2", password=PASSWORD).status == "active"
    assert events(c, "auth.lockout") == []


def test_unknown_user_and_wrong_password_look_the_same(container: Container) -> None:
    c = container
    user_with_password(c, "agent3", Role.enterprise_agent)
    with pytest.raises(Unauthenticated) as a:
        auth.login(c, username="nobody", password=PASSWORD)
    with pytest.raises(Unauthenticated) as b:
        auth.login(c, username="agent3", password="not the password")
    assert (a.value.code, a.value.message) == (b.value.code, b.value.message)
    # an ID number typed as a username is not kept in the trail
    with pytest.raises(Unauthenticated):
        auth.login(c, username=PERSON, password="x")
    assert PERSON not in str([(e.actor_label, e.object_id) for e in events(c)])


def test_switching_to_pbkdf2_sm3_migrates_passwords_at_the_next_login(
    container: Container,
) -> None:
    """G4 (gm): with ``password_hash = "pbkdf2-sm3"`` an Argon2id account still logs in and its
    stored hash becomes PBKDF2-HMAC-SM3; a wrong password changes nothing; switching back
    migrates it again."""
    c = container
    user_with_password(c, "agent-gm", Role.enterprise_agent)

    def stored() -> str:
        with c.uow() as uow:
            row = uow.session.scalars(select(UserRow).where(UserRow.username == "agent-gm")).one()
            assert row.password_hash is not None
            return row.password_hash

    assert stored().startswith("$argon2id$")
    with_policy(c, password_hash="pbkdf2-sm3", pbkdf2_sm3_iterations=1_000)
    with pytest.raises(Unauthenticated):
        auth.login(c, username="agent-gm", password="not the password")
    assert stored().startswith("$argon2id$")
    assert auth.login(c, username="agent-gm", password=PASSWORD).status == "active"
    assert stored().startswith("$pbkdf2-sm3$i=1000$")
    assert auth.login(c, username="agent-gm", password=PASSWORD).status == "active"
    with_policy(c)
    assert auth.login(c, username="agent-gm", password=PASSWORD).status == "active"
    assert stored().startswith("$argon2id$")


def test_idle_and_absolute_timeouts_end_the_session(container: Container) -> None:
    c = container
    user_with_password(c, "agent4", Role.enterprise_agent)
    s = auth.login(c, username="agent4", password=PASSWORD)
    for _ in range(3):  # activity keeps it alive
        advance(c, minutes=29)
        auth.authenticate_session(c, s.cookie)
    advance(c, minutes=30)
    with pytest.raises(Unauthenticated) as exc:
        auth.authenticate_session(c, s.cookie)
    assert exc.value.code == "session_expired"
    with pytest.raises(Unauthenticated) as again:
        auth.authenticate_session(c, s.cookie)
    assert again.value.code == "session_ended"
    assert [e.detail["reason"] for e in events(c, "auth.session_end")] == ["idle"]
    # absolute: activity does not extend a session beyond session_absolute_minutes
    with_policy(c, session_absolute_minutes=60)
    s2 = auth.login(c, username="agent4", password=PASSWORD)
    for _ in range(2):
        advance(c, minutes=25)
        auth.authenticate_session(c, s2.cookie)
    advance(c, minutes=11)
    with pytest.raises(Unauthenticated):
        auth.authenticate_session(c, s2.cookie)
    assert [e.detail["reason"] for e in events(c, "auth.session_end")] == ["idle", "absolute"]


def test_logout_ends_the_session_on_the_server(container: Container) -> None:
    c = container
    user_with_password(c, "agent5", Role.enterprise_agent)
    s = auth.login(c, username="agent5", password=PASSWORD)
    for forged in (None, "", s.csrf_token[:-1] + "x"):  # a cross-site request cannot send it
        with pytest.raises(PermissionDenied) as refused:
            auth.logout(c, cookie=s.cookie, csrf=forged)
        assert refused.value.code == "csrf_failed"
    assert auth.authenticate_session(c, s.cookie).role is Role.enterprise_agent  # still live
    assert events(c, "auth.logout") == []
    assert auth.logout(c, cookie=s.cookie, csrf=s.csrf_token) is True
    with pytest.raises(Unauthenticated):
        auth.authenticate_session(c, s.cookie)
    assert auth.logout(c, cookie=s.cookie, csrf=s.csrf_token) is False
    assert auth.logout(c, cookie=s.cookie, csrf=None) is False  # ended: nothing to protect
    assert len(events(c, "auth.logout")) == 1
    # a forged cookie (bad signature) is refused without a database match
    sid, secret, _sig = s.cookie.split(".")
    with pytest.raises(Unauthenticated):
        auth.authenticate_session(c, f"{sid}.{secret}.{'0' * 32}")


def test_password_rotation_is_a_setting_off_by_default(container: Container) -> None:
    c = container
    user_with_password(c, "agent6", Role.enterprise_agent)
    advance(c, days=400)
    assert auth.login(c, username="agent6", password=PASSWORD).status == "active"
    with_policy(c, password_max_age_days=90)
    s = auth.login(c, username="agent6", password=PASSWORD)
    assert s.status == "password_change_required"
    with pytest.raises(FieldError) as same:
        auth.change_password(c, cookie=s.cookie, current_password=PASSWORD, new_password=PASSWORD)
    assert same.value.code == "unchanged"
    with pytest.raises(FieldError) as weak:
        auth.change_password(c, cookie=s.cookie, current_password=PASSWORD, new_password="12345678")
    assert weak.value.field == "password"
    new = "another-long-passphrase"
    done = auth.change_password(c, cookie=s.cookie, current_password=PASSWORD, new_password=new)
    assert done is not None and done.status == "active"
    assert auth.login(c, username="agent6", password=new).status == "active"


# -- G6: three separated administrators -------------------------------------------------------


def test_three_administrators_cannot_do_each_others_jobs(container: Container) -> None:
    c = container
    sec = auth.authenticate_session(c, admin(c, "sec", Role.security_admin)[1])
    aud = auth.authenticate_session(c, admin(c, "aud", Role.audit_admin)[1])
    sys_ = auth.authenticate_session(c, admin(c, "sys", Role.system_admin)[1])
    made = manage.create_account(
        c, sec, username="agent7", display_name="经办人", role=Role.enterprise_agent
    )
    assert made["initial_password"] and "token" not in made  # no token for the creator (G5)
    assert list_events(c, aud, limit=5)["count"] == 5
    assert settings_view(c, sys_)["settings"]["security"]["lockout_threshold"] == 5
    assert "secret_key" not in settings_view(c, sys_)["settings"]
    for actor in (aud, sys_):
        with pytest.raises(PermissionDenied):
            manage.create_account(
                c, actor, username="x1", display_name="x", role=Role.natural_person
            )
        with pytest.raises(PermissionDenied):
            manage.unlock(c, actor, "agent7")
    for actor in (sec, sys_):
        with pytest.raises(PermissionDenied):
            list_events(c, actor)
    for actor in (sec, aud):
        with pytest.raises(PermissionDenied):
            settings_view(c, actor)
        with pytest.raises(PermissionDenied):
            run_job_now(c, actor, "audit_purge")
        with pytest.raises(PermissionDenied):
            purge_expired(c, actor)
    office = Principal(role=Role.credit_office_admin, label="信用办", user_id=None)
    for fn in (lambda: list_events(c, office), lambda: manage.list_accounts(c, office)):
        with pytest.raises(PermissionDenied):
            fn()


def test_no_account_ever_holds_an_administrator_role_by_change(container: Container) -> None:
    c = container
    sec = auth.authenticate_session(c, admin(c, "sec", Role.security_admin)[1])
    admin(c, "aud", Role.audit_admin)
    user_with_password(c, "agent8", Role.enterprise_agent)
    for username, role in (
        ("agent8", Role.audit_admin),  # grant an administrator role
        ("aud", Role.security_admin),  # turn one administrator into another
        ("aud", Role.enterprise_agent),  # demote an administrator
    ):
        with pytest.raises(PermissionDenied) as exc:
            manage.set_role(c, sec, username, role)
        assert exc.value.code == "admin_role_change"
    with pytest.raises(PermissionDenied) as own:
        manage.set_role(c, sec, "sec", Role.credit_office_admin)
    assert own.value.code == "self_change"
    denied = [e for e in events(c, "account.role") if e.result == "denied"]
    assert [(e.object_id, e.detail["to"]) for e in denied] == [
        ("agent8", "audit_admin"),
        ("aud", "security_admin"),
        ("aud", "enterprise_agent"),
    ]
    # an ordinary change revokes the account's tokens and ends its sessions
    s = auth.login(c, username="agent8", password=PASSWORD)
    out = manage.set_role(c, sec, "agent8", Role.financial_institution)
    assert out["tokens_revoked"] == 1
    with pytest.raises(Unauthenticated):
        auth.authenticate_session(c, s.cookie)


def test_disable_unlock_and_reset(container: Container) -> None:
    c = container
    sec = auth.authenticate_session(c, admin(c, "sec", Role.security_admin)[1])
    user_with_password(c, "agent9", Role.enterprise_agent)
    s = auth.login(c, username="agent9", password=PASSWORD)
    manage.set_disabled(c, sec, "agent9", True)
    with pytest.raises(Unauthenticated):
        auth.authenticate_session(c, s.cookie)
    with pytest.raises(Unauthenticated):
        auth.login(c, username="agent9", password=PASSWORD)
    manage.set_disabled(c, sec, "agent9", False)
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            auth.login(c, username="agent9", password="wrong password!")
    manage.unlock(c, sec, "agent9")
    assert auth.login(c, username="agent9", password=PASSWORD).status == "active"
    reset = manage.reset_password(c, sec, "agent9")
    with pytest.raises(Unauthenticated):
        auth.login(c, username="agent9", password=PASSWORD)
    step = auth.login(c, username="agent9", password=reset["initial_password"])
    assert step.status == "password_change_required"
    listed = {a["username"]: a for a in manage.list_accounts(c, sec)}
    assert listed["agent9"]["must_change_password"] and listed["sec"]["totp_enrolled"]
    assert not any("hash" in k or "secret" in k for k in listed["agent9"])
    with pytest.raises(NotFound):
        manage.unlock(c, sec, "ghost")


# -- bindings -----------------------------------------------------------------------------------


def agent(c: Container, username: str, role: Role = Role.enterprise_agent) -> Principal:
    user_with_password(c, username, role)
    return auth.authenticate_session(c, auth.login(c, username=username, password=PASSWORD).cookie)


def office(c: Container) -> Principal:
    add_user(c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin)
    with c.uow() as uow:
        user = uow.session.scalar(select(UserRow).where(UserRow.username == "office"))
        assert user is not None
        return Principal(role=Role.credit_office_admin, label="信用办（office）", user_id=user.id)


def refresh(c: Container, p: Principal) -> Principal:
    """The principal as the next request would see it (bindings are loaded per request)."""
    with c.uow() as uow:
        assert p.user_id is not None
        return replace(p, subject_ids=approved_subjects(uow.session, p.user_id))


def test_letter_binding_needs_the_credit_office(container: Container) -> None:
    c = container
    a_id = make_subject(c, name="榆林甲公司", uscc_=CO_A)
    b_id = make_subject(c, name="榆林乙公司", uscc_=CO_B)
    ag = agent(c, "agentA")
    off = office(c)
    req = bindings.request_letter_binding(
        c, ag, subject=CO_A, content=PDF, filename="授权委托书.pdf"
    )
    assert req["status"] == "pending" and req["evidence_sha256"] == hashlib.sha256(PDF).hexdigest()
    with pytest.raises(PermissionDenied):  # pending is not enough
        require_subject_access(refresh(c, ag), a_id)
    with pytest.raises(Conflict):
        bindings.request_letter_binding(c, ag, subject=a_id, content=PDF, filename="again.pdf")
    with pytest.raises(PermissionDenied):  # an agent cannot approve its own letter
        bindings.decide_binding(c, ag, req["id"], approve=True)
    approved = bindings.decide_binding(c, off, req["id"], approve=True, note="核验原件一致")
    assert approved["status"] == "approved" and approved["decided_by"] == "信用办（office）"
    ag = refresh(c, ag)
    require_subject_access(ag, a_id)
    with pytest.raises(PermissionDenied):
        require_subject_access(ag, b_id)  # IDOR: another subject
    with pytest.raises(InvalidTransition):
        bindings.decide_binding(c, off, req["id"], approve=False, note="再次审核")
    data, mime, name = bindings.evidence(c, off, req["id"])
    assert (data, mime, name) == (PDF, "application/pdf", "授权委托书.pdf")
    # revocation takes effect on the next request
    bindings.revoke_binding(c, ag, req["id"])
    with pytest.raises(PermissionDenied):
        require_subject_access(refresh(c, ag), a_id)
    actions = [e.action for e in events(c) if e.action.startswith("binding.")]
    assert actions == ["binding.request", "binding.approve", "binding.revoke"]


def test_letter_checks_and_rejection(container: Container) -> None:
    c = container
    make_subject(c, name="榆林甲公司", uscc_=CO_A)
    person_id = make_subject(c, name="王小明", idn=PERSON)
    ag, other = agent(c, "agentA"), agent(c, "agentB")
    off = office(c)
    cases: list[tuple[dict[str, Any], str, str]] = [
        (
            {"subject": CO_A, "content": b"MZ\x90\x00 exe", "filename": "x.exe"},
            "file",
            "unsupported_type",
        ),
        ({"subject": CO_A, "content": b"", "filename": "x.pdf"}, "file", "required"),
        ({"subject": "", "content": PDF, "filename": "x.pdf"}, "subject", "required"),
    ]
    for kwargs, field, code in cases:
        with pytest.raises(FieldError) as exc:
            bindings.request_letter_binding(c, ag, **kwargs)
        assert (exc.value.field, exc.value.code) == (field, code)
    for subject in (PERSON, person_id, uscc("91", "610802", "MA6ACC09")):
        with pytest.raises(NotFound):  # persons bind only through an identity provider
            bindings.request_letter_binding(c, ag, subject=subject, content=PDF, filename="x.pdf")
    with_policy(c, letter_max_mb=1)
    with pytest.raises(FieldError) as big:
        bindings.request_letter_binding(
            c, ag, subject=CO_A, content=PDF + b"0" * 1024 * 1024, filename="big.pdf"
        )
    assert big.value.code == "too_large"
    req = bindings.request_letter_binding(c, ag, subject=CO_A, content=PDF, filename="l.pdf")
    with pytest.raises(NotFound):  # another agent cannot see or revoke it (G8: like missing)
        bindings.get_binding(c, other, req["id"])
    with pytest.raises(NotFound):
        bindings.revoke_binding(c, other, req["id"])
    with pytest.raises(NotFound):
        bindings.evidence(c, other, req["id"])
    assert bindings.list_bindings(c, other) == []
    assert [b["id"] for b in bindings.list_bindings(c, off, status="pending")] == [req["id"]]
    with pytest.raises(FieldError) as no_reason:
        bindings.decide_binding(c, off, req["id"], approve=False)
    assert no_reason.value.field == "note"
    out = bindings.decide_binding(c, off, req["id"], approve=False, note="印章不清")
    assert out["status"] == "rejected" and out["note"] == "印章不清"
    assert refresh(c, ag).subject_ids == frozenset()
    # a tampered evidence file is detected
    with c.uow() as uow:
        row = uow.session.get(SubjectBindingRow, req["id"])
        assert row is not None and row.evidence_sha256
        path = bindings.evidence_dir(c) / row.evidence_sha256[:2] / row.evidence_sha256
    path.write_bytes(PDF + b"tampered")
    with pytest.raises(Conflict) as tampered:
        bindings.evidence(c, off, req["id"])
    assert tampered.value.code == "evidence_tampered"


def test_identity_provider_binding(container: Container) -> None:
    c = container
    idp = FakeIdentityProvider()
    c.identity_providers[idp.name] = idp
    a_id = make_subject(c, name="榆林甲公司", uscc_=CO_A)
    person_id = make_subject(c, name="王小明", idn=PERSON)
    ag = agent(c, "agentA")
    me = agent(c, "wang", Role.natural_person)
    now = c.clock.now()
    nonce = bindings.idp_nonce(c, ag)["nonce"]
    with pytest.raises(FieldError) as unknown:
        bindings.bind_by_identity_provider(c, ag, provider="nope", id_token="x")
    assert unknown.value.field == "provider"
    other_nonce = bindings.idp_nonce(c, me)["nonce"]  # issued to another account
    for token in (
        idp.issue(nonce=other_nonce, now=now, uscc=CO_A),
        idp.issue(nonce=nonce, now=now, uscc=CO_A, assurance=1),
        idp.issue(nonce=nonce, now=now, id_number=PERSON),  # an agent cannot bind a person
    ):
        with pytest.raises(FieldError) as exc:
            bindings.bind_by_identity_provider(c, ag, provider="fake", id_token=token)
        assert exc.value.field in ("id_token", "subject")
    out = bindings.bind_by_identity_provider(
        c, ag, provider="fake", id_token=idp.issue(nonce=nonce, now=now, uscc=CO_A)
    )
    assert (out["status"], out["method"], out["idp"], out["assurance"]) == (
        "approved",
        "idp",
        "fake",
        3,
    )
    require_subject_access(refresh(c, ag), a_id)
    mine = bindings.idp_nonce(c, me)["nonce"]
    person = bindings.bind_by_identity_provider(
        c, me, provider="fake", id_token=idp.issue(nonce=mine, now=now, id_number=PERSON)
    )
    assert person["subject_id"] == person_id and person["subject_name"] is None
    require_subject_access(refresh(c, me), person_id)
    with pytest.raises(NotFound):  # no archive for this person yet
        bindings.bind_by_identity_provider(
            c,
            me,
            provider="fake",
            id_token=idp.issue(nonce=mine, now=now, id_number=id_number("610802", "19900101")),
        )
    advance(c, minutes=11)  # the nonce has run out
    with pytest.raises(FieldError) as late:
        bindings.bind_by_identity_provider(
            c, ag, provider="fake", id_token=idp.issue(nonce=nonce, now=c.clock.now(), uscc=CO_B)
        )
    assert late.value.code == "nonce_mismatch"


# -- G10-G13: the audit trail -------------------------------------------------------------------


def test_audit_trail_refuses_update_and_young_deletes(container: Container) -> None:
    c = container
    user_with_password(c, "agent10", Role.enterprise_agent)
    assert events(c)
    for sql in (
        "UPDATE audit_events SET result = 'success'",
        "DELETE FROM audit_events",
    ):
        with pytest.raises(DBAPIError), c.engine.begin() as conn:
            conn.execute(text(sql))
    assert len(events(c)) > 0


def test_purge_keeps_at_least_180_days_and_is_audited(container: Container) -> None:
    c = container
    clock = c.clock
    assert isinstance(clock, FixedClock)
    clock.current = datetime(2025, 9, 1, 2, 0, tzinfo=UTC)  # old enough for the database too
    user_with_password(c, "old", Role.enterprise_agent)
    old_ids = {e.id for e in events(c)}
    clock.current = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    user_with_password(c, "recent", Role.enterprise_agent)
    clock.current = datetime(2026, 11, 25, 2, 0, tzinfo=UTC) - timedelta(days=100)
    user_with_password(c, "hundred_days", Role.enterprise_agent)
    clock.current = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
    with_policy(c, audit_retention_days=30)  # below the floor: 180 days still kept
    result = purge_expired(c, SYSTEM)
    assert result["retention_days"] == 180 and result["configured_days"] == 30
    assert result["deleted"] == len(old_ids)
    left = events(c)
    assert not {e.id for e in left} & old_ids
    assert {"recent", "hundred_days"} <= {e.object_id for e in left}
    purge = [e for e in left if e.action == "audit.purge"]
    assert len(purge) == 1 and purge[0].detail["deleted"] == len(old_ids)
    assert purge[0].actor_label == "system" and purge[0].credential == "console"


def test_reading_the_audit_trail_is_audited_and_filtered(container: Container) -> None:
    c = container
    aud = auth.authenticate_session(c, admin(c, "aud", Role.audit_admin)[1])
    with pytest.raises(Unauthenticated):
        auth.login(c, username="ghost", password="x")
    page = list_events(c, aud, action="auth.login", result="failure")
    assert [e["object_id"] for e in page["events"]] == ["ghost"]
    first = list_events(c, aud, limit=2)
    assert first["count"] == 2 and first["next_before_id"] == first["events"][-1]["id"]
    nxt = list_events(c, aud, limit=2, before_id=first["next_before_id"])
    assert all(e["id"] < first["next_before_id"] for e in nxt["events"])
    with pytest.raises(FieldError):
        list_events(c, aud, result="maybe")
    reads = events(c, "audit.read")
    assert len(reads) == 3 and reads[0].actor_role == "audit_admin"
    assert all(e.at.tzinfo is not None for e in events(c))  # UTC, with offset (G39)


def test_only_staff_and_the_office_act_for_a_department(container: Container) -> None:
    c = container
    add_department(c, SYSTEM, name="榆林市市场监督管理局", code=uscc("11", "610800", "MA0CAMR1"))
    ag = agent(c, "agentX")
    sec = auth.authenticate_session(c, admin(c, "sec", Role.security_admin)[1])
    with c.uow() as uow:
        for actor in (ag, sec):
            with pytest.raises(PermissionDenied) as exc:
                acting_department(uow.session, actor, "榆林市市场监督管理局")
            assert exc.value.code == "forbidden"
        assert acting_department(uow.session, SYSTEM, "榆林市市场监督管理局").name.endswith("局")
