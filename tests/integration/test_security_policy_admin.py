"""G3: the security administrator changes the lockout and session settings at run time, and
the change is audited at the moment it is made, naming the administrator (both databases).

accounts/policy_store.py: the change is a `security_policy_changes` row and a
``config.security_policy`` audit event in one transaction; it takes effect at once in the
process that made it and within `REFRESH_SECONDS` in another over the same database; only the
security administrator may make it; bad values are refused naming the field and the value.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from citycredit.accounts import auth, manage, policy_store, totp
from citycredit.accounts.audit import policy_fingerprint, record_policy_if_changed
from citycredit.accounts.auth import CSRF_HEADER, SESSION_COOKIE, Unauthenticated
from citycredit.accounts.db import AuditEventRow, SecurityPolicyChangeRow
from citycredit.accounts.model import SYSTEM, Principal, Role
from citycredit.accounts.policy import SecurityPolicy
from citycredit.accounts.service import add_user
from citycredit.bootstrap import Container, build_container
from citycredit.cli.main import app as cli
from citycredit.db.migrate import drift
from citycredit.settings import Settings
from citycredit.shared.clock import FixedClock
from citycredit.shared.errors import FieldError, PermissionDenied
from citycredit.web.app import create_app

pytestmark = pytest.mark.db

PASSWORD = "榆林信用-correct-horse"
ACTION = "config.security_policy"
URL = "/api/v1/admin/security-policy"
FAST_HASHING = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}


@pytest.fixture(autouse=True)
def fast_hashing(container: Container) -> None:
    container.settings = container.settings.model_copy(
        update={"security": SecurityPolicy(**FAST_HASHING)}
    )


def admin(c: Container, username: str, role: Role) -> tuple[str, auth.SessionIssued]:
    """A ready administrator: (TOTP secret, active session)."""
    enrol = manage.add_admin(c, SYSTEM, username=username, display_name=username, role=role)
    first = auth.login(c, username=username, password=enrol.initial_password)
    code = totp.code_at(enrol.totp_secret, c.clock.now())
    second = auth.verify_second_factor(c, cookie=first.cookie, code=code)
    done = auth.change_password(
        c, cookie=second.cookie, current_password=enrol.initial_password, new_password=PASSWORD
    )
    assert done is not None and done.status == "active"
    return enrol.totp_secret, done


def principal(c: Container, issued: auth.SessionIssued) -> Principal:
    return auth.authenticate_session(c, issued.cookie)


def user_with_password(c: Container, username: str) -> None:
    add_user(
        c, SYSTEM, username=username, display_name=username, role=Role.enterprise_agent,
        password="x",
    )  # fmt: skip
    issued = auth.login(c, username=username, password="x")
    auth.change_password(c, cookie=issued.cookie, current_password="x", new_password=PASSWORD)


def client(app: Any, issued: auth.SessionIssued | None = None) -> TestClient:
    if issued is None:
        return TestClient(app, raise_server_exceptions=False)
    return TestClient(
        app,
        headers={CSRF_HEADER: issued.csrf_token},
        cookies={SESSION_COOKIE: issued.cookie},
        raise_server_exceptions=False,
    )


def policy_events(c: Container) -> list[AuditEventRow]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.action == ACTION)
                .order_by(AuditEventRow.id)
            )
        )


def change_rows(c: Container) -> list[SecurityPolicyChangeRow]:
    with c.uow() as uow:
        return list(
            uow.session.scalars(
                select(SecurityPolicyChangeRow).order_by(SecurityPolicyChangeRow.id)
            )
        )


def login_failures(c: Container, username: str) -> list[str | None]:
    with c.uow() as uow:
        rows = uow.session.scalars(
            select(AuditEventRow)
            .where(AuditEventRow.action == "auth.login", AuditEventRow.object_id == username)
            .where(AuditEventRow.result == "failure")
            .order_by(AuditEventRow.id)
        )
        return [str(r.detail.get("reason")) for r in rows]


@contextmanager
def running(c: Container) -> Iterator[Any]:
    """The app around a container, started (lifespan) and stopped."""
    app = create_app(c, scheduler=False)
    with TestClient(app):
        yield app


# -- the change itself ----------------------------------------------------------------------------


def test_a_lowered_threshold_locks_at_the_third_failure_at_once_and_is_audited(
    container: Container,
) -> None:
    c = container
    _, sec = admin(c, "sec", Role.security_admin)
    user_with_password(c, "agent1")
    with running(c) as app:
        before = len(policy_events(c))  # the start recorded the environment's policy
        r = client(app, sec).put(URL, json={"lockout_threshold": 3, "reason": "等保测评整改"})
        assert r.status_code == 200, r.text
        assert r.json()["changes"] == {"lockout_threshold": {"old": 5, "new": 3}}
        assert c.settings.security.lockout_threshold == 3  # this process: at once, no restart

        anon = client(app)
        for _ in range(3):
            wrong = anon.post("/api/v1/auth/login", json={"username": "agent1", "password": "no!"})
            assert wrong.status_code == 401
        right = anon.post("/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD})
        assert right.status_code == 401  # locked after the third failure: the 4th try is refused
        assert login_failures(c, "agent1") == ["bad_password"] * 3 + ["locked"]

        view = client(app, sec).get(URL).json()
        assert view["policy"]["lockout_threshold"] == 3
        assert view["environment"]["lockout_threshold"] == 5
        assert view["overrides"] == {"lockout_threshold": 3}
        assert [h["reason"] for h in view["changes"]] == ["等保测评整改"]

    events = policy_events(c)
    assert len(events) == before + 1
    event = events[-1]
    assert (event.actor_role, event.actor_label, event.result) == (
        "security_admin",
        "sec（sec）",
        "success",
    )
    assert event.actor_user_id is not None and event.credential == f"session:{sec.session_id}"
    assert event.path == URL and event.method == "PUT"
    assert event.detail["changes"] == {"lockout_threshold": {"old": 5, "new": 3}}
    assert event.detail["reason"] == "等保测评整改" and event.detail["source"] == "security_admin"
    assert event.detail["previous"] == policy_fingerprint(SecurityPolicy(**FAST_HASHING))
    assert event.detail["fingerprint"] == policy_fingerprint(c.settings.security)
    assert event.detail["policy"]["lockout_threshold"] == 3
    (row,) = change_rows(c)
    assert (row.actor_user_id, row.reason) == (event.actor_user_id, "等保测评整改")
    assert row.changes == event.detail["changes"] and row.overrides == {"lockout_threshold": 3}
    assert event.object_id == f"policy_change:{row.id}"


def test_a_shorter_idle_timeout_ends_sessions_at_once(
    container: Container,
) -> None:
    c = container
    _, sec = admin(c, "sec", Role.security_admin)
    actor = principal(c, sec)
    user_with_password(c, "agent2")
    s = auth.login(c, username="agent2", password=PASSWORD)
    policy_store.change_policy(c, actor, {"session_idle_minutes": 10}, reason="缩短空闲超时")
    assert isinstance(c.clock, FixedClock)
    c.clock.advance(minutes=10)
    with pytest.raises(Unauthenticated) as ended:
        auth.authenticate_session(c, s.cookie)
    assert ended.value.code == "session_expired"


def test_other_roles_are_refused_and_the_refusal_is_audited(container: Container) -> None:
    c = container
    _, sys_ = admin(c, "sys", Role.system_admin)
    _, aud = admin(c, "aud", Role.audit_admin)
    _, sec = admin(c, "sec", Role.security_admin)
    office = add_user(
        c, SYSTEM, username="office", display_name="信用办", role=Role.credit_office_admin,
        password="x",
    )  # fmt: skip
    first = auth.login(c, username="office", password="x")  # the token works once changed
    auth.change_password(c, cookie=first.cookie, current_password="x", new_password=PASSWORD)
    with running(c) as app:
        body = {"lockout_threshold": 3, "reason": "试图修改"}
        for who in (sys_, aud):
            assert client(app, who).put(URL, json=body).status_code == 403
        anon = client(app)
        assert anon.put(URL, json=body).status_code == 401  # no credential: asked for one
        token = TestClient(app, headers={"Authorization": f"Bearer {office.token}"})
        assert token.put(URL, json=body).status_code == 403
        # reading: the security and the audit administrator; not the system administrator
        assert client(app, aud).get(URL).status_code == 200
        assert client(app, sec).get(URL).status_code == 200
        assert client(app, sys_).get(URL).status_code == 403
    assert change_rows(c) == []
    assert c.settings.security.lockout_threshold == 5
    with c.uow() as uow:
        denied = uow.session.scalars(
            select(AuditEventRow).where(
                AuditEventRow.action == f"http.PUT {URL}", AuditEventRow.result == "denied"
            )
        ).all()
    assert sorted(e.actor_role for e in denied) == [
        "audit_admin",
        "credit_office_admin",
        "public",
        "system_admin",
    ]
    assert [e.actor_label for e in policy_events(c)] == ["system"]  # the start only
    # the console itself cannot change it either: the trail must name the administrator
    with pytest.raises(PermissionDenied):
        policy_store.change_policy(c, SYSTEM, {"lockout_threshold": 3}, reason="控制台")


@pytest.mark.parametrize(
    ("body", "field", "value", "code"),
    [
        ({"lockout_threshold": 0, "reason": "r"}, "lockout_threshold", "0", "out_of_range"),
        ({"lockout_threshold": 11, "reason": "r"}, "lockout_threshold", "11", "out_of_range"),
        (
            {"session_idle_minutes": 121, "reason": "r"},
            "session_idle_minutes",
            "121",
            "out_of_range",
        ),
        (
            {"lockout_minutes": 1441, "reason": "r"},
            "lockout_minutes",
            "1441",
            "out_of_range",
        ),
        ({"lockout_threshold": "abc", "reason": "r"}, "lockout_threshold", "abc", "not_integer"),
        ({"lockout_threshold": True, "reason": "r"}, "lockout_threshold", "True", "not_integer"),
        ({"password_min_length": 7, "reason": "r"}, "password_min_length", "7", "out_of_range"),
        ({"password_min_length": 65, "reason": "r"}, "password_min_length", "65", "out_of_range"),
        (
            {"session_absolute_minutes": 4, "reason": "r"},
            "session_absolute_minutes",
            "4",
            "out_of_range",
        ),
        ({"argon2_time_cost": 1, "reason": "r"}, "argon2_time_cost", "1", "not_adjustable"),
        (
            {"audit_retention_days": 30, "reason": "r"},
            "audit_retention_days",
            "30",
            "not_adjustable",
        ),
        ({"lockout_threshold": 3}, "reason", None, "required"),
        ({"lockout_threshold": 3, "reason": "  "}, "reason", "  ", "required"),
        ({"reason": "没有设置"}, "policy", "", "required"),
        ({"lockout_threshold": 5, "reason": "r"}, "lockout_threshold", "5", None),  # pins: ok
    ],
)
def test_bad_values_are_refused_naming_the_field_and_value(
    container: Container, body: dict[str, Any], field: str, value: str | None, code: str | None
) -> None:
    c = container
    _, sec = admin(c, "sec", Role.security_admin)
    with running(c) as app:
        r = client(app, sec).put(URL, json=body)
    if field == "lockout_threshold" and value == "5":
        assert r.status_code == 200  # the environment's value, now pinned as an override
        return
    assert r.status_code == 422, r.text
    answer = r.json()
    assert (answer["field"], answer["value"]) == (field, value)
    if code is not None:
        assert answer["error"] == code
    assert change_rows(c) == []
    assert [e.actor_label for e in policy_events(c)] == ["system"]  # the start only


def test_an_unchanged_request_is_refused(container: Container) -> None:
    c = container
    _, sec = admin(c, "sec", Role.security_admin)
    actor = principal(c, sec)
    policy_store.change_policy(c, actor, {"lockout_threshold": 4}, reason="a")
    with pytest.raises(FieldError) as same:
        policy_store.change_policy(c, actor, {"lockout_threshold": 4}, reason="b")
    assert (same.value.field, same.value.code) == ("policy", "unchanged")
    # null returns the field to the environment's value
    done = policy_store.change_policy(c, actor, {"lockout_threshold": None}, reason="恢复")
    assert done["changes"] == {"lockout_threshold": {"old": 4, "new": 5}}
    assert c.settings.security.lockout_threshold == 5
    assert [r.overrides for r in change_rows(c)] == [{"lockout_threshold": 4}, {}]


def test_the_change_and_its_audit_event_commit_together(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    _, sec = admin(c, "sec", Role.security_admin)
    actor = principal(c, sec)
    real = policy_store.add_event

    def failing(session: Any, **kwargs: Any) -> Any:
        real(session, **kwargs)
        session.flush()  # both rows are written in the transaction …
        raise DBAPIError("INSERT", {}, Exception("the audit store failed"))  # … then it fails

    monkeypatch.setattr(policy_store, "add_event", failing)
    with pytest.raises(DBAPIError):
        policy_store.change_policy(c, actor, {"lockout_threshold": 3}, reason="失败的修改")
    assert change_rows(c) == [] and policy_events(c) == []
    assert c.settings.security.lockout_threshold == 5
    monkeypatch.setattr(policy_store, "add_event", real)
    policy_store.change_policy(c, actor, {"lockout_threshold": 3}, reason="成功的修改")
    assert len(change_rows(c)) == 1 and len(policy_events(c)) == 1


def test_the_change_history_is_append_only(container: Container) -> None:
    c = container
    _, sec = admin(c, "sec", Role.security_admin)
    policy_store.change_policy(c, principal(c, sec), {"lockout_minutes": 60}, reason="延长锁定")
    for sql in (
        "UPDATE security_policy_changes SET reason = 'x'",
        "DELETE FROM security_policy_changes",
    ):
        with pytest.raises(DBAPIError), c.engine.begin() as conn:
            conn.execute(text(sql))
    assert [r.reason for r in change_rows(c)] == ["延长锁定"]


def test_models_and_migration_0031_agree(container: Container) -> None:
    assert [d for d in drift(container.engine) if "security_policy_changes" in repr(d)] == []


# -- other processes ---------------------------------------------------------------------------


def test_another_process_applies_the_change_within_the_refresh_time(
    container: Container, settings: Settings
) -> None:
    a = container
    _, sec = admin(a, "sec", Role.security_admin)
    user_with_password(a, "agent3")
    clock_b = FixedClock(a.clock.now())
    b = build_container(a.settings, clock=clock_b)  # another worker on the same database
    try:
        with running(b) as app_b:
            anon_b = client(app_b)
            assert anon_b.get("/healthz").status_code == 200
            assert b.settings.security.lockout_threshold == 5
            policy_store.change_policy(a, principal(a, sec), {"lockout_threshold": 2}, reason="x")
            assert a.settings.security.lockout_threshold == 2  # at once where it was made
            clock_b.advance(seconds=policy_store.REFRESH_SECONDS - 1)
            assert anon_b.get("/healthz").status_code == 200
            assert b.settings.security.lockout_threshold == 5  # not yet: within 5 s
            clock_b.advance(seconds=1)
            assert anon_b.get("/healthz").status_code == 200
            assert b.settings.security.lockout_threshold == 2  # applied by B's next request
            for _ in range(2):
                r = anon_b.post("/api/v1/auth/login", json={"username": "agent3", "password": "?"})
                assert r.status_code == 401
            r = anon_b.post("/api/v1/auth/login", json={"username": "agent3", "password": PASSWORD})
            assert r.status_code == 401
        assert login_failures(a, "agent3") == ["bad_password", "bad_password", "locked"]
    finally:
        b.dispose()


def test_start_up_records_an_environment_change_once_and_keeps_the_overrides(
    container: Container, settings: Settings
) -> None:
    c = container
    _, sec = admin(c, "sec", Role.security_admin)
    base = c.settings.security

    def start(policy: SecurityPolicy) -> Container:
        other = build_container(settings.model_copy(update={"security": policy}), clock=c.clock)
        with running(other):
            pass  # no request: the start alone records
        return other

    start(base).dispose()
    assert [e.detail["source"] for e in policy_events(c)] == ["environment"]
    policy_store.change_policy(c, principal(c, sec), {"lockout_threshold": 3}, reason="收紧")
    restarted = start(base)
    assert restarted.settings.security.lockout_threshold == 3  # the override survives restarts
    restarted.dispose()
    assert [e.detail["source"] for e in policy_events(c)] == ["environment", "security_admin"]

    shorter = base.model_copy(update={"session_idle_minutes": 10})
    restarted = start(shorter)
    assert restarted.settings.security.session_idle_minutes == 10
    assert restarted.settings.security.lockout_threshold == 3
    restarted.dispose()
    start(shorter).dispose()  # the same again: nothing new
    events = policy_events(c)
    assert [e.detail["source"] for e in events] == ["environment", "security_admin", "environment"]
    env_change = events[-1]
    assert (env_change.actor_label, env_change.credential) == ("system", "console")  # no person
    assert env_change.detail["changes"] == {"session_idle_minutes": {"old": 30, "new": 10}}
    assert env_change.detail["overrides"] == {"lockout_threshold": 3}
    assert env_change.detail["previous"] == events[1].detail["fingerprint"]


# -- the command line ------------------------------------------------------------------------------


def test_workers_starting_together_record_an_environment_change_once(
    container: Container, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers of one deployment start at the same moment with a changed environment
    policy: one ``config.security_policy`` event, not two (on SQLite too, whose transactions
    only serialise at their first write). Each worker waits for the other just before reading
    the last recorded event; serialised workers can't both get there, so the wait times out."""
    c = container
    changed = c.settings.security.model_copy(update={"session_idle_minutes": 15})
    workers = [
        build_container(settings.model_copy(update={"security": changed}), clock=c.clock)
        for _ in range(2)
    ]
    both_inside = threading.Barrier(2)
    inner_refresh = policy_store.refresh

    def refresh_when_both_are_inside(*args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            both_inside.wait(timeout=2)
        return inner_refresh(*args, **kwargs)

    monkeypatch.setattr(policy_store, "refresh", refresh_when_both_are_inside)
    recorded: list[bool] = []
    failures: list[BaseException] = []

    def start(w: Container) -> None:
        try:
            recorded.append(record_policy_if_changed(w))
        except BaseException as e:  # reported by the assertion below
            failures.append(e)

    threads = [threading.Thread(target=start, args=(w,)) for w in workers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
    finally:
        for w in workers:
            w.dispose()
    assert not failures, failures
    assert sorted(recorded) == [False, True]
    events = [e for e in policy_events(c) if e.detail["policy"]["session_idle_minutes"] == 15]
    assert len(events) == 1


def cli_env(c: Container) -> dict[str, str]:
    return {
        "CITYCREDIT_DATABASE_URL": c.settings.effective_database_url,
        "CITYCREDIT_DATA_DIR": str(c.settings.data_dir),
        "CITYCREDIT_SECRET_KEY": c.settings.secret_key.get_secret_value(),
        "CITYCREDIT_ENVIRONMENT": "test",
        "CITYCREDIT_SECURITY": json.dumps(FAST_HASHING),
    }


def test_the_security_policy_commands(container: Container) -> None:
    c = container
    secret, _ = admin(c, "sec", Role.security_admin)
    runner = CliRunner()
    env = cli_env(c)
    args = ["accounts", "security-policy", "set", "lockout_threshold=4", "session_idle_minutes=20"]

    def code() -> str:
        from citycredit.shared.clock import SystemClock

        return totp.code_at(secret, SystemClock().now())

    wrong = runner.invoke(
        cli, [*args, "--reason", "整改", "--user", "sec"], env=env, input="not-it\n"
    )
    assert wrong.exit_code == 2 and change_rows(c) == []
    bad = runner.invoke(
        cli,
        [*args[:3], "lockout_threshold=0", "--reason", "整改", "--user", "sec"],
        env=env,
        input=f"{PASSWORD}\n{code()}\n",
    )
    assert bad.exit_code == 2 and "lockout_threshold" in bad.output and change_rows(c) == []
    ok = runner.invoke(
        cli, [*args, "--reason", "整改", "--user", "sec"], env=env, input=f"{PASSWORD}\n{code()}\n"
    )
    assert ok.exit_code == 0, ok.output
    (row,) = change_rows(c)
    assert row.actor_label == "sec（sec）" and row.overrides == {
        "lockout_threshold": 4,
        "session_idle_minutes": 20,
    }
    (event,) = [e for e in policy_events(c) if e.detail.get("source") == "security_admin"]
    assert event.actor_role == "security_admin" and event.method == "CLI"
    shown = runner.invoke(cli, ["accounts", "security-policy", "show", "--json"], env=env)
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.stdout)
    assert view["policy"]["lockout_threshold"] == 4 and view["changes"][0]["reason"] == "整改"
    text_view = runner.invoke(cli, ["accounts", "security-policy", "show"], env=env)
    assert text_view.exit_code == 0 and "lockout_threshold" in text_view.output
