"""G3: a change of the lockout or session-timeout settings is recorded in the audit trail.

A change of the environment's policy shows up when the server starts again: the start itself
(web/app.py lifespan → accounts/audit.py::record_policy_if_changed), before any request, writes
one ``config.security_policy`` event with the new policy and the fingerprints of the old and
the new one, naming no person (``system``). A start with the same policy writes none. The
security administrator's run-time changes: tests/integration/test_security_policy_admin.py.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from citycredit.accounts.audit import policy_fingerprint
from citycredit.accounts.db import AuditEventRow
from citycredit.accounts.policy import SecurityPolicy
from citycredit.bootstrap import build_container
from citycredit.settings import Settings
from citycredit.shared.clock import FixedClock
from citycredit.web.app import create_app

ACTION = "config.security_policy"


def start_and_browse(settings: Settings, clock: FixedClock, policy: SecurityPolicy) -> None:
    """Start the app on the shared database with a policy and make two requests."""
    c = build_container(settings.model_copy(update={"security": policy}), clock=clock)
    try:
        with TestClient(create_app(c, scheduler=False)) as cl:
            recorded = policy_events(settings, clock)  # at the start, before any request
            assert recorded and recorded[-1]["fingerprint"] == policy_fingerprint(policy)
            assert cl.get("/healthz").status_code == 200
            assert cl.get("/healthz").status_code == 200  # the same start records once at most
    finally:
        c.dispose()


def policy_events(settings: Settings, clock: FixedClock) -> list[dict[str, Any]]:
    c = build_container(settings, clock=clock)
    try:
        with c.uow() as uow:
            rows = uow.session.scalars(
                select(AuditEventRow)
                .where(AuditEventRow.action == ACTION)
                .order_by(AuditEventRow.id)
            ).all()
            return [dict(r.detail) | {"result": r.result} for r in rows]
    finally:
        c.dispose()


def test_policy_changes_are_audited_once_and_unchanged_starts_are_not(
    settings: Settings, clock: FixedClock
) -> None:
    first = SecurityPolicy(lockout_threshold=5, session_idle_minutes=30)
    start_and_browse(settings, clock, first)
    events = policy_events(settings, clock)
    assert len(events) == 1
    assert events[0]["fingerprint"] == policy_fingerprint(first)
    assert events[0]["previous"] is None and events[0]["result"] == "success"
    assert events[0]["policy"]["lockout_threshold"] == 5

    start_and_browse(settings, clock, SecurityPolicy(lockout_threshold=5, session_idle_minutes=30))
    assert len(policy_events(settings, clock)) == 1  # unchanged: nothing new

    stricter = SecurityPolicy(lockout_threshold=3, session_idle_minutes=30)
    start_and_browse(settings, clock, stricter)
    events = policy_events(settings, clock)
    assert len(events) == 2
    change = events[1]
    assert change["previous"] == policy_fingerprint(first)
    assert change["fingerprint"] == policy_fingerprint(stricter) != policy_fingerprint(first)
    assert change["policy"]["lockout_threshold"] == 3
    assert change["policy"]["session_idle_minutes"] == 30

    shorter_idle = SecurityPolicy(lockout_threshold=3, session_idle_minutes=10)
    start_and_browse(settings, clock, shorter_idle)
    events = policy_events(settings, clock)
    assert len(events) == 3
    assert events[2]["previous"] == policy_fingerprint(stricter)
    assert events[2]["policy"]["session_idle_minutes"] == 10
    assert events[2]["policy"]["lockout_threshold"] == 3

    start_and_browse(settings, clock, shorter_idle)
    assert len(policy_events(settings, clock)) == 3


def test_an_app_whose_start_did_not_record_records_on_its_first_request(
    settings: Settings, clock: FixedClock
) -> None:
    """The fallback: the start could not record (or the app was not started, as here)."""
    policy = SecurityPolicy(lockout_threshold=4)
    c = build_container(settings.model_copy(update={"security": policy}), clock=clock)
    try:
        cl = TestClient(create_app(c, scheduler=False))  # no lifespan
        assert policy_events(settings, clock) == []
        assert cl.get("/healthz").status_code == 200
        assert cl.get("/healthz").status_code == 200
        events = policy_events(settings, clock)
        assert [e["fingerprint"] for e in events] == [policy_fingerprint(policy)]
    finally:
        c.dispose()
