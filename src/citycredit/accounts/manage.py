"""Account administration: the security administrator's job, and the console's bootstrap.

* `add_admin` (console only — `citycredit accounts add-admin`): one of the three separated
  administrators, with a random one-time initial password (must be changed at the first login,
  within ``initial_password_hours``) and TOTP enrolment. A fresh installation has no administrator
  and no default credential (等保 CES1-06).
* `create_account`, `set_role`, `set_disabled`, `unlock`, `reset_password`, `list_accounts`
  (security administrator): business and subject-side accounts only. Nobody can grant, remove or
  change an administrator role through them, so an account never holds two of the three roles and
  an administrator never raises their own rights (G6); the security administrator cannot disable,
  unlock or reset an administrator (refused ``admin_target``, recorded ``denied``), so the
  audited cannot switch off the auditor — administrators are managed on the server console only.
  Every change is audited in its transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from citycredit.accounts import totp
from citycredit.accounts.audit import RequestInfo, add_event
from citycredit.accounts.auth import end_user_sessions, totp_key
from citycredit.accounts.db import ApiTokenRow, DepartmentRow, UserRow
from citycredit.accounts.model import Permission, Principal, Role, require
from citycredit.accounts.passwords import hash_password
from citycredit.accounts.service import create_user
from citycredit.bootstrap import Container
from citycredit.db.uow import UnitOfWork
from citycredit.shared.errors import Conflict, FieldError, NotFound, PermissionDenied

INITIAL_PASSWORD_BYTES = 12  # 16 URL-safe characters


@dataclass(frozen=True)
class AdminEnrolment:
    """Shown once to the new administrator: initial password and the TOTP secret."""

    username: str
    role: Role
    initial_password: str
    totp_secret: str
    provisioning_uri: str


def _initial_password() -> str:
    return secrets.token_urlsafe(INITIAL_PASSWORD_BYTES)


def _user(s: Session, username: str) -> UserRow:
    user = s.scalar(select(UserRow).where(UserRow.username == username).with_for_update())
    if user is None:
        raise NotFound(f"用户 {username} 不存在", code="user_not_found")
    return user


def _enrol_totp(c: Container, user: UserRow, issuer: str) -> tuple[str, str]:
    secret = totp.new_secret()
    user.totp_secret = totp.seal(totp_key(c), user.id, secret)
    user.totp_last_step = None
    return secret, totp.provisioning_uri(secret, username=user.username, issuer=issuer)


def add_admin(
    c: Container, actor: Principal, *, username: str, display_name: str, role: Role
) -> AdminEnrolment:
    """Create a system, security or audit administrator from the server console."""
    if not actor.console:
        raise PermissionDenied(
            "管理员账号只能在服务器控制台创建（citycredit accounts add-admin）", code="forbidden"
        )
    if not role.is_admin:
        raise FieldError(
            "role",
            role.value,
            "not_admin",
            "只能创建 system_admin、security_admin 或 audit_admin",
        )
    username = (username or "").strip()
    if not username or len(username) > 64 or " " in username or not username.isprintable():
        raise FieldError("username", username, "invalid", "用户名为 1–64 个可打印字符，不含空格")
    password = _initial_password()
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        if s.scalar(select(UserRow).where(UserRow.username == username)):
            raise Conflict(f"用户名 {username} 已存在", code="user_exists")
        user = UserRow(
            username=username,
            display_name=display_name or username,
            role=role.value,
            password_hash=hash_password(password, c.settings.security),
            password_changed_at=now,
            must_change_password=True,
            created_at=now,
        )
        s.add(user)
        s.flush()
        secret, uri = _enrol_totp(c, user, c.settings.security.totp_issuer)
        add_event(
            s,
            at=now,
            action="account.create",
            result="success",
            actor=actor,
            object_id=username,
            detail={"role": role.value, "totp_enrolled": True, "initial_password": True},
        )
        uow.commit()
    return AdminEnrolment(username, role, password, secret, uri)


def reenrol_totp(c: Container, actor: Principal, username: str) -> AdminEnrolment:
    """A new TOTP secret (lost device) and a new initial password; console only."""
    if not actor.console:
        raise PermissionDenied("只能在服务器控制台重置动态口令", code="forbidden")
    password = _initial_password()
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        user = _user(s, username)
        user.password_hash = hash_password(password, c.settings.security)
        user.password_changed_at, user.must_change_password = now, True
        secret, uri = _enrol_totp(c, user, c.settings.security.totp_issuer)
        ended = end_user_sessions(s, user.id, now, "reset")
        add_event(
            s,
            at=now,
            action="account.totp_reset",
            result="success",
            actor=actor,
            object_id=username,
            detail={"sessions_ended": ended},
        )
        uow.commit()
        return AdminEnrolment(username, Role(user.role), password, secret, uri)


def create_account(
    c: Container,
    actor: Principal,
    *,
    username: str,
    display_name: str,
    role: Role,
    department: str | None = None,
) -> dict[str, Any]:
    """A business or subject-side account with a random initial password (shown once).

    No API token is issued: the creator would otherwise hold the new account's access (e.g. the
    credit office's) beyond the initial password's expiry and the forced change. The user logs
    in, changes the password, and works through the web session.
    """
    require(actor, Permission.manage_accounts)
    password = _initial_password()
    made = create_user(
        c,
        actor,
        username=username,
        display_name=display_name or username,
        role=role,
        department=department,
        password=password,
    )
    return {
        "username": made.username,
        "role": role.value,
        "department": made.department,
        "initial_password": password,
        "initial_password_hours": c.settings.security.initial_password_hours,
    }


def _refuse_self(actor: Principal, user: UserRow) -> None:
    if actor.user_id is not None and actor.user_id == user.id:
        raise PermissionDenied("不能修改自己的账号权限或状态", code="self_change")


def _guard_target(
    c: Container,
    uow: UnitOfWork,
    actor: Principal,
    user: UserRow,
    *,
    action: str,
    request: RequestInfo | None,
) -> None:
    """Refuse changes to one's own account, and to an administrator unless from the console.

    The security administrator manages business and subject-side accounts only: disabling,
    unlocking or resetting the system or audit administrator (or another security
    administrator) is refused and recorded as ``denied`` in the trail (G6).
    """
    _refuse_self(actor, user)
    role = Role(user.role)
    if role.is_admin and not actor.console:
        add_event(
            uow.session,
            at=c.clock.now(),
            action=action,
            result="denied",
            actor=actor,
            request=request,
            object_id=user.username,
            detail={"reason": "admin_target", "target_role": role.value},
        )
        uow.commit()
        raise PermissionDenied(
            f"不能操作管理员账号（{role.label}）：三员账号只能在服务器控制台管理"
            "（citycredit accounts …）",
            code="admin_target",
        )


def set_role(
    c: Container,
    actor: Principal,
    username: str,
    role: Role,
    *,
    department: str | None = None,
    request: RequestInfo | None = None,
) -> dict[str, Any]:
    """Change a non-administrator account's role; its tokens are revoked and sessions end."""
    require(actor, Permission.manage_accounts)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        user = _user(s, username)
        _refuse_self(actor, user)  # an administrator's role: refused below (admin_role_change)
        old = Role(user.role)
        if role.is_admin or old.is_admin or role is Role.public:
            add_event(
                s,
                at=now,
                action="account.role",
                result="denied",
                actor=actor,
                request=request,
                object_id=username,
                detail={"from": old.value, "to": role.value, "reason": "admin_role"},
            )
            uow.commit()
            raise PermissionDenied(
                "管理员角色不能授予、收回或转换（三权分立：每个账号只担任一种管理员角色）",
                code="admin_role_change",
            )
        dept_id = None
        if role is Role.department_staff:
            if not department:
                raise FieldError("department", "", "required", "部门用户必须指定部门")
            dept = s.scalar(select(DepartmentRow).where(DepartmentRow.name == department))
            if dept is None:
                raise NotFound(f"部门「{department}」不存在", code="department_not_found")
            dept_id = dept.id
        user.role, user.department_id = role.value, dept_id
        revoked = _revoke_tokens(s, user.id, now)
        ended = end_user_sessions(s, user.id, now, "role_changed")
        add_event(
            s,
            at=now,
            action="account.role",
            result="success",
            actor=actor,
            request=request,
            object_id=username,
            detail={
                "from": old.value,
                "to": role.value,
                "tokens_revoked": revoked,
                "sessions_ended": ended,
            },
        )
        uow.commit()
    return {"username": username, "role": role.value, "tokens_revoked": revoked}


def _revoke_tokens(s: Session, user_id: int, now: datetime) -> int:
    rows = list(
        s.scalars(
            select(ApiTokenRow).where(
                ApiTokenRow.user_id == user_id, ApiTokenRow.revoked_at.is_(None)
            )
        )
    )
    for row in rows:
        row.revoked_at = now
    return len(rows)


def set_disabled(
    c: Container,
    actor: Principal,
    username: str,
    disabled: bool,
    *,
    request: RequestInfo | None = None,
) -> dict[str, Any]:
    """Disable (sessions end at once, tokens stop working) or enable an account."""
    require(actor, Permission.manage_accounts)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        user = _user(s, username)
        action = "account.disable" if disabled else "account.enable"
        _guard_target(c, uow, actor, user, action=action, request=request)
        user.disabled = disabled
        ended = end_user_sessions(s, user.id, now, "disabled") if disabled else 0
        add_event(
            s,
            at=now,
            action=action,
            result="success",
            actor=actor,
            request=request,
            object_id=username,
            detail={"sessions_ended": ended},
        )
        uow.commit()
    return {"username": username, "disabled": disabled}


def unlock(
    c: Container, actor: Principal, username: str, *, request: RequestInfo | None = None
) -> dict[str, Any]:
    """Lift a lockout before it runs out."""
    require(actor, Permission.manage_accounts)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        user = _user(s, username)
        _guard_target(c, uow, actor, user, action="account.unlock", request=request)
        was = user.locked_until.isoformat() if user.locked_until else None
        user.locked_until, user.failed_logins, user.failed_since = None, 0, None
        add_event(
            s,
            at=now,
            action="account.unlock",
            result="success",
            actor=actor,
            request=request,
            object_id=username,
            detail={"locked_until": was},
        )
        uow.commit()
    return {"username": username, "locked": False}


def reset_password(
    c: Container, actor: Principal, username: str, *, request: RequestInfo | None = None
) -> dict[str, Any]:
    """A new random initial password (shown once; must be changed at the next login)."""
    require(actor, Permission.manage_accounts)
    password = _initial_password()
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        user = _user(s, username)
        _guard_target(c, uow, actor, user, action="account.password_reset", request=request)
        user.password_hash = hash_password(password, c.settings.security)
        user.password_changed_at, user.must_change_password = now, True
        ended = end_user_sessions(s, user.id, now, "reset")
        add_event(
            s,
            at=now,
            action="account.password_reset",
            result="success",
            actor=actor,
            request=request,
            object_id=username,
            detail={"sessions_ended": ended},
        )
        uow.commit()
    return {
        "username": username,
        "initial_password": password,
        "initial_password_hours": c.settings.security.initial_password_hours,
    }


def list_accounts(c: Container, actor: Principal) -> list[dict[str, Any]]:
    """Every account with its role and authentication state (no secrets)."""
    require(actor, Permission.manage_accounts)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        depts = {d.id: d.name for d in s.scalars(select(DepartmentRow))}
        return [
            {
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role,
                "department": depts.get(u.department_id) if u.department_id else None,
                "disabled": u.disabled,
                "locked": bool(u.locked_until and u.locked_until > now),
                "totp_enrolled": bool(u.totp_secret),
                "must_change_password": u.must_change_password,
                "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
            }
            for u in s.scalars(select(UserRow).order_by(UserRow.id))
        ]


def revoke_user_tokens(c: Container, actor: Principal, username: str) -> int:
    """Revoke every API token of an account (audited)."""
    require(actor, Permission.manage_accounts)
    now = c.clock.now()
    with c.uow() as uow:
        s = uow.session
        user = _user(s, username)
        _guard_target(c, uow, actor, user, action="account.tokens_revoke", request=None)
        n = _revoke_tokens(s, user.id, now)
        add_event(
            s,
            at=now,
            action="account.tokens_revoke",
            result="success",
            actor=actor,
            object_id=username,
            detail={"revoked": n},
        )
        uow.commit()
    return n
