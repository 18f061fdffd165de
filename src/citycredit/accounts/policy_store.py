"""Run-time changes of the security policy by the security administrator (G3; 等保 安全管理员).

The policy (`accounts.policy.SecurityPolicy`, read everywhere as ``c.settings.security``) comes
from the environment (``CITYCREDIT_SECURITY``); the security administrator — that role only, never
the system or audit administrator, never the console — may change the fields in `ADJUSTABLE`
at run time: lockout, session timeouts, password length and age. Never the hashing fields, the
audit retention or anything else. Each change is a row of ``security_policy_changes`` (who,
when, why, the old and new effective values, every override in force after it) and a
``config.security_policy`` audit event naming the administrator, committed in one transaction:
neither is stored without the other.

Effective policy = the environment's policy updated by the newest row's overrides, validated by
`SecurityPolicy` (a bad value is a FieldError naming the field and the value). It is put into
``c.settings.security``, which stays the one place login, lockout and sessions read:

* at once in the process that made the change (`change_policy`);
* in every other process within `REFRESH_SECONDS` (5 s) by its clock: the HTTP middleware
  (web/audit.py) asks `refresh_due` on each request — a comparison of two times — and at most
  every 5 s `refresh` reads the newest change (one primary-key lookup) and applies it;
* at start-up (web/app.py lifespan, through `accounts.audit.record_policy_if_changed`) and in
  the CLI commands that show or change it (``citycredit accounts security-policy``).

Settings replaced on a container after a refresh (tests: ``c.settings =
c.settings.model_copy(update={"security": ...})``) are taken as its new environment policy; the
stored overrides still apply on top of it at the next refresh.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from citycredit.accounts.audit import RequestInfo, add_event, policy_fingerprint
from citycredit.accounts.db import SecurityPolicyChangeRow
from citycredit.accounts.model import Permission, Principal, Role
from citycredit.accounts.policy import SecurityPolicy
from citycredit.bootstrap import Container
from citycredit.shared.errors import Conflict, FieldError, PermissionDenied

log = logging.getLogger(__name__)

ACTION = "config.security_policy"
# What the security administrator may change at run time (all integers, bounded by SecurityPolicy).
ADJUSTABLE: tuple[str, ...] = (
    "lockout_threshold",
    "lockout_window_minutes",
    "lockout_minutes",
    "session_idle_minutes",
    "session_absolute_minutes",
    "password_min_length",
    "password_max_age_days",
)
REFRESH_SECONDS = 5  # other processes apply a change within this (their clock)
REASON_MAX = 500
HISTORY_LIMIT = 50
_PG_LOCK = 0x43435F534543504F  # pg_advisory_xact_lock key: one policy writer at a time ("CC_SECPO")
_STATE_KEY = "_security_policy_state"


@dataclass
class _State:
    """What this container last applied: the environment's policy, the newest change and its
    overrides, the policy put into its settings, and when the database was last asked."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    environment: SecurityPolicy | None = None
    applied: SecurityPolicy | None = None
    change_id: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    checked_at: datetime | None = None


def _state(c: Container) -> _State:
    found = vars(c).get(_STATE_KEY)
    if isinstance(found, _State):
        return found
    state: _State = vars(c).setdefault(_STATE_KEY, _State())
    return state


def _environment(c: Container, state: _State) -> SecurityPolicy:
    """The environment's policy: the settings' own, unless they still hold what was applied."""
    current = c.settings.security
    if state.environment is None or current is not state.applied:
        state.environment = current
    return state.environment


def environment_policy(c: Container) -> SecurityPolicy:
    """The policy of the environment (the settings the process started with), no overrides."""
    state = _state(c)
    with state.lock:
        return _environment(c, state)


def stored_overrides(c: Container) -> dict[str, Any]:
    """The overrides this process applies (as of its last refresh)."""
    return dict(_state(c).overrides)


def lock_changes(s: Session) -> None:
    """Serialise writers of the policy's record (changes, start-up events): the caller reads
    the last record after this, so two writers never both find it missing.

    PostgreSQL: a transaction-scoped advisory lock. SQLite serialises writers, but a transaction
    only becomes one at its first write, so two workers starting together both read "nothing
    recorded" before either writes; a write that changes nothing takes SQLite's write lock
    first (the other waits for its commit, then reads what it recorded)."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    else:
        s.execute(text("UPDATE security_policy_changes SET id = id WHERE 0 = 1"))


# -- values -------------------------------------------------------------------------------------


def _bounds(name: str) -> tuple[int | None, int | None]:
    low = high = None
    for meta in SecurityPolicy.model_fields[name].metadata:
        low = getattr(meta, "ge", low)
        high = getattr(meta, "le", high)
    return low, high


def _range_text(name: str) -> str:
    low, high = _bounds(name)
    if high is None:
        return f"应为不小于 {low} 的整数"
    return f"应为 {low} 到 {high} 之间的整数"


def _parse(name: str, value: Any) -> int | None:
    """One requested value: an integer within the policy's bounds, or None (back to the
    environment's value)."""
    if value is None:
        return None
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = int(value.strip())
    if number is None:
        raise FieldError(name, str(value), "not_integer", _range_text(name))
    low, high = _bounds(name)
    if (low is not None and number < low) or (high is not None and number > high):
        raise FieldError(name, str(value), "out_of_range", _range_text(name))
    return number


def parse_changes(changes: Mapping[str, Any]) -> dict[str, int | None]:
    """The requested changes, each field adjustable and its value valid (FieldError names the
    first that is not)."""
    if not changes:
        raise FieldError(
            "policy", "", "required", f"请至少指定一个要修改的设置：{'、'.join(ADJUSTABLE)}"
        )
    parsed: dict[str, int | None] = {}
    for name, value in changes.items():
        if name not in ADJUSTABLE:
            raise FieldError(
                name,
                None if value is None else str(value),
                "not_adjustable",
                f"该设置不能在运行时修改；可修改：{'、'.join(ADJUSTABLE)}",
            )
        parsed[name] = _parse(name, value)
    return parsed


def effective(environment: SecurityPolicy, overrides: Mapping[str, Any]) -> SecurityPolicy:
    """The environment's policy updated by the overrides, validated as a whole."""
    if not overrides:
        return environment
    try:
        return SecurityPolicy.model_validate({**environment.model_dump(), **overrides})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first["loc"] else "policy"
        value = overrides.get(name, first.get("input"))
        raise FieldError(name, str(value), "invalid", f"安全策略设置无效：{first['msg']}") from None


# -- applying -----------------------------------------------------------------------------------


def _apply(c: Container, state: _State, environment: SecurityPolicy) -> None:
    """Put the effective policy into the container's settings (caller holds the lock)."""
    try:
        policy = effective(environment, state.overrides)
    except FieldError:  # cannot happen for values stored through change_policy
        log.exception("stored security policy overrides are invalid; using the environment's")
        policy = environment
    if c.settings.security is not policy:
        c.settings = c.settings.model_copy(update={"security": policy})
    state.applied = policy


def refresh_due(c: Container) -> bool:
    """True when the database should be asked for a newer change (cheap: no I/O)."""
    state = _state(c)
    if state.checked_at is None:
        return True
    if state.applied is not None and c.settings.security is not state.applied:
        return True  # the settings were replaced: apply the overrides on top of them
    age = c.clock.now() - state.checked_at
    return not timedelta(0) <= age < timedelta(seconds=REFRESH_SECONDS)


def refresh(c: Container, *, force: bool = False) -> SecurityPolicy:
    """Apply the newest stored change to ``c.settings.security`` (when due, or `force`); the
    effective policy."""
    if not force and not refresh_due(c):
        return c.settings.security
    now = c.clock.now()
    state = _state(c)
    try:
        with c.engine.connect() as conn:
            newest = conn.execute(
                select(SecurityPolicyChangeRow.id, SecurityPolicyChangeRow.overrides)
                .order_by(SecurityPolicyChangeRow.id.desc())
                .limit(1)
            ).first()
            conn.commit()
    except Exception:
        state.checked_at = now  # a database outage: asked again after REFRESH_SECONDS, not at once
        raise
    change_id, overrides = (newest[0], dict(newest[1])) if newest else (0, {})
    with state.lock:
        environment = _environment(c, state)
        if change_id >= state.change_id:  # a concurrent, older read never undoes a newer change
            state.change_id, state.overrides = change_id, overrides
        _apply(c, state, environment)
        state.checked_at = now
        return c.settings.security


# -- the security administrator -------------------------------------------------------------------


def _require_changer(actor: Principal) -> None:
    if actor.role is not Role.security_admin or actor.user_id is None or actor.console:
        raise PermissionDenied(
            f"只有安全管理员可以修改安全策略（当前角色「{actor.role.label}」）", code="forbidden"
        )


def _require_reader(actor: Principal) -> None:
    if not (actor.can(Permission.manage_accounts) or actor.can(Permission.read_audit)):
        raise PermissionDenied(
            f"只有安全管理员和审计管理员可以查看安全策略（当前角色「{actor.role.label}」）",
            code="forbidden",
        )


def check_reason(reason: Any) -> str:
    """The reason of a change: required, at most `REASON_MAX` characters."""
    if not isinstance(reason, str) or not reason.strip():
        shown = None if reason is None else str(reason)
        raise FieldError("reason", shown, "required", "请说明修改安全策略的理由（reason）")
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise FieldError("reason", reason, "too_long", f"理由不能超过 {REASON_MAX} 个字")
    return reason


def change_policy(
    c: Container,
    actor: Principal,
    changes: Mapping[str, Any],
    *,
    reason: Any,
    request: RequestInfo | None = None,
) -> dict[str, Any]:
    """Change adjustable fields of the policy (a value of None returns a field to the
    environment's value). The change row and its audit event commit together; the policy takes
    effect in this process at once, in the others within `REFRESH_SECONDS`."""
    _require_changer(actor)
    assert actor.user_id is not None
    why = check_reason(reason)
    requested = parse_changes(changes)
    state = _state(c)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        lock_changes(s)
        latest = s.scalar(
            select(SecurityPolicyChangeRow).order_by(SecurityPolicyChangeRow.id.desc()).limit(1)
        )
        before = dict(latest.overrides) if latest else {}
        environment = environment_policy(c)
        old = effective(environment, before)
        after = dict(before)
        for name, value in requested.items():
            if value is None:
                after.pop(name, None)
            else:
                after[name] = value
        if after == before:
            raise FieldError(
                "policy",
                json.dumps(requested, ensure_ascii=False),
                "unchanged",
                "请求的设置与当前安全策略相同，没有修改",
            )
        new = effective(environment, after)
        diff = {n: {"old": getattr(old, n), "new": getattr(new, n)} for n in requested}
        row = SecurityPolicyChangeRow(
            id=(latest.id if latest else 0) + 1,
            at=now,
            actor_user_id=actor.user_id,
            actor_label=actor.label[:100],
            reason=why,
            changes=diff,
            overrides=after,
        )
        s.add(row)
        add_event(
            s,
            at=now,
            action=ACTION,
            result="success",
            actor=actor,
            request=request,
            object_id=f"policy_change:{row.id}",
            detail={
                "source": "security_admin",
                "change_id": row.id,
                "reason": why,
                "changes": diff,
                "overrides": after,
                "fingerprint": policy_fingerprint(new),
                "previous": policy_fingerprint(old),
                "environment": policy_fingerprint(environment),
                "policy": new.model_dump(mode="json"),
            },
        )
        try:
            uow.commit()
        except IntegrityError:
            raise Conflict(
                "安全策略刚被另一位管理员修改，请刷新后重试", code="policy_changed"
            ) from None
        change_id = row.id
    with state.lock:
        if change_id >= state.change_id:
            state.change_id, state.overrides = change_id, after
        _apply(c, state, _environment(c, state))
    return {
        "change_id": change_id,
        "changes": diff,
        "fingerprint": policy_fingerprint(c.settings.security),
        "policy": {n: getattr(c.settings.security, n) for n in ADJUSTABLE},
    }


def _change_view(r: SecurityPolicyChangeRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "at": r.at.isoformat(),
        "actor_user_id": r.actor_user_id,
        "actor_label": r.actor_label,
        "reason": r.reason,
        "changes": r.changes,
        "overrides": r.overrides,
    }


def policy_view(c: Container, actor: Principal, *, limit: int = HISTORY_LIMIT) -> dict[str, Any]:
    """The effective policy, the environment's values, the stored overrides and the newest
    changes (security and audit administrators, and the console)."""
    _require_reader(actor)
    policy = refresh(c, force=True)
    environment = environment_policy(c)
    with c.uow() as uow:
        rows = uow.session.scalars(
            select(SecurityPolicyChangeRow)
            .order_by(SecurityPolicyChangeRow.id.desc())
            .limit(max(1, min(limit, 1000)))
        ).all()
        history = [_change_view(r) for r in rows]
        uow.finish_read()
    return {
        "policy": {n: getattr(policy, n) for n in ADJUSTABLE},
        "environment": {n: getattr(environment, n) for n in ADJUSTABLE},
        "overrides": stored_overrides(c),
        "adjustable": {n: dict(zip(("min", "max"), _bounds(n), strict=True)) for n in ADJUSTABLE},
        "fingerprint": policy_fingerprint(policy),
        "refresh_seconds": REFRESH_SECONDS,
        "changes": history,
    }
