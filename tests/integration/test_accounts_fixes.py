"""Fixes from the security audit of accounts (/work/audit/security.md D3–D6), on both databases.

* G3: wrong TOTP codes after a correct password count towards the lockout;
* G5: a token never outlives an unchanged initial password, and the security administrator is
  never handed a new account's token;
* G6: the security administrator cannot disable, enable, unlock or reset an administrator;
* G5: production never seeds the synthetic city (nor writes its credit-office token).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select

from citycredit.accounts import auth, manage, totp
from citycredit.accounts.auth import Unauthenticated
from citycredit.accounts.db import ApiTokenRow, AuditEventRow, UserRow
from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.accounts.policy import SecurityPolicy
from citycredit.accounts.service import add_user, authenticate
from citycredit.bootstrap import Container, build_container
from citycredit.settings import Settings
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import PermissionDenied
from citycredit.subjects.db import SubjectRow
from citycredit.synth.load import first_start, seed_city

pytestmark = pytest.mark.db

PASSWORD = "榆林信用-correct-horse"
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


@pytest.fixture(autouse=True)
def fast_hashing(container: Container) -> None:
    container.settings = container.settings.model_copy(
        update={"security": SecurityPolicy(**FAST_HASHING)}
    )


def events(c: Container, action: str) -> list[AuditEventRow]:
    with c.uow() as uow:
        stmt = select(AuditEventRow).where(AuditEventRow.action == action)
        return list(uow.session.scalars(stmt.order_by(AuditEventRow.id)))


def user_row(c: Container, username: str) -> UserRow:
    with c.uow() as uow:
        row = uow.session.scalar(select(UserRow).where(UserRow.username == username))
        assert row is not None
        return row


def wrong_code(secret: str, c: Container) -> str:
    now = c.clock.now()
    valid = {totp.code_at(secret, now + timedelta(seconds=30 * d)) for d in (-1, 0, 1)}
    return next(f"{i:06d}" for i in range(10) if f"{i:06d}" not in valid)


def ready_admin(c: Container, username: str, role: Role) -> tuple[str, Principal]:
    """An administrator past its initial password: (TOTP secret, its session principal)."""
    enrol = manage.add_admin(c, SYSTEM, username=username, display_name=username, role=role)
    step = auth.login(c, username=username, password=enrol.initial_password)
    code = totp.code_at(enrol.totp_secret, c.clock.now())
    step = auth.verify_second_factor(c, cookie=step.cookie, code=code)
    done = auth.change_password(
        c, cookie=step.cookie, current_password=enrol.initial_password, new_password=PASSWORD
    )
    assert done is not None and done.status == "active"
    return enrol.totp_secret, auth.authenticate_session(c, done.cookie)


# -- G3: TOTP guesses count towards the lockout --------------------------------------------------


def test_wrong_totp_codes_after_the_right_password_lock_the_account(
    container: Container, clock: FixedClock
) -> None:
    c = container
    secret, _ = ready_admin(c, "aud", Role.audit_admin)
    clock.advance(seconds=30)  # the code used at enrolment is spent; a new step
    bad = wrong_code(secret, c)
    # 5 wrong codes (the threshold), spread over fresh logins with the right password: each
    # login used to clear the count, so the code could be guessed without end
    for guesses in (2, 2, 1):
        step = auth.login(c, username="aud", password=PASSWORD)
        assert step.status == "second_factor_required"
        for _ in range(guesses):
            with pytest.raises(Unauthenticated):
                auth.verify_second_factor(c, cookie=step.cookie, code=bad)
    (lock,) = events(c, "auth.lockout")
    assert lock.object_id == "aud" and lock.detail["threshold"] == 5
    failures = [e for e in events(c, "auth.second_factor") if e.result == "failure"]
    assert [e.detail["reason"] for e in failures] == ["bad_code"] * 5
    # locked: the pending session ended, the right password and the right code are refused
    right = totp.code_at(secret, c.clock.now())
    with pytest.raises(Unauthenticated):
        auth.verify_second_factor(c, cookie=step.cookie, code=right)
    with pytest.raises(Unauthenticated):
        auth.login(c, username="aud", password=PASSWORD)
    assert events(c, "auth.login")[-1].detail["reason"] == "locked"
    clock.advance(minutes=29)
    with pytest.raises(Unauthenticated):
        auth.login(c, username="aud", password=PASSWORD)
    # the lockout ends: password and the right code log in, and the count starts again
    clock.advance(minutes=2)
    step = auth.login(c, username="aud", password=PASSWORD)
    done = auth.verify_second_factor(
        c, cookie=step.cookie, code=totp.code_at(secret, c.clock.now())
    )
    assert done.status == "active"
    assert user_row(c, "aud").failed_logins == 0


def test_failures_before_the_right_password_still_count_at_the_second_factor(
    container: Container,
) -> None:
    c = container
    secret, _ = ready_admin(c, "sys", Role.system_admin)
    for _ in range(4):
        with pytest.raises(Unauthenticated):
            auth.login(c, username="sys", password="not the password!")
    step = auth.login(c, username="sys", password=PASSWORD)  # right password: not yet a login
    assert user_row(c, "sys").failed_logins == 4
    with pytest.raises(Unauthenticated):
        auth.verify_second_factor(c, cookie=step.cookie, code=wrong_code(secret, c))
    assert len(events(c, "auth.lockout")) == 1


# -- G5: no token beside an unchanged initial password ---------------------------------------


def test_a_token_is_refused_while_the_initial_password_is_unchanged(
    container: Container, clock: FixedClock
) -> None:
    c = container
    issued = add_user(
        c,
        SYSTEM,
        username="clerk",
        display_name="clerk",
        role=Role.credit_office_admin,
        password="initial-password-xyz",
    )
    with pytest.raises(PermissionDenied) as fresh:
        authenticate(c, issued.token)
    assert fresh.value.code == "password_change_required"
    clock.advance(hours=25)  # the initial password expires; the token does not outlive it
    with pytest.raises(Unauthenticated):
        auth.login(c, username="clerk", password="initial-password-xyz")
    with pytest.raises(PermissionDenied) as late:
        authenticate(c, issued.token)
    assert late.value.code == "password_change_required"


def test_the_token_works_once_the_password_is_changed_and_stops_after_a_reset(
    container: Container,
) -> None:
    c = container
    _, sec = ready_admin(c, "sec", Role.security_admin)
    issued = add_user(
        c, SYSTEM, username="agent", display_name="a", role=Role.enterprise_agent, password="x"
    )
    step = auth.login(c, username="agent", password="x")
    auth.change_password(c, cookie=step.cookie, current_password="x", new_password=PASSWORD)
    assert authenticate(c, issued.token).role is Role.enterprise_agent
    manage.reset_password(c, sec, "agent")  # a new one-time password: the token waits again
    with pytest.raises(PermissionDenied) as exc:
        authenticate(c, issued.token)
    assert exc.value.code == "password_change_required"
    # an account created without a password (the console's token-only account) is unaffected
    office = add_user(c, SYSTEM, username="office", display_name="o", role=Role.credit_office_admin)
    assert authenticate(c, office.token).role is Role.credit_office_admin


def test_the_security_admin_gets_no_token_for_accounts_it_creates(container: Container) -> None:
    c = container
    _, sec = ready_admin(c, "sec", Role.security_admin)
    made = manage.create_account(
        c, sec, username="clerk", display_name="信用办", role=Role.credit_office_admin
    )
    assert made["initial_password"] and "token" not in made
    clerk = user_row(c, "clerk")
    assert clerk.must_change_password
    with c.uow() as uow:
        tokens = uow.session.scalar(
            select(func.count()).select_from(ApiTokenRow).where(ApiTokenRow.user_id == clerk.id)
        )
    assert tokens == 0
    (created,) = [e for e in events(c, "account.create") if e.object_id == "clerk"]
    assert created.detail["token_issued"] is False


# -- G6: administrators are managed on the console only -------------------------------------


def test_security_admin_cannot_disable_unlock_or_reset_administrators(
    container: Container,
) -> None:
    c = container
    _, sec = ready_admin(c, "sec", Role.security_admin)
    ready_admin(c, "sec2", Role.security_admin)
    ready_admin(c, "aud", Role.audit_admin)
    ready_admin(c, "sys", Role.system_admin)
    attempts: list[tuple[str, Any]] = [
        ("account.disable", lambda u: manage.set_disabled(c, sec, u, True)),
        ("account.enable", lambda u: manage.set_disabled(c, sec, u, False)),
        ("account.unlock", lambda u: manage.unlock(c, sec, u)),
        ("account.password_reset", lambda u: manage.reset_password(c, sec, u)),
        ("account.tokens_revoke", lambda u: manage.revoke_user_tokens(c, sec, u)),
    ]
    for target in ("aud", "sys", "sec2"):
        before = user_row(c, target)
        for _action, attempt in attempts:
            with pytest.raises(PermissionDenied) as exc:
                attempt(target)
            assert exc.value.code == "admin_target" and "控制台" in exc.value.message
        after = user_row(c, target)
        assert (after.disabled, after.password_hash, after.must_change_password) == (
            before.disabled,
            before.password_hash,
            before.must_change_password,
        )
        assert auth.login(c, username=target, password=PASSWORD).status == (
            "second_factor_required"
        )
    for action, _attempt in attempts:
        denied = [e for e in events(c, action) if e.result == "denied"]
        assert [e.object_id for e in denied] == ["aud", "sys", "sec2"], action
        assert all(e.actor_user_id == sec.user_id for e in denied)
        assert {e.detail["reason"] for e in denied} == {"admin_target"}
        assert [e.detail["target_role"] for e in denied] == [
            "audit_admin",
            "system_admin",
            "security_admin",
        ]
        assert not [e for e in events(c, action) if e.result == "success"]
    # business accounts stay the security administrator's job
    add_user(c, SYSTEM, username="agent", display_name="a", role=Role.enterprise_agent)
    assert manage.set_disabled(c, sec, "agent", True)["disabled"] is True


def test_the_console_still_manages_administrators(container: Container) -> None:
    c = container
    ready_admin(c, "aud", Role.audit_admin)
    assert manage.set_disabled(c, SYSTEM, "aud", True)["disabled"] is True
    assert manage.set_disabled(c, SYSTEM, "aud", False)["disabled"] is False
    assert manage.unlock(c, SYSTEM, "aud")["locked"] is False
    assert manage.reset_password(c, SYSTEM, "aud")["initial_password"]
    ok = [e.action for e in events(c, "account.disable") + events(c, "account.password_reset")]
    assert ok == ["account.disable", "account.password_reset"]


# -- G5: production never seeds the synthetic city -------------------------------------------


def _production(**kw: Any) -> Settings:
    return Settings(
        environment="production",
        secret_key=SecretStr("x" * 40),
        ledger_skey=SecretStr("k"),
        database_url="postgresql://u@h/db",
        personal_keys=SecretStr("/etc/keys"),
        **kw,
    )


def test_production_refuses_seeding_and_development_seeds_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("CITYCREDIT_ENVIRONMENT", "CITYCREDIT_SEED_SYNTHETIC_CITY"):
        monkeypatch.delenv(name, raising=False)
    assert _production().seed_synthetic_city is False
    with pytest.raises(ValidationError, match="SEED_SYNTHETIC_CITY"):
        _production(seed_synthetic_city=True)
    assert Settings().seed_synthetic_city is True  # `bash scripts/start.sh`: development
    assert Settings(environment="test").seed_synthetic_city is False
    assert Settings(seed_synthetic_city=False).seed_synthetic_city is False


def test_production_never_seeds_even_from_a_changed_setting(
    container: Container, tmp_path: Path
) -> None:
    c = container
    c.settings = c.settings.model_copy(
        update={"environment": "production", "seed_synthetic_city": True}
    )
    assert first_start(c) is None
    with pytest.raises(PermissionDenied) as exc:
        seed_city(c, tmp_path)
    assert exc.value.code == "synthetic_city_in_production"
    assert not (c.settings.data_dir / "dev-tokens.json").exists()
    with c.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(UserRow)) == 0


def test_development_still_seeds_on_first_start(settings: Settings, clock: FixedClock) -> None:
    dev = Settings(
        environment="development",
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        secret_key=settings.secret_key,
        job_interval_seconds=0,
        synthetic_subjects=120,
    )
    c = build_container(dev, clock=clock)
    try:
        result = first_start(c)
        assert result is not None and result.tokens_file is not None
        assert result.tokens_file.is_file()
        with c.uow() as uow:
            assert uow.session.scalar(select(func.count()).select_from(SubjectRow))
    finally:
        c.dispose()
